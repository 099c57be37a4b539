//! `srecap aus run`: the AUS reconciler.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use srecap_controller::environments::EnvironmentPass;
use srecap_controller::health::HealthProvider;
use srecap_controller::registry::OrgRegistry;
use srecap_controller::rhidp::{
    RhidpEnvironments, RhidpReconciler, RhidpReport, RhidpTelemetry, Sharing,
};
use srecap_controller::runtime::{self, Banner, Loop, RunOptions};
use srecap_controller::server::{self, Exposition, Health, Readiness};
use srecap_controller::{Config, Environments, HttpOcm, Metrics, PassReport, Reconciler, Replica};
use srecap_ocm::auth::env_vars;
use srecap_ocm::{ClientConfig, Credentials, OcmClient};
use srecap_store::Store;

use crate::Failure;
use crate::cli::{PlanOutput, RunArgs};
use crate::connection::{OcmArgs, client, redact_url, scrub};
use crate::environments::{EnvironmentSettings, RhidpSettings};
use crate::plan_view::render_table;
use crate::rhidp::run::RhidpOptions;
use srecap_rhidp::Planner;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    serve(
        args,
        &Selection {
            aus: true,
            rhidp: None,
        },
    )
}

/// Which capabilities one process runs (`srecap aus run`: AUS alone; `srecap
/// run --capability …`: any of them).
#[derive(Debug)]
pub struct Selection<'a> {
    pub aus: bool,
    pub rhidp: Option<RhidpSelection<'a>>,
}

/// The Red Hat `IdP` capability's part of a process.
#[derive(Debug)]
pub struct RhidpSelection<'a> {
    pub options: &'a RhidpOptions,
    /// Time between its passes.
    pub interval: jiff::SignedDuration,
}

/// Run the selected capabilities over the environments of `args` (flags or
/// `--config`), with one store, one `/metrics` and one shutdown.
pub fn serve(args: &RunArgs, selection: &Selection<'_>) -> Result<(), Failure> {
    run_capabilities(args, selection).map_err(|failure| {
        scrub(
            failure,
            &[
                args.state.as_deref(),
                args.ocm.ocm_url.as_deref(),
                args.ocm.token_url.as_deref(),
                args.health_prometheus.as_deref(),
            ],
        )
    })
}

/// The runtime settings `aus run` derives from its flags, checked before any
/// I/O.
#[derive(Debug)]
struct Runtime {
    interval: Duration,
    org_deadline: Option<Duration>,
    replica_id: String,
    lease_ttl: Duration,
    drain: Duration,
}

/// A duration flag that must not be negative.
pub(crate) fn non_negative(flag: &str, d: jiff::SignedDuration) -> Result<Duration, Failure> {
    Duration::try_from(d)
        .map_err(|_| Failure::input(anyhow::anyhow!("{flag} must not be negative (got {d:#})")))
}

impl Runtime {
    fn from_args(args: &RunArgs) -> Result<Runtime, Failure> {
        let interval = non_negative("--interval", args.interval)?;
        if interval.is_zero() {
            return Err(Failure::input(anyhow::anyhow!(
                "--interval must be longer than zero"
            )));
        }
        let org_deadline =
            Some(non_negative("--org-deadline", args.org_deadline)?).filter(|d| !d.is_zero());
        let lease_ttl = match args.lease_ttl {
            Some(ttl) => {
                let ttl = non_negative("--lease-ttl", ttl)?;
                if let Some(deadline) = org_deadline.filter(|d| ttl < *d) {
                    return Err(Failure::input(anyhow::anyhow!(
                        "--lease-ttl {ttl:?} is shorter than --org-deadline {deadline:?}: \
                         an organization's pass could outlive its lease and never commit; \
                         raise --lease-ttl or lower --org-deadline"
                    )));
                }
                ttl
            }
            None => interval
                .saturating_mul(2)
                .max(org_deadline.unwrap_or_default()),
        };
        if lease_ttl.is_zero() || lease_ttl > srecap_store::lease::MAX_TTL {
            return Err(Failure::input(anyhow::anyhow!(
                "--lease-ttl must be longer than zero and at most 24h (got {lease_ttl:?})"
            )));
        }
        let replica_id = match &args.replica_id {
            Some(id) if id.trim().is_empty() => {
                return Err(Failure::input(anyhow::anyhow!(
                    "--replica-id must not be empty"
                )));
            }
            Some(id) => id.trim().to_owned(),
            None => format!("{}-{}", hostname(), std::process::id()),
        };
        Ok(Runtime {
            interval,
            org_deadline,
            replica_id,
            lease_ttl,
            drain: non_negative("--drain", args.drain)?,
        })
    }
}

