//! `srecap_aus::facts`: which per-cluster facts a plan still needs (R92, R94,
//! R100–R103), so that the reconciler holds no gate or channel rule of its own.
//!
//! The unit cases cover every branch of the two rules; the loop test shows that
//! "assume, plan, read what is missing, plan again" ends with the plan a full
//! read gives, on every golden fleet.

mod golden_fleets;

use std::collections::BTreeMap;

use jiff::Timestamp;
use semver::Version;
use srecap_aus::facts::{self, CHANNEL_SWITCH_REASONS, Known, Missing};
use srecap_aus::gate::{GATE_INGRESS, GATE_OCP, GATE_STS};
use srecap_aus::plan::{Action, Explanation, OrgPlan, Reason};
use srecap_aus::planner::{OrgInput, plan_org};
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
        labels: BTreeMap::new().into(),
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

fn switches(plan: &srecap_aus::OrgPlan) -> usize {
    plan.actions
        .iter()
        .filter(|a| matches!(a, Action::ChannelSwitch { .. }))
        .count()
}

/// The reconciler's loop, with the fixture's full facts standing in for OCM:
/// it must end with the plan the full facts give. Returns the plan, the
/// rounds, and how many channel switches rounds that completed the plan with
/// the channels read (instead of planning again) added.
fn loop_plan(input: &OrgInput<'_>, truth: &[&Cluster]) -> (srecap_aus::OrgPlan, usize, usize) {
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
    let mut completed = 0;
    let mut replan = true;
    let mut plan = None;
    loop {
        rounds += 1;
        let planned = OrgInput {
            clusters: working.iter().collect(),
            ..input.clone()
        };
        if replan {
            plan = Some(plan_org(&planned));
        }
        let current = plan.as_mut().unwrap();
        let refs: Vec<&Cluster> = working.iter().collect();
        let missing = facts::missing(&refs, gates, current, &known);
        if missing.is_empty() {
            return (plan.unwrap(), rounds, completed);
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
        // As the reconciler: a round that read only channels completes the
        // plan instead of planning again.
        let refs: Vec<&Cluster> = working.iter().collect();
        let current = plan.as_mut().unwrap();
        let before = switches(current);
        replan = !missing.gate_agreements.is_empty() || !facts::complete_channels(current, &refs);
        if !replan {
            completed += switches(current) - before;
        }
    }
}

#[test]
fn the_read_what_is_missing_loop_gives_the_full_read_plan_on_every_golden_fleet() {
    let mut fleets = 0;
    let mut needed_reads = 0;
    let mut switched_on_completion = 0;
    for (path, fleet) in golden_fleets::golden_fleets() {
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
            let input = golden_fleets::org_input(&fleet, org, clusters.clone(), &empty);
            let full = plan_org(&input);
            let (looped, rounds, completed) = loop_plan(&input, &clusters);
            needed_reads += rounds - 1;
            switched_on_completion += completed;
            let what = format!("{}: organization {}", path.display(), org.id);
            assert_eq!(
                serde_json::to_value(&looped).unwrap(),
                serde_json::to_value(&full).unwrap(),
                "{what}"
            );
            // What the reconciler uses besides the contract is the same too.
            assert_eq!(
                looped.details.missing_gates, full.details.missing_gates,
                "{what}"
            );
            assert_eq!(
                looped.details.remaining_soak_days, full.details.remaining_soak_days,
                "{what}"
            );
            assert_eq!(
                looped.details.channel_decisions, full.details.channel_decisions,
                "{what}"
            );
        }
    }
    assert_eq!(fleets, 40);
    // The fleets have gates and channel switches: the loop had to read, and
    // rounds that read channels added switches without planning again.
    assert!(needed_reads > 0);
    assert!(switched_on_completion > 0);
}

#[test]
fn r100_a_plan_without_its_channel_decisions_is_planned_again_not_completed() {
    let mut c = cluster("c1", "4.12.10", &[]);
    c.available_channels = vec!["stable-4.13".into()];
    let before = plan(vec![], vec![skipped(&c, Reason::NoUpgrades)]);
    let mut p = before.clone();
    assert!(!facts::complete_channels(&mut p, &[&c]));
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    // Decisions that do not fit the clusters given are refused too.
    p.details.channel_decisions = Some(vec![srecap_aus::plan::ChannelDecision {
        position: 1,
        explanation: Some(0),
    }]);
    assert!(!facts::complete_channels(&mut p, &[&c]));
    assert_eq!(p.clusters.len(), 1);
    assert!(p.actions.is_empty());
}

#[test]
fn r103_completion_switches_only_to_an_offered_next_channel_and_keeps_decision_order() {
    use srecap_aus::plan::ChannelDecision;
    let upgraded = cluster("a", "4.12.10", &[]);
    let mut switched = cluster("b", "4.12.10", &[]);
    let mut soaking = cluster("c", "4.12.10", &[]);
    let closed = cluster("d", "4.12.10", &[]);
    // Discovery order: upgraded, switched, soaking, closed.
    switched.available_channels = vec!["stable-4.13".into()];
    let mut p = plan(
        vec![
            upgrade(&upgraded, "4.12.11"),
            Action::channel_switch(&switched, "stable-4.13".into()),
        ],
        vec![
            skipped(&soaking, Reason::SoakDays),
            skipped(&closed, Reason::OutsideSchedule),
        ],
    );
    // Decision order: closed, switched, soaking.
    p.details.channel_decisions = Some(vec![
        ChannelDecision {
            position: 3,
            explanation: Some(1),
        },
        ChannelDecision {
            position: 1,
            explanation: None,
        },
        ChannelDecision {
            position: 2,
            explanation: Some(0),
        },
    ]);
    // Read: `soaking` is offered its next channel, `closed` only another one.
    soaking.available_channels = vec!["stable-4.13".into(), "fast-4.12".into()];
    let mut closed = closed;
    closed.available_channels = vec!["fast-4.12".into()];
    assert!(facts::complete_channels(
        &mut p,
        &[&upgraded, &switched, &soaking, &closed]
    ));
    let ids: Vec<&str> =
        p.actions
            .iter()
            .map(|action| match action {
                Action::UpgradePolicy { cluster_id, .. }
                | Action::ChannelSwitch { cluster_id, .. } => cluster_id.as_str(),
                _ => "",
            })
            .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(p.clusters.len(), 1);
    assert_eq!(p.clusters[0].cluster, "d-name");
    assert_eq!(
        p.details.channel_decisions,
        Some(vec![
            ChannelDecision {
                position: 3,
                explanation: Some(0)
            },
            ChannelDecision {
                position: 1,
                explanation: None
            },
            ChannelDecision {
                position: 2,
                explanation: None
            },
        ])
    );
}
