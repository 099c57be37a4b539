//! The add-on upgrade scheduler (§13, R113–R118) against the simulator over
//! HTTP on 127.0.0.1 and a SQLite store: registry settings, plans at the next
//! pass, soak under `<env>/<org>/<addon>`, deletions of completed plans.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_controller::registry::{AddonSettings, OrgRegistry, RegisteredOrg};
use srecap_controller::{Config, HttpOcm, Metrics, Reconciler};
use srecap_fleet::{PolicyState, UpgradePolicy};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, StateKey, Store};

const NOW: &str = "2027-03-01T10:00:00Z";
const ENV: &str = "production";

/// `org-a` runs add-on `logging` 1.0.0 on `dev` and `prod` (the catalogue has
/// 1.1.0); `org-d` has the add-on scheduler disabled and `org-u` is not in the
/// registry. No cluster has AUS labels: add-ons are not label-driven.
const FLEET: &str = r"
now: '2027-03-01T10:00:00Z'
environment: production
organizations:
- id: org-a
- id: org-d
- id: org-u
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
  addons: [{id: logging, version: 1.0.0}]
- name: unlisted
  organization: org-a
  version: 4.15.10
  available_upgrades: []
  addons: [{id: logging, version: 1.0.0}]
- name: d-c1
  organization: org-d
  version: 4.15.10
  available_upgrades: []
  addons: [{id: logging, version: 1.0.0}]
- name: u-c1
  organization: org-u
  version: 4.15.10
  available_upgrades: []
  addons: [{id: logging, version: 1.0.0}]
