//! Authentication against Red Hat SSO (`spec/ocm-api.md` §1).
//!
//! Two stages, as in the rest of srecap:
//! 1. [`Credentials::resolve`] decides *which* credentials to use, without network
//!    I/O and without touching the process environment (the environment and the
//!    home directory are passed in), so every precedence rule is unit-testable.
//!    Precedence: explicit options (flags) > environment variables > the `ocm` CLI
//!    config file (§1.6). The API and token URLs follow the credentials' source:
//!    a URL from the `ocm` config is only used together with that config's
//!    credentials, so a stage login never leaks into a production run.
//! 2. The token source (used by the client) obtains access tokens from the SSO token
//!    endpoint, caches them, and renews them when less than a margin (default 60 s)
//!    is left or after the API answered 401.
//!
//! Secrets are held in [`Secret`], whose `Debug` prints `<redacted>` and which has
//! no `Display`; error messages never include token or secret text.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::Retryable;
use base64::Engine;
use serde::Deserialize;
use tokio::time::Instant;

use crate::observer::{Outcome, RequestEvent, RequestObserver, TOKEN_ENDPOINT};
use crate::retry::RetryPolicy;

/// Production SSO token endpoint (§1.1).
pub const DEFAULT_TOKEN_URL: &str =
    "https://sso.redhat.com/auth/realms/redhat-external/protocol/openid-connect/token";
/// Production API gateway (§1.1).
pub const DEFAULT_API_URL: &str = "https://api.openshift.com";
/// Client id for refresh-token grants of offline tokens (§1.3).
pub const DEFAULT_CLIENT_ID: &str = "cloud-services";

/// Environment variables read by [`Credentials::resolve`].
pub mod env_vars {
    /// Service-account client id (client-credentials grant).
    pub const CLIENT_ID: &str = "OCM_CLIENT_ID";
    /// Service-account secret (client-credentials grant).
    pub const CLIENT_SECRET: &str = "OCM_CLIENT_SECRET";
    /// Offline token from console.redhat.com (refresh-token grant).
    pub const OFFLINE_TOKEN: &str = "OCM_OFFLINE_TOKEN";
    /// Conventional variable holding an offline/refresh *or* access token (§1.6).
    pub const TOKEN: &str = "OCM_TOKEN";
    /// API gateway URL override (ocm-cli).
    pub const URL: &str = "OCM_URL";
    /// Path of the `ocm` CLI config file.
    pub const CONFIG: &str = "OCM_CONFIG";
    /// Set when `ocm` keeps its config in the OS keyring.
    pub const KEYRING: &str = "OCM_KEYRING";
    /// Base of the user config directory on Linux.
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
}

/// A secret string: never printed, never part of an error.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for putting on the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Serialized as the plain text, for request bodies that must carry it (an
/// identity provider's client secret, E16); `Debug` still redacts it.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read from answers that hand out secrets (a registered SSO client's secret
/// and registration access token).
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Connection settings as given by the user (flags); `None` means "not given".
/// Plain data so that the binary can fill it from any argument parser.
#[derive(Clone, Default)]
pub struct ConnectionOptions {
    /// API gateway URL or alias (`production`, `stage`, `integration`, ...).
    pub api_url: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// An offline (refresh) token given directly.
    pub offline_token: Option<String>,
    /// A file holding an offline (or access) token.
    pub token_file: Option<PathBuf>,
    /// OIDC scopes for the client-credentials grant; default `["openid"]`.
    pub scopes: Option<Vec<String>>,
}

impl fmt::Debug for ConnectionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConnectionOptions")
            .field("api_url", &self.api_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &redact(&self.client_secret))
            .field("offline_token", &redact(&self.offline_token))
            .field("token_file", &self.token_file)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// How access tokens are obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `grant_type=client_credentials` (service accounts).
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
    /// `grant_type=refresh_token` with an offline/refresh token; `access_token` is a
    /// previously issued token worth trying first (from the `ocm` config).
    RefreshToken {
        client_id: String,
        refresh_token: Secret,
        access_token: Option<Secret>,
    },
    /// A ready access token that cannot be renewed. `opaque` tokens are not JWTs,
    /// so their expiry is unknown.
    AccessToken { token: Secret, opaque: bool },
}

/// Where the credentials came from (for diagnostics such as `srecap ocm check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Explicit options.
    Options,
    /// An environment variable, named.
    Environment(&'static str),
    /// A token file given in the options.
    TokenFile(PathBuf),
    /// The `ocm` CLI config file at this path.
    OcmConfig(PathBuf),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Options => f.write_str("command-line options"),
            CredentialSource::Environment(var) => write!(f, "environment variable {var}"),
            CredentialSource::TokenFile(p) => write!(f, "token file {}", p.display()),
            CredentialSource::OcmConfig(p) => write!(f, "ocm config {}", p.display()),
        }
    }
}

