//! Problems of a cluster's configuration and the service logs that tell its owners
//! (spec §9, I62–I64).

use std::fmt;

use serde::Serialize;

use crate::labels::{self, Label};

/// The service name of every rhidp service log (I62).
pub const SERVICE_NAME: &str = "rhidp";
/// Summary of the configuration-error service log (I62).
pub const ERROR_SUMMARY: &str = "Red Hat IdP configuration error";
/// Summary of the warning service log (I11).
pub const WARNING_SUMMARY: &str = "Red Hat IdP configuration warning";

/// Stable problem codes (I64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    #[serde(rename = "RHIDP-STATUS-INVALID")]
    StatusInvalid,
    #[serde(rename = "RHIDP-NAME-INVALID")]
    NameInvalid,
    #[serde(rename = "RHIDP-ISSUER-UNKNOWN")]
    IssuerUnknown,
    #[serde(rename = "RHIDP-REGEX-INVALID")]
    RegexInvalid,
    #[serde(rename = "RHIDP-EXTERNAL-AUTH")]
    ExternalAuth,
    #[serde(rename = "RHIDP-UNKNOWN-KEY")]
    UnknownKey,
    /// The `enforced` allow-list is not a list of provider names (W9).
    #[serde(rename = "RHIDP-KEEP-IDPS-INVALID")]
    KeepIdpsInvalid,
    /// Raised by the executor when OCM refuses a provider; carries OCM's reason.
    #[serde(rename = "RHIDP-OCM-REJECTED")]
    OcmRejected,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::StatusInvalid => "RHIDP-STATUS-INVALID",
            Code::NameInvalid => "RHIDP-NAME-INVALID",
            Code::IssuerUnknown => "RHIDP-ISSUER-UNKNOWN",
            Code::RegexInvalid => "RHIDP-REGEX-INVALID",
            Code::ExternalAuth => "RHIDP-EXTERNAL-AUTH",
            Code::UnknownKey => "RHIDP-UNKNOWN-KEY",
            Code::KeepIdpsInvalid => "RHIDP-KEEP-IDPS-INVALID",
            Code::OcmRejected => "RHIDP-OCM-REJECTED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a problem stops the capability for the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A configuration error: the cluster's state is frozen for this pass (W1).
    Error,
    /// Reported, never blocking (I11).
    Warning,
}

/// One user-actionable problem of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: Code,
    pub level: Level,
    /// The label at fault, when a label is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    pub fn label(code: Code, level: Level, label: &Label, message: impl Into<String>) -> Problem {
        Problem {
            code,
            level,
            label: Some(label.clone()),
            message: message.into(),
        }
    }

    pub fn external_auth() -> Problem {
        Problem {
            code: Code::ExternalAuth,
            level: Level::Error,
            label: None,
            message: format!(
                "this cluster uses external authentication; the Red Hat IdP cannot be configured. \
                 Set {} to disabled or remove the rhidp labels",
                labels::key(labels::STATUS)
            ),
        }
    }

    /// OCM refused the provider (the I61 row on OCM rejections); the executor raises it.
    pub fn ocm_rejected(auth_name: &str, reason: &str) -> Problem {
        Problem {
            code: Code::OcmRejected,
            level: Level::Error,
            label: None,
            message: format!(
                "OCM rejected the identity provider {auth_name:?}: {reason}. Change {} to a name OCM accepts",
                labels::key(labels::NAME)
            ),
        }
    }

    /// One line of a service log: code, label key, value and where it is set, fix.
    pub fn line(&self) -> String {
        match &self.label {
            Some(l) => format!(
                "{}: label {}={:?} ({} label): {}",
                self.code,
                l.key,
                l.value,
                l.source.as_str(),
                self.message
            ),
            None => format!("{}: {}", self.code, self.message),
        }
    }
}

/// Service-log severities used here (`ocm-api.md` E19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Severity {
    Info,
    Warning,
    Moderate,
}

/// A cluster service log to send (I62, I63), deduplicated by the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceLog {
    pub cluster_uuid: String,
    pub service_name: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub description: String,
}

