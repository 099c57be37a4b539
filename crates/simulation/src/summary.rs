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
