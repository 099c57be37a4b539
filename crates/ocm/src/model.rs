//! Wire types for the OCM objects AUS reads and writes (`spec/ocm-api.md` §2–§3).
//!
//! Rules that hold for every type here:
//! * unknown fields are ignored (OCM adds fields all the time);
//! * every field OCM may omit is an `Option` or defaults to empty, so a sparse
//!   object (a link, a list item without `available_channels`) still decodes;
//! * versions stay strings, exactly as OCM sends them; the `*_version` helpers parse
//!   them into [`semver::Version`] and name the offending field when they cannot;
//! * enumerations OCM may extend keep unknown values verbatim in an `Other` variant
//!   instead of failing the whole response.

use jiff::Timestamp;
use semver::Version;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A version string from OCM that is not semver.
#[derive(Debug, thiserror::Error)]
#[error("OCM field `{field}` holds {value:?}, which is not a semantic version: {source}")]
pub struct VersionFieldError {
    /// Dotted path of the field, e.g. `version.raw_id`.
    pub field: String,
    pub value: String,
    #[source]
    pub source: semver::Error,
}

/// Parse a version field, naming the field in the error.
pub fn parse_version(field: &str, value: &str) -> Result<Version, VersionFieldError> {
    Version::parse(value).map_err(|source| VersionFieldError {
        field: field.to_owned(),
        value: value.to_owned(),
        source,
    })
}

/// Objects with an OCM id; used to de-duplicate results of chunked queries.
pub trait Identified {
    /// The object's id, if the server sent one.
    fn object_id(&self) -> Option<&str>;
}

/// `null` and a missing field both mean "empty" for OCM lists (§2.3).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The list envelope of every OCM collection (§2.3).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
pub struct Page<T> {
    #[serde(default)]
    pub kind: Option<String>,
    /// 1-based page index.
    #[serde(default, deserialize_with = "null_as_default")]
    pub page: u64,
    /// Number of items in this page (not the requested size).
    #[serde(default, deserialize_with = "null_as_default")]
    pub size: u64,
    /// Matching items across all pages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total: u64,
    /// Missing or `null` items decode as `[]`, as the reference treats them.
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub items: Vec<T>,
}

/// A reference to another object (`{"kind": "SubscriptionLink", "id", "href"}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct ObjectLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

impl ObjectLink {
    /// A link carrying only an id, as request bodies use it.
    pub fn with_id(id: impl Into<String>) -> Self {
        ObjectLink {
            kind: None,
            id: Some(id.into()),
            href: None,
        }
    }
}

/// Which kind of object a label belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub enum LabelType {
    Subscription,
    Organization,
    Account,
    /// A type this client does not know yet, kept verbatim.
    #[serde(untagged)]
    Other(String),
}

/// An AMS label (§5.2).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Label {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    pub key: String,
    /// Label values are always strings in OCM.
    #[serde(default)]
    pub value: String,
    #[serde(default, rename = "type")]
    pub label_type: Option<LabelType>,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub internal: Option<bool>,
    #[serde(default)]
    pub managed_by: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

impl Identified for Label {
    fn object_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// Body of a label create (POST) or update (PATCH), as the reference sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelWrite {
    pub kind: &'static str,
    pub key: String,
    pub value: String,
}

impl LabelWrite {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        LabelWrite {
            kind: "Label",
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A subscription or organization capability.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Capability {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub inherited: Option<bool>,
}

/// Subscription status; the reference treats `Active` and `Reserved` as live.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub enum SubscriptionStatus {
    Active,
    Reserved,
    Deprovisioned,
    Stale,
    Archived,
    Disconnected,
    #[serde(untagged)]
    Other(String),
}

/// An AMS subscription (E2).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Subscription {
    #[serde(default)]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// The CS cluster id.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The cluster UUID (= CS `external_id`).
    #[serde(default)]
    pub external_cluster_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub managed: Option<bool>,
    #[serde(default)]
    pub status: Option<SubscriptionStatus>,
    #[serde(default)]
    pub plan: Option<ObjectLink>,
    /// Present with `fetchLabels=true`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<Label>,
    /// Present with `fetchCapabilities=true`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub capabilities: Vec<Capability>,
}

impl Identified for Subscription {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// An AMS organization (E5).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Organization {
    #[serde(default)]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub ebs_account_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<Label>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub capabilities: Vec<Capability>,
}

