//! Prometheus metrics: the AUS metrics of the reference under the same names and
//! labels (§15, so its Grafana dashboards work unchanged), and srecap's own.
//!
//! Gauges describe the latest pass only (R125): each pass builds a fresh registry of
//! gauges and swaps it in at the end, so a scrape sees one pass or the next, never
//! a mix. Counters and histograms live for the whole process.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use srecap_aus::{INTEGRATION, OrgPlan};
use srecap_ocm::{RequestEvent, RequestObserver};

type Labels = Vec<(String, String)>;
type GaugeF = Gauge<f64, std::sync::atomic::AtomicU64>;

fn histogram_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric srecap exports.
#[derive(Debug)]
pub struct Metrics {
    environment: String,
    lasting: Registry,
    pass: RwLock<Registry>,
    reconciled: Family<Labels, Counter>,
    reconcile_errors: Family<Labels, Counter>,
    environment_errors: Family<Labels, Counter>,
    passes: Family<Labels, Counter>,
    pass_duration: Family<Labels, Histogram, fn() -> Histogram>,
    actions: Family<Labels, Counter>,
    service_logs: Family<Labels, Counter>,
    ocm_requests: Family<Labels, Counter>,
    ocm_request_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub fn new(environment: &str) -> Arc<Metrics> {
        let mut lasting = Registry::default();
        let m = Metrics {
            environment: environment.to_owned(),
            reconciled: Family::default(),
            reconcile_errors: Family::default(),
            environment_errors: Family::default(),
            passes: Family::default(),
            pass_duration: Family::new_with_constructor(histogram_seconds),
            actions: Family::default(),
            service_logs: Family::default(),
            ocm_requests: Family::default(),
            ocm_request_duration: Family::new_with_constructor(histogram_seconds),
            pass: RwLock::new(Registry::default()),
            lasting: Registry::default(),
        };
        lasting.register(
            "aus_organization_reconciled",
            "Organization passes started (R123)",
            m.reconciled.clone(),
        );
        lasting.register(
            "aus_organization_reconcile_errors",
            "Organization passes that failed (R123)",
            m.reconcile_errors.clone(),
        );
        lasting.register(
            "aus_ocm_environment_errors",
            "Passes whose discovery of the OCM environment failed (R5)",
            m.environment_errors.clone(),
        );
        lasting.register(
            "srecap_aus_passes",
            "Reconcile passes by result",
            m.passes.clone(),
        );
        lasting.register(
            "srecap_aus_pass_duration_seconds",
            "Duration of reconcile passes",
            m.pass_duration.clone(),
        );
        lasting.register(
            "srecap_aus_actions",
            "Upgrade policies and channel switches applied, by type and result",
            m.actions.clone(),
        );
        lasting.register(
            "srecap_aus_service_logs",
            "Validation feedback service logs, by result (sent, duplicate, error)",
            m.service_logs.clone(),
        );
        lasting.register(
            "srecap_ocm_requests",
            "OCM API requests (every attempt), by endpoint template, method and status",
            m.ocm_requests.clone(),
        );
        lasting.register(
            "srecap_ocm_request_duration_seconds",
            "OCM API request latency by endpoint template and method",
            m.ocm_request_duration.clone(),
        );
        Arc::new(Metrics { lasting, ..m })
    }

    fn base(&self) -> Labels {
        vec![
            ("integration".to_owned(), INTEGRATION.to_owned()),
            ("ocm_env".to_owned(), self.environment.clone()),
        ]
    }

    fn labels(&self, extra: &[(&str, &str)]) -> Labels {
        let mut l = self.base();
        l.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        l
    }

    /// R123: an organization pass began; its error series exists from now on.
    pub fn org_reconciled(&self, org_id: &str) {
        let l = self.labels(&[("org_id", org_id)]);
        self.reconciled.get_or_create(&l).inc();
        let _ = self.reconcile_errors.get_or_create(&l);
    }

    pub fn org_failed(&self, org_id: &str) {
        self.reconcile_errors
            .get_or_create(&self.labels(&[("org_id", org_id)]))
            .inc();
    }

    pub fn environment_failed(&self) {
        self.environment_errors.get_or_create(&self.base()).inc();
    }

    /// Create the environment error series before the first failure.
    pub fn environment_seen(&self) {
        let _ = self.environment_errors.get_or_create(&self.base());
    }

    pub fn pass_finished(&self, ok: bool, duration: Duration) {
        let result = if ok { "success" } else { "failure" };
        self.passes
            .get_or_create(&self.labels(&[("result", result)]))
            .inc();
        self.pass_duration
            .get_or_create(&self.base())
            .observe(duration.as_secs_f64());
    }

    pub fn action(&self, kind: &str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.actions
            .get_or_create(&self.labels(&[("type", kind), ("result", result)]))
            .inc();
    }

    pub fn service_log(&self, result: &str) {
        self.service_logs
            .get_or_create(&self.labels(&[("result", result)]))
            .inc();
    }

    /// Swap in the gauges of a finished pass.
    pub fn publish(&self, gauges: PassGauges) {
        let mut guard = self
            .pass
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = gauges.into_registry();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let pass = self
            .pass
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.lasting);
        let _ = encode_registry(&mut out, &pass);
        let _ = encode_eof(&mut out);
        out
    }
}

