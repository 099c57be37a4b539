//! `srecap aus explain CLUSTER`: every condition AUS applies to one cluster, with
//! pass/fail and numbers, and the earliest time it could upgrade. Also the fleet
//! sources shared with `srecap aus status`: a scenario file (default: the embedded
//! example fleet, as `aus plan`) or live OCM (`--live`) with the soak history the
//! reconciler keeps.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use comfy_table::Table;
use jiff::Timestamp;
use serde::Serialize;
use srecap_aus::explain::{Candidate, ClusterExplanation, Explainer, Outcome, Verdict};
use srecap_controller::HttpOcm;
use srecap_controller::health::HealthProvider;
use srecap_controller::snapshot::Snapshot;
use srecap_fleet::Fleet;
use srecap_store::Store;

use crate::Failure;
use crate::cli::OcmArgs;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The cluster: its name, id or external id.
    #[arg(value_name = "CLUSTER")]
    pub cluster: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<ReportOutput>,
}

/// Where the fleet comes from, like kubectl's context: OCM when the user points
/// at it (connection flags, `OCM_URL`, an `ocm login`), a scenario file with
/// `--scenario`, the embedded example with `--example` or when nothing else is
/// configured. Contradictory choices are refused (exit 2), and every table says
/// its source in its first line.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Scenario file (YAML or JSON; docs/scenario.md).
    #[arg(long, short = 's', value_name = "FILE", conflicts_with_all = ["live", "example"])]
    pub scenario: Option<PathBuf>,
    /// The embedded example fleet (examples/fleet.yaml), even where OCM is
    /// configured. Without any source option and without OCM configured, it is
    /// the default.
    #[arg(long, conflicts_with = "live")]
    pub example: bool,
    /// Evaluate at this instant (RFC 3339) instead of the scenario's `now` (or,
    /// on OCM, the current time).
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,
    /// Read the fleet from OCM and the soak history from the reconciler's state
    /// store (--state). Implied by any connection flag, `OCM_URL` or an `ocm
    /// login`. Nothing is written anywhere.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub ocm: OcmArgs,
    /// On OCM: the reconciler's state store (`sqlite:PATH` or `memory:`).
    /// Default as `aus run`: `sqlite:$XDG_DATA_HOME/srecap/state.db`.
    #[arg(long, value_name = "URL", env = "SRECAP_STATE", hide_env_values = true)]
    pub state: Option<String>,
    /// On OCM: environment name, the first part of the state keys.
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// On OCM: the Telemeter-like Prometheus `aus run` uses for cluster health
    /// (unhealthy clusters add no soak time). Default: every cluster is healthy.
    #[arg(long, value_name = "URL")]
    pub health_prometheus: Option<String>,
    /// Health errors are informational only, as `aus run --health-not-enforced`.
    #[arg(long, requires = "health_prometheus")]
    pub health_not_enforced: bool,
}

/// The source a command reads, once the options are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    Ocm,
    Scenario(PathBuf),
    Example,
}

/// A fleet and the line that says where it came from.
#[derive(Debug)]
pub struct Sourced {
    pub fleet: Fleet,
    /// `OCM https://api.openshift.com (environment production)`,
    /// `scenario fleet.yaml`, `embedded example fleet (examples/fleet.yaml)`.
    pub source: String,
}

/// The output format of `status` and `explain`: the shared one.
pub use crate::output::Format as ReportOutput;

pub fn run(args: &ExplainArgs) -> Result<(), Failure> {
    let source = args.source.source()?;
    let Sourced { fleet, source } = args.source.fleet(&source, &|fleet: &Fleet, now| {
        let explainer = Explainer::new(fleet, now);
        let c = explainer.find(&args.cluster).map_err(Failure::input)?;
        Ok(Some(c.organization.clone()))
    })?;
    let explainer = Explainer::new(&fleet, fleet.now);
    let cluster = explainer.find(&args.cluster).map_err(Failure::input)?;
    let explanation = explainer.explain(cluster);
    write_report(
        ReportOutput::chosen(args.output),
        &source,
        &explanation,
        render_explanation,
    )
}

/// Write `value` as JSON, YAML or its table; a table opens with its source.
pub fn write_report<T: Serialize>(
    output: ReportOutput,
    source: &str,
    value: &T,
    table: fn(&T) -> String,
) -> Result<(), Failure> {
    crate::output::write(output, value, |v| format!("Source: {source}\n{}", table(v)))
}

/// Picks the organization whose per-cluster data a live read needs (`None`: all),
/// from the fleet-wide discovery; an error stops before any per-cluster call.
pub type Scope<'a> = dyn Fn(&Fleet, Timestamp) -> Result<Option<String>, Failure> + 'a;

