//! A discovered cluster and its effective configuration (spec §2, §3, I5–I11, I16,
//! I17).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::client::{self, KeyError};
use crate::labels::{self, EffectiveLabels, EffectiveStatus, Label, Status, Switches};
use crate::problem::{Code, Level, Problem};
use crate::settings::Settings;

/// A cluster as discovery found it (I16): ready, managed, with rhidp labels on its
/// subscription or organization, or owning a client record (so that removing every
/// label reads as `disabled`, I57).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveredCluster {
    /// The clusters-service id.
    pub id: String,
    /// The external id (uuid), for service logs.
    pub external_id: String,
    pub name: String,
    pub organization_id: String,
    pub console_url: Option<String>,
    /// `external_auth_config.enabled` (absent = false).
    pub external_auth: bool,
    /// The subscription's labels (any keys; other namespaces are ignored).
    pub labels: BTreeMap<String, String>,
}

/// An organization of the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub labels: BTreeMap<String, String>,
    /// Whether the registry lets the capability manage it (I12). An organization
    /// missing from the snapshot is not allowed.
    pub allowed: bool,
}

/// The configuration of a cluster the capability is switched on for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterConfig {
    pub status: Status,
    pub switches: Switches,
    pub auth_name: String,
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_filter: Option<String>,
    /// Providers `enforced` keeps besides the managed one (W9), sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep_idps: Vec<String>,
    pub key: String,
    pub redirect_uri: String,
    /// Whether the console URL matched a known pattern (W20).
    pub redirect_recognised: bool,
}

/// Why a cluster is switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffReason {
    /// Status `disabled`, or no status at all.
    Disabled,
    /// The organization left the registry's allowlist (I12): treated as disabled.
    OrganizationNotAllowed,
}

/// What the planner may do with a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "disposition", rename_all = "kebab-case")]
pub enum Disposition {
    /// No console URL (still installing): dropped silently, nothing touched (I17).
    NoConsole,
    /// External authentication (I17): never any provider action. `frozen` when the
    /// status is not `disabled` (a configuration error): its client records are kept
    /// until the status is `disabled`, then removed.
    ExternalAuth { frozen: bool },
    /// Configuration errors: no create and no delete for it this pass (W1).
    Frozen,
    /// Switched off: its managed provider and clients are removed.
    Off {
        reason: OffReason,
        /// The provider name the labels give, when valid: a provider of that name is
        /// managed and removed (I51, E16).
        managed_name: Option<String>,
    },
    /// Switched on.
    On(ClusterConfig),
}

impl Disposition {
    /// Whether `rhidp_managed_clusters` counts the cluster: discovered, not excluded,
    /// any status (I65); an organization outside the allowlist is not managed.
    pub fn is_managed(&self) -> bool {
        match self {
            Disposition::NoConsole | Disposition::ExternalAuth { .. } => false,
            Disposition::Off { reason, .. } => *reason == OffReason::Disabled,
            Disposition::Frozen | Disposition::On(_) => true,
        }
    }
}

/// A cluster's disposition and the problems its owners are told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub disposition: Disposition,
    pub problems: Vec<Problem>,
    /// The effective status, `None` when unknown.
    pub status: Option<Status>,
}

