//! End-to-end tests of the reconciler against the simulator over HTTP on
//! 127.0.0.1, with a real SQLite state file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use srecap_aus::approver::approved;
use srecap_aus::{Action, FleetOptions, plan_fleet};
use srecap_controller::health::HealthProvider;
use srecap_controller::{Config, Metrics, Reconciler, Replica};
use srecap_fleet::Fleet;
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::{Fault, RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/aus-plan")
        .join(name)
}

fn load(path: &Path) -> Fleet {
    srecap_fleet::load_scenario(path, Timestamp::UNIX_EPOCH).unwrap()
}

struct World {
    sim: RunningSim,
    fleet: Fleet,
    state: tempfile::TempDir,
    metrics: std::sync::Arc<Metrics>,
}

impl World {
    /// A simulator serving `fleet` and a SQLite store seeded with its history.
    async fn new(fleet: Fleet) -> World {
        World::with_sim(fleet, SimConfig::default()).await
    }

    /// As [`World::new`], with a simulator configured by `sim_config`.
    async fn with_sim(fleet: Fleet, sim_config: SimConfig) -> World {
        let sim = srecap_sim::spawn(Simulator::new(fleet.clone(), sim_config))
            .await
            .unwrap();
        let state = tempfile::tempdir().unwrap();
        let world = World {
            sim,
            fleet,
            state,
            metrics: Metrics::new("production"),
        };
        let store = world.store().await;
        for (org, doc) in &world.fleet.version_data {
            let txn = store
                .begin(&StateKey::new("production", org.as_str()).unwrap())
                .await
                .unwrap();
            txn.commit(doc).await.unwrap();
        }
        world
    }

    fn state_url(&self) -> String {
        format!("sqlite:{}", self.state.path().join("state.db").display())
    }

    async fn store(&self) -> Store {
        Store::open(&self.state_url()).await.unwrap()
    }

    fn client(&self) -> OcmClient {
        let opts = ConnectionOptions {
            api_url: Some(self.sim.base_url()),
            token_url: Some(self.sim.token_url()),
            client_id: Some("srecap-sim".into()),
            client_secret: Some("srecap-sim".into()),
            offline_token: None,
            token_file: None,
            scopes: None,
        };
        let credentials = Credentials::resolve(&opts, &|_| None, None).unwrap();
        let mut config = ClientConfig::new(credentials);
        config.observer = Some(self.metrics.clone());
        OcmClient::new(config).unwrap()
    }

    async fn reconciler(&self, dry_run: bool) -> Reconciler {
        let config = Config {
            dry_run,
            health: Some(HealthProvider {
                url: format!("{}/telemeter", self.sim.base_url()),
                enforced: true,
            }),
            ..Config::default()
        };
        Reconciler::new(
            std::sync::Arc::new(srecap_controller::HttpOcm::new(self.client(), 8)),
            self.store().await,
            config,
            self.metrics.clone(),
        )
    }

    /// Every upgrade policy in the simulator, as comparable strings.
    fn policies(&self) -> BTreeSet<String> {
        let f = self.sim.sim.fleet();
        let mut out = BTreeSet::new();
        for c in &f.clusters {
            for p in &c.upgrade_policies {
                out.insert(format!(
                    "{} {:?} {:?}",
                    c.name,
                    p.version.as_ref().map(ToString::to_string),
                    p.next_run
                ));
            }
            for np in &c.node_pools {
                for p in &np.upgrade_policies {
                    out.insert(format!(
                        "{}/{} {:?} {:?}",
                        c.name,
                        np.id,
                        p.version.as_ref().map(ToString::to_string),
                        p.next_run
                    ));
                }
            }
        }
        out
    }

    fn channels(&self) -> BTreeSet<String> {
        self.sim
            .sim
            .fleet()
            .clusters
            .iter()
            .map(|c| format!("{} {}", c.name, c.channel))
            .collect()
    }
}

fn action_set(actions: &[Action]) -> BTreeSet<String> {
    actions
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect()
}

