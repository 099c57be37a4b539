//! One Markdown runbook per generated alert (§5), at
//! `docs/runbooks/<capability>/<AlertName>.md`, which the alert's `runbook_url`
//! points at. The header (what fires, with which expression, thresholds and
//! links) is generated from the rules; the sections are written here, next to the
//! definitions, so an alert without a runbook fails generation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Artefact;
use crate::rules::{AlertRule, Links, RuleSet, RulesError};

/// The human-written part of a runbook.
#[derive(Debug, Clone, Copy)]
pub struct Sections {
    pub meaning: &'static str,
    pub impact: &'static str,
    pub diagnosis: &'static str,
    pub mitigation: &'static str,
    pub escalation: &'static str,
    pub silencing: &'static str,
    pub related: &'static str,
}

const DIAGNOSE_ORG: &str = "\
1. Is `AUSEnvReconcileErrorBudgetBurn`, `AUSReconcilePassStalled` or `AUSAbsent` firing for the same
   environment? Then follow that runbook: this organization is collateral.
2. Find the cause. On the SLO dashboard (link above) the panel *Failed organization reconciles by cause*
   splits the failures; in Prometheus:
   `sum by (cause) (increase(srecap_aus_org_reconcile_errors_total{ocm_env=\"<env>\", org_id=\"<org>\"}[1h]))`.
3. Reproduce without writing to OCM or the state store:
   `srecap aus run --once --dry-run --environment <env> --org <org> --log info -o json > /dev/null`.
   Failures are printed as `warning: organization <org> failed this pass: …` with the OCM method, path
   and status; the reconciler's own log has the same lines with `org=<org>`.
4. By cause:
   * `ocm_api`: OCM answered 5xx/429 or not at all. Check the *OCM requests by status* and *latency*
     panels and OCM's status page; `srecap_ocm_requests_total{code=~\"5..|429|error\"}` by `endpoint`.
   * `ocm_auth`: our service account was refused (401/403) or no token could be obtained. Check the
     credentials of the deployment (`OCM_CLIENT_ID`, `OCM_CLIENT_SECRET` or the token file) and whether
     the account's role in the organization was removed.
   * `internal`: a bug or data AUS cannot use (unparsable version, a 400/422 for a payload we built, a
     state-store error). The dry run above shows the message; compare `srecap --version` with the last
     deploy.
   * `deadline`: the organization's pass exceeded its deadline. Check OCM latency and the organization's
     cluster count.
   * `notify`: service logs telling users about their configuration errors could not be posted
     (`srecap_aus_service_logs_total{result=\"error\"}`).";

const MITIGATE_ORG: &str = "\
* Transient OCM trouble: no action; the page resolves within the short window after recovery.
* Regression after a deploy: roll srecap back to the previous version.
* A bug limited to this organization's data: stop reconciling it with `--exclude-org <org>` on the
  deployment (`srecap aus run --exclude-org <org> …`), open a ticket, and fix forward. Upgrades already
  scheduled in OCM still run; nothing new is scheduled for the organization while it is excluded.
* An error that is really the user's (misclassified): fix the classification in
  `crates/controller/src/outcome.rs`; the user is told through service logs once it is a user error.";

