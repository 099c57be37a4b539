//! Cluster login as the Red Hat IdP capability (`rhidp`) sees it: each
//! cluster's console URL, external-auth flag and identity providers; the SSO
//! (Keycloak) realms clients are registered in; and the client records a
//! secret store already holds (spec `rhidp.md` I74, I77, I80).
//!
//! These are plain data like the rest of the fleet. The per-cluster part is one
//! nested struct with a [`Default`] so that code building a [`crate::Cluster`]
//! by hand (tests, synthetic fleets) only names it once; the scenario loader
//! applies the documented defaults (a console URL derived from the cluster
//! name) that a `Default` cannot know.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Identity types OCM accepts for an identity provider (`type`).
pub const IDP_TYPES: &[&str] = &[
    "LDAPIdentityProvider",
    "GithubIdentityProvider",
    "GitlabIdentityProvider",
    "GoogleIdentityProvider",
    "HTPasswdIdentityProvider",
    "OpenIDIdentityProvider",
];

/// `mapping_method` values OCM accepts.
pub const MAPPING_METHODS: &[&str] = &["claim", "add", "generate", "lookup"];

/// The OpenID identity-provider type.
pub const OPENID: &str = "OpenIDIdentityProvider";

/// How users log in to one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterAuth {
    /// Web console URL (`console.url`); `None` when the cluster has none (yet).
    pub console_url: Option<String>,
    /// External authentication (`external_auth_config.enabled`): such a cluster
    /// takes no identity providers.
    pub external_auth: bool,
    /// Identity providers configured on the cluster, in OCM's order.
    pub identity_providers: Vec<IdentityProvider>,
}

impl ClusterAuth {
    /// The login of a cluster the scenario says nothing about: the console URL
    /// derived from its name ([`default_console_url`]), no external auth, no IdPs.
    pub fn derived(cluster_name: &str) -> ClusterAuth {
        ClusterAuth {
            console_url: Some(default_console_url(cluster_name)),
            ..ClusterAuth::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ClusterAuth::default()
    }
}

/// `https://console-openshift-console.apps.<name>.<id>.p1.openshiftapps.com`,
/// the shape of an OSD / ROSA classic console (rule I20 branch 2).
///
/// `<id>` stands for the four characters OCM puts in a cluster's base domain;
/// here it is a hash of the name, so the same scenario always serves the same URL.
pub fn default_console_url(cluster_name: &str) -> String {
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in cluster_name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let id = format!("{:04x}", hash & 0xffff);
    format!("https://console-openshift-console.apps.{cluster_name}.{id}.p1.openshiftapps.com")
}

/// An identity provider on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    pub id: String,
    /// One of [`IDP_TYPES`].
    #[serde(rename = "type")]
    pub idp_type: String,
    /// Unique per cluster; the login button text and the callback path segment.
    pub name: String,
    /// One of [`MAPPING_METHODS`].
    pub mapping_method: String,
    /// The OpenID settings of an `OpenIDIdentityProvider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_id: Option<OpenIdSettings>,
}

/// The `open_id` block of an OpenID identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdSettings {
    pub client_id: String,
    /// Write-only in OCM; kept so a simulator can tell which secret the IdP holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub issuer: String,
    /// Claim name lists, e.g. `email: [email]`, `groups: []`.
    #[serde(default)]
    pub claims: BTreeMap<String, Vec<String>>,
}

impl OpenIdSettings {
    /// The claims the capability sets (rule I22), with `groups` as given.
    pub fn standard_claims(groups: Vec<String>) -> BTreeMap<String, Vec<String>> {
        let mut claims = BTreeMap::new();
        for claim in ["email", "name", "preferred_username"] {
            claims.insert(claim.to_owned(), vec![claim.to_owned()]);
        }
        claims.insert("groups".to_owned(), groups);
        claims
    }
}

/// SSO (Keycloak) realms that clients are registered in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sso {
    pub realms: Vec<SsoRealm>,
}

