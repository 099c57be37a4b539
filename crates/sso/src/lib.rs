//! Keycloak client registration: the Red Hat SSO side of the Red Hat `IdP`
//! capability (spec rhidp §5, I26–I34).
//!
//! One cluster's login needs a confidential OIDC client in a Keycloak realm.
//! [`SsoClient`] registers it with the realm's *initial access token* (IAT)
//! through Keycloak's `default` client-registration provider (the only one
//! that accepts `defaultClientScopes` and `attributes`, which the group claim
//! needs, I26), and reads, updates or deletes it with the client's own
//! *registration access token* (RAT), which Keycloak returns at registration
//! and rotates on every read or update (I29).
//!
//! Design decisions:
//! * Tokens and client secrets are [`Secret`]s: they are sent on the wire and
//!   returned to the caller, never printed in `Debug`, errors or logs (I72).
//! * Registration is not idempotent: a POST whose answer was lost may have
//!   created the client, whose secret and RAT are then unknown. It is retried
//!   only when the connection was never made; any other failure goes back to
//!   the caller, whose pending-record protocol (I41) handles the unknown
//!   outcome. Reads and updates rotate the RAT, so they are not retried either
//!   (a retry after a lost answer would present a RAT Keycloak already
//!   replaced). Deletes are retried on 429, 5xx and transport errors with
//!   backoff (I34): a repeated delete is harmless, and "gone" answers (401 and
//!   404, I40) are a success.
//! * 30 s per request (I34), `User-Agent: srecap/<version>`.
//! * Errors name the realm (issuer), the client id and the operation, and carry
//!   Keycloak's own `error`/`error_description` (shortened), never a token.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
pub use srecap_ocm::Secret;

/// Per-request timeout (I34).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The client-registration provider srecap uses (I26).
pub const PROVIDER: &str = "default";

/// Characters escaped in a client id put into a URL path: all but RFC 3986's
/// unreserved ones, so a client key stays readable in logs.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What an operation on a realm's client registration failed with.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The HTTP client could not be built.
    #[error("cannot build the SSO HTTP client")]
    Build(#[source] reqwest::Error),
    /// The token was refused: an expired or exhausted initial access token, or
    /// a registration access token that is not (any longer) the client's.
    #[error("{operation} {client_id} at {issuer}: the {token} was refused (401{detail})")]
    Unauthorized {
        operation: &'static str,
        issuer: String,
        client_id: String,
        token: &'static str,
        detail: String,
    },
    /// A client with this id exists in the realm already (registration).
    #[error("register {client_id} at {issuer}: a client with this id exists already (409{detail})")]
    Conflict {
        issuer: String,
        client_id: String,
        detail: String,
    },
    /// Any other answer that is not a success.
    #[error("{operation} {client_id} at {issuer}: Keycloak answered {status}{detail}")]
    Status {
        operation: &'static str,
        issuer: String,
        client_id: String,
        status: u16,
        detail: String,
    },
    /// No answer: connection refused, reset, timed out.
    #[error("{operation} {client_id} at {issuer}: no answer from Keycloak")]
    Transport {
        operation: &'static str,
        issuer: String,
        client_id: String,
        #[source]
        source: reqwest::Error,
    },
    /// A success whose body is not a client representation.
    #[error("{operation} {client_id} at {issuer}: Keycloak's answer is not a client: {reason}")]
    BadAnswer {
        operation: &'static str,
        issuer: String,
        client_id: String,
        reason: String,
    },
}

impl SsoError {
    /// The HTTP status Keycloak answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SsoError::Unauthorized { .. } => Some(401),
            SsoError::Conflict { .. } => Some(409),
            SsoError::Status { status, .. } => Some(*status),
            SsoError::Build(_) | SsoError::Transport { .. } | SsoError::BadAnswer { .. } => None,
        }
    }
}

/// The client to register or update (I27).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRegistration {
    /// The client key (I24, I25).
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub default_client_scopes: Vec<String>,
    /// `{"group-filter-regex": …}` when the cluster filters groups (I10),
    /// `null` otherwise (as the reference sends it).
    pub attributes: Option<BTreeMap<String, String>>,
}

