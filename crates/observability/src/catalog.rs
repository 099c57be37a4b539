//! Every metric srecap's AUS reconciler exports. The controller registers exactly
//! these, and the rule, dashboard and runbook generators read them, so a renamed
//! metric changes every artefact at once.

use crate::metric::{Audience, MetricDef};

const REF: &[&str] = &["integration", "ocm_env"];
const REF_ORG: &[&str] = &["integration", "ocm_env", "org_id"];
const ENV: &[&str] = &["ocm_env"];
const ORG: &[&str] = &["ocm_env", "org_id"];

// The reference's metrics (aus-behaviour §15), unchanged names and labels.

pub const AUS_ORG_RECONCILED: MetricDef = MetricDef::counter(
    "aus_organization_reconciled_total",
    "Organization passes started (R123)",
    REF_ORG,
    Audience::Sre,
);
pub const AUS_ORG_RECONCILE_ERRORS: MetricDef = MetricDef::counter(
    "aus_organization_reconcile_errors_total",
    "Organization passes that failed (R123)",
    REF_ORG,
    Audience::Sre,
);
pub const AUS_ENV_ERRORS: MetricDef = MetricDef::counter(
    "aus_ocm_environment_errors_total",
    "Passes whose discovery of the OCM environment failed (R5)",
    REF,
    Audience::Sre,
);
pub const AUS_POLICY_INFO: MetricDef = MetricDef::gauge(
    "aus_cluster_upgrade_policy_info",
    "AUS policy of every valid cluster",
    &[
        "integration",
        "ocm_env",
        "cluster_uuid",
        "org_id",
        "org_name",
        "channel",
        "current_version",
        "cluster_name",
        "schedule",
        "sector",
        "mutexes",
        "soak_days",
        "workloads",
        "product",
        "hypershift",
    ],
    Audience::User,
);
pub const AUS_ADDON_POLICY_INFO: MetricDef = MetricDef::gauge(
    "aus_addon_upgrade_policy_info",
    "Add-on upgrade policy of every installed add-on of a registered cluster (R118); current_version is the add-on's",
    &[
        "integration",
        "ocm_env",
        "cluster_uuid",
        "org_id",
        "org_name",
        "channel",
        "current_version",
        "cluster_name",
        "schedule",
        "sector",
        "mutexes",
        "soak_days",
        "workloads",
        "product",
        "hypershift",
        "addon",
    ],
    Audience::User,
);
pub const AUS_VALIDATION_ERRORS: MetricDef = MetricDef::gauge(
    "aus_organization_validation_errors",
    "Validation errors per organization (clusters with errors + organization errors)",
    REF_ORG,
    Audience::User,
);
pub const AUS_VERSION_DATA: MetricDef = MetricDef::gauge(
    "aus_organization_version_data",
    "Soak days per version and workload in the organization's own history",
    &["integration", "ocm_env", "org_id", "version", "workload"],
    Audience::User,
);
pub const AUS_REMAINING_SOAK_DAYS: MetricDef = MetricDef::gauge(
    "aus_cluster_version_remaining_soak_days",
    "Soak days left per cluster and available version (-1 scheduled, -2 started, -3 started >= 6h ago, -4 blocked)",
    &["integration", "ocm_env", "cluster_uuid", "soaking_version"],
    Audience::User,
);
pub const AUS_ADDON_REMAINING_SOAK_DAYS: MetricDef = MetricDef::gauge(
    "aus_addon_version_remaining_soak_days",
    "Soak days left per cluster, add-on and available add-on version (-1 scheduled, -2 started, -3 started >= 6h ago, -4 blocked)",
    &[
        "integration",
        "ocm_env",
        "cluster_uuid",
        "soaking_version",
        "addon",
    ],
    Audience::User,
);
pub const AUS_MISSING_GATES: MetricDef = MetricDef::gauge(
    "aus_cluster_missing_version_gate_agreements",
    "Version gates a cluster still has to agree to for its chosen version's minor",
    &[
        "integration",
        "ocm_env",
        "org_id",
        "cluster_uuid",
        "version_prefix",
    ],
    Audience::User,
);
pub const AUS_HEALTH_STATE: MetricDef = MetricDef::gauge(
    "aus_cluster_health_state",
    "Per valid cluster and health provider: 1 if the provider reports no error (enforced or not), 0 otherwise",
    &["integration", "ocm_env", "cluster_uuid", "health_source"],
    Audience::User,
);
pub const AUS_CHANNEL_SWITCH: MetricDef = MetricDef::gauge(
    "aus_cluster_channel_switch",
    "Y-stream channel switches applied in this pass",
    &[
        "integration",
        "ocm_env",
        "org_id",
        "cluster_uuid",
        "from_channel",
        "to_channel",
    ],
    Audience::User,
);