impl SourceArgs {
    /// Which source the options point at (see [`SourceArgs`]); exit 2 when
    /// they point at two.
    pub fn source(&self) -> Result<DataSource, Failure> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        self.source_in(&env, std::env::var_os("HOME").map(PathBuf::from).as_deref())
    }

    fn source_in(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&std::path::Path>,
    ) -> Result<DataSource, Failure> {
        // Options given on the command line (a value clap took from the
        // environment is configuration, not a choice made for this command).
        let typed =
            |value: Option<&str>, var: &str| value.is_some_and(|v| env(var).as_deref() != Some(v));
        let ocm = &self.ocm;
        let secret_file = ocm
            .client_secret_file
            .as_ref()
            .map(|p| p.display().to_string());
        let pointed_at_ocm: Vec<&str> = [
            ("--live", self.live),
            ("--ocm-url", typed(ocm.ocm_url.as_deref(), "OCM_URL")),
            (
                "--client-id",
                typed(ocm.client_id.as_deref(), "OCM_CLIENT_ID"),
            ),
            (
                "--client-secret",
                typed(ocm.client_secret.as_deref(), "OCM_CLIENT_SECRET"),
            ),
            (
                "--client-secret-file",
                typed(secret_file.as_deref(), "OCM_CLIENT_SECRET_FILE"),
            ),
            ("--token-url", ocm.token_url.is_some()),
            ("--token-file", ocm.token_file.is_some()),
            ("--state", typed(self.state.as_deref(), "SRECAP_STATE")),
            ("--health-prometheus", self.health_prometheus.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        let file = match (&self.scenario, self.example) {
            (Some(path), _) => Some(("--scenario", DataSource::Scenario(path.clone()))),
            (None, true) => Some(("--example", DataSource::Example)),
            (None, false) => None,
        };
        match file {
            Some((flag, _)) if !pointed_at_ocm.is_empty() => Err(Failure::input(anyhow::anyhow!(
                "{flag} reads a fleet from a file, {} read OCM: give one or the other",
                pointed_at_ocm.join(", ")
            ))),
            Some((_, source)) => Ok(source),
            None if !pointed_at_ocm.is_empty()
                || srecap_ocm::auth::connection_configured(env, home) =>
            {
                Ok(DataSource::Ocm)
            }
            None => Ok(DataSource::Example),
        }
    }

    /// The fleet to explain, from the source the options point at.
    pub fn fleet(&self, source: &DataSource, scope: &Scope<'_>) -> Result<Sourced, Failure> {
        match source {
            DataSource::Scenario(path) => Ok(Sourced {
                fleet: crate::plan_view::load(Some(path), self.now)?,
                source: format!("scenario {}", path.display()),
            }),
            DataSource::Example => Ok(Sourced {
                fleet: crate::plan_view::load(None, self.now)?,
                source: "embedded example fleet (examples/fleet.yaml)".to_owned(),
            }),
            DataSource::Ocm => {
                let client = crate::run::client(&self.ocm, None)?;
                let runtime =
                    tokio::runtime::Runtime::new().context("starting the async runtime")?;
                let fleet = runtime.block_on(self.live_fleet(&client, scope))?;
                Ok(Sourced {
                    fleet,
                    source: format!(
                        "OCM {} (environment {})",
                        crate::run::redact_url(client.api_url()),
                        self.environment
                    ),
                })
            }
        }
    }

    /// The logged-in account's organization (`GET current_account`), for commands
    /// whose `--org` defaults to it.
    pub fn logged_in_org(&self) -> Result<String, Failure> {
        let client = crate::run::client(&self.ocm, None)?;
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(crate::configuration::org_id(&client, None))
    }

    /// Discovery, then for the organization in scope every per-cluster fact
    /// (an explanation shows every condition) and the stored histories of it
    /// and of the organizations it inherits from: the controller's snapshot.
    async fn live_fleet(
        &self,
        client: &srecap_ocm::OcmClient,
        scope: &Scope<'_>,
    ) -> Result<Fleet, Failure> {
        let now = self.now.unwrap_or_else(Timestamp::now);
        let ocm = HttpOcm::new(client.clone(), self.ocm.in_flight());
        let snapshot = Snapshot::discover(&ocm, &self.environment, now)
            .await
            .context("discovering the AUS clusters in OCM")?;
        for (org, reason) in &snapshot.broken_orgs {
            tracing::warn!(org = %org, %reason, "OCM gave unusable data for this organization");
        }
        let only = scope(&snapshot.fleet, now)?;
        let url = match &self.state {
            Some(url) => url.clone(),
            None => srecap_store::default_url()
                .map_err(Failure::input)?
                .to_string(),
        };
        let store = Store::open(&url).await.map_err(Failure::input)?;
        let health = self.health_prometheus.as_ref().map(|url| HealthProvider {
            url: url.clone(),
            enforced: !self.health_not_enforced,
        });
        let mut fleet = snapshot
            .complete(&ocm, Some(&store), only.as_deref(), health.as_ref())
            .await
            .context(
                "reading the clusters' policies, agreements, channels, health and soak history",
            )?;
        fleet.now = now;
        Ok(fleet)
    }
}

/// `explain` for people: the verdict, every condition, the candidates, the estimate.
pub fn render_explanation(x: &ClusterExplanation) -> String {
    let c = &x.cluster;
    let mut s = format!(
        "Cluster {} (id {}, external id {})\n",
        c.name, c.id, c.external_id
    );
    let _ = writeln!(
        s,
        "  organization {} ({}), {} {}{}, state {}, channel {}",
        c.organization,
        c.organization_name,
        c.product,
        c.version,
        if c.hypershift { " (HCP)" } else { "" },
        c.state,
        c.channel
    );
    for p in &c.node_pools {
        let _ = writeln!(s, "  node pool {} at {}", p.id, p.version);
    }
    let _ = writeln!(s, "\nAt {}: {}", x.now, verdict_line(&x.verdict));
    s.push_str("\nConditions, in the order AUS applies them:\n");
    let width = x
        .checks
        .iter()
        .map(|c| c.condition.len())
        .max()
        .unwrap_or(0);
    for check in &x.checks {
        let tag = match (check.outcome, check.reason) {
            (Outcome::Fail, Some(r)) => format!(" [{r}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "  {} {:<width$}  {}{tag}",
            check.outcome.symbol(),
            check.condition,
            check.detail
        );
    }
    if !x.candidates.is_empty() {
        s.push_str("\nVersions OCM offers, highest first:\n");
        s.push_str(&crate::output::indent(
            &candidate_table(&x.candidates).to_string(),
        ));
    }
    s.push_str("\nEarliest upgrade under current conditions: ");
    match (&x.estimate.earliest, &x.estimate.version) {
        (Some(at), Some(version)) => {
            let _ = writeln!(s, "{at} to {version}");
        }
        _ => s.push_str("unknown\n"),
    }
    let _ = writeln!(s, "  {}", x.estimate.summary);
    for a in &x.estimate.assumptions {
        let _ = writeln!(s, "  assumes: {a}");
    }
    s
}

fn verdict_line(v: &Verdict) -> String {
    match v {
        Verdict::Action { .. } => format!("AUS acts in this pass: {}", v.summary()),
        Verdict::Skipped { reason, .. } => format!("held back by {reason}"),
        Verdict::Ignored { detail } => format!("not managed by AUS: {detail}"),
    }
}

fn candidate_table(candidates: &[Candidate]) -> Table {
    let mut t = crate::output::table(
        [
            "version",
            "blocked",
            "inherited",
            "sector dependencies",
            "soak days (soaked/needed)",
            "missing gates",
            "first failure",
        ],
        2,
    );
    for c in candidates {
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        let blocked = c.blocked_by.as_ref().map_or_else(
            || "✓".to_owned(),
            |b| format!("✗ {} ({})", b.pattern, b.source),
        );
        let inherited = match &c.inherited {
            None => "-".to_owned(),
            Some(i) if i.passed => "✓".to_owned(),
            Some(i) => format!(
                "✗ {}{}",
                i.lowest_version.as_deref().unwrap_or(""),
                i.workload
                    .as_deref()
                    .map_or_else(String::new, |w| format!(" ({w})"))
            ),
        };
        let deps = if c.sector_dependencies.is_empty() {
            "-".to_owned()
        } else {
            c.sector_dependencies
                .iter()
                .map(|d| {
                    format!(
                        "{} {}: {} {}",
                        mark(d.passed),
                        d.workload,
                        d.sector,
                        d.lowest_version
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let soak = c
            .soak
            .iter()
            .map(|w| {
                let mut line = format!(
                    "{} {}: {:.2}/{}",
                    mark(w.passed),
                    w.workload,
                    w.soaked_days,
                    w.needed_days
                );
                if !w.passed {
                    match w.reached_at {
                        Some(t) => {
                            let _ = write!(line, " ({} soaking, met {t})", w.clusters_soaking);
                        }
                        None => line.push_str(" (none soaking)"),
                    }
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n");
        let gates = if c.missing_gates.is_empty() {
            "-".to_owned()
        } else {
            c.missing_gates.join("\n")
        };
        t.add_row([
            c.version.clone(),
            blocked,
            inherited,
            deps,
            soak,
            gates,
            c.first_failure
                .map_or_else(|| "none".to_owned(), |r| r.to_string()),
        ]);
    }
    t
}
