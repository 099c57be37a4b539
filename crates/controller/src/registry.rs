//! The organization registry of an environment (R4, R41, R47): which
//! organizations may use AUS, which integrations each has disabled, and which
//! health providers each asks for.
//!
//! The registry is optional. Without one, every organization with AUS labels is
//! reconciled (the label-driven default). With one, AUS is limited to the
//! organizations it names: an organization with AUS labels outside it is left
//! alone after discovery (no reads, no writes, no service logs) and only counted
//! (`srecap_aus_unregistered_organizations`), which protects the OCM API from
//! organizations nobody agreed to serve.

use std::collections::BTreeMap;

use srecap_aus::INTEGRATION;

use crate::health::HealthProvider;

/// The name of the only health provider AUS knows (R47): the environment's
/// Telemeter Prometheus.
pub const TELEMETER: &str = "telemeter";

/// The registered organizations of one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgRegistry {
    orgs: BTreeMap<String, RegisteredOrg>,
}

/// One registered organization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredOrg {
    /// Integrations (capabilities) disabled for it (R4 (b)), e.g.
    /// `advanced-upgrade-scheduler`.
    pub disabled: Vec<String>,
    /// Health providers it asks for (R47).
    pub health: Vec<HealthCheck>,
    /// Its add-on upgrade settings (R113); none: no add-on upgrades.
    pub addons: Option<AddonSettings>,
}

/// An organization's add-on upgrade settings (R113), in the label syntax
/// without the `sre-capabilities.aus.` prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddonSettings {
    /// The organization's (`blocked-versions`, `sector-deps.<sector>`, ...).
    pub organization: BTreeMap<String, String>,
    /// Each cluster's (`workloads`, `schedule`, `soak-days`, ...), by cluster
    /// name: matched by name to the organization's OCM clusters.
    pub clusters: BTreeMap<String, BTreeMap<String, String>>,
}

/// A health provider an organization asks for, and whether its errors stop
/// soak accounting (R48, R49).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub provider: String,
    pub enforced: bool,
}

/// Whether an organization is reconciled in a pass (R4), and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Reconcile,
    /// Not in a non-empty include list (R4 (c)).
    NotIncluded,
    /// In the exclude list (R4 (d)); exclusion wins over inclusion.
    Excluded,
    /// AUS is disabled for it in the registry (R4 (b)).
    Disabled,
    /// A registry is configured and does not name it (R4 (a), R41): left
    /// alone and counted.
    Unregistered,
}

impl OrgRegistry {
    pub fn new(orgs: impl IntoIterator<Item = (String, RegisteredOrg)>) -> OrgRegistry {
        OrgRegistry {
            orgs: orgs.into_iter().collect(),
        }
    }

    pub fn get(&self, org_id: &str) -> Option<&RegisteredOrg> {
        self.orgs.get(org_id)
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    /// The registered organizations, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &RegisteredOrg)> {
        self.orgs.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }
}

/// R4 for one organization of the environment being reconciled.
pub fn select(
    registry: Option<&OrgRegistry>,
    include: &[String],
    exclude: &[String],
    org_id: &str,
) -> Selection {
    if let Some(registry) = registry {
        match registry.get(org_id) {
            None => return Selection::Unregistered,
            Some(org) if org.disabled.iter().any(|i| i == INTEGRATION) => {
                return Selection::Disabled;
            }
            Some(_) => {}
        }
    }
    if exclude.iter().any(|o| o == org_id) {
        Selection::Excluded
    } else if !include.is_empty() && !include.iter().any(|o| o == org_id) {
        Selection::NotIncluded
    } else {
        Selection::Reconcile
    }
}