// srecap's operational metrics that predate the SLO work (kept for compatibility).

pub const PASSES: MetricDef = MetricDef::counter(
    "srecap_aus_passes_total",
    "Reconcile passes by result",
    &["integration", "ocm_env", "result"],
    Audience::Sre,
);
pub const PASS_DURATION: MetricDef = MetricDef::histogram(
    "srecap_aus_pass_duration_seconds",
    "Duration of reconcile passes",
    REF,
    Audience::Sre,
);
pub const ACTIONS: MetricDef = MetricDef::counter(
    "srecap_aus_actions_total",
    "Upgrade policies and channel switches applied, by type and result",
    &["integration", "ocm_env", "type", "result"],
    Audience::Sre,
);
pub const LAST_SUCCESSFUL_PASS: MetricDef = MetricDef::gauge(
    "srecap_aus_last_successful_pass_timestamp_seconds",
    "Unix time at which the last pass without any failed organization ended",
    REF,
    Audience::Sre,
)
.with_unit("dateTimeAsIso");
pub const OCM_REQUESTS: MetricDef = MetricDef::counter(
    "srecap_ocm_requests_total",
    "OCM API requests (every attempt), by endpoint template, method and status",
    &["integration", "ocm_env", "endpoint", "method", "code"],
    Audience::Sre,
)
.with_unit("reqps");
pub const OCM_REQUEST_DURATION: MetricDef = MetricDef::histogram(
    "srecap_ocm_request_duration_seconds",
    "OCM API request latency by endpoint template and method",
    &["integration", "ocm_env", "endpoint", "method"],
    Audience::Sre,
);

// SLI and health metrics (slo-alerting §1.4).

pub const ORG_RECONCILE_TOTAL: MetricDef = MetricDef::counter(
    "srecap_aus_org_reconcile_total",
    "Organization reconciles attempted, one per organization and pass",
    ORG,
    Audience::Sre,
);
pub const ADDON_ORG_RECONCILE_TOTAL: MetricDef = MetricDef::counter(
    "srecap_aus_addon_org_reconcile_total",
    "Add-on upgrade passes of an organization attempted, one per organization and pass (R113)",
    ORG,
    Audience::Sre,
);
pub const ADDON_ORG_RECONCILE_ERRORS: MetricDef = MetricDef::counter(
    "srecap_aus_addon_org_reconcile_errors_total",
    "Add-on upgrade passes of an organization that ended in a bad event, by cause",
    &["ocm_env", "org_id", "cause"],
    Audience::Sre,
);
pub const ORG_RECONCILE_ERRORS: MetricDef = MetricDef::counter(
    "srecap_aus_org_reconcile_errors_total",
    "Organization reconciles that ended in a bad event, by cause (internal, ocm_api, ocm_auth, deadline, notify)",
    &["ocm_env", "org_id", "cause"],
    Audience::Sre,
);
pub const OCM_WRITES: MetricDef = MetricDef::counter(
    "srecap_aus_ocm_writes_total",
    "OCM writes attempted, by operation",
    &["ocm_env", "org_id", "operation"],
    Audience::Sre,
);
pub const OCM_WRITE_ERRORS: MetricDef = MetricDef::counter(
    "srecap_aus_ocm_write_errors_total",
    "OCM writes that failed with a bad cause, by operation and cause",
    &["ocm_env", "org_id", "operation", "cause"],
    Audience::Sre,
);
pub const ORG_LAST_SUCCESS: MetricDef = MetricDef::gauge(
    "srecap_aus_org_last_success_timestamp_seconds",
    "Unix time at which the organization's last reconcile without a bad event ended",
    ORG,
    Audience::Sre,
)
.with_unit("dateTimeAsIso");
pub const PASS_TOTAL: MetricDef = MetricDef::counter(
    "srecap_aus_pass_total",
    "Reconcile passes of the environment",
    ENV,
    Audience::Sre,
);
pub const PASS_OVERRUNS: MetricDef = MetricDef::counter(
    "srecap_aus_pass_overruns_total",
    "Reconcile passes that took longer than the pass interval",
    ENV,
    Audience::Sre,
);
pub const PASS_LAST_COMPLETED: MetricDef = MetricDef::gauge(
    "srecap_aus_pass_last_completed_timestamp_seconds",
    "Unix time at which the last pass ended, whatever its result",
    ENV,
    Audience::Sre,
)
.with_unit("dateTimeAsIso");
pub const PASS_INTERVAL: MetricDef = MetricDef::gauge(
    "srecap_aus_pass_interval_seconds",
    "Configured time between the starts of two passes",
    ENV,
    Audience::Sre,
)
.with_unit("s");
pub const ENV_ERRORS: MetricDef = MetricDef::counter(
    "srecap_aus_env_errors_total",
    "Passes that failed before the organization fan-out, by cause",
    &["ocm_env", "cause"],
    Audience::Sre,
);
pub const UNREGISTERED_ORGS: MetricDef = MetricDef::gauge(
    "srecap_aus_unregistered_organizations",
    "Organizations with AUS labels that the organization registry does not name: left alone (R41)",
    ENV,
    Audience::Sre,
);
pub const LEASES_HELD: MetricDef = MetricDef::gauge(
    "srecap_aus_leases_held",
    "Organizations whose lease this replica holds (replicas share an environment's organizations)",
    &["ocm_env", "replica"],
    Audience::Sre,
);
pub const REPLICA_ORGS_RECONCILED: MetricDef = MetricDef::counter(
    "srecap_aus_replica_orgs_reconciled_total",
    "Organization passes this replica completed under its lease",
    &["ocm_env", "replica"],
    Audience::Sre,
);
pub const LEASE_TAKEOVERS: MetricDef = MetricDef::counter(
    "srecap_aus_lease_takeovers_total",
    "Organizations this replica took over from a replica whose lease expired unreleased",
    &["ocm_env", "replica"],
    Audience::Sre,
);

