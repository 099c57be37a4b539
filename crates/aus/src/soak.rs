//! Soak history: the per-pass check-in, stats, and aggregation of inherited
//! history (§6).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap;

use jiff::Timestamp;
use semver::Version;
use srecap_fleet::{Stats, VersionData};

/// A version as a hash key, hashed by its numbers only: hashing the pre-release
/// and build identifiers (strings) on every lookup showed in profiles, and
/// versions differing only there are rare. Equality is full [`Version`]
/// equality, as with `&Version` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionKey<'v>(pub(crate) &'v Version);

impl Hash for VersionKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.major);
        state.write_u64(self.0.minor);
        state.write_u64(self.0.patch);
    }
}

/// What one valid cluster contributes to its organization's history.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub cluster_name: &'a str,
    /// Control-plane version (node pools are ignored, R66).
    pub version: &'a Version,
    pub workloads: &'a [String],
    /// A cluster with an enforced health error neither reports nor soaks (R67).
    pub soaks: bool,
}

/// Update `history` for a pass at `now` (R65–R69), in place.
///
/// Soak days are cluster-days (R66): every reporting cluster adds the time since
/// the last check-in. A cluster reporting a version and workload for the first
/// time is recorded and adds nothing.
///
/// Deviation (documented in ARCHITECTURE.md): if `now` is before the stored
/// check-in (a `--now` in the past, a clock step back), nothing is credited and the
/// check-in is kept, so time is never subtracted nor counted twice later.
pub fn check_in(history: &mut VersionData, reports: &[Report<'_>], now: Timestamp) {
    let prev = history.check_in.unwrap_or(now);
    let backwards = now < prev;
    let delta_days = if backwards {
        0.0
    } else {
        now.duration_since(prev).as_secs_f64() / 86_400.0
    };

    // Group reports by (version, workload) so each history entry is touched once
    // and membership in `reporting` is a hash lookup: O(n) for n clusters, where the
    // reference scanned the list per cluster (O(n²) on a big version).
    let mut groups: Vec<((&Version, &str), Vec<&str>)> = Vec::new();
    let mut slot: FxHashMap<(VersionKey<'_>, &str), usize> = FxHashMap::default();
    for r in reports.iter().filter(|r| r.soaks) {
        for w in r.workloads {
            let key = (r.version, w.as_str());
            let i = *slot
                .entry((VersionKey(r.version), key.1))
                .or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
            groups[i].1.push(r.cluster_name);
        }
    }
    for ((version, workload), names) in groups {
        let entry =
            std::sync::Arc::make_mut(history.versions.entry(version.to_string()).or_default())
                .workloads
                .entry(workload.to_owned())
                .or_default();
        // A name already listed (or listed earlier in this pass) repeats and
        // soaks; a new one is recorded and adds nothing. The list is shared
        // with the stored history and copied only when a name is new.
        let mut repeats = 0_usize;
        for name in names {
            if !entry.reporting.insert(name) {
                repeats += 1;
            }
        }
        // One addition per reporting cluster, as the reference accumulates: the
        // same floating-point sums for the same reports.
        for _ in 0..repeats {
            entry.soak_days += delta_days;
        }
    }
    if !backwards {
        history.check_in = Some(now);
    }
    if let Some(stats) = stats(reports) {
        history.stats = Some(stats);
    }
}

/// Lowest control-plane version per workload and overall, over every valid cluster
/// (healthy or not, R69); `None` without clusters.
pub fn stats(reports: &[Report<'_>]) -> Option<Stats> {
    // Hashed, then ordered once by the `BTreeMap` of the result: a tree entry per
    // report and workload showed in profiles.
    let mut per_workload: FxHashMap<&str, &Version> = FxHashMap::default();
    let mut min: Option<&Version> = None;
    for r in reports {
        for w in r.workloads {
            per_workload
                .entry(w)
                .and_modify(|v| {
                    if r.version.cmp_precedence(v).is_lt() {
                        *v = r.version;
                    }
                })
                .or_insert(r.version);
        }
        if min.is_none_or(|m| r.version.cmp_precedence(m).is_lt()) {
            min = Some(r.version);
        }
    }
    let min = min?;
    Some(Stats {
        min_version: min.to_string(),
        min_version_per_workload: per_workload
            .into_iter()
            .map(|(w, v)| (w.to_owned(), v.to_string()))
            .collect(),
    })
}

/// The stored history of an organization this one inherits from (R70).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub environment: &'a str,
    pub org_id: &'a str,
    pub history: &'a VersionData,
}

impl<'a> Source<'a> {
    /// The histories of verified inheritance sources (environment, organization) as
    /// the fleet holds them. Only the fleet's own environment has a history here;
    /// a source in another environment contributes nothing.
    pub fn verified(
        fleet: &'a srecap_fleet::Fleet,
        verified: &'a [(String, String)],
        empty: &'a VersionData,
    ) -> Vec<Source<'a>> {
        verified
            .iter()
            .map(|(env, id)| Source {
                environment: env,
                org_id: id,
                history: if *env == fleet.environment {
                    fleet.version_data.get(id).unwrap_or(empty)
                } else {
                    empty
                },
            })
            .collect()
    }
}

/// The history a decision uses: own history plus inherited soak days, and the
/// inherited stats (R70–R72).
#[derive(Debug, Clone, Default)]
pub struct SoakTable<'a> {
    /// Borrowed when nothing is inherited: the history of a big organization is
    /// large (every cluster's name per version and workload) and is not copied.
    pub history: Cow<'a, VersionData>,
    pub inherited_stats: Option<InheritedStats>,
}

