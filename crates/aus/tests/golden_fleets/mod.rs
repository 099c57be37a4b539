//! The 40 golden fleets of `tests/fixtures/aus-plan`, for tests that plan
//! them in other ways than `golden.rs` (a fact-reading loop, a label cache
//! kept across passes) and compare with a plain plan.

use std::path::PathBuf;

use jiff::Timestamp;
use srecap_aus::planner::{Faults, OrgInput};
use srecap_aus::soak::Source;
use srecap_fleet::{Cluster, Fleet, Organization, VersionData};

/// Every golden fleet, by file name, with the file's path.
pub fn golden_fleets() -> Vec<(PathBuf, Fleet)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aus-plan");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let fleet = srecap_fleet::parse_scenario(
                &text,
                &path.display().to_string(),
                Timestamp::UNIX_EPOCH,
            )
            .unwrap();
            (path, fleet)
        })
        .collect()
}

/// The planner's input for `org` of `fleet` over `clusters`, as `aus plan`
/// builds it (inherited histories from the fleet; `empty` stands for a source
/// without one).
pub fn org_input<'a>(
    fleet: &'a Fleet,
    org: &'a Organization,
    clusters: Vec<&'a Cluster>,
    empty: &'a VersionData,
) -> OrgInput<'a> {
    OrgInput {
        environment: &fleet.environment,
        org,
        clusters,
        history: fleet.version_data.get(&org.id),
        sources: Source::verified(fleet, &[], empty),
        extra_org_errors: Vec::new(),
        version_gates: &fleet.version_gates,
        now: fleet.now,
        faults: Faults::default(),
    }
}
