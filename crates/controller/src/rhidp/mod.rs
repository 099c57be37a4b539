//! The Red Hat `IdP` capability's reconciler (`srecap rhidp run`, spec rhidp):
//! discover the opted-in clusters of one OCM environment ([`discovery`]), read
//! the sealed client records and provider fingerprints (the stored state),
//! plan with the pure `srecap_rhidp` planner, and apply the plan
//! ([`executor`]).
//!
//! Design decisions:
//! * One pass runs the SSO-client phase and the identity-provider phase over
//!   one snapshot (I3), so a newly enabled cluster gets client and provider in
//!   one pass and a disabled one loses its provider before its client.
//! * Client records and fingerprints live in the state store as sealed
//!   records (AES-256-GCM, `srecap_store::secret`) under
//!   `<namespace>/<environment>` and `<namespace>/<environment>/idp-fingerprints`.
//!   A record that does not open with the key fails the pass: a wrong key must
//!   be fixed, never taken for "no records" (which would register every
//!   cluster again).
//! * Organizations: without a registry every organization with rhidp labels is
//!   managed; with one, only its organizations that do not disable the
//!   capability (I12; an empty registry allows none, W10).
//! * Dry run plans and writes nothing: no record, no registration, no
//!   provider, no service log.

pub mod discovery;
pub mod environments;
pub mod executor;
pub mod metrics;
pub mod sli;
pub mod telemetry;

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use srecap_ocm::{OcmClient, OcmError};
use srecap_rhidp::record::StoredRecord;
use srecap_rhidp::{Plan, Planner, State};
use srecap_sso::SsoClient;
use srecap_store::{SecretStore, StoreError};

pub use environments::{RhidpEnvironments, Sharing};
pub use executor::{Execution, Outcome};
pub use metrics::RhidpMetrics;
pub use telemetry::RhidpTelemetry;

/// The capability's name in registries and metrics.
pub const CAPABILITY: &str = "rhidp";

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RhidpError {
    #[error("rhidp discovery in OCM environment {environment} failed")]
    Discovery {
        environment: String,
        #[source]
        source: OcmError,
    },
    #[error("the rhidp client records of {namespace} cannot be read")]
    Records {
        namespace: String,
        #[source]
        source: StoreError,
    },
}

/// Which organizations the capability may manage (I12).
pub type Allowed = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A Keycloak realm srecap registers clients in (I67 `keycloak_instances`).
#[derive(Debug, Clone)]
pub struct Realm {
    /// Where the realm serves its endpoints when that is not the issuer URL
    /// itself (the simulator, a proxy); `None`: the issuer.
    pub url: Option<String>,
    /// Its initial access token (I31).
    pub iat: srecap_sso::Secret,
}

/// One environment's reconciler.
pub struct RhidpReconciler {
    pub ocm: Arc<OcmClient>,
    pub sso: SsoClient,
    pub secrets: SecretStore,
    pub planner: Planner,
    pub environment: String,
    /// The records' namespace root (I67 `secret_namespace`, default `rhidp`).
    pub namespace: String,
    /// The configured realms by issuer.
    pub realms: BTreeMap<String, Realm>,
    pub allowed: Allowed,
    pub dry_run: bool,
    /// Where each pass is counted: SLI and metrics (none: not counted).
    pub telemetry: Option<Arc<RhidpTelemetry>>,
}

