//! The simulated OCM world: every object the API serves, and the rules that
//! change it.
//!
//! The world is seeded from a [`Fleet`] and then evolves through API writes and
//! the simulated clock ([`crate::progression`]). Objects the scenario format does
//! not name (subscriptions, label ids, creation timestamps) get deterministic
//! values so two runs of one scenario serve byte-identical answers:
//!
//! * subscription id = `<cluster id>-sub`;
//! * label, policy, agreement and service-log ids come from one counter
//!   (`label-000001`, `policy-000002`, ...), in scenario order;
//! * creation timestamps count seconds up from `now - 30 days` in scenario
//!   order, so `order=creation_timestamp` returns clusters in scenario order (the
//!   planner's discovery order).
//!
//! Operations return [`Rejection`] — what went wrong in domain terms; the HTTP
//! layer turns it into OCM's error body for the right service.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rustc_hash::FxHashMap;
use semver::Version;
use serde::Serialize;
use serde_json::{Value, json};
use srecap_fleet::model::derive_available_upgrades;
use srecap_fleet::{
    Cluster, Fleet, Organization, PolicyState, Release, ScheduleType, UpgradePolicy, VersionData,
    VersionGate,
};

use crate::by_cluster::ByCluster;
use crate::config::SimConfig;

/// Why an operation on the world was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The addressed object does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request is invalid (HTTP 400).
    #[error("{reason}")]
    Invalid {
        reason: String,
        details: Option<Value>,
    },
    /// The request conflicts with an existing object (HTTP 409).
    #[error("{0}")]
    Conflict(String),
}

impl Rejection {
    pub fn invalid(reason: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            reason: reason.into(),
            details: None,
        }
    }
}

/// An organization and its creation time.
#[derive(Debug, Clone)]
pub struct OrgRecord {
    /// Labels are kept in [`World::labels`]; this copy's map is empty.
    pub org: Organization,
    pub created_at: Timestamp,
}

/// A cluster with its subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRecord {
    /// Labels, policies and agreements live in the world's own collections; this
    /// copy's fields for them are empty.
    pub cluster: Cluster,
    pub subscription_id: String,
    pub created_at: Timestamp,
    /// Upgrades of this cluster end `failed` instead of `completed` (a knob).
    pub fail_upgrades: bool,
    /// How long this cluster's upgrades run, instead of
    /// [`SimConfig::upgrade_duration`] (a knob for seeded duration spread).
    pub upgrade_duration: Option<SignedDuration>,
}

/// A transition progression made a policy take, at the simulated instant it
/// happened (not the instant the clock was told).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyEvent {
    pub at: Timestamp,
    pub cluster_id: String,
    pub policy_id: String,
    /// `started`, `delayed`, `completed` or `failed`.
    pub state: PolicyState,
    /// Target version, when the policy has one.
    pub version: Option<Version>,
}

/// One object as `(search view, served JSON)`.
pub type RenderedItem = std::sync::Arc<(serde_json::Value, serde_json::Value)>;

/// A collection as rendered objects.
pub type Rendered = Vec<RenderedItem>;

/// Objects rendered in an earlier generation, by id, with the record (and the
/// derived data, `S`) they were rendered from: an object whose record is
/// unchanged is served as rendered then. A pass lists thousands of labels and
/// clusters of which a handful changed since the last pass.
#[derive(Debug, Clone)]
pub struct RenderMemo<R, S = ()> {
    rendered: HashMap<String, (R, S, RenderedItem)>,
}

impl<R, S> Default for RenderMemo<R, S> {
    fn default() -> Self {
        RenderMemo {
            rendered: HashMap::new(),
        }
    }
}

impl<R: PartialEq + Clone, S: PartialEq> RenderMemo<R, S> {
    /// One object, reused if unchanged since it was last rendered.
    pub fn one(
        &mut self,
        id: &str,
        record: &R,
        derived: S,
        render: impl FnOnce(&R, &S) -> (serde_json::Value, serde_json::Value),
    ) -> RenderedItem {
        if let Some((old, old_derived, item)) = self.rendered.get(id)
            && old == record
            && *old_derived == derived
        {
            return item.clone();
        }
        let item = std::sync::Arc::new(render(record, &derived));
        self.rendered
            .insert(id.to_owned(), (record.clone(), derived, item.clone()));
        item
    }

    /// Render `objects` as `(id, record, derived)`, reusing what is unchanged;
    /// entries of objects that are gone are dropped.
    pub fn render<'a>(
        &mut self,
        objects: impl Iterator<Item = (&'a str, &'a R, S)>,
        mut render: impl FnMut(&R, &S) -> (serde_json::Value, serde_json::Value),
    ) -> Rendered
    where
        R: 'a,
    {
        let mut previous = std::mem::take(&mut self.rendered);
        let mut out = Vec::new();
        for (id, record, derived) in objects {
            let reuse = match previous.remove_entry(id) {
                Some((key, (old, old_derived, item)))
                    if old == *record && old_derived == derived =>
                {
                    Some((key, old, item))
                }
                _ => None,
            };
            let (key, kept, item) = reuse.unwrap_or_else(|| {
                let item = std::sync::Arc::new(render(record, &derived));
                (id.to_owned(), record.clone(), item)
            });
            out.push(item.clone());
            self.rendered.insert(key, (kept, derived, item));
        }
        out
    }
}

/// A query's answer in one generation: the collection and the positions
/// selected, in order.
pub type CachedQuery = (u64, std::sync::Arc<Rendered>, std::sync::Arc<Vec<usize>>);

/// Who a label belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelOwner {
    Subscription(String),
    Organization(String),
}

/// An AMS label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRecord {
    pub id: String,
    pub owner: LabelOwner,
    pub key: String,
    pub value: String,
    pub internal: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which collection an upgrade policy lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyScope {
    /// `/clusters/{id}/upgrade_policies` (state served via `/state`).
    Classic,
    /// `/clusters/{id}/control_plane/upgrade_policies` (ROSA HCP).
    ControlPlane,
    /// `/clusters/{id}/node_pools/{np}/upgrade_policies` (ROSA HCP).
    NodePool(String),
}

impl PolicyScope {
    pub fn upgrade_type(&self) -> &'static str {
        match self {
            PolicyScope::Classic => "OSD",
            PolicyScope::ControlPlane => "ControlPlane",
            PolicyScope::NodePool(_) => "NodePool",
        }
    }
}

