//! Typed SLO definitions (§1.6) and the burn-rate window table (§2.3).

use crate::catalog;
use crate::metric::MetricDef;

/// How an alert is routed: `critical` pages, `warning` opens a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// One multiwindow burn-rate pair, in minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnWindow {
    pub long: u32,
    /// The canonical short window (`long / 12`); raised for low traffic, see
    /// [`SloDef::short_window`].
    pub short: u32,
    pub factor: f64,
    pub for_minutes: u32,
    pub severity: Severity,
}

/// The SRE Workbook table for a 30-day period: 2 % of the budget in 1 h, 5 % in
/// 6 h (both page), 10 % in 3 d (ticket).
pub const WORKBOOK_30D: [BurnWindow; 3] = [
    BurnWindow {
        long: 60,
        short: 5,
        factor: 14.4,
        for_minutes: 2,
        severity: Severity::Critical,
    },
    BurnWindow {
        long: 360,
        short: 30,
        factor: 6.0,
        for_minutes: 15,
        severity: Severity::Critical,
    },
    BurnWindow {
        long: 4320,
        short: 360,
        factor: 1.0,
        for_minutes: 60,
        severity: Severity::Warning,
    },
];

/// Where an SLO is evaluated: the environment aggregate or each organization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scope {
    /// `env` or `org`; becomes the `scope` label and part of the alert name.
    pub name: &'static str,
    /// Shard labels the SLI is summed by.
    pub by: &'static [&'static str],
    pub objective: f64,
    /// Alerts need at least this many events in the last hour (0: no guard), so a
    /// freshly onboarded shard with one failed event out of one does not page.
    pub min_events_1h: u32,
}

impl Scope {
    pub fn budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// `Env`, `Org`: the scope as it appears in alert names.
    pub fn title(&self) -> String {
        let mut c = self.name.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    }
}

/// Which alerts an SLO gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertPolicy {
    /// Every window pair, paging ones included.
    PageAndTicket,
    /// Only the ticket pairs.
    TicketOnly,
}

/// The SLI of an events-based SLO: good = total − errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventsSli {
    pub total: &'static MetricDef,
    pub errors: &'static MetricDef,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloDef {
    /// `aus-reconcile`.
    pub name: &'static str,
    /// `aus`: the label, the runbook folder and the `service` label `srecap-aus`.
    pub capability: &'static str,
    /// `AUS`: the alert-name prefix.
    pub alert_prefix: &'static str,
    /// `Reconcile`: the SLO's part of the alert name.
    pub alert_title: &'static str,
    pub description: &'static str,
    pub sli: EventsSli,
    pub period_days: u32,
    /// Minutes between two events of one shard (the pass interval).
    pub event_cadence: u32,
    pub scopes: &'static [Scope],
    pub policy: AlertPolicy,
    pub windows: &'static [BurnWindow],
}

impl SloDef {
    /// `max(L/12, 2·cadence)`: a window shorter than two events of one shard is
    /// often empty, which makes the ratio vanish and the alert flap (§2.3).
    pub fn short_window(&self, w: &BurnWindow) -> u32 {
        w.short.max(2 * self.event_cadence)
    }

    /// The window pairs this SLO alerts on.
    pub fn alerting_windows(&self) -> impl Iterator<Item = &BurnWindow> {
        self.windows.iter().filter(move |w| match self.policy {
            AlertPolicy::PageAndTicket => true,
            AlertPolicy::TicketOnly => w.severity == Severity::Warning,
        })
    }

    pub fn alert_name(&self, scope: &Scope) -> String {
        format!(
            "{}{}{}ErrorBudgetBurn",
            self.alert_prefix,
            scope.title(),
            self.alert_title
        )
    }

    pub fn service(&self) -> String {
        format!("srecap-{}", self.capability)
    }
}

const RECONCILE_SCOPES: &[Scope] = &[
    Scope {
        name: "env",
        by: &["ocm_env"],
        objective: 0.995,
        min_events_1h: 0,
    },
    Scope {
        name: "org",
        by: &["ocm_env", "org_id"],
        objective: 0.97,
        min_events_1h: 6,
    },
];

