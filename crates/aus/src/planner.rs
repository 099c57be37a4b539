//! The per-organization decision procedure (§8) and its lock bookkeeping (§5).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_fleet::{Cluster, Organization, PolicyState, UpgradePolicy, VersionData, VersionGate};
use srecap_labels::{LabelParser, ParallelLimit, VersionPattern};

use crate::blocked::BlockedVerdicts;
use crate::labels::{AUS_PREFIX, BLOCKED_VERSIONS, CLUSTER_LABELS};

use crate::approver;
use crate::channel;
use crate::plan::{
    Action, ChannelDecision, Explanation, MissingGates, OrgDetails, OrgPlan, Reason,
    RemainingSoakDays, ValidCluster, ValidationErrors, Warning,
};
use crate::policy::{ClusterPolicy, OrgPolicy};
use crate::schedule::{self, Timing, Window};
use crate::sector::Sectors;
use crate::soak::{self, Report, SoakTable, Source, VersionKey};

/// Everything the planner needs to decide one organization's pass.
#[derive(Debug, Clone)]
pub struct OrgInput<'a> {
    pub environment: &'a str,
    pub org: &'a Organization,
    /// The organization's discovered clusters (AUS label, ready), in discovery order.
    pub clusters: Vec<&'a Cluster>,
    /// The organization's stored history (`None`: never stored).
    pub history: Option<&'a VersionData>,
    /// Stored histories of the verified organizations it inherits from.
    pub sources: Vec<Source<'a>>,
    /// Organization errors found outside its own labels (inheritance network).
    pub extra_org_errors: Vec<String>,
    pub version_gates: &'a [VersionGate],
    pub now: Timestamp,
    /// Test-only faults that break one promise of the planner, so the invariant
    /// auditor of the fleet simulation can be shown to catch each violation.
    pub faults: Faults,
}

/// Deliberate planner bugs, for testing the auditors. All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches
pub struct Faults {
    pub ignore_blocked_versions: bool,
    pub ignore_soak_days: bool,
    pub ignore_schedule: bool,
    pub ignore_mutexes: bool,
    pub ignore_sector_dependencies: bool,
}

/// A valid cluster with its parsed policy.
struct Spec<'a> {
    cluster: &'a Cluster,
    /// Shared with [`ParsedLabels`]: copying a policy (its sector name, a
    /// handful of shared lists) per cluster and plan showed in profiles.
    policy: Arc<ClusterPolicy>,
    sector: Option<usize>,
    /// Discovery position, for output order.
    position: usize,
}

impl Spec<'_> {
    /// The cluster's `mutexes` plus its id (R54), as a set: a cluster counts once
    /// per mutex however often a label lists it (R55 keeps sets of cluster ids);
    /// label order is kept for messages. Computed on the fly rather than stored:
    /// lists are a few names long, and copying them per cluster showed in profiles.
    fn mutexes(&self) -> impl Iterator<Item = &str> + Clone {
        let listed: &[String] = &self.policy.mutexes;
        let id = self.cluster.id.as_str();
        listed
            .iter()
            .enumerate()
            .filter(move |&(i, m)| !listed[..i].contains(m))
            .map(|(_, m)| m.as_str())
            .chain((!listed.iter().any(|m| m == id)).then_some(id))
    }
}

/// Why a max-upgrade check (R57) held a cluster back.
#[derive(Clone, Copy)]
enum Hold<'m> {
    Mutex {
        mutex: &'m str,
        holder: usize,
    },
    MaxParallel {
        sector: usize,
        mutex: &'m str,
        upgrading: usize,
        limit: u64,
    },
}

/// What a pass builds besides its decisions. The default builds everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Build [`OrgDetails::valid_clusters`] and
    /// [`OrgDetails::remaining_soak_days`], the facts of the reconciler's
    /// metrics (§15, R126). The offline plan never reads them, and on a big
    /// fleet they cost about a third of the pass (a copy of every valid
    /// cluster's names and settings, a line per cluster and available version).
    pub metric_facts: bool,
    /// Stop after validating the labels (R6): an organization without
    /// validation errors then gets a plan with no actions, no explanations and
    /// an empty history. A reconciler asks this first, because an organization
    /// with errors is frozen and needs no per-cluster reads at all.
    pub validate_only: bool,
    /// How far ahead slots are booked: cluster upgrades by default, add-on
    /// upgrades for the add-on scheduler (R115, [`crate::addon`]).
    pub timing: Timing,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            metric_facts: true,
            validate_only: false,
            timing: Timing::CLUSTER,
        }
    }
}

/// Plan one organization's pass, with every detail ([`PlanOptions::default`]).
pub fn plan_org(input: &OrgInput<'_>) -> OrgPlan {
    plan_org_with(input, PlanOptions::default())
}

/// Plan one organization's pass, building the details `options` asks for.
/// Decisions, explanations and history never depend on `options`.
pub fn plan_org_with(input: &OrgInput<'_>, options: PlanOptions) -> OrgPlan {
    plan_org_parsed(input, options, &mut ParsedLabels::default())
}

/// The policies parsed from one organization's labels and its clusters',
/// kept between planning calls.
///
/// A reconciler plans an organization several times in one pass (a
/// labels-only probe, then the plan, then again when agreements it read change
/// a decision), and again every pass, over labels that rarely change; parsing
/// them was a fifth of planning. Each entry keeps the labels it was parsed
/// from and is used only while they are the same, so the cache may live as
/// long as its owner likes; [`ParsedLabels::start_pass`] forgets the clusters
/// the previous pass did not plan.
#[derive(Debug)]
pub struct ParsedLabels {
    parser: LabelParser,
    /// Shared rather than cloned per call: a policy's compiled
    /// blocked-version patterns are costly to copy.
    org: Option<ParsedOrg>,
    clusters: FxHashMap<String, ParsedCluster>,
    /// Blocked-version verdicts (pure in pattern and version, so they hold
    /// whatever the labels become): a plan decides the same pairs as the one
    /// before it.
    blocked: BlockedVerdicts,
    /// The current pass, and the one each cluster entry was last used in.
    pass: u64,
}

#[derive(Debug)]
struct ParsedOrg {
    id: String,
    labels: BTreeMap<String, String>,
    policy: Arc<OrgPolicy>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct ParsedCluster {
    /// Shared with the cluster: the comparison with the next pass's labels
    /// is a pointer comparison while they are the same map.
    labels: Arc<BTreeMap<String, String>>,
    parsed: Result<Arc<ClusterPolicy>, Vec<String>>,
    used_in: u64,
}

impl Default for ParsedLabels {
    fn default() -> Self {
        ParsedLabels {
            parser: LabelParser::new(CLUSTER_LABELS),
            org: None,
            clusters: FxHashMap::default(),
            blocked: BlockedVerdicts::default(),
            pass: 0,
        }
    }
}

impl ParsedLabels {
    /// A new pass begins: the clusters the previous pass did not plan
    /// (deleted, or moved to another organization) are forgotten, so the
    /// cache holds one pass's clusters at most.
    pub fn start_pass(&mut self) {
        let previous = self.pass;
        self.clusters.retain(|_, c| c.used_in == previous);
        self.pass += 1;
        // The parser remembers every value it parsed; values that changed
        // pass after pass would pile up.
        if self.parser.cached_values() > 16 * (self.clusters.len() + 16) {
            self.parser = LabelParser::new(CLUSTER_LABELS);
        }
        // So would verdicts of patterns and versions long gone.
        if self.blocked.len() > BLOCKED_VERDICTS_KEPT {
            self.blocked = BlockedVerdicts::default();
        }
    }

    /// The organization's policy and label errors.
    fn org(&mut self, org: &Organization) -> (Arc<OrgPolicy>, Vec<String>) {
        if let Some(kept) = &self.org
            && kept.id == org.id
            && kept.labels == org.labels
        {
            return (Arc::clone(&kept.policy), kept.errors.clone());
        }
        let (policy, errors) = OrgPolicy::from_labels(&org.labels);
        let policy = Arc::new(policy);
        self.org = Some(ParsedOrg {
            id: org.id.clone(),
            labels: org.labels.clone(),
            policy: Arc::clone(&policy),
            errors: errors.clone(),
        });
        (policy, errors)
    }