impl Identified for Organization {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// The caller's account (`GET AMS/current_account`): who the token belongs to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Account {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub organization: Option<Organization>,
}

/// OCM cluster state. The reference's enum lacks `updating`, so unknown states are
/// kept rather than rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    Error,
    Hibernating,
    Installing,
    Pending,
    PoweringDown,
    Ready,
    Resuming,
    Uninstalling,
    Unknown,
    Updating,
    Validating,
    Waiting,
    #[serde(untagged)]
    Other(String),
}

/// The `version` object of a cluster or node pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct VersionInfo {
    #[serde(default)]
    pub kind: Option<String>,
    /// `openshift-v<raw_id>[-<group>]`.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    /// The plain version, e.g. `4.16.10`.
    #[serde(default)]
    pub raw_id: Option<String>,
    #[serde(default)]
    pub channel_group: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub available_upgrades: Vec<String>,
    /// Only on single-cluster GETs (E8); list responses omit it, hence `None`
    /// rather than an empty list.
    #[serde(default)]
    pub available_channels: Option<Vec<String>>,
    #[serde(default)]
    pub end_of_life_timestamp: Option<Timestamp>,
}

impl VersionInfo {
    /// `raw_id` as semver; `prefix` names the owning field in errors (e.g. `version`).
    pub fn raw_version(&self, prefix: &str) -> Result<Version, VersionFieldError> {
        let field = format!("{prefix}.raw_id");
        match &self.raw_id {
            Some(raw) => parse_version(&field, raw),
            None => parse_version(&field, ""),
        }
    }

    /// `available_upgrades` as semver, in OCM's order.
    pub fn upgrade_versions(&self, prefix: &str) -> Result<Vec<Version>, VersionFieldError> {
        self.available_upgrades
            .iter()
            .enumerate()
            .map(|(i, v)| parse_version(&format!("{prefix}.available_upgrades[{i}]"), v))
            .collect()
    }
}

/// `{"enabled": bool}` sub-objects (`hypershift`, `aws.sts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct Enabled {
    #[serde(default)]
    pub enabled: bool,
}

/// The `aws` section of a cluster; only STS matters to AUS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct AwsInfo {
    #[serde(default)]
    pub sts: Option<Enabled>,
}

/// A CS cluster (E7/E8).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Cluster {
    #[serde(default)]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The cluster UUID (service logs use it as `cluster_uuid`).
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub creation_timestamp: Option<Timestamp>,
    #[serde(default)]
    pub state: Option<ClusterState>,
    #[serde(default)]
    pub managed: Option<bool>,
    #[serde(default)]
    pub openshift_version: Option<String>,
    #[serde(default)]
    pub product: Option<ObjectLink>,
    #[serde(default)]
    pub cloud_provider: Option<ObjectLink>,
    #[serde(default)]
    pub region: Option<ObjectLink>,
    #[serde(default)]
    pub subscription: Option<ObjectLink>,
    #[serde(default)]
    pub hypershift: Option<Enabled>,
    #[serde(default)]
    pub aws: Option<AwsInfo>,
    #[serde(default)]
    pub version: Option<VersionInfo>,
    /// Y-stream channel, e.g. `stable-4.16`; legacy clusters may show a bare group.
    #[serde(default)]
    pub channel: Option<String>,
    /// The web console (absent while the cluster installs).
    #[serde(default)]
    pub console: Option<Console>,
    /// External authentication (OIDC configured on the cluster itself): such a
    /// cluster cannot get identity providers.
    #[serde(default)]
    pub external_auth_config: Option<Enabled>,
}

/// A cluster's `console` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct Console {
    #[serde(default)]
    pub url: Option<String>,
}

impl Identified for Cluster {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl Cluster {
    /// `product.id`, e.g. `osd` or `rosa`.
    pub fn product_id(&self) -> Option<&str> {
        self.product.as_ref().and_then(|p| p.id.as_deref())
    }

    /// The AMS subscription id this cluster belongs to.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription.as_ref().and_then(|s| s.id.as_deref())
    }

    /// ROSA with a hosted control plane: `product.id == rosa && hypershift.enabled`.
    pub fn is_hcp(&self) -> bool {
        self.product_id() == Some("rosa") && self.hypershift.is_some_and(|h| h.enabled)
    }

