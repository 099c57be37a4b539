//! `srecap aus status [--org ID]`: every AUS cluster per organization, its policy,
//! next maintenance slot, current upgrade policy and what holds it back.

use std::fmt::Write as _;

use clap::Args;
use srecap_aus::Action;
use srecap_aus::explain::{ClusterStatus, Explainer, FleetStatus, Verdict};

use crate::Failure;
use crate::explain::{ReportOutput, write_report};
use crate::output::{indent, table};
use crate::source::{DataSource, SourceArgs, Sourced};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this organization. Default: with --live, the logged-in account's
    /// organization (as every `srecap aus` command that talks to OCM); on a
    /// scenario, every organization with an AUS cluster.
    #[arg(long, value_name = "ID", conflicts_with = "all_orgs")]
    pub org: Option<String>,
    /// Every organization with an AUS cluster, also with --live (like `kubectl -A`).
    #[arg(long, short = 'A')]
    pub all_orgs: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<ReportOutput>,
}

pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    // A person asking OCM about "my clusters" means their own organization, as
    // `ocm` and the configuration commands assume; a scenario has no login.
    let source = args.source.source()?;
    let live = source == DataSource::Ocm;
    let org = match (&args.org, live && !args.all_orgs) {
        (Some(org), _) => Some(org.clone()),
        (None, true) => Some(args.source.logged_in_org()?),
        (None, false) => None,
    };
    let Sourced { fleet, source } = args.source.fleet(&source, &|fleet, _| {
        if let Some(org) = &org
            && fleet.organization(org).is_none()
        {
            return Err(Failure::input(
                srecap_aus::explain::ExplainError::UnknownOrganization(org.clone()),
            ));
        }
        Ok(org.clone())
    })?;
    let explainer = Explainer::new(&fleet, fleet.now);
    let status = explainer.status(org.as_deref()).map_err(Failure::input)?;
    write_report(
        ReportOutput::chosen(args.output),
        &source,
        &status,
        render_status,
    )
}

/// `status` for people: one table per organization.
pub fn render_status(status: &FleetStatus) -> String {
    let mut s = format!("AUS status at {}\n", status.now);
    if status.organizations.is_empty() {
        s.push_str("\nNo organization has a cluster with an sre-capabilities.aus.* label.\n");
    }
    for org in &status.organizations {
        let _ = writeln!(s, "\nOrganization {} ({})", org.org_id, org.name);
        let errors = &org.validation_errors;
        if !errors.is_empty() {
            let _ = writeln!(
                s,
                "  {} validation error(s): AUS plans nothing for this organization until they are fixed",
                errors.count()
            );
            for m in &errors.organization {
                let _ = writeln!(s, "  - organization: {m}");
            }
            for (cluster, messages) in &errors.clusters {
                for m in messages {
                    let _ = writeln!(s, "  - cluster {cluster}: {m}");
                }
            }
        }
        if org.clusters.is_empty() {
            s.push_str("  No cluster has an sre-capabilities.aus.* label.\n");
            continue;
        }
        let mut t = table(
            [
                "cluster",
                "version",
                "workloads",
                "sector",
                "mutexes",
                "soak days",
                "schedule",
                "next slot",
                "upgrade policy",
                "this pass",
            ],
            2,
        );
        for c in &org.clusters {
            t.add_row(row(c));
        }
        // Ten columns do not fit a terminal: the settings behind the verdict
        // go first (`-o wide` or `explain` shows them), the cluster, its
        // version, its policy and what this pass does stay.
        crate::output::drop_to_fit(&mut t, &[4, 6, 5, 2, 7, 3], 2);
        crate::output::keep_whole(&mut t, &[0, 1]);
        s.push_str(&indent(&t.to_string()));
        for c in &org.clusters {
            if let Verdict::Skipped { reason, detail } = &c.decision {
                let _ = writeln!(s, "  {} ({reason}): {detail}", c.cluster);
            }
        }
    }
    s
}

fn row(c: &ClusterStatus) -> [String; 10] {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(",")
        }
    };
    let policies = if c.upgrade_policies.is_empty() {
        "-".to_owned()
    } else {
        c.upgrade_policies
            .iter()
            .map(|p| {
                let mut s = p.id.clone();
                if let Some(pool) = &p.node_pool {
                    let _ = write!(s, " (pool {pool})");
                }
                if let Some(v) = &p.version {
                    let _ = write!(s, " -> {v}");
                }
                let _ = write!(s, " {}", p.state);
                if let Some(t) = p.next_run {
                    let _ = write!(s, " {t}");
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let decision = match &c.decision {
        Verdict::Action { action } => match action {
            Action::UpgradePolicy { version, .. }
            | Action::ControlPlaneUpgradePolicy { version, .. } => format!("upgrade to {version}"),
            Action::NodePoolUpgradePolicy {
                node_pool, version, ..
            } => format!("node pool {node_pool} to {version}"),
            Action::ChannelSwitch { to_channel, .. } => format!("switch to {to_channel}"),
        },
        Verdict::Skipped { reason, .. } => format!("held: {reason}"),
        Verdict::Ignored { .. } => "ignored".to_owned(),
    };
    let version = if c.state == "ready" {
        c.version.clone()
    } else {
        format!("{} ({})", c.version, c.state)
    };
    [
        c.cluster.clone(),
        version,
        list(&c.workloads),
        or_dash(c.sector.as_deref()),
        list(&c.mutexes),
        or_dash(c.soak_days.as_deref()),
        or_dash(c.schedule.as_deref()),
        c.next_slot
            .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        policies,
        decision,
    ]
}
