//! The JSON the simulator serves for each object (spec §3), and the attributes
//! each collection can be searched and ordered by.
//!
//! Search runs on a *search view*: the served JSON plus OCM's virtual search
//! attributes that the object does not carry (a cluster's `organization.id`).

use rustc_hash::FxHashMap;
use semver::Version;
use serde_json::{Value, json};

use crate::world::{
    AgreementRecord, ClusterRecord, LabelOwner, LabelRecord, OrgRecord, PolicyRecord, PolicyScope,
    Rejection, Rendered, RenderedItem, ServiceLog, World,
};

pub const CS: &str = "/api/clusters_mgmt/v1";
pub const AMS: &str = "/api/accounts_mgmt/v1";
pub const SL: &str = "/api/service_logs/v1";

/// Searchable attributes of labels (`GET /labels`).
pub const LABEL_FIELDS: &[&str] = &[
    "id",
    "key",
    "value",
    "type",
    "subscription_id",
    "organization_id",
    "account_id",
    "internal",
    "managed_by",
    "created_at",
    "updated_at",
];
pub const LABEL_BOOLS: &[&str] = &["internal"];

/// Searchable attributes of subscriptions.
pub const SUBSCRIPTION_FIELDS: &[&str] = &[
    "id",
    "organization_id",
    "cluster_id",
    "external_cluster_id",
    "display_name",
    "status",
    "managed",
    "created_at",
    "updated_at",
    "plan.id",
    "plan.type",
    "cluster_billing_model",
    "creator.username",
    "support_level",
];
pub const SUBSCRIPTION_BOOLS: &[&str] = &["managed"];

/// Searchable attributes of organizations.
pub const ORGANIZATION_FIELDS: &[&str] = &[
    "id",
    "name",
    "external_id",
    "ebs_account_id",
    "created_at",
    "updated_at",
];

/// Searchable attributes of clusters.
pub const CLUSTER_FIELDS: &[&str] = &[
    "id",
    "name",
    "display_name",
    "external_id",
    "state",
    "managed",
    "openshift_version",
    "product.id",
    "cloud_provider.id",
    "region.id",
    "subscription.id",
    "organization.id",
    "hypershift.enabled",
    "aws.sts.enabled",
    "version.id",
    "version.raw_id",
    "version.channel_group",
    "channel",
    "creation_timestamp",
    "status.state",
];
pub const CLUSTER_BOOLS: &[&str] = &["managed", "hypershift.enabled", "aws.sts.enabled"];

/// Searchable attributes of node pools.
pub const NODE_POOL_FIELDS: &[&str] = &["id", "replicas", "version.id", "version.raw_id"];

/// Searchable attributes of version gates.
pub const GATE_FIELDS: &[&str] = &[
    "id",
    "version_raw_id_prefix",
    "label",
    "value",
    "sts_only",
    "cluster_condition",
    "creation_timestamp",
];
pub const GATE_BOOLS: &[&str] = &["sts_only"];

/// Searchable attributes of service logs (spec §5.7 plus the ids).
pub const SERVICE_LOG_FIELDS: &[&str] = &[
    "id",
    "service_name",
    "severity",
    "summary",
    "description",
    "created_at",
    "timestamp",
    "log_type",
    "internal_only",
    "cluster_uuid",
    "cluster_id",
    "subscription_id",
    "username",
    "event_stream_id",
];
pub const SERVICE_LOG_BOOLS: &[&str] = &["internal_only"];

/// Searchable attributes of gate agreements and upgrade policies (ordering only).
pub const AGREEMENT_FIELDS: &[&str] = &["id", "agreed_timestamp", "version_gate.id"];
pub const POLICY_FIELDS: &[&str] = &[
    "id",
    "version",
    "next_run",
    "schedule_type",
    "upgrade_type",
    "creation_timestamp",
];

/// `openshift-v<raw>` for stable, `openshift-v<raw>-<group>` otherwise.
pub fn version_id(version: &Version, channel_group: &str) -> String {
    if channel_group == "stable" {
        format!("openshift-v{version}")
    } else {
        format!("openshift-v{version}-{channel_group}")
    }
}

/// An object whose search view is its served JSON.
fn same_json(v: Value) -> (Value, Value) {
    (v.clone(), v)
}

fn strings(versions: &[Version]) -> Vec<String> {
    versions.iter().map(ToString::to_string).collect()
}