/// An upgrade policy with the bookkeeping progression needs.
#[derive(Debug, Clone)]
pub struct PolicyRecord {
    pub cluster_id: String,
    pub scope: PolicyScope,
    pub policy: UpgradePolicy,
    pub enable_minor_version_upgrades: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the upgrade started (set on `started`).
    pub started_at: Option<Timestamp>,
    /// When the policy reached a terminal state.
    pub finished_at: Option<Timestamp>,
}

impl PolicyRecord {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.policy.state,
            PolicyState::Completed | PolicyState::Failed | PolicyState::Cancelled
        )
    }

    /// The `description` OCM pairs with the state value (wording is the sim's).
    pub fn state_description(&self) -> &'static str {
        match self.policy.state {
            PolicyState::Scheduled => "Upgrade scheduled.",
            PolicyState::Pending => "Upgrade pending.",
            PolicyState::Started => "Upgrade in progress.",
            PolicyState::Delayed => "Upgrade delayed: the cluster is not healthy.",
            PolicyState::Completed => "Upgrade completed.",
            PolicyState::Failed => "Upgrade failed.",
            PolicyState::Cancelled => "Upgrade cancelled.",
            PolicyState::Other(_) => "",
        }
    }
}

/// A version gate agreement.
#[derive(Debug, Clone)]
pub struct AgreementRecord {
    pub id: String,
    pub cluster_id: String,
    pub gate_id: String,
    pub agreed_at: Timestamp,
}

/// A service log entry, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceLog {
    pub id: String,
    pub cluster_uuid: String,
    pub cluster_id: String,
    pub subscription_id: String,
    pub service_name: String,
    pub summary: String,
    pub description: String,
    pub severity: String,
    pub internal_only: bool,
    pub log_type: String,
    pub event_stream_id: String,
    pub username: String,
    pub created_by: String,
    pub doc_references: Vec<String>,
    pub timestamp: Timestamp,
    pub created_at: Timestamp,
}

/// Severities the service-log model allows.
pub const SEVERITIES: &[&str] = &[
    "Debug",
    "Info",
    "Low",
    "Moderate",
    "Warning",
    "Important",
    "Major",
    "Error",
    "Critical",
    "Fatal",
];

/// Log types the service-log model allows.
pub const LOG_TYPES: &[&str] = &[
    "clustercreate-details",
    "clustercreate-high-level",
    "clusterremove-details",
    "clusterremove-high-level",
    "cluster-state-updates",
];

/// The whole simulated OCM state.
#[derive(Debug, Clone)]
pub struct World {
    pub now: Timestamp,
    pub environment: String,
    pub version_data: BTreeMap<String, VersionData>,
    pub organizations: Vec<OrgRecord>,
    pub clusters: Vec<ClusterRecord>,
    pub labels: Vec<LabelRecord>,
    pub policies: Vec<PolicyRecord>,
    pub agreements: Vec<AgreementRecord>,
    /// Add-ons, their installations and upgrade plans.
    pub addons: crate::addons::AddonWorld,
    /// Identity providers of all clusters, in creation order (I75).
    pub identity_providers: Vec<crate::identity_providers::IdpRecord>,
    /// The SSO (Keycloak) realms (I77).
    pub sso: crate::sso::SsoWorld,
    /// Client records the scenario put in the secret store; carried through to
    /// [`World::fleet`] unchanged (the simulator serves no secret store).
    pub secrets: srecap_fleet::Secrets,
    pub version_gates: Vec<VersionGate>,
    pub gates_created_at: Timestamp,
    pub releases: Vec<Release>,
    pub service_logs: Vec<ServiceLog>,
    /// Policy transitions taken by progression, oldest first, kept only while
    /// [`World::record_events`] is on (the time-travel simulation drains them).
    pub events: Vec<PolicyEvent>,
    pub record_events: bool,
    seq: u64,
    /// Bumped by every label write ([`World::create_label`],
    /// [`World::update_label`], [`World::delete_label`]): a reader that keeps
    /// label maps between ticks rebuilds them only when this moved.
    label_writes: u64,
    /// Bumped by every access that may change the world; cached list
    /// selections of an older generation are stale.
    pub generation: u64,
    pub query_cache: HashMap<String, CachedQuery>,
    /// Gate agreements by cluster id, service logs by cluster uuid and by
    /// cluster id ([`ByCluster`], brought up to date by whoever reads them).
    pub agreements_by_cluster: ByCluster,
    pub service_logs_by_uuid: ByCluster,
    pub service_logs_by_id: ByCluster,
    /// Fleet-wide collections as rendered `(search view, served JSON)`, per
    /// generation, shared by the queries of that generation.
    pub render_cache: HashMap<String, (u64, std::sync::Arc<Rendered>)>,
    pub label_memo: RenderMemo<LabelRecord>,
    /// Clusters with the available upgrades they were rendered with (those
    /// depend on the clock, not on the record).
    pub cluster_memo: RenderMemo<ClusterRecord, Arc<[Version]>>,
    pub subscription_memo: RenderMemo<ClusterRecord>,
    pub single_cluster_memo: RenderMemo<ClusterRecord, Vec<Version>>,
    /// Cluster position by id, external id and subscription id: every per-cluster
    /// request looks a cluster up, and a linear scan made big fleets CPU-bound
    /// (Fx hashing: `SipHash` showed in profiles of in-process forecasts).
    by_id: FxHashMap<String, usize>,
    by_uuid: FxHashMap<String, usize>,
    by_subscription: FxHashMap<String, usize>,
}

