//! A minimal Keycloak: realms that register OIDC clients through the client
//! registration service, `default` provider (spec `rhidp.md` §5, I77, I78).
//!
//! What is simulated is what the rhidp capability relies on, and the ways it
//! can fail:
//!
//! * registration needs an *initial access token* (IAT) of the realm that is
//!   unexpired and has registrations left; each registration uses one;
//! * a registration answers the client with its secret and a *registration
//!   access token* (RAT), the only credential that can read, update or delete
//!   that client later; reading or updating rotates it (Keycloak does, I29);
//! * duplicate client ids, scopes outside the realm's allowed list and redirect
//!   URIs that are not absolute `https` URLs are refused.
//!
//! The SSO clock is the simulator's clock (IAT expiry), so tests move both with
//! `POST /_sim/clock`. Secrets and tokens are random (UUID v4): a client must
//! store what it is given, exactly as with the real service. Where Keycloak's
//! answer is uncertain (spec §17 items 3, 4) the realm has a switch:
//! [`Realm::echo_attributes`] and [`Realm::unknown_client_status`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde_json::{Map, Value, json};
use srecap_fleet::identity::{initial_access_token, unsigned_jwt};
use srecap_fleet::{InitialAccessToken, Sso, SsoClient, SsoRealm};

/// Why a registration request failed; each maps to Keycloak's status and an
/// `{"error", "error_description"}` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    /// No realm of that name (404).
    #[error("realm '{0}' not found")]
    UnknownRealm(String),
    /// Missing, unknown, expired or used-up IAT, or a RAT that is not the
    /// client's current one (401 `invalid_token`).
    #[error("{0}")]
    InvalidToken(String),
    /// A client that does not exist, answered with the realm's configured
    /// status (401 like Keycloak by default, or 404).
    #[error("client '{client_id}' not found")]
    UnknownClient { client_id: String, status: u16 },
    /// The client id is taken (409).
    #[error("client '{0}' already exists")]
    Duplicate(String),
    /// A requested client scope is not allowed in the realm (403).
    #[error("client scope '{0}' is not allowed in this realm")]
    ScopeNotAllowed(String),
    /// A redirect URI that is not an absolute `https` URL (400).
    #[error("redirect URI '{0}' is not an absolute https URL")]
    RedirectUri(String),
    /// A malformed body, or a login check that fails (400).
    #[error("{0}")]
    Invalid(String),
}

impl SsoError {
    pub fn status(&self) -> u16 {
        match self {
            SsoError::UnknownRealm(_) => 404,
            SsoError::InvalidToken(_) => 401,
            SsoError::UnknownClient { status, .. } => *status,
            SsoError::Duplicate(_) => 409,
            SsoError::ScopeNotAllowed(_) => 403,
            SsoError::RedirectUri(_) | SsoError::Invalid(_) => 400,
        }
    }

    /// Keycloak's error body.
    pub fn body(&self) -> Value {
        let error = match self {
            SsoError::UnknownRealm(_) => "realm_not_found",
            SsoError::UnknownClient { status: 404, .. } => "not_found",
            SsoError::InvalidToken(_) | SsoError::UnknownClient { .. } => "invalid_token",
            SsoError::ScopeNotAllowed(_) => "insufficient_scope",
            SsoError::RedirectUri(_) => "invalid_redirect_uri",
            SsoError::Duplicate(_) | SsoError::Invalid(_) => "invalid_client_metadata",
        };
        json!({"error": error, "error_description": self.to_string()})
    }
}

/// An initial access token of a realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iat {
    pub token: String,
    pub expires: Timestamp,
    /// Registrations left.
    pub remaining: u32,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Keycloak's internal id (`id`, a UUID).
    pub id: String,
    pub client_id: String,
    pub secret: String,
    pub redirect_uris: Vec<String>,
    pub default_client_scopes: Vec<String>,
    /// `None` when the registration sent `null` or nothing.
    pub attributes: Option<BTreeMap<String, String>>,
    /// The one RAT that is valid now.
    pub rat: String,
}

impl Client {
    /// The `default` provider's client representation.
    fn representation(&self, echo_attributes: bool) -> Value {
        let attributes = if echo_attributes {
            json!(self.attributes)
        } else {
            json!({})
        };
        json!({
            "id": self.id,
            "clientId": self.client_id,
            "secret": self.secret,
            "redirectUris": self.redirect_uris,
            "defaultClientScopes": self.default_client_scopes,
            "attributes": attributes,
            "registrationAccessToken": self.rat,
            "enabled": true,
            "protocol": "openid-connect",
            "publicClient": false,
            "clientAuthenticatorType": "client-secret",
        })
    }

