//! `srecap rhidp run`: the Red Hat IdP reconciler (`RhidpReconciler`) against
//! one OCM environment, once (`--once`, printing what each action did) or a
//! pass every `--interval` until SIGTERM or ctrl-c.
//!
//! Secrets and where they come from:
//! * The sealing key of the client records: `--secret-key-file FILE` or
//!   `SRECAP_SECRET_KEY` (base64 of 32 bytes). Without one the command does
//!   not start (exit 2): records hold client secrets and RATs, and there is no
//!   plaintext mode.
//! * The initial access token of each realm: `--keycloak-iat-file
//!   ISSUER=FILE`, else the environment variable `SRECAP_KEYCLOAK_IAT_<REALM>`
//!   (the realm name upper-cased, other characters than letters and digits as
//!   `_`: realm `EmployeeIDP` reads `SRECAP_KEYCLOAK_IAT_EMPLOYEEIDP`).
//!
//! Neither a key, a token nor a record's secret is ever printed or logged:
//! they travel as `Secret`s whose `Debug` is redacted, error messages name the
//! file or variable but never repeat its content, and the plan and report
//! carry no secret (I72).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use jiff::Timestamp;
use srecap_controller::rhidp::{
    Outcome, Realm, RhidpEnvironments, RhidpReconciler, RhidpReport, Sharing,
};
use srecap_controller::runtime::{self, Banner, RunOptions};
use srecap_controller::server::Readiness;
use srecap_rhidp::settings::Settings;
use srecap_rhidp::{Planner, State};
use srecap_sso::{Secret, SsoClient};
use srecap_store::{SealingKey, SecretStore, Store, StoreError, secret::KEY_ENV};

use super::RealmArgs;
use crate::Failure;
use crate::cli::parse_duration;
use crate::connection::{OcmArgs, redact_url};
use crate::output::{self, Format};

/// The capability's own flags, shared by `srecap rhidp run` and `srecap run
/// --capability rhidp`: realms, their tokens, the sealing key.
#[derive(Debug, Args)]
pub struct RhidpOptions {
    #[command(flatten)]
    pub realms: RealmArgs,
    /// Initial access token of a realm, read from FILE (repeatable;
    /// `ISSUER=FILE`). Else `SRECAP_KEYCLOAK_IAT_<REALM>`.
    #[arg(long = "keycloak-iat-file", value_name = "ISSUER=FILE")]
    pub iat_files: Vec<String>,
    /// Where a realm serves its endpoints when that is not its issuer URL (a
    /// proxy, the simulator): `ISSUER=URL` (repeatable).
    #[arg(long = "keycloak-url", value_name = "ISSUER=URL")]
    pub urls: Vec<String>,
    /// File holding the records' sealing key (base64 of 32 bytes). Else
    /// `SRECAP_SECRET_KEY`. Required.
    #[arg(long, value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Namespace root of the client records (`<root>/<environment>`).
    /// Default: the configuration file's `rhidp.secretNamespace`, else `rhidp`.
    #[arg(long, value_name = "NAME")]
    pub secret_namespace: Option<String>,
    /// Allow a pass to delete more than max(5, 10 %) of the clients or
    /// identity providers (the blast-radius guard, I59).
    #[arg(long)]
    pub allow_mass_deletion: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub ocm: OcmArgs,
    #[command(flatten)]
    pub options: RhidpOptions,
    /// Run one pass, print what each action did, and exit (1 when an action or
    /// the plan failed).
    #[arg(long)]
    pub once: bool,
    /// Plan and print; change nothing in OCM, Keycloak or the store.
    #[arg(long)]
    pub dry_run: bool,
    /// Time between passes.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub interval: jiff::SignedDuration,
    /// State store holding the sealed client records: `sqlite:PATH`,
    /// `postgres://…` or `memory:`. Default: `sqlite:$XDG_DATA_HOME/srecap/state.db`.
    #[arg(long, value_name = "URL", env = "SRECAP_STATE", hide_env_values = true)]
    pub state: Option<String>,
    /// OCM environment name (records namespace, service logs).
    #[arg(long, value_name = "NAME", default_value = "production")]
    pub environment: String,
    /// Manage only these organizations (repeatable). Default: every
    /// organization with rhidp labels.
    #[arg(long = "org", value_name = "ID")]
    pub orgs: Vec<String>,
    /// On SIGTERM or SIGINT, let the pass in flight finish for this long.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub drain: jiff::SignedDuration,
    /// Evaluate the pass as if the time were TIME (RFC 3339); only with --once.
    #[arg(long, value_name = "TIME", requires = "once")]
    pub now: Option<Timestamp>,
    /// Output of --once: table (default), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Format>,
}

