//! `srecap aus plan`: plan a scenario offline and show the result.

use std::fmt::Write as _;

use srecap_aus::{Action, FleetOptions, FleetPlan, PlanOptions, plan_fleet};

use crate::Failure;
use crate::cli::PlanArgs;

pub fn run(args: &PlanArgs) -> Result<(), Failure> {
    let mut fleet = crate::source::load(args.scenario.as_deref(), args.now)?;
    if args.approve_gates {
        fleet = srecap_aus::approver::approved(&fleet);
    }
    // The metrics' facts are the reconciler's; the offline plan never shows them.
    let options = FleetOptions {
        plan: PlanOptions {
            metric_facts: false,
            ..PlanOptions::default()
        },
        ..FleetOptions::default()
    };
    let plan = plan_fleet(&fleet, fleet.now, &options);
    let source = match &args.scenario {
        Some(path) => format!("scenario {}", path.display()),
        None => "embedded example fleet (examples/fleet.yaml)".to_owned(),
    };
    crate::output::write(args.output(), &plan, |plan| {
        format!("Source: {source}\n{}", render_table(plan))
    })
}

/// The plan for people: per organization, its errors, actions and held-back clusters.
pub fn render_table(plan: &FleetPlan) -> String {
    let mut s = format!("AUS plan at {}\n", plan.now);
    if plan.organizations.is_empty() {
        s.push_str("\nNo organization has a cluster with an sre-capabilities.aus.* label.\n");
    }
    for org in &plan.organizations {
        let _ = writeln!(
            s,
            "\nOrganization {} ({})",
            org.org_id, org.details.org_name
        );
        if org.has_validation_errors() {
            let _ = writeln!(
                s,
                "  {} validation error(s): nothing is planned for this organization until they are fixed",
                org.validation_errors.count()
            );
            for m in &org.validation_errors.organization {
                let _ = writeln!(s, "  - organization: {m}");
            }
            for (cluster, messages) in &org.validation_errors.clusters {
                for m in messages {
                    let _ = writeln!(s, "  - cluster {cluster}: {m}");
                }
            }
        }
        if org.actions.is_empty() {
            s.push_str("  No actions.\n");
        } else {
            let mut t =
                crate::output::table(["action", "cluster", "target", "node pool", "next run"], 2);
            for a in &org.actions {
                let row: [String; 5] = match a {
                    Action::UpgradePolicy {
                        cluster,
                        version,
                        next_run,
                        ..
                    } => [
                        "upgrade".into(),
                        cluster.clone(),
                        version.to_string(),
                        String::new(),
                        next_run.to_string(),
                    ],
                    Action::ControlPlaneUpgradePolicy {
                        cluster,
                        version,
                        next_run,
                        ..
                    } => [
                        "control-plane upgrade".into(),
                        cluster.clone(),
                        version.to_string(),
                        String::new(),
                        next_run.to_string(),
                    ],
                    Action::NodePoolUpgradePolicy {
                        cluster,
                        node_pool,
                        version,
                        next_run,
                        ..
                    } => [
                        "node-pool upgrade".into(),
                        cluster.clone(),
                        version.to_string(),
                        node_pool.clone(),
                        next_run.to_string(),
                    ],
                    Action::ChannelSwitch {
                        cluster,
                        from_channel,
                        to_channel,
                        ..
                    } => [
                        "channel switch".into(),
                        cluster.clone(),
                        format!("{from_channel} -> {to_channel}"),
                        String::new(),
                        String::new(),
                    ],
                };
                t.add_row(row);
            }
            // The action column wraps; a cluster, a version or an instant
            // broken over two lines is misread.
            crate::output::keep_whole(&mut t, &[1, 2, 4]);
            s.push_str(&crate::output::indent(&t.to_string()));
        }
        if !org.clusters.is_empty() {
            let mut t = crate::output::table(["cluster", "held back by", "detail"], 2);
            for e in &org.clusters {
                t.add_row([e.cluster.clone(), e.reason.to_string(), e.detail.clone()]);
            }
            crate::output::keep_whole(&mut t, &[0, 1]);
            s.push_str(&crate::output::indent(&t.to_string()));
        }
    }
    s
}
