//! OCM over HTTP: the production implementation of [`Ocm`].
//!
//! Discovery finds the clusters that opted in to AUS, their organizations and
//! the version gates in a constant number of fleet-wide calls (§2, §16); the
//! per-cluster reads a decision needs (§10.2) are made only for the clusters
//! asked for, with at most `concurrency` clusters in flight. Wire records are
//! turned into the fleet model here and nowhere else; a record AUS cannot use
//! is a bad answer naming the cluster and field.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures::TryFutureExt;
use futures::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use semver::Version;
use srecap_aus::INTEGRATION;
use srecap_fleet::{
    AddonInstallation, Cluster, NodePool, Organization, PolicyState, Product, ScheduleType,
    UpgradePolicy, VersionGate,
};
use srecap_ocm::model::{
    self as wire, LabelType, NewAddonUpgradePlan, NewClusterLog, NewUpgradePolicy, Severity,
};
use srecap_ocm::{Filter, OcmClient, OcmError};

use crate::error::PassError;
use crate::feedback::{Notice, NoticeSeverity};
use crate::health::HealthProvider;
use crate::ocm::{
    ClusterDetails, ClusterRef, Discovered, NewAddonPlan, NewPolicy, Ocm, OcmResult, PolicyTarget,
    VERSION_DATA_PREFIX,
};

/// The AUS label prefix in OCM search syntax.
const AUS_LIKE: &str = "sre-capabilities.aus.%";

/// OCM's REST API through the `srecap-ocm` client.
#[derive(Debug, Clone)]
pub struct HttpOcm {
    client: OcmClient,
    /// For the health provider, which is not OCM.
    http: reqwest::Client,
    /// Clusters read at once.
    concurrency: usize,
}

impl HttpOcm {
    pub fn new(client: OcmClient, concurrency: usize) -> HttpOcm {
        HttpOcm {
            client,
            http: reqwest::Client::new(),
            concurrency: concurrency.max(1),
        }
    }

    pub fn client(&self) -> &OcmClient {
        &self.client
    }
}

impl Ocm for HttpOcm {
    fn location(&self) -> String {
        self.client.api_url().to_owned()
    }

    fn saturated(&self) -> Option<bool> {
        Some(self.client.saturated())
    }

    fn server_time(&self) -> Option<jiff::Timestamp> {
        self.client.server_time()
    }

