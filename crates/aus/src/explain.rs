//! Why a cluster is (not) upgrading, and when it could: `srecap aus explain` and
//! `srecap aus status`.
//!
//! The planner stops at the first rule that holds a cluster back; an explanation
//! evaluates **every** condition the planner applies, in the planner's order, each
//! with its numbers, so a user sees everything that stands between the cluster and
//! its next upgrade, not only the first obstacle. The verdict (what this pass does
//! for the cluster, or the first failing condition's reason code) is derived from
//! those conditions alone and must equal what [`plan_fleet`] decides; a test checks
//! that over every golden fleet.
//!
//! Design decisions:
//! * The decisions taken for *other* clusters earlier in the same pass (which
//!   clusters take a mutex) come from the planner's own plan: an explanation
//!   re-evaluates one cluster, not the whole decision loop, and naming "the cluster
//!   the planner books before this one" is exactly what the user needs to know.
//! * The estimate of the earliest upgrade is a projection under stated assumptions
//!   (soak accrues at the current rate, nothing else changes, passes run
//!   continuously). A condition that cannot clear by itself (invalid labels, a
//!   blocked version, a missing gate agreement, a dependency sector behind, a
//!   holder whose upgrade has no predictable end) makes it "unknown".
//! * Pure: no I/O, no clock; `now` is given.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use srecap_fleet::{Cluster, Fleet, Organization, PolicyState, UpgradePolicy, VersionData};
use srecap_labels::LabelParser;

use crate::fleet::{FleetOptions, opted_in, plan_fleet, visible};
use crate::inheritance::Network;
use crate::labels::{AUS_PREFIX, CLUSTER_LABELS};
use crate::plan::{Action, FleetPlan, OrgPlan, Reason, ValidationErrors};
use crate::planner::{available_upgrades, describe_closed, describe_policies, existing_policies};
use crate::policy::{ClusterPolicy, OrgPolicy};
use crate::schedule::{self, CLUSTER_DELAY, CLUSTER_WINDOW, Window};
use crate::sector::Sectors;
use crate::soak::{self, Report, SoakTable, Source};
use crate::{approver, channel};

/// A lookup that found nothing or too much.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExplainError {
    /// No cluster has this name, id or external id.
    #[error(
        "no cluster {0:?} in the fleet (looked up by name, id and external id; AUS only sees clusters with an sre-capabilities.aus.* label)"
    )]
    UnknownCluster(String),
    /// Several clusters share this name; an id is unambiguous.
    #[error("cluster name {name:?} is ambiguous: clusters {ids} share it; give the cluster id")]
    AmbiguousCluster { name: String, ids: String },
    /// No organization has this id.
    #[error("no organization {0:?} in the fleet")]
    UnknownOrganization(String),
}

/// Explains clusters of one fleet at one instant; plans the fleet once.
#[derive(Debug)]
pub struct Explainer<'f> {
    fleet: &'f Fleet,
    now: Timestamp,
    plan: FleetPlan,
    network: Network,
}

/// How a condition came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Produces an action on its own (node-pool catch-up).
    Action,
    /// Informational: does not hold the cluster back (health, channel).
    Info,
    /// Could not be evaluated because an earlier condition makes it meaningless.
    NotEvaluated,
}

impl Outcome {
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Pass => "✓",
            Outcome::Fail => "✗",
            Outcome::Action => "→",
            Outcome::Info => "i",
            Outcome::NotEvaluated => "-",
        }
    }
}

/// One condition of the decision procedure, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable name of the condition (`ready`, `cluster-labels`, `schedule`, ...).
    pub condition: &'static str,
    pub outcome: Outcome,
    /// The reason code the planner gives when this condition is the first to fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub detail: String,
    /// The numbers behind the detail.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// Soak of one candidate version for one workload.
#[derive(Debug, Clone, Serialize)]
pub struct SoakCheck {
    pub workload: String,
    pub soaked_days: f64,
    pub needed_days: u64,
    pub passed: bool,
    /// Healthy clusters of the organization running the version with the workload:
    /// soak days gained per day.
    pub clusters_soaking: usize,
    /// When the needed days are reached at that rate (`None`: never, or met).
    #[serde(
        serialize_with = "opt_rfc3339",
        skip_serializing_if = "Option::is_none"
    )]
    pub reached_at: Option<Timestamp>,
}

/// A sector-dependency check of one candidate for one workload (R89).
#[derive(Debug, Clone, Serialize)]
pub struct DependencyCheck {
    pub workload: String,
    /// The dependency sector with the lowest version for the workload.
    pub sector: String,
    pub lowest_version: String,
    pub passed: bool,
}

/// The inherited-version check of one candidate (R73).
#[derive(Debug, Clone, Serialize)]
pub struct InheritedCheck {
    pub passed: bool,
    /// The binding workload (`None`: the global minimum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lowest_version: Option<String>,
}

/// A version OCM offers the cluster, with every condition on it (R88, R92).
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub version: String,
    /// The pattern blocking it and whose it is (`organization` or `cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<BlockedBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inherited: Option<InheritedCheck>,
    pub sector_dependencies: Vec<DependencyCheck>,
    pub soak: Vec<SoakCheck>,
    /// Applicable version gates the cluster has not agreed to: id, label and
    /// whether the version-gate approver takes it (R110) or only the owners can.
    pub missing_gates: Vec<String>,
    /// The planner's hold for this version (R92 (b)), if chosen: reason and
    /// detail, as the planner states them.
    #[serde(skip)]
    pub gate_hold: Option<(Reason, String)>,
    /// The first condition this version fails, in the planner's order (the
    /// version gates are checked only for the version chosen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<Reason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedBy {
    pub pattern: String,
    pub source: &'static str,
}

/// What this pass does for a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Verdict {
    /// An upgrade policy (or a channel switch) is created in this pass.
    Action { action: Action },
    /// Left alone: the first condition that held it back.
    Skipped { reason: Reason, detail: String },
    /// AUS does not consider the cluster at all.
    Ignored { detail: String },
}

impl Verdict {
    /// A one-line summary for tables.
    pub fn summary(&self) -> String {
        match self {
            Verdict::Action { action } => match action {
                Action::UpgradePolicy {
                    version, next_run, ..
                }
                | Action::ControlPlaneUpgradePolicy {
                    version, next_run, ..
                } => format!("upgrading to {version} at {next_run}"),
                Action::NodePoolUpgradePolicy {
                    node_pool,
                    version,
                    next_run,
                    ..
                } => format!("node pool {node_pool} to {version} at {next_run}"),
                Action::ChannelSwitch {
                    from_channel,
                    to_channel,
                    ..
                } => format!("channel switch {from_channel} -> {to_channel}"),
            },
            Verdict::Skipped { reason, detail } => format!("{reason}: {detail}"),
            Verdict::Ignored { detail } => format!("ignored: {detail}"),
        }
    }
}

/// The earliest time the cluster could start upgrading under current conditions.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// `None`: unknown, or never under current conditions (see `summary`).
    #[serde(serialize_with = "opt_rfc3339")]
    pub earliest: Option<Timestamp>,
    pub version: Option<String>,
    pub summary: String,
    /// What the projection takes for granted.
    pub assumptions: Vec<String>,
}

/// Identity and state of the explained cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterFacts {
    pub name: String,
    pub id: String,
    pub external_id: String,
    pub organization: String,
    pub organization_name: String,
    pub version: String,
    pub product: String,
    pub hypershift: bool,
    pub state: String,
    pub channel: String,
    pub node_pools: Vec<NodePoolFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodePoolFacts {
    pub id: String,
    pub version: String,
}

