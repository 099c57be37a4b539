//! The output of planning: ordered actions, per-cluster problems and service logs,
//! operator errors and metric facts. Serialises as the dry-run output; no field ever
//! holds a secret (I72).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::DesiredClient;
use crate::cluster::Disposition;
use crate::idp::{DesiredIdp, Difference};
use crate::labels::Status;
use crate::problem::{Problem, ServiceLog};

/// One pass's plan for one OCM environment.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub now: Timestamp,
    pub ocm_environment: String,
    /// In execution order: provider deletes, client deletes (sorted by key), client
    /// creates then updates (sorted by key), provider creates then updates, W8
    /// cleanup deletes (I3, I36, I54, I57).
    pub actions: Vec<Action>,
    /// Every discovered cluster, sorted by id.
    pub clusters: Vec<ClusterPlan>,
    /// Problems for the operator, never sent to cluster owners (I62).
    pub operator_errors: Vec<OperatorError>,
    /// Set when the blast-radius guard withheld deletes (I59).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletions_blocked: Option<DeletionGuard>,
    pub facts: Facts,
}

impl Plan {
    /// Whether the pass fails even if every action succeeds (I48 fatal records, I51
    /// providers without id, I59 blocked deletes).
    pub fn failed(&self) -> bool {
        self.operator_errors.iter().any(|e| e.fails_pass)
    }

    /// The actions in the reference's shapes (I45, I55), for comparison with it.
    pub fn reference_actions(&self) -> Vec<Value> {
        self.actions.iter().map(Action::reference_shape).collect()
    }

    /// Every service log the plan asks for up front: configuration errors and
    /// warnings. Notices (I63) travel with their actions, sent only on success.
    pub fn service_logs(&self) -> impl Iterator<Item = &ServiceLog> {
        self.clusters.iter().flat_map(|c| &c.service_logs)
    }
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    SsoClient(SsoClientAction),
    IdentityProvider(IdpAction),
}

impl Action {
    /// The reference's action shape (I45, I55).
    pub fn reference_shape(&self) -> Value {
        match self {
            Action::SsoClient(SsoClientAction::Delete { sso_client_id, .. }) => {
                json!({"action_type": "delete", "sso_client_id": sso_client_id})
            }
            Action::SsoClient(
                SsoClientAction::Create { client, .. } | SsoClientAction::Update { client, .. },
            ) => json!({
                "action_type": if matches!(self, Action::SsoClient(SsoClientAction::Create { .. })) { "create" } else { "update" },
                "sso_client_id": client.key,
                "cluster_name": client.cluster_name,
                "auth_name": client.auth_name,
            }),
            Action::IdentityProvider(IdpAction::Delete {
                cluster_name,
                idp_name,
                ..
            }) => {
                json!({"action_type": "delete", "cluster_name": cluster_name, "idp_name": idp_name})
            }
            Action::IdentityProvider(IdpAction::Create {
                cluster_name, idp, ..
            }) => {
                json!({"action_type": "create", "cluster_name": cluster_name, "auth_name": idp.name})
            }
            Action::IdentityProvider(IdpAction::Update {
                cluster_name, idp, ..
            }) => {
                json!({"action_type": "update", "cluster_name": cluster_name, "auth_name": idp.name})
            }
        }
    }
}

/// Why a client record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientDeleteReason {
    /// Its cluster is switched off, or its key is no longer the cluster's (name or
    /// issuer host changed).
    NotWanted,
    /// Its cluster no longer exists in OCM.
    ClusterGone,
    /// Its cluster uses external authentication and is `disabled`.
    ExternalAuth,
}

/// One change of a registered client (W6, W7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum ClientChange {
    RedirectUris {
        from: Vec<String>,
        to: Vec<String>,
    },
    GroupFilter {
        from: Option<String>,
        to: Option<String>,
    },
}

/// An SSO-client action (reference shape: I45).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action_type", rename_all = "snake_case")]
pub enum SsoClientAction {
    /// Delete the client with its RAT at the record's issuer (I40), then the record.
    Delete {
        sso_client_id: String,
        reason: ClientDeleteReason,
        /// A pending record has no RAT: only the record is deleted, and the operator
        /// is told a client may be orphaned in the realm (I41).
        record_only: bool,
        /// Provider deletes of this plan that must have succeeded (or found the
        /// provider gone) before this client is deleted (I57, I58).
        after_idp_deletes: Vec<IdpRef>,
    },
    /// Register (I27): write the pending record, register, write the full record
    /// (I41). `retry_of_pending`: a pending record was found; a "clientId taken"
    /// answer keeps it and is an orphan for the operator.
    Create {
        client: DesiredClient,
        retry_of_pending: bool,
    },
    /// Update the registered client with its RAT and store the rotated RAT (I29,
    /// W6, W7).
    Update {
        client: DesiredClient,
        changes: Vec<ClientChange>,
    },
}

impl SsoClientAction {
    pub fn key(&self) -> &str {
        match self {
            SsoClientAction::Delete { sso_client_id, .. } => sso_client_id,
            SsoClientAction::Create { client, .. } | SsoClientAction::Update { client, .. } => {
                &client.key
            }
        }
    }
}

