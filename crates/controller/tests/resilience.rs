//! Passes under hostile labels, a flaky OCM, refused writes and the ignore-STS
//! option (issue 15, items 6, 9, 10, 11): the reconciler against the simulator
//! over HTTP on 127.0.0.1.
//!
//! A separate test binary from `reconciler.rs` because it brings its own
//! fault-injecting proxy: the simulator's `/_sim/faults` fail a fixed count of
//! matching requests, and a *rate* of transient errors spread over every endpoint
//! needs a decision per request.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use jiff::Timestamp;
use srecap_aus::approver::approved;
use srecap_aus::{Action, FleetOptions, FleetPlan, plan_fleet};
use srecap_controller::{Config, Metrics, Reconciler};
use srecap_fleet::Fleet;
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient, RetryPolicy};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

fn example() -> Fleet {
    srecap_fleet::load_scenario(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml"),
        Timestamp::UNIX_EPOCH,
    )
    .unwrap()
}

/// Fails a share of the `/api/` requests it forwards with 500, 503 or 429,
/// decided per request by a hash of (method, URI, how often that request was
/// seen): deterministic whatever order concurrent requests arrive in, and a
/// retried request gets a new draw. Writes (POST) get 503 or 429 only: a 500 after
/// a POST may mean OCM created the object, which no client may retry blindly, so
/// a failed POST is a refused write (R99) rather than a transient error.
#[derive(Clone)]
struct Flaky {
    upstream: String,
    percent: u64,
    http: reqwest::Client,
    seen: Arc<Mutex<BTreeMap<String, u64>>>,
    /// status -> injected count; 200 -> forwarded.
    stats: Arc<Mutex<BTreeMap<u16, u64>>>,
}

impl Flaky {
    fn injected(&self, key: &str, method: &Method) -> Option<u16> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(key.to_owned()).or_default();
            *n += 1;
            *n
        };
        let mut h = DefaultHasher::new();
        (key, n, 15u8).hash(&mut h);
        let draw = h.finish();
        if draw % 100 >= self.percent {
            return None;
        }
        let statuses: &[u16] = if method == Method::POST {
            &[503, 429]
        } else {
            &[500, 503, 429]
        };
        #[allow(clippy::cast_possible_truncation)] // index into a 2- or 3-element list
        Some(statuses[((draw / 100) % statuses.len() as u64) as usize])
    }
}

async fn forward(State(flaky): State<Flaky>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let uri = parts.uri.to_string();
    let key = format!("{} {uri}", parts.method);
    if parts.uri.path().starts_with("/api/")
        && let Some(status) = flaky.injected(&key, &parts.method)
    {
        *flaky.stats.lock().unwrap().entry(status).or_default() += 1;
        return Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Body::from("injected"))
            .unwrap();
    }
    *flaky.stats.lock().unwrap().entry(200).or_default() += 1;
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = HeaderMap::new();
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = parts.headers.get(name) {
            headers.insert(name, v.clone());
        }
    }
    let answer = flaky
        .http
        .request(parts.method, format!("{}{uri}", flaky.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let mut response = Response::builder().status(answer.status());
    if let Some(v) = answer.headers().get("content-type") {
        response = response.header("content-type", v.clone());
    }
    response
        .body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}

async fn flaky_proxy(upstream: String, percent: u64) -> (String, Flaky) {
    let flaky = Flaky {
        upstream,
        percent,
        http: reqwest::Client::new(),
        seen: Arc::default(),
        stats: Arc::default(),
    };
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(flaky.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), flaky)
}

struct World {
    sim: RunningSim,
    fleet: Fleet,
    _state: tempfile::TempDir,
    store: Store,
}

impl World {
    async fn new(fleet: Fleet) -> World {
        let sim = srecap_sim::spawn(Simulator::new(fleet.clone(), SimConfig::default()))
            .await
            .unwrap();
        let state = tempfile::tempdir().unwrap();
        let store = Store::open(&format!(
            "sqlite:{}",
            state.path().join("state.db").display()
        ))
        .await
        .unwrap();
        // The scenario's soak history, as an earlier pass would have stored it.
        for (org, doc) in &fleet.version_data {
            let txn = store
                .begin(&StateKey::new("production", org.as_str()).unwrap())
                .await
                .unwrap();
            txn.commit(doc).await.unwrap();
        }
        World {
            sim,
            fleet,
            _state: state,
            store,
        }
    }

