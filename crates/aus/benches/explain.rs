//! The cost of `srecap aus explain` and `srecap aus status` on one organization of
//! 1,000, 10,000 and 100,000 synthetic clusters (the planner benchmark's fleets).
//!
//! `Explainer::new` plans the fleet once (the context of every explanation);
//! `explain` then re-evaluates one cluster against its organization, which is
//! linear in the organization's size; `status` reads the plan. The fleet is
//! generated outside the measurement.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use srecap_aus::explain::Explainer;
use srecap_fleet::synthetic::{FleetShape, generate};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const SEED: u64 = 2026;

fn explain(c: &mut Criterion) {
    let now: Timestamp = "2026-11-21T10:00:00Z".parse().expect("valid instant");
    let mut group = c.benchmark_group("explain");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let fleet = generate(&FleetShape::benchmark(n), SEED, now);
        // Any cluster costs the same: its organization is rebuilt either way.
        let name = fleet.clusters[fleet.clusters.len() / 2].name.clone();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("one_cluster", n), &fleet, |b, fleet| {
            b.iter(|| {
                let x = Explainer::new(fleet, fleet.now);
                let cluster = x.find(&name).expect("cluster");
                black_box(x.explain(cluster))
            });
        });
        group.bench_with_input(BenchmarkId::new("status", n), &fleet, |b, fleet| {
            b.iter(|| {
                let x = Explainer::new(fleet, fleet.now);
                black_box(x.status(None).expect("status"))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, explain);
criterion_main!(benches);
