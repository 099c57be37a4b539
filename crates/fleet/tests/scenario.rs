//! Scenario loader: the format of `spec/scenario.md`, its defaults and its errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use semver::Version;
use srecap_fleet::{
    Cluster, Fleet, LoadError, NodePool, Organization, PolicyState, Product, Release, ScheduleType,
    Stats, UpgradePolicy, VersionData, VersionGate, VersionHistory, WorkloadHistory, load_scenario,
    parse_scenario,
};

fn at(text: &str) -> Timestamp {
    text.parse().expect("valid test instant")
}

fn v(text: &str) -> Version {
    Version::parse(text).expect("valid test version")
}

fn versions(texts: &[&str]) -> Vec<Version> {
    texts.iter().map(|t| v(t)).collect()
}

fn wall_clock() -> Timestamp {
    at("2030-01-01T00:00:00Z")
}

fn load(text: &str) -> Fleet {
    parse_scenario(text, "test.yaml", wall_clock()).unwrap_or_else(|e| panic!("{e}"))
}

/// The error message for a scenario that must not load.
fn error(text: &str) -> String {
    match parse_scenario(text, "x.yaml", wall_clock()) {
        Ok(_) => panic!("scenario should have been refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------
// Defaults and full documents

#[test]
fn minimal_scenario_gets_every_documented_default() {
    let fleet = load(
        "organizations:\n\
         - id: org-a\n\
         clusters:\n\
         - name: prod-1\n\
        \x20 organization: org-a\n\
        \x20 version: 4.14.5\n\
        \x20 upgrade_policies:\n\
        \x20 - id: up-1\n",
    );
    let want = Fleet {
        now: wall_clock(),
        environment: "production".to_owned(),
        organizations: vec![Organization {
            id: "org-a".to_owned(),
            name: "org-a".to_owned(),
            labels: BTreeMap::new(),
        }],
        clusters: vec![Cluster {
            name: "prod-1".to_owned(),
            organization: "org-a".to_owned(),
            id: "prod-1-id".to_owned(),
            external_id: "prod-1-uuid".to_owned(),
            version: v("4.14.5"),
            channel_group: "stable".to_owned(),
            channel: "stable-4.14".to_owned(),
            available_upgrades: Vec::new().into(),
            available_upgrades_explicit: false,
            available_channels: vec![],
            product: Product::Osd,
            hypershift: false,
            sts: false,
            state: "ready".to_owned(),
            healthy: true,
            labels: BTreeMap::new().into(),
            node_pools: vec![],
            upgrade_policies: vec![UpgradePolicy {
                id: "up-1".to_owned(),
                version: None,
                next_run: None,
                state: PolicyState::Scheduled,
                schedule_type: ScheduleType::Manual,
                schedule: None,
            }],
            gate_agreements: vec![],
            auth: srecap_fleet::ClusterAuth::derived("prod-1"),
        }],
        version_gates: vec![],
        releases: vec![],
        version_data: BTreeMap::new(),
        addons: srecap_fleet::Addons::default(),
        sso: srecap_fleet::Sso::default(),
        secrets: srecap_fleet::Secrets::default(),
    };
    assert_eq!(fleet, want);
}

#[test]
fn addons_are_installations_of_catalogue_add_ons() {
    let fleet = load(
        "organizations: [{id: o}]\n\
         addon_catalog: {addon-1: 1.2.5, addon-2: 0.3.0}\n\
         clusters:\n\
         - name: c\n\
        \x20 organization: o\n\
        \x20 version: 4.14.5\n\
        \x20 addons:\n\
        \x20 - {id: addon-1, version: 1.2.3}\n\
        \x20 - id: addon-2\n\
        \x20   version: 0.2.0\n\
        \x20   state: installing\n\
        \x20   upgrade_policies: [{id: p1, version: 0.3.0, next_run: 2026-05-01T10:00:00Z}]\n",
    );
    let addons = &fleet.addons;
    assert_eq!(addons.catalog.get("addon-1"), Some(&v("1.2.5")));
    assert_eq!(addons.installations.len(), 2);
    let first = &addons.installations[0];
    assert_eq!(
        (
            first.cluster_id.as_str(),
            first.addon_id.as_str(),
            &first.version,
            first.state.as_str()
        ),
        ("c-id", "addon-1", &v("1.2.3"), "ready")
    );
    assert_eq!(addons.installations[1].state, "installing");
    assert_eq!(addons.installations[1].upgrade_policies[0].id, "p1");
}

#[test]
fn an_add_on_outside_the_catalogue_names_the_cluster_and_the_add_on() {
    let message = error(
        "organizations: [{id: o}]\n\
         addon_catalog: {addon-1: 1.2.5}\n\
         clusters:\n\
         - name: c\n\
        \x20 organization: o\n\
        \x20 version: 4.14.5\n\
        \x20 addons: [{id: addon-9, version: 1.0.0}]\n",
    );
    assert!(
        message.contains("clusters[0] (name \"c\").addons[0].id"),
        "{message}"
    );
    assert!(
        message.contains("add-on \"addon-9\" is not in addon_catalog"),
        "{message}"
    );
}

#[test]
fn explicit_null_means_the_default() {
    let fleet = load(
        "now:\n\
         organizations:\n\
         - {id: org-a, name: null, labels: null}\n\
         clusters:\n\
         - {name: c, organization: org-a, version: 4.14.5, channel_group: ~, labels: , sts: null}\n",
    );
    assert_eq!(fleet.now, wall_clock());
    assert_eq!(fleet.organizations[0].name, "org-a");
    assert!(fleet.organizations[0].labels.is_empty());
    assert_eq!(fleet.clusters[0].channel, "stable-4.14");
    assert!(fleet.clusters[0].labels.is_empty());
    assert!(!fleet.clusters[0].sts);
}

#[test]
fn every_field_given_is_kept() {
    let fleet = load(
        r#"
now: 2026-11-21T10:00:00+01:00
environment: integration
organizations:
  - id: org-a
    name: Team A
    labels:
      sre-capabilities.aus.blocked-versions: '^4\.15\.1$'
      sre-capabilities.aus.sector-deps.prod: stage
clusters:
  - name: hcp-1
    organization: org-a
    id: 2abc
    external_id: 9f8e-uuid
    version: 4.14.5
    channel_group: fast
    channel: fast-4.15
    available_upgrades: [4.15.0, 4.14.6]
    available_channels: [fast-4.14, fast-4.15]
    product: rosa
    hypershift: true
    sts: true
    state: upgrading
    healthy: false
    labels:
      sre-capabilities.aus.workloads: wl-1
      sre-capabilities.aus.soak-days: 2
      sre-capabilities.aus.schedule: "0 * * * *"
    node_pools:
      - id: workers
        version: 4.14.4
        upgrade_policies:
          - {id: np-1, version: 4.14.5, next_run: 2026-11-21T10:06:00Z, state: pending}
    upgrade_policies:
      - id: up-1
        version: 4.14.6
        next_run: 2026-11-21T12:00:00Z
        state: started
        schedule_type: automatic
        schedule: "0 12 * * *"
    gate_agreements: [gate-ocp-4-15]
version_gates:
  - {id: gate-ocp-4-15, version_raw_id_prefix: "4.15", label: api.openshift.com/gate-ocp}
  - {id: gate-sts-4-15, version_raw_id_prefix: 4.15, label: api.openshift.com/gate-sts, sts_only: true}
releases:
  - {version: 4.14.6, channel_groups: [stable, fast], published: 2026-11-01T00:00:00Z}
version_data:
  org-a:
    check_in: 2026-11-20T10:00:00Z
    versions:
      4.14.5:
        workloads:
          wl-1: {soak_days: 3.5, reporting: [hcp-1]}
      4.14.4:
        workloads:
          wl-1: {}
    stats:
      min_version: 4.14.5
      min_version_per_workload: {wl-1: 4.14.5}
"#,
    );
    assert_eq!(
        fleet.now,
        at("2026-11-21T09:00:00Z"),
        "now is normalised to UTC"
    );
    assert_eq!(fleet.environment, "integration");
    assert_eq!(
        fleet.organizations,
        vec![Organization {
            id: "org-a".to_owned(),
            name: "Team A".to_owned(),
            labels: labels(&[
                ("sre-capabilities.aus.blocked-versions", r"^4\.15\.1$"),
                ("sre-capabilities.aus.sector-deps.prod", "stage"),
            ]),
        }]
    );
    let cluster = &fleet.clusters[0];
    let want = Cluster {
        name: "hcp-1".to_owned(),
        organization: "org-a".to_owned(),
        id: "2abc".to_owned(),
        external_id: "9f8e-uuid".to_owned(),
        version: v("4.14.5"),
        channel_group: "fast".to_owned(),
        channel: "fast-4.15".to_owned(),
        // Kept as given, in the given order: OCM's order is the scenario's.
        available_upgrades: versions(&["4.15.0", "4.14.6"]).into(),
        available_upgrades_explicit: true,
        available_channels: vec!["fast-4.14".to_owned(), "fast-4.15".to_owned()],
        product: Product::Rosa,
        hypershift: true,
        sts: true,
        state: "upgrading".to_owned(),
        healthy: false,
        labels: labels(&[
            ("sre-capabilities.aus.schedule", "0 * * * *"),
            ("sre-capabilities.aus.soak-days", "2"),
            ("sre-capabilities.aus.workloads", "wl-1"),
        ])
        .into(),
        node_pools: vec![NodePool {
            id: "workers".to_owned(),
            version: v("4.14.4"),
            upgrade_policies: vec![UpgradePolicy {
                id: "np-1".to_owned(),
                version: Some(v("4.14.5")),
                next_run: Some(at("2026-11-21T10:06:00Z")),
                state: PolicyState::Pending,
                schedule_type: ScheduleType::Manual,
                schedule: None,
            }],
        }],
        upgrade_policies: vec![UpgradePolicy {
            id: "up-1".to_owned(),
            version: Some(v("4.14.6")),
            next_run: Some(at("2026-11-21T12:00:00Z")),
            state: PolicyState::Started,
            schedule_type: ScheduleType::Automatic,
            schedule: Some("0 12 * * *".to_owned()),
        }],
        gate_agreements: vec!["gate-ocp-4-15".to_owned()],
        auth: srecap_fleet::ClusterAuth::derived("hcp-1"),
    };
    assert_eq!(*cluster, want);
    assert!(cluster.is_hcp());
    assert_eq!(
        fleet.version_gates,
        vec![
            VersionGate {
                id: "gate-ocp-4-15".to_owned(),
                version_raw_id_prefix: "4.15".to_owned(),
                label: "api.openshift.com/gate-ocp".to_owned(),
                sts_only: false,
            },
            VersionGate {
                id: "gate-sts-4-15".to_owned(),
                // A bare 4.15 in YAML is read as written, not as the float 4.15.
                version_raw_id_prefix: "4.15".to_owned(),
                label: "api.openshift.com/gate-sts".to_owned(),
                sts_only: true,
            },
        ]
    );
    assert_eq!(
        fleet.releases,
        vec![Release {
            version: v("4.14.6"),
            channel_groups: vec!["stable".to_owned(), "fast".to_owned()],
            published: at("2026-11-01T00:00:00Z"),
        }]
    );
    let workload = |soak_days: f64, reporting: &[&str]| WorkloadHistory {
        soak_days,
        reporting: reporting.iter().map(|r| (*r).to_owned()).collect(),
    };
    let history = |w: WorkloadHistory| VersionHistory {
        workloads: BTreeMap::from([("wl-1".to_owned(), w)]),
    };
    let want_data = VersionData {
        check_in: Some(at("2026-11-20T10:00:00Z")),
        versions: BTreeMap::from([
            (
                "4.14.5".to_owned(),
                history(workload(3.5, &["hcp-1"])).into(),
            ),
            ("4.14.4".to_owned(), history(workload(0.0, &[])).into()),
        ]),
        stats: Some(Stats {
            min_version: "4.14.5".to_owned(),
            min_version_per_workload: BTreeMap::from([("wl-1".to_owned(), "4.14.5".to_owned())]),
        }),
    };
    assert_eq!(
        fleet.version_data,
        BTreeMap::from([("org-a".to_owned(), want_data)])
    );
}

#[test]
fn label_scalars_become_their_text() {
    let fleet = load(
        "organizations: [{id: o}]\n\
         clusters:\n\
         - name: c\n\
        \x20 organization: o\n\
        \x20 version: 4.14.5\n\
        \x20 labels: {int: 2, float: 2.5, whole-float: 2.0, yes: true, no: false, quoted: '2', text: 50%}\n",
    );
    assert_eq!(
        *fleet.clusters[0].labels,
        labels(&[
            ("float", "2.5"),
            ("int", "2"),
            ("no", "false"),
            ("quoted", "2"),
            ("text", "50%"),
            ("whole-float", "2.0"),
            ("yes", "true"),
        ])
    );
}

#[test]
fn channel_default_follows_channel_group_and_version() {
    let fleet = load(
        "organizations: [{id: o}]\n\
         clusters:\n\
         - {name: a, organization: o, version: 4.16.2, channel_group: eus}\n\
         - {name: b, organization: o, version: 4.15.0-rc.3}\n",
    );
    assert_eq!(fleet.clusters[0].channel, "eus-4.16");
    assert_eq!(fleet.clusters[1].channel, "stable-4.15");
}

#[test]
fn same_cluster_name_in_two_organizations_is_allowed() {
    let fleet = load(
        "organizations: [{id: a}, {id: b}]\n\
         clusters:\n\
         - {name: prod-1, organization: a, version: 4.14.5}\n\
         - {name: prod-1, organization: b, version: 4.14.5, id: b-prod-1}\n",
    );
    assert_eq!(fleet.clusters.len(), 2);
}

#[test]
fn json_text_is_read_as_json() {
    let fleet = load(
        r#"  {"now": "2026-11-21T10:00:00Z",
            "organizations": [{"id": "o", "labels": {"sre-capabilities.aus.soak-days": 3}}],
            "clusters": [{"name": "c", "organization": "o", "version": "4.14.5"}]}"#,
    );
    assert_eq!(fleet.now, at("2026-11-21T10:00:00Z"));
    assert_eq!(
        fleet.organizations[0].labels,
        labels(&[("sre-capabilities.aus.soak-days", "3")])
    );
    assert_eq!(fleet.clusters[0].id, "c-id");
}

#[test]
fn load_scenario_picks_the_format_by_extension() {
    let dir = tempfile::tempdir().expect("temp dir");
    // JSON is valid YAML too; the extension decides which parser reports errors,
    // which shows in the wording of a type error.
    let text = "{\"organizations\": [], \"clusters\": 7}";
    let json = dir.path().join("s.json");
    let yaml = dir.path().join("s.yaml");
    std::fs::write(&json, text).expect("write");
    std::fs::write(&yaml, text).expect("write");
    let json_error = load_scenario(&json, wall_clock()).expect_err("clusters is no list");
    assert_eq!(
        json_error.to_string(),
        format!(
            "{}:1: clusters: invalid type: integer `7`, expected a sequence",
            json.display()
        )
    );
    let yaml_error = load_scenario(&yaml, wall_clock()).expect_err("clusters is no list");
    assert!(
        yaml_error
            .to_string()
            .starts_with(&format!("{}:1: clusters: ", yaml.display())),
        "{yaml_error}"
    );
    assert_ne!(json_error.to_string(), yaml_error.to_string());

    std::fs::write(&yaml, "organizations: [{id: o}]\nclusters: []\n").expect("write");
    let fleet = load_scenario(&yaml, wall_clock()).expect("loads");
    assert_eq!(fleet.organizations.len(), 1);
}

#[test]
fn missing_file_is_an_io_error_naming_the_file() {
    let path = Path::new("/nonexistent/scenario.yaml");
    let error = load_scenario(path, wall_clock()).expect_err("no such file");
    assert!(matches!(error, LoadError::Io { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot read scenario file /nonexistent/scenario.yaml"
    );
    let source = std::error::Error::source(&error).expect("io cause");
    assert!(source.to_string().contains("No such file"), "{source}");
}

// ---------------------------------------------------------------------------
// Errors: exact messages

const ORG: &str = "organizations:\n- id: org-a\n";

#[test]
fn unknown_key_names_its_path() {
    let text = format!(
        "{ORG}clusters:\n\
         - name: c\n\
        \x20 organization: org-a\n\
        \x20 version: 4.14.5\n\
        \x20 lables: {{}}\n"
    );
    assert_eq!(
        error(&text),
        "x.yaml:7: clusters[0].lables: unknown field (expected one of name, organization, id, \
         external_id, version, channel_group, channel, available_upgrades, available_channels, \
         product, hypershift, sts, state, healthy, labels, node_pools, upgrade_policies, \
         gate_agreements, addons, console_url, external_auth, identity_providers)"
    );
    assert_eq!(
        error(&format!("{ORG}clusters: []\nrelease: []\n")),
        "x.yaml:4: release: unknown field (expected one of now, environment, organizations, \
         clusters, version_gates, releases, version_data, addon_catalog, sso, secrets)"
    );
}

#[test]
fn duplicate_cluster_name_in_an_organization() {
    let text = format!(
        "{ORG}clusters:\n\
         - {{name: prod-0, organization: org-a, version: 4.14.5}}\n\
         - {{name: prod-1, organization: org-a, version: 4.14.5}}\n\
         - name: prod-1\n\
        \x20 organization: org-a\n\
        \x20 version: 4.14.5\n"
    );
    assert_eq!(
        error(&text),
        "x.yaml:6: clusters[2] (name \"prod-1\"): duplicate cluster name \"prod-1\" in \
         organization \"org-a\""
    );
}

#[test]
fn cluster_naming_a_missing_organization() {
    let text = format!(
        "{ORG}clusters:\n\
         - name: c\n\
        \x20 version: 4.14.5\n\
        \x20 organization: org-b\n"
    );
    assert_eq!(
        error(&text),
        "x.yaml:6: clusters[0] (name \"c\"): organization \"org-b\" is not defined under \
         organizations"
    );
}

#[test]
fn duplicate_organization_id() {
    assert_eq!(
        error("organizations:\n- id: a\n- id: b\n- id: a\nclusters: []\n"),
        "x.yaml:4: organizations[2].id: duplicate organization id \"a\""
    );
}

#[test]
fn unparsable_versions_everywhere() {
    let cluster = |extra: &str| {
        format!("{ORG}clusters:\n- name: c\n  organization: org-a\n  version: 4.14.5\n{extra}")
    };
    assert_eq!(
        error(&format!(
            "{ORG}clusters:\n- name: c\n  organization: org-a\n  version: 4.14\n"
        )),
        "x.yaml:6: clusters[0].version: \"4.14\" is not a valid semantic version (unexpected \
         end of input while parsing minor version number)"
    );
    assert_eq!(
        error(&cluster("  available_upgrades: [4.14.6, v4.15.0]\n")),
        "x.yaml:7: clusters[0].available_upgrades[1]: \"v4.15.0\" is not a valid semantic \
         version (unexpected character 'v' while parsing major version number)"
    );
    assert_eq!(
        error(&cluster(
            "  product: rosa\n  hypershift: true\n  node_pools:\n  - id: w\n    version: 4.14.x\n"
        )),
        "x.yaml:11: clusters[0].node_pools[0].version: \"4.14.x\" is not a valid semantic \
         version (unexpected character 'x' while parsing patch version number)"
    );
    assert_eq!(
        error(&cluster(
            "  upgrade_policies:\n  - {id: p, version: '4.15'}\n"
        )),
        "x.yaml:8: clusters[0].upgrade_policies[0].version: \"4.15\" is not a valid semantic \
         version (unexpected end of input while parsing minor version number)"
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nreleases:\n- {{version: 4.15.0.1, channel_groups: [stable], \
             published: 2026-11-01T00:00:00Z}}\n"
        )),
        "x.yaml:5: releases[0].version: \"4.15.0.1\" is not a valid semantic version \
         (unexpected character '.' after patch version number)"
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nversion_data:\n  org-a:\n    versions:\n      '4.15':\n        \
             workloads: {{}}\n"
        )),
        "x.yaml:7: version_data.org-a.versions[\"4.15\"]: \"4.15\" is not a valid semantic \
         version (unexpected end of input while parsing minor version number)"
    );
}

