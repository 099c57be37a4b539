//! `srecap_aus::planner::ParsedLabels` kept across passes: an entry is used
//! only while its labels are the same, so a reconciler that keeps one per
//! organization for ever plans exactly as one that parses every time.
//!
//! The 40 golden fleets are planned one after the other as if they were
//! passes of one reconciler: organization and cluster ids repeat across the
//! fleets with other labels, versions and histories.

mod golden_fleets;

use std::collections::{BTreeMap, HashMap};

use srecap_aus::planner::{ParsedLabels, PlanOptions, plan_org_parsed, plan_org_with};
use srecap_fleet::{Cluster, VersionData};

#[test]
fn parsed_labels_kept_across_passes_plan_as_parsing_afresh_on_every_golden_fleet() {
    let fleets = golden_fleets::golden_fleets();
    assert_eq!(fleets.len(), 40);
    let mut kept: HashMap<String, ParsedLabels> = HashMap::new();
    let mut seen: HashMap<(String, String), BTreeMap<String, String>> = HashMap::new();
    let (mut relabelled, mut planned) = (0, 0);
    for (path, fleet) in &fleets {
        let empty = VersionData::default();
        for org in &fleet.organizations {
            let clusters: Vec<&Cluster> = fleet
                .clusters
                .iter()
                .filter(|c| c.organization == org.id && c.state == "ready")
                .collect();
            for c in &clusters {
                let key = (org.id.clone(), c.id.clone());
                if seen.get(&key).is_some_and(|l| *l != *c.labels) {
                    relabelled += 1;
                }
                seen.insert(key, (*c.labels).clone());
            }
            let input = golden_fleets::org_input(fleet, org, clusters, &empty);
            let parsed = kept.entry(org.id.clone()).or_default();
            parsed.start_pass();
            for options in [
                PlanOptions {
                    validate_only: true,
                    ..PlanOptions::default()
                },
                PlanOptions::default(),
            ] {
                let cached = plan_org_parsed(&input, options, parsed);
                let fresh = plan_org_with(&input, options);
                let what = format!("{}: organization {}", path.display(), org.id);
                assert_eq!(
                    serde_json::to_value(&cached).unwrap(),
                    serde_json::to_value(&fresh).unwrap(),
                    "{what}"
                );
                assert_eq!(
                    cached.details.valid_clusters, fresh.details.valid_clusters,
                    "{what}"
                );
                planned += 1;
            }
        }
    }
    assert!(planned > 80);
    // Ids do come back with other labels: the cache had to notice.
    assert!(relabelled > 0, "no cluster came back with other labels");
}
