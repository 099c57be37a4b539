//! One organization, or a flaky OCM, never stalls the others (issue 15, items 10
//! and 11): the reconciler against the simulator over HTTP on 127.0.0.1.
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
    fn reconciler(&self, api_url: String, org_deadline: Option<Duration>) -> Reconciler {
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
        let config = Config {
            org_deadline,
            ..Config::default()
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
    let expected = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
    let world = World::new(fleet.clone()).await;
    let (url, flaky) = flaky_proxy(world.sim.base_url(), 20).await;
    let report = world
        .reconciler(url, None)
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
    let expected = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
    let world = World::new(fleet.clone()).await;
    let deadline = Duration::from_secs(30);
    let started = Instant::now();
    let report = world
        .reconciler(world.sim.base_url(), Some(deadline))
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