    /// A reconciler talking to OCM at `api_url`, with the production retry
    /// count and short delays (the delays are not under test).
    fn reconciler(&self, api_url: String, config: Config) -> Reconciler {
        let opts = ConnectionOptions {
            api_url: Some(api_url),
            token_url: Some(self.sim.token_url()),
            client_id: Some("srecap-sim".into()),
            client_secret: Some("srecap-sim".into()),
            offline_token: None,
            token_file: None,
            scopes: None,
        };
        let credentials = Credentials::resolve(&opts, &|_| None, None).unwrap();
        let mut client = ClientConfig::new(credentials);
        client.retry = RetryPolicy {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        Reconciler::new(
            Arc::new(srecap_controller::HttpOcm::new(
                OcmClient::new(client).unwrap(),
                8,
            )),
            self.store.clone(),
            config,
            Metrics::new("production"),
        )
    }
}

fn actions_of(plan: &FleetPlan, org: &str) -> BTreeSet<String> {
    plan.organizations
        .iter()
        .find(|o| o.org_id == org)
        .unwrap()
        .actions
        .iter()
        .map(|a: &Action| serde_json::to_string(a).unwrap())
        .collect()
}

/// Issue 15 item 11: a single 500 on a read used to fail the organization (or,
/// during discovery, the whole pass). Under 20 % injected 500/503/429 every
/// organization's pass completes, with the plan of an undisturbed pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r123_a_pass_under_20_percent_transient_errors_completes_for_every_organization() {
    let fleet = example();
    let expected = plan_fleet(&approved(&fleet), fleet.now, &FleetOptions::default());
    let world = World::new(fleet.clone()).await;
    let (url, flaky) = flaky_proxy(world.sim.base_url(), 20).await;
    let report = world
        .reconciler(url, Config::default())
        .pass(world.fleet.now)
        .await
        .expect("discovery survives transient errors");
    assert_eq!(report.orgs.len(), 3);
    for o in &report.orgs {
        let plan = o
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", o.org_id));
        let actions: BTreeSet<String> = plan
            .actions
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        assert_eq!(actions, actions_of(&expected, &o.org_id), "{}", o.org_id);
        assert!(
            o.failed_actions().is_empty(),
            "{}: {:?}",
            o.org_id,
            o.failed_actions()
        );
    }
    // The faults were real: every kind was injected, at about the rate asked.
    let stats = flaky.stats.lock().unwrap().clone();
    for status in [500, 503, 429] {
        assert!(stats.get(&status).copied().unwrap_or(0) > 0, "{stats:?}");
    }
    let injected: u64 = stats
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    let total: u64 = stats.values().sum();
    assert!(
        injected * 100 >= total * 10,
        "{injected} of {total} requests failed: {stats:?}"
    );
}

/// Issue 15 item 10: a blocked-versions label of 625 catastrophically
/// backtracking patterns on one organization. Its pass ends quickly with a
/// validation error naming the label (R6, R22); the other organizations' passes
/// finish in normal time with their policies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r22_a_hostile_blocked_versions_label_never_stalls_the_other_organizations() {
    let mut fleet = example();
    let hostile = vec![r"(.?){20}\1.{20}"; 625].join(",");
    fleet
        .organizations
        .iter_mut()
        .find(|o| o.id == "org-payments")
        .unwrap()
        .labels
        .insert("sre-capabilities.aus.blocked-versions".into(), hostile);
    let expected = plan_fleet(&approved(&fleet), fleet.now, &FleetOptions::default());
    let world = World::new(fleet.clone()).await;
    let deadline = Duration::from_secs(30);
    let started = Instant::now();
    let report = world
        .reconciler(
            world.sim.base_url(),
            Config {
                org_deadline: Some(deadline),
                ..Config::default()
            },
        )
        .pass(world.fleet.now)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "the pass took {took:?}");
    for o in &report.orgs {
        let plan = o
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", o.org_id));
        if o.org_id == "org-payments" {
            assert!(plan.actions.is_empty());
            let errors = &plan.validation_errors.organization;
            assert!(
                errors.iter().any(|e| e.starts_with(
                    "label sre-capabilities.aus.blocked-versions: pattern \"(.?){20}\\\\1.{20}\" needs more than"
                )),
                "{errors:?}"
            );
        } else {
            assert!(!plan.actions.is_empty(), "{}", o.org_id);
            let actions: BTreeSet<String> = plan
                .actions
                .iter()
                .map(|a| serde_json::to_string(a).unwrap())
                .collect();
            assert_eq!(actions, actions_of(&expected, &o.org_id), "{}", o.org_id);
        }
    }
}

fn fixture(name: &str) -> Fleet {
    srecap_fleet::load_scenario(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aus-plan")
            .join(name),
        Timestamp::UNIX_EPOCH,
    )
    .unwrap()
}

/// A permanent refusal of `method` requests under `path_prefix`.
fn refuse(world: &World, method: &str, path_prefix: String) {
    world.sim.sim.add_fault(srecap_sim::Fault {
        status: 400,
        path_prefix: Some(path_prefix),
        method: Some(method.to_owned()),
        organization: None,
        count: None,
        retry_after: None,
    });
}