impl RequestObserver for Metrics {
    fn observe(&self, event: &RequestEvent<'_>) {
        let code = event.outcome.to_string();
        self.ocm_requests
            .get_or_create(&self.labels(&[
                ("endpoint", event.endpoint),
                ("method", event.method),
                ("code", &code),
            ]))
            .inc();
        self.ocm_request_duration
            .get_or_create(&self.labels(&[("endpoint", event.endpoint), ("method", event.method)]))
            .observe(event.duration.as_secs_f64());
    }
}

/// The gauges of one pass, collected while it runs.
#[derive(Debug)]
pub struct PassGauges {
    base: Labels,
    info: Family<Labels, GaugeF>,
    validation_errors: Family<Labels, GaugeF>,
    version_data: Family<Labels, GaugeF>,
    remaining_soak_days: Family<Labels, GaugeF>,
    missing_gates: Family<Labels, GaugeF>,
    channel_switch: Family<Labels, GaugeF>,
    last_success: Family<Labels, GaugeF>,
}

impl PassGauges {
    pub fn new(environment: &str) -> PassGauges {
        PassGauges {
            base: vec![
                ("integration".to_owned(), INTEGRATION.to_owned()),
                ("ocm_env".to_owned(), environment.to_owned()),
            ],
            info: Family::default(),
            validation_errors: Family::default(),
            version_data: Family::default(),
            remaining_soak_days: Family::default(),
            missing_gates: Family::default(),
            channel_switch: Family::default(),
            last_success: Family::default(),
        }
    }

    fn labels(&self, extra: &[(&str, &str)]) -> Labels {
        let mut l = self.base.clone();
        l.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        l
    }

    /// Gauges of one organization's pass (§15.2).
    pub fn org(&self, org_id: &str, plan: &OrgPlan) {
        let org_name = plan.details.org_name.as_str();
        for c in &plan.details.valid_clusters {
            let soak_days = c.soak_days.to_string();
            let current_version = c.current_version.to_string();
            self.info
                .get_or_create(&self.labels(&[
                    ("cluster_uuid", &c.external_id),
                    ("org_id", org_id),
                    ("org_name", org_name),
                    ("channel", &c.channel),
                    ("current_version", &current_version),
                    ("cluster_name", &c.name),
                    ("schedule", c.schedule.as_str()),
                    ("sector", &c.sector),
                    ("mutexes", &c.mutexes.join(",")),
                    ("soak_days", &soak_days),
                    ("workloads", &c.workloads.join(",")),
                    ("product", &c.product),
                    ("hypershift", if c.hypershift { "true" } else { "false" }),
                ]))
                .set(1.0);
        }
        #[allow(clippy::cast_precision_loss)] // a handful of errors
        self.validation_errors
            .get_or_create(&self.labels(&[("org_id", org_id)]))
            .set(plan.validation_errors.count() as f64);
        if plan.has_validation_errors() {
            return;
        }
        for (version, vh) in &plan.version_data.versions {
            for (workload, wh) in &vh.workloads {
                self.version_data
                    .get_or_create(&self.labels(&[
                        ("org_id", org_id),
                        ("version", version),
                        ("workload", workload),
                    ]))
                    .set(wh.soak_days);
            }
        }
        for r in &plan.details.remaining_soak_days {
            self.remaining_soak_days
                .get_or_create(&self.labels(&[
                    ("cluster_uuid", &r.external_id),
                    ("soaking_version", &r.version),
                ]))
                .set(r.value);
        }
        for m in &plan.details.missing_gates {
            // §18 G24: the reference puts the internal cluster id in `cluster_uuid`
            // here; kept for dashboard compatibility.
            #[allow(clippy::cast_precision_loss)]
            self.missing_gates
                .get_or_create(&self.labels(&[
                    ("org_id", org_id),
                    ("cluster_uuid", &m.cluster_id),
                    ("version_prefix", &m.version_prefix),
                ]))
                .set(m.gates.len() as f64);
        }
    }

    /// A channel switch was applied (R104).
    pub fn channel_switched(&self, org_id: &str, cluster_uuid: &str, from: &str, to: &str) {
        self.channel_switch
            .get_or_create(&self.labels(&[
                ("org_id", org_id),
                ("cluster_uuid", cluster_uuid),
                ("from_channel", from),
                ("to_channel", to),
            ]))
            .set(1.0);
    }

    /// Unix time of this pass's end, when it succeeded.
    pub fn succeeded_at(&self, unix_seconds: f64) {
        self.last_success
            .get_or_create(&self.base)
            .set(unix_seconds);
    }

    fn into_registry(self) -> Registry {
        let mut r = Registry::default();
        r.register(
            "aus_cluster_upgrade_policy_info",
            "AUS policy of every valid cluster",
            self.info,
        );
        r.register(
            "aus_organization_validation_errors",
            "Validation errors per organization (clusters with errors + organization errors)",
            self.validation_errors,
        );
        r.register(
            "aus_organization_version_data",
            "Soak days per version and workload in the organization's own history",
            self.version_data,
        );
        r.register(
            "aus_cluster_version_remaining_soak_days",
            "Soak days left per cluster and available version (-1 scheduled, -2 started, -3 started >= 6h ago, -4 blocked)",
            self.remaining_soak_days,
        );
        r.register(
            "aus_cluster_missing_version_gate_agreements",
            "Version gates a cluster still has to agree to for its chosen version's minor",
            self.missing_gates,
        );
        r.register(
            "aus_cluster_channel_switch",
            "Y-stream channel switches applied in this pass",
            self.channel_switch,
        );
        r.register(
            "srecap_aus_last_successful_pass_timestamp_seconds",
            "Unix time at which the last successful pass ended",
            self.last_success,
        );
        r
    }
}
