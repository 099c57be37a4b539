//! The live fleet: the one place where OCM answers become a [`Fleet`].
//!
//! ```text
//! Ocm::discover ─► Snapshot (fleet-wide: clusters with labels, orgs, gates)
//!                    │ per organization
//!                    ▼
//!                  OrgFacts: existing policies + node pools, health,
//!                  gate agreements and channels (read as the planner asks,
//!                  srecap_aus::facts) ──► clusters to plan
//!
//! Snapshot::complete (explain, status, forecast): every fact of every cluster
//! in scope, plus stored histories ──► Fleet
//! ```
//!
//! The reconciler, `status`/`explain --live`, `forecast --ocm-url` and the
//! time-travel simulation all build their fleet here, through [`Ocm`], with
//! the environment name as a parameter.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use rustc_hash::FxHashMap;
use srecap_aus::facts::{self, Known, Missing};
use srecap_aus::inheritance::Network;
use srecap_fleet::{Cluster, Fleet, VersionGate};
use srecap_store::{HistoryStore, StateKey, Store};

use crate::error::PassError;
use crate::health::HealthProvider;
use crate::ocm::{ClusterRef, Ocm};

/// One environment as discovery saw it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub fleet: Fleet,
    /// Organizations whose data could not be used (bad API answers), with why.
    pub broken_orgs: BTreeMap<String, String>,
}

impl Snapshot {
    /// Fleet-wide discovery of `environment` (R10–R17).
    pub async fn discover(
        ocm: &dyn Ocm,
        environment: &str,
        now: Timestamp,
    ) -> Result<Snapshot, PassError> {
        let discovered = ocm.discover().await?;
        Ok(Snapshot {
            fleet: Fleet {
                now,
                environment: environment.to_owned(),
                organizations: discovered.organizations,
                clusters: discovered.clusters,
                version_gates: discovered.version_gates,
                releases: Vec::new(),
                version_data: BTreeMap::new(),
                // The add-on scheduler reads add-ons itself (§13).
                addons: srecap_fleet::Addons::default(),
                sso: srecap_fleet::Sso::default(),
                secrets: srecap_fleet::Secrets::default(),
            },
            broken_orgs: discovered.broken_orgs,
        })
    }

    /// Move the clusters out, per organization id, in discovery order (R17);
    /// with `ignore_sts`, STS clusters are left out (R12).
    pub fn take_clusters_by_org(&mut self, ignore_sts: bool) -> BTreeMap<String, Vec<Cluster>> {
        let mut by_org: BTreeMap<String, Vec<Cluster>> = BTreeMap::new();
        for c in std::mem::take(&mut self.fleet.clusters) {
            if ignore_sts && c.sts {
                continue;
            }
            // An organization's clusters are many: its id is copied once.
            match by_org.get_mut(&c.organization) {
                Some(clusters) => clusters.push(c),
                None => {
                    by_org.insert(c.organization.clone(), vec![c]);
                }
            }
        }
        by_org
    }

    /// The inheritance network of the environment's organizations (R40–R46).
    pub fn network(&self) -> Network {
        let env = self.fleet.environment.as_str();
        Network::build(
            self.fleet
                .organizations
                .iter()
                .map(|o| (env, o.id.as_str(), &o.labels)),
        )
    }

    /// The whole fleet of the organizations in `scope` (`None`: all), with
    /// every per-cluster fact an explanation shows (policies, node pools,
    /// agreements, channels, health) and the stored histories of those
    /// organizations and of the ones they inherit from.
    pub async fn complete(
        mut self,
        ocm: &dyn Ocm,
        store: Option<&Store>,
        scope: Option<&str>,
        health: Option<&HealthProvider>,
    ) -> Result<Fleet, PassError> {
        let in_scope = |org: &str| scope.is_none_or(|s| s == org);
        let env = self.fleet.environment.clone();
        let network = self.network();
        let clusters = std::mem::take(&mut self.fleet.clusters);
        let mut orgs: BTreeMap<String, Vec<Cluster>> = BTreeMap::new();
        let mut order = Vec::with_capacity(clusters.len());
        for c in clusters {
            order.push((
                c.organization.clone(),
                orgs.get(&c.organization).map_or(0, Vec::len),
            ));
            orgs.entry(c.organization.clone()).or_default().push(c);
        }
        for (org, clusters) in &mut orgs {
            if !in_scope(org) {
                continue;
            }
            let mut org_facts = OrgFacts::new(std::mem::take(clusters));
            org_facts.read_policies(ocm, |_| true).await?;
            if let Some(provider) = health {
                org_facts.read_health(ocm, provider, org).await?;
            }
            let everything = Missing {
                gate_agreements: org_facts.clusters.iter().map(|c| c.id.clone()).collect(),
                channels: org_facts.clusters.iter().map(|c| c.id.clone()).collect(),
            };
            org_facts.read(ocm, &everything).await?;
            *clusters = org_facts.into_clusters();
        }
        // Back to discovery order.
        let mut slots: BTreeMap<String, Vec<Option<Cluster>>> = orgs
            .into_iter()
            .map(|(o, cs)| (o, cs.into_iter().map(Some).collect()))
            .collect();
        self.fleet.clusters = order
            .into_iter()
            .filter_map(|(org, i)| slots.get_mut(&org)?.get_mut(i)?.take())
            .collect();

        if let Some(store) = store {
            let mut wanted: BTreeSet<String> = BTreeSet::new();
            for o in &self.fleet.organizations {
                if !in_scope(&o.id) {
                    continue;
                }
                wanted.insert(o.id.clone());
                wanted.extend(
                    network
                        .resolve(&o.id)
                        .verified
                        .into_iter()
                        .filter(|(e, _)| *e == env)
                        .map(|(_, id)| id),
                );
            }
            let keys = wanted
                .iter()
                .map(|o| StateKey::new(&env, o))
                .collect::<Result<Vec<_>, _>>()?;
            self.fleet.version_data = store
                .load_many(&keys)
                .await?
                .into_iter()
                .map(|(k, v)| (k.org_id().to_owned(), std::sync::Arc::unwrap_or_clone(v)))
                .collect();
        }
        Ok(self.fleet)
    }
}