/// A pass against a simulator seeded with a scenario creates exactly the policies
/// and channel switches `aus plan` predicts, for every golden fleet; a second pass
/// creates nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_does_what_plan_predicts_for_every_golden_fleet_and_a_second_pass_nothing() {
    let mut checked = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    for path in names {
        let fleet = load(&path);
        // The approver runs first in each organization's pass (R105–R111).
        let expected = plan_fleet(&approved(&fleet), fleet.now, &FleetOptions::default());
        let world = World::new(fleet.clone()).await;
        let before = world.policies();
        let report = world.reconciler(false).await.pass(fleet.now).await.unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        for org in &expected.organizations {
            let outcome = report
                .orgs
                .iter()
                .find(|o| o.org_id == org.org_id)
                .unwrap_or_else(|| panic!("{name}: {} not reconciled", org.org_id));
            let got = outcome
                .result
                .as_ref()
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", org.org_id));
            assert_eq!(
                action_set(&got.actions),
                action_set(&org.actions),
                "{name}: {}",
                org.org_id
            );
            assert!(
                outcome.failed_actions().is_empty(),
                "{name}: OCM rejected {:?}",
                outcome.failed_actions()
            );
            assert_eq!(
                got.validation_errors.clusters.keys().collect::<Vec<_>>(),
                org.validation_errors.clusters.keys().collect::<Vec<_>>()
            );
        }
        // What OCM now holds: the old policies plus one per planned policy action.
        let after = world.policies();
        let planned: usize = expected
            .organizations
            .iter()
            .flat_map(|o| &o.actions)
            .filter(|a| !matches!(a, Action::ChannelSwitch { .. }))
            .count();
        assert_eq!(after.len(), before.len() + planned, "{name}");
        let switches: usize = expected
            .organizations
            .iter()
            .flat_map(|o| &o.actions)
            .filter(|a| matches!(a, Action::ChannelSwitch { .. }))
            .count();
        let channels_after = world.channels();

        let again = world.reconciler(false).await.pass(fleet.now).await.unwrap();
        for o in &again.orgs {
            let plan = o.result.as_ref().unwrap();
            assert!(
                plan.actions
                    .iter()
                    .all(|a| matches!(a, Action::ChannelSwitch { .. }))
                    || plan.actions.is_empty(),
                "{name}: second pass planned {:?}",
                plan.actions
            );
        }
        assert_eq!(
            world.policies(),
            after,
            "{name}: the second pass created policies"
        );
        let _ = (switches, channels_after);
        checked += 1;
    }
    assert_eq!(checked, 40);
}

fn example() -> Fleet {
    load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml"))
}

/// The history survives a restart (a new store on the same file) and soak days
/// accumulate as cluster-days with the simulator's clock (R65–R68, R75).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_restarts_and_soak_days_accumulate_with_the_clock() {
    let fleet = example();
    let world = World::new(fleet.clone()).await;
    let t0 = fleet.now;
    world.reconciler(false).await.pass(t0).await.unwrap();
    let key = |org: &str| StateKey::new("production", org).unwrap();
    let first = world
        .store()
        .await
        .load(&key("org-platform"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.check_in, Some(t0));

    world
        .sim
        .sim
        .advance(SignedDuration::from_hours(24))
        .unwrap();
    let t1 = world.sim.sim.now();
    // A new reconciler and a new store handle: a restarted process.
    world.reconciler(false).await.pass(t1).await.unwrap();
    let second = world
        .store()
        .await
        .load(&key("org-platform"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.check_in, Some(t1));

    // Expected increment per (version, workload): one day per healthy cluster that
    // still runs that version and was already reporting it.
    let now_fleet = world.sim.sim.fleet();
    let mut checked = 0;
    for (version, vh) in &first.versions {
        for (workload, wh) in &vh.workloads {
            let n = now_fleet
                .clusters
                .iter()
                .filter(|c| c.organization == "org-platform" && c.healthy && c.state == "ready")
                .filter(|c| c.version.to_string() == *version)
                .filter(|c| {
                    srecap_aus::policy::ClusterPolicy::from_labels(&c.labels)
                        .is_ok_and(|p| p.workloads.iter().any(|w| w == workload))
                })
                .filter(|c| wh.reporting.contains(&c.name))
                .count();
            let after = second.versions[version].workloads[workload].soak_days;
            #[allow(clippy::cast_precision_loss)]
            let expected = wh.soak_days + n as f64;
            assert!(
                (after - expected).abs() < 1e-9,
                "{version}/{workload}: {after} vs {expected}"
            );
            checked += usize::from(n > 0);
        }
    }
    assert!(checked > 0, "some entries must have soaked");
}

/// A cluster with broken labels gets one service log, not one per pass (R119–R122),
/// and its organization plans nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_labels_get_one_service_log_not_one_per_pass() {
    let fleet = load(&fixture("ref-027.yaml"));
    let world = World::new(fleet.clone()).await;
    world.sim.sim.reset_request_counts();
    for hour in 0..3 {
        let now = fleet.now + SignedDuration::from_hours(hour);
        if hour > 0 {
            world.sim.sim.set_now(now).unwrap();
        }
        let report = world.reconciler(false).await.pass(now).await.unwrap();
        assert!(
            report
                .orgs
                .iter()
                .all(|o| o.result.as_ref().is_ok_and(|p| p.actions.is_empty()))
        );
    }
    let logs = world.sim.sim.service_logs();
    let aus: Vec<_> = logs
        .iter()
        .filter(|l| l.service_name == srecap_aus::INTEGRATION)
        .collect();
    assert_eq!(aus.len(), 1, "{aus:#?}");
    assert_eq!(aus[0].cluster_uuid, "org-1-c004-uuid");
    assert_eq!(aus[0].summary, "Cluster upgrade policy validation errors");
    assert!(
        aus[0]
            .description
            .starts_with("- label sre-capabilities.aus.schedule: "),
        "{}",
        aus[0].description
    );
    // The frozen organization is never asked for per-cluster data, and nothing is
    // created for it.
    let counts = world.sim.sim.request_counts();
    assert!(
        counts.keys().all(|k| !k.contains("upgrade_policies")),
        "{counts:?}"
    );
}

