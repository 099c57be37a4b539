//! Prometheus metrics: the AUS metrics of the reference under the same names and
//! labels (§15, so its Grafana dashboards work unchanged), and srecap's own SLI
//! and health metrics (slo-alerting §1.4).
//!
//! Every family is registered from its typed definition in
//! [`srecap_observability::catalog`], the same constants the alert rules,
//! dashboards and runbooks are generated from, and every series is labelled
//! through [`MetricDef::label_pairs`], so names and labels cannot drift.
//!
//! Gauges describe the latest pass only (R125): each pass builds a fresh registry of
//! gauges and swaps it in at the end, so a scrape sees one pass or the next, never
//! a mix. Counters and histograms live for the whole process. An organization's
//! SLI counters (attempts, and errors or user errors) change under one write lock
//! that the exposition reads under, so no scrape sees half of a pair.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use srecap_aus::{INTEGRATION, OrgPlan, Reason};
use srecap_observability::catalog as c;
use srecap_observability::{FailureCause, MetricDef, Outcome, UserErrorKind, WriteOperation};
use srecap_ocm::{RequestEvent, RequestObserver};

use crate::addons::ADDON_INTEGRATION;

type Labels = Vec<(String, String)>;
type GaugeF = Gauge<f64, std::sync::atomic::AtomicU64>;

fn histogram_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn register(registry: &mut Registry, def: &MetricDef, metric: impl Metric) {
    registry.register(def.registered_name(), def.help, metric);
}

fn unix_now() -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = jiff::Timestamp::now().as_millisecond() as f64;
    ms / 1000.0
}

/// One organization's started upgrades: (cluster uuid, version, start in unix
/// seconds) -> already counted as overdue.
type StartedUpgrades = HashMap<(String, String, i64), bool>;