    /// The cluster's policy, or its label errors.
    fn cluster(&mut self, cluster: &Cluster) -> Result<Arc<ClusterPolicy>, Vec<String>> {
        if let Some(kept) = self.clusters.get_mut(cluster.id.as_str())
            && kept.labels == cluster.labels
        {
            kept.used_in = self.pass;
            return kept.parsed.clone();
        }
        let parsed = ClusterPolicy::parse_with(&mut self.parser, &cluster.labels).map(Arc::new);
        self.clusters.insert(
            cluster.id.clone(),
            ParsedCluster {
                labels: cluster.labels.clone(),
                parsed: parsed.clone(),
                used_in: self.pass,
            },
        );
        parsed
    }
}

/// Blocked-version verdicts a [`ParsedLabels`] keeps at most from pass to
/// pass (an organization's patterns times the versions its clusters see is
/// far less).
const BLOCKED_VERDICTS_KEPT: usize = 100_000;

/// [`plan_org_with`] reusing the policies `parsed` holds from earlier calls
/// over the same labels.
pub fn plan_org_parsed(
    input: &OrgInput<'_>,
    options: PlanOptions,
    parsed: &mut ParsedLabels,
) -> OrgPlan {
    let mut blocked = std::mem::take(&mut parsed.blocked);
    let plan = plan_with_verdicts(input, options, parsed, &mut blocked);
    parsed.blocked = blocked;
    plan
}

fn plan_with_verdicts(
    input: &OrgInput<'_>,
    options: PlanOptions,
    parsed: &mut ParsedLabels,
    blocked: &mut BlockedVerdicts,
) -> OrgPlan {
    let mut errors = ValidationErrors::default();
    let (org_policy, org_label_errors) = parsed.org(input.org);
    errors.organization.extend(org_label_errors);
    errors
        .organization
        .extend(input.extra_org_errors.iter().cloned());
    let sectors = Sectors::new(&org_policy.sectors);
    // Deviation (R36, §18 G2): a cycle is this organization's validation error.
    errors.organization.extend(sectors.cycle_errors());

    let mut explanations: Vec<(usize, Explanation)> = Vec::with_capacity(input.clusters.len());
    let mut specs: Vec<Spec<'_>> = Vec::with_capacity(input.clusters.len());
    let mut valid: Vec<ValidCluster> = Vec::with_capacity(input.clusters.len());
    let mut texts = VersionTexts::default();
    // Issue 15 item 10: every blocked-version pattern is decided against every
    // version it can meet while validating, each pair once; a pattern out of its
    // backtracking budget is a label error here, never a slow decision.
    for (position, cluster) in input.clusters.iter().copied().enumerate() {
        let policy = match parsed.cluster(cluster).and_then(|p| {
            evaluate_blocked(blocked, &mut texts, &p.blocked_versions, [cluster]).map(|()| p)
        }) {
            Ok(p) => p,
            Err(messages) => {
                explanations.push((
                    position,
                    explain(cluster, Reason::ValidationError, messages.join("; ")),
                ));
                errors
                    .clusters
                    .insert(cluster.external_id.clone(), messages);
                continue;
            }
        };
        let sector = match policy
            .sector
            .as_deref()
            .map(|name| (name, sectors.id(name)))
        {
            None => None,
            Some((_, Some(id))) => Some(id),
            Some((name, None)) => {
                {
                    // R37. The organization message is added once, not once per
                    // cluster (§18 G33).
                    let org_msg = format!("sector {name} not found in organization");
                    if !errors.organization.contains(&org_msg) {
                        errors.organization.push(org_msg);
                    }
                    let msg = format!(
                        "cluster {} references unknown sector {name}",
                        cluster.external_id
                    );
                    explanations.push((
                        position,
                        explain(cluster, Reason::ValidationError, msg.clone()),
                    ));
                    errors
                        .clusters
                        .entry(cluster.external_id.clone())
                        .or_default()
                        .push(msg);
                    continue;
                }
            }
        };
        let spec = Spec {
            cluster,
            policy,
            sector,
            position,
        };
        // Built here, in discovery order, while the cluster is in cache, and
        // permuted with the specs: in processing order every access to a
        // cluster is a cache miss on a big fleet.
        if options.metric_facts {
            valid.push(valid_cluster(&spec));
        }
        specs.push(spec);
    }
    if let Err(messages) = evaluate_blocked(
        blocked,
        &mut texts,
        &org_policy.blocked_versions,
        specs.iter().map(|s| s.cluster),
    ) {
        errors.organization.extend(messages);
    }
    // R53: lower versions first, then fewer soak days; stable, so ties keep
    // discovery order. Sorted once (the reference re-sorted per insertion, G31).
    // A permutation is sorted rather than the specs themselves: a spec is a few
    // hundred bytes and moving them n·log n times showed in profiles.
    // Versions are ranked once and the keys sorted as integers, the index last so
    // that an unstable sort gives the stable order: comparing versions through
    // the specs n·log n times showed in profiles.
    let ranks = precedence_ranks(specs.iter().map(|s| &s.cluster.version));
    let keys: Vec<(usize, u64)> = specs
        .iter()
        .map(|s| (ranks[&VersionKey(&s.cluster.version)], s.policy.soak_days))
        .collect();
    let order = stable_order(&keys);
    let specs = permute(specs, &order);

    let mut details = OrgDetails {
        org_name: input.org.name.clone(),
        valid_clusters: if options.metric_facts {
            permute(valid, &order)
        } else {
            Vec::new()
        },
        ..OrgDetails::default()
    };

    let warnings = warnings(input, &org_policy, &sectors, &specs);
    if !errors.is_empty() {
        // R6: an organization with any validation error is frozen: no history
        // update, no actions.
        let summary = frozen_summary(&errors);
        for spec in &specs {
            explanations.push((
                spec.position,
                explain(spec.cluster, Reason::OrgValidationError, summary.clone()),
            ));
        }
        return OrgPlan {
            org_id: input.org.id.clone(),
            validation_errors: errors,
            actions: Vec::new(),
            clusters: discovery_order(input.clusters.len(), explanations),
            version_data: input.history.cloned().unwrap_or_default(),
            details,
            warnings,
        };
    }
    if options.validate_only {
        return OrgPlan {
            org_id: input.org.id.clone(),
            validation_errors: errors,
            actions: Vec::new(),
            clusters: Vec::new(),
            version_data: VersionData::default(),
            details,
            warnings,
        };
    }

    // §6: check in, save, aggregate.
    let mut own = input.history.cloned().unwrap_or_default();
    let reports: Vec<Report<'_>> = specs
        .iter()
        .map(|s| Report {
            cluster_name: &s.cluster.name,
            version: &s.cluster.version,
            workloads: &s.policy.workloads,
            soaks: s.cluster.healthy,
        })
        .collect();
    soak::check_in(&mut own, &reports, input.now);
    let table = SoakTable::aggregate(&own, &input.sources);
    details.history_updated = true;

    let mut decider = Decider::new(
        input,
        &org_policy,
        &sectors,
        &specs,
        &table,
        &*blocked,
        options.timing,
    );
    let (actions, switches) = decider.run(
        &mut explanations,
        &mut details.missing_gates,
        options
            .metric_facts
            .then_some(&mut details.remaining_soak_days),
    );
    if options.metric_facts {
        // The rows refer to versions by the decisions' ids.
        details.remaining_soak_days.set_versions(
            decider
                .version_facts
                .iter()
                .map(|f| Arc::clone(&f.text))
                .collect(),
        );
    }

    let mut all_actions = actions;
    all_actions.extend(switches);
    details.channel_decisions = channel_decisions(
        input.clusters.len(),
        &explanations,
        &decider.channel_decisions,
    );
    OrgPlan {
        org_id: input.org.id.clone(),
        validation_errors: errors,
        actions: all_actions,
        clusters: discovery_order(input.clusters.len(), explanations),
        version_data: own,
        details,
        warnings,
    }
}

/// The [`ChannelDecision`]s of a plan whose `explanations` (by discovery
/// position) are about to be put in discovery order; `decisions` are
/// (position, switched) in decision order. `None` when a position is explained
/// twice (then [`discovery_order`] does not place them one per slot, and the
/// plan cannot be completed without planning again).
fn channel_decisions(
    clusters: usize,
    explanations: &[(usize, Explanation)],
    decisions: &[(usize, bool)],
) -> Option<Vec<ChannelDecision>> {
    // The index of an explanation in discovery order is the number of explained
    // positions before it.
    let mut explained = vec![false; clusters];
    for &(p, _) in explanations {
        if std::mem::replace(explained.get_mut(p)?, true) {
            return None;
        }
    }
    let mut index = Vec::with_capacity(clusters);
    let mut before = 0;
    for e in explained {
        index.push(before);
        before += usize::from(e);
    }
    decisions
        .iter()
        .map(|&(position, switched)| {
            Some(ChannelDecision {
                position,
                explanation: if switched {
                    None
                } else {
                    Some(*index.get(position)?)
                },
            })
        })
        .collect()
}

/// Valid configurations that probably do not do what their owners think
/// (issue 15 item 12), in a stable order: sectors by name, then inheritance
/// sources in label order.
fn warnings(
    input: &OrgInput<'_>,
    org_policy: &OrgPolicy,
    sectors: &Sectors,
    specs: &[Spec<'_>],
) -> Vec<Warning> {
    let mut populated = vec![false; sectors.len()];
    for s in specs.iter().filter_map(|s| s.sector) {
        populated[s] = true;
    }
    let mut out = Vec::new();
    for decl in &org_policy.sectors {
        let Some(id) = sectors.id(&decl.name) else {
            continue;
        };
        for &d in sectors.dependencies(id) {
            if !populated[d] {
                out.push(Warning::EmptyDependency {
                    sector: decl.name.clone(),
                    dependency: sectors.name(d).to_owned(),
                });
            }
        }
        if let Some(ParallelLimit::Percent(percent)) = decl.max_parallel
            && percent > 100
        {
            out.push(Warning::LimitOver100 {
                sector: decl.name.clone(),
                percent,
            });
        }
    }
    out.extend(
        org_policy
            .ignored_limits
            .iter()
            .map(|sector| Warning::UndeclaredLimit {
                sector: sector.clone(),
            }),
    );
    // R44: a verified source that was never reconciled has nothing stored.
    out.extend(
        input
            .sources
            .iter()
            .filter(|s| s.history.check_in.is_none() && s.history.versions.is_empty())
            .map(|s| Warning::SourceWithoutHistory {
                environment: s.environment.to_owned(),
                source: s.org_id.to_owned(),
            }),
    );
    out
}

/// Decide `patterns` against the versions `clusters` may move to (R80), as a
/// label error of `blocked-versions` when one is out of its budget.
fn evaluate_blocked<'c>(
    blocked: &mut BlockedVerdicts,
    texts: &mut VersionTexts<'c>,
    patterns: &[VersionPattern],
    clusters: impl IntoIterator<Item = &'c Cluster>,
) -> Result<(), Vec<String>> {
    if patterns.is_empty() {
        return Ok(());
    }
    // Distinct versions first: a fleet has thousands of clusters but few versions.
    let mut versions = texts.distinct(clusters);
    // Every pair decided before and within budget (the usual case, every pass
    // after the first): evaluating would change nothing, so neither the sort
    // nor the owned strings it takes are needed.
    if blocked.all_within_budget(patterns, &versions) {
        return Ok(());
    }
    // Sorted, so that which version an error names never depends on hashing.
    versions.sort_unstable();
    blocked
        .evaluate(patterns, &versions)
        .map_err(|e| vec![format!("label {AUS_PREFIX}{BLOCKED_VERSIONS}: {e}")])
}

/// The strings of the versions the blocked-version patterns are decided
/// against, each formatted once per plan: clusters with their own patterns
/// share most of their versions, and formatting them per cluster showed in
/// profiles.
#[derive(Default)]
struct VersionTexts<'c> {
    ids: VersionIds<'c>,
    texts: Vec<String>,
    /// Per id, the call of [`VersionTexts::distinct`] that last listed it.
    listed: Vec<u64>,
    calls: u64,
}

