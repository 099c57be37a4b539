//! The SLI metrics of real passes against the simulator over HTTP: outcomes are
//! classified (an injected OCM 5xx is `cause="ocm_api"`, broken labels are a user
//! error that only reaches user-audience metrics and a service log), every family
//! is the one the catalog declares, and the `/metrics` exposition passes
//! `promtool check metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use jiff::Timestamp;
use srecap_controller::server::{self, Health};
use srecap_controller::{Config, Metrics, Reconciler, Replica};
use srecap_fleet::Fleet;
use srecap_observability::{Audience, FailureCause, Outcome, UserErrorKind, catalog};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::{Fault, RunningSim, SimConfig, Simulator};
use srecap_store::Store;

fn load(relative: &str) -> Fleet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    srecap_fleet::load_scenario(&path, Timestamp::UNIX_EPOCH).unwrap()
}

struct World {
    sim: RunningSim,
    _state: tempfile::TempDir,
    metrics: Arc<Metrics>,
    reconciler: Reconciler,
}

async fn world(fleet: Fleet) -> World {
    world_with(fleet, SimConfig::default(), Config::default()).await
}

async fn world_with(fleet: Fleet, sim_config: SimConfig, config: Config) -> World {
    let sim = srecap_sim::spawn(Simulator::new(fleet, sim_config))
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let metrics = Metrics::new("production");
    let opts = ConnectionOptions {
        api_url: Some(sim.base_url()),
        token_url: Some(sim.token_url()),
        client_id: Some("srecap-sim".into()),
        client_secret: Some("srecap-sim".into()),
        offline_token: None,
        token_file: None,
        scopes: None,
    };
    let credentials = Credentials::resolve(&opts, &|_| None, None).unwrap();
    let mut client_config = ClientConfig::new(credentials);
    client_config.observer = Some(metrics.clone());
    let client = OcmClient::new(client_config).unwrap();
    let store = Store::open(&format!(
        "sqlite:{}",
        state.path().join("state.db").display()
    ))
    .await
    .unwrap();
    metrics.set_pass_interval(std::time::Duration::from_mins(5));
    // As `aus run` does: the organizations are leased, so the lease families
    // are exported too.
    let mut config = config;
    config.replica.get_or_insert_with(|| Replica {
        id: "replica-a".into(),
        lease_ttl: std::time::Duration::from_mins(10),
    });
    let concurrency = config.concurrency;
    let reconciler = Reconciler::new(
        std::sync::Arc::new(srecap_controller::HttpOcm::new(client, concurrency)),
        store,
        config,
        metrics.clone(),
    );
    World {
        sim,
        _state: state,
        metrics,
        reconciler,
    }
}

/// `name{labels} value` lines as (name, labels, value).
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        // Label values here never contain `",`.
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").unwrap();
            map.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
        }
        out.push((name.to_owned(), map, value.parse().unwrap()));
    }
    out
}

fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Vec<f64> {
    samples(text)
        .into_iter()
        .filter(|(n, l, _)| {
            n == name && want.iter().all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
        .map(|(_, _, v)| v)
        .collect()
}

fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("promtool not found (set PROMTOOL or put it on PATH): run `scripts/test`, which installs it, or `apt-get install prometheus`")
        })
}

