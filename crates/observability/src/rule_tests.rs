//! promtool unit tests generated from the burn-rate math (§3.4): the times at
//! which a page must fire, and must not yet, follow from the objective, the
//! window and `for`, so they are computed rather than written by hand.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog;
use crate::rules::{AlertRule, Links, RuleSet, yaml};
use crate::slo::{AUS_RECONCILE, AlertPolicy, Scope, Severity, SloDef, duration};

#[derive(Debug, Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: &'static str,
    group_eval_order: Vec<String>,
    tests: Vec<TestGroup>,
}

#[derive(Debug, Serialize)]
struct TestGroup {
    name: String,
    interval: &'static str,
    input_series: Vec<Series>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alert_rule_test: Vec<AlertTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Debug, Serialize)]
struct Series {
    series: String,
    values: String,
}

#[derive(Debug, Serialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Serialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct ExprTest {
    expr: String,
    eval_time: String,
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Serialize)]
struct ExpSample {
    labels: String,
    value: f64,
}

/// Minutes of healthy history before an outage: longer than the longest paging
/// window, so the windows start clean.
const HEALTHY: u32 = 360;
const END: u32 = 480;

fn series(name: &str, labels: &[(&str, &str)], values: String) -> Series {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    Series {
        series: format!("{name}{{{}}}", l.join(", ")),
        values,
    }
}

/// Expand the `{{ $labels.x }}` and `{{ $value }}` templates the way
/// Alertmanager will, for the expected annotations.
fn render(template: &str, labels: &BTreeMap<String, String>, value: &str) -> String {
    let mut out = template.replace("{{ $value }}", value);
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    out
}

fn expect(alert: &AlertRule, extra: &[(&str, &str)], value: &str) -> ExpAlert {
    let mut l = alert.labels.clone();
    for (k, v) in extra {
        l.insert((*k).to_owned(), (*v).to_owned());
    }
    let exp_annotations = alert
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), render(v, &l, value)))
        .collect();
    ExpAlert {
        exp_labels: l,
        exp_annotations,
    }
}

fn find<'a>(
    sets: &'a [RuleSet],
    name: &str,
    severity: Severity,
    long: Option<&str>,
) -> &'a AlertRule {
    sets.iter()
        .flat_map(RuleSet::alerts)
        .find(|a| {
            a.alert == name
                && a.severity() == severity.as_str()
                && long.is_none_or(|l| a.labels.get("long").is_some_and(|x| x == l))
        })
        .expect("the rule set defines the alert under test")
}

fn at(minutes: u32) -> String {
    format!("{minutes}m")
}

/// One pass per cadence, smoothed to a per-minute increment.
fn per_minute(slo: &SloDef) -> f64 {
    1.0 / f64::from(slo.event_cadence)
}

fn pair_labels<'a>(scope: &Scope, env: &'a str, org: &'a str) -> Vec<(&'static str, &'a str)> {
    if scope.by.contains(&"org_id") {
        vec![("ocm_env", env), ("org_id", org)]
    } else {
        vec![("ocm_env", env)]
    }
}

