#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on the terminal
//! Work sharing benchmark (issue 14, "Scale"): one round over 10,000 clusters in
//! 200 organizations, served by the simulator with 50 ms of latency per API
//! request, by one replica and by three replicas sharing the organizations
//! through leases (each with its own OCM client at the default concurrency of 8).
//!
//! Run with `cargo bench -p srecap-controller --bench replicas` (a plain harness:
//! each configuration is one round of tens of seconds). `REPLICAS_BENCH_CLUSTERS`
//! changes the fleet size (organizations stay 50 clusters each).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use srecap_controller::{Config, Metrics, Reconciler, Replica};
use srecap_fleet::Fleet;
use srecap_fleet::synthetic::{FleetShape, generate};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

const CONCURRENCY: usize = 8;
const LATENCY: Duration = Duration::from_millis(50);

async fn client(sim: &RunningSim) -> OcmClient {
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
    config.max_concurrency = CONCURRENCY;
    let client = OcmClient::new(config).unwrap();
    client.authenticate().await.unwrap();
    client
}

/// One round of every organization by `replicas` replicas passing at once;
/// (wall time, API requests, organizations each replica reconciled).
async fn round(fleet: &Fleet, replicas: usize) -> (Duration, u64, Vec<usize>) {
    let sim = srecap_sim::spawn(Simulator::new(fleet.clone(), SimConfig::default()))
        .await
        .unwrap();
    sim.sim.set_latency(LATENCY);
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
    let mut reconcilers = Vec::new();
    for i in 0..replicas {
        reconcilers.push(Reconciler::new(
            Arc::new(srecap_controller::HttpOcm::new(
                client(&sim).await,
                CONCURRENCY,
            )),
            store.clone(),
            Config {
                environment: fleet.environment.clone(),
                concurrency: CONCURRENCY,
                replica: Some(Replica {
                    id: format!("replica-{i}"),
                    lease_ttl: Duration::from_mins(10),
                }),
                ..Config::default()
            },
            Metrics::new(&fleet.environment),
        ));
    }
    sim.sim.reset_request_counts();
    let started = Instant::now();
    let reports = futures::future::join_all(reconcilers.iter().map(|r| r.pass(fleet.now))).await;
    let wall = started.elapsed();
    let requests = sim.sim.request_counts().values().sum();
    let per_replica = reports
        .into_iter()
        .map(|r| r.unwrap().orgs.iter().filter(|o| o.result.is_ok()).count())
        .collect();
    (wall, requests, per_replica)
}

fn main() {
    let clusters: usize = std::env::var("REPLICAS_BENCH_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let shape = FleetShape {
        orgs: clusters / 50,
        clusters_per_org: 50,
        ..FleetShape::default()
    };
    let fleet = generate(
        &shape,
        42,
        "2026-11-20T22:00:00Z".parse::<Timestamp>().unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{} clusters in {} organizations, {} ms OCM latency, concurrency {CONCURRENCY} per replica",
        fleet.clusters.len(),
        shape.orgs,
        LATENCY.as_millis()
    );
    let mut single = None;
    for replicas in [1, 3] {
        let (wall, requests, per_replica) = runtime.block_on(round(&fleet, replicas));
        let speedup = single.map_or(String::new(), |s: Duration| {
            format!(
                ", {:.2}x faster than one",
                s.as_secs_f64() / wall.as_secs_f64()
            )
        });
        single.get_or_insert(wall);
        println!(
            "{replicas} replica(s): round {:.1} s, {requests} API requests, organizations per replica {per_replica:?}{speedup}",
            wall.as_secs_f64()
        );
    }
}
