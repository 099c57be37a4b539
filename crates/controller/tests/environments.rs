//! Several OCM environments in one process (R4, R5, R41–R44, R47), against two
//! simulators over HTTP on 127.0.0.1 and one SQLite store.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use srecap_aus::Action;
use srecap_controller::health::HealthProvider;
use srecap_controller::registry::{HealthCheck, OrgRegistry, RegisteredOrg, TELEMETER};
use srecap_controller::{Config, Environments, HttpOcm, Metrics, Reconciler};
use srecap_fleet::Fleet;
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient, RetryPolicy};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

const NOW: &str = "2027-03-01T10:00:00Z";

/// env-a: `org-a` publishes its soak history to `org-b`; its cluster has run
/// 4.15.10 for a long time.
const ENV_A: &str = r"
now: '2027-03-01T10:00:00Z'
environment: env-a
organizations:
- id: org-a
  name: Org A
  labels:
    sre-capabilities.aus.version-data.publish: org-b
clusters:
- name: a-c1
  organization: org-a
  version: 4.15.10
  available_upgrades: []
  labels:
    sre-capabilities.aus.workloads: wl
    sre-capabilities.aus.soak-days: '0'
    sre-capabilities.aus.schedule: '* * * * *'
";

/// env-b: `org-b` inherits from `org-a` (in env-a) and needs 3 soak days;
/// `org-u` has AUS labels (one of them broken) but is not in env-b's registry.
const ENV_B: &str = r"
now: '2027-03-01T10:00:00Z'
environment: env-b
organizations:
- id: org-b
  name: Org B
  labels:
    sre-capabilities.aus.version-data.inherit: org-a
- id: org-u
  name: Org U
  labels: {}
clusters:
- name: b-c1
  organization: org-b
  version: 4.15.9
  available_upgrades:
  - 4.15.10
  labels:
    sre-capabilities.aus.workloads: wl
    sre-capabilities.aus.soak-days: '3'
    sre-capabilities.aus.schedule: '* * * * *'
- name: u-c1
  organization: org-u
  version: 4.15.9
  available_upgrades:
  - 4.15.10
  labels:
    sre-capabilities.aus.workloads: wl
    sre-capabilities.aus.soak-days: '0'
    sre-capabilities.aus.schedule: '* * * * *'
- name: u-c2
  organization: org-u
  version: 4.15.9
  available_upgrades: []
  labels:
    sre-capabilities.aus.workloads: wl
    sre-capabilities.aus.soak-days: not-a-number
    sre-capabilities.aus.schedule: '* * * * *'
";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn fleet(text: &str, name: &str) -> Fleet {
    srecap_fleet::parse_scenario(text, name, now()).unwrap()
}

async fn spawn(fleet: Fleet) -> RunningSim {
    srecap_sim::spawn(Simulator::new(fleet, SimConfig::default()))
        .await
        .unwrap()
}

