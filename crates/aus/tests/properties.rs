//! Planner invariants over synthetic fleets (proptest).
//!
//! Every plan of every generated fleet — small fleets from a seed, with labels
//! mutated afterwards — is checked by an *auditor* that re-derives each promise
//! from `spec/aus-behaviour.md` on its own: it parses labels, recomputes the soak
//! history (R65–R71), the first-populated sector dependencies (R89), the lock and
//! max-parallel bookkeeping (R55–R59) and cron fire times (R84) without calling
//! the planner's internals, so that a planner bug shows up as a disagreement.
//!
//! The auditor returns violations instead of panicking, which lets
//! `auditor_catches_each_planner_fault` show that every check can fail: the planner's
//! test-only faults each break one promise, and the auditor must name it.
//!
//! Runs are reproducible: a fixed proptest RNG seed and algorithm, and failures
//! persisted to `proptest-regressions/properties.txt` (checked in).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{FileFailurePersistence, RngAlgorithm, RngSeed};
use semver::Version;
use srecap_aus::planner::Faults;
use srecap_aus::{Action, FleetOptions, FleetPlan, OrgPlan, plan_fleet};
use srecap_fleet::synthetic::{FleetShape, generate, sector_name};
use srecap_fleet::{
    Cluster, Fleet, Organization, PolicyState, ScheduleType, UpgradePolicy, VersionData,
};

const AUS: &str = "sre-capabilities.aus.";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x0a05_5eed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn base_now() -> Timestamp {
    "2026-11-21T10:00:00Z".parse().expect("valid instant")
}

// ---------------------------------------------------------------------------
// Cases: a generated fleet, an instant, and label mutations.
// ---------------------------------------------------------------------------

