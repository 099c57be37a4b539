//! `srecap_aus::facts`: which per-cluster facts a plan still needs (R92, R94,
//! R100–R103), so that the reconciler holds no gate or channel rule of its own.
//!
//! The unit cases cover every branch of the two rules; the loop test shows that
//! "assume, plan, read what is missing, plan again" ends with the plan a full
//! read gives, on every golden fleet.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use semver::Version;
use srecap_aus::facts::{self, CHANNEL_SWITCH_REASONS, Known, Missing};
use srecap_aus::gate::{GATE_INGRESS, GATE_OCP, GATE_STS};
use srecap_aus::plan::{Action, Explanation, OrgPlan, Reason};
use srecap_aus::planner::{OrgInput, plan_org};
use srecap_aus::soak::Source;
use srecap_fleet::{Cluster, Product, VersionData, VersionGate};

fn cluster(id: &str, version: &str, available: &[&str]) -> Cluster {
    Cluster {
        name: format!("{id}-name"),
        organization: "org".into(),
        id: id.into(),
        external_id: format!("{id}-uuid"),
        version: version.parse().unwrap(),
        channel_group: "stable".into(),
        channel: "stable-4.12".into(),
        available_upgrades: available.iter().map(|v| v.parse().unwrap()).collect(),
        available_upgrades_explicit: true,
        available_channels: Vec::new(),
        product: Product::Osd,
        hypershift: false,
        sts: false,
        state: "ready".into(),
        healthy: true,
        labels: BTreeMap::new(),
        node_pools: Vec::new(),
        upgrade_policies: Vec::new(),
        gate_agreements: Vec::new(),
        auth: srecap_fleet::ClusterAuth::default(),
    }
}

fn gate(id: &str, prefix: &str, label: &str) -> VersionGate {
    VersionGate {
        id: id.into(),
        version_raw_id_prefix: prefix.into(),
        label: label.into(),
        sts_only: label == GATE_STS,
    }
}

fn plan(actions: Vec<Action>, explanations: Vec<Explanation>) -> OrgPlan {
    OrgPlan {
        org_id: "org".into(),
        validation_errors: srecap_aus::ValidationErrors::default(),
        actions,
        clusters: explanations,
        version_data: VersionData::default(),
        details: srecap_aus::plan::OrgDetails::default(),
        warnings: Vec::new(),
    }
}

fn upgrade(c: &Cluster, version: &str) -> Action {
    Action::cluster_upgrade(
        c,
        version.parse::<Version>().unwrap(),
        "2026-01-01T00:00:00Z".parse().unwrap(),
    )
}

fn skipped(c: &Cluster, reason: Reason) -> Explanation {
    Explanation {
        cluster: c.name.clone(),
        decision: "skipped",
        reason,
        detail: String::new(),
    }
}

fn missing_for(
    clusters: &[Cluster],
    gates: &[VersionGate],
    plan: &OrgPlan,
    known: &Known,
) -> Missing {
    let refs: Vec<&Cluster> = clusters.iter().collect();
    facts::missing(&refs, gates, plan, known)
}

#[test]
fn r92_a_policy_to_a_gated_minor_needs_the_clusters_agreements() {
    let c = cluster("c1", "4.12.10", &["4.12.11", "4.13.1"]);
    let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
    let p = plan(vec![upgrade(&c, "4.13.1")], vec![]);
    let m = missing_for(std::slice::from_ref(&c), &gates, &p, &Known::new());
    assert_eq!(m.gate_agreements, vec!["c1".to_owned()]);
    assert!(m.channels.is_empty());
}

#[test]
fn r92_agreements_already_read_are_not_read_again() {
    let c = cluster("c1", "4.12.10", &["4.13.1"]);
    let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
    let p = plan(vec![upgrade(&c, "4.13.1")], vec![]);
    let mut known = Known::new();
    known.learned_agreements("c1");
    assert!(missing_for(&[c], &gates, &p, &known).is_empty());
}

#[test]
fn r92_a_patch_upgrade_within_the_minor_needs_no_agreements() {
    let c = cluster("c1", "4.12.10", &["4.12.11", "4.13.1"]);
    let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
    let p = plan(vec![upgrade(&c, "4.12.11")], vec![]);
    assert!(missing_for(&[c], &gates, &p, &Known::new()).is_empty());
}

