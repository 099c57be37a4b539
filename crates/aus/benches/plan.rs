//! The planner's cost: one organization of 1,000, 10,000 and 100,000 synthetic
//! clusters (20 workloads, 10 mutexes, 4 sectors with dependencies, 30 versions of
//! history). Targets (BENCHMARKS.md): 10,000 clusters in < 50 ms and 100,000 in
//! < 1 s on one core, growing no faster than n·log n.
//!
//! Only the planner call is timed; the fleet is generated once per size, outside
//! the measurement. `plan_org` is the per-organization decision procedure the
//! reconciler calls (with the facts of its metrics); `plan_org_decisions` is the
//! same pass without them (`PlanOptions { metric_facts: false }`, as
//! `srecap aus plan` runs it); `plan_fleet` adds discovery and the inheritance
//! network. `plan_org_late` is `plan_org` 300 days after the history was
//! written, as late passes of a year's forecast see it: every cluster is
//! offered many versions that have not soaked yet, so the per-cluster,
//! per-version work (the remaining-soak report, candidates) dominates.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use jiff::{SignedDuration, Timestamp};
use srecap_aus::planner::{OrgInput, PlanOptions, plan_org, plan_org_with};
use srecap_aus::{FleetOptions, plan_fleet};
use srecap_fleet::synthetic::{FleetShape, generate};
use srecap_fleet::{Cluster, Fleet};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Fewer sizes for the late case: it is about the work per cluster.
const LATE_SIZES: [usize; 2] = [1_000, 10_000];
/// How long after the history `plan_org_late` plans.
const LATE_DAYS: i64 = 300;
const SEED: u64 = 2026;

fn now() -> Timestamp {
    "2026-11-21T10:00:00Z".parse().expect("valid instant")
}

/// The input of the organization's pass, as `plan_fleet` builds it: its ready
/// clusters with an AUS label, in discovery order.
fn org_input(fleet: &Fleet) -> OrgInput<'_> {
    let org = &fleet.organizations[0];
    let clusters: Vec<&Cluster> = fleet
        .clusters
        .iter()
        .filter(|c| c.organization == org.id && c.state == "ready")
        .collect();
    OrgInput {
        environment: &fleet.environment,
        org,
        clusters,
        history: fleet.version_data.get(&org.id),
        sources: Vec::new(),
        extra_org_errors: Vec::new(),
        version_gates: &fleet.version_gates,
        now: fleet.now,
        faults: srecap_aus::planner::Faults::default(),
    }
}

fn planner(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_org");
    for n in SIZES {
        let fleet = generate(&FleetShape::benchmark(n), SEED, now());
        let input = org_input(&fleet);
        // A frozen organization would plan nothing and measure nothing.
        let plan = plan_org(&input);
        assert!(
            !plan.has_validation_errors() && !plan.actions.is_empty(),
            "the benchmark fleet must plan actions"
        );
        configure(&mut group, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| plan_org(black_box(input)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("plan_org_late");
    for n in LATE_SIZES {
        let mut fleet = generate(&FleetShape::benchmark(n), SEED, now());
        fleet.now = now() + SignedDuration::from_hours(24 * LATE_DAYS);
        fleet.refresh_available_upgrades();
        let input = org_input(&fleet);
        configure(&mut group, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| plan_org(black_box(input)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("plan_org_decisions");
    let options = PlanOptions {
        metric_facts: false,
        ..PlanOptions::default()
    };
    for n in SIZES {
        let fleet = generate(&FleetShape::benchmark(n), SEED, now());
        let input = org_input(&fleet);
        configure(&mut group, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| plan_org_with(black_box(input), options));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("plan_fleet");
    for n in SIZES {
        let fleet = generate(&FleetShape::benchmark(n), SEED, now());
        configure(&mut group, n);
        let options = FleetOptions::default();
        group.bench_with_input(BenchmarkId::from_parameter(n), &fleet, |b, fleet| {
            b.iter(|| plan_fleet(black_box(fleet), fleet.now, &options));
        });
    }
    group.finish();
}

/// Fewer samples for the big fleets, so the whole benchmark runs in a few minutes.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    group.throughput(Throughput::Elements(n as u64));
    let (samples, seconds) = if n >= 100_000 {
        (10, 15)
    } else if n >= 10_000 {
        (20, 5)
    } else {
        (50, 5)
    };
    group.sample_size(samples);
    group.measurement_time(Duration::from_secs(seconds));
}

criterion_group!(benches, planner);
criterion_main!(benches);