/// A change applied to a generated fleet, to leave the generator's comfort zone.
#[derive(Debug, Clone)]
enum Mutation {
    SoakDays(Index, &'static str),
    Schedule(Index, &'static str),
    Mutexes(Index, &'static str),
    /// `None` removes the label; `Some(k)` names the k-th sector (maybe undeclared).
    Sector(Index, Option<usize>),
    Workloads(Index, &'static str),
    /// The cluster blocks its own highest available upgrade.
    BlockHighest(Index),
    /// The cluster's organization blocks the cluster's highest available upgrade.
    OrgBlockHighest(Index),
    /// Remove every AUS label: the cluster is no longer discovered.
    DropAus(Index),
    State(Index, &'static str),
    ToggleHealth(Index),
    AddPolicy(Index),
    /// `sector-max-parallel-upgrades.<k-th sector>` of an organization.
    MaxParallel(Index, usize, &'static str),
    /// The organization's stored `check_in`, in minutes relative to `now`.
    CheckIn(Index, Option<i64>),
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    shape: FleetShape,
    now: Timestamp,
    mutations: Vec<Mutation>,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (
            any::<Index>(),
            prop::sample::select(vec!["0", "1", "3", "10", "-1", "x"])
        )
            .prop_map(|(i, v)| Mutation::SoakDays(i, v)),
        (
            any::<Index>(),
            prop::sample::select(vec![
                "* * * * *",
                "0 * * * *",
                "*/7 * * * *",
                "15 10 * * *",
                "0 0 1 * 1",
                "59 23 * * 6",
                "10-20/5 9-17 * * 1-5",
                "0 48 * * *",
            ])
        )
            .prop_map(|(i, v)| Mutation::Schedule(i, v)),
        (
            any::<Index>(),
            prop::sample::select(vec!["", "mx-0", "mx-0,mx-1", "mx-1 , mx-2", "solo"])
        )
            .prop_map(|(i, v)| Mutation::Mutexes(i, v)),
        (any::<Index>(), prop::option::of(0usize..6)).prop_map(|(i, s)| Mutation::Sector(i, s)),
        (
            any::<Index>(),
            prop::sample::select(vec!["wl-00", "wl-00,wl-01", "wl-03", "new-workload", ""])
        )
            .prop_map(|(i, v)| Mutation::Workloads(i, v)),
        any::<Index>().prop_map(Mutation::BlockHighest),
        any::<Index>().prop_map(Mutation::OrgBlockHighest),
        any::<Index>().prop_map(Mutation::DropAus),
        (
            any::<Index>(),
            prop::sample::select(vec!["installing", "ready", "hibernating"])
        )
            .prop_map(|(i, v)| Mutation::State(i, v)),
        any::<Index>().prop_map(Mutation::ToggleHealth),
        any::<Index>().prop_map(Mutation::AddPolicy),
        (
            any::<Index>(),
            0usize..5,
            prop::sample::select(vec!["1", "2", "50%", "0", "100%", "lots"])
        )
            .prop_map(|(o, k, v)| Mutation::MaxParallel(o, k, v)),
        (
            any::<Index>(),
            prop::option::of(prop::sample::select(vec![-2880i64, -60, -1, 30]))
        )
            .prop_map(|(o, m)| Mutation::CheckIn(o, m)),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let sizes = (
        1usize..=3,
        1usize..=40,
        1usize..=4,
        0usize..=4,
        0usize..=5,
        1u64..=3,
        3usize..=30,
    );
    let mix = (
        prop::sample::select(vec![0.0, 0.2, 0.6]),
        prop::sample::select(vec![0.0, 0.5, 1.0]),
        prop::sample::select(vec![0.0, 0.1, 0.4]),
        prop::sample::select(vec![0.0, 0.2]),
        prop::sample::select(vec![0.0, 0.1]),
        prop::sample::select(vec![0.0, 0.0, 0.0, 0.03]),
        0usize..=3,
        any::<bool>(),
        any::<bool>(),
    );
    let when = (
        0i64..7 * 24 * 60,
        0i64..60,
        prop::sample::select(vec![0i32, 250_000_000]),
    );
    (
        any::<u64>(),
        sizes,
        mix,
        when,
        prop::collection::vec(mutation(), 0..8),
    )
        .prop_map(
            |(
                seed,
                (orgs, clusters, workloads, mutexes, sectors, minors, history),
                (
                    hcp,
                    max_parallel,
                    existing,
                    unhealthy,
                    not_ready,
                    invalid,
                    blocked,
                    inherit,
                    gates,
                ),
                (minutes, seconds, nanos),
                mutations,
            )| {
                let shape = FleetShape {
                    orgs,
                    clusters_per_org: clusters,
                    workloads,
                    mutexes,
                    sectors,
                    minor_versions: minors,
                    versions_of_history: history,
                    hcp_fraction: hcp,
                    max_parallel_fraction: max_parallel,
                    existing_policy_fraction: existing,
                    unhealthy_fraction: unhealthy,
                    not_ready_fraction: not_ready,
                    invalid_label_fraction: invalid,
                    blocked_patterns: blocked,
                    inheritance: inherit,
                    gates,
                    future_days: 30,
                    ..FleetShape::default()
                };
                let now = base_now()
                    + SignedDuration::from_mins(minutes)
                    + SignedDuration::new(seconds, nanos);
                Case {
                    seed,
                    shape,
                    now,
                    mutations,
                }
            },
        )
}

/// The fleet of a case: generated, then mutated.
fn fleet_of(case: &Case) -> Fleet {
    let mut fleet = generate(&case.shape, case.seed, case.now);
    for m in &case.mutations {
        apply(&mut fleet, m, case.now);
    }
    fleet
}

fn set_label(c: &mut Cluster, key: &str, value: &str) {
    std::sync::Arc::make_mut(&mut c.labels).insert(format!("{AUS}{key}"), value.to_owned());
}

fn escaped(v: &Version) -> String {
    v.to_string().replace('.', "\\.")
}

fn apply(fleet: &mut Fleet, mutation: &Mutation, now: Timestamp) {
    let clusters = fleet.clusters.len();
    let orgs = fleet.organizations.len();
    if clusters == 0 || orgs == 0 {
        return;
    }
    let pick = |at: &Index| at.index(clusters);
    match mutation {
        Mutation::SoakDays(at, value) => {
            set_label(&mut fleet.clusters[pick(at)], "soak-days", value);
        }
        Mutation::Schedule(at, value) => {
            set_label(&mut fleet.clusters[pick(at)], "schedule", value);
        }
        Mutation::Mutexes(at, value) => {
            set_label(&mut fleet.clusters[pick(at)], "mutexes", value);
        }
        Mutation::Workloads(at, value) => {
            set_label(&mut fleet.clusters[pick(at)], "workloads", value);
        }
        Mutation::Sector(at, which) => {
            let cluster = &mut fleet.clusters[pick(at)];
            match which {
                Some(kth) => set_label(cluster, "sector", &sector_name(*kth)),
                None => {
                    std::sync::Arc::make_mut(&mut cluster.labels).remove(&format!("{AUS}sector"));
                }
            }
        }
        Mutation::BlockHighest(at) => {
            let cluster = &mut fleet.clusters[pick(at)];
            if let Some(highest) = cluster.available_upgrades.iter().max().cloned() {
                set_label(
                    cluster,
                    "blocked-versions",
                    &format!("^{}$", escaped(&highest)),
                );
            }
        }
        Mutation::OrgBlockHighest(at) => {
            let cluster = &fleet.clusters[pick(at)];
            if let Some(highest) = cluster.available_upgrades.iter().max() {
                let pattern = escaped(highest);
                let org_id = cluster.organization.clone();
                if let Some(org) = fleet.organizations.iter_mut().find(|o| o.id == org_id) {
                    let key = format!("{AUS}blocked-versions");
                    let value = match org.labels.get(&key) {
                        Some(old) if !old.trim().is_empty() => format!("{old},{pattern}"),
                        _ => pattern,
                    };
                    org.labels.insert(key, value);
                }
            }
        }
        Mutation::DropAus(at) => std::sync::Arc::make_mut(&mut fleet.clusters[pick(at)].labels)
            .retain(|key, _| !key.starts_with(AUS)),
        Mutation::State(at, state) => (*state).clone_into(&mut fleet.clusters[pick(at)].state),
        Mutation::ToggleHealth(at) => {
            let cluster = &mut fleet.clusters[pick(at)];
            cluster.healthy = !cluster.healthy;
        }
        Mutation::AddPolicy(at) => {
            let cluster = &mut fleet.clusters[pick(at)];
            let id = format!("{}-added-{}", cluster.name, cluster.upgrade_policies.len());
            cluster.upgrade_policies.push(UpgradePolicy {
                id,
                version: cluster.available_upgrades.first().cloned(),
                next_run: Some(now + SignedDuration::from_mins(30)),
                state: PolicyState::Scheduled,
                schedule_type: ScheduleType::Manual,
                schedule: None,
            });
        }
        Mutation::MaxParallel(org_at, kth, value) => {
            let org = &mut fleet.organizations[org_at.index(orgs)];
            org.labels.insert(
                format!("{AUS}sector-max-parallel-upgrades.{}", sector_name(*kth)),
                (*value).to_owned(),
            );
        }
        Mutation::CheckIn(org_at, minutes) => {
            let id = fleet.organizations[org_at.index(orgs)].id.clone();
            let data = fleet.version_data.entry(id).or_default();
            data.check_in = minutes.map(|offset| now + SignedDuration::from_mins(offset));
        }
    }
}

// ---------------------------------------------------------------------------
// Independent readings of labels (spec §3) and schedules (R84).
// ---------------------------------------------------------------------------

/// A CSV label value, trimmed (as srecap reads it, §18 G18 deviation).
fn csv(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    labels.get(&format!("{AUS}{key}")).map(String::as_str)
}

fn opted_in(c: &Cluster) -> bool {
    c.labels.keys().any(|k| k.starts_with(AUS))
}

fn workloads(c: &Cluster) -> Vec<String> {
    label(&c.labels, "workloads").map(csv).unwrap_or_default()
}

fn soak_days(c: &Cluster) -> Option<u64> {
    label(&c.labels, "soak-days").and_then(|v| {
        let v = v.trim();
        (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
    })
}

fn sector(c: &Cluster) -> Option<String> {
    label(&c.labels, "sector")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Effective mutexes (R54): the labelled ones plus the cluster id.
fn mutexes(c: &Cluster) -> BTreeSet<String> {
    let mut m: BTreeSet<String> = label(&c.labels, "mutexes")
        .map(csv)
        .unwrap_or_default()
        .into_iter()
        .collect();
    m.insert(c.id.clone());
    m
}

/// Sectors of an organization (R33) with their direct dependencies in label order.
fn sectors(org: &Organization) -> BTreeMap<String, Vec<String>> {
    let prefix = format!("{AUS}sector-deps.");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &org.labels {
        if let Some(name) = k.strip_prefix(&prefix) {
            let deps = csv(v);
            for d in &deps {
                out.entry(d.clone()).or_default();
            }
            out.insert(name.to_owned(), deps);
        }
    }
    out
}

/// A max-parallel value: `(n, percent)`, or `None` when it is not `N` / `N%`.
fn max_parallel(value: &str) -> Option<(u64, bool)> {
    let v = value.trim();
    let (digits, percent) = match v.strip_suffix('%') {
        Some(rest) => (rest.trim(), true),
        None => (v, false),
    };
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(|n| (n, percent)))
        .flatten()
}

/// R57 2c, R59: the limit for a mutex shared by `members` sector members.
fn limit_for((n, percent): (u64, bool), members: usize) -> u64 {
    let raw = if percent {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let l = (members as f64 * n as f64 / 100.0).round_ties_even() as u64;
        l
    } else {
        n
    };
    raw.max(1)
}

fn blocked_patterns(org: &Organization, c: &Cluster) -> Vec<String> {
    let mut p = label(&org.labels, "blocked-versions")
        .map(csv)
        .unwrap_or_default();
    p.extend(
        label(&c.labels, "blocked-versions")
            .map(csv)
            .unwrap_or_default(),
    );
    p
}

/// A five-field cron expression, read independently of the planner's cron library:
/// numbers, `*`, ranges, steps and lists; fields are AND-ed (R84).
struct Cron {
    fields: [Vec<bool>; 5],
}

impl Cron {
    const BOUNDS: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];

    fn parse(expr: &str) -> Option<Cron> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return None;
        }
        let mut fields: [Vec<bool>; 5] = Default::default();
        for (f, part) in parts.iter().enumerate() {
            let (lo, hi) = Self::BOUNDS[f];
            let mut set = vec![false; hi as usize + 1];
            for item in part.split(',') {
                let (range, step) = match item.split_once('/') {
                    Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
                    None => (item, 1),
                };
                let (a, b) = if range == "*" {
                    (lo, hi)
                } else if let Some((a, b)) = range.split_once('-') {
                    (a.parse().ok()?, b.parse().ok()?)
                } else {
                    let a: u32 = range.parse().ok()?;
                    (a, if item.contains('/') { hi } else { a })
                };
                if a < lo || b > hi || a > b {
                    return None;
                }
                for v in (a..=b).step_by(step as usize) {
                    set[v as usize] = true;
                }
            }
            if f == 4 && set[7] {
                set[0] = true;
            }
            fields[f] = set;
        }
        Some(Cron { fields })
    }

    fn fires_at(&self, t: Timestamp) -> bool {
        let dt = t.to_zoned(TimeZone::UTC).datetime();
        if dt.second() != 0 || dt.subsec_nanosecond() != 0 {
            return false;
        }
        let at = |f: usize, v: i64| {
            usize::try_from(v).is_ok_and(|v| self.fields[f].get(v).copied().unwrap_or(false))
        };
        at(0, dt.minute().into())
            && at(1, dt.hour().into())
            && at(2, dt.day().into())
            && at(3, dt.month().into())
            && at(4, dt.weekday().to_sunday_zero_offset().into())
    }
}

/// Version precedence (spec §0): build metadata is ignored for ordering.
fn older(a: &Version, b: &Version) -> bool {
    a.cmp_precedence(b).is_lt()
}

fn floor_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).expect("in range")
}

fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).expect("in range")
}