fn client(api_url: &str, token_url: &str, metrics: Arc<Metrics>) -> OcmClient {
    let opts = ConnectionOptions {
        api_url: Some(api_url.to_owned()),
        token_url: Some(token_url.to_owned()),
        client_id: Some("srecap-sim".into()),
        client_secret: Some("srecap-sim".into()),
        offline_token: None,
        token_file: None,
        scopes: None,
    };
    let credentials = Credentials::resolve(&opts, &|_| None, None).unwrap();
    let mut config = ClientConfig::new(credentials);
    config.observer = Some(metrics);
    // A simulator that is down should fail the environment quickly.
    config.retry = RetryPolicy {
        max_retries: 1,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    config.request_timeout = Duration::from_secs(5);
    OcmClient::new(config).unwrap()
}

struct Two {
    a: Option<RunningSim>,
    b: RunningSim,
    /// env-a's URLs, kept to reach it (or its absence) after a shutdown.
    a_urls: (String, String),
    store: Store,
    _dir: tempfile::TempDir,
    metrics: Arc<Metrics>,
}

impl Two {
    async fn new() -> Two {
        let a = spawn(fleet(ENV_A, "env-a.yaml")).await;
        let b = spawn(fleet(ENV_B, "env-b.yaml")).await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("state.db").display()))
            .await
            .unwrap();
        // org-a has soaked 4.15.10 for ten days in env-a.
        let history: srecap_fleet::VersionData = serde_json::from_value(serde_json::json!({
            "check_in": NOW,
            "versions": {"4.15.10": {"workloads": {"wl": {"soak_days": 10.0, "reporting": ["a-c1"]}}}}
        }))
        .unwrap();
        let txn = store
            .begin(&StateKey::new("env-a", "org-a").unwrap())
            .await
            .unwrap();
        txn.commit(&history).await.unwrap();
        Two {
            a_urls: (a.base_url(), a.token_url()),
            a: Some(a),
            b,
            store,
            _dir: dir,
            metrics: Metrics::new("env-a"),
        }
    }

    fn reconciler(
        &self,
        env: &str,
        urls: (&str, &str),
        registry: Option<OrgRegistry>,
        health: Option<HealthProvider>,
    ) -> Reconciler {
        let metrics = self.metrics.for_environment(env);
        let ocm = Arc::new(HttpOcm::new(client(urls.0, urls.1, metrics.clone()), 8));
        let config = Config {
            environment: env.to_owned(),
            registry: registry.map(Arc::new),
            health,
            ..Config::default()
        };
        Reconciler::new(ocm, self.store.clone(), config, metrics)
    }

    /// env-a without a registry; env-b with a registry naming only org-b.
    fn environments(&self) -> Environments {
        let a = self.reconciler("env-a", (&self.a_urls.0, &self.a_urls.1), None, None);
        let registry = OrgRegistry::new([("org-b".to_owned(), RegisteredOrg::default())]);
        let b = self.reconciler(
            "env-b",
            (&self.b.base_url(), &self.b.token_url()),
            Some(registry),
            None,
        );
        Environments::new(vec![a, b]).unwrap()
    }

    fn policies_of(sim: &RunningSim, cluster: &str) -> usize {
        sim.sim
            .fleet()
            .clusters
            .iter()
            .filter(|c| c.name == cluster)
            .map(|c| c.upgrade_policies.len())
            .sum()
    }
}

fn metric_line<'a>(text: &'a str, name: &str, env: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(&format!("ocm_env=\"{env}\"")))
}

/// R44, R5 step 1: the inheritance network spans the environments, so org-b in
/// env-b inherits org-a's soak days from env-a and books 4.15.10, which it
/// has never run itself. Alone, env-b sees org-a nowhere: the link is
/// unverified (R45) and org-b is frozen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inheritance_spans_environments_r44() {
    let two = Two::new().await;

    // One environment alone: the source is unknown, an organization error.
    let alone = two.reconciler("env-b", (&two.b.base_url(), &two.b.token_url()), None, None);
    let report = alone.pass(now()).await.unwrap();
    let org_b = report.orgs.iter().find(|o| o.org_id == "org-b").unwrap();
    let plan = org_b.result.as_ref().unwrap();
    assert!(
        plan.validation_errors
            .organization
            .iter()
            .any(|e| e.contains("unverified")),
        "{:?}",
        plan.validation_errors
    );
    assert!(plan.actions.is_empty());

    // Both environments in one process: verified across them.
    let envs = two.environments();
    let passes = envs.pass(now()).await;
    assert_eq!(
        passes
            .iter()
            .map(|p| p.environment.as_str())
            .collect::<Vec<_>>(),
        ["env-a", "env-b"]
    );
    let b = passes[1].result.as_ref().unwrap();
    let org_b = b.orgs.iter().find(|o| o.org_id == "org-b").unwrap();
    let plan = org_b.result.as_ref().unwrap();
    assert!(
        !plan.has_validation_errors(),
        "{:?}",
        plan.validation_errors
    );
    assert!(
        plan.actions.iter().any(|a| matches!(
            a,
            Action::UpgradePolicy { version, .. } if version.to_string() == "4.15.10"
        )),
        "{:?}",
        plan.actions
    );
    assert_eq!(Two::policies_of(&two.b, "b-c1"), 1);
    // Histories stay per environment: `<env>/<org>` keys.
    let keys: Vec<String> = two
        .store
        .export()
        .await
        .unwrap()
        .keys()
        .map(ToString::to_string)
        .collect();
    assert!(keys.contains(&"env-a/org-a".to_owned()), "{keys:?}");
    assert!(keys.contains(&"env-b/org-b".to_owned()), "{keys:?}");
}

