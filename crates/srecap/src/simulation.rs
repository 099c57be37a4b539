//! `srecap sim run`, `srecap demo` and `srecap aus forecast`: the time-travel
//! simulation (`srecap-simulation`) on the command line.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as IoWrite};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use srecap_aus::planner::Faults;
use srecap_controller::HttpOcm;
use srecap_controller::snapshot::Snapshot;
use srecap_fleet::Fleet;
use srecap_simulation::summary::{cluster_paths, sector_rollouts};
use srecap_simulation::{Disturbances, Options, Simulation, Transport, chart, forecast, simulate};

use crate::Failure;
use crate::cli::{PlanOutput, parse_duration};

/// How the simulation runs; shared by `sim run` and `aus forecast`.
#[derive(Debug, Clone, Args)]
pub struct SimulationArgs {
    /// Simulated days (one pass per tick).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// Simulated time between reconciler passes, e.g. `1h`, `30m`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub tick: SignedDuration,
    /// How long a simulated upgrade runs.
    #[arg(long, default_value = "90m", value_parser = parse_duration)]
    pub upgrade_duration: SignedDuration,
    /// Seed of the random disturbances below (same seed, same timeline).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Upgrade durations vary uniformly by this fraction of --upgrade-duration (0 to below 1).
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub duration_spread: f64,
    /// Probability that an upgrade fails (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "PROBABILITY")]
    pub failure_rate: f64,
    /// Expected times per cluster and day a cluster turns unhealthy for 1-12 hours.
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub unhealthy_rate: f64,
    /// Soak-history store of the simulated reconciler: `memory:` or `sqlite:PATH`.
    #[arg(long, value_name = "URL", default_value = "memory:")]
    pub state: String,
    /// OCM requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How the simulated reconciler reads the simulator: `in-process` (typed
    /// calls, fast) or `http` (the production client over 127.0.0.1).
    #[arg(long, value_enum, default_value_t = TransportArg::InProcess)]
    pub transport: TransportArg,
    /// Break the planner on purpose (testing the invariant auditor only).
    #[arg(long, value_enum, hide = true)]
    pub planner_fault: Vec<PlannerFault>,
}

/// `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    InProcess,
    Http,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Transport {
        match t {
            TransportArg::InProcess => Transport::InProcess,
            TransportArg::Http => Transport::Http,
        }
    }
}

// The names are the planner's `Faults` fields, as the flag's values.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlannerFault {
    IgnoreBlockedVersions,
    IgnoreSoakDays,
    IgnoreSchedule,
    IgnoreMutexes,
    IgnoreSectorDependencies,
}

impl SimulationArgs {
    fn options(&self) -> Options {
        let mut faults = Faults::default();
        for f in &self.planner_fault {
            match f {
                PlannerFault::IgnoreBlockedVersions => faults.ignore_blocked_versions = true,
                PlannerFault::IgnoreSoakDays => faults.ignore_soak_days = true,
                PlannerFault::IgnoreSchedule => faults.ignore_schedule = true,
                PlannerFault::IgnoreMutexes => faults.ignore_mutexes = true,
                PlannerFault::IgnoreSectorDependencies => faults.ignore_sector_dependencies = true,
            }
        }
        Options {
            horizon: SignedDuration::from_hours(24 * i64::from(self.days)),
            tick: self.tick,
            upgrade_duration: self.upgrade_duration,
            seed: self.seed,
            disturbances: Disturbances {
                duration_spread: self.duration_spread,
                failure_rate: self.failure_rate,
                unhealthy_rate: self.unhealthy_rate,
            },
            state_url: self.state.clone(),
            faults,
            concurrency: self.concurrency,
            transport: self.transport.into(),
        }
    }
}