#[test]
fn bad_timestamps() {
    assert_eq!(
        error(&format!("now: 2026-11-21 10:00\n{ORG}clusters: []\n")),
        "x.yaml:1: now: \"2026-11-21 10:00\" is not an RFC 3339 timestamp with an offset such \
         as 2026-11-21T10:00:00Z (failed to find offset component, which is required for \
         parsing a timestamp)"
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters:\n- name: c\n  organization: org-a\n  version: 4.14.5\n  \
             upgrade_policies:\n  - id: p\n    next_run: 2026-02-30T10:00:00Z\n"
        )),
        "x.yaml:9: clusters[0].upgrade_policies[0].next_run: \"2026-02-30T10:00:00Z\" is not \
         an RFC 3339 timestamp with an offset such as 2026-11-21T10:00:00Z (parsed date is \
         not valid: parameter 'day' for `2026-02` is invalid, must be in range `1..=28`)"
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nversion_data:\n  org-a:\n    check_in: last tuesday\n"
        )),
        "x.yaml:6: version_data.org-a.check_in: \"last tuesday\" is not a check-in timestamp \
         (failed to parse four digit integer as year: invalid digit, expected 0-9 but got l)"
    );
}

#[test]
fn label_value_that_is_a_map() {
    let text = format!(
        "{ORG}clusters:\n\
         - name: c\n\
        \x20 organization: org-a\n\
        \x20 version: 4.14.5\n\
        \x20 labels:\n\
        \x20   sre-capabilities.aus.workloads:\n\
        \x20     wl-1: yes\n"
    );
    assert_eq!(
        error(&text),
        "x.yaml:9: clusters[0].labels[\"sre-capabilities.aus.workloads\"]: invalid type: map, \
         expected a label value (a string, number or boolean)"
    );
    assert_eq!(
        error("organizations:\n- id: o\n  labels: {a: [1]}\nclusters: []\n"),
        "x.yaml:3: organizations[0].labels.a: invalid type: sequence, expected a label value \
         (a string, number or boolean)"
    );
    assert_eq!(
        error("organizations:\n- id: o\n  labels:\n    a:\nclusters: []\n"),
        "x.yaml:4: organizations[0].labels.a: a label value cannot be null; write \"\" for an \
         empty value"
    );
}

