//! The output of planning: the JSON contract of `srecap aus plan` (`spec/scenario.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Serialize, Serializer};
use srecap_fleet::VersionData;

/// The plan for a whole fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetPlan {
    #[serde(serialize_with = "rfc3339")]
    pub now: Timestamp,
    /// Every organization with a discovered AUS cluster, sorted by id.
    pub organizations: Vec<OrgPlan>,
}

/// The plan for one organization.
#[derive(Debug, Clone, Serialize)]
pub struct OrgPlan {
    pub org_id: String,
    pub validation_errors: ValidationErrors,
    /// Upgrade policies in decision order, then channel switches (R7, R93).
    pub actions: Vec<Action>,
    /// One entry per cluster without an action.
    pub clusters: Vec<Explanation>,
    /// The organization's own history after this pass's update (unchanged when the
    /// organization has validation errors, R75).
    pub version_data: VersionData,
    /// Facts the reconciler needs besides the actions (metrics, persistence).
    #[serde(skip)]
    pub details: OrgDetails,
    /// Configurations that are valid but probably not meant (issue 15 item 12).
    /// Informational, never blocking, and not part of the `aus plan` contract:
    /// the reconciler sends them as service logs of severity Info.
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// A valid configuration that silently does less than its owners probably
/// think. Never blocks anything: the organization is planned as usual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// `sector` depends on `dependency`, which no valid cluster is in, so the
    /// dependency never holds it back (R89 skips empty sectors); often a typo
    /// (`stagee` for `stage`).
    EmptyDependency { sector: String, dependency: String },
    /// A `sector-max-parallel-upgrades.<sector>` label for a sector that no
    /// `sector-deps` label declares: ignored (R33).
    UndeclaredLimit { sector: String },
    /// A max-parallel percentage above 100 %: more parallel upgrades than the
    /// sector has clusters, so it limits nothing.
    LimitOver100 { sector: String, percent: u64 },
    /// A verified inheritance source has no stored history yet (it has not been
    /// reconciled, or not in this environment): until it has, it adds no soak
    /// days, and the organization is planned on its own soak days only (R44,
    /// R70–R73).
    SourceWithoutHistory { environment: String, source: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DEPS: &str = "sre-capabilities.aus.sector-deps.";
        const LIMIT: &str = "sre-capabilities.aus.sector-max-parallel-upgrades.";
        match self {
            Warning::EmptyDependency { sector, dependency } => write!(
                f,
                "label {DEPS}{sector}: sector {sector} depends on sector {dependency}, which no cluster is in, so it never waits for it; check the name"
            ),
            Warning::UndeclaredLimit { sector } => write!(
                f,
                "label {LIMIT}{sector}: sector {sector} is not declared by any {DEPS}<name> label, so this limit is ignored"
            ),
            Warning::LimitOver100 { sector, percent } => write!(
                f,
                "label {LIMIT}{sector}: {percent}% allows more parallel upgrades than sector {sector} has clusters, so it limits nothing"
            ),
            Warning::SourceWithoutHistory {
                environment,
                source,
            } => write!(
                f,
                "label sre-capabilities.aus.version-data.inherit: organization {source} ({environment}) has no stored version data yet, so it adds no soak days until AUS has reconciled it"
            ),
        }
    }
}

impl OrgPlan {
    pub fn has_validation_errors(&self) -> bool {
        !self.validation_errors.is_empty()
    }
}

/// Data of a pass that is not part of the plan contract.
#[derive(Debug, Clone, Default)]
pub struct OrgDetails {
    pub org_name: String,
    /// Whether `version_data` was updated and must be saved (false when frozen).
    pub history_updated: bool,
    /// Valid clusters, in processing order.
    pub valid_clusters: Vec<ValidCluster>,
    /// Clusters held back by missing gate agreements (R92 (b)).
    pub missing_gates: Vec<MissingGates>,
    /// Remaining soak days per cluster and version (R126), before this pass's actions.
    pub remaining_soak_days: RemainingSoakDays,
    /// Every cluster that came to a channel-switch decision (R100), in
    /// decision order, so that [`crate::facts::complete_channels`] can finish
    /// the plan once their channels are read instead of planning again.
    /// `None` when the plan cannot say (frozen, validation only).
    pub channel_decisions: Option<Vec<ChannelDecision>>,
}

/// A cluster that got no version for a schedule or version reason, and so may
/// switch channel instead (R100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelDecision {
    /// Its position among the planned clusters (discovery order).
    pub position: usize,
    /// Its entry in [`OrgPlan::clusters`] when it was left alone; `None` when it
    /// switches (its action is among the plan's channel switches, which follow
    /// the same decision order).
    pub explanation: Option<usize>,
}