    fn discover(&self) -> OcmResult<'_, Discovered> {
        Box::pin(async move { Ok(discover(&self.client).await?) })
    }

    /// One label search, as the reference's (R42): `version-data.*` labels of
    /// organizations.
    fn inheritance_labels(&self) -> OcmResult<'_, Vec<Organization>> {
        Box::pin(async move {
            let labels = self
                .client
                .search_labels(
                    &Filter::like("key", format!("{VERSION_DATA_PREFIX}%"))
                        .and(Filter::eq("type", "Organization")),
                )
                .await?;
            let mut by_org: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for l in labels {
                if let Some(org) = l.organization_id {
                    by_org.entry(org).or_default().insert(l.key, l.value);
                }
            }
            Ok(by_org
                .into_iter()
                .map(|(id, labels)| Organization {
                    name: id.clone(),
                    id,
                    labels,
                })
                .collect())
        })
    }

    fn cluster_details(
        &self,
        clusters: Vec<ClusterRef>,
    ) -> OcmResult<'_, HashMap<String, ClusterDetails>> {
        Box::pin(async move {
            stream::iter(
                clusters
                    .into_iter()
                    .map(|c| details(&self.client, c.id.clone(), c.hcp).map_ok(move |d| (c.id, d))),
            )
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await
        })
    }

    fn gate_agreements(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<String>>> {
        Box::pin(
            async move { Ok(gate_agreements(&self.client, cluster_ids, self.concurrency).await?) },
        )
    }

    fn available_channels(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<String>>> {
        Box::pin(async move {
            Ok(available_channels(&self.client, cluster_ids, self.concurrency).await)
        })
    }

    fn unhealthy<'a>(
        &'a self,
        provider: &'a HealthProvider,
        org_id: &'a str,
    ) -> OcmResult<'a, HashSet<String>> {
        Box::pin(async move { Ok(provider.unhealthy(&self.http, org_id).await?) })
    }

    fn create_policy<'a>(
        &'a self,
        cluster_id: &'a str,
        policy: &'a NewPolicy,
    ) -> OcmResult<'a, ()> {
        Box::pin(async move {
            let (v, at) = (&policy.version, policy.next_run);
            match &policy.target {
                PolicyTarget::Cluster => {
                    self.client
                        .create_upgrade_policy(cluster_id, &NewUpgradePolicy::classic(v, at))
                        .await?;
                }
                PolicyTarget::ControlPlane => {
                    self.client
                        .create_control_plane_upgrade_policy(
                            cluster_id,
                            &NewUpgradePolicy::control_plane(cluster_id, v, at),
                        )
                        .await?;
                }
                PolicyTarget::NodePool(pool) => {
                    self.client
                        .create_node_pool_upgrade_policy(
                            cluster_id,
                            pool,
                            &NewUpgradePolicy::node_pool(cluster_id, v, at),
                        )
                        .await?;
                }
            }
            Ok(())
        })
    }

    fn org_clusters<'a>(&'a self, org_id: &'a str) -> OcmResult<'a, Vec<Cluster>> {
        Box::pin(async move { Ok(org_clusters(&self.client, org_id).await?) })
    }

    fn addon_catalog(&self) -> OcmResult<'_, BTreeMap<String, Version>> {
        Box::pin(async move {
            let mut catalog = BTreeMap::new();
            for addon in self.client.list_addons().await? {
                let latest = addon.latest_version().map_err(|e| PassError::BadAnswer {
                    cluster: format!("add-on {}", addon.id),
                    reason: e.to_string(),
                })?;
                if let Some(latest) = latest {
                    catalog.insert(addon.id, latest);
                }
            }
            Ok(catalog)
        })
    }

    fn ready_addons(
        &self,
        cluster_ids: Vec<String>,
    ) -> OcmResult<'_, HashMap<String, Vec<AddonInstallation>>> {
        Box::pin(async move {
            stream::iter(cluster_ids.into_iter().map(|id| {
                ready_addons(&self.client, id.clone()).map_ok(move |installed| (id, installed))
            }))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await
        })
    }

    fn delete_addon_plan<'a>(&'a self, cluster_id: &'a str, plan_id: &'a str) -> OcmResult<'a, ()> {
        Box::pin(async move {
            Ok(self
                .client
                .delete_addon_upgrade_plan(cluster_id, plan_id)
                .await?)
        })
    }

    fn create_addon_plan<'a>(&'a self, plan: &'a NewAddonPlan) -> OcmResult<'a, ()> {
        Box::pin(async move {
            let body = NewAddonUpgradePlan::manual(
                &plan.cluster_id,
                &plan.addon_id,
                &plan.version,
                plan.next_run,
            );
            self.client.create_addon_upgrade_plan(&body).await?;
            Ok(())
        })
    }

    fn create_gate_agreement<'a>(
        &'a self,
        cluster_id: &'a str,
        gate_id: &'a str,
    ) -> OcmResult<'a, ()> {
        Box::pin(async move {
            self.client
                .create_gate_agreement(cluster_id, gate_id)
                .await?;
            Ok(())
        })
    }

    fn switch_channel<'a>(&'a self, cluster_id: &'a str, channel: &'a str) -> OcmResult<'a, ()> {
        Box::pin(async move {
            self.client
                .patch_cluster_channel(cluster_id, channel)
                .await?;
            Ok(())
        })
    }

    fn service_log_sent_since<'a>(
        &'a self,
        notice: &'a Notice,
        since: Timestamp,
    ) -> OcmResult<'a, bool> {
        Box::pin(async move {
            let filter = Filter::eq("service_name", INTEGRATION)
                .and(Filter::eq("severity", notice.severity.as_str()))
                .and(Filter::eq("summary", notice.summary))
                .and(Filter::eq("description", notice.description.clone()))
                .and(Filter::ge("created_at", since.to_string()));
            Ok(!self
                .client
                .list_cluster_service_logs(&notice.cluster_uuid, Some(&filter))
                .await?
                .is_empty())
        })
    }

    fn send_service_log<'a>(&'a self, notice: &'a Notice) -> OcmResult<'a, ()> {
        Box::pin(async move {
            self.client
                .create_service_log(&NewClusterLog {
                    cluster_uuid: notice.cluster_uuid.clone(),
                    service_name: INTEGRATION.to_owned(),
                    summary: notice.summary.to_owned(),
                    description: notice.description.clone(),
                    severity: match notice.severity {
                        NoticeSeverity::Moderate => Severity::Moderate,
                        NoticeSeverity::Info => Severity::Info,
                    },
                    internal_only: None,
                    log_type: None,
                    doc_references: Vec::new(),
                })
                .await?;
            Ok(())
        })
    }
}

