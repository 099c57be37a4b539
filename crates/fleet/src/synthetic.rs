//! Synthetic fleets: seeded, realistic fleets of any size for property tests and
//! benchmarks.
//!
//! A hand-written scenario covers one rule; the planner's invariants and its cost
//! need fleets that look like production at scale — staged sectors with
//! dependencies, shared mutexes, ROSA HCP clusters with node pools behind, soak
//! history over many versions, blocked versions, version gates, existing policies,
//! unhealthy and not-ready clusters. [`generate`] builds such a fleet from a
//! [`FleetShape`] and a seed.
//!
//! Design decisions:
//! * Deterministic: the same shape, seed and `now` give the same fleet (one
//!   [`StdRng`] drives every choice, and all collections are ordered). Failures found
//!   by property tests can therefore be replayed from the seed alone.
//! * Plausible rather than uniform: development sectors run newer versions than
//!   production ones, most of the history is soaked enough to qualify, most clusters
//!   use schedules that are open at any `now` (`* * * * *`, `0 * * * *`), so plans
//!   contain actions and not only explanations.
//! * Time-extensible: besides the releases published before `now`, the release
//!   catalog continues for [`FleetShape::future_days`] after `now` (weekly z-streams,
//!   a new minor every 60 days), and `available_upgrades` are derived rather than
//!   explicit, so a simulation that moves the clock sees new releases appear.
//! * Valid by default: labels are valid unless [`FleetShape::invalid_label_fraction`]
//!   asks for broken ones, because one invalid cluster freezes its whole
//!   organization (AUS spec R6).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use semver::Version;

use crate::history::{Stats, VersionData, VersionHistory, WorkloadHistory};
use crate::model::{
    Cluster, Fleet, NodePool, Organization, PolicyState, Product, Release, ScheduleType,
    UpgradePolicy, VersionGate, default_channel, derive_available_upgrades,
};

/// Label key prefix of AUS settings.
const AUS: &str = "sre-capabilities.aus.";
/// Major version of every generated release.
const MAJOR: u64 = 4;
/// Minor of the oldest generated release line.
const FIRST_MINOR: u64 = 16;
/// Days between two z-stream releases of one minor.
const PATCH_GAP_DAYS: i64 = 7;
/// Days between two new minors in the future part of the catalog.
const MINOR_GAP_DAYS: i64 = 60;
/// A minor gets z-streams until this many newer minors exist (support window).
const SUPPORTED_MINORS: u64 = 3;
/// How long before `now` the stored history was last checked in: one pass ago.
const CHECK_IN_AGE: SignedDuration = SignedDuration::from_mins(60);
/// Channel groups every generated release is published in.
const CHANNEL_GROUPS: [&str; 3] = ["candidate", "fast", "stable"];
/// Names of the first sectors: a staged rollout as teams label it.
const SECTOR_NAMES: [&str; 4] = ["dev", "stage", "prod", "prod-eu"];
/// Values of `sre-capabilities.aus.sector-max-parallel-upgrades.<sector>`.
const MAX_PARALLEL_VALUES: [&str; 6] = ["1", "2", "3", "25%", "50%", "0"];
/// Values of `sre-capabilities.aus.soak-days`, weighted by repetition.
const SOAK_DAYS: [u64; 8] = [0, 0, 1, 1, 2, 3, 5, 7];

