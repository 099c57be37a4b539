//! The Red Hat `IdP` capability's Prometheus metrics (spec rhidp §10, I65, I66).
//!
//! [`RhidpMetrics`] owns its families in its own prometheus-client
//! [`Registry`] (the type the AUS [`crate::Metrics`] uses), so adding it to a
//! `/metrics` exposition never changes the AUS series: a server appends
//! [`RhidpMetrics::encode_registry_into`] to its text, or registers the
//! families into a registry of its own with [`RhidpMetrics::register`].
//!
//! Design decisions:
//! * The caller feeds it after each pass with [`RhidpMetrics::record`] and the
//!   pass's [`RhidpReport`]: the reconciler stays free of metrics, and the
//!   planner's [`srecap_rhidp::plan::Facts`] are the one source of the gauges.
//! * srecap runs both of the reference's reconcilers in one pass (I3), so the
//!   reference's per-integration series (`rhidp_managed_clusters`, the
//!   reconciled and error counters) are written under both `integration`
//!   values the reference dashboard queries (`rhidp-sso-client`,
//!   `ocm-oidc-idp`).
//! * Gauges of an organization that is no longer discovered are removed, not
//!   left at their last value (W15): each environment remembers the label sets
//!   it wrote last, and a record drops those it does not write again (after
//!   writing the new ones, so a scrape never sees an empty family in between).
//! * Label values are environment names, organization ids and fixed words only:
//!   no client key, issuer or token reaches a series (I72). The one exception
//!   is the IAT gauge's `path`, which names where the token was read (a file
//!   path or `env:VAR`), never the token.
//! * The Keycloak request metrics come from [`srecap_sso::SsoObserver`]: a
//!   [`srecap_sso::SsoClient`] built `with_observer(Arc<RhidpMetrics>)`
//!   reports every attempt here, labelled by operation and verb only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use srecap_observability::catalog as c;
use srecap_rhidp::Action;
use srecap_rhidp::plan::{IdpAction, OperatorCode, SsoClientAction};
use srecap_sso::{Secret, SsoObserver, SsoRequestEvent};

use super::{Outcome, RhidpReport};

type Labels = Vec<(String, String)>;

/// The reference's `integration` label of the SSO-client reconciler (I2).
pub const SSO_CLIENT_INTEGRATION: &str = "rhidp-sso-client";
/// The reference's `integration` label of the identity-provider reconciler (I2).
pub const IDP_INTEGRATION: &str = "ocm-oidc-idp";

/// Every rhidp metric srecap exports.
#[derive(Debug)]
pub struct RhidpMetrics {
    registry: Registry,
    managed_clusters: Family<Labels, Gauge>,
    number_of_clients: Family<Labels, Gauge>,
    sso_reconciled: Family<Labels, Counter>,
    sso_errors: Family<Labels, Counter>,
    idp_reconciled: Family<Labels, Counter>,
    idp_errors: Family<Labels, Counter>,
    validation_errors: Family<Labels, Gauge>,
    actions: Family<Labels, Counter>,
    deletions_blocked: Family<Labels, Gauge>,
    orphaned_clients: Family<Labels, Gauge>,
    iat_expiration: Family<Labels, Gauge>,
    keycloak_requests: Family<Labels, Counter>,
    keycloak_request_duration: Family<Labels, Histogram, fn() -> Histogram>,
    /// Per environment, the gauge label sets the last record wrote (W15).
    written: Mutex<BTreeMap<String, Written>>,
}