/// The health provider of `org_id` in `environment`, whose Telemeter is
/// `telemeter` (if configured).
///
/// Without a registry every organization uses the environment's provider, as
/// `--health-prometheus` always did. With one, an organization uses only the
/// providers it asks for; asking for one the environment does not have is an
/// organization validation error (the returned message), not a failure of the
/// whole environment (R47 deviation).
pub fn health_of(
    registry: Option<&OrgRegistry>,
    environment: &str,
    telemeter: Option<&HealthProvider>,
    org_id: &str,
) -> Result<Option<HealthProvider>, String> {
    let Some(registry) = registry else {
        return Ok(telemeter.cloned());
    };
    let Some(org) = registry.get(org_id) else {
        return Ok(None);
    };
    let mut chosen = None;
    let mut unavailable = Vec::new();
    for check in &org.health {
        match (check.provider.as_str(), telemeter) {
            (TELEMETER, Some(provider)) => {
                chosen = Some(HealthProvider {
                    url: provider.url.clone(),
                    enforced: check.enforced,
                });
            }
            _ => unavailable.push(check.provider.as_str()),
        }
    }
    if unavailable.is_empty() {
        Ok(chosen)
    } else {
        unavailable.sort_unstable();
        Err(format!(
            "health check provider(s) {} not available in environment {environment}: \
             remove them from organization {org_id}'s registry entry, or ask the AUS \
             operators to configure them for {environment}",
            unavailable.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// W29's registry: org1 and org2 in env1, org3 and org4 (AUS disabled) in
    /// env2. Membership of the environment is the registry of that environment.
    fn registries() -> (OrgRegistry, OrgRegistry) {
        let env1 = OrgRegistry::new([
            ("org1".to_owned(), RegisteredOrg::default()),
            ("org2".to_owned(), RegisteredOrg::default()),
        ]);
        let env2 = OrgRegistry::new([
            ("org3".to_owned(), RegisteredOrg::default()),
            (
                "org4".to_owned(),
                RegisteredOrg {
                    disabled: ids(&[INTEGRATION]),
                    health: Vec::new(),
                    addons: None,
                },
            ),
        ]);
        (env1, env2)
    }

    fn selected(registry: &OrgRegistry, include: &[&str], exclude: &[&str]) -> Vec<&'static str> {
        ["org1", "org2", "org3", "org4"]
            .into_iter()
            .filter(|o| {
                select(Some(registry), &ids(include), &ids(exclude), o) == Selection::Reconcile
            })
            .collect()
    }

    #[test]
    fn r4_selection_table_w29() {
        let (env1, env2) = registries();
        assert_eq!(selected(&env1, &[], &[]), ["org1", "org2"]);
        assert_eq!(selected(&env2, &[], &[]), ["org3"]);
        assert_eq!(selected(&env1, &["org1"], &[]), ["org1"]);
        assert_eq!(selected(&env1, &[], &["org1"]), ["org2"]);
        // Both included and excluded: excluded (R4).
        assert!(selected(&env1, &["org1"], &["org1"]).is_empty());
        // R4 (b): disabled even when included.
        assert_eq!(
            select(Some(&env2), &ids(&["org4"]), &[], "org4"),
            Selection::Disabled
        );
        // R4 (a), R41: another environment's organization is unregistered here.
        assert_eq!(
            select(Some(&env1), &[], &[], "org3"),
            Selection::Unregistered
        );
        assert_eq!(
            select(Some(&env1), &ids(&["org3"]), &[], "org3"),
            Selection::Unregistered
        );
        assert_eq!(
            select(Some(&env1), &[], &ids(&["org1"]), "org1"),
            Selection::Excluded
        );
        assert_eq!(
            select(Some(&env1), &ids(&["org2"]), &[], "org1"),
            Selection::NotIncluded
        );
    }

    #[test]
    fn r4_without_a_registry_every_labelled_org_is_a_candidate() {
        assert_eq!(select(None, &[], &[], "any"), Selection::Reconcile);
        assert_eq!(select(None, &ids(&["a"]), &[], "b"), Selection::NotIncluded);
        assert_eq!(
            select(None, &ids(&["a"]), &ids(&["a"]), "a"),
            Selection::Excluded
        );
    }

    #[test]
    fn r47_health_providers_per_org() {
        let telemeter = HealthProvider {
            url: "http://prom".to_owned(),
            enforced: true,
        };
        let registry = OrgRegistry::new([
            (
                "soft".to_owned(),
                RegisteredOrg {
                    disabled: Vec::new(),
                    health: vec![HealthCheck {
                        provider: TELEMETER.to_owned(),
                        enforced: false,
                    }],
                    addons: None,
                },
            ),
            ("none".to_owned(), RegisteredOrg::default()),
            (
                "odd".to_owned(),
                RegisteredOrg {
                    disabled: Vec::new(),
                    health: vec![HealthCheck {
                        provider: "dynatrace".to_owned(),
                        enforced: true,
                    }],
                    addons: None,
                },
            ),
        ]);
        // No registry: the environment's provider for everyone (as today).
        assert_eq!(
            health_of(None, "prod", Some(&telemeter), "x"),
            Ok(Some(telemeter.clone()))
        );
        // The org's enforced flag wins over the environment's default.
        let soft = health_of(Some(&registry), "prod", Some(&telemeter), "soft")
            .unwrap()
            .unwrap();
        assert!(!soft.enforced);
        assert_eq!(soft.url, "http://prom");
        assert_eq!(
            health_of(Some(&registry), "prod", Some(&telemeter), "none"),
            Ok(None)
        );
        // R47 (deviation): a provider the environment does not have is an
        // organization error, not an environment failure.
        let err = health_of(Some(&registry), "stage", None, "soft").unwrap_err();
        assert!(
            err.contains("telemeter not available in environment stage"),
            "{err}"
        );
        assert!(err.contains("organization soft"), "{err}");
        let err = health_of(Some(&registry), "prod", Some(&telemeter), "odd").unwrap_err();
        assert!(err.contains("dynatrace"), "{err}");
    }
}
