//! End-to-end tests of the reconciler against the simulator over HTTP on
//! 127.0.0.1, with a real SQLite state file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use srecap_aus::{Action, FleetOptions, plan_fleet};
use srecap_controller::health::HealthProvider;
use srecap_controller::{Config, Metrics, Reconciler};
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
        let sim = srecap_sim::spawn(Simulator::new(fleet.clone(), SimConfig::default()))
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
            self.client(),
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
        let expected = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
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
                outcome.failed_actions.is_empty(),
                "{name}: OCM rejected {:?}",
                outcome.failed_actions
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