/// What a pass did.
#[derive(Debug, Clone, Serialize)]
pub struct RhidpReport {
    pub plan: Plan,
    /// `None` in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

impl RhidpReport {
    /// Whether the pass failed (I42, I54): an operator error that fails it, or
    /// an action that failed.
    pub fn failed(&self) -> bool {
        self.plan.failed() || self.execution.as_ref().is_some_and(|e| e.failed() > 0)
    }
}

/// The namespace of the client records of `environment` (I69).
pub fn records_namespace(root: &str, environment: &str) -> String {
    format!("{root}/{environment}")
}

/// The namespace of the provider fingerprints of `environment`.
pub fn fingerprints_namespace(root: &str, environment: &str) -> String {
    format!("{root}/{environment}/idp-fingerprints")
}

impl std::fmt::Debug for RhidpReconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhidpReconciler")
            .field("environment", &self.environment)
            .field("namespace", &self.namespace)
            .field("realms", &self.realms)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// rhidp's one info line per pass.
pub fn log_pass(report: &RhidpReport, took: std::time::Duration) {
    let plan = &report.plan;
    let (done, failed, skipped, logs) = report.execution.as_ref().map_or((0, 0, 0, 0), |e| {
        (
            e.count(|o| matches!(o, Outcome::Done | Outcome::Gone)),
            e.failed(),
            e.count(|o| matches!(o, Outcome::Skipped { .. })),
            e.service_logs_sent,
        )
    });
    tracing::info!(
        capability = CAPABILITY,
        ocm_env = %plan.ocm_environment,
        clusters = plan.clusters.len(),
        actions_planned = plan.actions.len(),
        actions_done = done,
        actions_failed = failed,
        actions_skipped = skipped,
        operator_errors = plan.operator_errors.len(),
        service_logs_sent = logs,
        dry_run = report.execution.is_none(),
        duration = ?took,
        "pass finished"
    );
}

/// `e` and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl RhidpReconciler {
    /// One pass as of `now`, counted in the SLI (a dry run is not counted: it
    /// writes nothing, so it proves nothing about the service).
    pub async fn pass(&self, now: Timestamp) -> Result<RhidpReport, RhidpError> {
        let result = self.plan_and_apply(now).await;
        if let (Some(telemetry), false) = (&self.telemetry, self.dry_run) {
            telemetry.record(&self.environment, &result);
        }
        result
    }

    async fn plan_and_apply(&self, now: Timestamp) -> Result<RhidpReport, RhidpError> {
        let records_ns = records_namespace(&self.namespace, &self.environment);
        let fingerprints_ns = fingerprints_namespace(&self.namespace, &self.environment);
        let state = load_state(&self.secrets, &records_ns, &fingerprints_ns)
            .await
            .map_err(|source| RhidpError::Records {
                namespace: records_ns.clone(),
                source,
            })?;
        let owners = record_owners(&state);
        let snapshot =
            discovery::discover(&self.ocm, &self.environment, self.allowed.as_ref(), &owners)
                .await
                .map_err(|source| RhidpError::Discovery {
                    environment: self.environment.clone(),
                    source,
                })?;
        let plan = self.planner.plan(&snapshot, &state, now);
        let execution = if self.dry_run {
            None
        } else {
            let executor = executor::Executor {
                ocm: &self.ocm,
                sso: &self.sso,
                secrets: &self.secrets,
                records: &records_ns,
                fingerprints: &fingerprints_ns,
                environment: &self.environment,
                realms: &self.realms,
                now,
            };
            Some(executor.apply(&plan).await)
        };
        Ok(RhidpReport { plan, execution })
    }
}

/// The stored state of an environment: its client records (unreadable ones
/// included, as the planner reports them) and provider fingerprints, from
/// the namespaces [`records_namespace`] and [`fingerprints_namespace`] name.
pub async fn load_state(
    secrets: &SecretStore,
    records_ns: &str,
    fingerprints_ns: &str,
) -> Result<State, StoreError> {
    let mut records = BTreeMap::new();
    for name in secrets.list(records_ns).await? {
        if let Some(plain) = secrets.get(records_ns, &name).await? {
            let text = String::from_utf8_lossy(&plain);
            records.insert(name, StoredRecord::parse(&text));
        }
    }
    let mut idp_fingerprints = BTreeMap::new();
    for cluster in secrets.list(fingerprints_ns).await? {
        if let Some(map) = secrets
            .get_json::<BTreeMap<String, String>>(fingerprints_ns, &cluster)
            .await?
        {
            idp_fingerprints.insert(cluster, map);
        }
    }
    Ok(State {
        records,
        idp_fingerprints,
    })
}

/// The clusters the readable records belong to, for discovery.
pub fn record_owners(state: &State) -> Vec<discovery::RecordOwner> {
    state
        .records
        .values()
        .filter_map(|r| match r {
            StoredRecord::Record(r) => Some(discovery::RecordOwner {
                cluster_id: r.cluster_id.clone()?,
                organization_id: r.organization_id.clone()?,
            }),
            StoredRecord::Unreadable(_) => None,
        })
        .collect()
}
