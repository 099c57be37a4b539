//! One focused test per planner rule of `spec/aus-behaviour.md` (§2–§11, R126), the
//! explanation codes of §20, and every kind of bad label.
//!
//! Tests are named after the rule they pin (`rNN_<what>`); rules already pinned by a
//! unit test next to the code or by a worked example (`tests/examples.rs`) are not
//! repeated here. Each test builds a small scenario (JSON through the real scenario
//! loader, so defaults are the documented ones: cluster id `<name>-id`, external id
//! `<name>-uuid`, channel `stable-<major>.<minor>`), plans it with `plan_fleet`, and
//! asserts on the plan.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};
use srecap_aus::plan::RemainingSoak;
use srecap_aus::{Action, Explanation, FleetOptions, FleetPlan, OrgPlan, Reason, plan_fleet};
use srecap_fleet::Fleet;

const NOW: &str = "2021-08-30T18:00:00Z";
const AUS: &str = "sre-capabilities.aus.";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid test instant")
}

/// A cluster of a generated scenario, as the scenario document's JSON.
#[derive(Debug, Clone)]
struct C(Value);

impl C {
    /// A valid cluster of `org-1` that is due for an upgrade: 4.12.17 -> [4.12.19],
    /// workload `wl`, no soak days needed, every minute a maintenance slot.
    fn due(name: &str) -> C {
        C(json!({
            "name": name,
            "organization": "org-1",
            "version": "4.12.17",
            "available_upgrades": ["4.12.19"],
            "labels": {
                "sre-capabilities.aus.soak-days": "0",
                "sre-capabilities.aus.workloads": "wl",
                "sre-capabilities.aus.schedule": "* * * * *",
            },
        }))
    }

    /// Set an AUS label (`setting` without the prefix).
    fn label(mut self, setting: &str, value: &str) -> C {
        self.0["labels"][format!("{AUS}{setting}")] = json!(value);
        self
    }

    /// Remove an AUS label.
    fn unlabel(mut self, setting: &str) -> C {
        if let Some(labels) = self.0["labels"].as_object_mut() {
            labels.remove(&format!("{AUS}{setting}"));
        }
        self
    }

    /// Replace all labels, keys as given.
    fn raw_labels(mut self, labels: Value) -> C {
        self.0["labels"] = labels;
        self
    }

    fn set(mut self, key: &str, value: Value) -> C {
        self.0[key] = value;
        self
    }

    /// Add an existing upgrade policy.
    fn policy(mut self, id: &str, version: &str, state: &str) -> C {
        let p = json!({"id": id, "version": version, "next_run": "2021-08-30T19:00:00Z", "state": state});
        match self.0["upgrade_policies"].as_array_mut() {
            Some(list) => list.push(p),
            None => self.0["upgrade_policies"] = json!([p]),
        }
        self
    }
}

/// A scenario document: organizations as (id, AUS labels without prefix), clusters.
fn doc(orgs: &[(&str, &[(&str, &str)])], clusters: &[C]) -> Value {
    let orgs: Vec<Value> = orgs
        .iter()
        .map(|(id, labels)| {
            let labels: serde_json::Map<String, Value> = labels
                .iter()
                .map(|(k, v)| (format!("{AUS}{k}"), json!(v)))
                .collect();
            json!({"id": id, "labels": labels})
        })
        .collect();
    json!({
        "now": NOW,
        "environment": "prod",
        "organizations": orgs,
        "clusters": clusters.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
    })
}

fn load(doc: &Value) -> Fleet {
    srecap_fleet::parse_scenario(&doc.to_string(), "rule scenario", Timestamp::UNIX_EPOCH)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn plan_doc(doc: &Value) -> FleetPlan {
    let fleet = load(doc);
    plan_fleet(&fleet, fleet.now, &FleetOptions::default())
}

/// Plan a single organization `org-1` with these labels and clusters.
fn plan1(org_labels: &[(&str, &str)], clusters: &[C]) -> OrgPlan {
    org(&plan_doc(&doc(&[("org-1", org_labels)], clusters)), "org-1").clone()
}

fn org<'a>(plan: &'a FleetPlan, id: &str) -> &'a OrgPlan {
    plan.organizations
        .iter()
        .find(|o| o.org_id == id)
        .unwrap_or_else(|| panic!("no organization {id} in {:#?}", plan.organizations))
}

fn org_ids(plan: &FleetPlan) -> Vec<&str> {
    plan.organizations
        .iter()
        .map(|o| o.org_id.as_str())
        .collect()
}

fn skipped<'a>(org: &'a OrgPlan, cluster: &str) -> &'a Explanation {
    let found: Vec<&Explanation> = org
        .clusters
        .iter()
        .filter(|e| e.cluster == cluster)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one explanation for {cluster}: {:#?}",
        org.clusters
    );
    found[0]
}

/// Assert a cluster was skipped for `reason` and its detail mentions every `parts`.
fn assert_skipped(org: &OrgPlan, cluster: &str, reason: Reason, parts: &[&str]) {
    let e = skipped(org, cluster);
    assert_eq!(e.reason, reason, "{cluster}: {}", e.detail);
    for part in parts {
        assert!(
            e.detail.contains(part),
            "{cluster}: detail {:?} does not mention {part:?}",
            e.detail
        );
    }
}

/// The clusters that got an action, with the action's kind, in decision order.
fn acted(org: &OrgPlan) -> Vec<(&str, &'static str)> {
    org.actions
        .iter()
        .map(|a| (a.cluster(), a.kind()))
        .collect()
}