/// Cluster name -> its channel, and the names of clusters with an upgrade policy
/// (control plane or node pool), in the simulator.
fn ocm_state(world: &World) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let fleet = world.sim.sim.fleet();
    let channels = fleet
        .clusters
        .iter()
        .map(|c| (c.name.clone(), c.channel.clone()))
        .collect();
    let with_policy = fleet
        .clusters
        .iter()
        .filter(|c| c.has_any_policy())
        .map(|c| c.name.clone())
        .collect();
    (channels, with_policy)
}

/// R99: a write OCM rejects is logged and reported; the remaining actions are
/// still applied and the organization's pass does not fail because of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r99_a_rejected_policy_does_not_stop_the_other_writes() {
    let fleet = fixture("ref-001.yaml");
    let world = World::new(fleet.clone()).await;
    let (_, before) = ocm_state(&world);
    refuse(
        &world,
        "POST",
        "/api/clusters_mgmt/v1/clusters/org-1-c022-id/upgrade_policies".into(),
    );
    let report = world
        .reconciler(world.sim.base_url(), Config::default())
        .pass(fleet.now)
        .await
        .unwrap();
    let org1 = report.orgs.iter().find(|o| o.org_id == "org-1").unwrap();
    let plan = org1.result.as_ref().expect("R99: the pass goes on");
    assert_eq!(plan.actions.len(), 10, "{:?}", plan.actions);
    let refused = org1.failed_actions();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("org-1-c022"), "{refused:?}");
    assert!(refused[0].contains("400"), "{refused:?}");
    let (channels, with_policy) = ocm_state(&world);
    for created in ["org-1-c010", "org-1-c004", "org-1-c015"] {
        assert!(
            with_policy.contains(created) && !before.contains(created),
            "{created}"
        );
    }
    assert!(!with_policy.contains("org-1-c022"));
    // Channel switches come after the policies (R104) and were all applied.
    assert_eq!(channels["org-1-c017"], "stable-4.13");
    assert_eq!(channels["org-1-c000"], "stable-4.17");
    // The other organizations are untouched by org-1's refusal.
    for o in report.orgs.iter().filter(|o| o.org_id != "org-1") {
        assert!(o.result.is_ok() && o.failed_actions().is_empty(), "{o:?}");
    }
}

/// R104: a failed channel PATCH does not stop the other switches; after all were
/// tried the organization's pass fails with the aggregated error, and what
/// succeeded (the other switches, the upgrade policies, the saved history) stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r104_a_failed_channel_switch_fails_the_pass_after_the_others_are_done() {
    let fleet = fixture("ref-001.yaml");
    let world = World::new(fleet.clone()).await;
    refuse(
        &world,
        "PATCH",
        "/api/clusters_mgmt/v1/clusters/org-1-c017-id".into(),
    );
    let report = world
        .reconciler(world.sim.base_url(), Config::default())
        .pass(fleet.now)
        .await
        .unwrap();
    let org1 = report.orgs.iter().find(|o| o.org_id == "org-1").unwrap();
    let error = org1.result.as_ref().unwrap_err();
    assert!(
        matches!(error, srecap_controller::PassError::ChannelSwitches(lines)
            if lines.len() == 1 && lines[0].contains("org-1-c017")),
        "{error}"
    );
    assert_eq!(org1.failed_actions().len(), 1);
    let (channels, with_policy) = ocm_state(&world);
    assert_eq!(channels["org-1-c017"], "stable-4.12", "refused");
    for (cluster, channel) in [
        ("org-1-c025", "stable-4.13"),
        ("org-1-c018", "stable-4.13"),
        ("org-1-c033", "stable-4.16"),
        ("org-1-c032", "fast-4.16"),
        ("org-1-c000", "stable-4.17"),
    ] {
        assert_eq!(channels[cluster], channel, "{cluster}");
    }
    for created in ["org-1-c010", "org-1-c022", "org-1-c004", "org-1-c015"] {
        assert!(with_policy.contains(created), "{created}");
    }
    // The history was saved before applying (one transaction, R75).
    let saved = world
        .store
        .load(&StateKey::new("production", "org-1").unwrap())
        .await
        .unwrap()
        .expect("history saved");
    assert_ne!(Some(&*saved), fleet.version_data.get("org-1"));
}