#[derive(Debug, Args)]
pub struct SimRunArgs {
    /// Scenario file (YAML or JSON). Default: the embedded example fleet
    /// (`examples/fleet.yaml`).
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub simulation: SimulationArgs,
    /// Write `timeline.json` and `report.html` into this directory.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Output format: table (default: the summary tables), wide, json or yaml
    /// (the timeline and the auditor's findings).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<crate::output::Format>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for `timeline.json` and `report.html`.
    #[arg(long, value_name = "DIR", default_value = "srecap-demo")]
    pub report: PathBuf,
    /// How the simulated reconciler reads the simulator (see `sim run`).
    #[arg(long, value_enum, default_value_t = TransportArg::InProcess)]
    pub transport: TransportArg,
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// Scenario file (YAML or JSON). Default: the embedded example fleet
    /// (`examples/fleet.yaml`).
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Forecast a live OCM environment instead of a scenario: discover its
    /// opted-in clusters and their policies, seed a private simulator with them
    /// (the releases OCM offers now; none in the future) and simulate that.
    #[arg(long, value_name = "URL", conflicts_with = "scenario")]
    pub ocm_url: Option<String>,
    /// SSO token endpoint (with --ocm-url).
    #[arg(long, value_name = "URL", requires = "ocm_url")]
    pub token_url: Option<String>,
    /// Service-account client id (with --ocm-url); env `OCM_CLIENT_ID`.
    #[arg(long, value_name = "ID", requires = "ocm_url")]
    pub client_id: Option<String>,
    /// Service-account client secret (with --ocm-url); env `OCM_CLIENT_SECRET`.
    #[arg(
        long,
        value_name = "SECRET",
        requires = "ocm_url",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// File holding the client secret (with --ocm-url); wins over --client-secret.
    #[arg(long, value_name = "FILE", requires = "ocm_url")]
    pub client_secret_file: Option<PathBuf>,
    /// Soak history of the live environment to start from (with --ocm-url),
    /// e.g. the `aus run` store `sqlite:PATH`. Default: none.
    #[arg(long, value_name = "URL", requires = "ocm_url")]
    pub history: Option<String>,
    /// OCM environment name of the live environment (with --ocm-url): the
    /// state keys of `--history` are `<environment>/<org id>`.
    #[arg(long, default_value = "production", requires = "ocm_url")]
    pub environment: String,
    /// Only this cluster (name).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub simulation: SimulationArgs,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<PlanOutput>,
}

/// `srecap sim run`.
pub fn run(args: &SimRunArgs) -> Result<(), Failure> {
    let fleet = crate::source::load(args.scenario.as_deref(), None)?;
    // A report that cannot be written is found out before the simulation.
    if let Some(dir) = &args.report {
        chart::check_writable(dir).map_err(Failure::input)?;
    }
    let format = crate::output::Format::chosen(args.output);
    let outcome = execute(fleet, &args.simulation.options())?;
    crate::output::write(
        format,
        &SimulationDoc {
            timeline: &outcome.timeline,
            violations: &outcome.violations,
        },
        |_| summary(&outcome),
    )?;
    if let Some(dir) = &args.report {
        chart::write_report(dir, &outcome.timeline, &outcome.violations)
            .context("writing the report")?;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "report: {}", dir.join("report.html").display());
    }
    verdict(&outcome)
}

/// What `sim run -o json|yaml` prints: the timeline and the auditor's findings,
/// as `timeline.json` holds them.
#[derive(serde::Serialize)]
struct SimulationDoc<'a> {
    #[serde(flatten)]
    timeline: &'a srecap_simulation::timeline::Timeline,
    violations: &'a [srecap_simulation::auditor::Violation],
}

/// `srecap demo`: 60 simulated days of the embedded example fleet.
pub fn demo(args: &DemoArgs) -> Result<(), Failure> {
    let fleet = crate::source::load(None, None)?;
    chart::check_writable(&args.report).map_err(Failure::input)?;
    let options = Options {
        horizon: SignedDuration::from_hours(24 * 60),
        transport: args.transport.into(),
        ..Options::default()
    };
    let outcome = execute(fleet, &options)?;
    print_summary(&outcome)?;
    chart::write_report(&args.report, &outcome.timeline, &outcome.violations)
        .context("writing the report")?;
    let shown = absolute(&args.report);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\nThe rollout of 60 simulated days is in {}:\n  {}  (open it in a browser)\n  {}",
        shown.display(),
        shown.join("report.html").display(),
        shown.join("timeline.json").display()
    )
    .context("writing the summary")?;
    verdict(&outcome)
}