#[test]
fn yaml_duplicate_keys() {
    assert_eq!(
        error(&format!(
            "{ORG}clusters:\n- name: c\n  organization: org-a\n  version: 4.14.5\n  name: d\n"
        )),
        "x.yaml:7: clusters[0]: duplicate key \"name\""
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nversion_data:\n  org-a: {{}}\n  org-a: {{}}\n"
        )),
        "x.yaml:6: version_data: duplicate key \"org-a\""
    );
    assert_eq!(
        error(&format!("{ORG}clusters: []\n{ORG}")),
        "x.yaml:4: duplicate key \"organizations\""
    );
}

#[test]
fn json_errors_carry_lines_too() {
    let unknown = "{\n  \"organizations\": [{\"id\": \"o\"}],\n  \"clusters\": [\n    {\"name\": \
                   \"c\", \"organization\": \"o\",\n     \"version\": \"4.14.5\", \"sts\": \
                   \"yes\"}\n  ]\n}\n";
    assert_eq!(
        error(unknown),
        "x.yaml:5: clusters[0].sts: invalid type: string \"yes\", expected a boolean"
    );
    let duplicate = "{\"organizations\": [{\"id\": \"o\"}], \"clusters\": [],\n \"version_data\": \
                     {\"o\": {},\n  \"o\": {}}}";
    assert_eq!(
        error(duplicate),
        "x.yaml:3: version_data: duplicate key \"o\""
    );
    let duplicate_field = "{\"organizations\": [],\n \"clusters\": [],\n \"clusters\": []}";
    assert_eq!(
        error(duplicate_field),
        "x.yaml:3: duplicate field `clusters`"
    );
    let syntax = "{\"organizations\": [],\n \"clusters\": [,]}";
    assert_eq!(error(syntax), "x.yaml:2: clusters[0]: expected value");
    let trailing = "{\"organizations\": [], \"clusters\": []}\n{}";
    assert_eq!(error(trailing), "x.yaml:2: trailing characters");
    // Checks that need the whole document have no line in JSON (no spans there).
    let missing_org = "{\"organizations\": [],\n \"clusters\": [{\"name\": \"c\", \
                       \"organization\": \"o\", \"version\": \"4.14.5\"}]}";
    assert_eq!(
        error(missing_org),
        "x.yaml: clusters[0] (name \"c\"): organization \"o\" is not defined under \
         organizations"
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        error(&format!(
            "{ORG}clusters:\n- name: c\n  organization: org-a\n"
        )),
        // The parser notices at the end of the cluster's mapping.
        "x.yaml:5: clusters[0].version: missing required field"
    );
    assert_eq!(
        error("organizations: []\n"),
        "x.yaml:1: clusters: missing required field"
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nreleases:\n- {{version: 4.15.0, published: \
             2026-11-01T00:00:00Z}}\n"
        )),
        "x.yaml:5: releases[0].channel_groups: missing required field"
    );
    assert_eq!(
        error("  \n"),
        "x.yaml: the scenario is empty (expected at least organizations and clusters)"
    );
}

