//! Planning a whole fleet: discovery, organization selection, the inheritance
//! network and the history store, around the per-organization planner.

use jiff::Timestamp;
use srecap_fleet::{Cluster, Fleet, VersionData};

use crate::inheritance::Network;
use crate::labels::AUS_PREFIX;
use crate::plan::{Explanation, FleetPlan, OrgPlan, Reason};
use crate::planner::{Faults, OrgInput, PlanOptions, by_org, plan_org_with};
use crate::soak::Source;

/// Which organizations to process (R4) and test-only planner faults.
#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// Process only these organizations (empty: all).
    pub include: Vec<String>,
    /// Never process these (wins over `include`).
    pub exclude: Vec<String>,
    pub faults: Faults,
    /// What each organization's pass builds besides its decisions.
    pub plan: PlanOptions,
}

impl FleetOptions {
    pub fn selects(&self, org_id: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|o| o == org_id))
            && !self.exclude.iter().any(|o| o == org_id)
    }
}

/// Whether a cluster opted in to AUS: any subscription label with the AUS prefix
/// (R10), valid or not.
pub fn opted_in(cluster: &Cluster) -> bool {
    cluster
        .labels
        .range(AUS_PREFIX.to_owned()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(AUS_PREFIX))
}

/// Whether an opted-in cluster takes part in this pass (R11): only `ready`
/// clusters are seen; others hold no mutex and count nowhere.
pub fn visible(cluster: &Cluster) -> bool {
    cluster.state == "ready"
}

/// Plan every selected organization of `fleet` at `now`.
///
/// Inherited histories are read as stored at the start of the pass (the fleet's
/// `version_data`), never as updated by this pass, so the result does not depend on
/// the order organizations are processed in; this is also what the reference
/// decisions of the golden fleets show. The result lists organizations by id.
pub fn plan_fleet(fleet: &Fleet, now: Timestamp, options: &FleetOptions) -> FleetPlan {
    let network = Network::build(
        fleet
            .organizations
            .iter()
            .map(|o| (fleet.environment.as_str(), o.id.as_str(), &o.labels)),
    );
    let opted: Vec<&Cluster> = fleet.clusters.iter().filter(|c| opted_in(c)).collect();
    let groups = by_org(opted.iter().copied());
    let empty = VersionData::default();

    let mut plans: Vec<OrgPlan> = Vec::new();
    for org in &fleet.organizations {
        if !options.selects(&org.id) {
            continue;
        }
        let Some(clusters) = groups.get(org.id.as_str()) else {
            continue;
        };
        let (ready, hidden): (Vec<&Cluster>, Vec<&Cluster>) =
            clusters.iter().copied().partition(|c| visible(c));
        // R14: an organization without a discovered cluster produces nothing.
        if ready.is_empty() {
            continue;
        }
        let resolution = network.resolve(&org.id);
        let sources = Source::verified(fleet, &resolution.verified, &empty);
        let input = OrgInput {
            environment: &fleet.environment,
            org,
            clusters: ready,
            history: fleet.version_data.get(&org.id),
            sources,
            extra_org_errors: resolution.errors,
            version_gates: &fleet.version_gates,
            now,
            faults: options.faults,
        };
        let mut plan = plan_org_with(&input, options.plan);
        for c in hidden {
            plan.clusters.push(Explanation {
                cluster: c.name.clone(),
                decision: "skipped",
                reason: Reason::NotReady,
                detail: format!(
                    "cluster state is {}; AUS only considers ready clusters",
                    c.state
                ),
            });
        }
        plans.push(plan);
    }
    plans.sort_by(|a, b| a.org_id.cmp(&b.org_id));
    FleetPlan {
        now,
        organizations: plans,
    }
}