impl World {
    /// Seed the world from a fleet.
    pub fn new(fleet: Fleet) -> World {
        let epoch = fleet.now - SignedDuration::from_hours(24 * 30);
        let mut world = World {
            now: fleet.now,
            environment: fleet.environment,
            version_data: fleet.version_data,
            organizations: Vec::new(),
            clusters: Vec::new(),
            labels: Vec::new(),
            policies: Vec::new(),
            agreements: Vec::new(),
            addons: {
                let mut seeded = 0u32;
                crate::addons::AddonWorld::new(fleet.addons, || {
                    seeded += 1;
                    format!("addon-plan-seed-{seeded}")
                })
            },
            identity_providers: Vec::new(),
            sso: crate::sso::SsoWorld::new(fleet.sso),
            secrets: fleet.secrets,
            version_gates: fleet.version_gates,
            gates_created_at: epoch,
            releases: fleet.releases,
            service_logs: Vec::new(),
            events: Vec::new(),
            record_events: false,
            seq: 0,
            label_writes: 0,
            generation: 0,
            query_cache: HashMap::new(),
            agreements_by_cluster: ByCluster::default(),
            service_logs_by_uuid: ByCluster::default(),
            service_logs_by_id: ByCluster::default(),
            render_cache: HashMap::new(),
            label_memo: RenderMemo::default(),
            cluster_memo: RenderMemo::default(),
            subscription_memo: RenderMemo::default(),
            single_cluster_memo: RenderMemo::default(),
            by_id: FxHashMap::default(),
            by_uuid: FxHashMap::default(),
            by_subscription: FxHashMap::default(),
        };
        let mut tick = 0i64;
        let mut next_instant = || {
            tick += 1;
            epoch + SignedDuration::from_secs(tick)
        };
        for mut org in fleet.organizations {
            let created_at = next_instant();
            for (key, value) in std::mem::take(&mut org.labels) {
                let id = world.next_id("label");
                world.labels.push(LabelRecord {
                    id,
                    owner: LabelOwner::Organization(org.id.clone()),
                    key,
                    value,
                    internal: false,
                    created_at,
                    updated_at: created_at,
                });
            }
            world.organizations.push(OrgRecord { org, created_at });
        }
        for mut cluster in fleet.clusters {
            let created_at = next_instant();
            let subscription_id = format!("{}-sub", cluster.id);
            for (key, value) in std::sync::Arc::unwrap_or_clone(std::mem::take(&mut cluster.labels))
            {
                let id = world.next_id("label");
                world.labels.push(LabelRecord {
                    id,
                    owner: LabelOwner::Subscription(subscription_id.clone()),
                    key,
                    value,
                    internal: false,
                    created_at,
                    updated_at: created_at,
                });
            }
            let scope = if cluster.is_hcp() {
                PolicyScope::ControlPlane
            } else {
                PolicyScope::Classic
            };
            for policy in std::mem::take(&mut cluster.upgrade_policies) {
                world.seed_policy(&cluster.id, scope.clone(), policy, created_at);
            }
            for pool in &mut cluster.node_pools {
                for policy in std::mem::take(&mut pool.upgrade_policies) {
                    let scope = PolicyScope::NodePool(pool.id.clone());
                    world.seed_policy(&cluster.id, scope, policy, created_at);
                }
            }
            for gate_id in std::mem::take(&mut cluster.gate_agreements) {
                let id = world.next_id("agreement");
                world.agreements.push(AgreementRecord {
                    id,
                    cluster_id: cluster.id.clone(),
                    gate_id,
                    agreed_at: created_at,
                });
            }
            // IdPs live beside the cluster record, like labels and policies, so a
            // write to one does not re-render the cluster.
            for idp in std::mem::take(&mut cluster.auth.identity_providers) {
                world
                    .identity_providers
                    .push(crate::identity_providers::IdpRecord::seed(&cluster.id, idp));
            }
            world.clusters.push(ClusterRecord {
                cluster,
                subscription_id,
                created_at,
                fail_upgrades: false,
                upgrade_duration: None,
            });
        }
        for (i, rec) in world.clusters.iter().enumerate() {
            world.by_id.entry(rec.cluster.id.clone()).or_insert(i);
            world
                .by_uuid
                .entry(rec.cluster.external_id.clone())
                .or_insert(i);
            world
                .by_subscription
                .entry(rec.subscription_id.clone())
                .or_insert(i);
        }
        world
    }

    fn seed_policy(
        &mut self,
        cluster_id: &str,
        scope: PolicyScope,
        policy: UpgradePolicy,
        created_at: Timestamp,
    ) {
        let now = self.now;
        let started_at = match policy.state {
            PolicyState::Started => Some(policy.next_run.unwrap_or(now).min(now)),
            _ => None,
        };
        let finished_at = match policy.state {
            PolicyState::Completed | PolicyState::Failed | PolicyState::Cancelled => Some(now),
            _ => None,
        };
        self.policies.push(PolicyRecord {
            cluster_id: cluster_id.to_owned(),
            scope,
            policy,
            enable_minor_version_upgrades: false,
            created_at,
            updated_at: created_at,
            started_at,
            finished_at,
        });
    }

    /// How many label writes the world took: equal counts, equal labels.
    pub fn label_writes(&self) -> u64 {
        self.label_writes
    }