/// The per-organization gauge series one environment's last record wrote.
#[derive(Debug, Default)]
struct Written {
    managed_clusters: BTreeSet<Labels>,
    validation_errors: BTreeSet<Labels>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// 5 ms to about 41 s, as the OCM request histogram: Keycloak calls time out
/// after 30 s (I34).
fn histogram_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Default for RhidpMetrics {
    fn default() -> Self {
        RhidpMetrics::new()
    }
}

impl RhidpMetrics {
    pub fn new() -> RhidpMetrics {
        let mut metrics = RhidpMetrics {
            registry: Registry::default(),
            managed_clusters: Family::default(),
            number_of_clients: Family::default(),
            sso_reconciled: Family::default(),
            sso_errors: Family::default(),
            idp_reconciled: Family::default(),
            idp_errors: Family::default(),
            validation_errors: Family::default(),
            actions: Family::default(),
            deletions_blocked: Family::default(),
            orphaned_clients: Family::default(),
            iat_expiration: Family::default(),
            keycloak_requests: Family::default(),
            keycloak_request_duration: Family::new_with_constructor(histogram_seconds),
            written: Mutex::new(BTreeMap::new()),
        };
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.registry = registry;
        metrics
    }

    /// Register every family into `registry` (families share their series
    /// with this value, so recording here shows there too).
    pub fn register(&self, registry: &mut Registry) {
        // Names, help and labels come from the catalog, as every srecap
        // metric's do.
        let gauges = [
            (&c::RHIDP_MANAGED_CLUSTERS, &self.managed_clusters),
            (&c::RHIDP_NUMBER_OF_CLIENTS, &self.number_of_clients),
            (&c::RHIDP_VALIDATION_ERRORS, &self.validation_errors),
            (&c::RHIDP_DELETIONS_BLOCKED, &self.deletions_blocked),
            (&c::RHIDP_ORPHANED_CLIENTS, &self.orphaned_clients),
            (&c::RHIDP_IAT_EXPIRATION, &self.iat_expiration),
        ];
        for (def, family) in gauges {
            registry.register(def.registered_name(), def.help, family.clone());
        }
        let counters = [
            (&c::RHIDP_SSO_RECONCILED, &self.sso_reconciled),
            (&c::RHIDP_SSO_ERRORS, &self.sso_errors),
            (&c::RHIDP_IDP_RECONCILED, &self.idp_reconciled),
            (&c::RHIDP_IDP_ERRORS, &self.idp_errors),
            (&c::RHIDP_ACTIONS, &self.actions),
            (&c::RHIDP_KEYCLOAK_REQUESTS, &self.keycloak_requests),
        ];
        for (def, family) in counters {
            registry.register(def.registered_name(), def.help, family.clone());
        }
        let def = &c::RHIDP_KEYCLOAK_REQUEST_DURATION;
        registry.register(
            def.registered_name(),
            def.help,
            self.keycloak_request_duration.clone(),
        );
    }

    /// Set `rhidp_sso_client_inital_access_token_expiration` of the initial
    /// access token read from `path` (a file path or `env:VAR`) for the
    /// environment `environment` to `exp`, Unix seconds (I65).
    pub fn record_iat_expiry(&self, environment: &str, path: &str, exp: i64) {
        self.iat_expiration
            .get_or_create(&Self::iat_labels(environment, path))
            .set(exp);
    }

    /// Read the expiry of `iat` ([`srecap_sso::token_expiry`]) and record it
    /// as [`RhidpMetrics::record_iat_expiry`] does; a token whose expiry
    /// cannot be read (not a JWT, no `exp`) removes the series instead of
    /// leaving a stale value, since a replaced token may be opaque. Returns
    /// the expiry.
    pub fn record_iat(&self, environment: &str, path: &str, iat: &Secret) -> Option<i64> {
        let exp = srecap_sso::token_expiry(iat);
        match exp {
            Some(exp) => self.record_iat_expiry(environment, path, exp),
            None => {
                self.iat_expiration
                    .remove(&Self::iat_labels(environment, path));
            }
        }
        exp
    }

    fn iat_labels(environment: &str, path: &str) -> Labels {
        labels(&[
            ("integration", SSO_CLIENT_INTEGRATION),
            ("ocm_environment", environment),
            ("path", path),
        ])
    }

    /// Append the OpenMetrics text of the rhidp families (without `# EOF`,
    /// which the whole exposition ends with once).
    pub fn encode_registry_into(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = encode_registry(out, &self.registry);
    }

    /// The OpenMetrics text of the rhidp families alone, with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_registry_into(&mut out);
        out.push_str("# EOF\n");
        out
    }