/// Parsed minimum versions of the organizations inherited from (R72).
#[derive(Debug, Clone, PartialEq)]
pub struct InheritedStats {
    pub min_version: Version,
    pub per_workload: HashMap<String, Version>,
}

impl<'a> SoakTable<'a> {
    /// Aggregate `own` (already updated for this pass) with its verified sources.
    pub fn aggregate(own: &'a VersionData, sources: &[Source<'_>]) -> SoakTable<'a> {
        if sources.is_empty() {
            return SoakTable {
                history: Cow::Borrowed(own),
                inherited_stats: None,
            };
        }
        let mut history = own.clone();
        let known: HashSet<String> = own
            .versions
            .values()
            .flat_map(|v| v.workloads.keys().cloned())
            .collect();
        let mut inherited_stats: Option<InheritedStats> = None;
        for source in sources {
            let prefix = format!("{}/{}/", source.environment, source.org_id);
            for (version, vh) in &source.history.versions {
                for (workload, wh) in &vh.workloads {
                    if !known.contains(workload) {
                        continue;
                    }
                    let entry = std::sync::Arc::make_mut(
                        history.versions.entry(version.clone()).or_default(),
                    )
                    .workloads
                    .entry(workload.clone())
                    .or_default();
                    entry.soak_days += wh.soak_days;
                    entry
                        .reporting
                        .extend(wh.reporting.iter().map(|n| format!("{prefix}{n}")));
                }
            }
            if let (Some(_), Some(theirs)) = (&own.stats, &source.history.stats) {
                merge_stats(&mut inherited_stats, theirs);
            }
        }
        SoakTable {
            history: Cow::Owned(history),
            inherited_stats,
        }
    }

    /// Soak days of `version` for `workload`, 0 when absent.
    pub fn soak_days(&self, version: &str, workload: &str) -> f64 {
        self.history
            .versions
            .get(version)
            .and_then(|v| v.workloads.get(workload))
            .map_or(0.0, |w| w.soak_days)
    }

    /// The inherited-version check (R73): may a cluster running `workloads` move to
    /// `candidate` given what the organizations it inherits from run? On failure,
    /// the binding minimum and the workload it came from (`None` = the global one).
    pub fn inherited_check(
        &self,
        own_has_stats: bool,
        candidate: &Version,
        workloads: &[String],
    ) -> Result<(), (Option<String>, Version)> {
        let Some(inh) = &self.inherited_stats else {
            return Ok(());
        };
        if !own_has_stats {
            return Ok(());
        }
        if workloads.iter().all(|w| inh.per_workload.contains_key(w)) {
            for w in workloads {
                let min = &inh.per_workload[w];
                if candidate.cmp_precedence(min).is_gt() {
                    return Err((Some(w.clone()), min.clone()));
                }
            }
            Ok(())
        } else if candidate.cmp_precedence(&inh.min_version).is_gt() {
            Err((None, inh.min_version.clone()))
        } else {
            Ok(())
        }
    }
}

