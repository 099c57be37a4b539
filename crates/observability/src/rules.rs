//! Recording rules and multiwindow multi-burn-rate alerts generated from the SLO
//! definitions (§2.4, §2.5), the operational alerts that are not SLOs (§2.6,
//! §2.7), and the Alertmanager routing and inhibition snippet (§2.8).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog;
use crate::metric::{Audience, Kind, MetricDef};
use crate::slo::{AUS_SLOS, RHIDP_SLOS, Scope, Severity, SloDef, duration};

/// Where links in annotations point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// Base of `runbook_url`; `<base>/<capability>/<AlertName>.md` is appended.
    pub runbook_base: String,
    /// Grafana base URL; `/d/<uid>?var-…` is appended.
    pub grafana_base: String,
    /// Environments that must always report (one `AUSAbsent` alert each).
    pub environments: Vec<String>,
    /// The highest severity of each environment's alerts (slo-alerting: shards
    /// are environments): an environment capped at `warning` (e.g. `stage`)
    /// never pages. Environments not named keep every severity.
    pub severity_caps: BTreeMap<String, Severity>,
}

impl Default for Links {
    fn default() -> Links {
        Links {
            runbook_base: "https://github.com/srecap/srecap/blob/main/docs/runbooks".to_owned(),
            grafana_base: "https://grafana.example".to_owned(),
            environments: vec!["production".to_owned()],
            severity_caps: BTreeMap::new(),
        }
    }
}