impl<'c> VersionTexts<'c> {
    /// The strings of the distinct [`available_upgrades`] of `clusters`, in no
    /// particular order. Their union is OCM's lists plus the version of every
    /// cluster with a node pool behind, so no per-cluster list is built.
    fn distinct(&mut self, clusters: impl IntoIterator<Item = &'c Cluster>) -> Vec<&str> {
        self.calls += 1;
        let mut ids: Vec<usize> = Vec::new();
        for c in clusters {
            let behind = node_pool_behind(c).then_some(&c.version);
            for v in c.available_upgrades.iter().chain(behind) {
                let (id, new) = self.ids.id(v);
                if new {
                    self.texts.push(v.to_string());
                    self.listed.push(0);
                }
                if std::mem::replace(&mut self.listed[id], self.calls) != self.calls {
                    ids.push(id);
                }
            }
        }
        ids.into_iter().map(|id| self.texts[id].as_str()).collect()
    }
}

/// `items` in the order of `order`, a permutation of their indices.
fn permute<T>(items: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    // Allocated once: collecting from `filter_map` would grow the vector step
    // by step, copying big items each time.
    let mut out = Vec::with_capacity(order.len());
    out.extend(order.iter().filter_map(|&i| slots[i].take()));
    out
}

/// A rank per distinct version, in precedence order: versions of equal
/// precedence (differing only in build metadata) share a rank.
fn precedence_ranks<'v>(
    versions: impl Iterator<Item = &'v Version>,
) -> FxHashMap<VersionKey<'v>, usize> {
    let mut ranks: FxHashMap<VersionKey<'v>, usize> = FxHashMap::default();
    for v in versions {
        ranks.entry(VersionKey(v)).or_insert(0);
    }
    let mut distinct: Vec<&Version> = ranks.keys().map(|k| k.0).collect();
    distinct.sort_by(|a, b| a.cmp_precedence(b));
    let mut rank = 0;
    for (i, v) in distinct.iter().enumerate() {
        if i > 0 && distinct[i - 1].cmp_precedence(v).is_ne() {
            rank += 1;
        }
        ranks.insert(VersionKey(v), rank);
    }
    ranks
}

/// The indices of `keys` ordered by key, equal keys by index: what a stable
/// sort gives. Placed by counting rather than sorted: a fleet has thousands of
/// clusters but few distinct (version rank, soak days) keys, and sorting the
/// clusters showed in profiles.
fn stable_order(keys: &[(usize, u64)]) -> Vec<usize> {
    let mut bucket_of: FxHashMap<(usize, u64), usize> = FxHashMap::default();
    let mut distinct: Vec<(usize, u64)> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let buckets: Vec<usize> = keys
        .iter()
        .map(|&k| {
            let b = *bucket_of.entry(k).or_insert_with(|| {
                distinct.push(k);
                counts.push(0);
                distinct.len() - 1
            });
            counts[b] += 1;
            b
        })
        .collect();
    let mut by_key: Vec<usize> = (0..distinct.len()).collect();
    by_key.sort_unstable_by_key(|&b| distinct[b]);
    // Where each bucket's next index goes.
    let mut next = vec![0; distinct.len()];
    let mut start = 0;
    for b in by_key {
        next[b] = start;
        start += counts[b];
    }
    let mut order = vec![0; keys.len()];
    for (i, b) in buckets.into_iter().enumerate() {
        order[next[b]] = i;
        next[b] += 1;
    }
    order
}

/// Explanations by discovery position, in that order. Placed rather than sorted:
/// every cluster has at most one, and sorting thousands of them showed in
/// profiles. A position given twice falls back to a stable sort, keeping both.
fn discovery_order(clusters: usize, explanations: Vec<(usize, Explanation)>) -> Vec<Explanation> {
    let mut slots: Vec<Option<Explanation>> = Vec::new();
    slots.resize_with(clusters, || None);
    let mut explanations = explanations.into_iter();
    while let Some((p, e)) = explanations.next() {
        if let Some(slot @ None) = slots.get_mut(p) {
            *slot = Some(e);
            continue;
        }
        let mut all: Vec<(usize, Explanation)> = slots
            .into_iter()
            .enumerate()
            .filter_map(|(p, e)| e.map(|e| (p, e)))
            .chain(std::iter::once((p, e)))
            .chain(explanations)
            .collect();
        all.sort_by_key(|(p, _)| *p);
        return all.into_iter().map(|(_, e)| e).collect();
    }
    slots.into_iter().flatten().collect()
}

fn explain(cluster: &Cluster, reason: Reason, detail: String) -> Explanation {
    Explanation {
        cluster: cluster.name.clone(),
        decision: "skipped",
        reason,
        detail,
    }
}

