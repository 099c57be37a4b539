//! Grafana dashboards generated from the metric and SLO definitions (§4): every
//! query names its metric through a [`MetricDef`] or a recorded series of the
//! generated rules, and every sharded query filters by the `ocm_env` and `org_id`
//! variables.

use serde_json::{Value, json};

use crate::catalog;
use crate::metric::MetricDef;
use crate::rules::{Rule, RuleSet};
use crate::slo::{AUS_SLOS, RHIDP_SLOS, Severity, SloDef};

/// One generated dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub uid: String,
    pub model: Value,
}

impl Dashboard {
    pub fn to_json(&self) -> String {
        // A `Value` always serializes.
        serde_json::to_string_pretty(&self.model).unwrap_or_default() + "\n"
    }

    /// The PromQL of every panel target.
    pub fn queries(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(panels) = self.model["panels"].as_array() {
            for p in panels {
                if let Some(targets) = p["targets"].as_array() {
                    out.extend(
                        targets
                            .iter()
                            .filter_map(|t| t["expr"].as_str().map(str::to_owned)),
                    );
                }
            }
        }
        out
    }

    /// The PromQL of the template variables (`label_values(m, l)` as `m`).
    pub fn variable_queries(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(vars) = self.model["templating"]["list"].as_array() {
            for v in vars {
                if let Some(q) = v["query"]["query"].as_str() {
                    let q = q
                        .strip_prefix("label_values(")
                        .and_then(|r| r.rsplit_once(','))
                        .map_or(q, |(m, _)| m);
                    out.push(q.to_owned());
                }
            }
        }
        out
    }
}

const DS: &str = "${datasource}";

/// `{ocm_env=~"$ocm_env", org_id=~"$org_id"}` for the shard labels `def` has,
/// plus `extra` matchers.
pub fn sel(def: &MetricDef, extra: &str) -> String {
    let mut m = Vec::new();
    if def.labels.contains(&"ocm_env") {
        m.push("ocm_env=~\"$ocm_env\"".to_owned());
    }
    if def.labels.contains(&"org_id") {
        m.push("org_id=~\"$org_id\"".to_owned());
    }
    if !extra.is_empty() {
        m.push(extra.to_owned());
    }
    format!("{}{{{}}}", def.name, m.join(", "))
}

/// A histogram's bucket series with the shard selector.
fn buckets(def: &MetricDef) -> String {
    sel(def, "").replacen(def.name, &format!("{}_bucket", def.name), 1)
}

struct Layout {
    panels: Vec<Value>,
    x: u32,
    y: u32,
    row_h: u32,
    next_id: u32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            panels: Vec::new(),
            x: 0,
            y: 0,
            row_h: 0,
            next_id: 1,
        }
    }

    fn row(&mut self, title: &str) {
        if self.x > 0 {
            self.y += self.row_h;
            self.x = 0;
        }
        self.panels.push(json!({
            "type": "row", "id": self.next_id, "title": title, "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []
        }));
        self.next_id += 1;
        self.y += 1;
        self.row_h = 0;
    }

    #[allow(clippy::too_many_arguments)]
    fn panel(
        &mut self,
        kind: &str,
        title: &str,
        description: &str,
        unit: &str,
        w: u32,
        targets: &[(&str, &str)],
        instant: bool,
    ) {
        let h = 8;
        if self.x + w > 24 {
            self.y += self.row_h;
            self.x = 0;
            self.row_h = 0;
        }
        let refs = ["A", "B", "C", "D", "E"];
        let targets: Vec<Value> = targets
            .iter()
            .zip(refs)
            .map(|((expr, legend), r)| {
                let mut t = json!({
                    "refId": r, "expr": expr, "legendFormat": legend,
                    "datasource": {"type": "prometheus", "uid": DS}
                });
                if instant {
                    t["instant"] = json!(true);
                    t["range"] = json!(false);
                    t["format"] = json!("table");
                }
                t
            })
            .collect();
        self.panels.push(json!({
            "type": kind, "id": self.next_id, "title": title, "description": description,
            "datasource": {"type": "prometheus", "uid": DS},
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": targets
        }));
        self.next_id += 1;
        self.x += w;
        self.row_h = self.row_h.max(h);
        if self.x >= 24 {
            self.y += self.row_h;
            self.x = 0;
            self.row_h = 0;
        }
    }
}

