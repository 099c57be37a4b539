//! The fleet as OCM shows it at one instant.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::history::VersionData;
use crate::identity::{ClusterAuth, Secrets, Sso};

/// A whole fleet: everything one OCM environment shows AUS at `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// The instant the fleet is observed at (scenario `now`, or the clock).
    pub now: Timestamp,
    /// OCM environment name, e.g. `production`.
    pub environment: String,
    pub organizations: Vec<Organization>,
    /// Clusters in discovery order (R17: ties in the planner keep this order).
    pub clusters: Vec<Cluster>,
    pub version_gates: Vec<VersionGate>,
    pub releases: Vec<Release>,
    /// AUS soak history per organization id.
    pub version_data: BTreeMap<String, VersionData>,
    /// OCM add-ons: the catalogue and the installations (§13).
    #[serde(default, skip_serializing_if = "Addons::is_empty")]
    pub addons: Addons,
    /// SSO realms clients are registered in (rhidp, I80).
    #[serde(default, skip_serializing_if = "Sso::is_empty")]
    pub sso: Sso,
    /// Client records already in the secret store (rhidp, I80).
    #[serde(default, skip_serializing_if = "Secrets::is_empty")]
    pub secrets: Secrets,
}

/// OCM add-ons (the add-on service): the latest version of each add-on in the
/// catalogue, and what clusters have installed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Addons {
    /// Latest version per add-on id.
    pub catalog: BTreeMap<String, Version>,
    /// Installations, in OCM's order.
    pub installations: Vec<AddonInstallation>,
}

impl Addons {
    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty() && self.installations.is_empty()
    }
}

/// One add-on installed on one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddonInstallation {
    /// OCM internal cluster id.
    pub cluster_id: String,
    pub addon_id: String,
    pub version: Version,
    /// `ready`, `installing`, `pending`, `failed` or `deleting`.
    pub state: String,
    /// Existing add-on upgrade policies (upgrade plans) of this installation.
    pub upgrade_policies: Vec<UpgradePolicy>,
}

/// An OCM organization with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// OCM product of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    Osd,
    Rosa,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Osd => "osd",
            Product::Rosa => "rosa",
        }
    }
}

/// One OCM cluster together with its subscription labels.
// The flags mirror OCM's cluster record one to one; folding them into an enum
// would only obscure that mapping.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    /// Organization id.
    pub organization: String,
    /// OCM internal cluster id (API paths, implicit mutex).
    pub id: String,
    /// Cluster UUID (service logs, metrics).
    pub external_id: String,
    /// Control-plane version (`version.raw_id`).
    pub version: Version,
    pub channel_group: String,
    pub channel: String,
    /// Upgrades OCM offers, in OCM's order. Shared: every cluster of one
    /// version and channel group is offered the same list, so in-process
    /// discovery hands out one list per version instead of copying it per
    /// cluster and pass, and the planner finds equal lists by address.
    pub available_upgrades: Arc<[Version]>,
    /// True when the scenario listed `available_upgrades` itself rather than having
    /// them derived from `releases`; the simulator then keeps the list as given.
    pub available_upgrades_explicit: bool,
    pub available_channels: Vec<String>,
    pub product: Product,
    /// ROSA hosted control plane.
    pub hypershift: bool,
    /// AWS STS enabled.
    pub sts: bool,
    /// OCM cluster state (`ready`, `installing`, ...).
    pub state: String,
    /// What the health provider reports.
    pub healthy: bool,
    /// Subscription labels. Shared: a pass reads them for every cluster and
    /// they rarely change, so a copy of the cluster (discovery in process, a
    /// planner's label cache) shares them instead of copying every string.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Node pools (ROSA HCP only), in OCM's order.
    pub node_pools: Vec<NodePool>,
    /// Existing upgrade policies: classic ones, or control-plane ones for ROSA HCP.
    pub upgrade_policies: Vec<UpgradePolicy>,
    /// Ids of the version gates this cluster agreed to.
    pub gate_agreements: Vec<String>,
    /// Console URL, external auth and identity providers (rhidp, I74).
    #[serde(default, skip_serializing_if = "ClusterAuth::is_empty")]
    pub auth: ClusterAuth,
}

impl Cluster {
    /// ROSA with a hosted control plane (R77: an `osd` cluster is never HCP).
    pub fn is_hcp(&self) -> bool {
        self.product == Product::Rosa && self.hypershift
    }

    /// Whether the cluster has any upgrade policy: classic, control plane or node pool.
    pub fn has_any_policy(&self) -> bool {
        !self.upgrade_policies.is_empty() || self.has_node_pool_policy()
    }

