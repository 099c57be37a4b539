//! Facts a plan may still be missing (R92, R100).
//!
//! Discovery gives neither a cluster's version-gate agreements nor the channels
//! OCM offers it: each costs one request per cluster, so a reconciler reads them
//! only for the clusters whose decision turns on them. This module says which,
//! so that the reconciler holds no AUS rule of its own; it loops:
//!
//! ```text
//! assume(unread)  ─►  plan  ─►  missing(plan) ─► empty? done
//!                       ▲                          │ no
//!                       └──── read them, learn ◄───┘
//! ```
//!
//! Before the loop, the reconciler has read the agreements of the clusters
//! the version-gate approver may agree for ([`crate::approver::may_agree`]);
//! those count as known here and are never read twice in a pass.
//!
//! Why the loop ends and gives the plan a full read would give:
//! * A cluster whose agreements are unread is assumed to have agreed to every
//!   gate ([`assume`]). Reading them can only *remove* a policy (R92 (b)), which
//!   frees its mutexes and sector slot, so other clusters may then get a policy
//!   whose gates are read in the next round. Every round reads at least one
//!   cluster not read before, so there are at most as many rounds as clusters;
//!   in practice one or two.
//! * Channels matter only to a cluster that gets no version for a schedule or
//!   version reason (R100); a switch marks no mutex, so reading them never
//!   changes another cluster's decision. That is why a round that read only
//!   channels does not plan again: [`complete_channels`] turns the plan into
//!   the one planning again would give, from the decisions the plan recorded.

use rustc_hash::{FxHashMap, FxHashSet};

use srecap_fleet::{Cluster, VersionGate};

use crate::plan::{Action, OrgPlan, Reason};
use crate::{channel, gate};

/// Which per-cluster facts have been read, by cluster id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    // Fx hashing: these are asked per cluster and round of every pass.
    agreements: FxHashSet<String>,
    channels: FxHashSet<String>,
}

impl Known {
    /// Nothing read yet.
    pub fn new() -> Known {
        Known::default()
    }

    /// The cluster's gate agreements have been read.
    pub fn learned_agreements(&mut self, cluster_id: &str) {
        self.agreements.insert(cluster_id.to_owned());
    }

    /// The cluster's available channels have been read.
    pub fn learned_channels(&mut self, cluster_id: &str) {
        self.channels.insert(cluster_id.to_owned());
    }

    pub fn knows_agreements(&self, cluster_id: &str) -> bool {
        self.agreements.contains(cluster_id)
    }

    pub fn knows_channels(&self, cluster_id: &str) -> bool {
        self.channels.contains(cluster_id)
    }
}

/// What the next round must read, as cluster ids in the plan's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Missing {
    /// Clusters about to get a policy to a gated minor whose agreements are unread.
    pub gate_agreements: Vec<String>,
    /// Clusters that may switch channel (R100) whose channels are unread.
    pub channels: Vec<String>,
}

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.gate_agreements.is_empty() && self.channels.is_empty()
    }
}

/// Make `cluster` plannable while its agreements are unread: it is taken to
/// have agreed to every gate, so that no gate hides a decision whose agreements
/// would then never be asked for. Clusters with read agreements are left as
/// read.
pub fn assume(cluster: &mut Cluster, gates: &[VersionGate], known: &Known) {
    if !known.knows_agreements(&cluster.id) {
        cluster.gate_agreements = gates.iter().map(|g| g.id.clone()).collect();
    }
}

/// The reasons for which a cluster left without a version may switch its
/// channel instead (R100): it has no version for a schedule or version reason,
/// not because of a lock, a policy or its configuration.
pub const CHANNEL_SWITCH_REASONS: [Reason; 6] = [
    Reason::OutsideSchedule,
    Reason::NoUpgrades,
    Reason::BlockedVersion,
    Reason::InheritedVersion,
    Reason::SectorDependency,
    Reason::SoakDays,
];

