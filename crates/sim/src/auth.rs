//! The SSO token endpoint and bearer-token checks (spec §1.7).
//!
//! `POST /auth/realms/redhat-external/protocol/openid-connect/token` accepts
//! `client_credentials` (credentials in the form or as HTTP Basic) and
//! `refresh_token`. Tokens are unsigned JWTs (`alg: none`) carrying `exp`, `iat`,
//! `typ` (`Bearer` or `Refresh`), `sub`, `jti` and an `org_id` claim, because
//! clients read `exp`/`typ` without verifying signatures. The simulator itself
//! does not trust the claims: it remembers every token it issued and when it
//! expires.
//!
//! Expiry uses the real clock ([`Instant`]), not the simulated one, so a test can
//! set a one-second lifetime and watch a client refresh while simulated time
//! stands still. Client-credentials responses include a refresh token too, so a
//! client can exercise the refresh grant against the simulator.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Lifetime of refresh tokens (real clock); long enough for any test run.
const REFRESH_LIFETIME: Duration = Duration::from_hours(10);

/// A token the simulator issued.
#[derive(Debug, Clone)]
struct Issued {
    subject: String,
    expires: Instant,
    refresh: bool,
}

/// Issued tokens, by token text.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: HashMap<String, Issued>,
}

/// A failed token request: OAuth's `{"error", "error_description"}` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl TokenError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

impl TokenStore {
    /// Answer a token request. `form` is the decoded form body, `basic` the
    /// `Authorization` header value if any.
    pub fn grant(
        &mut self,
        form: &HashMap<String, String>,
        basic: Option<&str>,
        client_id: &str,
        client_secret: &str,
        lifetime: Duration,
        org_id: &str,
    ) -> Result<Value, TokenError> {
        self.forget_expired();
        let grant_type = form.get("grant_type").map_or("", String::as_str);
        let subject = match grant_type {
            "client_credentials" => {
                let (id, secret) = match basic.and_then(decode_basic) {
                    Some(pair) => pair,
                    None => (
                        form.get("client_id").cloned().unwrap_or_default(),
                        form.get("client_secret").cloned().unwrap_or_default(),
                    ),
                };
                if id != client_id || secret != client_secret {
                    return Err(TokenError::new(
                        401,
                        "invalid_client",
                        "Invalid client or Invalid client credentials",
                    ));
                }
                id
            }
            "refresh_token" => {
                let token = form.get("refresh_token").map_or("", String::as_str);
                match self.tokens.get(token) {
                    Some(issued) if issued.refresh && issued.expires > Instant::now() => {
                        issued.subject.clone()
                    }
                    _ => {
                        return Err(TokenError::new(
                            400,
                            "invalid_grant",
                            "Invalid refresh token",
                        ));
                    }
                }
            }
            "" => {
                return Err(TokenError::new(
                    400,
                    "invalid_request",
                    "Missing form parameter: grant_type",
                ));
            }
            other => {
                return Err(TokenError::new(
                    400,
                    "unsupported_grant_type",
                    format!("Unsupported grant_type '{other}'"),
                ));
            }
        };
        let access = self.issue(&subject, lifetime, false, org_id);
        // A refresh grant keeps the refresh token it was given, as Keycloak
        // does for offline tokens.
        let refresh = if grant_type == "refresh_token" {
            form.get("refresh_token").cloned().unwrap_or_default()
        } else {
            self.issue(&subject, REFRESH_LIFETIME, true, org_id)
        };
        Ok(json!({
            "access_token": access,
            "expires_in": lifetime.as_secs(),
            "refresh_expires_in": REFRESH_LIFETIME.as_secs(),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": uuid::Uuid::new_v4().to_string(),
            "scope": "openid api.iam.service_accounts offline_access",
        }))
    }

    fn issue(&mut self, subject: &str, lifetime: Duration, refresh: bool, org_id: &str) -> String {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = json!({"alg": "none", "typ": "JWT"});
        let claims = json!({
            "exp": iat + lifetime.as_secs(),
            "iat": iat,
            "jti": uuid::Uuid::new_v4().to_string(),
            "typ": if refresh { "Refresh" } else { "Bearer" },
            "sub": subject,
            "preferred_username": subject,
            "org_id": org_id,
        });
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        self.tokens.insert(
            token.clone(),
            Issued {
                subject: subject.to_owned(),
                expires: Instant::now() + lifetime,
                refresh,
            },
        );
        token
    }

    /// The subject of a valid, unexpired access token.
    pub fn subject(&self, token: &str) -> Option<String> {
        self.tokens
            .get(token)
            .filter(|t| !t.refresh && t.expires > Instant::now())
            .map(|t| t.subject.clone())
    }

    fn forget_expired(&mut self) {
        let now = Instant::now();
        self.tokens.retain(|_, t| t.expires > now);
    }
}

/// `Basic base64(id:secret)` → `(id, secret)`.
fn decode_basic(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn client_credentials_in_form_or_basic() {
        let mut store = TokenStore::default();
        let lifetime = Duration::from_mins(1);
        let ok = store
            .grant(
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "a"),
                    ("client_secret", "b"),
                ]),
                None,
                "a",
                "b",
                lifetime,
                "org",
            )
            .unwrap();
        let token = ok["access_token"].as_str().unwrap();
        assert_eq!(store.subject(token).as_deref(), Some("a"));
        let basic = format!("Basic {}", STANDARD.encode("a:b"));
        assert!(
            store
                .grant(
                    &form(&[("grant_type", "client_credentials")]),
                    Some(&basic),
                    "a",
                    "b",
                    lifetime,
                    "org"
                )
                .is_ok()
        );
        let err = store
            .grant(
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "a"),
                    ("client_secret", "x"),
                ]),
                None,
                "a",
                "b",
                lifetime,
                "org",
            )
            .unwrap_err();
        assert_eq!((err.status, err.error), (401, "invalid_client"));
    }

    #[test]
    fn tokens_are_readable_jwts() {
        let mut store = TokenStore::default();
        let token = store.issue("sub-1", Duration::from_mins(15), false, "org-a");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["typ"], "Bearer");
        assert_eq!(claims["sub"], "sub-1");
        assert_eq!(claims["org_id"], "org-a");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            900
        );
    }

    #[test]
    fn refresh_tokens_are_not_access_tokens() {
        let mut store = TokenStore::default();
        let refresh = store.issue("s", Duration::from_mins(1), true, "o");
        assert_eq!(store.subject(&refresh), None);
        let ok = store
            .grant(
                &form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
                None,
                "a",
                "b",
                Duration::from_mins(1),
                "o",
            )
            .unwrap();
        assert_eq!(ok["refresh_token"], refresh.as_str());
        let bad = store
            .grant(
                &form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]),
                None,
                "a",
                "b",
                Duration::from_mins(1),
                "o",
            )
            .unwrap_err();
        assert_eq!(bad.error, "invalid_grant");
    }
}