/// The sections of each alert, by name.
pub fn sections(alert: &str) -> Option<Sections> {
    Some(match alert {
        "AUSOrgReconcileErrorBudgetBurn" => Sections {
            meaning: "Reconciles of OCM organization `org_id` in `ocm_env` end in bad events (ours or OCM's, never \
the users' label mistakes) fast enough to spend a significant part of the 30-day error budget of SLO \
`aus-reconcile` at organization scope (objective 97 %). `long`/`short` name the window pair; `severity=critical` \
pages (1h/10m at 14.4x, 6h/30m at 6x), `severity=warning` is the 3d/6h ticket at 1x. At least 6 passes in the \
last hour are required, so a freshly onboarded organization does not page on its first failure.",
            impact: "No new upgrade policies, channel switches or version-gate agreements are created for the \
organization's clusters. Upgrades already scheduled in OCM still run. A cluster whose schedule window passes \
during the outage waits for its next window. Users are not told: the failure is ours, not theirs.",
            diagnosis: DIAGNOSE_ORG,
            mitigation: MITIGATE_ORG,
            escalation: "OCM on-call for `ocm_api` and `ocm_auth`, with the failing method, path and status from the \
dry run. srecap maintainers for `internal`.",
            silencing: "Only during a confirmed OCM incident, for its expected duration, with a ticket link.",
            related: "Inhibited by `AUSEnvReconcileErrorBudgetBurn` (same `ocm_env`, `slo`), `AUSReconcilePassStalled` \
and `AUSAbsent`. The critical variant inhibits the warning variant for the same organization.",
        },
        "AUSEnvReconcileErrorBudgetBurn" => Sections {
            meaning: "Across the whole environment `ocm_env`, organization reconciles end in bad events fast enough to \
spend the 30-day budget of SLO `aus-reconcile` at environment scope (objective 99.5 %). This catches \
systemic breakage: OCM down or refusing us, a bad srecap release, a broken state store. Failures before the \
organization fan-out (listing organizations, clusters or labels) are attributed to every organization of the \
last successful listing, so they count here too.",
            impact: "AUS schedules nothing (or little) in the environment. Scheduled upgrades still run; clusters miss \
their schedule windows while it lasts.",
            diagnosis: "1. Check `AUSReconcilePassStalled`/`AUSAbsent` first: a dead loop explains everything.\n\
2. `sum by (cause) (increase(srecap_aus_env_errors_total{ocm_env=\"<env>\"}[1h]))`: failures before the \
fan-out (discovery). `sum by (cause) (increase(srecap_aus_org_reconcile_errors_total{ocm_env=\"<env>\"}[1h]))`: \
all failures by cause.\n\
3. Reproduce: `srecap aus run --once --dry-run --environment <env> --log info -o json > /dev/null`; an error \
`discovering the OCM environment` names the failing OCM call.\n\
4. By cause, as in [AUSOrgReconcileErrorBudgetBurn](AUSOrgReconcileErrorBudgetBurn.md): `ocm_api` → OCM \
status and the *OCM requests by status* panel; `ocm_auth` → the service-account credentials; `internal` → \
the last deploy.",
            mitigation: "* OCM outage: wait; nothing to do on our side, the page clears within 10 minutes of recovery.\n\
* Credentials: rotate or restore the service account's secret and restart the deployment.\n\
* Bad release: roll back srecap.",
            escalation: "OCM on-call for `ocm_api`/`ocm_auth`; srecap maintainers otherwise.",
            silencing: "During a confirmed OCM incident only, never longer than 4 hours.",
            related: "Inhibits `AUSOrgReconcileErrorBudgetBurn` for the same environment. Inhibited by \
`AUSReconcilePassStalled` and `AUSAbsent`.",
        },
        "AUSOrgAddonReconcileErrorBudgetBurn" => Sections {
            meaning: "Add-on upgrade passes of OCM organization `org_id` in `ocm_env` (the add-on scheduler, \
`ocm-addons-upgrade-scheduler-org`) end in bad events fast enough to spend a significant part of the 30-day \
error budget of SLO `aus-addon-reconcile` at organization scope (objective 97 %). Same windows as \
`AUSOrgReconcileErrorBudgetBurn`.",
            impact: "No add-on upgrade plan is created or cleaned up for the organization's registered clusters. \
Plans already in OCM still run; cluster upgrades are not affected.",
            diagnosis: "1. `sum by (cause) (increase(srecap_aus_addon_org_reconcile_errors_total{ocm_env=\"<env>\", \
org_id=\"<org>\"}[1h]))` gives the cause.\n\
2. The controller logs `add-on upgrades of the organization failed` with the organization and the error.\n\
3. Reproduce: `srecap aus run --once --dry-run --config <file> --environment <env> --org <org> --log info`.",
            mitigation: "* Transient OCM trouble (add-on service): no action.\n\
* Switch the add-on scheduler off for the organization: add `ocm-addons-upgrade-scheduler-org` to its \
`disabled` list in the configuration file, open a ticket, fix forward.",
            escalation: "OCM add-on service on-call for `ocm_api`/`ocm_auth`; srecap maintainers otherwise.",
            silencing: "Only during a confirmed OCM incident, for its expected duration, with a ticket link.",
            related: "Inhibited by `AUSEnvAddonReconcileErrorBudgetBurn` (same `ocm_env`, `slo`), \
`AUSReconcilePassStalled` and `AUSAbsent`.",
        },
        "AUSEnvAddonReconcileErrorBudgetBurn" => Sections {
            meaning: "Across environment `ocm_env`, add-on upgrade passes of organizations end in bad events fast \
enough to spend the 30-day budget of SLO `aus-addon-reconcile` at environment scope (objective 99.5 %). An \
unreadable add-on catalogue fails every organization of the pass.",
            impact: "No add-on upgrades are scheduled in the environment. Cluster upgrades are not affected.",
            diagnosis: "1. Check `AUSReconcilePassStalled`/`AUSAbsent` first.\n\
2. `sum by (cause) (increase(srecap_aus_addon_org_reconcile_errors_total{ocm_env=\"<env>\"}[1h]))`.\n\
3. The logs: `add-on catalogue unreadable` (the catalogue, `GET /api/addons_mgmt/v1/addons`) or \
`add-on upgrades of the organization failed`.\n\
4. Reproduce: `srecap aus run --once --dry-run --config <file> --environment <env> --log info`.",
            mitigation: "* Add-on service outage: wait.\n\
* Bad release: roll back srecap.",
            escalation: "OCM add-on service on-call; srecap maintainers otherwise.",
            silencing: "During a confirmed OCM incident only, never longer than 4 hours.",
            related: "Inhibits `AUSOrgAddonReconcileErrorBudgetBurn` for the same environment. Inhibited by \
`AUSReconcilePassStalled` and `AUSAbsent`.",
        },
        "AUSEnvOcmWriteErrorBudgetBurn" => Sections {
            meaning: "OCM writes of AUS in `ocm_env` (upgrade policies, channel switches, service logs) fail often \
enough to spend the 30-day budget of SLO `aus-ocm-writes` (objective 99 %) within the period. Ticket only: \
each failed write also fails its organization's reconcile, which pages through `aus-reconcile` when it matters.",
            impact: "Some clusters do not get their upgrade policy or channel switch, or some users are not told about \
their configuration errors. The next pass retries.",
            diagnosis: "1. `sum by (operation, cause) (increase(srecap_aus_ocm_write_errors_total{ocm_env=\"<env>\"}[6h]))` \
shows which write fails and why (*Failed OCM writes* panel).\n\
2. `srecap aus run --once --environment <env> --org <org> --log info` on an affected organization prints \
each rejected action as `warning: organization <org>: <action> <cluster>: <OCM error>`.\n\
3. A 400/422 (`internal`) means we built a payload OCM rejects: compare with the OCM API changelog.",
            mitigation: "* OCM trouble: wait and watch the burn rate.\n\
* Payload rejected after an OCM API change: fix srecap and release.",
            escalation: "OCM team for persistent 5xx on one endpoint.",
            silencing: "Acceptable for a known OCM incident, with a ticket link.",
            related: "Inhibited by `AUSEnvReconcileErrorBudgetBurn` pages for the same environment through the \
critical-hides-warning rule only when labels match; usually both are worked together.",
        },
        "AUSReconcilePassStalled" => Sections {
            meaning: "No AUS pass has completed in `ocm_env` for more than three pass intervals \
(`srecap_aus_pass_interval_seconds`). The loop is hung, crash-looping, or blocked on OCM.",
            impact: "Nothing is reconciled in the environment: no new upgrade policies and no feedback to users. \
Freshness degrades for every organization.",
            diagnosis: "1. Is the process up? `kubectl get pods -l app.kubernetes.io/name=srecap` and its restarts; \
`curl -s http://<pod>:<metrics-port>/readyz` answers `ready` once a pass completed.\n\
2. Logs: `pass finished` lines stop; look for `pass failed` (discovery errors) or nothing at all (hung).\n\
3. Pass duration: the *Pass duration p90* panel; a pass far longer than the interval is not a stall but an \
overrun (see `AUSPassOverrunning`).\n\
4. Reproduce a single pass: `srecap aus run --once --dry-run --environment <env> --log info -o json > /dev/null`.",
            mitigation: "* Restart the deployment: a pass is idempotent and the store keeps the soak history, so \
restarting is always safe.\n* If a single organization hangs the pass, exclude it with `--exclude-org <org>` \
and open a ticket.",
            escalation: "srecap maintainers.",
            silencing: "Never while the environment is in use; fix or roll back.",
            related: "Inhibits every `AUS*ErrorBudgetBurn` alert of the same environment.",
        },
        "AUSAbsent" => Sections {
            meaning: "Prometheus has no `srecap_aus_pass_last_completed_timestamp_seconds` for the environment \
`ocm_env`: the AUS reconciler of that environment is not running or not scraped. Every other AUS alert is \
blind without these metrics.",
            impact: "AUS is not reconciling that environment, or nobody can tell whether it is.",
            diagnosis: "1. `kubectl get pods -l app.kubernetes.io/name=srecap` in the environment's namespace.\n\
2. Is the pod scraped? Check the Prometheus targets page for the srecap job, and that the deployment passes \
`--metrics-listen` and `--environment <env>` (the label value must match).\n\
3. `curl -s http://<pod>:<metrics-port>/metrics | grep srecap_aus_pass_last_completed` should show a sample \
once the first pass has completed.\n\
4. Check credentials and reachability with one pass by hand: \
`srecap aus run --once --dry-run --environment <env> -o json > /dev/null`.",
            mitigation: "Restore the deployment or its scrape configuration. A fresh start resumes from the state \
store; nothing is lost.",
            escalation: "The team owning the monitoring stack if scraping is broken.",
            silencing: "Only while the environment is intentionally not served by AUS; then remove it from the \
generator's `--environment` list instead.",
            related: "Inhibits every `AUS*ErrorBudgetBurn` alert of the same environment.",
        },
        "AUSPassOverrunning" => Sections {
            meaning: "More than half of the passes in `ocm_env` during the last hour took longer than the configured \
interval (`srecap_aus_pass_overruns_total` / `srecap_aus_pass_total`).",
            impact: "Passes run back to back; organizations are reconciled less often than intended, and schedule \
windows shorter than a pass can be missed.",
            diagnosis: "1. *Pass duration p90* and *OCM request latency p90 by endpoint* panels: slow OCM, or more \
clusters?\n\
2. `sum by (endpoint) (rate(srecap_ocm_requests_total{ocm_env=\"<env>\"}[1h]))`: which calls dominate.\n\
3. A dry run with timing: `time srecap aus run --once --dry-run --environment <env> -o json > /dev/null`.",
            mitigation: "* Raise `--concurrency` (bounded OCM requests in flight) if OCM is healthy.\n\
* Raise `--interval` if the fleet has grown; regenerate the rules if the cadence changes a lot.",
            escalation: "srecap maintainers for performance work; OCM team if latency is theirs.",
            silencing: "Acceptable for a day while a fix is rolled out.",
            related: "May precede `AUSReconcilePassStalled`.",
        },
        "AUSConfigErrorSpike" => Sections {
            meaning: "At least three organizations of `ocm_env` started failing AUS label validation within the last \
hour (`srecap_aus_org_config_errors`, new since an hour ago). One user's mistake is theirs and is reported to \
them by service log; many at once usually means srecap, the label schema or a shared inheritance source changed.",
            impact: "The affected organizations are frozen: AUS plans nothing for them until their labels validate. \
Their owners receive service logs.",
            diagnosis: "1. The *Configuration errors per organization* table on the SLO dashboard lists organizations \
and the label at fault (`reason`).\n\
2. A common `reason` across organizations points at our change: compare with the last srecap deploy.\n\
3. Reproduce the validation for one organization: `srecap aus run --once --dry-run --environment <env> --org <org> -o json` \
shows its validation errors in the plan (`validation_errors`).",
            mitigation: "* Our regression: roll back srecap; the organizations validate again on the next pass.\n\
* A real wave of user mistakes (for example a shared label template): contact the owners; the service logs \
already explain the problem.",
            escalation: "srecap maintainers when a release is suspected.",
            silencing: "Not needed: the alert resolves by itself about an hour after the spike.",
            related: "Never pages: configuration errors are user-audience metrics.",
        },
        "AUSOrgFreshnessBudgetBurn" => Sections {
            meaning: "Over the last 3 days and 6 hours, organization `org_id` in `ocm_env` spent more than 1 % of its \
minutes without a good reconcile in the preceding 30 minutes (six passes), the budget of SLO `aus-freshness` \
(timeslices, objective 99 %). It catches what the error ratio misses: passes that hang, are cancelled before \
counting, or skip the organization.",
            impact: "Decisions for the organization's clusters are made late or not at all; schedule windows can \
be missed.",
            diagnosis: "1. `time() - srecap_aus_org_last_success_timestamp_seconds{ocm_env=\"<env>\", org_id=\"<org>\"}`: \
how stale the organization is now (the *Time since each organization's last good reconcile* table).\n\
2. Is it failing (see `AUSOrgReconcileErrorBudgetBurn` and the causes panel), or not reconciled at all? \
An organization excluded with `--exclude-org` or missing from discovery is not reconciled.\n\
3. Reproduce: `srecap aus run --once --dry-run --environment <env> --org <org> -o json > /dev/null`.",
            mitigation: "Fix the underlying failures (see the reconcile runbooks), or if the organization was excluded \
on purpose, accept the ticket with a link to the exclusion's ticket.",
            escalation: "srecap maintainers.",
            silencing: "While the organization is deliberately excluded, for the duration of the exclusion.",
            related: "`AUSOrgReconcileErrorBudgetBurn` (failures), `AUSReconcilePassStalled` (no passes at all).",
        },
        "AUSClusterUpgradeStuck" => Sections {
            meaning: "OCM has reported the upgrade of cluster `cluster_uuid` (organization `org_id`, `ocm_env`) to \
`target_version` as started for more than 6 hours (`srecap_aus_cluster_upgrade_started_timestamp_seconds`). \
AUS scheduled it; the upgrade itself is run by the cluster's managed-upgrade operator.",
            impact: "The cluster may be half upgraded; its mutexes stay held, so other clusters sharing them wait, \
and its sector's dependants do not soak the new version.",
            diagnosis: "1. The *Soak status* and *Upgrade progress* rows of the `srecap-aus-upgrades` dashboard, \
filtered to the organization.\n\
2. The cluster's upgrade policy state in OCM: `ocm get /api/clusters_mgmt/v1/clusters/<cluster id>/upgrade_policies` \
and its `/state`.\n\
3. What AUS plans meanwhile: `srecap aus run --once --dry-run --environment <env> --org <org_id> -o json` shows \
the cluster's decision and the mutexes it holds.",
            mitigation: "Hand the cluster to its owners or the managed-upgrade on-call; AUS does not retry or cancel a \
running upgrade. If its mutexes block others for too long, the owners can cancel the policy in OCM; AUS \
schedules again on a later pass.",
            escalation: "Managed-upgrade (MUO) on-call for the cluster.",
            silencing: "Per cluster, until its owners have taken it over.",
            related: "`AUSUpgradesStuckMany` pages when this happens to many clusters of an environment at once.",
        },
        "AUSUpgradesStuckMany" => Sections {
            meaning: "In `ocm_env`, at least three cluster upgrades, and at least 10 % of the upgrades in flight, have \
been running for more than 6 hours. One stuck upgrade is a cluster problem; many at once are a fleet problem: \
a bad release, the managed-upgrade operator, or OCM.",
            impact: "Upgrades across the environment stall; mutexes stay held, sectors stop progressing, and AUS keeps \
scheduling more clusters onto the same version.",
            diagnosis: "1. `count by (target_version) (time() - srecap_aus_cluster_upgrade_started_timestamp_seconds{ocm_env=\"<env>\"} > 21600)`: \
one target version points at the release.\n\
2. The `srecap-aus-upgrades` dashboard, *Upgrade progress* row.\n\
3. The plan for an affected organization: `srecap aus run --once --dry-run --environment <env> --org <org_id> -o json`.",
            mitigation: "* A bad release: block the version for the fleet (the organizations' \
`sre-capabilities.aus.blocked-versions` label) so AUS schedules no more clusters onto it, and escalate.\n\
* Stop AUS from scheduling while investigating: scale the deployment down or run it with `--dry-run`; \
upgrades already started are unaffected.",
            escalation: "Managed-upgrade on-call and the OpenShift release team for a version-specific failure.",
            silencing: "Never while upgrades are stuck; fix or block the version.",
            related: "Inhibits nothing; `AUSClusterUpgradeStuck` tickets exist per cluster and are hidden while this pages \
only where labels match.",
        },
        "RHIDPEnvReconcileErrorBudgetBurn" => Sections {
            meaning: "Red Hat IdP passes in `ocm_env` fail often enough to spend the 30-day budget of SLO \
`rhidp-reconcile` (objective 99 %) within the period: discovery, the sealed client records or SSO-client and \
identity-provider actions fail for reasons that are not the users' (their configuration errors are service logs). \
Ticket only: logins clusters already have keep working.",
            impact: "Newly opted-in clusters do not get their SSO client and identity provider; switched-off clusters keep \
theirs; configuration changes (name, issuer, group filter) wait.",
            diagnosis: "1. `sum by (cause) (increase(srecap_rhidp_pass_errors_total{ocm_env=\"<env>\"}[6h]))` shows \
where passes fail (*Failed passes per hour by cause* panel).\n\
2. The reconciler's log has one `pass finished` line per pass with `actions_failed`, and a warning per failed \
action naming it and the error (Keycloak's error code, or OCM's method, path and status).\n\
3. By cause: `discovery` (OCM unreachable or refusing our account), `store` (the state store, or a sealing key \
that does not open the records: check `SRECAP_SECRET_KEY` / `--secret-key-file` against the key the records were \
written with), `action` (Keycloak or OCM refused a write: an expired or exhausted initial access token shows as \
401 on `register`).",
            mitigation: "* OCM or SSO outage: wait and watch the burn rate.\n\
* Initial access token expired or used up: issue a new one in the realm and update the deployment's secret.\n\
* Wrong sealing key after a rotation: deploy the key the records were written with; never delete the records \
(their registration access tokens are the only way to delete the clients).",
            escalation: "Red Hat SSO team for realm problems (tokens, client policies); srecap maintainers otherwise.",
            silencing: "Acceptable for a known SSO or OCM incident, with a ticket link.",
            related: "`RHIDPInitialAccessTokenExpiring` warns before the most common cause of failed \
registrations.",
        },
        "RHIDPInitialAccessTokenExpiring" => Sections {
            meaning: "The `exp` claim of the initial access token (IAT) srecap registers SSO clients with, read from \
`path` (a file given with `--keycloak-iat-file ISSUER=FILE`, or `env:SRECAP_KEYCLOAK_IAT_<REALM>`), is less than \
14 days away, or already past, in `ocm_environment` \
(`rhidp_sso_client_inital_access_token_expiration - time()`). The gauge is set when `srecap rhidp run` reads \
the token; a token that is not a JWT exports no series and cannot fire this alert.",
            impact: "None yet. Once the token expires (or its use count is exhausted), Keycloak refuses every \
registration with 401: newly opted-in clusters, renamed ones and clusters whose issuer changed get no SSO \
client and no identity provider, and passes fail (`RHIDPEnvReconcileErrorBudgetBurn`). Existing clients, \
providers and logins keep working: updates and deletes use each client's own registration access token.",
            diagnosis: "1. Which token: `rhidp_sso_client_inital_access_token_expiration{ocm_environment=\"<env>\"}` \
per `path`; `(… - time()) / 86400` is the days left.\n\
2. The deployment's secret at that path (or the environment variable) is the token the realm issued; its \
expiry is the `exp` field of the JWT's payload (`cut -d. -f2 < FILE | base64 -d`).\n\
3. Whether registrations already fail: `srecap_rhidp_pass_errors_total{cause=\"action\"}` and a 401 on \
`register` in the reconciler's log.",
            mitigation: "Ask the realm's administrators (Red Hat SSO team) for a new initial access token with \
enough uses, replace the deployment's secret (the file of `--keycloak-iat-file` or \
`SRECAP_KEYCLOAK_IAT_<REALM>`) and restart `srecap rhidp run`; the gauge moves to the new expiry and the \
alert resolves after its next evaluation. Nothing in the state store changes: records keep their \
registration access tokens.",
            escalation: "Red Hat SSO team for the new token.",
            silencing: "Only while a new token is on its way, for at most the days left, with a ticket link.",
            related: "`RHIDPEnvReconcileErrorBudgetBurn` follows if the token is allowed to expire.",
        },
        _ => return None,
    })
}