fn frozen_summary(errors: &ValidationErrors) -> String {
    let mut s = format!(
        "organization has {} validation error(s), so AUS plans nothing for it this pass",
        errors.count()
    );
    if !errors.organization.is_empty() {
        let _ = write!(s, "; organization: {}", errors.organization.join("; "));
    }
    if !errors.clusters.is_empty() {
        let ids: Vec<&str> = errors.clusters.keys().map(String::as_str).collect();
        let _ = write!(s, "; invalid clusters: {}", ids.join(", "));
    }
    s
}

fn valid_cluster(spec: &Spec<'_>) -> ValidCluster {
    let c = spec.cluster;
    let oldest = c
        .node_pools
        .iter()
        .map(|p| &p.version)
        .chain(std::iter::once(&c.version))
        .min_by(|a, b| a.cmp_precedence(b))
        .unwrap_or(&c.version);
    ValidCluster {
        cluster_id: c.id.clone(),
        external_id: c.external_id.clone(),
        name: c.name.clone(),
        channel: c.channel.clone(),
        current_version: oldest.clone(),
        schedule: spec.policy.schedule.clone(),
        sector: spec.policy.sector.clone().unwrap_or_default(),
        mutexes: spec.policy.mutexes.clone(),
        soak_days: spec.policy.soak_days,
        workloads: spec.policy.workloads.clone(),
        product: c.product.as_str().to_owned(),
        hypershift: c.is_hcp(),
        healthy: c.healthy,
    }
}

/// Every existing policy of a cluster: classic or control plane, and node pools'.
pub(crate) fn existing_policies(c: &Cluster) -> Vec<&UpgradePolicy> {
    c.upgrade_policies
        .iter()
        .chain(c.node_pools.iter().flat_map(|p| p.upgrade_policies.iter()))
        .collect()
}

/// Available upgrades of a cluster (R80): OCM's list, with the control-plane version
/// prepended when a node pool is behind (the node-pool catch-up target).
pub(crate) fn available_upgrades(c: &Cluster) -> Vec<&Version> {
    let mut out: Vec<&Version> = Vec::with_capacity(c.available_upgrades.len() + 1);
    upgrades_into(c, &mut out);
    out
}

/// [`available_upgrades`] into `out`, cleared first.
fn upgrades_into<'c>(c: &'c Cluster, out: &mut Vec<&'c Version>) {
    out.clear();
    out.extend(catch_up(c));
    out.extend(c.available_upgrades.iter());
}

/// The control-plane version [`available_upgrades`] puts before OCM's list,
/// if any.
fn catch_up(c: &Cluster) -> Option<&Version> {
    (node_pool_behind(c) && !c.available_upgrades.contains(&c.version)).then_some(&c.version)
}

/// Whether a node pool of `c` is behind its control plane (R80).
fn node_pool_behind(c: &Cluster) -> bool {
    c.node_pools
        .iter()
        .any(|p| p.version.cmp_precedence(&c.version).is_lt())
}

/// The last of [`existing_policies`], without collecting them.
fn last_policy(c: &Cluster) -> Option<&UpgradePolicy> {
    c.node_pools
        .iter()
        .rev()
        .find_map(|p| p.upgrade_policies.last())
        .or_else(|| c.upgrade_policies.last())
}

