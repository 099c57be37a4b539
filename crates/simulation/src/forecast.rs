//! "When will each cluster reach each pending version?", answered from a
//! simulated timeline.

use jiff::Timestamp;
use semver::Version;
use serde::Serialize;

use crate::timeline::Timeline;

/// One cluster and one version newer than what it ran at the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eta {
    pub cluster: String,
    pub organization: String,
    pub sector: Option<String>,
    pub current: Version,
    pub version: Version,
    /// When the release is (or was) published.
    pub published: Timestamp,
    /// When the cluster first runs this version or a newer one, if within the
    /// simulated period.
    pub reached_at: Option<Timestamp>,
    /// The version it actually runs then (a newer z-stream may skip this one).
    pub via: Option<Version>,
}

/// Every (cluster, pending version) pair of the timeline: releases of the
/// cluster's channel groups newer than its starting version, published by the
/// end of the period. `cluster` restricts to one cluster.
pub fn etas(
    t: &Timeline,
    channel_group: &dyn Fn(&str) -> Option<String>,
    cluster: Option<&str>,
) -> Vec<Eta> {
    let mut out = Vec::new();
    for c in &t.clusters {
        if cluster.is_some_and(|n| n != c.name) {
            continue;
        }
        let group = channel_group(&c.name);
        let path = t.versions_of(&c.name);
        for r in &t.releases {
            if r.version <= c.initial_version || r.published > t.end {
                continue;
            }
            if group
                .as_ref()
                .is_some_and(|g| !r.channel_groups.contains(g))
            {
                continue;
            }
            let hit = path.iter().find(|(_, v)| *v >= r.version);
            out.push(Eta {
                cluster: c.name.clone(),
                organization: c.organization.clone(),
                sector: c.sector.clone(),
                current: c.initial_version.clone(),
                version: r.version.clone(),
                published: r.published,
                reached_at: hit.map(|(at, _)| *at),
                via: hit.map(|(_, v)| v.clone()),
            });
        }
    }
    out
}