/// Fully resolved connection credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// API gateway base URL, without a trailing slash.
    pub api_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub grant: Grant,
    pub source: CredentialSource,
}

/// Why no usable credentials could be found or a token could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Nothing anywhere: no options, no environment, no `ocm` login.
    #[error(
        "no OCM credentials found: pass --client-id and --client-secret (or set {id} and {secret}), \
         pass --token-file with an offline token (or set {offline}), or log in with `ocm login`",
        id = env_vars::CLIENT_ID,
        secret = env_vars::CLIENT_SECRET,
        offline = env_vars::OFFLINE_TOKEN
    )]
    NoCredentials,
    /// Half of a client-id/secret pair.
    #[error("{given} is set but {missing} is not: client credentials need both")]
    IncompleteClientCredentials {
        given: &'static str,
        missing: &'static str,
    },
    /// The token file could not be read.
    #[error("cannot read OCM token file {path}: {source}")]
    ReadTokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The token file is empty.
    #[error(
        "OCM token file {path} is empty; put the offline token from https://console.redhat.com/openshift/token in it"
    )]
    EmptyTokenFile { path: PathBuf },
    /// The `ocm` config file exists (or was named) but cannot be read.
    #[error("cannot read ocm config {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The `ocm` config file is not valid JSON of the expected shape.
    #[error("ocm config {path} is not valid: {source}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The `ocm` config holds no credentials.
    #[error("ocm config {path} holds no credentials; run `ocm login` again")]
    NotLoggedIn { path: PathBuf },
    /// `OCM_KEYRING` is set: the `ocm` config lives in the OS keyring.
    #[error(
        "{var} is set, so the ocm login is in the OS keyring, which srecap cannot read; \
         pass a token with `--token-file` (for example from `ocm token --refresh`)",
        var = env_vars::KEYRING
    )]
    KeyringUnsupported,
    /// A URL option is neither an alias nor an http(s) URL.
    #[error("{what} {value:?} is not a URL (expected https://... or production|stage|integration)")]
    InvalidUrl { what: &'static str, value: String },
    /// The only credential is an access token and it has expired.
    #[error(
        "the OCM access token from {origin} has expired and cannot be renewed; provide an offline token or client credentials"
    )]
    AccessTokenExpired { origin: CredentialSource },
    /// The token endpoint refused the grant (4xx).
    #[error("token request to {token_url} was refused with HTTP {status}: {}{}",
        error.as_deref().unwrap_or("no error code"),
        description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenRejected {
        token_url: String,
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// The token endpoint failed (5xx) even after retries.
    #[error("token endpoint {token_url} failed with HTTP {status}")]
    TokenServer { token_url: String, status: u16 },
    /// The token endpoint could not be reached.
    #[error("cannot reach token endpoint {token_url}: {source}")]
    TokenTransport {
        token_url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The token endpoint answered 2xx with something that is not a usable token.
    #[error("token endpoint {token_url} returned an unusable answer: {reason}")]
    TokenResponse { token_url: String, reason: String },
}

/// Claims of a JWT we care about; read without verifying the signature, as ocm-cli
/// does, because only the server needs to trust the token.
#[derive(Debug, Default, Deserialize)]
struct Claims {
    exp: Option<i64>,
    typ: Option<String>,
    token_use: Option<String>,
}

fn jwt_claims(token: &str) -> Option<Claims> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&payload).ok()
}

/// What a token given by the user is, per §1.3 / §1.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Refresh,
    Access,
}

fn classify(token: &str) -> TokenKind {
    // JWE (5 parts) and opaque strings are refresh tokens (§1.3).
    let Some(claims) = jwt_claims(token) else {
        return TokenKind::Refresh;
    };
    let is_access = |s: &str| ["bearer", "access"].contains(&s.to_ascii_lowercase().as_str());
    if claims.typ.as_deref().is_some_and(is_access)
        || claims.token_use.as_deref().is_some_and(is_access)
    {
        TokenKind::Access
    } else {
        TokenKind::Refresh
    }
}

/// Seconds until a JWT's `exp`, measured against `now_unix`; `None` without `exp`.
fn seconds_left(token: &str, now_unix: i64) -> Option<i64> {
    jwt_claims(token)?.exp.map(|exp| exp - now_unix)
}

/// Expand `production|stage|integration` aliases and drop a trailing slash.
fn api_url_from(what: &'static str, value: &str) -> Result<String, AuthError> {
    let url = match value.trim() {
        "production" | "prod" | "prd" => DEFAULT_API_URL,
        "staging" | "stage" | "stg" => "https://api.stage.openshift.com",
        "integration" | "int" => "https://api.integration.openshift.com",
        other => other,
    };
    checked_url(what, url)
}

fn checked_url(what: &'static str, value: &str) -> Result<String, AuthError> {
    let value = value.trim();
    if (value.starts_with("https://") || value.starts_with("http://"))
        && reqwest::Url::parse(value).is_ok()
    {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(AuthError::InvalidUrl {
            what,
            value: value.to_owned(),
        })
    }
}