/// The runbook files for the alerts in `sets`, under
/// `docs/runbooks/<capability>/`.
pub fn runbooks(sets: &[RuleSet], links: &Links) -> Result<Vec<Artefact>, RulesError> {
    let mut by_name: BTreeMap<&str, (&'static str, Vec<&AlertRule>)> = BTreeMap::new();
    for s in sets {
        for a in s.alerts() {
            by_name
                .entry(a.alert.as_str())
                .or_insert_with(|| (s.capability, Vec::new()))
                .1
                .push(a);
        }
    }
    by_name
        .into_iter()
        .map(|(name, (capability, variants))| {
            let sections = sections(name).ok_or_else(|| RulesError::MissingRunbook {
                alert: name.to_owned(),
            })?;
            Ok(Artefact {
                path: format!("docs/runbooks/{capability}/{name}.md"),
                contents: render(name, capability, &variants, &sections, links),
            })
        })
        .collect()
}

/// The runbook files for the alerts of AUS (`sets` from `aus_rules`).
pub fn aus_runbooks(sets: &[RuleSet], links: &Links) -> Result<Vec<Artefact>, RulesError> {
    runbooks(sets, links)
}

fn render(
    name: &str,
    capability: &str,
    variants: &[&AlertRule],
    s: &Sections,
    links: &Links,
) -> String {
    let mut out = format!(
        "<!-- Generated by `srecap observability generate`; edit the text in crates/observability/src/runbook.rs. -->\n# {name}\n\n"
    );
    let _ = writeln!(
        out,
        "| severity | windows | for | expression |\n|---|---|---|---|"
    );
    for a in variants {
        let windows = match (a.labels.get("long"), a.labels.get("short")) {
            (Some(l), Some(s)) => format!("{l} / {s}"),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {windows} | {} | `{}` |",
            a.severity(),
            a.for_.as_deref().unwrap_or("–"),
            a.expr.replace('|', "\\|")
        );
    }
    if let Some(a) = variants.first() {
        if let Some(d) = a.annotations.get("dashboard") {
            let base = d.split('?').next().unwrap_or(d);
            let _ = writeln!(out, "\nDashboard: <{base}>");
        }
        let _ = writeln!(
            out,
            "Runbook URL: <{}/{capability}/{name}.md>",
            links.runbook_base
        );
    }
    for (title, body) in [
        ("Meaning", s.meaning),
        ("Impact", s.impact),
        ("Diagnosis", s.diagnosis),
        ("Mitigation", s.mitigation),
        ("Escalation", s.escalation),
        ("Silencing", s.silencing),
        ("Related alerts", s.related),
    ] {
        let _ = write!(out, "\n## {title}\n\n{body}\n");
    }
    out
}
