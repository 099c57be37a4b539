//! Command-line definitions (clap derive): parsing and validation, no I/O.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use jiff::Timestamp;

/// SRE capabilities for OpenShift fleets: the Advanced Upgrade Service (AUS) and an
/// OCM-compatible simulator.
#[derive(Debug, Parser)]
#[command(name = "srecap", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SRECAP_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter (tracing env-filter syntax), e.g. `info,srecap_ocm=debug`.
    #[arg(long, global = true, env = "RUST_LOG", default_value = "warn")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Advanced Upgrade Service: plan and run fleet-wide OpenShift upgrades.
    Aus {
        #[command(subcommand)]
        command: AusCommand,
    },
    /// Red Hat IdP: log in to clusters with Red Hat SSO (an SSO client and an
    /// identity provider per opted-in cluster).
    Rhidp {
        #[command(subcommand)]
        command: crate::rhidp::RhidpCommand,
    },
    /// Run several capabilities in one process (the service): each its own loop
    /// and interval, one state store, one /metrics, /healthz and /readyz.
    Run(Box<ServiceArgs>),
    /// The capabilities this build runs, with their label namespaces and labels.
    Capabilities(crate::capabilities::CapabilitiesArgs),
    /// The OCM simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Alerting rules, dashboards and runbooks generated from srecap's metric and
    /// SLO definitions.
    Observability {
        #[command(subcommand)]
        command: crate::observability::ObservabilityCommand,
    },
    /// The soak-history store: migrate its schema, export and import histories
    /// (backups, moving from SQLite to PostgreSQL, taking over a reference AUS).
    State {
        #[command(subcommand)]
        command: crate::state::StateCommand,
    },
    /// The main job on a fresh machine: simulate 60 days of the embedded example
    /// fleet with the real reconciler and write a rollout report.
    Demo(crate::simulation::DemoArgs),
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum AusCommand {
    /// Compute what AUS would do for a scenario file, and why it leaves clusters alone.
    ///
    /// Exit code 0 when the scenario was read (organizations with validation errors
    /// are data, not failures); 2 when it cannot be read.
    Plan(PlanArgs),
    /// Run the AUS reconciler against OCM: discover opted-in clusters, plan, create
    /// upgrade policies and channel switches, keep the soak history, send feedback
    /// as service logs, and expose metrics.
    Run(Box<RunArgs>),
    /// Manage one cluster's AUS policy (its subscription's labels).
    Policy {
        #[command(subcommand)]
        command: Box<crate::policy::PolicyCommand>,
    },
    /// Manage the organization's AUS settings (its labels).
    Org {
        #[command(subcommand)]
        command: Box<crate::org::OrgCommand>,
    },
    /// Apply a policy-as-code file: an organization's whole AUS configuration.
    Apply(Box<crate::apply::ApplyArgs>),
    /// Print an organization's AUS configuration as a policy-as-code file.
    Export(Box<crate::apply::ExportArgs>),
    /// Every AUS cluster per organization: version, workloads, sector, mutexes,
    /// soak days, schedule and next slot, current upgrade policy, what holds it back.
    Status(Box<crate::status::StatusArgs>),
    /// Why a cluster is or is not upgrading: every condition AUS applies, in order,
    /// with pass/fail and numbers, and the earliest time it could upgrade.
    Explain(Box<crate::explain::ExplainArgs>),
    /// When will each cluster reach each pending version? Simulates forward from
    /// the scenario with the real reconciler.
    Forecast(Box<crate::simulation::ForecastArgs>),
}

pub use crate::connection::OcmArgs;

/// A capability `srecap run` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CapabilityName {
    /// The Advanced Upgrade Service.
    Aus,
    /// The Red Hat IdP.
    Rhidp,
}