/// The `ocm` CLI config file (§1.6); every field optional.
#[derive(Default, Deserialize)]
struct OcmConfigFile {
    access_token: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    url: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    opaque_token: bool,
}

fn read_token_file(path: &Path) -> Result<String, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::ReadTokenFile {
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(AuthError::EmptyTokenFile {
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
}

/// Whether this user has an OCM connection without any option: OCM variables
/// (`OCM_URL`, a token, a client id) or an `ocm login` configuration. Commands
/// that can read either OCM or a file use this to decide, as `kubectl` uses
/// its current context.
pub fn connection_configured(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    [
        env_vars::URL,
        env_vars::CLIENT_ID,
        env_vars::OFFLINE_TOKEN,
        env_vars::TOKEN,
        env_vars::CONFIG,
        env_vars::KEYRING,
    ]
    .into_iter()
    .any(set)
        || matches!(locate_ocm_config(env, home), Ok(Some(_)))
}

/// Where the `ocm` config is, per ocm-cli's rules; `None` when there is none.
fn locate_ocm_config(
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Option<PathBuf>, AuthError> {
    if let Some(path) = env(env_vars::CONFIG) {
        // Named explicitly: a missing file is an error worth reporting, not "no login".
        return Ok(Some(PathBuf::from(path)));
    }
    if env(env_vars::KEYRING).is_some() {
        return Err(AuthError::KeyringUnsupported);
    }
    let legacy = home.map(|h| h.join(".ocm.json"));
    if let Some(legacy) = legacy.filter(|p| p.is_file()) {
        return Ok(Some(legacy));
    }
    let config_dir = if cfg!(target_os = "macos") {
        home.map(|h| h.join("Library/Application Support"))
    } else {
        env(env_vars::XDG_CONFIG_HOME)
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".config")))
    };
    Ok(config_dir
        .map(|d| d.join("ocm").join("ocm.json"))
        .filter(|p| p.is_file()))
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_owned()]
}

/// `None` for blank values, which count as unset; others are kept as they are.
fn nonempty(o: Option<String>) -> Option<String> {
    o.filter(|v| !v.trim().is_empty())
}

/// A token given by the user, as a grant according to its kind.
fn token_grant(token: String, client_id: Option<String>) -> Grant {
    match classify(&token) {
        TokenKind::Refresh => Grant::RefreshToken {
            client_id: client_id.unwrap_or_else(|| DEFAULT_CLIENT_ID.to_owned()),
            refresh_token: Secret(token),
            access_token: None,
        },
        TokenKind::Access => Grant::AccessToken {
            token: Secret(token),
            opaque: false,
        },
    }
}

/// Settings from options and environment that apply whatever the credentials' source.
struct Overrides {
    api_url: Option<String>,
    token_url: Option<String>,
    scopes: Option<Vec<String>>,
}

impl Overrides {
    fn new(
        opts: &ConnectionOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AuthError> {
        let api_url = match nonempty(opts.api_url.clone()) {
            Some(u) => Some(api_url_from("--url", &u)?),
            None => env(env_vars::URL)
                .map(|u| api_url_from(env_vars::URL, &u))
                .transpose()?,
        };
        let token_url = nonempty(opts.token_url.clone())
            .map(|u| checked_url("--token-url", &u))
            .transpose()?;
        Ok(Overrides {
            api_url,
            token_url,
            scopes: opts.scopes.clone().filter(|s| !s.is_empty()),
        })
    }

    /// Complete a grant with URLs and scopes: overrides first, then what the
    /// credentials' own source said, then the production defaults.
    fn finish(&self, grant: Grant, source: CredentialSource, own: Overrides) -> Credentials {
        Credentials {
            api_url: self
                .api_url
                .clone()
                .or(own.api_url)
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
            token_url: self
                .token_url
                .clone()
                .or(own.token_url)
                .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned()),
            scopes: self
                .scopes
                .clone()
                .or(own.scopes)
                .unwrap_or_else(default_scopes),
            grant,
            source,
        }
    }
}

const NO_OVERRIDES: Overrides = Overrides {
    api_url: None,
    token_url: None,
    scopes: None,
};

