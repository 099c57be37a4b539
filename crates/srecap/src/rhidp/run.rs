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
use srecap_controller::rhidp::{Outcome, Realm, RhidpReconciler, RhidpReport};
use srecap_controller::runtime::{self, Banner, RunOptions};
use srecap_controller::server::Readiness;
use srecap_rhidp::{Planner, State};
use srecap_sso::{Secret, SsoClient};
use srecap_store::{SealingKey, SecretStore, Store, StoreError, secret::KEY_ENV};

use super::RealmArgs;
use crate::Failure;
use crate::cli::parse_duration;
use crate::connection::{OcmArgs, redact_url};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub ocm: OcmArgs,
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
    /// File holding the records' sealing key (base64 of 32 bytes). Else
    /// `SRECAP_SECRET_KEY`. Required.
    #[arg(long, value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Namespace root of the client records (`<root>/<environment>`).
    #[arg(long, value_name = "NAME", default_value = "rhidp")]
    pub secret_namespace: String,
    /// OCM environment name (records namespace, service logs).
    #[arg(long, value_name = "NAME", default_value = "production")]
    pub environment: String,
    /// Manage only these organizations (repeatable). Default: every
    /// organization with rhidp labels.
    #[arg(long = "org", value_name = "ID")]
    pub orgs: Vec<String>,
    /// Allow a pass to delete more than max(5, 10 %) of the clients or
    /// identity providers (the blast-radius guard, I59).
    #[arg(long)]
    pub allow_mass_deletion: bool,
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

/// The realms with their tokens and endpoints (exit 2 for a missing or
/// unreadable token, or a flag naming an issuer that is not configured).
fn realms(args: &RunArgs, issuers: &[String]) -> Result<BTreeMap<String, Realm>, Failure> {
    let files = pairs("--keycloak-iat-file", &args.iat_files)?;
    let urls = pairs("--keycloak-url", &args.urls)?;
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
    let mut out = BTreeMap::new();
    for issuer in issuers {
        let token = match files.get(issuer) {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| {
                        format!("reading the initial access token of {issuer} from {path}")
                    })
                    .map_err(Failure::input)?;
                text.trim().to_owned()
            }
            None => std::env::var(iat_env_var(issuer))
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        // A dry run registers nothing and needs no token.
        if token.is_empty() && !args.dry_run {
            return Err(Failure::input(anyhow::anyhow!(
                "no initial access token for the realm {issuer}: give --keycloak-iat-file {issuer}=FILE or set {}",
                iat_env_var(issuer)
            )));
        }
        out.insert(
            issuer.clone(),
            Realm {
                url: urls.get(issuer).cloned(),
                iat: Secret::new(token),
            },
        );
    }
    Ok(out)
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    // Everything that can be wrong with the command line fails before any
    // connection (ripgrep's two stages).
    let mut settings = args.realms.settings(&[])?;
    settings.allow_mass_deletion = args.allow_mass_deletion;
    let issuers: Vec<String> = settings.issuers().map(str::to_owned).collect();
    let key = sealing_key(args.secret_key_file.as_deref())?;
    let realms = realms(args, &issuers)?;
    let client = crate::connection::client(&args.ocm, None)?;
    let sso = SsoClient::new()
        .context("building the Keycloak client")
        .map_err(Failure::input)?;
    let state_url = match &args.state {
        Some(url) => url.clone(),
        None => srecap_store::default_url()
            .map_err(Failure::input)?
            .to_string(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&state_url, args.dry_run).await?;
        let orgs = args.orgs.clone();
        let reconciler = RhidpReconciler {
            ocm: Arc::new(client),
            sso,
            secrets: store.secrets(key),
            planner: Planner::new(settings),
            environment: args.environment.clone(),
            namespace: args.secret_namespace.clone(),
            realms,
            allowed: Arc::new(move |org: &str| orgs.is_empty() || orgs.iter().any(|o| o == org)),
            dry_run: args.dry_run,
            // The SLI counters live with a metrics endpoint, which this
            // command does not serve (yet).
            sli: None,
        };
        if args.once {
            let now = args.now.unwrap_or_else(Timestamp::now);
            let report = reconciler
                .pass(now)
                .await
                .context("the rhidp pass could not run")?;
            output::write(Format::chosen(args.output), &report, render)?;
            return if report.failed() {
                Err(Failure::from(anyhow::anyhow!(
                    "the rhidp pass failed: {} action(s) failed, {} operator error(s) fail the pass",
                    report.execution.as_ref().map_or(0, srecap_controller::rhidp::Execution::failed),
                    report.plan.operator_errors.iter().filter(|e| e.fails_pass).count()
                )))
            } else {
                Ok(())
            };
        }
        run_loop(&reconciler, args, &store).await
    })
}

/// A pass every `interval` until SIGTERM or ctrl-c, on the capability-neutral
/// runtime loop AUS uses (jitter, one info line per pass, a drain for the
/// pass in flight: an interrupted registration is what I41's pending record
/// is for).
async fn run_loop(
    reconciler: &RhidpReconciler,
    args: &RunArgs,
    store: &Store,
) -> Result<(), Failure> {
    let interval = std::time::Duration::try_from(args.interval)
        .map_err(|e| Failure::input(anyhow::anyhow!("--interval: {e}")))?;
    let drain = std::time::Duration::try_from(args.drain)
        .map_err(|e| Failure::input(anyhow::anyhow!("--drain: {e}")))?;
    let options = RunOptions {
        interval,
        jitter: 0.1,
        replica_id: format!("rhidp-{}", std::process::id()),
        drain,
        banner: Banner {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ocm_url: redact_url(reconciler.ocm.api_url()),
            store: store.url().to_string(),
            organizations: if args.orgs.is_empty() {
                "all".to_owned()
            } else {
                args.orgs.join(",")
            },
            ocm_budget: match args.ocm.rate() {
                Some(rate) => format!(
                    "{} requests/s, {} in flight",
                    rate.per_second,
                    args.ocm.in_flight()
                ),
                None => format!("no rate budget, {} in flight", args.ocm.in_flight()),
            },
        },
    };
    let readiness = Readiness::new(Some(store.clone()), interval);
    runtime::run(
        reconciler,
        &options,
        &readiness,
        crate::run::shutdown_signal(),
    )
    .await;
    Ok(())
}

fn render(report: &RhidpReport) -> String {
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