#[test]
fn r94_sts_gates_apply_to_sts_clusters_only() {
    let gates = [gate("sts-4.13", "4.13", GATE_STS)];
    let plain = cluster("c1", "4.12.10", &["4.13.1"]);
    let p = plan(vec![upgrade(&plain, "4.13.1")], vec![]);
    assert!(missing_for(std::slice::from_ref(&plain), &gates, &p, &Known::new()).is_empty());
    let mut sts = cluster("c2", "4.12.10", &["4.13.1"]);
    sts.product = Product::Rosa;
    sts.sts = true;
    let p = plan(vec![upgrade(&sts, "4.13.1")], vec![]);
    assert_eq!(
        missing_for(&[sts], &gates, &p, &Known::new()).gate_agreements,
        vec!["c2".to_owned()]
    );
}

#[test]
fn r94_ingress_gates_apply_and_unknown_labels_too() {
    let c = cluster("c1", "4.12.10", &["4.13.1"]);
    let p = plan(vec![upgrade(&c, "4.13.1")], vec![]);
    let ingress = [gate("ing-4.13", "4.13", GATE_INGRESS)];
    assert_eq!(
        missing_for(std::slice::from_ref(&c), &ingress, &p, &Known::new()).gate_agreements,
        vec!["c1".to_owned()]
    );
    // Deviation from R94 step 3 (OCM enforces every label): the agreements
    // of a cluster gated by an unknown label are read too.
    let unknown = [gate("x-4.13", "4.13", "api.openshift.com/gate-unknown")];
    assert_eq!(
        missing_for(&[c], &unknown, &p, &Known::new()).gate_agreements,
        vec!["c1".to_owned()]
    );
}

#[test]
fn r94_a_gate_whose_minor_ocm_does_not_offer_does_not_apply() {
    // The policy targets 4.13, but OCM offers the cluster no 4.13 version: the
    // gate is not applicable (R94 reads `available_upgrades`).
    let c = cluster("c1", "4.12.10", &["4.12.11"]);
    let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
    let p = plan(vec![upgrade(&c, "4.13.1")], vec![]);
    assert!(missing_for(&[c], &gates, &p, &Known::new()).is_empty());
}

#[test]
fn r81_node_pool_catch_up_needs_no_agreements() {
    let mut c = cluster("c1", "4.12.10", &["4.13.1"]);
    c.product = Product::Rosa;
    c.hypershift = true;
    let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
    let p = plan(
        vec![Action::NodePoolUpgradePolicy {
            cluster: c.name.clone(),
            cluster_id: c.id.clone(),
            node_pool: "np-0".into(),
            version: "4.13.1".parse().unwrap(),
            next_run: Timestamp::UNIX_EPOCH,
        }],
        vec![],
    );
    assert!(missing_for(&[c], &gates, &p, &Known::new()).is_empty());
}

#[test]
fn r92_control_plane_policies_need_agreements_too() {
    let mut c = cluster("c1", "4.12.10", &["4.13.1"]);
    c.product = Product::Rosa;
    c.hypershift = true;
    let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
    let p = plan(vec![upgrade(&c, "4.13.1")], vec![]);
    assert!(matches!(
        p.actions[0],
        Action::ControlPlaneUpgradePolicy { .. }
    ));
    assert_eq!(
        missing_for(&[c], &gates, &p, &Known::new()).gate_agreements,
        vec!["c1".to_owned()]
    );
}

#[test]
fn r100_schedule_and_version_reasons_ask_for_channels() {
    for reason in CHANNEL_SWITCH_REASONS {
        let c = cluster("c1", "4.12.10", &[]);
        let p = plan(vec![], vec![skipped(&c, reason)]);
        let m = missing_for(&[c], &[], &p, &Known::new());
        assert_eq!(m.channels, vec!["c1".to_owned()], "{reason:?}");
        assert!(m.gate_agreements.is_empty());
    }
}

#[test]
fn r100_locks_policies_gates_and_configuration_never_switch_channels() {
    for reason in Reason::ALL {
        if CHANNEL_SWITCH_REASONS.contains(&reason) {
            continue;
        }
        let c = cluster("c1", "4.12.10", &[]);
        let p = plan(vec![], vec![skipped(&c, reason)]);
        assert!(
            missing_for(&[c], &[], &p, &Known::new()).is_empty(),
            "{reason:?}"
        );
    }
}