/// Outage test of the fast pair of one scope: a shard that fails every event from
/// `HEALTHY` on pages no earlier and no later than the math says.
fn outage_test(sets: &[RuleSet], slo: &SloDef, scope: &Scope) -> TestGroup {
    let fast = slo
        .windows
        .iter()
        .filter(|w| w.severity == Severity::Critical)
        .min_by_key(|w| w.long)
        .expect("a paging SLO has a paging pair");
    let inc = per_minute(slo);
    let (tot, err) = (slo.sli.total.name, slo.sli.errors.name);
    // t_detect = f · b · L at an error ratio of 1 (§2.2).
    let t_detect = fast.factor * scope.budget() * f64::from(fast.long);
    // The condition first holds at the first evaluation strictly after t_detect,
    // then `for` must pass; one more evaluation of margin.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let first_true = t_detect.floor() as u32 + 1;
    let firing = HEALTHY + first_true + fast.for_minutes + 1;
    let silent = HEALTHY + first_true.saturating_sub(3);
    let name = slo.alert_name(scope);
    let alert = find(sets, &name, fast.severity, Some(&duration(fast.long)));
    let extra = [
        ("slo", slo.name),
        ("capability", slo.capability),
        ("scope", scope.name),
    ];
    let bad = pair_labels(scope, "production", "org-a");
    let mut input = vec![
        series(tot, &bad, format!("0+{inc}x{END}")),
        series(
            err,
            &[bad.clone(), vec![("cause", "ocm_api")]].concat(),
            format!("0x{HEALTHY} {inc}+{inc}x{}", END - HEALTHY - 1),
        ),
    ];
    let mut exp_extra: Vec<(&str, &str)> = extra.to_vec();
    exp_extra.extend(bad.iter().copied());
    let mut expr_tests = Vec::new();
    if scope.by.contains(&"org_id") {
        // A healthy neighbour stays silent.
        let good = pair_labels(scope, "production", "org-b");
        input.push(series(tot, &good, format!("0+{inc}x{END}")));
        input.push(series(
            err,
            &[good, vec![("cause", "ocm_api")]].concat(),
            format!("0x{END}"),
        ));
        expr_tests.push(ExprTest {
            expr: format!(
                "round(srecap:slo_error_ratio:rate{}{{slo=\"{}\", scope=\"{}\", org_id=\"org-a\"}}, 0.001)",
                duration(fast.long),
                slo.name,
                scope.name
            ),
            eval_time: at(HEALTHY + 30),
            exp_samples: vec![ExpSample {
                labels: format!(
                    "{{slo=\"{}\", capability=\"{}\", scope=\"{}\", ocm_env=\"production\", org_id=\"org-a\"}}",
                    slo.name, slo.capability, scope.name
                ),
                value: 30.0 / f64::from(fast.long),
            }],
        });
    }
    TestGroup {
        name: format!(
            "{name}: a shard failing every event from t={HEALTHY}m pages at +{}m (t_detect {t_detect:.2}m + for {}m), not at +{}m",
            firing - HEALTHY,
            fast.for_minutes,
            silent - HEALTHY
        ),
        interval: "1m",
        input_series: input,
        alert_rule_test: vec![
            AlertTest {
                eval_time: at(silent),
                alertname: name.clone(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: at(firing),
                alertname: name,
                exp_alerts: vec![expect(alert, &exp_extra, "")],
            },
        ],
        promql_expr_test: expr_tests,
    }
}

/// A single failed event in a healthy shard never pages.
fn blip_test(slo: &SloDef) -> TestGroup {
    let inc = per_minute(slo);
    let (tot, err) = (slo.sli.total.name, slo.sli.errors.name);
    let mut input = Vec::new();
    // Four organizations: at environment scope, one bad event in 6 h of four
    // organizations' passes stays below even the ticket threshold.
    for org in ["org-b", "org-c", "org-d", "org-e"] {
        let l = [("ocm_env", "production"), ("org_id", org)];
        input.push(series(tot, &l, format!("0+{inc}x{END}")));
        if org != "org-c" {
            input.push(series(
                err,
                &[
                    ("ocm_env", "production"),
                    ("org_id", org),
                    ("cause", "ocm_api"),
                ],
                format!("0x{END}"),
            ));
        }
    }
    input.push(series(
        err,
        &[
            ("ocm_env", "production"),
            ("org_id", "org-c"),
            ("cause", "internal"),
        ],
        format!("0x{HEALTHY} 1x{}", END - HEALTHY - 1),
    ));
    let mut tests = Vec::new();
    for scope in slo.scopes {
        for t in (HEALTHY..=HEALTHY + 90).step_by(5) {
            tests.push(AlertTest {
                eval_time: at(t),
                alertname: slo.alert_name(scope),
                exp_alerts: vec![],
            });
        }
    }
    TestGroup {
        name: format!(
            "{}: one failed pass in a healthy organization stays silent",
            slo.name
        ),
        interval: "1m",
        input_series: input,
        alert_rule_test: tests,
        promql_expr_test: vec![],
    }
}

/// Organizations with only configuration errors never page; three that newly
/// fail validation within an hour open the `AUSConfigErrorSpike` ticket.
fn config_errors_test(sets: &[RuleSet]) -> TestGroup {
    let slo = &AUS_RECONCILE;
    let inc = per_minute(slo);
    let spike_at = 60;
    let mut input = Vec::new();
    for org in ["org-1", "org-2", "org-3", "org-4"] {
        let shard = [("ocm_env", "production"), ("org_id", org)];
        input.push(series(
            catalog::ORG_RECONCILE_TOTAL.name,
            &shard,
            format!("0+{inc}x240"),
        ));
        for cause in ["internal", "ocm_api"] {
            input.push(series(
                catalog::ORG_RECONCILE_ERRORS.name,
                &[shard.to_vec(), vec![("cause", cause)]].concat(),
                "0x240".to_owned(),
            ));
        }
        // Every pass of a frozen organization ends as a user error.
        input.push(series(
            catalog::ORG_USER_ERRORS.name,
            &[shard.to_vec(), vec![("kind", "config_error")]].concat(),
            format!("0+{inc}x240"),
        ));
        // org-4 has been broken all along: not new, not part of the spike.
        let values = if org == "org-4" {
            "2x240".to_owned()
        } else {
            format!("_x{spike_at} 1x{}", 240 - spike_at)
        };
        input.push(series(
            catalog::ORG_CONFIG_ERRORS.name,
            &[
                shard.to_vec(),
                vec![
                    ("scope", "cluster"),
                    ("reason", "sre-capabilities.aus.schedule"),
                ],
            ]
            .concat(),
            values,
        ));
    }
    let spike = find(sets, "AUSConfigErrorSpike", Severity::Warning, None);
    let mut tests = vec![
        AlertTest {
            eval_time: at(spike_at + 10),
            alertname: spike.alert.clone(),
            exp_alerts: vec![],
        },
        AlertTest {
            eval_time: at(spike_at + 20),
            alertname: spike.alert.clone(),
            exp_alerts: vec![expect(spike, &[("ocm_env", "production")], "3")],
        },
        AlertTest {
            eval_time: at(spike_at + 80),
            alertname: spike.alert.clone(),
            exp_alerts: vec![],
        },
    ];
    let pages: Vec<String> = sets
        .iter()
        .flat_map(RuleSet::alerts)
        .filter(|a| a.severity() == Severity::Critical.as_str() && a.alert != "AUSAbsent")
        .map(|a| a.alert.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for t in [spike_at + 20, spike_at + 80, 240] {
        for p in &pages {
            if p == "AUSReconcilePassStalled" {
                continue;
            }
            tests.push(AlertTest {
                eval_time: at(t),
                alertname: p.clone(),
                exp_alerts: vec![],
            });
        }
    }
    TestGroup {
        name: "configuration errors only: no page; three organizations newly failing validation open AUSConfigErrorSpike".to_owned(),
        interval: "1m",
        input_series: input,
        alert_rule_test: tests,
        promql_expr_test: vec![],
    }
}

/// The loop stops: `AUSReconcilePassStalled` after three intervals plus `for`.
fn stall_test(sets: &[RuleSet]) -> TestGroup {
    let stalled = find(sets, "AUSReconcilePassStalled", Severity::Critical, None);
    let last_pass = 30;
    let interval_s = 300;
    // 3 × interval, then `for` (5m), then one evaluation of margin.
    let fires = last_pass + 3 * interval_s / 60 + 5 + 1;
    TestGroup {
        name: "AUSReconcilePassStalled: no pass for three intervals pages".to_owned(),
        interval: "1m",
        input_series: vec![
            series(
                catalog::PASS_LAST_COMPLETED.name,
                &[("ocm_env", "production")],
                format!("0+60x{last_pass} {}x60", last_pass * 60),
            ),
            series(
                catalog::PASS_INTERVAL.name,
                &[("ocm_env", "production")],
                format!("{interval_s}x90"),
            ),
        ],
        alert_rule_test: vec![
            AlertTest {
                eval_time: at(last_pass + 10),
                alertname: stalled.alert.clone(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: at(fires),
                alertname: stalled.alert.clone(),
                exp_alerts: vec![expect(stalled, &[("ocm_env", "production")], "")],
            },
        ],
        promql_expr_test: vec![],
    }
}

/// Four upgrades started at t=0 and never finishing: `AUSUpgradesStuckMany` pages
/// after 6 h plus `for`, not before.
fn stuck_test(sets: &[RuleSet]) -> TestGroup {
    let many = find(sets, "AUSUpgradesStuckMany", Severity::Critical, None);
    let stuck = crate::rules::STUCK_AFTER_HOURS * 60;
    let input = (1..=4)
        .map(|i| {
            series(
                catalog::CLUSTER_UPGRADE_STARTED.name,
                &[
                    ("ocm_env", "production"),
                    ("org_id", "org-1"),
                    ("cluster_uuid", &format!("c{i}")),
                    ("target_version", "4.15.9"),
                ],
                format!("0x{}", stuck + 60),
            )
        })
        .collect();
    TestGroup {
        name: "AUSUpgradesStuckMany: four upgrades running for more than 6 h page".to_owned(),
        interval: "1m",
        input_series: input,
        alert_rule_test: vec![
            AlertTest {
                eval_time: at(stuck + 20),
                alertname: many.alert.clone(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: at(stuck + 35),
                alertname: many.alert.clone(),
                exp_alerts: vec![expect(many, &[("ocm_env", "production")], "")],
            },
        ],
        promql_expr_test: vec![],
    }
}

/// The promtool test file for AUS, reading `rule_file` (relative to the test file).
pub fn aus_rule_tests(sets: &[RuleSet], rule_file: &str, _links: &Links) -> String {
    let mut tests = Vec::new();
    for slo in crate::slo::AUS_SLOS {
        if slo.policy != AlertPolicy::PageAndTicket {
            continue;
        }
        for scope in slo.scopes {
            tests.push(outage_test(sets, slo, scope));
        }
        tests.push(blip_test(slo));
    }
    tests.push(config_errors_test(sets));
    tests.push(stall_test(sets));
    tests.push(stuck_test(sets));
    let file = TestFile {
        rule_files: vec![rule_file.to_owned()],
        evaluation_interval: "1m",
        group_eval_order: sets
            .iter()
            .flat_map(|s| &s.groups)
            .map(|g| g.name.clone())
            .collect(),
        tests,
    };
    yaml(&file)
}

/// `RHIDPInitialAccessTokenExpiring`: a token expiring in 20 days is silent
/// until 14 days are left plus `for`, then fires with its path; a token with
/// 100 days left stays silent.
fn iat_expiring_test(sets: &[RuleSet]) -> TestGroup {
    let alert = find(
        sets,
        "RHIDPInitialAccessTokenExpiring",
        Severity::Warning,
        None,
    );
    let day = 24 * 60;
    let warn = crate::rules::IAT_WARN_DAYS * day;
    let labels = |path: &'static str| {
        [
            ("integration", "rhidp-sso-client"),
            ("ocm_environment", "production"),
            ("path", path),
        ]
    };
    let exp = |days: u32| u64::from(days) * 86_400;
    let end = 8 * day;
    let input = vec![
        series(
            catalog::RHIDP_IAT_EXPIRATION.name,
            &labels("/etc/srecap/iat"),
            format!("{}x{end}", exp(20)),
        ),
        series(
            catalog::RHIDP_IAT_EXPIRATION.name,
            &labels("env:SRECAP_KEYCLOAK_IAT_OTHER"),
            format!("{}x{end}", exp(100)),
        ),
    ];
    // promtool's clock starts at 0, so the 20-day token has 14 days left at
    // minute `20 days - 14 days`.
    let crosses = 20 * day - warn;
    TestGroup {
        name: "RHIDPInitialAccessTokenExpiring: 14 days before exp, after for".to_owned(),
        interval: "1m",
        input_series: input,
        alert_rule_test: vec![
            AlertTest {
                eval_time: at(crosses - 10),
                alertname: alert.alert.clone(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: at(crosses + 30),
                alertname: alert.alert.clone(),
                exp_alerts: vec![],
            },
            AlertTest {
                eval_time: at(crosses + 90),
                alertname: alert.alert.clone(),
                exp_alerts: vec![expect(alert, &labels("/etc/srecap/iat"), "")],
            },
        ],
        promql_expr_test: vec![],
    }
}

/// The promtool test file for the Red Hat IdP capability, reading `rule_file`.
pub fn rhidp_rule_tests(sets: &[RuleSet], rule_file: &str) -> String {
    let file = TestFile {
        rule_files: vec![rule_file.to_owned()],
        evaluation_interval: "1m",
        group_eval_order: sets
            .iter()
            .flat_map(|s| &s.groups)
            .map(|g| g.name.clone())
            .collect(),
        tests: vec![iat_expiring_test(sets)],
    };
    yaml(&file)
}
