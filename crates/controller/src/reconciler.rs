//! One reconcile pass over an OCM environment, and the loop that repeats it.
//!
//! A pass takes no input but the world (OCM, the store, the clock) and is safe to
//! repeat: the next pass is the retry (R1). Organizations are reconciled in
//! isolation: an error in one is logged and counted and the others proceed (R123);
//! a user's configuration error is data, never a failure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use semver::Version;
use srecap_aus::inheritance::Network;
use srecap_aus::planner::{Faults, OrgInput, plan_org};
use srecap_aus::soak::Source;
use srecap_aus::{Action, FleetPlan, OrgPlan, Reason};
use srecap_fleet::{Cluster, Fleet, VersionData};
use srecap_ocm::OcmClient;
use srecap_ocm::model::NewUpgradePolicy;
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

use crate::discovery::{self, Needs};
use crate::error::PassError;
use crate::feedback;
use crate::metrics::{Metrics, PassGauges};

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
        self.metrics.pass_finished(ok, started.elapsed());
        if result.is_err() {
            self.metrics.environment_failed();
        }
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
        let mut outcomes = Vec::new();
        // R4, R14: selected organizations with at least one discovered cluster, in
        // a deterministic order.
        for (org_id, clusters) in &by_org {
            if !self.selects(org_id) {
                continue;
            }
            let Some(org) = fleet.organization(org_id) else {
                continue;
            };
            self.metrics.org_reconciled(org_id);
            let mut failed_actions = Vec::new();
            let result = if let Some(reason) = discovered.broken_orgs.get(*org_id) {
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
                self.org_pass(
                    fleet,
                    org,
                    clusters,
                    org_sources,
                    resolution.errors,
                    now,
                    &gauges,
                    &mut failed_actions,
                )
                .await
            };
            match &result {
                Ok(plan) => gauges.org(org_id, plan),
                Err(e) => {
                    tracing::error!(org = %org_id, error = %e, "organization pass failed");
                    self.metrics.org_failed(org_id);
                }
            }
            outcomes.push(OrgOutcome {
                org_id: (*org_id).to_owned(),
                result,
                failed_actions,
            });
        }
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

        // Per-cluster reads, only for the organization's valid clusters.
        let mut owned: Vec<Cluster> = clusters.iter().map(|c| (*c).clone()).collect();
        let valid: std::collections::HashSet<&str> = probe
            .details
            .valid_clusters
            .iter()
            .map(|c| c.cluster_id.as_str())
            .collect();
        let needs: Vec<Needs> = owned
            .iter()
            .map(|c| {
                let v = valid.contains(c.id.as_str());
                Needs {
                    policies: v,
                    gate_agreements: v,
                }
            })
            .collect();
        discovery::enrich(
            &self.client,
            &mut owned,
            &needs,
            &fleet.version_gates,
            self.config.concurrency,
        )
        .await?;
        if let Some(provider) = &self.config.health {
            let unhealthy = provider.unhealthy(&self.http, &org.id).await?;
            for c in &mut owned {
                // Only enforced errors stop soaking (R67).
                c.healthy = !(provider.enforced && unhealthy.contains(&c.external_id));
            }
        }

        // Channel switches are tried only for clusters the decision leaves alone
        // for a schedule or version reason (R100): plan once without channels to
        // learn which, and read the channels of just those (one GET each).
        let stored_for_probe = self.store.load(&key).await?;
        let first = plan_org(&with(&base, &owned, stored_for_probe.as_ref()));
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
            .filter_map(|e| owned.iter().find(|c| c.name == e.cluster))
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
            let stored = self.store.load(&key).await?;
            plan_org(&with(&base, &owned, stored.as_ref()))
        } else {
            let txn = self.store.begin(&key).await?;
            let plan = plan_org(&with(&base, &owned, txn.history()));
            txn.commit(&plan.version_data).await?;
            plan
        };
        if !self.config.dry_run {
            self.apply(&plan, gauges, failed_actions).await?;
        }
        Ok(plan)
    }

    /// Apply upgrade policies in order, then channel switches (R99, R104).
    async fn apply(
        &self,
        plan: &OrgPlan,
        gauges: &PassGauges,
        failed: &mut Vec<String>,
    ) -> Result<(), PassError> {
        let mut switch_errors = Vec::new();
        for action in &plan.actions {
            let result = match action {
                Action::UpgradePolicy {
                    cluster_id,
                    version,
                    next_run,
                    ..
                } => {
                    let v = parse(version, cluster_id)?;
                    self.client
                        .create_upgrade_policy(
                            cluster_id,
                            &NewUpgradePolicy::classic(&v, *next_run),
                        )
                        .await
                        .map(|_| ())
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
                        .await
                        .map(|_| ())
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
                        .await
                        .map(|_| ())
                }
                Action::ChannelSwitch {
                    cluster_id,
                    from_channel,
                    to_channel,
                    ..
                } => {
                    let r = self
                        .client
                        .patch_cluster_channel(cluster_id, to_channel)
                        .await
                        .map(|_| ());
                    match &r {
                        Ok(()) => {
                            let uuid = plan
                                .details
                                .valid_clusters
                                .iter()
                                .find(|c| c.cluster_id == *cluster_id)
                                .map_or("", |c| c.external_id.as_str());
                            gauges.channel_switched(&plan.org_id, uuid, from_channel, to_channel);
                        }
                        Err(e) => switch_errors
                            .push(format!("{cluster_id} {from_channel} -> {to_channel}: {e}")),
                    }
                    r
                }
            };
            self.metrics.action(action.kind(), result.is_ok());
            match result {
                Ok(()) => {
                    tracing::info!(org = %plan.org_id, cluster = %action.cluster(), action = action.kind(), "applied");
                }
                Err(e) => {
                    tracing::warn!(org = %plan.org_id, cluster = %action.cluster(), action = action.kind(), error = %e, "OCM rejected an action");
                    failed.push(format!("{} {}: {e}", action.kind(), action.cluster()));
                }
            }
        }
        if switch_errors.is_empty() {
            Ok(())
        } else {
            Err(PassError::ChannelSwitches(switch_errors))
        }
    }

    /// Service logs for an organization with validation errors (§14.1).
    async fn feedback(&self, plan: &OrgPlan, now: Timestamp) -> Result<(), PassError> {
        let mut errors = Vec::new();
        for notice in feedback::notices(plan) {
            match feedback::send(&self.client, &notice, now).await {
                Ok(true) => self.metrics.service_log("sent"),
                Ok(false) => self.metrics.service_log("duplicate"),
                Err(e) => {
                    self.metrics.service_log("error");
                    errors.push(format!("{}: {e}", notice.cluster_uuid));
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