pub const CLUSTER_UPGRADE_STARTED: MetricDef = MetricDef::gauge(
    "srecap_aus_cluster_upgrade_started_timestamp_seconds",
    "Unix time at which the cluster's running upgrade was scheduled to start, while OCM reports it started",
    &["ocm_env", "org_id", "cluster_uuid", "target_version"],
    Audience::Sre,
)
.with_unit("dateTimeAsIso");

// User-facing metrics: never read by a paging rule.

pub const ORG_USER_ERRORS: MetricDef = MetricDef::counter(
    "srecap_aus_org_user_errors_total",
    "Organization reconciles that ended in an error only the user can fix, by kind (config_error, user_state)",
    &["ocm_env", "org_id", "kind"],
    Audience::User,
);
pub const ORG_CONFIG_ERRORS: MetricDef = MetricDef::gauge(
    "srecap_aus_org_config_errors",
    "Current configuration errors of the organization, by scope (cluster, org) and reason (the label at fault)",
    &["ocm_env", "org_id", "scope", "reason"],
    Audience::User,
);
pub const SERVICE_LOGS: MetricDef = MetricDef::counter(
    "srecap_aus_service_logs_total",
    "Service logs telling cluster owners about their errors, by kind and result (sent, duplicate, error)",
    &["ocm_env", "org_id", "kind", "result"],
    Audience::User,
);
pub const CLUSTER_UPGRADE_STATE: MetricDef = MetricDef::gauge(
    "srecap_aus_cluster_upgrade_state",
    "Upgrade state of each cluster AUS read this pass (1 for its state: idle, scheduled, started, delayed)",
    &["ocm_env", "org_id", "cluster_uuid", "state"],
    Audience::User,
);
pub const CLUSTER_UPGRADE_BLOCKED: MetricDef = MetricDef::gauge(
    "srecap_aus_cluster_upgrade_blocked",
    "1 per cluster whose upgrade a policy holds back this pass, by reason (the explanation code: mutex, soak-days, version-gate, ...)",
    &["ocm_env", "org_id", "cluster_uuid", "reason"],
    Audience::User,
);
pub const CLUSTER_HEALTH_STATE: MetricDef = MetricDef::gauge(
    "srecap_aus_cluster_health_state",
    "Per cluster and health source: 1 if the source reports no error, 0 otherwise",
    &["ocm_env", "org_id", "cluster_uuid", "source"],
    Audience::User,
);
pub const UPGRADES_STARTED: MetricDef = MetricDef::counter(
    "srecap_aus_upgrades_started_total",
    "Upgrades seen started for the first time (each cluster, version and start counted once)",
    ORG,
    Audience::User,
);
pub const UPGRADES_OVERDUE: MetricDef = MetricDef::counter(
    "srecap_aus_upgrades_overdue_total",
    "Upgrades still started 6 hours after they started (counted once each)",
    ORG,
    Audience::User,
);
pub const ORG_INFO: MetricDef = MetricDef::gauge(
    "srecap_aus_org_info",
    "Organizations reconciled in the last pass, with their names",
    &["ocm_env", "org_id", "org_name"],
    Audience::User,
);

