use super::*;

const DOC: &str = r#"apiVersion: srecap/v1
kind: AusConfiguration
organization: org-a
settings:
  blocked_versions: ['^4\.16\.3$']
  sectors:
    stage:
      depends_on: []
    prod:
      depends_on: [stage]
      max_parallel: 50%
  version_data:
    publish: [org-b]
clusters:
  stage-1:
    workloads: [api]
    schedule: nightly
    soak_days: 0
    sector: stage
    mutexes: [eu]
  prod-1:
    workloads: [api, web]
    schedule: "0 3 * * 1-5"
    soak_days: 5
    sector: prod
"#;

fn state() -> State {
    let cluster = |name: &str, sub: &str| ClusterLabels {
        name: name.into(),
        cluster_id: Some(format!("{name}-id")),
        external_id: Some(format!("{name}-uuid")),
        subscription_id: sub.into(),
        labels: BTreeMap::from([("owner".to_owned(), "team".to_owned())]),
    };
    State {
        org_id: "org-a".into(),
        org_labels: BTreeMap::from([("other.label".to_owned(), "x".to_owned())]),
        clusters: vec![cluster("stage-1", "s1"), cluster("prod-1", "s2")],
        publishers: BTreeMap::new(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (key(k), (*v).to_owned()))
        .collect()
}

#[test]
fn a_document_renders_exactly_the_labels_it_declares() {
    let doc = Configuration::parse("c.yaml", DOC).unwrap();
    let (org, clusters) = doc.labels();
    assert_eq!(
        org,
        labels(&[
            ("blocked-versions", r"^4\.16\.3$"),
            ("sector-deps.prod", "stage"),
            ("sector-deps.stage", ""),
            ("sector-max-parallel-upgrades.prod", "50%"),
            ("version-data.publish", "org-b"),
        ])
    );
    assert_eq!(
        clusters["stage-1"],
        labels(&[
            ("mutexes", "eu"),
            ("schedule", "0 2 * * *"),
            ("sector", "stage"),
            ("soak-days", "0"),
            ("workloads", "api"),
        ])
    );
    assert_eq!(clusters["prod-1"][&key(WORKLOADS)], "api,web");
}

#[test]
fn presets_expand_to_documented_cron() {
    for (name, cron) in [
        ("anytime", "* * * * *"),
        ("weekdays", "0 * * * 1-5"),
        ("weekends", "0 * * * 0,6"),
        ("nightly", "0 2 * * *"),
    ] {
        assert_eq!(Schedule::try_from(name.to_owned()).unwrap().as_str(), cron);
        assert!(CronSchedule::parse(cron).is_ok());
    }
    assert!(Schedule::try_from("sometimes".to_owned()).is_err());
}

#[test]
fn document_errors_name_file_line_and_field() {
    let bad = DOC.replace("\"0 3 * * 1-5\"", "\"0 48 * * *\"");
    let errors = Configuration::parse("c.yaml", &bad).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.starts_with("c.yaml:23: clusters.prod-1.schedule: "),
        "{text}"
    );

    let bad = DOC.replace("soak_days: 5", "soak_dayz: 5");
    let text = Configuration::parse("c.yaml", &bad).unwrap_err()[0].to_string();
    assert!(text.starts_with("c.yaml:24: clusters.prod-1"), "{text}");
    assert!(text.contains("soak_dayz"), "{text}");

    let bad = DOC.replace("apiVersion: srecap/v1", "apiVersion: srecap/v9");
    let text = Configuration::parse("c.yaml", &bad).unwrap_err()[0].to_string();
    assert_eq!(
        text,
        "c.yaml:1: apiVersion: unsupported version \"srecap/v9\" (expected \"srecap/v1\")"
    );

    let bad = DOC.replace("sector: prod", "sector: qa");
    let text = Configuration::parse("c.yaml", &bad).unwrap_err()[0].to_string();
    assert!(
        text.starts_with("c.yaml:25: clusters.prod-1.sector: sector \"qa\" is not declared"),
        "{text}"
    );

    let bad = DOC.replace("workloads: [api]", "workloads: ['a,b']");
    let text = Configuration::parse("c.yaml", &bad).unwrap_err()[0].to_string();
    assert!(text.contains("clusters.stage-1.workloads"), "{text}");
    assert!(text.contains("comma"), "{text}");
}

#[test]
fn cycles_are_named() {
    let bad = DOC.replace("depends_on: []", "depends_on: [prod]");
    let errors = Configuration::parse("c.yaml", &bad).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.contains("sector dependency cycle: prod -> stage -> prod"),
        "{text}"
    );
    assert!(text.contains("settings.sectors.prod.depends_on"), "{text}");

    let deps = BTreeMap::from([
        ("a".to_owned(), vec!["b".to_owned()]),
        ("b".to_owned(), vec!["c".to_owned()]),
        ("c".to_owned(), vec!["a".to_owned()]),
    ]);
    assert_eq!(find_cycle(&deps).unwrap(), ["a", "b", "c", "a"]);
    let deps = BTreeMap::from([
        ("a".to_owned(), vec!["b".to_owned(), "c".to_owned()]),
        ("b".to_owned(), vec!["c".to_owned()]),
        ("c".to_owned(), vec![]),
    ]);
    assert_eq!(find_cycle(&deps), None);
}