/// Evaluate a cluster's labels (I5–I11, I17, W1, W4).
pub fn evaluate(
    cluster: &DiscoveredCluster,
    organization: Option<&Organization>,
    settings: &Settings,
) -> Evaluation {
    let no_labels = BTreeMap::new();
    let org_labels = organization.map_or(&no_labels, |o| &o.labels);
    let allowed = organization.is_some_and(|o| o.allowed);
    let effective = EffectiveLabels::merge(org_labels, &cluster.labels);
    let mut problems = Vec::new();
    let done = |disposition, problems, status| Evaluation {
        disposition,
        problems,
        status,
    };

    let Some(console_url) = cluster.console_url.as_deref().filter(|c| !c.is_empty()) else {
        return done(Disposition::NoConsole, problems, None);
    };
    if !allowed {
        // Not ours to configure or to nag: only clean up what srecap made.
        let managed_name = name(&effective, settings).ok();
        let disposition = if cluster.external_auth {
            Disposition::ExternalAuth { frozen: false }
        } else {
            Disposition::Off {
                reason: OffReason::OrganizationNotAllowed,
                managed_name,
            }
        };
        return done(disposition, problems, Some(Status::Disabled));
    }

    for label in effective.unknown_keys() {
        problems.push(Problem::label(
            Code::UnknownKey,
            Level::Warning,
            label,
            format!(
                "not a Red Hat IdP label and ignored; the labels are {}, {}",
                labels::NAMESPACE,
                labels::LABELS
                    .labels
                    .iter()
                    .map(|d| labels::key(d.setting))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }

    let status = match EffectiveStatus::resolve(org_labels, &cluster.labels) {
        EffectiveStatus::Known(status, _) => Some(status),
        EffectiveStatus::Unknown(label) => {
            problems.push(Problem::label(
                Code::StatusInvalid,
                Level::Error,
                &label,
                labels::unknown_status_reason(),
            ));
            None
        }
    };
    if cluster.external_auth {
        let frozen = status != Some(Status::Disabled);
        if frozen {
            problems.push(Problem::external_auth());
        }
        return done(Disposition::ExternalAuth { frozen }, problems, status);
    }
    let Some(status) = status else {
        return done(Disposition::Frozen, problems, None);
    };
    if status == Status::Disabled {
        // Name, issuer and regex are not in use: no service log about them.
        let managed_name = name(&effective, settings).ok();
        return done(
            Disposition::Off {
                reason: OffReason::Disabled,
                managed_name,
            },
            problems,
            Some(status),
        );
    }

    let auth_name = name(&effective, settings)
        .map_err(|p| problems.push(*p))
        .ok();
    let issuer = issuer(&effective, settings)
        .map_err(|p| problems.push(*p))
        .ok();
    let group_filter = group_filter(&effective).map_err(|p| problems.push(*p)).ok();
    // Checked for every switched-on status, as the regex is: a wrong value
    // is found before the cluster is switched to `enforced`, not after.
    let keep_idps = keep_idps(&effective).map_err(|p| problems.push(*p)).ok();
    let (Some(auth_name), Some(issuer), Some(group_filter), Some(keep_idps)) =
        (auth_name, issuer, group_filter, keep_idps)
    else {
        return done(Disposition::Frozen, problems, Some(status));
    };
    let key = match client::client_key(&cluster.name, &cluster.organization_id, &auth_name, &issuer)
    {
        Ok(key) => key,
        Err(e) => {
            problems.push(key_problem(&effective, &e));
            return done(Disposition::Frozen, problems, Some(status));
        }
    };
    let (redirect_uri, redirect_recognised) = client::redirect_uri(console_url, &auth_name);
    let config = ClusterConfig {
        status,
        switches: status.switches(),
        auth_name,
        issuer,
        group_filter,
        keep_idps,
        key,
        redirect_uri,
        redirect_recognised,
    };
    let disposition = if problems.iter().any(|p| p.level == Level::Error) {
        Disposition::Frozen
    } else {
        Disposition::On(config)
    };
    done(disposition, problems, Some(status))
}

fn name(effective: &EffectiveLabels, settings: &Settings) -> Result<String, Box<Problem>> {
    match effective.setting(labels::NAME) {
        None => Ok(settings.default_auth_name().to_owned()),
        Some(label) => labels::auth_name(&label.value).map_err(|reason| {
            Box::new(Problem::label(
                Code::NameInvalid,
                Level::Error,
                &label,
                format!("the name {reason}; choose a name such as redhat-sso"),
            ))
        }),
    }
}

fn issuer(effective: &EffectiveLabels, settings: &Settings) -> Result<String, Box<Problem>> {
    match effective.setting(labels::ISSUER) {
        None => Ok(settings.default_issuer().to_owned()),
        Some(label) => labels::issuer(&label.value, settings.issuers())
            .map(|()| label.value.clone())
            .map_err(|reason| {
                Box::new(Problem::label(
                    Code::IssuerUnknown,
                    Level::Error,
                    &label,
                    format!(
                        "the issuer {reason}; or remove the label to use {}",
                        settings.default_issuer()
                    ),
                ))
            }),
    }
}

fn group_filter(effective: &EffectiveLabels) -> Result<Option<String>, Box<Problem>> {
    match effective.setting(labels::GROUP_FILTER_REGEX) {
        None => Ok(None),
        Some(label) => labels::group_filter(&label.value)
            .map(|()| Some(label.value.clone()))
            .map_err(|reason| {
                Box::new(Problem::label(
                    Code::RegexInvalid,
                    Level::Error,
                    &label,
                    format!("the regular expression {reason}"),
                ))
            }),
    }
}

fn keep_idps(effective: &EffectiveLabels) -> Result<Vec<String>, Box<Problem>> {
    match effective.setting(labels::KEEP_IDPS) {
        None => Ok(Vec::new()),
        Some(label) => labels::keep_idps(&label.value).map_err(|reason| {
            Box::new(Problem::label(
                Code::KeepIdpsInvalid,
                Level::Error,
                &label,
                format!("the list {reason}"),
            ))
        }),
    }
}

/// A key that cannot be used is fixed by a shorter auth name (the only part the
/// user chooses freely), so it is reported as a name problem.
fn key_problem(effective: &EffectiveLabels, error: &KeyError) -> Problem {
    let message = format!("{error}; choose a shorter {}", labels::key(labels::NAME));
    match effective.setting(labels::NAME) {
        Some(label) => Problem::label(Code::NameInvalid, Level::Error, &label, message),
        None => Problem {
            code: Code::NameInvalid,
            level: Level::Error,
            label: None::<Label>,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DEFAULT_ISSUER, KeycloakInstance};

    fn settings() -> Settings {
        Settings::new(vec![KeycloakInstance {
            issuer: DEFAULT_ISSUER.into(),
        }])
        .unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn cluster(sub: &[(&str, &str)]) -> DiscoveredCluster {
        DiscoveredCluster {
            id: "id".into(),
            external_id: "uuid".into(),
            name: "my-cluster".into(),
            organization_id: "org-1".into(),
            console_url: Some(
                "https://console-openshift-console.apps.my-cluster.abcd.p1.openshiftapps.com"
                    .into(),
            ),
            external_auth: false,
            labels: map(sub),
        }
    }

    fn allowed(labels: &[(&str, &str)]) -> Organization {
        Organization {
            labels: map(labels),
            allowed: true,
        }
    }

    #[test]
    fn i5_organization_labels_apply_to_its_clusters() {
        let e = evaluate(
            &cluster(&[("sre-capabilities.rhidp.name", "my sso")]),
            Some(&allowed(&[("sre-capabilities.rhidp.status", "enabled")])),
            &settings(),
        );
        let Disposition::On(c) = e.disposition else {
            panic!("{e:?}")
        };
        assert_eq!(c.auth_name, "my-sso");
        assert_eq!(c.key, "my-cluster-org-1-my-sso-auth.redhat.com");
        assert_eq!(
            c.redirect_uri,
            "https://oauth-openshift.apps.my-cluster.abcd.p1.openshiftapps.com/oauth2callback/my-sso"
        );
    }

    #[test]
    fn i17_external_auth_is_an_error_unless_disabled() {
        let mut c = cluster(&[("sre-capabilities.rhidp.status", "enabled")]);
        c.external_auth = true;
        let e = evaluate(&c, Some(&allowed(&[])), &settings());
        assert_eq!(e.disposition, Disposition::ExternalAuth { frozen: true });
        assert_eq!(e.problems[0].code, Code::ExternalAuth);
        c.labels.clear();
        let e = evaluate(&c, Some(&allowed(&[])), &settings());
        assert_eq!(e.disposition, Disposition::ExternalAuth { frozen: false });
        assert!(e.problems.is_empty());
        assert!(!e.disposition.is_managed());
    }

    #[test]
    fn i17_missing_console_is_silent() {
        let mut c = cluster(&[("sre-capabilities.rhidp.status", "Bogus")]);
        c.console_url = None;
        let e = evaluate(&c, Some(&allowed(&[])), &settings());
        assert_eq!(e.disposition, Disposition::NoConsole);
        assert!(e.problems.is_empty());
    }

    #[test]
    fn i12_organization_outside_the_allowlist_is_switched_off_silently() {
        let c = cluster(&[
            ("sre-capabilities.rhidp.status", "Bogus"),
            ("sre-capabilities.rhidp.name", "custom"),
        ]);
        for org in [None, Some(&Organization::default())] {
            let e = evaluate(&c, org, &settings());
            assert_eq!(
                e.disposition,
                Disposition::Off {
                    reason: OffReason::OrganizationNotAllowed,
                    managed_name: Some("custom".into())
                }
            );
            assert!(e.problems.is_empty());
        }
    }

    #[test]
    fn disabled_clusters_are_not_nagged_about_unused_values() {
        let e = evaluate(
            &cluster(&[
                ("sre-capabilities.rhidp.status", "disabled"),
                ("sre-capabilities.rhidp.issuer", "http://nope"),
                ("sre-capabilities.rhidp.name", "a/b"),
            ]),
            Some(&allowed(&[])),
            &settings(),
        );
        assert!(e.problems.is_empty());
        assert_eq!(
            e.disposition,
            Disposition::Off {
                reason: OffReason::Disabled,
                managed_name: None
            }
        );
    }

    #[test]
    fn i25_an_overlong_key_is_a_name_problem() {
        let mut c = cluster(&[("sre-capabilities.rhidp.status", "enabled")]);
        c.name = "c".repeat(240);
        let e = evaluate(&c, Some(&allowed(&[])), &settings());
        assert_eq!(e.disposition, Disposition::Frozen);
        assert_eq!(e.problems[0].code, Code::NameInvalid);
        assert!(e.problems[0].label.is_none());
    }

    #[test]
    fn i10_regex_problem_names_the_label() {
        let e = evaluate(
            &cluster(&[
                ("sre-capabilities.rhidp.status", "sso-client-only"),
                ("sre-capabilities.rhidp.group-filter-regex", "a\tb"),
            ]),
            Some(&allowed(&[])),
            &settings(),
        );
        assert_eq!(e.disposition, Disposition::Frozen);
        let p = &e.problems[0];
        assert_eq!(p.code, Code::RegexInvalid);
        assert_eq!(
            p.label.as_ref().unwrap().key,
            "sre-capabilities.rhidp.group-filter-regex"
        );
    }

    #[test]
    fn w9_keep_idps_is_parsed_and_a_bad_list_freezes() {
        let e = evaluate(
            &cluster(&[
                ("sre-capabilities.rhidp.status", "enforced"),
                ("sre-capabilities.rhidp.keep-idps", "htpasswd, break-glass"),
            ]),
            Some(&allowed(&[])),
            &settings(),
        );
        let Disposition::On(config) = e.disposition else {
            panic!("{:?}", e.disposition)
        };
        assert_eq!(config.keep_idps, ["break-glass", "htpasswd"]);
        let e = evaluate(
            &cluster(&[
                ("sre-capabilities.rhidp.status", "enforced"),
                ("sre-capabilities.rhidp.keep-idps", "htpasswd,,ldap"),
            ]),
            Some(&allowed(&[])),
            &settings(),
        );
        assert_eq!(e.disposition, Disposition::Frozen);
        assert_eq!(e.problems[0].code, Code::KeepIdpsInvalid);
        assert!(
            e.problems[0].message.contains("empty name"),
            "{:?}",
            e.problems
        );
    }
}