#[test]
fn node_pools_only_on_rosa_hcp() {
    let text = format!(
        "{ORG}clusters:\n\
         - name: c\n\
        \x20 organization: org-a\n\
        \x20 version: 4.14.5\n\
        \x20 hypershift: true\n\
        \x20 node_pools:\n\
        \x20 - id: workers\n\
        \x20   version: 4.14.5\n"
    );
    assert_eq!(
        error(&text),
        "x.yaml:9: clusters[0] (name \"c\"): node_pools are only allowed on ROSA hosted \
         control plane clusters (product: rosa and hypershift: true)"
    );
    // An empty list says nothing wrong.
    load(&format!(
        "{ORG}clusters:\n- {{name: c, organization: org-a, version: 4.14.5, node_pools: []}}\n"
    ));
    assert_eq!(
        error(&format!(
            "{ORG}clusters:\n- name: c\n  organization: org-a\n  version: 4.14.5\n  product: \
             rosa\n  hypershift: true\n  node_pools:\n  - {{id: w, version: 4.14.5}}\n  - {{id: \
             w, version: 4.14.5}}\n"
        )),
        "x.yaml:11: clusters[0] (name \"c\").node_pools[1].id: duplicate node pool id \"w\""
    );
}

#[test]
fn version_data_of_an_unknown_organization() {
    let text = format!(
        "{ORG}clusters: []\n\
         version_data:\n\
        \x20 org-a: {{}}\n\
        \x20 org-b:\n\
        \x20   check_in: 2026-11-20T10:00:00Z\n"
    );
    assert_eq!(
        error(&text),
        "x.yaml:6: version_data.org-b: organization \"org-b\" is not defined under organizations"
    );
}