/// Every metric family the reconciler exports.
pub const ALL: &[&MetricDef] = &[
    &AUS_ORG_RECONCILED,
    &AUS_ORG_RECONCILE_ERRORS,
    &AUS_ENV_ERRORS,
    &AUS_POLICY_INFO,
    &AUS_VALIDATION_ERRORS,
    &AUS_VERSION_DATA,
    &AUS_REMAINING_SOAK_DAYS,
    &AUS_ADDON_POLICY_INFO,
    &AUS_ADDON_REMAINING_SOAK_DAYS,
    &AUS_MISSING_GATES,
    &AUS_HEALTH_STATE,
    &AUS_CHANNEL_SWITCH,
    &PASSES,
    &PASS_DURATION,
    &ACTIONS,
    &LAST_SUCCESSFUL_PASS,
    &OCM_REQUESTS,
    &OCM_REQUEST_DURATION,
    &ORG_RECONCILE_TOTAL,
    &ORG_RECONCILE_ERRORS,
    &ADDON_ORG_RECONCILE_TOTAL,
    &ADDON_ORG_RECONCILE_ERRORS,
    &OCM_WRITES,
    &OCM_WRITE_ERRORS,
    &ORG_LAST_SUCCESS,
    &PASS_TOTAL,
    &PASS_OVERRUNS,
    &PASS_LAST_COMPLETED,
    &PASS_INTERVAL,
    &ENV_ERRORS,
    &LEASES_HELD,
    &UNREGISTERED_ORGS,
    &REPLICA_ORGS_RECONCILED,
    &LEASE_TAKEOVERS,
    &ORG_USER_ERRORS,
    &ORG_CONFIG_ERRORS,
    &SERVICE_LOGS,
    &ORG_INFO,
    &CLUSTER_UPGRADE_STARTED,
    &CLUSTER_UPGRADE_STATE,
    &CLUSTER_UPGRADE_BLOCKED,
    &CLUSTER_HEALTH_STATE,
    &UPGRADES_STARTED,
    &UPGRADES_OVERDUE,
];

// The Red Hat IdP capability (spec rhidp §10). Its SLI: one event per pass of an
// environment, bad when the pass could not run or an action failed for a reason
// that is not the users' (the users' mistakes are service logs, never errors).

pub const RHIDP_PASS_TOTAL: MetricDef = MetricDef::counter(
    "srecap_rhidp_pass_total",
    "Red Hat IdP reconcile passes of the environment (SSO-client and identity-provider phases)",
    ENV,
    Audience::Sre,
);
pub const RHIDP_PASS_ERRORS: MetricDef = MetricDef::counter(
    "srecap_rhidp_pass_errors_total",
    "Red Hat IdP passes that ended in a bad event, by cause (discovery, store, action)",
    &["ocm_env", "cause"],
    Audience::Sre,
);

// The reference's rhidp metrics (I65; names and labels kept for its dashboards)
// and srecap's additions (I66).