";

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// dev first; prod after two days of soak of the version on dev.
fn addon_settings() -> AddonSettings {
    let every_minute = "* * * * *";
    AddonSettings {
        organization: BTreeMap::new(),
        clusters: [
            (
                "dev".to_owned(),
                settings(&[
                    ("workloads", "wl"),
                    ("soak-days", "0"),
                    ("schedule", every_minute),
                ]),
            ),
            (
                "prod".to_owned(),
                settings(&[
                    ("workloads", "wl"),
                    ("soak-days", "2"),
                    ("schedule", every_minute),
                ]),
            ),
            (
                "d-c1".to_owned(),
                settings(&[
                    ("workloads", "wl"),
                    ("soak-days", "0"),
                    ("schedule", every_minute),
                ]),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

fn registry() -> OrgRegistry {
    OrgRegistry::new([
        (
            "org-a".to_owned(),
            RegisteredOrg {
                addons: Some(addon_settings()),
                ..RegisteredOrg::default()
            },
        ),
        (
            "org-d".to_owned(),
            RegisteredOrg {
                disabled: vec!["ocm-addons-upgrade-scheduler-org".to_owned()],
                addons: Some(addon_settings()),
                ..RegisteredOrg::default()
            },
        ),
    ])
}

struct Harness {
    sim: RunningSim,
    store: Store,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let now: Timestamp = NOW.parse().unwrap();
        let fleet = srecap_fleet::parse_scenario(FLEET, "addons.yaml", now).unwrap();
        let sim = srecap_sim::spawn(Simulator::new(fleet, SimConfig::default()))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("state.db").display()))
            .await
            .unwrap();
        Harness {
            sim,
            store,
            _dir: dir,
        }
    }

    fn reconciler(&self, dry_run: bool) -> Reconciler {
        let metrics = Metrics::new(ENV);
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
        let mut client = ClientConfig::new(credentials);
        client.observer = Some(metrics.clone());
        let ocm = Arc::new(HttpOcm::new(OcmClient::new(client).unwrap(), 4));
        let config = Config {
            environment: ENV.to_owned(),
            registry: Some(Arc::new(registry())),
            dry_run,
            ..Config::default()
        };
        Reconciler::new(ocm, self.store.clone(), config, metrics)
    }

    /// The installed version of `logging` on `cluster` and its plans.
    fn logging(&self, cluster: &str) -> (Version, Vec<UpgradePolicy>) {
        let fleet = self.sim.sim.fleet();
        let id = fleet
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .unwrap()
            .id
            .clone();
        let i = fleet
            .addons
            .installations
            .iter()
            .find(|i| i.cluster_id == id && i.addon_id == "logging")
            .unwrap();
        (i.version.clone(), i.upgrade_policies.clone())
    }

    fn untouched(&self) {
        for cluster in ["unlisted", "d-c1", "u-c1"] {
            let (version, plans) = self.logging(cluster);
            assert_eq!(version, Version::new(1, 0, 0), "{cluster}");
            assert!(plans.is_empty(), "{cluster}: {plans:?}");
        }
    }
}

#[tokio::test]
async fn dev_then_prod_after_soak_r113_r114_r115_r116_r117() {
    let h = Harness::new().await;
    let r = h.reconciler(false);
    let t0 = h.sim.sim.now();

    // Pass 1: dev (no soak needed) gets a manual plan to the latest version,
    // running 6 minutes later (R116); prod waits for soak.
    r.pass(t0).await.unwrap();
    let (version, plans) = h.logging("dev");
    assert_eq!(version, Version::new(1, 0, 0));
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].version, Some(Version::new(1, 1, 0)));
    assert_eq!(plans[0].next_run, Some(t0 + SignedDuration::from_mins(6)));
    assert!(h.logging("prod").1.is_empty());
    h.untouched();

    // R118: the add-on gauges, labelled with the add-on.
    let text = r.metrics().encode();
    let info: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("aus_addon_upgrade_policy_info{"))
        .collect();
    assert_eq!(info.len(), 2, "{info:#?}");
    for line in &info {
        assert!(
            line.contains(r#"integration="ocm-addons-upgrade-scheduler-org""#)
                && line.contains(r#"current_version="1.0.0""#)
                && line.contains(r#"addon="logging"}"#),
            "{line}"
        );
    }
    let soak: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("aus_addon_version_remaining_soak_days{"))
        .collect();
    assert!(
        soak.iter()
            .any(|l| l.contains(r#"soaking_version="1.1.0",addon="logging"} 2"#)),
        "{soak:#?}"
    );

    // SLO aus-addon-reconcile: one event per organization and pass, only for
    // organizations whose add-ons are scheduled.
    assert!(
        text.contains(
            r#"srecap_aus_addon_org_reconcile_total{ocm_env="production",org_id="org-a"} 1"#
        ),
        "{text}"
    );
    assert!(
        !text.contains(
            r#"srecap_aus_addon_org_reconcile_total{ocm_env="production",org_id="org-d"}"#
        )
    );
    assert!(!text.contains(r#"srecap_aus_addon_org_reconcile_errors_total{ocm_env="production",org_id="org-a",cause="internal"} 1"#));

    // The plan runs; the next pass deletes it, completed (R117).
    h.sim.sim.advance(SignedDuration::from_mins(10)).unwrap();
    let (version, plans) = h.logging("dev");
    assert_eq!(version, Version::new(1, 1, 0));
    assert_eq!(plans[0].state, PolicyState::Completed);
    r.pass(h.sim.sim.now()).await.unwrap();
    assert!(h.logging("dev").1.is_empty());

    // Soak accumulates under <env>/<org>/<addon> (R115), never under the
    // organization's own key.
    let key = StateKey::addon(ENV, "org-a", "logging").unwrap();
    assert_eq!(key.to_string(), "production/org-a/logging");
    let mut prod_planned = None;
    for _ in 0..16 {
        h.sim.sim.advance(SignedDuration::from_hours(6)).unwrap();
        let now = h.sim.sim.now();
        r.pass(now).await.unwrap();
        if !h.logging("prod").1.is_empty() {
            prod_planned = Some(now);
            break;
        }
    }
    let history = h.store.load(&key).await.unwrap().expect("add-on history");
    let soaked = &history.versions["1.1.0"].workloads["wl"];
    assert!(soaked.soak_days >= 2.0, "{soaked:?}");
    let planned = prod_planned.expect("prod follows after its soak days");
    let waited = planned.duration_since(t0);
    assert!(
        waited >= SignedDuration::from_hours(48) && waited <= SignedDuration::from_hours(60),
        "prod planned after {waited}"
    );
    let (_, plans) = h.logging("prod");
    assert_eq!(plans[0].version, Some(Version::new(1, 1, 0)));
    h.sim.sim.advance(SignedDuration::from_mins(10)).unwrap();
    assert_eq!(h.logging("prod").0, Version::new(1, 1, 0));
    r.pass(h.sim.sim.now()).await.unwrap();
    assert!(h.logging("prod").1.is_empty());

    // Disabled or unregistered organizations, and clusters the registry does
    // not name, were never touched (R113, R4).
    h.untouched();
    assert!(
        h.store
            .load(&StateKey::addon(ENV, "org-d", "logging").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.store
            .load(&StateKey::addon(ENV, "org-u", "logging").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_dry_run_writes_no_plan_and_no_history_r113() {
    let h = Harness::new().await;
    let r = h.reconciler(true);
    r.pass(h.sim.sim.now()).await.unwrap();
    assert!(h.logging("dev").1.is_empty());
    assert!(
        h.store
            .load(&StateKey::addon(ENV, "org-a", "logging").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
