//! The simulation loop: the real reconciler against the in-process simulator,
//! one pass per tick of an accelerated clock.
//!
//! Each tick: run one `Reconciler::pass` at the simulated instant (the code
//! `srecap aus run --once` runs, reading OCM in process or over HTTP, see
//! [`Transport`]), compare the fleet before and
//! after to learn which policies the pass created, audit them, let the seeded
//! disturbances act, then move the simulator's clock by the tick so it
//! publishes releases and runs upgrades. No pass is skipped or shortened.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_aus::Action;
use srecap_aus::Reason;
use srecap_aus::explain::{Explainer, Outcome as CheckOutcome, Verdict};
use srecap_aus::planner::Faults;
use srecap_aus::policy::OrgPolicy;
use srecap_controller::health::HealthProvider;
use srecap_controller::{Config, HttpOcm, Metrics, Ocm, PassReport, Reconciler};
use srecap_fleet::{Fleet, PolicyState, UpgradePolicy};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::world::PolicyScope;
use srecap_sim::{PolicyEvent, SimConfig, Simulator};
use srecap_store::{HistoryStore as _, HistoryTxn as _, StateKey, Store};

use crate::auditor::{Auditor, Created, Violation};
use crate::disturbance::{Chaos, Disturbances};
use crate::error::SimulationError;
use crate::in_process::InProcessOcm;
use crate::observed::Observed;
use crate::timeline::{
    ClusterEntry, LeftBehind, Outcome, ReleaseEntry, Timeline, Upgrade, UpgradeKind,
};

/// How to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Simulated time to cover; one pass per `tick` (`horizon / tick` passes).
    pub horizon: SignedDuration,
    pub tick: SignedDuration,
    /// Base duration of an upgrade in the simulator.
    pub upgrade_duration: SignedDuration,
    pub seed: u64,
    pub disturbances: Disturbances,
    /// Soak-history store (`memory:` or `sqlite:PATH`); seeded with the
    /// fleet's history where it has none for an organization.
    pub state_url: String,
    /// Test-only planner faults, to prove the auditor catches them.
    pub faults: Faults,
    /// OCM requests in flight (the reconciler's `--concurrency`).
    pub concurrency: usize,
    /// How the reconciler reaches the simulator.
    pub transport: Transport,
}

/// How the simulated reconciler reaches OCM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    /// Typed calls on the simulator's world in the same process (the default:
    /// a pass costs what planning costs).
    #[default]
    InProcess,
    /// The simulator served over HTTP on 127.0.0.1, read by the production
    /// client, exactly as `srecap aus run` reads OCM.
    Http,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            horizon: SignedDuration::from_hours(24 * 30),
            tick: SignedDuration::from_hours(1),
            upgrade_duration: SignedDuration::from_mins(90),
            seed: 0,
            disturbances: Disturbances::default(),
            state_url: "memory:".to_owned(),
            faults: Faults::default(),
            concurrency: 8,
            transport: Transport::default(),
        }
    }
}

impl Options {
    /// Passes the options ask for (at least one).
    pub fn passes(&self) -> u64 {
        let n = self.horizon.as_secs() / self.tick.as_secs().max(1);
        u64::try_from(n).unwrap_or(0).max(1)
    }

    fn check(&self) -> Result<(), SimulationError> {
        if self.tick < SignedDuration::from_mins(1) {
            return Err(SimulationError::Options(format!(
                "tick {:#} is shorter than a minute; OCM schedules have minute resolution",
                self.tick
            )));
        }
        if self.horizon < self.tick {
            return Err(SimulationError::Options(format!(
                "the simulated period {:#} is shorter than one tick ({:#})",
                self.horizon, self.tick
            )));
        }
        if self.upgrade_duration <= SignedDuration::ZERO {
            return Err(SimulationError::Options(format!(
                "upgrade duration {:#} must be positive",
                self.upgrade_duration
            )));
        }
        self.disturbances.check().map_err(SimulationError::Options)
    }
}

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub timeline: Timeline,
    /// Every broken promise the auditor found, in pass order.
    pub violations: Vec<Violation>,
    /// Passes or organizations that failed, and actions OCM rejected (the
    /// reconciler logs and retries them next pass; listed here so a report
    /// reader knows).
    pub problems: Vec<String>,
    /// The fleet as the simulator shows it at the end, with the soak
    /// histories the reconciler kept in its store.
    pub final_fleet: Fleet,
}