pub const RHIDP_MANAGED_CLUSTERS: MetricDef = MetricDef::gauge(
    "rhidp_managed_clusters",
    "Discovered, non-excluded clusters per organization, any status (I65)",
    &["integration", "ocm_environment", "org_id"],
    Audience::User,
);
pub const RHIDP_NUMBER_OF_CLIENTS: MetricDef = MetricDef::gauge(
    "rhidp_sso_client_number_of_clients",
    "Client records in the secret store before acting (I65)",
    &["integration", "ocm_environment"],
    Audience::Sre,
);
pub const RHIDP_SSO_RECONCILED: MetricDef = MetricDef::counter(
    "rhidp_sso_client_reconciled_total",
    "SSO-client phases without error (I65)",
    &["integration", "ocm_environment"],
    Audience::Sre,
);
pub const RHIDP_SSO_ERRORS: MetricDef = MetricDef::counter(
    "rhidp_sso_client_reconcile_errors_total",
    "SSO-client phases with at least one error (I65)",
    &["integration", "ocm_environment"],
    Audience::Sre,
);
pub const RHIDP_IDP_RECONCILED: MetricDef = MetricDef::counter(
    "rhidp_ocm_oidc_idp_reconciled_total",
    "Identity-provider phases without error (I65)",
    &["integration", "ocm_environment"],
    Audience::Sre,
);
pub const RHIDP_IDP_ERRORS: MetricDef = MetricDef::counter(
    "rhidp_ocm_oidc_idp_reconcile_errors_total",
    "Identity-provider phases with at least one error (I65)",
    &["integration", "ocm_environment"],
    Audience::Sre,
);
pub const RHIDP_VALIDATION_ERRORS: MetricDef = MetricDef::gauge(
    "rhidp_validation_errors",
    "Configuration errors of an organization's clusters in the last pass (I66)",
    ORG,
    Audience::User,
);
pub const RHIDP_ACTIONS: MetricDef = MetricDef::counter(
    "rhidp_actions_total",
    "Executed rhidp actions by kind, action and outcome (I66)",
    &["ocm_env", "org_id", "kind", "action", "outcome"],
    Audience::Sre,
);
pub const RHIDP_DELETIONS_BLOCKED: MetricDef = MetricDef::gauge(
    "rhidp_deletions_blocked",
    "1 when the blast-radius guard withheld deletes in the last pass (I59, I66)",
    ENV,
    Audience::Sre,
);
pub const RHIDP_ORPHANED_CLIENTS: MetricDef = MetricDef::gauge(
    "rhidp_orphaned_clients",
    "SSO clients that may exist in a realm without a record to delete them (I41)",
    ENV,
    Audience::Sre,
);
pub const RHIDP_IAT_EXPIRATION: MetricDef = MetricDef::gauge(
    // The reference's typo is kept so its dashboards keep working (I65, W15).
    "rhidp_sso_client_inital_access_token_expiration",
    "Expiry (exp claim, Unix seconds) of a realm's initial access token, by where it was read (I65)",
    &["integration", "ocm_environment", "path"],
    Audience::Sre,
);
pub const RHIDP_KEYCLOAK_REQUESTS: MetricDef = MetricDef::counter(
    "qontract_reconcile_external_api_keycloak_requests_total",
    "Keycloak client-registration requests by operation and HTTP verb, retries included (I65)",
    &["method", "verb"],
    Audience::Sre,
);
pub const RHIDP_KEYCLOAK_REQUEST_DURATION: MetricDef = MetricDef::histogram(
    "qontract_reconcile_external_api_keycloak_request_duration_seconds",
    "Keycloak client-registration request latency by operation and HTTP verb (I65)",
    &["method", "verb"],
    Audience::Sre,
);

/// Every metric family of the Red Hat IdP capability.
pub const RHIDP: &[&MetricDef] = &[
    &RHIDP_PASS_TOTAL,
    &RHIDP_PASS_ERRORS,
    &RHIDP_MANAGED_CLUSTERS,
    &RHIDP_NUMBER_OF_CLIENTS,
    &RHIDP_SSO_RECONCILED,
    &RHIDP_SSO_ERRORS,
    &RHIDP_IDP_RECONCILED,
    &RHIDP_IDP_ERRORS,
    &RHIDP_VALIDATION_ERRORS,
    &RHIDP_ACTIONS,
    &RHIDP_DELETIONS_BLOCKED,
    &RHIDP_ORPHANED_CLIENTS,
    &RHIDP_IAT_EXPIRATION,
    &RHIDP_KEYCLOAK_REQUESTS,
    &RHIDP_KEYCLOAK_REQUEST_DURATION,
];

/// The definition a sample name belongs to (`_bucket`/`_sum`/`_count` resolve to
/// their histogram), of any capability.
pub fn lookup(sample: &str) -> Option<&'static MetricDef> {
    ALL.iter()
        .chain(RHIDP)
        .copied()
        .find(|d| d.sample_names().iter().any(|n| n == sample))
}