/// R41, R4 (a): an organization with AUS labels outside its environment's
/// registry is left alone: no per-cluster reads, no policies, no service log
/// (even for its broken label), and it is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_organization_is_never_touched_r41() {
    let two = Two::new().await;
    two.b.sim.reset_request_counts();
    let envs = two.environments();
    let passes = envs.pass(now()).await;
    let b = passes[1].result.as_ref().unwrap();
    assert_eq!(b.unregistered, ["org-u"]);
    assert!(b.orgs.iter().all(|o| o.org_id != "org-u"));
    assert_eq!(Two::policies_of(&two.b, "u-c1"), 0);
    let u_ids: Vec<String> = two
        .b
        .sim
        .fleet()
        .clusters
        .iter()
        .filter(|c| c.organization == "org-u")
        .flat_map(|c| [c.id.clone(), c.external_id.clone()])
        .collect();
    assert!(
        two.b
            .sim
            .service_logs()
            .iter()
            .all(|l| !u_ids.contains(&l.cluster_uuid) && !u_ids.contains(&l.cluster_id)),
        "{:?}",
        two.b.sim.service_logs()
    );
    let counts = two.b.sim.request_counts();
    assert!(
        counts
            .keys()
            .all(|k| u_ids.iter().all(|id| !k.contains(id.as_str()))),
        "{counts:?}"
    );
    let text = two.metrics.encode();
    let line = metric_line(&text, "srecap_aus_unregistered_organizations", "env-b").unwrap();
    assert!(line.ends_with(" 1") || line.ends_with(" 1.0"), "{line}");
    let line = metric_line(&text, "srecap_aus_unregistered_organizations", "env-a").unwrap();
    assert!(line.ends_with(" 0") || line.ends_with(" 0.0"), "{line}");
}