    /// Record a pass of `env` that could not run (OCM or the store could not
    /// be read): both phases failed; the gauges keep the last pass's values.
    pub fn record_failure(&self, env: &str) {
        for (family, integration) in [
            (&self.sso_errors, SSO_CLIENT_INTEGRATION),
            (&self.idp_errors, IDP_INTEGRATION),
        ] {
            family
                .get_or_create(&labels(&[
                    ("integration", integration),
                    ("ocm_environment", env),
                ]))
                .inc();
        }
    }

    /// Record one pass of the environment `env`: the plan's facts as gauges,
    /// the execution's outcomes as counters.
    pub fn record(&self, env: &str, report: &RhidpReport) {
        let plan = &report.plan;
        let facts = &plan.facts;
        let mut written = Written::default();
        for integration in [SSO_CLIENT_INTEGRATION, IDP_INTEGRATION] {
            for (org, count) in &facts.managed_clusters {
                let set = labels(&[
                    ("integration", integration),
                    ("ocm_environment", env),
                    ("org_id", org),
                ]);
                self.managed_clusters
                    .get_or_create(&set)
                    .set(gauge_value(*count));
                written.managed_clusters.insert(set);
            }
        }
        for (org, count) in &facts.validation_errors {
            let set = labels(&[("ocm_env", env), ("org_id", org)]);
            self.validation_errors
                .get_or_create(&set)
                .set(gauge_value(*count));
            written.validation_errors.insert(set);
        }
        self.number_of_clients
            .get_or_create(&labels(&[
                ("integration", SSO_CLIENT_INTEGRATION),
                ("ocm_environment", env),
            ]))
            .set(gauge_value(facts.clients));
        self.deletions_blocked
            .get_or_create(&labels(&[("ocm_env", env)]))
            .set(i64::from(facts.deletions_blocked));

        // Orphans: those the plan suspects (pending records no longer wanted)
        // and those the execution found ("clientId taken" after a pending record).
        let mut orphans: BTreeSet<&str> = plan
            .operator_errors
            .iter()
            .filter(|e| e.code == OperatorCode::PossibleOrphan)
            .filter_map(|e| e.sso_client_id.as_deref())
            .collect();
        if let Some(execution) = &report.execution {
            orphans.extend(execution.orphaned_clients.iter().map(String::as_str));
        }
        self.orphaned_clients
            .get_or_create(&labels(&[("ocm_env", env)]))
            .set(i64::try_from(orphans.len()).unwrap_or(i64::MAX));

        let (mut sso_failed, mut idp_failed) = operator_failures(report);
        if let Some(execution) = &report.execution {
            let orgs: BTreeMap<&str, &str> = plan
                .clusters
                .iter()
                .map(|c| (c.cluster_id.as_str(), c.organization_id.as_str()))
                .collect();
            // The executor answers one outcome per action, in plan order.
            for (action, done) in plan.actions.iter().zip(&execution.actions) {
                let (kind, verb, org) = describe(action, &orgs);
                let outcome = match done.outcome {
                    Outcome::Done | Outcome::Gone => "ok",
                    Outcome::Skipped { .. } => "skipped",
                    Outcome::Failed { .. } => "error",
                    // The users' to fix (a service log told them): not the
                    // reconciler's error.
                    Outcome::Rejected { .. } => "rejected",
                };
                if outcome == "error" {
                    if kind == "sso-client" {
                        sso_failed = true;
                    } else {
                        idp_failed = true;
                    }
                }
                self.actions
                    .get_or_create(&labels(&[
                        ("ocm_env", env),
                        ("org_id", org),
                        ("kind", kind),
                        ("action", verb),
                        ("outcome", outcome),
                    ]))
                    .inc();
            }
        }
        let with =
            |integration: &str| labels(&[("integration", integration), ("ocm_environment", env)]);
        if sso_failed {
            self.sso_errors
                .get_or_create(&with(SSO_CLIENT_INTEGRATION))
                .inc();
        } else {
            self.sso_reconciled
                .get_or_create(&with(SSO_CLIENT_INTEGRATION))
                .inc();
        }
        if idp_failed {
            self.idp_errors.get_or_create(&with(IDP_INTEGRATION)).inc();
        } else {
            self.idp_reconciled
                .get_or_create(&with(IDP_INTEGRATION))
                .inc();
        }

        // W15: drop the series of organizations this pass no longer wrote.
        let mut guard = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(before) = guard.insert(env.to_owned(), written) {
            let now = &guard[env];
            for gone in before.managed_clusters.difference(&now.managed_clusters) {
                self.managed_clusters.remove(gone);
            }
            for gone in before.validation_errors.difference(&now.validation_errors) {
                self.validation_errors.remove(gone);
            }
        }
    }
}