    /// `aws.sts.enabled`.
    pub fn is_sts(&self) -> bool {
        self.aws
            .as_ref()
            .and_then(|a| a.sts)
            .is_some_and(|s| s.enabled)
    }

    /// The control-plane version (`version.raw_id`) as semver.
    pub fn raw_version(&self) -> Result<Version, VersionFieldError> {
        self.version.as_ref().map_or_else(
            || parse_version("version.raw_id", ""),
            |v| v.raw_version("version"),
        )
    }

    /// `version.available_upgrades` as semver.
    pub fn available_upgrades(&self) -> Result<Vec<Version>, VersionFieldError> {
        self.version
            .as_ref()
            .map_or_else(|| Ok(Vec::new()), |v| v.upgrade_versions("version"))
    }
}

/// Body of `PATCH CS/clusters/{id}` for a channel switch (E9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterChannelPatch {
    pub channel: String,
}

/// An identity provider of a cluster as OCM lists it (E16). `OpenID` providers
/// are read whole; of the other types only `type`, `name` and `id` matter
/// (rhidp I47). OCM never returns the client secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdentityProvider {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    /// `OpenIDIdentityProvider`, `GithubIdentityProvider`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub mapping_method: Option<String>,
    #[serde(default)]
    pub open_id: Option<OpenIdRead>,
}

impl Identified for IdentityProvider {
    fn object_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// The identity-provider type this crate writes.
pub const OPENID_IDENTITY_PROVIDER: &str = "OpenIDIdentityProvider";

/// The `open_id` block of a listed identity provider (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct OpenIdRead {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub claims: Option<OpenIdClaimsRead>,
}

/// Listed claims: a list OCM leaves out is `None`, so that readers can apply
/// their defaults (rhidp I47) instead of reading it as empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct OpenIdClaimsRead {
    #[serde(default)]
    pub email: Option<Vec<String>>,
    #[serde(default)]
    pub name: Option<Vec<String>>,
    #[serde(default)]
    pub preferred_username: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// Which OIDC claims OpenShift reads the user from (E16).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct OpenIdClaims {
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub name: Vec<String>,
    #[serde(default)]
    pub preferred_username: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The `open_id` block of a create or update body: with the client secret,
/// which `Debug` redacts ([`crate::Secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenIdWrite {
    pub client_id: String,
    pub client_secret: crate::auth::Secret,
    pub issuer: String,
    pub claims: OpenIdClaims,
}

/// Body of `POST CS/clusters/{id}/identity_providers` for an `OpenID` provider
/// (E16, rhidp I22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewIdentityProvider {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub mapping_method: String,
    pub open_id: OpenIdWrite,
}

/// Body of `PATCH CS/clusters/{id}/identity_providers/{idp}`: the create body
/// without `name`, which OCM treats as immutable (rhidp I53).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityProviderPatch {
    #[serde(rename = "type")]
    pub kind: String,
    pub mapping_method: String,
    pub open_id: OpenIdWrite,
}

impl From<&NewIdentityProvider> for IdentityProviderPatch {
    fn from(new: &NewIdentityProvider) -> Self {
        IdentityProviderPatch {
            kind: new.kind.clone(),
            mapping_method: new.mapping_method.clone(),
            open_id: new.open_id.clone(),
        }
    }
}

/// A ROSA HCP node pool (E10).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct NodePool {
    #[serde(default)]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub replicas: Option<u64>,
    #[serde(default)]
    pub version: Option<VersionInfo>,
}

impl Identified for NodePool {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl NodePool {
    /// `version.raw_id` as semver.
    pub fn raw_version(&self) -> Result<Version, VersionFieldError> {
        self.version.as_ref().map_or_else(
            || parse_version("node_pool.version.raw_id", ""),
            |v| v.raw_version("node_pool.version"),
        )
    }
}

/// How an upgrade policy recurs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleType {
    /// One-shot at `next_run`.
    Manual,
    /// Recurring per cron `schedule`; OCM picks the version.
    Automatic,
    #[serde(untagged)]
    Other(String),
}

/// Which upgrade a policy performs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub enum UpgradeType {
    #[serde(rename = "OSD")]
    Osd,
    #[serde(rename = "ADDON")]
    Addon,
    ControlPlane,
    #[serde(rename = "ControlPlaneCVE")]
    ControlPlaneCve,
    NodePool,
    #[serde(untagged)]
    Other(String),
}

