//! The generated artefacts: promtool accepts the rules and their generated unit
//! tests pass, dashboards only query what the code exports, the generator refuses
//! unsafe definitions, and the checked-in copies are current.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use srecap_observability::rules::{self, AlertRule, Links, Rule, RulesError};
use srecap_observability::slo::{self, AlertPolicy, Scope, SloDef};
use srecap_observability::{Artefact, Audience, MetricDef, artefacts, catalog, dashboard};

/// promtool from `PROMTOOL` or `PATH`. Never skipped: without it the test fails.
fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "promtool not found (set PROMTOOL or put it on PATH): run `scripts/test`, which installs it, or `apt-get install prometheus`"
        )
    })
}

fn run_promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn generated() -> Vec<Artefact> {
    artefacts(&Links::default()).unwrap()
}

fn write_all(dir: &Path, files: &[Artefact]) {
    for a in files {
        let p = dir.join(&a.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &a.contents).unwrap();
    }
}

#[test]
fn promtool_checks_the_rules_and_passes_the_generated_unit_tests() {
    let dir = tempfile::tempdir().unwrap();
    let files = generated();
    write_all(dir.path(), &files);
    let prom = dir.path().join("deploy/prometheus");
    run_promtool(
        &[
            "check",
            "rules",
            "--lint=all",
            "--lint-fatal",
            "srecap-aus.rules.yaml",
            "srecap-rhidp.rules.yaml",
        ],
        &prom,
    );
    let out = run_promtool(&["test", "rules", "srecap-aus.rules_test.yaml"], &prom);
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_promtool(&["test", "rules", "srecap-rhidp.rules_test.yaml"], &prom);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn the_generated_tests_can_fail() {
    // A page one evaluation too early must be rejected: the expected times are
    // tight, not vacuous.
    let dir = tempfile::tempdir().unwrap();
    let files = generated();
    write_all(dir.path(), &files);
    let prom = dir.path().join("deploy/prometheus");
    let test = std::fs::read_to_string(prom.join("srecap-aus.rules_test.yaml")).unwrap();
    // The org outage test expects silence at 383m and the page at 389m; ask for
    // the page at 383m instead.
    assert!(test.contains("eval_time: 389m"), "{test}");
    let broken = test.replacen("eval_time: 389m", "eval_time: 383m", 1);
    std::fs::write(prom.join("broken_test.yaml"), broken).unwrap();
    let out = Command::new(promtool())
        .args(["test", "rules", "broken_test.yaml"])
        .current_dir(&prom)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn checked_in_artefacts_are_current() {
    let root = repo_root();
    let bless = std::env::var_os("SRECAP_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for a in generated() {
        let path = root.join(&a.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != a.contents {
            if bless {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &a.contents).unwrap();
            } else {
                stale.push(a.path);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are stale: {stale:?}\nregenerate with `cargo run -p srecap -- observability generate --out .` \
         (or `SRECAP_BLESS=1 cargo test -p srecap-observability --test generated`) and commit them"
    );
}

fn defined_records() -> Vec<String> {
    let mut sets = rules::aus_rules(&Links::default()).unwrap();
    sets.extend(rules::rhidp_rules(&Links::default()).unwrap());
    sets.iter()
        .flat_map(|s| &s.groups)
        .flat_map(|g| &g.rules)
        .filter_map(|r| match r {
            Rule::Record(r) => Some(r.record.clone()),
            Rule::Alert(_) => None,
        })
        .collect()
}

#[test]
fn dashboard_queries_parse_and_use_only_exported_metrics() {
    let sets = rules::aus_rules(&Links::default()).unwrap();
    let rhidp_sets = rules::rhidp_rules(&Links::default()).unwrap();
    let records = defined_records();
    let mut exprs = Vec::new();
    let dashboards = dashboard::aus_dashboards(&sets)
        .into_iter()
        .chain(dashboard::rhidp_dashboards(&rhidp_sets));
    for d in dashboards {
        let queries = d.queries();
        assert!(queries.len() > 5, "{}", d.uid);
        for q in d.variable_queries() {
            for name in dashboard::referenced_metrics(&q) {
                assert!(catalog::lookup(&name).is_some(), "{}: {q}", d.uid);
            }
            exprs.push(q);
        }
        for q in queries {
            for name in dashboard::referenced_metrics(&q) {
                assert!(
                    catalog::lookup(&name).is_some() || records.contains(&name) || name == "ALERTS",
                    "{}: {q} reads {name}, which is neither exported nor recorded",
                    d.uid
                );
            }
            // Sharded metrics are always filtered by the shard variables.
            for def in catalog::ALL.iter().filter(|d| d.is_org_sharded()) {
                for sample in def.sample_names() {
                    if let Some(pos) = q.find(&format!("{sample}{{")) {
                        let rest = &q[pos..];
                        let sel = &rest[..rest.find('}').unwrap()];
                        assert!(
                            sel.contains("org_id=~\"$org_id\"")
                                && sel.contains("ocm_env=~\"$ocm_env\""),
                            "{}: {q}",
                            d.uid
                        );
                    }
                }
            }
            exprs.push(q);
        }
    }
    // promtool parses every expression, Grafana macros substituted.
    let mut file = String::from("groups:\n- name: dashboard-queries\n  rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e
            .replace("$__rate_interval", "5m")
            .replace("$__range", "1d")
            .replace("$ocm_env", ".*")
            .replace("$org_id", ".*");
        writeln!(
            file,
            "  - record: dashboard:query_{i}:check\n    expr: {}",
            serde_json::to_string(&e).unwrap()
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("queries.yaml"), file).unwrap();
    run_promtool(&["check", "rules", "queries.yaml"], dir.path());
}

#[test]
fn the_referenced_metric_extractor_sees_selectors_not_functions_or_labels() {
    let names = dashboard::referenced_metrics(
        "histogram_quantile(0.9, sum by (le, ocm_env) (rate(a_bucket{x=\"y{\"}[5m]))) / on (ocm_env) group_left (z) b:rec offset 1h",
    );
    assert_eq!(names, ["a_bucket", "b:rec"]);
    assert_eq!(
        dashboard::referenced_metrics("count by (v) (m) > 0 and time() - n"),
        ["m", "n"]
    );
}

#[test]
fn every_alert_links_an_existing_runbook_and_dashboard() {
    let files = generated();
    let sets = rules::aus_rules(&Links::default()).unwrap();
    let alerts: Vec<&AlertRule> = sets.iter().flat_map(rules::RuleSet::alerts).collect();
    assert!(alerts.len() >= 10);
    for a in alerts {
        let url = &a.annotations["runbook_url"];
        let file = format!("docs/runbooks/aus/{}.md", a.alert);
        assert!(url.ends_with(&file), "{url}");
        let runbook = files.iter().find(|f| f.path == file).unwrap();
        for section in ["## Meaning", "## Impact", "## Diagnosis", "## Mitigation"] {
            let body = runbook.contents.split(section).nth(1).unwrap();
            assert!(body.trim_start().len() > 40, "{file}: {section} is empty");
        }
        assert!(runbook.contents.contains("srecap aus run"), "{file}");
        let dash = &a.annotations["dashboard"];
        let uid = dash.split("/d/").nth(1).unwrap().split('?').next().unwrap();
        assert!(
            files
                .iter()
                .any(|f| f.path == format!("deploy/grafana/{uid}.json"))
        );
    }
}

const USER_COUNTER: MetricDef = MetricDef::counter(
    "test_user_events_total",
    "user events",
    &["ocm_env", "org_id"],
    Audience::User,
);

#[test]
fn a_page_on_a_user_metric_is_refused() {
    let slo = SloDef {
        sli: slo::EventsSli {
            total: &catalog::ORG_RECONCILE_TOTAL,
            errors: &USER_COUNTER,
        },
        ..slo::AUS_RECONCILE
    };
    assert_eq!(
        rules::slo_rules(&slo, &Links::default()).unwrap_err(),
        RulesError::PagingOnUserMetric {
            alert: "AUSEnvReconcileErrorBudgetBurn".to_owned(),
            metric: "test_user_events_total"
        }
    );
    // As a ticket it is fine.
    let ticket = SloDef {
        policy: AlertPolicy::TicketOnly,
        ..slo
    };
    assert!(rules::slo_rules(&ticket, &Links::default()).is_ok());
}

#[test]
fn an_objective_too_low_for_the_fast_pair_is_refused() {
    const SCOPES: &[Scope] = &[Scope {
        name: "org",
        by: &["ocm_env", "org_id"],
        objective: 0.93,
        min_events_1h: 6,
    }];
    let slo = SloDef {
        scopes: SCOPES,
        ..slo::AUS_RECONCILE
    };
    let err = rules::slo_rules(&slo, &Links::default()).unwrap_err();
    assert!(
        matches!(err, RulesError::InfeasibleObjective { factor, .. } if (factor - 14.4).abs() < 1e-9),
        "{err}"
    );
    assert!(err.to_string().contains("0.93"), "{err}");
}

#[test]
fn the_alertmanager_snippet_is_yaml_with_routes_and_inhibitions() {
    let files = generated();
    let am = files
        .iter()
        .find(|f| f.path == "deploy/alertmanager/srecap-aus.yaml")
        .unwrap();
    let v: serde_json::Value = serde_saphyr::from_str(&am.contents).unwrap();
    assert_eq!(v["route"]["routes"].as_array().unwrap().len(), 2, "{v}");
    let inhibit = v["inhibit_rules"].as_array().unwrap();
    assert!(inhibit.iter().any(|r| r["target_matchers"][0]
        == "alertname=\"AUSOrgReconcileErrorBudgetBurn\""
        && r["equal"] == serde_json::json!(["ocm_env", "slo"])));
}

/// Per-environment severity (slo-alerting: shards are environments): with
/// `stage` capped at `warning`, `stage` never pages while `production` pages as
/// before. The generated promtool tests run twice: as generated (production
/// still pages), and moved to `stage`, where every page becomes a ticket.
#[test]
fn an_environment_capped_at_warning_never_pages() {
    let links = Links {
        environments: vec!["production".to_owned(), "stage".to_owned()],
        severity_caps: [("stage".to_owned(), slo::Severity::Warning)]
            .into_iter()
            .collect(),
        ..Links::default()
    };
    let sets = rules::aus_rules(&links).unwrap();
    let alerts: Vec<&AlertRule> = sets.iter().flat_map(rules::RuleSet::alerts).collect();
    for a in alerts.iter().filter(|a| a.severity() == "critical") {
        assert!(
            a.expr.contains("unless on (ocm_env)")
                || a.labels.get("ocm_env").map(String::as_str) == Some("production"),
            "{} pages for stage: {}",
            a.alert,
            a.expr
        );
    }
    let absent_stage = alerts
        .iter()
        .find(|a| {
            a.alert == "AUSAbsent" && a.labels.get("ocm_env").map(String::as_str) == Some("stage")
        })
        .unwrap();
    assert_eq!(absent_stage.severity(), "warning");
    // Without caps nothing changes.
    assert_eq!(
        rules::aus_rules(&Links::default()).unwrap(),
        rules::aus_rules(&Links {
            severity_caps: [("production".to_owned(), slo::Severity::Critical)]
                .into_iter()
                .collect(),
            ..Links::default()
        })
        .unwrap()
    );

    let dir = tempfile::tempdir().unwrap();
    let files = artefacts(&links).unwrap();
    write_all(dir.path(), &files);
    let prom = dir.path().join("deploy/prometheus");
    run_promtool(
        &[
            "check",
            "rules",
            "--lint=all",
            "--lint-fatal",
            "srecap-aus.rules.yaml",
        ],
        &prom,
    );
    let out = run_promtool(&["test", "rules", "srecap-aus.rules_test.yaml"], &prom);
    assert!(out.contains("SUCCESS"), "{out}");
    let tests = std::fs::read_to_string(prom.join("srecap-aus.rules_test.yaml")).unwrap();
    let staged = tests
        .replace("production", "stage")
        .replace("severity: critical", "severity: warning");
    assert_ne!(staged, tests);
    std::fs::write(prom.join("stage.rules_test.yaml"), staged).unwrap();
    let out = run_promtool(&["test", "rules", "stage.rules_test.yaml"], &prom);
    assert!(out.contains("SUCCESS"), "{out}");
}
