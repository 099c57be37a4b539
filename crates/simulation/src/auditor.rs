//! The invariant auditor: checks every policy the reconciler created against
//! AUS's promises, recomputed from the data the reconciler saw.
//!
//! It shares no code with the planner (`srecap-aus`): labels are parsed here,
//! schedules evaluated with `croner` directly, blocked versions matched with
//! their own regular expressions, and soak time comes from the auditor's own
//! ledger of which version each cluster ran between passes. A bug in the
//! planner therefore cannot hide itself by being repeated here.
//!
//! Where the reconciler's bookkeeping is subtler than the promise (the first
//! report of a cluster on a version adds no soak time, unhealthy clusters add
//! none, inheritance needs the other side's `publish`), the ledger keeps an
//! *upper bound*: it counts every opted-in cluster for the whole interval on
//! every version it ran at either end of the interval, and adds every
//! organization named in `version-data.inherit`. A policy booked below that
//! bound broke the soak promise for certain; the auditor never reports a
//! false violation for the sake of catching a marginal one.

use std::collections::BTreeMap;

// Fx hashing: every map here is asked per cluster and pass, and SipHash showed
// in profiles of year-long forecasts; the keys are ours, not an attacker's.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;
use std::sync::Arc;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use semver::Version;
use serde::Serialize;
use srecap_fleet::Fleet;

use crate::observed::{Labels, Observed, ObservedCluster};
use crate::timeline::UpgradeKind;

const PREFIX: &str = "sre-capabilities.aus.";
/// A policy's slot is the first fire time strictly after `now` + 6 minutes
/// (spec R84) ...
const SLOT_DELAY: SignedDuration = SignedDuration::from_mins(6);
/// ... and the cluster is in its window when that slot is at most 2 hours
/// away.
const WINDOW: SignedDuration = SignedDuration::from_hours(2);
/// Soak days are fractional; keep float noise from reading as a violation.
const SOAK_EPSILON: f64 = 1e-6;

/// Which promise a policy broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// An upgrade to a version a blocked-versions label matches.
    BlockedVersion,
    /// An upgrade before every workload soaked the version long enough.
    SoakDays,
    /// A `next_run` that is not a fire time of the cluster's schedule within
    /// the 2-hour window.
    Schedule,
    /// More clusters upgrading under one mutex than the mutex (or the sector's
    /// max-parallel limit) allows.
    Mutex,
    /// An upgrade past the lowest version of a sector it depends on.
    SectorDependency,
}

impl Invariant {
    pub const ALL: [Invariant; 5] = [
        Invariant::BlockedVersion,
        Invariant::SoakDays,
        Invariant::Schedule,
        Invariant::Mutex,
        Invariant::SectorDependency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::BlockedVersion => "blocked-version",
            Invariant::SoakDays => "soak-days",
            Invariant::Schedule => "schedule",
            Invariant::Mutex => "mutex",
            Invariant::SectorDependency => "sector-dependency",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// The pass that created the policy.
    pub at: Timestamp,
    pub invariant: Invariant,
    pub organization: String,
    pub cluster: String,
    pub version: Version,
    /// What exactly was wrong, with the numbers.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}] {}/{} -> {}: {}",
            self.at, self.invariant, self.organization, self.cluster, self.version, self.detail
        )
    }
}

/// A policy the reconciler created in a pass, in the order it decided them
/// within its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub cluster_id: String,
    pub kind: UpgradeKind,
    pub version: Version,
    pub next_run: Option<Timestamp>,
}

/// The auditor's view of one cluster's labels. `None` fields were missing or
/// unreadable: the checks that need them are skipped for that cluster.
#[derive(Debug, Default)]
struct ClusterLabels {
    workloads: Vec<String>,
    soak_days: Option<f64>,
    schedule: Option<Cron>,
    schedule_text: String,
    mutexes: Vec<String>,
    sector: Option<String>,
    blocked: Vec<String>,
}