/// The host name (the pod name on Kubernetes), or `srecap` when unknown.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "srecap".to_owned())
}

/// The bearer token in `path`, without surrounding whitespace.
fn read_token_file(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the metrics bearer token file {}", path.display()))
        .map_err(Failure::input)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "the metrics bearer token file {} is empty",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

/// The default environment name without --config.
const DEFAULT_ENVIRONMENT: &str = "production";

/// The flags --config replaces: each would contradict the file's per-environment
/// settings. A value that came from the process environment (`OCM_URL`,
/// `OCM_CLIENT_ID`, …, set for the single-environment mode) is not a
/// contradiction: only what was typed on the command line is.
fn contradictions(args: &RunArgs, env: &dyn Fn(&str) -> Option<String>) -> Vec<&'static str> {
    let typed = |value: Option<&str>, var: &str| value.is_some() && value != env(var).as_deref();
    let mut out = Vec::new();
    if typed(args.ocm.ocm_url.as_deref(), "OCM_URL") {
        out.push("--ocm-url");
    }
    if args.ocm.token_url.is_some() {
        out.push("--token-url");
    }
    if typed(args.ocm.client_id.as_deref(), env_vars::CLIENT_ID) {
        out.push("--client-id");
    }
    if typed(args.ocm.client_secret.as_deref(), env_vars::CLIENT_SECRET) {
        out.push("--client-secret");
    }
    let secret_file = args
        .ocm
        .client_secret_file
        .as_ref()
        .map(|p| p.display().to_string());
    if typed(secret_file.as_deref(), "OCM_CLIENT_SECRET_FILE") {
        out.push("--client-secret-file");
    }
    if args.ocm.token_file.is_some() {
        out.push("--token-file");
    }
    if args.health_prometheus.is_some() {
        out.push("--health-prometheus");
    }
    if args.health_not_enforced {
        out.push("--health-not-enforced");
    }
    out
}

/// The environments to reconcile and how to reach each, from --config or
/// from the single-environment flags; checked before any network I/O.
fn environments(args: &RunArgs) -> Result<(Vec<EnvironmentPlan>, Option<RhidpSettings>), Failure> {
    let Some(path) = &args.config else {
        let name = args
            .environment
            .clone()
            .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
        return Ok((
            vec![EnvironmentPlan {
                name,
                source: Source::Flags,
                health: args.health_prometheus.as_ref().map(|url| HealthProvider {
                    url: url.clone(),
                    enforced: !args.health_not_enforced,
                }),
                registry: None,
                network_only: false,
            }],
            None,
        ));
    };
    let env = |k: &str| std::env::var(k).ok();
    let contradicting = contradictions(args, &env);
    if !contradicting.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{} contradict{} --config {}: the configuration file sets each environment's OCM URL, credentials and health provider; remove {} or the file",
            contradicting.join(", "),
            if contradicting.len() == 1 { "s" } else { "" },
            path.display(),
            if contradicting.len() == 1 {
                "the flag"
            } else {
                "the flags"
            },
        )));
    }
    let settings = crate::environments::load(path).map_err(Failure::input)?;
    let chosen: Vec<&EnvironmentSettings> = match &args.environment {
        // R3: an optional environment name processes only that environment.
        Some(name) => vec![settings.environment(name).ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "--environment {name}: {} names no such environment (it has {})",
                path.display(),
                settings
                    .environments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?],
        None => settings.environments.iter().collect(),
    };
    let plans = settings
        .environments
        .iter()
        .map(|e| EnvironmentPlan {
            name: e.name.clone(),
            source: Source::File(Box::new(e.clone())),
            health: e.health.clone(),
            registry: e.registry.clone().map(Arc::new),
            network_only: !chosen.iter().any(|c| c.name == e.name),
        })
        .collect();
    Ok((plans, settings.rhidp))
}