#[test]
fn r103_channels_known_or_listed_or_without_a_next_y_stream_are_not_read() {
    let c = cluster("c1", "4.12.10", &[]);
    let p = plan(vec![], vec![skipped(&c, Reason::SoakDays)]);
    let mut known = Known::new();
    known.learned_channels("c1");
    assert!(missing_for(std::slice::from_ref(&c), &[], &p, &known).is_empty());

    let mut listed = c.clone();
    listed.available_channels = vec!["stable-4.13".into()];
    assert!(missing_for(&[listed], &[], &p, &Known::new()).is_empty());

    // R101: `candidate` is not a y-stream channel; there is no next one.
    let mut odd = c;
    odd.channel = "candidate".into();
    assert!(missing_for(&[odd], &[], &p, &Known::new()).is_empty());
}

#[test]
fn assume_takes_every_gate_as_agreed_until_read() {
    let gates = [
        gate("ocp-4.13", "4.13", GATE_OCP),
        gate("sts-4.13", "4.13", GATE_STS),
    ];
    let mut c = cluster("c1", "4.12.10", &["4.13.1"]);
    facts::assume(&mut c, &gates, &Known::new());
    assert_eq!(c.gate_agreements, vec!["ocp-4.13", "sts-4.13"]);
    let mut read = cluster("c2", "4.12.10", &["4.13.1"]);
    read.gate_agreements = vec!["ocp-4.13".into()];
    let mut known = Known::new();
    known.learned_agreements("c2");
    facts::assume(&mut read, &gates, &known);
    assert_eq!(read.gate_agreements, vec!["ocp-4.13"]);
}

/// The reconciler's loop, with the fixture's full facts standing in for OCM:
/// it must end with the plan the full facts give.
fn loop_plan(input: &OrgInput<'_>, truth: &[&Cluster]) -> (srecap_aus::OrgPlan, usize) {
    let gates = input.version_gates;
    let mut working: Vec<Cluster> = truth
        .iter()
        .map(|c| Cluster {
            gate_agreements: Vec::new(),
            available_channels: Vec::new(),
            ..(*c).clone()
        })
        .collect();
    let mut known = Known::new();
    for c in &mut working {
        facts::assume(c, gates, &known);
    }
    let mut rounds = 0;
    loop {
        rounds += 1;
        let planned = OrgInput {
            clusters: working.iter().collect(),
            ..input.clone()
        };
        let plan = plan_org(&planned);
        let refs: Vec<&Cluster> = working.iter().collect();
        let missing = facts::missing(&refs, gates, &plan, &known);
        if missing.is_empty() {
            return (plan, rounds);
        }
        for id in &missing.gate_agreements {
            let (w, t) = working
                .iter_mut()
                .zip(truth)
                .find(|(w, _)| &w.id == id)
                .unwrap();
            w.gate_agreements.clone_from(&t.gate_agreements);
            known.learned_agreements(id);
        }
        for id in &missing.channels {
            let (w, t) = working
                .iter_mut()
                .zip(truth)
                .find(|(w, _)| &w.id == id)
                .unwrap();
            w.available_channels.clone_from(&t.available_channels);
            known.learned_channels(id);
        }
    }
}

#[test]
fn the_read_what_is_missing_loop_gives_the_full_read_plan_on_every_golden_fleet() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aus-plan");
    let mut fleets = 0;
    let mut needed_reads = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let fleet =
            srecap_fleet::parse_scenario(&text, &path.display().to_string(), Timestamp::UNIX_EPOCH)
                .unwrap();
        fleets += 1;
        let empty = VersionData::default();
        for org in &fleet.organizations {
            let clusters: Vec<&Cluster> = fleet
                .clusters
                .iter()
                .filter(|c| c.organization == org.id && c.state == "ready")
                .filter(|c| {
                    c.labels
                        .keys()
                        .any(|k| k.starts_with("sre-capabilities.aus."))
                })
                .collect();
            if clusters.is_empty() {
                continue;
            }
            let input = OrgInput {
                environment: &fleet.environment,
                org,
                clusters: clusters.clone(),
                history: fleet.version_data.get(&org.id),
                sources: Source::verified(&fleet, &[], &empty),
                extra_org_errors: Vec::new(),
                version_gates: &fleet.version_gates,
                now: fleet.now,
                faults: srecap_aus::planner::Faults::default(),
            };
            let full = plan_org(&input);
            let (looped, rounds) = loop_plan(&input, &clusters);
            needed_reads += rounds - 1;
            assert_eq!(
                serde_json::to_value(&looped).unwrap(),
                serde_json::to_value(&full).unwrap(),
                "{}: organization {}",
                path.display(),
                org.id
            );
        }
    }
    assert_eq!(fleets, 40);
    // The fleets have gates and channel switches: the loop had to read.
    assert!(needed_reads > 0);
}
