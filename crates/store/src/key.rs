//! [`StateKey`]: where one organization's soak history lives (spec R63).

use std::fmt;

use crate::StoreError;

/// The key of one soak-history document: `<environment name>/<org id>`.
///
/// Both parts are checked to be non-empty and free of `/`, so that the textual
/// key is unambiguous: `a/b` + `c` and `a` + `b/c` must never meet in one row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey {
    environment: String,
    org_id: String,
}

impl StateKey {
    /// The key of organization `org_id` in OCM environment `environment`.
    pub fn new(
        environment: impl Into<String>,
        org_id: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let environment = environment.into();
        let org_id = org_id.into();
        let reason = if environment.is_empty() {
            Some("the environment name is empty")
        } else if org_id.is_empty() {
            Some("the organization id is empty")
        } else if environment.contains('/') {
            Some("the environment name contains `/`, the key separator")
        } else if org_id.contains('/') {
            Some("the organization id contains `/`, the key separator")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StoreError::InvalidKey {
                environment,
                org_id,
                reason,
            }),
            None => Ok(Self {
                environment,
                org_id,
            }),
        }
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.environment, self.org_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_is_environment_slash_org() {
        let key = StateKey::new("production", "1a2b3c").expect("valid key");
        assert_eq!(key.to_string(), "production/1a2b3c");
        assert_eq!(key.environment(), "production");
        assert_eq!(key.org_id(), "1a2b3c");
    }

    #[test]
    fn ambiguous_or_empty_parts_are_rejected() {
        for (env, org, reason) in [
            ("", "o", "the environment name is empty"),
            ("e", "", "the organization id is empty"),
            (
                "a/b",
                "c",
                "the environment name contains `/`, the key separator",
            ),
            (
                "a",
                "b/c",
                "the organization id contains `/`, the key separator",
            ),
        ] {
            let err = StateKey::new(env, org).expect_err("invalid key");
            assert_eq!(
                err.to_string(),
                format!("invalid state key {env:?}/{org:?}: {reason}")
            );
        }
    }
}