/// What a synthetic fleet looks like. Fractions are probabilities per cluster (or
/// per sector) in `0.0..=1.0`; values outside are clamped.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetShape {
    /// Number of organizations (`org-000`, `org-001`, ...).
    pub orgs: usize,
    /// Clusters in each organization.
    pub clusters_per_org: usize,
    /// Distinct workload names (`wl-00`, ...) an organization uses; at least 1.
    pub workloads: usize,
    /// Most workloads one cluster runs (at least 1).
    pub workloads_per_cluster: usize,
    /// Distinct mutex names (`mx-0`, ...); 0 for none.
    pub mutexes: usize,
    /// Most mutexes one cluster holds.
    pub mutexes_per_cluster: usize,
    /// Sectors per organization: `dev`, `stage` (depends on dev), `prod` (on stage),
    /// `prod-eu` (on prod and stage), then `sector-<k>` (on the two before it).
    pub sectors: usize,
    /// Share of clusters without a sector when the organization has sectors.
    pub unsectored_fraction: f64,
    /// Share of sectors with a `sector-max-parallel-upgrades` label.
    pub max_parallel_fraction: f64,
    /// Releases published before `now`; each has soak history.
    pub versions_of_history: usize,
    /// Minor versions those releases span (4.16, 4.17, ...); at least 1.
    pub minor_versions: u64,
    /// Share of ROSA HCP clusters (with node pools).
    pub hcp_fraction: f64,
    /// Share of AWS STS clusters.
    pub sts_fraction: f64,
    /// Whether OCM version gates exist for every minor after the first.
    pub gates: bool,
    /// Chance that a cluster agreed to a given gate.
    pub gate_agreement_fraction: f64,
    /// Patterns in each organization's `blocked-versions` label.
    pub blocked_patterns: usize,
    /// Share of clusters with their own `blocked-versions` label.
    pub cluster_blocked_fraction: f64,
    /// Share of clusters that already have an upgrade policy.
    pub existing_policy_fraction: f64,
    /// Share of clusters the health provider reports unhealthy.
    pub unhealthy_fraction: f64,
    /// Share of clusters not in state `ready`.
    pub not_ready_fraction: f64,
    /// Share of clusters with one invalid AUS label.
    pub invalid_label_fraction: f64,
    /// Share of HCP clusters with a node pool behind the control plane.
    pub node_pool_behind_fraction: f64,
    /// Whether organizations after the first inherit soak history from the first.
    pub inheritance: bool,
    /// Schedules clusters pick from, uniformly (repeat one to weight it).
    pub schedules: Vec<String>,
    /// Days after `now` the release catalog continues.
    pub future_days: u32,
}

impl Default for FleetShape {
    fn default() -> Self {
        FleetShape {
            orgs: 3,
            clusters_per_org: 100,
            workloads: 5,
            workloads_per_cluster: 2,
            mutexes: 4,
            mutexes_per_cluster: 2,
            sectors: 4,
            unsectored_fraction: 0.1,
            max_parallel_fraction: 0.5,
            versions_of_history: 30,
            minor_versions: 3,
            hcp_fraction: 0.2,
            sts_fraction: 0.3,
            gates: true,
            gate_agreement_fraction: 0.8,
            blocked_patterns: 2,
            cluster_blocked_fraction: 0.05,
            existing_policy_fraction: 0.05,
            unhealthy_fraction: 0.05,
            not_ready_fraction: 0.02,
            invalid_label_fraction: 0.0,
            node_pool_behind_fraction: 0.3,
            inheritance: false,
            schedules: [
                "* * * * *",
                "* * * * *",
                "0 * * * *",
                "0 * * * *",
                "*/30 * * * *",
                "0 */4 * * *",
                "0 9 * * 1-5",
                "30 2 * * *",
                "0 0 * * 0",
            ]
            .map(String::from)
            .to_vec(),
            future_days: 365,
        }
    }
}

impl FleetShape {
    /// One organization of `clusters` clusters as the planner benchmark uses it:
    /// 20 workloads, 10 mutexes, 4 sectors with dependencies, 30 versions of
    /// history.
    pub fn benchmark(clusters: usize) -> FleetShape {
        FleetShape {
            orgs: 1,
            clusters_per_org: clusters,
            workloads: 20,
            mutexes: 10,
            sectors: 4,
            versions_of_history: 30,
            ..FleetShape::default()
        }
    }
}

/// Name of the `k`-th sector.
pub fn sector_name(k: usize) -> String {
    SECTOR_NAMES
        .get(k)
        .map_or_else(|| format!("sector-{k}"), |s| (*s).to_owned())
}

/// Direct dependencies of the `k`-th sector: a chain with diamonds (`prod-eu`
/// depends on `prod` and `stage`, and `prod` on `stage`).
pub fn sector_dependencies(k: usize) -> Vec<usize> {
    match k {
        0 => Vec::new(),
        1 | 2 => vec![k - 1],
        _ => vec![k - 1, k - 2],
    }
}

