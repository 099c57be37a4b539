//! The Red Hat identity-provider capability core (`rhidp`).

pub mod client;
pub mod cluster;
pub mod idp;
pub mod labels;
pub mod plan;
pub mod planner;
pub mod problem;
pub mod record;
pub mod settings;

pub use planner::{ExistingCluster, IdpListing, Planner, Snapshot, State};
