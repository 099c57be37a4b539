//! [`StateKey`]: where one organization's soak history lives (spec R63), or
//! one add-on's of one organization (R115: `<env>/<org>/<addon>`).

use std::borrow::Cow;
use std::fmt;

use crate::StoreError;

/// The key of one soak-history document: `<environment name>/<org id>`, or
/// `<environment name>/<org id>/<addon id>` for an add-on's history (R115).
///
/// Every part is checked to be non-empty and free of `/`, so that the textual
/// key is unambiguous: `a/b` + `c` and `a` + `b/c` must never meet in one row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey {
    environment: String,
    org_id: String,
    /// The add-on of an add-on history (R115); `None` for the cluster history.
    addon_id: Option<String>,
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
                addon_id: None,
            }),
        }
    }

    /// The key of add-on `addon_id`'s history in organization `org_id` (R115).
    pub fn addon(
        environment: impl Into<String>,
        org_id: impl Into<String>,
        addon_id: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let mut key = Self::new(environment, org_id)?;
        let addon_id = addon_id.into();
        let reason = if addon_id.is_empty() {
            Some("the add-on id is empty")
        } else if addon_id.contains('/') {
            Some("the add-on id contains `/`, the key separator")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(StoreError::InvalidKey {
                environment: key.environment,
                org_id: format!("{}/{addon_id}", key.org_id),
                reason,
            });
        }
        key.addon_id = Some(addon_id);
        Ok(key)
    }

    /// The key stored as the two columns of the backends: `org_column` is the
    /// organization id, or `<org id>/<addon id>` for an add-on history (no
    /// part holds `/`, so the split is unambiguous).
    pub fn from_columns(
        environment: impl Into<String>,
        org_column: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let org_column = org_column.into();
        match org_column.split_once('/') {
            Some((org_id, addon_id)) => Self::addon(environment, org_id, addon_id),
            None => Self::new(environment, org_column),
        }
    }

    /// What the backends store in their organization column (see
    /// [`StateKey::from_columns`]).
    pub fn org_column(&self) -> Cow<'_, str> {
        match &self.addon_id {
            Some(addon) => Cow::Owned(format!("{}/{addon}", self.org_id)),
            None => Cow::Borrowed(&self.org_id),
        }
    }

    /// The add-on of an add-on history.
    pub fn addon_id(&self) -> Option<&str> {
        self.addon_id.as_deref()
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
        write!(f, "{}/{}", self.environment, self.org_id)?;
        if let Some(addon) = &self.addon_id {
            write!(f, "/{addon}")?;
        }
        Ok(())
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
    fn addon_key_text_is_environment_org_addon_r115() {
        let key = StateKey::addon("production", "1a2b3c", "logging").expect("valid key");
        assert_eq!(key.to_string(), "production/1a2b3c/logging");
        assert_eq!(key.org_id(), "1a2b3c");
        assert_eq!(key.addon_id(), Some("logging"));
        assert_eq!(key.org_column(), "1a2b3c/logging");
        assert_eq!(
            StateKey::from_columns("production", "1a2b3c/logging").expect("valid"),
            key
        );
        let org = StateKey::from_columns("production", "1a2b3c").expect("valid");
        assert_eq!(org, StateKey::new("production", "1a2b3c").expect("valid"));
        assert_ne!(org, key);
        for (addon, reason) in [
            ("", "the add-on id is empty"),
            ("a/b", "the add-on id contains `/`, the key separator"),
        ] {
            let err = StateKey::addon("e", "o", addon).expect_err("invalid");
            assert!(err.to_string().ends_with(reason), "{err}");
        }
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
