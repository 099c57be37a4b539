//! The one interface through which AUS reads and writes OCM.
//!
//! Everything that turns OCM answers into a fleet (the reconciler, `status` and
//! `explain --live`, `forecast --ocm-url`, the time-travel simulation) goes
//! through [`Ocm`]: typed calls in the fleet's own vocabulary, never wire JSON.
//! Two implementations exist:
//! * [`crate::http::HttpOcm`], OCM's REST API through `srecap-ocm`'s client
//!   (paging, retries, authentication) — production;
//! * an in-process adapter over the simulator's world (crate
//!   `srecap-simulation`), with no sockets and no JSON, so that a year of
//!   simulated passes costs what planning costs.
//!
//! Design decisions:
//! * Per-cluster reads take a batch of clusters: the HTTP implementation fans
//!   them out with bounded concurrency, the in-process one answers them under
//!   one lock. The caller never decides how.
//! * Methods return boxed futures so that the reconciler holds an
//!   `Arc<dyn Ocm>` and one binary picks the implementation at run time.
//! * Errors are [`PassError`]s: an OCM status keeps its code (the outcome
//!   classification of the SLIs reads it), whichever implementation produced it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use futures::future::BoxFuture;
use jiff::Timestamp;
use semver::Version;
use srecap_fleet::{
    AddonInstallation, Cluster, NodePool, Organization, UpgradePolicy, VersionGate,
};

use crate::error::PassError;
use crate::feedback::Notice;
use crate::health::HealthProvider;

/// The organization labels of the inheritance network (R42).
pub const VERSION_DATA_PREFIX: &str = "sre-capabilities.aus.version-data.";

/// What an OCM call returns.
pub type OcmResult<'a, T> = BoxFuture<'a, Result<T, PassError>>;

/// The fleet-wide view of one environment (R10–R17), before per-cluster reads:
/// clusters carry their labels but no policies, node pools, agreements or
/// (unless the listing had them) channels. [`crate::snapshot`] makes it a
/// fleet.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub organizations: Vec<Organization>,
    /// In OCM's order (creation time, R17).
    pub clusters: Vec<Cluster>,
    pub version_gates: Vec<VersionGate>,
    /// Organizations whose data could not be used (bad API answers), with why.
    pub broken_orgs: BTreeMap<String, String>,
}

/// A cluster whose existing policies are wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    pub id: String,
    /// ROSA with a hosted control plane: control-plane policies and node pools.
    pub hcp: bool,
}

/// A cluster's existing upgrade policies (R97) and, for ROSA HCP, its node
/// pools with theirs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterDetails {
    /// Classic policies, or control-plane policies for ROSA HCP.
    pub policies: Vec<UpgradePolicy>,
    pub node_pools: Vec<NodePool>,
}

/// Which collection a new upgrade policy goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyTarget {
    /// A classic cluster (`/clusters/{id}/upgrade_policies`).
    Cluster,
    /// A ROSA HCP control plane.
    ControlPlane,
    /// A ROSA HCP node pool, by id.
    NodePool(String),
}

/// A manual upgrade policy to create (E11–E13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicy {
    pub target: PolicyTarget,
    pub version: Version,
    pub next_run: Timestamp,
}

/// A manual add-on upgrade plan to create (R116).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddonPlan {
    pub cluster_id: String,
    pub addon_id: String,
    pub version: Version,
    pub next_run: Timestamp,
}

/// OCM as AUS uses it.
pub trait Ocm: Send + Sync + fmt::Debug {
    /// Where this OCM is, for logs and source lines (`https://api.openshift.com`,
    /// `in-process simulator`).
    fn location(&self) -> String;

    /// Whether more concurrent work would only queue: requests are waiting
    /// for the OCM request-rate budget or for the in-flight limit. The
    /// reconciler starts another organization only while this is false, so
    /// that the number of organizations in flight follows the budget
    /// ([`crate::admission`]). `None`: no such limit to follow.
    fn saturated(&self) -> Option<bool> {
        None
    }

