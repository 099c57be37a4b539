//! What happened during a simulation, as data (`timeline.json`).
//!
//! Policy ids are left out on purpose: the reconciler creates an
//! organization's policies concurrently, so the simulator's id counters are
//! not reproducible across runs while everything a reader cares about (which
//! cluster, which versions, when) is.

use jiff::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

/// The whole simulated period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// First pass.
    pub start: Timestamp,
    /// The simulated clock when the run stopped.
    pub end: Timestamp,
    /// Seconds between passes.
    pub tick_seconds: i64,
    /// Reconciler passes run.
    pub passes: u64,
    /// Every release of the catalog, oldest first.
    pub releases: Vec<ReleaseEntry>,
    /// Every cluster, in discovery order.
    pub clusters: Vec<ClusterEntry>,
    /// Every upgrade policy the reconciler created, by creation time.
    pub upgrades: Vec<Upgrade>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEntry {
    pub version: Version,
    pub channel_groups: Vec<String>,
    pub published: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEntry {
    pub name: String,
    pub id: String,
    pub organization: String,
    /// `sre-capabilities.aus.sector`, when set.
    pub sector: Option<String>,
    pub initial_version: Version,
    pub final_version: Version,
}

/// What the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeKind {
    /// A classic cluster upgrade.
    Cluster,
    /// A ROSA HCP control-plane upgrade.
    ControlPlane,
    /// A ROSA HCP node-pool catch-up.
    NodePool,
}

/// How a policy ended, if it did within the simulated period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still waiting for its `next_run` (or for the cluster to be healthy).
    Scheduled,
    /// Running when the simulation stopped.
    Started,
    Completed,
    Failed,
}

/// One upgrade policy, from creation to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    pub cluster: String,
    pub organization: String,
    pub sector: Option<String>,
    pub kind: UpgradeKind,
    /// Node pool id for node-pool policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_pool: Option<String>,
    pub from_version: Version,
    pub to_version: Version,
    /// The pass that created the policy.
    pub created_at: Timestamp,
    pub next_run: Option<Timestamp>,
    /// When OCM reported the cluster unhealthy at `next_run` and delayed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delayed_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub outcome: Outcome,
}

impl Timeline {
    /// Completed cluster-level upgrades (not node pools), by completion time.
    pub fn completed(&self) -> impl Iterator<Item = (&Upgrade, Timestamp)> {
        self.upgrades.iter().filter_map(|u| {
            (u.kind != UpgradeKind::NodePool)
                .then_some(u.completed_at)
                .flatten()
                .map(|t| (u, t))
        })
    }

    /// The cluster's control-plane version over time: its initial version at
    /// `start`, then each completed upgrade.
    pub fn versions_of(&self, cluster: &str) -> Vec<(Timestamp, Version)> {
        let Some(entry) = self.clusters.iter().find(|c| c.name == cluster) else {
            return Vec::new();
        };
        let mut out = vec![(self.start, entry.initial_version.clone())];
        let mut done: Vec<(Timestamp, Version)> = self
            .completed()
            .filter(|(u, _)| u.cluster == cluster)
            .map(|(u, t)| (t, u.to_version.clone()))
            .collect();
        done.sort();
        out.extend(done);
        out
    }
}
