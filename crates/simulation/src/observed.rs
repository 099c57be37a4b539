//! What the simulation's own bookkeeping reads of the simulator between
//! passes: the auditor, the recorder and the disturbances.
//!
//! A full [`World::fleet`] snapshot every tick deep-copied every cluster with
//! its labels, policies and available upgrades, and dropped the previous copy:
//! a tenth of a forecast's CPU, on the critical path of every pass. This view
//! holds only the fields those readers use, and is refreshed in place: the
//! names and label maps are copied again only when they changed (label maps
//! when the world took a label write), the rest is a few comparisons per
//! cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use semver::Version;
use srecap_sim::World;
use srecap_sim::world::{LabelOwner, PolicyScope};

/// A label map, shared between ticks while it does not change.
pub type Labels = Arc<BTreeMap<String, String>>;

/// One cluster as it was between two passes.
// Four independent facts of the cluster record, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub struct ObservedCluster {
    pub id: String,
    pub name: String,
    pub organization: String,
    /// ROSA with hosted control plane.
    pub hcp: bool,
    /// In state `ready`.
    pub ready: bool,
    pub healthy: bool,
    pub version: Version,
    /// Shared between ticks while they do not change, so that a reader can
    /// keep what it parsed from them by pointer.
    pub labels: Labels,
    /// Node pool id and version (HCP).
    pub node_pools: Vec<(String, Version)>,
    /// Holds an upgrade policy of any kind, as [`srecap_fleet::Cluster::has_any_policy`]
    /// of the world's fleet would say.
    pub has_policy: bool,
}

/// One organization as it was between two passes.
#[derive(Debug, Clone)]
pub struct ObservedOrg {
    pub id: String,
    pub labels: Labels,
}

/// The clusters and organizations in the world's order.
#[derive(Debug, Default)]
pub struct Observed {
    pub clusters: Vec<ObservedCluster>,
    pub organizations: Vec<ObservedOrg>,
    /// Cluster id -> position in `clusters` (Fx: asked per cluster and pass).
    index: FxHashMap<String, usize>,
    /// [`World::label_writes`] the label maps were built at.
    label_writes: Option<u64>,
}

impl Observed {
    pub fn new(w: &World) -> Observed {
        let mut observed = Observed::default();
        observed.refresh(w);
        observed
    }

    pub fn cluster(&self, id: &str) -> Option<&ObservedCluster> {
        self.index.get(id).map(|&i| &self.clusters[i])
    }

    /// Bring the view up to the world's state.
    pub fn refresh(&mut self, w: &World) {
        let same_clusters = self.clusters.len() == w.clusters.len()
            && self
                .clusters
                .iter()
                .zip(&w.clusters)
                .all(|(o, rec)| o.id == rec.cluster.id);
        let same_orgs = self.organizations.len() == w.organizations.len()
            && self
                .organizations
                .iter()
                .zip(&w.organizations)
                .all(|(o, rec)| o.id == rec.org.id);
        if !same_clusters || !same_orgs {
            self.rebuild(w);
            return;
        }
        for (o, rec) in self.clusters.iter_mut().zip(&w.clusters) {
            let c = &rec.cluster;
            if o.name != c.name {
                o.name.clone_from(&c.name);
            }
            if o.organization != c.organization {
                o.organization.clone_from(&c.organization);
            }
            o.hcp = c.is_hcp();
            o.ready = c.state == "ready";
            o.healthy = c.healthy;
            if o.version != c.version {
                o.version.clone_from(&c.version);
            }
            let same_pools = o.node_pools.len() == c.node_pools.len()
                && o.node_pools
                    .iter()
                    .zip(&c.node_pools)
                    .all(|((id, _), p)| *id == p.id);
            if same_pools {
                for ((_, version), p) in o.node_pools.iter_mut().zip(&c.node_pools) {
                    if *version != p.version {
                        version.clone_from(&p.version);
                    }
                }
            } else {
                o.node_pools = pools(c);
            }
        }
        if self.label_writes != Some(w.label_writes()) {
            self.relabel(w);
        }
        self.mark_policies(w);
    }

    fn rebuild(&mut self, w: &World) {
        self.clusters = w
            .clusters
            .iter()
            .map(|rec| {
                let c = &rec.cluster;
                ObservedCluster {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    organization: c.organization.clone(),
                    hcp: c.is_hcp(),
                    ready: c.state == "ready",
                    healthy: c.healthy,
                    version: c.version.clone(),
                    labels: Arc::default(),
                    node_pools: pools(c),
                    has_policy: false,
                }
            })
            .collect();
        self.organizations = w
            .organizations
            .iter()
            .map(|rec| ObservedOrg {
                id: rec.org.id.clone(),
                labels: Arc::default(),
            })
            .collect();
        // The first position of an id wins, as in the world's own index.
        self.index.clear();
        for (i, c) in self.clusters.iter().enumerate() {
            self.index.entry(c.id.clone()).or_insert(i);
        }
        self.relabel(w);
        self.mark_policies(w);
    }

    /// Label maps as [`World::fleet`] builds them; a map equal to the one held
    /// keeps its pointer.
    fn relabel(&mut self, w: &World) {
        let mut labels: HashMap<&LabelOwner, BTreeMap<String, String>> = HashMap::new();
        for l in &w.labels {
            labels
                .entry(&l.owner)
                .or_default()
                .insert(l.key.clone(), l.value.clone());
        }
        let mut take = |owner: LabelOwner, held: &mut Labels| {
            let map = labels.remove(&owner).unwrap_or_default();
            if **held != map {
                *held = Arc::new(map);
            }
        };
        for (o, rec) in self.clusters.iter_mut().zip(&w.clusters) {
            take(
                LabelOwner::Subscription(rec.subscription_id.clone()),
                &mut o.labels,
            );
        }
        for o in &mut self.organizations {
            take(LabelOwner::Organization(o.id.clone()), &mut o.labels);
        }
        self.label_writes = Some(w.label_writes());
    }

    /// Which clusters hold a policy in the scopes [`World::fleet`] shows:
    /// the top one of the cluster's kind and its node pools'.
    fn mark_policies(&mut self, w: &World) {
        for o in &mut self.clusters {
            o.has_policy = false;
        }
        for p in &w.policies {
            let Some(&i) = self.index.get(p.cluster_id.as_str()) else {
                continue;
            };
            let o = &mut self.clusters[i];
            let shown = match &p.scope {
                PolicyScope::Classic => !o.hcp,
                PolicyScope::ControlPlane => o.hcp,
                PolicyScope::NodePool(np) => o.node_pools.iter().any(|(id, _)| id == np),
            };
            o.has_policy |= shown;
        }
    }
}

fn pools(c: &srecap_fleet::Cluster) -> Vec<(String, Version)> {
    c.node_pools
        .iter()
        .map(|p| (p.id.clone(), p.version.clone()))
        .collect()
}
