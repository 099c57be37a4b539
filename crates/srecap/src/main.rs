//! `srecap`: SRE capabilities for OpenShift fleets.
//!
//! A thin binary over the workspace's libraries: argument parsing and validation
//! without I/O ([`cli`]), then one function per command. `main` prints the whole
//! error chain and maps failures to documented exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `aus plan`: the scenario was read, even if organizations have validation errors) |
//! | 1 | the command failed at run time (OCM unreachable, I/O error, ...) |
//! | 2 | bad input: command-line usage, or a scenario/file that cannot be read |
//!
//! A closed standard output (`srecap aus plan | head`) is success, not an error.

mod apply;
mod capabilities;
mod cli;
mod configuration;
mod connection;
mod environments;
mod explain;
mod observability;
mod org;
mod output;
mod plan_view;
mod policy;
mod rhidp;
mod run;
mod serve;
mod simulation;
mod source;
mod state;
mod status;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{AusCommand, Cli, Command, SimCommand};

// mimalloc rather than glibc's malloc: a forecast allocates and frees small
// strings and vectors on every planning call from several threads, and glibc's
// malloc was a third of its CPU time (BENCHMARKS.md, "Time-travel simulation").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// Bad input: exit code 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 2,
            error: error.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure { code: 1, error }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing(&cli.global);
    let result = match cli.command {
        Command::Aus { command } => match command {
            AusCommand::Plan(args) => plan_view::run(&args),
            AusCommand::Run(args) => run::run(&args),
            AusCommand::Policy { command } => policy::run(&command),
            AusCommand::Org { command } => org::run(&command),
            AusCommand::Apply(args) => apply::apply(&args),
            AusCommand::Export(args) => apply::export(&args),
            AusCommand::Status(args) => status::run(&args),
            AusCommand::Explain(args) => explain::run(&args),
            AusCommand::Forecast(args) => simulation::forecast(&args),
        },
        Command::Sim { command } => match command {
            SimCommand::Serve(args) => serve::run(&args),
            SimCommand::Run(args) => simulation::run(&args),
        },
        Command::Rhidp { command } => rhidp::run(&command),
        Command::Run(args) => run::serve(
            &args.run,
            &run::Selection {
                aus: args.capabilities.contains(&cli::CapabilityName::Aus),
                rhidp: args
                    .capabilities
                    .contains(&cli::CapabilityName::Rhidp)
                    .then(|| run::RhidpSelection {
                        options: &args.rhidp,
                        interval: args.rhidp_interval.unwrap_or(args.run.interval),
                    }),
            },
        ),
        Command::Capabilities(args) => capabilities::run(&args),
        Command::Observability { command } => observability::run(&command),
        Command::State { command } => state::run(&command),
        Command::Demo(args) => simulation::demo(&args),
        Command::Completion { shell } => {
            cli::print_completion(shell);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if is_broken_pipe(&failure.error) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "error: {}", failure.error);
            for cause in failure.error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Whether the failure is stdout closed by the reader (`srecap … | head -1`):
/// that is how a pipeline says "enough", so it is a success, silently. The
/// I/O error may come bare or inside a JSON or YAML writer's error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| {
                e.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(io::ErrorKind::BrokenPipe)
    })
}