fn variables(capability: &str) -> Value {
    if capability != "aus" {
        // A capability without organization info: environments from its SLI.
        let source = catalog::RHIDP_PASS_TOTAL.name;
        return json!({"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
            {"name": "ocm_env", "label": "OCM environment", "type": "query",
             "datasource": {"type": "prometheus", "uid": DS},
             "query": {"query": format!("label_values({source}, ocm_env)"), "refId": "ocm_env"},
             "definition": format!("label_values({source}, ocm_env)"),
             "refresh": 2, "multi": true, "includeAll": true, "allValue": ".*", "sort": 1}
        ]});
    }
    let info = catalog::ORG_INFO.name;
    json!({"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
        {"name": "ocm_env", "label": "OCM environment", "type": "query",
         "datasource": {"type": "prometheus", "uid": DS},
         "query": {"query": format!("label_values({info}, ocm_env)"), "refId": "ocm_env"},
         "definition": format!("label_values({info}, ocm_env)"),
         "refresh": 2, "multi": true, "includeAll": true, "allValue": ".*", "sort": 1},
        {"name": "org_id", "label": "OCM organization", "type": "query",
         "datasource": {"type": "prometheus", "uid": DS},
         "query": {"query": format!("{info}{{ocm_env=~\"$ocm_env\"}}"), "refId": "org_id"},
         "definition": format!("{info}{{ocm_env=~\"$ocm_env\"}}"),
         "regex": "/org_id=\"(?<value>[^\"]+)\".*org_name=\"(?<text>[^\"]+)\"/",
         "refresh": 2, "multi": true, "includeAll": true, "allValue": ".*", "sort": 1}
    ]})
}

fn model(capability: &str, uid: &str, title: &str, description: &str, panels: &[Value]) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["srecap", capability, "generated"],
        "editable": false,
        "schemaVersion": 39,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "5m",
        "timezone": "utc",
        "templating": variables(capability),
        "annotations": {"list": []},
        "links": [],
        "panels": panels
    })
}

/// The SLO, error budget and failure-cause dashboard.
fn slo_dashboard(sets: &[RuleSet]) -> Dashboard {
    let mut l = Layout::new();
    error_budget_rows(&mut l, AUS_SLOS, sets);
    aus_slo_rows(&mut l);
    Dashboard {
        uid: "srecap-aus-slo".to_owned(),
        model: model(
            "aus",
            "srecap-aus-slo",
            "srecap / AUS / SLOs",
            "Error budgets, burn rates and failure causes of AUS, per OCM environment and organization. Generated; do not edit.",
            &l.panels,
        ),
    }
}

/// Budget remaining and burn rate of every scope of `slos`: the first row of
/// every capability's SLO dashboard.
fn error_budget_rows(l: &mut Layout, slos: &[&SloDef], sets: &[RuleSet]) {
    l.row("Error budget");
    for slo in slos {
        for scope in slo.scopes {
            let shard = if scope.by.contains(&"org_id") {
                ", ocm_env=~\"$ocm_env\", org_id=~\"$org_id\""
            } else {
                ", ocm_env=~\"$ocm_env\""
            };
            let s = format!("{{slo=\"{}\", scope=\"{}\"{shard}}}", slo.name, scope.name);
            let remaining = format!("srecap:slo_error_budget_remaining:ratio{s}");
            l.panel(
                "stat",
                &format!("{}: budget remaining ({} scope, min)", slo.name, scope.name),
                &format!(
                    "1 - (30-day error ratio / error budget) of SLO {} ({}), {} scope, objective {}; the lowest shard of the selection.",
                    slo.name, slo.description, scope.name, scope.objective
                ),
                "percentunit",
                6,
                &[(&format!("min({remaining})"), "")],
                false,
            );
            let legend = if scope.by.contains(&"org_id") {
                "{{ocm_env}} {{org_id}}"
            } else {
                "{{ocm_env}}"
            };
            let mut burns = Vec::new();
            for w in slo.alerting_windows() {
                let d = crate::slo::duration(w.long);
                if sets.iter().flat_map(|s| &s.groups).flat_map(|g| &g.rules).any(
                    |r| matches!(r, Rule::Record(r) if r.record == format!("srecap:slo_error_ratio:rate{d}")),
                ) {
                    burns.push((
                        format!("srecap:slo_error_ratio:rate{d}{s} / {}", 1.0 - scope.objective),
                        format!("{legend} {d}"),
                    ));
                }
            }
            let burns: Vec<(&str, &str)> = burns
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            l.panel(
                "timeseries",
                &format!("{}: burn rate ({} scope)", slo.name, scope.name),
                &format!(
                    "How many times faster than allowed the error budget of {} burns; pages above {} (1h) and {} (6h), tickets above 1 (3d).",
                    slo.name,
                    slo.windows.iter().find(|w| w.long == 60 && w.severity == Severity::Critical).map_or(14.4, |w| w.factor),
                    slo.windows.iter().find(|w| w.long == 360).map_or(6.0, |w| w.factor),
                ),
                "x",
                18,
                &burns,
                false,
            );
        }
    }
}