/// Tier 1: explicit options.
fn from_options(opts: &ConnectionOptions) -> Result<Option<(Grant, CredentialSource)>, AuthError> {
    let flag_id = nonempty(opts.client_id.clone());
    let flag_secret = nonempty(opts.client_secret.clone());
    if let (Some(client_id), Some(secret)) = (&flag_id, &flag_secret) {
        let grant = Grant::ClientCredentials {
            client_id: client_id.clone(),
            client_secret: Secret(secret.clone()),
        };
        return Ok(Some((grant, CredentialSource::Options)));
    }
    if flag_secret.is_some() {
        return Err(AuthError::IncompleteClientCredentials {
            given: "--client-secret",
            missing: "--client-id",
        });
    }
    // A lone --client-id names the OIDC client for an offline token.
    if let Some(token) = nonempty(opts.offline_token.clone()) {
        return Ok(Some((
            token_grant(token, flag_id),
            CredentialSource::Options,
        )));
    }
    if let Some(path) = &opts.token_file {
        let grant = token_grant(read_token_file(path)?, flag_id);
        return Ok(Some((grant, CredentialSource::TokenFile(path.clone()))));
    }
    if flag_id.is_some() {
        return Err(AuthError::IncompleteClientCredentials {
            given: "--client-id",
            missing: "--client-secret",
        });
    }
    Ok(None)
}

/// Tier 2: environment variables.
fn from_environment(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Grant, CredentialSource)>, AuthError> {
    match (env(env_vars::CLIENT_ID), env(env_vars::CLIENT_SECRET)) {
        (Some(client_id), Some(secret)) => {
            let grant = Grant::ClientCredentials {
                client_id,
                client_secret: Secret(secret),
            };
            return Ok(Some((
                grant,
                CredentialSource::Environment(env_vars::CLIENT_ID),
            )));
        }
        (Some(_), None) => {
            return Err(AuthError::IncompleteClientCredentials {
                given: env_vars::CLIENT_ID,
                missing: env_vars::CLIENT_SECRET,
            });
        }
        (None, Some(_)) => {
            return Err(AuthError::IncompleteClientCredentials {
                given: env_vars::CLIENT_SECRET,
                missing: env_vars::CLIENT_ID,
            });
        }
        (None, None) => {}
    }
    for var in [env_vars::OFFLINE_TOKEN, env_vars::TOKEN] {
        if let Some(token) = env(var) {
            return Ok(Some((
                token_grant(token, None),
                CredentialSource::Environment(var),
            )));
        }
    }
    Ok(None)
}

