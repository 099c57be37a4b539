//! Cluster and organization policies, parsed from labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use srecap_labels::{CronSchedule, LabelParser, LabelValue, ParallelLimit, VersionPattern};

use crate::labels::{
    BLOCKED_VERSIONS, CLUSTER_LABELS, INHERIT, MUTEXES, ORG_LABELS, PUBLISH, SCHEDULE, SECTOR,
    SECTOR_DEPS, SECTOR_MAX_PARALLEL, SOAK_DAYS, VERSION_GATE_APPROVALS, WORKLOADS,
};

/// The AUS policy of one cluster (R39).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPolicy {
    pub workloads: Arc<[String]>,
    pub schedule: CronSchedule,
    pub soak_days: u64,
    pub mutexes: Arc<[String]>,
    /// `None` for an absent or empty `sector` label (R29).
    pub sector: Option<String>,
    pub blocked_versions: Arc<[VersionPattern]>,
    pub version_gate_approvals: Arc<[String]>,
}

impl ClusterPolicy {
    /// Parse a cluster's subscription labels. Errors are `label <key>: <reason>`
    /// messages, one per failing label (R24, R26).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        Self::parse_with(&mut LabelParser::new(CLUSTER_LABELS), labels)
    }

    /// [`ClusterPolicy::from_labels`] with a parser shared across the clusters of
    /// a pass, so each distinct schedule and pattern is parsed once.
    pub fn parse_with(
        parser: &mut LabelParser,
        labels: &BTreeMap<String, String>,
    ) -> Result<Self, Vec<String>> {
        let parsed = parser.parse(labels);
        if !parsed.is_valid() {
            return Err(parsed.errors.iter().map(ToString::to_string).collect());
        }
        let (Some(soak_days), Some(schedule)) =
            (parsed.whole_number(SOAK_DAYS), parsed.cron(SCHEDULE))
        else {
            // Both are mandatory: a valid parse always has them.
            return Err(vec![
                "internal: mandatory labels missing after validation".into(),
            ]);
        };
        Ok(ClusterPolicy {
            workloads: parsed.shared_list(WORKLOADS),
            schedule: schedule.clone(),
            soak_days,
            mutexes: parsed.shared_list(MUTEXES),
            sector: parsed
                .text(SECTOR)
                .filter(|s| !s.is_empty())
                .map(ToOwned::to_owned),
            blocked_versions: parsed.shared_patterns(BLOCKED_VERSIONS),
            version_gate_approvals: parsed.shared_list(VERSION_GATE_APPROVALS),
        })
    }
}

/// One sector as declared by organization labels (R34).
#[derive(Debug, Clone, PartialEq)]
pub struct SectorDecl {
    pub name: String,
    pub dependencies: Vec<String>,
    pub max_parallel: Option<ParallelLimit>,
}

/// The AUS policy of one organization (§3.4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrgPolicy {
    pub blocked_versions: Vec<VersionPattern>,
    /// Every sector of the organization (R33), sorted by name.
    pub sectors: Vec<SectorDecl>,
    /// Sectors named by a max-parallel label but declared by no `sector-deps`
    /// label: their limits are ignored (R33), which deserves a warning.
    pub ignored_limits: Vec<String>,
    pub inherit: Vec<String>,
    pub publish: Vec<String>,
}

impl OrgPolicy {
    /// Parse organization labels. Invalid values are organization errors (the
    /// reference accepted them and failed later, R30 deviation); the valid rest is
    /// still returned so that every error can be reported at once.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> (Self, Vec<String>) {
        let parsed = ORG_LABELS.parse(labels);
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();