/// The decision run of one organization: lock tables and caches.
struct Decider<'p, 'a> {
    input: &'p OrgInput<'a>,
    org_policy: &'p OrgPolicy,
    sectors: &'p Sectors,
    specs: &'p [Spec<'a>],
    table: &'p SoakTable<'p>,
    /// Blocked-version verdicts decided while validating.
    blocked: &'p BlockedVerdicts,
    own_has_stats: bool,
    /// mutex -> spec index of the last cluster that took it (R55 `locked`).
    locked: FxHashMap<&'p str, usize>,
    /// (sector, mutex) -> clusters of the sector upgrading under it.
    sector_upgrading: FxHashMap<(usize, &'p str), usize>,
    /// (sector, mutex) -> member clusters of the sector having the mutex.
    sector_members: FxHashMap<(usize, &'p str), usize>,
    /// (sector, workload) -> lowest control-plane version of the sector's members
    /// with that workload.
    sector_min: FxHashMap<(usize, &'p str), &'a Version>,
    /// (sector, workload) -> (dependency sector, its lowest version): the binding
    /// floor over the first-populated dependencies (R89), memoised.
    dependency_floor: FxHashMap<(usize, &'p str), Option<(usize, &'a Version)>>,
    /// Dense ids of the distinct versions met so far.
    versions: VersionIds<'a>,
    /// Per version id: its string and the organization pattern blocking it (a
    /// fleet has thousands of clusters but few versions; formatting and regex
    /// matching per cluster and candidate dominated the decision loop). Shared
    /// by the decisions and the remaining-soak report, whose rows share the
    /// string.
    version_facts: Vec<VersionFacts<'p>>,
    /// Soak days per version id and workload id (`None`: not looked up yet),
    /// from the aggregated table: indexed rather than hashed by version and
    /// workload name, which showed in profiles once per cluster and version.
    /// With them, rounded to hundredths as the remaining-soak report shows
    /// them: rounding (a libm call) once per row and workload showed too.
    soaked: Vec<Option<(f64, f64)>>,
    /// Per spec, the id of its list of blocked-version patterns (`None`: it
    /// has none); clusters whose lists are equal share the id.
    pattern_lists: Vec<Option<usize>>,
    /// Per pattern list id and version id, its verdict: the position of the
    /// first pattern blocking the version, if any.
    /// Looking every pattern's verdict up (two hashed strings) per cluster and
    /// version showed in profiles of the remaining-soak report.
    pattern_verdicts: Vec<Vec<ListVerdict>>,
    /// Distinct workload names, by workload id.
    workload_names: Vec<&'p str>,
    /// The workload ids of every spec, spec `i`'s from `workload_start[i]` to
    /// `workload_start[i + 1]`.
    workload_ids: Vec<usize>,
    workload_start: Vec<usize>,
    /// A spare list of versions, so that each cluster's available upgrades are
    /// not collected into a new allocation.
    scratch: Vec<&'a Version>,
    /// The upgrades of the cluster the remaining-soak report last listed
    /// (OCM's list and the version put before it), and those versions sorted
    /// with their ids. Clusters of one version and channel group are adjacent
    /// in processing order and have equal lists: comparing a list with the
    /// last one is cheaper than sorting it and looking its versions up again.
    soak_list: Option<(&'a [Version], Option<&'a Version>)>,
    soak_versions: Vec<(&'a Version, usize)>,
    /// Rows already reported for the current list by clusters without a
    /// policy and without blocked-version patterns: (soak days needed, the
    /// cluster's workload ids as a range of `workload_ids`, its rows as a
    /// range of the report's). Such a cluster's rows depend on nothing else,
    /// and most clusters of one version share soak days and workloads: they
    /// copy the rows instead of looking every version up again (the report
    /// was a fifth of a plan late in a year-long forecast). A few entries,
    /// searched in order; cleared when the list changes.
    soak_rows: Vec<(u64, Range<usize>, Range<usize>)>,
    /// `outside-schedule` detail per next slot: formatting instants per cluster
    /// would dominate the explanations.
    closed_details: FxHashMap<Option<Timestamp>, String>,
    /// Slot per schedule expression: many clusters share one.
    windows: FxHashMap<&'p str, Window>,
    /// The next y-stream channel per channel, unless it is the same (R102).
    next_channels: FxHashMap<&'a str, Option<String>>,
    marked: Vec<bool>,
    /// (position, switched) of every cluster that came to a channel-switch
    /// decision, in decision order ([`ChannelDecision`]).
    channel_decisions: Vec<(usize, bool)>,
    /// How far ahead slots are booked (clusters or add-ons).
    timing: Timing,
}

impl<'p, 'a> Decider<'p, 'a> {
    fn new(
        input: &'p OrgInput<'a>,
        org_policy: &'p OrgPolicy,
        sectors: &'p Sectors,
        specs: &'p [Spec<'a>],
        table: &'p SoakTable<'p>,
        blocked: &'p BlockedVerdicts,
        timing: Timing,
    ) -> Self {
        let mut workload_index: FxHashMap<&'p str, usize> = FxHashMap::default();
        let mut workload_names: Vec<&'p str> = Vec::new();
        let mut workload_ids: Vec<usize> = Vec::with_capacity(2 * specs.len());
        let mut workload_start: Vec<usize> = Vec::with_capacity(specs.len() + 1);
        workload_start.push(0);
        for spec in specs {
            for w in spec.policy.workloads.iter() {
                let id = *workload_index.entry(w.as_str()).or_insert_with(|| {
                    workload_names.push(w.as_str());
                    workload_names.len() - 1
                });
                workload_ids.push(id);
            }
            workload_start.push(workload_ids.len());
        }
        let mut list_index: FxHashMap<Vec<&'p str>, usize> = FxHashMap::default();
        let pattern_lists: Vec<Option<usize>> = specs
            .iter()
            .map(|spec| {
                let patterns = &spec.policy.blocked_versions;
                (!patterns.is_empty()).then(|| {
                    let key = patterns.iter().map(VersionPattern::as_str).collect();
                    let next = list_index.len();
                    *list_index.entry(key).or_insert(next)
                })
            })
            .collect();
        let pattern_verdicts = vec![Vec::new(); list_index.len()];
        Decider {
            timing,
            input,
            org_policy,
            sectors,
            specs,
            table,
            blocked,
            own_has_stats: !specs.is_empty(),
            locked: FxHashMap::default(),
            sector_upgrading: FxHashMap::default(),
            sector_members: FxHashMap::default(),
            sector_min: FxHashMap::default(),
            dependency_floor: FxHashMap::default(),
            windows: FxHashMap::default(),
            next_channels: FxHashMap::default(),
            closed_details: FxHashMap::default(),
            versions: VersionIds::default(),
            version_facts: Vec::new(),
            soaked: Vec::new(),
            pattern_lists,
            pattern_verdicts,
            workload_names,
            workload_ids,
            workload_start,
            scratch: Vec::new(),
            soak_list: None,
            soak_versions: Vec::new(),
            soak_rows: Vec::new(),
            marked: vec![false; specs.len()],
            channel_decisions: Vec::new(),
        }
    }

    /// Count cluster `i` into its sector's member and lowest-version tables.
    /// Every cluster is counted before the first decision.
    fn count_sector_member(&mut self, i: usize) {
        let specs: &'p [Spec<'a>] = self.specs;
        let spec = &specs[i];
        let Some(s) = spec.sector else { return };
        for m in spec.mutexes() {
            *self.sector_members.entry((s, m)).or_default() += 1;
        }
        let version: &'a Version = &spec.cluster.version;
        for w in spec.policy.workloads.iter() {
            self.sector_min
                .entry((s, w.as_str()))
                .and_modify(|v| {
                    if version.cmp_precedence(v).is_lt() {
                        *v = version;
                    }
                })
                .or_insert(version);
        }
    }

    /// R55: mark a cluster upgrading.
    fn mark(&mut self, i: usize) {
        if std::mem::replace(&mut self.marked[i], true) {
            return;
        }
        let specs: &'p [Spec<'a>] = self.specs;
        let spec = &specs[i];
        for m in spec.mutexes() {
            self.locked.insert(m, i);
            if let Some(s) = spec.sector {
                *self.sector_upgrading.entry((s, m)).or_default() += 1;
            }
        }
    }

    /// R57: the max-upgrade check.
    fn hold(&self, i: usize) -> Option<Hold<'p>> {
        if self.input.faults.ignore_mutexes {
            return None;
        }
        let specs: &'p [Spec<'a>] = self.specs;
        let spec = &specs[i];
        let limit = spec
            .sector
            .and_then(|s| self.sectors.max_parallel(s).map(|l| (s, l)));
        match limit {
            None => spec.mutexes().find_map(|m| {
                self.locked
                    .get(m)
                    .map(|&holder| Hold::Mutex { mutex: m, holder })
            }),
            Some((s, limit)) => {
                // R58: only upgrades inside the sector count.
                let upgrading = |m: &str| self.sector_upgrading.get(&(s, m)).copied().unwrap_or(0);
                if spec.mutexes().all(|m| upgrading(m) == 0) {
                    return None;
                }
                spec.mutexes().find_map(|m| {
                    let upgrading = upgrading(m);
                    let members = self.sector_members.get(&(s, m)).copied().unwrap_or(1);
                    let l = limit.limit_for(members);
                    (upgrading as u64 >= l).then_some(Hold::MaxParallel {
                        sector: s,
                        mutex: m,
                        upgrading,
                        limit: l,
                    })
                })
            }
        }
    }

    fn hold_explanation(&self, i: usize, hold: Hold<'_>) -> Explanation {
        let cluster = self.specs[i].cluster;
        match hold {
            // Its own pending policy holds it (an HCP cluster whose control
            // plane is upgrading, R81 (a)), whoever else shares the mutex.
            Hold::Mutex { holder, .. } if holder == i || self.marked[i] => {
                let policies = existing_policies(cluster);
                explain(
                    cluster,
                    Reason::ExistingPolicy,
                    describe_policies(&policies),
                )
            }
            Hold::Mutex { mutex, holder } => explain(
                cluster,
                Reason::Mutex,
                format!(
                    "mutex {mutex} is held by cluster {} which is upgrading",
                    self.specs[holder].cluster.name
                ),
            ),
            Hold::MaxParallel {
                sector,
                mutex,
                upgrading,
                limit,
            } => explain(
                cluster,
                Reason::MaxParallel,
                format!(
                    "sector {} allows {limit} parallel upgrade(s) under mutex {mutex}; {upgrading} upgrading",
                    self.sectors.name(sector)
                ),
            ),
        }
    }

    fn closed_detail(&mut self, next: Option<Timestamp>) -> String {
        let now = self.input.now;
        self.closed_details
            .entry(next)
            .or_insert_with(|| describe_closed(next, now))
            .clone()
    }

    fn window(&mut self, i: usize) -> Window {
        let schedule = &self.specs[i].policy.schedule;
        if self.input.faults.ignore_schedule {
            let slot = schedule::whole_seconds(self.input.now + self.timing.delay);
            return Window::Open(slot);
        }
        let (now, timing) = (self.input.now, self.timing);
        *self
            .windows
            .entry(self.specs[i].policy.schedule.as_str())
            .or_insert_with(|| schedule::window(schedule, now, timing.delay, timing.window))
    }

    /// The id of a version, its [`VersionFacts`] computed on first sight.
    /// Inlined, the first sight out of line: the decisions and the report ask
    /// per cluster and candidate, and the call cost more than the lookup.
    #[inline]
    fn version(&mut self, v: &'a Version) -> usize {
        let (id, new) = self.versions.id(v);
        if new {
            self.first_sight(v);
        }
        id
    }

    /// The [`VersionFacts`] of a version given its id now.
    #[inline(never)]
    fn first_sight(&mut self, v: &'a Version) {
        let text: Arc<str> = v.to_string().into();
        let org_blocked = self
            .org_policy
            .blocked_versions
            .iter()
            .find(|p| self.blocked.matches(p, &text))
            .map(VersionPattern::as_str);
        self.version_facts.push(VersionFacts { text, org_blocked });
        self.soaked
            .resize(self.soaked.len() + self.workload_names.len(), None);
    }

    /// Soak days of version `id` for workload `w` (0 when absent), cached.
    fn soak_days(&mut self, id: usize, w: usize) -> f64 {
        self.soak_entry(id, w).0
    }

    /// [`Decider::soak_days`] and those days rounded to hundredths, cached.
    fn soak_entry(&mut self, id: usize, w: usize) -> (f64, f64) {
        let slot = id * self.workload_names.len() + w;
        if let Some(entry) = self.soaked[slot] {
            return entry;
        }
        let days = self
            .table
            .soak_days(&self.version_facts[id].text, self.workload_names[w]);
        let entry = (days, (days * 100.0).round() / 100.0);
        self.soaked[slot] = Some(entry);
        entry
    }

    /// The first pattern (organization's, then cluster's) blocking version
    /// `id`, whose organization pattern is `org`.
    fn blocked_by(&mut self, i: usize, id: usize, org: Option<&'p str>) -> Option<&'p str> {
        if self.input.faults.ignore_blocked_versions {
            return None;
        }
        org.or_else(|| self.cluster_blocked(i, id))
    }

    /// The first of cluster `i`'s own patterns blocking version `id`, its
    /// verdict cached per pattern list and version. Inlined up to the check for
    /// patterns, which most clusters have none of: the report asks per row.
    #[inline]
    fn cluster_blocked(&mut self, i: usize, id: usize) -> Option<&'p str> {
        let list = self.pattern_lists[i]?;
        self.list_blocked(i, list, id)
    }

    /// [`Decider::cluster_blocked`] of a cluster with patterns, list `list`:
    /// out of line, so that the check before it is inlined.
    #[inline(never)]
    fn list_blocked(&mut self, i: usize, list: usize, id: usize) -> Option<&'p str> {
        let specs: &'p [Spec<'a>] = self.specs;
        let patterns: &'p [VersionPattern] = &specs[i].policy.blocked_versions;
        let verdicts = &mut self.pattern_verdicts[list];
        if verdicts.len() <= id {
            verdicts.resize(
                self.version_facts.len().max(id + 1),
                ListVerdict::NotLookedUp,
            );
        }
        let first = match verdicts[id] {
            ListVerdict::Clear => None,
            ListVerdict::BlockedBy(k) => Some(k),
            ListVerdict::NotLookedUp => {
                let text = &self.version_facts[id].text;
                let blocked = self.blocked;
                let first = patterns.iter().position(|p| blocked.matches(p, text));
                self.pattern_verdicts[list][id] =
                    first.map_or(ListVerdict::Clear, ListVerdict::BlockedBy);
                first
            }
        };
        first.map(|k| patterns[k].as_str())
    }

    /// The lowest version among the first-populated dependencies of `sector` for
    /// `workload` (R89), memoised.
    fn dependency_floor(
        &mut self,
        sector: usize,
        workload: &'p str,
    ) -> Option<(usize, &'a Version)> {
        if let Some(f) = self.dependency_floor.get(&(sector, workload)) {
            return *f;
        }
        let sector_min = &self.sector_min;
        let deps = self
            .sectors
            .first_populated(sector, &|d| sector_min.contains_key(&(d, workload)));
        let floor = deps
            .into_iter()
            .map(|d| (d, self.sector_min[&(d, workload)]))
            .min_by(|a, b| a.1.cmp_precedence(b.1));
        self.dependency_floor.insert((sector, workload), floor);
        floor
    }

    /// R88 conditions for one unblocked candidate (`version` is its string):
    /// `Ok`, or the first failing condition. With `explain` false the detail text
    /// is not built: only the first failing candidate's explanation is kept, and
    /// formatting one per candidate would dominate the cost of a plan.
    fn conditions(
        &mut self,
        i: usize,
        candidate: &'a Version,
        (id, version): (usize, &str),
        explain_it: bool,
    ) -> Result<(), Option<Explanation>> {
        let specs: &'p [Spec<'a>] = self.specs;
        let spec = &specs[i];
        let cluster = spec.cluster;
        if let Some(s) = spec.sector {
            if let Err((workload, min)) =
                self.table
                    .inherited_check(self.own_has_stats, candidate, &spec.policy.workloads)
            {
                return Err(explain_it.then(|| {
                    let whose = workload.map_or_else(
                        || "the lowest version in the organizations it inherits from".to_owned(),
                        |w| format!("the lowest version running workload {w} in the organizations it inherits from"),
                    );
                    explain(
                        cluster,
                        Reason::InheritedVersion,
                        format!("{candidate} is newer than {min}, {whose}"),
                    )
                }));
            }
            if !self.input.faults.ignore_sector_dependencies {
                for w in spec.policy.workloads.iter() {
                    if let Some((d, min)) = self.dependency_floor(s, w)
                        && min.cmp_precedence(candidate).is_lt()
                    {
                        return Err(explain_it.then(|| {
                            explain(
                                cluster,
                                Reason::SectorDependency,
                                format!(
                                    "{candidate} is ahead of sector {} (dependency of sector {}), whose lowest version for workload {w} is {min}",
                                    self.sectors.name(d),
                                    self.sectors.name(s)
                                ),
                            )
                        }));
                    }
                }
            }
        }
        if self.input.faults.ignore_soak_days {
            return Ok(());
        }
        let needed = spec.policy.soak_days as f64;
        let mut met = true;
        for k in self.workload_start[i]..self.workload_start[i + 1] {
            if self.soak_days(id, self.workload_ids[k]) < needed {
                met = false;
                break;
            }
        }
        if met {
            return Ok(());
        }
        Err(explain_it.then(|| {
            let short: Vec<String> = spec
                .policy
                .workloads
                .iter()
                .filter_map(|w| {
                    let soaked = self.table.soak_days(version, w);
                    (soaked < needed).then(|| {
                        format!(
                            "{version} soaked {soaked:.2} of {} days for workload {w}",
                            spec.policy.soak_days
                        )
                    })
                })
                .collect();
            explain(cluster, Reason::SoakDays, short.join("; "))
        }))
    }

    /// R88: the highest candidate that is not blocked and meets its conditions, or
    /// the explanation of why none qualifies.
    fn choose(&mut self, i: usize) -> Result<Version, Explanation> {
        let mut candidates = std::mem::take(&mut self.scratch);
        upgrades_into(self.specs[i].cluster, &mut candidates);
        sort_descending(&mut candidates);
        let chosen = self.choose_among(i, &candidates);
        self.scratch = candidates;
        chosen
    }

    /// [`Decider::choose`] among `candidates`, highest first.
    fn choose_among(
        &mut self,
        i: usize,
        candidates: &[&'a Version],
    ) -> Result<Version, Explanation> {
        let cluster = self.specs[i].cluster;
        if candidates.is_empty() {
            return Err(explain(
                cluster,
                Reason::NoUpgrades,
                format!("OCM offers no upgrade from {}", cluster.version),
            ));
        }
        let mut first_failure: Option<Explanation> = None;
        let mut blocked: Vec<String> = Vec::new();
        for &candidate in candidates {
            let id = self.version(candidate);
            let facts = &self.version_facts[id];
            let (version, org) = (Arc::clone(&facts.text), facts.org_blocked);
            if let Some(p) = self.blocked_by(i, id, org) {
                blocked.push(format!("{version} by {p}"));
                continue;
            }
            match self.conditions(i, candidate, (id, &version), first_failure.is_none()) {
                Ok(()) => return Ok(candidate.clone()),
                Err(e) => {
                    if first_failure.is_none() {
                        first_failure = e;
                    }
                }
            }
        }
        Err(first_failure.unwrap_or_else(|| {
            explain(
                cluster,
                Reason::BlockedVersion,
                format!("every available version is blocked: {}", blocked.join(", ")),
            )
        }))
    }

    /// [`channel::switch_target`], with the next channel cached per channel;
    /// the decision is recorded for [`crate::facts::complete_channels`].
    fn channel_switch(&mut self, i: usize) -> Option<Action> {
        let specs: &'p [Spec<'a>] = self.specs;
        let c = specs[i].cluster;
        let switch = self.switch_of(c);
        self.channel_decisions
            .push((specs[i].position, switch.is_some()));
        switch
    }

    fn switch_of(&mut self, c: &'a Cluster) -> Option<Action> {
        let next = self
            .next_channels
            .entry(c.channel.as_str())
            .or_insert_with(|| channel::next_channel(&c.channel).filter(|t| *t != c.channel));
        let to = next
            .as_ref()
            .filter(|t| c.available_channels.contains(t))?
            .clone();
        Some(Action::channel_switch(c, to))
    }

    /// The decision loop (§8): actions in decision order, channel switches, and
    /// explanations for the clusters left alone.
    fn run(
        &mut self,
        explanations: &mut Vec<(usize, Explanation)>,
        missing_gates: &mut Vec<MissingGates>,
        mut remaining: Option<&mut RemainingSoakDays>,
    ) -> (Vec<Action>, Vec<Action>) {
        // R56: clusters with any existing policy hold their mutexes. The sector
        // tables are filled and the remaining soak days (R126, before this pass's
        // decisions) reported in the same walk: each visit of a cluster is a
        // cache miss on a big fleet.
        for i in 0..self.specs.len() {
            self.count_sector_member(i);
            if let Some(out) = remaining.as_deref_mut() {
                self.remaining_soak(i, out);
            }
            if self.specs[i].cluster.has_any_policy() {
                self.mark(i);
            }
        }
        let now = self.input.now;
        let mut actions = Vec::new();
        let mut switches = Vec::new();
        for i in 0..self.specs.len() {
            let spec = &self.specs[i];
            let cluster = spec.cluster;
            let position = spec.position;
            // Deviation (§18 G19): an HCP cluster with a pending *node-pool*
            // policy is left alone before node-pool catch-up. The reference
            // relied on the cluster's own-id mutex for that, which a sector
            // max-parallel of 2 or more lets through, so a repeated pass would
            // book a second node-pool policy while the first is pending. A
            // pending control-plane policy does not hold the catch-up: there the
            // reference is right (R81 (a) decides), and so is srecap.
            if cluster.is_hcp() && cluster.has_node_pool_policy() {
                let policies = existing_policies(cluster);
                explanations.push((
                    position,
                    explain(
                        cluster,
                        Reason::ExistingPolicy,
                        describe_policies(&policies),
                    ),
                ));
                continue;
            }
            // R81: HCP node-pool catch-up.
            if cluster.is_hcp() {
                if let Some(hold) = self.hold(i) {
                    explanations.push((position, self.hold_explanation(i, hold)));
                    continue;
                }
                if let Some(pool) = cluster
                    .node_pools
                    .iter()
                    .find(|p| p.version.cmp_precedence(&cluster.version).is_lt())
                {
                    actions.push(Action::NodePoolUpgradePolicy {
                        cluster: cluster.name.clone(),
                        cluster_id: cluster.id.clone(),
                        node_pool: pool.id.clone(),
                        version: cluster.version.clone(),
                        next_run: schedule::whole_seconds(now + self.timing.delay),
                    });
                    self.mark(i);
                    continue;
                }
            }
            // R82, deviation G7: several policies skip the cluster, not the org.
            let policies = existing_policies(cluster);
            if !policies.is_empty() {
                explanations.push((
                    position,
                    explain(
                        cluster,
                        Reason::ExistingPolicy,
                        describe_policies(&policies),
                    ),
                ));
                continue;
            }
            // R83: schedule window.
            let slot = match self.window(i) {
                Window::Open(slot) => slot,
                Window::Closed(next) => {
                    if let Some(switch) = self.channel_switch(i) {
                        switches.push(switch);
                    } else {
                        explanations.push((
                            position,
                            explain(cluster, Reason::OutsideSchedule, self.closed_detail(next)),
                        ));
                    }
                    continue;
                }
            };
            // R86.
            if let Some(hold) = self.hold(i) {
                explanations.push((position, self.hold_explanation(i, hold)));
                continue;
            }
            // R88, R91.
            let version = match self.choose(i) {
                Ok(v) => v,
                Err(why) => {
                    if let Some(switch) = self.channel_switch(i) {
                        switches.push(switch);
                    } else {
                        explanations.push((position, why));
                    }
                    continue;
                }
            };
            // R92 (b): never book an upgrade OCM refuses for a missing agreement.
            if let Some(hold) = approver::hold(cluster, self.input.version_gates, &version) {
                explanations.push((position, explain(cluster, hold.reason, hold.detail.clone())));
                missing_gates.push(MissingGates {
                    cluster_id: cluster.id.clone(),
                    external_id: cluster.external_id.clone(),
                    version_prefix: hold.version_prefix,
                    gates: hold.gates,
                    reason: hold.reason,
                    detail: hold.detail,
                });
                continue;
            }
            actions.push(Action::cluster_upgrade(cluster, version, slot));
            self.mark(i);
        }
        (actions, switches)
    }

    /// R126: remaining soak days of cluster `i` per available version, before
    /// this pass's decisions, appended to `out`.
    fn remaining_soak(&mut self, i: usize, out: &mut RemainingSoakDays) {
        let now = self.input.now;
        let specs: &'p [Spec<'a>] = self.specs;
        let spec = &specs[i];
        let c: &'a Cluster = spec.cluster;
        let list = (&*c.available_upgrades, catch_up(c));
        if !self.soak_list.is_some_and(|last| {
            same_versions(last.0, list.0)
                && match (last.1, list.1) {
                    (None, None) => true,
                    (Some(a), Some(b)) => same_version(a, b),
                    _ => false,
                }
        }) {
            let mut versions = std::mem::take(&mut self.scratch);
            upgrades_into(c, &mut versions);
            // Deviation (R126 step 1, G29): sort rather than trust OCM's order.
            sort_ascending(&mut versions);
            let mut listed = std::mem::take(&mut self.soak_versions);
            listed.clear();
            for &v in &versions {
                listed.push((v, self.version(v)));
            }
            self.soak_versions = listed;
            self.scratch = versions;
            self.soak_list = Some(list);
            self.soak_rows.clear();
        }
        let current = last_policy(c);
        let patterns = self.pattern_lists[i];
        let workloads = self.workload_start[i]..self.workload_start[i + 1];
        let plain = current.is_none() && patterns.is_none() && copy_soak_rows();
        if plain
            && let Some((_, _, same)) = self.soak_rows.iter().find(|(days, w, _)| {
                *days == spec.policy.soak_days
                    && self.workload_ids[w.clone()] == self.workload_ids[workloads.clone()]
            })
        {
            let same = same.clone();
            out.rows_mut().extend_from_within(same);
            out.end_cluster(&c.external_id);
            return;
        }
        let listed = std::mem::take(&mut self.soak_versions);
        let needed = spec.policy.soak_days as f64;
        let mut higher_ready = false;
        let rows = out.rows_mut();
        let start = rows.len();
        for &(v, id) in listed.iter().rev() {
            let org_blocked = self.version_facts[id].org_blocked.is_some();
            // A marker, or `None` for the remaining soak days.
            let marker = match current {
                Some(p) if p.version.as_ref() == Some(v) => match p.state {
                    PolicyState::Scheduled => Some(-1.0),
                    PolicyState::Started | PolicyState::Delayed => {
                        let long = p.next_run.is_some_and(|t| {
                            now.duration_since(t) >= SignedDuration::from_hours(6)
                        });
                        Some(if long { -3.0 } else { -2.0 })
                    }
                    _ => None,
                },
                _ if org_blocked
                    || patterns.is_some_and(|list| self.list_blocked(i, list, id).is_some()) =>
                {
                    Some(-4.0)
                }
                _ => None,
            };
            let value = match marker {
                Some(m) => m,
                // Remaining days are never negative, and a version below a
                // ready one is reported only with a marker: its soak days
                // need not be looked up.
                None if higher_ready => continue,
                None => {
                    let mut soaked = f64::INFINITY;
                    for k in self.workload_start[i]..self.workload_start[i + 1] {
                        let (_, rounded) = self.soak_entry(id, self.workload_ids[k]);
                        soaked = f64::min(soaked, rounded);
                    }
                    (needed - soaked).max(0.0)
                }
            };
            if value == 0.0 || (-3.0..=-1.0).contains(&value) {
                higher_ready = true;
            }
            rows.push((id, value));
        }
        rows[start..].reverse();
        let end = rows.len();
        out.end_cluster(&c.external_id);
        self.soak_versions = listed;
        if plain && self.soak_rows.len() < SOAK_ROWS_KEPT {
            self.soak_rows
                .push((spec.policy.soak_days, workloads, start..end));
        }
    }
}