/// `srecap aus forecast`.
pub fn forecast(args: &ForecastArgs) -> Result<(), Failure> {
    let fleet = match &args.ocm_url {
        Some(url) => discover(args, url)?,
        None => crate::source::load(args.scenario.as_deref(), None)?,
    };
    if let Some(name) = &args.cluster
        && !fleet.clusters.iter().any(|c| &c.name == name)
    {
        return Err(Failure::input(anyhow::anyhow!(
            "--cluster {name}: no cluster of that name in the scenario"
        )));
    }
    let groups: std::collections::HashMap<String, String> = fleet
        .clusters
        .iter()
        .map(|c| (c.name.clone(), c.channel_group.clone()))
        .collect();
    let outcome = execute(fleet, &args.simulation.options())?;
    let etas = forecast::etas(
        &outcome.timeline,
        &|name| groups.get(name).cloned(),
        args.cluster.as_deref(),
    );
    crate::output::write(PlanOutput::chosen(args.output), &etas, |etas| {
        let mut table = crate::output::table(
            [
                "cluster",
                "org",
                "sector",
                "runs",
                "version",
                "published",
                "reached",
                "via",
            ],
            0,
        );
        for e in etas {
            table.add_row([
                e.cluster.clone(),
                e.organization.clone(),
                e.sector.clone().unwrap_or_default(),
                e.current.to_string(),
                e.version.to_string(),
                day(Some(e.published)),
                e.reached_at.map_or_else(
                    || format!("not within {} days", args.simulation.days),
                    |t| day(Some(t)),
                ),
                e.via.as_ref().map(ToString::to_string).unwrap_or_default(),
            ]);
        }
        // The route a version took matters less than when it arrives.
        crate::output::drop_to_fit(&mut table, &[7, 2, 1, 3, 5], 0);
        crate::output::keep_whole(&mut table, &[0, 3, 4, 5, 6]);
        format!("{table}\n")
    })
}

/// The live environment as a fleet the simulator can serve: clusters, labels,
/// organizations, gates and existing policies as the reconciler discovers them;
/// the upgrades OCM offers now as the release catalog.
fn discover(args: &ForecastArgs, url: &str) -> Result<Fleet, Failure> {
    let ocm = crate::connection::OcmArgs {
        ocm_url: Some(url.to_owned()),
        token_url: args.token_url.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        client_secret_file: args.client_secret_file.clone(),
        token_file: None,
        // A forecast reads live OCM once: the same budget as any command.
        ocm_rate: crate::connection::DEFAULT_OCM_RATE,
        concurrency: u16::try_from(args.simulation.concurrency).ok(),
    };
    let client = crate::connection::client(&ocm, None)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let now = Timestamp::now();
        let ocm = HttpOcm::new(client, ocm.in_flight());
        let store = match &args.history {
            Some(url) => Some(
                srecap_store::Store::open(url)
                    .await
                    .map_err(Failure::input)?,
            ),
            None => None,
        };
        let snapshot = Snapshot::discover(&ocm, &args.environment, now)
            .await
            .context("discovering the OCM environment")?;
        let mut fleet = snapshot
            .complete(&ocm, store.as_ref(), None, None)
            .await
            .context("reading the clusters' policies, agreements and soak history")?;
        let mut releases: Vec<srecap_fleet::Release> = Vec::new();
        for c in &mut fleet.clusters {
            for v in c.available_upgrades.iter() {
                match releases.iter_mut().find(|r| &r.version == v) {
                    Some(r) if r.channel_groups.contains(&c.channel_group) => {}
                    Some(r) => r.channel_groups.push(c.channel_group.clone()),
                    None => releases.push(srecap_fleet::Release {
                        version: v.clone(),
                        channel_groups: vec![c.channel_group.clone()],
                        published: now,
                    }),
                }
            }
            c.available_upgrades_explicit = false;
        }
        fleet.releases = releases;
        Ok::<Fleet, Failure>(fleet)
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::env::current_dir().map_or_else(|_| p.to_owned(), |d| d.join(p))
}

