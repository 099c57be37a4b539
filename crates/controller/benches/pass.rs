#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on the terminal
//! Reconciler pass benchmark: one pass over a 2,000-cluster fleet served by the
//! simulator with 50 ms of latency per API request, at concurrency 8, 32, 64 and 1, and
//! request counts showing that per-cluster calls follow the clusters that need a
//! decision, not the fleet.
//!
//! Run with `cargo bench -p srecap-controller --bench pass` (a plain harness: each
//! configuration is one pass of several seconds to minutes, which criterion's
//! repeated sampling would turn into hours). `--quick` skips concurrency 1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use srecap_controller::{Config, Metrics, Reconciler};
use srecap_fleet::Fleet;
use srecap_fleet::synthetic::{FleetShape, generate};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::{SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

struct Outcome {
    wall: Duration,
    api_requests: u64,
    per_cluster_requests: u64,
    actions: usize,
}

async fn one_pass(fleet: &Fleet, concurrency: usize, latency: Duration) -> Outcome {
    let sim = srecap_sim::spawn(Simulator::new(fleet.clone(), SimConfig::default()))
        .await
        .unwrap();
    sim.sim.set_latency(latency);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite:{}", dir.path().join("state.db").display()))
        .await
        .unwrap();
    for (org, doc) in &fleet.version_data {
        let txn = store
            .begin(&StateKey::new(fleet.environment.as_str(), org.as_str()).unwrap())
            .await
            .unwrap();
        txn.commit(doc).await.unwrap();
    }
    let opts = ConnectionOptions {
        api_url: Some(sim.base_url()),
        token_url: Some(sim.token_url()),
        client_id: Some("srecap-sim".into()),
        client_secret: Some("srecap-sim".into()),
        offline_token: None,
        token_file: None,
        scopes: None,
    };
    let mut config = ClientConfig::new(Credentials::resolve(&opts, &|_| None, None).unwrap());
    config.max_concurrency = concurrency;
    let metrics = Metrics::new(&fleet.environment);
    config.observer = Some(metrics.clone() as Arc<_>);
    let client = OcmClient::new(config).unwrap();
    client.authenticate().await.unwrap();
    let reconciler = Reconciler::new(
        Arc::new(srecap_controller::HttpOcm::new(client, concurrency)),
        store,
        Config {
            environment: fleet.environment.clone(),
            concurrency,
            ..Config::default()
        },
        metrics,
    );
    sim.sim.reset_request_counts();
    let started = Instant::now();
    let report = reconciler.pass(fleet.now).await.unwrap();
    let wall = started.elapsed();
    let counts = sim.sim.request_counts();
    let api_requests: u64 = counts.values().sum();
    let per_cluster_requests: u64 = counts
        .iter()
        .filter(|(k, _)| k.contains("/clusters/{"))
        .map(|(_, v)| v)
        .sum();
    let actions = report
        .orgs
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .map(|p| p.actions.len())
        .sum();
    if std::env::var_os("PASS_BENCH_BREAKDOWN").is_some() {
        let mut top: Vec<_> = counts.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1));
        for (k, v) in top.iter().take(12) {
            eprintln!("    {v:>6}  {k}");
        }
    }
    Outcome {
        wall,
        api_requests,
        per_cluster_requests,
        actions,
    }
}

fn fleet(clusters: usize, invalid_fraction: f64, opted_out_fraction: f64) -> Fleet {
    let shape = FleetShape {
        orgs: 10,
        clusters_per_org: clusters / 10,
        invalid_label_fraction: invalid_fraction,
        ..FleetShape::default()
    };
    let mut f = generate(
        &shape,
        42,
        "2026-11-20T22:00:00Z".parse::<Timestamp>().unwrap(),
    );
    // Opt some clusters out: no AUS label at all.
    let n = f.clusters.len();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let out = (n as f64 * opted_out_fraction) as usize;
    for c in f.clusters.iter_mut().take(out) {
        std::sync::Arc::make_mut(&mut c.labels)
            .retain(|k, _| !k.starts_with("sre-capabilities.aus."));
    }
    f
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let latency = Duration::from_millis(
        std::env::var("PASS_BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "reconciler pass, simulated latency {} ms per API request, {cores} cores",
        latency.as_millis()
    );
    println!(
        "{:<52} {:>9} {:>9} {:>12} {:>8}",
        "configuration", "wall s", "requests", "per-cluster", "actions"
    );
    let only = std::env::var("PASS_BENCH_ONLY").ok();
    let mut rows: Vec<(String, Fleet, usize)> = vec![
        (
            "2,000 clusters, all opted in, concurrency 8".into(),
            fleet(2000, 0.0, 0.0),
            8,
        ),
        (
            "2,000 clusters, all opted in, concurrency 32".into(),
            fleet(2000, 0.0, 0.0),
            32,
        ),
        (
            "2,000 clusters, all opted in, concurrency 64".into(),
            fleet(2000, 0.0, 0.0),
            64,
        ),
        (
            "2,000 clusters, half opted in, concurrency 8".into(),
            fleet(2000, 0.0, 0.5),
            8,
        ),
        (
            "2,000 clusters, some invalid labels, concurrency 8".into(),
            fleet(2000, 0.002, 0.0),
            8,
        ),
    ];
    if !quick {
        rows.push((
            "2,000 clusters, all opted in, concurrency 1".into(),
            fleet(2000, 0.0, 0.0),
            1,
        ));
    }
    for (name, fleet, concurrency) in rows {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let o = runtime.block_on(one_pass(&fleet, concurrency, latency));
        println!(
            "{name:<52} {:>9.2} {:>9} {:>12} {:>8}",
            o.wall.as_secs_f64(),
            o.api_requests,
            o.per_cluster_requests,
            o.actions
        );
    }
}