/// Rows of [`Decider::soak_rows`] a plan keeps for one list of versions.
const SOAK_ROWS_KEPT: usize = 8;

/// Whether clusters copy rows from [`Decider::soak_rows`]; a test turns it
/// off to compare with the rows computed for every cluster.
#[cfg(not(test))]
const fn copy_soak_rows() -> bool {
    true
}

#[cfg(test)]
thread_local! {
    static COPY_SOAK_ROWS: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

#[cfg(test)]
fn copy_soak_rows() -> bool {
    COPY_SOAK_ROWS.get()
}

/// A pattern list's verdict on one version ([`Decider::list_blocked`]).
#[derive(Clone, Copy)]
enum ListVerdict {
    NotLookedUp,
    Clear,
    /// Blocked, first by the list's pattern at this position.
    BlockedBy(usize),
}

/// What the decisions need of one distinct version.
struct VersionFacts<'p> {
    text: Arc<str>,
    /// The first organization pattern blocking it.
    org_blocked: Option<&'p str>,
}

/// Dense ids of distinct versions, in order of first sight. Versions without
/// pre-release or build identifiers (nearly all) are keyed by their three
/// numbers: comparing those is cheaper than comparing versions, whose
/// identifiers showed in profiles of the per-cluster, per-version lookups.
/// Plain versions with small numbers (every OpenShift version) are found by
/// indexing, without hashing: a table per major and minor, by patch. Hashing
/// the three numbers was most of a lookup, and a plan looks up every
/// available version of every cluster (half a million late in a year).
#[derive(Default)]
struct VersionIds<'a> {
    /// Per `major * MINORS + minor`, ids by patch (`usize::MAX`: none yet).
    small: Vec<Vec<usize>>,
    plain: FxHashMap<(u64, u64, u64), usize>,
    other: FxHashMap<VersionKey<'a>, usize>,
    len: usize,
}