#[test]
fn other_value_checks() {
    let cluster = |extra: &str| {
        format!("{ORG}clusters:\n- name: c\n  organization: org-a\n  version: 4.14.5\n{extra}")
    };
    assert_eq!(
        error(&cluster("  product: aro\n")),
        "x.yaml:7: clusters[0].product: \"aro\" is not a product (expected osd or rosa)"
    );
    assert_eq!(
        error(&cluster(
            "  upgrade_policies:\n  - {id: p, schedule_type: sometimes}\n"
        )),
        "x.yaml:8: clusters[0].upgrade_policies[0].schedule_type: \"sometimes\" is not a \
         schedule type (expected manual or automatic)"
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nversion_gates:\n- {{id: g, version_raw_id_prefix: 4.15.0, \
             label: l}}\n"
        )),
        "x.yaml:5: version_gates[0].version_raw_id_prefix: \"4.15.0\" is not a \
         <major>.<minor> version prefix such as \"4.15\""
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nversion_gates:\n- {{id: g, version_raw_id_prefix: '4.15', \
             label: l}}\n- {{id: g, version_raw_id_prefix: '4.16', label: l}}\n"
        )),
        "x.yaml:6: version_gates[1].id: duplicate version gate id \"g\""
    );
    assert_eq!(
        error(&format!(
            "{ORG}clusters: []\nversion_data:\n  org-a:\n    versions:\n      4.15.1:\n        \
             workloads:\n          wl: {{soak_days: -0.5}}\n"
        )),
        "x.yaml:9: version_data.org-a.versions[\"4.15.1\"].workloads.wl.soak_days: -0.5 is \
         not a soak-day count (expected a non-negative number)"
    );
    assert_eq!(
        error(&format!("{ORG}clusters: []\n---\n{ORG}clusters: []\n")),
        "x.yaml:5: a scenario is a single YAML document, but another one starts here"
    );
}

// ---------------------------------------------------------------------------
// available_upgrades derived from releases