/// Generate a fleet of `shape` observed at `now`, deterministically from `seed`.
pub fn generate(shape: &FleetShape, seed: u64, now: Timestamp) -> Fleet {
    let mut rng = StdRng::seed_from_u64(seed);
    let catalog = Catalog::new(shape, now);
    let version_gates = if shape.gates {
        catalog.gates()
    } else {
        Vec::new()
    };
    let mut fleet = Fleet {
        now,
        environment: "production".to_owned(),
        organizations: Vec::new(),
        clusters: Vec::new(),
        version_gates,
        releases: catalog.releases.clone(),
        version_data: BTreeMap::new(),
        addons: crate::model::Addons::default(),
        sso: crate::Sso::default(),
        secrets: crate::Secrets::default(),
    };
    let org_ids: Vec<String> = (0..shape.orgs).map(|o| format!("org-{o:03}")).collect();
    for (o, org_id) in org_ids.iter().enumerate() {
        let mut generator = OrgGenerator {
            shape,
            catalog: &catalog,
            rng: &mut rng,
            now,
            org_id,
        };
        let organization = generator.organization(o, &org_ids);
        let clusters = generator.clusters(&fleet.version_gates);
        let history = generator.history(&clusters);
        fleet.organizations.push(organization);
        fleet.version_data.insert(org_id.clone(), history);
        fleet.clusters.extend(clusters);
    }
    fleet
}

fn fraction(p: f64) -> f64 {
    if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// The release catalog: what is published before `now` and what comes after.
struct Catalog {
    /// Every release, past and future, in semver order.
    releases: Vec<Release>,
    /// Releases published by `now`, in semver order, with their age in days.
    past: Vec<(Version, f64)>,
}

impl Catalog {
    fn new(shape: &FleetShape, now: Timestamp) -> Catalog {
        let minors = shape.minor_versions.max(1);
        let history = shape.versions_of_history.max(1);
        let minors_usize = usize::try_from(minors).unwrap_or(usize::MAX);
        let mut releases: Vec<Release> = Vec::new();
        let horizon = now
            .checked_add(days(i64::from(shape.future_days)))
            .unwrap_or(now);
        // When minor `m` (index from FIRST_MINOR) was or will be first published;
        // future minors come every MINOR_GAP_DAYS after `now`.
        let ga_of_future = |m: u64| -> Option<Timestamp> {
            let j = i64::try_from(m.checked_sub(minors)?).ok()?;
            now.checked_add(days(MINOR_GAP_DAYS * (j + 1))).ok()
        };
        for i in 0..minors {
            let idx = usize::try_from(i).unwrap_or(usize::MAX);
            // Spread the history evenly over the minors, older minors first.
            let patches = history / minors_usize + usize::from(idx < history % minors_usize);
            let patches = i64::try_from(patches).unwrap_or(i64::MAX);
            // Older minors' latest z-stream is a little older than newer minors'.
            let lag = i64::try_from((minors - 1 - i).min(2)).unwrap_or(2) * 2 + 1;
            let eol = ga_of_future(i + SUPPORTED_MINORS);
            let supported = minors - 1 - i < SUPPORTED_MINORS;
            let mut p: i64 = 0;
            loop {
                let offset = (p - (patches - 1)) * PATCH_GAP_DAYS - lag;
                let Ok(published) = now.checked_add(days(offset)) else {
                    break;
                };
                let future = p >= patches;
                if future
                    && (!supported || published > horizon || eol.is_some_and(|e| published >= e))
                {
                    break;
                }
                releases.push(release(FIRST_MINOR + i, p, published));
                p += 1;
            }
        }
        // Future minors, with weekly z-streams until their support ends.
        let mut m = minors;
        while let Some(ga) = ga_of_future(m).filter(|ga| *ga <= horizon) {
            let eol = ga_of_future(m + SUPPORTED_MINORS);
            let mut p: i64 = 0;
            while let Ok(published) = ga.checked_add(days(p * PATCH_GAP_DAYS)) {
                if published > horizon || eol.is_some_and(|e| published >= e) {
                    break;
                }
                releases.push(release(FIRST_MINOR + m, p, published));
                p += 1;
            }
            m += 1;
        }
        releases.sort_by(|a, b| a.version.cmp(&b.version));
        let past = releases
            .iter()
            .filter(|r| r.published <= now)
            .map(|r| {
                let age = now.duration_since(r.published).as_secs_f64() / 86_400.0;
                (r.version.clone(), age)
            })
            .collect();
        Catalog { releases, past }
    }

    /// Gates for every minor after the oldest: an OCP gate each, an STS gate for
    /// every other minor.
    fn gates(&self) -> Vec<VersionGate> {
        let mut minors: Vec<u64> = self.releases.iter().map(|r| r.version.minor).collect();
        minors.dedup();
        let mut gates = Vec::new();
        for minor in minors.into_iter().skip(1) {
            gates.push(VersionGate {
                id: format!("gate-ocp-{MAJOR}-{minor}"),
                version_raw_id_prefix: format!("{MAJOR}.{minor}"),
                label: "api.openshift.com/gate-ocp".to_owned(),
                sts_only: false,
            });
            if minor % 2 == 0 {
                gates.push(VersionGate {
                    id: format!("gate-sts-{MAJOR}-{minor}"),
                    version_raw_id_prefix: format!("{MAJOR}.{minor}"),
                    label: "api.openshift.com/gate-sts".to_owned(),
                    sts_only: true,
                });
            }
        }
        gates
    }
}

fn release(minor: u64, patch: i64, published: Timestamp) -> Release {
    Release {
        version: Version::new(MAJOR, minor, u64::try_from(patch).unwrap_or(0)),
        channel_groups: CHANNEL_GROUPS.map(String::from).to_vec(),
        published,
    }
}

/// Generates one organization: its labels, clusters and stored history.
struct OrgGenerator<'s> {
    shape: &'s FleetShape,
    catalog: &'s Catalog,
    rng: &'s mut StdRng,
    now: Timestamp,
    org_id: &'s str,
}

