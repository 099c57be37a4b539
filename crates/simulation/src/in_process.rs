//! The in-process OCM: [`Ocm`] over the simulator's world, with no sockets
//! and no JSON.
//!
//! It answers every call from the same records the simulator's HTTP API
//! renders, and writes through the same world operations (so OCM's
//! validations, such as a second pending policy or a missing gate agreement,
//! refuse the same writes with the same status). What it must reproduce of the
//! HTTP path, and does:
//! * discovery's filters (AUS subscription labels, managed and active
//!   subscriptions, `osd`/`rosa`, `ready`) and order (creation time, R17);
//! * cluster listings carry no `available_channels` (only a single-cluster GET
//!   does), so channels are read only when the planner asks for them;
//! * a rejection becomes an [`OcmError::Api`] with the status the HTTP API
//!   would answer, so the outcome classification of the SLIs is the same.
//!
//! A parity test (`tests/transport.rs`) runs the same simulations over both
//! transports and compares their timelines.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use rustc_hash::FxHashMap;
use semver::Version;
use srecap_aus::INTEGRATION;
use srecap_controller::PassError;
use srecap_controller::feedback::Notice;
use srecap_controller::health::HealthProvider;
use srecap_controller::ocm::{
    ClusterDetails, ClusterRef, Discovered, NewAddonPlan, NewPolicy, Ocm, OcmResult, PolicyTarget,
};
use srecap_fleet::{
    AddonInstallation, Cluster, NodePool, Organization, Product, ScheduleType, VersionGate,
};
use srecap_ocm::OcmError;
use srecap_ocm::model::ApiErrorBody;
use srecap_sim::by_cluster::ByCluster;
use srecap_sim::world::{LabelOwner, PolicyRecord, PolicyScope};
use srecap_sim::{PolicyRequest, Rejection, ServiceLogRequest, Simulator, World};

/// The AUS label prefix (`sre-capabilities.aus.%` in OCM's search syntax).
const AUS_PREFIX: &str = "sre-capabilities.aus.";

/// The username service logs are written as (the simulator's service account).
const USERNAME: &str = "service-account-srecap";

/// [`Ocm`] answered by a [`Simulator`] in the same process.
#[derive(Debug, Clone)]
pub struct InProcessOcm {
    sim: Simulator,
    agreements: Arc<Mutex<ByCluster>>,
    /// Service logs by cluster uuid.
    service_logs: Arc<Mutex<ByCluster>>,
    labels: Arc<Mutex<AusLabels>>,
}

impl InProcessOcm {
    pub fn new(sim: Simulator) -> InProcessOcm {
        InProcessOcm {
            sim,
            agreements: Arc::default(),
            service_logs: Arc::default(),
            labels: Arc::default(),
        }
    }
}

/// A refusal as the HTTP API would answer it.
fn api_error(method: &str, path: String, rejection: Rejection) -> PassError {
    let (status, reason) = match rejection {
        Rejection::NotFound(reason) => (404, reason),
        Rejection::Invalid { reason, .. } => (400, reason),
        Rejection::Conflict(reason) => (409, reason),
    };
    PassError::Ocm(OcmError::Api {
        method: method.to_owned(),
        path,
        status,
        body: Box::new(ApiErrorBody {
            kind: Some("Error".to_owned()),
            code: Some(format!("CLUSTERS-MGMT-{status}")),
            reason: Some(reason),
            ..ApiErrorBody::default()
        }),
    })
}

const CS: &str = "/api/clusters_mgmt/v1";

/// The AUS labels of subscriptions and organizations, as discovery reads
/// them, kept while no label is written: labels rarely change, and sorting
/// every label of the fleet into maps was a large part of each discovery.
#[derive(Debug, Default)]
struct AusLabels {
    /// [`World::label_writes`] and the number of labels the maps were built
    /// from.
    built_at: Option<(u64, usize)>,
    /// Shared with the clusters discovery lists (`Cluster::labels`).
    by_sub: FxHashMap<String, Arc<BTreeMap<String, String>>>,
    by_org: BTreeMap<String, BTreeMap<String, String>>,
}

impl AusLabels {
    fn refresh(&mut self, w: &World) {
        let at = (w.label_writes(), w.labels.len());
        if self.built_at == Some(at) {
            return;
        }
        self.by_sub.clear();
        self.by_org.clear();
        for l in &w.labels {
            if !l.key.starts_with(AUS_PREFIX) {
                continue;
            }
            let map = match &l.owner {
                LabelOwner::Subscription(sub) => {
                    Arc::make_mut(self.by_sub.entry(sub.clone()).or_default())
                }
                LabelOwner::Organization(org) => self.by_org.entry(org.clone()).or_default(),
            };
            map.insert(l.key.clone(), l.value.clone());
        }
        self.built_at = Some(at);
    }
}