/// `srecap run`: the flags of `aus run` (environments, store, leases, metrics
/// endpoint, `--config`), the Red Hat `IdP` capability's own, and which
/// capabilities to run.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// A capability to run (repeatable): aus, rhidp.
    #[arg(long = "capability", value_name = "NAME", value_enum, required = true)]
    pub capabilities: Vec<CapabilityName>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Time between passes of the Red Hat IdP capability (default: --interval).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rhidp_interval: Option<jiff::SignedDuration>,
    #[command(flatten)]
    pub rhidp: crate::rhidp::run::RhidpOptions,
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // independent command-line switches
pub struct RunArgs {
    #[command(flatten)]
    pub ocm: OcmArgs,
    /// Run one pass and exit.
    #[arg(long)]
    pub once: bool,
    /// Time between passes.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub interval: jiff::SignedDuration,
    /// Change nothing in OCM and nothing in the state store; print the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// State store: `sqlite:PATH`, `postgres://USER:PASSWORD@HOST/DB` or `memory:`.
    /// Default: `sqlite:$XDG_DATA_HOME/srecap/state.db` (`~/.local/share/srecap/state.db`).
    #[arg(long, value_name = "URL", env = "SRECAP_STATE", hide_env_values = true)]
    pub state: Option<String>,
    /// Reconcile only these organizations (repeatable).
    #[arg(long = "org", value_name = "ID")]
    pub orgs: Vec<String>,
    /// Never reconcile these organizations (repeatable; wins over --org).
    #[arg(long = "exclude-org", value_name = "ID")]
    pub exclude_orgs: Vec<String>,
    /// Serve /metrics, /healthz and /readyz on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Evaluate the pass as if the time were TIME (RFC 3339); only with --once.
    #[arg(long, value_name = "TIME", requires = "once")]
    pub now: Option<Timestamp>,
    /// OCM environment name: state keys and the `ocm_env` metric label
    /// (default: production). With --config: reconcile only this one of the
    /// file's environments.
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
    /// Configuration file naming several OCM environments (credentials, health
    /// provider, alert severity, organization registry), reconciled by this one
    /// process; see docs/configuration.md. Replaces the connection and health
    /// flags.
    #[arg(long, value_name = "FILE", env = "SRECAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Telemeter-like Prometheus API for cluster health (firing critical alerts per
    /// cluster `_id`). Unhealthy clusters do not add soak time. Default: no health
    /// provider (every cluster counts as healthy).
    #[arg(long, value_name = "URL")]
    pub health_prometheus: Option<String>,
    /// Health errors are informational only: unhealthy clusters still soak.
    #[arg(long, requires = "health_prometheus")]
    pub health_not_enforced: bool,
    /// Output of the pass's plan with --once: table (default), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<PlanOutput>,
    /// Cancel an organization's pass after this long; it then counts as a failure
    /// with cause `deadline` (0s: no limit).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub org_deadline: jiff::SignedDuration,
    /// Leave clusters with AWS STS enabled alone, as if they had no AUS label
    /// (for an environment where another system upgrades STS clusters).
    #[arg(long)]
    pub ignore_sts: bool,
    /// This replica's name in organization leases (unique per replica).
    /// Default: host name and process id.
    #[arg(long, value_name = "ID", env = "SRECAP_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// How long an organization's lease lasts without renewal; a replica that
    /// dies hands its organizations over after this long. Default: twice the
    /// interval, and at least the organization deadline.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lease_ttl: Option<jiff::SignedDuration>,
    /// On SIGTERM or SIGINT, let the pass in flight finish for this long before
    /// abandoning it (keep it below the Kubernetes grace period).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub drain: jiff::SignedDuration,
    /// Serve /metrics, /healthz and /readyz over TLS with this PEM certificate
    /// chain (with --metrics-tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["metrics_tls_key", "metrics_listen"])]
    pub metrics_tls_cert: Option<PathBuf>,
    /// The PEM private key of --metrics-tls-cert.
    #[arg(long, value_name = "FILE", requires = "metrics_tls_cert")]
    pub metrics_tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on /metrics, the token read from
    /// this file (the probes stay open).
    #[arg(long, value_name = "FILE", requires = "metrics_listen")]
    pub metrics_bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Scenario file (YAML or JSON). Default: the embedded example fleet
    /// (`examples/fleet.yaml`).
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Evaluate at this instant (RFC 3339) instead of the scenario's `now`.
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,
    /// Plan as `aus run` does: first agree, in memory, to the version gates
    /// each cluster's `version-gate-approvals` label approves (the approver
    /// runs before planning in every pass). Without it, the plan is the
    /// reference's, and such a cluster waits with `version-gate`.
    #[arg(long)]
    pub approve_gates: bool,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<PlanOutput>,
}

/// The output format of the plan-printing commands: the shared one.
pub use crate::output::Format as PlanOutput;

impl PlanArgs {
    pub fn output(&self) -> PlanOutput {
        PlanOutput::chosen(self.output)
    }
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a scenario as the OCM REST API (with the SSO token endpoint and a
    /// `/_sim/` control API), until interrupted.
    Serve(ServeArgs),
    /// Time-travel: run the real reconciler against the in-process simulator on an
    /// accelerated clock, audit every policy against AUS's promises, and report the
    /// rollout. Exit code 1 when the auditor finds a violation.
    Run(Box<crate::simulation::SimRunArgs>),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Scenario file (YAML or JSON). Default: the embedded example fleet
    /// (`examples/fleet.yaml`).
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Client id the token endpoint accepts.
    #[arg(long, default_value = "srecap-sim")]
    pub client_id: String,
    /// Client secret the token endpoint accepts.
    #[arg(long, default_value = "srecap-sim", hide_default_value = true)]
    pub client_secret: String,
    /// How long a simulated upgrade runs (simulated time), e.g. `90m`.
    #[arg(long, default_value = "90m", value_parser = parse_duration)]
    pub upgrade_duration: jiff::SignedDuration,
}

/// Durations such as `90m`, `1h30m`, `2h`, `45s`.
pub fn parse_duration(s: &str) -> Result<jiff::SignedDuration, String> {
    let span: jiff::Span = s
        .parse()
        .map_err(|e| format!("invalid duration {s:?} (use e.g. 90m, 1h30m, 45s): {e}"))?;
    jiff::SignedDuration::try_from(span).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

pub fn print_completion(shell: Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "srecap", &mut std::io::stdout());
}

pub fn init_tracing(global: &GlobalArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&global.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only for a person at a terminal: a log file or a collector
    // would get escape codes in every line (https://no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90m").unwrap(),
            jiff::SignedDuration::from_mins(90)
        );
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            jiff::SignedDuration::from_mins(90)
        );
        assert!(parse_duration("soon").is_err());
    }
}
