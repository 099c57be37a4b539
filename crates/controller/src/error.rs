//! Errors of a reconcile pass.

use srecap_ocm::OcmError;
use srecap_store::StoreError;

/// Why one organization's pass (or the environment's discovery) failed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// An OCM call failed.
    #[error(transparent)]
    Ocm(#[from] OcmError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// OCM answered with data AUS cannot use (for example an unparsable version).
    #[error("unusable answer from OCM for cluster {cluster}: {reason}")]
    BadAnswer { cluster: String, reason: String },
    /// Some channel switches failed (R104); the ones that succeeded stay done.
    #[error("{} channel switch(es) failed: {}", .0.len(), .0.join("; "))]
    ChannelSwitches(Vec<String>),
    /// The health provider could not be read.
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
    /// Some service logs could not be written.
    #[error("{} service log(s) could not be sent: {}", .0.len(), .0.join("; "))]
    Feedback(Vec<String>),
    /// The organization's pass took longer than its deadline and was cancelled.
    #[error("the organization's pass did not finish within {after:?} and was cancelled")]
    Deadline { after: std::time::Duration },
    /// The organization's task was cancelled before it finished (the runtime
    /// shut down under the pass).
    #[error(
        "the organization's pass was cancelled before it finished (the runtime is shutting down)"
    )]
    Cancelled,
}