/// Simulate `fleet` from its `now`. `progress(done, total)` is called after
/// every pass.
pub async fn simulate(
    fleet: Fleet,
    options: &Options,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Simulation, SimulationError> {
    options.check()?;
    let environment = fleet.environment.clone();
    let config = SimConfig {
        upgrade_duration: options.upgrade_duration,
        ..SimConfig::default()
    };
    let sim = Simulator::new(fleet.clone(), config);
    sim.record_policy_events();

    let store = Store::open(&options.state_url).await?;
    for (org, doc) in &fleet.version_data {
        let key = StateKey::new(environment.as_str(), org.as_str())?;
        let txn = store.begin(&key).await?;
        if txn.history().is_none() {
            txn.commit(doc).await?;
        }
    }
    let (ocm, running): (Arc<dyn Ocm>, _) = match options.transport {
        Transport::InProcess => (Arc::new(InProcessOcm::new(sim.clone())), None),
        Transport::Http => {
            let running = srecap_sim::spawn(sim.clone())
                .await
                .map_err(SimulationError::Listen)?;
            let client = client(
                &running.base_url(),
                &running.token_url(),
                options.concurrency,
            )?;
            (
                Arc::new(HttpOcm::new(client, options.concurrency)),
                Some(running),
            )
        }
    };
    let health_url = running.as_ref().map_or_else(
        || "in-process".to_owned(),
        |r| format!("{}/telemeter", r.base_url()),
    );
    let reconciler = Reconciler::new(
        ocm,
        store.clone(),
        Config {
            environment: environment.clone(),
            concurrency: options.concurrency.max(1),
            faults: options.faults,
            health: Some(HealthProvider {
                url: health_url,
                enforced: true,
            }),
            ..Config::default()
        },
        Metrics::new(&environment),
    );

    let (auditor, mut recorder) = {
        let initial = sim.fleet();
        (Auditor::new(&initial), Recorder::new(&initial))
    };
    let mut seen = sim.read(Observed::new);
    // The auditor checks pass N on the blocking pool while pass N+1 runs: it
    // owns the view of the fleet before pass N and gives it back (with
    // itself) to be refreshed for pass N+2, so two views take turns. It
    // starts idle.
    let mut audit = Audit::Idle(Box::new(auditor));
    let mut chaos = Chaos::new(options.disturbances, options.upgrade_duration, options.seed);
    let mut violations = Vec::new();
    let mut problems = Vec::new();
    let total = options.passes();
    for done in 1..=total {
        let now = sim.now();
        let report = match reconciler.pass(now).await {
            Ok(report) => Some(report),
            Err(e) => {
                problems.push(format!("{now}: the pass failed: {e}"));
                None
            }
        };
        if let Some(report) = &report {
            for o in &report.orgs {
                if let Err(e) = &o.result {
                    problems.push(format!("{now}: organization {} failed: {e}", o.org_id));
                }
                for f in o.failed_actions() {
                    problems.push(format!("{now}: organization {}: {f}", o.org_id));
                }
            }
        }
        // What the pass created, as the simulator stores it: the policies it
        // holds now that it did not hold before the pass. The clock stands
        // still during a pass and moved forward since the last one (and since
        // the scenario's seeded policies), so those are exactly the policies
        // created at this instant: no set of every id to keep each tick.
        let fresh = sim.read(|w| {
            w.policies
                .iter()
                .filter(|p| p.created_at == now)
                .map(|p| {
                    let pool = match &p.scope {
                        PolicyScope::NodePool(np) => Some(np.clone()),
                        PolicyScope::Classic | PolicyScope::ControlPlane => None,
                    };
                    (p.cluster_id.clone(), pool, p.policy.clone())
                })
                .collect::<Vec<_>>()
        });
        let created = created(&seen, fresh, report.as_ref());
        for c in &created {
            recorder.created(now, &seen, c);
            chaos.policy_created(&sim, &c.audit.cluster_id);
        }
        // A pass changes policies and channels, never which clusters exist or
        // their health: the snapshot taken before it serves the disturbances.
        chaos.tick(&sim, &seen, now, options.tick);
        let (auditor, spare) = audit.finish(&mut violations).await;
        let before = std::mem::replace(&mut seen, spare.unwrap_or_default());
        audit = Audit::check(
            auditor,
            now,
            before,
            created.iter().map(|c| c.audit.clone()).collect(),
        );
        sim.advance(options.tick)?;
        recorder.events(sim.take_policy_events());
        sim.read(|w| seen.refresh(w));
        progress(done, total);
    }
    audit.finish(&mut violations).await;
    // The one full snapshot: the report's final fleet.
    let mut seen = sim.fleet();
    if let Some(running) = running {
        running.shutdown().await.map_err(SimulationError::Listen)?;
    }
    // The simulator's fleet still carries the scenario's soak histories; the
    // ones the reconciler built over the simulation are in its store, and the
    // explanations at the end must see those, as `aus explain` would.
    let keys = seen
        .organizations
        .iter()
        .map(|o| StateKey::new(environment.as_str(), o.id.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    for (key, history) in store.load_many(&keys).await? {
        seen.version_data
            .insert(key.org_id().to_owned(), Arc::unwrap_or_clone(history));
    }
    let timeline = recorder.finish(&seen, options.tick, total);
    Ok(Simulation {
        timeline,
        violations,
        problems,
        final_fleet: seen,
    })
}

/// The auditor: idle, or checking one pass on the blocking pool.
enum Audit {
    Idle(Box<Auditor>),
    Checking(tokio::task::JoinHandle<(Auditor, Observed, Vec<Violation>)>),
}

impl Audit {
    /// Check the pass at `now` against `before` (the fleet as the pass saw
    /// it) and what it `created`, in the background.
    fn check(
        mut auditor: Auditor,
        now: Timestamp,
        before: Observed,
        created: Vec<Created>,
    ) -> Audit {
        Audit::Checking(tokio::task::spawn_blocking(move || {
            let found = auditor.pass(now, &before, &created);
            (auditor, before, found)
        }))
    }

    /// Wait for the pass being checked: its violations are appended to `out`
    /// (passes stay in order). Returns the idle auditor and the view the pass
    /// was checked against, free again. A panic in the auditor is the
    /// simulation's panic, as when it ran inline.
    async fn finish(self, out: &mut Vec<Violation>) -> (Auditor, Option<Observed>) {
        let job = match self {
            Audit::Idle(auditor) => return (*auditor, None),
            Audit::Checking(job) => job,
        };
        match job.await {
            Ok((auditor, view, found)) => {
                out.extend(found);
                (auditor, Some(view))
            }
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Only a runtime shutting down cancels it, and then nobody
                // reads the result.
                Err(_) => (Auditor::default(), None),
            },
        }
    }
}

/// An OCM client for a private simulator at `base`, with its built-in
/// credentials and at most `concurrency` requests in flight.
pub fn client(
    base: &str,
    token_url: &str,
    concurrency: usize,
) -> Result<OcmClient, SimulationError> {
    let opts = ConnectionOptions {
        api_url: Some(base.to_owned()),
        token_url: Some(token_url.to_owned()),
        client_id: Some(SimConfig::default().client_id),
        client_secret: Some(SimConfig::default().client_secret),
        offline_token: None,
        token_file: None,
        scopes: None,
    };
    // No environment, no home directory: the private simulator's credentials only.
    let credentials = Credentials::resolve(&opts, &|_| None, None)
        .map_err(|e| SimulationError::Client(e.to_string()))?;
    let mut config = ClientConfig::new(credentials);
    config.max_concurrency = concurrency.max(1);
    OcmClient::new(config).map_err(|e| SimulationError::Client(e.to_string()))
}

/// A policy that appeared during a pass.
#[derive(Debug, Clone)]
struct New {
    audit: Created,
    policy_id: String,
    node_pool: Option<String>,
}

/// The policies `fresh` (cluster id, node pool, policy) that a pass created,
/// in each organization's decision order (the pass applies them concurrently,
/// so ids do not tell); `before` is the fleet the pass saw.
fn created(
    before: &Observed,
    fresh: Vec<(String, Option<String>, UpgradePolicy)>,
    report: Option<&PassReport>,
) -> Vec<New> {
    // Most passes create nothing: no index of the fleet for them.
    if fresh.is_empty() {
        return Vec::new();
    }
    let hcp: HashMap<&str, bool> = before
        .clusters
        .iter()
        .map(|c| (c.id.as_str(), c.hcp))
        .collect();
    let mut order: HashMap<(String, UpgradeKind), (String, usize)> = HashMap::new();
    if let Some(report) = report {
        for o in &report.orgs {
            let Ok(plan) = &o.result else { continue };
            for (i, a) in plan.actions.iter().enumerate() {
                let kind = match a {
                    Action::UpgradePolicy { .. } => UpgradeKind::Cluster,
                    Action::ControlPlaneUpgradePolicy { .. } => UpgradeKind::ControlPlane,
                    Action::NodePoolUpgradePolicy { .. } => UpgradeKind::NodePool,
                    Action::ChannelSwitch { .. } => continue,
                };
                order.insert((a.cluster_id().to_owned(), kind), (o.org_id.clone(), i));
            }
        }
    }
    let mut out = Vec::new();
    for (cluster_id, node_pool, p) in fresh {
        let Some(version) = p.version.clone() else {
            continue;
        };
        let kind = match (&node_pool, hcp.get(cluster_id.as_str())) {
            (Some(_), _) => UpgradeKind::NodePool,
            (None, Some(true)) => UpgradeKind::ControlPlane,
            (None, _) => UpgradeKind::Cluster,
        };
        out.push(New {
            audit: Created {
                cluster_id,
                kind,
                version,
                next_run: p.next_run,
            },
            policy_id: p.id,
            node_pool,
        });
    }
    let position = |n: &New| {
        order
            .get(&(n.audit.cluster_id.clone(), n.audit.kind))
            .cloned()
            .unwrap_or((String::new(), usize::MAX))
    };
    out.sort_by_cached_key(|n| (position(n), n.audit.cluster_id.clone()));
    out
}

/// Builds the timeline as the simulation goes.
#[derive(Debug)]
struct Recorder {
    start: Timestamp,
    initial: Vec<(String, String, String, Option<String>, Version)>,
    upgrades: Vec<Upgrade>,
    sector_dependencies: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Policy id -> index in `upgrades`.
    by_policy: HashMap<String, usize>,
}

fn sector(labels: &BTreeMap<String, String>) -> Option<String> {
    labels
        .get("sre-capabilities.aus.sector")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl Recorder {
    fn new(fleet: &Fleet) -> Recorder {
        Recorder {
            start: fleet.now,
            initial: fleet
                .clusters
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.id.clone(),
                        c.organization.clone(),
                        sector(&c.labels),
                        c.version.clone(),
                    )
                })
                .collect(),
            upgrades: Vec::new(),
            // Invalid labels are the planner's to report; the valid rest is
            // what it plans with.
            sector_dependencies: fleet
                .organizations
                .iter()
                .map(|o| {
                    let (policy, _) = OrgPolicy::from_labels(&o.labels);
                    let deps = policy
                        .sectors
                        .into_iter()
                        .map(|s| (s.name, s.dependencies))
                        .collect();
                    (o.id.clone(), deps)
                })
                .filter(|(_, deps): &(String, BTreeMap<String, Vec<String>>)| !deps.is_empty())
                .collect(),
            by_policy: HashMap::new(),
        }
    }

    fn created(&mut self, now: Timestamp, seen: &Observed, new: &New) {
        let Some(c) = seen.cluster(&new.audit.cluster_id) else {
            return;
        };
        let from = match &new.node_pool {
            Some(np) => c
                .node_pools
                .iter()
                .find(|(id, _)| id == np)
                .map_or_else(|| c.version.clone(), |(_, version)| version.clone()),
            None => c.version.clone(),
        };
        self.by_policy
            .insert(new.policy_id.clone(), self.upgrades.len());
        self.upgrades.push(Upgrade {
            cluster: c.name.clone(),
            organization: c.organization.clone(),
            sector: sector(&c.labels),
            kind: new.audit.kind,
            node_pool: new.node_pool.clone(),
            from_version: from,
            to_version: new.audit.version.clone(),
            created_at: now,
            next_run: new.audit.next_run,
            delayed_at: None,
            started_at: None,
            completed_at: None,
            failed_at: None,
            outcome: Outcome::Scheduled,
        });
    }

    fn events(&mut self, events: Vec<PolicyEvent>) {
        for e in events {
            let Some(&i) = self.by_policy.get(&e.policy_id) else {
                continue;
            };
            let u = &mut self.upgrades[i];
            match e.state {
                PolicyState::Delayed => u.delayed_at = Some(e.at),
                PolicyState::Started => {
                    u.started_at = Some(e.at);
                    u.outcome = Outcome::Started;
                }
                PolicyState::Completed => {
                    u.completed_at = Some(e.at);
                    u.outcome = Outcome::Completed;
                }
                PolicyState::Failed => {
                    u.failed_at = Some(e.at);
                    u.outcome = Outcome::Failed;
                }
                _ => {}
            }
        }
    }

    fn finish(self, end: &Fleet, tick: SignedDuration, passes: u64) -> Timeline {
        let finals: BTreeMap<&str, &Version> = end
            .clusters
            .iter()
            .map(|c| (c.id.as_str(), &c.version))
            .collect();
        let left_behind = left_behind(end);
        let mut releases: Vec<ReleaseEntry> = end
            .releases
            .iter()
            .map(|r| ReleaseEntry {
                version: r.version.clone(),
                channel_groups: r.channel_groups.clone(),
                published: r.published,
            })
            .collect();
        releases.sort_by(|a, b| (a.published, &a.version).cmp(&(b.published, &b.version)));
        let mut upgrades = self.upgrades;
        // Stable: within a pass, decision order stays.
        upgrades.sort_by_key(|u| u.created_at);
        Timeline {
            start: self.start,
            end: end.now,
            tick_seconds: tick.as_secs(),
            passes,
            releases,
            clusters: self
                .initial
                .into_iter()
                .map(
                    |(name, id, organization, sector, initial_version)| ClusterEntry {
                        left_behind: left_behind.get(id.as_str()).cloned(),
                        final_version: finals
                            .get(id.as_str())
                            .map_or_else(|| initial_version.clone(), |v| (*v).clone()),
                        name,
                        id,
                        organization,
                        sector,
                        initial_version,
                    },
                )
                .collect(),
            upgrades,
            sector_dependencies: self.sector_dependencies,
        }
    }
}