impl ClusterLabels {
    fn read(cluster: &ObservedCluster) -> ClusterLabels {
        let get = |k: &str| cluster.labels.get(&format!("{PREFIX}{k}"));
        ClusterLabels {
            workloads: get("workloads").map(|v| csv(v)).unwrap_or_default(),
            soak_days: get("soak-days").and_then(|v| v.trim().parse::<u32>().ok().map(f64::from)),
            schedule: get("schedule").and_then(|v| cron(v)),
            schedule_text: get("schedule").cloned().unwrap_or_default(),
            mutexes: get("mutexes").map(|v| csv(v)).unwrap_or_default(),
            sector: get("sector")
                .map(|v| v.trim().to_owned())
                .filter(|s| !s.is_empty()),
            blocked: get("blocked-versions").map(|v| csv(v)).unwrap_or_default(),
        }
    }

    /// Opted in as far as the auditor can tell.
    fn opted_in(&self) -> bool {
        !self.workloads.is_empty() && self.soak_days.is_some() && self.schedule.is_some()
    }

    fn effective_mutexes<'a>(&'a self, cluster_id: &'a str) -> impl Iterator<Item = &'a str> {
        self.mutexes
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(cluster_id))
    }
}

#[derive(Debug, Default)]
struct OrgLabels {
    blocked: Vec<String>,
    /// Sector -> its direct dependencies, in label order.
    deps: BTreeMap<String, Vec<String>>,
    max_parallel: BTreeMap<String, String>,
    inherit: Vec<String>,
}

impl OrgLabels {
    fn read(labels: &BTreeMap<String, String>) -> OrgLabels {
        let mut out = OrgLabels::default();
        for (k, v) in labels {
            let Some(key) = k.strip_prefix(PREFIX) else {
                continue;
            };
            if key == "blocked-versions" {
                out.blocked = csv(v);
            } else if key == "version-data.inherit" {
                out.inherit = csv(v);
            } else if let Some(s) = key.strip_prefix("sector-deps.") {
                out.deps.insert(s.to_owned(), csv(v));
            } else if let Some(s) = key.strip_prefix("sector-max-parallel-upgrades.") {
                out.max_parallel.insert(s.to_owned(), v.clone());
            }
        }
        out
    }
}

fn csv(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn cron(expr: &str) -> Option<Cron> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // AUS ANDs day-of-month and day-of-week (spec R84), unlike Vixie cron.
        .dom_and_dow(true)
        .build()
        .parse(expr.trim())
        .ok()
}

fn blocked_by<'a>(patterns: &'a [String], version: &str) -> Option<&'a str> {
    patterns
        .iter()
        .map(String::as_str)
        .find(|p| fancy_regex::Regex::new(p).is_ok_and(|re| re.is_match(version).unwrap_or(false)))
}

/// Watches a simulation pass by pass.
#[derive(Debug, Default)]
pub struct Auditor {
    /// Organization -> version -> workload -> upper bound of soak days. Nested
    /// so that the hourly accounting of every cluster looks entries up by
    /// borrowed keys instead of building three strings per cluster and pass.
    ledger: HashMap<String, HashMap<Version, HashMap<String, f64>>>,
    /// Stored `check_in` per organization, used for the first pass only.
    check_in: HashMap<String, Timestamp>,
    last_pass: Option<Timestamp>,
    /// Cluster id -> version at the last pass.
    last_versions: HashMap<String, Version>,
    /// Cluster id -> its labels as read and as parsed: cron parsing every
    /// cluster twice a pass was a visible share of a simulation's time.
    parsed: HashMap<String, (Labels, Arc<ClusterLabels>)>,
}

impl Auditor {
    /// Start from the fleet's stored soak history.
    pub fn new(initial: &Fleet) -> Auditor {
        let mut auditor = Auditor::default();
        for (org, doc) in &initial.version_data {
            if let Some(t) = doc.check_in {
                auditor.check_in.insert(org.clone(), t);
            }
            for (version, history) in &doc.versions {
                // A stored version no cluster can run (unparsable) can soak
                // nothing a policy could book.
                let Ok(version) = Version::parse(version) else {
                    continue;
                };
                let soaked = auditor
                    .ledger
                    .entry(org.clone())
                    .or_default()
                    .entry(version)
                    .or_default();
                for (workload, w) in &history.workloads {
                    soaked.insert(workload.clone(), w.soak_days);
                }
            }
        }
        auditor
    }

