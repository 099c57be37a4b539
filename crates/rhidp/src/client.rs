//! The desired SSO client of a cluster (spec §4.1, §4.3, I20–I21, I24–I27).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::labels::GROUP_FILTER_REGEX;

/// The scope and claim that carry the filtered groups (I10, I21, I22).
pub const GROUPS_SCOPE: &str = "regex-filtered-groups";
/// Longest accepted client key (I25 PROPOSAL).
pub const MAX_KEY_LEN: usize = 255;

const DEFAULT_SCOPES: [&str; 5] = ["web-origins", "acr", "profile", "roles", "email"];
const CONSOLE: &str = "console-openshift-console";
/// The reference's "ROSA" branch, in practice ROSA HCP consoles (I20).
const ROSA_CONSOLE: &str = "console-openshift-console.apps.rosa";

/// The OAuth callback of a cluster (I20, exact). Returns whether the console URL
/// matched one of the two known patterns: an unrecognised URL still yields the
/// reference's (useless) URI, and the caller warns operators (W20).
pub fn redirect_uri(console_url: &str, auth_name: &str) -> (String, bool) {
    let rosa = console_url.starts_with(&format!("https://{ROSA_CONSOLE}."));
    let recognised = rosa || console_url.contains(CONSOLE);
    let replaced = if rosa {
        console_url.replace(ROSA_CONSOLE, "oauth")
    } else {
        console_url.replace(CONSOLE, "oauth-openshift")
    };
    let (scheme, rest) = replaced.split_once("://").unwrap_or(("https", &replaced));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let port_given = authority
        .rsplit_once(']')
        .map_or(authority, |(_, after)| after)
        .contains(':');
    let authority = if rosa && !port_given {
        format!("{authority}:443")
    } else {
        authority.to_owned()
    };
    (
        format!("{scheme}://{authority}/oauth2callback/{auth_name}"),
        recognised,
    )
}

/// The default client scopes (I21).
pub fn default_scopes(group_filter: Option<&str>) -> Vec<String> {
    let mut scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    if group_filter.is_some() {
        scopes.push(GROUPS_SCOPE.to_owned());
    }
    scopes
}

/// The host of an issuer URL: lower-cased, without scheme, user info, port or path
/// (I24). `None` when there is no host.
pub fn issuer_host(issuer: &str) -> Option<String> {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split_once(']')?.0
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Why a client key cannot be used (I25).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the issuer {0:?} has no host")]
    NoHost(String),
    #[error("the client key {key:?} is {len} characters long (at most {MAX_KEY_LEN})")]
    TooLong { key: String, len: usize },
    #[error("the client key {0:?} contains `/`")]
    Slash(String),
}

/// The client key (I24, exact): `<cluster>-<org>-<auth name>-<issuer host>`.
pub fn client_key(
    cluster_name: &str,
    organization_id: &str,
    auth_name: &str,
    issuer: &str,
) -> Result<String, KeyError> {
    let host = issuer_host(issuer).ok_or_else(|| KeyError::NoHost(issuer.to_owned()))?;
    let key = format!("{cluster_name}-{organization_id}-{auth_name}-{host}");
    let len = key.chars().count();
    if len > MAX_KEY_LEN {
        return Err(KeyError::TooLong { key, len });
    }
    if key.contains('/') {
        return Err(KeyError::Slash(key));
    }
    Ok(key)
}

/// The SSO client a cluster should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredClient {
    pub key: String,
    pub cluster_id: String,
    pub cluster_uuid: String,
    pub cluster_name: String,
    pub organization_id: String,
    pub auth_name: String,
    pub issuer: String,
    pub redirect_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_filter: Option<String>,
}

/// The body of a registration (I27) or of an update with the client's RAT (I29).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationRequest {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub default_client_scopes: Vec<String>,
    /// `null` without a regex, as the current reference sends.
    pub attributes: Option<BTreeMap<String, String>>,
}

impl DesiredClient {
    pub fn registration(&self) -> RegistrationRequest {
        RegistrationRequest {
            client_id: self.key.clone(),
            redirect_uris: vec![self.redirect_uri.clone()],
            default_client_scopes: default_scopes(self.group_filter.as_deref()),
            attributes: self
                .group_filter
                .as_ref()
                .map(|r| BTreeMap::from([(GROUP_FILTER_REGEX.to_owned(), r.clone())])),
        }
    }

    /// `<issuer>/clients-registrations/default/<client id>` (I30).
    pub fn registration_client_uri(&self) -> String {
        registration_client_uri(&self.issuer, &self.key)
    }
}