impl SsoObserver for RhidpMetrics {
    fn observe(&self, event: &SsoRequestEvent<'_>) {
        let set = labels(&[("method", event.method), ("verb", event.verb)]);
        self.keycloak_requests.get_or_create(&set).inc();
        self.keycloak_request_duration
            .get_or_create(&set)
            .observe(event.duration.as_secs_f64());
    }
}

/// Which phases the plan's pass-failing operator errors belong to (I48, I51
/// fail the provider phase; the rest the client phase; I59 the phase whose
/// deletes were withheld).
fn operator_failures(report: &RhidpReport) -> (bool, bool) {
    let (mut sso, mut idp) = (false, false);
    for error in report.plan.operator_errors.iter().filter(|e| e.fails_pass) {
        match error.code {
            OperatorCode::IssuerMismatch | OperatorCode::IdpWithoutId => idp = true,
            OperatorCode::DeletionsBlocked => {
                let guard = report.plan.deletions_blocked;
                sso |= guard.is_none_or(|g| g.sso_clients_blocked);
                idp |= guard.is_none_or(|g| g.idps_blocked);
            }
            _ => sso = true,
        }
    }
    (sso, idp)
}

/// An action's `kind`, `action` and organization labels (the organization is
/// empty when the action does not name its cluster, as a client delete).
fn describe<'a>(
    action: &Action,
    orgs: &BTreeMap<&str, &'a str>,
) -> (&'static str, &'static str, &'a str) {
    match action {
        Action::SsoClient(a) => {
            let verb = match a {
                SsoClientAction::Delete { .. } => "delete",
                SsoClientAction::Create { .. } => "create",
                SsoClientAction::Update { .. } => "update",
            };
            let org = match a {
                SsoClientAction::Create { client, .. } | SsoClientAction::Update { client, .. } => {
                    orgs.get(client.cluster_id.as_str()).copied().unwrap_or("")
                }
                SsoClientAction::Delete { .. } => "",
            };
            ("sso-client", verb, org)
        }
        Action::IdentityProvider(a) => {
            let verb = match a {
                IdpAction::Delete { .. } => "delete",
                IdpAction::Create { .. } => "create",
                IdpAction::Update { .. } => "update",
            };
            let org = orgs.get(a.cluster_id()).copied().unwrap_or("");
            ("idp", verb, org)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use srecap_rhidp::Plan;
    use srecap_rhidp::plan::Facts;

    fn report(managed: &[(&str, u64)], errors: &[(&str, u64)]) -> RhidpReport {
        RhidpReport {
            plan: Plan {
                now: jiff::Timestamp::UNIX_EPOCH,
                ocm_environment: "production".to_owned(),
                actions: Vec::new(),
                clusters: Vec::new(),
                operator_errors: Vec::new(),
                deletions_blocked: None,
                facts: Facts {
                    managed_clusters: managed.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect(),
                    clients: 3,
                    validation_errors: errors.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect(),
                    deletions_blocked: false,
                },
            },
            execution: Some(super::super::Execution::default()),
        }
    }

    #[test]
    fn i65_series_carry_the_reference_names_and_labels() {
        let metrics = RhidpMetrics::new();
        metrics.record("production", &report(&[("org-1", 2)], &[("org-1", 1)]));
        let text = metrics.encode();
        for line in [
            r#"rhidp_managed_clusters{integration="rhidp-sso-client",ocm_environment="production",org_id="org-1"} 2"#,
            r#"rhidp_managed_clusters{integration="ocm-oidc-idp",ocm_environment="production",org_id="org-1"} 2"#,
            r#"rhidp_sso_client_number_of_clients{integration="rhidp-sso-client",ocm_environment="production"} 3"#,
            r#"rhidp_sso_client_reconciled_total{integration="rhidp-sso-client",ocm_environment="production"} 1"#,
            r#"rhidp_ocm_oidc_idp_reconciled_total{integration="ocm-oidc-idp",ocm_environment="production"} 1"#,
            r#"rhidp_validation_errors{ocm_env="production",org_id="org-1"} 1"#,
            r#"rhidp_deletions_blocked{ocm_env="production"} 0"#,
            r#"rhidp_orphaned_clients{ocm_env="production"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn w15_gauges_of_organizations_that_disappear_are_removed() {
        let metrics = RhidpMetrics::new();
        metrics.record(
            "production",
            &report(&[("org-1", 1), ("org-2", 4)], &[("org-2", 1)]),
        );
        metrics.record("stage", &report(&[("org-9", 1)], &[]));
        metrics.record("production", &report(&[("org-1", 1)], &[("org-1", 0)]));
        let text = metrics.encode();
        assert!(!text.contains("org-2"), "{text}");
        assert!(text.contains(r#"org_id="org-1"} 1"#), "{text}");
        // Another environment's series are not touched.
        assert!(
            text.contains(r#"ocm_environment="stage",org_id="org-9"} 1"#),
            "{text}"
        );
    }

    fn jwt(payload: &str) -> Secret {
        use base64::Engine as _;
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        Secret::new(format!(
            "{}.{}.sig",
            enc(br#"{"alg":"HS256"}"#),
            enc(payload.as_bytes())
        ))
    }

    #[test]
    fn i65_the_iat_expiry_is_its_exp_claim_by_path() {
        let metrics = RhidpMetrics::new();
        let iat = jwt(r#"{"exp":1767225600,"typ":"InitialAccessToken"}"#);
        assert_eq!(
            metrics.record_iat("production", "/etc/srecap/iat", &iat),
            Some(1_767_225_600)
        );
        metrics.record_iat_expiry("stage", "env:RHIDP_IAT", 1_700_000_000);
        let text = metrics.encode();
        for line in [
            r#"rhidp_sso_client_inital_access_token_expiration{integration="rhidp-sso-client",ocm_environment="production",path="/etc/srecap/iat"} 1767225600"#,
            r#"rhidp_sso_client_inital_access_token_expiration{integration="rhidp-sso-client",ocm_environment="stage",path="env:RHIDP_IAT"} 1700000000"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        // The token itself never reaches the exposition (I72).
        assert!(!text.contains(iat.expose()), "{text}");
        // A token replaced by one without a readable expiry drops the series.
        assert_eq!(
            metrics.record_iat("production", "/etc/srecap/iat", &Secret::new("opaque")),
            None
        );
        assert!(!metrics.encode().contains("/etc/srecap/iat"));
    }

    #[test]
    fn keycloak_requests_are_counted_by_method_and_verb() {
        let metrics = RhidpMetrics::new();
        for _ in 0..2 {
            metrics.observe(&SsoRequestEvent {
                method: srecap_sso::methods::REGISTER,
                verb: "POST",
                outcome: srecap_sso::Outcome::Status(201),
                duration: std::time::Duration::from_millis(20),
            });
        }
        let text = metrics.encode();
        for line in [
            r#"qontract_reconcile_external_api_keycloak_requests_total{method="clients.register",verb="POST"} 2"#,
            r#"qontract_reconcile_external_api_keycloak_request_duration_seconds_count{method="clients.register",verb="POST"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn registering_elsewhere_shares_the_series() {
        let metrics = RhidpMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.record("production", &report(&[("org-1", 7)], &[]));
        let mut text = String::new();
        encode_registry(&mut text, &registry).unwrap();
        assert!(text.contains(r#"org_id="org-1"} 7"#), "{text}");
    }
}