impl<'a> VersionIds<'a> {
    /// Bounds of the numbers of the versions found by indexing.
    const MAJORS: u64 = 64;
    const MINORS: u64 = 256;
    const PATCHES: u64 = 1024;

    /// The id of `v`, and whether it was given now.
    #[inline]
    fn id(&mut self, v: &'a Version) -> (usize, bool) {
        // The usual case inlined, the rest out of line: as one function the
        // lookup was not inlined and its calls cost more than the hashing saved.
        match Self::small_slot(v).and_then(|(row, patch)| self.small.get(row)?.get(patch)) {
            Some(&id) if id != usize::MAX => (id, false),
            _ => self.id_slow(v),
        }
    }

    /// The row and patch of `v` in `small`, if it is plain with small numbers.
    #[inline]
    fn small_slot(v: &Version) -> Option<(usize, usize)> {
        if v.major < Self::MAJORS
            && v.minor < Self::MINORS
            && v.patch < Self::PATCHES
            && v.pre.is_empty()
            && v.build.is_empty()
        {
            // In range of `usize` by the bounds just checked.
            let row = usize::try_from(v.major * Self::MINORS + v.minor).ok()?;
            let patch = usize::try_from(v.patch).ok()?;
            Some((row, patch))
        } else {
            None
        }
    }

