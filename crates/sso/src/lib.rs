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
//! * Every HTTP attempt (retries included) is reported to an optional
//!   [`SsoObserver`] ([`SsoClient::with_observer`]), labelled by the
//!   reference's operation names (`clients.register`, …) and the HTTP verb,
//!   never by client id or issuer: a metrics backend gets a bounded label set
//!   (I65 `qontract_reconcile_external_api_keycloak_*`), and this crate stays
//!   free of any metrics library, as `srecap-ocm`'s `RequestObserver` does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable as _};
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};
pub use srecap_ocm::{Outcome, Secret};

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

/// The reference's `method` label of each operation (I65): its Keycloak API
/// wrapper's names, so dashboards written for it keep working.
pub mod methods {
    pub const REGISTER: &str = "clients.register";
    pub const GET: &str = "clients.get";
    pub const UPDATE: &str = "clients.update";
    pub const DELETE: &str = "clients.delete";
}

/// One finished HTTP attempt against a realm's client registration.
#[derive(Debug, Clone, Copy)]
pub struct SsoRequestEvent<'a> {
    /// The operation, one of [`methods`].
    pub method: &'a str,
    /// The HTTP verb: `POST`, `GET`, `PUT`, `DELETE`.
    pub verb: &'a str,
    pub outcome: Outcome,
    /// From sending the request until Keycloak's status line and headers
    /// arrived (or the attempt failed); reading the small body is not included.
    pub duration: Duration,
}

/// Receives one event per HTTP attempt. Called inline on the request path, so
/// implementations should be cheap (increment a counter, record a sample).
pub trait SsoObserver: Send + Sync {
    fn observe(&self, event: &SsoRequestEvent<'_>);
}

/// Client-registration calls against any realm.
#[derive(Clone)]
pub struct SsoClient {
    http: reqwest::Client,
    retries: usize,
    observer: Option<Arc<dyn SsoObserver>>,
}

impl std::fmt::Debug for SsoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoClient")
            .field("retries", &self.retries)
            .field("observer", &self.observer.as_ref().map(|_| "<observer>"))
            .finish_non_exhaustive()
    }
}

impl SsoClient {
    /// A client with the timeout of I34 and srecap's user agent.
    pub fn new() -> Result<Self, SsoError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("srecap/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(SsoError::Build)?;
        Ok(SsoClient {
            http,
            retries: 3,
            observer: None,
        })
    }

    /// The same client, reporting every HTTP attempt to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn SsoObserver>) -> SsoClient {
        self.observer = Some(observer);
        self
    }

    /// Send one attempt and report it to the observer.
    async fn send(
        &self,
        method: &'static str,
        request: RequestBuilder,
    ) -> Result<Response, reqwest::Error> {
        let Some(observer) = &self.observer else {
            return request.send().await;
        };
        // The verb is read from the built request, so the label cannot
        // disagree with what was sent.
        let (client, request) = request.build_split();
        let request = request?;
        let verb = request.method().clone();
        let started = Instant::now();
        let result = client.execute(request).await;
        let outcome = match &result {
            Ok(response) => Outcome::Status(response.status().as_u16()),
            Err(e) if e.is_timeout() => Outcome::Timeout,
            Err(_) => Outcome::Transport,
        };
        observer.observe(&SsoRequestEvent {
            method,
            verb: verb.as_str(),
            outcome,
            duration: started.elapsed(),
        });
        result
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
            self.send(
                methods::REGISTER,
                self.http.post(&url).bearer_auth(iat.expose()).json(client),
            )
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
            .send(
                methods::GET,
                self.http
                    .get(Self::client_url(issuer, client_id))
                    .bearer_auth(rat.expose()),
            )
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
            .send(
                methods::UPDATE,
                self.http
                    .put(Self::client_url(issuer, &client.client_id))
                    .bearer_auth(rat.expose())
                    .json(client),
            )
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
                .send(
                    methods::DELETE,
                    self.http
                        .request(Method::DELETE, &url)
                        .bearer_auth(rat.expose()),
                )
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

/// The `exp` claim (Unix seconds) of a token that is a JWT, as Keycloak's
/// initial access tokens are: what the reference exports as
/// `rhidp_sso_client_inital_access_token_expiration` (I65) so an alert can warn
/// before registrations start failing (I66).
///
/// The signature is not checked: only Keycloak needs to trust the token, and
/// the expiry is read for a warning, never to decide whether to send it. A
/// token that is not a JWT (opaque, or a JWE with five parts), whose payload
/// is not base64url JSON, or that has no numeric `exp` gives `None`.
pub fn token_expiry(token: &Secret) -> Option<i64> {
    #[derive(Deserialize)]
    struct Claims {
        exp: Option<serde_json::Value>,
    }
    let mut parts = token.expose().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    // RFC 7519 makes `exp` a NumericDate, which may carry a fraction.
    match claims.exp? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| {
            #[allow(clippy::cast_possible_truncation)] // seconds; a fraction is dropped
            n.as_f64().map(|f| f.floor() as i64)
        }),
        _ => None,
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

    fn jwt(payload: &str) -> Secret {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        Secret::new(format!(
            "{}.{}.{}",
            enc(br#"{"alg":"HS256","typ":"JWT"}"#),
            enc(payload.as_bytes()),
            enc(b"signature")
        ))
    }

    #[test]
    fn the_expiry_of_an_initial_access_token_is_its_exp_claim() {
        assert_eq!(
            token_expiry(&jwt(r#"{"exp":1767225600,"typ":"InitialAccessToken"}"#)),
            Some(1_767_225_600)
        );
        assert_eq!(
            token_expiry(&jwt(r#"{"exp":1767225600.75}"#)),
            Some(1_767_225_600)
        );
        // No series for tokens whose expiry cannot be read.
        assert_eq!(token_expiry(&jwt(r#"{"typ":"InitialAccessToken"}"#)), None);
        assert_eq!(token_expiry(&jwt(r#"{"exp":"tomorrow"}"#)), None);
        assert_eq!(token_expiry(&jwt("not json")), None);
        assert_eq!(token_expiry(&Secret::new("opaque-token".to_owned())), None);
        assert_eq!(token_expiry(&Secret::new("a.b.c.d.e".to_owned())), None);
        assert_eq!(token_expiry(&Secret::new("a.!!!.c".to_owned())), None);
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
