//! The two ways the simulated reconciler reads OCM give the same rollout.
//!
//! The in-process adapter (`InProcessOcm`, typed calls on the simulator's
//! world) must decide exactly like the production client over HTTP: same
//! discovery order (R17), same per-cluster facts, same refusals. Each fleet is
//! simulated under both transports with the same options and seed, and the
//! timelines (every policy created, with its cluster, kind, versions and every
//! instant of its life), the auditor's violations and the problems reported
//! must be identical.

use jiff::{SignedDuration, Timestamp};
use srecap_fleet::Fleet;
use srecap_simulation::{Disturbances, Options, Simulation, Transport, simulate};

fn load(path: &str) -> Fleet {
    let file = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    srecap_fleet::parse_scenario(&text, &file, Timestamp::UNIX_EPOCH).unwrap()
}

fn run(fleet: Fleet, days: i64, transport: Transport) -> Simulation {
    let options = Options {
        horizon: SignedDuration::from_hours(24 * days),
        // Failures and delays exercise the refusal and re-plan paths too.
        disturbances: Disturbances {
            duration_spread: 0.5,
            failure_rate: 0.1,
            unhealthy_rate: 0.05,
        },
        seed: 7,
        transport,
        ..Options::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(simulate(fleet, &options, &mut |_, _| {}))
        .unwrap()
}

fn same_under_both_transports(path: &str, days: i64) {
    let fleet = load(path);
    let direct = run(fleet.clone(), days, Transport::InProcess);
    let http = run(fleet, days, Transport::Http);
    assert!(
        !direct.timeline.upgrades.is_empty(),
        "{path}: the simulation booked nothing, so it compares nothing"
    );
    assert_eq!(
        serde_json::to_value(&direct.timeline).unwrap(),
        serde_json::to_value(&http.timeline).unwrap(),
        "{path}: timelines differ between the in-process and HTTP transports"
    );
    assert_eq!(direct.violations, http.violations, "{path}: violations");
    assert_eq!(direct.problems, http.problems, "{path}: problems");
    assert!(
        direct.violations.is_empty(),
        "{path}: {:?}",
        direct.violations
    );
}

#[test]
fn demo_fleet_rolls_out_identically_over_both_transports() {
    same_under_both_transports("examples/fleet.yaml", 14);
}

#[test]
fn golden_fleets_roll_out_identically_over_both_transports() {
    // Gates and channel switches (ref-000), inheritance and node pools
    // (ref-001), control planes (ref-002), inheritance (ref-011, ref-015).
    for case in ["ref-000", "ref-001", "ref-002", "ref-011", "ref-015"] {
        same_under_both_transports(&format!("tests/fixtures/aus-plan/{case}.yaml"), 3);
    }
}

type Seen = (
    Vec<(String, std::collections::BTreeMap<String, String>)>,
    Vec<(String, std::collections::BTreeMap<String, String>)>,
);

/// What discovery found: each cluster and organization with its labels.
fn seen(d: srecap_controller::ocm::Discovered) -> Seen {
    (
        d.clusters
            .into_iter()
            .map(|c| (c.id, std::sync::Arc::unwrap_or_clone(c.labels)))
            .collect(),
        d.organizations
            .into_iter()
            .map(|o| (o.id, o.labels))
            .collect(),
    )
}

/// One simulator of `examples/fleet.yaml` read both ways: over HTTP and in
/// process.
struct Transports {
    sim: srecap_sim::Simulator,
    running: srecap_sim::RunningSim,
    http: srecap_controller::HttpOcm,
    direct: srecap_simulation::InProcessOcm,
}

async fn transports() -> Transports {
    let sim = srecap_sim::Simulator::new(
        load("examples/fleet.yaml"),
        srecap_sim::SimConfig::default(),
    );
    let running = srecap_sim::spawn(sim.clone()).await.unwrap();
    let client =
        srecap_simulation::rollout::client(&running.base_url(), &running.token_url(), 4).unwrap();
    Transports {
        http: srecap_controller::HttpOcm::new(client, 4),
        direct: srecap_simulation::InProcessOcm::new(sim.clone()),
        sim,
        running,
    }
}

/// The in-process discovery keeps the label maps it built while no label is
/// written; every kind of label write between two discoveries still reaches
/// it, as it reaches the HTTP discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_follows_label_writes_under_both_transports() {
    use srecap_controller::ocm::Ocm;
    use srecap_sim::world::LabelOwner;

    let Transports {
        sim,
        running,
        http,
        direct,
    } = transports().await;
    let both = || async {
        let a = seen(direct.discover().await.unwrap());
        let b = seen(http.discover().await.unwrap());
        assert_eq!(a, b);
        a
    };
    let first = both().await;
    let (cluster, labels) = first.0[0].clone();
    let org = first.1[0].0.clone();
    let sub = sim.read(|w| w.cluster(&cluster).unwrap().subscription_id.clone());
    let key = labels.keys().next().unwrap().clone();

    sim.write(|w, _| {
        w.update_label(&LabelOwner::Subscription(sub.clone()), &key, "changed")
            .unwrap();
    });
    let updated = both().await;
    assert_eq!(updated.0[0].1[&key], "changed");

    sim.write(|w, _| {
        w.create_label(
            LabelOwner::Organization(org.clone()),
            "sre-capabilities.aus.test-label",
            "new",
            false,
        )
        .unwrap();
    });
    let created = both().await;
    let org_labels = &created.1.iter().find(|(id, _)| *id == org).unwrap().1;
    assert_eq!(org_labels["sre-capabilities.aus.test-label"], "new");

    // Without AUS labels a cluster is not discovered at all.
    sim.write(|w, _| {
        for key in labels.keys() {
            w.delete_label(&LabelOwner::Subscription(sub.clone()), key)
                .unwrap();
        }
    });
    let deleted = both().await;
    assert!(deleted.0.iter().all(|(id, _)| *id != cluster));
    running.shutdown().await.unwrap();
}

