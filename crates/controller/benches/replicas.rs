#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on the terminal
//! Scale benchmark (issue 14, "Scale"): one round over 10,000 clusters in 200
//! organizations, served by the simulator with a fixed latency per API request,
//! by one replica and by three replicas sharing the organizations through
//! leases, each with its own OCM client.
//!
//! Run with `cargo bench -p srecap-controller --bench replicas` (a plain harness:
//! each configuration is one round of tens of seconds to minutes). Settings,
//! from the environment:
//! * `REPLICAS_BENCH_CLUSTERS` — fleet size (organizations stay 50 clusters
//!   each; default 10,000);
//! * `REPLICAS_BENCH_LATENCY_MS` — added to every API request (default 50);
//! * `REPLICAS_BENCH_RATE` — each replica's OCM request-rate budget in requests
//!   per second, with `srecap aus run`'s derived limits (default 100, the
//!   default of `--ocm-rate`); `0` runs the old fixed setting instead: 8
//!   requests and 8 organizations in flight, no budget;
//! * `REPLICAS_BENCH_REPLICAS` — comma-separated replica counts (default `1,3`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use srecap_controller::{Config, Metrics, Reconciler, Replica};
use srecap_fleet::Fleet;
use srecap_fleet::synthetic::{FleetShape, generate};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

/// What one replica may send to OCM, as `srecap aus run` derives it from
/// `--ocm-rate` and `--concurrency`.
#[derive(Debug, Clone, Copy)]
struct Limits {
    rate: Option<f64>,
    in_flight: usize,
    orgs_in_flight: usize,
}

impl Limits {
    fn from_rate(rate: f64) -> Limits {
        if rate > 0.0 {
            // As `OcmArgs::in_flight` and `run.rs`: two seconds' worth of the
            // budget in flight, at most 64 organizations.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let in_flight = ((rate * 2.0).ceil() as usize).clamp(8, 512);
            Limits {
                rate: Some(rate),
                in_flight,
                orgs_in_flight: in_flight.min(64),
            }
        } else {
            Limits {
                rate: None,
                in_flight: 8,
                orgs_in_flight: 8,
            }
        }
    }
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rate {
            Some(rate) => write!(
                f,
                "budget {rate} requests/s, up to {} requests and {} organizations in flight",
                self.in_flight, self.orgs_in_flight
            ),
            None => write!(
                f,
                "no budget, {} requests and {} organizations in flight",
                self.in_flight, self.orgs_in_flight
            ),
        }
    }
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn client(sim: &RunningSim, limits: Limits) -> OcmClient {
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
    config.max_concurrency = limits.in_flight;
    config.rate = limits
        .rate
        .map(|r| srecap_ocm::Rate::per_second(r).unwrap());
    let client = OcmClient::new(config).unwrap();
    client.authenticate().await.unwrap();
    client
}

/// One round of every organization by `replicas` replicas passing at once;
/// (wall time, API requests, organizations each replica reconciled).
async fn round(
    fleet: &Fleet,
    replicas: usize,
    latency: Duration,
    limits: Limits,
) -> (Duration, u64, Vec<usize>) {
    // OCM itself is not the bottleneck being measured: the simulator serves
    // what it is sent.
    let sim_config = SimConfig {
        max_concurrent_requests: 4096,
        ..SimConfig::default()
    };
    let sim = srecap_sim::spawn(Simulator::new(fleet.clone(), sim_config))
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
    let mut reconcilers = Vec::new();
    for i in 0..replicas {
        reconcilers.push(Reconciler::new(
            Arc::new(srecap_controller::HttpOcm::new(
                client(&sim, limits).await,
                limits.in_flight,
            )),
            store.clone(),
            Config {
                environment: fleet.environment.clone(),
                concurrency: limits.in_flight,
                max_orgs_in_flight: limits.orgs_in_flight,
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
    let clusters: usize = setting("REPLICAS_BENCH_CLUSTERS", 10_000);
    let latency = Duration::from_millis(setting("REPLICAS_BENCH_LATENCY_MS", 50));
    let limits = Limits::from_rate(setting("REPLICAS_BENCH_RATE", 100.0));
    let replica_counts: Vec<usize> = setting("REPLICAS_BENCH_REPLICAS", "1,3".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
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
        "{} clusters in {} organizations, {} ms OCM latency; per replica: {limits}",
        fleet.clusters.len(),
        shape.orgs,
        latency.as_millis()
    );
    let mut single = None;
    for replicas in replica_counts {
        let (wall, requests, per_replica) =
            runtime.block_on(round(&fleet, replicas, latency, limits));
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
