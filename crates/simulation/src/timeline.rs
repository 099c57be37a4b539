//! What happened during a simulation, as data (`timeline.json`).
//!
//! Policy ids are left out on purpose: the reconciler creates an
//! organization's policies concurrently, so the simulator's id counters are
//! not reproducible across runs while everything a reader cares about (which
//! cluster, which versions, when) is.

use std::collections::BTreeMap;

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
    /// Organization -> sector -> the sectors it depends on, from the
    /// `sector-deps` labels: the report measures a sector's lag behind the
    /// sectors it waits for. Empty in timelines written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sector_dependencies: BTreeMap<String, BTreeMap<String, Vec<String>>>,
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
    /// What `srecap aus explain` says about the cluster at `end`, when OCM
    /// offers it a newer version than it runs by then: why it was left
    /// behind. Absent in timelines written before it existed, and for
    /// clusters on the newest version they are offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_behind: Option<LeftBehind>,
}

/// Why a cluster ended the simulation below the newest version OCM offers it,
/// as the explainer sees the final fleet at the end instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftBehind {
    /// The newest version OCM offers the cluster at the end.
    pub newest_offered: Version,
    /// The planner's decision at the end: a reason code (`soak-days`,
    /// `outside-schedule`, ...), `action` when a pass at the end would
    /// book an upgrade, or `ignored` for clusters AUS does not manage.
    pub verdict: String,
    /// The decision in words, as `aus explain` prints it.
    pub detail: String,
    /// Every condition that fails at the end, in the planner's order, as
    /// `reason: detail`; `unhealthy: ...` when the cluster's health check
    /// fails (the planner does not hold it back for that, but OCM delays its
    /// upgrade policies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    /// The reason code that kept the cluster back: the first failing
    /// condition other than its schedule (a window closed at the end
    /// instant says nothing about the days before), else the verdict;
    /// `unhealthy` when that condition is its own policy and the cluster is
    /// unhealthy (OCM delays the policy until it is healthy).
    pub held_by: String,
    /// The explainer's estimate of its next upgrade.
    pub estimate: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `timeline.json` written before `sector_dependencies` and
    /// `left_behind` existed still reads, and a timeline without them
    /// writes no trace of them.
    #[test]
    fn timelines_without_the_newer_fields_still_read() {
        let old = r#"{
            "start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z",
            "tick_seconds": 3600, "passes": 24,
            "releases": [{"version": "4.16.1", "channel_groups": ["stable"], "published": "2026-03-02T02:30:00Z"}],
            "clusters": [{"name": "dev-1", "id": "c1", "organization": "org-a", "sector": "dev",
                          "initial_version": "4.16.0", "final_version": "4.16.1"}],
            "upgrades": [],
            "violations": []
        }"#;
        let t: Timeline = serde_json::from_str(old).unwrap();
        assert!(t.sector_dependencies.is_empty());
        assert_eq!(t.clusters[0].left_behind, None);
        let again = serde_json::to_value(&t).unwrap();
        assert!(again.get("sector_dependencies").is_none());
        assert!(again["clusters"][0].get("left_behind").is_none());
    }
}