// ---------------------------------------------------------------------------
// The auditor.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Violation {
    kind: &'static str,
    org: String,
    detail: String,
}

/// What the auditor saw, so tests can show the properties are not vacuous.
#[derive(Debug, Default, Clone)]
struct Coverage {
    upgrade_actions: usize,
    node_pool_actions: usize,
    channel_switches: usize,
    sector_bookings: usize,
    limited_bookings: usize,
    soaked_bookings: usize,
    frozen_orgs: usize,
    reasons: BTreeMap<String, usize>,
}

struct Audit<'a> {
    fleet: &'a Fleet,
    now: Timestamp,
    violations: Vec<Violation>,
    coverage: Coverage,
}

/// Check `plan` of `fleet` at `now` against every invariant.
fn audit(fleet: &Fleet, now: Timestamp, plan: &FleetPlan) -> (Vec<Violation>, Coverage) {
    let mut a = Audit {
        fleet,
        now,
        violations: Vec::new(),
        coverage: Coverage::default(),
    };
    a.organizations(plan);
    for org_plan in &plan.organizations {
        a.org(org_plan);
    }
    (a.violations, a.coverage)
}

impl Audit<'_> {
    fn fail(&mut self, kind: &'static str, org: &str, detail: String) {
        self.violations.push(Violation {
            kind,
            org: org.to_owned(),
            detail,
        });
    }

    /// R14: organizations with a discovered cluster are planned, sorted by id.
    fn organizations(&mut self, plan: &FleetPlan) {
        let planned: Vec<&str> = plan
            .organizations
            .iter()
            .map(|o| o.org_id.as_str())
            .collect();
        let mut sorted = planned.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted != planned {
            self.fail(
                "organizations",
                "",
                format!("not sorted or duplicated: {planned:?}"),
            );
        }
        for org in &self.fleet.organizations {
            let clusters = self
                .fleet
                .clusters
                .iter()
                .filter(|c| c.organization == org.id && opted_in(c));
            let (mut any, mut ready) = (false, false);
            for c in clusters {
                any = true;
                ready |= c.state == "ready";
            }
            let listed = planned.contains(&org.id.as_str());
            if ready && !listed {
                self.fail(
                    "organizations",
                    &org.id,
                    "has a discovered cluster but no plan".into(),
                );
            }
            if listed && !any {
                self.fail(
                    "organizations",
                    &org.id,
                    "planned without an AUS cluster".into(),
                );
            }
        }
    }

    fn org(&mut self, plan: &OrgPlan) {
        let fleet = self.fleet;
        let Some(org) = fleet.organization(&plan.org_id) else {
            self.fail("organizations", &plan.org_id, "unknown organization".into());
            return;
        };
        let id = org.id.as_str();
        let members: Vec<&Cluster> = fleet
            .clusters
            .iter()
            .filter(|c| c.organization == org.id && opted_in(c))
            .collect();
        let by_name: HashMap<&str, &Cluster> =
            members.iter().map(|c| (c.name.as_str(), *c)).collect();

        // Every discovered cluster once: in actions or explanations, never both.
        let mut acted: BTreeSet<&str> = BTreeSet::new();
        for action in &plan.actions {
            if !acted.insert(action.cluster()) {
                self.fail(
                    "one-action",
                    id,
                    format!("{} has two actions (R93)", action.cluster()),
                );
            }
        }
        let mut explained: BTreeSet<&str> = BTreeSet::new();
        for e in &plan.clusters {
            if !explained.insert(e.cluster.as_str()) {
                self.fail("coverage", id, format!("{} explained twice", e.cluster));
            }
            *self
                .coverage
                .reasons
                .entry(e.reason.as_str().to_owned())
                .or_default() += 1;
        }
        for both in acted.intersection(&explained) {
            self.fail(
                "coverage",
                id,
                format!("{both} has an action and an explanation"),
            );
        }
        let all: BTreeSet<&str> = acted.union(&explained).copied().collect();
        let expected: BTreeSet<&str> = by_name.keys().copied().collect();
        if all != expected {
            self.fail(
                "coverage",
                id,
                format!(
                    "unexplained {:?}, unknown {:?}",
                    expected.difference(&all).collect::<Vec<_>>(),
                    all.difference(&expected).collect::<Vec<_>>()
                ),
            );
        }

        // R6: an organization with validation errors plans nothing; and what is
        // certainly invalid must be reported.
        let ready: Vec<&Cluster> = members
            .iter()
            .copied()
            .filter(|c| c.state == "ready")
            .collect();
        let known = sectors(org);
        let invalid = ready
            .iter()
            .find_map(|c| certainly_invalid(c, &known).map(|why| format!("{}: {why}", c.name)));
        let org_invalid = known.keys().find_map(|s| {
            label(&org.labels, &format!("sector-max-parallel-upgrades.{s}"))
                .filter(|v| max_parallel(v).is_none())
                .map(|v| format!("max-parallel of {s} is {v:?}"))
        });
        if plan.has_validation_errors() {
            self.coverage.frozen_orgs += 1;
            if !plan.actions.is_empty() {
                self.fail(
                    "frozen",
                    id,
                    format!("{} action(s) despite validation errors", plan.actions.len()),
                );
            }
            return;
        }
        if let Some(why) = invalid.or(org_invalid) {
            self.fail(
                "frozen",
                id,
                format!("no validation error reported although {why}"),
            );
            return;
        }

        // The organization is valid: every ready discovered cluster is a spec.
        let soak = SoakOracle::new(fleet, org, &ready, self.now);
        let mut holders: Vec<&Cluster> = ready
            .iter()
            .copied()
            .filter(|c| c.has_any_policy())
            .collect();
        for action in &plan.actions {
            let Some(c) = by_name.get(action.cluster()).copied() else {
                continue; // reported by the coverage check
            };
            if action.cluster_id() != c.id {
                self.fail(
                    "available",
                    id,
                    format!("{}: action for id {}", c.name, action.cluster_id()),
                );
            }
            match action {
                Action::ChannelSwitch { .. } => {
                    self.coverage.channel_switches += 1;
                    continue;
                }
                Action::NodePoolUpgradePolicy {
                    node_pool,
                    version,
                    next_run,
                    ..
                } => {
                    self.coverage.node_pool_actions += 1;
                    self.node_pool(id, c, node_pool, version, *next_run);
                }
                Action::UpgradePolicy {
                    version, next_run, ..
                }
                | Action::ControlPlaneUpgradePolicy {
                    version, next_run, ..
                } => {
                    self.coverage.upgrade_actions += 1;
                    let hcp_kind = matches!(action, Action::ControlPlaneUpgradePolicy { .. });
                    if hcp_kind != c.is_hcp() {
                        self.fail(
                            "available",
                            id,
                            format!(
                                "{}: {} for a cluster with is_hcp={}",
                                c.name,
                                action.kind(),
                                c.is_hcp()
                            ),
                        );
                    }
                    self.upgrade(id, org, c, version, *next_run, &ready, &soak);
                }
            }
            self.locks(id, c, &ready, &holders);
            // R55: the lock tables hold sets of clusters; a cluster that already
            // holds a policy and is booked again counts once.
            if !holders.iter().any(|h| h.id == c.id) {
                holders.push(c);
            }
        }
    }

    fn node_pool(
        &mut self,
        org: &str,
        c: &Cluster,
        pool: &str,
        version: &Version,
        next_run: Timestamp,
    ) {
        // R81: the first pool behind the control plane, to the control-plane version,
        // at now + 6 minutes in whole seconds.
        let first_behind = c.node_pools.iter().find(|p| older(&p.version, &c.version));
        if !c.is_hcp() || first_behind.is_none_or(|p| p.id != pool) {
            self.fail(
                "node-pool",
                org,
                format!("{}: pool {pool} is not the first pool behind", c.name),
            );
        }
        if *version != c.version {
            self.fail(
                "node-pool",
                org,
                format!(
                    "{}: pool {pool} to {version}, control plane is {}",
                    c.name, c.version
                ),
            );
        }
        let want = whole_seconds(self.now + SignedDuration::from_mins(6));
        if next_run != want {
            self.fail(
                "schedule",
                org,
                format!("{}: node-pool next_run {next_run}, expected {want}", c.name),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn upgrade(
        &mut self,
        org_id: &str,
        org: &Organization,
        c: &Cluster,
        v: &Version,
        next_run: Timestamp,
        specs: &[&Cluster],
        soak: &SoakOracle,
    ) {
        // R78, R88: only what OCM offers.
        if !c
            .available_upgrades
            .iter()
            .any(|u| u.cmp_precedence(v).is_eq())
        {
            self.fail(
                "available",
                org_id,
                format!("{}: {v} not in {:?}", c.name, c.available_upgrades),
            );
        }
        // R22, R32: no pattern of the organization or the cluster matches anywhere.
        let vs = v.to_string();
        for p in blocked_patterns(org, c) {
            let hit = fancy_regex::Regex::new(&p).map_or(true, |r| r.is_match(&vs).unwrap_or(true));
            if hit {
                self.fail(
                    "blocked",
                    org_id,
                    format!("{}: {vs} is blocked by {p}", c.name),
                );
            }
        }
        // R88 2: soak days of every workload.
        let needed = soak_days(c).unwrap_or(u64::MAX) as f64;
        if needed > 0.0 {
            self.coverage.soaked_bookings += 1;
        }
        for w in workloads(c) {
            let have = soak.days(&vs, &w);
            if have + 1e-6 < needed {
                self.fail(
                    "soak",
                    org_id,
                    format!("{}: {vs} soaked {have} of {needed} days for {w}", c.name),
                );
            }
        }
        // R88 1 (clusters with a sector only, R90).
        if let Some(s) = sector(c) {
            self.coverage.sector_bookings += 1;
            if let Err(why) = soak.inherited_check(v, &workloads(c)) {
                self.fail("inherited", org_id, format!("{}: {why}", c.name));
            }
            let deps = sectors(org);
            for w in workloads(c) {
                for d in first_populated(&deps, specs, &s, &w) {
                    let floor = specs
                        .iter()
                        .filter(|m| {
                            sector(m).as_deref() == Some(d.as_str()) && workloads(m).contains(&w)
                        })
                        .map(|m| &m.version)
                        .min_by(|a, b| a.cmp_precedence(b));
                    if let Some(floor) = floor
                        && older(floor, v)
                    {
                        self.fail(
                            "sector-dependency",
                            org_id,
                            format!(
                                "{} (sector {s}): {v} is past {floor} of sector {d} for {w}",
                                c.name
                            ),
                        );
                    }
                }
            }
        }
        // R84: strictly after now + 6 min, at most 2 h ahead, the first fire time.
        self.slot(org_id, c, next_run);
        // R92, R94: every applicable gate of the target minor is agreed.
        for g in &self.fleet.version_gates {
            let prefix = format!("{}.{}", v.major, v.minor);
            if g.version_raw_id_prefix != prefix {
                continue;
            }
            let offered = c
                .available_upgrades
                .iter()
                .any(|u| format!("{}.{}", u.major, u.minor) == prefix);
            let beyond = Version::new(c.version.major, c.version.minor, 0)
                < Version::new(v.major, v.minor, 0);
            let handled = match g.label.as_str() {
                "api.openshift.com/gate-ocp" | "api.openshift.com/gate-ingress" => true,
                "api.openshift.com/gate-sts" => c.sts,
                _ => false,
            };
            if offered && beyond && handled && !c.gate_agreements.contains(&g.id) {
                self.fail(
                    "gate",
                    org_id,
                    format!("{}: {v} without agreement to {}", c.name, g.id),
                );
            }
        }
    }

    fn slot(&mut self, org: &str, c: &Cluster, next_run: Timestamp) {
        let schedule = label(&c.labels, "schedule").unwrap_or("");
        let Some(cron) = Cron::parse(schedule) else {
            self.fail(
                "schedule",
                org,
                format!("{}: booked on unreadable schedule {schedule:?}", c.name),
            );
            return;
        };
        let earliest =
            floor_minute(self.now + SignedDuration::from_mins(6)) + SignedDuration::from_mins(1);
        let ahead = next_run.duration_since(self.now);
        if next_run < earliest || ahead > SignedDuration::from_hours(2) {
            self.fail(
                "schedule",
                org,
                format!(
                    "{}: next_run {next_run} is {ahead:#} ahead of {}",
                    c.name, self.now
                ),
            );
            return;
        }
        if !cron.fires_at(next_run) {
            self.fail(
                "schedule",
                org,
                format!("{}: {schedule:?} does not fire at {next_run}", c.name),
            );
        }
        let mut t = earliest;
        while t < next_run {
            if cron.fires_at(t) {
                self.fail(
                    "schedule",
                    org,
                    format!(
                        "{}: {schedule:?} fires at {t}, before next_run {next_run}",
                        c.name
                    ),
                );
                break;
            }
            t += SignedDuration::from_mins(1);
        }
    }

    /// R57, R58: the max-upgrade check, evaluated just before `c` is booked
    /// against the clusters holding policies at that moment.
    fn locks(&mut self, org: &str, c: &Cluster, specs: &[&Cluster], holders: &[&Cluster]) {
        let mine = mutexes(c);
        let organization = self.fleet.organization(org).expect("checked by the caller");
        let limit = sector(c).and_then(|s| {
            label(
                &organization.labels,
                &format!("sector-max-parallel-upgrades.{s}"),
            )
            .and_then(max_parallel)
            .map(|l| (s, l))
        });
        match limit {
            None => {
                for h in holders {
                    if let Some(m) = mutexes(h).intersection(&mine).next() {
                        self.fail(
                            "mutex",
                            org,
                            format!("{} booked while {} holds mutex {m}", c.name, h.name),
                        );
                        return;
                    }
                }
            }
            Some((s, l)) => {
                self.coverage.limited_bookings += 1;
                let in_sector = |x: &&&Cluster| sector(x).as_deref() == Some(s.as_str());
                let counts: Vec<(&String, usize)> = mine
                    .iter()
                    .map(|m| {
                        (
                            m,
                            holders
                                .iter()
                                .filter(in_sector)
                                .filter(|h| mutexes(h).contains(m))
                                .count(),
                        )
                    })
                    .collect();
                if counts.iter().all(|(_, n)| *n == 0) {
                    return;
                }
                for (m, upgrading) in counts {
                    let members = specs
                        .iter()
                        .filter(in_sector)
                        .filter(|x| mutexes(x).contains(m))
                        .count();
                    let lim = limit_for(l, members);
                    if upgrading as u64 >= lim {
                        self.fail(
                            "max-parallel",
                            org,
                            format!("{} booked in sector {s} with {upgrading} upgrading under {m}, limit {lim}", c.name),
                        );
                    }
                }
            }
        }
    }
}

/// Why a ready cluster's labels are certainly invalid (a subset of the rules, enough
/// for the mutations and the generator's broken labels).
fn certainly_invalid(c: &Cluster, sectors: &BTreeMap<String, Vec<String>>) -> Option<String> {
    if soak_days(c).is_none() {
        return Some(format!("soak-days is {:?}", label(&c.labels, "soak-days")));
    }
    if workloads(c).is_empty() {
        return Some("no workloads".into());
    }
    match label(&c.labels, "schedule") {
        None => return Some("no schedule".into()),
        Some(s)
            if s.split_whitespace()
                .nth(1)
                .and_then(|h| h.parse::<u32>().ok())
                .is_some_and(|h| h > 23) =>
        {
            return Some(format!("schedule {s:?}"));
        }
        Some(_) => {}
    }
    sector(c)
        .filter(|s| !sectors.contains_key(s))
        .map(|s| format!("unknown sector {s}"))
}

/// First-populated dependencies of `sector` for `workload` (R89).
fn first_populated(
    deps: &BTreeMap<String, Vec<String>>,
    specs: &[&Cluster],
    sector_name: &str,
    workload: &str,
) -> Vec<String> {
    fn walk(
        deps: &BTreeMap<String, Vec<String>>,
        populated: &dyn Fn(&str) -> bool,
        s: &str,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) {
        for d in deps.get(s).into_iter().flatten() {
            if populated(d) {
                if !out.contains(d) {
                    out.push(d.clone());
                }
            } else if seen.insert(d.clone()) {
                walk(deps, populated, d, seen, out);
            }
        }
    }
    let populated = |d: &str| {
        specs
            .iter()
            .any(|c| sector(c).as_deref() == Some(d) && workloads(c).iter().any(|w| w == workload))
    };
    let mut out = Vec::new();
    let mut seen = HashSet::from([sector_name.to_owned()]);
    walk(deps, &populated, sector_name, &mut seen, &mut out);
    out
}

/// The soak history a decision must use, recomputed from the stored histories
/// (R65–R73).
struct SoakOracle {
    history: VersionData,
    inherited: Option<(Version, HashMap<String, Version>)>,
}

impl SoakOracle {
    fn new(fleet: &Fleet, org: &Organization, specs: &[&Cluster], now: Timestamp) -> SoakOracle {
        let mut own = fleet.version_data.get(&org.id).cloned().unwrap_or_default();
        // R65; a stored check-in after `now` credits nothing and is kept (srecap's
        // documented deviation: time is never subtracted).
        let prev = own.check_in.unwrap_or(now);
        let delta = if now < prev {
            0.0
        } else {
            now.duration_since(prev).as_secs_f64() / 86_400.0
        };
        // R66, R67: healthy specs report their control-plane version per workload.
        for c in specs.iter().filter(|c| c.healthy) {
            for w in workloads(c) {
                let e = std::sync::Arc::make_mut(
                    own.versions.entry(c.version.to_string()).or_default(),
                )
                .workloads
                .entry(w)
                .or_default();
                if e.reporting.contains(&c.name) {
                    e.soak_days += delta;
                } else {
                    e.reporting.push(c.name.clone());
                }
            }
        }
        // R71: known workloads are those of the updated history.
        let known: HashSet<String> = own
            .versions
            .values()
            .flat_map(|v| v.workloads.keys().cloned())
            .collect();
        let mut inherited: Option<(Version, HashMap<String, Version>)> = None;
        for source in verified_sources(fleet, org) {
            let Some(theirs) = fleet.version_data.get(&source) else {
                continue;
            };
            for (v, vh) in &theirs.versions {
                for (w, wh) in &vh.workloads {
                    if known.contains(w) {
                        std::sync::Arc::make_mut(own.versions.entry(v.clone()).or_default())
                            .workloads
                            .entry(w.clone())
                            .or_default()
                            .soak_days += wh.soak_days;
                    }
                }
            }
            // R72: own stats exist (there are specs); merge the sources' minima.
            if let Some(stats) = &theirs.stats
                && !specs.is_empty()
                && let Ok(min) = stats.min_version.parse::<Version>()
            {
                let per: HashMap<String, Version> = stats
                    .min_version_per_workload
                    .iter()
                    .filter_map(|(w, v)| v.parse().ok().map(|v| (w.clone(), v)))
                    .collect();
                match &mut inherited {
                    None => inherited = Some((min, per)),
                    Some((gmin, pmin)) => {
                        if older(&min, gmin) {
                            *gmin = min;
                        }
                        for (w, v) in per {
                            let e = pmin.entry(w).or_insert_with(|| v.clone());
                            if older(&v, e) {
                                *e = v;
                            }
                        }
                    }
                }
            }
        }
        SoakOracle {
            history: own,
            inherited,
        }
    }

    fn days(&self, version: &str, workload: &str) -> f64 {
        self.history
            .versions
            .get(version)
            .and_then(|v| v.workloads.get(workload))
            .map_or(0.0, |w| w.soak_days)
    }

    /// R73.
    fn inherited_check(&self, candidate: &Version, workloads: &[String]) -> Result<(), String> {
        let Some((min, per)) = &self.inherited else {
            return Ok(());
        };
        if workloads.iter().all(|w| per.contains_key(w)) {
            for w in workloads {
                if older(&per[w], candidate) {
                    return Err(format!("{candidate} is past inherited {} of {w}", per[w]));
                }
            }
            Ok(())
        } else if older(min, candidate) {
            Err(format!("{candidate} is past the inherited minimum {min}"))
        } else {
            Ok(())
        }
    }
}

/// R43, R44: sources listed in `inherit` that publish to this organization.
fn verified_sources(fleet: &Fleet, org: &Organization) -> Vec<String> {
    let inherit = label(&org.labels, "version-data.inherit")
        .map(csv)
        .unwrap_or_default();
    inherit
        .into_iter()
        .filter(|b| *b != org.id)
        .filter(|b| {
            fleet.organization(b).is_some_and(|src| {
                label(&src.labels, "version-data.publish")
                    .map(csv)
                    .unwrap_or_default()
                    .contains(&org.id)
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

fn report(violations: &[Violation]) -> String {
    violations
        .iter()
        .take(10)
        .map(|v| format!("[{}] {}: {}", v.kind, v.org, v.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(config(256))]

    /// No plan breaks a rule of the spec (see the auditor's checks).
    #[test]
    fn plans_keep_every_invariant(case in case()) {
        let fleet = fleet_of(&case);
        let plan = plan_fleet(&fleet, case.now, &FleetOptions::default());
        let (violations, _) = audit(&fleet, case.now, &plan);
        prop_assert!(violations.is_empty(), "{} violation(s):\n{}", violations.len(), report(&violations));
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// Planning is a function of its input: the same fleet plans to the same JSON.
    #[test]
    fn planning_is_deterministic(case in case()) {
        let fleet = fleet_of(&case);
        let first = serde_json::to_string(&plan_fleet(&fleet, case.now, &FleetOptions::default())).expect("serializable");
        let again = fleet_of(&case);
        prop_assert_eq!(&fleet, &again);
        let second = serde_json::to_string(&plan_fleet(&again, case.now, &FleetOptions::default())).expect("serializable");
        prop_assert_eq!(first, second);
    }
}

/// Medium fleets planned at fixed instants: what the auditor sees there.
fn sample_runs(faults: Faults) -> (Vec<Violation>, Coverage) {
    let mut all = Vec::new();
    let mut coverage = Coverage::default();
    for seed in 0..24u64 {
        let shape = FleetShape {
            orgs: 2,
            clusters_per_org: 60,
            max_parallel_fraction: if seed % 2 == 0 { 1.0 } else { 0.0 },
            existing_policy_fraction: 0.15,
            inheritance: seed % 3 == 0,
            future_days: 0,
            ..FleetShape::default()
        };
        let now = base_now() + SignedDuration::from_mins(i64::try_from(seed).expect("small") * 97);
        let fleet = generate(&shape, seed, now);
        let options = FleetOptions {
            faults,
            ..FleetOptions::default()
        };
        let plan = plan_fleet(&fleet, now, &options);
        let (v, c) = audit(&fleet, now, &plan);
        all.extend(v);
        coverage.upgrade_actions += c.upgrade_actions;
        coverage.node_pool_actions += c.node_pool_actions;
        coverage.channel_switches += c.channel_switches;
        coverage.sector_bookings += c.sector_bookings;
        coverage.limited_bookings += c.limited_bookings;
        coverage.soaked_bookings += c.soaked_bookings;
        coverage.frozen_orgs += c.frozen_orgs;
        for (r, n) in c.reasons {
            *coverage.reasons.entry(r).or_default() += n;
        }
    }
    (all, coverage)
}

/// The properties are not vacuous: realistic fleets book upgrades of every kind and
/// hold clusters back for every main reason, and the auditor agrees with them all.
#[test]
fn realistic_fleets_exercise_every_rule() {
    let (violations, c) = sample_runs(Faults::default());
    assert!(violations.is_empty(), "{}", report(&violations));
    assert!(c.upgrade_actions > 200, "{c:?}");
    assert!(c.node_pool_actions > 10, "{c:?}");
    assert!(c.channel_switches > 10, "{c:?}");
    assert!(c.sector_bookings > 100, "{c:?}");
    assert!(c.limited_bookings > 50, "{c:?}");
    assert!(c.soaked_bookings > 100, "{c:?}");
    for reason in [
        "existing-policy",
        "mutex",
        "max-parallel",
        "outside-schedule",
        "no-upgrades",
        "sector-dependency",
        "soak-days",
        "not-ready",
        "version-gate",
    ] {
        assert!(
            c.reasons.get(reason).copied().unwrap_or(0) > 0,
            "no {reason}: {c:?}"
        );
    }
}

/// Every check of the auditor can fail: each deliberate planner fault is caught
/// as a violation of the promise it breaks.
#[test]
fn auditor_catches_each_planner_fault() {
    let cases: [(&str, Faults); 5] = [
        (
            "blocked",
            Faults {
                ignore_blocked_versions: true,
                ..Faults::default()
            },
        ),
        (
            "soak",
            Faults {
                ignore_soak_days: true,
                ..Faults::default()
            },
        ),
        (
            "schedule",
            Faults {
                ignore_schedule: true,
                ..Faults::default()
            },
        ),
        (
            "mutex",
            Faults {
                ignore_mutexes: true,
                ..Faults::default()
            },
        ),
        (
            "sector-dependency",
            Faults {
                ignore_sector_dependencies: true,
                ..Faults::default()
            },
        ),
    ];
    for (kind, faults) in cases {
        let (violations, _) = sample_runs(faults);
        assert!(
            violations.iter().any(|v| v.kind == kind),
            "fault {faults:?} not caught as {kind}; saw {:?}",
            violations.iter().map(|v| v.kind).collect::<BTreeSet<_>>()
        );
    }
    // Ignoring mutexes also breaks max-parallel sectors.
    let (violations, _) = sample_runs(Faults {
        ignore_mutexes: true,
        ..Faults::default()
    });
    assert!(violations.iter().any(|v| v.kind == "max-parallel"));
}

/// A frozen organization (R6, W34): one invalid cluster stops every action.
#[test]
fn one_invalid_cluster_freezes_its_organization() {
    let shape = FleetShape {
        orgs: 2,
        clusters_per_org: 30,
        not_ready_fraction: 0.0,
        ..FleetShape::default()
    };
    let now = base_now();
    let mut fleet = generate(&shape, 11, now);
    let before = plan_fleet(&fleet, now, &FleetOptions::default());
    assert!(before.organizations.iter().all(|o| !o.actions.is_empty()));
    set_label(&mut fleet.clusters[0], "soak-days", "-1");
    let after = plan_fleet(&fleet, now, &FleetOptions::default());
    let (violations, _) = audit(&fleet, now, &after);
    assert!(violations.is_empty(), "{}", report(&violations));
    assert!(after.organizations[0].actions.is_empty());
    assert!(after.organizations[0].has_validation_errors());
    assert_eq!(
        after.organizations[1].actions,
        before.organizations[1].actions
    );
}