const CATALOG: &str = r"
releases:
  - {version: 4.15.2, channel_groups: [stable], published: 2026-10-01T00:00:00Z}
  - {version: 4.15.3, channel_groups: [stable], published: 2026-10-02T00:00:00Z}
  - {version: 4.15.10, channel_groups: [stable, fast], published: 2026-10-20T00:00:00Z}
  - {version: 4.15.9, channel_groups: [stable], published: 2026-10-19T00:00:00Z}
  - {version: 4.16.0, channel_groups: [stable], published: 2026-11-01T00:00:00Z}
  - {version: 4.16.0-rc.2, channel_groups: [stable], published: 2026-10-15T00:00:00Z}
  - {version: 4.16.0-rc.10, channel_groups: [stable], published: 2026-10-16T00:00:00Z}
  - {version: 4.16.1, channel_groups: [fast], published: 2026-11-02T00:00:00Z}
  - {version: 4.16.2, channel_groups: [stable], published: 2026-11-21T10:00:00Z}
  - {version: 4.16.3, channel_groups: [stable], published: 2026-11-21T10:00:01Z}
  - {version: 4.17.0, channel_groups: [stable], published: 2026-11-01T00:00:00Z}
  - {version: 5.0.0, channel_groups: [stable], published: 2026-11-01T00:00:00Z}
";

fn catalog_fleet(clusters: &str) -> Fleet {
    load(&format!(
        "now: 2026-11-21T10:00:00Z\n{ORG}clusters:\n{clusters}{CATALOG}"
    ))
}

#[test]
fn available_upgrades_are_derived_from_releases() {
    let fleet = catalog_fleet("- {name: c, organization: org-a, version: 4.15.3}\n");
    let cluster = &fleet.clusters[0];
    assert!(!cluster.available_upgrades_explicit);
    // Excluded: 4.15.2 (older), 4.15.3 (equal), 4.16.1 (fast only), 4.16.3 (published
    // after now), 4.17.0 (x.y+2), 5.0.0 (next major). Included: published exactly at
    // now. Order is semver: 4.15.9 < 4.15.10, rc.2 < rc.10 < 4.16.0.
    assert_eq!(
        cluster.available_upgrades.to_vec(),
        versions(&[
            "4.15.9",
            "4.15.10",
            "4.16.0-rc.2",
            "4.16.0-rc.10",
            "4.16.0",
            "4.16.2"
        ])
    );
    // Future releases stay in the catalog; they are just not available yet.
    assert_eq!(fleet.releases.len(), 12);
}

#[test]
fn derivation_uses_the_clusters_channel_group() {
    let fleet = catalog_fleet(
        "- {name: c, organization: org-a, version: 4.15.3, channel_group: fast}\n\
         - {name: d, organization: org-a, version: 4.16.0, channel_group: candidate}\n",
    );
    assert_eq!(
        fleet.clusters[0].available_upgrades.to_vec(),
        versions(&["4.15.10", "4.16.1"])
    );
    assert_eq!(fleet.clusters[1].available_upgrades.to_vec(), vec![]);
}

#[test]
fn explicit_available_upgrades_win_over_releases() {
    let fleet = catalog_fleet(
        "- {name: c, organization: org-a, version: 4.15.3, available_upgrades: []}\n",
    );
    assert!(fleet.clusters[0].available_upgrades_explicit);
    assert_eq!(fleet.clusters[0].available_upgrades.to_vec(), vec![]);
}

#[test]
fn moving_now_refreshes_derived_upgrades_only() {
    let mut fleet = catalog_fleet(
        "- {name: c, organization: org-a, version: 4.16.0}\n\
         - {name: d, organization: org-a, version: 4.16.0, available_upgrades: [4.16.2]}\n",
    );
    assert_eq!(
        fleet.clusters[0].available_upgrades.to_vec(),
        versions(&["4.16.2", "4.17.0"])
    );
    fleet.now = at("2026-12-01T00:00:00Z");
    fleet.refresh_available_upgrades();
    assert_eq!(
        fleet.clusters[0].available_upgrades.to_vec(),
        versions(&["4.16.2", "4.16.3", "4.17.0"])
    );
    assert_eq!(
        fleet.clusters[1].available_upgrades.to_vec(),
        versions(&["4.16.2"])
    );
}

// ---------------------------------------------------------------------------
// check_in shapes (R64)

#[test]
fn check_in_accepts_old_and_new_shapes() {
    let shapes = [
        ("2021-08-30T18:00:00Z", "2021-08-30T18:00:00Z"),
        ("2021-08-30T18:00:00.123456Z", "2021-08-30T18:00:00.123456Z"),
        ("2021-08-30T20:00:00+02:00", "2021-08-30T18:00:00Z"),
        ("2021-08-30T18:00:00", "2021-08-30T18:00:00Z"),
        ("2021-08-30 18:00:00", "2021-08-30T18:00:00Z"),
        ("2021-08-30 18:00:00.5", "2021-08-30T18:00:00.5Z"),
    ];
    for (written, want) in shapes {
        let fleet = load(&format!(
            "{ORG}clusters: []\nversion_data:\n  org-a:\n    check_in: '{written}'\n"
        ));
        assert_eq!(
            fleet.version_data["org-a"].check_in,
            Some(at(want)),
            "{written}"
        );
    }
    let fleet = load(&format!(
        "{ORG}clusters: []\nversion_data:\n  org-a: {{}}\n"
    ));
    assert_eq!(fleet.version_data["org-a"], VersionData::default());
}

// ---------------------------------------------------------------------------
// Checked-in scenarios

/// The golden fleets of `tests/fixtures/aus-plan`: every one loads, with as many
/// organizations and clusters as its header comment says.
#[test]
fn every_golden_fixture_loads() {
    let dir = repo_root().join("tests/fixtures/aus-plan");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 40, "expected the 40 ref-*.yaml fixtures");
    for path in paths {
        let fleet = load_scenario(&path, wall_clock()).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).expect("readable");
        // "# randomized fleet seed 1101: 3 org(s), 90 clusters, 4 gates, ..."
        let header = text.lines().next().expect("header line");
        let count = |unit: &str| -> usize {
            let end = header.find(unit).unwrap_or_else(|| panic!("{header}"));
            let start = header[..end - 1].rfind(' ').expect("number") + 1;
            header[start..end - 1].parse().expect("count")
        };
        let name = path.display();
        assert_eq!(fleet.organizations.len(), count("org(s)"), "{name}");
        assert_eq!(fleet.clusters.len(), count("clusters"), "{name}");
        assert_eq!(fleet.version_gates.len(), count("gates"), "{name}");
        assert_ne!(fleet.now, wall_clock(), "{name}: now comes from the file");
        assert!(
            fleet.clusters.iter().all(|c| c.available_upgrades_explicit),
            "{name}: fixtures list upgrades"
        );
    }
}