/// A cluster whose labels are valid: what the info metric shows (§15).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCluster {
    pub cluster_id: String,
    pub external_id: String,
    pub name: String,
    pub channel: String,
    /// Oldest of control plane and node pools (R79).
    pub current_version: semver::Version,
    pub schedule: srecap_labels::CronSchedule,
    pub sector: String,
    pub mutexes: Arc<[String]>,
    pub soak_days: u64,
    pub workloads: Arc<[String]>,
    pub product: String,
    pub hypershift: bool,
    pub healthy: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MissingGates {
    pub cluster_id: String,
    pub external_id: String,
    pub version_prefix: String,
    pub gates: Vec<String>,
    /// [`Reason::VersionGate`] (the approver takes them) or
    /// [`Reason::MissingGateAgreement`] (only the owners can agree).
    pub reason: Reason,
    /// The cluster's explanation, as its owners are told (R122 compares it).
    pub detail: String,
}

/// One row of [`RemainingSoakDays`]: remaining soak days of a cluster for one
/// of its available versions (R126).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemainingSoak<'a> {
    pub external_id: &'a str,
    pub version: &'a str,
    /// Days left, or a marker: -1 scheduled, -2 started, -3 started >= 6 h ago,
    /// -4 blocked.
    pub value: f64,
}

/// The remaining-soak rows of a plan (R126), grouped by cluster, each
/// cluster's rows by ascending version. Stored as a version table, the
/// clusters' external ids in one string and rows of (version id, value): a
/// row per cluster and available version (hundreds of thousands late in a
/// year) held two shared strings each, whose reference counts were a third
/// of the decision loop's time, and freeing them a good part of dropping a
/// plan. [`RemainingSoakDays::iter`] gives the rows.
#[derive(Clone, Default)]
pub struct RemainingSoakDays {
    /// Version strings by id (the planner's dense version ids).
    versions: Vec<Arc<str>>,
    /// Every cluster's external id, one after the other.
    external_ids: String,
    /// Per cluster with rows: the end of its external id in `external_ids` and
    /// the end of its rows in `rows`.
    clusters: Vec<(usize, usize)>,
    /// (version id, value).
    rows: Vec<(usize, f64)>,
}