/// Fleet-wide discovery (R10–R17): label search, subscriptions, clusters,
/// organization labels, organizations, version gates. Constant in the number of
/// calls except for paging and `in (...)` chunks of 100 ids.
async fn discover(client: &OcmClient) -> Result<Discovered, OcmError> {
    let sub_labels = client
        .search_labels(&Filter::like("key", AUS_LIKE).and(Filter::eq("type", "Subscription")))
        .await?;
    // R15: a cluster's policy is parsed from its subscription's AUS labels,
    // which are exactly what this search returned; the subscriptions are then
    // listed without embedded labels.
    let mut labels_by_sub: HashMap<&str, BTreeMap<String, String>> = HashMap::new();
    for l in &sub_labels {
        if l.label_type
            .as_ref()
            .is_none_or(|t| *t == LabelType::Subscription)
            && let Some(sub) = &l.subscription_id
        {
            labels_by_sub
                .entry(sub.as_str())
                .or_default()
                .insert(l.key.clone(), l.value.clone());
        }
    }
    let sub_ids: BTreeSet<String> = labels_by_sub.keys().map(|&s| s.to_owned()).collect();

    let subscriptions = if sub_ids.is_empty() {
        Vec::new()
    } else {
        client
            .list_subscriptions_without_labels(Some(
                &Filter::in_("id", sub_ids.iter().cloned())
                    .and(Filter::eq("managed", "true"))
                    .and(Filter::in_("status", ["Active", "Reserved"])),
            ))
            .await?
    };
    let subs_by_id: HashMap<&str, &wire::Subscription> =
        subscriptions.iter().map(|s| (s.id.as_str(), s)).collect();

    let mut clusters = if subscriptions.is_empty() {
        Vec::new()
    } else {
        client
            .list_clusters(Some(
                &Filter::eq("managed", "true")
                    .and(Filter::in_("product.id", ["osd", "rosa"]))
                    .and(Filter::eq("state", "ready"))
                    .and(Filter::in_(
                        "subscription.id",
                        subscriptions.iter().map(|s| s.id.clone()),
                    )),
            ))
            .await?
    };
    // R17: OCM's order is creation time. The listing comes in `id in (...)`
    // chunks of subscriptions, each in that order; a stable sort restores it
    // across chunks (records without a timestamp keep their place, last).
    clusters.sort_by_key(|c| (c.creation_timestamp.is_none(), c.creation_timestamp));

    let org_labels = client
        .search_labels(&Filter::like("key", AUS_LIKE).and(Filter::eq("type", "Organization")))
        .await?;
    let mut labels_by_org: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for l in &org_labels {
        if let Some(org) = &l.organization_id {
            labels_by_org
                .entry(org.clone())
                .or_default()
                .insert(l.key.clone(), l.value.clone());
        }
    }
    let org_ids: BTreeSet<String> = subscriptions
        .iter()
        .filter_map(|s| s.organization_id.clone())
        .chain(labels_by_org.keys().cloned())
        .collect();
    let orgs = if org_ids.is_empty() {
        Vec::new()
    } else {
        client
            .list_organizations(Some(&Filter::in_("id", org_ids.iter().cloned())))
            .await?
    };
    let names: HashMap<&str, &str> = orgs
        .iter()
        .map(|o| (o.id.as_str(), o.name.as_deref().unwrap_or(o.id.as_str())))
        .collect();
    let version_gates = client
        .list_version_gates()
        .await?
        .into_iter()
        .map(|g| VersionGate {
            id: g.id,
            version_raw_id_prefix: g.version_raw_id_prefix,
            label: g.label,
            sts_only: g.sts_only,
        })
        .collect();

    let mut broken_orgs = BTreeMap::new();
    let mut fleet_clusters = Vec::new();
    // R17: keep OCM's order (creation timestamp), with a deterministic fallback.
    for c in &clusters {
        let Some(sub) = c.subscription_id().and_then(|id| subs_by_id.get(id)) else {
            continue;
        };
        let Some(org) = sub.organization_id.clone() else {
            continue;
        };
        let labels = labels_by_sub
            .get(sub.id.as_str())
            .cloned()
            .unwrap_or_default();
        match convert_cluster(c, &org, labels) {
            Ok(cluster) => fleet_clusters.push(cluster),
            Err(reason) => {
                tracing::warn!(cluster = %c.id, org = %org, %reason, "unusable cluster record from OCM");
                broken_orgs.entry(org).or_insert(reason);
            }
        }
    }
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
    Ok(Discovered {
        organizations,
        clusters: fleet_clusters,
        version_gates,
        broken_orgs,
    })
}

