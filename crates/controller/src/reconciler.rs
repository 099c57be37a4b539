//! One reconcile pass over an OCM environment, and the loop that repeats it.
//!
//! A pass takes no input but the world (OCM, the store, the clock) and is safe to
//! repeat: the next pass is the retry (R1). Organizations are reconciled in
//! isolation: an error in one is logged and counted and the others proceed (R123);
//! a user's configuration error is data, never a failure.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use srecap_aus::approver::{self, Agreement};
use srecap_aus::facts;
use srecap_aus::inheritance::Network;
use srecap_aus::planner::{Faults, OrgInput, ParsedLabels, PlanOptions};
use srecap_aus::soak::Source;
use srecap_aus::{FleetPlan, OrgPlan};
use srecap_fleet::Cluster;
use srecap_observability::{FailureCause, Outcome};
use srecap_store::{HistoryStore, HistoryTxn, Lease, StateKey, Store, StoreError};

use crate::admission;
use crate::error::PassError;
use crate::executor::{Execution, Executor};
use crate::metrics::{Metrics, PassGauges};
use crate::ocm::Ocm;
use crate::outcome;
use crate::planning::{self, OrgContext};
use crate::registry::{self, OrgRegistry, Selection};
use crate::snapshot::{OrgFacts, Snapshot};

/// How far a pass's time may stray from OCM's clock before it is worth a
/// warning: soak days and slots are computed from the pass's time.
pub const CLOCK_SKEW_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// The difference between the pass's time and OCM's clock, when it exceeds
/// [`CLOCK_SKEW_TOLERANCE`].
pub fn clock_skew(now: Timestamp, ocm: Option<Timestamp>) -> Option<jiff::SignedDuration> {
    let skew = now.duration_since(ocm?);
    (skew.abs() > CLOCK_SKEW_TOLERANCE).then_some(skew)
}

/// How the reconciler runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// OCM environment name (state keys, metric label `ocm_env`).
    pub environment: String,
    /// Only these organizations (empty: all).
    pub include: Vec<String>,
    /// Never these organizations (wins over `include`).
    pub exclude: Vec<String>,
    /// Change nothing in OCM and nothing in the store.
    pub dry_run: bool,
    /// Clusters read at once.
    pub concurrency: usize,
    /// Organizations reconciled at once, at most. Below this bound, another
    /// organization starts only while OCM is not saturated ([`Ocm::saturated`]),
    /// so with a request-rate budget the work in flight follows the budget.
    pub max_orgs_in_flight: usize,
    /// Test-only planner faults.
    pub faults: Faults,
    /// Cluster health (none: every cluster counts as healthy).
    pub health: Option<crate::health::HealthProvider>,
    /// An organization's pass is cancelled after this long and counts as a
    /// failure with cause `deadline` (none: no limit).
    pub org_deadline: Option<Duration>,
    /// Leave clusters whose AWS STS setting is enabled alone, as if they had no
    /// AUS label (R12).
    pub ignore_sts: bool,
    /// Share the organizations with other replicas through the store's
    /// leases (none: reconcile every selected organization, as a simulation or
    /// a dry run does).
    pub replica: Option<Replica>,
    /// The environment's organization registry (none: every organization with
    /// AUS labels may use AUS; R4, R41).
    pub registry: Option<Arc<OrgRegistry>>,
}

/// Who this replica is, and how long it holds an organization.
#[derive(Debug, Clone)]
pub struct Replica {
    /// The lease holder's name (unique among the replicas of an environment).
    pub id: String,
    /// Time to live of an organization's lease, counted from each acquire or
    /// renewal. The holder keeps the organization from pass to pass while it
    /// re-acquires within the TTL; a replica that dies loses it after one TTL.
    pub lease_ttl: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            environment: "production".to_owned(),
            include: Vec::new(),
            exclude: Vec::new(),
            dry_run: false,
            concurrency: 8,
            max_orgs_in_flight: 8,
            faults: Faults::default(),
            health: None,
            org_deadline: None,
            ignore_sts: false,
            replica: None,
            registry: None,
        }
    }
}

