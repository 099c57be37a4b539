//! The Advanced Upgrade Service (AUS) core: a pure, deterministic planner.
//!
//! Given a snapshot of an OCM fleet (organizations and their labels, clusters with
//! their subscription labels, existing upgrade policies, node pools, version gates
//! and agreements), the stored soak history and `now`, it computes what AUS does in
//! one pass — upgrade policies to create and channels to switch — and explains every
//! cluster it leaves alone. It performs no I/O and never reads the clock: the
//! reconciler (`srecap aus run`), the offline planner (`srecap aus plan`) and the
//! time-travel simulation all call the same functions.
//!
//! Data flow of one organization (rules of `spec/aus-behaviour.md` in brackets):
//!
//! ```text
//! labels ──► policy (R18–R32) ──► OrgSpec: specs sorted (R53), sectors (R33–R38)
//!                                    │
//! stored history ──► soak::check_in (R65–R69) ──► saved history
//!                                    │ + inherited sources (R70–R73)
//!                                    ▼
//!                  planner::decide (R81–R93, R100–R103) ──► Plan { actions, explanations }
//! ```
//!
//! Module map:
//! * [`labels`] — the AUS label set, declared once with `srecap-labels`.
//! * [`policy`] — cluster and organization policies parsed from labels.
//! * [`sector`] — sectors, dependency cycles, first-populated dependencies.
//! * [`soak`] — soak-history update, stats, inheritance aggregation.
//! * [`inheritance`] — the version-data inheritance network between organizations.
//! * `blocked` — blocked-version verdicts, each pattern evaluated once per
//!   version and pass, with a bounded cost (a pattern out of budget is a label error).
//! * [`gate`] — version-gate applicability.
//! * [`approver`] — the version-gate approver: which agreements to create,
//!   and whether a gated cluster waits for it or for its owners.
//! * [`facts`] — the per-cluster facts a plan is still missing (gate agreements,
//!   channels), so a reconciler reads them only where a decision turns on them.
//! * [`channel`] — y-stream channel switches.
//! * [`schedule`] — maintenance-window slots.
//! * [`planner`] — the per-organization decision procedure and lock bookkeeping.
//! * [`fleet`] — a whole fleet: discovery, organization order, history store.
//! * [`plan`] — the output: the JSON contract of `srecap aus plan`.
//! * [`configuration`] — the policy-as-code document, label diffs and the checks
//!   that keep the CLI from writing what the planner rejects.
//! * [`explain`] — every condition for one cluster, and an estimate of its next
//!   upgrade (`srecap aus explain`, `srecap aus status`).
//!
//! Performance (spec §18 G31) is designed in: specs are sorted once; lock and
//! sector counters are hash maps updated in O(mutexes) per cluster; sector member
//! counts per mutex and lowest versions per (sector, workload) are precomputed;
//! first-populated dependencies are memoised per (sector, workload); slots are
//! cached per schedule. One organization plans in O(n log n).

pub mod addon;
pub mod approver;
mod blocked;
pub mod channel;
pub mod configuration;
pub mod explain;
pub mod facts;
pub mod fleet;
pub mod gate;
pub mod inheritance;
pub mod labels;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod schedule;
pub mod sector;
pub mod soak;

pub use fleet::{FleetOptions, plan_fleet};
pub use plan::{Action, Explanation, FleetPlan, OrgPlan, Reason, ValidationErrors, Warning};
pub use planner::PlanOptions;

/// The reference integration name: metric label `integration`, service-log
/// `service_name`, state namespace (R2).
pub const INTEGRATION: &str = "advanced-upgrade-scheduler";