    /// [`VersionIds::id`] of a version not in `small`.
    #[inline(never)]
    fn id_slow(&mut self, v: &'a Version) -> (usize, bool) {
        let next = self.len;
        let id = if let Some((row, patch)) = Self::small_slot(v) {
            if self.small.len() <= row {
                self.small.resize_with(row + 1, Vec::new);
            }
            let patches = &mut self.small[row];
            if patches.len() <= patch {
                patches.resize(patch + 1, usize::MAX);
            }
            patches[patch] = next;
            next
        } else if v.pre.is_empty() && v.build.is_empty() {
            *self
                .plain
                .entry((v.major, v.minor, v.patch))
                .or_insert(next)
        } else {
            *self.other.entry(VersionKey(v)).or_insert(next)
        };
        let new = id == next;
        if new {
            self.len += 1;
        }
        (id, new)
    }
}

/// `a == b` for versions, cheaper on plain ones: their numbers are compared
/// first and their (nearly always empty) identifiers by an inlined emptiness
/// check. The derived comparison called two identifier comparisons per version,
/// about a million per plan in the remaining-soak report of a late, big fleet.
fn same_version(a: &Version, b: &Version) -> bool {
    a.major == b.major
        && a.minor == b.minor
        && a.patch == b.patch
        && ((a.pre.is_empty() && b.pre.is_empty()) || a.pre == b.pre)
        && ((a.build.is_empty() && b.build.is_empty()) || a.build == b.build)
}

/// `a == b` for lists of versions, by [`same_version`].
fn same_versions(a: &[Version], b: &[Version]) -> bool {
    // Lists of one version are usually one shared list (`Cluster::available_upgrades`).
    a.len() == b.len()
        && (std::ptr::eq(a.as_ptr(), b.as_ptr())
            || a.iter().zip(b).all(|(x, y)| same_version(x, y)))
}

/// Sort versions by precedence, stably. OCM lists them in that order already,
/// and checking is cheaper than sorting (which allocates for longer lists).
fn sort_ascending(versions: &mut [&Version]) {
    if !versions.is_sorted_by(|a, b| a.cmp_precedence(b).is_le()) {
        versions.sort_by(|a, b| a.cmp_precedence(b));
    }
}

/// Sort versions by descending precedence, stably: a list in strictly
/// ascending order is reversed (with no equal versions, that is the stable
/// order; with some, reversing would swap them).
fn sort_descending(versions: &mut [&Version]) {
    if versions.is_sorted_by(|a, b| a.cmp_precedence(b).is_lt()) {
        versions.reverse();
    } else {
        versions.sort_by(|a, b| b.cmp_precedence(a));
    }
}

pub(crate) fn describe_policies(policies: &[&UpgradePolicy]) -> String {
    let list: Vec<String> = policies
        .iter()
        .map(|p| {
            let mut s = format!("policy {} ({}", p.id, p.schedule_type.as_str());
            if let Some(v) = &p.version {
                let _ = write!(s, ", to {v}");
            }
            let _ = write!(s, ", {}", p.state.as_str());
            if let Some(t) = p.next_run {
                let _ = write!(s, ", next run {}", schedule::whole_seconds(t));
            }
            s.push(')');
            s
        })
        .collect();
    if policies.len() > 1 {
        format!(
            "{} upgrade policies exist; AUS expects at most one and leaves this cluster alone: {}",
            policies.len(),
            list.join(", ")
        )
    } else {
        format!("an upgrade policy already exists: {}", list.join(", "))
    }
}

pub(crate) fn describe_closed(next: Option<Timestamp>, now: Timestamp) -> String {
    match next {
        Some(t) => {
            let d = t.duration_since(now);
            format!(
                "next maintenance slot {t} is {}h{:02}m away; AUS books only slots within 2 hours",
                d.as_hours(),
                (d.as_mins() % 60)
            )
        }
        None => "the schedule has no future fire time".to_owned(),
    }
}

/// Group clusters by organization id, keeping discovery order (used by callers
/// that hold a whole fleet).
pub fn by_org<'a>(
    clusters: impl IntoIterator<Item = &'a Cluster>,
) -> BTreeMap<&'a str, Vec<&'a Cluster>> {
    let mut map: BTreeMap<&str, Vec<&Cluster>> = BTreeMap::new();
    for c in clusters {
        map.entry(c.organization.as_str()).or_default().push(c);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::{COPY_SOAK_ROWS, stable_order};
    use crate::{FleetOptions, plan_fleet};
    use jiff::{SignedDuration, Timestamp};
    use proptest::prelude::*;
    use srecap_fleet::synthetic::{FleetShape, generate};

    /// R126: the rows a cluster copies from an earlier one
    /// ([`super::Decider::soak_rows`]) are the rows it would have computed, on
    /// fleets with policies, blocked versions and histories, early and late
    /// in a year of releases.
    #[test]
    fn copied_remaining_soak_rows_are_the_computed_ones() {
        let start: Timestamp = "2026-11-21T10:00:00Z".parse().expect("valid instant");
        let shape = FleetShape {
            future_days: 200,
            ..FleetShape::benchmark(150)
        };
        let mut copies = 0;
        for (seed, days) in [(1, 0), (7, 60), (42, 180)] {
            let mut fleet = generate(&shape, seed, start);
            fleet.now = start + SignedDuration::from_hours(24 * days);
            fleet.refresh_available_upgrades();
            let plans = |copy: bool| {
                COPY_SOAK_ROWS.set(copy);
                let plan = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
                COPY_SOAK_ROWS.set(true);
                plan.organizations
                    .iter()
                    .map(|o| format!("{:?}", o.details.remaining_soak_days))
                    .collect::<Vec<_>>()
            };
            let (copied, computed) = (plans(true), plans(false));
            assert_eq!(copied, computed, "seed {seed}, day {days}");
            copies += computed.iter().map(String::len).sum::<usize>();
        }
        assert!(copies > 0, "the fleets report remaining soak days");
    }

    proptest! {
        /// R53's processing order: counting gives what a stable sort by key gives.
        #[test]
        fn stable_order_is_a_stable_sort_by_key(
            keys in proptest::collection::vec((0..6_usize, 0..4_u64), 0..80)
        ) {
            let mut sorted: Vec<usize> = (0..keys.len()).collect();
            sorted.sort_by_key(|&i| keys[i]);
            prop_assert_eq!(stable_order(&keys), sorted);
        }
    }
}