/// `<issuer>/clients-registrations/default/<client id>` (I28, I30).
pub fn registration_client_uri(issuer: &str, client_id: &str) -> String {
    format!("{issuer}/clients-registrations/default/{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i20_every_row_of_the_redirect_table() {
        let n = "super-dupper-auth";
        let rows = [
            (
                "https://console-openshift-console.apps.cluster-name.lalala-land.com/huhu/la/le/lu",
                n,
                "https://oauth-openshift.apps.cluster-name.lalala-land.com/oauth2callback/super-dupper-auth",
            ),
            (
                "https://console-openshift-console.apps.cluster-name.lalala-land.com:1234/huhu/la/le/lu",
                n,
                "https://oauth-openshift.apps.cluster-name.lalala-land.com:1234/oauth2callback/super-dupper-auth",
            ),
            (
                "https://console-openshift-console.apps.rosa.cluster-name.lalala-land.com/huhu/la/le/lu",
                n,
                "https://oauth.cluster-name.lalala-land.com:443/oauth2callback/super-dupper-auth",
            ),
            (
                "https://console-openshift-console.apps.rosa.cluster-name.lalala-land.com:1234/huhu/la/le/lu",
                n,
                "https://oauth.cluster-name.lalala-land.com:1234/oauth2callback/super-dupper-auth",
            ),
            (
                "https://console.foobar.com",
                "oidc-auth",
                "https://console.foobar.com/oauth2callback/oidc-auth",
            ),
        ];
        for (console, name, want) in rows {
            assert_eq!(redirect_uri(console, name).0, want, "{console}");
        }
        // W20: only the last row is unrecognised.
        assert!(!redirect_uri("https://console.foobar.com", "x").1);
        assert!(redirect_uri(rows[0].0, n).1);
        assert!(redirect_uri(rows[2].0, n).1);
    }

    #[test]
    fn i21_default_scopes_in_order() {
        assert_eq!(
            default_scopes(None),
            ["web-origins", "acr", "profile", "roles", "email"]
        );
        assert_eq!(
            default_scopes(Some("^ai-.*")),
            [
                "web-origins",
                "acr",
                "profile",
                "roles",
                "email",
                "regex-filtered-groups"
            ]
        );
    }

    #[test]
    fn i24_every_row_of_the_key_table() {
        assert_eq!(
            client_key(
                "my-cluster",
                "org-1",
                "redhat-sso",
                "https://auth.redhat.com/auth/realms/EmployeeIDP"
            )
            .unwrap(),
            "my-cluster-org-1-redhat-sso-auth.redhat.com"
        );
        assert_eq!(
            client_key(
                "cluster_name",
                "org_id",
                "auth_name",
                "https://issuer-url.com:443/foo/bar"
            )
            .unwrap(),
            "cluster_name-org_id-auth_name-issuer-url.com"
        );
    }

    #[test]
    fn i24_issuer_host_is_lower_case_without_user_info_or_port() {
        assert_eq!(
            issuer_host("https://user:pw@Auth.Example.COM:8443/x").as_deref(),
            Some("auth.example.com")
        );
        assert_eq!(issuer_host("https://[::1]:8443/x").as_deref(), Some("::1"));
        assert_eq!(issuer_host("https:///x"), None);
    }

    #[test]
    fn i25_key_limits() {
        let long = "c".repeat(250);
        assert!(matches!(
            client_key(&long, "o", "a", "https://h.com"),
            Err(KeyError::TooLong { .. })
        ));
        assert!(matches!(
            client_key("c/x", "o", "a", "https://h.com"),
            Err(KeyError::Slash(_))
        ));
    }

    #[test]
    fn i27_registration_body() {
        let c = DesiredClient {
            key: "k".into(),
            cluster_id: "id".into(),
            cluster_uuid: "uuid".into(),
            cluster_name: "c".into(),
            organization_id: "o".into(),
            auth_name: "redhat-sso".into(),
            issuer: "https://i.com/auth/realms/R".into(),
            redirect_uri: "https://oauth/cb".into(),
            group_filter: Some("^ai-.*".into()),
        };
        let body = serde_json::to_value(c.registration()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "clientId": "k",
                "redirectUris": ["https://oauth/cb"],
                "defaultClientScopes": ["web-origins", "acr", "profile", "roles", "email", "regex-filtered-groups"],
                "attributes": {"group-filter-regex": "^ai-.*"}
            })
        );
        let none = DesiredClient {
            group_filter: None,
            ..c
        };
        assert_eq!(
            serde_json::to_value(none.registration()).unwrap()["attributes"],
            serde_json::Value::Null
        );
        assert_eq!(
            none.registration_client_uri(),
            "https://i.com/auth/realms/R/clients-registrations/default/k"
        );
    }
}
