#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on the terminal
//! Simulation benchmark: a synthetic fleet of 1,000 clusters in 10
//! organizations (`FleetShape::benchmark` per organization: sectors, mutexes,
//! weekly releases), hourly reconciler passes against the simulator,
//! every pass a full `Reconciler::pass`, reading the simulator in process (the
//! default) or over HTTP (`SRECAP_BENCH_TRANSPORT=http`).
//!
//! `cargo bench -p srecap-simulation` measures one simulated day (24 passes)
//! with criterion and prints passes per second. The full target (365 days,
//! 8,760 passes) is one run of minutes, which criterion's repeated sampling
//! would turn into hours: `SRECAP_BENCH_DAYS=365 cargo bench -p
//! srecap-simulation` runs it once instead, and prints wall time, passes per
//! second and the process's peak resident memory (`VmHWM`).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use jiff::{SignedDuration, Timestamp};
use srecap_controller::HttpOcm;
use srecap_controller::snapshot::{OrgFacts, Snapshot};
use srecap_fleet::synthetic::{FleetShape, generate};
use srecap_simulation::{Options, Transport, simulate};

// The allocator the `srecap` binary runs with, so that the figures are the
// ones `srecap forecast` and `srecap demo` see.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLUSTERS: usize = 1_000;

fn fleet() -> srecap_fleet::Fleet {
    let now: Timestamp = "2026-11-20T22:00:00Z".parse().unwrap();
    let mut shape = FleetShape {
        orgs: 10,
        ..FleetShape::benchmark(CLUSTERS / 10)
    };
    // A year of releases ahead, so the whole horizon has work to do.
    shape.future_days = 365;
    generate(&shape, 42, now)
}

fn transport() -> Transport {
    match std::env::var("SRECAP_BENCH_TRANSPORT").as_deref() {
        Ok("http") => Transport::Http,
        _ => Transport::InProcess,
    }
}

/// What one simulation run gives: wall time, passes, upgrade policies, the
/// auditor's violations and the problems reported (failed passes or
/// organizations, refused writes).
struct Run {
    wall: Duration,
    passes: u64,
    upgrades: usize,
    violations: usize,
    problems: usize,
}

fn run(days: i64) -> Run {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let options = Options {
        horizon: SignedDuration::from_hours(24 * days),
        transport: transport(),
        ..Options::default()
    };
    let fleet = fleet();
    let started = Instant::now();
    // Long runs (the HTTP year takes the best part of an hour) say how far
    // they got every 30 simulated days, so a run stopped early still gives a
    // figure.
    let mut progress = |done: u64, total: u64| {
        if done.is_multiple_of(24 * 30) && done < total {
            eprintln!(
                "  day {} of {}: {:.1?}",
                done / 24,
                total / 24,
                started.elapsed()
            );
        }
    };
    let sim = rt
        .block_on(simulate(fleet, &options, &mut progress))
        .unwrap();
    Run {
        wall: started.elapsed(),
        passes: sim.timeline.passes,
        upgrades: sim.timeline.upgrades.len(),
        violations: sim.violations.len(),
        problems: sim.problems.len(),
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn one_day(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    group.sample_size(10);
    group.measurement_time(Duration::from_mins(1));
    group.bench_function("1000 clusters, 1 day hourly (24 passes)", |b| {
        b.iter(|| run(1));
    });
    group.finish();
    let Run {
        wall,
        passes,
        upgrades,
        ..
    } = run(1);
    println!(
        "1 day: {passes} passes in {wall:.2?} = {:.1} passes/s, {upgrades} policies",
        passes as f64 / wall.as_secs_f64()
    );
}

/// The reads one pass cannot do without, and nothing else: discovery (label
/// search, subscriptions, clusters, organizations, gates; §2) and every
/// cluster's existing upgrade policies and node pools (R7 step 1, R97), over
/// HTTP against the same simulator. No planning, no store, no writes. This is
/// the floor under the time of a pass.
fn pass_reads(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fleet = fleet();
    let now = fleet.now;
    let sim = srecap_sim::Simulator::new(fleet, srecap_sim::SimConfig::default());
    let running = rt.block_on(srecap_sim::spawn(sim)).unwrap();
    let client =
        srecap_simulation::rollout::client(&running.base_url(), &running.token_url(), 8).unwrap();
    let ocm = HttpOcm::new(client, 8);
    let reads = || async {
        let found = Snapshot::discover(&ocm, "production", now).await.unwrap();
        let mut facts = OrgFacts::new(found.fleet.clusters);
        facts.read_policies(&ocm, |_| true).await.unwrap();
        facts.clusters().len()
    };
    let mut group = c.benchmark_group("simulation");
    group.sample_size(20);
    group.bench_function("1000 clusters, the reads of one pass (HTTP floor)", |b| {
        b.iter(|| rt.block_on(reads()));
    });
    group.finish();
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        rt.block_on(reads());
    }
    let per_pass = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        rt.block_on(async { Snapshot::discover(&ocm, "production", now).await.unwrap() });
    }
    let discovery = started.elapsed() / rounds;
    println!("of which discovery: {discovery:.2?}");
    println!(
        "reads of one pass: {per_pass:.2?}; 8,760 passes of reads alone: {:.0?}",
        per_pass * 8_760
    );
}

criterion_group!(benches, one_day, pass_reads);

fn main() {
    if std::env::var_os("SRECAP_BENCH_READS").is_some() {
        let mut c = Criterion::default().configure_from_args();
        pass_reads(&mut c);
        return;
    }
    if let Some(days) = std::env::var("SRECAP_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
    {
        let r = run(days);
        println!(
            "{CLUSTERS} clusters, {days} days hourly, {:?} transport: {} passes in {:.1?} \
             = {:.1} passes/s, {} upgrade policies, {} auditor violations, {} problems, \
             peak RSS {} MiB",
            transport(),
            r.passes,
            r.wall,
            r.passes as f64 / r.wall.as_secs_f64(),
            r.upgrades,
            r.violations,
            r.problems,
            peak_rss_kib().map_or_else(|| "?".to_owned(), |k| (k / 1024).to_string())
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