/// Organization errors reach every valid cluster of the organization (R121).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_errors_reach_every_valid_cluster_once() {
    let fleet = load(&fixture("ref-007.yaml"));
    let world = World::new(fleet.clone()).await;
    world.reconciler(false).await.pass(fleet.now).await.unwrap();
    world.reconciler(false).await.pass(fleet.now).await.unwrap();
    let expected = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
    let valid: BTreeSet<String> = expected.organizations[0]
        .details
        .valid_clusters
        .iter()
        .map(|c| c.external_id.clone())
        .collect();
    let logs = world.sim.sim.service_logs();
    let got: Vec<String> = logs
        .iter()
        .filter(|l| l.summary == "AUS configuration error on organization")
        .map(|l| l.cluster_uuid.clone())
        .collect();
    assert_eq!(
        got.len(),
        valid.len(),
        "one log per valid cluster, not per pass"
    );
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), valid);
}

/// An organization whose API calls fail does not stop the others (R123), and the
/// failure is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_whose_calls_fail_does_not_stop_the_others() {
    let fleet = example();
    let expected = plan_fleet(&approved(&fleet), fleet.now, &FleetOptions::default());
    let world = World::new(fleet.clone()).await;
    world.sim.sim.add_fault(Fault {
        status: 503,
        path_prefix: None,
        method: None,
        organization: Some("org-payments".into()),
        count: None,
        retry_after: None,
    });
    let report = world.reconciler(false).await.pass(fleet.now).await.unwrap();
    for o in &report.orgs {
        if o.org_id == "org-payments" {
            let e = o.result.as_ref().unwrap_err();
            assert!(e.to_string().contains("503"), "{e}");
        } else {
            let plan = o.result.as_ref().unwrap();
            let want = expected
                .organizations
                .iter()
                .find(|p| p.org_id == o.org_id)
                .unwrap();
            assert_eq!(action_set(&plan.actions), action_set(&want.actions));
        }
    }
    let text = world.metrics.encode();
    assert!(
        text.contains(r#"aus_organization_reconcile_errors_total{integration="advanced-upgrade-scheduler",ocm_env="production",org_id="org-payments"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"aus_organization_reconcile_errors_total{integration="advanced-upgrade-scheduler",ocm_env="production",org_id="org-platform"} 0"#));
    // R6 step 1: the failed organization's gauges stand (it validated before
    // its per-cluster reads failed).
    assert!(
        text.contains(r#"aus_organization_validation_errors{integration="advanced-upgrade-scheduler",ocm_env="production",org_id="org-payments"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"srecap_aus_org_info{ocm_env="production",org_id="org-payments",org_name="#
        )
    );
    let info = text
        .lines()
        .filter(|l| {
            l.starts_with("aus_cluster_upgrade_policy_info{")
                && l.contains(r#"org_id="org-payments""#)
        })
        .count();
    assert!(info > 0, "{text}");
    // Health per valid cluster of the organizations that read it (§15.2).
    assert!(text.contains(r#"aus_cluster_health_state{integration="advanced-upgrade-scheduler",ocm_env="production",cluster_uuid="plat-"#));
    assert!(text.contains(r#"srecap_aus_cluster_health_state{ocm_env="production",org_id="org-platform",cluster_uuid="plat-"#));
}

/// `--dry-run` changes nothing in OCM and nothing in the store (R8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_leaves_ocm_and_the_store_untouched() {
    for fleet in [example(), load(&fixture("ref-027.yaml"))] {
        let world = World::new(fleet.clone()).await;
        let (policies, channels) = (world.policies(), world.channels());
        let store = world.store().await;
        let keys: Vec<StateKey> = fleet
            .version_data
            .keys()
            .map(|o| StateKey::new("production", o.as_str()).unwrap())
            .collect();
        let histories = store.load_many(&keys).await.unwrap();
        let report = world.reconciler(true).await.pass(fleet.now).await.unwrap();
        assert!(report.orgs.iter().any(|o| {
            o.result
                .as_ref()
                .is_ok_and(|p| !p.actions.is_empty() || p.has_validation_errors())
        }));
        assert_eq!(world.policies(), policies);
        assert_eq!(world.channels(), channels);
        assert!(
            world
                .sim
                .sim
                .service_logs()
                .iter()
                .all(|l| l.service_name != srecap_aus::INTEGRATION)
        );
        assert_eq!(
            world.store().await.load_many(&keys).await.unwrap(),
            histories
        );
        assert_eq!(writes(&world), 0);
    }
}

/// Write requests (POST, PATCH) the simulator received.
fn writes(world: &World) -> u64 {
    world
        .sim
        .sim
        .request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with("POST") || k.starts_with("PATCH"))
        .map(|(_, v)| v)
        .sum()
}

/// Organizations are reconciled as tasks of their own; a pass that is dropped
/// (a shutdown, an outer timeout) takes them down with it: none of them goes
/// on to write to OCM after its pass is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_pass_leaves_no_organization_writing() {
    let fleet = example();
    let world = World::with_sim(
        fleet.clone(),
        SimConfig {
            latency: std::time::Duration::from_millis(30),
            ..SimConfig::default()
        },
    )
    .await;
    let policies = world.policies();
    let reconciler = world.reconciler(false).await;
    let started = || {
        world
            .metrics
            .encode()
            .lines()
            .any(|l| l.starts_with("srecap_aus_org_reconcile_total{"))
    };
    {
        // Drop the pass once its organizations' tasks run (they count
        // themselves first), long before their first write (several requests
        // of 30 ms later).
        let pass = reconciler.pass(fleet.now);
        tokio::pin!(pass);
        loop {
            tokio::select! {
                _ = &mut pass => panic!("the pass ended before its organizations started"),
                () = tokio::time::sleep(std::time::Duration::from_millis(2)) => {
                    if started() {
                        break;
                    }
                }
            }
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(writes(&world), 0);
    assert_eq!(world.policies(), policies);
    // The same pass, not dropped, writes: the check above could have failed.
    reconciler.pass(fleet.now).await.unwrap();
    assert!(writes(&world) > 0);
    assert_ne!(world.policies(), policies);
}

/// The AUS metrics of a pass over a known scenario (names and labels of §15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_pass() {
    let fleet = load(&fixture("ref-012.yaml"));
    let world = World::new(fleet.clone()).await;
    world.reconciler(false).await.pass(fleet.now).await.unwrap();
    let text = world.metrics.encode();
    // Series order within a family is not defined by the exposition format: sort.
    let mut aus: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("aus_") || l.starts_with("# TYPE aus_"))
        .collect();
    aus.sort_unstable();
    insta::assert_snapshot!("metrics_ref_012", aus.join("\n"));
    assert!(text.contains("srecap_ocm_requests_total{"));
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_organizations_through_leases() {
    let w = World::new(example()).await;
    let store = w.store().await;
    let replica = |id: &str, ttl: std::time::Duration| {
        Reconciler::new(
            std::sync::Arc::new(srecap_controller::HttpOcm::new(w.client(), 8)),
            store.clone(),
            Config {
                replica: Some(Replica {
                    id: id.into(),
                    lease_ttl: ttl,
                }),
                ..Config::default()
            },
            Metrics::new("production"),
        )
    };
    let alpha = replica("alpha", std::time::Duration::from_mins(1));
    let bravo = replica("bravo", std::time::Duration::from_mins(1));
    let now = w.fleet.now;

    let first = alpha.pass(now).await.unwrap();
    let orgs = first.orgs.len();
    assert!(orgs >= 2);
    assert!(first.leased_elsewhere.is_empty());
    assert!(first.orgs.iter().all(|o| o.result.is_ok()));
    assert_eq!(alpha.leases_held(), orgs);
    let policies = w.policies();
    let histories = store.export().await.unwrap();

    // While alpha holds them, bravo leaves every organization alone: no write at all.
    let later = now + SignedDuration::from_hours(1);
    let second = bravo.pass(later).await.unwrap();
    assert!(second.orgs.is_empty());
    assert_eq!(second.leased_elsewhere.len(), orgs);
    assert_eq!(w.policies(), policies);
    assert_eq!(store.export().await.unwrap(), histories);
    // alpha keeps its organizations from pass to pass.
    assert_eq!(alpha.pass(later).await.unwrap().orgs.len(), orgs);

    // Released (shutdown): bravo takes them at once, not as a takeover.
    assert_eq!(alpha.release_leases().await, orgs);
    assert_eq!(alpha.leases_held(), 0);
    let third = bravo.pass(later).await.unwrap();
    assert!(third.leased_elsewhere.is_empty());
    assert!(third.orgs.iter().all(|o| o.result.is_ok()));
    assert_eq!(
        alpha.pass(later).await.unwrap().leased_elsewhere.len(),
        orgs
    );
    let text = bravo.metrics().encode_text();
    assert!(
        text.contains(&format!(
            "srecap_aus_leases_held{{ocm_env=\"production\",replica=\"bravo\"}} {orgs}"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "srecap_aus_lease_takeovers_total{ocm_env=\"production\",replica=\"bravo\"} 0"
        ),
        "{text}"
    );

    // A replica that dies (its leases expire unreleased) is taken over.
    let charlie = replica("charlie", std::time::Duration::from_millis(300));
    let delta = replica("delta", std::time::Duration::from_mins(1));
    bravo.release_leases().await;
    assert_eq!(charlie.pass(later).await.unwrap().orgs.len(), orgs);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let taken = delta.pass(later).await.unwrap();
    assert_eq!(taken.orgs.len(), orgs);
    assert!(delta.metrics().encode_text().contains(&format!(
        "srecap_aus_lease_takeovers_total{{ocm_env=\"production\",replica=\"delta\"}} {orgs}"
    )));
    // The stale replica now skips them.
    assert_eq!(
        charlie.pass(later).await.unwrap().leased_elsewhere.len(),
        orgs
    );
}

/// A fleet gated at 4.13: `approver` approves the OCP and ingress gates,
/// `owners` approves nothing (so the OCP gate only, R109) and `unknown` is
/// gated by a label without an approver handler. Every cluster is soaked and
/// due; its schedule fires every minute.
fn gated_fleet() -> Fleet {
    let cluster = |name: &str, approvals: Option<&str>| {
        let approvals = approvals.map_or_else(String::new, |a| {
            format!("      sre-capabilities.aus.version-gate-approvals: \"{a}\"\n")
        });
        format!(
            "  - name: {name}
    organization: org-1
    id: {name}-id
    external_id: {name}-uuid
    product: osd
    version: 4.12.17
    available_upgrades: [4.13.1]
    labels:
      sre-capabilities.aus.workloads: wl
      sre-capabilities.aus.soak-days: \"0\"
      sre-capabilities.aus.schedule: \"* * * * *\"
{approvals}"
        )
    };
    let text = format!(
        "now: 2026-11-20T22:00:00Z
environment: production
organizations:
  - id: org-1
    name: org-one
version_gates:
  - {{id: ocp-4-13, version_raw_id_prefix: \"4.13\", label: api.openshift.com/gate-ocp, sts_only: false}}
  - {{id: ingress-4-13, version_raw_id_prefix: \"4.13\", label: api.openshift.com/gate-ingress, sts_only: false}}
  - {{id: new-4-13, version_raw_id_prefix: \"4.13\", label: api.openshift.com/gate-new, sts_only: false}}
clusters:
{}{}",
        cluster(
            "approver",
            Some("api.openshift.com/gate-ocp,api.openshift.com/gate-ingress")
        ),
        cluster("owners", None),
    );
    let mut fleet = srecap_fleet::parse_scenario(&text, "gated", Timestamp::UNIX_EPOCH).unwrap();
    // `approver` and `owners` are not concerned by the handler-less gate:
    // `approver` agreed to it already, `owners` too; a third cluster has none.
    for c in &mut fleet.clusters {
        c.gate_agreements = vec!["new-4-13".to_owned()];
    }
    let mut unknown = fleet.clusters[1].clone();
    unknown.name = "unknown".into();
    unknown.id = "unknown-id".into();
    unknown.external_id = "unknown-uuid".into();
    std::sync::Arc::make_mut(&mut unknown.labels).insert(
        "sre-capabilities.aus.version-gate-approvals".into(),
        "api.openshift.com/gate-ocp,api.openshift.com/gate-ingress,api.openshift.com/gate-new"
            .into(),
    );
    unknown.gate_agreements = Vec::new();
    fleet.clusters.push(unknown);
    fleet
}

/// R105–R112 over HTTP: the approver agrees to the gates a cluster approves
/// and the same pass books its minor upgrade, which OCM accepts and runs; no
/// manual step. A second pass agrees to nothing again (idempotent, R110).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r108_r110_approved_gates_are_agreed_and_the_minor_booked_in_the_same_pass() {
    let fleet = gated_fleet();
    let world = World::new(fleet.clone()).await;
    let report = world.reconciler(false).await.pass(fleet.now).await.unwrap();
    let org = &report.orgs[0];
    assert!(
        org.failed_actions().is_empty(),
        "{:?}",
        org.failed_actions()
    );
    let plan = org.result.as_ref().unwrap();
    let booked: Vec<&str> = plan.actions.iter().map(Action::cluster).collect();
    assert_eq!(booked, ["approver"], "{plan:#?}");
    let agreed: BTreeSet<String> = org
        .execution
        .created
        .iter()
        .filter(|w| w.kind == "gate_agreement")
        .map(|w| format!("{} {}", w.cluster, w.what))
        .collect();
    assert!(agreed.contains("approver version gate ocp-4-13 (api.openshift.com/gate-ocp)"));
    assert!(agreed.contains("approver version gate ingress-4-13 (api.openshift.com/gate-ingress)"));
    // `owners` gets its OCP gate (enabled by default) but not the ingress one.
    assert!(agreed.contains("owners version gate ocp-4-13 (api.openshift.com/gate-ocp)"));
    assert_eq!(agreed.len(), 5, "{agreed:?}"); // + `unknown`'s OCP and ingress gates

    // The booked upgrade is seen started, once (slo-alerting §1.4), while it
    // runs (22:07 to 23:37).
    let started = r#"srecap_aus_upgrades_started_total{ocm_env="production",org_id="org-1"} 1"#;
    for minutes in [60, 80] {
        let now = fleet.now + SignedDuration::from_mins(minutes);
        world.sim.sim.set_now(now).unwrap();
        world.reconciler(false).await.pass(now).await.unwrap();
        let text = world.metrics.encode();
        assert!(text.contains(started), "{text}");
    }

    // The upgrade ends: the cluster reaches the new minor, with no manual step.
    world
        .sim
        .sim
        .advance(SignedDuration::from_hours(3))
        .unwrap();
    let after = world.sim.sim.fleet();
    let approver = after
        .clusters
        .iter()
        .find(|c| c.name == "approver")
        .unwrap();
    assert_eq!(approver.version.to_string(), "4.13.1");

    // Idempotent: nothing is agreed twice.
    let again = world
        .reconciler(false)
        .await
        .pass(world.sim.sim.now())
        .await
        .unwrap();
    assert!(
        again.orgs[0]
            .execution
            .created
            .iter()
            .all(|w| w.kind != "gate_agreement"),
        "{:?}",
        again.orgs[0].execution.created
    );
}

/// Issue 15 item 2: a cluster held by a gate the approver will not agree to
/// (a known label it does not approve, or a label without a handler) is never
/// sent a policy OCM refuses; it waits with `missing-gate-agreement`, and its
/// owners get one service log per 24 hours (R122).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapprovable_gates_hold_the_cluster_and_tell_its_owners_once_a_day() {
    let fleet = gated_fleet();
    let world = World::new(fleet.clone()).await;
    for hour in [0, 1, 6, 23, 25, 30] {
        let now = fleet.now + SignedDuration::from_hours(hour);
        world.sim.sim.set_now(now).unwrap();
        let report = world.reconciler(false).await.pass(now).await.unwrap();
        let org = &report.orgs[0];
        assert!(
            org.failed_actions().is_empty(),
            "hour {hour}: OCM refused {:?}",
            org.failed_actions()
        );
        let plan = org.result.as_ref().unwrap();
        for held in ["owners", "unknown"] {
            let e = plan
                .clusters
                .iter()
                .find(|e| e.cluster == held)
                .unwrap_or_else(|| panic!("hour {hour}: {held} not held: {plan:#?}"));
            assert_eq!(e.reason, srecap_aus::Reason::MissingGateAgreement);
        }
        let text = world.metrics.encode();
        assert!(
            text.contains(r#"aus_cluster_missing_version_gate_agreements{integration="advanced-upgrade-scheduler",ocm_env="production",org_id="org-1",cluster_uuid="unknown-id",version_prefix="4.13"} 1"#),
            "hour {hour}: {text}"
        );
        // slo-alerting §1.4: the held clusters, by reason.
        assert!(
            text.contains(r#"srecap_aus_cluster_upgrade_blocked{ocm_env="production",org_id="org-1",cluster_uuid="unknown-uuid",reason="missing-gate-agreement"} 1"#),
            "hour {hour}: {text}"
        );
    }
    let logs = world.sim.sim.service_logs();
    let to = |uuid: &str| {
        logs.iter()
            .filter(|l| l.service_name == srecap_aus::INTEGRATION && l.cluster_uuid == uuid)
            .collect::<Vec<_>>()
    };
    // Passes at 0, 1, 6, 23 h: one log; at 25 h a day has passed: a second.
    for uuid in ["owners-uuid", "unknown-uuid"] {
        let sent = to(uuid);
        assert_eq!(sent.len(), 2, "{uuid}: {sent:#?}");
        assert_eq!(
            sent[0].summary,
            "Cluster upgrade waits for a version-gate agreement"
        );
    }
    assert!(to("owners-uuid")[0].description.contains("ingress-4-13"));
    assert!(to("unknown-uuid")[0].description.contains("new-4-13"));
    assert!(to("approver-uuid").is_empty());
    // Never a policy for the held clusters.
    let f = world.sim.sim.fleet();
    for held in ["owners", "unknown"] {
        let c = f.clusters.iter().find(|c| c.name == held).unwrap();
        assert!(
            c.upgrade_policies.is_empty(),
            "{held}: {:?}",
            c.upgrade_policies
        );
        assert_eq!(c.version.to_string(), "4.12.17");
    }
}

/// R8 with the approver: a dry run agrees to nothing and books nothing, but
/// plans what a real pass would (the approved gates taken as agreed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_a_dry_run_agrees_to_nothing_but_plans_as_if_the_approver_had() {
    let fleet = gated_fleet();
    let world = World::new(fleet.clone()).await;
    let report = world.reconciler(true).await.pass(fleet.now).await.unwrap();
    let plan = report.orgs[0].result.as_ref().unwrap();
    let booked: Vec<&str> = plan.actions.iter().map(Action::cluster).collect();
    assert_eq!(booked, ["approver"]);
    assert!(report.orgs[0].execution.created.is_empty());
    let posts: u64 = world
        .sim
        .sim
        .request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with("POST") || k.starts_with("PATCH"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(posts, 0);
    let after = world.sim.sim.fleet();
    assert!(after.clusters.iter().all(|c| c.upgrade_policies.is_empty()));
    let approver = after
        .clusters
        .iter()
        .find(|c| c.name == "approver")
        .unwrap();
    // Only the agreement the fixture started with.
    assert_eq!(approver.gate_agreements, ["new-4-13"]);
}
