//! The configuration file of `srecap aus run --config FILE` (and
//! `srecap observability … --config FILE`): the OCM environments one process
//! reconciles, their credentials, health providers, alert severity and
//! organization registry. The format is documented in `docs/configuration.md`.
//!
//! Two stages, as for command-line arguments: [`parse`] reads and checks the
//! text without any I/O (no secret is read, no environment variable looked
//! up), so every mistake in the file is reported with the file, the line and
//! the field before anything runs; [`EnvironmentSettings::connection`] then
//! reads the secrets the file points to.
//!
//! Secrets are never written in the file: it names a file (`clientSecretFile`,
//! `offlineTokenFile`) or an environment variable (`clientSecretEnv`), so the
//! file can live in a `ConfigMap` and the secrets in `Secret`s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use srecap_controller::health::HealthProvider;
use srecap_controller::registry::{AddonSettings, HealthCheck, OrgRegistry, RegisteredOrg};
use srecap_observability::slo::Severity;
use srecap_ocm::ConnectionOptions;

/// A mistake in the configuration file: where, which field, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line (0: unknown).
    pub line: u64,
    /// The field at fault, as a path (`environments[1].clientSecretEnv`).
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.reason)
        } else {
            write!(f, ": {}: {}", self.field, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// In file order; names are unique.
    pub environments: Vec<EnvironmentSettings>,
    /// The Red Hat `IdP` capability's realms and defaults (`rhidp:`), when the
    /// file configures them.
    pub rhidp: Option<RhidpSettings>,
}

/// The `rhidp:` section (spec rhidp I67): the Keycloak realms clients are
/// registered in, where each realm's initial access token is read from, and
/// the defaults of clusters without `.name` or `.issuer` labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RhidpSettings {
    /// Checked: the default issuer is a configured realm, the default name a
    /// valid identity-provider name.
    pub planner: srecap_rhidp::settings::Settings,
    /// The records' namespace root (I67 `secret_namespace`).
    pub secret_namespace: String,
    /// In file order; issuers are unique.
    pub realms: Vec<RealmSettings>,
}

/// One Keycloak realm of `rhidp.keycloakInstances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmSettings {
    pub issuer: String,
    /// Where the realm serves its endpoints when that is not the issuer.
    pub url: Option<String>,
    pub iat: IatSource,
}

/// Where a realm's initial access token is read from (never the file itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IatSource {
    File(PathBuf),
    Env(String),
}

/// One OCM environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentSettings {
    /// State keys (`<name>/<org>`) and the `ocm_env` label.
    pub name: String,
    pub ocm_url: String,
    /// None: Red Hat SSO.
    pub token_url: Option<String>,
    pub credentials: CredentialSource,
    /// The environment's Telemeter-like Prometheus.
    pub health: Option<HealthProvider>,
    /// The highest severity of this environment's alerts (`warning`: never
    /// pages).
    pub alert_severity: Severity,
    /// None: every organization with AUS labels is served.
    pub registry: Option<OrgRegistry>,
}