/// The facts `plan`, made over `clusters` (the organization's, as planned), is
/// still missing.
pub fn missing(
    clusters: &[&Cluster],
    gates: &[VersionGate],
    plan: &OrgPlan,
    known: &Known,
) -> Missing {
    let by_id: FxHashMap<&str, &Cluster> = clusters.iter().map(|c| (c.id.as_str(), *c)).collect();
    let by_name: FxHashMap<&str, &Cluster> =
        clusters.iter().map(|c| (c.name.as_str(), *c)).collect();
    let mut out = Missing::default();
    // R92: a policy to a minor with an applicable gate needs the real agreements.
    for action in &plan.actions {
        let (Action::UpgradePolicy {
            cluster_id,
            version,
            ..
        }
        | Action::ControlPlaneUpgradePolicy {
            cluster_id,
            version,
            ..
        }) = action
        else {
            continue;
        };
        let Some(cluster) = by_id.get(cluster_id.as_str()) else {
            continue;
        };
        if !known.knows_agreements(cluster_id) && gate::gated(gates, cluster, version) {
            out.gate_agreements.push(cluster_id.clone());
        }
    }
    // R100–R103: only a cluster that can name a next channel and whose channels
    // discovery did not give.
    for explanation in &plan.clusters {
        if !CHANNEL_SWITCH_REASONS.contains(&explanation.reason) {
            continue;
        }
        let Some(cluster) = by_name.get(explanation.cluster.as_str()) else {
            continue;
        };
        if cluster.available_channels.is_empty()
            && !known.knows_channels(&cluster.id)
            // `next_channel` is `Some` exactly for y-stream channels; asking
            // this of every waiting cluster need not format the name.
            && channel::y_stream(&cluster.channel).is_some()
        {
            out.channels.push(cluster.id.clone());
        }
    }
    out
}

/// Finish `plan` once the channels [`missing`] asked for have been read into
/// `clusters` (the organization's, as planned, in the same order), without
/// planning again (R100–R103): each cluster the plan left alone at a channel
/// decision switches now if OCM offers its next channel. Switches mark no
/// mutex and no sector slot, so no other decision changes, and the plan is
/// the one planning with these channels gives, action for action.
///
/// Returns false, leaving `plan` as it was, when the plan did not record its
/// channel decisions or they do not fit `clusters`: the caller then plans
/// again.
pub fn complete_channels(plan: &mut OrgPlan, clusters: &[&Cluster]) -> bool {
    let Some(decisions) = plan.details.channel_decisions.as_mut() else {
        return false;
    };
    let explained = plan.clusters.len();
    if decisions
        .iter()
        .any(|d| d.position >= clusters.len() || d.explanation.is_some_and(|e| e >= explained))
    {
        return false;
    }
    // Channel switches close the action list, in decision order.
    let first_switch = plan
        .actions
        .iter()
        .position(|a| matches!(a, Action::ChannelSwitch { .. }))
        .unwrap_or(plan.actions.len());
    let switched = decisions.iter().filter(|d| d.explanation.is_none()).count();
    if plan.actions.len() - first_switch != switched {
        return false;
    }
    let mut earlier = plan.actions.split_off(first_switch).into_iter();
    let mut now_switching = vec![false; explained];
    for d in decisions.iter_mut() {
        let Some(e) = d.explanation else {
            plan.actions.extend(earlier.next());
            continue;
        };
        let c = clusters[d.position];
        if let Some(to) = channel::switch_target(&c.channel, &c.available_channels) {
            plan.actions.push(Action::channel_switch(c, to));
            now_switching[e] = true;
            d.explanation = None;
        }
    }
    // The explanations of the clusters that switch now leave the plan; the
    // others move up by as many as left before them.
    let mut left_before = Vec::with_capacity(explained);
    let mut gone = 0;
    for &s in &now_switching {
        left_before.push(gone);
        gone += usize::from(s);
    }
    if gone > 0 {
        for e in decisions.iter_mut().filter_map(|d| d.explanation.as_mut()) {
            *e -= left_before[*e];
        }
        let mut switching = now_switching.into_iter();
        plan.clusters.retain(|_| !switching.next().unwrap_or(false));
    }
    true
}