/// Organization reconciles without a bad event.
pub const AUS_RECONCILE: SloDef = SloDef {
    name: "aus-reconcile",
    capability: "aus",
    alert_prefix: "AUS",
    alert_title: "Reconcile",
    description: "organization reconciles that end without a bad event (user errors are not bad events)",
    sli: EventsSli {
        total: &catalog::ORG_RECONCILE_TOTAL,
        errors: &catalog::ORG_RECONCILE_ERRORS,
    },
    period_days: 30,
    event_cadence: 5,
    scopes: RECONCILE_SCOPES,
    policy: AlertPolicy::PageAndTicket,
    windows: &WORKBOOK_30D,
};

/// OCM writes that succeed.
pub const AUS_OCM_WRITES: SloDef = SloDef {
    name: "aus-ocm-writes",
    capability: "aus",
    alert_prefix: "AUS",
    alert_title: "OcmWrite",
    description: "OCM writes (upgrade policies, channel switches, service logs) that succeed",
    sli: EventsSli {
        total: &catalog::OCM_WRITES,
        errors: &catalog::OCM_WRITE_ERRORS,
    },
    period_days: 30,
    event_cadence: 5,
    scopes: &[Scope {
        name: "env",
        by: &["ocm_env"],
        objective: 0.99,
        min_events_1h: 0,
    }],
    policy: AlertPolicy::TicketOnly,
    windows: &WORKBOOK_30D,
};

/// Add-on upgrade passes of organizations that end without a bad event: a
/// separate loop, so its own SLO rather than a label (`slo-alerting.md`).
pub const AUS_ADDON_RECONCILE: SloDef = SloDef {
    name: "aus-addon-reconcile",
    capability: "aus",
    alert_prefix: "AUS",
    alert_title: "AddonReconcile",
    description: "add-on upgrade passes of organizations that end without a bad event",
    sli: EventsSli {
        total: &catalog::ADDON_ORG_RECONCILE_TOTAL,
        errors: &catalog::ADDON_ORG_RECONCILE_ERRORS,
    },
    period_days: 30,
    event_cadence: 5,
    scopes: RECONCILE_SCOPES,
    policy: AlertPolicy::PageAndTicket,
    windows: &WORKBOOK_30D,
};

/// Every SLO of AUS.
pub const AUS_SLOS: &[&SloDef] = &[&AUS_RECONCILE, &AUS_OCM_WRITES, &AUS_ADDON_RECONCILE];

/// Red Hat IdP passes without a bad event. Ticket only: a failing pass stops
/// new logins from being configured and changes from being applied, but the
/// logins clusters already have keep working (they live in OCM and the realm),
/// so it waits for working hours; a stopped service is caught by the ticket
/// within hours as well.
pub const RHIDP_RECONCILE: SloDef = SloDef {
    name: "rhidp-reconcile",
    capability: "rhidp",
    alert_prefix: "RHIDP",
    alert_title: "Reconcile",
    description: "Red Hat IdP passes that end without a bad event (configuration errors of users are not bad events)",
    sli: EventsSli {
        total: &catalog::RHIDP_PASS_TOTAL,
        errors: &catalog::RHIDP_PASS_ERRORS,
    },
    period_days: 30,
    event_cadence: 5,
    scopes: &[Scope {
        name: "env",
        by: &["ocm_env"],
        objective: 0.99,
        min_events_1h: 0,
    }],
    policy: AlertPolicy::TicketOnly,
    windows: &WORKBOOK_30D,
};

/// Every SLO of the Red Hat IdP capability.
pub const RHIDP_SLOS: &[&SloDef] = &[&RHIDP_RECONCILE];

/// The SLOs of a capability (`aus`, `rhidp`); empty for an unknown one.
pub fn slos_of(capability: &str) -> &'static [&'static SloDef] {
    match capability {
        "aus" => AUS_SLOS,
        "rhidp" => RHIDP_SLOS,
        _ => &[],
    }
}

/// `10m`, `1h`, `3d`: a Prometheus duration for minutes.
pub fn duration(minutes: u32) -> String {
    if minutes.is_multiple_of(1440) {
        format!("{}d", minutes / 1440)
    } else if minutes.is_multiple_of(60) {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}
