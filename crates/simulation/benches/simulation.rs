#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on the terminal
//! Simulation benchmark: a synthetic fleet of 1,000 clusters
//! (`FleetShape::benchmark`), hourly reconciler passes against the in-process
//! simulator, every pass a full HTTP pass.
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
use srecap_fleet::synthetic::{FleetShape, generate};
use srecap_simulation::{Options, simulate};

const CLUSTERS: usize = 1_000;

fn fleet() -> srecap_fleet::Fleet {
    let now: Timestamp = "2026-11-20T22:00:00Z".parse().unwrap();
    let mut shape = FleetShape::benchmark(CLUSTERS);
    // A year of releases ahead, so the whole horizon has work to do.
    shape.future_days = 365;
    generate(&shape, 42, now)
}

fn run(days: i64) -> (Duration, u64, usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let options = Options {
        horizon: SignedDuration::from_hours(24 * days),
        ..Options::default()
    };
    let fleet = fleet();
    let started = Instant::now();
    let sim = rt
        .block_on(simulate(fleet, &options, &mut |_, _| {}))
        .unwrap();
    (
        started.elapsed(),
        sim.timeline.passes,
        sim.timeline.upgrades.len(),
    )
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
    let (wall, passes, upgrades) = run(1);
    println!(
        "1 day: {passes} passes in {wall:.2?} = {:.1} passes/s, {upgrades} policies",
        passes as f64 / wall.as_secs_f64()
    );
}

criterion_group!(benches, one_day);

fn main() {
    if let Some(days) = std::env::var("SRECAP_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
    {
        let (wall, passes, upgrades) = run(days);
        println!(
            "{CLUSTERS} clusters, {days} days hourly: {passes} passes in {wall:.1?} = {:.1} passes/s, \
             {upgrades} upgrade policies, peak RSS {} MiB",
            passes as f64 / wall.as_secs_f64(),
            peak_rss_kib().map_or_else(|| "?".to_owned(), |k| (k / 1024).to_string())
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