    /// Whether one of its node pools has an upgrade policy (HCP only): what
    /// holds a cluster's node-pool catch-up (§18 G19, narrowed).
    pub fn has_node_pool_policy(&self) -> bool {
        self.node_pools
            .iter()
            .any(|p| !p.upgrade_policies.is_empty())
    }
}

/// A ROSA HCP node pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePool {
    pub id: String,
    pub version: Version,
    pub upgrade_policies: Vec<UpgradePolicy>,
}

/// How an upgrade policy recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleType {
    #[default]
    Manual,
    Automatic,
}

impl ScheduleType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleType::Manual => "manual",
            ScheduleType::Automatic => "automatic",
        }
    }
}

/// State of an upgrade policy as OCM reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyState {
    #[default]
    Scheduled,
    Started,
    Delayed,
    Completed,
    Failed,
    Cancelled,
    Pending,
    /// Anything else OCM may report; kept verbatim.
    #[serde(untagged)]
    Other(String),
}

impl PolicyState {
    pub fn as_str(&self) -> &str {
        match self {
            PolicyState::Scheduled => "scheduled",
            PolicyState::Started => "started",
            PolicyState::Delayed => "delayed",
            PolicyState::Completed => "completed",
            PolicyState::Failed => "failed",
            PolicyState::Cancelled => "cancelled",
            PolicyState::Pending => "pending",
            PolicyState::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> PolicyState {
        match s {
            "scheduled" => PolicyState::Scheduled,
            "started" => PolicyState::Started,
            "delayed" => PolicyState::Delayed,
            "completed" => PolicyState::Completed,
            "failed" => PolicyState::Failed,
            "cancelled" => PolicyState::Cancelled,
            "pending" => PolicyState::Pending,
            other => PolicyState::Other(other.to_owned()),
        }
    }
}

/// An existing upgrade policy (classic, control plane or node pool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradePolicy {
    pub id: String,
    /// Target version. Kept as a string: OCM stores what was sent, and an
    /// `automatic` policy may have none.
    pub version: Option<Version>,
    pub next_run: Option<Timestamp>,
    pub state: PolicyState,
    pub schedule_type: ScheduleType,
    /// Cron schedule of an `automatic` policy.
    pub schedule: Option<String>,
}

/// An OCM version gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionGate {
    pub id: String,
    /// `major.minor` the gate guards, e.g. `4.15`.
    pub version_raw_id_prefix: String,
    /// Gate label, e.g. `api.openshift.com/gate-ocp`.
    pub label: String,
    pub sts_only: bool,
}

/// An `OpenShift` release known to the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: Version,
    pub channel_groups: Vec<String>,
    pub published: Timestamp,
}

impl Fleet {
    /// The organization with this id.
    pub fn organization(&self, id: &str) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id)
    }

    /// Upgrades for a cluster on `version` in `channel_group`, derived from the
    /// release catalog as `spec/scenario.md` says: published by `now`, in the channel
    /// group, newer than `version`, in the same minor or the next one; semver order.
    pub fn derive_available_upgrades(
        &self,
        version: &Version,
        channel_group: &str,
        now: Timestamp,
    ) -> Vec<Version> {
        derive_available_upgrades(&self.releases, version, channel_group, now)
    }

    /// Re-derive `available_upgrades` at `self.now` for every cluster whose list was
    /// derived rather than given (`available_upgrades_explicit == false`).
    ///
    /// Derived lists depend on `now` (releases become available when published), so
    /// whoever moves `now` — `--now`, the simulator's clock — calls this afterwards.
    pub fn refresh_available_upgrades(&mut self) {
        let (releases, now) = (&self.releases, self.now);
        for cluster in self
            .clusters
            .iter_mut()
            .filter(|c| !c.available_upgrades_explicit)
        {
            cluster.available_upgrades =
                derive_available_upgrades(releases, &cluster.version, &cluster.channel_group, now)
                    .into();
        }
    }
}

/// See [`Fleet::derive_available_upgrades`].
pub fn derive_available_upgrades(
    releases: &[Release],
    version: &Version,
    channel_group: &str,
    now: Timestamp,
) -> Vec<Version> {
    let mut out: Vec<Version> = releases
        .iter()
        .filter(|r| r.published <= now)
        .filter(|r| r.channel_groups.iter().any(|g| g == channel_group))
        .filter(|r| r.version > *version)
        .filter(|r| {
            r.version.major == version.major
                && (r.version.minor == version.minor || r.version.minor == version.minor + 1)
        })
        .map(|r| r.version.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `<channel_group>-<major>.<minor>` of a version: the default channel.
pub fn default_channel(channel_group: &str, version: &Version) -> String {
    format!("{channel_group}-{}.{}", version.major, version.minor)
}