/// What happened to one organization in a pass.
#[derive(Debug)]
pub struct OrgOutcome {
    pub org_id: String,
    /// The organization's plan (shared with the pass's gauges).
    pub result: Result<Arc<OrgPlan>, PassError>,
    /// What the executor wrote, and what OCM refused (logged; the pass goes on,
    /// R99).
    pub execution: Execution,
    /// How the pass ended for the SLIs: success, user error, or failure with a
    /// cause (slo-alerting §1.3).
    pub outcome: Outcome,
}

/// The result of one pass.
#[derive(Debug)]
pub struct PassReport {
    pub now: Timestamp,
    pub orgs: Vec<OrgOutcome>,
    /// Selected organizations left alone because another replica holds their
    /// lease.
    pub leased_elsewhere: Vec<String>,
    /// Organizations with AUS labels that the registry does not name: left
    /// alone after discovery (R41).
    pub unregistered: Vec<String>,
}

impl PassReport {
    /// The plans of the organizations that were planned, as `srecap aus plan`
    /// shows them.
    pub fn plan(&self) -> FleetPlan {
        FleetPlan {
            now: self.now,
            organizations: self
                .orgs
                .iter()
                .filter_map(|o| o.result.as_ref().ok().map(|p| OrgPlan::clone(p)))
                .collect(),
        }
    }

    pub fn failed_orgs(&self) -> usize {
        self.orgs.iter().filter(|o| o.result.is_err()).count()
    }
}

impl OrgOutcome {
    /// One line per write OCM refused (`kind cluster: reason`).
    pub fn failed_actions(&self) -> Vec<String> {
        self.execution.refusal_lines()
    }
}

/// The AUS reconciler of one OCM environment.
#[derive(Debug, Clone)]
pub struct Reconciler {
    ocm: Arc<dyn Ocm>,
    store: Store,
    config: Config,
    metrics: Arc<Metrics>,
    /// The leases this replica holds, by organization: kept from pass to pass
    /// (the holder re-acquires them) and released at shutdown.
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    /// Each organization's parsed labels, kept from pass to pass: labels
    /// rarely change, and parsing them was a large part of planning.
    parsed: Arc<Mutex<HashMap<String, ParsedLabels>>>,
}

/// Gives an organization's parsed labels back to the reconciler when its pass
/// ends, however it ends (an error, or the deadline dropping it).
struct KeepParsed<'r> {
    kept: &'r Mutex<HashMap<String, ParsedLabels>>,
    org_id: &'r str,
    context: Arc<OrgContext>,
}

impl Drop for KeepParsed<'_> {
    fn drop(&mut self) {
        let parsed = self.context.take_parsed();
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.org_id.to_owned(), parsed);
    }
}

/// What one organization's task of a pass owns: its clusters, and shares of
/// what the pass read for every organization.
struct OrgWork {
    org: srecap_fleet::Organization,
    clusters: Vec<Cluster>,
    resolution: srecap_aus::inheritance::Resolution,
    now: Timestamp,
    sources: Arc<BTreeMap<StateKey, Arc<srecap_fleet::VersionData>>>,
    gauges: Arc<PassGauges>,
    discovered: Arc<Snapshot>,
}

/// An organization's task, aborted when the pass that awaits it is dropped
/// (a deadline or a shutdown must not leave it writing to OCM). A panic in
/// the task panics the pass, as it did before organizations were tasks; a
/// task the runtime cancelled (shutting down) ends as `None`.
struct OrgTask<T>(tokio::task::JoinHandle<T>);

impl<T> Future for OrgTask<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(output)) => Poll::Ready(Some(output)),
            Poll::Ready(Err(e)) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Poll::Ready(None),
            },
        }
    }
}

impl<T> Drop for OrgTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether this replica may reconcile an organization now.
enum Claim {
    /// Leases are off (one runner).
    Unshared,
    Held(Lease),
    /// Another replica holds the organization.
    Elsewhere,
}

impl Reconciler {
    pub fn new(
        ocm: Arc<dyn Ocm>,
        store: Store,
        config: Config,
        metrics: Arc<Metrics>,
    ) -> Reconciler {
        metrics.environment_seen();
        Reconciler {
            ocm,
            store,
            config,
            metrics,
            leases: Arc::default(),
            parsed: Arc::default(),
        }
    }

