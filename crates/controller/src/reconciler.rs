//! One reconcile pass over an OCM environment, and the loop that repeats it.
//!
//! A pass takes no input but the world (OCM, the store, the clock) and is safe to
//! repeat: the next pass is the retry (R1). Organizations are reconciled in
//! isolation: an error in one is logged and counted and the others proceed (R123);
//! a user's configuration error is data, never a failure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use jiff::Timestamp;
use semver::Version;
use srecap_aus::gate;
use srecap_aus::inheritance::Network;
use srecap_aus::planner::{Faults, OrgInput, plan_org};
use srecap_aus::soak::Source;
use srecap_aus::{Action, FleetPlan, OrgPlan, Reason};
use srecap_fleet::{Cluster, Fleet, VersionData};
use srecap_observability::{FailureCause, Outcome, UserErrorKind, WriteOperation};
use srecap_ocm::OcmClient;
use srecap_ocm::model::NewUpgradePolicy;
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

use crate::discovery;
use crate::error::PassError;
use crate::feedback;
use crate::metrics::{Metrics, PassGauges};
use crate::outcome::{self, OcmVerdict};

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
    /// Test-only planner faults.
    pub faults: Faults,
    /// Cluster health (none: every cluster counts as healthy).
    pub health: Option<crate::health::HealthProvider>,
    /// An organization's pass is cancelled after this long and counts as a
    /// failure with cause `deadline` (none: no limit).
    pub org_deadline: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            environment: "production".to_owned(),
            include: Vec::new(),
            exclude: Vec::new(),
            dry_run: false,
            concurrency: 8,
            faults: Faults::default(),
            health: None,
            org_deadline: None,
        }
    }
}

/// What happened to one organization in a pass.
#[derive(Debug)]
pub struct OrgOutcome {
    pub org_id: String,
    pub result: Result<OrgPlan, PassError>,
    /// Actions that OCM rejected (logged; the pass goes on, R99).
    pub failed_actions: Vec<String>,
    /// How the pass ended for the SLIs: success, user error, or failure with a
    /// cause (slo-alerting §1.3).
    pub outcome: Outcome,
}

/// The result of one pass.
#[derive(Debug)]
pub struct PassReport {
    pub now: Timestamp,
    pub orgs: Vec<OrgOutcome>,
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
                .filter_map(|o| o.result.as_ref().ok().cloned())
                .collect(),
        }
    }

    pub fn failed_orgs(&self) -> usize {
        self.orgs.iter().filter(|o| o.result.is_err()).count()
    }
}

/// The AUS reconciler of one OCM environment.
#[derive(Debug, Clone)]
pub struct Reconciler {
    client: OcmClient,
    http: reqwest::Client,
    store: Store,
    config: Config,
    metrics: Arc<Metrics>,
}

