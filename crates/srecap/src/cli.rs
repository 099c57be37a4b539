//! Command-line definitions (clap derive): parsing and validation, no I/O.

use std::io::IsTerminal;
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
    /// The OCM simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
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
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<PlanOutput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    Json,
    Table,
}

impl PlanArgs {
    pub fn output(&self) -> PlanOutput {
        self.output.unwrap_or(if std::io::stdout().is_terminal() {
            PlanOutput::Table
        } else {
            PlanOutput::Json
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a scenario as the OCM REST API (with the SSO token endpoint and a
    /// `/_sim/` control API), until interrupted.
    Serve(ServeArgs),
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