impl Sso {
    pub fn is_empty(&self) -> bool {
        self.realms.is_empty()
    }
}

/// One realm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoRealm {
    /// Issuer URL as the operator configures it, e.g.
    /// `https://auth.redhat.com/auth/realms/EmployeeIDP`; its last
    /// `/realms/<name>` segment names the realm.
    pub issuer: String,
    /// Client scopes a registration may ask for (Keycloak's "allowed client
    /// scopes" policy).
    pub allowed_scopes: Vec<String>,
    /// Initial access tokens that exist from the start.
    #[serde(default)]
    pub initial_access_tokens: Vec<InitialAccessToken>,
    /// Clients registered before the scenario starts.
    #[serde(default)]
    pub clients: Vec<SsoClient>,
    /// Whether a registration response echoes the `attributes` sent (spec §17
    /// item 4 leaves it open for Red Hat SSO).
    #[serde(default = "yes")]
    pub echo_attributes: bool,
    /// Status of a `DELETE` for a client that does not exist: 401 (Keycloak
    /// cannot authenticate the RAT) or 404.
    #[serde(default = "unauthorized")]
    pub unknown_client_status: u16,
}

fn yes() -> bool {
    true
}

fn unauthorized() -> u16 {
    401
}

impl SsoRealm {
    /// The realm name: what follows `/realms/` in the issuer.
    pub fn name(&self) -> Option<&str> {
        realm_name(&self.issuer)
    }
}

/// What follows `/realms/` in an issuer URL, without a trailing slash.
pub fn realm_name(issuer: &str) -> Option<&str> {
    let (_, rest) = issuer.rsplit_once("/realms/")?;
    let name = rest.trim_end_matches('/');
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// An initial access token: it may register `count` more clients until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialAccessToken {
    /// The bearer text; the simulator mints one when the scenario gives none.
    pub token: String,
    pub expires: Timestamp,
    /// Registrations left.
    pub count: u32,
}

/// A registered SSO client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoClient {
    /// Keycloak's `clientId` (the client key, rule I24).
    pub client_id: String,
    pub secret: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub default_client_scopes: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The registration access token currently valid for this client.
    pub rat: String,
}

/// Client records a secret store holds: namespace (e.g. `rhidp/production`) →
/// entry name → JSON record (rule I30).
pub type Secrets = BTreeMap<String, BTreeMap<String, Value>>;

/// A JWT-shaped token (`header.claims.`, unsigned) with Keycloak's claims for an
/// initial access token: `exp` (what the reference reads to expose the expiry),
/// `iat`, `jti`, `iss` and `typ: InitialAccessToken`.
///
/// Nothing checks a signature: a realm recognises its tokens by their text.
pub fn initial_access_token(
    issuer: &str,
    jti: &str,
    issued: Timestamp,
    expires: Timestamp,
) -> String {
    unsigned_jwt(&serde_json::json!({
        "exp": expires.as_second(),
        "iat": issued.as_second(),
        "jti": jti,
        "iss": issuer,
        "typ": "InitialAccessToken",
    }))
}

/// `base64url(header).base64url(claims).` with `alg: none`.
pub fn unsigned_jwt(claims: &Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_console_url_is_stable_and_osd_shaped() {
        let url = default_console_url("c1");
        assert_eq!(url, default_console_url("c1"));
        assert!(url.starts_with("https://console-openshift-console.apps.c1."));
        assert!(url.ends_with(".p1.openshiftapps.com"));
        assert_ne!(url, default_console_url("c2"));
    }

    #[test]
    fn realm_names_come_from_the_issuer() {
        assert_eq!(
            realm_name("https://auth.redhat.com/auth/realms/EmployeeIDP"),
            Some("EmployeeIDP")
        );
        assert_eq!(realm_name("https://x/auth/realms/r/"), Some("r"));
        assert_eq!(realm_name("https://x/auth/"), None);
        assert_eq!(realm_name("https://x/realms/"), None);
    }
}