    /// OCM's clock, as its last answer's HTTP `Date` said (advanced by the time
    /// since); `None` when unknown. A pass whose time is far from it would
    /// count soak days wrong.
    fn server_time(&self) -> Option<Timestamp> {
        None
    }

    /// Fleet-wide discovery (R10–R17).
    fn discover(&self) -> OcmResult<'_, Discovered>;

    /// The organizations with `version-data.*` labels and those labels (R42):
    /// what the inheritance network needs of an environment that is not
    /// reconciled in this process (`aus run --config --environment`). The
    /// default reads them from a full discovery.
    fn inheritance_labels(&self) -> OcmResult<'_, Vec<Organization>> {
        Box::pin(async move {
            let discovered = self.discover().await?;
            Ok(discovered
                .organizations
                .into_iter()
                .filter(|o| o.labels.keys().any(|k| k.starts_with(VERSION_DATA_PREFIX)))
                .collect())
        })
    }

    /// Existing policies and node pools of `clusters` (R97), by cluster id.
    fn cluster_details(
        &self,
        clusters: Vec<ClusterRef>,
    ) -> OcmResult<'_, HashMap<String, ClusterDetails>>;

    /// Ids of the version gates each cluster agreed to, by cluster id.
    fn gate_agreements(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<String>>>;

    /// Channels OCM offers each cluster (R103), by cluster id. A cluster whose
    /// read fails has none (logged), as in the reference.
    fn available_channels(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<String>>>;

    /// External ids of the organization's clusters with firing critical alerts
    /// (R47–R50), as `provider` reports them.
    fn unhealthy<'a>(
        &'a self,
        provider: &'a HealthProvider,
        org_id: &'a str,
    ) -> OcmResult<'a, HashSet<String>>;

    /// Create a manual upgrade policy (R99).
    fn create_policy<'a>(&'a self, cluster_id: &'a str, policy: &'a NewPolicy)
    -> OcmResult<'a, ()>;

    /// Agree, for a cluster, to a version gate (R105–R111).
    fn create_gate_agreement<'a>(
        &'a self,
        cluster_id: &'a str,
        gate_id: &'a str,
    ) -> OcmResult<'a, ()>;

    /// Switch a cluster's channel (R104).
    fn switch_channel<'a>(&'a self, cluster_id: &'a str, channel: &'a str) -> OcmResult<'a, ()>;

    /// Whether the same service log (service, severity, summary, description)
    /// was written for the cluster at or after `since` (R122).
    fn service_log_sent_since<'a>(
        &'a self,
        notice: &'a Notice,
        since: Timestamp,
    ) -> OcmResult<'a, bool>;

    /// Write a service log to the cluster's owners (§14.1).
    fn send_service_log<'a>(&'a self, notice: &'a Notice) -> OcmResult<'a, ()>;

    // ---- the add-on upgrade scheduler (§13) ------------------------------------

    /// An organization's managed, ready OSD/ROSA clusters, whatever their
    /// labels (R113: the registry names the add-on clusters), in OCM's order.
    fn org_clusters<'a>(&'a self, org_id: &'a str) -> OcmResult<'a, Vec<Cluster>>;

    /// The add-on catalogue: each add-on's latest version (R114).
    fn addon_catalog(&self) -> OcmResult<'_, BTreeMap<String, Version>>;

    /// The add-ons in state `ready` of each cluster, each with its existing
    /// upgrade plans (R114, R117), by cluster id.
    fn ready_addons(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<AddonInstallation>>>;

    /// Delete an add-on upgrade plan (R117).
    fn delete_addon_plan<'a>(&'a self, cluster_id: &'a str, plan_id: &'a str) -> OcmResult<'a, ()>;

    /// Create a manual add-on upgrade plan (R116).
    fn create_addon_plan<'a>(&'a self, plan: &'a NewAddonPlan) -> OcmResult<'a, ()>;
}