    /// The store this reconciler keeps its histories (and leases) in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How this reconciler runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        // Every critical section is one map operation: a poisoned map is whole.
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Organizations whose lease this replica holds and has not seen expire.
    pub fn leases_held(&self) -> usize {
        let now = tokio::time::Instant::now();
        self.held()
            .values()
            .filter(|l| l.valid_until() > now)
            .count()
    }

    /// Give every lease up, so that other replicas take the organizations at
    /// once instead of after a TTL (shutdown). Returns how many were still held.
    pub async fn release_leases(&self) -> usize {
        let leases: Vec<Lease> = self.held().drain().map(|(_, l)| l).collect();
        let mut released = 0;
        for lease in &leases {
            match self.store.release(lease).await {
                Ok(true) => released += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(org = %lease.key(), error = %e, "could not release a lease; it expires after its TTL");
                }
            }
        }
        if let Some(replica) = &self.config.replica {
            self.metrics.leases_held(&replica.id, 0);
        }
        released
    }

    /// Take (or keep) organization `org_id` for this replica.
    /// Whether this replica works on `org_id` this pass: always without
    /// leases, else only while it holds the organization's lease (the add-on
    /// pass follows the cluster pass's claim, [`crate::addons`]).
    pub fn may_reconcile(&self, org_id: &str) -> bool {
        self.config.replica.is_none() || self.held().contains_key(org_id)
    }

    async fn claim(&self, org_id: &str) -> Result<Claim, PassError> {
        let Some(replica) = &self.config.replica else {
            return Ok(Claim::Unshared);
        };
        let key = StateKey::new(self.config.environment.as_str(), org_id)?;
        match self
            .store
            .acquire(&key, &replica.id, replica.lease_ttl)
            .await
        {
            Ok(Some(lease)) => {
                if let Some(previous) = lease.took_over_from() {
                    tracing::warn!(org = %org_id, from = %previous, "took the organization over from a replica whose lease expired");
                    self.metrics.lease_takeover(&replica.id);
                }
                self.held().insert(org_id.to_owned(), lease.clone());
                Ok(Claim::Held(lease))
            }
            Ok(None) => {
                self.held().remove(org_id);
                Ok(Claim::Elsewhere)
            }
            Err(e) => {
                self.held().remove(org_id);
                Err(e.into())
            }
        }
    }

    /// Renew `lease` before a write: a replica that lost its organization (or
    /// its store) must not write to OCM. The renewed lease replaces the held
    /// one.
    async fn confirm(&self, lease: Option<&Lease>) -> Result<Option<Lease>, PassError> {
        let (Some(lease), Some(replica)) = (lease, &self.config.replica) else {
            return Ok(None);
        };
        let org = lease.key().org_id().to_owned();
        match self.store.renew(lease, replica.lease_ttl).await {
            Ok(Some(renewed)) => {
                self.held().insert(org, renewed.clone());
                Ok(Some(renewed))
            }
            Ok(None) => {
                self.held().remove(&org);
                Err(StoreError::Fenced {
                    key: lease.key().to_string(),
                    holder: lease.holder().to_owned(),
                    token: lease.token(),
                    reason: "expired or was taken over before the pass could write",
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The OCM this reconciler reads and writes.
    pub fn ocm(&self) -> &Arc<dyn Ocm> {
        &self.ocm
    }

    fn executor(&self) -> Executor<'_> {
        Executor {
            ocm: self.ocm.as_ref(),
            metrics: &self.metrics,
            concurrency: self.config.concurrency,
        }
    }

    fn selection(&self, org_id: &str) -> Selection {
        registry::select(
            self.config.registry.as_deref(),
            &self.config.include,
            &self.config.exclude,
            org_id,
        )
    }

    /// One pass at `now` over this environment alone: the inheritance network
    /// is built from its own organizations. Fails only when the environment
    /// cannot be discovered (counted as an environment error, R5);
    /// organization failures are in the report.
    pub async fn pass(&self, now: Timestamp) -> Result<PassReport, PassError> {
        let started = Instant::now();
        let result = match self.discover(now).await {
            Ok(snapshot) => {
                let network = snapshot.network();
                self.reconcile(now, snapshot, &network).await
            }
            Err(e) => Err(e),
        };
        // The add-on upgrade scheduler after the cluster pass (§13).
        crate::addons::pass(self, now).await;
        self.finish(started, &result);
        result
    }

    /// Discovery of this environment (R10–R17): the first step of a pass.
    pub async fn discover(&self, now: Timestamp) -> Result<Snapshot, PassError> {
        let snapshot = Snapshot::discover(self.ocm.as_ref(), &self.config.environment, now).await?;
        if let Some(skew) = clock_skew(now, self.ocm.server_time()) {
            tracing::warn!(
                ocm_env = %self.config.environment,
                pass_time = %now,
                ocm_time = ?self.ocm.server_time(),
                skew = %format!("{skew:#}"),
                "the time of this pass differs from OCM's clock (HTTP Date) by more than 5 minutes: soak days and maintenance slots would be counted wrong; check the machine's clock (or --now)"
            );
        }
        Ok(snapshot)
    }

    /// Count a pass that started at `started` and ended with `result`: a
    /// failure before the organization fan-out is an environment error (R5
    /// step 2).
    pub fn finish(&self, started: Instant, result: &Result<PassReport, PassError>) {
        let ok = result.as_ref().is_ok_and(|r| r.failed_orgs() == 0);
        if let Err(e) = result {
            self.metrics.environment_failed(environment_cause(e));
        }
        self.metrics.pass_finished(ok, started.elapsed());
    }

    /// The rest of a pass over `discovered`, with the inheritance `network`
    /// (built from every environment's organizations when several run in one
    /// process, R5 step 1, R44).
    pub async fn reconcile(
        &self,
        now: Timestamp,
        mut discovered: Snapshot,
        network: &Network,
    ) -> Result<PassReport, PassError> {
        let env = self.config.environment.as_str();
        // Each organization's clusters move into its pass (no copy of the fleet).
        let mut by_org = discovered.take_clusters_by_org(self.config.ignore_sts);
        // R41: organizations outside the registry are left alone from here on.
        let mut unregistered = Vec::new();
        by_org.retain(|org_id, _| match self.selection(org_id) {
            Selection::Reconcile => true,
            Selection::Unregistered => {
                unregistered.push(org_id.clone());
                false
            }
            Selection::NotIncluded | Selection::Excluded | Selection::Disabled => false,
        });
        self.metrics.unregistered_organizations(unregistered.len());
        if !unregistered.is_empty() {
            // Counted every pass (srecap_aus_unregistered_organizations); the
            // names only at debug level, so a steady state does not flood the log.
            tracing::debug!(env = %env, orgs = %unregistered.join(","), "organizations with AUS labels outside the registry left alone");
        }
        // Inherited histories as stored at the start of the pass (as `aus plan`),
        // from whichever environment publishes them (R44).
        let mut source_keys = Vec::new();
        for org in by_org.keys() {
            for (source_env, source) in network.resolve(org).verified {
                source_keys.push(StateKey::new(source_env, source)?);
            }
        }
        let sources = Arc::new(self.store.load_many(&source_keys).await?);

        let gauges = Arc::new(PassGauges::new(env));
        // R4, R14: selected organizations with at least one discovered cluster.
        let selected: Vec<(Vec<Cluster>, srecap_fleet::Organization)> = by_org
            .into_iter()
            .filter_map(|(org_id, clusters)| {
                let org = discovered.fleet.organization(&org_id)?;
                Some((clusters, org.clone()))
            })
            .collect();
        self.metrics
            .discovered(selected.iter().map(|(_, org)| org.id.clone()));
        // Organizations are isolated, so each is reconciled as a task of its
        // own: on a multi-threaded runtime their reads, bookkeeping and writes
        // run on every worker, not only on the thread that drives the pass.
        // The client's limit bounds the requests in flight, and the store
        // serializes the short history transactions.
        let discovered = Arc::new(discovered);
        let mut leased_elsewhere = Vec::new();
        let mut outcomes: Vec<OrgOutcome> = admission::admit(
            selected.into_iter().map(|(clusters, org)| {
                let work = OrgWork {
                    resolution: network.resolve(&org.id),
                    org,
                    clusters,
                    now,
                    sources: Arc::clone(&sources),
                    gauges: Arc::clone(&gauges),
                    discovered: Arc::clone(&discovered),
                };
                let this = self.clone();
                // Spawned when admitted (admission peeks ahead), aborted if the
                // pass is dropped.
                async move {
                    let org_id = work.org.id.clone();
                    let task = OrgTask(tokio::spawn(async move { this.reconcile_org(work).await }));
                    task.await.unwrap_or_else(|| {
                        Ok(OrgOutcome {
                            org_id,
                            result: Err(PassError::Cancelled),
                            execution: Execution::default(),
                            outcome: Outcome::Failure(FailureCause::Internal),
                        })
                    })
                }
            }),
            self.config.max_orgs_in_flight,
            || self.ocm.saturated(),
        )
        .await
        .into_iter()
        .filter_map(|o| o.map_err(|org| leased_elsewhere.push(org)).ok())
        .collect();
        outcomes.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        leased_elsewhere.sort();
        // Parsed labels of organizations this pass did not plan are let go.
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|org, _| {
                outcomes
                    .binary_search_by(|o| o.org_id.as_str().cmp(org))
                    .is_ok()
            });
        if let Some(replica) = &self.config.replica {
            self.metrics.leases_held(&replica.id, self.leases_held());
        }
        if outcomes.iter().all(|o| o.result.is_ok()) {
            #[allow(clippy::cast_precision_loss)]
            gauges.succeeded_at(Timestamp::now().as_millisecond() as f64 / 1000.0);
        }
        self.metrics.publish(gauges);
        Ok(PassReport {
            now,
            orgs: outcomes,
            leased_elsewhere,
            unregistered,
        })
    }

    /// One organization's part of a pass, run as a task of its own. `Err`
    /// names an organization another replica holds.
    async fn reconcile_org(&self, work: OrgWork) -> Result<OrgOutcome, String> {
        let OrgWork {
            org,
            clusters,
            mut resolution,
            now,
            sources,
            gauges,
            discovered,
        } = work;
        let env = self.config.environment.as_str();
        let org_id = org.id.as_str();
        // Replicas share organizations: the lease says whose this one is (a
        // store error fails this organization only).
        let lease = match self.claim(org_id).await {
            Ok(Claim::Elsewhere) => return Err(org_id.to_owned()),
            Ok(Claim::Held(lease)) => Ok(Some(lease)),
            Ok(Claim::Unshared) => Ok(None),
            Err(e) => Err(e),
        };
        self.metrics.org_reconciled(org_id);
        let mut execution = Execution::default();
        let result = if let Err(e) = lease {
            Err(e)
        } else if let Some(reason) = discovered.broken_orgs.get(org_id) {
            Err(PassError::BadAnswer {
                cluster: String::new(),
                reason: reason.clone(),
            })
        } else {
            // R47 (deviation): a provider the environment lacks is an
            // organization error.
            let health = match registry::health_of(
                self.config.registry.as_deref(),
                env,
                self.config.health.as_ref(),
                org_id,
            ) {
                Ok(h) => h,
                Err(e) => {
                    resolution.errors.push(e);
                    None
                }
            };
            let empty = srecap_fleet::VersionData::default();
            let org_sources: Vec<Source<'_>> = resolution
                .verified
                .iter()
                .filter_map(|(e, id)| {
                    let key = StateKey::new(e.as_str(), id.as_str()).ok()?;
                    // A verified source without stored history adds nothing,
                    // and is a warning (R44).
                    Some(Source {
                        environment: e,
                        org_id: id,
                        history: sources.get(&key).map_or(&empty, |h| &**h),
                    })
                })
                .collect();
            let pass = self.org_pass(
                &discovered.fleet.version_gates,
                &org,
                clusters,
                org_sources,
                resolution.errors,
                health.as_ref(),
                now,
                &gauges,
                lease.as_ref().ok().and_then(Option::as_ref),
                &mut execution,
            );
            match self.config.org_deadline {
                // Dropping the pass drops its requests and rolls back its open
                // store transaction.
                Some(after) => tokio::time::timeout(after, pass)
                    .await
                    .unwrap_or(Err(PassError::Deadline { after })),
                None => pass.await,
            }
        };
        let result = result.map(Arc::new);
        let outcome = outcome::classify(
            &result,
            |p: &Arc<OrgPlan>| p.has_validation_errors(),
            &execution.causes(),
            self.metrics.succeeded_before(org_id),
        );
        self.metrics.org_finished(org_id, outcome);
        match &result {
            Ok(plan) => gauges.org(org_id, Arc::clone(plan)),
            Err(e) => {
                tracing::error!(org = %org_id, error = %e, "organization pass failed");
                self.metrics.org_failed(org_id);
            }
        }
        if let (Ok(_), Some(replica)) = (&result, &self.config.replica) {
            self.metrics.replica_reconciled(&replica.id);
        }
        Ok(OrgOutcome {
            org_id: org_id.to_owned(),
            result,
            execution,
            outcome,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn org_pass(
        &self,
        gates: &[srecap_fleet::VersionGate],
        org: &srecap_fleet::Organization,
        clusters: Vec<Cluster>,
        sources: Vec<Source<'_>>,
        extra_org_errors: Vec<String>,
        health: Option<&crate::health::HealthProvider>,
        now: Timestamp,
        gauges: &PassGauges,
        lease: Option<&Lease>,
        execution: &mut Execution,
    ) -> Result<OrgPlan, PassError> {
        let env = self.config.environment.as_str();
        let key = StateKey::new(env, org.id.as_str())?;
        let ocm = self.ocm.as_ref();
        let base = OrgInput {
            environment: env,
            org,
            clusters: Vec::new(),
            history: None,
            sources,
            extra_org_errors,
            version_gates: gates,
            now,
            faults: self.config.faults,
        };
        // Validation needs labels only: an organization with validation errors is
        // frozen (R6) and needs no per-cluster reads at all.
        // Planning runs off the async executor (crate::planning), over clusters
        // shared with it rather than copied.
        let parsed = self
            .parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&org.id)
            .unwrap_or_default();
        let context = OrgContext::of(&base, parsed);
        let _keep = KeepParsed {
            kept: &self.parsed,
            org_id: &org.id,
            context: Arc::clone(&context),
        };
        let mut org_facts = OrgFacts::new(clusters);
        let probe = planning::plan(
            &context,
            org_facts.shared(),
            None,
            PlanOptions {
                validate_only: true,
                ..PlanOptions::default()
            },
        )
        .await;
        if probe.has_validation_errors() {
            // A plan with validation errors is complete (the planner stops
            // there whatever the options); it keeps the stored history.
            let stored = self.store.load(&key).await?;
            let frozen = OrgPlan {
                version_data: stored.map(Arc::unwrap_or_clone).unwrap_or_default(),
                ..probe
            };
            if !self.config.dry_run {
                self.confirm(lease).await?;
                let (report, result) = self.executor().feedback(&frozen, now).await;
                execution.extend(report);
                result?;
            }
            return Ok(frozen);
        }

        // R6 step 1: the organization-level gauges stand even if a read below
        // fails.
        gauges.validated(&org.id, Arc::new(probe));

        // Every cluster is valid (any invalid one is a validation error):
        // read their existing policies and node pools, and health.
        org_facts.read_policies(ocm, |_| true).await?;
        let read: Vec<&Cluster> = org_facts.clusters().iter().collect();
        gauges.upgrades(&org.id, &read);
        self.metrics.upgrade_progress(&org.id, &read, now);
        if let Some(provider) = health {
            let unhealthy = org_facts.read_health(ocm, provider, &org.id).await?;
            let rows = org_facts
                .clusters()
                .iter()
                .map(|c| (c.external_id.clone(), !unhealthy.contains(&c.external_id)))
                .collect();
            gauges.health(&org.id, crate::health::TELEMETER, rows);
        }

        // The version-gate approver (R105–R111), before planning so that this
        // pass can book what it unlocks: read the agreements of the clusters
        // it may agree for, agree to the approved gates (not in dry-run: the
        // plan then shows what a real pass would book).
        org_facts.read_for_approver(ocm, gates).await?;
        let agreements: Vec<Agreement> = org_facts
            .clusters()
            .iter()
            .flat_map(|c| approver::agreements(c, gates))
            .collect();
        if !agreements.is_empty() {
            let accepted: Vec<&Agreement> = if self.config.dry_run {
                for a in &agreements {
                    tracing::info!(org = %org.id, cluster = %a.cluster, gate = %a.gate_id, "dry run: would agree to a version gate");
                }
                agreements.iter().collect()
            } else {
                self.confirm(lease).await?;
                let (report, accepted) = self.executor().approve(&org.id, &agreements).await;
                execution.extend(report);
                accepted
            };
            for a in accepted {
                org_facts.agreed(&a.cluster_id, &a.gate_id);
            }
        }

        // Plan, read what the plan says it is missing (gate agreements, channels:
        // srecap_aus::facts), plan again; a round that read only channels
        // completes the plan instead (facts::complete_channels).
        org_facts.assume_unread(gates);
        let stored = self.store.load(&key).await?;
        let mut plan = 'plan: loop {
            let mut plan = planning::plan(
                &context,
                org_facts.shared(),
                stored.clone(),
                PlanOptions::default(),
            )
            .await;
            loop {
                let planned: Vec<&Cluster> = org_facts.clusters().iter().collect();
                let missing = facts::missing(&planned, gates, &plan, org_facts.known());
                if missing.is_empty() {
                    break 'plan plan;
                }
                org_facts.read(ocm, &missing).await?;
                let planned: Vec<&Cluster> = org_facts.clusters().iter().collect();
                if !missing.gate_agreements.is_empty()
                    || !facts::complete_channels(&mut plan, &planned)
                {
                    continue 'plan;
                }
            }
        };

        // One transaction per organization and pass: read, update, save (R75).
        // The plan above used the history as read before the transaction; when
        // the transaction reads the same one (no other writer in between), that
        // plan is the transaction's plan.
        if !self.config.dry_run {
            let txn = self.store.begin(&key).await?;
            // The in-memory store hands out the very document it holds, so an
            // unchanged history is usually the same allocation.
            let unchanged = match (txn.history(), stored.as_deref()) {
                (Some(a), Some(b)) => std::ptr::eq(a, b) || a == b,
                (None, None) => true,
                _ => false,
            };
            if !unchanged {
                plan = planning::plan(
                    &context,
                    org_facts.shared(),
                    txn.history().cloned().map(Arc::new),
                    PlanOptions::default(),
                )
                .await;
            }
            // With a lease: renew it, commit fenced by it, and write to OCM only
            // while it is surely live, so a replica that lost its organization
            // (or its store) books no upgrade.
            match self.confirm(lease).await? {
                Some(lease) => {
                    txn.commit_fenced(&plan.version_data, &lease).await?;
                    if tokio::time::Instant::now() >= lease.valid_until() {
                        return Err(StoreError::Fenced {
                            key: key.to_string(),
                            holder: lease.holder().to_owned(),
                            token: lease.token(),
                            reason: "expired before the pass could write to OCM",
                        }
                        .into());
                    }
                }
                None => txn.commit(&plan.version_data).await?,
            }
            let (report, result) = self.executor().apply(&plan, gauges).await;
            execution.extend(report);
            // Warnings never block (issue 15 item 12): sent after the writes.
            let (feedback, sent) = self.executor().feedback(&plan, now).await;
            execution.extend(feedback);
            result?;
            sent?;
        }
        Ok(plan)
    }
}

/// The cause of a failure before the organization fan-out; it is attributed to
/// every organization, so it is always a bad event.
fn environment_cause(error: &PassError) -> FailureCause {
    match outcome::classify_error(error, &[], true) {
        Outcome::Failure(cause) => cause,
        // A 404/409 or an access problem on the environment's listings is not a
        // race or a user's business: AUS cannot see the environment.
        Outcome::Success | Outcome::UserError(_) => FailureCause::Internal,
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn a_pass_more_than_five_minutes_from_ocms_clock_is_flagged() {
        let now: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        let at = |mins: i64| Some(now + jiff::SignedDuration::from_mins(mins));
        assert_eq!(clock_skew(now, None), None);
        assert_eq!(clock_skew(now, at(5)), None);
        assert_eq!(clock_skew(now, at(-5)), None);
        assert_eq!(
            clock_skew(now, at(6)),
            Some(jiff::SignedDuration::from_mins(-6))
        );
        assert_eq!(
            clock_skew(now, at(-60)),
            Some(jiff::SignedDuration::from_mins(60))
        );
    }
}
