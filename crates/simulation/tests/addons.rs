//! The add-on pass over the in-process OCM (`InProcessOcm`), as the
//! time-travel simulation would run it: the same decisions as over HTTP
//! (`crates/controller/tests/addons.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_controller::registry::{AddonSettings, OrgRegistry, RegisteredOrg};
use srecap_controller::{Config, Metrics, Reconciler};
use srecap_fleet::PolicyState;
use srecap_sim::{SimConfig, Simulator};
use srecap_simulation::InProcessOcm;
use srecap_store::{HistoryStore, StateKey, Store};

const FLEET: &str = r"
now: '2027-03-01T10:00:00Z'
environment: production
organizations:
- id: org-a
addon_catalog: {logging: 1.1.0}
clusters:
- name: dev
  organization: org-a
  version: 4.15.10
  available_upgrades: []
  addons: [{id: logging, version: 1.0.0}]
- name: prod
  organization: org-a
  version: 4.15.10
  available_upgrades: []
  addons: [{id: logging, version: 1.0.0, state: installing}]
";

fn cluster_settings(soak_days: &str) -> BTreeMap<String, String> {
    [
        ("workloads", "wl"),
        ("soak-days", soak_days),
        ("schedule", "* * * * *"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn the_in_process_ocm_runs_the_addon_pass_r114_r116_r117() {
    let now: Timestamp = "2027-03-01T10:00:00Z".parse().unwrap();
    let fleet = srecap_fleet::parse_scenario(FLEET, "addons.yaml", now).unwrap();
    let sim = Simulator::new(fleet, SimConfig::default());
    let registry = OrgRegistry::new([(
        "org-a".to_owned(),
        RegisteredOrg {
            addons: Some(AddonSettings {
                organization: BTreeMap::new(),
                clusters: [
                    ("dev".to_owned(), cluster_settings("0")),
                    ("prod".to_owned(), cluster_settings("0")),
                ]
                .into_iter()
                .collect(),
            }),
            ..RegisteredOrg::default()
        },
    )]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open("memory:").await.unwrap();
        let config = Config {
            environment: "production".to_owned(),
            registry: Some(Arc::new(registry)),
            ..Config::default()
        };
        let r = Reconciler::new(
            Arc::new(InProcessOcm::new(sim.clone())),
            store.clone(),
            config,
            Metrics::new("production"),
        );
        let logging = |name: &str| {
            let fleet = sim.fleet();
            let id = &fleet.clusters.iter().find(|c| c.name == name).unwrap().id;
            fleet
                .addons
                .installations
                .iter()
                .find(|i| &i.cluster_id == id)
                .unwrap()
                .clone()
        };
        r.pass(sim.now()).await.unwrap();
        let dev = logging("dev");
        assert_eq!(dev.upgrade_policies.len(), 1);
        assert_eq!(
            dev.upgrade_policies[0].next_run,
            Some(now + SignedDuration::from_mins(6))
        );
        // prod's installation is not ready: not planned (R114).
        assert!(logging("prod").upgrade_policies.is_empty());

        sim.advance(SignedDuration::from_mins(10)).unwrap();
        let dev = logging("dev");
        assert_eq!(dev.version, Version::new(1, 1, 0));
        assert_eq!(dev.upgrade_policies[0].state, PolicyState::Completed);
        r.pass(sim.now()).await.unwrap();
        assert!(logging("dev").upgrade_policies.is_empty(), "R117");
        let history = store
            .load(&StateKey::addon("production", "org-a", "logging").unwrap())
            .await
            .unwrap()
            .expect("history under <env>/<org>/<addon>");
        assert!(history.versions.contains_key("1.1.0"), "{history:?}");
    });
}