/// `examples/fleet.yaml`, the demo fleet: it loads, and keeps the shape the demo
/// relies on.
#[test]
fn example_fleet_loads() {
    let path = repo_root().join("examples/fleet.yaml");
    let fleet = load_scenario(&path, wall_clock()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fleet.now, at("2026-11-20T22:00:00Z"));
    assert_eq!(fleet.organizations.len(), 3);
    assert_eq!(fleet.clusters.len(), 60);

    let sector = |c: &Cluster| c.labels.get("sre-capabilities.aus.sector").cloned();
    for name in ["dev", "stage", "prod"] {
        let n = fleet
            .clusters
            .iter()
            .filter(|c| sector(c).as_deref() == Some(name))
            .count();
        assert!(n >= 10, "{n} clusters in sector {name}");
    }
    let hcp: Vec<&Cluster> = fleet.clusters.iter().filter(|c| c.is_hcp()).collect();
    assert!(hcp.len() >= 5, "{} ROSA HCP clusters", hcp.len());
    assert!(hcp.iter().all(|c| !c.node_pools.is_empty()));
    assert!(
        fleet
            .clusters
            .iter()
            .any(|c| c.product == Product::Rosa && !c.hypershift)
    );
    assert!(fleet.clusters.iter().any(|c| c.product == Product::Osd));

    // Releases flow during a long simulation: some are still to be published.
    let published = |c: &Cluster| {
        fleet
            .releases
            .iter()
            .any(|r| r.version == c.version && r.published <= fleet.now)
    };
    assert!(
        fleet.clusters.iter().all(published),
        "clusters run released versions"
    );
    let future = fleet
        .releases
        .iter()
        .filter(|r| r.published > fleet.now)
        .count();
    assert!(future >= 8, "{future} releases after now");
    // Upgrades come from the catalog, never listed by hand.
    assert!(
        fleet
            .clusters
            .iter()
            .all(|c| !c.available_upgrades_explicit)
    );
    let behind = fleet
        .clusters
        .iter()
        .filter(|c| !c.available_upgrades.is_empty())
        .count();
    assert!(behind >= 40, "{behind} clusters have upgrades available");

    let org_labels = |id: &str| &fleet.organization(id).expect("org exists").labels;
    assert_eq!(
        org_labels("org-data")["sre-capabilities.aus.version-data.inherit"],
        "org-platform"
    );
    assert_eq!(
        org_labels("org-platform")["sre-capabilities.aus.version-data.publish"],
        "org-data"
    );
    assert_eq!(
        org_labels("org-platform")["sre-capabilities.aus.sector-max-parallel-upgrades.prod"],
        "50%"
    );
    assert_eq!(fleet.version_data.len(), 3);
    assert!(
        fleet
            .version_data
            .values()
            .all(|d| d.check_in.is_some() && !d.versions.is_empty())
    );
}

/// `docs/scenario.md` stays true: its example loads, and every field of the
/// format it documents in its tables is one the loader accepts (a field the
/// loader does not know would be refused in the example's place).
#[test]
fn the_documented_example_loads_with_every_documented_default() {
    let doc = std::fs::read_to_string(repo_root().join("docs/scenario.md")).unwrap();
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/scenario.md has a YAML example");
    let fleet = load(example);
    assert_eq!(fleet.environment, "production");
    let prod = fleet.clusters.iter().find(|c| c.name == "prod-1").unwrap();
    assert_eq!(prod.id, "prod-1-id");
    assert_eq!(prod.external_id, "prod-1-uuid");
    assert_eq!(prod.channel, "stable-4.14");
    assert_eq!(prod.available_upgrades.to_vec(), versions(&["4.14.6"]));
    assert_eq!(fleet.addons.installations[0].addon_id, "logging");
    assert_eq!(fleet.addons.installations[0].state, "ready");
    assert!(fleet.version_data.contains_key("org-a"));
}

// ---------------------------------------------------------------------------
// rhidp scenario keys (rhidp.md I80)

const RHIDP: &str = "\
organizations:
- id: org-a
clusters:
- name: c1
  organization: org-a
  version: 4.14.5
  console_url: https://console-openshift-console.apps.c1.abcd.p1.openshiftapps.com
  identity_providers:
  - {id: idp-1, type: GithubIdentityProvider, name: github, mapping_method: claim}
  - {id: idp-2, type: OpenIDIdentityProvider, name: redhat-sso, client_id: c1-org-a-redhat-sso-auth.redhat.com, issuer: 'https://auth.redhat.com/auth/realms/EmployeeIDP', groups_claim: [filtered_groups]}
- name: c2
  organization: org-a
  version: 4.14.5
- name: c3
  organization: org-a
  version: 4.14.5
  console_url: null
  external_auth: true
sso:
  realms:
  - issuer: https://auth.redhat.com/auth/realms/EmployeeIDP
    allowed_scopes: [web-origins, acr, profile, roles, email, regex-filtered-groups]
    iat: {expires: 2031-01-01T00:00:00Z, count: 1000}
    clients:
    - {client_id: c9-org-a-redhat-sso-auth.redhat.com, secret: s3cr3t, redirect_uris: ['https://oauth-openshift.apps.c9.x.p1.openshiftapps.com/oauth2callback/redhat-sso'], attributes: {group-filter-regex: '^ai-.*'}, rat: rat-1}
  - issuer: https://sso.stage.redhat.com/auth/realms/Stage
secrets:
  rhidp/production:
    c9-org-a-redhat-sso-auth.redhat.com: {client_id: c9-org-a-redhat-sso-auth.redhat.com, client_secret: s3cr3t}