impl RemainingSoakDays {
    /// The rows, cluster by cluster.
    pub fn iter(&self) -> impl Iterator<Item = RemainingSoak<'_>> + Clone {
        let mut id_start = 0;
        let mut row_start = 0;
        self.clusters.iter().flat_map(move |&(id_end, row_end)| {
            let external_id = &self.external_ids[id_start..id_end];
            let rows = &self.rows[row_start..row_end];
            (id_start, row_start) = (id_end, row_end);
            rows.iter().map(move |&(version, value)| RemainingSoak {
                external_id,
                version: &self.versions[version],
                value,
            })
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, to append the next cluster's to, then
    /// [`RemainingSoakDays::end_cluster`].
    pub(crate) fn rows_mut(&mut self) -> &mut Vec<(usize, f64)> {
        &mut self.rows
    }

    /// The rows appended since the last call are `external_id`'s; a cluster
    /// without rows is not stored.
    pub(crate) fn end_cluster(&mut self, external_id: &str) {
        if self.clusters.last().map_or(0, |c| c.1) < self.rows.len() {
            self.external_ids.push_str(external_id);
            self.clusters
                .push((self.external_ids.len(), self.rows.len()));
        }
    }

    /// The version strings by id the rows refer to.
    pub(crate) fn set_versions(&mut self, versions: Vec<Arc<str>>) {
        self.versions = versions;
    }
}

impl<'a> IntoIterator for &'a RemainingSoakDays {
    type Item = RemainingSoak<'a>;
    type IntoIter = Box<dyn Iterator<Item = RemainingSoak<'a>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Equal rows, whatever their version ids.
impl PartialEq for RemainingSoakDays {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// As the list of rows it was before rows were grouped: the same text.
impl fmt::Debug for RemainingSoakDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Validation errors of an organization (R51).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidationErrors {
    pub organization: Vec<String>,
    /// Cluster external id -> messages.
    pub clusters: BTreeMap<String, Vec<String>>,
}

impl ValidationErrors {
    pub fn is_empty(&self) -> bool {
        self.organization.is_empty() && self.clusters.is_empty()
    }

    /// R51: clusters with errors plus organization errors.
    pub fn count(&self) -> usize {
        self.organization.len() + self.clusters.len()
    }
}

/// Something AUS creates or changes in OCM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// A classic cluster upgrade policy.
    UpgradePolicy {
        cluster: String,
        cluster_id: String,
        version: semver::Version,
        #[serde(serialize_with = "rfc3339")]
        next_run: Timestamp,
    },
    /// A ROSA HCP control-plane upgrade policy.
    ControlPlaneUpgradePolicy {
        cluster: String,
        cluster_id: String,
        version: semver::Version,
        #[serde(serialize_with = "rfc3339")]
        next_run: Timestamp,
    },
    /// A ROSA HCP node-pool upgrade policy.
    NodePoolUpgradePolicy {
        cluster: String,
        cluster_id: String,
        node_pool: String,
        version: semver::Version,
        #[serde(serialize_with = "rfc3339")]
        next_run: Timestamp,
    },
    /// A y-stream channel switch.
    ChannelSwitch {
        cluster: String,
        cluster_id: String,
        from_channel: String,
        to_channel: String,
    },
}

impl Action {
    /// A y-stream channel switch of `cluster` to `to_channel` (R103). The
    /// planner and [`crate::facts::complete_channels`] build it here so that
    /// completing a plan gives the action planning again would.
    pub fn channel_switch(cluster: &srecap_fleet::Cluster, to_channel: String) -> Action {
        Action::ChannelSwitch {
            cluster: cluster.name.clone(),
            cluster_id: cluster.id.clone(),
            from_channel: cluster.channel.clone(),
            to_channel,
        }
    }

    /// The cluster-level upgrade policy for `cluster`: a control-plane policy for
    /// ROSA HCP, a classic one otherwise (R87). The planner and `explain` build
    /// their actions here so they cannot disagree on the kind.
    pub fn cluster_upgrade(
        cluster: &srecap_fleet::Cluster,
        version: semver::Version,
        next_run: Timestamp,
    ) -> Action {
        let (cluster_name, cluster_id) = (cluster.name.clone(), cluster.id.clone());
        if cluster.is_hcp() {
            Action::ControlPlaneUpgradePolicy {
                cluster: cluster_name,
                cluster_id,
                version,
                next_run,
            }
        } else {
            Action::UpgradePolicy {
                cluster: cluster_name,
                cluster_id,
                version,
                next_run,
            }
        }
    }

    pub fn cluster(&self) -> &str {
        match self {
            Action::UpgradePolicy { cluster, .. }
            | Action::ControlPlaneUpgradePolicy { cluster, .. }
            | Action::NodePoolUpgradePolicy { cluster, .. }
            | Action::ChannelSwitch { cluster, .. } => cluster,
        }
    }

    pub fn cluster_id(&self) -> &str {
        match self {
            Action::UpgradePolicy { cluster_id, .. }
            | Action::ControlPlaneUpgradePolicy { cluster_id, .. }
            | Action::NodePoolUpgradePolicy { cluster_id, .. }
            | Action::ChannelSwitch { cluster_id, .. } => cluster_id,
        }
    }

    /// The `type` tag of the JSON contract.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::UpgradePolicy { .. } => "upgrade_policy",
            Action::ControlPlaneUpgradePolicy { .. } => "control_plane_upgrade_policy",
            Action::NodePoolUpgradePolicy { .. } => "node_pool_upgrade_policy",
            Action::ChannelSwitch { .. } => "channel_switch",
        }
    }
}

/// Why a cluster got no action (§20), as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    ValidationError,
    OrgValidationError,
    NotReady,
    Mutex,
    MaxParallel,
    ExistingPolicy,
    OutsideSchedule,
    NoUpgrades,
    BlockedVersion,
    InheritedVersion,
    SectorDependency,
    SoakDays,
    VersionGate,
    /// An applicable version gate the approver will not agree to (its label
    /// is not approved, or has no handler): OCM refuses the upgrade until the
    /// owners agree (issue 15 item 2).
    MissingGateAgreement,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::ValidationError,
        Reason::OrgValidationError,
        Reason::NotReady,
        Reason::Mutex,
        Reason::MaxParallel,
        Reason::ExistingPolicy,
        Reason::OutsideSchedule,
        Reason::NoUpgrades,
        Reason::BlockedVersion,
        Reason::InheritedVersion,
        Reason::SectorDependency,
        Reason::SoakDays,
        Reason::VersionGate,
        Reason::MissingGateAgreement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ValidationError => "validation-error",
            Reason::OrgValidationError => "org-validation-error",
            Reason::NotReady => "not-ready",
            Reason::Mutex => "mutex",
            Reason::MaxParallel => "max-parallel",
            Reason::ExistingPolicy => "existing-policy",
            Reason::OutsideSchedule => "outside-schedule",
            Reason::NoUpgrades => "no-upgrades",
            Reason::BlockedVersion => "blocked-version",
            Reason::InheritedVersion => "inherited-version",
            Reason::SectorDependency => "sector-dependency",
            Reason::SoakDays => "soak-days",
            Reason::VersionGate => "version-gate",
            Reason::MissingGateAgreement => "missing-gate-agreement",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one cluster got no action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub cluster: String,
    /// Always `skipped`.
    pub decision: &'static str,
    pub reason: Reason,
    pub detail: String,
}

/// RFC 3339 UTC with whole seconds and `Z` (R96).
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with signature
fn rfc3339<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&crate::schedule::whole_seconds(*t))
}