/// An organization's managed, active, ready OSD/ROSA clusters (R113).
async fn org_clusters(client: &OcmClient, org_id: &str) -> Result<Vec<Cluster>, OcmError> {
    let subscriptions = client
        .list_subscriptions_without_labels(Some(
            &Filter::eq("organization_id", org_id)
                .and(Filter::eq("managed", "true"))
                .and(Filter::in_("status", ["Active", "Reserved"])),
        ))
        .await?;
    if subscriptions.is_empty() {
        return Ok(Vec::new());
    }
    let mut clusters = client
        .list_clusters(Some(
            &Filter::eq("managed", "true")
                .and(Filter::in_("product.id", ["osd", "rosa"]))
                .and(Filter::eq("state", "ready"))
                .and(Filter::in_(
                    "subscription.id",
                    subscriptions.iter().map(|s| s.id.clone()),
                )),
        ))
        .await?;
    clusters.sort_by_key(|c| (c.creation_timestamp.is_none(), c.creation_timestamp));
    Ok(clusters
        .iter()
        .filter_map(|c| match convert_cluster(c, org_id, BTreeMap::new()) {
            Ok(cluster) => Some(cluster),
            Err(reason) => {
                tracing::warn!(cluster = %c.id, org = %org_id, %reason, "unusable cluster record from OCM");
                None
            }
        })
        .collect())
}

/// A cluster's ready add-ons with their upgrade plans (R114, R117).
async fn ready_addons(client: &OcmClient, id: String) -> Result<Vec<AddonInstallation>, PassError> {
    let bad = |reason: String| PassError::BadAnswer {
        cluster: id.clone(),
        reason,
    };
    let plans = client.list_addon_upgrade_plans(&id).await?;
    let mut installed = Vec::new();
    for i in client.list_ready_addon_installations(&id).await? {
        let Some(version) = i.installed_version().map_err(|e| bad(e.to_string()))? else {
            continue;
        };
        let addon_id = i.addon_id().to_owned();
        let mut upgrade_policies = Vec::new();
        for p in plans
            .iter()
            .filter(|p| p.addon_id.as_deref() == Some(addon_id.as_str()))
        {
            upgrade_policies.push(UpgradePolicy {
                id: p.id.clone(),
                version: p.target_version().map_err(|e| bad(e.to_string()))?,
                next_run: p.next_run,
                state: p
                    .state
                    .as_ref()
                    .map_or(PolicyState::Other("unknown".into()), |s| {
                        PolicyState::parse(s.as_str())
                    }),
                schedule_type: match p.schedule_type {
                    Some(wire::ScheduleType::Automatic) => ScheduleType::Automatic,
                    _ => ScheduleType::Manual,
                },
                schedule: p.schedule.clone(),
            });
        }
        installed.push(AddonInstallation {
            cluster_id: id.clone(),
            addon_id,
            version,
            state: i.state.clone().unwrap_or_else(|| "ready".to_owned()),
            upgrade_policies,
        });
    }
    Ok(installed)
}

/// A wire cluster as a fleet cluster; a bad answer names the field at fault.
fn convert_cluster(
    c: &wire::Cluster,
    org: &str,
    labels: BTreeMap<String, String>,
) -> Result<Cluster, String> {
    let version = c
        .raw_version()
        .map_err(|e| format!("cluster {}: {e}", c.id))?;
    let available_upgrades = c
        .available_upgrades()
        .map_err(|e| format!("cluster {}: {e}", c.id))?;
    let product = match c.product_id() {
        Some("rosa") => Product::Rosa,
        _ => Product::Osd,
    };
    let channel_group = c
        .version
        .as_ref()
        .and_then(|v| v.channel_group.clone())
        .unwrap_or_else(|| "stable".to_owned());
    Ok(Cluster {
        name: c.name.clone().unwrap_or_else(|| c.id.clone()),
        organization: org.to_owned(),
        id: c.id.clone(),
        external_id: c.external_id.clone().unwrap_or_default(),
        channel: c
            .channel
            .clone()
            .unwrap_or_else(|| srecap_fleet::model::default_channel(&channel_group, &version)),
        channel_group,
        available_upgrades: available_upgrades.into(),
        available_upgrades_explicit: true,
        available_channels: c
            .version
            .as_ref()
            .and_then(|v| v.available_channels.clone())
            .unwrap_or_default(),
        version,
        product,
        hypershift: c.is_hcp(),
        sts: c.is_sts(),
        state: "ready".to_owned(),
        // No health provider is configured: every cluster soaks (R47–R49).
        healthy: true,
        labels: labels.into(),
        node_pools: Vec::new(),
        upgrade_policies: Vec::new(),
        gate_agreements: Vec::new(),
        auth: srecap_fleet::ClusterAuth::default(),
    })
}