/// The in-process service-log dedup (R122) finds a log sent since the instant
/// asked, under both transports alike, among many older ones of the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_logs_sent_since_an_instant_under_both_transports() {
    use srecap_controller::feedback::{Notice, NoticeSeverity};
    use srecap_controller::ocm::Ocm;

    let Transports {
        sim,
        running,
        http,
        direct,
    } = transports().await;
    let uuid = sim.fleet().clusters[0].external_id.clone();
    let notice = |description: &str| Notice {
        cluster_uuid: uuid.clone(),
        severity: NoticeSeverity::Info,
        summary: "AUS configuration error",
        description: description.to_owned(),
    };
    let hour = SignedDuration::from_hours(1);
    // A day of hourly logs, then the one asked about, then a day of others.
    for i in 0..24 {
        direct
            .send_service_log(&notice(&format!("old {i}")))
            .await
            .unwrap();
        sim.advance(hour).unwrap();
    }
    let sent_at = sim.now();
    direct.send_service_log(&notice("asked")).await.unwrap();
    for i in 0..24 {
        sim.advance(hour).unwrap();
        direct
            .send_service_log(&notice(&format!("new {i}")))
            .await
            .unwrap();
    }
    for (since, expected) in [
        (sent_at - hour, true),
        (sent_at, true),
        (sent_at + SignedDuration::from_mins(1), false),
    ] {
        for (description, expected) in [("asked", expected), ("never sent", false)] {
            let n = notice(description);
            assert_eq!(
                direct.service_log_sent_since(&n, since).await.unwrap(),
                expected,
                "{description} since {since}"
            );
            assert_eq!(
                http.service_log_sent_since(&n, since).await.unwrap(),
                expected,
                "{description} since {since} (http)"
            );
        }
    }
    running.shutdown().await.unwrap();
}