/// AUS's rows below the error budget.
fn aus_slo_rows(l: &mut Layout) {
    l.panel(
        "table",
        "Budget remaining per organization (30d)",
        "Error budget left per organization of SLO aus-reconcile, lowest first.",
        "percentunit",
        12,
        &[(
            "sort(srecap:slo_error_budget_remaining:ratio{slo=\"aus-reconcile\", scope=\"org\", ocm_env=~\"$ocm_env\", org_id=~\"$org_id\"})",
            "",
        )],
        true,
    );
    l.panel(
        "table",
        "Firing AUS alerts",
        "Alerts of service srecap-aus firing now.",
        "short",
        12,
        &[(
            "ALERTS{service=\"srecap-aus\", alertstate=\"firing\", ocm_env=~\"$ocm_env\"}",
            "",
        )],
        true,
    );

    l.row("Why it fails");
    let errors = format!(
        "sum by (cause) (rate({}[$__rate_interval]))",
        sel(&catalog::ORG_RECONCILE_ERRORS, "")
    );
    l.panel(
        "timeseries",
        "Failed organization reconciles by cause",
        catalog::ORG_RECONCILE_ERRORS.help,
        "ops",
        12,
        &[(&errors, "{{cause}}")],
        false,
    );
    let write_errors = format!(
        "sum by (operation, cause) (rate({}[$__rate_interval]))",
        sel(&catalog::OCM_WRITE_ERRORS, "")
    );
    l.panel(
        "timeseries",
        "Failed OCM writes by operation and cause",
        catalog::OCM_WRITE_ERRORS.help,
        "ops",
        12,
        &[(&write_errors, "{{operation}} {{cause}}")],
        false,
    );
    let requests = format!(
        "sum by (code) (rate({}[$__rate_interval]))",
        sel(&catalog::OCM_REQUESTS, "")
    );
    l.panel(
        "timeseries",
        "OCM requests by status",
        catalog::OCM_REQUESTS.help,
        "reqps",
        12,
        &[(&requests, "{{code}}")],
        false,
    );
    let latency = format!(
        "histogram_quantile(0.9, sum by (le, endpoint) (rate({}[$__rate_interval])))",
        buckets(&catalog::OCM_REQUEST_DURATION)
    );
    l.panel(
        "timeseries",
        "OCM request latency p90 by endpoint",
        catalog::OCM_REQUEST_DURATION.help,
        "s",
        12,
        &[(&latency, "{{endpoint}}")],
        false,
    );

    l.row("User configuration (not paging)");
    let config = format!(
        "max by (ocm_env, org_id, scope, reason) ({}) > 0",
        sel(&catalog::ORG_CONFIG_ERRORS, "")
    );
    l.panel(
        "table",
        "Configuration errors per organization",
        catalog::ORG_CONFIG_ERRORS.help,
        "short",
        12,
        &[(&config, "")],
        true,
    );
    let logs = format!(
        "sum by (org_id, kind) (increase({}[1d]))",
        sel(&catalog::SERVICE_LOGS, "result=\"sent\"")
    );
    l.panel(
        "timeseries",
        "Service logs sent per day",
        catalog::SERVICE_LOGS.help,
        "short",
        12,
        &[(&logs, "{{org_id}} {{kind}}")],
        false,
    );

    l.row("Pass health");
    l.panel(
        "stat",
        "Time since the last pass",
        catalog::PASS_LAST_COMPLETED.help,
        "s",
        6,
        &[(
            &format!("time() - {}", sel(&catalog::PASS_LAST_COMPLETED, "")),
            "{{ocm_env}}",
        )],
        false,
    );
    let duration = format!(
        "histogram_quantile(0.9, sum by (le, ocm_env) (rate({}[$__rate_interval])))",
        buckets(&catalog::PASS_DURATION)
    );
    l.panel(
        "timeseries",
        "Pass duration p90",
        catalog::PASS_DURATION.help,
        "s",
        6,
        &[
            (&duration, "{{ocm_env}} p90"),
            (&sel(&catalog::PASS_INTERVAL, ""), "{{ocm_env}} interval"),
        ],
        false,
    );
    l.panel(
        "timeseries",
        "Pass overruns per hour",
        catalog::PASS_OVERRUNS.help,
        "short",
        6,
        &[(
            &format!(
                "sum by (ocm_env) (increase({}[1h]))",
                sel(&catalog::PASS_OVERRUNS, "")
            ),
            "{{ocm_env}}",
        )],
        false,
    );
    l.panel(
        "table",
        "Time since each organization's last good reconcile",
        catalog::ORG_LAST_SUCCESS.help,
        "s",
        6,
        &[(
            &format!(
                "sort_desc(time() - {})",
                sel(&catalog::ORG_LAST_SUCCESS, "")
            ),
            "",
        )],
        true,
    );
}