/// One organization's clusters and what has been read about them beyond
/// discovery.
#[derive(Debug)]
pub struct OrgFacts {
    /// Shared with the planning calls that run on other threads; changed in
    /// place (`Arc::make_mut`) once they have finished with it.
    clusters: Arc<Vec<Cluster>>,
    known: Known,
    /// Position by cluster id (Fx: asked per cluster and round of every pass).
    index: FxHashMap<String, usize>,
}

impl OrgFacts {
    /// The organization's discovered clusters, nothing read yet.
    pub fn new(clusters: Vec<Cluster>) -> OrgFacts {
        let index = clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        OrgFacts {
            clusters: Arc::new(clusters),
            known: Known::new(),
            index,
        }
    }

    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// The clusters, shared (for a planning call on another thread).
    pub fn shared(&self) -> Arc<Vec<Cluster>> {
        Arc::clone(&self.clusters)
    }

    fn clusters_mut(&mut self) -> &mut Vec<Cluster> {
        Arc::make_mut(&mut self.clusters)
    }

    pub fn known(&self) -> &Known {
        &self.known
    }

    pub fn into_clusters(self) -> Vec<Cluster> {
        Arc::unwrap_or_clone(self.clusters)
    }

    /// Read the existing policies and node pools of the clusters `wanted`
    /// selects (R97).
    pub async fn read_policies(
        &mut self,
        ocm: &dyn Ocm,
        wanted: impl Fn(&Cluster) -> bool,
    ) -> Result<(), PassError> {
        let refs: Vec<ClusterRef> = self
            .clusters
            .iter()
            .filter(|c| wanted(c))
            .map(|c| ClusterRef {
                id: c.id.clone(),
                hcp: c.is_hcp(),
            })
            .collect();
        if refs.is_empty() {
            return Ok(());
        }
        let found = ocm.cluster_details(refs).await?;
        let clusters = Arc::make_mut(&mut self.clusters);
        for (id, details) in found {
            if let Some(&i) = self.index.get(&id) {
                clusters[i].upgrade_policies = details.policies;
                clusters[i].node_pools = details.node_pools;
            }
        }
        Ok(())
    }

    /// Mark the clusters with enforced health errors as not soaking (R67);
    /// health never stops a cluster's own upgrade (R49). Returns the external
    /// ids the provider reports unhealthy, enforced or not (the health gauge).
    pub async fn read_health(
        &mut self,
        ocm: &dyn Ocm,
        provider: &HealthProvider,
        org_id: &str,
    ) -> Result<HashSet<String>, PassError> {
        let unhealthy = ocm.unhealthy(provider, org_id).await?;
        for c in self.clusters_mut() {
            c.healthy = !(provider.enforced && unhealthy.contains(&c.external_id));
        }
        Ok(unhealthy)
    }

    /// Take every unread agreement as agreed, so the planner can say which it
    /// needs ([`facts::assume`]).
    pub fn assume_unread(&mut self, gates: &[VersionGate]) {
        let known = self.known.clone();
        for c in self.clusters_mut() {
            facts::assume(c, gates, &known);
        }
    }

    /// The gate agreements of the clusters the version-gate approver may agree
    /// for (R108, [`srecap_aus::approver::may_agree`]), read before planning.
    pub async fn read_for_approver(
        &mut self,
        ocm: &dyn Ocm,
        gates: &[VersionGate],
    ) -> Result<(), PassError> {
        let wanted: Vec<String> = self
            .clusters
            .iter()
            .filter(|c| !self.known.knows_agreements(&c.id))
            .filter(|c| srecap_aus::approver::may_agree(c, gates))
            .map(|c| c.id.clone())
            .collect();
        self.read(
            ocm,
            &Missing {
                gate_agreements: wanted,
                channels: Vec::new(),
            },
        )
        .await
    }

    /// Record an agreement OCM accepted this pass, so planning sees it.
    pub fn agreed(&mut self, cluster_id: &str, gate_id: &str) {
        if let Some(&i) = self.index.get(cluster_id) {
            let agreements = &mut self.clusters_mut()[i].gate_agreements;
            if !agreements.iter().any(|g| g == gate_id) {
                agreements.push(gate_id.to_owned());
            }
        }
    }

    /// Read what `missing` names and remember that it was read.
    pub async fn read(&mut self, ocm: &dyn Ocm, missing: &Missing) -> Result<(), PassError> {
        if !missing.gate_agreements.is_empty() {
            let mut agreements = ocm.gate_agreements(missing.gate_agreements.clone()).await?;
            for id in &missing.gate_agreements {
                // Taken out of the answer rather than copied; a cluster named
                // twice keeps what its first mention set.
                let read = agreements.remove(id);
                if let Some(&i) = self.index.get(id)
                    && (read.is_some() || !self.known.knows_agreements(id))
                {
                    self.clusters_mut()[i].gate_agreements = read.unwrap_or_default();
                }
                self.known.learned_agreements(id);
            }
        }
        if !missing.channels.is_empty() {
            let mut channels = ocm.available_channels(missing.channels.clone()).await?;
            for id in &missing.channels {
                if let (Some(&i), Some(ch)) = (self.index.get(id), channels.remove(id)) {
                    self.clusters_mut()[i].available_channels = ch;
                }
                self.known.learned_channels(id);
            }
        }
        Ok(())
    }
}