/// One organization's health per source: (cluster uuid, healthy).
type HealthRows = (String, &'static str, Vec<(String, bool)>);

/// An upgrade still started this long after it started is overdue; the
/// reference's remaining-soak-day marker -3 uses the same bound (§15.3).
pub const OVERDUE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(6);

/// The explanation codes under which a cluster's upgrade is held back by a
/// policy (slo-alerting §1.3 "policy block"): not validation errors (their own
/// metric), not a cluster that is upgrading, has nothing to upgrade to or is not
/// ready.
const BLOCKING: [Reason; 9] = [
    Reason::Mutex,
    Reason::MaxParallel,
    Reason::OutsideSchedule,
    Reason::BlockedVersion,
    Reason::InheritedVersion,
    Reason::SectorDependency,
    Reason::SoakDays,
    Reason::VersionGate,
    Reason::MissingGateAgreement,
];

/// The last published pass's gauges of every environment, and their
/// rendering (built at the first scrape after a publish, reused until the next).
#[derive(Debug, Default)]
struct PassRegistry {
    recorded: BTreeMap<String, Arc<PassGauges>>,
    /// The add-on plans of each environment's last add-on pass (R118).
    addons: BTreeMap<String, Vec<AddonFacts>>,
    rendered: Option<Registry>,
}

/// Every metric srecap exports.
///
/// One process may reconcile several OCM environments: each has its own view
/// ([`Metrics::for_environment`]) that labels its series with its `ocm_env`,
/// while the families, the registries and the published gauges are shared, so
/// one `/metrics` exposition holds every environment with each family once.
#[derive(Debug)]
pub struct Metrics {
    environment: String,
    lasting: Arc<Registry>,
    pass: Arc<RwLock<PassRegistry>>,
    /// Held for writing while an organization's SLI pair changes, for reading
    /// while encoding.
    consistency: Arc<RwLock<()>>,
    reconciled: Family<Labels, Counter>,
    reconcile_errors: Family<Labels, Counter>,
    environment_errors: Family<Labels, Counter>,
    passes: Family<Labels, Counter>,
    pass_duration: Family<Labels, Histogram, fn() -> Histogram>,
    actions: Family<Labels, Counter>,
    service_logs: Family<Labels, Counter>,
    ocm_requests: Family<Labels, Counter>,
    ocm_request_duration: Family<Labels, Histogram, fn() -> Histogram>,
    org_total: Family<Labels, Counter>,
    org_errors: Family<Labels, Counter>,
    org_user_errors: Family<Labels, Counter>,
    addon_org_total: Family<Labels, Counter>,
    addon_org_errors: Family<Labels, Counter>,
    writes: Family<Labels, Counter>,
    write_errors: Family<Labels, Counter>,
    org_last_success: Family<Labels, GaugeF>,
    pass_total: Family<Labels, Counter>,
    pass_overruns: Family<Labels, Counter>,
    pass_last_completed: Family<Labels, GaugeF>,
    pass_interval: Family<Labels, GaugeF>,
    env_errors: Family<Labels, Counter>,
    leases_held: Family<Labels, GaugeF>,
    replica_orgs: Family<Labels, Counter>,
    lease_takeovers: Family<Labels, Counter>,
    unregistered: Family<Labels, GaugeF>,
    upgrades_started: Family<Labels, Counter>,
    upgrades_overdue: Family<Labels, Counter>,
    /// Started upgrades already counted, per organization: (cluster uuid,
    /// version, start in unix seconds) -> counted as overdue. Pruned to what
    /// each pass still sees started, so it holds at most the running upgrades.
    started: Mutex<HashMap<String, StartedUpgrades>>,
    /// Organizations of the last successful discovery: an environment-level
    /// failure is attributed to each of them (§1.3).
    known_orgs: Mutex<BTreeSet<String>>,
    /// Organizations that reconciled without a bad event at least once.
    succeeded: Mutex<HashSet<String>>,
    /// Organizations whose SLI series exist (created at 0 by `org_seen`):
    /// series are never removed, and building their dozens of label sets
    /// twice per organization and pass showed in profiles.
    orgs_seen: Mutex<HashSet<String>>,
    interval: Mutex<Option<Duration>>,
}

impl Metrics {
    pub fn new(environment: &str) -> Arc<Metrics> {
        let mut lasting = Registry::default();
        let m = Metrics {
            environment: environment.to_owned(),
            lasting: Arc::default(),
            pass: Arc::default(),
            consistency: Arc::default(),
            reconciled: Family::default(),
            reconcile_errors: Family::default(),
            environment_errors: Family::default(),
            passes: Family::default(),
            pass_duration: Family::new_with_constructor(histogram_seconds),
            actions: Family::default(),
            service_logs: Family::default(),
            ocm_requests: Family::default(),
            ocm_request_duration: Family::new_with_constructor(histogram_seconds),
            org_total: Family::default(),
            org_errors: Family::default(),
            org_user_errors: Family::default(),
            addon_org_total: Family::default(),
            addon_org_errors: Family::default(),
            writes: Family::default(),
            write_errors: Family::default(),
            org_last_success: Family::default(),
            pass_total: Family::default(),
            pass_overruns: Family::default(),
            pass_last_completed: Family::default(),
            pass_interval: Family::default(),
            env_errors: Family::default(),
            leases_held: Family::default(),
            replica_orgs: Family::default(),
            lease_takeovers: Family::default(),
            unregistered: Family::default(),
            upgrades_started: Family::default(),
            upgrades_overdue: Family::default(),
            started: Mutex::new(HashMap::new()),
            known_orgs: Mutex::new(BTreeSet::new()),
            succeeded: Mutex::new(HashSet::new()),
            orgs_seen: Mutex::new(HashSet::new()),
            interval: Mutex::new(None),
        };
        let r = &mut lasting;
        register(r, &c::AUS_ORG_RECONCILED, m.reconciled.clone());
        register(r, &c::AUS_ORG_RECONCILE_ERRORS, m.reconcile_errors.clone());
        register(r, &c::AUS_ENV_ERRORS, m.environment_errors.clone());
        register(r, &c::PASSES, m.passes.clone());
        register(r, &c::PASS_DURATION, m.pass_duration.clone());
        register(r, &c::ACTIONS, m.actions.clone());
        register(r, &c::SERVICE_LOGS, m.service_logs.clone());
        register(r, &c::OCM_REQUESTS, m.ocm_requests.clone());
        register(r, &c::OCM_REQUEST_DURATION, m.ocm_request_duration.clone());
        register(r, &c::ORG_RECONCILE_TOTAL, m.org_total.clone());
        register(r, &c::ORG_RECONCILE_ERRORS, m.org_errors.clone());
        register(r, &c::ORG_USER_ERRORS, m.org_user_errors.clone());
        register(r, &c::ADDON_ORG_RECONCILE_TOTAL, m.addon_org_total.clone());
        register(
            r,
            &c::ADDON_ORG_RECONCILE_ERRORS,
            m.addon_org_errors.clone(),
        );
        register(r, &c::OCM_WRITES, m.writes.clone());
        register(r, &c::OCM_WRITE_ERRORS, m.write_errors.clone());
        register(r, &c::ORG_LAST_SUCCESS, m.org_last_success.clone());
        register(r, &c::PASS_TOTAL, m.pass_total.clone());
        register(r, &c::PASS_OVERRUNS, m.pass_overruns.clone());
        register(r, &c::PASS_LAST_COMPLETED, m.pass_last_completed.clone());
        register(r, &c::PASS_INTERVAL, m.pass_interval.clone());
        register(r, &c::ENV_ERRORS, m.env_errors.clone());
        register(r, &c::LEASES_HELD, m.leases_held.clone());
        register(r, &c::REPLICA_ORGS_RECONCILED, m.replica_orgs.clone());
        register(r, &c::LEASE_TAKEOVERS, m.lease_takeovers.clone());
        register(r, &c::UNREGISTERED_ORGS, m.unregistered.clone());
        register(r, &c::UPGRADES_STARTED, m.upgrades_started.clone());
        register(r, &c::UPGRADES_OVERDUE, m.upgrades_overdue.clone());
        Arc::new(Metrics {
            lasting: Arc::new(lasting),
            ..m
        })
    }

    /// The view of environment `environment` on the same families and
    /// exposition (several environments in one process): its series carry its
    /// `ocm_env`; its per-environment bookkeeping (organizations known, pass
    /// interval) is its own.
    pub fn for_environment(&self, environment: &str) -> Arc<Metrics> {
        Arc::new(Metrics {
            environment: environment.to_owned(),
            lasting: Arc::clone(&self.lasting),
            pass: Arc::clone(&self.pass),
            consistency: Arc::clone(&self.consistency),
            reconciled: self.reconciled.clone(),
            reconcile_errors: self.reconcile_errors.clone(),
            environment_errors: self.environment_errors.clone(),
            passes: self.passes.clone(),
            pass_duration: self.pass_duration.clone(),
            actions: self.actions.clone(),
            service_logs: self.service_logs.clone(),
            ocm_requests: self.ocm_requests.clone(),
            ocm_request_duration: self.ocm_request_duration.clone(),
            org_total: self.org_total.clone(),
            org_errors: self.org_errors.clone(),
            org_user_errors: self.org_user_errors.clone(),
            addon_org_total: self.addon_org_total.clone(),
            addon_org_errors: self.addon_org_errors.clone(),
            writes: self.writes.clone(),
            write_errors: self.write_errors.clone(),
            org_last_success: self.org_last_success.clone(),
            pass_total: self.pass_total.clone(),
            pass_overruns: self.pass_overruns.clone(),
            pass_last_completed: self.pass_last_completed.clone(),
            pass_interval: self.pass_interval.clone(),
            env_errors: self.env_errors.clone(),
            leases_held: self.leases_held.clone(),
            replica_orgs: self.replica_orgs.clone(),
            lease_takeovers: self.lease_takeovers.clone(),
            unregistered: self.unregistered.clone(),
            upgrades_started: self.upgrades_started.clone(),
            upgrades_overdue: self.upgrades_overdue.clone(),
            started: Mutex::new(HashMap::new()),
            known_orgs: Mutex::new(BTreeSet::new()),
            succeeded: Mutex::new(HashSet::new()),
            orgs_seen: Mutex::new(HashSet::new()),
            interval: Mutex::new(None),
        })
    }

    /// The environment whose series this view writes.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Organizations with AUS labels that the organization registry does not
    /// name, in the latest pass (R41: left alone, only counted).
    pub fn unregistered_organizations(&self, count: usize) {
        #[allow(clippy::cast_precision_loss)] // a count of organizations
        self.unregistered
            .get_or_create(&c::UNREGISTERED_ORGS.label_pairs(&[self.env()]))
            .set(count as f64);
    }

    fn env(&self) -> &str {
        &self.environment
    }

    /// The configured time between pass starts: exported, and the bound above
    /// which a pass counts as an overrun.
    pub fn set_pass_interval(&self, interval: Duration) {
        *self.interval.lock().unwrap_or_else(PoisonError::into_inner) = Some(interval);
        self.pass_interval
            .get_or_create(&c::PASS_INTERVAL.label_pairs(&[self.env()]))
            .set(interval.as_secs_f64());
    }

    /// The number of organization leases `replica` holds now.
    pub fn leases_held(&self, replica: &str, held: usize) {
        #[allow(clippy::cast_precision_loss)] // a count of organizations
        self.leases_held
            .get_or_create(&c::LEASES_HELD.label_pairs(&[self.env(), replica]))
            .set(held as f64);
        let _ = self
            .replica_orgs
            .get_or_create(&c::REPLICA_ORGS_RECONCILED.label_pairs(&[self.env(), replica]));
        let _ = self
            .lease_takeovers
            .get_or_create(&c::LEASE_TAKEOVERS.label_pairs(&[self.env(), replica]));
    }

    /// `replica` completed an organization's pass under its lease.
    pub fn replica_reconciled(&self, replica: &str) {
        self.replica_orgs
            .get_or_create(&c::REPLICA_ORGS_RECONCILED.label_pairs(&[self.env(), replica]))
            .inc();
    }

    /// `replica` took an organization over from a replica whose lease expired.
    pub fn lease_takeover(&self, replica: &str) {
        self.lease_takeovers
            .get_or_create(&c::LEASE_TAKEOVERS.label_pairs(&[self.env(), replica]))
            .inc();
    }

    /// R123: an organization pass began; its error series exists from now on.
    pub fn org_reconciled(&self, org_id: &str) {
        let l = c::AUS_ORG_RECONCILED.label_pairs(&[INTEGRATION, self.env(), org_id]);
        self.reconciled.get_or_create(&l).inc();
        let _ = self.reconcile_errors.get_or_create(&l);
        self.org_seen(org_id);
    }

    /// Create every SLI series of an organization at 0, so ratios never go
    /// absent and a first error is an increase Prometheus can see.
    fn org_seen(&self, org_id: &str) {
        let mut seen = self
            .orgs_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seen.contains(org_id) {
            return;
        }
        seen.insert(org_id.to_owned());
        let env = self.env();
        let _ = self
            .org_total
            .get_or_create(&c::ORG_RECONCILE_TOTAL.label_pairs(&[env, org_id]));
        for cause in FailureCause::ALL {
            let _ = self
                .org_errors
                .get_or_create(&c::ORG_RECONCILE_ERRORS.label_pairs(&[
                    env,
                    org_id,
                    cause.as_str(),
                ]));
        }
        for kind in UserErrorKind::ALL {
            let _ = self
                .org_user_errors
                .get_or_create(&c::ORG_USER_ERRORS.label_pairs(&[env, org_id, kind.as_str()]));
        }
        for op in WriteOperation::ALL {
            let _ =
                self.writes
                    .get_or_create(&c::OCM_WRITES.label_pairs(&[env, org_id, op.as_str()]));
            for cause in FailureCause::ALL {
                let _ = self
                    .write_errors
                    .get_or_create(&c::OCM_WRITE_ERRORS.label_pairs(&[
                        env,
                        org_id,
                        op.as_str(),
                        cause.as_str(),
                    ]));
            }
        }
    }

    /// The reference's error counter (R123): the organization's pass raised.
    pub fn org_failed(&self, org_id: &str) {
        self.reconcile_errors
            .get_or_create(&c::AUS_ORG_RECONCILE_ERRORS.label_pairs(&[
                INTEGRATION,
                self.env(),
                org_id,
            ]))
            .inc();
    }

    /// Whether the organization ever reconciled without a bad event here.
    pub fn succeeded_before(&self, org_id: &str) -> bool {
        self.succeeded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(org_id)
    }

    /// An organization's reconcile ended: its attempt and its outcome are counted
    /// in one step.
    pub fn org_finished(&self, org_id: &str, outcome: Outcome) {
        self.org_seen(org_id);
        let env = self.env().to_owned();
        let _atomic = self
            .consistency
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.org_total
            .get_or_create(&c::ORG_RECONCILE_TOTAL.label_pairs(&[&env, org_id]))
            .inc();
        match outcome {
            Outcome::Failure(cause) => {
                self.org_errors
                    .get_or_create(&c::ORG_RECONCILE_ERRORS.label_pairs(&[
                        &env,
                        org_id,
                        cause.as_str(),
                    ]))
                    .inc();
            }
            Outcome::UserError(kind) => {
                self.org_user_errors
                    .get_or_create(&c::ORG_USER_ERRORS.label_pairs(&[&env, org_id, kind.as_str()]))
                    .inc();
            }
            Outcome::Success => {}
        }
        if !outcome.is_bad() {
            self.org_last_success
                .get_or_create(&c::ORG_LAST_SUCCESS.label_pairs(&[&env, org_id]))
                .set(unix_now());
            self.succeeded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(org_id.to_owned());
        }
    }

    /// One add-on pass of an organization (SLO `aus-addon-reconcile`); `bad`
    /// is the cause when it ended in a bad event. Every cause's series
    /// exists from the first pass.
    pub fn addon_org_finished(&self, org_id: &str, bad: Option<FailureCause>) {
        let env = self.env().to_owned();
        for cause in FailureCause::ALL {
            let _ =
                self.addon_org_errors
                    .get_or_create(&c::ADDON_ORG_RECONCILE_ERRORS.label_pairs(&[
                        &env,
                        org_id,
                        cause.as_str(),
                    ]));
        }
        let _atomic = self
            .consistency
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.addon_org_total
            .get_or_create(&c::ADDON_ORG_RECONCILE_TOTAL.label_pairs(&[&env, org_id]))
            .inc();
        if let Some(cause) = bad {
            self.addon_org_errors
                .get_or_create(&c::ADDON_ORG_RECONCILE_ERRORS.label_pairs(&[
                    &env,
                    org_id,
                    cause.as_str(),
                ]))
                .inc();
        }
    }

    /// One OCM write; `bad` is the cause when it failed with a bad event.
    pub fn write(&self, org_id: &str, op: WriteOperation, bad: Option<FailureCause>) {
        let env = self.env().to_owned();
        self.writes
            .get_or_create(&c::OCM_WRITES.label_pairs(&[&env, org_id, op.as_str()]))
            .inc();
        if let Some(cause) = bad {
            self.write_errors
                .get_or_create(&c::OCM_WRITE_ERRORS.label_pairs(&[
                    &env,
                    org_id,
                    op.as_str(),
                    cause.as_str(),
                ]))
                .inc();
        }
    }

    /// The organizations a successful discovery found, selected for reconcile.
    pub fn discovered(&self, org_ids: impl IntoIterator<Item = String>) {
        *self
            .known_orgs
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = org_ids.into_iter().collect();
    }

    /// The pass failed before the organization fan-out: counted for the
    /// environment, and as a failed reconcile of every organization of the last
    /// successful discovery, so per-organization SLIs see the outage too.
    pub fn environment_failed(&self, cause: FailureCause) {
        self.environment_errors
            .get_or_create(&c::AUS_ENV_ERRORS.label_pairs(&[INTEGRATION, self.env()]))
            .inc();
        self.env_errors
            .get_or_create(&c::ENV_ERRORS.label_pairs(&[self.env(), cause.as_str()]))
            .inc();
        let orgs: Vec<String> = self
            .known_orgs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        for org in orgs {
            self.org_finished(&org, Outcome::Failure(cause));
        }
    }

    /// Create the environment error series before the first failure.
    pub fn environment_seen(&self) {
        let _ = self
            .environment_errors
            .get_or_create(&c::AUS_ENV_ERRORS.label_pairs(&[INTEGRATION, self.env()]));
        for cause in FailureCause::ALL {
            let _ = self
                .env_errors
                .get_or_create(&c::ENV_ERRORS.label_pairs(&[self.env(), cause.as_str()]));
        }
        let _ = self
            .pass_total
            .get_or_create(&c::PASS_TOTAL.label_pairs(&[self.env()]));
        let _ = self
            .pass_overruns
            .get_or_create(&c::PASS_OVERRUNS.label_pairs(&[self.env()]));
    }

    pub fn pass_finished(&self, ok: bool, duration: Duration) {
        let result = if ok { "success" } else { "failure" };
        let env = self.env();
        self.passes
            .get_or_create(&c::PASSES.label_pairs(&[INTEGRATION, env, result]))
            .inc();
        self.pass_duration
            .get_or_create(&c::PASS_DURATION.label_pairs(&[INTEGRATION, env]))
            .observe(duration.as_secs_f64());
        self.pass_total
            .get_or_create(&c::PASS_TOTAL.label_pairs(&[env]))
            .inc();
        let interval = *self.interval.lock().unwrap_or_else(PoisonError::into_inner);
        if interval.is_some_and(|i| duration > i) {
            self.pass_overruns
                .get_or_create(&c::PASS_OVERRUNS.label_pairs(&[env]))
                .inc();
        }
        self.pass_last_completed
            .get_or_create(&c::PASS_LAST_COMPLETED.label_pairs(&[env]))
            .set(unix_now());
    }

    pub fn action(&self, kind: &str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.actions
            .get_or_create(&c::ACTIONS.label_pairs(&[INTEGRATION, self.env(), kind, result]))
            .inc();
    }

    /// A service log for a user's error: `result` is `sent`, `duplicate` or `error`.
    pub fn service_log(&self, org_id: &str, kind: UserErrorKind, result: &str) {
        self.service_logs
            .get_or_create(&c::SERVICE_LOGS.label_pairs(&[
                self.env(),
                org_id,
                kind.as_str(),
                result,
            ]))
            .inc();
    }

    /// Count the upgrades of `org_id`'s clusters (their policies as read this
    /// pass) that are seen started for the first time, and those still started
    /// [`OVERDUE_AFTER`] after their start, each once (slo-alerting §1.4). Both
    /// series exist from an organization's first pass.
    pub fn upgrade_progress(
        &self,
        org_id: &str,
        clusters: &[&srecap_fleet::Cluster],
        now: jiff::Timestamp,
    ) {
        use srecap_fleet::PolicyState;
        let labels = c::UPGRADES_STARTED.label_pairs(&[self.env(), org_id]);
        let started_total = self.upgrades_started.get_or_create(&labels).clone();
        let overdue_total = self
            .upgrades_overdue
            .get_or_create(&c::UPGRADES_OVERDUE.label_pairs(&[self.env(), org_id]))
            .clone();
        let mut all = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = all.entry(org_id.to_owned()).or_default();
        let mut now_started = HashMap::new();
        for cl in clusters {
            let policies = cl
                .upgrade_policies
                .iter()
                .chain(cl.node_pools.iter().flat_map(|p| &p.upgrade_policies));
            for p in policies {
                let (PolicyState::Started, Some(at), Some(v)) = (&p.state, p.next_run, &p.version)
                else {
                    continue;
                };
                let key = (cl.external_id.clone(), v.to_string(), at.as_second());
                let mut overdue = if let Some(&counted) = seen.get(&key) {
                    counted
                } else {
                    started_total.inc();
                    false
                };
                if !overdue && now.duration_since(at) >= OVERDUE_AFTER {
                    overdue_total.inc();
                    overdue = true;
                }
                now_started.insert(key, overdue);
            }
        }
        *seen = now_started;
    }

    /// Swap in the gauges of a finished pass; they are rendered at the next
    /// scrape.
    pub fn publish(&self, gauges: Arc<PassGauges>) {
        let previous = {
            let mut guard = self.pass.write().unwrap_or_else(PoisonError::into_inner);
            guard.rendered = None;
            guard.recorded.insert(gauges.environment.clone(), gauges)
        };
        // The previous pass's plans are often their last owner: freeing
        // thousands of explanations and metric facts is work the next pass
        // need not wait for (and no scrape should wait behind the lock for).
        if let Some(previous) = previous {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(move || drop(previous))),
                Err(_) => drop(previous),
            }
        }
    }

    /// Swap in the add-on plans of a finished add-on pass (R118); rendered
    /// at the next scrape.
    pub fn publish_addons(&self, facts: Vec<AddonFacts>) {
        let mut guard = self.pass.write().unwrap_or_else(PoisonError::into_inner);
        guard.addons.insert(self.environment.clone(), facts);
        guard.rendered = None;
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_families(&mut out);
        let _ = encode_eof(&mut out);
        out
    }

    /// Every family in OpenMetrics text, without the closing `# EOF`, so that
    /// other capabilities' families can follow in one exposition.
    pub fn encode_families(&self, out: &mut String) {
        let _atomic = self
            .consistency
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        {
            // Render the last published passes once; later scrapes reuse it.
            // Every environment's series go into one registry, so each family
            // appears once in the exposition.
            let mut pass = self.pass.write().unwrap_or_else(PoisonError::into_inner);
            if pass.rendered.is_none() {
                let mut series = PassSeries::new("");
                for gauges in pass.recorded.values() {
                    gauges.render_into(&mut series);
                }
                for (env, facts) in &pass.addons {
                    series.addons(env, facts);
                }
                pass.rendered = Some(series.into_registry());
            }
        }
        let pass = self.pass.read().unwrap_or_else(PoisonError::into_inner);
        // Writing to a String cannot fail.
        let _ = encode_registry(out, &self.lasting);
        if let Some(registry) = &pass.rendered {
            let _ = encode_registry(out, registry);
        }
    }

    /// The classic Prometheus text exposition (0.0.4); see [`classic_text`].
    pub fn encode_text(&self) -> String {
        classic_text(&self.encode())
    }
}