/// R5 step 2: an environment that cannot be discovered is skipped and counted
/// in `aus_ocm_environment_errors{ocm_env}`; the other continues. The labels
/// of its last discovery keep the inheritance network whole, so org-b is not
/// blamed for AUS's outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_environment_is_skipped_and_counted_r5() {
    let mut two = Two::new().await;
    let envs = two.environments();
    let first = envs.pass(now()).await;
    assert!(first.iter().all(|p| p.result.is_ok()));

    two.a.take().unwrap().shutdown().await.unwrap();
    let second = envs.pass(now()).await;
    assert!(second[0].result.is_err(), "env-a is down");
    let b = second[1].result.as_ref().expect("env-b continues");
    let org_b = b.orgs.iter().find(|o| o.org_id == "org-b").unwrap();
    let plan = org_b.result.as_ref().unwrap();
    assert!(
        !plan.has_validation_errors(),
        "{:?}",
        plan.validation_errors
    );

    let text = two.metrics.encode();
    let errors = |env: &str| {
        metric_line(&text, "aus_ocm_environment_errors_total", env)
            .unwrap_or_else(|| panic!("no environment error series for {env}:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!((errors("env-a") - 1.0).abs() < f64::EPSILON);
    assert!(errors("env-b").abs() < f64::EPSILON);
    // Each family once in the exposition, whatever the number of environments.
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let mut unique = types.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(types.len(), unique.len());
    // The loop's view: one environment failed, the pass did not.
    let merged = envs.merged_pass(now()).await.unwrap();
    assert!(merged.orgs.iter().any(|o| o.org_id == "org-b"));
}

/// R47 (deviation): an organization asking for a health provider its
/// environment lacks gets an organization error; the environment goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_health_provider_is_an_org_error_r47() {
    let two = Two::new().await;
    let registry = OrgRegistry::new([(
        "org-b".to_owned(),
        RegisteredOrg {
            disabled: Vec::new(),
            health: vec![HealthCheck {
                provider: TELEMETER.to_owned(),
                enforced: true,
            }],
            addons: None,
        },
    )]);
    let b = two.reconciler(
        "env-b",
        (&two.b.base_url(), &two.b.token_url()),
        Some(registry),
        None,
    );
    let report = b.pass(now()).await.unwrap();
    let plan = report.orgs[0].result.as_ref().unwrap();
    assert!(
        plan.validation_errors
            .organization
            .iter()
            .any(|e| e.contains("telemeter not available in environment env-b")),
        "{:?}",
        plan.validation_errors
    );
}

/// R3, R5 step 1: with an environment parameter only env-b is reconciled, but
/// the network still spans env-a, read with one label search and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_parameter_limits_the_reconcile_not_the_network_r5() {
    let two = Two::new().await;
    let a_sim = two.a.as_ref().unwrap();
    a_sim.sim.reset_request_counts();
    let a = two.reconciler("env-a", (&two.a_urls.0, &two.a_urls.1), None, None);
    let a = ("env-a".to_owned(), Arc::clone(a.ocm()));
    let b = two.reconciler("env-b", (&two.b.base_url(), &two.b.token_url()), None, None);
    let envs = Environments::new(vec![b])
        .unwrap()
        .with_network_only(vec![a])
        .unwrap();
    let passes = envs.pass(now()).await;
    assert_eq!(passes.len(), 1);
    let report = passes[0].result.as_ref().unwrap();
    let plan = report
        .orgs
        .iter()
        .find(|o| o.org_id == "org-b")
        .unwrap()
        .result
        .as_ref()
        .unwrap();
    assert!(
        !plan.has_validation_errors(),
        "{:?}",
        plan.validation_errors
    );
    assert_eq!(Two::policies_of(&two.b, "b-c1"), 1);
    // env-a: a label search only (and the token): no discovery, no write.
    let counts = a_sim.sim.request_counts();
    assert!(counts.keys().any(|k| k.contains("labels")), "{counts:?}");
    assert!(
        counts
            .keys()
            .all(|k| k.contains("labels") || k.contains("token")),
        "{counts:?}"
    );
    assert_eq!(Two::policies_of(a_sim, "a-c1"), 0);
    assert!(
        Environments::new(vec![two.reconciler(
            "x",
            ("http://a", "http://a"),
            None,
            None
        )])
        .unwrap()
        .with_network_only(vec![(
            "x".to_owned(),
            Arc::clone(
                two.reconciler("x", ("http://a", "http://a"), None, None)
                    .ocm()
            )
        )])
        .is_err(),
        "an environment is either reconciled or read for the network"
    );
}

/// R42 with a registry: the network is built from the labels of every
/// organization discovered, registered or not, so org-a, left alone in env-a
/// (not in its registry), still publishes to org-b.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_publisher_still_feeds_the_network_r42() {
    let two = Two::new().await;
    let a = two.reconciler(
        "env-a",
        (&two.a_urls.0, &two.a_urls.1),
        Some(OrgRegistry::new([(
            "someone-else".to_owned(),
            RegisteredOrg::default(),
        )])),
        None,
    );
    let b = two.reconciler("env-b", (&two.b.base_url(), &two.b.token_url()), None, None);
    let envs = Environments::new(vec![a, b]).unwrap();
    let passes = envs.pass(now()).await;
    let a = passes[0].result.as_ref().unwrap();
    assert_eq!(a.unregistered, ["org-a"]);
    assert!(a.orgs.is_empty());
    let b = passes[1].result.as_ref().unwrap();
    let plan = b
        .orgs
        .iter()
        .find(|o| o.org_id == "org-b")
        .unwrap()
        .result
        .as_ref()
        .unwrap();
    assert!(
        !plan.has_validation_errors(),
        "{:?}",
        plan.validation_errors
    );
    assert_eq!(Two::policies_of(&two.b, "b-c1"), 1);
}