    /// A fresh id: `<prefix>-<counter>`.
    pub fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}-{:06}", self.seq)
    }

    /// The world as a fleet snapshot: what the planner would read from OCM now.
    /// Service logs are not part of a fleet.
    pub fn fleet(&self) -> Fleet {
        // Index labels, policies and agreements by owner once: looking them up
        // per cluster made a snapshot quadratic in the fleet size.
        let mut labels: HashMap<&LabelOwner, BTreeMap<String, String>> = HashMap::new();
        for l in &self.labels {
            labels
                .entry(&l.owner)
                .or_default()
                .insert(l.key.clone(), l.value.clone());
        }
        let mut policies: HashMap<&str, Vec<&PolicyRecord>> = HashMap::new();
        for p in &self.policies {
            policies.entry(p.cluster_id.as_str()).or_default().push(p);
        }
        let mut agreements: HashMap<&str, Vec<String>> = HashMap::new();
        for a in &self.agreements {
            agreements
                .entry(a.cluster_id.as_str())
                .or_default()
                .push(a.gate_id.clone());
        }
        let mut idps: HashMap<&str, Vec<srecap_fleet::IdentityProvider>> = HashMap::new();
        for idp in &self.identity_providers {
            idps.entry(idp.cluster_id.as_str())
                .or_default()
                .push(idp.to_fleet());
        }
        let organizations = self
            .organizations
            .iter()
            .map(|rec| {
                let mut org = rec.org.clone();
                org.labels = labels
                    .get(&LabelOwner::Organization(org.id.clone()))
                    .cloned()
                    .unwrap_or_default();
                org
            })
            .collect();
        let mut upgrades = FxHashMap::default();
        let clusters = self
            .clusters
            .iter()
            .map(|rec| {
                let mut cluster = rec.cluster.clone();
                cluster.labels = labels
                    .remove(&LabelOwner::Subscription(rec.subscription_id.clone()))
                    .unwrap_or_default()
                    .into();
                cluster.available_upgrades = self.available_upgrades_memo(rec, &mut upgrades);
                let top = if cluster.is_hcp() {
                    PolicyScope::ControlPlane
                } else {
                    PolicyScope::Classic
                };
                let own = policies.remove(rec.cluster.id.as_str()).unwrap_or_default();
                let in_scope = |scope: &PolicyScope| -> Vec<UpgradePolicy> {
                    own.iter()
                        .filter(|p| &p.scope == scope)
                        .map(|p| p.policy.clone())
                        .collect()
                };
                cluster.upgrade_policies = in_scope(&top);
                for pool in &mut cluster.node_pools {
                    pool.upgrade_policies = in_scope(&PolicyScope::NodePool(pool.id.clone()));
                }
                cluster.gate_agreements = agreements
                    .remove(rec.cluster.id.as_str())
                    .unwrap_or_default();
                cluster.auth.identity_providers =
                    idps.remove(rec.cluster.id.as_str()).unwrap_or_default();
                cluster
            })
            .collect();
        Fleet {
            now: self.now,
            environment: self.environment.clone(),
            organizations,
            clusters,
            version_gates: self.version_gates.clone(),
            releases: self.releases.clone(),
            version_data: self.version_data.clone(),
            addons: self.addons.addons(),
            sso: self.sso.sso(),
            secrets: self.secrets.clone(),
        }
    }

    // ----- lookups -------------------------------------------------------------

    pub fn cluster(&self, id: &str) -> Result<&ClusterRecord, Rejection> {
        self.cluster_index(id).map(|i| &self.clusters[i])
    }

    /// Position of a cluster in [`World::clusters`].
    pub fn cluster_index(&self, id: &str) -> Result<usize, Rejection> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| Rejection::NotFound(format!("Cluster '{id}' not found")))
    }

    pub fn cluster_mut(&mut self, id: &str) -> Result<&mut ClusterRecord, Rejection> {
        match self.by_id.get(id) {
            Some(&i) => Ok(&mut self.clusters[i]),
            None => Err(Rejection::NotFound(format!("Cluster '{id}' not found"))),
        }
    }

    pub fn cluster_by_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<&ClusterRecord, Rejection> {
        self.by_subscription
            .get(subscription_id)
            .map(|&i| &self.clusters[i])
            .ok_or_else(|| {
                Rejection::NotFound(format!("Subscription '{subscription_id}' not found"))
            })
    }

    pub fn organization(&self, id: &str) -> Result<&OrgRecord, Rejection> {
        self.organizations
            .iter()
            .find(|o| o.org.id == id)
            .ok_or_else(|| Rejection::NotFound(format!("Organization '{id}' not found")))
    }

    /// The organization owning the object a path names (for fault injection).
    pub fn organization_of_cluster(&self, cluster_id_or_uuid: &str) -> Option<&str> {
        self.by_id
            .get(cluster_id_or_uuid)
            .or_else(|| self.by_uuid.get(cluster_id_or_uuid))
            .map(|&i| self.clusters[i].cluster.organization.as_str())
    }

    pub fn organization_of_subscription(&self, subscription_id: &str) -> Option<&str> {
        self.by_subscription
            .get(subscription_id)
            .map(|&i| self.clusters[i].cluster.organization.as_str())
    }

    /// The upgrades OCM offers the cluster right now: the scenario's explicit
    /// list (trimmed as the cluster upgrades), or derived from the release
    /// catalog at the simulated `now`, so publication dates take effect as the
    /// clock moves.
    pub fn available_upgrades(&self, rec: &ClusterRecord) -> Vec<Version> {
        let c = &rec.cluster;
        if c.available_upgrades_explicit {
            c.available_upgrades.to_vec()
        } else {
            derive_available_upgrades(&self.releases, &c.version, &c.channel_group, self.now)
        }
    }

    /// [`World::available_upgrades`] for many clusters: a derived list depends
    /// only on the cluster's version and channel group, so it is computed once
    /// per pair (a fleet snapshot asks it of every cluster, every tick).
    pub fn available_upgrades_memo<'a>(
        &self,
        rec: &'a ClusterRecord,
        memo: &mut FxHashMap<(&'a Version, &'a str), Arc<[Version]>>,
    ) -> Arc<[Version]> {
        memo_upgrades(&self.releases, self.now, rec, memo)
    }

    /// Versions a node pool may move to: newer than the pool, not newer than the
    /// control plane; the control plane's version plus published releases between.
    pub fn node_pool_upgrades(&self, rec: &ClusterRecord, pool_version: &Version) -> Vec<Version> {
        let cp = &rec.cluster.version;
        let mut out: Vec<Version> = self
            .releases
            .iter()
            .filter(|r| r.published <= self.now)
            .filter(|r| r.channel_groups.contains(&rec.cluster.channel_group))
            .map(|r| r.version.clone())
            .chain(std::iter::once(cp.clone()))
            .filter(|v| v > pool_version && v <= cp)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    // ----- labels --------------------------------------------------------------

    /// Check that a label owner exists.
    pub fn check_owner(&self, owner: &LabelOwner) -> Result<(), Rejection> {
        match owner {
            LabelOwner::Subscription(id) => self.cluster_by_subscription(id).map(|_| ()),
            LabelOwner::Organization(id) => self.organization(id).map(|_| ()),
        }
    }

    pub fn label(&self, owner: &LabelOwner, key: &str) -> Result<&LabelRecord, Rejection> {
        self.check_owner(owner)?;
        self.labels
            .iter()
            .find(|l| &l.owner == owner && l.key == key)
            .ok_or_else(|| Rejection::NotFound(format!("Label '{key}' not found")))
    }

    pub fn create_label(
        &mut self,
        owner: LabelOwner,
        key: &str,
        value: &str,
        internal: bool,
    ) -> Result<&LabelRecord, Rejection> {
        self.check_owner(&owner)?;
        if key.is_empty() {
            return Err(Rejection::invalid("Label key must not be empty"));
        }
        if self.labels.iter().any(|l| l.owner == owner && l.key == key) {
            return Err(Rejection::Conflict(format!(
                "Label with key '{key}' already exists"
            )));
        }
        let id = self.next_id("label");
        let now = self.now;
        self.label_writes += 1;
        self.labels.push(LabelRecord {
            id,
            owner,
            key: key.to_owned(),
            value: value.to_owned(),
            internal,
            created_at: now,
            updated_at: now,
        });
        Ok(self.labels.last().expect("just pushed"))
    }

    pub fn update_label(
        &mut self,
        owner: &LabelOwner,
        key: &str,
        value: &str,
    ) -> Result<&LabelRecord, Rejection> {
        self.label(owner, key)?;
        let now = self.now;
        self.label_writes += 1;
        let label = self
            .labels
            .iter_mut()
            .find(|l| &l.owner == owner && l.key == key)
            .expect("checked above");
        value.clone_into(&mut label.value);
        label.updated_at = now;
        Ok(label)
    }

    pub fn delete_label(&mut self, owner: &LabelOwner, key: &str) -> Result<(), Rejection> {
        self.label(owner, key)?;
        self.labels.retain(|l| !(&l.owner == owner && l.key == key));
        self.label_writes += 1;
        Ok(())
    }

    // ----- clusters ------------------------------------------------------------

    /// Switch a cluster's channel (`PATCH /clusters/{id}` with `channel`).
    pub fn switch_channel(&mut self, cluster_id: &str, channel: &str) -> Result<(), Rejection> {
        let rec = self.cluster(cluster_id)?;
        let Some((group, _, _)) = parse_channel(channel) else {
            return Err(Rejection::invalid(format!(
                "Invalid channel format: '{channel}'. Channel must follow Y-stream format (e.g., stable-4.16, eus-4.16)"
            )));
        };
        if group != rec.cluster.channel_group {
            return Err(Rejection::invalid(format!(
                "Channel '{channel}' does not belong to the cluster's channel group '{}'",
                rec.cluster.channel_group
            )));
        }
        if channel != rec.cluster.channel
            && !rec.cluster.available_channels.iter().any(|c| c == channel)
        {
            return Err(Rejection::invalid(format!(
                "Channel '{channel}' is not available for version '{}' of cluster '{cluster_id}'. Available channels: [{}]",
                rec.cluster.version,
                rec.cluster.available_channels.join(", ")
            )));
        }
        channel.clone_into(&mut self.cluster_mut(cluster_id)?.cluster.channel);
        Ok(())
    }

    /// Move a cluster (control plane) to a new version, as a completed upgrade does.
    pub fn set_cluster_version(&mut self, cluster_id: &str, version: &Version) {
        let Ok(rec) = self.cluster_mut(cluster_id) else {
            return;
        };
        let c = &mut rec.cluster;
        c.version = version.clone();
        // An explicit list stays explicit: OCM still offers the listed releases
        // that are newer than where the cluster now is.
        let newer: Vec<Version> = c
            .available_upgrades
            .iter()
            .filter(|v| *v > version)
            .cloned()
            .collect();
        c.available_upgrades = newer.into();
        // Channels for an older minor no longer contain the cluster's version.
        c.available_channels.retain(|ch| {
            parse_channel(ch)
                .is_some_and(|(_, major, minor)| (major, minor) >= (version.major, version.minor))
        });
    }

    // ----- upgrade policies ----------------------------------------------------

    pub fn policy(
        &self,
        cluster_id: &str,
        scope: &PolicyScope,
        id: &str,
    ) -> Result<&PolicyRecord, Rejection> {
        self.cluster(cluster_id)?;
        self.policies
            .iter()
            .find(|p| p.cluster_id == cluster_id && &p.scope == scope && p.policy.id == id)
            .ok_or_else(|| Rejection::NotFound(format!("Upgrade policy '{id}' not found")))
    }

    pub fn policies_of(&self, cluster_id: &str, scope: &PolicyScope) -> Vec<&PolicyRecord> {
        self.policies
            .iter()
            .filter(|p| p.cluster_id == cluster_id && &p.scope == scope)
            .collect()
    }

    /// Validate and (unless `dry_run`) store a new upgrade policy (spec §5.4).
    pub fn create_policy(
        &mut self,
        cluster_id: &str,
        scope: PolicyScope,
        body: &Value,
        config: &SimConfig,
        dry_run: bool,
    ) -> Result<Option<PolicyRecord>, Rejection> {
        let request = PolicyRequest::parse(body, &scope, cluster_id)?;
        self.create_policy_request(cluster_id, scope, request, config, dry_run)
    }

    /// [`World::create_policy`] for a request already parsed (in-process
    /// clients send typed values, not JSON). The request is checked as a body
    /// would be: a manual policy needs a version and a next run, an automatic
    /// one a valid schedule.
    pub fn create_policy_request(
        &mut self,
        cluster_id: &str,
        scope: PolicyScope,
        request: PolicyRequest,
        config: &SimConfig,
        dry_run: bool,
    ) -> Result<Option<PolicyRecord>, Rejection> {
        request.check()?;
        let rec = self.cluster(cluster_id)?;
        let cluster = &rec.cluster;
        let pool_version = match &scope {
            PolicyScope::NodePool(np) => Some(
                cluster
                    .node_pools
                    .iter()
                    .find(|p| &p.id == np)
                    .map(|p| p.version.clone())
                    .ok_or_else(|| Rejection::NotFound(format!("Node pool '{np}' not found")))?,
            ),
            _ => None,
        };
        match scope {
            PolicyScope::Classic if cluster.is_hcp() => {
                return Err(Rejection::invalid(format!(
                    "Cluster '{cluster_id}' has a hosted control plane: schedule upgrades with control_plane/upgrade_policies"
                )));
            }
            PolicyScope::ControlPlane | PolicyScope::NodePool(_) if !cluster.is_hcp() => {
                return Err(Rejection::invalid(format!(
                    "Cluster '{cluster_id}' is not a hosted control plane cluster"
                )));
            }
            _ => {}
        }

        let next_run = self.first_run(&request, config)?;
        if cluster.state != "ready" {
            return Err(Rejection::invalid(format!(
                "Cluster '{cluster_id}' is in state '{}'; upgrades can only be scheduled for ready clusters",
                cluster.state
            )));
        }
        if let Some(existing) = self
            .policies
            .iter()
            .find(|p| p.cluster_id == cluster_id && p.scope == scope && !p.is_terminal())
        {
            let what = match &scope {
                PolicyScope::NodePool(np) => format!("node pool '{np}' of cluster '{cluster_id}'"),
                _ => format!("cluster '{cluster_id}'"),
            };
            return Err(Rejection::invalid(format!(
                "There is already a pending upgrade policy '{}' for {what}",
                existing.policy.id
            )));
        }
        if let (ScheduleType::Manual, Some(version)) = (request.schedule_type, &request.version) {
            let (available, subject) = match &pool_version {
                Some(pv) => (
                    self.node_pool_upgrades(rec, pv),
                    format!("node pool '{}'", request_pool(&scope)),
                ),
                None => (
                    self.available_upgrades(rec),
                    format!("cluster '{cluster_id}'"),
                ),
            };
            if !available.contains(version) {
                return Err(Rejection::invalid(format!(
                    "Version '{version}' is not a valid upgrade for {subject}. Available upgrades: [{}]",
                    available
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if pool_version.is_none() {
                self.check_gates(rec, version)?;
            }
        }

        if dry_run {
            return Ok(None);
        }
        let id = self.next_id("policy");
        let now = self.now;
        self.policies.push(PolicyRecord {
            cluster_id: cluster_id.to_owned(),
            scope,
            policy: UpgradePolicy {
                id,
                version: request.version,
                next_run: Some(next_run),
                state: PolicyState::Scheduled,
                schedule_type: request.schedule_type,
                schedule: request.schedule,
            },
            enable_minor_version_upgrades: request.enable_minor_version_upgrades,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        });
        Ok(self.policies.last().cloned())
    }

    /// When a new policy first runs. Manual policies need a `next_run` far
    /// enough ahead (spec §5.4 (2)); automatic ones take the next cron occurrence.
    fn first_run(
        &self,
        request: &PolicyRequest,
        config: &SimConfig,
    ) -> Result<Timestamp, Rejection> {
        match request.schedule_type {
            ScheduleType::Manual => {
                let next_run = request.next_run.ok_or_else(|| {
                    Rejection::invalid("Next run is required for a manual upgrade policy")
                })?;
                if next_run < self.now {
                    return Err(Rejection::invalid(format!(
                        "Upgrade policy next run '{next_run}' is in the past"
                    )));
                }
                if next_run < self.now + config.min_lead_time {
                    return Err(Rejection::invalid(format!(
                        "Upgrade policy next run '{next_run}' must be at least {} minutes in the future (current time {})",
                        config.min_lead_time.as_secs() / 60,
                        self.now
                    )));
                }
                Ok(next_run)
            }
            ScheduleType::Automatic => {
                let schedule = request.schedule.as_deref().unwrap_or_default();
                next_cron(schedule, self.now).ok_or_else(|| {
                    Rejection::invalid(format!(
                        "Schedule '{schedule}' is not a valid cron schedule"
                    ))
                })
            }
        }
    }

    /// Spec §5.4 (5): a minor upgrade needs agreements to every applicable gate.
    fn check_gates(&self, rec: &ClusterRecord, target: &Version) -> Result<(), Rejection> {
        let current = &rec.cluster.version;
        if (target.major, target.minor) <= (current.major, current.minor) {
            return Ok(());
        }
        let prefix = format!("{}.{}", target.major, target.minor);
        let missing: Vec<&VersionGate> = self
            .version_gates
            .iter()
            .filter(|g| g.version_raw_id_prefix == prefix)
            .filter(|g| !g.sts_only || rec.cluster.sts)
            .filter(|g| {
                !self
                    .agreements
                    .iter()
                    .any(|a| a.cluster_id == rec.cluster.id && a.gate_id == g.id)
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Rejection::Invalid {
            reason: "missing gate agreements".to_owned(),
            details: Some(Value::Array(
                missing.iter().map(|g| self.render_gate(g)).collect(),
            )),
        })
    }

    /// Delete a policy (`DELETE .../upgrade_policies/{id}`).
    pub fn delete_policy(
        &mut self,
        cluster_id: &str,
        scope: &PolicyScope,
        id: &str,
    ) -> Result<(), Rejection> {
        self.policy(cluster_id, scope, id)?;
        self.policies
            .retain(|p| !(p.cluster_id == cluster_id && &p.scope == scope && p.policy.id == id));
        Ok(())
    }

    /// `PATCH .../{id}/state`: only cancelling is a client's to do.
    pub fn set_policy_state(
        &mut self,
        cluster_id: &str,
        scope: &PolicyScope,
        id: &str,
        value: &str,
    ) -> Result<&PolicyRecord, Rejection> {
        self.policy(cluster_id, scope, id)?;
        if value != "cancelled" {
            return Err(Rejection::invalid(format!(
                "Upgrade policy state can only be set to 'cancelled', not '{value}'"
            )));
        }
        let now = self.now;
        let rec = self
            .policies
            .iter_mut()
            .find(|p| p.cluster_id == cluster_id && &p.scope == scope && p.policy.id == id)
            .expect("checked above");
        if rec.is_terminal() || rec.policy.state == PolicyState::Started {
            return Err(Rejection::invalid(format!(
                "Upgrade policy '{id}' is '{}' and cannot be cancelled",
                rec.policy.state.as_str()
            )));
        }
        rec.policy.state = PolicyState::Cancelled;
        rec.finished_at = Some(now);
        rec.updated_at = now;
        Ok(rec)
    }

    // ----- gate agreements -----------------------------------------------------

    pub fn create_agreement(
        &mut self,
        cluster_id: &str,
        gate_id: &str,
    ) -> Result<&AgreementRecord, Rejection> {
        let rec = self.cluster(cluster_id)?;
        let gate = self
            .version_gates
            .iter()
            .find(|g| g.id == gate_id)
            .ok_or_else(|| Rejection::invalid(format!("Version gate '{gate_id}' not found")))?;
        let current = &rec.cluster.version;
        let newer = parse_minor(&gate.version_raw_id_prefix)
            .is_some_and(|(major, minor)| (major, minor) > (current.major, current.minor));
        if !newer {
            return Err(Rejection::invalid(format!(
                "Version gate '{gate_id}' is for {} which is not newer than the cluster's version {current}",
                gate.version_raw_id_prefix
            )));
        }
        if self
            .agreements
            .iter()
            .any(|a| a.cluster_id == cluster_id && a.gate_id == gate_id)
        {
            return Err(Rejection::invalid(format!(
                "Version gate agreement for gate '{gate_id}' already exists for cluster '{cluster_id}'"
            )));
        }
        let id = self.next_id("agreement");
        let now = self.now;
        self.agreements.push(AgreementRecord {
            id,
            cluster_id: cluster_id.to_owned(),
            gate_id: gate_id.to_owned(),
            agreed_at: now,
        });
        Ok(self.agreements.last().expect("just pushed"))
    }

    pub fn delete_agreement(&mut self, cluster_id: &str, id: &str) -> Result<(), Rejection> {
        self.cluster(cluster_id)?;
        let before = self.agreements.len();
        self.agreements
            .retain(|a| !(a.cluster_id == cluster_id && a.id == id));
        if self.agreements.len() == before {
            return Err(Rejection::NotFound(format!(
                "Version gate agreement '{id}' not found"
            )));
        }
        Ok(())
    }

    // ----- service logs --------------------------------------------------------

    /// Store a service log (`POST /api/service_logs/v1/cluster_logs`).
    pub fn create_service_log(
        &mut self,
        body: &Value,
        username: &str,
    ) -> Result<&ServiceLog, Rejection> {
        let text = |field: &str| string_field(body, field);
        let doc_references = match body.get("doc_references") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Rejection::invalid("Field 'doc_references' must be a list of strings")
                })?,
            Some(_) => {
                return Err(Rejection::invalid(
                    "Field 'doc_references' must be a list of strings",
                ));
            }
        };
        let request = ServiceLogRequest {
            cluster_uuid: text("cluster_uuid")?,
            cluster_id: text("cluster_id")?,
            service_name: text("service_name")?,
            summary: text("summary")?,
            description: text("description")?,
            severity: text("severity")?,
            log_type: text("log_type")?,
            internal_only: bool_field(body, "internal_only")?,
            event_stream_id: text("event_stream_id")?,
            doc_references,
        };
        self.create_service_log_request(request, username)
    }

    /// [`World::create_service_log`] for a request already parsed.
    pub fn create_service_log_request(
        &mut self,
        request: ServiceLogRequest,
        username: &str,
    ) -> Result<&ServiceLog, Rejection> {
        let ServiceLogRequest {
            cluster_uuid,
            cluster_id,
            service_name,
            summary,
            description,
            severity,
            log_type,
            internal_only,
            event_stream_id,
            doc_references,
        } = request;
        let rec = match (&cluster_uuid, &cluster_id) {
            (Some(uuid), _) => self
                .clusters
                .iter()
                .find(|c| &c.cluster.external_id == uuid)
                .ok_or_else(|| {
                    Rejection::invalid(format!("Cluster with uuid '{uuid}' not found"))
                })?,
            (None, Some(id)) => self
                .clusters
                .iter()
                .find(|c| &c.cluster.id == id)
                .ok_or_else(|| Rejection::invalid(format!("Cluster '{id}' not found")))?,
            (None, None) => {
                return Err(Rejection::invalid(
                    "Either 'cluster_uuid' or 'cluster_id' is required",
                ));
            }
        };
        let summary = summary.unwrap_or_default();
        if summary.trim().is_empty() {
            return Err(Rejection::invalid("Field 'summary' is required"));
        }
        let severity = severity.unwrap_or_else(|| "Info".to_owned());
        if !SEVERITIES.contains(&severity.as_str()) {
            return Err(Rejection::invalid(format!(
                "Invalid severity '{severity}': must be one of {}",
                SEVERITIES.join(", ")
            )));
        }
        let log_type = log_type.unwrap_or_else(|| "cluster-state-updates".to_owned());
        if !LOG_TYPES.contains(&log_type.as_str()) {
            return Err(Rejection::invalid(format!(
                "Invalid log_type '{log_type}': must be one of {}",
                LOG_TYPES.join(", ")
            )));
        }
        let (uuid, cid, sid) = (
            rec.cluster.external_id.clone(),
            rec.cluster.id.clone(),
            rec.subscription_id.clone(),
        );
        let service_name = service_name.unwrap_or_default();
        let description = description.unwrap_or_default();
        let id = self.next_id("log");
        let event_stream_id = event_stream_id.unwrap_or_else(|| id.clone());
        let now = self.now;
        self.service_logs.push(ServiceLog {
            id,
            cluster_uuid: uuid,
            cluster_id: cid,
            subscription_id: sid,
            service_name,
            summary,
            description,
            severity,
            internal_only,
            log_type,
            event_stream_id,
            username: username.to_owned(),
            created_by: username.to_owned(),
            doc_references,
            timestamp: now,
            created_at: now,
        });
        Ok(self.service_logs.last().expect("just pushed"))
    }

    // ----- knobs ---------------------------------------------------------------

    /// Set a cluster's health, state or upgrade-failure flag (`/_sim/clusters/{id}`).
    pub fn set_cluster_condition(
        &mut self,
        cluster_id: &str,
        healthy: Option<bool>,
        state: Option<String>,
        fail_upgrades: Option<bool>,
    ) -> Result<(), Rejection> {
        let rec = self.cluster_mut(cluster_id)?;
        if let Some(h) = healthy {
            rec.cluster.healthy = h;
        }
        if let Some(s) = state {
            rec.cluster.state = s;
        }
        if let Some(f) = fail_upgrades {
            rec.fail_upgrades = f;
        }
        Ok(())
    }

    /// Gate JSON, as listed and as embedded in errors and agreements.
    pub fn render_gate(&self, gate: &VersionGate) -> Value {
        json!({
            "kind": "VersionGate",
            "id": gate.id,
            "href": format!("/api/clusters_mgmt/v1/version_gates/{}", gate.id),
            "version_raw_id_prefix": gate.version_raw_id_prefix,
            "label": gate.label,
            "value": gate.version_raw_id_prefix,
            "sts_only": gate.sts_only,
            "cluster_condition": "",
            "description": format!("Gate {} for OpenShift {}", gate.label, gate.version_raw_id_prefix),
            "documentation_url": "",
            "warning_message": "",
            "creation_timestamp": self.gates_created_at.to_string(),
        })
    }
}

/// An optional string field of a JSON body.
fn string_field(body: &Value, field: &str) -> Result<Option<String>, Rejection> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Rejection::invalid(format!(
            "Field '{field}' must be a string, got {other}"
        ))),
    }
}