/// Where an environment's OCM credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Client-credentials grant; the secret read from a file.
    SecretFile { client_id: String, path: PathBuf },
    /// Client-credentials grant; the secret read from an environment variable.
    SecretEnv { client_id: String, variable: String },
    /// Refresh-token grant; the offline token read from a file.
    OfflineTokenFile(PathBuf),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    environments: Spanned<Vec<Spanned<RawEnvironment>>>,
    rhidp: Option<Spanned<RawRhidp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRhidp {
    default_auth_name: Option<Spanned<String>>,
    default_issuer: Option<Spanned<String>>,
    secret_namespace: Option<Spanned<String>>,
    keycloak_instances: Spanned<Vec<Spanned<RawRealm>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRealm {
    issuer: Spanned<String>,
    url: Option<Spanned<String>>,
    iat_file: Option<Spanned<PathBuf>>,
    iat_env: Option<Spanned<String>>,
    /// Refused: secrets are never inline.
    iat: Option<Spanned<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEnvironment {
    name: Spanned<String>,
    ocm_url: Option<Spanned<String>>,
    token_url: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    client_id_env: Option<Spanned<String>>,
    client_secret_file: Option<Spanned<PathBuf>>,
    client_secret_env: Option<Spanned<String>>,
    /// Refused: secrets are never inline.
    client_secret: Option<Spanned<IgnoredAny>>,
    offline_token_file: Option<Spanned<PathBuf>>,
    health: Option<Spanned<RawHealth>>,
    alert_severity: Option<Spanned<String>>,
    organizations: Option<Spanned<Vec<Spanned<RawOrg>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHealth {
    prometheus: Spanned<String>,
    #[serde(default = "yes")]
    enforced: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawOrg {
    id: Spanned<String>,
    #[serde(default)]
    disabled: Vec<Spanned<String>>,
    #[serde(default)]
    health: Vec<Spanned<RawCheck>>,
    /// Add-on upgrade settings (R113).
    addons: Option<Spanned<RawAddons>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAddons {
    #[serde(default)]
    organization: BTreeMap<String, Spanned<Scalar>>,
    #[serde(default)]
    clusters: BTreeMap<String, Spanned<BTreeMap<String, Spanned<Scalar>>>>,
}

/// A setting's value: the label syntax is text, but `soak-days: 2` reads well.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Text(t) => t.clone(),
        }
    }
}

/// Settings of an add-on cluster (R113), as label keys without the prefix.
const ADDON_CLUSTER_KEYS: &[&str] = &[
    "workloads",
    "schedule",
    "soak-days",
    "mutexes",
    "sector",
    "blocked-versions",
];

/// Settings of an add-on organization (R113): exact keys, and key prefixes.
const ADDON_ORG_KEYS: &[&str] = &["blocked-versions"];
const ADDON_ORG_PREFIXES: &[&str] = &["sector-deps.", "sector-max-parallel-upgrades."];

/// The add-on section of an organization (R113): known keys only, so that a
/// misspelt setting is an error rather than a silently unset one (values are
/// validated by the planner, as labels are).
fn addon_settings(
    raw: RawAddons,
    field: &str,
    err: &Err<'_>,
) -> Result<AddonSettings, ConfigError> {
    let mut out = AddonSettings::default();
    for (key, value) in raw.organization {
        let known = ADDON_ORG_KEYS.contains(&key.as_str())
            || ADDON_ORG_PREFIXES
                .iter()
                .any(|p| key.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if !known {
            return Err(err(
                value.referenced.line(),
                format!("{field}.addons.organization.{key}"),
                format!(
                    "{key:?} is not an add-on organization setting: use {}, or a {} key",
                    ADDON_ORG_KEYS.join(", "),
                    ADDON_ORG_PREFIXES.join("<sector> or ")
                ),
            ));
        }
        out.organization.insert(key, value.value.text());
    }
    for (name, settings) in raw.clusters {
        if name.trim().is_empty() {
            return Err(err(
                settings.referenced.line(),
                format!("{field}.addons.clusters"),
                "empty cluster name".to_owned(),
            ));
        }
        let mut map = BTreeMap::new();
        for (key, value) in settings.value {
            if !ADDON_CLUSTER_KEYS.contains(&key.as_str()) {
                return Err(err(
                    value.referenced.line(),
                    format!("{field}.addons.clusters.{name}.{key}"),
                    format!(
                        "{key:?} is not an add-on cluster setting: use one of {}",
                        ADDON_CLUSTER_KEYS.join(", ")
                    ),
                ));
            }
            map.insert(key, value.value.text());
        }
        out.clusters.insert(name, map);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCheck {
    provider: Spanned<String>,
    #[serde(default = "yes")]
    enforced: bool,
}

/// The integrations an organization can have disabled (R2, R105, R113): a
/// misspelt name would silently leave the integration on.
const INTEGRATIONS: &[&str] = &[
    srecap_aus::INTEGRATION,
    "version-gate-approver",
    "ocm-addons-upgrade-scheduler-org",
];

/// The names that switch the Red Hat `IdP` capability off in a `disabled`
/// list: `rhidp`, and the reference's reconciler names (current and legacy,
/// I12), each of which disables the whole capability so that an opt-out
/// written for either still holds (W17).
const RHIDP_NAMES: &[&str] = &[
    "rhidp",
    "rhidp-sso-client-api",
    "ocm-oidc-idp-api",
    "rhidp-sso-client",
    "ocm-oidc-idp",
];

/// Whether a registered organization switched the Red Hat `IdP` capability
/// off.
pub fn rhidp_disabled(org: &RegisteredOrg) -> bool {
    org.disabled
        .iter()
        .any(|i| RHIDP_NAMES.contains(&i.as_str()))
}

fn yes() -> bool {
    true
}

/// Read and check `path` (the only I/O: reading the file itself).
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 0,
        field: String::new(),
        reason: format!("cannot read the configuration file: {e}"),
    })?;
    parse(&text, &file)
}

/// Check the text of a configuration file named `file` (for messages),
/// without I/O.
pub fn parse(text: &str, file: &str) -> Result<Settings, ConfigError> {
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| syntax_error(&e, file))?;
    let err = |line: u64, field: String, reason: String| ConfigError {
        file: file.to_owned(),
        line,
        field,
        reason,
    };
    if raw.environments.value.is_empty() {
        return Err(err(
            raw.environments.referenced.line(),
            "environments".to_owned(),
            "name at least one OCM environment".to_owned(),
        ));
    }
    let mut names = BTreeSet::new();
    let mut environments = Vec::new();
    for (i, entry) in raw.environments.value.into_iter().enumerate() {
        let at = format!("environments[{i}]");
        let line = entry.referenced.line();
        let e = entry.value;
        let name = e.name.value.trim().to_owned();
        if !label_value(&name) {
            return Err(err(
                e.name.referenced.line(),
                format!("{at}.name"),
                format!(
                    "{name:?} is not a valid environment name: use letters, digits, '-' and '_' only (it is a state key part and a metric label value)"
                ),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(err(
                e.name.referenced.line(),
                format!("{at}.name"),
                format!(
                    "environment {name} is named twice: names must be unique (they key the histories and the metrics)"
                ),
            ));
        }
        let at = format!("{at} ({name})");
        if let Some(secret) = &e.client_secret {
            return Err(err(
                secret.referenced.line(),
                format!("{at}.clientSecret"),
                "secrets are never written in the configuration file: use clientSecretFile (a mounted Secret) or clientSecretEnv (an environment variable)".to_owned(),
            ));
        }
        let Some(ocm_url) = e.ocm_url else {
            return Err(err(
                line,
                format!("{at}.ocmUrl"),
                "missing: the OCM API URL of this environment, e.g. https://api.openshift.com"
                    .to_owned(),
            ));
        };
        check_url(&ocm_url, &format!("{at}.ocmUrl"), &err)?;
        if let Some(t) = &e.token_url {
            check_url(t, &format!("{at}.tokenUrl"), &err)?;
        }
        let client_id = match (e.client_id, e.client_id_env) {
            (Some(_), Some(env)) => {
                return Err(err(
                    env.referenced.line(),
                    format!("{at}.clientIdEnv"),
                    "give clientId or clientIdEnv, not both".to_owned(),
                ));
            }
            (Some(id), None) => Some(ClientId::Literal(non_empty(
                &id,
                &format!("{at}.clientId"),
                &err,
            )?)),
            (None, Some(env)) => Some(ClientId::Env(env_name(
                &env,
                &format!("{at}.clientIdEnv"),
                &err,
            )?)),
            (None, None) => None,
        };
        let credentials = match (
            e.client_secret_file,
            e.client_secret_env,
            e.offline_token_file,
        ) {
            (Some(file), None, None) => CredentialSource::SecretFile {
                client_id: need_id(client_id, line, &at, &err)?,
                path: file.value,
            },
            (None, Some(var), None) => CredentialSource::SecretEnv {
                client_id: need_id(client_id, line, &at, &err)?,
                variable: env_name(&var, &format!("{at}.clientSecretEnv"), &err)?,
            },
            (None, None, Some(file)) => {
                if client_id.is_some() {
                    return Err(err(
                        file.referenced.line(),
                        format!("{at}.offlineTokenFile"),
                        "an offline token needs no client id: remove clientId/clientIdEnv, or use clientSecretFile/clientSecretEnv".to_owned(),
                    ));
                }
                CredentialSource::OfflineTokenFile(file.value)
            }
            (None, None, None) => {
                return Err(err(
                    line,
                    format!("{at}.clientSecretFile"),
                    "no credentials: give clientId with clientSecretFile or clientSecretEnv, or offlineTokenFile".to_owned(),
                ));
            }
            _ => {
                return Err(err(
                    line,
                    format!("{at}.clientSecretFile"),
                    "give exactly one of clientSecretFile, clientSecretEnv and offlineTokenFile"
                        .to_owned(),
                ));
            }
        };
        let health = match e.health {
            Some(h) => {
                let prometheus = h.value.prometheus;
                check_url(&prometheus, &format!("{at}.health.prometheus"), &err)?;
                Some(HealthProvider {
                    url: prometheus.value,
                    enforced: h.value.enforced,
                })
            }
            None => None,
        };
        let alert_severity = match e.alert_severity {
            None => Severity::Critical,
            Some(s) => match s.value.as_str() {
                "critical" => Severity::Critical,
                "warning" => Severity::Warning,
                other => {
                    return Err(err(
                        s.referenced.line(),
                        format!("{at}.alertSeverity"),
                        format!(
                            "{other:?} is not a severity: use critical (pages, the default) or warning (never pages)"
                        ),
                    ));
                }
            },
        };
        let registry = match e.organizations {
            None => None,
            Some(orgs) => Some(registry(orgs.value, &at, &err)?),
        };
        environments.push(EnvironmentSettings {
            name,
            ocm_url: ocm_url.value,
            token_url: e.token_url.map(|t| t.value),
            credentials,
            health,
            alert_severity,
            registry,
        });
    }
    let rhidp = raw.rhidp.map(|r| rhidp(r, &err)).transpose()?;
    Ok(Settings {
        environments,
        rhidp,
    })
}

/// Check the `rhidp:` section.
fn rhidp(raw: Spanned<RawRhidp>, err: &Err<'_>) -> Result<RhidpSettings, ConfigError> {
    let line = raw.referenced.line();
    let r = raw.value;
    if r.keycloak_instances.value.is_empty() {
        return Err(err(
            r.keycloak_instances.referenced.line(),
            "rhidp.keycloakInstances".to_owned(),
            "name at least one Keycloak realm (issuer and iatFile or iatEnv)".to_owned(),
        ));
    }
    let mut realms: Vec<RealmSettings> = Vec::new();
    for (i, entry) in r.keycloak_instances.value.into_iter().enumerate() {
        let at = format!("rhidp.keycloakInstances[{i}]");
        let e = entry.value;
        if let Some(inline) = &e.iat {
            return Err(err(
                inline.referenced.line(),
                format!("{at}.iat"),
                "secrets are never written in the configuration file: use iatFile (a mounted Secret) or iatEnv (an environment variable)".to_owned(),
            ));
        }
        let issuer = e.issuer.value.trim().trim_end_matches('/').to_owned();
        if !issuer.starts_with("https://") {
            return Err(err(
                e.issuer.referenced.line(),
                format!("{at}.issuer"),
                format!(
                    "{issuer:?} is not an https:// realm URL (e.g. https://auth.redhat.com/auth/realms/EmployeeIDP)"
                ),
            ));
        }
        if realms.iter().any(|r| r.issuer == issuer) {
            return Err(err(
                e.issuer.referenced.line(),
                format!("{at}.issuer"),
                format!("the realm {issuer} is listed twice"),
            ));
        }
        if let Some(url) = &e.url {
            check_url(url, &format!("{at}.url"), err)?;
        }
        let iat = match (e.iat_file, e.iat_env) {
            (Some(file), None) => IatSource::File(file.value),
            (None, Some(var)) => IatSource::Env(env_name(&var, &format!("{at}.iatEnv"), err)?),
            (None, None) => IatSource::Env(crate::rhidp::run::iat_env_var(&issuer)),
            (Some(_), Some(var)) => {
                return Err(err(
                    var.referenced.line(),
                    format!("{at}.iatEnv"),
                    "give iatFile or iatEnv, not both".to_owned(),
                ));
            }
        };
        realms.push(RealmSettings {
            issuer,
            url: e.url.map(|u| u.value.trim().to_owned()),
            iat,
        });
    }
    let default_auth_name = match &r.default_auth_name {
        Some(n) => n.value.trim().to_owned(),
        None => srecap_rhidp::settings::DEFAULT_AUTH_NAME.to_owned(),
    };
    let default_issuer = match &r.default_issuer {
        Some(i) => i.value.trim().trim_end_matches('/').to_owned(),
        None if realms
            .iter()
            .any(|r| r.issuer == srecap_rhidp::settings::DEFAULT_ISSUER) =>
        {
            srecap_rhidp::settings::DEFAULT_ISSUER.to_owned()
        }
        None => realms[0].issuer.clone(),
    };
    let planner = srecap_rhidp::settings::Settings::with_defaults(
        &default_auth_name,
        &default_issuer,
        realms
            .iter()
            .map(|r| srecap_rhidp::settings::KeycloakInstance {
                issuer: r.issuer.clone(),
            })
            .collect(),
    )
    .map_err(|e| {
        let (field, at) = match &e {
            srecap_rhidp::settings::SettingsError::DefaultAuthName { .. } => (
                "rhidp.defaultAuthName",
                r.default_auth_name.as_ref().map(|n| n.referenced.line()),
            ),
            _ => (
                "rhidp.defaultIssuer",
                r.default_issuer.as_ref().map(|n| n.referenced.line()),
            ),
        };
        err(at.unwrap_or(line), field.to_owned(), e.to_string())
    })?;
    let secret_namespace = match &r.secret_namespace {
        Some(ns) => {
            let v = ns.value.trim();
            if !label_value(v) {
                return Err(err(
                    ns.referenced.line(),
                    "rhidp.secretNamespace".to_owned(),
                    format!("{v:?} is not a namespace: use letters, digits, '-' and '_'"),
                ));
            }
            v.to_owned()
        }
        None => "rhidp".to_owned(),
    };
    Ok(RhidpSettings {
        planner,
        secret_namespace,
        realms,
    })
}

/// A YAML or schema error as the parser reports it, without its source
/// snippet (which names the input `<input>`, not the file): `file:line:
/// column N: reason`.
fn syntax_error(e: &serde_saphyr::Error, file: &str) -> ConfigError {
    let location = e.location();
    let text = e.without_snippet().to_string();
    let mut reason = text.strip_prefix("error: ").unwrap_or(&text).to_owned();
    if let Some(l) = location {
        // The parser says where either before or after its message.
        let prefix = format!("line {} column {}: ", l.line(), l.column());
        let suffix = format!(" at line {}, column {}", l.line(), l.column());
        let bare = reason
            .strip_prefix(&prefix)
            .or_else(|| reason.strip_suffix(&suffix))
            .unwrap_or(&reason)
            .to_owned();
        reason = format!("column {}: {bare}", l.column());
    }
    ConfigError {
        file: file.to_owned(),
        line: location.map_or(0, |l| l.line()),
        field: String::new(),
        reason,
    }
}

enum ClientId {
    Literal(String),
    Env(String),
}

type Err<'a> = dyn Fn(u64, String, String) -> ConfigError + 'a;

fn need_id(
    id: Option<ClientId>,
    line: u64,
    at: &str,
    err: &Err<'_>,
) -> Result<String, ConfigError> {
    match id {
        Some(ClientId::Literal(id)) => Ok(id),
        // Resolved when the secrets are read, as `env:NAME`.
        Some(ClientId::Env(var)) => Ok(format!("env:{var}")),
        None => Err(err(
            line,
            format!("{at}.clientId"),
            "missing: a client secret needs its client id (clientId, or clientIdEnv naming an environment variable)".to_owned(),
        )),
    }
}

fn registry(
    orgs: Vec<Spanned<RawOrg>>,
    at: &str,
    err: &Err<'_>,
) -> Result<OrgRegistry, ConfigError> {
    let mut out = BTreeMap::new();
    for (j, org) in orgs.into_iter().enumerate() {
        let o = org.value;
        let field = format!("{at}.organizations[{j}]");
        let id = o.id.value.trim().to_owned();
        if id.is_empty() {
            return Err(err(
                o.id.referenced.line(),
                format!("{field}.id"),
                "empty organization id".to_owned(),
            ));
        }
        let mut disabled = Vec::new();
        for (k, name) in o.disabled.into_iter().enumerate() {
            let integration = name.value.trim();
            if !INTEGRATIONS.contains(&integration) && !RHIDP_NAMES.contains(&integration) {
                return Err(err(
                    name.referenced.line(),
                    format!("{field}.disabled[{k}]"),
                    format!(
                        "{integration:?} is not an integration: use one of {}, {}",
                        INTEGRATIONS.join(", "),
                        RHIDP_NAMES.join(", ")
                    ),
                ));
            }
            disabled.push(integration.to_owned());
        }
        let mut providers = BTreeSet::new();
        let mut health = Vec::new();
        for (k, check) in o.health.into_iter().enumerate() {
            let provider = check.value.provider.value.trim().to_owned();
            if provider.is_empty() || !providers.insert(provider.clone()) {
                return Err(err(
                    check.value.provider.referenced.line(),
                    format!("{field}.health[{k}].provider"),
                    format!(
                        "{provider:?}: each provider once, by name (the one AUS knows is telemeter)"
                    ),
                ));
            }
            health.push(HealthCheck {
                provider,
                enforced: check.value.enforced,
            });
        }
        let addons = o
            .addons
            .map(|a| addon_settings(a.value, &field, err))
            .transpose()?;
        let line = o.id.referenced.line();
        if out
            .insert(
                id.clone(),
                RegisteredOrg {
                    disabled,
                    health,
                    addons,
                },
            )
            .is_some()
        {
            return Err(err(
                line,
                format!("{field}.id"),
                format!("organization {id} is listed twice in this environment"),
            ));
        }
    }
    Ok(OrgRegistry::new(out))
}

fn label_value(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_url(url: &Spanned<String>, field: &str, err: &Err<'_>) -> Result<(), ConfigError> {
    let v = url.value.trim();
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(())
    } else {
        Err(err(
            url.referenced.line(),
            field.to_owned(),
            format!("{v:?} is not an absolute http(s) URL"),
        ))
    }
}

fn non_empty(s: &Spanned<String>, field: &str, err: &Err<'_>) -> Result<String, ConfigError> {
    let v = s.value.trim();
    if v.is_empty() {
        return Err(err(
            s.referenced.line(),
            field.to_owned(),
            "empty".to_owned(),
        ));
    }
    Ok(v.to_owned())
}

fn env_name(s: &Spanned<String>, field: &str, err: &Err<'_>) -> Result<String, ConfigError> {
    let v = s.value.trim();
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(err(
            s.referenced.line(),
            field.to_owned(),
            format!("{v:?} is not an environment variable name (letters, digits and '_')"),
        ));
    }
    Ok(v.to_owned())
}

impl Settings {
    /// The environment named `name`, if configured.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentSettings> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// Each environment's highest alert severity (for the rule generator).
    pub fn severities(&self) -> BTreeMap<String, Severity> {
        self.environments
            .iter()
            .map(|e| (e.name.clone(), e.alert_severity))
            .collect()
    }
}

impl EnvironmentSettings {
    /// The connection options of this environment, with its secrets read
    /// (`env` looks an environment variable up; files are read here).
    pub fn connection(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnectionOptions, String> {
        let lookup = |var: &str, what: &str| -> Result<String, String> {
            env(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("environment {}: the environment variable {var} ({what}) is not set or empty", self.name))
        };
        let read = |path: &Path, what: &str| -> Result<String, String> {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "environment {}: reading the {what} file {}: {e}",
                    self.name,
                    path.display()
                )
            })?;
            let v = text.trim();
            if v.is_empty() {
                return Err(format!(
                    "environment {}: the {what} file {} is empty",
                    self.name,
                    path.display()
                ));
            }
            Ok(v.to_owned())
        };
        let id = |client_id: &str| match client_id.strip_prefix("env:") {
            Some(var) => lookup(var, "client id"),
            None => Ok(client_id.to_owned()),
        };
        let (client_id, client_secret, token_file) = match &self.credentials {
            CredentialSource::SecretFile { client_id, path } => (
                Some(id(client_id)?),
                Some(read(path, "client secret")?),
                None,
            ),
            CredentialSource::SecretEnv {
                client_id,
                variable,
            } => (
                Some(id(client_id)?),
                Some(lookup(variable, "client secret")?),
                None,
            ),
            CredentialSource::OfflineTokenFile(path) => (None, None, Some(path.clone())),
        };
        Ok(ConnectionOptions {
            api_url: Some(self.ocm_url.clone()),
            token_url: self.token_url.clone(),
            client_id,
            client_secret,
            offline_token: None,
            token_file,
            scopes: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r"
environments:
  - name: production
    ocmUrl: https://api.openshift.com
    clientId: aus-prod
    clientSecretFile: /var/run/secrets/ocm-production/client-secret
    health:
      prometheus: https://telemeter.example/prometheus
    organizations:
      - id: org-1
        health:
          - provider: telemeter
            enforced: false
      - id: org-2
        disabled: [advanced-upgrade-scheduler]
        addons:
          organization:
            blocked-versions: logging/1.2.0
          clusters:
            dev-1:
              workloads: logging
              soak-days: 0
            prod-1:
              workloads: logging
              soak-days: 2.5
              schedule: '0 10 * * *'
  - name: stage
    ocmUrl: https://api.stage.openshift.com
    tokenUrl: https://sso.stage.example/token
    clientIdEnv: OCM_STAGE_CLIENT_ID
    clientSecretEnv: OCM_STAGE_CLIENT_SECRET
    alertSeverity: warning
";

    fn error(text: &str) -> ConfigError {
        parse(text, "srecap.yaml").unwrap_err()
    }

    #[test]
    fn a_valid_file_parses_with_its_defaults() {
        let s = parse(VALID, "srecap.yaml").unwrap();
        assert_eq!(s.environments.len(), 2);
        let prod = &s.environments[0];
        assert_eq!(prod.name, "production");
        assert_eq!(prod.alert_severity, Severity::Critical);
        assert_eq!(prod.token_url, None);
        assert!(
            prod.health.as_ref().unwrap().enforced,
            "enforced by default"
        );
        let registry = prod.registry.as_ref().unwrap();
        assert_eq!(registry.len(), 2);
        assert!(!registry.get("org-1").unwrap().health[0].enforced);
        assert_eq!(
            registry.get("org-2").unwrap().disabled,
            ["advanced-upgrade-scheduler"]
        );
        // R113: add-on settings, values as label text.
        assert!(registry.get("org-1").unwrap().addons.is_none());
        let addons = registry.get("org-2").unwrap().addons.as_ref().unwrap();
        assert_eq!(addons.organization["blocked-versions"], "logging/1.2.0");
        assert_eq!(addons.clusters["dev-1"]["soak-days"], "0");
        assert_eq!(addons.clusters["prod-1"]["soak-days"], "2.5");
        assert_eq!(addons.clusters["prod-1"]["schedule"], "0 10 * * *");
        let stage = s.environment("stage").unwrap();
        assert_eq!(stage.alert_severity, Severity::Warning);
        assert!(stage.registry.is_none(), "no registry: every labelled org");
        assert_eq!(
            stage.credentials,
            CredentialSource::SecretEnv {
                client_id: "env:OCM_STAGE_CLIENT_ID".into(),
                variable: "OCM_STAGE_CLIENT_SECRET".into()
            }
        );
        assert_eq!(s.severities()["stage"], Severity::Warning);
    }

    #[test]
    fn secrets_are_read_from_where_the_file_points() {
        let s = parse(VALID, "srecap.yaml").unwrap();
        let env = |k: &str| match k {
            "OCM_STAGE_CLIENT_ID" => Some("stage-id".to_owned()),
            "OCM_STAGE_CLIENT_SECRET" => Some(" s3cret\n".to_owned()),
            _ => None,
        };
        let opts = s.environments[1].connection(&env).unwrap();
        assert_eq!(opts.client_id.as_deref(), Some("stage-id"));
        assert_eq!(opts.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(
            opts.api_url.as_deref(),
            Some("https://api.stage.openshift.com")
        );
        let err = s.environments[1].connection(&|_| None).unwrap_err();
        assert!(err.contains("OCM_STAGE_CLIENT_ID"), "{err}");
        let err = s.environments[0].connection(&|_| None).unwrap_err();
        assert!(
            err.contains("/var/run/secrets/ocm-production/client-secret"),
            "{err}"
        );
    }

    /// Every kind of mistake names the file, the line and the field.
    #[test]
    fn each_invalid_file_names_the_field_and_line() {
        let cases: &[(&str, &str, u64, &str)] = &[
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    organizations:\n      - id: o\n        addons:\n          clusters:\n            c1:\n              workload: w\n",
                "environments[0] (prod).organizations[0].addons.clusters.c1.workload",
                11,
                "not an add-on cluster setting",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    organizations:\n      - id: o\n        addons:\n          organization:\n            sector-deps.: x\n",
                "environments[0] (prod).organizations[0].addons.organization.sector-deps.",
                10,
                "not an add-on organization setting",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecret: hunter2\n",
                "environments[0] (prod).clientSecret",
                5,
                "never written in the configuration file",
            ),
            (
                "environments:\n  - name: prod\n    clientId: x\n    clientSecretEnv: S\n",
                "environments[0] (prod).ocmUrl",
                2,
                "missing",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: api.openshift.com\n    clientId: x\n    clientSecretEnv: S\n",
                "environments[0] (prod).ocmUrl",
                3,
                "not an absolute http(s) URL",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientSecretEnv: S\n",
                "environments[0] (prod).clientId",
                2,
                "needs its client id",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n",
                "environments[0] (prod).clientSecretFile",
                2,
                "no credentials",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    clientSecretFile: /s\n",
                "environments[0] (prod).clientSecretFile",
                2,
                "exactly one of",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n  - name: prod\n    ocmUrl: https://b\n    clientId: y\n    clientSecretEnv: T\n",
                "environments[1].name",
                6,
                "named twice",
            ),
            (
                "environments:\n  - name: pro d\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n",
                "environments[0].name",
                2,
                "not a valid environment name",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    alertSeverity: page\n",
                "environments[0] (prod).alertSeverity",
                6,
                "not a severity",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    organizations:\n      - id: o1\n      - id: o1\n",
                "environments[0] (prod).organizations[1].id",
                8,
                "listed twice",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    organizations:\n      - id: o1\n        health:\n          - provider: telemeter\n          - provider: telemeter\n",
                "environments[0] (prod).organizations[0].health[1].provider",
                10,
                "each provider once",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: bad-name\n",
                "environments[0] (prod).clientSecretEnv",
                5,
                "not an environment variable name",
            ),
            (
                "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n    organizations:\n      - id: o1\n        disabled: [advanced-upgrade-schedular]\n",
                "environments[0] (prod).organizations[0].disabled[0]",
                8,
                "not an integration",
            ),
            ("environments: []\n", "environments", 1, "at least one"),
        ];
        for (text, field, line, reason) in cases {
            let e = error(text);
            assert_eq!(&e.field, field, "{e}");
            assert_eq!(e.line, *line, "{e}");
            assert!(e.reason.contains(reason), "{e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("srecap.yaml:{line}: {field}: ")),
                "{shown}"
            );
        }
    }

    const ENV: &str = "environments:\n  - name: prod\n    ocmUrl: https://a\n    clientId: x\n    clientSecretEnv: S\n";

    /// The `rhidp:` section (I67): realms with where their tokens are, the
    /// defaults, and the reference's reconciler names as opt-outs (W17).
    #[test]
    fn the_rhidp_section_names_realms_tokens_and_defaults() {
        let text = format!(
            "{ENV}    organizations:\n      - id: o1\n        disabled: [ocm-oidc-idp-api]\n      - id: o2\nrhidp:\n  defaultAuthName: corp-sso\n  secretNamespace: idp\n  keycloakInstances:\n    - issuer: https://sso.example.com/auth/realms/A/\n      iatFile: /run/iat-a\n    - issuer: https://auth.redhat.com/auth/realms/EmployeeIDP\n      url: http://127.0.0.1:9/auth/realms/EmployeeIDP\n"
        );
        let s = parse(&text, "srecap.yaml").unwrap();
        let r = s.rhidp.unwrap();
        assert_eq!(r.secret_namespace, "idp");
        assert_eq!(
            r.realms[0],
            RealmSettings {
                issuer: "https://sso.example.com/auth/realms/A".to_owned(),
                url: None,
                iat: IatSource::File(PathBuf::from("/run/iat-a")),
            }
        );
        // No token source named: the capability's variable of the realm.
        assert_eq!(
            r.realms[1].iat,
            IatSource::Env("SRECAP_KEYCLOAK_IAT_EMPLOYEEIDP".to_owned())
        );
        // The EmployeeIDP realm is the default issuer when it is listed.
        assert_eq!(
            r.planner.default_issuer(),
            srecap_rhidp::settings::DEFAULT_ISSUER
        );
        assert_eq!(r.planner.default_auth_name(), "corp-sso");
        let registry = s.environments[0].registry.as_ref().unwrap();
        assert!(rhidp_disabled(registry.get("o1").unwrap()));
        assert!(!rhidp_disabled(registry.get("o2").unwrap()));
        // Without the section: no rhidp settings.
        assert!(parse(ENV, "srecap.yaml").unwrap().rhidp.is_none());
    }

    #[test]
    fn each_invalid_rhidp_section_names_the_field_and_line() {
        let cases: &[(&str, &str, u64, &str)] = &[
            (
                "rhidp:\n  keycloakInstances: []\n",
                "rhidp.keycloakInstances",
                7,
                "at least one",
            ),
            (
                "rhidp:\n  keycloakInstances:\n    - issuer: https://a.example.com/auth/realms/A\n      iat: eyJhbGciOi\n",
                "rhidp.keycloakInstances[0].iat",
                9,
                "never written in the configuration file",
            ),
            (
                "rhidp:\n  keycloakInstances:\n    - issuer: http://a.example.com/auth/realms/A\n",
                "rhidp.keycloakInstances[0].issuer",
                8,
                "not an https://",
            ),
            (
                "rhidp:\n  keycloakInstances:\n    - issuer: https://a.example.com/auth/realms/A\n    - issuer: https://a.example.com/auth/realms/A/\n",
                "rhidp.keycloakInstances[1].issuer",
                9,
                "listed twice",
            ),
            (
                "rhidp:\n  keycloakInstances:\n    - issuer: https://a.example.com/auth/realms/A\n      iatFile: /f\n      iatEnv: V\n",
                "rhidp.keycloakInstances[0].iatEnv",
                10,
                "not both",
            ),
            (
                "rhidp:\n  defaultIssuer: https://b.example.com/auth/realms/B\n  keycloakInstances:\n    - issuer: https://a.example.com/auth/realms/A\n",
                "rhidp.defaultIssuer",
                7,
                "not a configured Keycloak instance",
            ),
            (
                "rhidp:\n  defaultAuthName: a/b\n  keycloakInstances:\n    - issuer: https://a.example.com/auth/realms/A\n",
                "rhidp.defaultAuthName",
                7,
                "default auth name",
            ),
            (
                "rhidp:\n  secretNamespace: a/b\n  keycloakInstances:\n    - issuer: https://a.example.com/auth/realms/A\n",
                "rhidp.secretNamespace",
                7,
                "not a namespace",
            ),
        ];
        for (section, field, line, reason) in cases {
            let e = error(&format!("{ENV}{section}"));
            assert_eq!(&e.field, field, "{e}");
            assert_eq!(e.line, *line, "{e}");
            assert!(e.reason.contains(reason), "{e}");
        }
    }

    #[test]
    fn yaml_and_schema_errors_carry_the_parser_location() {
        let e = error("environments:\n  - name: prod\n    ocmURL: https://a\n");
        assert!(
            e.to_string()
                .starts_with("srecap.yaml:3: column 5: unknown field `ocmURL`, expected one of"),
            "{e}"
        );
        assert!(!e.to_string().contains("<input>"), "{e}");
        let e = error("environments: [\n");
        assert!(e.to_string().starts_with("srecap.yaml:1: "), "{e}");
        let e = error(
            "environments:\n  - name: prod\n    health: {prometheus: https://p, enforced: maybe}\n",
        );
        assert_eq!(e.line, 3, "{e}");
    }
}

#[cfg(test)]
mod example {
    use super::*;

    /// The documented example (`examples/srecap.yaml`) stays valid.
    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/srecap.yaml");
        let s = load(&path).unwrap();
        let names: Vec<&str> = s.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["production", "stage"]);
        let registry = s.environments[0].registry.as_ref().unwrap();
        assert_eq!(registry.len(), 3);
        assert_eq!(s.severities()["stage"], Severity::Warning);
        assert_eq!(s.severities()["production"], Severity::Critical);
        let rhidp = s.rhidp.unwrap();
        assert_eq!(rhidp.realms.len(), 1);
        assert_eq!(rhidp.secret_namespace, "rhidp");
        let off = registry.get("3c4d5e6f7g8h9i0j1a2b").unwrap();
        assert!(rhidp_disabled(off));
        assert!(!rhidp_disabled(
            registry.get("1a2b3c4d5e6f7g8h9i0j").unwrap()
        ));
    }
}