        let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in parsed.group(SECTOR_DEPS) {
            let LabelValue::List(items) = value else {
                continue;
            };
            for item in items.iter() {
                deps.entry(item.clone()).or_default();
            }
            deps.insert(name.to_owned(), items.to_vec());
        }
        // R33: a sector exists iff it is named by a sector-deps key or value; a
        // max-parallel label for another name is ignored.
        let mut limits: BTreeMap<&str, ParallelLimit> = BTreeMap::new();
        for (name, value) in parsed.group(SECTOR_MAX_PARALLEL) {
            if let LabelValue::Limit(l) = value {
                limits.insert(name, *l);
            }
        }
        let ignored_limits = limits
            .keys()
            .filter(|name| !deps.contains_key(**name))
            .map(|name| (*name).to_owned())
            .collect();
        let sectors = deps
            .into_iter()
            .map(|(name, dependencies)| SectorDecl {
                max_parallel: limits.get(name.as_str()).copied(),
                name,
                dependencies,
            })
            .collect();
        (
            OrgPolicy {
                blocked_versions: parsed.patterns(BLOCKED_VERSIONS).to_vec(),
                sectors,
                ignored_limits,
                inherit: parsed.list(INHERIT).to_vec(),
                publish: parsed.list(PUBLISH).to_vec(),
            },
            errors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("sre-capabilities.aus.{k}"), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn w24_r24_valid_cluster_labels() {
        let p = ClusterPolicy::from_labels(&labels(&[
            ("soak-days", "0"),
            ("workloads", "workload"),
            ("schedule", "0 * * * 1-5"),
        ]))
        .unwrap();
        assert_eq!(p.soak_days, 0);
        assert_eq!(*p.workloads, ["workload"]);
        assert!(p.mutexes.is_empty());
        assert_eq!(p.sector, None);

        let p = ClusterPolicy::from_labels(&labels(&[
            ("soak-days", "5"),
            ("workloads", "wl-1,wl-2"),
            ("schedule", "0 * * * 1-5"),
            ("sector", "a"),
            ("mutexes", "m1"),
        ]))
        .unwrap();
        assert_eq!(*p.workloads, ["wl-1", "wl-2"]);
        assert_eq!(p.sector.as_deref(), Some("a"));
        assert_eq!(*p.mutexes, ["m1"]);
    }

    #[test]
    fn w24_r26_each_bad_label_is_named() {
        let bad = |pairs: &[(&str, &str)]| ClusterPolicy::from_labels(&labels(pairs)).unwrap_err();
        let base = [
            ("soak-days", "1"),
            ("workloads", "w"),
            ("schedule", "0 * * * *"),
        ];
        let with = |k: &str, v: &str| {
            let mut l: Vec<(&str, &str)> =
                base.iter().filter(|(bk, _)| *bk != k).copied().collect();
            l.push((k, v));
            bad(&l.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>())
        };
        assert_eq!(
            with("workloads", ""),
            [
                "label sre-capabilities.aus.workloads: expected at least 1 comma-separated item, got \"\""
            ]
        );
        assert_eq!(
            with("soak-days", "-5"),
            ["label sre-capabilities.aus.soak-days: expected a whole number >= 0, got \"-5\""]
        );
        assert_eq!(
            with("soak-days", "abc"),
            ["label sre-capabilities.aus.soak-days: expected a whole number >= 0, got \"abc\""]
        );
        assert!(
            with("schedule", "0 48 * * 1-5")[0]
                .starts_with("label sre-capabilities.aus.schedule: ")
        );
        assert!(with("blocked-versions", "(")[0].starts_with(
            "label sre-capabilities.aus.blocked-versions: invalid regular expression"
        ));
        // R26: a cluster carrying only an unrelated AUS label gets three messages.
        assert_eq!(bad(&[("blocked-versions", "x")]).len(), 3);
    }

    #[test]
    fn w27_r33_sectors_from_org_labels() {
        let (p, errors) = OrgPolicy::from_labels(&labels(&[]));
        assert!(errors.is_empty() && p.sectors.is_empty() && p.blocked_versions.is_empty());
        let (p, _) = OrgPolicy::from_labels(&labels(&[("blocked-versions", r"^.*-fc\..*$")]));
        assert_eq!(p.blocked_versions.len(), 1);
        let (p, errors) = OrgPolicy::from_labels(&labels(&[
            ("sector-deps.a", "b,c"),
            ("sector-deps.b", "d"),
            ("sector-max-parallel-upgrades.a", "50%"),
            ("sector-max-parallel-upgrades.zzz", "1"),
        ]));
        assert!(errors.is_empty());
        let names: Vec<&str> = p.sectors.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(p.sectors[0].dependencies, ["b", "c"]);
        assert_eq!(p.sectors[0].max_parallel, Some(ParallelLimit::Percent(50)));
        assert_eq!(p.sectors[1].dependencies, ["d"]);
        assert!(p.sectors[2].dependencies.is_empty());
    }

    #[test]
    fn r30_bad_max_parallel_is_an_org_error() {
        let (_, errors) = OrgPolicy::from_labels(&labels(&[
            ("sector-deps.a", ""),
            ("sector-max-parallel-upgrades.a", "lots"),
        ]));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("label sre-capabilities.aus.sector-max-parallel-upgrades.a: ")
        );
    }
}