/// Everything `srecap aus explain` shows for one cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterExplanation {
    #[serde(serialize_with = "rfc3339")]
    pub now: Timestamp,
    pub cluster: ClusterFacts,
    pub verdict: Verdict,
    /// Every condition, in the planner's order.
    pub checks: Vec<Check>,
    /// Versions OCM offers, highest first, each with its conditions.
    pub candidates: Vec<Candidate>,
    pub estimate: Estimate,
}

/// `srecap aus status`: every AUS cluster per organization.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    #[serde(serialize_with = "rfc3339")]
    pub now: Timestamp,
    pub organizations: Vec<OrgStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgStatus {
    pub org_id: String,
    pub name: String,
    pub validation_errors: ValidationErrors,
    pub clusters: Vec<ClusterStatus>,
}

/// One row of the status table.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub cluster_id: String,
    pub external_id: String,
    pub version: String,
    pub state: String,
    /// As labelled (raw comma-separated items when the labels are invalid).
    pub workloads: Vec<String>,
    pub sector: Option<String>,
    pub mutexes: Vec<String>,
    pub soak_days: Option<String>,
    pub schedule: Option<String>,
    /// First maintenance slot AUS could book (now + 6 min or later).
    #[serde(serialize_with = "opt_rfc3339")]
    pub next_slot: Option<Timestamp>,
    pub upgrade_policies: Vec<PolicyStatus>,
    pub decision: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyStatus {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_pool: Option<String>,
    pub schedule_type: String,
    pub version: Option<String>,
    pub state: String,
    #[serde(serialize_with = "opt_rfc3339")]
    pub next_run: Option<Timestamp>,
}

/// A valid, ready cluster of the organization with its parsed policy.
struct Spec<'f> {
    cluster: &'f Cluster,
    policy: ClusterPolicy,
    sector: Option<usize>,
    /// Mutexes plus the cluster id (R54), without repeats.
    mutexes: Vec<String>,
}

/// One organization as the planner sees it.
struct OrgView<'f> {
    org: &'f Organization,
    policy: OrgPolicy,
    sectors: Sectors,
    /// Organization errors: labels, inheritance, cycles, unknown sectors.
    errors: Vec<String>,
    /// Invalid ready clusters: name -> messages.
    invalid: BTreeMap<String, Vec<String>>,
    /// Valid ready clusters in decision order (R53).
    specs: Vec<Spec<'f>>,
    /// Verified inheritance sources (environment, organization).
    sources: Vec<(String, String)>,
}

impl<'f> Explainer<'f> {
    pub fn new(fleet: &'f Fleet, now: Timestamp) -> Self {
        let plan = plan_fleet(fleet, now, &FleetOptions::default());
        let network = Network::build(
            fleet
                .organizations
                .iter()
                .map(|o| (fleet.environment.as_str(), o.id.as_str(), &o.labels)),
        );
        Explainer {
            fleet,
            now,
            plan,
            network,
        }
    }

    /// The planner's plan of the fleet, as used for the context of explanations.
    pub fn plan(&self) -> &FleetPlan {
        &self.plan
    }