impl Reconciler {
    pub fn new(
        client: OcmClient,
        store: Store,
        config: Config,
        metrics: Arc<Metrics>,
    ) -> Reconciler {
        metrics.environment_seen();
        Reconciler {
            client,
            http: reqwest::Client::new(),
            store,
            config,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn selects(&self, org_id: &str) -> bool {
        (self.config.include.is_empty() || self.config.include.iter().any(|o| o == org_id))
            && !self.config.exclude.iter().any(|o| o == org_id)
    }

    /// One pass at `now`. Fails only when the environment cannot be discovered
    /// (counted as an environment error, R5); organization failures are in the
    /// report.
    pub async fn pass(&self, now: Timestamp) -> Result<PassReport, PassError> {
        let started = Instant::now();
        let result = self.pass_inner(now).await;
        let ok = result.as_ref().is_ok_and(|r| r.failed_orgs() == 0);
        if let Err(e) = &result {
            self.metrics.environment_failed(environment_cause(e));
        }
        self.metrics.pass_finished(ok, started.elapsed());
        result
    }

    async fn pass_inner(&self, now: Timestamp) -> Result<PassReport, PassError> {
        let env = self.config.environment.as_str();
        let discovered = discovery::discover(&self.client, env, now).await?;
        let fleet = &discovered.fleet;
        let network = Network::build(
            fleet
                .organizations
                .iter()
                .map(|o| (env, o.id.as_str(), &o.labels)),
        );

        let mut by_org: BTreeMap<&str, Vec<&Cluster>> = BTreeMap::new();
        for c in &fleet.clusters {
            by_org.entry(c.organization.as_str()).or_default().push(c);
        }
        // Inherited histories as stored at the start of the pass (as `aus plan`).
        let mut source_keys = Vec::new();
        for org in by_org.keys() {
            for (source_env, source) in network.resolve(org).verified {
                if source_env == env {
                    source_keys.push(StateKey::new(env, source)?);
                }
            }
        }
        let sources = self.store.load_many(&source_keys).await?;

        let gauges = PassGauges::new(env);
        // R4, R14: selected organizations with at least one discovered cluster.
        // Organizations are isolated, so they are reconciled concurrently; the
        // client's limit bounds the requests in flight, and the store serializes
        // the short history transactions.
        let selected: Vec<(&str, &Vec<&Cluster>, &srecap_fleet::Organization)> = by_org
            .iter()
            .filter(|(org_id, _)| self.selects(org_id))
            .filter_map(|(org_id, clusters)| Some((*org_id, clusters, fleet.organization(org_id)?)))
            .collect();
        self.metrics
            .discovered(selected.iter().map(|(id, _, _)| (*id).to_owned()));
        let mut outcomes: Vec<OrgOutcome> =
            stream::iter(selected.into_iter().map(|(org_id, clusters, org)| {
                let (network, sources, gauges, discovered) =
                    (&network, &sources, &gauges, &discovered);
                async move {
                    self.metrics.org_reconciled(org_id);
                    let mut failed_actions = Vec::new();
                    let mut write_causes = Vec::new();
                    let result = if let Some(reason) = discovered.broken_orgs.get(org_id) {
                        Err(PassError::BadAnswer {
                            cluster: String::new(),
                            reason: reason.clone(),
                        })
                    } else {
                        let resolution = network.resolve(org_id);
                        let org_sources: Vec<Source<'_>> = resolution
                            .verified
                            .iter()
                            .filter_map(|(e, id)| {
                                let key = StateKey::new(e.as_str(), id.as_str()).ok()?;
                                sources.get(&key).map(|h| Source {
                                    environment: e,
                                    org_id: id,
                                    history: h,
                                })
                            })
                            .collect();
                        let pass = self.org_pass(
                            fleet,
                            org,
                            clusters,
                            org_sources,
                            resolution.errors,
                            now,
                            gauges,
                            &mut failed_actions,
                            &mut write_causes,
                        );
                        match self.config.org_deadline {
                            // Dropping the pass drops its requests and rolls back
                            // its open store transaction.
                            Some(after) => tokio::time::timeout(after, pass)
                                .await
                                .unwrap_or(Err(PassError::Deadline { after })),
                            None => pass.await,
                        }
                    };
                    let outcome = outcome::classify(
                        &result,
                        OrgPlan::has_validation_errors,
                        &write_causes,
                        self.metrics.succeeded_before(org_id),
                    );
                    self.metrics.org_finished(org_id, outcome);
                    match &result {
                        Ok(plan) => gauges.org(org_id, plan),
                        Err(e) => {
                            tracing::error!(org = %org_id, error = %e, "organization pass failed");
                            self.metrics.org_failed(org_id);
                        }
                    }
                    OrgOutcome {
                        org_id: org_id.to_owned(),
                        result,
                        failed_actions,
                        outcome,
                    }
                }
            }))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        outcomes.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        if outcomes.iter().all(|o| o.result.is_ok()) {
            #[allow(clippy::cast_precision_loss)]
            gauges.succeeded_at(Timestamp::now().as_millisecond() as f64 / 1000.0);
        }
        self.metrics.publish(gauges);
        Ok(PassReport {
            now,
            orgs: outcomes,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn org_pass(
        &self,
        fleet: &Fleet,
        org: &srecap_fleet::Organization,
        clusters: &[&Cluster],
        sources: Vec<Source<'_>>,
        extra_org_errors: Vec<String>,
        now: Timestamp,
        gauges: &PassGauges,
        failed_actions: &mut Vec<String>,
        write_causes: &mut Vec<FailureCause>,
    ) -> Result<OrgPlan, PassError> {
        let env = self.config.environment.as_str();
        let key = StateKey::new(env, org.id.as_str())?;
        let base = OrgInput {
            environment: env,
            org,
            clusters: clusters.to_vec(),
            history: None,
            sources,
            extra_org_errors,
            version_gates: &fleet.version_gates,
            now,
            faults: self.config.faults,
        };
        // Validation needs labels only: an organization with validation errors is
        // frozen (R6) and needs no per-cluster reads at all.
        let probe = plan_org(&base);
        if probe.has_validation_errors() {
            let stored = self.store.load(&key).await?;
            if !self.config.dry_run {
                self.feedback(&probe, now).await?;
            }
            return Ok(OrgPlan {
                version_data: stored.unwrap_or_default(),
                ..probe
            });
        }

        // Per-cluster reads, only for the organization's valid clusters: existing
        // policies and node pools now; gate agreements and available channels
        // below, only for the clusters whose decision turns on them.
        let mut owned: Vec<Cluster> = clusters.iter().map(|c| (*c).clone()).collect();
        let valid: HashSet<&str> = probe
            .details
            .valid_clusters
            .iter()
            .map(|c| c.cluster_id.as_str())
            .collect();
        let wanted: Vec<bool> = owned
            .iter()
            .map(|c| valid.contains(c.id.as_str()))
            .collect();
        discovery::existing_policies(&self.client, &mut owned, &wanted, self.config.concurrency)
            .await?;
        gauges.upgrades(
            &org.id,
            &owned
                .iter()
                .zip(&wanted)
                .filter_map(|(c, w)| w.then_some(c))
                .collect::<Vec<_>>(),
        );
        if let Some(provider) = &self.config.health {
            let unhealthy = provider.unhealthy(&self.http, &org.id).await?;
            for c in &mut owned {
                // Only enforced errors stop soaking (R67).
                c.healthy = !(provider.enforced && unhealthy.contains(&c.external_id));
            }
        }
        let index: HashMap<String, usize> = owned
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();

        // Gate agreements (R92): plan with every not-yet-read cluster assumed to
        // have agreed, read the agreements of the clusters that would then get a
        // policy to a gated minor, and plan again until no new cluster needs them.
        // Missing agreements only ever remove a policy (and free its mutexes), so
        // this converges, usually in one or two rounds.
        let all_gates: Vec<String> = fleet.version_gates.iter().map(|g| g.id.clone()).collect();
        let mut read = vec![false; owned.len()];
        for c in &mut owned {
            c.gate_agreements.clone_from(&all_gates);
        }
        let stored_for_probe = self.store.load(&key).await?;
        let first = loop {
            let plan = plan_org(&with(&base, &owned, stored_for_probe.as_ref()));
            let wanted: Vec<usize> = plan
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::UpgradePolicy {
                        cluster, version, ..
                    }
                    | Action::ControlPlaneUpgradePolicy {
                        cluster, version, ..
                    } => {
                        let i = *index.get(cluster)?;
                        let v: Version = version.parse().ok()?;
                        let mut bare = owned[i].clone();
                        bare.gate_agreements.clear();
                        (!read[i] && !gate::missing_for(&fleet.version_gates, &bare, &v).is_empty())
                            .then_some(i)
                    }
                    _ => None,
                })
                .collect();
            if wanted.is_empty() {
                break plan;
            }
            let ids = wanted.iter().map(|&i| owned[i].id.clone()).collect();
            let agreements =
                discovery::gate_agreements(&self.client, ids, self.config.concurrency).await?;
            for i in wanted {
                read[i] = true;
                owned[i].gate_agreements =
                    agreements.get(&owned[i].id).cloned().unwrap_or_default();
            }
        };

        // Channel switches are tried only for clusters the decision leaves alone
        // for a schedule or version reason (R100): read the channels of just those
        // (one GET each; cluster lists lack them). Switches mark no mutex, so the
        // rest of the plan does not change.
        let candidates: Vec<String> = first
            .clusters
            .iter()
            .filter(|e| {
                matches!(
                    e.reason,
                    Reason::OutsideSchedule
                        | Reason::NoUpgrades
                        | Reason::BlockedVersion
                        | Reason::InheritedVersion
                        | Reason::SectorDependency
                        | Reason::SoakDays
                )
            })
            .filter_map(|e| index.get(&e.cluster).map(|&i| &owned[i]))
            .filter(|c| {
                c.available_channels.is_empty()
                    && srecap_aus::channel::next_channel(&c.channel).is_some()
            })
            .map(|c| c.id.clone())
            .collect();
        if !candidates.is_empty() {
            let channels =
                discovery::available_channels(&self.client, candidates, self.config.concurrency)
                    .await;
            for c in &mut owned {
                if let Some(ch) = channels.get(&c.id) {
                    c.available_channels.clone_from(ch);
                }
            }
        }

        // One transaction per organization and pass: read, update, save (R75).
        let plan = if self.config.dry_run {
            // Nothing is written in a dry run: the history read above is current.
            plan_org(&with(&base, &owned, stored_for_probe.as_ref()))
        } else {
            let txn = self.store.begin(&key).await?;
            let plan = plan_org(&with(&base, &owned, txn.history()));
            txn.commit(&plan.version_data).await?;
            plan
        };
        if !self.config.dry_run {
            self.apply(&plan, gauges, failed_actions, write_causes)
                .await?;
        }
        Ok(plan)
    }

    /// Apply upgrade policies, then channel switches (R99, R104). Each action
    /// concerns a different cluster, so they are sent concurrently (bounded); an
    /// OCM rejection of one is logged and the others go on.
    async fn apply(
        &self,
        plan: &OrgPlan,
        gauges: &PassGauges,
        failed: &mut Vec<String>,
        write_causes: &mut Vec<FailureCause>,
    ) -> Result<(), PassError> {
        let (switches, policies): (Vec<&Action>, Vec<&Action>) = plan
            .actions
            .iter()
            .partition(|a| matches!(a, Action::ChannelSwitch { .. }));
        let mut switch_errors = Vec::new();
        for group in [policies, switches] {
            let results: Vec<(&Action, Result<(), PassError>)> =
                stream::iter(group.into_iter().map(|action| async move {
                    (action, self.apply_one(plan, action, gauges).await)
                }))
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
            for (action, result) in results {
                self.metrics.action(action.kind(), result.is_ok());
                let op = match action {
                    Action::ChannelSwitch { .. } => WriteOperation::UpdateChannel,
                    Action::UpgradePolicy { .. }
                    | Action::ControlPlaneUpgradePolicy { .. }
                    | Action::NodePoolUpgradePolicy { .. } => WriteOperation::CreateUpgradePolicy,
                };
                let bad = result.as_ref().err().and_then(write_cause);
                self.metrics.write(&plan.org_id, op, bad);
                write_causes.extend(bad);
                match result {
                    Ok(()) => {
                        tracing::info!(org = %plan.org_id, cluster = %action.cluster(), action = action.kind(), "applied");
                    }
                    Err(e) => {
                        tracing::warn!(org = %plan.org_id, cluster = %action.cluster(), action = action.kind(), error = %e, "OCM rejected an action");
                        let line = format!("{} {}: {e}", action.kind(), action.cluster());
                        if matches!(action, Action::ChannelSwitch { .. }) {
                            switch_errors.push(line.clone());
                        }
                        failed.push(line);
                    }
                }
            }
        }
        if switch_errors.is_empty() {
            Ok(())
        } else {
            Err(PassError::ChannelSwitches(switch_errors))
        }
    }

    async fn apply_one(
        &self,
        plan: &OrgPlan,
        action: &Action,
        gauges: &PassGauges,
    ) -> Result<(), PassError> {
        match action {
            Action::UpgradePolicy {
                cluster_id,
                version,
                next_run,
                ..
            } => {
                let v = parse(version, cluster_id)?;
                self.client
                    .create_upgrade_policy(cluster_id, &NewUpgradePolicy::classic(&v, *next_run))
                    .await?;
            }
            Action::ControlPlaneUpgradePolicy {
                cluster_id,
                version,
                next_run,
                ..
            } => {
                let v = parse(version, cluster_id)?;
                self.client
                    .create_control_plane_upgrade_policy(
                        cluster_id,
                        &NewUpgradePolicy::control_plane(cluster_id, &v, *next_run),
                    )
                    .await?;
            }
            Action::NodePoolUpgradePolicy {
                cluster_id,
                node_pool,
                version,
                next_run,
                ..
            } => {
                let v = parse(version, cluster_id)?;
                self.client
                    .create_node_pool_upgrade_policy(
                        cluster_id,
                        node_pool,
                        &NewUpgradePolicy::node_pool(cluster_id, &v, *next_run),
                    )
                    .await?;
            }
            Action::ChannelSwitch {
                cluster_id,
                from_channel,
                to_channel,
                ..
            } => {
                self.client
                    .patch_cluster_channel(cluster_id, to_channel)
                    .await?;
                let uuid = plan
                    .details
                    .valid_clusters
                    .iter()
                    .find(|c| c.cluster_id == *cluster_id)
                    .map_or("", |c| c.external_id.as_str());
                gauges.channel_switched(&plan.org_id, uuid, from_channel, to_channel);
            }
        }
        Ok(())
    }

    /// Service logs for an organization with validation errors (§14.1), sent
    /// concurrently (one per cluster).
    async fn feedback(&self, plan: &OrgPlan, now: Timestamp) -> Result<(), PassError> {
        let notices = feedback::notices(plan);
        let results: Vec<(String, Result<bool, srecap_ocm::OcmError>)> =
            stream::iter(notices.iter().map(|notice| async move {
                (
                    notice.cluster_uuid.clone(),
                    feedback::send(&self.client, notice, now).await,
                )
            }))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut errors = Vec::new();
        for (uuid, result) in results {
            let kind = UserErrorKind::ConfigError;
            match result {
                Ok(true) => {
                    self.metrics.service_log(&plan.org_id, kind, "sent");
                    self.metrics
                        .write(&plan.org_id, WriteOperation::PostServiceLog, None);
                }
                Ok(false) => self.metrics.service_log(&plan.org_id, kind, "duplicate"),
                Err(e) => {
                    self.metrics.service_log(&plan.org_id, kind, "error");
                    let bad = match outcome::classify_ocm(&e, true) {
                        OcmVerdict::Bad(cause) => Some(cause),
                        OcmVerdict::User(_) | OcmVerdict::Benign => None,
                    };
                    self.metrics
                        .write(&plan.org_id, WriteOperation::PostServiceLog, bad);
                    errors.push(format!("{uuid}: {e}"));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PassError::Feedback(errors))
        }
    }
}

/// The bad-event cause of a failed OCM write, if it is one.
fn write_cause(error: &PassError) -> Option<FailureCause> {
    match error {
        PassError::Ocm(e) => match outcome::classify_ocm(e, true) {
            OcmVerdict::Bad(cause) => Some(cause),
            OcmVerdict::User(_) | OcmVerdict::Benign => None,
        },
        PassError::Store(_)
        | PassError::BadAnswer { .. }
        | PassError::ChannelSwitches(_)
        | PassError::Health(_)
        | PassError::Feedback(_) => Some(FailureCause::Internal),
        PassError::Deadline { .. } => Some(FailureCause::Deadline),
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

/// The same organization input over enriched clusters and a stored history.
fn with<'a>(
    base: &OrgInput<'a>,
    clusters: &'a [Cluster],
    history: Option<&'a VersionData>,
) -> OrgInput<'a> {
    OrgInput {
        clusters: clusters.iter().collect(),
        history,
        ..base.clone()
    }
}

fn parse(version: &str, cluster: &str) -> Result<Version, PassError> {
    version.parse().map_err(|e| PassError::BadAnswer {
        cluster: cluster.to_owned(),
        reason: format!("version {version:?}: {e}"),
    })
}