/// An optional boolean field of a JSON body (absent: false).
fn bool_field(body: &Value, field: &str) -> Result<bool, Rejection> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Rejection::invalid(format!(
            "Field '{field}' must be a boolean, got {other}"
        ))),
    }
}

fn request_pool(scope: &PolicyScope) -> &str {
    match scope {
        PolicyScope::NodePool(np) => np,
        _ => "",
    }
}

/// A service log to store, as its body's fields (absent: `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceLogRequest {
    pub cluster_uuid: Option<String>,
    pub cluster_id: Option<String>,
    pub service_name: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub log_type: Option<String>,
    pub internal_only: bool,
    pub event_stream_id: Option<String>,
    pub doc_references: Vec<String>,
}

/// A policy creation request, parsed from a body or built by an in-process
/// client.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRequest {
    pub schedule_type: ScheduleType,
    pub version: Option<Version>,
    pub next_run: Option<Timestamp>,
    pub schedule: Option<String>,
    pub enable_minor_version_upgrades: bool,
}

impl PolicyRequest {
    /// A manual policy to `version` at `next_run`: what AUS sends.
    pub fn manual(version: Version, next_run: Timestamp) -> PolicyRequest {
        PolicyRequest {
            schedule_type: ScheduleType::Manual,
            version: Some(version),
            next_run: Some(next_run),
            schedule: None,
            enable_minor_version_upgrades: false,
        }
    }