impl World {
    pub fn render_label(&self, label: &LabelRecord) -> Value {
        World::label_json(label)
    }

    /// A label's JSON: it depends on the label alone.
    fn label_json(label: &LabelRecord) -> Value {
        let (owner_href, owner_field, owner_id, kind) = match &label.owner {
            LabelOwner::Subscription(id) => (
                format!("{AMS}/subscriptions/{id}"),
                "subscription_id",
                id,
                "Subscription",
            ),
            LabelOwner::Organization(id) => (
                format!("{AMS}/organizations/{id}"),
                "organization_id",
                id,
                "Organization",
            ),
        };
        let mut v = json!({
            "kind": "Label",
            "id": label.id,
            "href": format!("{owner_href}/labels/{}", label.key),
            "key": label.key,
            "value": label.value,
            "type": kind,
            "internal": label.internal,
            "managed_by": "User",
            "created_at": label.created_at.to_string(),
            "updated_at": label.updated_at.to_string(),
        });
        v[owner_field] = json!(owner_id);
        v
    }

    pub fn render_subscription(
        &self,
        rec: &ClusterRecord,
        fetch_labels: bool,
        fetch_capabilities: bool,
    ) -> Value {
        let mut v = World::subscription_json(rec);
        if fetch_labels {
            let owner = LabelOwner::Subscription(rec.subscription_id.clone());
            v["labels"] = Value::Array(
                self.labels
                    .iter()
                    .filter(|l| l.owner == owner)
                    .map(World::label_json)
                    .collect(),
            );
        }
        if fetch_capabilities {
            v["capabilities"] = json!([]);
        }
        v
    }

    /// A subscription without its labels or capabilities.
    fn subscription_json(rec: &ClusterRecord) -> Value {
        let c = &rec.cluster;
        let plan = match c.product {
            srecap_fleet::Product::Rosa => "MOA",
            srecap_fleet::Product::Osd => "OSD",
        };
        json!({
            "kind": "Subscription",
            "id": rec.subscription_id,
            "href": format!("{AMS}/subscriptions/{}", rec.subscription_id),
            "display_name": c.name,
            "created_at": rec.created_at.to_string(),
            "updated_at": rec.created_at.to_string(),
            "cluster_id": c.id,
            "external_cluster_id": c.external_id,
            "organization_id": c.organization,
            "managed": true,
            "status": "Active",
            "support_level": "Premium",
            "cluster_billing_model": "standard",
            "plan": {"kind": "Plan", "id": plan, "href": format!("{AMS}/plans/{plan}"), "type": plan},
        })
    }

    pub fn render_organization(
        &self,
        rec: &OrgRecord,
        fetch_labels: bool,
        fetch_capabilities: bool,
    ) -> Value {
        let mut v = json!({
            "kind": "Organization",
            "id": rec.org.id,
            "href": format!("{AMS}/organizations/{}", rec.org.id),
            "name": rec.org.name,
            "external_id": rec.org.id,
            "ebs_account_id": "",
            "created_at": rec.created_at.to_string(),
            "updated_at": rec.created_at.to_string(),
        });
        if fetch_labels {
            let owner = LabelOwner::Organization(rec.org.id.clone());
            v["labels"] = Value::Array(
                self.labels
                    .iter()
                    .filter(|l| l.owner == owner)
                    .map(|l| self.render_label(l))
                    .collect(),
            );
        }
        if fetch_capabilities {
            v["capabilities"] = json!([]);
        }
        v
    }

    /// A cluster; `full` adds `version.available_channels`, which OCM only
    /// returns from a single-cluster GET (list responses omit it).
    pub fn render_cluster(&self, rec: &ClusterRecord, full: bool) -> Value {
        World::render_cluster_with(rec, full, &self.available_upgrades(rec))
    }