/// Upgrade policy state value (§E11).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyStateValue {
    Pending,
    Scheduled,
    Started,
    Delayed,
    Failed,
    Cancelled,
    Completed,
    #[serde(untagged)]
    Other(String),
}

impl PolicyStateValue {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            PolicyStateValue::Pending => "pending",
            PolicyStateValue::Scheduled => "scheduled",
            PolicyStateValue::Started => "started",
            PolicyStateValue::Delayed => "delayed",
            PolicyStateValue::Failed => "failed",
            PolicyStateValue::Cancelled => "cancelled",
            PolicyStateValue::Completed => "completed",
            PolicyStateValue::Other(s) => s,
        }
    }
}

/// `UpgradePolicyState`: served by `/state` for classic policies, inline otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct UpgradePolicyState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    pub value: PolicyStateValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An upgrade policy: classic (E11), control plane (E12) or node pool (E13).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct UpgradePolicy {
    #[serde(default)]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Node-pool policies only.
    #[serde(default)]
    pub node_pool_id: Option<String>,
    #[serde(default)]
    pub schedule_type: Option<ScheduleType>,
    /// Cron of an `automatic` policy.
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub upgrade_type: Option<UpgradeType>,
    /// Raw target version (no `openshift-v` prefix); `automatic` policies may omit it.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub next_run: Option<Timestamp>,
    #[serde(default)]
    pub enable_minor_version_upgrades: Option<bool>,
    #[serde(default)]
    pub creation_timestamp: Option<Timestamp>,
    #[serde(default)]
    pub last_update_timestamp: Option<Timestamp>,
    /// Inline for control-plane and node-pool policies; classic policies need `/state`.
    #[serde(default)]
    pub state: Option<UpgradePolicyState>,
}

impl Identified for UpgradePolicy {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl UpgradePolicy {
    /// The target version as semver (`None` when the policy names none).
    pub fn target_version(&self) -> Result<Option<Version>, VersionFieldError> {
        self.version
            .as_deref()
            .map(|v| parse_version("upgrade_policy.version", v))
            .transpose()
    }
}

/// `next_run` as AUS sends it: `YYYY-MM-DDTHH:MM:SSZ`, whole seconds.
#[allow(clippy::ref_option)] // serde's `serialize_with` hands us `&Option<_>`
fn serialize_next_run<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => s.serialize_none(),
    }
}

/// Body of an upgrade policy create, for all three collections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewUpgradePolicy {
    pub version: String,
    pub schedule_type: ScheduleType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_type: Option<UpgradeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_next_run"
    )]
    pub next_run: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl NewUpgradePolicy {
    /// A classic cluster's manual policy, the body AUS sends (E11).
    pub fn classic(version: &Version, next_run: Timestamp) -> Self {
        NewUpgradePolicy {
            version: version.to_string(),
            schedule_type: ScheduleType::Manual,
            upgrade_type: None,
            cluster_id: None,
            next_run: Some(next_run),
            schedule: None,
        }
    }

    /// A ROSA HCP control-plane manual policy (E12).
    pub fn control_plane(cluster_id: &str, version: &Version, next_run: Timestamp) -> Self {
        NewUpgradePolicy {
            version: version.to_string(),
            schedule_type: ScheduleType::Manual,
            upgrade_type: Some(UpgradeType::ControlPlane),
            cluster_id: Some(cluster_id.to_owned()),
            next_run: Some(next_run),
            schedule: None,
        }
    }

    /// A ROSA HCP node-pool manual policy (E13).
    pub fn node_pool(cluster_id: &str, version: &Version, next_run: Timestamp) -> Self {
        NewUpgradePolicy {
            version: version.to_string(),
            schedule_type: ScheduleType::Manual,
            upgrade_type: Some(UpgradeType::NodePool),
            cluster_id: Some(cluster_id.to_owned()),
            next_run: Some(next_run),
            schedule: None,
        }
    }
}

/// An add-on of the catalogue (D: `GET ADD/addons`): its id and latest version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Addon {
    pub id: String,
    /// `version.id`: the latest version the catalogue offers.
    #[serde(default)]
    pub version: Option<ObjectLink>,
}