/// R12, R14: with the ignore-STS option, clusters whose AWS STS setting is
/// enabled are dropped at discovery: they get nothing, hold no mutex and count in
/// no sector, and an organization with STS clusters only is not processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_r14_ignore_sts_leaves_sts_clusters_alone() {
    let mut fleet = example();
    let full = plan_fleet(&approved(&fleet), fleet.now, &FleetOptions::default());
    let platform = full
        .organizations
        .iter()
        .find(|o| o.org_id == "org-platform")
        .unwrap();
    let sts_cluster = platform.actions[0].cluster().to_owned();
    for c in &mut fleet.clusters {
        c.sts = c.name == sts_cluster || c.organization == "org-data";
    }
    let mut without_sts = fleet.clone();
    without_sts.clusters.retain(|c| !c.sts);
    let expected = plan_fleet(&approved(&without_sts), fleet.now, &FleetOptions::default());
    assert!(
        !actions_of(&expected, "org-platform")
            .iter()
            .any(|a| a.contains(&sts_cluster)),
        "the STS cluster would be planned without the option"
    );

    let world = World::new(fleet.clone()).await;
    let report = world
        .reconciler(
            world.sim.base_url(),
            Config {
                ignore_sts: true,
                ..Config::default()
            },
        )
        .pass(fleet.now)
        .await
        .unwrap();
    let orgs: Vec<&str> = report.orgs.iter().map(|o| o.org_id.as_str()).collect();
    assert_eq!(
        orgs,
        ["org-payments", "org-platform"],
        "R14: org-data has STS clusters only"
    );
    for o in &report.orgs {
        let plan = o.result.as_ref().unwrap();
        let actions: BTreeSet<String> = plan
            .actions
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        assert_eq!(actions, actions_of(&expected, &o.org_id), "{}", o.org_id);
        assert!(plan.clusters.iter().all(|e| e.cluster != sts_cluster));
    }
    let (_, with_policy) = ocm_state(&world);
    let sts: BTreeSet<&str> = fleet
        .clusters
        .iter()
        .filter(|c| c.sts && !c.has_any_policy())
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        sts.iter().all(|c| !with_policy.contains(*c)),
        "no STS cluster got a policy: {with_policy:?}"
    );
}

/// Issue 15 item 12: a configuration that is valid but probably not meant
/// reaches every valid cluster of the organization as one informational service
/// log, at most once per 24 hours, and blocks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r122_warnings_are_informational_service_logs_sent_once_per_day() {
    let mut fleet = example();
    fleet
        .organizations
        .iter_mut()
        .find(|o| o.id == "org-platform")
        .unwrap()
        .labels
        .insert(
            "sre-capabilities.aus.sector-max-parallel-upgrades.nosuch".into(),
            "1".into(),
        );
    let expected = plan_fleet(&approved(&fleet), fleet.now, &FleetOptions::default());
    let platform = expected
        .organizations
        .iter()
        .find(|o| o.org_id == "org-platform")
        .unwrap();
    assert_eq!(platform.warnings.len(), 1);
    let world = World::new(fleet.clone()).await;
    let reconciler = world.reconciler(world.sim.base_url(), Config::default());
    let report = reconciler.pass(fleet.now).await.unwrap();
    for o in &report.orgs {
        let plan = o.result.as_ref().unwrap();
        let actions: BTreeSet<String> = plan
            .actions
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        assert_eq!(actions, actions_of(&expected, &o.org_id), "never blocking");
    }
    let warned = || -> Vec<(String, String, String)> {
        world
            .sim
            .sim
            .service_logs()
            .iter()
            .filter(|l| l.service_name == srecap_aus::INTEGRATION)
            // Payments' STS clusters wait for STS gates they do not approve:
            // their own service logs (issue 15 item 2), not warnings.
            .filter(|l| l.summary != "Cluster upgrade waits for a version-gate agreement")
            .map(|l| {
                (
                    l.cluster_uuid.clone(),
                    l.severity.clone(),
                    l.summary.clone(),
                )
            })
            .collect()
    };
    let logs = warned();
    let valid: BTreeSet<String> = platform
        .details
        .valid_clusters
        .iter()
        .map(|c| c.external_id.clone())
        .collect();
    assert_eq!(logs.len(), valid.len(), "{logs:?}");
    assert!(
        logs.iter()
            .all(|(uuid, severity, summary)| valid.contains(uuid)
                && severity == "Info"
                && summary == "AUS configuration warning on organization"),
        "{logs:?}"
    );
    let description = &world
        .sim
        .sim
        .service_logs()
        .into_iter()
        .find(|l| {
            l.service_name == srecap_aus::INTEGRATION
                && l.summary == "AUS configuration warning on organization"
        })
        .unwrap()
        .description;
    assert!(
        description.contains("sector-max-parallel-upgrades.nosuch"),
        "{description}"
    );
    // A second pass within 24 hours sends nothing new (R122).
    reconciler.pass(fleet.now).await.unwrap();
    assert_eq!(warned().len(), logs.len());
}
