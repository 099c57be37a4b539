//! The AUS reconciler (`srecap aus run`).
//!
//! Turns the pure planner into a service: read OCM through one interface
//! ([`ocm::Ocm`]: over HTTP in production, [`http`]; in process over the
//! simulator for simulations), build the live fleet in one place
//! ([`snapshot`]): discovery by labels, then per cluster only what a decision
//! needs, as the planner says (`srecap_aus::facts`); plan with the stored soak
//! history, save the history in one transaction per organization and pass
//! ([`reconciler`]), apply the plan and report every write ([`executor`]),
//! tell cluster owners about their configuration mistakes through service logs
//! ([`feedback`]), and expose everything as Prometheus metrics ([`metrics`],
//! [`server`]); [`runtime`] is the loop that runs a pass every interval until
//! shutdown. [`environments`] runs several OCM environments in one process
//! with one inheritance network across them, and [`registry`] limits AUS to
//! the organizations an environment's registry names (R4, R41, R47).
//!
//! Design decisions:
//! * A pass is idempotent: existing upgrade policies are read every pass and hold
//!   their cluster's mutexes, so a repeated or resumed pass never creates a second
//!   policy or breaks a mutex; history is saved with its `check_in` in one
//!   transaction, so a crash never counts soak time twice.
//! * Organizations are isolated (R123): an OCM error, a bad answer or a store error
//!   fails that organization's pass only, counted in
//!   `aus_organization_reconcile_errors_total`.
//! * Planning is CPU-bound and runs on the blocking pool (`planning`), so one
//!   slow organization never stalls the others and `--org-deadline` can fire.
//! * Replicas share an environment's organizations through the store's leases
//!   ([`Replica`]): an organization is reconciled by the replica holding its
//!   lease, which renews it before every write and commits the history fenced
//!   by it, so a replica that lost its organization writes nothing.
//! * Organizations run concurrently, as many as OCM's request-rate budget
//!   keeps busy ([`admission`]): the operator sets a rate, not a count.
//! * Organizations with validation errors need only their labels: they are never
//!   asked for per-cluster data, so API calls grow with the clusters that need a
//!   decision, not with the fleet.

pub mod addons;
pub mod admission;
pub mod environments;
pub mod error;
pub mod executor;
pub mod feedback;
pub mod health;
pub mod http;
pub mod metrics;
pub mod ocm;
pub mod outcome;
mod planning;
pub mod reconciler;
pub mod registry;
pub mod rhidp;
pub mod runtime;
pub mod server;
pub mod snapshot;

pub use environments::Environments;
pub use error::PassError;
pub use http::HttpOcm;
pub use metrics::Metrics;
pub use ocm::Ocm;
pub use reconciler::{Config, OrgOutcome, PassReport, Reconciler, Replica};