    fn render_cluster_with(rec: &ClusterRecord, full: bool, available: &[Version]) -> Value {
        let c = &rec.cluster;
        let href = format!("{CS}/clusters/{}", c.id);
        let vid = version_id(&c.version, &c.channel_group);
        let domain = format!("{}.sim.openshiftapps.com", c.name);
        let mut version = json!({
            "kind": "Version",
            "id": vid,
            "href": format!("{CS}/versions/{vid}"),
            "raw_id": c.version.to_string(),
            "channel_group": c.channel_group,
            "available_upgrades": strings(available),
        });
        if full {
            version["available_channels"] = json!(c.available_channels);
        }
        let mut cluster = json!({
            "kind": "Cluster",
            "id": c.id,
            "href": href,
            "name": c.name,
            "display_name": c.name,
            "external_id": c.external_id,
            "creation_timestamp": rec.created_at.to_string(),
            "state": c.state,
            "managed": true,
            "openshift_version": c.version.to_string(),
            "product": {"kind": "ProductLink", "id": c.product.as_str(), "href": format!("{CS}/products/{}", c.product.as_str())},
            "cloud_provider": {"kind": "CloudProviderLink", "id": "aws", "href": format!("{CS}/cloud_providers/aws")},
            "region": {"kind": "CloudRegionLink", "id": "us-east-1", "href": format!("{CS}/cloud_providers/aws/regions/us-east-1")},
            "subscription": {"kind": "SubscriptionLink", "id": rec.subscription_id, "href": format!("{AMS}/subscriptions/{}", rec.subscription_id)},
            "identity_providers": {"kind": "IdentityProviderListLink", "href": format!("{href}/identity_providers")},
            "groups": {"kind": "GroupListLink", "href": format!("{href}/groups")},
            "hypershift": {"enabled": c.hypershift},
            "aws": {"sts": {"enabled": c.sts}},
            "version": version,
            "channel": c.channel,
            "api": {"url": format!("https://api.{domain}:6443"), "listening": "external"},
            "dns": {"base_domain": domain},
            "external_auth_config": {"enabled": c.auth.external_auth},
            "status": {"state": c.state, "dns_ready": true, "oidc_ready": true},
        });
        // A cluster without a console URL (still installing, or the scenario
        // says `console_url: null`) has no `console` object, as in OCM.
        if let Some(url) = &c.auth.console_url {
            cluster["console"] = json!({"url": url});
        }
        cluster
    }

    /// Every label, as `(search view, served JSON)`: the same JSON.
    pub fn rendered_labels(&mut self) -> Rendered {
        self.label_memo.render(
            self.labels.iter().map(|l| (l.id.as_str(), l, ())),
            |l, ()| same_json(World::label_json(l)),
        )
    }

    /// Every cluster as a list shows it; the search view adds
    /// `organization.id`.
    pub fn rendered_clusters(&mut self) -> Rendered {
        // Clusters on one version share their available upgrades.
        let mut upgrades = FxHashMap::default();
        let (releases, now) = (&self.releases, self.now);
        let objects = self.clusters.iter().map(|rec| {
            let c = &rec.cluster;
            let available = crate::world::memo_upgrades(releases, now, rec, &mut upgrades);
            (c.id.as_str(), rec, available)
        });
        self.cluster_memo.render(objects, |rec, available| {
            let served = World::render_cluster_with(rec, false, available);
            let mut view = served.clone();
            view["organization"] = json!({"id": rec.cluster.organization});
            (view, served)
        })
    }

    /// One cluster as a single GET shows it (with `available_channels`);
    /// the search view is unused.
    pub fn rendered_cluster(&mut self, id: &str) -> Result<RenderedItem, Rejection> {
        let rec = &self.clusters[self.cluster_index(id)?];
        let available = self.available_upgrades(rec);
        Ok(self
            .single_cluster_memo
            .one(id, rec, available, |rec, available| {
                (
                    Value::Null,
                    World::render_cluster_with(rec, true, available),
                )
            }))
    }

    /// Every subscription, without labels or capabilities.
    pub fn rendered_subscriptions(&mut self) -> Rendered {
        self.subscription_memo.render(
            self.clusters
                .iter()
                .map(|rec| (rec.subscription_id.as_str(), rec, ())),
            |rec, ()| same_json(World::subscription_json(rec)),
        )
    }

    pub fn render_node_pool(&self, rec: &ClusterRecord, index: usize) -> Value {
        let c = &rec.cluster;
        let pool = &c.node_pools[index];
        let vid = version_id(&pool.version, &c.channel_group);
        json!({
            "kind": "NodePool",
            "id": pool.id,
            "href": format!("{CS}/clusters/{}/node_pools/{}", c.id, pool.id),
            "replicas": 3,
            "subnet": "subnet-0123456789abcdef0",
            "aws_node_pool": {"instance_type": "m5.xlarge"},
            "version": {
                "kind": "Version",
                "id": vid,
                "href": format!("{CS}/versions/{vid}"),
                "raw_id": pool.version.to_string(),
                "channel_group": c.channel_group,
                "available_upgrades": strings(&self.node_pool_upgrades(rec, &pool.version)),
            },
            "status": {"current_replicas": 3},
        })
    }