/// Why rules cannot be generated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RulesError {
    #[error(
        "alert {alert} is critical (pages) but reads {metric}, a user-audience metric: a user's mistake must never page"
    )]
    PagingOnUserMetric { alert: String, metric: &'static str },
    #[error(
        "SLO {slo}, scope {scope}: objective {objective} is too low for the {factor}x burn-rate pair to ever fire ({factor} x (1 - {objective}) >= 1); raise the objective or drop the paging pair"
    )]
    InfeasibleObjective {
        slo: &'static str,
        scope: &'static str,
        objective: f64,
        factor: f64,
    },
    #[error("SLO {slo}: {metric} is a {kind}, but an events SLI needs counters")]
    NotACounter {
        slo: &'static str,
        metric: &'static str,
        kind: &'static str,
    },
    #[error(
        "alert {alert} has no runbook: add its sections to crates/observability/src/runbook.rs"
    )]
    MissingRunbook { alert: String },
    #[error("SLO {slo}, scope {scope}: objective {objective} is not between 0 and 1")]
    BadObjective {
        slo: &'static str,
        scope: &'static str,
        objective: f64,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Rule {
    Record(RecordRule),
    Alert(AlertRule),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordRule {
    pub record: String,
    pub expr: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertRule {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The exported metrics the expression depends on, directly or through
    /// recording rules: the audience check reads them.
    #[serde(skip)]
    pub reads: Vec<&'static MetricDef>,
}

impl AlertRule {
    pub fn severity(&self) -> &str {
        self.labels.get("severity").map_or("", String::as_str)
    }
}

/// One deliverable unit: a `PrometheusRule` object (and plain rule file) per SLO,
/// plus one for the operational alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// `srecap-aus-slo-aus-reconcile`.
    pub name: String,
    pub capability: &'static str,
    /// What it was generated from (`slo/aus-reconcile`, `capability/aus`).
    pub source: String,
    pub groups: Vec<RuleGroup>,
}

impl RuleSet {
    pub fn alerts(&self) -> impl Iterator<Item = &AlertRule> {
        self.groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter_map(|r| match r {
                Rule::Alert(a) => Some(a),
                Rule::Record(_) => None,
            })
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn fmt_f(x: f64) -> String {
    // Shortest text that round-trips, without float noise from 1 - 0.97.
    let rounded = (x * 1e9).round() / 1e9;
    format!("{rounded}")
}

/// Check one SLO before generating anything for it.
pub fn validate(slo: &SloDef) -> Result<(), RulesError> {
    for m in [slo.sli.total, slo.sli.errors] {
        if m.kind != Kind::Counter {
            return Err(RulesError::NotACounter {
                slo: slo.name,
                metric: m.name,
                kind: m.kind.as_str(),
            });
        }
    }
    for scope in slo.scopes {
        if !(scope.objective > 0.0 && scope.objective < 1.0) {
            return Err(RulesError::BadObjective {
                slo: slo.name,
                scope: scope.name,
                objective: scope.objective,
            });
        }
        for w in slo.alerting_windows() {
            if w.severity == Severity::Critical && w.factor * scope.budget() >= 1.0 {
                return Err(RulesError::InfeasibleObjective {
                    slo: slo.name,
                    scope: scope.name,
                    objective: scope.objective,
                    factor: w.factor,
                });
            }
        }
    }
    Ok(())
}

/// Refuse a paging alert that reads a user-audience metric (§1.5).
pub fn check_audience(alert: &AlertRule) -> Result<(), RulesError> {
    if alert.severity() == Severity::Critical.as_str()
        && let Some(m) = alert.reads.iter().find(|m| m.audience == Audience::User)
    {
        return Err(RulesError::PagingOnUserMetric {
            alert: alert.alert.clone(),
            metric: m.name,
        });
    }
    Ok(())
}

/// `sum by (ocm_env, org_id)`.
fn sum_by(scope: &Scope) -> String {
    format!("sum by ({})", scope.by.join(", "))
}

fn selector(slo: &SloDef, scope: &Scope) -> String {
    format!("{{slo=\"{}\", scope=\"{}\"}}", slo.name, scope.name)
}

/// The rules of one SLO.
pub fn slo_rules(slo: &SloDef, links: &Links) -> Result<RuleSet, RulesError> {
    validate(slo)?;
    let (tot, err) = (slo.sli.total.name, slo.sli.errors.name);
    let mut sli = Vec::new();
    let mut budget = Vec::new();
    let mut alerts = Vec::new();
    let period = duration(slo.period_days * 1440);
    for scope in slo.scopes {
        let common = labels(&[
            ("slo", slo.name),
            ("capability", slo.capability),
            ("scope", scope.name),
        ]);
        let by = sum_by(scope);
        let sel = selector(slo, scope);
        // Short windows are computed from raw counters; windows above 6h from the
        // recorded 5m numerator and denominator, as ratios of sums (§2.4).
        let mut windows: Vec<u32> = slo
            .alerting_windows()
            .flat_map(|w| [w.long, slo.short_window(w)])
            .collect();
        windows.sort_unstable();
        windows.dedup();
        for &w in windows.iter().filter(|&&w| w <= 360) {
            let d = duration(w);
            sli.push(Rule::Record(RecordRule {
                record: format!("srecap:slo_error_ratio:rate{d}"),
                expr: format!(
                    "({by} (rate({err}[{d}])) or 0 * {by} (rate({tot}[{d}]))) / {by} (rate({tot}[{d}]))"
                ),
                labels: common.clone(),
            }));
        }
        sli.push(Rule::Record(RecordRule {
            record: "srecap:slo_errors:rate5m".to_owned(),
            expr: format!("{by} (rate({err}[5m])) or 0 * {by} (rate({tot}[5m]))"),
            labels: common.clone(),
        }));
        sli.push(Rule::Record(RecordRule {
            record: "srecap:slo_events:rate5m".to_owned(),
            expr: format!("{by} (rate({tot}[5m]))"),
            labels: common.clone(),
        }));
        if scope.min_events_1h > 0 {
            sli.push(Rule::Record(RecordRule {
                record: "srecap:slo_events:increase1h".to_owned(),
                expr: format!("{by} (increase({tot}[1h]))"),
                labels: common.clone(),
            }));
        }
        let long_windows: Vec<u32> = windows.iter().copied().filter(|&w| w > 360).collect();
        for w in long_windows
            .iter()
            .copied()
            .chain(std::iter::once(slo.period_days * 1440))
        {
            let d = duration(w);
            if budget.iter().any(|r| matches!(r, Rule::Record(r) if r.record == format!("srecap:slo_error_ratio:rate{d}") && r.expr.contains(&sel))) {
                continue;
            }
            budget.push(Rule::Record(RecordRule {
                record: format!("srecap:slo_error_ratio:rate{d}"),
                expr: format!(
                    "sum_over_time(srecap:slo_errors:rate5m{sel}[{d}]) / sum_over_time(srecap:slo_events:rate5m{sel}[{d}])"
                ),
                labels: common.clone(),
            }));
        }
        budget.push(Rule::Record(RecordRule {
            record: "srecap:slo_error_budget_remaining:ratio".to_owned(),
            expr: format!(
                "1 - srecap:slo_error_ratio:rate{period}{sel} / {}",
                fmt_f(scope.budget())
            ),
            labels: common.clone(),
        }));
        budget.push(Rule::Record(RecordRule {
            record: "srecap:slo_objective:ratio".to_owned(),
            expr: format!("vector({})", fmt_f(scope.objective)),
            labels: common.clone(),
        }));

        let name = slo.alert_name(scope);
        let shard_text = if scope.by.contains(&"org_id") {
            "org {{ $labels.org_id }} in {{ $labels.ocm_env }}"
        } else {
            "{{ $labels.ocm_env }}"
        };
        let dashboard_vars: String = scope
            .by
            .iter()
            .map(|l| format!("var-{l}={{{{ $labels.{l} }}}}"))
            .collect::<Vec<_>>()
            .join("&");
        for w in slo.sorted_windows() {
            let short = slo.short_window(w);
            let (ld, sd) = (duration(w.long), duration(short));
            let b = fmt_f(scope.budget());
            let f = fmt_f(w.factor);
            let pair = format!(
                "(srecap:slo_error_ratio:rate{ld}{sel} / {b} > {f} and srecap:slo_error_ratio:rate{sd}{sel} / {b} > {f})"
            );
            let expr = if scope.min_events_1h > 0 {
                format!(
                    "{pair} and on ({}) srecap:slo_events:increase1h{sel} >= {}",
                    scope.by.join(", "),
                    scope.min_events_1h
                )
            } else {
                pair
            };
            alerts.push(Rule::Alert(AlertRule {
                alert: name.clone(),
                expr,
                for_: Some(duration(w.for_minutes)),
                labels: labels(&[
                    ("severity", w.severity.as_str()),
                    ("long", &ld),
                    ("short", &sd),
                    ("service", &slo.service()),
                ]),
                annotations: labels(&[
                    (
                        "summary",
                        &format!("SLO {} failing for {shard_text}", slo.name),
                    ),
                    (
                        "description",
                        &format!(
                            "The error budget of SLO {} ({}, {} scope, objective {}) burns more than {f}x faster than allowed over {ld} and {sd}: {}% of the budget would be gone in {ld}.",
                            slo.name,
                            slo.description,
                            scope.name,
                            fmt_f(scope.objective),
                            fmt_f(w.factor * f64::from(w.long) / f64::from(slo.period_days * 1440) * 100.0),
                        ),
                    ),
                    (
                        "runbook_url",
                        &format!("{}/{}/{name}.md", links.runbook_base, slo.capability),
                    ),
                    (
                        "dashboard",
                        &format!(
                            "{}/d/srecap-{}-slo?{dashboard_vars}",
                            links.grafana_base, slo.capability
                        ),
                    ),
                ]),
                reads: vec![slo.sli.total, slo.sli.errors],
            }));
        }
    }
    let set = RuleSet {
        name: format!("srecap-{}-slo-{}", slo.capability, slo.name),
        capability: slo.capability,
        source: format!("slo/{}", slo.name),
        groups: vec![
            RuleGroup {
                name: format!("srecap-slo-{}-sli", slo.name),
                interval: Some("1m".to_owned()),
                rules: sli,
            },
            RuleGroup {
                name: format!("srecap-slo-{}-budget", slo.name),
                interval: Some("5m".to_owned()),
                rules: budget,
            },
            RuleGroup {
                name: format!("srecap-slo-{}-alerts", slo.name),
                interval: None,
                rules: alerts,
            },
        ],
    };
    for a in set.alerts() {
        check_audience(a)?;
    }
    Ok(set)
}

impl SloDef {
    /// Alerting windows, fastest first (the order of the rule file).
    fn sorted_windows(&self) -> Vec<&crate::slo::BurnWindow> {
        let mut w: Vec<_> = self.alerting_windows().collect();
        w.sort_by_key(|w| w.long);
        w
    }
}

#[allow(clippy::too_many_arguments)] // one call per alert reads best with every field named in place
fn op_alert(
    name: &str,
    expr: String,
    for_minutes: u32,
    severity: Severity,
    summary: &str,
    description: &str,
    reads: Vec<&'static MetricDef>,
    links: &Links,
) -> Rule {
    capability_alert(
        "aus",
        name,
        expr,
        for_minutes,
        severity,
        summary,
        description,
        reads,
        links,
    )
}

/// An operational alert of `capability`: service `srecap-<capability>`, its
/// runbook under `<capability>/`, its SLO dashboard `srecap-<capability>-slo`.
#[allow(clippy::too_many_arguments)] // as `op_alert`
fn capability_alert(
    capability: &str,
    name: &str,
    expr: String,
    for_minutes: u32,
    severity: Severity,
    summary: &str,
    description: &str,
    reads: Vec<&'static MetricDef>,
    links: &Links,
) -> Rule {
    Rule::Alert(AlertRule {
        alert: name.to_owned(),
        expr,
        for_: (for_minutes > 0).then(|| duration(for_minutes)),
        labels: labels(&[
            ("severity", severity.as_str()),
            ("service", &format!("srecap-{capability}")),
        ]),
        annotations: labels(&[
            ("summary", summary),
            ("description", description),
            (
                "runbook_url",
                &format!("{}/{capability}/{name}.md", links.runbook_base),
            ),
            (
                "dashboard",
                &format!(
                    "{}/d/srecap-{capability}-slo?var-ocm_env={{{{ $labels.ocm_env }}}}",
                    links.grafana_base
                ),
            ),
        ]),
        reads,
    })
}

/// Objective of the `aus-freshness` SLO (timeslices, organization scope).
pub const FRESHNESS_OBJECTIVE: f64 = 0.99;

/// An upgrade still running after this long is stuck (slo-alerting §1.6, N).
pub const STUCK_AFTER_HOURS: u32 = 6;

/// The operational alerts of AUS that are not SLOs (§2.6, §2.7).
pub fn operational_rules(links: &Links) -> Result<RuleSet, RulesError> {
    let last = catalog::PASS_LAST_COMPLETED.name;
    let interval = catalog::PASS_INTERVAL.name;
    let config = catalog::ORG_CONFIG_ERRORS.name;
    let mut rules = vec![
        op_alert(
            "AUSReconcilePassStalled",
            format!("time() - {last} > on (ocm_env) 3 * {interval}"),
            5,
            Severity::Critical,
            "AUS has not completed a pass in {{ $labels.ocm_env }} for more than three intervals",
            "No organization of the environment is being reconciled: the loop is stuck or crashing.",
            vec![&catalog::PASS_LAST_COMPLETED, &catalog::PASS_INTERVAL],
            links,
        ),
        op_alert(
            "AUSPassOverrunning",
            format!(
                "sum by (ocm_env) (increase({}[1h])) / sum by (ocm_env) (increase({}[1h])) > 0.5",
                catalog::PASS_OVERRUNS.name,
                catalog::PASS_TOTAL.name
            ),
            60,
            Severity::Warning,
            "Most AUS passes in {{ $labels.ocm_env }} take longer than their interval",
            "More than half of the passes of the last hour overran the pass interval; freshness suffers and passes queue up.",
            vec![&catalog::PASS_OVERRUNS, &catalog::PASS_TOTAL],
            links,
        ),
        op_alert(
            "AUSConfigErrorSpike",
            format!(
                "count by (ocm_env) ((max by (ocm_env, org_id) ({config}) > 0) unless on (ocm_env, org_id) (max by (ocm_env, org_id) ({config} offset 1h) > 0)) >= 3"
            ),
            15,
            Severity::Warning,
            "{{ $value }} organizations in {{ $labels.ocm_env }} newly fail AUS label validation",
            "At least three organizations started failing validation within an hour. One user's mistake is theirs; many at once usually means srecap or the label schema changed.",
            vec![&catalog::ORG_CONFIG_ERRORS],
            links,
        ),
    ];
    // Freshness (slo-alerting §1.6, `aus-freshness`): a minute is good while the
    // organization's last good reconcile is younger than six passes. Ticket only:
    // paging is covered by `aus-reconcile` and the stall alert.
    let fresh_for = 6 * crate::slo::AUS_RECONCILE.event_cadence * 60;
    let budget = fmt_f(1.0 - FRESHNESS_OBJECTIVE);
    rules.insert(
        0,
        Rule::Record(RecordRule {
            record: "srecap:aus_org_fresh:bool".to_owned(),
            expr: format!(
                "time() - {} < bool {fresh_for}",
                catalog::ORG_LAST_SUCCESS.name
            ),
            labels: labels(&[
                ("slo", "aus-freshness"),
                ("capability", "aus"),
                ("scope", "org"),
            ]),
        }),
    );
    rules.push(op_alert(
        "AUSOrgFreshnessBudgetBurn",
        format!(
            "(1 - avg_over_time(srecap:aus_org_fresh:bool[3d])) / {budget} > 1 and (1 - avg_over_time(srecap:aus_org_fresh:bool[6h])) / {budget} > 1"
        ),
        60,
        Severity::Warning,
        "Organization {{ $labels.org_id }} in {{ $labels.ocm_env }} is too often not reconciled for 30 minutes",
        "The error budget of SLO aus-freshness (minutes in which the organization's last good reconcile is younger than six passes, objective 0.99) burns faster than allowed over 3d and 6h.",
        vec![&catalog::ORG_LAST_SUCCESS],
        links,
    ));
    let started = catalog::CLUSTER_UPGRADE_STARTED.name;
    let stuck_after = STUCK_AFTER_HOURS * 3600;
    rules.push(op_alert(
        "AUSClusterUpgradeStuck",
        format!("(time() - {started}) / 3600 > {STUCK_AFTER_HOURS}"),
        0,
        Severity::Warning,
        "Upgrade of cluster {{ $labels.cluster_uuid }} (org {{ $labels.org_id }}, {{ $labels.ocm_env }}) to {{ $labels.target_version }} has been running for more than 6 hours",
        "OCM reports the upgrade as started for longer than an upgrade should take; the cluster or the managed-upgrade operator needs a look.",
        vec![&catalog::CLUSTER_UPGRADE_STARTED],
        links,
    ));
    rules.push(op_alert(
        "AUSUpgradesStuckMany",
        format!(
            "count by (ocm_env) (time() - {started} > {stuck_after}) >= 3 and count by (ocm_env) (time() - {started} > {stuck_after}) / count by (ocm_env) ({started}) >= 0.1"
        ),
        30,
        Severity::Critical,
        "Many cluster upgrades in {{ $labels.ocm_env }} have been running for more than 6 hours",
        "At least three upgrades, and at least 10% of those in flight, are stuck: a fleet-wide upgrade problem (bad release, managed-upgrade operator, OCM).",
        vec![&catalog::CLUSTER_UPGRADE_STARTED],
        links,
    ));
    for env in &links.environments {
        let mut alert = op_alert(
            "AUSAbsent",
            format!("absent({last}{{ocm_env=\"{env}\"}})"),
            15,
            Severity::Critical,
            "AUS does not report for {{ $labels.ocm_env }}",
            "Prometheus has no pass metrics of AUS for this environment: the reconciler is down or not scraped.",
            vec![&catalog::PASS_LAST_COMPLETED],
            links,
        );
        if let Rule::Alert(a) = &mut alert {
            // absent() only carries equality matchers' labels; say it explicitly
            // so routing and inhibition see the environment.
            a.labels.insert("ocm_env".to_owned(), env.clone());
            a.annotations.insert(
                "summary".to_owned(),
                format!("AUS does not report for {env}"),
            );
        }
        rules.push(alert);
    }
    let set = RuleSet {
        name: "srecap-aus-operational".to_owned(),
        capability: "aus",
        source: "capability/aus".to_owned(),
        groups: vec![RuleGroup {
            name: "srecap-aus-operational".to_owned(),
            interval: None,
            rules,
        }],
    };
    for a in set.alerts() {
        check_audience(a)?;
    }
    Ok(set)
}

/// Every rule set of AUS: one per SLO, then the operational alerts.
pub fn aus_rules(links: &Links) -> Result<Vec<RuleSet>, RulesError> {
    let mut out = AUS_SLOS
        .iter()
        .map(|s| slo_rules(s, links))
        .collect::<Result<Vec<_>, _>>()?;
    out.push(operational_rules(links)?);
    cap_severities(&mut out, &links.severity_caps);
    Ok(out)
}

/// Warn this long before a realm's initial access token expires (I66): two
/// weeks leave time to get a new one from the SSO team.
pub const IAT_WARN_DAYS: u32 = 14;

/// The operational alerts of the Red Hat IdP capability that are not SLOs.
pub fn rhidp_operational_rules(links: &Links) -> Result<RuleSet, RulesError> {
    let iat = catalog::RHIDP_IAT_EXPIRATION.name;
    let mut expiring = capability_alert(
        "rhidp",
        "RHIDPInitialAccessTokenExpiring",
        // The expression of I66, as written there.
        format!("{iat} - time() < {IAT_WARN_DAYS} * 86400"),
        // The gauge changes only when the token is replaced: one hour of
        // `for` lets a rollout of a new token settle.
        60,
        // Ticket only, like the rhidp SLO: registrations fail only once the
        // token expired, and logins clusters already have never depend on it.
        Severity::Warning,
        "The initial access token at {{ $labels.path }} ({{ $labels.ocm_environment }}) expires in less than 14 days",
        "The exp claim of the realm's initial access token is less than 14 days away (or past): once it expires, Keycloak refuses every client registration (401 on register), so newly opted-in clusters get no SSO client or identity provider.",
        vec![&catalog::RHIDP_IAT_EXPIRATION],
        links,
    );
    if let Rule::Alert(a) = &mut expiring {
        // The reference's gauge names its environment `ocm_environment`
        // (I65, kept for its dashboards), not `ocm_env`.
        a.annotations.insert(
            "dashboard".to_owned(),
            format!(
                "{}/d/srecap-rhidp-slo?var-ocm_env={{{{ $labels.ocm_environment }}}}",
                links.grafana_base
            ),
        );
    }
    let rules = vec![expiring];
    let set = RuleSet {
        name: "srecap-rhidp-operational".to_owned(),
        capability: "rhidp",
        source: "capability/rhidp".to_owned(),
        groups: vec![RuleGroup {
            name: "srecap-rhidp-operational".to_owned(),
            interval: None,
            rules,
        }],
    };
    for a in set.alerts() {
        check_audience(a)?;
    }
    Ok(set)
}

/// Every rule set of the Red Hat IdP capability: one per SLO, then the
/// operational alerts.
pub fn rhidp_rules(links: &Links) -> Result<Vec<RuleSet>, RulesError> {
    let mut out = RHIDP_SLOS
        .iter()
        .map(|s| slo_rules(s, links))
        .collect::<Result<Vec<_>, _>>()?;
    out.push(rhidp_operational_rules(links)?);
    cap_severities(&mut out, &links.severity_caps);
    Ok(out)
}

/// A PromQL vector with one series per environment, labelled `ocm_env`:
/// what `and on (ocm_env)` / `unless on (ocm_env)` select shards with.
fn environment_vector(environments: &[&str]) -> String {
    environments
        .iter()
        .map(|e| format!("label_replace(vector(1), \"ocm_env\", \"{e}\", \"\", \"\")"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Lower the paging alerts of the environments capped at `warning`.
///
/// An alert that already names its environment (`AUSAbsent`) is relabelled.
/// Any other paging alert is split in two under the same name: the paging
/// copy fires for every environment but the capped ones (`unless on
/// (ocm_env)`), the ticket copy only for them (`and on (ocm_env)`), so each
/// shard keeps its alert and only the route changes. Alerts whose series carry
/// no `ocm_env` (none today) would keep paging.
pub fn cap_severities(sets: &mut [RuleSet], caps: &BTreeMap<String, Severity>) {
    let capped: Vec<&str> = caps
        .iter()
        .filter(|(_, s)| **s == Severity::Warning)
        .map(|(e, _)| e.as_str())
        .collect();
    if capped.is_empty() {
        return;
    }
    let vector = environment_vector(&capped);
    let critical = Severity::Critical.as_str();
    let warning = Severity::Warning.as_str();
    for set in sets {
        for group in &mut set.groups {
            let mut out = Vec::with_capacity(group.rules.len());
            for rule in group.rules.drain(..) {
                match rule {
                    Rule::Alert(mut a) if a.severity() == critical => {
                        if let Some(env) = a.labels.get("ocm_env") {
                            if capped.contains(&env.as_str()) {
                                a.labels.insert("severity".to_owned(), warning.to_owned());
                            }
                            out.push(Rule::Alert(a));
                            continue;
                        }
                        let mut ticket = a.clone();
                        a.expr = format!("({}) unless on (ocm_env) ({vector})", a.expr);
                        ticket.expr = format!("({}) and on (ocm_env) ({vector})", ticket.expr);
                        ticket
                            .labels
                            .insert("severity".to_owned(), warning.to_owned());
                        out.push(Rule::Alert(a));
                        out.push(Rule::Alert(ticket));
                    }
                    other => out.push(other),
                }
            }
            group.rules = out;
        }
    }
}

#[derive(Serialize)]
struct PlainFile<'a> {
    groups: Vec<&'a RuleGroup>,
}

/// A plain Prometheus rule file (`rule_files:`) with every group.
pub fn to_rules_file(sets: &[RuleSet]) -> String {
    let file = PlainFile {
        groups: sets.iter().flat_map(|s| &s.groups).collect(),
    };
    yaml(&file)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    spec: PlainFile<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    namespace: &'a str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// prometheus-operator `PrometheusRule` manifests, one per rule set, as one
/// multi-document YAML stream (`kubectl apply -f`).
pub fn to_prometheus_rules(sets: &[RuleSet], namespace: &str) -> String {
    sets.iter()
        .map(|s| {
            let m = Manifest {
                api_version: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: Metadata {
                    name: &s.name,
                    namespace,
                    labels: labels(&[
                        ("app.kubernetes.io/name", "srecap"),
                        ("app.kubernetes.io/component", s.capability),
                        ("role", "alert-rules"),
                    ]),
                    annotations: labels(&[("srecap.io/generated-from", &s.source)]),
                },
                spec: PlainFile {
                    groups: s.groups.iter().collect(),
                },
            };
            format!("---\n{}", yaml(&m))
        })
        .collect::<Vec<_>>()
        .concat()
}

pub(crate) fn yaml<T: Serialize>(value: &T) -> String {
    // Serializing plain structs of strings and maps cannot fail.
    serde_saphyr::to_string(value).unwrap_or_default()
}

/// The Alertmanager routes and inhibitions for AUS alerts (§2.8), to merge into
/// the Alertmanager configuration.
pub fn alertmanager_snippet(sets: &[RuleSet]) -> String {
    let mut env_pages = Vec::new();
    for s in sets {
        for a in s.alerts() {
            if a.alert.starts_with("AUSEnv")
                && a.severity() == "critical"
                && !env_pages.contains(&a.alert)
            {
                env_pages.push(a.alert.clone());
            }
        }
    }
    let mut lines: Vec<String> = [
        "# Generated by `srecap observability generate`; merge into alertmanager.yml.",
        "route:",
        "  routes:",
        "  - matchers: ['service=\"srecap-aus\"', 'severity=\"critical\"']",
        "    receiver: srecap-pager",
        "    group_by: [alertname, ocm_env, slo]",
        "  - matchers: ['service=\"srecap-aus\"', 'severity=\"warning\"']",
        "    receiver: srecap-ticket",
        "    group_by: [alertname, ocm_env, slo]",
        "inhibit_rules:",
    ]
    .iter()
    .map(|l| (*l).to_owned())
    .collect();
    for env_alert in env_pages {
        let org_alert = env_alert.replacen("AUSEnv", "AUSOrg", 1);
        lines.push(
            "# A systemic outage: one environment page, not one page per organization.".to_owned(),
        );
        lines.push(format!(
            "- source_matchers: ['alertname=\"{env_alert}\"', 'severity=\"critical\"']"
        ));
        lines.push(format!("  target_matchers: ['alertname=\"{org_alert}\"']"));
        lines.push("  equal: [ocm_env, slo]".to_owned());
    }
    lines.extend(
        [
            "# A page hides the ticket for the same shard.",
            "- source_matchers: ['service=\"srecap-aus\"', 'severity=\"critical\"']",
            "  target_matchers: ['service=\"srecap-aus\"', 'severity=\"warning\"']",
            "  equal: [alertname, ocm_env, org_id]",
            "# A stalled or absent loop explains every burn in its environment.",
            "- source_matchers: ['alertname=~\"AUSReconcilePassStalled|AUSAbsent\"']",
            "  target_matchers: ['service=\"srecap-aus\"', 'alertname=~\"AUS.*ErrorBudgetBurn\"']",
            "  equal: [ocm_env]",
        ]
        .iter()
        .map(|l| (*l).to_owned()),
    );
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