    /// The checks of a body's fields that hold whatever its encoding.
    fn check(&self) -> Result<(), Rejection> {
        match self.schedule_type {
            ScheduleType::Manual => {
                if self.next_run.is_none() {
                    return Err(Rejection::invalid(
                        "Next run is required for a manual upgrade policy",
                    ));
                }
                if self.version.is_none() {
                    return Err(Rejection::invalid(
                        "Version is required for a manual upgrade policy",
                    ));
                }
            }
            ScheduleType::Automatic => {
                let Some(s) = self.schedule.as_deref() else {
                    return Err(Rejection::invalid(
                        "Schedule is required for an automatic upgrade policy",
                    ));
                };
                if parse_cron(s).is_none() {
                    return Err(Rejection::invalid(format!(
                        "Schedule '{s}' is not a valid 5-field cron expression"
                    )));
                }
            }
        }
        Ok(())
    }

    fn parse(
        body: &Value,
        scope: &PolicyScope,
        cluster_id: &str,
    ) -> Result<PolicyRequest, Rejection> {
        if !body.is_object() {
            return Err(Rejection::invalid(
                "Upgrade policy body must be a JSON object",
            ));
        }
        let text = |field: &str| -> Result<Option<&str>, Rejection> {
            match body.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(Rejection::invalid(format!(
                    "Field '{field}' must be a string, got {other}"
                ))),
            }
        };
        let schedule_type = match text("schedule_type")? {
            Some("manual") => ScheduleType::Manual,
            Some("automatic") => ScheduleType::Automatic,
            Some(other) => {
                return Err(Rejection::invalid(format!(
                    "Schedule type '{other}' is not valid: must be 'manual' or 'automatic'"
                )));
            }
            None => return Err(Rejection::invalid("Schedule type is required")),
        };
        if let Some(upgrade_type) = text("upgrade_type")?
            && upgrade_type != scope.upgrade_type()
        {
            return Err(Rejection::invalid(format!(
                "Upgrade type '{upgrade_type}' is not valid for this collection: expected '{}'",
                scope.upgrade_type()
            )));
        }
        if let Some(body_cluster) = text("cluster_id")?
            && body_cluster != cluster_id
        {
            return Err(Rejection::invalid(format!(
                "Cluster id '{body_cluster}' in the body does not match cluster '{cluster_id}'"
            )));
        }
        let version = text("version")?
            .map(|v| {
                Version::parse(v.strip_prefix("openshift-v").unwrap_or(v)).map_err(|e| {
                    Rejection::invalid(format!("Version '{v}' is not a valid version: {e}"))
                })
            })
            .transpose()?;
        let next_run = text("next_run")?
            .map(|s| {
                s.parse::<Timestamp>().map_err(|e| {
                    Rejection::invalid(format!("Next run '{s}' is not an RFC 3339 timestamp: {e}"))
                })
            })
            .transpose()?;
        let schedule = text("schedule")?.map(str::to_owned);
        let enable_minor_version_upgrades = bool_field(body, "enable_minor_version_upgrades")?;
        Ok(PolicyRequest {
            schedule_type,
            version,
            next_run,
            schedule,
            enable_minor_version_upgrades,
        })
    }
}