impl ServiceLog {
    /// The logs for a cluster's problems: one `Moderate` for the errors and one
    /// `Warning` for the warnings, each with one line per problem (I62, I11).
    pub fn for_problems(cluster_uuid: &str, problems: &[Problem]) -> Vec<ServiceLog> {
        [
            (Level::Error, Severity::Moderate, ERROR_SUMMARY),
            (Level::Warning, Severity::Warning, WARNING_SUMMARY),
        ]
        .into_iter()
        .filter_map(|(level, severity, summary)| {
            let lines: Vec<String> = problems
                .iter()
                .filter(|p| p.level == level)
                .map(Problem::line)
                .collect();
            (!lines.is_empty()).then(|| ServiceLog {
                cluster_uuid: cluster_uuid.to_owned(),
                service_name: SERVICE_NAME,
                severity,
                summary: summary.to_owned(),
                description: lines.join("\n"),
            })
        })
        .collect()
    }

    /// The notice sent once the provider was created (I63).
    pub fn created(cluster_uuid: &str, auth_name: &str) -> ServiceLog {
        ServiceLog {
            cluster_uuid: cluster_uuid.to_owned(),
            service_name: SERVICE_NAME,
            severity: Severity::Info,
            summary: "Red Hat IdP configured".to_owned(),
            description: format!(
                "The identity provider {auth_name:?} now logs users in through the Red Hat SSO. \
                 Log in with {auth_name}."
            ),
        }
    }

    /// The notice sent once the provider was removed because the capability was
    /// switched off (I63).
    pub fn removed(cluster_uuid: &str, auth_name: &str) -> ServiceLog {
        ServiceLog {
            cluster_uuid: cluster_uuid.to_owned(),
            service_name: SERVICE_NAME,
            severity: Severity::Info,
            summary: "Red Hat IdP removed".to_owned(),
            description: format!(
                "The identity provider {auth_name:?} was removed because the Red Hat IdP is \
                 disabled for this cluster ({} is disabled or absent).",
                labels::key(labels::STATUS)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Source;

    #[test]
    fn i62_one_line_per_problem_with_key_value_and_fix() {
        let label = Label {
            key: "sre-capabilities.rhidp.status".into(),
            value: "Enabled".into(),
            source: Source::Subscription,
        };
        let problems = [
            Problem::label(
                Code::StatusInvalid,
                Level::Error,
                &label,
                labels::unknown_status_reason(),
            ),
            Problem::external_auth(),
        ];
        let logs = ServiceLog::for_problems("uuid-1", &problems);
        assert_eq!(logs.len(), 1);
        let log = &logs[0];
        assert_eq!(log.summary, "Red Hat IdP configuration error");
        assert_eq!(log.severity, Severity::Moderate);
        assert_eq!(log.service_name, "rhidp");
        assert_eq!(
            log.description,
            "RHIDP-STATUS-INVALID: label sre-capabilities.rhidp.status=\"Enabled\" (subscription label): \
             unknown status; use one of enabled, enforced, sso-client-only, disabled (case-sensitive)\n\
             RHIDP-EXTERNAL-AUTH: this cluster uses external authentication; the Red Hat IdP cannot be \
             configured. Set sre-capabilities.rhidp.status to disabled or remove the rhidp labels"
        );
    }

    #[test]
    fn i63_notices_are_info() {
        assert_eq!(
            ServiceLog::created("u", "redhat-sso").severity,
            Severity::Info
        );
        assert!(
            ServiceLog::created("u", "redhat-sso")
                .description
                .contains("Log in with redhat-sso")
        );
        assert_eq!(
            ServiceLog::removed("u", "redhat-sso").severity,
            Severity::Info
        );
    }

    #[test]
    fn i64_codes_are_stable() {
        assert_eq!(
            serde_json::to_value(Code::UnknownKey).unwrap(),
            "RHIDP-UNKNOWN-KEY"
        );
        assert_eq!(Code::OcmRejected.to_string(), "RHIDP-OCM-REJECTED");
    }
}