/// Fleet overview, upgrade progress and soak status.
fn upgrades_dashboard() -> Dashboard {
    let mut l = Layout::new();
    let info = &catalog::AUS_POLICY_INFO;
    l.row("Fleet overview");
    l.panel(
        "piechart",
        "Clusters per version",
        info.help,
        "short",
        8,
        &[(
            &format!("count by (current_version) ({})", sel(info, "")),
            "{{current_version}}",
        )],
        true,
    );
    l.panel(
        "table",
        "Clusters per organization",
        info.help,
        "short",
        8,
        &[(
            &format!("count by (ocm_env, org_id, org_name) ({})", sel(info, "")),
            "",
        )],
        true,
    );
    l.panel(
        "table",
        "Organizations with validation errors",
        catalog::AUS_VALIDATION_ERRORS.help,
        "short",
        8,
        &[(
            &format!("{} > 0", sel(&catalog::AUS_VALIDATION_ERRORS, "")),
            "",
        )],
        true,
    );
    l.panel(
        "table",
        "Upgrade policy configuration",
        info.help,
        "short",
        24,
        &[(&sel(info, ""), "")],
        true,
    );

    l.row("Upgrade progress");
    l.panel(
        "piechart",
        "Clusters by upgrade state",
        catalog::CLUSTER_UPGRADE_STATE.help,
        "short",
        8,
        &[(
            &format!(
                "count by (state) ({} == 1)",
                sel(&catalog::CLUSTER_UPGRADE_STATE, "")
            ),
            "{{state}}",
        )],
        true,
    );
    l.panel(
        "table",
        "Running upgrades (hours since start)",
        catalog::CLUSTER_UPGRADE_STARTED.help,
        "h",
        16,
        &[(
            &format!(
                "sort_desc((time() - {}) / 3600)",
                sel(&catalog::CLUSTER_UPGRADE_STARTED, "")
            ),
            "",
        )],
        true,
    );
    l.panel(
        "timeseries",
        "Upgrade policies created",
        catalog::OCM_WRITES.help,
        "short",
        12,
        &[(
            &format!(
                "sum by (org_id) (increase({}[1h]))",
                sel(&catalog::OCM_WRITES, "operation=\"create_upgrade_policy\"")
            ),
            "{{org_id}}",
        )],
        false,
    );
    l.panel(
        "table",
        "Channel switches in the last pass",
        catalog::AUS_CHANNEL_SWITCH.help,
        "short",
        12,
        &[(&sel(&catalog::AUS_CHANNEL_SWITCH, ""), "")],
        true,
    );
    l.panel(
        "table",
        "Missing version-gate agreements",
        catalog::AUS_MISSING_GATES.help,
        "short",
        24,
        &[(&format!("{} > 0", sel(&catalog::AUS_MISSING_GATES, "")), "")],
        true,
    );

    l.row("Soak status");
    let soak = format!(
        "{} * on (cluster_uuid) group_left (cluster_name, org_id) {}",
        sel(&catalog::AUS_REMAINING_SOAK_DAYS, ""),
        sel(info, "")
    );
    l.panel(
        "table",
        "Soak days left per cluster and version",
        catalog::AUS_REMAINING_SOAK_DAYS.help,
        "d",
        12,
        &[(&soak, "")],
        true,
    );
    l.panel(
        "table",
        "Soak days per version and workload",
        catalog::AUS_VERSION_DATA.help,
        "d",
        12,
        &[(&sel(&catalog::AUS_VERSION_DATA, ""), "")],
        true,
    );
    Dashboard {
        uid: "srecap-aus-upgrades".to_owned(),
        model: model(
            "aus",
            "srecap-aus-upgrades",
            "srecap / AUS / Upgrades",
            "Fleet overview, upgrade progress and soak status of the clusters AUS manages. Generated; do not edit.",
            &l.panels,
        ),
    }
}