/// One environment to reconcile.
#[derive(Debug)]
struct EnvironmentPlan {
    name: String,
    source: Source,
    health: Option<HealthProvider>,
    registry: Option<Arc<OrgRegistry>>,
    /// Not reconciled (another environment was chosen with --environment):
    /// read only for the inheritance network (R5 step 1).
    network_only: bool,
}

#[derive(Debug)]
enum Source {
    /// The connection flags (`--ocm-url`, `--client-id`, …).
    Flags,
    File(Box<EnvironmentSettings>),
}

impl EnvironmentPlan {
    fn client(&self, args: &OcmArgs, metrics: Arc<Metrics>) -> Result<OcmClient, Failure> {
        let Source::File(settings) = &self.source else {
            return client(args, Some(metrics));
        };
        let opts = settings
            .connection(&|k| std::env::var(k).ok())
            .map_err(|e| Failure::input(anyhow::anyhow!(e)))?;
        // Only what the file names: no `ocm login` configuration, no OCM_*
        // variables of the single-environment mode.
        let credentials = Credentials::resolve(&opts, &|_| None, None)
            .with_context(|| format!("environment {}: OCM credentials", self.name))
            .map_err(Failure::input)?;
        let mut config = ClientConfig::new(credentials);
        // Each environment is its own OCM, with its own budget.
        config.max_concurrency = args.in_flight();
        config.rate = args.rate();
        config.observer = Some(metrics);
        OcmClient::new(config).map_err(Failure::input)
    }
}

