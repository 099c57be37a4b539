//! Golden tests: the 40 reference fleets of `tests/fixtures/aus-plan` must plan
//! exactly as the reference implementation did (comparison rules in the fixtures'
//! INDEX.md: actions as a set; which clusters have validation errors and whether
//! the organization has any; soak days within 1e-9 and reporting lists as sets).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use srecap_aus::explain::{Explainer, Verdict};
use srecap_aus::{Action, FleetOptions, Reason, plan_fleet};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aus-plan")
}

fn action_key(a: &Value) -> String {
    let f = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    format!(
        "{} {} v={} np={} at={} to={}",
        f("type"),
        f("cluster"),
        f("version"),
        f("node_pool"),
        f("next_run"),
        f("to_channel")
    )
}

/// Differences between an actual and an expected organization plan.
fn compare_org(actual: &Value, expected: &Value, out: &mut Vec<String>) {
    let org = expected["org_id"].as_str().unwrap_or("?");
    let actions = |v: &Value| -> BTreeSet<String> {
        v["actions"]
            .as_array()
            .map(|a| a.iter().map(action_key).collect())
            .unwrap_or_default()
    };
    let (a, e) = (actions(actual), actions(expected));
    for missing in e.difference(&a) {
        out.push(format!("{org}: missing action {missing}"));
    }
    for extra in a.difference(&e) {
        out.push(format!("{org}: unexpected action {extra}"));
    }
    let err_clusters = |v: &Value| -> BTreeSet<String> {
        v["validation_errors"]["clusters"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    if err_clusters(actual) != err_clusters(expected) {
        out.push(format!(
            "{org}: clusters with errors {:?}, expected {:?}",
            err_clusters(actual),
            err_clusters(expected)
        ));
    }
    let has_org_err = |v: &Value| {
        v["validation_errors"]["organization"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    };
    if has_org_err(actual) != has_org_err(expected) {
        out.push(format!(
            "{org}: organization errors {:?}, expected some: {}",
            actual["validation_errors"]["organization"],
            has_org_err(expected)
        ));
    }
    let table = |v: &Value| -> BTreeMap<(String, String), (f64, BTreeSet<String>)> {
        let mut t = BTreeMap::new();
        if let Some(versions) = v["version_data"]["versions"].as_object() {
            for (ver, vh) in versions {
                if let Some(wls) = vh["workloads"].as_object() {
                    for (w, wh) in wls {
                        let names = wh["reporting"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|n| n.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        t.insert(
                            (ver.clone(), w.clone()),
                            (wh["soak_days"].as_f64().unwrap_or(0.0), names),
                        );
                    }
                }
            }
        }
        t
    };
    let (ta, te) = (table(actual), table(expected));
    for (k, (days, names)) in &te {
        match ta.get(k) {
            None => out.push(format!("{org}: version_data missing {k:?}")),
            Some((d, n)) => {
                if (d - days).abs() > 1e-9 {
                    out.push(format!("{org}: soak days of {k:?} = {d}, expected {days}"));
                }
                if n != names {
                    out.push(format!(
                        "{org}: reporting of {k:?} = {n:?}, expected {names:?}"
                    ));
                }
            }
        }
    }
    for k in ta.keys().filter(|k| !te.contains_key(*k)) {
        out.push(format!("{org}: unexpected version_data entry {k:?}"));
    }
    if actual["version_data"].get("check_in") != expected["version_data"].get("check_in") {
        out.push(format!(
            "{org}: check_in {:?}, expected {:?}",
            actual["version_data"].get("check_in"),
            expected["version_data"].get("check_in")
        ));
    }
}

#[test]
fn reference_fleets_plan_as_the_reference() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut entries: Vec<_> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        cases += 1;
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let fleet = srecap_fleet::load_scenario(&path, jiff::Timestamp::UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
        let actual = serde_json::to_value(&plan).unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("expected.json")).unwrap(),
        )
        .unwrap();
        let mut diffs = Vec::new();
        if actual["now"] != expected["now"] {
            diffs.push(format!("now {} vs {}", actual["now"], expected["now"]));
        }
        let ids = |v: &Value| -> Vec<String> {
            v["organizations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["org_id"].as_str().unwrap().to_owned())
                .collect()
        };
        if ids(&actual) != ids(&expected) {
            diffs.push(format!(
                "organizations {:?} vs {:?}",
                ids(&actual),
                ids(&expected)
            ));
        }
        for e in expected["organizations"].as_array().unwrap() {
            if let Some(a) = actual["organizations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["org_id"] == e["org_id"])
            {
                compare_org(a, e, &mut diffs);
            }
        }
        failures.extend(diffs.into_iter().map(|d| format!("{name}: {d}")));
    }
    assert_eq!(cases, 40, "expected the 40 reference fleets");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The verdict the planner gives one cluster: its action (a policy before a
/// channel switch), or its reason code; `None` when the plan does not mention it.
fn planner_verdict(plan: &srecap_aus::FleetPlan, c: &srecap_fleet::Cluster) -> Option<String> {
    let org = plan
        .organizations
        .iter()
        .find(|o| o.org_id == c.organization)?;
    let mine = |a: &&Action| a.cluster_id() == c.id;
    if let Some(a) = org
        .actions
        .iter()
        .filter(mine)
        .find(|a| !matches!(a, Action::ChannelSwitch { .. }))
        .or_else(|| org.actions.iter().find(mine))
    {
        return Some(format!("action {}", serde_json::to_string(a).unwrap()));
    }
    org.clusters
        .iter()
        .find(|e| e.cluster == c.name)
        .map(|e| format!("skipped {}", e.reason))
}

fn explain_verdict(v: &Verdict) -> Option<String> {
    match v {
        Verdict::Action { action } => {
            Some(format!("action {}", serde_json::to_string(action).unwrap()))
        }
        Verdict::Skipped { reason, .. } => Some(format!("skipped {reason}")),
        Verdict::Ignored { .. } => None,
    }
}

/// `srecap aus explain` evaluates every condition itself; its verdict must be the
/// planner's decision for every cluster of every golden fleet and worked example.
#[test]
fn explain_agrees_with_the_planner_on_every_fleet() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/examples");
    let mut paths: Vec<PathBuf> = [fixtures(), examples]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).expect("fixtures directory"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    let mut reasons: BTreeSet<String> = BTreeSet::new();
    let (mut fleets, mut clusters) = (0, 0);
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let fleet = srecap_fleet::load_scenario(&path, jiff::Timestamp::UNIX_EPOCH)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        fleets += 1;
        let explainer = Explainer::new(&fleet, fleet.now);
        let plan = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
        for c in &fleet.clusters {
            let found = explainer.find(&c.id).expect("cluster found by id");
            assert_eq!(found.id, c.id);
            let explained = explainer.explain(found);
            let expected = planner_verdict(&plan, c);
            let actual = explain_verdict(&explained.verdict);
            // Clusters the planner never sees (not ready in an organization
            // without a ready cluster) are explained as not-ready.
            let unseen_ok = expected.is_none()
                && (actual.is_none() || actual.as_deref() == Some("skipped not-ready"));
            if actual != expected && !unseen_ok {
                failures.push(format!(
                    "{name}/{}: explain says {actual:?}, the planner {expected:?}",
                    c.name
                ));
            }
            if let Some(v) = expected {
                reasons.insert(v.split(' ').take(2).collect::<Vec<_>>().join(" "));
            }
            clusters += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        fleets >= 100 && clusters > 1000,
        "{fleets} fleets, {clusters} clusters"
    );
    for r in Reason::ALL {
        assert!(
            reasons.contains(&format!("skipped {r}")),
            "no fleet exercises reason {r}: {reasons:?}"
        );
    }
}
