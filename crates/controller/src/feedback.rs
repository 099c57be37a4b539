//! Feedback to cluster owners: validation errors as OCM service logs (§14.1),
//! and warnings about configurations that are valid but probably not meant
//! (issue 15 item 12) as informational ones; none repeated within 24 hours.

use jiff::SignedDuration;
use srecap_aus::{OrgPlan, Reason};
use srecap_observability::UserErrorKind;

pub const CLUSTER_SUMMARY: &str = "Cluster upgrade policy validation errors";
pub const ORG_SUMMARY: &str = "AUS configuration error on organization";
pub const WARNING_SUMMARY: &str = "AUS configuration warning on organization";
pub const GATE_SUMMARY: &str = "Cluster upgrade waits for a version-gate agreement";

/// How a service log is filed in OCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeSeverity {
    /// Validation errors: AUS leaves the organization alone until they are fixed.
    Moderate,
    /// Warnings: nothing is blocked.
    Info,
}

impl NoticeSeverity {
    /// OCM's name of the severity.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeSeverity::Moderate => "Moderate",
            NoticeSeverity::Info => "Info",
        }
    }
}

/// One service log to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub cluster_uuid: String,
    pub severity: NoticeSeverity,
    pub summary: &'static str,
    pub description: String,
}

impl Notice {
    /// What the owners are told about, for the service-log metric: their
    /// configuration, or a state of their cluster only they can change.
    pub fn kind(&self) -> UserErrorKind {
        if self.summary == GATE_SUMMARY {
            UserErrorKind::UserState
        } else {
            UserErrorKind::ConfigError
        }
    }
}

/// The notices for an organization: with validation errors (R120, R121), one per
/// invalid cluster with its messages as `- ` lines, and the organization's
/// messages to every valid cluster; with warnings, one informational notice to
/// every valid cluster listing them; and one to every cluster held by a
/// version gate the approver will not agree to (issue 15 item 2), with its
/// explanation, so its owners learn why it does not upgrade.
pub fn notices(plan: &OrgPlan) -> Vec<Notice> {
    let mut out: Vec<Notice> = plan
        .validation_errors
        .clusters
        .iter()
        .map(|(uuid, messages)| Notice {
            cluster_uuid: uuid.clone(),
            severity: NoticeSeverity::Moderate,
            summary: CLUSTER_SUMMARY,
            description: messages
                .iter()
                .map(|m| format!("- {m}"))
                .collect::<Vec<_>>()
                .join("\n"),
        })
        .collect();
    if !plan.validation_errors.organization.is_empty() {
        let description = plan.validation_errors.organization.join("\n");
        out.extend(plan.details.valid_clusters.iter().map(|c| Notice {
            cluster_uuid: c.external_id.clone(),
            severity: NoticeSeverity::Moderate,
            summary: ORG_SUMMARY,
            description: description.clone(),
        }));
    }
    if !plan.warnings.is_empty() {
        let description = plan
            .warnings
            .iter()
            .map(|w| format!("- {w}"))
            .collect::<Vec<_>>()
            .join("\n");
        out.extend(plan.details.valid_clusters.iter().map(|c| Notice {
            cluster_uuid: c.external_id.clone(),
            severity: NoticeSeverity::Info,
            summary: WARNING_SUMMARY,
            description: description.clone(),
        }));
    }
    // The detail names version and gates but no time, so an unchanged hold
    // is told once a day (R122) and a new version or gate at once.
    out.extend(
        plan.details
            .missing_gates
            .iter()
            .filter(|m| m.reason == Reason::MissingGateAgreement)
            .map(|m| Notice {
                cluster_uuid: m.external_id.clone(),
                severity: NoticeSeverity::Moderate,
                summary: GATE_SUMMARY,
                description: m.detail.clone(),
            }),
    );
    out
}

/// The same notice is not sent again within this window (R122).
pub const DEDUP_WINDOW: SignedDuration = SignedDuration::from_hours(24);
