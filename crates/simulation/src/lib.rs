//! Time-travel fleet simulation: how will a release roll through the fleet?
//!
//! [`simulate`] runs the real AUS reconciler (`srecap_controller::Reconciler`,
//! the code `srecap aus run` uses) against a private OCM simulator, one pass
//! per tick of an accelerated clock, while the simulator publishes releases at
//! their dates and runs the upgrades. The reconciler reads the simulator
//! through the controller's one OCM interface: in process by default
//! ([`in_process`]: typed calls on the simulator's world), or over HTTP on
//! 127.0.0.1 with the production client ([`Transport::Http`]).
//!
//! # Map
//!
//! * [`rollout`] — the loop: pass, observe, audit, disturb, advance.
//! * [`in_process`] — the controller's OCM interface over the simulator's
//!   world, without sockets or JSON.
//! * [`observed`] — the light view of the simulator the auditor, recorder and
//!   disturbances read between passes (a full fleet snapshot per tick was a
//!   tenth of the CPU).
//! * [`auditor`] — AUS's promises (blocked versions, soak days, schedule,
//!   mutexes and max-parallel, sector dependencies) re-checked on every policy
//!   created, from the data alone.
//! * [`disturbance`] — seeded randomness: upgrade duration spread, failures,
//!   clusters turning unhealthy.
//! * [`timeline`] — what happened (`timeline.json`).
//! * [`summary`] — rollout per sector and release, lag behind the previous
//!   sector, versions per cluster.
//! * [`chart`] — `report.html`: hand-written SVG charts per organization and
//!   sector, the release lag table, failed upgrades, clusters left behind.
//! * [`forecast`] — when each cluster reaches each pending version.
//!
//! # Design decisions
//!
//! * Nothing is faked: every tick is a full reconciler pass, and the
//!   policies a pass created are learned by reading the simulator, not from
//!   the planner's output, so the reports show what OCM would show.
//! * The auditor is independent of the planner's code (see [`auditor`]), or
//!   it would prove nothing; its soak ledger is an upper bound, so every
//!   violation it reports is certain.
//! * Randomness is opt-in and seeded; the simulator's clock moves only
//!   between passes. One scenario, options and seed give one timeline.

pub mod auditor;
pub mod chart;
pub mod disturbance;
pub mod error;
pub mod forecast;
pub mod in_process;
pub mod observed;
pub mod rollout;
pub mod summary;
pub mod timeline;

pub use auditor::{Invariant, Violation};
pub use disturbance::Disturbances;
pub use error::SimulationError;
pub use in_process::InProcessOcm;
pub use rollout::{Options, Simulation, Transport, simulate};
pub use timeline::Timeline;