    /// What the admin surface lists (no secret, no RAT).
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "clientId": self.client_id,
            "redirectUris": self.redirect_uris,
            "defaultClientScopes": self.default_client_scopes,
            "attributes": self.attributes,
        })
    }
}

/// One realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm {
    pub name: String,
    /// The issuer the scenario configured (the simulator serves the realm at
    /// `<sim>/auth/realms/<name>` whatever its host).
    pub issuer: String,
    pub allowed_scopes: Vec<String>,
    pub iats: Vec<Iat>,
    /// Clients in registration order.
    pub clients: Vec<Client>,
    /// Whether registration responses echo `attributes` (spec §17 item 4).
    pub echo_attributes: bool,
    /// Status for a `DELETE` of an unknown client: 401 or 404 (spec §17 item 3).
    pub unknown_client_status: u16,
}

/// Every realm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsoWorld {
    pub realms: Vec<Realm>,
}

fn random() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh RAT: JWT-shaped as Keycloak's, random, unsigned.
fn registration_token(realm: &str, client_id: &str) -> String {
    unsigned_jwt(&json!({
        "jti": random(),
        "typ": "Registration",
        "realm": realm,
        "azp": client_id,
    }))
}

/// Whether `uri` is an absolute `https` URL with a host (I77).
fn is_absolute_https(uri: &str) -> bool {
    uri.strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|host| !host.is_empty() && !host.starts_with(':') && !host.contains(' '))
}

/// The `Bearer` token of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// The mutable parts of a client representation a request may set.
struct ClientFields {
    redirect_uris: Option<Vec<String>>,
    default_client_scopes: Option<Vec<String>>,
    /// `Some(None)`: given as `null` (a `PUT` then clears them; absence keeps them).
    #[allow(clippy::option_option)]
    attributes: Option<Option<BTreeMap<String, String>>>,
}

fn strings(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, SsoError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| {
                    SsoError::Invalid(format!("'{field}' must be a list of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(SsoError::Invalid(format!(
            "'{field}' must be a list of strings"
        ))),
    }
}