/// Discovery over the world's records, as the HTTP discovery finds them.
fn discover(w: &World, labels: &AusLabels) -> Discovered {
    let (labels_by_sub, labels_by_org) = (&labels.by_sub, &labels.by_org);
    // Every simulated subscription is managed and active; its organization is
    // its cluster's.
    let mut org_ids: BTreeSet<String> = labels_by_org.keys().cloned().collect();
    let mut records: Vec<_> = w
        .clusters
        .iter()
        .filter(|rec| labels_by_sub.contains_key(rec.subscription_id.as_str()))
        .inspect(|rec| {
            org_ids.insert(rec.cluster.organization.clone());
        })
        .filter(|rec| rec.cluster.state == "ready")
        .collect();
    // R17: OCM's order, by creation time.
    records.sort_by_key(|rec| rec.created_at);
    let mut upgrades = FxHashMap::default();
    let clusters = records
        .into_iter()
        .map(|rec| {
            let c = &rec.cluster;
            Cluster {
                name: c.name.clone(),
                organization: c.organization.clone(),
                id: c.id.clone(),
                external_id: c.external_id.clone(),
                version: c.version.clone(),
                channel_group: c.channel_group.clone(),
                channel: c.channel.clone(),
                available_upgrades: w.available_upgrades_memo(rec, &mut upgrades),
                available_upgrades_explicit: true,
                // Cluster lists do not carry them (a single GET does).
                available_channels: Vec::new(),
                product: c.product,
                hypershift: c.product == Product::Rosa && c.hypershift,
                sts: c.sts,
                state: "ready".to_owned(),
                healthy: true,
                labels: labels_by_sub
                    .get(rec.subscription_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
                node_pools: Vec::new(),
                upgrade_policies: Vec::new(),
                gate_agreements: Vec::new(),
                auth: c.auth.clone(),
            }
        })
        .collect();
    let names: FxHashMap<&str, &str> = w
        .organizations
        .iter()
        .map(|o| (o.org.id.as_str(), o.org.name.as_str()))
        .collect();
    let organizations = org_ids
        .iter()
        .map(|id| Organization {
            id: id.clone(),
            name: names
                .get(id.as_str())
                .map_or_else(|| id.clone(), |n| (*n).to_owned()),
            labels: labels_by_org.get(id).cloned().unwrap_or_default(),
        })
        .collect();
    let version_gates: Vec<VersionGate> = w.version_gates.clone();
    Discovered {
        organizations,
        clusters,
        version_gates,
        broken_orgs: BTreeMap::new(),
    }
}

/// An organization's ready clusters, whatever their labels (R113).
fn org_clusters(w: &World, org_id: &str) -> Vec<Cluster> {
    let mut records: Vec<_> = w
        .clusters
        .iter()
        .filter(|rec| rec.cluster.organization == org_id && rec.cluster.state == "ready")
        .collect();
    records.sort_by_key(|rec| rec.created_at);
    records
        .into_iter()
        .map(|rec| Cluster {
            labels: Arc::default(),
            upgrade_policies: Vec::new(),
            node_pools: Vec::new(),
            gate_agreements: Vec::new(),
            available_channels: Vec::new(),
            ..rec.cluster.clone()
        })
        .collect()
}

const ADD: &str = "/api/addons_mgmt/v1";

/// Existing policies and node pools of one cluster.
/// A cluster's details; `policies` are the world's policies of that cluster
/// (every scope), in the world's order.
fn details(
    w: &World,
    c: &ClusterRef,
    policies: &[&PolicyRecord],
) -> Result<ClusterDetails, PassError> {
    let rec = w
        .cluster(&c.id)
        .map_err(|r| api_error("GET", format!("{CS}/clusters/{}", c.id), r))?;
    let top = if c.hcp {
        PolicyScope::ControlPlane
    } else {
        PolicyScope::Classic
    };
    let of = |scope: &PolicyScope| {
        policies
            .iter()
            .filter(|p| p.scope == *scope)
            .map(|p| p.policy.clone())
            .collect()
    };
    let node_pools = if c.hcp {
        rec.cluster
            .node_pools
            .iter()
            .map(|pool| NodePool {
                id: pool.id.clone(),
                version: pool.version.clone(),
                upgrade_policies: of(&PolicyScope::NodePool(pool.id.clone())),
            })
            .collect()
    } else {
        Vec::new()
    };
    let policies = of(&top);
    Ok(ClusterDetails {
        policies,
        node_pools,
    })
}

impl Ocm for InProcessOcm {
    fn location(&self) -> String {
        "in-process simulator".to_owned()
    }

    fn discover(&self) -> OcmResult<'_, Discovered> {
        let found = self.sim.read(|w| {
            let mut labels = self.labels.lock().unwrap_or_else(PoisonError::into_inner);
            labels.refresh(w);
            discover(w, &labels)
        });
        Box::pin(async move { Ok(found) })
    }

    fn cluster_details(
        &self,
        clusters: Vec<ClusterRef>,
    ) -> OcmResult<'_, HashMap<String, ClusterDetails>> {
        let found = self.sim.read(|w| {
            // One walk over the world's policies per call, not one per cluster.
            let mut by_cluster: FxHashMap<&str, Vec<&PolicyRecord>> = FxHashMap::default();
            for p in &w.policies {
                by_cluster.entry(p.cluster_id.as_str()).or_default().push(p);
            }
            clusters
                .iter()
                .map(|c| {
                    let policies = by_cluster.get(c.id.as_str()).map_or(&[][..], Vec::as_slice);
                    Ok((c.id.clone(), details(w, c, policies)?))
                })
                .collect::<Result<HashMap<_, _>, PassError>>()
        });
        Box::pin(async move { found })
    }

    fn gate_agreements(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<String>>> {
        let found = self.sim.read(|w| {
            for id in &cluster_ids {
                w.cluster(id).map_err(|r| {
                    api_error("GET", format!("{CS}/clusters/{id}/gate_agreements"), r)
                })?;
            }
            let mut index = self
                .agreements
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            index.update(&w.agreements, |a| &a.id, |a| &a.cluster_id);
            Ok(cluster_ids
                .iter()
                .map(|id| {
                    let list = index
                        .of(id)
                        .iter()
                        .map(|&i| w.agreements[i].gate_id.clone())
                        .collect();
                    (id.clone(), list)
                })
                .collect::<HashMap<String, Vec<String>>>())
        });
        Box::pin(async move { found })
    }

    fn available_channels(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<String>>> {
        // A failed read counts as "no channels", as over HTTP.
        let found = self.sim.read(|w| {
            cluster_ids
                .iter()
                .map(|id| {
                    let channels = w
                        .cluster(id)
                        .map(|rec| rec.cluster.available_channels.clone())
                        .unwrap_or_default();
                    (id.clone(), channels)
                })
                .collect()
        });
        Box::pin(async move { Ok(found) })
    }

    fn unhealthy<'a>(
        &'a self,
        _provider: &'a HealthProvider,
        org_id: &'a str,
    ) -> OcmResult<'a, HashSet<String>> {
        // What the simulator's Telemeter-like endpoint answers: its unhealthy
        // clusters of the organization.
        let found = self.sim.read(|w| {
            w.clusters
                .iter()
                .filter(|rec| !rec.cluster.healthy && rec.cluster.organization == org_id)
                .map(|rec| rec.cluster.external_id.clone())
                .collect()
        });
        Box::pin(async move { Ok(found) })
    }

    fn create_policy<'a>(
        &'a self,
        cluster_id: &'a str,
        policy: &'a NewPolicy,
    ) -> OcmResult<'a, ()> {
        let (scope, path) = match &policy.target {
            PolicyTarget::Cluster => (
                PolicyScope::Classic,
                format!("{CS}/clusters/{cluster_id}/upgrade_policies"),
            ),
            PolicyTarget::ControlPlane => (
                PolicyScope::ControlPlane,
                format!("{CS}/clusters/{cluster_id}/control_plane/upgrade_policies"),
            ),
            PolicyTarget::NodePool(pool) => (
                PolicyScope::NodePool(pool.clone()),
                format!("{CS}/clusters/{cluster_id}/node_pools/{pool}/upgrade_policies"),
            ),
        };
        let request = PolicyRequest::manual(policy.version.clone(), policy.next_run);
        let done = self
            .sim
            .write(|w, config| w.create_policy_request(cluster_id, scope, request, config, false))
            .map(|_| ())
            .map_err(|r| api_error("POST", path, r));
        Box::pin(async move { done })
    }

    fn create_gate_agreement<'a>(
        &'a self,
        cluster_id: &'a str,
        gate_id: &'a str,
    ) -> OcmResult<'a, ()> {
        let done = self
            .sim
            .write(|w, _| w.create_agreement(cluster_id, gate_id).map(|_| ()))
            .map_err(|r| {
                api_error(
                    "POST",
                    format!("{CS}/clusters/{cluster_id}/gate_agreements"),
                    r,
                )
            });
        Box::pin(async move { done })
    }

    fn switch_channel<'a>(&'a self, cluster_id: &'a str, channel: &'a str) -> OcmResult<'a, ()> {
        let done = self
            .sim
            .write(|w, _| w.switch_channel(cluster_id, channel))
            .map_err(|r| api_error("PATCH", format!("{CS}/clusters/{cluster_id}"), r));
        Box::pin(async move { done })
    }

    fn service_log_sent_since<'a>(
        &'a self,
        notice: &'a Notice,
        since: Timestamp,
    ) -> OcmResult<'a, bool> {
        let found = self.sim.read(|w| {
            let mut index = self
                .service_logs
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            index.update(&w.service_logs, |l| &l.id, |l| &l.cluster_uuid);
            // Newest first, and only back to `since`: logs are appended as the
            // clock (which never goes back) stands, and a cluster told every
            // day for a year has hundreds of them.
            index
                .of(&notice.cluster_uuid)
                .iter()
                .rev()
                .map(|&i| &w.service_logs[i])
                .take_while(|l| l.created_at >= since)
                .any(|l| {
                    l.cluster_uuid == notice.cluster_uuid
                        && l.service_name == INTEGRATION
                        && l.severity == notice.severity.as_str()
                        && l.summary == notice.summary
                        && l.description == notice.description
                })
        });
        Box::pin(async move { Ok(found) })
    }

    fn send_service_log<'a>(&'a self, notice: &'a Notice) -> OcmResult<'a, ()> {
        let request = ServiceLogRequest {
            cluster_uuid: Some(notice.cluster_uuid.clone()),
            service_name: Some(INTEGRATION.to_owned()),
            summary: Some(notice.summary.to_owned()),
            description: Some(notice.description.clone()),
            severity: Some(notice.severity.as_str().to_owned()),
            ..ServiceLogRequest::default()
        };
        let done = self
            .sim
            .write(|w, _| w.create_service_log_request(request, USERNAME).map(|_| ()))
            .map_err(|r| api_error("POST", "/api/service_logs/v1/cluster_logs".to_owned(), r));
        Box::pin(async move { done })
    }

    fn org_clusters<'a>(&'a self, org_id: &'a str) -> OcmResult<'a, Vec<Cluster>> {
        let found = self.sim.read(|w| org_clusters(w, org_id));
        Box::pin(async move { Ok(found) })
    }

    fn addon_catalog(&self) -> OcmResult<'_, BTreeMap<String, Version>> {
        let catalog = self.sim.read(|w| w.addons.catalog.clone());
        Box::pin(async move { Ok(catalog) })
    }

    fn ready_addons(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<AddonInstallation>>> {
        let found = self.sim.read(|w| {
            let addons = w.addons.addons();
            cluster_ids
                .iter()
                .map(|id| {
                    let installed = addons
                        .installations
                        .iter()
                        .filter(|i| i.cluster_id == *id && i.state == "ready")
                        .cloned()
                        .collect();
                    (id.clone(), installed)
                })
                .collect()
        });
        Box::pin(async move { Ok(found) })
    }

    fn delete_addon_plan<'a>(&'a self, cluster_id: &'a str, plan_id: &'a str) -> OcmResult<'a, ()> {
        let done = self
            .sim
            .write(|w, _| w.delete_addon_plan(cluster_id, plan_id))
            .map_err(|r| {
                api_error(
                    "DELETE",
                    format!("{ADD}/clusters/{cluster_id}/upgrade_plans/{plan_id}"),
                    r,
                )
            });
        Box::pin(async move { done })
    }

    fn create_addon_plan<'a>(&'a self, plan: &'a NewAddonPlan) -> OcmResult<'a, ()> {
        let request = srecap_sim::addons::PlanRequest {
            addon_id: plan.addon_id.clone(),
            version: plan.version.clone(),
            schedule_type: ScheduleType::Manual,
            next_run: Some(plan.next_run),
        };
        let done = self
            .sim
            .write(|w, _| w.create_addon_plan(&plan.cluster_id, request).map(|_| ()))
            .map_err(|r| {
                api_error(
                    "POST",
                    format!("{ADD}/clusters/{}/upgrade_plans", plan.cluster_id),
                    r,
                )
            });
        Box::pin(async move { done })
    }
}
