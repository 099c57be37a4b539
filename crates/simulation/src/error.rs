//! Why a simulation could not run.

use srecap_sim::ClockError;
use srecap_store::StoreError;

/// A simulation that could not run (a broken promise is not an error: it is
/// a [`crate::Violation`] in the result).
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// The options make no sense (the message names the option).
    #[error("{0}")]
    Options(String),
    /// The in-process simulator could not listen on 127.0.0.1.
    #[error("starting the in-process OCM simulator")]
    Listen(#[source] std::io::Error),
    /// The OCM client for the private simulator could not be built.
    #[error("building the OCM client for the simulator: {0}")]
    Client(String),
    /// The soak-history store failed.
    #[error("soak-history store")]
    Store(#[from] StoreError),
    /// The simulated clock could not move.
    #[error("moving the simulated clock")]
    Clock(#[from] ClockError),
    /// A report file could not be written.
    #[error("writing {path}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The chart could not be drawn.
    #[error("drawing the chart: {0}")]
    Chart(String),
}
