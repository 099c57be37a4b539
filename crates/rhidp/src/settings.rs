//! Operator settings of the capability (spec §11, I67).

use serde::{Deserialize, Serialize};

use crate::labels;

/// The reference's default auth name.
pub const DEFAULT_AUTH_NAME: &str = "redhat-sso";
/// The reference's default issuer.
pub const DEFAULT_ISSUER: &str = "https://auth.redhat.com/auth/realms/EmployeeIDP";

/// One configured Keycloak instance. Only its issuer matters to planning; the initial
/// access token is the executor's business (it never enters a plan, I72).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeycloakInstance {
    pub issuer: String,
}

/// Settings of the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    default_auth_name: String,
    default_issuer: String,
    instances: Vec<KeycloakInstance>,
    /// Operator override of the blast-radius guard (I59).
    pub allow_mass_deletion: bool,
}

/// A settings mistake, found before any planning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The default auth name breaks the rule labels must follow (I8).
    #[error("default auth name {name:?} {reason}")]
    DefaultAuthName { name: String, reason: String },
    /// The default issuer is not a configured instance, so every cluster without an
    /// issuer label would be a configuration error.
    #[error(
        "default issuer {issuer:?} is not a configured Keycloak instance (configured: {configured})"
    )]
    DefaultIssuer { issuer: String, configured: String },
    /// An instance issuer that is not `https://` (I9).
    #[error("Keycloak instance issuer {issuer:?} must start with https://")]
    InstanceIssuer { issuer: String },
}

impl Settings {
    /// Settings with the reference defaults and the given instances; the default
    /// issuer must be one of them.
    pub fn new(instances: Vec<KeycloakInstance>) -> Result<Settings, SettingsError> {
        Settings::with_defaults(DEFAULT_AUTH_NAME, DEFAULT_ISSUER, instances)
    }

    pub fn with_defaults(
        default_auth_name: &str,
        default_issuer: &str,
        instances: Vec<KeycloakInstance>,
    ) -> Result<Settings, SettingsError> {
        let name = labels::auth_name(default_auth_name).map_err(|reason| {
            SettingsError::DefaultAuthName {
                name: default_auth_name.to_owned(),
                reason,
            }
        })?;
        if let Some(bad) = instances.iter().find(|i| !i.issuer.starts_with("https://")) {
            return Err(SettingsError::InstanceIssuer {
                issuer: bad.issuer.clone(),
            });
        }
        if !instances.iter().any(|i| i.issuer == default_issuer) {
            return Err(SettingsError::DefaultIssuer {
                issuer: default_issuer.to_owned(),
                configured: instances
                    .iter()
                    .map(|i| i.issuer.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Settings {
            default_auth_name: name,
            default_issuer: default_issuer.to_owned(),
            instances,
            allow_mass_deletion: false,
        })
    }

    pub fn default_auth_name(&self) -> &str {
        &self.default_auth_name
    }

    pub fn default_issuer(&self) -> &str {
        &self.default_issuer
    }

    pub fn instances(&self) -> &[KeycloakInstance] {
        &self.instances
    }

    /// The configured issuers, for label validation.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.instances.iter().map(|i| i.issuer.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference_defaults() {
        let s = Settings::new(vec![KeycloakInstance {
            issuer: DEFAULT_ISSUER.to_owned(),
        }])
        .unwrap();
        assert_eq!(s.default_auth_name(), "redhat-sso");
        assert_eq!(
            s.default_issuer(),
            "https://auth.redhat.com/auth/realms/EmployeeIDP"
        );
    }

    #[test]
    fn default_issuer_must_be_configured() {
        assert!(matches!(
            Settings::new(vec![]),
            Err(SettingsError::DefaultIssuer { .. })
        ));
        assert!(matches!(
            Settings::with_defaults(
                "redhat-sso",
                "http://x",
                vec![KeycloakInstance {
                    issuer: "http://x".into()
                }]
            ),
            Err(SettingsError::InstanceIssuer { .. })
        ));
    }
}