#[test]
fn json_documents_are_read_too() {
    let json = r#"{"apiVersion": "srecap/v1", "kind": "AusConfiguration", "organization": "o",
      "clusters": {"c": {"workloads": ["w"], "schedule": "weekdays", "soak_days": -1}}}"#;
    let text = Configuration::parse("c.json", json).unwrap_err()[0].to_string();
    assert!(
        text.starts_with("c.json:2: clusters.c.soak_days: "),
        "{text}"
    );
}

#[test]
fn apply_diff_and_prune_touch_only_aus_labels() {
    let doc = Configuration::parse("c.yaml", DOC).unwrap();
    let before = state();
    let after = before.with_document(&doc, false).unwrap();
    assert!(after.introduced_problems(&before).is_empty());
    let changes = before.changes(&after);
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .flat_map(|t| &t.changes)
            .all(|c| c.old.is_none() && c.key.starts_with(AUS_PREFIX))
    );
    // Applying again changes nothing.
    assert!(
        after
            .changes(&after.with_document(&doc, true).unwrap())
            .is_empty()
    );

    // Prune: a label the document no longer declares goes, other labels stay.
    let mut smaller = doc.clone();
    smaller.clusters.get_mut("stage-1").unwrap().mutexes = None;
    smaller.clusters.remove("prod-1");
    let pruned = after.with_document(&smaller, true).unwrap();
    let changes = after.changes(&pruned);
    let removed: Vec<(&str, &str)> = changes
        .iter()
        .flat_map(|t| t.changes.iter().map(move |c| (t, c)))
        .filter(|(_, c)| c.new.is_none())
        .map(|(t, c)| {
            (
                match &t.target {
                    Target::Cluster { name, .. } => name.as_str(),
                    Target::Organization { .. } => "org",
                },
                c.key.as_str(),
            )
        })
        .collect();
    assert_eq!(removed.len(), 5, "{removed:?}");
    assert!(removed.contains(&("stage-1", "sre-capabilities.aus.mutexes")));
    assert_eq!(pruned.clusters[1].labels["owner"], "team");
    assert_eq!(pruned.org_labels["other.label"], "x");

    // Without prune nothing is removed.
    let kept = after.with_document(&smaller, false).unwrap();
    assert!(after.changes(&kept).is_empty());
}

#[test]
fn export_round_trips() {
    let doc = Configuration::parse("c.yaml", DOC).unwrap();
    let state = state().with_document(&doc, false).unwrap();
    let (exported, warnings) = Configuration::from_state(&state);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(exported, doc.clone());
    let yaml = serde_saphyr::to_string(&exported).unwrap();
    let reread = Configuration::parse("x.yaml", &yaml).unwrap();
    assert_eq!(reread, doc);
    assert!(
        state
            .changes(&state.with_document(&reread, true).unwrap())
            .is_empty()
    );
}

#[test]
fn equivalent_values_are_not_rewritten() {
    let before = labels(&[("workloads", "a, b"), ("soak-days", " 3")]);
    let after = labels(&[("workloads", "a,b"), ("soak-days", "3")]);
    assert!(diff_labels(CLUSTER_LABELS, &before, &after).is_empty());
    let after = labels(&[("workloads", "a,c"), ("soak-days", "3")]);
    assert_eq!(
        diff_labels(CLUSTER_LABELS, &before, &after),
        [LabelChange {
            key: key(WORKLOADS),
            old: Some("a, b".into()),
            new: Some("a,c".into())
        }]
    );
}

#[test]
fn changes_are_refused_for_what_they_break_not_for_what_was_broken() {
    let doc = Configuration::parse("c.yaml", DOC).unwrap();
    let good = state().with_document(&doc, false).unwrap();
    // Dropping the prod sector leaves prod-1 pointing at nothing.
    let mut after = good.clone();
    after.org_labels.remove(&key("sector-deps.prod"));
    after
        .org_labels
        .remove(&key("sector-max-parallel-upgrades.prod"));
    let problems = after.introduced_problems(&good);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].to_string(),
        "cluster prod-1: label sre-capabilities.aus.sector: sector \"prod\" is not declared by the organization (declared: stage)"
    );
    // An already broken cluster does not block an unrelated change.
    let mut broken = good.clone();
    broken.clusters[0].labels.insert(key(SOAK_DAYS), "x".into());
    let mut next = broken.clone();
    next.org_labels.insert(key(BLOCKED_VERSIONS), "4.17".into());
    assert!(next.introduced_problems(&broken).is_empty());
    // Inheriting from oneself.
    let mut me = good.clone();
    me.org_labels.insert(key(INHERIT), "org-a".into());
    assert!(
        me.introduced_problems(&good)[0]
            .to_string()
            .contains("cannot inherit version data from itself")
    );
}

#[test]
fn clusters_are_found_by_any_id() {
    let s = state();
    for id in ["prod-1", "prod-1-id", "prod-1-uuid", "s2"] {
        assert_eq!(s.find_cluster(id), Ok(1), "{id}");
    }
    assert!(
        s.find_cluster("nope")
            .unwrap_err()
            .contains("no cluster \"nope\" in organization org-a")
    );
}

#[test]
fn r45_unverified_inheritance_is_refused() {
    let before = state();
    let mut after = before.clone();
    after.org_labels.insert(key(INHERIT), "org-b, org-c".into());
    // Sources not read are not judged.
    assert!(after.introduced_problems(&before).is_empty());
    after
        .publishers
        .insert("org-b".into(), vec!["org-x".into()]);
    after
        .publishers
        .insert("org-c".into(), vec!["org-a".into()]);
    let problems = after.introduced_problems(&before);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .to_string()
            .contains("inheritance from org-b is unverified"),
        "{}",
        problems[0]
    );
}