/// Tier 3: the `ocm` CLI login, with its own URLs and scopes.
fn from_ocm_config(
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<(Grant, CredentialSource, Overrides), AuthError> {
    let Some(path) = locate_ocm_config(env, home)? else {
        return Err(AuthError::NoCredentials);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| AuthError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    let cfg: OcmConfigFile =
        serde_json::from_str(&text).map_err(|source| AuthError::ParseConfig {
            path: path.clone(),
            source,
        })?;
    let opaque = cfg.opaque_token || env("OCM_OPAQUE_TOKEN").is_some();
    let grant = match (
        nonempty(cfg.client_id),
        nonempty(cfg.client_secret),
        nonempty(cfg.refresh_token),
        nonempty(cfg.access_token),
    ) {
        (Some(client_id), Some(secret), _, _) => Grant::ClientCredentials {
            client_id,
            client_secret: Secret(secret),
        },
        (client_id, None, Some(refresh), access) if !opaque => Grant::RefreshToken {
            client_id: client_id.unwrap_or_else(|| DEFAULT_CLIENT_ID.to_owned()),
            refresh_token: Secret(refresh),
            access_token: access.map(Secret),
        },
        (_, _, _, Some(access)) => Grant::AccessToken {
            token: Secret(access),
            opaque,
        },
        _ => return Err(AuthError::NotLoggedIn { path }),
    };
    let own = Overrides {
        api_url: nonempty(cfg.url)
            .map(|u| api_url_from("ocm config url", &u))
            .transpose()?,
        token_url: nonempty(cfg.token_url)
            .map(|u| checked_url("ocm config token_url", &u))
            .transpose()?,
        scopes: cfg.scopes.filter(|s| !s.is_empty()),
    };
    Ok((grant, CredentialSource::OcmConfig(path), own))
}

impl Credentials {
    /// Pick credentials: options, then environment, then the `ocm` config file.
    ///
    /// `env` looks up an environment variable (empty values count as unset) and
    /// `home` is the user's home directory; both are injected so that tests never
    /// touch the real environment. Reads at most one file (token file or `ocm`
    /// config) and makes no network calls.
    pub fn resolve(
        opts: &ConnectionOptions,
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Credentials, AuthError> {
        let env = |k: &str| nonempty(env(k));
        let overrides = Overrides::new(opts, &env)?;
        if let Some((grant, source)) = from_options(opts)? {
            return Ok(overrides.finish(grant, source, NO_OVERRIDES));
        }
        if let Some((grant, source)) = from_environment(&env)? {
            return Ok(overrides.finish(grant, source, NO_OVERRIDES));
        }
        let (grant, source, own) = from_ocm_config(&env, home)?;
        Ok(overrides.finish(grant, source, own))
    }

    /// Whether new access tokens can be obtained (false for a bare access token).
    pub fn can_renew(&self) -> bool {
        !matches!(self.grant, Grant::AccessToken { .. })
    }

    /// Every secret this value holds, for scrubbing server messages.
    fn secrets(&self) -> Vec<&str> {
        match &self.grant {
            Grant::ClientCredentials { client_secret, .. } => vec![client_secret.expose()],
            Grant::RefreshToken {
                refresh_token,
                access_token,
                ..
            } => {
                let mut v = vec![refresh_token.expose()];
                v.extend(access_token.as_ref().map(Secret::expose));
                v
            }
            Grant::AccessToken { token, .. } => vec![token.expose()],
        }
    }
}

/// A bearer token handed to one request, with the generation it belongs to so that
/// a 401 invalidates only the token that failed (not a newer one fetched meanwhile).
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    pub(crate) token: Secret,
    pub(crate) generation: u64,
}

struct CachedToken {
    token: Secret,
    /// `None`: expiry unknown (opaque token); used until the API says 401.
    expires_at: Option<Instant>,
}

struct TokenState {
    current: Option<CachedToken>,
    /// The latest refresh token; the SSO server may rotate it.
    refresh_token: Option<Secret>,
    generation: u64,
}

/// Successful or failed answer of the token endpoint; fields per §1.4.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    token_type: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Settings the token source shares with the API client.
pub(crate) struct TokenSourceConfig {
    pub(crate) http: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) refresh_margin: Duration,
    pub(crate) observer: Option<Arc<dyn RequestObserver>>,
}

/// Obtains, caches and renews access tokens for one set of credentials.
pub(crate) struct TokenSource {
    credentials: Credentials,
    config: TokenSourceConfig,
    state: tokio::sync::Mutex<TokenState>,
    fetches: AtomicU64,
}

fn expiry_of(token: &str, expires_in: Option<u64>) -> Option<Instant> {
    let now = Instant::now();
    if let Some(secs) = expires_in {
        return Some(now + Duration::from_secs(secs));
    }
    let left = seconds_left(token, jiff::Timestamp::now().as_second())?;
    Some(now + Duration::from_secs(u64::try_from(left.max(0)).unwrap_or(0)))
}

/// Outcome of one token-endpoint attempt, with whether to try again.
struct TokenAttemptError {
    error: AuthError,
    retryable: bool,
}

impl TokenSource {
    pub(crate) fn new(credentials: Credentials, config: TokenSourceConfig) -> Self {
        let (current, refresh_token) = match &credentials.grant {
            Grant::ClientCredentials { .. } => (None, None),
            Grant::RefreshToken {
                refresh_token,
                access_token,
                ..
            } => (
                access_token.as_ref().map(|t| CachedToken {
                    expires_at: expiry_of(t.expose(), None),
                    token: t.clone(),
                }),
                Some(refresh_token.clone()),
            ),
            Grant::AccessToken { token, opaque } => (
                Some(CachedToken {
                    expires_at: if *opaque {
                        None
                    } else {
                        expiry_of(token.expose(), None)
                    },
                    token: token.clone(),
                }),
                None,
            ),
        };
        TokenSource {
            credentials,
            config,
            state: tokio::sync::Mutex::new(TokenState {
                current,
                refresh_token,
                generation: 0,
            }),
            fetches: AtomicU64::new(0),
        }
    }

    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// How many tokens were fetched from the token endpoint so far.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token valid for at least the refresh margin, fetching one if needed. The
    /// lock is held while fetching so that concurrent requests share one fetch.
    pub(crate) async fn bearer(&self) -> Result<Bearer, AuthError> {
        let mut st = self.state.lock().await;
        let now = Instant::now();
        let margin = self.config.refresh_margin;
        if let Some(c) = &st.current {
            let fresh = c.expires_at.is_none_or(|at| now + margin < at);
            if fresh {
                return Ok(Bearer {
                    token: c.token.clone(),
                    generation: st.generation,
                });
            }
        }
        if !self.credentials.can_renew() {
            // Last resort (as ocm-sdk-go): keep using a token that has not expired yet.
            return match &st.current {
                Some(c) if c.expires_at.is_none_or(|at| now < at) => Ok(Bearer {
                    token: c.token.clone(),
                    generation: st.generation,
                }),
                _ => Err(AuthError::AccessTokenExpired {
                    origin: self.credentials.source.clone(),
                }),
            };
        }
        match self.fetch(st.refresh_token.clone()).await {
            Ok(resp) => {
                let token = resp.access_token.unwrap_or_default();
                if let Some(rt) = resp.refresh_token.filter(|t| !t.is_empty()) {
                    st.refresh_token = Some(Secret(rt));
                }
                st.generation += 1;
                st.current = Some(CachedToken {
                    expires_at: expiry_of(&token, resp.expires_in),
                    token: Secret(token),
                });
                let token = st.current.as_ref().map(|c| c.token.clone());
                Ok(Bearer {
                    token: token.unwrap_or_else(|| Secret(String::new())),
                    generation: st.generation,
                })
            }
            Err(e) => match &st.current {
                // Renewal failed but the old token still works for a while.
                Some(c) if c.expires_at.is_some_and(|at| now < at) => {
                    tracing::warn!(error = %e, "OCM token renewal failed; using the current token until it expires");
                    Ok(Bearer {
                        token: c.token.clone(),
                        generation: st.generation,
                    })
                }
                _ => Err(e),
            },
        }
    }

    /// Forget the token of `generation` after the API rejected it; returns whether a
    /// new one can be fetched.
    pub(crate) async fn invalidate(&self, generation: u64) -> bool {
        let mut st = self.state.lock().await;
        if st.generation == generation && self.credentials.can_renew() {
            st.current = None;
        }
        self.credentials.can_renew()
    }

    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in self.credentials.secrets() {
            if !s.is_empty() {
                out = out.replace(s, "<redacted>");
            }
        }
        out
    }

    /// Run the grant against the token endpoint, retrying 5xx and transport errors.
    async fn fetch(&self, refresh_token: Option<Secret>) -> Result<TokenResponse, AuthError> {
        let attempt_no = AtomicU64::new(0);
        let attempt = || self.fetch_once(refresh_token.as_ref(), &attempt_no);
        let resp = attempt
            .retry(self.config.retry.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &TokenAttemptError| e.retryable)
            .notify(|e: &TokenAttemptError, after| {
                tracing::debug!(error = %e.error, ?after, "retrying OCM token request");
            })
            .await
            .map_err(|e| e.error)?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        Ok(resp)
    }

    /// The form of the token request; `None` for a grant that cannot fetch tokens.
    fn grant_form(&self, refresh_token: Option<&Secret>) -> Option<Vec<(&'static str, String)>> {
        match &self.credentials.grant {
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let mut form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                ];
                let scope = self.credentials.scopes.join(" ");
                if !scope.is_empty() {
                    form.push(("scope", scope));
                }
                Some(form)
            }
            Grant::RefreshToken {
                client_id,
                refresh_token: original,
                ..
            } => Some(vec![
                ("grant_type", "refresh_token".to_owned()),
                ("client_id", client_id.clone()),
                (
                    "refresh_token",
                    refresh_token.unwrap_or(original).expose().to_owned(),
                ),
            ]),
            Grant::AccessToken { .. } => None,
        }
    }

    async fn fetch_once(
        &self,
        refresh_token: Option<&Secret>,
        attempt_no: &AtomicU64,
    ) -> Result<TokenResponse, TokenAttemptError> {
        let token_url = &self.credentials.token_url;
        let Some(form) = self.grant_form(refresh_token) else {
            return Err(TokenAttemptError {
                error: AuthError::AccessTokenExpired {
                    origin: self.credentials.source.clone(),
                },
                retryable: false,
            });
        };
        let attempt =
            u32::try_from(attempt_no.fetch_add(1, Ordering::Relaxed) + 1).unwrap_or(u32::MAX);
        let started = Instant::now();
        let observe = |outcome| {
            if let Some(o) = &self.config.observer {
                o.observe(&RequestEvent {
                    method: "POST",
                    endpoint: TOKEN_ENDPOINT,
                    outcome,
                    duration: started.elapsed(),
                    attempt,
                });
            }
        };
        let result = self
            .config
            .http
            .post(token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.config.timeout)
            .form(&form)
            .send()
            .await;
        let transport = |source: reqwest::Error, observe: &dyn Fn(Outcome)| {
            observe(if source.is_timeout() {
                Outcome::Timeout
            } else {
                Outcome::Transport
            });
            TokenAttemptError {
                error: AuthError::TokenTransport {
                    token_url: token_url.clone(),
                    source: source.without_url(),
                },
                retryable: true,
            }
        };
        let resp = result.map_err(|e| transport(e, &observe))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| transport(e, &observe))?;
        observe(Outcome::Status(status));
        if status >= 500 {
            return Err(TokenAttemptError {
                error: AuthError::TokenServer {
                    token_url: token_url.clone(),
                    status,
                },
                retryable: true,
            });
        }
        let parsed: Option<TokenResponse> = serde_json::from_slice(&body).ok();
        if !(200..300).contains(&status) {
            let (error, description) = parsed
                .map(|p| (p.error, p.error_description))
                .unwrap_or_default();
            return Err(TokenAttemptError {
                error: AuthError::TokenRejected {
                    token_url: token_url.clone(),
                    status,
                    error: error.map(|e| self.scrub(&e)),
                    description: description.map(|d| self.scrub(&d)),
                },
                retryable: false,
            });
        }
        let unusable = |reason: &str| TokenAttemptError {
            error: AuthError::TokenResponse {
                token_url: token_url.clone(),
                reason: reason.to_owned(),
            },
            retryable: false,
        };
        let parsed = parsed.ok_or_else(|| unusable("not a JSON token response"))?;
        if parsed.access_token.as_deref().is_none_or(str::is_empty) {
            return Err(unusable("no access_token"));
        }
        if let Some(tt) = &parsed.token_type
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(unusable("token_type is not bearer"));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn jwt(claims: &serde_json::Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"none"}"#),
            enc(claims.to_string().as_bytes())
        )
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn options_beat_environment_and_config() {
        let home = tempfile::tempdir().unwrap();
        let cfg_dir = home.path().join(".config/ocm");
        std::fs::create_dir_all(&cfg_dir).unwrap();
        std::fs::write(cfg_dir.join("ocm.json"), r#"{"refresh_token":"cfg-rt"}"#).unwrap();
        let env = env_of(&[
            ("OCM_CLIENT_ID", "env-id"),
            ("OCM_CLIENT_SECRET", "env-secret"),
        ]);
        let opts = ConnectionOptions {
            client_id: Some("flag-id".into()),
            client_secret: Some("flag-secret".into()),
            ..ConnectionOptions::default()
        };
        let c = Credentials::resolve(&opts, &env, Some(home.path())).unwrap();
        assert_eq!(c.source, CredentialSource::Options);
        assert_eq!(
            c.grant,
            Grant::ClientCredentials {
                client_id: "flag-id".into(),
                client_secret: Secret::new("flag-secret")
            }
        );
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.token_url, DEFAULT_TOKEN_URL);
        assert_eq!(c.scopes, vec!["openid".to_owned()]);

        // Without flags, the environment wins over the config file.
        let c =
            Credentials::resolve(&ConnectionOptions::default(), &env, Some(home.path())).unwrap();
        assert_eq!(c.source, CredentialSource::Environment("OCM_CLIENT_ID"));

        // Without either, the config file is used.
        let c = Credentials::resolve(&ConnectionOptions::default(), &no_env, Some(home.path()))
            .unwrap();
        assert_eq!(
            c.source,
            CredentialSource::OcmConfig(cfg_dir.join("ocm.json"))
        );
        assert!(
            matches!(c.grant, Grant::RefreshToken { ref client_id, .. } if client_id == "cloud-services")
        );
    }

    #[test]
    fn half_a_client_credential_pair_is_an_error() {
        let opts = ConnectionOptions {
            client_id: Some("id".into()),
            ..ConnectionOptions::default()
        };
        let err = Credentials::resolve(&opts, &no_env, None).unwrap_err();
        assert!(matches!(
            err,
            AuthError::IncompleteClientCredentials {
                given: "--client-id",
                ..
            }
        ));
        let env = env_of(&[("OCM_CLIENT_SECRET", "s")]);
        let err = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap_err();
        assert!(err.to_string().contains("OCM_CLIENT_ID"), "{err}");
    }

    #[test]
    fn token_file_holds_an_offline_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let offline = jwt(&serde_json::json!({"typ": "Offline", "exp": 0}));
        std::fs::write(&path, format!("{offline}\n")).unwrap();
        let opts = ConnectionOptions {
            token_file: Some(path.clone()),
            ..ConnectionOptions::default()
        };
        let env = env_of(&[
            ("OCM_CLIENT_ID", "env-id"),
            ("OCM_CLIENT_SECRET", "env-secret"),
        ]);
        let c = Credentials::resolve(&opts, &env, None).unwrap();
        assert_eq!(c.source, CredentialSource::TokenFile(path.clone()));
        assert_eq!(
            c.grant,
            Grant::RefreshToken {
                client_id: "cloud-services".into(),
                refresh_token: Secret::new(offline),
                access_token: None
            }
        );
        std::fs::write(&path, "  \n").unwrap();
        let err = Credentials::resolve(&opts, &no_env, None).unwrap_err();
        assert!(matches!(err, AuthError::EmptyTokenFile { .. }));
    }

    #[test]
    fn ocm_token_env_is_classified_by_jwt_typ() {
        let access = jwt(&serde_json::json!({"typ": "Bearer", "exp": 1}));
        let env = env_of(&[("OCM_TOKEN", &access)]);
        let c = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap();
        assert!(matches!(c.grant, Grant::AccessToken { opaque: false, .. }));
        assert!(!c.can_renew());
        // Opaque tokens are refresh tokens (§1.3).
        let env = env_of(&[("OCM_TOKEN", "opaque-thing")]);
        let c = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap();
        assert!(matches!(c.grant, Grant::RefreshToken { .. }));
        // OCM_OFFLINE_TOKEN comes before OCM_TOKEN.
        let env = env_of(&[("OCM_TOKEN", &access), ("OCM_OFFLINE_TOKEN", "off")]);
        let c = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap();
        assert_eq!(c.source, CredentialSource::Environment("OCM_OFFLINE_TOKEN"));
    }

    #[test]
    fn ocm_config_fields_and_locations() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("custom.json");
        std::fs::write(
            &path,
            r#"{"access_token":"at","refresh_token":"rt","client_id":"ocm-cli",
                "token_url":"http://127.0.0.1:1/token","url":"stage","scopes":["openid","x"],
                "pager":"less"}"#,
        )
        .unwrap();
        let p = path.to_str().unwrap().to_owned();
        let env = env_of(&[("OCM_CONFIG", &p)]);
        let c = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap();
        assert_eq!(c.api_url, "https://api.stage.openshift.com");
        assert_eq!(c.token_url, "http://127.0.0.1:1/token");
        assert_eq!(c.scopes, vec!["openid".to_owned(), "x".to_owned()]);
        assert_eq!(
            c.grant,
            Grant::RefreshToken {
                client_id: "ocm-cli".into(),
                refresh_token: Secret::new("rt"),
                access_token: Some(Secret::new("at"))
            }
        );

        // A --url option overrides the config's URL.
        let opts = ConnectionOptions {
            api_url: Some("http://127.0.0.1:9/".into()),
            ..ConnectionOptions::default()
        };
        let c = Credentials::resolve(&opts, &env, None).unwrap();
        assert_eq!(c.api_url, "http://127.0.0.1:9");

        // The legacy ~/.ocm.json comes before ~/.config/ocm/ocm.json.
        std::fs::write(
            home.path().join(".ocm.json"),
            r#"{"client_id":"a","client_secret":"b"}"#,
        )
        .unwrap();
        let c = Credentials::resolve(&ConnectionOptions::default(), &no_env, Some(home.path()))
            .unwrap();
        assert_eq!(
            c.source,
            CredentialSource::OcmConfig(home.path().join(".ocm.json"))
        );
        assert!(matches!(c.grant, Grant::ClientCredentials { .. }));

        // XDG_CONFIG_HOME is honoured.
        let xdg = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(xdg.path().join("ocm")).unwrap();
        std::fs::write(
            xdg.path().join("ocm/ocm.json"),
            r#"{"access_token":"x","opaque_token":true}"#,
        )
        .unwrap();
        let x = xdg.path().to_str().unwrap().to_owned();
        let env = env_of(&[("XDG_CONFIG_HOME", &x)]);
        let c = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap();
        assert!(matches!(c.grant, Grant::AccessToken { opaque: true, .. }));
    }

    #[test]
    fn config_problems_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocm.json");
        std::fs::write(&path, r#"{"url":"https://api.openshift.com"}"#).unwrap();
        let p = path.to_str().unwrap().to_owned();
        let env = env_of(&[("OCM_CONFIG", &p)]);
        let err = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap_err();
        assert!(matches!(err, AuthError::NotLoggedIn { .. }), "{err}");
        std::fs::write(&path, "{not json").unwrap();
        let err = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap_err();
        assert!(matches!(err, AuthError::ParseConfig { .. }), "{err}");
        let env = env_of(&[("OCM_KEYRING", "secret-service")]);
        let err = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap_err();
        assert!(matches!(err, AuthError::KeyringUnsupported));
        let err = Credentials::resolve(&ConnectionOptions::default(), &no_env, None).unwrap_err();
        assert!(matches!(err, AuthError::NoCredentials));
        let opts = ConnectionOptions {
            api_url: Some("ftp://x".into()),
            client_id: Some("a".into()),
            client_secret: Some("b".into()),
            ..ConnectionOptions::default()
        };
        let err = Credentials::resolve(&opts, &no_env, None).unwrap_err();
        assert!(matches!(err, AuthError::InvalidUrl { .. }));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let opts = ConnectionOptions {
            client_id: Some("visible-id".into()),
            client_secret: Some("hunter2-secret".into()),
            offline_token: Some("offline-xyz".into()),
            ..ConnectionOptions::default()
        };
        let dbg = format!("{opts:?}");
        assert!(dbg.contains("visible-id"));
        assert!(
            !dbg.contains("hunter2-secret") && !dbg.contains("offline-xyz"),
            "{dbg}"
        );
        let c = Credentials::resolve(&opts, &no_env, None).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2-secret"), "{dbg}");
        let env = env_of(&[("OCM_OFFLINE_TOKEN", "offline-xyz")]);
        let c = Credentials::resolve(&ConnectionOptions::default(), &env, None).unwrap();
        assert!(!format!("{c:?}").contains("offline-xyz"));
    }

    #[test]
    fn jwt_expiry_is_read_without_verification() {
        let t = jwt(&serde_json::json!({"typ": "Bearer", "exp": 1_000}));
        assert_eq!(seconds_left(&t, 400), Some(600));
        assert_eq!(seconds_left("opaque", 400), None);
        assert_eq!(classify(&t), TokenKind::Access);
        let t = jwt(&serde_json::json!({"token_use": "access"}));
        assert_eq!(classify(&t), TokenKind::Access);
        let t = jwt(&serde_json::json!({"typ": "Refresh"}));
        assert_eq!(classify(&t), TokenKind::Refresh);
        assert_eq!(classify("a.b.c.d.e"), TokenKind::Refresh);
    }
}