fn upgrade(cluster: &str, version: &str, next_run: &str) -> Action {
    Action::UpgradePolicy {
        cluster: cluster.to_owned(),
        cluster_id: format!("{cluster}-id"),
        version: version.parse().unwrap(),
        next_run: ts(next_run),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Soak days of one entry of an organization's own history.
fn soaked(org: &OrgPlan, version: &str, workload: &str) -> f64 {
    org.version_data.versions[version].workloads[workload].soak_days
}

/// A stored history document for `version_data`.
fn history(check_in: Option<&str>, entries: &[(&str, &str, f64, &[&str])]) -> Value {
    let mut versions = serde_json::Map::new();
    for (version, workload, days, reporting) in entries {
        let v = versions
            .entry((*version).to_owned())
            .or_insert_with(|| json!({"workloads": {}}));
        v["workloads"][*workload] = json!({"soak_days": days, "reporting": reporting});
    }
    let mut h = json!({"versions": versions});
    if let Some(c) = check_in {
        h["check_in"] = json!(c);
    }
    h
}

// ---------------------------------------------------------------------------
// §2 Discovery.

#[test]
fn r10_any_aus_subscription_label_discovers_a_cluster() {
    let d = doc(
        &[
            ("org-1", &[]),
            ("org-2", &[]),
            // Organization labels never cause discovery.
            ("org-3", &[("blocked-versions", "x")]),
        ],
        &[
            C::due("unknown-only")
                .raw_labels(json!({"sre-capabilities.aus.some-future-setting": "x"})),
            C::due("foreign")
                .set("organization", json!("org-2"))
                .raw_labels(json!({"sre-capabilities.other.soak-days": "1", "team": "a"})),
            C::due("unlabelled")
                .set("organization", json!("org-3"))
                .raw_labels(json!({})),
        ],
    );
    let plan = plan_doc(&d);
    assert_eq!(org_ids(&plan), ["org-1"]);
    let o = org(&plan, "org-1");
    // Discovered, and invalid: its only label is not a setting AUS knows.
    assert_eq!(o.validation_errors.clusters["unknown-only-uuid"].len(), 3);
}

#[test]
fn r11_clusters_that_are_not_ready_are_invisible() {
    let o = plan1(
        &[],
        &[
            C::due("ready").label("mutexes", "m"),
            // Lower version, same mutex, an existing policy: if it were seen it would
            // hold `m`, lower the stats and report soak time.
            C::due("asleep")
                .label("mutexes", "m")
                .set("version", json!("4.12.1"))
                .set("state", json!("hibernating"))
                .policy("p-asleep", "4.12.19", "scheduled"),
        ],
    );
    assert_eq!(
        o.actions,
        [upgrade("ready", "4.12.19", "2021-08-30T18:07:00Z")]
    );
    assert_skipped(
        &o,
        "asleep",
        Reason::NotReady,
        &["hibernating", "only considers ready clusters"],
    );
    assert!(!o.version_data.versions.contains_key("4.12.1"));
    assert_eq!(
        o.version_data.stats.as_ref().unwrap().min_version,
        "4.12.17"
    );
    assert_eq!(o.details.valid_clusters.len(), 1);
}

#[test]
fn r13_r04_unselected_organizations_are_dropped() {
    let d = doc(
        &[("org-1", &[]), ("org-2", &[])],
        &[C::due("a"), C::due("b").set("organization", json!("org-2"))],
    );
    let fleet = load(&d);
    let select = |include: &[&str], exclude: &[&str]| {
        let options = FleetOptions {
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
            ..FleetOptions::default()
        };
        let plan = plan_fleet(&fleet, fleet.now, &options);
        org_ids(&plan)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(select(&[], &[]), ["org-1", "org-2"]);
    assert_eq!(select(&["org-1"], &[]), ["org-1"]);
    assert_eq!(select(&[], &["org-1"]), ["org-2"]);
    assert!(select(&["org-1"], &["org-1"]).is_empty(), "exclude wins");
    // Deviation (R13, §18 G6): an include list naming no organization of the
    // fleet selects nothing instead of failing.
    assert!(select(&["org-9"], &[]).is_empty());
}

#[test]
fn r14_organization_without_discovered_cluster_produces_nothing() {
    let d = doc(
        &[("org-1", &[]), ("org-2", &[])],
        &[
            C::due("a"),
            C::due("b")
                .set("organization", json!("org-2"))
                .set("state", json!("installing")),
        ],
    );
    let mut d = d;
    d["version_data"] = json!({"org-2": history(Some("2021-08-29T18:00:00Z"), &[])});
    assert_eq!(org_ids(&plan_doc(&d)), ["org-1"]);
}

#[test]
fn r15_organization_labels_are_not_merged_into_cluster_labels() {
    let o = plan1(
        &[
            ("soak-days", "0"),
            ("workloads", "wl"),
            ("schedule", "* * * * *"),
        ],
        &[C::due("c").raw_labels(json!({"sre-capabilities.aus.blocked-versions": "x"}))],
    );
    let messages = &o.validation_errors.clusters["c-uuid"];
    assert_eq!(messages.len(), 3, "{messages:?}");
}

#[test]
fn r17_equal_sort_keys_keep_discovery_order() {
    // W7 with the discovery order reversed: now cluster-2 takes the mutex.
    let o = plan1(
        &[],
        &[
            C::due("cluster-2").label("mutexes", "mutex1"),
            C::due("cluster-1").label("mutexes", "mutex1"),
        ],
    );
    assert_eq!(
        o.actions,
        [upgrade("cluster-2", "4.12.19", "2021-08-30T18:07:00Z")]
    );
    assert_skipped(&o, "cluster-1", Reason::Mutex, &["mutex1", "cluster-2"]);
}

// ---------------------------------------------------------------------------
// §3 Labels.

#[test]
fn r18_labels_of_other_capabilities_are_ignored() {
    let o = plan1(
        &[],
        &[C::due("c").set(
            "labels",
            json!({
                "sre-capabilities.aus.soak-days": "0",
                "sre-capabilities.aus.workloads": "wl",
                "sre-capabilities.aus.schedule": "* * * * *",
                "sre-capabilities.other.soak-days": "not a number",
                "sre-capabilities.ausx.mutexes": "m",
            }),
        )],
    );
    assert!(o.validation_errors.is_empty());
    assert!(o.details.valid_clusters[0].mutexes.is_empty());
    assert_eq!(acted(&o), [("c", "upgrade_policy")]);
}

#[test]
fn r19_csv_items_are_trimmed_and_empty_items_rejected() {
    // Deviation (§18 G18): items are trimmed and empty items are an error.
    let o = plan1(&[], &[C::due("c").label("workloads", "a, b")]);
    assert_eq!(*o.details.valid_clusters[0].workloads, ["a", "b"]);
    let wls: Vec<&String> = o.version_data.versions["4.12.17"]
        .workloads
        .keys()
        .collect();
    assert_eq!(wls, ["a", "b"]);

    let o = plan1(&[], &[C::due("c").label("workloads", "a,,b")]);
    assert_eq!(
        o.validation_errors.clusters["c-uuid"],
        ["label sre-capabilities.aus.workloads: item 2 of \"a,,b\" is empty"]
    );
}

#[test]
fn r20_soak_days_are_plain_digits() {
    let o = plan1(&[], &[C::due("c").label("soak-days", " 3 ")]);
    assert!(o.validation_errors.is_empty());
    assert_eq!(o.details.valid_clusters[0].soak_days, 3);
    // Deviation (R20): the reference's exotic forms are rejected with the normal error.
    for bad in ["+1", "1_0", "2.0", "1.5", ""] {
        let o = plan1(&[], &[C::due("c").label("soak-days", bad)]);
        assert_eq!(
            o.validation_errors.clusters["c-uuid"],
            [format!(
                "label sre-capabilities.aus.soak-days: expected a whole number >= 0, got {bad:?}"
            )],
            "{bad:?}"
        );
    }
}

#[test]
fn r23_group_keys_may_contain_dots() {
    let o = plan1(
        &[("sector-deps.prod.eu", "")],
        &[C::due("c").label("sector", "prod.eu")],
    );
    assert!(o.validation_errors.is_empty(), "{:?}", o.validation_errors);
    assert_eq!(o.details.valid_clusters[0].sector, "prod.eu");
}

#[test]
fn r25_unknown_aus_settings_are_ignored() {
    let o = plan1(&[], &[C::due("c").label("some-future-setting", "whatever")]);
    assert!(o.validation_errors.is_empty());
    assert_eq!(acted(&o), [("c", "upgrade_policy")]);
}

#[test]
fn r29_empty_optional_values_mean_absent() {
    let o = plan1(
        &[],
        &[C::due("c")
            .label("sector", "")
            .label("mutexes", "")
            .label("blocked-versions", "")],
    );
    // An empty sector is no sector, not an unknown one.
    assert!(o.validation_errors.is_empty(), "{:?}", o.validation_errors);
    let c = &o.details.valid_clusters[0];
    assert_eq!((c.sector.as_str(), c.mutexes.len()), ("", 0));
    assert_eq!(acted(&o), [("c", "upgrade_policy")]);
}

#[test]
fn r32_blocked_versions_are_the_union_of_org_and_cluster_patterns() {
    let o = plan1(
        &[("blocked-versions", r"^4\.12\.20$")],
        &[
            C::due("all-blocked")
                .label("blocked-versions", r"^4\.12\.19$")
                .set("available_upgrades", json!(["4.12.19", "4.12.20"])),
            C::due("one-left")
                .label("blocked-versions", r"^4\.12\.19$")
                .set(
                    "available_upgrades",
                    json!(["4.12.18", "4.12.19", "4.12.20"]),
                ),
        ],
    );
    assert_skipped(
        &o,
        "all-blocked",
        Reason::BlockedVersion,
        &[r"4.12.20 by ^4\.12\.20$", r"4.12.19 by ^4\.12\.19$"],
    );
    assert_eq!(
        o.actions,
        [upgrade("one-left", "4.12.18", "2021-08-30T18:07:00Z")]
    );
}

// ---------------------------------------------------------------------------
// §4 Organization spec: sectors, inheritance, health, validation errors.

#[test]
fn r34_every_listed_dependency_counts() {
    let o = plan1(
        &[("sector-deps.a", "b,c")],
        &[
            C::due("in-a")
                .label("sector", "a")
                .set("version", json!("4.12.15"))
                .set("available_upgrades", json!(["4.12.16"])),
            C::due("in-b")
                .label("sector", "b")
                .set("version", json!("4.12.19"))
                .set("available_upgrades", json!([])),
            C::due("in-c")
                .label("sector", "c")
                .set("version", json!("4.12.15"))
                .set("available_upgrades", json!([])),
        ],
    );
    assert!(o.actions.is_empty());
    assert_skipped(
        &o,
        "in-a",
        Reason::SectorDependency,
        &["sector c", "4.12.15"],
    );
}

#[test]
fn r36_a_sector_cycle_freezes_only_its_organization() {
    let plan = plan_doc(&doc(
        &[
            ("org-1", &[("sector-deps.a", "b"), ("sector-deps.b", "a")]),
            ("org-2", &[]),
        ],
        &[
            C::due("c1"),
            C::due("c2").set("organization", json!("org-2")),
        ],
    ));
    let o1 = org(&plan, "org-1");
    assert_eq!(o1.validation_errors.organization.len(), 2);
    assert!(o1.actions.is_empty());
    assert_eq!(acted(org(&plan, "org-2")), [("c2", "upgrade_policy")]);
}

#[test]
fn r37_unknown_sector_is_one_org_error_and_one_error_per_cluster() {
    let o = plan1(
        &[("sector-deps.known", "")],
        &[
            C::due("x1").label("sector", "nope"),
            C::due("x2").label("sector", "nope"),
            C::due("fine").label("sector", "known"),
        ],
    );
    // Deviation (§18 G33): the organization message is not repeated per cluster.
    assert_eq!(
        o.validation_errors.organization,
        ["sector nope not found in organization"]
    );
    assert_eq!(
        o.validation_errors.clusters["x2-uuid"],
        ["cluster x2-uuid references unknown sector nope"]
    );
    assert_eq!(o.validation_errors.count(), 3);
    assert_skipped(&o, "fine", Reason::OrgValidationError, &["sector nope"]);
}

#[test]
fn r38_only_visible_valid_clusters_are_sector_members() {
    let o = plan1(
        &[("sector-deps.prod", "stage")],
        &[
            C::due("prod-1").label("sector", "prod"),
            // The only stage cluster that runs an older version is not ready.
            C::due("stage-asleep")
                .label("sector", "stage")
                .set("version", json!("4.12.1"))
                .set("state", json!("hibernating")),
            C::due("stage-1")
                .label("sector", "stage")
                .set("version", json!("4.12.19"))
                .set("available_upgrades", json!([])),
        ],
    );
    assert_eq!(acted(&o), [("prod-1", "upgrade_policy")]);
}

#[test]
fn r42_an_organization_without_version_data_labels_is_unverified() {
    let plan = plan_doc(&doc(
        &[
            ("org-1", &[("version-data.inherit", "org-2")]),
            // org-2 exists, but has no version-data label: not known to the network.
            ("org-2", &[("blocked-versions", "x")]),
        ],
        &[C::due("c")],
    ));
    let o = org(&plan, "org-1");
    assert_eq!(o.validation_errors.organization.len(), 1);
    assert!(
        o.validation_errors.organization[0]
            .starts_with("Version data inheritance from organizations org-2 are unverified.")
    );
}

#[test]
fn r44_verified_sources_add_their_soak_days() {
    let mut d = doc(
        &[
            ("org-1", &[("version-data.inherit", "org-2")]),
            ("org-2", &[("version-data.publish", "org-1")]),
        ],
        &[C::due("c").label("soak-days", "5")],
    );
    d["version_data"] = json!({
        "org-1": history(None, &[("4.12.19", "wl", 2.0, &[])]),
        "org-2": history(None, &[("4.12.19", "wl", 3.0, &["far"])]),
    });
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_eq!(acted(&o), [("c", "upgrade_policy")]);
    // The saved history stays the organization's own.
    assert!(close(soaked(&o, "4.12.19", "wl"), 2.0));
}

#[test]
fn r49_unhealthy_clusters_still_upgrade() {
    let o = plan1(&[], &[C::due("sick").set("healthy", json!(false))]);
    assert_eq!(acted(&o), [("sick", "upgrade_policy")]);
    assert!(!o.details.valid_clusters[0].healthy);
}

#[test]
fn r51_error_count_is_clusters_with_errors_plus_org_errors() {
    let o = plan1(
        &[
            ("sector-max-parallel-upgrades.x", "lots"),
            ("sector-deps.x", ""),
        ],
        &[
            // Three bad labels, one cluster with errors.
            C::due("bad")
                .label("soak-days", "x")
                .label("workloads", "")
                .label("schedule", "never"),
            C::due("good"),
        ],
    );
    assert_eq!(o.validation_errors.clusters["bad-uuid"].len(), 3);
    assert_eq!(o.validation_errors.organization.len(), 1);
    assert_eq!(o.validation_errors.count(), 2);
    assert_skipped(
        &o,
        "good",
        Reason::OrgValidationError,
        &["organization has 2 validation error(s)", "bad-uuid"],
    );
}

#[test]
fn r52_any_validation_error_freezes_every_cluster_of_the_org() {
    let o = plan1(
        &[],
        &[
            C::due("due"),
            C::due("has-policy").policy("p", "4.12.19", "scheduled"),
            C::due("later").label("schedule", "0 0 1 1 *"),
            C::due("bad").label("soak-days", "-1"),
        ],
    );
    assert!(o.actions.is_empty());
    // Validation freezes first: no other reason is given.
    for c in ["due", "has-policy", "later"] {
        assert_skipped(&o, c, Reason::OrgValidationError, &["bad-uuid"]);
    }
    assert!(!o.details.history_updated);
}

// ---------------------------------------------------------------------------
// §5 Ordering, mutexes and locks.

#[test]
fn r54_own_cluster_id_is_an_implicit_mutex() {
    let o = plan1(
        &[],
        &[
            C::due("first").policy("p", "4.12.19", "scheduled"),
            // Naming another cluster's id as a mutex shares its implicit lock.
            C::due("second").label("mutexes", "first-id"),
        ],
    );
    assert!(o.actions.is_empty());
    assert_skipped(
        &o,
        "second",
        Reason::Mutex,
        &["mutex first-id", "cluster first"],
    );
}

#[test]
fn r56_r97_any_existing_policy_holds_the_mutexes() {
    for (state, schedule_type) in [
        ("completed", "manual"),
        ("failed", "manual"),
        ("scheduled", "automatic"),
    ] {
        let holder = C::due("holder").label("mutexes", "m").set(
            "upgrade_policies",
            json!([{"id": "p", "state": state, "schedule_type": schedule_type, "schedule": "0 0 * * 0"}]),
        );
        let o = plan1(&[], &[holder, C::due("waiter").label("mutexes", "m")]);
        assert!(o.actions.is_empty(), "{state} {schedule_type}");
        assert_skipped(&o, "waiter", Reason::Mutex, &["mutex m", "cluster holder"]);
        assert_skipped(
            &o,
            "holder",
            Reason::ExistingPolicy,
            &[schedule_type, state],
        );
    }
}

#[test]
fn r58_max_parallel_ignores_upgrades_outside_the_sector() {
    let clusters = [
        C::due("outside")
            .label("mutexes", "m")
            .policy("p", "4.12.19", "started"),
        C::due("inside").label("mutexes", "m").label("sector", "s"),
    ];
    let o = plan1(
        &[
            ("sector-deps.s", ""),
            ("sector-max-parallel-upgrades.s", "1"),
        ],
        &clusters,
    );
    assert_eq!(acted(&o), [("inside", "upgrade_policy")]);
    // Without a max-parallel value the global lock table applies (R57 step 1).
    let o = plan1(&[("sector-deps.s", "")], &clusters);
    assert_skipped(&o, "inside", Reason::Mutex, &["mutex m", "cluster outside"]);
}

// ---------------------------------------------------------------------------
// §6 Soak history.

#[test]
fn r62_history_entries_are_never_removed() {
    let mut d = doc(&[("org-1", &[])], &[C::due("c")]);
    d["version_data"] = json!({"org-1": history(
        Some("2021-08-29T18:00:00Z"),
        &[("4.10.0", "retired-workload", 4.5, &["gone-cluster"])],
    )});
    let o = org(&plan_doc(&d), "org-1").clone();
    let old = &o.version_data.versions["4.10.0"].workloads["retired-workload"];
    assert!(close(old.soak_days, 4.5));
    assert_eq!(old.reporting, ["gone-cluster"]);
}

#[test]
fn r64_old_style_check_in_is_read_as_utc() {
    let mut d = doc(&[("org-1", &[])], &[C::due("c")]);
    d["version_data"] = json!({"org-1": history(
        Some("2021-08-29 18:00:00"),
        &[("4.12.17", "wl", 1.0, &["c"])],
    )});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert!(close(soaked(&o, "4.12.17", "wl"), 2.0));
    assert_eq!(o.version_data.check_in, Some(ts(NOW)));
    let json = serde_json::to_value(&o.version_data).unwrap();
    assert_eq!(json["check_in"], "2021-08-30T18:00:00Z");
}

#[test]
fn r65_r68_delta_is_fractional_days_since_the_last_check_in() {
    let mut d = doc(&[("org-1", &[])], &[C::due("c")]);
    d["version_data"] = json!({"org-1": history(
        Some("2021-08-30T06:00:00Z"),
        &[("4.12.17", "wl", 1.0, &["c"])],
    )});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert!(close(soaked(&o, "4.12.17", "wl"), 1.5));
    assert_eq!(o.version_data.check_in, Some(ts(NOW)));

    // Without a stored check-in, Δ is 0.
    d["version_data"] = json!({"org-1": history(None, &[("4.12.17", "wl", 1.0, &["c"])])});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert!(close(soaked(&o, "4.12.17", "wl"), 1.0));
    assert_eq!(o.version_data.check_in, Some(ts(NOW)));
}

#[test]
fn r67_enforced_unhealthy_cluster_creates_no_history_entry() {
    let mut d = doc(
        &[("org-1", &[])],
        &[C::due("sick")
            .set("healthy", json!(false))
            .set("version", json!("4.12.18"))],
    );
    d["version_data"] = json!({"org-1": history(Some("2021-08-29T18:00:00Z"), &[])});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert!(!o.version_data.versions.contains_key("4.12.18"));
    assert_eq!(o.version_data.check_in, Some(ts(NOW)));
}

#[test]
fn r69_stats_include_unhealthy_clusters() {
    let o = plan1(
        &[],
        &[
            C::due("healthy").label("workloads", "a,b"),
            C::due("sick")
                .label("workloads", "a")
                .set("healthy", json!(false))
                .set("version", json!("4.12.15")),
        ],
    );
    let stats = o.version_data.stats.expect("stats");
    assert_eq!(stats.min_version, "4.12.15");
    assert_eq!(stats.min_version_per_workload["a"], "4.12.15");
    assert_eq!(stats.min_version_per_workload["b"], "4.12.17");
}

#[test]
fn r70_sources_are_read_as_stored_not_as_updated_this_pass() {
    let mut d = doc(
        &[
            ("org-1", &[("version-data.inherit", "org-2")]),
            ("org-2", &[("version-data.publish", "org-1")]),
        ],
        &[
            C::due("wants-4").label("soak-days", "4"),
            // org-2's own cluster runs 4.12.19: this pass credits org-2 one more day,
            // but org-1 sees org-2's history as stored (3 days).
            C::due("source-cluster")
                .set("organization", json!("org-2"))
                .set("version", json!("4.12.19"))
                .set("available_upgrades", json!([])),
        ],
    );
    d["version_data"] = json!({
        "org-2": history(Some("2021-08-29T18:00:00Z"), &[("4.12.19", "wl", 3.0, &["source-cluster"])]),
    });
    let plan = plan_doc(&d);
    assert!(close(soaked(org(&plan, "org-2"), "4.12.19", "wl"), 4.0));
    assert_skipped(
        org(&plan, "org-1"),
        "wants-4",
        Reason::SoakDays,
        &["4.12.19 soaked 3.00 of 4"],
    );
}

#[test]
fn r72_inherited_stats_take_the_minimum_over_sources() {
    let stats = |min: &str| json!({"min_version": min, "min_version_per_workload": {"wl": min}});
    let mut d = doc(
        &[
            (
                "org-1",
                &[
                    ("version-data.inherit", "org-2,org-3"),
                    ("sector-deps.s", ""),
                ],
            ),
            ("org-2", &[("version-data.publish", "org-1")]),
            ("org-3", &[("version-data.publish", "org-1")]),
        ],
        &[
            C::due("too-new")
                .label("sector", "s")
                .set("version", json!("4.12.0"))
                .set("available_upgrades", json!(["4.12.4"])),
            C::due("at-minimum")
                .label("sector", "s")
                .set("version", json!("4.12.0"))
                .set("available_upgrades", json!(["4.12.3"])),
        ],
    );
    let mut h2 = history(None, &[]);
    h2["stats"] = stats("4.12.5");
    let mut h3 = history(None, &[]);
    h3["stats"] = stats("4.12.3");
    d["version_data"] = json!({"org-2": h2, "org-3": h3});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_eq!(acted(&o), [("at-minimum", "upgrade_policy")]);
    assert_skipped(
        &o,
        "too-new",
        Reason::InheritedVersion,
        &["4.12.4 is newer than 4.12.3", "workload wl"],
    );

    // A source without stats constrains nothing (soak days would still be added).
    d["version_data"] = json!({"org-2": history(None, &[]), "org-3": history(None, &[])});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_eq!(o.actions.len(), 2, "{:?}", o.clusters);
}

#[test]
fn r75_a_frozen_org_keeps_its_history_and_the_gap_is_credited_later() {
    let stored = history(
        Some("2021-08-29T18:00:00Z"),
        &[("4.12.17", "wl", 1.0, &["c"])],
    );
    let mut d = doc(
        &[("org-1", &[])],
        &[C::due("c"), C::due("bad").label("soak-days", "-1")],
    );
    d["version_data"] = json!({"org-1": stored});
    let frozen = org(&plan_doc(&d), "org-1").clone();
    let fleet = load(&d);
    assert_eq!(frozen.version_data, fleet.version_data["org-1"]);
    assert!(!frozen.details.history_updated);

    // Fixed a day later: the history was not saved, so two days are credited at once.
    d["now"] = json!("2021-08-31T18:00:00Z");
    d["clusters"][1]["labels"][format!("{AUS}soak-days")] = json!("1");
    let thawed = org(&plan_doc(&d), "org-1").clone();
    assert!(thawed.details.history_updated);
    assert!(close(soaked(&thawed, "4.12.17", "wl"), 3.0));
}

// ---------------------------------------------------------------------------
// §7 Cluster kinds and available upgrades.

#[test]
fn r77_an_osd_cluster_is_never_hcp() {
    let o = plan1(
        &[],
        &[C::due("osd-c")
            .set("product", json!("osd"))
            .set("hypershift", json!(true))],
    );
    assert_eq!(acted(&o), [("osd-c", "upgrade_policy")]);
    assert!(!o.details.valid_clusters[0].hypershift);
}

#[test]
fn r79_current_version_is_the_oldest_of_control_plane_and_node_pools() {
    // W32: the info metric of an HCP cluster.
    let o = plan1(
        &[],
        &[C::due("cluster-1")
            .set("product", json!("rosa"))
            .set("hypershift", json!(true))
            .set("available_upgrades", json!([]))
            .set("node_pools", json!([{"id": "np", "version": "4.12.16"}]))
            .label("mutexes", "mutex1")
            .label("workloads", "workload1")],
    );
    let c = &o.details.valid_clusters[0];
    assert_eq!(c.current_version.to_string(), "4.12.16");
    assert_eq!(c.channel, "stable-4.12");
    assert_eq!((c.product.as_str(), c.hypershift), ("rosa", true));
    assert_eq!((c.sector.as_str(), c.soak_days), ("", 0));
    assert_eq!(*c.mutexes, ["mutex1"]);
    assert_eq!(*c.workloads, ["workload1"]);
    // Soak accounting uses the control-plane version only (R66).
    assert!(o.version_data.versions.contains_key("4.12.17"));
    assert!(!o.version_data.versions.contains_key("4.12.16"));
}

// ---------------------------------------------------------------------------
// §8 The decision procedure.

fn hcp(name: &str) -> C {
    C::due(name)
        .set("product", json!("rosa"))
        .set("hypershift", json!(true))
}

#[test]
fn r81_node_pool_catch_up_ignores_window_soak_blocked_versions_and_gates() {
    let o = plan1(
        &[("blocked-versions", ".*")],
        &[hcp("h")
            .label("schedule", "0 0 1 1 *")
            .label("soak-days", "100")
            .set("version", json!("4.13.0"))
            .set("available_upgrades", json!(["4.13.1"]))
            .set("node_pools", json!([{"id": "np", "version": "4.12.30"}]))],
    );
    assert_eq!(
        o.actions,
        [Action::NodePoolUpgradePolicy {
            cluster: "h".into(),
            cluster_id: "h-id".into(),
            node_pool: "np".into(),
            version: "4.13.0".parse().unwrap(),
            next_run: ts("2021-08-30T18:06:00Z"),
        }]
    );
}

#[test]
fn r82_several_existing_policies_skip_only_that_cluster() {
    // Deviation (R82, §18 G7): the reference aborted the whole organization.
    let o = plan1(
        &[],
        &[
            C::due("two")
                .policy("p1", "4.12.19", "scheduled")
                .policy("p2", "4.12.18", "pending"),
            C::due("other"),
        ],
    );
    assert_skipped(
        &o,
        "two",
        Reason::ExistingPolicy,
        &["2 upgrade policies exist", "p1", "p2"],
    );
    assert_eq!(acted(&o), [("other", "upgrade_policy")]);
}

#[test]
fn r86_the_window_is_checked_before_locks() {
    let clusters = |channels: Value| {
        [
            C::due("holder")
                .label("mutexes", "m")
                .policy("p", "4.12.19", "scheduled"),
            C::due("closed")
                .label("mutexes", "m")
                .label("schedule", "0 0 * * *")
                .set("available_channels", channels),
        ]
    };
    let o = plan1(&[], &clusters(json!([])));
    assert_skipped(
        &o,
        "closed",
        Reason::OutsideSchedule,
        &["2021-08-31T00:00:00Z"],
    );
    // Outside its window a locked cluster still switches channel (R83 before R86).
    let o = plan1(&[], &clusters(json!(["stable-4.12", "stable-4.13"])));
    assert_eq!(acted(&o), [("closed", "channel_switch")]);
}

#[test]
fn r78_r88_the_highest_qualifying_candidate_wins() {
    let mut d = doc(
        &[("org-1", &[])],
        &[
            // OCM's list is taken as given (R78), unsorted; R88 sorts it.
            C::due("c").label("soak-days", "1").set(
                "available_upgrades",
                json!(["4.12.20", "4.12.18", "4.12.19"]),
            ),
            // Highest unblocked candidate is 4.12.18; its soak failure is the reason.
            C::due("d")
                .label("soak-days", "1")
                .label("blocked-versions", r"^4\.12\.19$")
                .set("available_upgrades", json!(["4.12.18", "4.12.19"])),
        ],
    );
    d["version_data"] = json!({"org-1": history(None, &[
        ("4.12.20", "wl", 0.5, &[]),
        ("4.12.19", "wl", 1.0, &[]),
        ("4.12.18", "wl", 5.0, &[]),
    ])});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_eq!(
        o.actions[0],
        upgrade("c", "4.12.19", "2021-08-30T18:07:00Z")
    );
    assert_eq!(
        o.actions[1],
        upgrade("d", "4.12.18", "2021-08-30T18:07:00Z")
    );

    d["version_data"] = json!({"org-1": history(None, &[("4.12.18", "wl", 0.25, &[])])});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_skipped(&o, "d", Reason::SoakDays, &["4.12.18 soaked 0.25 of 1"]);
    assert_skipped(&o, "c", Reason::SoakDays, &["4.12.20 soaked 0.00 of 1"]);
}

#[test]
fn r92_a_cluster_held_by_a_gate_takes_no_mutex() {
    let mut d = doc(
        &[("org-1", &[])],
        &[
            C::due("gated")
                .label("mutexes", "m")
                .set("available_upgrades", json!(["4.13.1"])),
            C::due("next").label("mutexes", "m"),
        ],
    );
    d["version_gates"] = json!([{"id": "g-4-13", "version_raw_id_prefix": "4.13", "label": "api.openshift.com/gate-ocp"}]);
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_skipped(&o, "gated", Reason::VersionGate, &["g-4-13"]);
    assert_eq!(acted(&o), [("next", "upgrade_policy")]);
}

#[test]
fn r93_one_action_per_cluster_in_decision_order() {
    let o = plan1(
        &[],
        &[
            hcp("h")
                .set("node_pools", json!([{"id": "np", "version": "4.12.16"}]))
                .set("available_channels", json!(["stable-4.13"])),
            C::due("first").set("version", json!("4.12.1")),
        ],
    );
    assert_eq!(
        acted(&o),
        [
            ("first", "upgrade_policy"),
            ("h", "node_pool_upgrade_policy")
        ]
    );
}

#[test]
fn r95_only_gates_of_the_chosen_minor_count() {
    let mut d = doc(
        &[("org-1", &[("blocked-versions", r"^4\.14\.")])],
        &[C::due("c")
            .set("available_upgrades", json!(["4.13.1", "4.14.0"]))
            .set("gate_agreements", json!(["g-4-13"]))],
    );
    d["version_gates"] = json!([
        {"id": "g-4-13", "version_raw_id_prefix": "4.13", "label": "api.openshift.com/gate-ocp"},
        {"id": "g-4-14", "version_raw_id_prefix": "4.14", "label": "api.openshift.com/gate-ocp"},
    ]);
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_eq!(o.actions, [upgrade("c", "4.13.1", "2021-08-30T18:07:00Z")]);
}

#[test]
fn r96_next_run_has_whole_seconds() {
    let mut d = doc(
        &[("org-1", &[])],
        &[
            C::due("classic"),
            hcp("h").set("node_pools", json!([{"id": "np", "version": "4.12.16"}])),
        ],
    );
    d["now"] = json!("2021-08-30T18:00:23.456Z");
    let plan = plan_doc(&d);
    let json = serde_json::to_value(&plan).unwrap();
    let runs: BTreeSet<&str> = json["organizations"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["next_run"].as_str().unwrap())
        .collect();
    assert_eq!(
        runs,
        BTreeSet::from(["2021-08-30T18:06:23Z", "2021-08-30T18:07:00Z"])
    );
}

// ---------------------------------------------------------------------------
// §11 Channel switches.

#[test]
fn r91_r100_channel_switch_is_tried_only_outside_the_window_or_without_a_version() {
    let offered = json!(["stable-4.12", "stable-4.13"]);
    let mut d = doc(
        &[("org-1", &[])],
        &[
            C::due("closed").label("schedule", "0 0 * * *"),
            C::due("unsoaked").label("soak-days", "9"),
            C::due("has-policy")
                .label("mutexes", "m")
                .policy("p", "4.12.19", "scheduled"),
            C::due("locked").label("mutexes", "m"),
            C::due("gated").set("available_upgrades", json!(["4.13.1"])),
            C::due("booked"),
            hcp("pools-behind").set("node_pools", json!([{"id": "np", "version": "4.12.16"}])),
            hcp("held-hcp")
                .label("mutexes", "m")
                .set("node_pools", json!([{"id": "np", "version": "4.12.16"}])),
        ],
    );
    for c in d["clusters"].as_array_mut().unwrap() {
        c["available_channels"] = offered.clone();
    }
    d["version_gates"] = json!([{"id": "g", "version_raw_id_prefix": "4.13", "label": "api.openshift.com/gate-ocp"}]);
    let o = org(&plan_doc(&d), "org-1").clone();
    let switched: BTreeSet<&str> = o
        .actions
        .iter()
        .filter(|a| a.kind() == "channel_switch")
        .map(Action::cluster)
        .collect();
    assert_eq!(switched, BTreeSet::from(["closed", "unsoaked"]));
    assert_skipped(&o, "has-policy", Reason::ExistingPolicy, &[]);
    assert_skipped(&o, "locked", Reason::Mutex, &[]);
    assert_skipped(&o, "gated", Reason::VersionGate, &[]);
    assert_skipped(&o, "held-hcp", Reason::Mutex, &[]);
    let kinds: BTreeSet<(&str, &str)> = acted(&o).into_iter().collect();
    assert!(kinds.contains(&("booked", "upgrade_policy")));
    assert!(kinds.contains(&("pools-behind", "node_pool_upgrade_policy")));
    // Switches come after every upgrade policy (R7 step 6).
    let first_switch = o
        .actions
        .iter()
        .position(|a| a.kind() == "channel_switch")
        .unwrap();
    assert!(
        o.actions[first_switch..]
            .iter()
            .all(|a| a.kind() == "channel_switch")
    );
}

// ---------------------------------------------------------------------------
// §15.3 Remaining soak days (R126), the rows of W20.

#[test]
fn r80_r126_remaining_soak_days_w20_rows() {
    let row = |name: &str, available: Value, soak: &str| {
        C::due(name)
            .set("version", json!("4.13.0"))
            .set("available_upgrades", available)
            .label("soak-days", soak)
    };
    let rc = r"^.*-rc\..*$";
    let started = |c: C, version: &str, next_run: &str| {
        c.set(
            "upgrade_policies",
            json!([{"id": "p", "version": version, "next_run": next_run, "state": "started"}]),
        )
    };
    let mut d = doc(
        &[("org-1", &[])],
        &[
            row("r01", json!(["4.13.10", "4.13.11"]), "0"),
            row("r02", json!(["4.13.10", "4.13.11"]), "2"),
            row("r03", json!(["4.13.9", "4.13.10", "4.13.11"]), "2"),
            row("r04", json!(["4.14.0-rc.1", "4.14.0"]), "0").label("blocked-versions", rc),
            row("r05", json!(["4.13.11", "4.14.0-rc.1", "4.14.0"]), "0")
                .label("blocked-versions", rc),
            row("r06", json!(["4.13.11", "4.14.0-rc.1", "4.14.0"]), "0")
                .label("blocked-versions", rc)
                .policy("p", "4.14.0-rc.1", "scheduled"),
            started(
                row("r07", json!(["4.13.11", "4.14.0"]), "0"),
                "4.13.11",
                "2021-08-30T17:00:00Z",
            ),
            row("r08", json!(["4.13.11", "4.14.0"]), "0").policy("p", "4.13.11", "scheduled"),
            row("r09", json!(["4.13.11", "4.14.0"]), "0").policy("p", "4.14.0", "scheduled"),
            started(
                row("r10", json!(["4.13.11", "4.14.0"]), "0"),
                "4.14.0",
                "2021-08-30T17:00:00Z",
            ),
            started(
                row("r11", json!(["4.13.11"]), "0"),
                "4.13.11",
                "2021-08-30T11:00:00Z",
            ),
            row("r12", json!(["4.13.11", "4.13.12", "4.14.1"]), "2")
                .label("blocked-versions", r"^4\.14\..*$"),
            hcp("r13")
                .set("version", json!("4.13.0"))
                .set("available_upgrades", json!([]))
                .set(
                    "node_pools",
                    json!([{"id": "np1", "version": "4.12.0", "upgrade_policies": [
                        {"id": "np-p", "version": "4.13.0", "next_run": "2021-08-30T19:00:00Z", "state": "scheduled"}
                    ]}]),
                ),
            row("none-offered", json!([]), "0"),
        ],
    );
    d["version_data"] = json!({"org-1": history(None, &[
        ("4.13.9", "wl", 2.0, &[]),
        ("4.13.10", "wl", 1.8, &[]),
        ("4.13.11", "wl", 2.0, &[]),
    ])});
    let o = org(&plan_doc(&d), "org-1").clone();
    let reported = |row: &str| -> Vec<(String, f64)> {
        o.details
            .remaining_soak_days
            .iter()
            .filter(|r: &RemainingSoak<'_>| r.external_id == format!("{row}-uuid"))
            .map(|r| (r.version.to_string(), r.value))
            .collect()
    };
    let expected: [(&str, &[(&str, f64)]); 14] = [
        ("r01", &[("4.13.11", 0.0)]),
        ("r02", &[("4.13.11", 0.0)]),
        ("r03", &[("4.13.11", 0.0)]),
        ("r04", &[("4.14.0-rc.1", -4.0), ("4.14.0", 0.0)]),
        ("r05", &[("4.14.0-rc.1", -4.0), ("4.14.0", 0.0)]),
        ("r06", &[("4.14.0-rc.1", -1.0), ("4.14.0", 0.0)]),
        ("r07", &[("4.13.11", -2.0), ("4.14.0", 0.0)]),
        ("r08", &[("4.13.11", -1.0), ("4.14.0", 0.0)]),
        ("r09", &[("4.14.0", -1.0)]),
        ("r10", &[("4.14.0", -2.0)]),
        ("r11", &[("4.13.11", -3.0)]),
        (
            "r12",
            &[("4.13.11", 0.0), ("4.13.12", 2.0), ("4.14.1", -4.0)],
        ),
        // R80: the control-plane version is prepended for the pool behind.
        ("r13", &[("4.13.0", -1.0)]),
        ("none-offered", &[]),
    ];
    for (row, want) in expected {
        let got = reported(row);
        assert_eq!(got.len(), want.len(), "{row}: {got:?}");
        for ((gv, gval), (wv, wval)) in got.iter().zip(want) {
            assert_eq!(gv, wv, "{row}: {got:?}");
            assert!(close(*gval, *wval), "{row}: {got:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// §20 Explanation codes: every code is produced, each with a useful detail.

/// One fleet in which every reason code of §20 occurs.
fn every_reason() -> FleetPlan {
    let mut d = doc(
        &[
            (
                "org-1",
                &[
                    ("sector-deps.dep", ""),
                    ("sector-deps.s", "dep"),
                    ("sector-deps.p", ""),
                    ("sector-max-parallel-upgrades.p", "1"),
                ],
            ),
            (
                "org-inh",
                &[("version-data.inherit", "org-src"), ("sector-deps.s", "")],
            ),
            ("org-src", &[("version-data.publish", "org-inh")]),
            ("org-bad", &[]),
        ],
        &[
            C::due("has-policy")
                .label("mutexes", "shared")
                .policy("pol-1", "4.12.19", "scheduled"),
            C::due("locked").label("mutexes", "shared"),
            C::due("p-upgrading")
                .label("sector", "p")
                .label("mutexes", "pm")
                .policy("pol-2", "4.12.19", "started"),
            C::due("p-waiting")
                .label("sector", "p")
                .label("mutexes", "pm"),
            C::due("later").label("schedule", "0 0 1 1 *"),
            C::due("latest").set("available_upgrades", json!([])),
            C::due("blocked").label("blocked-versions", r"^4\.12\.19$"),
            C::due("dep-behind")
                .label("sector", "dep")
                .set("version", json!("4.12.10"))
                .set("available_upgrades", json!([])),
            C::due("ahead").label("sector", "s"),
            C::due("unsoaked")
                .label("soak-days", "3")
                .label("workloads", "wl,wl-2"),
            C::due("gated").set("available_upgrades", json!(["4.13.1"])),
            C::due("gated-unknown").set("available_upgrades", json!(["4.14.1"])),
            C::due("asleep").set("state", json!("hibernating")),
            C::due("inh")
                .set("organization", json!("org-inh"))
                .label("sector", "s")
                .set("version", json!("4.12.0")),
            C::due("bad")
                .set("organization", json!("org-bad"))
                .label("soak-days", "x"),
            C::due("good").set("organization", json!("org-bad")),
        ],
    );
    d["version_gates"] = json!([
        {"id": "gate-4-13", "version_raw_id_prefix": "4.13", "label": "api.openshift.com/gate-ocp"},
        {"id": "gate-new-4-14", "version_raw_id_prefix": "4.14", "label": "api.openshift.com/gate-new"},
    ]);
    let mut src = history(None, &[("4.12.5", "wl", 1.0, &["src-cluster"])]);
    src["stats"] = json!({"min_version": "4.12.5", "min_version_per_workload": {"wl": "4.12.5"}});
    d["version_data"] = json!({"org-src": src});
    plan_doc(&d)
}

fn reason_of(cluster: &str) -> Explanation {
    let plan = every_reason();
    let found: Vec<&Explanation> = plan
        .organizations
        .iter()
        .flat_map(|o| &o.clusters)
        .filter(|e| e.cluster == cluster)
        .collect();
    assert_eq!(found.len(), 1, "{cluster}: {found:?}");
    found[0].clone()
}

fn assert_reason(cluster: &str, reason: Reason, parts: &[&str]) {
    let e = reason_of(cluster);
    assert_eq!(e.reason, reason, "{cluster}: {}", e.detail);
    assert_eq!(e.decision, "skipped");
    for part in parts {
        assert!(
            e.detail.contains(part),
            "{cluster}: {:?} does not mention {part:?}",
            e.detail
        );
    }
}

#[test]
fn explanations_every_reason_code_is_produced() {
    let plan = every_reason();
    let produced: BTreeSet<Reason> = plan
        .organizations
        .iter()
        .flat_map(|o| &o.clusters)
        .map(|e| e.reason)
        .collect();
    assert_eq!(produced, BTreeSet::from(Reason::ALL));
    // Every cluster is accounted for: an action or exactly one explanation.
    let fleet_clusters = 16;
    let accounted: usize = plan
        .organizations
        .iter()
        .map(|o| o.actions.len() + o.clusters.len())
        .sum();
    assert_eq!(accounted, fleet_clusters);
}

#[test]
fn explanation_existing_policy_names_policy_version_state_and_next_run() {
    assert_reason(
        "has-policy",
        Reason::ExistingPolicy,
        &[
            "pol-1",
            "manual",
            "to 4.12.19",
            "scheduled",
            "next run 2021-08-30T19:00:00Z",
        ],
    );
}

#[test]
fn explanation_outside_schedule_names_the_next_slot() {
    assert_reason(
        "later",
        Reason::OutsideSchedule,
        &["next maintenance slot 2022-01-01T00:00:00Z", "2 hours"],
    );
}

#[test]
fn explanation_mutex_names_the_mutex_and_its_holder() {
    assert_reason(
        "locked",
        Reason::Mutex,
        &["mutex shared", "cluster has-policy"],
    );
}

#[test]
fn explanation_max_parallel_names_sector_mutex_count_and_limit() {
    assert_reason(
        "p-waiting",
        Reason::MaxParallel,
        &["sector p", "allows 1", "mutex pm", "1 upgrading"],
    );
}

#[test]
fn explanation_soak_days_names_soaked_and_needed_per_workload() {
    assert_reason(
        "unsoaked",
        Reason::SoakDays,
        &[
            "4.12.19 soaked 0.00 of 3 days for workload wl;",
            "4.12.19 soaked 0.00 of 3 days for workload wl-2",
        ],
    );
}

#[test]
fn explanation_sector_dependency_names_the_sector_and_its_lowest_version() {
    assert_reason(
        "ahead",
        Reason::SectorDependency,
        &[
            "4.12.19",
            "sector dep",
            "sector s",
            "4.12.10",
            "workload wl",
        ],
    );
}

#[test]
fn explanation_blocked_version_names_pattern_and_version() {
    assert_reason(
        "blocked",
        Reason::BlockedVersion,
        &[r"4.12.19 by ^4\.12\.19$"],
    );
}

#[test]
fn explanation_version_gate_names_the_gates_and_the_minor() {
    assert_reason(
        "gated",
        Reason::VersionGate,
        &[
            "4.13.1",
            "for 4.13",
            "gate-4-13",
            "api.openshift.com/gate-ocp",
        ],
    );
}

/// Issue 15 item 2 (deviation from R94 step 3): a gate whose label has no
/// approver handler still holds the cluster, named, with what the owners do.
#[test]
fn explanation_missing_gate_agreement_names_the_gate_and_the_fix() {
    assert_reason(
        "gated-unknown",
        Reason::MissingGateAgreement,
        &[
            "4.14.1",
            "for 4.14",
            "gate-new-4-14 (api.openshift.com/gate-new)",
            "no approver handler",
            "owners agree to them in OCM",
        ],
    );
}

#[test]
fn explanation_no_upgrades_names_the_current_version() {
    assert_reason("latest", Reason::NoUpgrades, &["no upgrade from 4.12.17"]);
}

#[test]
fn explanation_validation_error_gives_the_messages() {
    assert_reason(
        "bad",
        Reason::ValidationError,
        &["label sre-capabilities.aus.soak-days: expected a whole number >= 0, got \"x\""],
    );
}

#[test]
fn explanation_org_validation_error_counts_and_names_the_problems() {
    assert_reason(
        "good",
        Reason::OrgValidationError,
        &["organization has 1 validation error(s)", "bad-uuid"],
    );
}

#[test]
fn explanation_inherited_version_names_the_source_minimum() {
    assert_reason(
        "inh",
        Reason::InheritedVersion,
        &[
            "4.12.19 is newer than 4.12.5",
            "workload wl",
            "inherits from",
        ],
    );
}

#[test]
fn explanation_not_ready_names_the_state() {
    assert_reason("asleep", Reason::NotReady, &["hibernating"]);
}

// ---------------------------------------------------------------------------
// Bad labels of every kind: the exact message, no panic, the organization frozen.

/// Plan `org-1` with `org_labels`, one valid cluster `good` that is due, and
/// `bad` (if any); assert the organization is frozen (no action, history as
/// stored, `good` skipped for org-validation-error).
fn frozen(org_labels: &[(&str, &str)], bad: Option<C>) -> OrgPlan {
    let mut clusters = vec![C::due("good")];
    clusters.extend(bad);
    let mut d = doc(&[("org-1", org_labels)], &clusters);
    d["version_data"] = json!({"org-1": history(Some("2021-08-29T18:00:00Z"), &[("4.12.17", "wl", 1.0, &["good"])])});
    let fleet = load(&d);
    let plan = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
    let o = org(&plan, "org-1").clone();
    assert!(o.actions.is_empty(), "{:?}", o.actions);
    assert_eq!(o.version_data, fleet.version_data["org-1"]);
    assert!(!o.details.history_updated);
    assert!(o.details.remaining_soak_days.is_empty());
    assert_skipped(&o, "good", Reason::OrgValidationError, &[]);
    o
}

/// The single cluster error message of `bad`.
fn cluster_error(bad: C) -> String {
    let o = frozen(&[], Some(bad));
    assert!(o.validation_errors.organization.is_empty());
    let messages = &o.validation_errors.clusters["bad-uuid"];
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_skipped(&o, "bad", Reason::ValidationError, &[&messages[0]]);
    messages[0].clone()
}

/// The single organization error message for these labels.
fn org_error(org_labels: &[(&str, &str)]) -> String {
    let o = frozen(org_labels, None);
    assert!(o.validation_errors.clusters.is_empty());
    assert_eq!(
        o.validation_errors.organization.len(),
        1,
        "{:?}",
        o.validation_errors
    );
    let message = o.validation_errors.organization[0].clone();
    assert_skipped(&o, "good", Reason::OrgValidationError, &[&message]);
    message
}

#[test]
fn r24_missing_mandatory_label() {
    let cases = [
        (
            "soak-days",
            "label sre-capabilities.aus.soak-days: missing mandatory label (whole number >= 0)",
        ),
        (
            "workloads",
            "label sre-capabilities.aus.workloads: missing mandatory label (comma-separated list, at least one item)",
        ),
        (
            "schedule",
            "label sre-capabilities.aus.schedule: missing mandatory label (cron expression (5 fields, UTC))",
        ),
    ];
    for (setting, message) in cases {
        assert_eq!(cluster_error(C::due("bad").unlabel(setting)), message);
    }
}

#[test]
fn r20_non_numeric_soak_days() {
    assert_eq!(
        cluster_error(C::due("bad").label("soak-days", "abc")),
        "label sre-capabilities.aus.soak-days: expected a whole number >= 0, got \"abc\""
    );
}

#[test]
fn r20_negative_soak_days() {
    assert_eq!(
        cluster_error(C::due("bad").label("soak-days", "-5")),
        "label sre-capabilities.aus.soak-days: expected a whole number >= 0, got \"-5\""
    );
}

#[test]
fn r21_invalid_cron_expression() {
    let cases = [
        (
            "0 48 * * 1-5",
            "label sre-capabilities.aus.schedule: invalid cron expression \"0 48 * * 1-5\": 48 is out of range for the hour field (field 2 of 5: 0-23)",
        ),
        (
            "* * * *",
            "label sre-capabilities.aus.schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 4",
        ),
        // Deviation (R21): six fields (seconds) are rejected.
        (
            "0 0 * * * *",
            "label sre-capabilities.aus.schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 6",
        ),
    ];
    for (expr, message) in cases {
        assert_eq!(
            cluster_error(C::due("bad").label("schedule", expr)),
            message
        );
    }
}

#[test]
fn r87_never_firing_cron_expression_is_rejected_at_validation() {
    // Deviation (R87, §18 G8): the reference accepted it and failed the org later.
    assert_eq!(
        cluster_error(C::due("bad").label("schedule", "0 0 31 2 *")),
        "label sre-capabilities.aus.schedule: cron expression \"0 0 31 2 *\" never fires"
    );
}

#[test]
fn r22_invalid_cluster_regex() {
    // Deviation (R22, §18 G8): patterns are validated when labels are read.
    let message = cluster_error(C::due("bad").label("blocked-versions", r"^4\.12\.(1"));
    assert!(
        message.starts_with(
            r#"label sre-capabilities.aus.blocked-versions: invalid regular expression "^4\\.12\\.(1": "#
        ),
        "{message}"
    );
}

#[test]
fn r22_invalid_organization_regex() {
    let message = org_error(&[("blocked-versions", "ok,[z-a]")]);
    assert!(
        message.starts_with(
            r#"label sre-capabilities.aus.blocked-versions: invalid regular expression "[z-a]": "#
        ),
        "{message}"
    );
}

#[test]
fn r19_r24_empty_workloads() {
    assert_eq!(
        cluster_error(C::due("bad").label("workloads", "")),
        "label sre-capabilities.aus.workloads: expected at least 1 comma-separated item, got \"\""
    );
}

#[test]
fn r37_unknown_sector() {
    let o = frozen(&[], Some(C::due("bad").label("sector", "nowhere")));
    assert_eq!(
        o.validation_errors.organization,
        ["sector nowhere not found in organization"]
    );
    assert_eq!(
        o.validation_errors.clusters["bad-uuid"],
        ["cluster bad-uuid references unknown sector nowhere"]
    );
    assert_skipped(
        &o,
        "bad",
        Reason::ValidationError,
        &["unknown sector nowhere"],
    );
}

#[test]
fn r35_sector_cycle() {
    let o = frozen(
        &[
            ("sector-deps.a", "b"),
            ("sector-deps.b", "c"),
            ("sector-deps.c", "a"),
        ],
        None,
    );
    assert_eq!(
        o.validation_errors.organization,
        [
            "[a] infinite sector dependency loop detected under b dependencies",
            "[b] infinite sector dependency loop detected under c dependencies",
            "[c] infinite sector dependency loop detected under a dependencies",
        ]
    );
}

#[test]
fn r30_r60_bad_max_parallel() {
    // Deviation (R30, R60): validated when read, not when first used.
    for bad in ["lots", "-1", "1.5", "50%%", ""] {
        assert_eq!(
            org_error(&[
                ("sector-deps.a", ""),
                ("sector-max-parallel-upgrades.a", bad)
            ]),
            format!(
                "label sre-capabilities.aus.sector-max-parallel-upgrades.a: expected a whole number >= 0 or a percentage like \"50%\", got {bad:?}"
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn r45_unverified_inheritance() {
    assert_eq!(
        org_error(&[("version-data.inherit", "org-x,org-a")]),
        "Version data inheritance from organizations org-a, org-x are unverified. Ask the owner of these organizations to publish version data to the organization ID org-1. See https://source.redhat.com/groups/public/sre/wiki/advanced_upgrade_service_aus"
    );
}

#[test]
fn r46_r74_self_inheritance() {
    // Deviation (R46, §18 G9): an organization validation error, not a failed pass.
    assert_eq!(
        org_error(&[
            ("version-data.inherit", "org-1"),
            ("version-data.publish", "org-1")
        ]),
        "organization org-1 inherits version data from itself: remove org-1 from its sre-capabilities.aus.version-data.inherit label"
    );
}

#[test]

fn r81_r82_g19_hcp_with_a_pending_node_pool_policy_gets_no_second_policy_under_max_parallel() {
    // §18 G19: the node-pool step runs the max-upgrade check before the
    // existing-policy check; in a sector whose limit for the cluster's own-id
    // mutex is >= 2 (`2`, or a percentage >= 150 % of the one member), a cluster
    // with a pending node-pool policy is not held, so another node-pool policy
    // would be created while one is pending. Deviation: a pending node-pool
    // policy is checked first.
    let pools = json!([
        {"id": "np-1", "version": "4.12.16", "upgrade_policies": [{"id": "pending",
            "version": "4.12.17", "next_run": "2021-08-30T18:30:00Z", "state": "scheduled"}]},
        {"id": "np-2", "version": "4.12.16"}
    ]);
    for limit in ["2", "150%"] {
        let o = plan1(
            &[
                ("sector-deps.s", ""),
                ("sector-max-parallel-upgrades.s", limit),
            ],
            &[hcp("h")
                .label("sector", "s")
                .set("node_pools", pools.clone())],
        );
        assert!(o.actions.is_empty(), "limit {limit}: {:?}", o.actions);
        assert_skipped(&o, "h", Reason::ExistingPolicy, &["pending"]);
    }
}

#[test]
fn r81_a_g19_a_pending_control_plane_policy_does_not_hold_node_pool_catch_up() {
    // The G19 deviation is narrow: only a node-pool policy holds the catch-up.
    // A pending control-plane policy holds the cluster through its own-id
    // mutex (R56) as in the reference, so R81 (a) decides: under a sector
    // max-parallel >= 2 the first pool behind is caught up, like the reference.
    let cluster = || {
        hcp("h")
            .label("sector", "s")
            .set("version", json!("4.12.18"))
            .set(
                "node_pools",
                json!([{"id": "np-1", "version": "4.12.16"}, {"id": "np-2", "version": "4.12.16"}]),
            )
            .policy("pending", "4.12.19", "scheduled")
    };
    for limit in ["2", "150%"] {
        let o = plan1(
            &[
                ("sector-deps.s", ""),
                ("sector-max-parallel-upgrades.s", limit),
            ],
            &[cluster()],
        );
        assert_eq!(o.actions.len(), 1, "limit {limit}: {:?}", o.actions);
        let Action::NodePoolUpgradePolicy {
            node_pool, version, ..
        } = &o.actions[0]
        else {
            panic!("limit {limit}: {:?}", o.actions);
        };
        assert_eq!(
            (node_pool.as_str(), version.to_string().as_str()),
            ("np-1", "4.12.18")
        );
    }
    // Without a max-parallel, the cluster's own pending policy holds its own-id
    // mutex (R57): skipped for its existing policy, nothing booked.
    let o = plan1(&[("sector-deps.s", "")], &[cluster()]);
    assert!(o.actions.is_empty(), "{:?}", o.actions);
    assert_skipped(&o, "h", Reason::ExistingPolicy, &["pending"]);
}

#[test]

fn r57_a_cluster_counts_once_per_mutex_even_if_listed_twice() {
    // R55/R57: `sector_upgrades[(S, m)]` is a set of cluster ids and n(m) counts
    // member clusters, so a mutex listed twice (`m,m`, kept by R19) counts once.
    // Sector s, 50 %: a (m,m, upgrading), b (m, due), c (m), d (m): n(m) = 4 ->
    // limit 2, one upgrading -> b is not held.
    let o = plan1(
        &[
            ("sector-deps.s", ""),
            ("sector-max-parallel-upgrades.s", "50%"),
        ],
        &[
            C::due("a")
                .label("sector", "s")
                .label("mutexes", "m,m")
                .set("version", json!("4.12.18"))
                .policy("p", "4.12.19", "scheduled"),
            C::due("b")
                .label("sector", "s")
                .label("mutexes", "m")
                .set("version", json!("4.12.16")),
            C::due("c")
                .label("sector", "s")
                .label("mutexes", "m")
                .set("available_upgrades", json!([])),
            C::due("d")
                .label("sector", "s")
                .label("mutexes", "m")
                .set("available_upgrades", json!([])),
        ],
    );
    assert_eq!(acted(&o), [("b", "upgrade_policy")], "{:?}", o.clusters);
}

#[test]

fn r53_build_metadata_does_not_order_versions() {
    // §0: build metadata is ignored for ordering and equality, so these two
    // clusters tie on version and the one needing fewer soak days goes first.
    let mut d = doc(
        &[("org-1", &[])],
        &[
            C::due("x")
                .label("mutexes", "m")
                .label("soak-days", "1")
                .set("version", json!("4.12.17+a")),
            C::due("y")
                .label("mutexes", "m")
                .label("soak-days", "0")
                .set("version", json!("4.12.17+b")),
        ],
    );
    d["version_data"] = json!({"org-1": history(None, &[("4.12.19", "wl", 5.0, &[])])});
    let o = org(&plan_doc(&d), "org-1").clone();
    assert_eq!(acted(&o), [("y", "upgrade_policy")]);
    assert_skipped(&o, "x", Reason::Mutex, &["cluster y"]);
}

/// The hostile label of issue 15 item 10: 625 copies of a catastrophically
/// backtracking pattern.
fn hostile_blocked_versions() -> String {
    vec![r"(.?){20}\1.{20}"; 625].join(",")
}

#[test]
fn r22_r32_a_pattern_out_of_its_backtracking_budget_is_an_org_label_error() {
    // Issue 15 item 10: bounded, and a validation error naming the label rather
    // than a pass that takes minutes.
    let started = std::time::Instant::now();
    let message = org_error(&[("blocked-versions", &hostile_blocked_versions())]);
    // Refused when read: it cannot decide even the probe versions in budget.
    assert!(
        message.starts_with(
            r#"label sre-capabilities.aus.blocked-versions: pattern "(.?){20}\\1.{20}" needs more than 10000 backtracking steps to test version 4.16.10"#
        ),
        "{message}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn r22_r32_a_pattern_out_of_budget_on_a_candidate_version_is_an_org_label_error() {
    // Decides typical versions (so it is accepted when read) but not 4.12.19,
    // which the cluster may move to: found while validating, each version once.
    let message = org_error(&[("blocked-versions", r"^4\.12(.?){60}\1.{60}")]);
    assert!(
        message.starts_with(
            r#"label sre-capabilities.aus.blocked-versions: pattern "^4\\.12(.?){60}\\1.{60}" needs more than 10000 backtracking steps to test version 4.12.19"#
        ),
        "{message}"
    );
}

#[test]
fn r22_r32_a_cluster_pattern_out_of_its_budget_is_that_cluster_label_error() {
    let message =
        cluster_error(C::due("bad").label("blocked-versions", &hostile_blocked_versions()));
    assert!(
        message.starts_with("label sre-capabilities.aus.blocked-versions: pattern "),
        "{message}"
    );
}

#[test]
fn r22_look_around_patterns_still_block_within_budget() {
    // The reference's Python `re` has look-around; users rely on it: every
    // 4.12 version but 4.12.18 is blocked, so a gets 4.12.18, not 4.12.19.
    let o = plan1(
        &[("blocked-versions", r"^4\.12\.(?!18$)")],
        &[C::due("a").set("available_upgrades", json!(["4.12.18", "4.12.19"]))],
    );
    let versions: Vec<String> = o
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::UpgradePolicy { version, .. } => Some(version.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(versions, ["4.12.18"], "{:?}", o.clusters);
}

fn warnings(o: &OrgPlan) -> Vec<String> {
    o.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn r33_r89_warnings_for_silent_sector_misconfiguration_never_block() {
    // Issue 15 item 12: a dependency on a sector no cluster is in (typo
    // `stagee`), a max-parallel for an undeclared sector, one over 100 %.
    let o = plan1(
        &[
            ("sector-deps.stage", ""),
            ("sector-deps.prod", "stagee"),
            ("sector-max-parallel-upgrades.prod", "150%"),
            ("sector-max-parallel-upgrades.qa", "1"),
        ],
        &[
            C::due("s").label("sector", "stage"),
            C::due("p").label("sector", "prod"),
        ],
    );
    assert_eq!(
        warnings(&o),
        [
            "label sre-capabilities.aus.sector-deps.prod: sector prod depends on sector stagee, which no cluster is in, so it never waits for it; check the name",
            "label sre-capabilities.aus.sector-max-parallel-upgrades.prod: 150% allows more parallel upgrades than sector prod has clusters, so it limits nothing",
            "label sre-capabilities.aus.sector-max-parallel-upgrades.qa: sector qa is not declared by any sre-capabilities.aus.sector-deps.<name> label, so this limit is ignored",
        ]
    );
    // Never blocking: both clusters are planned as without the warnings.
    assert!(!o.has_validation_errors());
    assert_eq!(
        acted(&o),
        [("s", "upgrade_policy"), ("p", "upgrade_policy")]
    );
    // Not part of the `aus plan` JSON contract.
    let json = serde_json::to_string(&o).unwrap();
    assert!(
        !json.contains("warning") && !json.contains("stagee\","),
        "{json}"
    );
}

#[test]
fn r33_a_well_configured_organization_has_no_warning() {
    let o = plan1(
        &[
            ("sector-deps.stage", ""),
            ("sector-deps.prod", "stage"),
            ("sector-max-parallel-upgrades.prod", "100%"),
        ],
        &[
            C::due("s").label("sector", "stage"),
            C::due("p").label("sector", "prod"),
        ],
    );
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
}

#[test]
fn r43_r45_first_pass_of_an_inheriting_organization_whose_source_has_no_history() {
    // Defined behaviour (issue 15 item 12): the link is verified (R43), so there
    // is no organization error and nothing is blocked; the source adds no soak
    // days until its own first pass has stored its history, so the organization
    // decides on its own soak days only, and gets an informational warning.
    let orgs: &[(&str, &[(&str, &str)])] = &[
        ("org-1", &[("version-data.inherit", "org-2")]),
        ("org-2", &[("version-data.publish", "org-1")]),
    ];
    let mut d = doc(orgs, &[C::due("c").label("soak-days", "5")]);
    // Own soak: 2 days of the 5 needed.
    d["version_data"] = json!({"org-1": history(None, &[("4.12.19", "wl", 2.0, &[])])});
    let first = org(&plan_doc(&d), "org-1").clone();
    assert!(!first.has_validation_errors());
    assert_eq!(
        warnings(&first),
        [
            "label sre-capabilities.aus.version-data.inherit: organization org-2 (prod) has no stored version data yet, so it adds no soak days until AUS has reconciled it"
        ]
    );
    assert!(
        first.actions.is_empty(),
        "2 of 5 soak days: {:?}",
        first.actions
    );
    assert_skipped(&first, "c", Reason::SoakDays, &[]);
    // Once the source has stored history, it counts and the warning is gone.
    d["version_data"]["org-2"] = history(Some(NOW), &[("4.12.19", "wl", 3.0, &["far"])]);
    let later = org(&plan_doc(&d), "org-1").clone();
    assert!(later.warnings.is_empty(), "{:?}", later.warnings);
    assert_eq!(acted(&later), [("c", "upgrade_policy")]);
}