fn merge_stats(into: &mut Option<InheritedStats>, theirs: &Stats) {
    // Unparsable versions in stored stats are skipped rather than failing the org:
    // stats are derived data and are rewritten at the source's next pass.
    let Ok(min_version) = theirs.min_version.parse::<Version>() else {
        return;
    };
    let per_workload = theirs
        .min_version_per_workload
        .iter()
        .filter_map(|(w, v)| v.parse::<Version>().ok().map(|v| (w.clone(), v)))
        .collect::<HashMap<_, _>>();
    match into {
        None => {
            *into = Some(InheritedStats {
                min_version,
                per_workload,
            });
        }
        Some(acc) => {
            if min_version.cmp_precedence(&acc.min_version).is_lt() {
                acc.min_version = min_version;
            }
            for (w, v) in per_workload {
                acc.per_workload
                    .entry(w)
                    .and_modify(|cur| {
                        if v.cmp_precedence(cur).is_lt() {
                            *cur = v.clone();
                        }
                    })
                    .or_insert(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use srecap_fleet::{VersionHistory, WorkloadHistory};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn entry(days: f64, names: &[&str]) -> WorkloadHistory {
        WorkloadHistory {
            soak_days: days,
            reporting: names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn stored() -> VersionData {
        let mut vd = VersionData {
            check_in: Some(ts("2021-08-29T18:00:00Z")),
            ..Default::default()
        };
        let mut vh = VersionHistory::default();
        vh.workloads
            .insert("workload1".into(), entry(21.0, &["cluster1", "cluster2"]));
        vh.workloads
            .insert("workload2".into(), entry(6.0, &["cluster3"]));
        vd.versions.insert("4.12.1".into(), vh.into());
        vd
    }

    #[test]
    fn w17_r66_soak_days_are_cluster_days_and_health_aware() {
        let version = v("4.12.1");
        let wl1 = vec!["workload1".to_owned()];
        let wl2 = vec!["workload2".to_owned()];
        let cases = [
            ([true, true, true], 23.0, 7.0),
            ([false, true, false], 22.0, 6.0),
            ([false, false, false], 21.0, 6.0),
        ];
        for (soaks, w1, w2) in cases {
            let mut vd = stored();
            let reports = [
                Report {
                    cluster_name: "cluster1",
                    version: &version,
                    workloads: &wl1,
                    soaks: soaks[0],
                },
                Report {
                    cluster_name: "cluster2",
                    version: &version,
                    workloads: &wl1,
                    soaks: soaks[1],
                },
                Report {
                    cluster_name: "cluster3",
                    version: &version,
                    workloads: &wl2,
                    soaks: soaks[2],
                },
            ];
            check_in(&mut vd, &reports, ts("2021-08-30T18:00:00Z"));
            let wh = &vd.versions["4.12.1"].workloads;
            assert!((wh["workload1"].soak_days - w1).abs() < 1e-9, "{soaks:?}");
            assert!((wh["workload2"].soak_days - w2).abs() < 1e-9, "{soaks:?}");
            assert_eq!(wh["workload1"].reporting, ["cluster1", "cluster2"]);
            assert_eq!(vd.check_in, Some(ts("2021-08-30T18:00:00Z")));
            let stats = vd.stats.unwrap();
            assert_eq!(stats.min_version, "4.12.1");
            assert_eq!(stats.min_version_per_workload["workload2"], "4.12.1");
        }
    }

    #[test]
    fn r66_first_report_adds_nothing() {
        let mut vd = VersionData::default();
        let version = v("4.13.0");
        let wl = vec!["w".to_owned()];
        let r = [Report {
            cluster_name: "c",
            version: &version,
            workloads: &wl,
            soaks: true,
        }];
        check_in(&mut vd, &r, ts("2021-08-30T18:00:00Z"));
        assert_eq!(vd.versions["4.13.0"].workloads["w"], entry(0.0, &["c"]));
        check_in(&mut vd, &r, ts("2021-08-31T06:00:00Z"));
        assert!((vd.versions["4.13.0"].workloads["w"].soak_days - 0.5).abs() < 1e-12);
    }

    #[test]
    fn clock_moving_backwards_credits_nothing() {
        let mut vd = stored();
        let version = v("4.12.1");
        let wl = vec!["workload1".to_owned()];
        let r = [Report {
            cluster_name: "cluster1",
            version: &version,
            workloads: &wl,
            soaks: true,
        }];
        check_in(&mut vd, &r, ts("2021-08-01T00:00:00Z"));
        assert!((vd.versions["4.12.1"].workloads["workload1"].soak_days - 21.0).abs() < 1e-12);
        assert_eq!(vd.check_in, Some(ts("2021-08-29T18:00:00Z")));
    }

    #[test]
    fn w18_r71_aggregation_adds_known_workloads_with_prefixed_names() {
        let mut own = stored();
        own.stats = Some(Stats {
            min_version: "4.12.1".into(),
            min_version_per_workload: [("workload1".to_owned(), "4.12.1".to_owned())].into(),
        });
        let mut src = VersionData::default();
        let mut a = VersionHistory::default();
        a.workloads
            .insert("workload1".into(), entry(3.0, &["cluster4", "cluster5"]));
        a.workloads
            .insert("workload3".into(), entry(10.0, &["cluster6"]));
        let mut b = VersionHistory::default();
        b.workloads
            .insert("workload1".into(), entry(13.0, &["cluster4", "cluster5"]));
        b.workloads
            .insert("workload3".into(), entry(20.0, &["cluster6"]));
        src.versions.insert("4.12.1".into(), a.into());
        src.versions.insert("4.12.2".into(), b.into());
        src.stats = Some(Stats {
            min_version: "4.12.1".into(),
            min_version_per_workload: [
                ("workload1".to_owned(), "4.12.1".to_owned()),
                ("workload3".to_owned(), "4.12.2".to_owned()),
            ]
            .into(),
        });
        let table = SoakTable::aggregate(
            &own,
            &[Source {
                environment: "prod",
                org_id: "org-2-id",
                history: &src,
            }],
        );
        let h = &table.history.versions;
        assert_eq!(
            h["4.12.1"].workloads["workload1"],
            entry(
                24.0,
                &[
                    "cluster1",
                    "cluster2",
                    "prod/org-2-id/cluster4",
                    "prod/org-2-id/cluster5"
                ]
            )
        );
        assert_eq!(
            h["4.12.1"].workloads["workload2"],
            entry(6.0, &["cluster3"])
        );
        assert!(!h["4.12.1"].workloads.contains_key("workload3"));
        assert_eq!(
            h["4.12.2"].workloads["workload1"],
            entry(13.0, &["prod/org-2-id/cluster4", "prod/org-2-id/cluster5"])
        );
        let inh = table.inherited_stats.clone().unwrap();
        assert_eq!(inh.min_version, v("4.12.1"));
        assert_eq!(inh.per_workload["workload3"], v("4.12.2"));

        // W33 / R73: the inherited-version check.
        let wl = |w: &str| vec![w.to_owned()];
        assert!(
            table
                .inherited_check(true, &v("4.12.2"), &wl("workload3"))
                .is_ok()
        );
        assert!(
            table
                .inherited_check(true, &v("4.12.2"), &wl("workload1"))
                .is_err()
        );
        assert_eq!(
            table.inherited_check(true, &v("4.12.2"), &wl("workload2")),
            Err((None, v("4.12.1")))
        );
        assert!(
            table
                .inherited_check(true, &v("4.12.1"), &wl("workload2"))
                .is_ok()
        );
        assert!(
            table
                .inherited_check(false, &v("9.0.0"), &wl("workload2"))
                .is_ok()
        );
    }

    #[test]
    fn w19_soak_threshold_lookups() {
        let stored = stored();
        let table = SoakTable {
            history: Cow::Borrowed(&stored),
            inherited_stats: None,
        };
        assert!((table.soak_days("4.12.1", "workload1") - 21.0).abs() < 1e-12);
        assert!(table.soak_days("4.13.0", "workload1").abs() < 1e-12);
    }
}