    /// Audit one pass at `now`: `seen` is the fleet as the reconciler found it
    /// (before the pass), `created` the policies the pass created, grouped by
    /// organization in decision order.
    pub fn pass(&mut self, now: Timestamp, seen: &Observed, created: &[Created]) -> Vec<Violation> {
        let labels: HashMap<&str, Arc<ClusterLabels>> = seen
            .clusters
            .iter()
            .map(|c| (c.id.as_str(), self.labels(c)))
            .collect();
        self.account(now, seen, &labels);
        let by_id: HashMap<&str, &ObservedCluster> =
            seen.clusters.iter().map(|c| (c.id.as_str(), c)).collect();
        let orgs: HashMap<&str, OrgLabels> = seen
            .organizations
            .iter()
            .map(|o| (o.id.as_str(), OrgLabels::read(&o.labels)))
            .collect();
        // Clusters holding a policy of any kind: before the pass, then growing
        // with each creation in decision order.
        let mut holders: HashSet<&str> = seen
            .clusters
            .iter()
            .filter(|c| c.has_policy)
            .map(|c| c.id.as_str())
            .collect();

        let mut out = Vec::new();
        for p in created {
            let Some(cluster) = by_id.get(p.cluster_id.as_str()) else {
                continue;
            };
            let cl = &labels[cluster.id.as_str()];
            let empty = OrgLabels::default();
            let org = orgs.get(cluster.organization.as_str()).unwrap_or(&empty);
            let mut report = |invariant: Invariant, detail: String| {
                out.push(Violation {
                    at: now,
                    invariant,
                    organization: cluster.organization.clone(),
                    cluster: cluster.name.clone(),
                    version: p.version.clone(),
                    detail,
                });
            };
            if let Some(detail) = mutex_breach(cluster, cl, org, seen, &labels, &holders) {
                report(Invariant::Mutex, detail);
            }
            holders.insert(cluster.id.as_str());
            // Node-pool catch-up follows the control plane: AUS applies no
            // version rule or schedule to it (spec R81).
            if p.kind == UpgradeKind::NodePool {
                continue;
            }
            let version = p.version.to_string();
            if let Some(pattern) = blocked_by(&cl.blocked, &version) {
                report(
                    Invariant::BlockedVersion,
                    format!("the cluster's blocked-versions pattern {pattern:?} matches"),
                );
            } else if let Some(pattern) = blocked_by(&org.blocked, &version) {
                report(
                    Invariant::BlockedVersion,
                    format!("the organization's blocked-versions pattern {pattern:?} matches"),
                );
            }
            if let Some(detail) = self.soak_shortfall(cluster, cl, org, &p.version) {
                report(Invariant::SoakDays, detail);
            }
            if let Some(detail) = schedule_breach(cl, now, p.next_run) {
                report(Invariant::Schedule, detail);
            }
            if let Some(detail) = sector_breach(cluster, cl, org, seen, &labels, &p.version) {
                report(Invariant::SectorDependency, detail);
            }
        }
        out
    }

    /// The cluster's labels, parsed again only when they changed.
    fn labels(&mut self, c: &ObservedCluster) -> Arc<ClusterLabels> {
        if let Some((raw, parsed)) = self.parsed.get(&c.id)
            && (Arc::ptr_eq(raw, &c.labels) || **raw == *c.labels)
        {
            return parsed.clone();
        }
        let parsed = Arc::new(ClusterLabels::read(c));
        self.parsed
            .insert(c.id.clone(), (c.labels.clone(), parsed.clone()));
        parsed
    }

    /// Add the interval since the last pass to the ledger.
    fn account(
        &mut self,
        now: Timestamp,
        seen: &Observed,
        labels: &HashMap<&str, Arc<ClusterLabels>>,
    ) {
        for c in &seen.clusters {
            let labels = &labels[c.id.as_str()];
            if labels.workloads.is_empty() {
                continue;
            }
            let since = self
                .last_pass
                .or_else(|| self.check_in.get(&c.organization).copied())
                .unwrap_or(now);
            let days = (now.duration_since(since).as_secs_f64() / 86_400.0).max(0.0);
            // The version it runs now and, if it changed, the one it ran at the
            // last pass: either may have soaked over the interval.
            let previous = self.last_versions.get(&c.id).filter(|v| **v != c.version);
            let org = match self.ledger.get_mut(&c.organization) {
                Some(org) => org,
                None => self.ledger.entry(c.organization.clone()).or_default(),
            };
            for v in std::iter::once(&c.version).chain(previous) {
                let soaked = match org.get_mut(v) {
                    Some(soaked) => soaked,
                    None => org.entry(v.clone()).or_default(),
                };
                for w in &labels.workloads {
                    match soaked.get_mut(w) {
                        Some(d) => *d += days,
                        None => {
                            soaked.insert(w.clone(), days);
                        }
                    }
                }
            }
        }
        self.last_pass = Some(now);
        // Kept in place: clusters rarely change version between two passes.
        if self.last_versions.len() != seen.clusters.len() {
            self.last_versions.clear();
        }
        for c in &seen.clusters {
            match self.last_versions.get_mut(&c.id) {
                Some(v) if *v == c.version => {}
                Some(v) => v.clone_from(&c.version),
                None => {
                    self.last_versions.insert(c.id.clone(), c.version.clone());
                }
            }
        }
    }