/// A registered client as Keycloak answered (the fields I27 reads).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredClient {
    pub client_id: String,
    pub secret: Secret,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub registration_access_token: Secret,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("redirect_uris", &self.redirect_uris)
            .field("registration_access_token", &self.registration_access_token)
            .field("attributes", &self.attributes)
            .finish()
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// How a delete ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Keycloak deleted the client (204).
    Deleted,
    /// Keycloak answered 401 or 404: the client no longer exists (or its RAT
    /// can no longer be checked against it), so there is nothing left to
    /// delete (I40).
    Gone(u16),
}

/// Client-registration calls against any realm.
#[derive(Debug, Clone)]
pub struct SsoClient {
    http: reqwest::Client,
    retries: usize,
}

impl SsoClient {
    /// A client with the timeout of I34 and srecap's user agent.
    pub fn new() -> Result<Self, SsoError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("srecap/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(SsoError::Build)?;
        Ok(SsoClient { http, retries: 3 })
    }

    /// The registration endpoint of the realm `issuer` (I26).
    pub fn registration_url(issuer: &str) -> String {
        format!(
            "{}/clients-registrations/{PROVIDER}",
            issuer.trim_end_matches('/')
        )
    }

    /// The URL of one registered client (I30 `registration_client_uri`).
    pub fn client_url(issuer: &str, client_id: &str) -> String {
        format!(
            "{}/{}",
            Self::registration_url(issuer),
            utf8_percent_encode(client_id, SEGMENT)
        )
    }

    /// Register `client` in the realm `issuer` with its initial access token
    /// (I27). Retried only when no connection was made.
    pub async fn register(
        &self,
        issuer: &str,
        iat: &Secret,
        client: &ClientRegistration,
    ) -> Result<RegisteredClient, SsoError> {
        let call = Call {
            operation: "register",
            issuer,
            client_id: &client.client_id,
            token: "initial access token",
        };
        let url = Self::registration_url(issuer);
        let send = || async {
            self.http
                .post(&url)
                .bearer_auth(iat.expose())
                .json(client)
                .send()
                .await
        };
        let response = send
            .retry(self.backoff())
            .when(reqwest::Error::is_connect)
            .await
            .map_err(|e| call.transport(e))?;
        call.client(response).await
    }

    /// Read a registered client with its RAT. Keycloak rotates the RAT: store
    /// the returned one (I29).
    pub async fn get(
        &self,
        issuer: &str,
        client_id: &str,
        rat: &Secret,
    ) -> Result<RegisteredClient, SsoError> {
        let call = Call {
            operation: "read",
            issuer,
            client_id,
            token: "registration access token",
        };
        let response = self
            .http
            .get(Self::client_url(issuer, client_id))
            .bearer_auth(rat.expose())
            .send()
            .await
            .map_err(|e| call.transport(e))?;
        call.client(response).await
    }

    /// Replace a registered client's representation with its RAT (redirect
    /// URIs, scopes, attributes). Keycloak rotates the RAT: store the returned
    /// one (I29).
    pub async fn update(
        &self,
        issuer: &str,
        rat: &Secret,
        client: &ClientRegistration,
    ) -> Result<RegisteredClient, SsoError> {
        let call = Call {
            operation: "update",
            issuer,
            client_id: &client.client_id,
            token: "registration access token",
        };
        let response = self
            .http
            .put(Self::client_url(issuer, &client.client_id))
            .bearer_auth(rat.expose())
            .json(client)
            .send()
            .await
            .map_err(|e| call.transport(e))?;
        call.client(response).await
    }

    /// Delete a registered client with its RAT (I28); 401 and 404 mean it is
    /// gone already (I40). Retried on 429, 5xx and transport errors.
    pub async fn delete(
        &self,
        issuer: &str,
        client_id: &str,
        rat: &Secret,
    ) -> Result<Deleted, SsoError> {
        let call = Call {
            operation: "delete",
            issuer,
            client_id,
            token: "registration access token",
        };
        let url = Self::client_url(issuer, client_id);
        let attempt = || async {
            let response = self
                .http
                .request(Method::DELETE, &url)
                .bearer_auth(rat.expose())
                .send()
                .await
                .map_err(|e| call.transport(e))?;
            let status = response.status();
            match status {
                s if s.is_success() => Ok(Deleted::Deleted),
                StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => {
                    Ok(Deleted::Gone(status.as_u16()))
                }
                _ => Err(call.status(response).await),
            }
        };
        attempt
            .retry(self.backoff())
            .when(|e: &SsoError| match e {
                SsoError::Transport { .. } => true,
                SsoError::Status { status, .. } => *status == 429 || *status >= 500,
                _ => false,
            })
            .await
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(self.retries)
            .with_jitter()
    }
}