fn run_capabilities(args: &RunArgs, selection: &Selection<'_>) -> Result<(), Failure> {
    let settings = Runtime::from_args(args)?;
    let (plans, rhidp_section) = environments(args)?;
    // The rhidp part is checked, and its secrets read, before any connection.
    let mut rhidp = match &selection.rhidp {
        Some(r) => {
            let file = args.config.as_deref().zip(rhidp_section.as_ref());
            let interval = Duration::try_from(r.interval)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Failure::input(anyhow::anyhow!(
                        "--rhidp-interval must be longer than zero (got {:#})",
                        r.interval
                    ))
                })?;
            Some(RhidpParts {
                setup: r.options.setup(file, args.dry_run)?,
                key: crate::rhidp::run::sealing_key(r.options.secret_key_file.as_deref())?,
                sso: crate::rhidp::run::sso_client()?,
                interval,
            })
        }
        None => None,
    };
    if let Some(parts) = &rhidp {
        parts.setup.log_realms();
    }
    let tls = match (&args.metrics_tls_cert, &args.metrics_tls_key) {
        (Some(cert), Some(key)) => {
            Some(server::Tls::from_pem_files(cert, key).map_err(Failure::input)?)
        }
        _ => None,
    };
    let bearer_token = args
        .metrics_bearer_token_file
        .as_deref()
        .map(read_token_file)
        .transpose()?
        .map(Arc::<str>::from);
    // One exposition for every environment; each writes through its own view.
    let metrics = Metrics::new(&plans[0].name);
    let telemetry = rhidp.as_ref().map(|_| RhidpTelemetry::new());
    if let (Some(parts), Some(t)) = (rhidp.as_mut(), &telemetry) {
        parts.sso = t.observe(parts.sso.clone());
        let served: Vec<&str> = plans
            .iter()
            .filter(|p| !p.network_only)
            .map(|p| p.name.as_str())
            .collect();
        t.record_tokens(&served, &parts.setup.realms, &parts.setup.token_sources);
    }
    let mut clients = Vec::with_capacity(plans.len());
    let mut network_only = Vec::new();
    for plan in plans {
        let view = metrics.for_environment(&plan.name);
        if plan.network_only {
            // Best effort: a host may hold only the chosen environment's
            // secrets; the network then lacks that environment.
            match plan.client(&args.ocm, view.clone()) {
                Ok(client) => network_only.push((plan, view, client)),
                Err(e) => {
                    tracing::warn!(env = %plan.name, error = %format!("{:#}", e.error), "not reading this environment for the inheritance network");
                }
            }
            continue;
        }
        let client = plan.client(&args.ocm, view.clone())?;
        clients.push((plan, view, client));
    }
    let ocm_url = if clients.len() == 1 {
        clients[0].2.api_url().to_owned()
    } else {
        clients
            .iter()
            .map(|(p, _, c)| format!("{}={}", p.name, c.api_url()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut state_url = match &args.state {
            Some(url) => url.clone(),
            None => srecap_store::default_url()
                .map_err(Failure::input)?
                .to_string(),
        };
        // A dry run writes nothing to disk, not even a new, empty SQLite
        // file: without one, it reads an empty history from memory.
        if args.dry_run
            && let Ok(srecap_store::StoreUrl::Sqlite(path)) = srecap_store::StoreUrl::parse(&state_url)
            && !path.exists()
        {
            tracing::info!(path = %path.display(), "dry run: the state store does not exist and is not created; reading no history");
            "memory:".clone_into(&mut state_url);
        }
        let store = Store::open(&state_url)
            .await
            .with_context(|| format!("opening the state store {}", redact_url(&state_url)))
            .map_err(Failure::input)?;
        // A store without history is either a first start or the wrong store
        // (a typo in --state, a lost volume): either way, soak days start from
        // zero, and the operator should know before upgrades wait for it.
        if selection.aus && store.export().await.is_ok_and(|h| h.is_empty()) {
            tracing::warn!(
                store = %store.url(),
                "the state store holds no soak history yet: soak days start from zero (restore a backup with `srecap state import`, or check --state)"
            );
        }
        if !args.dry_run {
            // A second runner on one SQLite file would count soak time twice:
            // refuse before the first pass.
            store
                .lock_runner()
                .with_context(|| format!("claiming the state store {}", store.url()))?;
        }
        let rhidp_environments = rhidp.as_ref().map(|parts| {
            let reconcilers = clients
                .iter()
                .map(|(plan, _, client)| parts.reconciler(plan, client, &store, args, telemetry.clone()))
                .collect();
            let sharing = (!args.dry_run).then(|| Sharing {
                store: store.clone(),
                replica_id: settings.replica_id.clone(),
                lease_ttl: parts.interval.saturating_mul(2),
            });
            RhidpEnvironments::new(reconcilers, sharing)
        });
        let mut reconcilers = Vec::with_capacity(clients.len());
        for (plan, view, client) in clients {
            let config = Config {
                environment: plan.name.clone(),
                include: args.orgs.clone(),
                exclude: args.exclude_orgs.clone(),
                dry_run: args.dry_run,
                concurrency: args.ocm.in_flight(),
                // The budget decides how many run at once (`admission`);
                // this only bounds memory and store connections.
                max_orgs_in_flight: args.ocm.in_flight().min(64),
                health: plan.health,
                org_deadline: settings.org_deadline,
                ignore_sts: args.ignore_sts,
                // A dry run writes nothing, not even a lease.
                replica: (!args.dry_run).then(|| Replica {
                    id: settings.replica_id.clone(),
                    lease_ttl: settings.lease_ttl,
                }),
                registry: plan.registry,
                ..Config::default()
            };
            view.set_pass_interval(settings.interval);
            let ocm = Arc::new(HttpOcm::new(client, args.ocm.in_flight()));
            reconcilers.push(Reconciler::new(ocm, store.clone(), config, view));
        }
        let network_only = network_only
            .into_iter()
            .map(|(plan, _, client)| {
                let ocm: Arc<dyn srecap_controller::Ocm> =
                    Arc::new(HttpOcm::new(client, args.ocm.in_flight()));
                (plan.name, ocm)
            })
            .collect();
        let environments = if selection.aus {
            Some(
                Environments::new(reconcilers)
                    .and_then(|e| e.with_network_only(network_only))
                    .map_err(Failure::input)?,
            )
        } else {
            None
        };
        let banner = Banner {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ocm_url,
            store: store.url().to_string(),
            organizations: scope(&args.orgs, &args.exclude_orgs),
            ocm_budget: args.ocm.budget(),
        };
        let mut loops: Vec<(&'static str, Duration)> = Vec::new();
        if selection.aus {
            loops.push(("aus", settings.interval));
        }
        if let Some(parts) = &rhidp {
            loops.push(("rhidp", parts.interval));
        }
        let readiness = Arc::new(Readiness::for_loops(Some(store.clone()), &loops));
        let mut exposition = Exposition::default();
        if selection.aus {
            exposition = exposition.with(metrics.clone());
        }
        if let Some(t) = &telemetry {
            exposition = exposition.with(t.clone());
        }

        let server = match args.metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr} for metrics"))?;
                tracing::info!(
                    addr = %listener.local_addr().context("bound address")?,
                    tls = tls.is_some(),
                    bearer_token = bearer_token.is_some(),
                    "serving /metrics, /healthz, /readyz"
                );
                let health = Health {
                    metrics: exposition,
                    readiness: readiness.clone(),
                    bearer_token,
                };
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let task = tokio::spawn(server::serve(listener, health, tls, async {
                    let _ = stopped.await;
                }));
                Some((stop, task))
            }
            None => None,
        };

        let result = if args.once {
            let now = args.now.unwrap_or_else(Timestamp::now);
            let shutdown = shutdown_signal();
            tokio::pin!(shutdown);
            let passes = async {
                let aus = match &environments {
                    Some(e) => Some(e.pass(now).await),
                    None => None,
                };
                let rhidp = match &rhidp_environments {
                    Some(r) => Some(rhidp_once(r, now).await),
                    None => None,
                };
                (aus, rhidp)
            };
            let outcome = tokio::select! {
                r = passes => Ok(r),
                () = &mut shutdown => Err(Failure::from(anyhow::anyhow!("interrupted"))),
            };
            if let Some(e) = &environments {
                e.release_leases().await;
            }
            if let Some(r) = &rhidp_environments {
                srecap_controller::runtime::Reconcile::release(r).await;
            }
            outcome.and_then(|(aus, rhidp)| {
                let aus = aus.map(|passes| aus_once(passes, now, args, &readiness));
                let rhidp = rhidp.map(|(reports, failed)| {
                    if failed.is_none() {
                        readiness.pass_finished_by("rhidp");
                    }
                    print_rhidp(&reports, args).and(failed.map_or(Ok(()), Err))
                });
                // Every capability printed its part; the first failure is the
                // command's.
                aus.unwrap_or(Ok(())).and(rhidp.unwrap_or(Ok(())))
            })
        } else {
            let options = |interval: Duration| RunOptions {
                interval,
                jitter: 0.1,
                replica_id: settings.replica_id.clone(),
                drain: settings.drain,
                banner: banner.clone(),
            };
            let mut all = Vec::new();
            if let Some(e) = &environments {
                all.push(Loop {
                    reconcile: e,
                    options: options(settings.interval),
                });
            }
            if let (Some(r), Some(parts)) = (&rhidp_environments, &rhidp) {
                all.push(Loop {
                    reconcile: r,
                    options: options(parts.interval),
                });
            }
            runtime::run_all(&all, &readiness, shutdown_signal()).await;
            Ok(())
        };
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let _ = task.await;
        }
        result
    })
}