    fn soak_shortfall(
        &self,
        cluster: &ObservedCluster,
        cl: &ClusterLabels,
        org: &OrgLabels,
        version: &Version,
    ) -> Option<String> {
        let need = cl.soak_days?;
        let mut short = Vec::new();
        for w in &cl.workloads {
            let have: f64 = std::iter::once(cluster.organization.as_str())
                .chain(org.inherit.iter().map(String::as_str))
                .map(|o| {
                    self.ledger
                        .get(o)
                        .and_then(|versions| versions.get(version))
                        .and_then(|workloads| workloads.get(w))
                        .copied()
                        .unwrap_or(0.0)
                })
                .sum();
            if have + SOAK_EPSILON < need {
                short.push(format!("workload {w} soaked at most {have:.2} days"));
            }
        }
        (!short.is_empty()).then(|| format!("needs {need} soak days; {}", short.join(", ")))
    }
}

fn schedule_breach(
    cl: &ClusterLabels,
    now: Timestamp,
    next_run: Option<Timestamp>,
) -> Option<String> {
    let schedule = cl.schedule.as_ref()?;
    let Some(next_run) = next_run else {
        return Some("the policy has no next_run".to_owned());
    };
    let lead = next_run.duration_since(now);
    let zoned = next_run.to_zoned(TimeZone::UTC);
    let fires = next_run.subsec_nanosecond() == 0
        && zoned.second() == 0
        && schedule.is_time_matching(&zoned).unwrap_or(false);
    if !fires {
        return Some(format!(
            "next_run {next_run} is not a fire time of schedule {:?}",
            cl.schedule_text
        ));
    }
    if lead <= SLOT_DELAY || lead > WINDOW {
        return Some(format!(
            "next_run {next_run} is {} min after the pass; the window is (6, 120] min",
            lead.as_secs() / 60
        ));
    }
    None
}

/// R57, recomputed: the clusters already holding a policy (`holders`) against
/// the mutexes and max-parallel limit of `cluster`.
fn mutex_breach(
    cluster: &ObservedCluster,
    cl: &ClusterLabels,
    org: &OrgLabels,
    seen: &Observed,
    labels: &HashMap<&str, Arc<ClusterLabels>>,
    holders: &HashSet<&str>,
) -> Option<String> {
    if holders.contains(cluster.id.as_str()) {
        return Some("the cluster already has an upgrade policy".to_owned());
    }
    let same_org = || {
        seen.clusters
            .iter()
            .filter(|c| c.organization == cluster.organization)
    };
    let shares = |other: &ObservedCluster, m: &str| {
        labels[other.id.as_str()]
            .effective_mutexes(&other.id)
            .any(|x| x == m)
    };
    let limit = cl
        .sector
        .as_ref()
        .and_then(|s| org.max_parallel.get(s).map(|v| (s, v)));
    match limit {
        None => {
            for m in cl.effective_mutexes(&cluster.id) {
                if let Some(h) =
                    same_org().find(|c| holders.contains(c.id.as_str()) && shares(c, m))
                {
                    return Some(format!("mutex {m} is held by {}", h.name));
                }
            }
            None
        }
        Some((sector, value)) => {
            let in_sector =
                |c: &ObservedCluster| labels[c.id.as_str()].sector.as_deref() == Some(sector);
            let counts: Vec<(&str, usize)> = cl
                .effective_mutexes(&cluster.id)
                .map(|m| {
                    let n = same_org()
                        .filter(|c| in_sector(c) && holders.contains(c.id.as_str()) && shares(c, m))
                        .count();
                    (m, n)
                })
                .collect();
            if counts.iter().all(|(_, n)| *n == 0) {
                return None;
            }
            for (m, upgrading) in counts {
                let members = same_org().filter(|c| in_sector(c) && shares(c, m)).count();
                let limit = max_parallel(value, members)?;
                if i64::try_from(upgrading).unwrap_or(i64::MAX) >= limit {
                    return Some(format!(
                        "{upgrading} cluster(s) of sector {sector} already upgrade under mutex {m}; \
                         max-parallel {value} of {members} allows {limit}"
                    ));
                }
            }
            None
        }
    }
}

