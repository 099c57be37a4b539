//! The fleet model: the world AUS reads from OCM, as plain data.
//!
//! One type describes a fleet at one moment — organizations with their labels,
//! clusters with their subscription labels, versions, node pools, existing upgrade
//! policies and gate agreements, OCM version gates, the release catalog and the soak
//! history AUS has recorded; and, for the Red Hat IdP capability ([`identity`]),
//! each cluster's console URL, external-auth flag and identity providers, the SSO
//! realms clients are registered in and the client records a secret store holds.
//! The same value is
//!
//! * loaded from a scenario file ([`scenario`], the format of `spec/scenario.md`),
//! * served over HTTP by the OCM simulator,
//! * built from live OCM answers by the reconciler,
//! * and planned by the pure AUS core.
//!
//! Design decisions:
//! * Versions are parsed [`semver::Version`]s everywhere: an unparsable version is
//!   rejected at the edge (scenario loader, OCM client), never deep in the planner.
//! * Instants are [`jiff::Timestamp`]s (UTC). Nothing in this crate reads the clock;
//!   the scenario loader takes the wall clock as an argument for the `now` default.
//! * Label values are strings, as in OCM; keys are kept in a [`BTreeMap`] so that
//!   iteration (and everything derived from it) is deterministic.

pub mod history;
pub mod identity;
pub mod model;
pub mod scenario;
pub mod synthetic;

pub use history::{Reporting, Stats, VersionData, VersionHistory, WorkloadHistory};
pub use identity::{
    ClusterAuth, IdentityProvider, InitialAccessToken, OpenIdSettings, Secrets, Sso, SsoClient,
    SsoRealm,
};
pub use model::{
    AddonInstallation, Addons, Cluster, Fleet, NodePool, Organization, PolicyState, Product,
    Release, ScheduleType, UpgradePolicy, VersionGate,
};
pub use scenario::{LoadError, load_scenario, parse_scenario};
