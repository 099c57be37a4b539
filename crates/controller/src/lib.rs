//! The AUS reconciler (`srecap aus run`).
//!
//! Turns the pure planner into a service: discover the clusters that opted in
//! through labels ([`discovery`]), read per cluster only what a decision needs,
//! plan with the stored soak history, save the history in one transaction per
//! organization and pass, apply the plan to OCM ([`reconciler`]), tell cluster
//! owners about their configuration mistakes through service logs ([`feedback`]),
//! and expose everything as Prometheus metrics ([`metrics`], [`server`]).
//!
//! Design decisions:
//! * A pass is idempotent: existing upgrade policies are read every pass and hold
//!   their cluster's mutexes, so a repeated or resumed pass never creates a second
//!   policy or breaks a mutex; history is saved with its `check_in` in one
//!   transaction, so a crash never counts soak time twice.
//! * Organizations are isolated (R123): an OCM error, a bad answer or a store error
//!   fails that organization's pass only, counted in
//!   `aus_organization_reconcile_errors_total`.
//! * Organizations with validation errors need only their labels: they are never
//!   asked for per-cluster data, so API calls grow with the clusters that need a
//!   decision, not with the fleet.

pub mod discovery;
pub mod error;
pub mod feedback;
pub mod health;
pub mod metrics;
pub mod outcome;
pub mod reconciler;
pub mod server;

pub use error::PassError;
pub use metrics::Metrics;
pub use reconciler::{Config, OrgOutcome, PassReport, Reconciler};