/// A 5-field cron expression (OCM takes no seconds field).
pub fn parse_cron(schedule: &str) -> Option<croner::Cron> {
    if schedule.split_whitespace().count() != 5 {
        return None;
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(schedule)
        .ok()
}

/// The first occurrence of a cron schedule strictly after `after` (UTC).
pub fn next_cron(schedule: &str, after: Timestamp) -> Option<Timestamp> {
    let cron = parse_cron(schedule)?;
    let zoned = after.to_zoned(jiff::tz::TimeZone::UTC);
    cron.find_next_occurrence(&zoned, false)
        .ok()
        .map(|z| z.timestamp())
}

/// `<group>-<major>.<minor>` split into its parts.
pub fn parse_channel(channel: &str) -> Option<(&str, u64, u64)> {
    let (group, rest) = channel.split_once('-')?;
    if !matches!(group, "stable" | "fast" | "candidate" | "eus") {
        return None;
    }
    let (major, minor) = parse_minor(rest)?;
    Some((group, major, minor))
}

/// `major.minor` as numbers.
fn parse_minor(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once('.')?;
    if major.is_empty()
        || minor.is_empty()
        || !major.bytes().all(|b| b.is_ascii_digit())
        || !minor.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// [`World::available_upgrades_memo`] over the world's releases and clock, for
/// callers that borrow other parts of the world meanwhile.
pub(crate) fn memo_upgrades<'a>(
    releases: &[Release],
    now: Timestamp,
    rec: &'a ClusterRecord,
    memo: &mut FxHashMap<(&'a Version, &'a str), Arc<[Version]>>,
) -> Arc<[Version]> {
    let c = &rec.cluster;
    if c.available_upgrades_explicit {
        return Arc::clone(&c.available_upgrades);
    }
    Arc::clone(
        memo.entry((&c.version, c.channel_group.as_str()))
            .or_insert_with(|| {
                derive_available_upgrades(releases, &c.version, &c.channel_group, now).into()
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_only_in_y_stream_form() {
        assert_eq!(parse_channel("stable-4.16"), Some(("stable", 4, 16)));
        assert_eq!(parse_channel("eus-4.16"), Some(("eus", 4, 16)));
        assert_eq!(parse_channel("stable"), None);
        assert_eq!(parse_channel("weird-4.16"), None);
        assert_eq!(parse_channel("stable-4"), None);
        assert_eq!(parse_channel("stable-4.x"), None);
    }

    #[test]
    fn cron_next_occurrence_is_strictly_after() {
        let t: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        assert_eq!(
            next_cron("0 * * * *", t),
            Some("2026-11-21T11:00:00Z".parse().unwrap())
        );
        assert_eq!(
            next_cron("0 6 * * 1", t),
            Some("2026-11-23T06:00:00Z".parse().unwrap())
        );
        assert!(
            parse_cron("0 0 6 * * 1").is_none(),
            "six fields are not OCM cron"
        );
        assert!(parse_cron("nonsense").is_none());
    }
}