/// What the Red Hat `IdP` capability needs, checked before any connection.
struct RhidpParts {
    setup: crate::rhidp::run::Setup,
    key: srecap_store::SealingKey,
    sso: srecap_sso::SsoClient,
    interval: Duration,
}

impl RhidpParts {
    /// The reconciler of one environment: its OCM client, its organizations
    /// (the registry's that do not disable rhidp, W10; then `--org` and
    /// `--exclude-org`), the shared store and realms.
    fn reconciler(
        &self,
        plan: &EnvironmentPlan,
        client: &OcmClient,
        store: &Store,
        args: &RunArgs,
        telemetry: Option<Arc<RhidpTelemetry>>,
    ) -> RhidpReconciler {
        let registry = plan.registry.clone();
        let include = args.orgs.clone();
        let exclude = args.exclude_orgs.clone();
        let allowed = move |org: &str| {
            let registered = registry.as_ref().is_none_or(|r| {
                r.get(org)
                    .is_some_and(|o| !crate::environments::rhidp_disabled(o))
            });
            registered
                && (include.is_empty() || include.iter().any(|o| o == org))
                && !exclude.iter().any(|o| o == org)
        };
        RhidpReconciler {
            ocm: Arc::new(client.clone()),
            sso: self.sso.clone(),
            secrets: store.secrets(self.key.clone()),
            planner: Planner::new(self.setup.settings.clone()),
            environment: plan.name.clone(),
            namespace: self.setup.namespace.clone(),
            realms: self.setup.realms.clone(),
            allowed: Arc::new(allowed),
            dry_run: args.dry_run,
            telemetry,
        }
    }
}