fn convert_policy(
    p: &wire::UpgradePolicy,
    state: Option<&wire::PolicyStateValue>,
) -> Result<UpgradePolicy, String> {
    let version = p
        .target_version()
        .map_err(|e| format!("upgrade policy {}: {e}", p.id))?;
    Ok(UpgradePolicy {
        id: p.id.clone(),
        version,
        next_run: p.next_run,
        state: state.map_or(PolicyState::Other("unknown".into()), |s| {
            PolicyState::parse(s.as_str())
        }),
        schedule_type: match p.schedule_type {
            Some(wire::ScheduleType::Automatic) => ScheduleType::Automatic,
            _ => ScheduleType::Manual,
        },
        schedule: p.schedule.clone(),
    })
}

async fn details(client: &OcmClient, id: String, hcp: bool) -> Result<ClusterDetails, PassError> {
    let mut d = ClusterDetails::default();
    let bad = |reason: String| PassError::BadAnswer {
        cluster: id.clone(),
        reason,
    };
    {
        if hcp {
            for p in client.list_control_plane_upgrade_policies(&id).await? {
                d.policies
                    .push(convert_policy(&p, p.state.as_ref().map(|s| &s.value)).map_err(&bad)?);
            }
            for pool in client.list_node_pools(&id).await? {
                let version = pool
                    .raw_version()
                    .map_err(|e| bad(format!("node pool {}: {e}", pool.id)))?;
                let mut pool_policies = Vec::new();
                for p in client
                    .list_node_pool_upgrade_policies(&id, &pool.id)
                    .await?
                {
                    pool_policies.push(
                        convert_policy(&p, p.state.as_ref().map(|s| &s.value)).map_err(&bad)?,
                    );
                }
                d.node_pools.push(NodePool {
                    id: pool.id,
                    version,
                    upgrade_policies: pool_policies,
                });
            }
        } else {
            for p in client.list_upgrade_policies(&id).await? {
                let state = match &p.state {
                    Some(s) => Some(s.value.clone()),
                    // R97: a failing state read is "unknown state", not an error.
                    None => client
                        .get_upgrade_policy_state(&id, &p.id)
                        .await
                        .ok()
                        .map(|s| s.value),
                };
                d.policies
                    .push(convert_policy(&p, state.as_ref()).map_err(&bad)?);
            }
        }
    }
    Ok(d)
}

/// Available channels of the given clusters (R103), which cluster list answers
/// lack: one GET per cluster, concurrently. A failed read counts as "no channels"
/// and is logged, as in the reference.
async fn available_channels(
    client: &OcmClient,
    ids: Vec<String>,
    concurrency: usize,
) -> HashMap<String, Vec<String>> {
    stream::iter(ids.into_iter().map(|id| async move {
        let channels = match client.get_cluster(&id).await {
            Ok(c) => c.version.and_then(|v| v.available_channels).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(cluster = %id, error = %e, "reading available channels failed; assuming none");
                Vec::new()
            }
        };
        (id, channels)
    }))
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await
}

/// Gate agreements (ids of the agreed version gates) of the given clusters, one GET
/// each, concurrently.
async fn gate_agreements(
    client: &OcmClient,
    ids: Vec<String>,
    concurrency: usize,
) -> Result<HashMap<String, Vec<String>>, OcmError> {
    stream::iter(ids.into_iter().map(|id| async move {
        let agreed = client
            .list_gate_agreements(&id)
            .await?
            .into_iter()
            .map(|a| a.version_gate.id)
            .collect();
        Ok::<_, OcmError>((id, agreed))
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect()
    .await
}
