//! The rollout in numbers: per sector, when each release reached its first and
//! last cluster; per cluster, which versions it ran from when.

use std::collections::BTreeMap;

use jiff::Timestamp;
use semver::Version;
use serde::Serialize;

use crate::timeline::Timeline;

/// How one release spread through one sector of one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectorRollout {
    pub organization: String,
    /// `None` for clusters without a sector.
    pub sector: Option<String>,
    pub version: Version,
    pub published: Option<Timestamp>,
    /// Clusters of the sector that started below the version.
    pub clusters: usize,
    /// How many of them reached it (or a newer one) by the end.
    pub reached: usize,
    /// When the first of them got there.
    pub first: Option<Timestamp>,
    /// When the last of them got there, if all did.
    pub last: Option<Timestamp>,
}

/// One cluster's versions over the simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterPath {
    pub cluster: String,
    pub organization: String,
    pub sector: Option<String>,
    /// Its version at the start, then each completed upgrade.
    pub versions: Vec<(Timestamp, Version)>,
    /// Upgrades that failed.
    pub failed: usize,
}

/// Sector rollouts of every version some cluster of the sector upgraded to,
/// by organization, sector (in the timeline's order of first appearance) and
/// version.
pub fn sector_rollouts(t: &Timeline) -> Vec<SectorRollout> {
    let published: BTreeMap<&Version, Timestamp> = t
        .releases
        .iter()
        .map(|r| (&r.version, r.published))
        .collect();
    // (org, sector) in order of first appearance, so dev comes before prod as
    // scenarios list them.
    let mut groups: Vec<(&str, Option<&str>)> = Vec::new();
    for c in &t.clusters {
        let key = (c.organization.as_str(), c.sector.as_deref());
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    let mut out = Vec::new();
    for (org, sector) in groups {
        let members: Vec<&str> = t
            .clusters
            .iter()
            .filter(|c| c.organization == org && c.sector.as_deref() == sector)
            .map(|c| c.name.as_str())
            .collect();
        let mut targets: Vec<&Version> = t
            .completed()
            .filter(|(u, _)| members.contains(&u.cluster.as_str()))
            .map(|(u, _)| &u.to_version)
            .collect();
        targets.sort();
        targets.dedup();
        for v in targets {
            let mut clusters = 0;
            let mut times = Vec::new();
            for m in &members {
                let path = t.versions_of(m);
                if path.first().is_none_or(|(_, first)| first >= v) {
                    continue;
                }
                clusters += 1;
                if let Some((at, _)) = path.iter().find(|(_, pv)| pv >= v) {
                    times.push(*at);
                }
            }
            times.sort();
            out.push(SectorRollout {
                organization: org.to_owned(),
                sector: sector.map(str::to_owned),
                version: v.clone(),
                published: published.get(v).copied(),
                clusters,
                reached: times.len(),
                first: times.first().copied(),
                last: (times.len() == clusters)
                    .then(|| times.last().copied())
                    .flatten(),
            });
        }
    }
    out
}

/// Every cluster's path, in discovery order.
pub fn cluster_paths(t: &Timeline) -> Vec<ClusterPath> {
    t.clusters
        .iter()
        .map(|c| ClusterPath {
            cluster: c.name.clone(),
            organization: c.organization.clone(),
            sector: c.sector.clone(),
            versions: t.versions_of(&c.name),
            failed: t
                .upgrades
                .iter()
                .filter(|u| u.cluster == c.name && u.failed_at.is_some())
                .count(),
        })
        .collect()
}

/// Which sector a sector's lag is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LagBasis {
    /// A sector it depends on (`sector-deps` label); of several, the one the
    /// release reached last, since that is the one it waited for.
    Dependency,
    /// The organization has no `sector-deps` labels: the sector before it in
    /// order of first appearance.
    Order,
}

/// How one release reached one sector, and how long after the sector before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseLag {
    pub rollout: SectorRollout,
    /// The sector compared with, and why that one.
    pub behind: Option<(String, LagBasis)>,
    /// Days from the release reaching its first cluster of `behind` to it
    /// reaching its first cluster of this sector; `None` when either never
    /// happened within the simulation.
    pub lag_days: Option<f64>,
}

/// Every sector rollout with its lag, by organization (first appearance),
/// version, then sector (first appearance): one release's flow reads top to
/// bottom.
pub fn release_lags(t: &Timeline) -> Vec<ReleaseLag> {
    let rollouts = sector_rollouts(t);
    let mut orgs: Vec<&str> = Vec::new();
    let mut sectors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &t.clusters {
        if !orgs.contains(&c.organization.as_str()) {
            orgs.push(&c.organization);
        }
        if let Some(s) = &c.sector {
            let seen = sectors.entry(&c.organization).or_default();
            if !seen.contains(&s.as_str()) {
                seen.push(s);
            }
        }
    }
    let first_of = |org: &str, sector: &str, v: &Version| {
        rollouts
            .iter()
            .find(|r| {
                r.organization == org && r.sector.as_deref() == Some(sector) && &r.version == v
            })
            .and_then(|r| r.first)
    };
    let mut out: Vec<ReleaseLag> = rollouts
        .iter()
        .map(|r| {
            let org = r.organization.as_str();
            let behind = r.sector.as_deref().and_then(|s| {
                if let Some(deps) = t.sector_dependencies.get(org) {
                    return deps
                        .get(s)
                        .into_iter()
                        .flatten()
                        .max_by_key(|d| first_of(org, d, &r.version))
                        .map(|d| (d.clone(), LagBasis::Dependency));
                }
                let order = sectors.get(org)?;
                let i = order.iter().position(|x| *x == s)?;
                i.checked_sub(1)
                    .map(|p| (order[p].to_owned(), LagBasis::Order))
            });
            let lag_days = behind.as_ref().and_then(|(b, _)| {
                let there = first_of(org, b, &r.version)?;
                let here = r.first?;
                Some(here.duration_since(there).as_secs_f64() / 86_400.0)
            });
            ReleaseLag {
                rollout: r.clone(),
                behind,
                lag_days,
            }
        })
        .collect();
    let org_rank = |o: &str| orgs.iter().position(|x| *x == o).unwrap_or(usize::MAX);
    let sector_rank = |o: &str, s: Option<&str>| {
        s.and_then(|s| sectors.get(o)?.iter().position(|x| *x == s))
            .unwrap_or(usize::MAX)
    };
    out.sort_by(|a, b| {
        let (a, b) = (&a.rollout, &b.rollout);
        org_rank(&a.organization)
            .cmp(&org_rank(&b.organization))
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| {
                sector_rank(&a.organization, a.sector.as_deref())
                    .cmp(&sector_rank(&b.organization, b.sector.as_deref()))
            })
    });
    out
}