";

#[test]
fn i80_rhidp_keys_load_with_their_defaults() {
    use srecap_fleet::identity::{default_console_url, realm_name};

    let fleet = load(RHIDP);
    let c1 = &fleet.clusters[0].auth;
    assert_eq!(
        c1.console_url.as_deref(),
        Some("https://console-openshift-console.apps.c1.abcd.p1.openshiftapps.com")
    );
    assert!(!c1.external_auth);
    assert_eq!(c1.identity_providers.len(), 2);
    let github = &c1.identity_providers[0];
    assert_eq!(
        (
            github.id.as_str(),
            github.idp_type.as_str(),
            github.name.as_str()
        ),
        ("idp-1", "GithubIdentityProvider", "github")
    );
    assert!(github.open_id.is_none());
    let oidc = c1.identity_providers[1].open_id.as_ref().expect("open_id");
    assert_eq!(oidc.client_id, "c1-org-a-redhat-sso-auth.redhat.com");
    assert_eq!(
        oidc.issuer,
        "https://auth.redhat.com/auth/realms/EmployeeIDP"
    );
    assert_eq!(oidc.claims["groups"], vec!["filtered_groups".to_owned()]);
    assert_eq!(
        oidc.claims["preferred_username"],
        vec!["preferred_username".to_owned()]
    );
    // mapping_method defaults to claim (I75).
    assert_eq!(c1.identity_providers[1].mapping_method, "claim");

    // Absent console_url: derived from the name; null: none.
    let c2 = &fleet.clusters[1].auth;
    assert_eq!(c2.console_url, Some(default_console_url("c2")));
    assert!(c2.identity_providers.is_empty());
    let c3 = &fleet.clusters[2].auth;
    assert_eq!(c3.console_url, None);
    assert!(c3.external_auth);

    let realm = &fleet.sso.realms[0];
    assert_eq!(realm.name(), Some("EmployeeIDP"));
    assert_eq!(realm.initial_access_tokens[0].count, 1000);
    assert_eq!(realm.clients[0].rat, "rat-1");
    assert_eq!(realm.clients[0].attributes["group-filter-regex"], "^ai-.*");
    assert!(realm.echo_attributes);
    assert_eq!(realm.unknown_client_status, 401);
    // A realm without allowed_scopes allows the capability's scopes (I21).
    let stage = &fleet.sso.realms[1];
    assert_eq!(realm_name(&stage.issuer), Some("Stage"));
    assert!(
        stage
            .allowed_scopes
            .contains(&"regex-filtered-groups".to_owned())
    );
    assert!(stage.initial_access_tokens.is_empty());

    let record = &fleet.secrets["rhidp/production"]["c9-org-a-redhat-sso-auth.redhat.com"];
    assert_eq!(record["client_secret"], "s3cr3t");
}

#[test]
fn i80_a_scenario_iat_without_token_gets_a_jwt_with_its_expiry() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let fleet = load(RHIDP);
    let iat = &fleet.sso.realms[0].initial_access_tokens[0];
    let claims = iat.token.split('.').nth(1).expect("JWT-shaped");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON");
    assert_eq!(claims["exp"], at("2031-01-01T00:00:00Z").as_second());
}

#[test]
fn i80_scenarios_without_rhidp_keys_still_load() {
    let fleet = load("organizations:\n- id: o\nclusters: []\n");
    assert!(fleet.sso.is_empty());
    assert!(fleet.secrets.is_empty());
}

#[test]
fn i80_unknown_rhidp_keys_are_errors_naming_the_field() {
    let idp = RHIDP.replace(
        "mapping_method: claim}",
        "mapping_method: claim, secret: x}",
    );
    let message = error(&idp);
    assert!(
        message.contains("clusters[0].identity_providers[0].secret: unknown field"),
        "{message}"
    );
    let realm = RHIDP.replace("count: 1000}", "count: 1000, max: 3}");
    let message = error(&realm);
    assert!(
        message.contains("sso.realms[0].iat.max: unknown field"),
        "{message}"
    );
    let top = format!("{RHIDP}vault: {{}}\n");
    let message = error(&top);
    assert!(message.contains("vault: unknown field"), "{message}");
}

#[test]
fn i80_identity_providers_are_validated() {
    let cases = [
        (
            "type: GithubIdentityProvider, name: github",
            "type: GitHub, name: github",
            "identity_providers[0].type: \"GitHub\" is not an identity provider type",
        ),
        (
            "name: github, mapping_method: claim",
            "name: github, mapping_method: merge",
            "identity_providers[0].mapping_method: \"merge\" is not a mapping method",
        ),
        (
            "name: github,",
            "name: redhat-sso,",
            "identity_providers[1].name: duplicate identity provider name \"redhat-sso\"",
        ),
        (
            "name: github,",
            "name: git hub,",
            "identity_providers[0].name: \"git hub\" is not an identity provider name",
        ),
        (
            ", issuer: 'https://auth.redhat.com/auth/realms/EmployeeIDP'",
            "",
            "identity_providers[1].type: an OpenIDIdentityProvider needs client_id and issuer",
        ),
        (
            "mapping_method: claim}",
            "mapping_method: claim, client_id: x}",
            "identity_providers[0].client_id: only an OpenIDIdentityProvider takes client_id",
        ),
        (
            "issuer: https://sso.stage.redhat.com/auth/realms/Stage",
            "issuer: https://auth.redhat.com/auth/realms/EmployeeIDP",
            "sso.realms[1].issuer: duplicate realm \"EmployeeIDP\"",
        ),
        (
            "issuer: https://sso.stage.redhat.com/auth/realms/Stage",
            "issuer: https://sso.stage.redhat.com/auth",
            "is not a realm URL",
        ),
    ];
    for (from, to, want) in cases {
        let text = RHIDP.replacen(from, to, 1);
        assert_ne!(text, RHIDP, "{from}");
        let message = error(&text);
        assert!(message.contains(want), "{message}\nwanted: {want}");
    }
}