impl OrgGenerator<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(fraction(p))
    }

    /// Up to `most` distinct indices below `of`, at least `least` (if possible),
    /// in ascending order so label values are stable.
    fn pick_distinct(&mut self, least: usize, most: usize, of: usize) -> Vec<usize> {
        let most = most.min(of);
        let least = least.min(most);
        let n = if most > least {
            self.rng.random_range(least..=most)
        } else {
            most
        };
        let mut picked = rand::seq::index::sample(self.rng, of, n).into_vec();
        picked.sort_unstable();
        picked
    }

    fn organization(&mut self, o: usize, org_ids: &[String]) -> Organization {
        let mut labels = BTreeMap::new();
        for k in 0..self.shape.sectors {
            let deps: Vec<String> = sector_dependencies(k)
                .into_iter()
                .map(sector_name)
                .collect();
            labels.insert(
                format!("{AUS}sector-deps.{}", sector_name(k)),
                deps.join(","),
            );
            if self.chance(self.shape.max_parallel_fraction) {
                let value = MAX_PARALLEL_VALUES.choose(self.rng).copied().unwrap_or("1");
                labels.insert(
                    format!("{AUS}sector-max-parallel-upgrades.{}", sector_name(k)),
                    value.to_owned(),
                );
            }
        }
        if self.shape.blocked_patterns > 0 && !self.catalog.releases.is_empty() {
            let patterns: Vec<String> = (0..self.shape.blocked_patterns)
                .map(|i| {
                    let r = self.rng.random_range(0..self.catalog.releases.len());
                    let v = &self.catalog.releases[r].version;
                    let escaped = format!("{}\\.{}\\.{}", v.major, v.minor, v.patch);
                    // Teams write both; the unanchored one also blocks 4.17.30
                    // when it names 4.17.3 (spec §18 G16).
                    if i % 2 == 0 {
                        format!("^{escaped}$")
                    } else {
                        escaped
                    }
                })
                .collect();
            labels.insert(format!("{AUS}blocked-versions"), patterns.join(","));
        }
        if self.shape.inheritance && org_ids.len() > 1 {
            if o == 0 {
                labels.insert(format!("{AUS}version-data.publish"), org_ids[1..].join(","));
            } else {
                labels.insert(format!("{AUS}version-data.inherit"), org_ids[0].clone());
            }
        }
        Organization {
            id: self.org_id.to_owned(),
            name: format!("Organization {o}"),
            labels,
        }
    }

    /// Index into the past releases for a cluster of sector rank `rank` (0 =
    /// development; `None` = no sector): development runs ahead, production behind.
    fn version_index(&mut self, rank: Option<usize>) -> usize {
        let n = self.catalog.past.len();
        let spread = (n / 3).max(1);
        let behind = match rank {
            Some(r) => {
                let step = (n / (2 * self.shape.sectors.max(1))).max(1);
                self.rng.random_range(0..spread) + r * step
            }
            None => self.rng.random_range(0..(2 * spread).min(n).max(1)),
        };
        n.saturating_sub(1 + behind)
    }

    fn clusters(&mut self, gates: &[VersionGate]) -> Vec<Cluster> {
        let shape = self.shape;
        let mut clusters = Vec::with_capacity(shape.clusters_per_org);
        if self.catalog.past.is_empty() {
            return clusters;
        }
        for c in 0..shape.clusters_per_org {
            let name = format!("{}-c{c:05}", self.org_id);
            let rank = (shape.sectors > 0 && !self.chance(shape.unsectored_fraction))
                .then(|| self.rng.random_range(0..shape.sectors));
            let idx = self.version_index(rank);
            let version = self.catalog.past[idx].0.clone();
            let hcp = self.chance(shape.hcp_fraction);
            let sts = hcp || self.chance(shape.sts_fraction);
            let product = if hcp || (sts && self.chance(0.7)) || self.chance(0.4) {
                Product::Rosa
            } else {
                Product::Osd
            };
            let channel_group = if self.chance(0.85) { "stable" } else { "fast" };
            let available_upgrades = derive_available_upgrades(
                &self.catalog.releases,
                &version,
                channel_group,
                self.now,
            );
            let (channel, available_channels) = self.channels(channel_group, &version);
            let labels = self.cluster_labels(rank, sts, &version);
            let node_pools = if hcp {
                self.node_pools(idx)
            } else {
                Vec::new()
            };
            let mut cluster = Cluster {
                id: format!("{name}-id"),
                external_id: format!("{name}-uuid"),
                organization: self.org_id.to_owned(),
                version,
                channel_group: channel_group.to_owned(),
                channel,
                available_upgrades: available_upgrades.into(),
                available_upgrades_explicit: false,
                available_channels,
                product,
                hypershift: hcp,
                sts,
                state: "ready".to_owned(),
                healthy: !self.chance(shape.unhealthy_fraction),
                labels: labels.into(),
                node_pools,
                upgrade_policies: Vec::new(),
                gate_agreements: Vec::new(),
                auth: crate::ClusterAuth::default(),
                name,
            };
            if self.chance(shape.not_ready_fraction) {
                let states = ["installing", "hibernating", "error", "uninstalling"];
                let state = states.choose(self.rng).copied().unwrap_or("installing");
                state.clone_into(&mut cluster.state);
            }
            if self.chance(shape.existing_policy_fraction) {
                self.existing_policy(&mut cluster);
            }
            for gate in gates {
                let gate_minor = format!("{}.0", gate.version_raw_id_prefix).parse::<Version>();
                let beyond = gate_minor.is_ok_and(|g| {
                    Version::new(cluster.version.major, cluster.version.minor, 0) < g
                });
                if beyond && self.chance(shape.gate_agreement_fraction) {
                    cluster.gate_agreements.push(gate.id.clone());
                }
            }
            clusters.push(cluster);
        }
        clusters
    }

    /// The cluster's channel and the channels OCM offers it: its own minor's and,
    /// once released, the next minor's. Some clusters already switched.
    fn channels(&mut self, group: &str, version: &Version) -> (String, Vec<String>) {
        let own = default_channel(group, version);
        let next_minor = Version::new(version.major, version.minor + 1, 0);
        let next_released = self
            .catalog
            .past
            .iter()
            .any(|(v, _)| v.major == next_minor.major && v.minor == next_minor.minor);
        if next_released {
            let next = default_channel(group, &next_minor);
            let channel = if self.chance(0.3) {
                next.clone()
            } else {
                own.clone()
            };
            (channel, vec![own, next])
        } else {
            (own.clone(), vec![own])
        }
    }

    fn cluster_labels(
        &mut self,
        rank: Option<usize>,
        sts: bool,
        version: &Version,
    ) -> BTreeMap<String, String> {
        let shape = self.shape;
        let mut labels = BTreeMap::new();
        let workloads = self.pick_distinct(
            1,
            shape.workloads_per_cluster.max(1),
            shape.workloads.max(1),
        );
        let workloads: Vec<String> = workloads.iter().map(|w| format!("wl-{w:02}")).collect();
        labels.insert(format!("{AUS}workloads"), workloads.join(","));
        let soak = SOAK_DAYS.choose(self.rng).copied().unwrap_or(0);
        labels.insert(format!("{AUS}soak-days"), soak.to_string());
        let schedule = shape
            .schedules
            .choose(self.rng)
            .cloned()
            .unwrap_or_else(|| "* * * * *".to_owned());
        labels.insert(format!("{AUS}schedule"), schedule);
        if shape.mutexes > 0 && shape.mutexes_per_cluster > 0 {
            let mutexes = self.pick_distinct(0, shape.mutexes_per_cluster, shape.mutexes);
            if !mutexes.is_empty() {
                let names: Vec<String> = mutexes.iter().map(|m| format!("mx-{m}")).collect();
                labels.insert(format!("{AUS}mutexes"), names.join(","));
            }
        }
        if let Some(r) = rank {
            labels.insert(format!("{AUS}sector"), sector_name(r));
        }
        if self.chance(shape.cluster_blocked_fraction) {
            // A team holding back the next minor's first release.
            labels.insert(
                format!("{AUS}blocked-versions"),
                format!("^{}\\.{}\\.0$", version.major, version.minor + 1),
            );
        }
        if sts && self.chance(0.5) {
            labels.insert(
                format!("{AUS}version-gate-approvals"),
                "api.openshift.com/gate-ocp,api.openshift.com/gate-sts".to_owned(),
            );
        }
        if self.chance(shape.invalid_label_fraction) {
            self.break_one_label(&mut labels);
        }
        labels
    }

    /// Make exactly one AUS label invalid, the way people get them wrong.
    fn break_one_label(&mut self, labels: &mut BTreeMap<String, String>) {
        match self.rng.random_range(0..5) {
            0 => {
                labels.insert(format!("{AUS}soak-days"), "-1".to_owned());
            }
            1 => {
                labels.insert(format!("{AUS}schedule"), "0 48 * * *".to_owned());
            }
            2 => {
                labels.insert(format!("{AUS}workloads"), String::new());
            }
            3 => {
                labels.remove(&format!("{AUS}schedule"));
            }
            _ => {
                labels.insert(format!("{AUS}sector"), "no-such-sector".to_owned());
            }
        }
    }

    /// One to three node pools; sometimes one is behind the control plane.
    fn node_pools(&mut self, idx: usize) -> Vec<NodePool> {
        let version = self.catalog.past[idx].0.clone();
        let count = self.rng.random_range(1..=3);
        let mut pools: Vec<NodePool> = (0..count)
            .map(|p| NodePool {
                id: format!("workers-{p}"),
                version: version.clone(),
                upgrade_policies: Vec::new(),
            })
            .collect();
        if idx > 0 && self.chance(self.shape.node_pool_behind_fraction) {
            let behind = self.rng.random_range(idx.saturating_sub(3)..idx);
            let p = self.rng.random_range(0..pools.len());
            pools[p].version = self.catalog.past[behind].0.clone();
        }
        pools
    }

    /// An upgrade policy someone (AUS in an earlier pass, or a person) created.
    fn existing_policy(&mut self, cluster: &mut Cluster) {
        let started = self.chance(0.3);
        let minutes = self.rng.random_range(10..=300);
        let next_run = if started {
            self.now.checked_sub(SignedDuration::from_mins(minutes))
        } else {
            self.now.checked_add(SignedDuration::from_mins(minutes))
        }
        .unwrap_or(self.now);
        let policy = |version: Version| UpgradePolicy {
            id: format!("{}-policy", cluster.name),
            version: Some(version),
            next_run: Some(next_run),
            state: if started {
                PolicyState::Started
            } else {
                PolicyState::Scheduled
            },
            schedule_type: ScheduleType::Manual,
            schedule: None,
        };
        if cluster.is_hcp() && self.chance(0.5) {
            let v = cluster.version.clone();
            if let Some(pool) = cluster.node_pools.first_mut() {
                pool.upgrade_policies.push(policy(v));
                return;
            }
        }
        if let Some(target) = cluster.available_upgrades.last().cloned() {
            cluster.upgrade_policies.push(policy(target));
        }
    }

    /// The organization's stored soak history: every past release soaked per
    /// workload in proportion to its age (older releases have soaked more), the
    /// clusters reporting their current version (a steady state, so this pass
    /// credits them), and the stats of the organization.
    fn history(&mut self, clusters: &[Cluster]) -> VersionData {
        let workloads: Vec<String> = (0..self.shape.workloads.max(1))
            .map(|w| format!("wl-{w:02}"))
            .collect();
        let mut versions: BTreeMap<String, VersionHistory> = BTreeMap::new();
        for (version, age) in &self.catalog.past {
            let mut entry = VersionHistory::default();
            for w in &workloads {
                // Not every workload ran every version.
                if self.chance(0.1) {
                    continue;
                }
                let rate: f64 = self.rng.random_range(0.0..4.0);
                entry.workloads.insert(
                    w.clone(),
                    WorkloadHistory {
                        soak_days: (age * rate * 100.0).round() / 100.0,
                        reporting: crate::Reporting::default(),
                    },
                );
            }
            versions.insert(version.to_string(), entry);
        }
        let mut per_workload: BTreeMap<String, Version> = BTreeMap::new();
        let mut min_version: Option<Version> = None;
        for c in clusters.iter().filter(|c| c.state == "ready") {
            let names = c
                .labels
                .get(&format!("{AUS}workloads"))
                .map(|v| v.split(',').map(str::trim).filter(|w| !w.is_empty()))
                .into_iter()
                .flatten();
            for w in names {
                let entry = versions
                    .entry(c.version.to_string())
                    .or_default()
                    .workloads
                    .entry(w.to_owned())
                    .or_default();
                entry.reporting.push(c.name.clone());
                per_workload
                    .entry(w.to_owned())
                    .and_modify(|v| {
                        if c.version < *v {
                            v.clone_from(&c.version);
                        }
                    })
                    .or_insert_with(|| c.version.clone());
            }
            if min_version.as_ref().is_none_or(|m| c.version < *m) {
                min_version = Some(c.version.clone());
            }
        }
        VersionData {
            check_in: self.now.checked_sub(CHECK_IN_AGE).ok(),
            versions: versions
                .into_iter()
                .map(|(v, h)| (v, std::sync::Arc::new(h)))
                .collect(),
            stats: min_version.map(|m| Stats {
                min_version: m.to_string(),
                min_version_per_workload: per_workload
                    .into_iter()
                    .map(|(w, v)| (w, v.to_string()))
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-21T10:00:00Z".parse().expect("valid instant")
    }

    #[test]
    fn same_seed_same_fleet_other_seed_other_fleet() {
        let shape = FleetShape::default();
        let a = generate(&shape, 7, now());
        assert_eq!(a, generate(&shape, 7, now()));
        assert_ne!(a, generate(&shape, 8, now()));
    }

    #[test]
    fn shape_is_respected() {
        let shape = FleetShape {
            orgs: 2,
            clusters_per_org: 50,
            ..FleetShape::default()
        };
        let fleet = generate(&shape, 1, now());
        assert_eq!(fleet.organizations.len(), 2);
        assert_eq!(fleet.clusters.len(), 100);
        let past: Vec<&Release> = fleet
            .releases
            .iter()
            .filter(|r| r.published <= now())
            .collect();
        assert_eq!(past.len(), shape.versions_of_history);
        let minors: std::collections::BTreeSet<u64> =
            past.iter().map(|r| r.version.minor).collect();
        assert_eq!(minors.len(), 3);
        // The catalog goes on for a year: new minors and z-streams appear later.
        let last = fleet
            .releases
            .iter()
            .map(|r| r.published)
            .max()
            .expect("releases");
        assert!(
            last > now().checked_add(days(300)).expect("in range"),
            "{last}"
        );
        assert!(
            fleet
                .releases
                .iter()
                .any(|r| r.version.minor >= FIRST_MINOR + 6)
        );
        // Sectors: a chain with a diamond.
        let org = &fleet.organizations[0];
        assert_eq!(org.labels[&format!("{AUS}sector-deps.dev")], "");
        assert_eq!(org.labels[&format!("{AUS}sector-deps.stage")], "dev");
        assert_eq!(
            org.labels[&format!("{AUS}sector-deps.prod-eu")],
            "prod,stage"
        );
    }

    #[test]
    fn clusters_are_plausible() {
        let fleet = generate(&FleetShape::benchmark(2_000), 3, now());
        let ready = fleet.clusters.iter().filter(|c| c.state == "ready").count();
        assert!(ready > 1_900 && ready < 2_000, "{ready}");
        let hcp: Vec<&Cluster> = fleet.clusters.iter().filter(|c| c.is_hcp()).collect();
        assert!(hcp.len() > 300, "{}", hcp.len());
        assert!(hcp.iter().all(|c| !c.node_pools.is_empty()));
        assert!(
            hcp.iter()
                .any(|c| c.node_pools.iter().any(|p| p.version < c.version))
        );
        assert!(
            fleet
                .clusters
                .iter()
                .all(|c| c.node_pools.is_empty() || c.is_hcp())
        );
        let with_upgrades = fleet
            .clusters
            .iter()
            .filter(|c| !c.available_upgrades.is_empty())
            .count();
        assert!(with_upgrades > 1_500, "{with_upgrades}");
        assert!(fleet.clusters.iter().any(Cluster::has_any_policy));
        for c in &fleet.clusters {
            assert_eq!(
                *c.available_upgrades,
                fleet.derive_available_upgrades(&c.version, &c.channel_group, now())
            );
            for key in ["workloads", "soak-days", "schedule"] {
                assert!(c.labels.contains_key(&format!("{AUS}{key}")), "{key}");
            }
        }
        // Every past release has history, and current versions are reported.
        let history = &fleet.version_data["org-000"];
        assert!(history.versions.len() >= 30);
        let c = &fleet.clusters[0];
        let w = c.labels[&format!("{AUS}workloads")]
            .split(',')
            .next()
            .expect("one workload");
        assert!(
            history.versions[&c.version.to_string()].workloads[w]
                .reporting
                .contains(&c.name)
        );
    }

    #[test]
    fn invalid_labels_only_when_asked() {
        let clean = generate(&FleetShape::default(), 5, now());
        let sectors: Vec<String> = (0..4).map(sector_name).collect();
        let valid_schedule = |c: &Cluster| {
            c.labels
                .get(&format!("{AUS}schedule"))
                .is_some_and(|s| s != "0 48 * * *")
        };
        assert!(clean.clusters.iter().all(valid_schedule));
        assert!(clean.clusters.iter().all(|c| {
            c.labels
                .get(&format!("{AUS}sector"))
                .is_none_or(|s| sectors.contains(s))
        }));
        let broken = generate(
            &FleetShape {
                invalid_label_fraction: 1.0,
                ..FleetShape::default()
            },
            5,
            now(),
        );
        let bad = broken.clusters.iter().filter(|c| {
            let l = |k: &str| c.labels.get(&format!("{AUS}{k}")).map(String::as_str);
            l("soak-days") == Some("-1")
                || l("schedule").is_none_or(|s| s == "0 48 * * *")
                || l("workloads") == Some("")
                || l("sector") == Some("no-such-sector")
        });
        assert_eq!(bad.count(), broken.clusters.len());
    }

    #[test]
    fn out_of_range_shapes_do_not_panic() {
        let shape = FleetShape {
            orgs: 1,
            clusters_per_org: 20,
            workloads: 0,
            workloads_per_cluster: 0,
            mutexes: 0,
            sectors: 9,
            versions_of_history: 0,
            minor_versions: 0,
            hcp_fraction: 2.0,
            sts_fraction: -1.0,
            unhealthy_fraction: f64::NAN,
            schedules: Vec::new(),
            future_days: 0,
            ..FleetShape::default()
        };
        let fleet = generate(&shape, 0, now());
        assert_eq!(fleet.clusters.len(), 20);
        assert!(fleet.clusters.iter().all(Cluster::is_hcp));
        assert!(fleet.releases.iter().all(|r| r.published <= now()));
        let org = &fleet.organizations[0];
        assert_eq!(
            org.labels[&format!("{AUS}sector-deps.sector-8")],
            "sector-7,sector-6"
        );
    }
}