impl Identified for Addon {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl Addon {
    /// The latest version as semver (`None` when the catalogue names none).
    pub fn latest_version(&self) -> Result<Option<Version>, VersionFieldError> {
        self.version
            .as_ref()
            .and_then(|l| l.id.as_deref())
            .map(|v| parse_version("addon.version.id", v))
            .transpose()
    }
}

/// An add-on installed on a cluster (D: `GET ADD/clusters/{id}/addons`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AddonInstallation {
    pub id: String,
    #[serde(default)]
    pub addon: Option<ObjectLink>,
    #[serde(default)]
    pub addon_version: Option<ObjectLink>,
    /// `deleting`, `failed`, `installing`, `pending` or `ready`.
    #[serde(default)]
    pub state: Option<String>,
}

impl Identified for AddonInstallation {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl AddonInstallation {
    /// The add-on's id: `addon.id`, else the installation's id (OCM names an
    /// installation after its add-on).
    pub fn addon_id(&self) -> &str {
        self.addon
            .as_ref()
            .and_then(|l| l.id.as_deref())
            .unwrap_or(&self.id)
    }

    /// The installed version as semver.
    pub fn installed_version(&self) -> Result<Option<Version>, VersionFieldError> {
        self.addon_version
            .as_ref()
            .and_then(|l| l.id.as_deref())
            .map(|v| parse_version("addon_installation.addon_version.id", v))
            .transpose()
    }
}

/// An add-on upgrade plan of the add-on service v2 (D: `upgrade_plans`).
/// Shapes come only from the reference (the public model lacks them): every
/// field but the id is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AddonUpgradePlan {
    pub id: String,
    #[serde(default)]
    pub addon_id: Option<String>,
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// `manual` or `automatic`.
    #[serde(default, rename = "type")]
    pub schedule_type: Option<ScheduleType>,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub next_run: Option<Timestamp>,
    #[serde(default)]
    pub version: Option<String>,
    /// A plain string here (`scheduled`, `completed`, ...).
    #[serde(default)]
    pub state: Option<PolicyStateValue>,
}

impl Identified for AddonUpgradePlan {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl AddonUpgradePlan {
    /// The target version as semver (`None` when the plan names none).
    pub fn target_version(&self) -> Result<Option<Version>, VersionFieldError> {
        self.version
            .as_deref()
            .map(|v| parse_version("upgrade_plan.version", v))
            .transpose()
    }
}

/// Body of an add-on upgrade plan create (R116, v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAddonUpgradePlan {
    pub version: String,
    #[serde(rename = "type")]
    pub schedule_type: ScheduleType,
    pub addon_id: String,
    pub cluster_id: String,
    #[serde(serialize_with = "serialize_next_run")]
    pub next_run: Option<Timestamp>,
}

impl NewAddonUpgradePlan {
    /// The manual plan AUS sends (R116).
    pub fn manual(
        cluster_id: &str,
        addon_id: &str,
        version: &Version,
        next_run: Timestamp,
    ) -> Self {
        NewAddonUpgradePlan {
            version: version.to_string(),
            schedule_type: ScheduleType::Manual,
            addon_id: addon_id.to_owned(),
            cluster_id: cluster_id.to_owned(),
            next_run: Some(next_run),
        }
    }
}

/// A CS version gate (E14).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct VersionGate {
    #[serde(default)]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    /// `major.minor` the gate guards, e.g. `4.13`.
    pub version_raw_id_prefix: String,
    /// e.g. `api.openshift.com/gate-ocp`.
    pub label: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sts_only: bool,
    #[serde(default)]
    pub cluster_condition: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub warning_message: Option<String>,
    #[serde(default)]
    pub creation_timestamp: Option<Timestamp>,
}

impl Identified for VersionGate {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// The gate an agreement refers to: a link or a full gate, depending on OCM (§9.8),
/// so everything but `id` is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct VersionGateRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_raw_id_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_only: Option<bool>,
}

impl VersionGateRef {
    /// A bare reference, as the create body needs it.
    pub fn with_id(id: impl Into<String>) -> Self {
        VersionGateRef {
            kind: None,
            id: id.into(),
            href: None,
            version_raw_id_prefix: None,
            label: None,
            sts_only: None,
        }
    }
}

/// A cluster's agreement to a version gate (E15).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct VersionGateAgreement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreed_timestamp: Option<Timestamp>,
    pub version_gate: VersionGateRef,
}