impl ClientFields {
    fn parse(body: &Map<String, Value>) -> Result<ClientFields, SsoError> {
        let attributes = match body.get("attributes") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Object(map)) => {
                let mut out = BTreeMap::new();
                for (key, value) in map {
                    let Some(text) = value.as_str() else {
                        return Err(SsoError::Invalid(format!(
                            "attribute '{key}' must be a string"
                        )));
                    };
                    out.insert(key.clone(), text.to_owned());
                }
                Some(Some(out))
            }
            Some(_) => {
                return Err(SsoError::Invalid(
                    "'attributes' must be an object or null".to_owned(),
                ));
            }
        };
        Ok(ClientFields {
            redirect_uris: strings(body, "redirectUris")?,
            default_client_scopes: strings(body, "defaultClientScopes")?,
            attributes,
        })
    }

    fn check(&self, realm: &Realm) -> Result<(), SsoError> {
        for scope in self.default_client_scopes.iter().flatten() {
            if !realm.allowed_scopes.contains(scope) {
                return Err(SsoError::ScopeNotAllowed(scope.clone()));
            }
        }
        for uri in self.redirect_uris.iter().flatten() {
            if !is_absolute_https(uri) {
                return Err(SsoError::RedirectUri(uri.clone()));
            }
        }
        Ok(())
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, SsoError> {
    body.as_object()
        .ok_or_else(|| SsoError::Invalid("the body must be a JSON object".to_owned()))
}

impl SsoWorld {
    /// The realms of a fleet. A realm whose issuer names none is skipped (the
    /// scenario loader refuses those).
    pub fn new(sso: Sso) -> SsoWorld {
        let realms = sso
            .realms
            .into_iter()
            .filter_map(|r| {
                let name = r.name()?.to_owned();
                Some(Realm {
                    name,
                    issuer: r.issuer,
                    allowed_scopes: r.allowed_scopes,
                    iats: r
                        .initial_access_tokens
                        .into_iter()
                        .map(|i| Iat {
                            token: i.token,
                            expires: i.expires,
                            remaining: i.count,
                        })
                        .collect(),
                    clients: r
                        .clients
                        .into_iter()
                        .map(|c| Client {
                            id: random(),
                            client_id: c.client_id,
                            secret: c.secret,
                            redirect_uris: c.redirect_uris,
                            default_client_scopes: c.default_client_scopes,
                            attributes: Some(c.attributes),
                            rat: c.rat,
                        })
                        .collect(),
                    echo_attributes: r.echo_attributes,
                    unknown_client_status: r.unknown_client_status,
                })
            })
            .collect();
        SsoWorld { realms }
    }

    /// Back to the fleet's model.
    pub fn sso(&self) -> Sso {
        Sso {
            realms: self
                .realms
                .iter()
                .map(|r| SsoRealm {
                    issuer: r.issuer.clone(),
                    allowed_scopes: r.allowed_scopes.clone(),
                    initial_access_tokens: r
                        .iats
                        .iter()
                        .map(|i| InitialAccessToken {
                            token: i.token.clone(),
                            expires: i.expires,
                            count: i.remaining,
                        })
                        .collect(),
                    clients: r
                        .clients
                        .iter()
                        .map(|c| SsoClient {
                            client_id: c.client_id.clone(),
                            secret: c.secret.clone(),
                            redirect_uris: c.redirect_uris.clone(),
                            default_client_scopes: c.default_client_scopes.clone(),
                            attributes: c.attributes.clone().unwrap_or_default(),
                            rat: c.rat.clone(),
                        })
                        .collect(),
                    echo_attributes: r.echo_attributes,
                    unknown_client_status: r.unknown_client_status,
                })
                .collect(),
        }
    }

    pub fn realm(&self, name: &str) -> Result<&Realm, SsoError> {
        self.realms
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| SsoError::UnknownRealm(name.to_owned()))
    }

    pub fn realm_mut(&mut self, name: &str) -> Result<&mut Realm, SsoError> {
        self.realms
            .iter_mut()
            .find(|r| r.name == name)
            .ok_or_else(|| SsoError::UnknownRealm(name.to_owned()))
    }

    /// `POST /_sim/sso/<realm>/iat` (I78): a new IAT valid for `expires_in`
    /// seconds of simulated time and `count` registrations.
    pub fn issue_iat(
        &mut self,
        realm: &str,
        expires_in: i64,
        count: u32,
        now: Timestamp,
    ) -> Result<Iat, SsoError> {
        let realm = self.realm_mut(realm)?;
        let expires = now
            .checked_add(jiff::SignedDuration::from_secs(expires_in))
            .map_err(|e| SsoError::Invalid(format!("expires_in {expires_in}: {e}")))?;
        let iat = Iat {
            token: initial_access_token(&realm.issuer, &random(), now, expires),
            expires,
            remaining: count,
        };
        realm.iats.push(iat.clone());
        Ok(iat)
    }

    /// `POST <issuer>/clients-registrations/default` (I77).
    pub fn register(
        &mut self,
        realm: &str,
        token: Option<&str>,
        body: &Value,
        now: Timestamp,
    ) -> Result<Value, SsoError> {
        let realm = self.realm_mut(realm)?;
        let token = token.ok_or_else(|| {
            SsoError::InvalidToken("an initial access token is required".to_owned())
        })?;
        let iat_index = match realm.iats.iter().position(|i| i.token == token) {
            None => {
                return Err(SsoError::InvalidToken(
                    "not an initial access token of this realm".to_owned(),
                ));
            }
            Some(i) if realm.iats[i].expires <= now => {
                return Err(SsoError::InvalidToken(
                    "the initial access token has expired".to_owned(),
                ));
            }
            Some(i) if realm.iats[i].remaining == 0 => {
                return Err(SsoError::InvalidToken(
                    "the initial access token has no registrations left".to_owned(),
                ));
            }
            Some(i) => i,
        };
        let body = object(body)?;
        let client_id = match body.get("clientId") {
            None | Some(Value::Null) => random(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(SsoError::Invalid(
                    "'clientId' must be a non-empty string".to_owned(),
                ));
            }
        };
        let fields = ClientFields::parse(body)?;
        if realm.clients.iter().any(|c| c.client_id == client_id) {
            return Err(SsoError::Duplicate(client_id));
        }
        fields.check(realm)?;
        let client = Client {
            id: random(),
            rat: registration_token(&realm.name, &client_id),
            client_id,
            secret: random(),
            redirect_uris: fields.redirect_uris.unwrap_or_default(),
            default_client_scopes: fields.default_client_scopes.unwrap_or_default(),
            attributes: fields.attributes.flatten(),
        };
        realm.iats[iat_index].remaining -= 1;
        let response = client.representation(realm.echo_attributes);
        realm.clients.push(client);
        Ok(response)
    }

    /// Find a client and check its RAT.
    fn authenticate<'a>(
        realm: &'a mut Realm,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<&'a mut Client, SsoError> {
        let status = realm.unknown_client_status;
        let client = realm
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
            .ok_or_else(|| SsoError::UnknownClient {
                client_id: client_id.to_owned(),
                status,
            })?;
        if token != Some(client.rat.as_str()) {
            return Err(SsoError::InvalidToken(
                "not the registration access token of this client".to_owned(),
            ));
        }
        Ok(client)
    }

    /// `GET <issuer>/clients-registrations/default/<clientId>`: the client,
    /// with a new RAT (the old one stops working).
    pub fn read(
        &mut self,
        realm: &str,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Value, SsoError> {
        let realm = self.realm_mut(realm)?;
        let (name, echo) = (realm.name.clone(), realm.echo_attributes);
        let client = Self::authenticate(realm, client_id, token)?;
        client.rat = registration_token(&name, client_id);
        Ok(client.representation(echo))
    }

    /// `PUT <issuer>/clients-registrations/default/<clientId>`: replace the
    /// redirect URIs, scopes and attributes given; a new RAT.
    pub fn update(
        &mut self,
        realm: &str,
        client_id: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, SsoError> {
        let realm = self.realm_mut(realm)?;
        let body = object(body)?;
        if let Some(other) = body.get("clientId").and_then(Value::as_str)
            && other != client_id
        {
            return Err(SsoError::Invalid(format!(
                "'clientId' {other} differs from the client of the path ({client_id})"
            )));
        }
        let fields = ClientFields::parse(body)?;
        // Authenticate before judging the content, as Keycloak does.
        Self::authenticate(realm, client_id, token)?;
        fields.check(realm)?;
        let (name, echo) = (realm.name.clone(), realm.echo_attributes);
        let client = Self::authenticate(realm, client_id, token)?;
        if let Some(uris) = fields.redirect_uris {
            client.redirect_uris = uris;
        }
        if let Some(scopes) = fields.default_client_scopes {
            client.default_client_scopes = scopes;
        }
        if let Some(attributes) = fields.attributes {
            client.attributes = attributes;
        }
        client.rat = registration_token(&name, client_id);
        Ok(client.representation(echo))
    }

    /// `DELETE <issuer>/clients-registrations/default/<clientId>` (I77).
    pub fn delete(
        &mut self,
        realm: &str,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<(), SsoError> {
        let realm = self.realm_mut(realm)?;
        Self::authenticate(realm, client_id, token)?;
        realm.clients.retain(|c| c.client_id != client_id);
        Ok(())
    }

    /// The login check (I79): whether a user could start logging in through
    /// `client_id` with this redirect URI (registered, exact match).
    pub fn authorize(
        &self,
        realm: &str,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<(), SsoError> {
        let realm = self.realm(realm)?;
        let client = realm
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
            .ok_or_else(|| SsoError::Invalid(format!("client '{client_id}' not found")))?;
        if client.redirect_uris.iter().any(|u| u == redirect_uri) {
            Ok(())
        } else {
            Err(SsoError::Invalid(format!(
                "invalid parameter: redirect_uri '{redirect_uri}' is not registered for client '{client_id}'"
            )))
        }
    }

    /// Admin: make the client's RAT unusable (a new one nobody knows).
    pub fn revoke_rat(&mut self, realm: &str, client_id: &str) -> Result<(), SsoError> {
        let realm = self.realm_mut(realm)?;
        let name = realm.name.clone();
        let status = realm.unknown_client_status;
        let client = realm
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
            .ok_or_else(|| SsoError::UnknownClient {
                client_id: client_id.to_owned(),
                status,
            })?;
        client.rat = registration_token(&name, client_id);
        Ok(())
    }
}

/// The discovery document of a realm served at `issuer` (I77).
pub fn openid_configuration(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "registration_endpoint": format!("{issuer}/clients-registrations/openid-connect"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// Percent-encode everything but RFC 3986's unreserved characters (a query
/// parameter value).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a `String` cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_absolute_https() {
        assert!(is_absolute_https(
            "https://oauth-openshift.apps.c1.abcd.p1.openshiftapps.com/oauth2callback/redhat-sso"
        ));
        assert!(is_absolute_https("https://oauth.c1.example.com:443/cb"));
        assert!(!is_absolute_https("http://oauth.example.com/cb"));
        assert!(!is_absolute_https("https:///cb"));
        assert!(!is_absolute_https("/oauth2callback/x"));
        assert!(!is_absolute_https("https://:443/cb"));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(None), None);
    }
}