/// One operation's context, for its errors.
struct Call<'a> {
    operation: &'static str,
    issuer: &'a str,
    client_id: &'a str,
    token: &'static str,
}

impl Call<'_> {
    fn transport(&self, source: reqwest::Error) -> SsoError {
        SsoError::Transport {
            operation: self.operation,
            issuer: self.issuer.to_owned(),
            client_id: self.client_id.to_owned(),
            // Without the URL: it may carry the client id only, but keep
            // errors uniform with the other variants.
            source: source.without_url(),
        }
    }

    /// A client representation from a success, or the error the answer means.
    async fn client(&self, response: reqwest::Response) -> Result<RegisteredClient, SsoError> {
        if !response.status().is_success() {
            return Err(self.status(response).await);
        }
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes).map_err(|e| SsoError::BadAnswer {
            operation: self.operation,
            issuer: self.issuer.to_owned(),
            client_id: self.client_id.to_owned(),
            // serde's message names the field, never the value.
            reason: e.to_string(),
        })
    }

    /// The error a non-success answer means.
    async fn status(&self, response: reqwest::Response) -> SsoError {
        let status = response.status().as_u16();
        let detail = detail(&response.bytes().await.unwrap_or_default());
        let (issuer, client_id) = (self.issuer.to_owned(), self.client_id.to_owned());
        match status {
            401 => SsoError::Unauthorized {
                operation: self.operation,
                issuer,
                client_id,
                token: self.token,
                detail,
            },
            409 if self.operation == "register" => SsoError::Conflict {
                issuer,
                client_id,
                detail,
            },
            _ => SsoError::Status {
                operation: self.operation,
                issuer,
                client_id,
                status,
                detail,
            },
        }
    }
}

/// Keycloak's `error` and `error_description` (or `errorMessage`), as
/// `": text"`, at most 200 characters; empty when the body has none.
fn detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Option<String>,
        error_description: Option<String>,
        #[serde(rename = "errorMessage")]
        error_message: Option<String>,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return String::new();
    };
    let text = [body.error, body.error_description, body.error_message]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    if text.is_empty() {
        return String::new();
    }
    let short: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    format!(": {short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_default_provider() {
        let issuer = "https://auth.redhat.com/auth/realms/EmployeeIDP";
        assert_eq!(
            SsoClient::registration_url(issuer),
            "https://auth.redhat.com/auth/realms/EmployeeIDP/clients-registrations/default"
        );
        assert_eq!(
            SsoClient::client_url(issuer, "my-cluster-org-1-redhat-sso-auth.redhat.com"),
            "https://auth.redhat.com/auth/realms/EmployeeIDP/clients-registrations/default/my-cluster-org-1-redhat-sso-auth.redhat.com"
        );
        assert!(SsoClient::client_url(issuer, "a/b").ends_with("/default/a%2Fb"));
    }

    #[test]
    fn a_registered_client_never_prints_its_secrets() {
        let client: RegisteredClient = serde_json::from_str(
            r#"{"id":"x","clientId":"c1","secret":"s3cr3t","registrationAccessToken":"rat-123","redirectUris":["https://a/b"],"attributes":null}"#,
        )
        .unwrap();
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("rat-123"),
            "{shown}"
        );
        assert_eq!(client.secret.expose(), "s3cr3t");
        assert!(client.attributes.is_empty());
    }

    #[test]
    fn keycloak_error_bodies_become_short_details() {
        assert_eq!(detail(br#"{"error":"invalid_token"}"#), ": invalid_token");
        assert_eq!(
            detail(br#"{"error":"invalid_client_metadata","error_description":"bad uri"}"#),
            ": invalid_client_metadata: bad uri"
        );
        assert_eq!(detail(b"<html>"), "");
        assert_eq!(detail(b"{}"), "");
    }
}