/// Every exported family is declared in the catalog with exactly these labels.
fn check_against_catalog(text: &str, seen: &mut BTreeSet<&'static str>) {
    for (name, labels, _) in samples(text) {
        let def = catalog::lookup(&name)
            .unwrap_or_else(|| panic!("{name} is exported but not declared in the catalog"));
        let mut want: BTreeSet<&str> = def.labels.iter().copied().collect();
        if name.ends_with("_bucket") {
            want.insert("le");
        }
        let got: BTreeSet<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(got, want, "labels of {name}");
        seen.insert(def.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocm_failures_count_as_ocm_api_and_broken_labels_only_reach_the_user() {
    let mut seen = BTreeSet::new();

    // An organization whose OCM calls fail with 503.
    let w = world(load("../../examples/fleet.yaml")).await;
    w.sim.sim.add_fault(Fault {
        status: 503,
        path_prefix: None,
        method: None,
        organization: Some("org-payments".into()),
        count: None,
        retry_after: None,
    });
    let fleet_now = w.sim.sim.fleet().now;
    let report = w.reconciler.pass(fleet_now).await.unwrap();
    let payments = report
        .orgs
        .iter()
        .find(|o| o.org_id == "org-payments")
        .unwrap();
    assert_eq!(payments.outcome, Outcome::Failure(FailureCause::OcmApi));
    let text = w.metrics.encode();
    let errors = catalog::ORG_RECONCILE_ERRORS.name;
    for cause in FailureCause::ALL {
        let want = if cause == FailureCause::OcmApi {
            1.0
        } else {
            0.0
        };
        assert_eq!(
            value(
                &text,
                errors,
                &[("org_id", "org-payments"), ("cause", cause.as_str())]
            ),
            [want],
            "{cause}\n{text}"
        );
        assert_eq!(
            value(
                &text,
                errors,
                &[("org_id", "org-platform"), ("cause", cause.as_str())]
            ),
            [0.0]
        );
    }
    for org in ["org-payments", "org-platform"] {
        assert_eq!(
            value(&text, catalog::ORG_RECONCILE_TOTAL.name, &[("org_id", org)]),
            [1.0]
        );
    }
    // The healthy organization is fresh; the failing one never was.
    assert_eq!(
        value(
            &text,
            catalog::ORG_LAST_SUCCESS.name,
            &[("org_id", "org-platform")]
        )
        .len(),
        1
    );
    assert!(
        value(
            &text,
            catalog::ORG_LAST_SUCCESS.name,
            &[("org_id", "org-payments")]
        )
        .is_empty()
    );
    assert_eq!(value(&text, catalog::PASS_TOTAL.name, &[]), [1.0]);
    assert_eq!(value(&text, catalog::PASS_INTERVAL.name, &[]), [300.0]);
    check_against_catalog(&text, &mut seen);

    // An organization with broken labels: a user error, a service log, and
    // nothing on any SRE error counter.
    let w = world(load("../../tests/fixtures/aus-plan/ref-027.yaml")).await;
    let fleet_now = w.sim.sim.fleet().now;
    let report = w.reconciler.pass(fleet_now).await.unwrap();
    assert_eq!(
        report.orgs[0].outcome,
        Outcome::UserError(UserErrorKind::ConfigError)
    );
    let text = w.metrics.encode();
    let org = [("org_id", "org-1")];
    for (name, labels, v) in samples(&text) {
        let Some(def) = catalog::lookup(&name) else {
            continue;
        };
        if labels.get("org_id").is_some_and(|o| o == "org-1")
            && (name.contains("error") || name.contains("failure"))
            && def.audience == Audience::Sre
        {
            assert!(
                v == 0.0,
                "SRE metric {name}{labels:?} = {v} for a user error"
            );
        }
    }
    assert_eq!(
        value(
            &text,
            catalog::ORG_USER_ERRORS.name,
            &[org[0], ("kind", "config_error")]
        ),
        [1.0]
    );
    assert_eq!(
        value(
            &text,
            catalog::ORG_CONFIG_ERRORS.name,
            &[
                org[0],
                ("scope", "cluster"),
                ("reason", "sre-capabilities.aus.schedule")
            ]
        ),
        [1.0],
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            catalog::SERVICE_LOGS.name,
            &[org[0], ("result", "sent")]
        ),
        [1.0]
    );
    let logs: Vec<_> = w
        .sim
        .sim
        .service_logs()
        .into_iter()
        .filter(|l| l.service_name == srecap_aus::INTEGRATION)
        .collect();
    assert_eq!(logs.len(), 1, "{logs:#?}");
    check_against_catalog(&text, &mut seen);

    // /metrics over HTTP passes promtool's exposition lint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let readiness = server::Readiness::new(None, std::time::Duration::from_mins(5));
    readiness.pass_finished();
    let health = Health {
        metrics: w.metrics.clone().into(),
        readiness: Arc::new(readiness),
        bearer_token: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(listener, health, None, async {
        let _ = stopped.await;
    }));
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(
        open.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(open.text().await.unwrap().ends_with("# EOF\n"));
    let _ = stop.send(());
    served.await.unwrap().unwrap();
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Between the two passes every declared family that a plain pass produces
    // was exported under its declared labels.
    for def in catalog::ALL {
        let expected_after_two_passes = ![
            catalog::AUS_ENV_ERRORS.name, // encoded, checked above by label set
            catalog::AUS_CHANNEL_SWITCH.name,
            catalog::AUS_MISSING_GATES.name,
            catalog::LAST_SUCCESSFUL_PASS.name,
            catalog::CLUSTER_UPGRADE_STARTED.name,
            // Only with a health provider, which this world has none of.
            catalog::AUS_HEALTH_STATE.name,
            catalog::CLUSTER_HEALTH_STATE.name,
            // No registry with add-on settings here (tests/addons.rs has them).
            catalog::AUS_ADDON_POLICY_INFO.name,
            catalog::AUS_ADDON_REMAINING_SOAK_DAYS.name,
            catalog::ADDON_ORG_RECONCILE_TOTAL.name,
            catalog::ADDON_ORG_RECONCILE_ERRORS.name,
        ]
        .contains(&def.name);
        if expected_after_two_passes {
            assert!(seen.contains(def.name), "{} was never exported", def.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discovery_is_attributed_to_every_known_organization() {
    let w = world(load("../../examples/fleet.yaml")).await;
    let now = w.sim.sim.fleet().now;
    let first = w.reconciler.pass(now).await.unwrap();
    let orgs: Vec<String> = first.orgs.iter().map(|o| o.org_id.clone()).collect();
    assert!(orgs.len() >= 2);
    w.sim.sim.add_fault(Fault {
        status: 502,
        path_prefix: Some("/api/".into()),
        method: Some("GET".into()),
        organization: None,
        count: None,
        retry_after: None,
    });
    assert!(w.reconciler.pass(now).await.is_err());
    let text = w.metrics.encode();
    assert_eq!(
        value(&text, catalog::ENV_ERRORS.name, &[("cause", "ocm_api")]),
        [1.0]
    );
    for org in &orgs {
        assert_eq!(
            value(
                &text,
                catalog::ORG_RECONCILE_ERRORS.name,
                &[("org_id", org), ("cause", "ocm_api")]
            ),
            [1.0],
            "{org}"
        );
        assert_eq!(
            value(&text, catalog::ORG_RECONCILE_TOTAL.name, &[("org_id", org)]),
            [2.0]
        );
    }
}

/// An organization whose pass outlives its deadline is cancelled and counted as
/// `cause="deadline"`; the pass itself goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_over_its_deadline_fails_with_cause_deadline() {
    // Every OCM request takes 40 ms; an organization needs several in sequence
    // (existing policies, then writes or service logs), so 60 ms is too short.
    let w = world_with(
        load("../../examples/fleet.yaml"),
        SimConfig {
            latency: std::time::Duration::from_millis(40),
            ..SimConfig::default()
        },
        Config {
            org_deadline: Some(std::time::Duration::from_millis(60)),
            ..Config::default()
        },
    )
    .await;
    let now = w.sim.sim.fleet().now;
    let report = w.reconciler.pass(now).await.unwrap();
    let late: Vec<&str> = report
        .orgs
        .iter()
        .filter(|o| o.outcome == Outcome::Failure(FailureCause::Deadline))
        .map(|o| o.org_id.as_str())
        .collect();
    assert!(!late.is_empty(), "{:#?}", report.orgs);
    let text = w.metrics.encode();
    for org in late {
        assert_eq!(
            value(
                &text,
                catalog::ORG_RECONCILE_ERRORS.name,
                &[("org_id", org), ("cause", "deadline")]
            ),
            [1.0]
        );
        let e = report
            .orgs
            .iter()
            .find(|o| o.org_id == org)
            .unwrap()
            .result
            .as_ref()
            .unwrap_err();
        assert!(e.to_string().contains("did not finish within"), "{e}");
    }
}