    /// A cluster by id, external id or name (ids first: they are unique).
    pub fn find(&self, query: &str) -> Result<&'f Cluster, ExplainError> {
        let clusters = &self.fleet.clusters;
        if let Some(c) = clusters.iter().find(|c| c.id == query) {
            return Ok(c);
        }
        if let Some(c) = clusters
            .iter()
            .find(|c| !c.external_id.is_empty() && c.external_id == query)
        {
            return Ok(c);
        }
        let named: Vec<&Cluster> = clusters.iter().filter(|c| c.name == query).collect();
        match named.as_slice() {
            [] => Err(ExplainError::UnknownCluster(query.to_owned())),
            [c] => Ok(c),
            many => Err(ExplainError::AmbiguousCluster {
                name: query.to_owned(),
                ids: many
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn org_plan(&self, org_id: &str) -> Option<&OrgPlan> {
        self.plan.organizations.iter().find(|o| o.org_id == org_id)
    }

    /// What the planner decided for `cluster` (the status view).
    pub fn planned(&self, cluster: &Cluster) -> Verdict {
        let index = self.org_plan(&cluster.organization).map(PlanIndex::new);
        planned_in(index.as_ref(), cluster)
    }

    fn view(&self, org: &'f Organization) -> OrgView<'f> {
        let (policy, mut errors) = OrgPolicy::from_labels(&org.labels);
        let resolution = self.network.resolve(&org.id);
        errors.extend(resolution.errors);
        let sectors = Sectors::new(&policy.sectors);
        errors.extend(sectors.cycle_errors());
        let mut invalid = BTreeMap::new();
        let mut specs = Vec::new();
        // One parser for the organization: it caches parsed schedules and patterns,
        // which dominate the cost of reading labels.
        let mut parser = LabelParser::new(CLUSTER_LABELS);
        for c in self
            .fleet
            .clusters
            .iter()
            .filter(|c| c.organization == org.id && opted_in(c) && visible(c))
        {
            match parse_cluster(&mut parser, c, &sectors) {
                Ok((policy, sector)) => {
                    let mut mutexes: Vec<String> = Vec::new();
                    for m in policy.mutexes.iter().chain(std::iter::once(&c.id)) {
                        if !mutexes.contains(m) {
                            mutexes.push(m.clone());
                        }
                    }
                    specs.push(Spec {
                        cluster: c,
                        policy,
                        sector,
                        mutexes,
                    });
                }
                Err((messages, unknown_sector)) => {
                    if let Some(name) = unknown_sector {
                        let msg = format!("sector {name} not found in organization");
                        if !errors.contains(&msg) {
                            errors.push(msg);
                        }
                    }
                    invalid.insert(c.name.clone(), messages);
                }
            }
        }
        specs.sort_by(|a, b| {
            a.cluster
                .version
                .cmp_precedence(&b.cluster.version)
                .then(a.policy.soak_days.cmp(&b.policy.soak_days))
        });
        OrgView {
            org,
            policy,
            sectors,
            errors,
            invalid,
            specs,
            sources: resolution.verified,
        }
    }

    /// Evaluate every condition for `cluster`.
    #[allow(clippy::too_many_lines)] // one decision procedure, read top to bottom
    pub fn explain(&self, cluster: &'f Cluster) -> ClusterExplanation {
        let org = self.fleet.organization(&cluster.organization);
        let facts = ClusterFacts {
            name: cluster.name.clone(),
            id: cluster.id.clone(),
            external_id: cluster.external_id.clone(),
            organization: cluster.organization.clone(),
            organization_name: org.map_or_else(String::new, |o| o.name.clone()),
            version: cluster.version.to_string(),
            product: cluster.product.as_str().to_owned(),
            hypershift: cluster.is_hcp(),
            state: cluster.state.clone(),
            channel: cluster.channel.clone(),
            node_pools: cluster
                .node_pools
                .iter()
                .map(|p| NodePoolFacts {
                    id: p.id.clone(),
                    version: p.version.to_string(),
                })
                .collect(),
        };
        let mut e = Evaluation::new();
        let labelled = cluster
            .labels
            .keys()
            .filter(|k| k.starts_with(AUS_PREFIX))
            .count();
        let Some(org) = org.filter(|_| labelled > 0) else {
            let detail = if labelled == 0 {
                "the cluster has no sre-capabilities.aus.* label, so AUS does not manage it"
                    .to_owned()
            } else {
                format!("organization {} is not in the fleet", cluster.organization)
            };
            e.check("opted-in", Outcome::Fail, None, detail.clone(), Value::Null);
            return ClusterExplanation {
                now: self.now,
                cluster: facts,
                verdict: Verdict::Ignored {
                    detail: detail.clone(),
                },
                checks: e.checks,
                candidates: Vec::new(),
                estimate: never(&detail),
            };
        };
        e.check(
            "opted-in",
            Outcome::Pass,
            None,
            format!("{labelled} sre-capabilities.aus.* label(s) on the subscription"),
            Value::Null,
        );

        let ready = visible(cluster);
        e.check(
            "ready",
            if ready { Outcome::Pass } else { Outcome::Fail },
            Some(Reason::NotReady),
            if ready {
                "cluster state is ready".to_owned()
            } else {
                format!(
                    "cluster state is {}; AUS only considers ready clusters",
                    cluster.state
                )
            },
            json!({ "state": cluster.state }),
        );
        e.check(
            "health",
            Outcome::Info,
            None,
            if cluster.healthy {
                "healthy: adds soak time to the versions it runs".to_owned()
            } else {
                "an enforced health check fails: the cluster adds no soak time (health does not hold its own upgrade back)".to_owned()
            },
            json!({ "healthy": cluster.healthy }),
        );

        let view = self.view(org);
        let parsed = parse_cluster(
            &mut LabelParser::new(CLUSTER_LABELS),
            cluster,
            &view.sectors,
        );
        match &parsed {
            Ok(_) => e.check(
                "cluster-labels",
                Outcome::Pass,
                Some(Reason::ValidationError),
                "the cluster's AUS labels are valid".to_owned(),
                Value::Null,
            ),
            Err((messages, _)) => e.check(
                "cluster-labels",
                Outcome::Fail,
                Some(Reason::ValidationError),
                messages.join("; "),
                json!({ "errors": messages }),
            ),
        }
        let others: Vec<&String> = view
            .invalid
            .keys()
            .filter(|n| **n != cluster.name)
            .collect();
        if view.errors.is_empty() && others.is_empty() {
            e.check(
                "organization-labels",
                Outcome::Pass,
                Some(Reason::OrgValidationError),
                format!(
                    "organization {} and its other clusters have no validation error",
                    org.id
                ),
                Value::Null,
            );
        } else {
            let mut detail = format!(
                "organization {} is frozen: AUS plans nothing for it until its validation errors are fixed",
                org.id
            );
            if !view.errors.is_empty() {
                let _ = write!(detail, "; organization: {}", view.errors.join("; "));
            }
            if !others.is_empty() {
                let names: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
                let _ = write!(detail, "; invalid clusters: {}", names.join(", "));
            }
            e.check(
                "organization-labels",
                Outcome::Fail,
                Some(Reason::OrgValidationError),
                detail,
                json!({ "organization_errors": view.errors, "invalid_clusters": others }),
            );
        }

        let me = view.specs.iter().position(|s| s.cluster.id == cluster.id);
        let (Some(me), Ok(_)) = (me, &parsed) else {
            let why = if ready {
                "needs valid cluster labels"
            } else {
                "AUS does not consider clusters that are not ready"
            };
            for condition in ["existing-policy", "schedule", "mutexes", "candidates"] {
                e.check(
                    condition,
                    Outcome::NotEvaluated,
                    None,
                    why.to_owned(),
                    Value::Null,
                );
            }
            let verdict = e.verdict.clone().unwrap_or(Verdict::Ignored {
                detail: why.to_owned(),
            });
            let summary = match &verdict {
                Verdict::Skipped {
                    reason: Reason::NotReady,
                    detail,
                } => format!(
                    "unknown: AUS considers the cluster once OCM reports it ready ({detail})"
                ),
                Verdict::Skipped { reason, detail } => {
                    format!("never under current conditions: {reason} needs a label fix: {detail}")
                }
                other => other.summary(),
            };
            return ClusterExplanation {
                now: self.now,
                cluster: facts,
                verdict,
                checks: e.checks,
                candidates: Vec::new(),
                estimate: never(&summary),
            };
        };
        let spec = &view.specs[me];
        let ctx = Context::new(self, &view, me);

        // Deviation G19 of the planner: an HCP cluster with a pending node-pool
        // policy first. A pending control-plane policy only holds the cluster
        // through its own-id mutex (R81 (a)), so the hold check counts the
        // cluster itself then.
        let policies = existing_policies(cluster);
        let policy_data = json!(
            policies
                .iter()
                .map(|p| policy_status(p, None))
                .collect::<Vec<_>>()
        );
        if cluster.is_hcp() {
            if cluster.has_node_pool_policy() {
                e.check(
                    "existing-policy",
                    Outcome::Fail,
                    Some(Reason::ExistingPolicy),
                    describe_policies(&policies),
                    policy_data.clone(),
                );
            } else {
                e.check(
                    "existing-policy",
                    Outcome::Pass,
                    Some(Reason::ExistingPolicy),
                    if policies.is_empty() {
                        "no upgrade policy on the control plane or node pools".to_owned()
                    } else {
                        format!(
                            "no node-pool policy; the control plane's ({}) holds the cluster's own mutex only (R81 (a))",
                            describe_policies(&policies)
                        )
                    },
                    Value::Null,
                );
            }
            ctx.hold_check_counting_self(&mut e, !policies.is_empty());
            let behind = cluster
                .node_pools
                .iter()
                .find(|p| p.version.cmp_precedence(&cluster.version).is_lt());
            if let Some(pool) = behind {
                let action = Action::NodePoolUpgradePolicy {
                    cluster: cluster.name.clone(),
                    cluster_id: cluster.id.clone(),
                    node_pool: pool.id.clone(),
                    version: cluster.version.clone(),
                    next_run: schedule::whole_seconds(self.now + CLUSTER_DELAY),
                };
                e.check(
                        "node-pool-catch-up",
                        Outcome::Action,
                        None,
                        format!(
                            "node pool {} runs {}, behind the control plane {}: caught up now, outside the schedule, soak and blocked versions (R81)",
                            pool.id, pool.version, cluster.version
                        ),
                        json!({ "node_pool": pool.id, "version": pool.version.to_string() }),
                    );
                e.decide(Verdict::Action { action });
            } else {
                e.check(
                    "node-pool-catch-up",
                    Outcome::Pass,
                    None,
                    "every node pool runs the control-plane version".to_owned(),
                    Value::Null,
                );
                // R82: the pending control-plane policy skips the cluster.
                if !policies.is_empty() {
                    e.check(
                        "existing-policy",
                        Outcome::Fail,
                        Some(Reason::ExistingPolicy),
                        describe_policies(&policies),
                        policy_data.clone(),
                    );
                }
            }
        } else if policies.is_empty() {
            e.check(
                "existing-policy",
                Outcome::Pass,
                Some(Reason::ExistingPolicy),
                "no upgrade policy exists".to_owned(),
                Value::Null,
            );
        } else {
            e.check(
                "existing-policy",
                Outcome::Fail,
                Some(Reason::ExistingPolicy),
                describe_policies(&policies),
                policy_data,
            );
        }

        let switch =
            channel::switch_target(&cluster.channel, &cluster.available_channels).map(|to| {
                Action::ChannelSwitch {
                    cluster: cluster.name.clone(),
                    cluster_id: cluster.id.clone(),
                    from_channel: cluster.channel.clone(),
                    to_channel: to,
                }
            });
        let window = schedule::window(
            &spec.policy.schedule,
            self.now,
            CLUSTER_DELAY,
            CLUSTER_WINDOW,
        );
        let slot = match window {
            Window::Open(slot) => {
                e.check(
                    "schedule",
                    Outcome::Pass,
                    Some(Reason::OutsideSchedule),
                    format!(
                        "schedule {:?}: slot {slot} is within 2 hours",
                        spec.policy.schedule.as_str()
                    ),
                    json!({ "schedule": spec.policy.schedule.as_str(), "slot": slot.to_string() }),
                );
                Some(slot)
            }
            Window::Closed(next) => {
                e.check(
                    "schedule",
                    Outcome::Fail,
                    Some(Reason::OutsideSchedule),
                    format!(
                        "schedule {:?}: {}",
                        spec.policy.schedule.as_str(),
                        describe_closed(next, self.now)
                    ),
                    json!({ "schedule": spec.policy.schedule.as_str(), "next_slot": next.map(|t| t.to_string()) }),
                );
                e.fail_or_switch(
                    Reason::OutsideSchedule,
                    describe_closed(next, self.now),
                    switch.as_ref(),
                );
                None
            }
        };
        if !cluster.is_hcp() {
            ctx.hold_check(&mut e);
        }

        let candidates = ctx.candidates();
        let chosen = candidates.iter().position(|c| c.first_failure.is_none());
        let candidate_data = json!(
            candidates
                .iter()
                .map(|c| json!({
                    "version": c.version,
                    "first_failure": c.first_failure,
                }))
                .collect::<Vec<_>>()
        );
        if let Some(i) = chosen {
            e.check(
                "candidates",
                Outcome::Pass,
                None,
                format!(
                    "{} is the highest of {} offered version(s) that is not blocked and meets its conditions",
                    candidates[i].version,
                    candidates.len()
                ),
                candidate_data,
            );
        } else {
            {
                let (reason, detail) = candidates_failure(cluster, &candidates);
                e.check(
                    "candidates",
                    Outcome::Fail,
                    Some(reason),
                    detail.clone(),
                    candidate_data,
                );
                e.fail_or_switch(reason, detail, switch.as_ref());
            }
        }
        match chosen.map(|i| (i, candidates[i].gate_hold.clone())) {
            Some((i, Some((reason, detail)))) => {
                let c = &candidates[i];
                e.check(
                    "version-gates",
                    Outcome::Fail,
                    Some(reason),
                    detail.clone(),
                    json!({ "missing": c.missing_gates }),
                );
                e.decide(Verdict::Skipped { reason, detail });
            }
            Some((i, None)) => e.check(
                "version-gates",
                Outcome::Pass,
                Some(Reason::VersionGate),
                format!(
                    "no applicable version gate for {} lacks an agreement",
                    candidates[i].version
                ),
                Value::Null,
            ),
            None => e.check(
                "version-gates",
                Outcome::NotEvaluated,
                None,
                "checked only for the version chosen".to_owned(),
                Value::Null,
            ),
        }
        if let Some(Action::ChannelSwitch {
            from_channel,
            to_channel,
            ..
        }) = &switch
        {
            e.check(
                "channel",
                Outcome::Info,
                None,
                format!(
                    "{to_channel} is offered: AUS switches from {from_channel} when the window is closed or no version qualifies (R100)"
                ),
                json!({ "from": from_channel, "to": to_channel }),
            );
        }
        // Candidates show versions as the contract's strings; each was printed
        // from a `Version`, so it reads back.
        if let (Some(i), Some(slot)) = (chosen, slot)
            && let Ok(version) = candidates[i].version.parse::<semver::Version>()
        {
            e.decide(Verdict::Action {
                action: Action::cluster_upgrade(cluster, version, slot),
            });
        }
        let verdict = e.verdict.clone().unwrap_or(Verdict::Ignored {
            detail: "internal: no decision was reached".to_owned(),
        });
        let estimate = ctx.estimate(&verdict, &e.checks, &candidates);
        ClusterExplanation {
            now: self.now,
            cluster: facts,
            verdict,
            checks: e.checks,
            candidates,
            estimate,
        }
    }

    /// Status of every AUS cluster, per organization (`org`: only that one).
    pub fn status(&self, org: Option<&str>) -> Result<FleetStatus, ExplainError> {
        if let Some(id) = org
            && self.fleet.organization(id).is_none()
        {
            return Err(ExplainError::UnknownOrganization(id.to_owned()));
        }
        let mut by_org: HashMap<&str, Vec<&Cluster>> = HashMap::new();
        for c in self.fleet.clusters.iter().filter(|c| opted_in(c)) {
            by_org.entry(c.organization.as_str()).or_default().push(c);
        }
        let mut orgs: Vec<&Organization> = self
            .fleet
            .organizations
            .iter()
            .filter(|o| match org {
                Some(id) => o.id == id,
                None => by_org.contains_key(o.id.as_str()),
            })
            .collect();
        orgs.sort_by(|a, b| a.id.cmp(&b.id));
        let mut parser = LabelParser::new(CLUSTER_LABELS);
        let organizations = orgs
            .into_iter()
            .map(|o| {
                let plan = self.org_plan(&o.id);
                let index = plan.map(PlanIndex::new);
                OrgStatus {
                    org_id: o.id.clone(),
                    name: o.name.clone(),
                    validation_errors: plan
                        .map(|p| p.validation_errors.clone())
                        .unwrap_or_default(),
                    clusters: by_org
                        .get(o.id.as_str())
                        .map(|cs| {
                            cs.iter()
                                .map(|c| {
                                    self.cluster_status(
                                        &mut parser,
                                        c,
                                        planned_in(index.as_ref(), c),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        Ok(FleetStatus {
            now: self.now,
            organizations,
        })
    }

    fn cluster_status(
        &self,
        parser: &mut LabelParser,
        c: &Cluster,
        decision: Verdict,
    ) -> ClusterStatus {
        let raw = |setting: &str| c.labels.get(&format!("{AUS_PREFIX}{setting}"));
        let split = |s: Option<&String>| -> Vec<String> {
            s.map(|v| {
                v.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
        };
        let policy = ClusterPolicy::parse_with(parser, &c.labels).ok();
        let next_slot = policy
            .as_ref()
            .and_then(|p| p.schedule.first_after(self.now + CLUSTER_DELAY));
        let (workloads, sector, mutexes, soak_days, schedule) = match &policy {
            Some(p) => (
                p.workloads.to_vec(),
                p.sector.clone(),
                p.mutexes.to_vec(),
                Some(p.soak_days.to_string()),
                Some(p.schedule.as_str().to_owned()),
            ),
            None => (
                split(raw("workloads")),
                raw("sector").cloned(),
                split(raw("mutexes")),
                raw("soak-days").cloned(),
                raw("schedule").cloned(),
            ),
        };
        let mut upgrade_policies: Vec<PolicyStatus> = c
            .upgrade_policies
            .iter()
            .map(|p| policy_status(p, None))
            .collect();
        for pool in &c.node_pools {
            upgrade_policies.extend(
                pool.upgrade_policies
                    .iter()
                    .map(|p| policy_status(p, Some(&pool.id))),
            );
        }
        ClusterStatus {
            cluster: c.name.clone(),
            cluster_id: c.id.clone(),
            external_id: c.external_id.clone(),
            version: oldest_version(c),
            state: c.state.clone(),
            workloads,
            sector,
            mutexes,
            soak_days,
            schedule,
            next_slot,
            upgrade_policies,
            decision,
        }
    }
}

/// An organization's plan looked up by cluster: status reads one verdict per
/// cluster, and scanning the plan for each would be quadratic.
struct PlanIndex<'p> {
    /// Cluster id -> its action (a policy rather than a channel switch).
    actions: HashMap<&'p str, &'p Action>,
    /// Cluster name -> why it got no action.
    skipped: HashMap<&'p str, &'p crate::plan::Explanation>,
}

impl<'p> PlanIndex<'p> {
    fn new(plan: &'p OrgPlan) -> Self {
        let mut actions: HashMap<&str, &Action> = HashMap::new();
        for a in &plan.actions {
            let slot = actions.entry(a.cluster_id()).or_insert(a);
            if matches!(slot, Action::ChannelSwitch { .. }) {
                *slot = a;
            }
        }
        PlanIndex {
            actions,
            skipped: plan
                .clusters
                .iter()
                .map(|e| (e.cluster.as_str(), e))
                .collect(),
        }
    }
}

fn planned_in(index: Option<&PlanIndex<'_>>, cluster: &Cluster) -> Verdict {
    if !opted_in(cluster) {
        return Verdict::Ignored {
            detail: "the cluster has no sre-capabilities.aus.* label".to_owned(),
        };
    }
    let Some(index) = index else {
        return Verdict::Ignored {
            detail: format!(
                "organization {} is not planned: none of its AUS clusters is ready",
                cluster.organization
            ),
        };
    };
    if let Some(a) = index.actions.get(cluster.id.as_str()) {
        return Verdict::Action {
            action: (*a).clone(),
        };
    }
    match index.skipped.get(cluster.name.as_str()) {
        Some(e) => Verdict::Skipped {
            reason: e.reason,
            detail: e.detail.clone(),
        },
        None => Verdict::Ignored {
            detail: "the planner did not consider the cluster".to_owned(),
        },
    }
}

/// The control-plane version, with the oldest node pool's when one is behind.
fn oldest_version(c: &Cluster) -> String {
    match c
        .node_pools
        .iter()
        .map(|p| &p.version)
        .filter(|v| v.cmp_precedence(&c.version).is_lt())
        .min_by(|a, b| a.cmp_precedence(b))
    {
        Some(v) => format!("{} (pools {v})", c.version),
        None => c.version.to_string(),
    }
}

fn policy_status(p: &UpgradePolicy, node_pool: Option<&String>) -> PolicyStatus {
    PolicyStatus {
        id: p.id.clone(),
        node_pool: node_pool.cloned(),
        schedule_type: p.schedule_type.as_str().to_owned(),
        version: p.version.as_ref().map(ToString::to_string),
        state: p.state.as_str().to_owned(),
        next_run: p.next_run,
    }
}

/// A cluster's policy and sector, or its messages and the unknown sector (R37).
#[allow(clippy::type_complexity)]
fn parse_cluster(
    parser: &mut LabelParser,
    c: &Cluster,
    sectors: &Sectors,
) -> Result<(ClusterPolicy, Option<usize>), (Vec<String>, Option<String>)> {
    let policy = ClusterPolicy::parse_with(parser, &c.labels).map_err(|m| (m, None))?;
    match policy.sector.as_deref() {
        None => Ok((policy, None)),
        Some(name) => match sectors.id(name) {
            Some(id) => Ok((policy, Some(id))),
            None => Err((
                vec![format!(
                    "cluster {} references unknown sector {name}",
                    c.external_id
                )],
                Some(name.to_owned()),
            )),
        },
    }
}

/// Conditions collected in order, and the verdict of the first decisive one.
struct Evaluation {
    checks: Vec<Check>,
    verdict: Option<Verdict>,
}

impl Evaluation {
    fn new() -> Self {
        Evaluation {
            checks: Vec::new(),
            verdict: None,
        }
    }

    /// Record a condition; a failing one with a reason decides the verdict if
    /// nothing before it did.
    fn check(
        &mut self,
        condition: &'static str,
        outcome: Outcome,
        reason: Option<Reason>,
        detail: String,
        data: Value,
    ) {
        if outcome == Outcome::Fail
            && let Some(r) = reason
            && !matches!(r, Reason::OutsideSchedule)
            && !matches!(condition, "candidates")
        {
            self.decide(Verdict::Skipped {
                reason: r,
                detail: detail.clone(),
            });
        }
        self.checks.push(Check {
            condition,
            outcome,
            reason: if outcome == Outcome::Fail {
                reason
            } else {
                None
            },
            detail,
            data,
        });
    }

    fn decide(&mut self, verdict: Verdict) {
        if self.verdict.is_none() {
            self.verdict = Some(verdict);
        }
    }

    /// R83, R91, R100: where the schedule or the candidates stop a cluster, a
    /// channel switch is made if one is offered.
    fn fail_or_switch(&mut self, reason: Reason, detail: String, switch: Option<&Action>) {
        match switch {
            Some(a) => self.decide(Verdict::Action { action: a.clone() }),
            None => self.decide(Verdict::Skipped { reason, detail }),
        }
    }
}

/// The evaluation context of one cluster: its organization, the locks taken
/// before it in this pass and the soak table.
struct Context<'e, 'f> {
    explainer: &'e Explainer<'f>,
    view: &'e OrgView<'f>,
    me: usize,
    /// Per spec: whether it holds its mutexes when `me` is decided (R55, R56).
    marked: Vec<bool>,
    own_history: VersionData,
    /// (sector, workload) -> lowest version among its members.
    sector_min: HashMap<(usize, String), Version>,
}

impl<'e, 'f> Context<'e, 'f> {
    fn new(explainer: &'e Explainer<'f>, view: &'e OrgView<'f>, me: usize) -> Self {
        // Clusters booked earlier in this pass take their mutexes; clusters after
        // `me` in decision order cannot affect it.
        let booked: HashSet<&str> = explainer
            .org_plan(&view.org.id)
            .map(|p| {
                p.actions
                    .iter()
                    .filter(|a| !matches!(a, Action::ChannelSwitch { .. }))
                    .map(Action::cluster_id)
                    .collect()
            })
            .unwrap_or_default();
        let marked = view
            .specs
            .iter()
            .enumerate()
            .map(|(j, s)| {
                s.cluster.has_any_policy() || (j < me && booked.contains(s.cluster.id.as_str()))
            })
            .collect();
        let mut own_history = explainer
            .fleet
            .version_data
            .get(&view.org.id)
            .cloned()
            .unwrap_or_default();
        let reports: Vec<Report<'_>> = view
            .specs
            .iter()
            .map(|s| Report {
                cluster_name: &s.cluster.name,
                version: &s.cluster.version,
                workloads: &s.policy.workloads,
                soaks: s.cluster.healthy,
            })
            .collect();
        soak::check_in(&mut own_history, &reports, explainer.now);
        let mut sector_min: HashMap<(usize, String), Version> = HashMap::new();
        for s in &view.specs {
            let Some(sector) = s.sector else { continue };
            for w in s.policy.workloads.iter() {
                sector_min
                    .entry((sector, w.clone()))
                    .and_modify(|v| {
                        if s.cluster.version.cmp_precedence(v).is_lt() {
                            v.clone_from(&s.cluster.version);
                        }
                    })
                    .or_insert_with(|| s.cluster.version.clone());
            }
        }
        Context {
            explainer,
            view,
            me,
            marked,
            own_history,
            sector_min,
        }
    }

    fn spec(&self) -> &Spec<'f> {
        &self.view.specs[self.me]
    }

    /// R57: mutexes and sector max-parallel.
    fn hold_check(&self, e: &mut Evaluation) {
        self.hold_check_counting_self(e, false);
    }

    /// [`Self::hold_check`], where `count_self` makes the cluster's own pending
    /// policy hold its mutexes too (R56): the HCP node-pool step (R81 (a)) runs
    /// before the existing-policy step, so there the cluster can hold itself.
    #[allow(clippy::many_single_char_names)] // mutex, upgrading, members, limit
    fn hold_check_counting_self(&self, e: &mut Evaluation, count_self: bool) {
        let spec = self.spec();
        let counts = |j: usize| (j != self.me || count_self) && self.marked[j];
        let holders = |m: &str| -> Vec<&str> {
            self.view
                .specs
                .iter()
                .enumerate()
                .filter(|(j, s)| counts(*j) && s.mutexes.iter().any(|x| x == m))
                .map(|(_, s)| s.cluster.name.as_str())
                .collect()
        };
        let limit = spec
            .sector
            .and_then(|s| self.view.sectors.max_parallel(s).map(|l| (s, l)));
        let own_mutexes: Vec<&String> = spec
            .mutexes
            .iter()
            .filter(|m| **m != spec.cluster.id)
            .collect();
        match limit {
            None => {
                let data: Vec<Value> = spec
                    .mutexes
                    .iter()
                    .map(|m| json!({ "mutex": m, "held_by": holders(m) }))
                    .collect();
                let held = spec.mutexes.iter().find_map(|m| {
                    let h = holders(m);
                    (!h.is_empty()).then_some((m, h))
                });
                match held {
                    // Held by its own pending policy only: the planner's
                    // `existing-policy` (ARCHITECTURE.md, explanations).
                    Some(_) if count_self && self.marked[self.me] => e.check(
                        "mutexes",
                        Outcome::Fail,
                        Some(Reason::ExistingPolicy),
                        describe_policies(&existing_policies(spec.cluster)),
                        json!(data),
                    ),
                    Some((m, h)) => e.check(
                        "mutexes",
                        Outcome::Fail,
                        Some(Reason::Mutex),
                        format!(
                            "mutex {m} is held by cluster {} which is upgrading",
                            h.join(", ")
                        ),
                        json!(data),
                    ),
                    None => e.check(
                        "mutexes",
                        Outcome::Pass,
                        Some(Reason::Mutex),
                        if own_mutexes.is_empty() {
                            "no mutex besides the cluster's own id, which is free".to_owned()
                        } else {
                            let names: Vec<&str> = own_mutexes.iter().map(|m| m.as_str()).collect();
                            format!("free: {}", names.join(", "))
                        },
                        json!(data),
                    ),
                }
            }
            Some((s, limit)) => {
                // R58: only upgrades inside the sector count.
                let rows: Vec<(&String, usize, usize, u64)> = spec
                    .mutexes
                    .iter()
                    .map(|m| {
                        let in_sector = |j: usize| {
                            let o = &self.view.specs[j];
                            o.sector == Some(s) && o.mutexes.contains(m)
                        };
                        let upgrading = (0..self.view.specs.len())
                            .filter(|&j| counts(j) && in_sector(j))
                            .count();
                        let members = (0..self.view.specs.len()).filter(|&j| in_sector(j)).count();
                        (m, upgrading, members, limit.limit_for(members.max(1)))
                    })
                    .collect();
                let data: Vec<Value> = rows
                    .iter()
                    .map(|(m, u, n, l)| {
                        json!({ "mutex": m, "upgrading": u, "members": n, "limit": l, "held_by": holders(m) })
                    })
                    .collect();
                let sector = self.view.sectors.name(s);
                let total: usize = rows.iter().map(|r| r.1).sum();
                let full = if total == 0 {
                    None
                } else {
                    rows.iter().find(|(_, u, _, l)| *u as u64 >= *l)
                };
                match full {
                    Some((m, u, _, l)) => e.check(
                        "mutexes",
                        Outcome::Fail,
                        Some(Reason::MaxParallel),
                        format!(
                            "sector {sector} allows {l} parallel upgrade(s) under mutex {m}; {u} upgrading ({})",
                            holders(m).join(", ")
                        ),
                        json!(data),
                    ),
                    None => e.check(
                        "mutexes",
                        Outcome::Pass,
                        Some(Reason::MaxParallel),
                        format!(
                            "sector {sector} max-parallel {limit}: {}",
                            rows.iter()
                                .map(|(m, u, _, l)| format!("{m} {u}/{l}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        json!(data),
                    ),
                }
            }
        }
    }

    /// Every offered version, highest first, with every condition (R88–R92).
    fn candidates(&self) -> Vec<Candidate> {
        let spec = self.spec();
        let cluster = spec.cluster;
        let fleet = self.explainer.fleet;
        let empty = VersionData::default();
        let sources = Source::verified(fleet, &self.view.sources, &empty);
        let table = SoakTable::aggregate(&self.own_history, &sources);
        let mut versions = available_upgrades(cluster);
        versions.sort_by(|a, b| b.cmp_precedence(a));
        let now = self.explainer.now;
        versions
            .into_iter()
            .map(|v| {
                let vs = v.to_string();
                let blocked_by = self
                    .view
                    .policy
                    .blocked_versions
                    .iter()
                    .find(|p| p.matches(&vs))
                    .map(|p| BlockedBy {
                        pattern: p.as_str().to_owned(),
                        source: "organization",
                    })
                    .or_else(|| {
                        spec.policy
                            .blocked_versions
                            .iter()
                            .find(|p| p.matches(&vs))
                            .map(|p| BlockedBy {
                                pattern: p.as_str().to_owned(),
                                source: "cluster",
                            })
                    });
                let inherited = spec.sector.map(|_| {
                    match table.inherited_check(true, v, &spec.policy.workloads) {
                        Ok(()) => InheritedCheck {
                            passed: true,
                            workload: None,
                            lowest_version: None,
                        },
                        Err((w, min)) => InheritedCheck {
                            passed: false,
                            workload: w,
                            lowest_version: Some(min.to_string()),
                        },
                    }
                });
                let sector_dependencies: Vec<DependencyCheck> = match spec.sector {
                    None => Vec::new(),
                    Some(s) => spec
                        .policy
                        .workloads
                        .iter()
                        .filter_map(|w| {
                            let deps = self.view.sectors.first_populated(s, &|d| {
                                self.sector_min.contains_key(&(d, w.clone()))
                            });
                            deps.into_iter()
                                .map(|d| (d, &self.sector_min[&(d, w.clone())]))
                                .min_by(|a, b| a.1.cmp_precedence(b.1))
                                .map(|(d, min)| DependencyCheck {
                                    workload: w.clone(),
                                    sector: self.view.sectors.name(d).to_owned(),
                                    lowest_version: min.to_string(),
                                    passed: !min.cmp_precedence(v).is_lt(),
                                })
                        })
                        .collect(),
                };
                let needed = spec.policy.soak_days;
                #[allow(clippy::cast_precision_loss)]
                let soak: Vec<SoakCheck> = spec
                    .policy
                    .workloads
                    .iter()
                    .map(|w| {
                        let soaked = table.soak_days(&vs, w);
                        let passed = soaked >= needed as f64;
                        let clusters_soaking = self
                            .view
                            .specs
                            .iter()
                            .filter(|s| {
                                s.cluster.healthy
                                    && s.cluster.version == *v
                                    && s.policy.workloads.contains(w)
                            })
                            .count();
                        let reached_at = (!passed && clusters_soaking > 0)
                            .then(|| {
                                let days = (needed as f64 - soaked) / clusters_soaking as f64;
                                SignedDuration::try_from_secs_f64(days * 86_400.0)
                                    .ok()
                                    .and_then(|d| now.checked_add(d).ok())
                            })
                            .flatten();
                        SoakCheck {
                            workload: w.clone(),
                            soaked_days: (soaked * 100.0).round() / 100.0,
                            needed_days: needed,
                            passed,
                            clusters_soaking,
                            reached_at: reached_at.map(schedule::whole_seconds),
                        }
                    })
                    .collect();
                let missing_gates: Vec<String> =
                    approver::missing_with_take(cluster, &fleet.version_gates, v)
                        .iter()
                        .map(|(g, take)| format!("{} ({}): {}", g.id, g.label, take.describe()))
                        .collect();
                let gate_hold =
                    approver::hold(cluster, &fleet.version_gates, v).map(|h| (h.reason, h.detail));
                let first_failure = if blocked_by.is_some() {
                    Some(Reason::BlockedVersion)
                } else if inherited.as_ref().is_some_and(|i| !i.passed) {
                    Some(Reason::InheritedVersion)
                } else if sector_dependencies.iter().any(|d| !d.passed) {
                    Some(Reason::SectorDependency)
                } else if soak.iter().any(|s| !s.passed) {
                    Some(Reason::SoakDays)
                } else {
                    None
                };
                Candidate {
                    version: vs,
                    blocked_by,
                    inherited,
                    sector_dependencies,
                    soak,
                    missing_gates,
                    gate_hold,
                    first_failure,
                }
            })
            .collect()
    }

    /// The earliest upgrade under current conditions (see the module note).
    fn estimate(&self, verdict: &Verdict, checks: &[Check], candidates: &[Candidate]) -> Estimate {
        let spec = self.spec();
        let now = self.explainer.now;
        if let Verdict::Action { action } = verdict {
            match action {
                Action::UpgradePolicy {
                    version, next_run, ..
                }
                | Action::ControlPlaneUpgradePolicy {
                    version, next_run, ..
                }
                | Action::NodePoolUpgradePolicy {
                    version, next_run, ..
                } => {
                    return Estimate {
                        earliest: Some(*next_run),
                        version: Some(version.to_string()),
                        summary: format!(
                            "AUS creates the upgrade policy in this pass: {version} at {next_run}"
                        ),
                        assumptions: Vec::new(),
                    };
                }
                Action::ChannelSwitch { .. } => {}
            }
        }
        let failed = |reason: Reason| {
            checks
                .iter()
                .find(|c| c.outcome == Outcome::Fail && c.reason == Some(reason))
        };
        if let Some(c) = failed(Reason::OrgValidationError) {
            let then = match self.projection(candidates) {
                Ok((t, v)) => format!("; once fixed, the earliest slot is {t} for {v}"),
                Err(why) => format!("; once fixed: {why}"),
            };
            return never(&format!(
                "never under current conditions: {}{then}",
                c.detail
            ));
        }
        let policies = existing_policies(spec.cluster);
        if let Some(c) = failed(Reason::ExistingPolicy) {
            if let [p] = policies.as_slice()
                && let (Some(v), Some(t)) = (&p.version, p.next_run)
                && matches!(p.state, PolicyState::Scheduled | PolicyState::Pending)
                && t >= now
            {
                return Estimate {
                    earliest: Some(t),
                    version: Some(v.to_string()),
                    summary: format!("already scheduled by policy {}: {v} at {t}", p.id),
                    assumptions: vec!["OCM runs the existing policy as scheduled".to_owned()],
                };
            }
            return never(&format!(
                "unknown: waits until the existing upgrade policy finishes or is removed ({})",
                c.detail
            ));
        }
        let projection = self.projection(candidates);
        let mut assumptions = vec![
            "AUS passes run continuously, so a slot is booked as soon as it is within 2 hours".to_owned(),
            "soak days accrue at the current rate: one day per day for every healthy cluster of the organization running the version with the workload; inherited organizations add nothing more".to_owned(),
            "nothing else changes: labels, blocked versions, offered versions, gate agreements, other clusters' versions and upgrades".to_owned(),
        ];
        if let Some(c) = failed(Reason::Mutex).or_else(|| failed(Reason::MaxParallel)) {
            let then = match &projection {
                Ok((t, v)) => format!("; once free, the earliest slot is {t} for {v}"),
                Err(why) => format!("; once free: {why}"),
            };
            return Estimate {
                earliest: None,
                version: None,
                summary: format!(
                    "unknown: waits until the upgrade holding it finishes, which AUS cannot predict ({}){then}",
                    c.detail
                ),
                assumptions,
            };
        }
        match projection {
            Ok((t, v)) => {
                let approved = candidates.iter().find(|c| c.version == v).is_some_and(|c| {
                    c.gate_hold
                        .as_ref()
                        .is_some_and(|(r, _)| *r == Reason::VersionGate)
                });
                if approved {
                    assumptions.push(format!(
                        "the version-gate approver of `aus run` agrees to the gates of {v} the cluster approves, in the pass that books it"
                    ));
                }
                Estimate {
                    earliest: Some(t),
                    version: Some(v.clone()),
                    summary: format!("earliest slot {t} for {v}"),
                    assumptions,
                }
            }
            Err(why) => {
                assumptions.clear();
                never(&why)
            }
        }
    }

    /// The earliest slot at which some candidate meets every condition, and that
    /// candidate; or why none ever will under current conditions.
    fn projection(&self, candidates: &[Candidate]) -> Result<(Timestamp, String), String> {
        let schedule = &self.spec().policy.schedule;
        let now = self.explainer.now;
        if candidates.is_empty() {
            return Err(format!(
                "never under current conditions: OCM offers no upgrade from {}",
                self.spec().cluster.version
            ));
        }
        // (version, why): versions with the same obstacle are listed together.
        let mut obstacles: Vec<(&str, String)> = Vec::new();
        // Candidates that can qualify, highest first, with the time their soak is met.
        let mut ready: Vec<(&Candidate, Timestamp)> = Vec::new();
        for c in candidates {
            if let Some(b) = &c.blocked_by {
                obstacles.push((
                    &c.version,
                    format!("blocked by {} pattern {}", b.source, b.pattern),
                ));
                continue;
            }
            if let Some(InheritedCheck {
                passed: false,
                lowest_version: Some(min),
                ..
            }) = &c.inherited
            {
                obstacles.push((
                    &c.version,
                    format!("waits for the organizations it inherits from (lowest version {min})"),
                ));
                continue;
            }
            if let Some(d) = c.sector_dependencies.iter().find(|d| !d.passed) {
                obstacles.push((
                    &c.version,
                    format!(
                        "waits for sector {} (lowest version {} for workload {})",
                        d.sector, d.lowest_version, d.workload
                    ),
                ));
                continue;
            }
            let mut at = now;
            let mut never_soaks = None;
            for s in c.soak.iter().filter(|s| !s.passed) {
                match s.reached_at {
                    Some(t) => at = at.max(t),
                    None => never_soaks = Some(s),
                }
            }
            if let Some(s) = never_soaks {
                obstacles.push((
                    &c.version,
                    format!(
                        "never soaks for workload {}: {:.2} of {} days and no healthy cluster of the organization runs it",
                        s.workload, s.soaked_days, s.needed_days
                    ),
                ));
                continue;
            }
            ready.push((c, at));
        }
        // Walk the moments a candidate becomes ready. At each, the pass that books
        // the next slot chooses the highest ready candidate (R88); a missing gate
        // agreement on it holds the cluster (R92) rather than falling back to a
        // lower version, so a later, higher candidate may be the way out. A gate
        // the version-gate approver takes holds nothing: `aus run` agrees to it
        // in the pass that books (R105–R112); only the owners' gates do.
        let mut moments: Vec<Timestamp> = ready.iter().map(|(_, t)| *t).collect();
        moments.sort();
        moments.dedup();
        let mut gated: Vec<&str> = Vec::new();
        for t in moments {
            let Some(slot) = t
                .checked_add(CLUSTER_DELAY)
                .ok()
                .and_then(|t| schedule.first_after(t))
            else {
                obstacles.push(("every version", "the schedule never fires again".to_owned()));
                break;
            };
            let booking = t.max(slot - CLUSTER_WINDOW);
            let Some((chosen, _)) = ready.iter().find(|(_, at)| *at <= booking) else {
                continue;
            };
            let owners_gate = chosen
                .gate_hold
                .as_ref()
                .is_some_and(|(reason, _)| *reason == Reason::MissingGateAgreement);
            if !owners_gate {
                return Ok((slot, chosen.version.clone()));
            }
            if !gated.contains(&chosen.version.as_str()) {
                gated.push(&chosen.version);
                obstacles.push((
                    &chosen.version,
                    format!(
                        "chosen first but needs gate agreement(s): {}",
                        chosen.missing_gates.join(", ")
                    ),
                ));
            }
        }
        let mut grouped: Vec<(Vec<&str>, String)> = Vec::new();
        for (v, why) in obstacles {
            match grouped.iter_mut().find(|(_, w)| *w == why) {
                Some((vs, _)) => vs.push(v),
                None => grouped.push((vec![v], why)),
            }
        }
        let list: Vec<String> = grouped
            .into_iter()
            .map(|(vs, why)| format!("{}: {why}", vs.join(", ")))
            .collect();
        Err(format!(
            "unknown/never under current conditions: {}",
            list.join("; ")
        ))
    }
}

fn never(summary: &str) -> Estimate {
    Estimate {
        earliest: None,
        version: None,
        summary: summary.to_owned(),
        assumptions: Vec::new(),
    }
}

/// R88: why no candidate qualifies, as the planner words it.
fn candidates_failure(cluster: &Cluster, candidates: &[Candidate]) -> (Reason, String) {
    if candidates.is_empty() {
        return (
            Reason::NoUpgrades,
            format!("OCM offers no upgrade from {}", cluster.version),
        );
    }
    if let Some(c) = candidates
        .iter()
        .find(|c| c.blocked_by.is_none() && c.first_failure.is_some())
    {
        let reason = c.first_failure.unwrap_or(Reason::SoakDays);
        let detail = match reason {
            Reason::InheritedVersion => {
                let i = c.inherited.as_ref();
                let min = i.and_then(|i| i.lowest_version.clone()).unwrap_or_default();
                let whose = i.and_then(|i| i.workload.clone()).map_or_else(
                    || "the lowest version in the organizations it inherits from".to_owned(),
                    |w| format!("the lowest version running workload {w} in the organizations it inherits from"),
                );
                format!("{} is newer than {min}, {whose}", c.version)
            }
            Reason::SectorDependency => c
                .sector_dependencies
                .iter()
                .filter(|d| !d.passed)
                .map(|d| {
                    format!(
                        "{} is ahead of sector {}, whose lowest version for workload {} is {}",
                        c.version, d.sector, d.workload, d.lowest_version
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            _ => c
                .soak
                .iter()
                .filter(|s| !s.passed)
                .map(|s| {
                    format!(
                        "{} soaked {:.2} of {} days for workload {}",
                        c.version, s.soaked_days, s.needed_days, s.workload
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        return (reason, detail);
    }
    let blocked: Vec<String> = candidates
        .iter()
        .filter_map(|c| {
            c.blocked_by
                .as_ref()
                .map(|b| format!("{} by {}", c.version, b.pattern))
        })
        .collect();
    (
        Reason::BlockedVersion,
        format!("every available version is blocked: {}", blocked.join(", ")),
    )
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with signature
fn rfc3339<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&schedule::whole_seconds(*t))
}

#[allow(clippy::ref_option)] // serde's serialize_with signature
fn opt_rfc3339<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(&schedule::whole_seconds(*t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(available: &str, soaked: &str) -> Fleet {
        let text = format!(
            r#"
now: 2026-03-02T10:00:00Z
organizations: [{{id: o}}]
version_gates:
  - {{id: gate-ocp-4-15, version_raw_id_prefix: "4.15", label: api.openshift.com/gate-ocp, sts_only: false}}
clusters:
  - name: c
    organization: o
    version: 4.14.8
    available_upgrades: {available}
    labels:
      sre-capabilities.aus.workloads: w
      sre-capabilities.aus.soak-days: "2"
      sre-capabilities.aus.schedule: "0 * * * *"
  - name: peer
    organization: o
    version: 4.14.10
    labels:
      sre-capabilities.aus.workloads: w
      sre-capabilities.aus.soak-days: "2"
      sre-capabilities.aus.schedule: "0 * * * *"
version_data:
  o:
    check_in: 2026-03-02T10:00:00Z
    versions: {soaked}
"#
        );
        srecap_fleet::parse_scenario(&text, "test", Timestamp::UNIX_EPOCH).unwrap()
    }

    fn explain(f: &Fleet) -> ClusterExplanation {
        let x = Explainer::new(f, f.now);
        x.explain(x.find("c").unwrap())
    }

    #[test]
    fn a_gated_choice_is_not_bypassed_by_a_lower_soaked_version() {
        // 4.15.2 is soaked and chosen, but gated by a gate only the owners can
        // agree to: the planner does not fall back to 4.14.9, so no upgrade is
        // in sight while the agreement is missing.
        let mut f = fleet(
            "[4.14.9, 4.15.2]",
            "{4.14.9: {workloads: {w: {soak_days: 5.0, reporting: [x]}}}, 4.15.2: {workloads: {w: {soak_days: 5.0, reporting: [x]}}}}",
        );
        f.version_gates[0].label = crate::gate::GATE_INGRESS.to_owned();
        let e = explain(&f);
        assert!(matches!(
            e.verdict,
            Verdict::Skipped {
                reason: Reason::MissingGateAgreement,
                ..
            }
        ));
        assert_eq!(e.estimate.earliest, None);
        assert!(
            e.estimate.summary.contains("gate-ocp-4-15"),
            "{}",
            e.estimate.summary
        );
    }

    #[test]
    fn r110_a_gate_the_approver_takes_does_not_hold_the_estimate() {
        // The OCP gate is approved by default (R109): `aus run` agrees to it in
        // the pass that books, so the estimate is the next slot, while the
        // scenario's own plan (no approver) still waits with `version-gate`.
        let f = fleet(
            "[4.14.9, 4.15.2]",
            "{4.14.9: {workloads: {w: {soak_days: 5.0, reporting: [x]}}}, 4.15.2: {workloads: {w: {soak_days: 5.0, reporting: [x]}}}}",
        );
        let e = explain(&f);
        assert!(matches!(
            e.verdict,
            Verdict::Skipped {
                reason: Reason::VersionGate,
                ..
            }
        ));
        assert_eq!(
            e.estimate.earliest.map(|t| t.to_string()).as_deref(),
            Some("2026-03-02T11:00:00Z"),
            "{}",
            e.estimate.summary
        );
    }

    #[test]
    fn soak_projects_at_the_rate_of_clusters_running_the_version() {
        // 4.14.10 has 1 of 2 days, one healthy cluster runs it: met in a day,
        // booked at the next hourly slot after that.
        let f = fleet(
            "[4.14.10]",
            "{4.14.10: {workloads: {w: {soak_days: 1.0, reporting: [peer]}}}}",
        );
        let e = explain(&f);
        assert!(matches!(
            e.verdict,
            Verdict::Skipped {
                reason: Reason::SoakDays,
                ..
            }
        ));
        assert_eq!(e.candidates[0].soak[0].clusters_soaking, 1);
        assert_eq!(
            e.estimate.earliest,
            Some("2026-03-03T11:00:00Z".parse().unwrap())
        );
        assert_eq!(e.estimate.version.as_deref(), Some("4.14.10"));
        // Nobody runs 4.14.9: it never soaks.
        let f = fleet("[4.14.9]", "{}");
        let e = explain(&f);
        assert_eq!(e.estimate.earliest, None);
        assert!(
            e.estimate.summary.contains("never soaks"),
            "{}",
            e.estimate.summary
        );
    }

    #[test]
    fn a_soaked_lower_version_is_the_earliest_upgrade() {
        let f = fleet(
            "[4.14.9, 4.14.10]",
            "{4.14.9: {workloads: {w: {soak_days: 3.0, reporting: [x]}}}}",
        );
        let e = explain(&f);
        // The window is open (slot 11:00 within 2 hours): 4.14.9 is booked now.
        assert!(
            matches!(e.verdict, Verdict::Action { .. }),
            "{:?}",
            e.verdict
        );
        assert_eq!(e.estimate.version.as_deref(), Some("4.14.9"));
        assert_eq!(e.candidates[0].first_failure, Some(Reason::SoakDays));
        assert_eq!(e.candidates[1].first_failure, None);
    }

    #[test]
    fn lookups_name_what_was_not_found() {
        let f = fleet("[]", "{}");
        let x = Explainer::new(&f, f.now);
        assert_eq!(
            x.find("nope").unwrap_err(),
            ExplainError::UnknownCluster("nope".into())
        );
        assert_eq!(
            x.status(Some("org-x")).unwrap_err(),
            ExplainError::UnknownOrganization("org-x".into())
        );
    }
}