/// One rhidp pass of every environment, in turn (a `--once` run); an
/// environment that could not run fails the command after the others ran.
async fn rhidp_once(
    environments: &RhidpEnvironments,
    now: Timestamp,
) -> (Vec<RhidpReport>, Option<Failure>) {
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for run in environments.pass(now).await {
        match run.result {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "warning: rhidp in environment {} skipped: another replica holds its lease",
                    run.environment
                );
            }
            Err(e) => failed.push(format!("{}: {e}", run.environment)),
        }
    }
    let failure = (!failed.is_empty()).then(|| {
        Failure::from(anyhow::anyhow!(
            "the rhidp pass could not run: {}",
            failed.join("; ")
        ))
    });
    (reports, failure)
}

/// Print the rhidp reports of a `--once` run: a table per environment, or one
/// JSON/YAML document holding the list; a failed report fails the command.
fn print_rhidp(reports: &[RhidpReport], args: &RunArgs) -> Result<(), Failure> {
    crate::output::write(PlanOutput::chosen(args.output), &reports, |reports| {
        reports
            .iter()
            .map(crate::rhidp::run::render)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    reports
        .iter()
        .map(crate::rhidp::run::outcome)
        .find(Result::is_err)
        .unwrap_or(Ok(()))
}

/// Print AUS's `--once` pass and turn what went wrong into the command's
/// failure.
fn aus_once(
    passes: Vec<EnvironmentPass>,
    now: Timestamp,
    args: &RunArgs,
    readiness: &Readiness,
) -> Result<(), Failure> {
    let (report, failed) = once(passes, now)?;
    readiness.pass_finished_by("aus");
    print_report(&report, args)?;
    failed.map_or(Ok(()), Err)?;
    // A pass that did not do what it planned is a failure of the
    // command, whatever it printed (issue 16): scripts and CI jobs
    // read the exit code.
    let line = runtime::PassLine::of(&report);
    if line.failed > 0 || line.refused > 0 {
        return Err(anyhow::anyhow!(
            "the pass did not complete: {} organization(s) failed, {} write(s) refused by OCM (see the warnings above)",
            line.failed,
            line.refused
        )
        .into());
    }
    Ok(())
}

/// The report of a `--once` pass over every environment, and the failure to
/// exit with after printing it when some environment could not be
/// discovered. With one environment (the flags), its failure is the command's
/// failure, as it always was.
fn once(
    passes: Vec<EnvironmentPass>,
    now: Timestamp,
) -> Result<(PassReport, Option<Failure>), Failure> {
    let single = passes.len() == 1;
    let mut merged = PassReport {
        now,
        orgs: Vec::new(),
        leased_elsewhere: Vec::new(),
        unregistered: Vec::new(),
    };
    let mut failed = Vec::new();
    for pass in passes {
        match pass.result {
            Ok(report) => {
                merged.orgs.extend(report.orgs);
                merged.leased_elsewhere.extend(report.leased_elsewhere);
                merged.unregistered.extend(report.unregistered);
            }
            Err(e) if single => {
                return Err(anyhow::Error::new(e)
                    .context("discovering the OCM environment")
                    .into());
            }
            Err(e) => failed.push(format!("{}: {e}", pass.environment)),
        }
    }
    let failure = (!failed.is_empty()).then(|| {
        Failure::from(anyhow::anyhow!(
            "environments skipped this pass (they could not be discovered): {}",
            failed.join("; ")
        ))
    });
    Ok((merged, failure))
}

/// The organizations in scope, for the start line.
fn scope(include: &[String], exclude: &[String]) -> String {
    let mut text = if include.is_empty() {
        "all".to_owned()
    } else {
        include.join(",")
    };
    if !exclude.is_empty() {
        text.push_str(" except ");
        text.push_str(&exclude.join(","));
    }
    text
}

fn print_report(report: &srecap_controller::PassReport, args: &RunArgs) -> Result<(), Failure> {
    let plan = report.plan();
    crate::output::write(PlanOutput::chosen(args.output), &plan, |plan| {
        format!("{}{}", render_table(plan), pass_summary(report))
    })?;
    let mut err = std::io::stderr().lock();
    for org in &report.unregistered {
        let _ = writeln!(
            err,
            "warning: organization {org} left alone: it has AUS labels but is not in its environment's registry"
        );
    }
    for org in &report.leased_elsewhere {
        let _ = writeln!(
            err,
            "warning: organization {org} skipped: another replica holds its lease"
        );
    }
    for o in &report.orgs {
        if let Err(e) = &o.result {
            let _ = writeln!(
                err,
                "warning: organization {} failed this pass: {e}",
                o.org_id
            );
        }
        for f in o.failed_actions() {
            let _ = writeln!(err, "warning: organization {}: {f}", o.org_id);
        }
    }
    Ok(())
}

/// What a `--once` pass did, after its plan: what OCM accepted and refused,
/// why clusters were left alone, and the service logs sent.
fn pass_summary(report: &PassReport) -> String {
    let line = runtime::PassLine::of(report);
    let mut text = format!(
        "\nPass at {}: {} organization(s) done, {} failed, {} held by another replica\n",
        report.now, line.done, line.failed, line.leased_elsewhere
    );
    let _ = writeln!(
        text,
        "  created: {} upgrade polic{}, {} channel switch(es); refused by OCM: {}; service logs sent: {}",
        line.policies_created,
        if line.policies_created == 1 {
            "y"
        } else {
            "ies"
        },
        line.channel_switches,
        line.refused,
        line.service_logs_sent
    );
    let _ = writeln!(
        text,
        "  clusters left alone, by reason: {}",
        line.skipped_text()
    );
    for org in &report.orgs {
        for refusal in org.execution.refusal_lines() {
            let _ = writeln!(text, "  refused in {}: {refusal}", org.org_id);
        }
    }
    text
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