/// A provider on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IdpRef {
    pub cluster_id: String,
    pub idp_id: String,
}

/// Why a provider goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdpDeleteReason {
    /// The cluster's provider is not wanted (`disabled`, `sso-client-only`,
    /// organization not allowed).
    NotWanted,
    /// A provider srecap made under an earlier auth name (W3).
    Renamed,
    /// A foreign provider on an `enforced` cluster whose managed provider exists and
    /// matches (W8).
    Enforced,
    /// A provider of another type holds the managed name (I50 identity includes the
    /// type); it makes room for the managed one.
    WrongType,
}

/// A provider action (reference shape: I55). Create and update bodies are built
/// by the executor with [`DesiredIdp::create_body`] / [`DesiredIdp::patch_body`]
/// and the secret of the record `secret_from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action_type", rename_all = "snake_case")]
pub enum IdpAction {
    Delete {
        cluster_id: String,
        cluster_name: String,
        idp_name: String,
        idp_id: String,
        reason: IdpDeleteReason,
        /// The managed provider of this cluster (by name) whose create or update
        /// in this plan must have succeeded first: other providers go only once
        /// the cluster has a working login (W8).
        #[serde(skip_serializing_if = "Option::is_none")]
        after_provider: Option<String>,
        /// Sent once the delete succeeded (I63).
        #[serde(skip_serializing_if = "Option::is_none")]
        notice: Option<ServiceLog>,
    },
    Create {
        cluster_id: String,
        cluster_name: String,
        idp: DesiredIdp,
        secret_from: String,
        /// The client action of this plan that must have succeeded first.
        #[serde(skip_serializing_if = "Option::is_none")]
        after_client: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        notice: Option<ServiceLog>,
    },
    Update {
        cluster_id: String,
        cluster_name: String,
        idp_id: String,
        idp: DesiredIdp,
        secret_from: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        after_client: Option<String>,
        differences: Vec<Difference>,
    },
}

impl IdpAction {
    pub fn cluster_id(&self) -> &str {
        match self {
            IdpAction::Delete { cluster_id, .. }
            | IdpAction::Create { cluster_id, .. }
            | IdpAction::Update { cluster_id, .. } => cluster_id,
        }
    }
}

/// Whether a cluster's provider list could be read (I47).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdpListState {
    Listed,
    /// Skipped this pass, not an error (I47).
    Unreadable,
}

/// The plan of one discovered cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub cluster_id: String,
    pub cluster_uuid: String,
    pub name: String,
    pub organization_id: String,
    /// The effective status (I6); `null` when the label holds an unknown value.
    /// With the disposition this is `rhidp_cluster_info` (I66).
    pub effective_status: Option<Status>,
    #[serde(flatten)]
    pub disposition: Disposition,
    pub identity_providers: IdpListState,
    pub problems: Vec<Problem>,
    /// Configuration-error and warning logs for the cluster's owners (I62, I11).
    pub service_logs: Vec<ServiceLog>,
    /// What holds the cluster back, in words, when nothing else says it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// Listed providers `enforced` keeps because `.keep-idps` names them (W9).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_idps: Vec<String>,
}

/// A problem for the operator (I61 "no" rows, I62).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorError {
    pub code: OperatorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_client_id: Option<String>,
    pub message: String,
    /// Whether the pass is FAILED because of it.
    pub fails_pass: bool,
}

/// Operator problem kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorCode {
    /// The record's issuer is not the cluster's issuer (I48 fatal, W16).
    IssuerMismatch,
    /// A record that cannot be read (I48 routine: not failing).
    RecordUnreadable,
    /// A provider to delete or update has no id (I51, I53).
    IdpWithoutId,
    /// A pending record of a key no longer wanted: a client may exist in the realm
    /// without a RAT to delete it (I41).
    PossibleOrphan,
    /// The console URL matches no known pattern; the redirect URI is probably
    /// useless (W20).
    RedirectUnrecognised,
    /// Two clusters want the same client key.
    DuplicateKey,
    /// The blast-radius guard withheld deletes (I59).
    DeletionsBlocked,
}

/// What the blast-radius guard saw (I59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeletionGuard {
    pub sso_client_deletes: usize,
    pub sso_clients: usize,
    pub sso_clients_blocked: bool,
    pub idp_deletes: usize,
    pub idps: usize,
    pub idps_blocked: bool,
}

/// Metric facts of the pass (I65, I66).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// `rhidp_managed_clusters` per organization: discovered, not excluded, any status.
    pub managed_clusters: BTreeMap<String, u64>,
    /// `rhidp_sso_client_number_of_clients`: entries in the store before acting.
    pub clients: u64,
    /// `rhidp_validation_errors` per organization: configuration errors (not
    /// warnings) of its clusters. Every allowed organization with a discovered
    /// cluster has an entry, zero included, so a fixed problem resets the gauge.
    pub validation_errors: BTreeMap<String, u64>,
    /// `rhidp_deletions_blocked`.
    pub deletions_blocked: bool,
}