impl Identified for VersionGateAgreement {
    fn object_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// An `OpenShift` version as CS lists it (E18): the simulator's and diagnostics'
/// view of the upgrade graph.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ReleaseVersion {
    #[serde(default)]
    pub kind: Option<String>,
    /// e.g. `openshift-v4.16.10`.
    pub id: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub raw_id: Option<String>,
    #[serde(default)]
    pub channel_group: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub available_upgrades: Vec<String>,
    #[serde(default)]
    pub available_channels: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub rosa_enabled: Option<bool>,
    #[serde(default)]
    pub hosted_control_plane_enabled: Option<bool>,
    #[serde(default)]
    pub end_of_life_timestamp: Option<Timestamp>,
    #[serde(default)]
    pub release_image: Option<String>,
}

impl Identified for ReleaseVersion {
    fn object_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl ReleaseVersion {
    /// `raw_id` as semver.
    pub fn raw_version(&self) -> Result<Version, VersionFieldError> {
        parse_version("raw_id", self.raw_id.as_deref().unwrap_or_default())
    }
}

/// Service log severity (E19).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub enum Severity {
    Debug,
    Info,
    Low,
    Moderate,
    Warning,
    Important,
    Major,
    Error,
    Critical,
    Fatal,
    #[serde(untagged)]
    Other(String),
}

/// A cluster service log entry (E19/E20).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ClusterLog {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    /// The cluster's `external_id`, not its CS id.
    #[serde(default)]
    pub cluster_uuid: Option<String>,
    #[serde(default)]
    pub cluster_id: Option<String>,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub internal_only: Option<bool>,
    #[serde(default)]
    pub log_type: Option<String>,
    #[serde(default)]
    pub event_stream_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub doc_references: Vec<String>,
}

impl Identified for ClusterLog {
    fn object_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// Body of a service log create (E19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewClusterLog {
    pub cluster_uuid: String,
    pub service_name: String,
    pub summary: String,
    pub description: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub doc_references: Vec<String>,
}

/// `id` is a string in real responses but an integer in the `OpenAPI` file (§2.8).
fn string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Str(String),
        Int(i64),
        Float(f64),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|raw| match raw {
        Raw::Str(s) => s,
        Raw::Int(i) => i.to_string(),
        Raw::Float(f) => f.to_string(),
    }))
}