/// Clusters of the final fleet that run below the newest version OCM offers
/// them, by id, each with what `srecap aus explain` would say at the end:
/// the report shows an SRE why a cluster never moved, in the words the CLI
/// uses, instead of leaving them to rerun the simulation and explain it.
fn left_behind(end: &Fleet) -> HashMap<&str, LeftBehind> {
    // The simulator's policy ids depend on the order concurrent creations
    // reached it (see `timeline`); the explainer quotes them, so the copy it
    // reads names each policy after its cluster instead, and the reasons are
    // as reproducible as the rest of the timeline.
    let mut named = end.clone();
    for c in &mut named.clusters {
        for (i, p) in c.upgrade_policies.iter_mut().enumerate() {
            p.id = format!("{}-upgrade-{}", c.name, i + 1);
        }
        for pool in &mut c.node_pools {
            for (i, p) in pool.upgrade_policies.iter_mut().enumerate() {
                p.id = format!("{}-{}-upgrade-{}", c.name, pool.id, i + 1);
            }
        }
    }
    let explainer = Explainer::new(&named, named.now);
    end.clusters
        .iter()
        .zip(&named.clusters)
        .filter_map(|(c, renamed)| {
            let newest = c.available_upgrades.iter().max()?;
            if *newest <= c.version {
                return None;
            }
            let e = explainer.explain(renamed);
            let verdict = match &e.verdict {
                Verdict::Action { .. } => "action".to_owned(),
                Verdict::Skipped { reason, .. } => reason.to_string(),
                Verdict::Ignored { .. } => "ignored".to_owned(),
            };
            // Health never holds a cluster's own upgrade back in the planner,
            // but OCM delays an unhealthy cluster's policy at its run time, so
            // a cluster unhealthy at the end is most likely stuck behind it.
            let failing: Vec<(&str, String)> = e
                .checks
                .iter()
                .filter_map(|k| {
                    let unhealthy = k.condition == "health" && k.data["healthy"] == false;
                    if unhealthy {
                        return Some((k.condition, format!("unhealthy: {}", k.detail)));
                    }
                    (k.outcome == CheckOutcome::Fail).then(|| {
                        let code = k.reason.map_or(k.condition, Reason::as_str);
                        (k.condition, format!("{code}: {}", k.detail))
                    })
                })
                .collect();
            // A window closed at the end instant says nothing about the
            // days before it; whatever else fails is what kept the cluster
            // back. Ill health only explains a policy that OCM keeps
            // delaying: a cluster unhealthy for a moment is held by the rest.
            let unhealthy = failing.iter().any(|(condition, _)| *condition == "health");
            let conditions: Vec<&(&str, String)> = failing
                .iter()
                .filter(|(condition, _)| *condition != "health")
                .collect();
            let held_by = conditions
                .iter()
                .find(|(condition, _)| *condition != "schedule")
                .or(conditions.first())
                .map_or_else(
                    || verdict.clone(),
                    |(condition, text)| {
                        if unhealthy && *condition == "existing-policy" {
                            "unhealthy".to_owned()
                        } else {
                            code_of(text)
                        }
                    },
                );
            Some((
                c.id.as_str(),
                LeftBehind {
                    newest_offered: newest.clone(),
                    verdict,
                    detail: e.verdict.summary(),
                    held_by,
                    failing: failing.into_iter().map(|(_, text)| text).collect(),
                    estimate: e.estimate.summary,
                },
            ))
        })
        .collect()
}

/// `reason: detail` -> `reason`.
fn code_of(text: &str) -> String {
    text.split_once(':')
        .map_or(text, |(code, _)| code)
        .to_owned()
}