/// Run the simulation with a progress bar on a terminal (never under `CI`).
fn execute(fleet: Fleet, options: &Options) -> Result<Simulation, Failure> {
    let show = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let bar = if show {
        let bar = indicatif::ProgressBar::new(options.passes());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} simulating {bar:40} {pos}/{len} passes ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(simulate(fleet, options, &mut |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    }));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result.map_err(|e| match e {
        srecap_simulation::SimulationError::Options(_) => Failure::input(e),
        other => Failure::from(anyhow::Error::new(other)),
    })
}

fn verdict(outcome: &Simulation) -> Result<(), Failure> {
    let mut err = std::io::stderr().lock();
    for p in &outcome.problems {
        let _ = writeln!(err, "warning: {p}");
    }
    if outcome.violations.is_empty() {
        return Ok(());
    }
    for v in &outcome.violations {
        let _ = writeln!(err, "violation: {v}");
    }
    Err(anyhow::anyhow!(
        "the invariant auditor found {} violation(s) of AUS's promises",
        outcome.violations.len()
    )
    .into())
}

/// An instant as every table prints it: UTC, to the second, with its `Z`.
fn day(t: Option<Timestamp>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn print_summary(outcome: &Simulation) -> Result<(), Failure> {
    crate::output::print(&summary(outcome))
}

/// The simulation for people: totals, releases per sector, versions per cluster.
fn summary(outcome: &Simulation) -> String {
    let t = &outcome.timeline;
    let mut out = format!(
        "Simulated {} to {}: {} passes, {} upgrade policies, {} completed, {} failed, {} violation(s).\n\n",
        day(Some(t.start)),
        day(Some(t.end)),
        t.passes,
        t.upgrades.len(),
        t.completed().count(),
        t.upgrades.iter().filter(|u| u.failed_at.is_some()).count(),
        outcome.violations.len()
    );
    let mut table = crate::output::table(
        [
            "org",
            "sector",
            "version",
            "published",
            "first cluster",
            "last cluster",
            "reached",
        ],
        0,
    );
    for r in sector_rollouts(t) {
        table.add_row([
            r.organization,
            r.sector.unwrap_or_else(|| "(none)".to_owned()),
            r.version.to_string(),
            day(r.published),
            day(r.first),
            day(r.last),
            format!("{}/{}", r.reached, r.clusters),
        ]);
    }
    crate::output::drop_to_fit(&mut table, &[3, 0], 0);
    crate::output::keep_whole(&mut table, &[2, 3, 4, 5]);
    let _ = writeln!(out, "Releases per sector\n{table}\n");
    let mut table = crate::output::table(
        [
            "cluster",
            "org",
            "sector",
            "versions (completed at)",
            "failed",
        ],
        0,
    );
    for p in cluster_paths(t) {
        let path = p
            .versions
            .iter()
            .enumerate()
            .map(|(i, (at, v))| {
                if i == 0 {
                    v.to_string()
                } else {
                    format!("{v} ({})", day(Some(*at)))
                }
            })
            .collect::<Vec<_>>()
            .join(" → ");
        table.add_row([
            p.cluster,
            p.organization,
            p.sector.unwrap_or_default(),
            path,
            p.failed.to_string(),
        ]);
    }
    crate::output::drop_to_fit(&mut table, &[1, 2], 0);
    crate::output::keep_whole(&mut table, &[0]);
    let _ = writeln!(out, "Versions per cluster\n{table}");
    out
}