/// The classic Prometheus text exposition (0.0.4) of an OpenMetrics text, for
/// scrapers and tools that do not ask for OpenMetrics (promtool 2.42, curl):
/// counters are named with their `_total` suffix in `HELP`/`TYPE`, and there is
/// no `# EOF`.
pub fn classic_text(open: &str) -> String {
    let mut out = String::with_capacity(open.len());
    let mut help: Option<&str> = None;
    for line in open.lines() {
        if line == "# EOF" {
            continue;
        }
        if line.starts_with("# HELP ") {
            help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let counter = rest.strip_suffix(" counter");
            let rename = |l: &str, prefix: &str| -> String {
                match (counter, l.strip_prefix(prefix)) {
                    (Some(name), Some(tail)) => {
                        let tail = tail.strip_prefix(name).unwrap_or(tail);
                        format!("{prefix}{name}_total{tail}")
                    }
                    _ => l.to_owned(),
                }
            };
            if let Some(h) = help.take() {
                out.push_str(&rename(h, "# HELP "));
                out.push('\n');
            }
            out.push_str(&rename(line, "# TYPE "));
            out.push('\n');
            continue;
        }
        if let Some(h) = help.take() {
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl RequestObserver for Metrics {
    fn observe(&self, event: &RequestEvent<'_>) {
        let code = event.outcome.to_string();
        self.ocm_requests
            .get_or_create(&c::OCM_REQUESTS.label_pairs(&[
                INTEGRATION,
                self.env(),
                event.endpoint,
                event.method,
                &code,
            ]))
            .inc();
        self.ocm_request_duration
            .get_or_create(&c::OCM_REQUEST_DURATION.label_pairs(&[
                INTEGRATION,
                self.env(),
                event.endpoint,
                event.method,
            ]))
            .observe(event.duration.as_secs_f64());
    }
}

/// The gauges of one pass, recorded while it runs and rendered when scraped.
///
/// A pass records facts (the organizations' plans, shared rather than copied,
/// and the upgrade states it read); the series are built from them only when
/// `/metrics` is read, once per published pass. Building thousands of labelled
/// series per pass cost a fifth of a pass, which a controller scraped once a
/// minute, or a simulation never scraped, does not need to pay every pass.
#[derive(Debug)]
pub struct PassGauges {
    environment: String,
    facts: Mutex<PassFacts>,
}

/// What a pass recorded for its gauges.
#[derive(Debug, Default)]
struct PassFacts {
    plans: Vec<(String, Arc<OrgPlan>)>,
    /// Organizations validated without errors this pass (R6 step 1), with
    /// their validation-only plan: their organization-level gauges are
    /// published from it when the rest of their pass fails.
    validated: Vec<(String, Arc<OrgPlan>)>,
    /// Per organization and health source: (cluster uuid, healthy).
    health: Vec<HealthRows>,
    /// Per organization, the clusters whose policies were read: external id,
    /// the most advanced pending state, and started upgrades (version, unix
    /// seconds).
    upgrades: Vec<(String, Vec<UpgradeRow>)>,
    /// Organization, cluster uuid, from, to.
    switches: Vec<[String; 4]>,
    succeeded_at: Option<f64>,
}

#[derive(Debug)]
struct UpgradeRow {
    external_id: String,
    state: &'static str,
    started: Vec<(String, f64)>,
}

/// One add-on of one organization, as its last add-on pass planned it.
#[derive(Debug)]
pub struct AddonFacts {
    pub org_id: String,
    pub addon_id: String,
    pub plan: Arc<OrgPlan>,
}

/// The rendered series of a pass.
#[derive(Debug)]
struct PassSeries {
    environment: String,
    info: Family<Labels, GaugeF>,
    validation_errors: Family<Labels, GaugeF>,
    version_data: Family<Labels, GaugeF>,
    remaining_soak_days: Family<Labels, GaugeF>,
    addon_info: Family<Labels, GaugeF>,
    addon_remaining_soak_days: Family<Labels, GaugeF>,
    missing_gates: Family<Labels, GaugeF>,
    channel_switch: Family<Labels, GaugeF>,
    last_success: Family<Labels, GaugeF>,
    config_errors: Family<Labels, GaugeF>,
    org_info: Family<Labels, GaugeF>,
    upgrade_started: Family<Labels, GaugeF>,
    upgrade_state: Family<Labels, GaugeF>,
    health_state: Family<Labels, GaugeF>,
    cluster_health: Family<Labels, GaugeF>,
    upgrade_blocked: Family<Labels, GaugeF>,
}

fn rank(state: &str) -> u8 {
    match state {
        "started" => 3,
        "delayed" => 2,
        "scheduled" => 1,
        _ => 0,
    }
}

/// The label an error message is about (`label <key>: …`), else `other`.
fn reason_of(message: &str) -> &str {
    message
        .strip_prefix("label ")
        .and_then(|rest| rest.split_once(':'))
        .map_or("other", |(key, _)| key)
}

impl PassGauges {
    pub fn new(environment: &str) -> PassGauges {
        PassGauges {
            environment: environment.to_owned(),
            facts: Mutex::new(PassFacts::default()),
        }
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, PassFacts> {
        self.facts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gauges of one organization's pass (§15.2), from its plan.
    pub fn org(&self, org_id: &str, plan: Arc<OrgPlan>) {
        self.facts().plans.push((org_id.to_owned(), plan));
    }

    /// An organization validated without errors (R6 step 1): its
    /// organization-level gauges (validation errors, info per valid cluster)
    /// are published from `probe` unless its full plan replaces them, so they
    /// do not vanish when its per-cluster reads fail.
    pub fn validated(&self, org_id: &str, probe: Arc<OrgPlan>) {
        self.facts().validated.push((org_id.to_owned(), probe));
    }

    /// Health of the organization's clusters per `source` (R49, §15):
    /// (cluster uuid, whether the source reports no error, enforced or not).
    pub fn health(&self, org_id: &str, source: &'static str, clusters: Vec<(String, bool)>) {
        self.facts()
            .health
            .push((org_id.to_owned(), source, clusters));
    }

    /// Upgrade state of the clusters whose policies were read this pass.
    pub fn upgrades(&self, org_id: &str, clusters: &[&srecap_fleet::Cluster]) {
        use srecap_fleet::PolicyState;
        let rows = clusters
            .iter()
            .map(|cl| {
                let mut state = "idle";
                let mut started = Vec::new();
                for p in &cl.upgrade_policies {
                    let s = match &p.state {
                        PolicyState::Started => "started",
                        PolicyState::Delayed => "delayed",
                        PolicyState::Scheduled | PolicyState::Pending => "scheduled",
                        PolicyState::Completed
                        | PolicyState::Failed
                        | PolicyState::Cancelled
                        | PolicyState::Other(_) => continue,
                    };
                    // The most advanced state wins.
                    if rank(s) > rank(state) {
                        state = s;
                    }
                    if let (PolicyState::Started, Some(at), Some(v)) =
                        (&p.state, p.next_run, &p.version)
                    {
                        #[allow(clippy::cast_precision_loss)]
                        let seconds = at.as_millisecond() as f64 / 1000.0;
                        started.push((v.to_string(), seconds));
                    }
                }
                UpgradeRow {
                    external_id: cl.external_id.clone(),
                    state,
                    started,
                }
            })
            .collect();
        self.facts().upgrades.push((org_id.to_owned(), rows));
    }

    /// A channel switch was applied (R104).
    pub fn channel_switched(&self, org_id: &str, cluster_uuid: &str, from: &str, to: &str) {
        self.facts().switches.push([
            org_id.to_owned(),
            cluster_uuid.to_owned(),
            from.to_owned(),
            to.to_owned(),
        ]);
    }

    /// Unix time of this pass's end, when it succeeded.
    pub fn succeeded_at(&self, unix_seconds: f64) {
        self.facts().succeeded_at = Some(unix_seconds);
    }

    /// Add the pass's series to `series`, labelled with this environment.
    fn render_into(&self, series: &mut PassSeries) {
        let facts = self.facts();
        series.environment.clone_from(&self.environment);
        for (org_id, plan) in &facts.plans {
            series.org(org_id, plan);
        }
        let planned: HashSet<&str> = facts.plans.iter().map(|(o, _)| o.as_str()).collect();
        for (org_id, probe) in &facts.validated {
            if !planned.contains(org_id.as_str()) {
                series.org_level(org_id, probe);
            }
        }
        for (org_id, source, rows) in &facts.health {
            series.health(org_id, source, rows);
        }
        for (org_id, rows) in &facts.upgrades {
            series.upgrades(org_id, rows);
        }
        for [org_id, uuid, from, to] in &facts.switches {
            series.channel_switched(org_id, uuid, from, to);
        }
        if let Some(t) = facts.succeeded_at {
            series.succeeded_at(t);
        }
    }
}

impl PassSeries {
    fn new(environment: &str) -> PassSeries {
        PassSeries {
            environment: environment.to_owned(),
            info: Family::default(),
            validation_errors: Family::default(),
            version_data: Family::default(),
            remaining_soak_days: Family::default(),
            addon_info: Family::default(),
            addon_remaining_soak_days: Family::default(),
            missing_gates: Family::default(),
            channel_switch: Family::default(),
            last_success: Family::default(),
            config_errors: Family::default(),
            org_info: Family::default(),
            upgrade_started: Family::default(),
            upgrade_state: Family::default(),
            health_state: Family::default(),
            cluster_health: Family::default(),
            upgrade_blocked: Family::default(),
        }
    }

    fn env(&self) -> &str {
        &self.environment
    }

    /// Gauges of one organization's pass (§15.2).
    fn org(&self, org_id: &str, plan: &OrgPlan) {
        self.org_level(org_id, plan);
        if plan.has_validation_errors() {
            return;
        }
        let env = self.env();
        self.pass_level(org_id, plan);
        // slo-alerting §1.4: clusters a policy holds back, by reason.
        let uuids: HashMap<&str, &str> = plan
            .details
            .valid_clusters
            .iter()
            .map(|c| (c.name.as_str(), c.external_id.as_str()))
            .collect();
        for e in &plan.clusters {
            if !BLOCKING.contains(&e.reason) {
                continue;
            }
            if let Some(uuid) = uuids.get(e.cluster.as_str()) {
                self.upgrade_blocked
                    .get_or_create(&c::CLUSTER_UPGRADE_BLOCKED.label_pairs(&[
                        env,
                        org_id,
                        uuid,
                        e.reason.as_str(),
                    ]))
                    .set(1.0);
            }
        }
    }

    /// Health per valid cluster and source (§15.2, slo-alerting §1.4).
    fn health(&self, org_id: &str, source: &str, rows: &[(String, bool)]) {
        let env = self.env();
        for (uuid, healthy) in rows {
            let value = if *healthy { 1.0 } else { 0.0 };
            self.health_state
                .get_or_create(&c::AUS_HEALTH_STATE.label_pairs(&[INTEGRATION, env, uuid, source]))
                .set(value);
            self.cluster_health
                .get_or_create(&c::CLUSTER_HEALTH_STATE.label_pairs(&[env, org_id, uuid, source]))
                .set(value);
        }
    }

    /// The organization-level gauges (R6 step 1): organization info, the info
    /// metric per valid cluster, validation and configuration errors.
    fn org_level(&self, org_id: &str, plan: &OrgPlan) {
        let env = self.env();
        let org_name = plan.details.org_name.as_str();
        self.org_info
            .get_or_create(&c::ORG_INFO.label_pairs(&[env, org_id, org_name]))
            .set(1.0);
        for cl in &plan.details.valid_clusters {
            let soak_days = cl.soak_days.to_string();
            let current_version = cl.current_version.to_string();
            self.info
                .get_or_create(&c::AUS_POLICY_INFO.label_pairs(&[
                    INTEGRATION,
                    env,
                    &cl.external_id,
                    org_id,
                    org_name,
                    &cl.channel,
                    &current_version,
                    &cl.name,
                    cl.schedule.as_str(),
                    &cl.sector,
                    &srecap_observability::list_label(&cl.mutexes),
                    &soak_days,
                    &srecap_observability::list_label(&cl.workloads),
                    &cl.product,
                    if cl.hypershift { "true" } else { "false" },
                ]))
                .set(1.0);
        }
        #[allow(clippy::cast_precision_loss)] // a handful of errors
        self.validation_errors
            .get_or_create(&c::AUS_VALIDATION_ERRORS.label_pairs(&[INTEGRATION, env, org_id]))
            .set(plan.validation_errors.count() as f64);
        let mut config: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for message in &plan.validation_errors.organization {
            *config.entry(("org", reason_of(message))).or_default() += 1.0;
        }
        for message in plan.validation_errors.clusters.values().flatten() {
            *config.entry(("cluster", reason_of(message))).or_default() += 1.0;
        }
        for ((scope, reason), n) in config {
            self.config_errors
                .get_or_create(&c::ORG_CONFIG_ERRORS.label_pairs(&[env, org_id, scope, reason]))
                .set(n);
        }
    }

    /// The gauges of a planned (not frozen) organization: soak history,
    /// remaining soak days, missing gate agreements (R7).
    fn pass_level(&self, org_id: &str, plan: &OrgPlan) {
        let env = self.env();
        for (version, vh) in &plan.version_data.versions {
            for (workload, wh) in &vh.workloads {
                self.version_data
                    .get_or_create(&c::AUS_VERSION_DATA.label_pairs(&[
                        INTEGRATION,
                        env,
                        org_id,
                        version,
                        workload,
                    ]))
                    .set(wh.soak_days);
            }
        }
        for r in &plan.details.remaining_soak_days {
            self.remaining_soak_days
                .get_or_create(&c::AUS_REMAINING_SOAK_DAYS.label_pairs(&[
                    INTEGRATION,
                    env,
                    r.external_id,
                    r.version,
                ]))
                .set(r.value);
        }
        for m in &plan.details.missing_gates {
            // §18 G24: the reference puts the internal cluster id in `cluster_uuid`
            // here; kept for dashboard compatibility.
            #[allow(clippy::cast_precision_loss)]
            self.missing_gates
                .get_or_create(&c::AUS_MISSING_GATES.label_pairs(&[
                    INTEGRATION,
                    env,
                    org_id,
                    &m.cluster_id,
                    &m.version_prefix,
                ]))
                .set(m.gates.len() as f64);
        }
    }

    /// The add-on gauges of one environment (R118): no validation-error or
    /// health gauges, as in the reference.
    fn addons(&self, env: &str, facts: &[AddonFacts]) {
        for f in facts {
            let plan = &f.plan;
            let (org_id, addon) = (f.org_id.as_str(), f.addon_id.as_str());
            let org_name = plan.details.org_name.as_str();
            for cl in &plan.details.valid_clusters {
                let soak_days = cl.soak_days.to_string();
                let current_version = cl.current_version.to_string();
                self.addon_info
                    .get_or_create(&c::AUS_ADDON_POLICY_INFO.label_pairs(&[
                        ADDON_INTEGRATION,
                        env,
                        &cl.external_id,
                        org_id,
                        org_name,
                        &cl.channel,
                        &current_version,
                        &cl.name,
                        cl.schedule.as_str(),
                        &cl.sector,
                        &srecap_observability::list_label(&cl.mutexes),
                        &soak_days,
                        &srecap_observability::list_label(&cl.workloads),
                        &cl.product,
                        if cl.hypershift { "true" } else { "false" },
                        addon,
                    ]))
                    .set(1.0);
            }
            if plan.has_validation_errors() {
                continue;
            }
            for r in &plan.details.remaining_soak_days {
                self.addon_remaining_soak_days
                    .get_or_create(&c::AUS_ADDON_REMAINING_SOAK_DAYS.label_pairs(&[
                        ADDON_INTEGRATION,
                        env,
                        r.external_id,
                        r.version,
                        addon,
                    ]))
                    .set(r.value);
            }
        }
    }

    fn upgrades(&self, org_id: &str, rows: &[UpgradeRow]) {
        let env = self.env();
        for row in rows {
            for (version, seconds) in &row.started {
                self.upgrade_started
                    .get_or_create(&c::CLUSTER_UPGRADE_STARTED.label_pairs(&[
                        env,
                        org_id,
                        &row.external_id,
                        version,
                    ]))
                    .set(*seconds);
            }
            self.upgrade_state
                .get_or_create(&c::CLUSTER_UPGRADE_STATE.label_pairs(&[
                    env,
                    org_id,
                    &row.external_id,
                    row.state,
                ]))
                .set(1.0);
        }
    }

    /// A channel switch was applied (R104).
    fn channel_switched(&self, org_id: &str, cluster_uuid: &str, from: &str, to: &str) {
        self.channel_switch
            .get_or_create(&c::AUS_CHANNEL_SWITCH.label_pairs(&[
                INTEGRATION,
                self.env(),
                org_id,
                cluster_uuid,
                from,
                to,
            ]))
            .set(1.0);
    }

    /// Unix time of this pass's end, when it succeeded.
    fn succeeded_at(&self, unix_seconds: f64) {
        self.last_success
            .get_or_create(&c::LAST_SUCCESSFUL_PASS.label_pairs(&[INTEGRATION, self.env()]))
            .set(unix_seconds);
    }

    fn into_registry(self) -> Registry {
        let mut r = Registry::default();
        register(&mut r, &c::AUS_POLICY_INFO, self.info);
        register(&mut r, &c::AUS_VALIDATION_ERRORS, self.validation_errors);
        register(&mut r, &c::AUS_VERSION_DATA, self.version_data);
        register(
            &mut r,
            &c::AUS_REMAINING_SOAK_DAYS,
            self.remaining_soak_days,
        );
        register(&mut r, &c::AUS_ADDON_POLICY_INFO, self.addon_info);
        register(
            &mut r,
            &c::AUS_ADDON_REMAINING_SOAK_DAYS,
            self.addon_remaining_soak_days,
        );
        register(&mut r, &c::AUS_MISSING_GATES, self.missing_gates);
        register(&mut r, &c::AUS_CHANNEL_SWITCH, self.channel_switch);
        register(&mut r, &c::LAST_SUCCESSFUL_PASS, self.last_success);
        register(&mut r, &c::ORG_CONFIG_ERRORS, self.config_errors);
        register(&mut r, &c::ORG_INFO, self.org_info);
        register(&mut r, &c::CLUSTER_UPGRADE_STARTED, self.upgrade_started);
        register(&mut r, &c::CLUSTER_UPGRADE_STATE, self.upgrade_state);
        register(&mut r, &c::AUS_HEALTH_STATE, self.health_state);
        register(&mut r, &c::CLUSTER_HEALTH_STATE, self.cluster_health);
        register(&mut r, &c::CLUSTER_UPGRADE_BLOCKED, self.upgrade_blocked);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::{SignedDuration, Timestamp};
    use srecap_fleet::{Cluster, PolicyState, Product, ScheduleType, UpgradePolicy};

    fn upgrading(started: Timestamp) -> Cluster {
        Cluster {
            name: "c".into(),
            organization: "org-1".into(),
            id: "c-id".into(),
            external_id: "c-uuid".into(),
            version: "4.15.1".parse().unwrap(),
            channel_group: "stable".into(),
            channel: "stable-4.15".into(),
            available_upgrades: Vec::new().into(),
            available_upgrades_explicit: true,
            available_channels: vec![],
            product: Product::Osd,
            hypershift: false,
            sts: false,
            state: "ready".into(),
            healthy: true,
            labels: BTreeMap::default().into(),
            node_pools: vec![],
            upgrade_policies: vec![UpgradePolicy {
                id: "p".into(),
                version: Some("4.15.2".parse().unwrap()),
                next_run: Some(started),
                state: PolicyState::Started,
                schedule_type: ScheduleType::Manual,
                schedule: None,
            }],
            gate_agreements: vec![],
            auth: srecap_fleet::ClusterAuth::default(),
        }
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
    }

    /// slo-alerting §1.4: an upgrade counts as started once, and as overdue
    /// once when still started `OVERDUE_AFTER` after it started.
    #[test]
    fn upgrades_started_and_overdue_are_counted_once() {
        let metrics = Metrics::new("production");
        let t0: Timestamp = "2026-12-07T00:00:00Z".parse().unwrap();
        let c = upgrading(t0);
        let started = r#"srecap_aus_upgrades_started_total{ocm_env="production",org_id="org-1"}"#;
        let overdue = r#"srecap_aus_upgrades_overdue_total{ocm_env="production",org_id="org-1"}"#;
        for (hours, s, o) in [(1, 1.0, 0.0), (2, 1.0, 0.0), (6, 1.0, 1.0), (9, 1.0, 1.0)] {
            metrics.upgrade_progress("org-1", &[&c], t0 + SignedDuration::from_hours(hours));
            let text = metrics.encode();
            assert_eq!(value(&text, started), Some(s), "{hours} h: {text}");
            assert_eq!(value(&text, overdue), Some(o), "{hours} h");
        }
        // Finished, then a new upgrade of the same cluster: counted again.
        let mut idle = c.clone();
        idle.upgrade_policies.clear();
        metrics.upgrade_progress("org-1", &[&idle], t0 + SignedDuration::from_hours(10));
        let next = upgrading(t0 + SignedDuration::from_hours(11));
        metrics.upgrade_progress("org-1", &[&next], t0 + SignedDuration::from_hours(11));
        assert_eq!(value(&metrics.encode(), started), Some(2.0));
    }
}