/// What the capability needs to run, from its flags or the configuration
/// file's `rhidp:` section: the planner's settings, each realm with its token,
/// and the records' namespace root.
#[derive(Debug)]
pub struct Setup {
    pub settings: Settings,
    pub realms: BTreeMap<String, Realm>,
    pub namespace: String,
    /// Where each realm's token came from (`env:VAR` or a file path): the
    /// `path` label of the token-expiry gauge (I65), never the token.
    pub token_sources: BTreeMap<String, String>,
}

impl Setup {
    /// One start-up line per realm: where its requests go and where its token
    /// was read from (never the token).
    pub fn log_realms(&self) {
        for (issuer, realm) in &self.realms {
            tracing::info!(
                capability = "rhidp",
                realm = %issuer,
                endpoint = %realm.url.as_deref().unwrap_or(issuer),
                token_from = %self.token_sources.get(issuer).map_or("", String::as_str),
                "Keycloak realm configured"
            );
        }
    }
}

impl RhidpOptions {
    /// The realms and settings: the configuration file's `rhidp:` section when
    /// it has one (then a realm flag is a contradiction, exit 2), else the
    /// flags. Tokens are read here (a dry run registers nothing and needs
    /// none).
    pub fn setup(
        &self,
        file: Option<(&Path, &crate::environments::RhidpSettings)>,
        dry_run: bool,
    ) -> Result<Setup, Failure> {
        let Some((path, section)) = file else {
            return self.setup_from_flags(dry_run);
        };
        let typed: Vec<&str> = [
            (!self.realms.keycloak.is_empty(), "--keycloak"),
            (self.realms.default_issuer.is_some(), "--default-issuer"),
            (
                self.realms.default_auth_name != srecap_rhidp::settings::DEFAULT_AUTH_NAME,
                "--default-auth-name",
            ),
            (!self.iat_files.is_empty(), "--keycloak-iat-file"),
            (!self.urls.is_empty(), "--keycloak-url"),
            (self.secret_namespace.is_some(), "--secret-namespace"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect();
        if !typed.is_empty() {
            return Err(Failure::input(anyhow::anyhow!(
                "{} contradict{} the rhidp section of --config {}: the file sets the realms, their tokens and the defaults; remove the flag(s) or the section",
                typed.join(", "),
                if typed.len() == 1 { "s" } else { "" },
                path.display()
            )));
        }
        let mut settings = section.planner.clone();
        settings.allow_mass_deletion = self.allow_mass_deletion;
        let mut realms = BTreeMap::new();
        let mut token_sources = BTreeMap::new();
        for realm in &section.realms {
            let (token, source) = match &realm.iat {
                crate::environments::IatSource::File(file) => {
                    (read_token(&realm.issuer, file)?, file.display().to_string())
                }
                crate::environments::IatSource::Env(var) => (env_token(var), format!("env:{var}")),
            };
            if token.is_empty() && !dry_run {
                return Err(Failure::input(anyhow::anyhow!(
                    "no initial access token for the realm {} ({}: rhidp.keycloakInstances names {source}, which is empty or unset)",
                    realm.issuer,
                    path.display()
                )));
            }
            add_realm(
                (&mut realms, &mut token_sources),
                &realm.issuer,
                realm.url.clone(),
                token,
                source,
            );
        }
        Ok(Setup {
            settings,
            realms,
            namespace: section.secret_namespace.clone(),
            token_sources,
        })
    }

    fn setup_from_flags(&self, dry_run: bool) -> Result<Setup, Failure> {
        let mut settings = self.realms.settings(&[])?;
        settings.allow_mass_deletion = self.allow_mass_deletion;
        let issuers: Vec<String> = settings.issuers().map(str::to_owned).collect();
        let files = pairs("--keycloak-iat-file", &self.iat_files)?;
        let urls = pairs("--keycloak-url", &self.urls)?;
        for (flag, issuer) in files
            .keys()
            .map(|i| ("--keycloak-iat-file", i))
            .chain(urls.keys().map(|i| ("--keycloak-url", i)))
        {
            if !issuers.contains(issuer) {
                return Err(Failure::input(anyhow::anyhow!(
                    "{flag}: {issuer} is not a configured realm (--keycloak): {}",
                    issuers.join(", ")
                )));
            }
        }
        let mut realms = BTreeMap::new();
        let mut token_sources = BTreeMap::new();
        for issuer in &issuers {
            let (token, source) = if let Some(path) = files.get(issuer) {
                (read_token(issuer, Path::new(path))?, path.clone())
            } else {
                let var = iat_env_var(issuer);
                (env_token(&var), format!("env:{var}"))
            };
            // A dry run registers nothing and needs no token.
            if token.is_empty() && !dry_run {
                return Err(Failure::input(anyhow::anyhow!(
                    "no initial access token for the realm {issuer}: give --keycloak-iat-file {issuer}=FILE or set {}",
                    iat_env_var(issuer)
                )));
            }
            add_realm(
                (&mut realms, &mut token_sources),
                issuer,
                urls.get(issuer).cloned(),
                token,
                source,
            );
        }
        Ok(Setup {
            settings,
            realms,
            namespace: self
                .secret_namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            token_sources,
        })
    }
}

/// Record a realm with its token and where the token came from.
fn add_realm(
    (realms, sources): (&mut BTreeMap<String, Realm>, &mut BTreeMap<String, String>),
    issuer: &str,
    url: Option<String>,
    token: String,
    source: String,
) {
    sources.insert(issuer.to_owned(), source);
    realms.insert(
        issuer.to_owned(),
        Realm {
            url,
            iat: Secret::new(token),
        },
    );
}

/// A token from an environment variable, trimmed (empty when unset).
fn env_token(var: &str) -> String {
    std::env::var(var).unwrap_or_default().trim().to_owned()
}

/// The records' namespace root without `--secret-namespace` (I67).
pub const DEFAULT_NAMESPACE: &str = "rhidp";

/// A realm's token from `path`, trimmed; the error names the file, never its
/// content.
fn read_token(issuer: &str, path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| {
            format!(
                "reading the initial access token of {issuer} from {}",
                path.display()
            )
        })
        .map_err(Failure::input)?;
    Ok(text.trim().to_owned())
}

/// The sealing key: the file, else `SRECAP_SECRET_KEY`; none is exit 2.
pub fn sealing_key(file: Option<&Path>) -> Result<SealingKey, Failure> {
    let key = match file {
        Some(path) => Some(SealingKey::from_file(path).map_err(Failure::input)?),
        None => SealingKey::from_env(KEY_ENV).map_err(Failure::input)?,
    };
    key.ok_or_else(|| {
        Failure::input(anyhow::anyhow!(
            "no sealing key for the rhidp client records: give --secret-key-file FILE or set {KEY_ENV} \
             (base64 of 32 random bytes: `head -c 32 /dev/urandom | base64`); records hold client \
             secrets and are never stored unencrypted"
        ))
    })
}

/// Open the state store; a dry run (or a read-only command) does not create a
/// SQLite file that does not exist: it reads nothing instead.
pub async fn open_store(url: &str, read_only: bool) -> Result<Store, Failure> {
    let mut url = url.to_owned();
    if read_only
        && let Ok(srecap_store::StoreUrl::Sqlite(path)) = srecap_store::StoreUrl::parse(&url)
        && !path.exists()
    {
        tracing::info!(path = %path.display(), "the state store does not exist and is not created; reading no records");
        "memory:".clone_into(&mut url);
    }
    Store::open(&url)
        .await
        .with_context(|| format!("opening the state store {}", redact_url(&url)))
        .map_err(Failure::input)
}

/// The stored records and provider fingerprints, as the reconciler reads them.
pub async fn read_state(
    secrets: &SecretStore,
    root: &str,
    environment: &str,
) -> Result<State, StoreError> {
    srecap_controller::rhidp::load_state(
        secrets,
        &srecap_controller::rhidp::records_namespace(root, environment),
        &srecap_controller::rhidp::fingerprints_namespace(root, environment),
    )
    .await
}

/// `ISSUER=VALUE` pairs of a repeatable flag.
fn pairs(flag: &str, values: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for v in values {
        let Some((issuer, value)) = v
            .split_once('=')
            .filter(|(i, v)| !i.is_empty() && !v.is_empty())
        else {
            return Err(Failure::input(anyhow::anyhow!(
                "{flag} {v:?}: expected ISSUER=VALUE"
            )));
        };
        out.insert(issuer.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// The environment variable holding a realm's IAT.
pub fn iat_env_var(issuer: &str) -> String {
    let realm = srecap_fleet::identity::realm_name(issuer).unwrap_or(issuer);
    let name: String = realm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SRECAP_KEYCLOAK_IAT_{name}")
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    // Everything that can be wrong with the command line fails before any
    // connection (ripgrep's two stages).
    let setup = args.options.setup(None, args.dry_run)?;
    let key = sealing_key(args.options.secret_key_file.as_deref())?;
    let client = crate::connection::client(&args.ocm, None)?;
    let sso = sso_client()?;
    let state_url = state_url(args.state.as_deref())?;
    let interval = crate::run::non_negative("--interval", args.interval)?;
    let drain = crate::run::non_negative("--drain", args.drain)?;
    setup.log_realms();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&state_url, args.dry_run).await?;
        if !args.dry_run {
            // `aus run` and `rhidp run` on one SQLite file would each believe
            // they own it: one runner per file (`srecap run` runs both).
            store
                .lock_runner()
                .with_context(|| format!("claiming the state store {}", store.url()))?;
        }
        let orgs = args.orgs.clone();
        let reconciler = RhidpReconciler {
            ocm: Arc::new(client),
            sso,
            secrets: store.secrets(key),
            planner: Planner::new(setup.settings),
            environment: args.environment.clone(),
            namespace: setup.namespace,
            realms: setup.realms,
            allowed: Arc::new(move |org: &str| orgs.is_empty() || orgs.iter().any(|o| o == org)),
            dry_run: args.dry_run,
            // Counted where a metrics endpoint serves them: `srecap run`.
            telemetry: None,
        };
        if args.once {
            let now = args.now.unwrap_or_else(Timestamp::now);
            let report = reconciler
                .pass(now)
                .await
                .context("the rhidp pass could not run")?;
            output::write(Format::chosen(args.output), &report, render)?;
            return outcome(&report);
        }
        let replica_id = format!("rhidp-{}", std::process::id());
        let sharing = (!args.dry_run).then(|| Sharing {
            store: store.clone(),
            replica_id: replica_id.clone(),
            lease_ttl: interval.saturating_mul(2),
        });
        let banner = Banner {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ocm_url: redact_url(reconciler.ocm.api_url()),
            store: store.url().to_string(),
            organizations: if args.orgs.is_empty() {
                "all".to_owned()
            } else {
                args.orgs.join(",")
            },
            ocm_budget: args.ocm.budget(),
        };
        let environments = RhidpEnvironments::new(vec![reconciler], sharing);
        let options = RunOptions {
            interval,
            jitter: 0.1,
            replica_id,
            drain,
            banner,
        };
        let readiness = Readiness::new(Some(store.clone()), interval);
        runtime::run(
            &environments,
            &options,
            &readiness,
            crate::run::shutdown_signal(),
        )
        .await;
        Ok(())
    })
}

/// The Keycloak client.
pub fn sso_client() -> Result<SsoClient, Failure> {
    SsoClient::new()
        .context("building the Keycloak client")
        .map_err(Failure::input)
}

/// `--state`, else the default SQLite file.
pub fn state_url(state: Option<&str>) -> Result<String, Failure> {
    Ok(match state {
        Some(url) => url.to_owned(),
        None => srecap_store::default_url()
            .map_err(Failure::input)?
            .to_string(),
    })
}

/// The exit of a `--once` pass: a failed action or a pass-failing operator
/// error fails the command.
pub fn outcome(report: &RhidpReport) -> Result<(), Failure> {
    if report.failed() {
        Err(Failure::from(anyhow::anyhow!(
            "the rhidp pass failed in {}: {} action(s) failed, {} operator error(s) fail the pass",
            report.plan.ocm_environment,
            report
                .execution
                .as_ref()
                .map_or(0, srecap_controller::rhidp::Execution::failed),
            report
                .plan
                .operator_errors
                .iter()
                .filter(|e| e.fails_pass)
                .count()
        )))
    } else {
        Ok(())
    }
}

pub fn render(report: &RhidpReport) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "Red Hat IdP pass at {} (environment {}){}\n",
        report.plan.now,
        report.plan.ocm_environment,
        if report.execution.is_none() {
            ": dry run, nothing changed"
        } else {
            ""
        }
    );
    if report.plan.actions.is_empty() {
        s.push_str("Nothing to do.\n");
    } else {
        let mut t = output::table(["action", "outcome"], 0);
        let outcomes: Vec<String> = match &report.execution {
            Some(e) => e
                .actions
                .iter()
                .map(|a| match &a.outcome {
                    Outcome::Done => "done".to_owned(),
                    Outcome::Gone => "already gone".to_owned(),
                    Outcome::Skipped { reason } => format!("skipped: {reason}"),
                    Outcome::Failed { error } => format!("failed: {error}"),
                    Outcome::Rejected { error } => format!("rejected by OCM: {error}"),
                })
                .collect(),
            None => vec!["planned".to_owned(); report.plan.actions.len()],
        };
        for (action, outcome) in report.plan.reference_actions().iter().zip(outcomes) {
            t.add_row(vec![super::status::describe(action), outcome]);
        }
        s.push_str(&t.to_string());
        s.push('\n');
    }
    for e in &report.plan.operator_errors {
        let _ = writeln!(s, "operator error: {}", e.message);
    }
    if let Some(e) = &report.execution {
        for c in &e.orphaned_clients {
            let _ = writeln!(s, "orphaned Keycloak client: {c}");
        }
        for m in &e.service_log_errors {
            let _ = writeln!(s, "service log error: {m}");
        }
    }
    s
}