    pub fn policy_href(rec: &PolicyRecord) -> String {
        match &rec.scope {
            PolicyScope::Classic => format!(
                "{CS}/clusters/{}/upgrade_policies/{}",
                rec.cluster_id, rec.policy.id
            ),
            PolicyScope::ControlPlane => format!(
                "{CS}/clusters/{}/control_plane/upgrade_policies/{}",
                rec.cluster_id, rec.policy.id
            ),
            PolicyScope::NodePool(np) => format!(
                "{CS}/clusters/{}/node_pools/{np}/upgrade_policies/{}",
                rec.cluster_id, rec.policy.id
            ),
        }
    }

    /// An upgrade policy. Classic policies carry no state (clients read
    /// `/state`); control-plane and node-pool policies embed it.
    pub fn render_policy(&self, rec: &PolicyRecord) -> Value {
        let p = &rec.policy;
        let kind = match rec.scope {
            PolicyScope::Classic => "UpgradePolicy",
            PolicyScope::ControlPlane => "ControlPlaneUpgradePolicy",
            PolicyScope::NodePool(_) => "NodePoolUpgradePolicy",
        };
        let mut v = json!({
            "kind": kind,
            "id": p.id,
            "href": World::policy_href(rec),
            "cluster_id": rec.cluster_id,
            "schedule_type": p.schedule_type.as_str(),
            "upgrade_type": rec.scope.upgrade_type(),
            "enable_minor_version_upgrades": rec.enable_minor_version_upgrades,
        });
        if let Some(version) = &p.version {
            v["version"] = json!(version.to_string());
        }
        if let Some(next_run) = p.next_run {
            v["next_run"] = json!(next_run.to_string());
        }
        if let Some(schedule) = &p.schedule {
            v["schedule"] = json!(schedule);
        }
        match &rec.scope {
            PolicyScope::Classic => {}
            PolicyScope::ControlPlane | PolicyScope::NodePool(_) => {
                if let PolicyScope::NodePool(np) = &rec.scope {
                    v["node_pool_id"] = json!(np);
                }
                v["creation_timestamp"] = json!(rec.created_at.to_string());
                v["last_update_timestamp"] = json!(rec.updated_at.to_string());
                v["state"] = json!({
                    "value": p.state.as_str(),
                    "description": rec.state_description(),
                });
            }
        }
        v
    }

    /// The classic `/state` sub-resource.
    pub fn render_policy_state(&self, rec: &PolicyRecord) -> Value {
        json!({
            "kind": "UpgradePolicyState",
            "id": rec.policy.id,
            "href": format!("{}/state", World::policy_href(rec)),
            "value": rec.policy.state.as_str(),
            "description": rec.state_description(),
        })
    }

    pub fn render_agreement(&self, rec: &AgreementRecord) -> Value {
        let gate = self
            .version_gates
            .iter()
            .find(|g| g.id == rec.gate_id)
            .map_or_else(
                || json!({"kind": "VersionGate", "id": rec.gate_id, "href": format!("{CS}/version_gates/{}", rec.gate_id)}),
                |g| self.render_gate(g),
            );
        json!({
            "kind": "VersionGateAgreement",
            "id": rec.id,
            "href": format!("{CS}/clusters/{}/gate_agreements/{}", rec.cluster_id, rec.id),
            "agreed_timestamp": rec.agreed_at.to_string(),
            "version_gate": gate,
        })
    }

    pub fn render_service_log(log: &ServiceLog) -> Value {
        json!({
            "kind": "ClusterLog",
            "id": log.id,
            "href": format!("{SL}/cluster_logs/{}", log.id),
            "cluster_uuid": log.cluster_uuid,
            "cluster_id": log.cluster_id,
            "subscription_id": log.subscription_id,
            "service_name": log.service_name,
            "summary": log.summary,
            "description": log.description,
            "severity": log.severity,
            "internal_only": log.internal_only,
            "log_type": log.log_type,
            "event_stream_id": log.event_stream_id,
            "username": log.username,
            "created_by": log.created_by,
            "timestamp": log.timestamp.to_string(),
            "created_at": log.created_at.to_string(),
            "doc_references": log.doc_references,
        })
    }
}