/// The dashboards of AUS.
pub fn aus_dashboards(sets: &[RuleSet]) -> Vec<Dashboard> {
    vec![slo_dashboard(sets), upgrades_dashboard()]
}

/// The dashboards of the Red Hat IdP capability: its SLO, why passes fail, and
/// its alerts.
pub fn rhidp_dashboards(sets: &[RuleSet]) -> Vec<Dashboard> {
    let mut l = Layout::new();
    error_budget_rows(&mut l, RHIDP_SLOS, sets);
    l.panel(
        "table",
        "Firing Red Hat IdP alerts",
        "Alerts of service srecap-rhidp firing now.",
        "short",
        24,
        &[(
            "ALERTS{service=\"srecap-rhidp\", alertstate=\"firing\", ocm_env=~\"$ocm_env\"}",
            "",
        )],
        true,
    );
    l.row("Why it fails");
    let errors = format!(
        "sum by (ocm_env, cause) (increase({}[1h]))",
        sel(&catalog::RHIDP_PASS_ERRORS, "")
    );
    l.panel(
        "timeseries",
        "Failed passes per hour by cause",
        catalog::RHIDP_PASS_ERRORS.help,
        "short",
        12,
        &[(&errors, "{{ocm_env}} {{cause}}")],
        false,
    );
    let passes = format!(
        "sum by (ocm_env) (increase({}[1h]))",
        sel(&catalog::RHIDP_PASS_TOTAL, "")
    );
    l.panel(
        "timeseries",
        "Passes per hour",
        catalog::RHIDP_PASS_TOTAL.help,
        "short",
        12,
        &[(&passes, "{{ocm_env}}")],
        false,
    );
    l.row("Keycloak");
    // The reference's gauge names its environment `ocm_environment` (I65).
    let iat = format!(
        "min by (ocm_environment, path) ({}{{ocm_environment=~\"$ocm_env\"}} - time()) / 86400",
        catalog::RHIDP_IAT_EXPIRATION.name
    );
    l.panel(
        "timeseries",
        "Days until each initial access token expires",
        catalog::RHIDP_IAT_EXPIRATION.help,
        "d",
        12,
        &[(&iat, "{{ocm_environment}} {{path}}")],
        false,
    );
    // Keycloak requests carry no environment: one process serves one.
    let requests = format!(
        "sum by (method, verb) (rate({}[$__rate_interval]))",
        sel(&catalog::RHIDP_KEYCLOAK_REQUESTS, "")
    );
    l.panel(
        "timeseries",
        "Keycloak requests per second by method",
        catalog::RHIDP_KEYCLOAK_REQUESTS.help,
        "reqps",
        12,
        &[(&requests, "{{method}} {{verb}}")],
        false,
    );
    vec![Dashboard {
        uid: "srecap-rhidp-slo".to_owned(),
        model: model(
            "rhidp",
            "srecap-rhidp-slo",
            "srecap / Red Hat IdP / SLOs",
            "Error budget, burn rate and failure causes of the Red Hat IdP capability, per OCM environment. Generated; do not edit.",
            &l.panels,
        ),
    }]
}

/// The metric names a PromQL expression selects (functions, keywords, label
/// names, strings and durations left out). Enough for the expressions generated
/// here, whose syntax promtool checks separately.
pub fn referenced_metrics(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_to = |i: usize, close: char| {
        let mut j = i + 1;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' {
                j += 1;
                while j < chars.len() && chars[j] != '"' {
                    if chars[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i, '}');
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c == '"' {
            i = skip_to(i, '"');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let call = j < chars.len() && chars[j] == '(';
            if LABEL_LISTS.contains(&word.as_str()) && call {
                i = skip_to(j, ')');
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                out.push(word);
            }
        } else {
            i += 1;
        }
    }
    out
}