/// The OCM error body (§2.8), shared by all services.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "string_or_integer")]
    pub id: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    /// e.g. `CLUSTERS-MGMT-400`.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Per-request UUID; worth quoting to OCM support.
    #[serde(default)]
    pub operation_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Array or object; for missing gate agreements, a list of gate-like objects.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_treats_missing_and_null_items_as_empty() {
        let p: Page<Label> =
            serde_json::from_str(r#"{"kind":"LabelList","page":1,"size":0,"total":0}"#).unwrap();
        assert!(p.items.is_empty());
        let p: Page<Label> = serde_json::from_str(r#"{"page":1,"items":null}"#).unwrap();
        assert!(p.items.is_empty());
        assert_eq!(p.total, 0);
    }

    #[test]
    fn cluster_from_spec_example_decodes_and_ignores_unknown_fields() {
        let json = r#"{
          "kind": "Cluster", "id": "2a1b", "name": "prod-eu-1",
          "external_id": "0f3a", "creation_timestamp": "2023-11-02T08:10:00.71918Z",
          "state": "ready", "managed": true,
          "product": {"kind": "ProductLink", "id": "rosa"},
          "subscription": {"kind": "SubscriptionLink", "id": "sub-1", "href": "/x"},
          "hypershift": {"enabled": true},
          "aws": {"sts": {"enabled": true, "role_arn": "arn"}},
          "version": {"id": "openshift-v4.16.10", "raw_id": "4.16.10", "channel_group": "stable",
                      "available_upgrades": ["4.16.11", "4.17.3"]},
          "channel": "stable-4.16",
          "console": {"url": "https://console"},
          "something_new": [1, 2, 3]
        }"#;
        let c: Cluster = serde_json::from_str(json).unwrap();
        assert!(c.is_hcp());
        assert!(c.is_sts());
        assert_eq!(c.subscription_id(), Some("sub-1"));
        assert_eq!(c.state, Some(ClusterState::Ready));
        assert_eq!(c.raw_version().unwrap(), Version::new(4, 16, 10));
        assert_eq!(
            c.available_upgrades().unwrap(),
            vec![Version::new(4, 16, 11), Version::new(4, 17, 3)]
        );
        // List responses omit available_channels: that must stay distinguishable.
        assert_eq!(c.version.unwrap().available_channels, None);
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let c: Cluster = serde_json::from_str(r#"{"id":"c","state":"frozen"}"#).unwrap();
        assert_eq!(c.state, Some(ClusterState::Other("frozen".into())));
        let s: UpgradePolicyState = serde_json::from_str(r#"{"value":"paused"}"#).unwrap();
        assert_eq!(s.value, PolicyStateValue::Other("paused".into()));
        assert_eq!(s.value.as_str(), "paused");
    }

    #[test]
    fn bad_version_error_names_the_field() {
        let c: Cluster = serde_json::from_str(
            r#"{"id":"c","version":{"raw_id":"4.16.1","available_upgrades":["4.16.2","nope"]}}"#,
        )
        .unwrap();
        let err = c.available_upgrades().unwrap_err();
        assert_eq!(err.field, "version.available_upgrades[1]");
        assert!(err.to_string().contains("\"nope\""), "{err}");
        let c: Cluster = serde_json::from_str(r#"{"id":"c"}"#).unwrap();
        assert_eq!(c.raw_version().unwrap_err().field, "version.raw_id");
    }

    #[test]
    fn error_body_accepts_string_or_integer_id() {
        let e: ApiErrorBody = serde_json::from_str(
            r#"{"kind":"Error","id":"400","code":"CLUSTERS-MGMT-400","reason":"bad","operation_id":"op","details":[]}"#,
        )
        .unwrap();
        assert_eq!(e.id.as_deref(), Some("400"));
        let e: ApiErrorBody = serde_json::from_str(r#"{"kind":"Error","id":7}"#).unwrap();
        assert_eq!(e.id.as_deref(), Some("7"));
    }

    #[test]
    fn upgrade_policy_bodies_match_what_aus_sends() {
        let next_run: Timestamp = "2024-05-01T10:06:00.123Z".parse().unwrap();
        let v = Version::new(4, 16, 12);
        let classic = serde_json::to_value(NewUpgradePolicy::classic(&v, next_run)).unwrap();
        assert_eq!(
            classic,
            serde_json::json!({"version": "4.16.12", "schedule_type": "manual",
                               "next_run": "2024-05-01T10:06:00Z"})
        );
        let cp = serde_json::to_value(NewUpgradePolicy::control_plane("2b", &v, next_run)).unwrap();
        assert_eq!(
            cp,
            serde_json::json!({"version": "4.16.12", "schedule_type": "manual",
                               "upgrade_type": "ControlPlane", "cluster_id": "2b",
                               "next_run": "2024-05-01T10:06:00Z"})
        );
        let np = serde_json::to_value(NewUpgradePolicy::node_pool("2b", &v, next_run)).unwrap();
        assert_eq!(np["upgrade_type"], "NodePool");
    }

    #[test]
    fn control_plane_policy_has_inline_state() {
        let p: UpgradePolicy = serde_json::from_str(
            r#"{"kind":"ControlPlaneUpgradePolicy","id":"7d","cluster_id":"2b",
                "schedule_type":"manual","upgrade_type":"ControlPlane","version":"4.16.12",
                "next_run":"2024-05-01T10:06:00Z","state":{"value":"scheduled","description":"x"}}"#,
        )
        .unwrap();
        assert_eq!(p.upgrade_type, Some(UpgradeType::ControlPlane));
        assert_eq!(p.state.as_ref().unwrap().value, PolicyStateValue::Scheduled);
        assert_eq!(p.target_version().unwrap(), Some(Version::new(4, 16, 12)));
    }

    #[test]
    fn agreement_accepts_a_gate_link() {
        let a: VersionGateAgreement = serde_json::from_str(
            r#"{"kind":"VersionGateAgreement","id":"a1","version_gate":{"kind":"VersionGate","id":"g1","href":"/g1"}}"#,
        )
        .unwrap();
        assert_eq!(a.version_gate.id, "g1");
        assert_eq!(a.version_gate.label, None);
    }

    #[test]
    fn label_types_decode() {
        let l: Label = serde_json::from_str(
            r#"{"kind":"Label","id":"l","key":"k","value":"v","type":"Organization","organization_id":"o"}"#,
        )
        .unwrap();
        assert_eq!(l.label_type, Some(LabelType::Organization));
        assert_eq!(
            serde_json::to_value(LabelWrite::new("k", "v")).unwrap(),
            serde_json::json!({"kind":"Label","key":"k","value":"v"})
        );
    }
}