/// `N` or `P%` of `members` (half to even, at least 1), spec R57/R59.
fn max_parallel(value: &str, members: usize) -> Option<i64> {
    let v = value.trim();
    let limit = if let Some(p) = v.strip_suffix('%') {
        let p: f64 = p.trim().parse::<i64>().ok()? as f64;
        #[allow(clippy::cast_possible_truncation)]
        let l = (members as f64 * p / 100.0).round_ties_even() as i64;
        l
    } else {
        v.parse::<i64>().ok()?
    };
    Some(if limit == 0 { 1 } else { limit })
}

/// R88 step 1b / R89, recomputed from the clusters' current versions.
fn sector_breach(
    cluster: &ObservedCluster,
    cl: &ClusterLabels,
    org: &OrgLabels,
    seen: &Observed,
    labels: &HashMap<&str, Arc<ClusterLabels>>,
    version: &Version,
) -> Option<String> {
    let sector = cl.sector.as_ref()?;
    let members = |d: &str, w: &str| -> Vec<&ObservedCluster> {
        seen.clusters
            .iter()
            .filter(|c| c.organization == cluster.organization && c.ready)
            .filter(|c| {
                let l = &labels[c.id.as_str()];
                l.opted_in() && l.sector.as_deref() == Some(d) && l.workloads.iter().any(|x| x == w)
            })
            .collect()
    };
    for w in &cl.workloads {
        let mut found = Vec::new();
        let mut visited = HashSet::default();
        populated(sector, w, org, &members, &mut visited, &mut found);
        for d in found {
            let lowest = members(&d, w)
                .into_iter()
                .min_by(|a, b| a.version.cmp(&b.version))?;
            if lowest.version < *version {
                return Some(format!(
                    "sector {sector} depends on {d}, whose cluster {} (workload {w}) runs {}",
                    lowest.name, lowest.version
                ));
            }
        }
    }
    None
}

/// First-populated dependencies of `sector` for workload `w` (spec R89).
fn populated<'c>(
    sector: &str,
    w: &str,
    org: &OrgLabels,
    members: &dyn Fn(&str, &str) -> Vec<&'c ObservedCluster>,
    visited: &mut HashSet<String>,
    found: &mut Vec<String>,
) {
    for d in org.deps.get(sector).into_iter().flatten() {
        if !visited.insert(d.clone()) {
            continue;
        }
        if members(d, w).is_empty() {
            populated(d, w, org, members, visited, found);
        } else {
            found.push(d.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_parallel_rounds_half_to_even_and_never_below_one() {
        assert_eq!(max_parallel("50%", 5), Some(2));
        assert_eq!(max_parallel("50%", 3), Some(2));
        assert_eq!(max_parallel("50%", 1), Some(1));
        assert_eq!(max_parallel("2", 9), Some(2));
        assert_eq!(max_parallel("x", 9), None);
    }

    #[test]
    fn schedules_and_day_fields_are_anded() {
        let labels = ClusterLabels {
            schedule: cron("0 0 1 * 1"),
            ..ClusterLabels::default()
        };
        let now: Timestamp = "2021-10-31T22:30:00Z".parse().unwrap();
        // 2021-11-01 is a Monday and the 1st.
        assert_eq!(
            schedule_breach(&labels, now, Some("2021-11-01T00:00:00Z".parse().unwrap())),
            None
        );
        assert!(
            schedule_breach(&labels, now, Some("2021-11-01T00:06:00Z".parse().unwrap())).is_some()
        );
        let early: Timestamp = "2021-10-31T20:00:00Z".parse().unwrap();
        assert!(
            schedule_breach(
                &labels,
                early,
                Some("2021-11-01T00:00:00Z".parse().unwrap())
            )
            .is_some()
        );
    }
}
