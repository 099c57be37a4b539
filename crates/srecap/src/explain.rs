//! `srecap aus explain CLUSTER`: every condition AUS applies to one cluster, with
//! pass/fail and numbers, and the earliest time it could upgrade. The fleet
//! comes from `crate::source`, the output goes through `crate::output`.

use std::fmt::Write as _;

use clap::Args;
use comfy_table::Table;
use serde::Serialize;
use srecap_aus::explain::{Candidate, ClusterExplanation, Explainer, Outcome, Verdict};
use srecap_fleet::Fleet;

use crate::Failure;
use crate::source::{SourceArgs, Sourced};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The cluster: its name, id or external id.
    #[arg(value_name = "CLUSTER")]
    pub cluster: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<ReportOutput>,
}

/// The output format of `status` and `explain`: the shared one.
pub use crate::output::Format as ReportOutput;

pub fn run(args: &ExplainArgs) -> Result<(), Failure> {
    let source = args.source.source()?;
    let Sourced { fleet, source } = args.source.fleet(&source, &|fleet: &Fleet, now| {
        let explainer = Explainer::new(fleet, now);
        let c = explainer.find(&args.cluster).map_err(Failure::input)?;
        Ok(Some(c.organization.clone()))
    })?;
    let explainer = Explainer::new(&fleet, fleet.now);
    let cluster = explainer.find(&args.cluster).map_err(Failure::input)?;
    let explanation = explainer.explain(cluster);
    write_report(
        ReportOutput::chosen(args.output),
        &source,
        &explanation,
        render_explanation,
    )
}

/// Write `value` as JSON, YAML or its table; a table opens with its source.
pub fn write_report<T: Serialize>(
    output: ReportOutput,
    source: &str,
    value: &T,
    table: fn(&T) -> String,
) -> Result<(), Failure> {
    crate::output::write(output, value, |v| format!("Source: {source}\n{}", table(v)))
}

/// `explain` for people: the verdict, every condition, the candidates, the estimate.
pub fn render_explanation(x: &ClusterExplanation) -> String {
    let c = &x.cluster;
    let mut s = format!(
        "Cluster {} (id {}, external id {})\n",
        c.name, c.id, c.external_id
    );
    let _ = writeln!(
        s,
        "  organization {} ({}), {} {}{}, state {}, channel {}",
        c.organization,
        c.organization_name,
        c.product,
        c.version,
        if c.hypershift { " (HCP)" } else { "" },
        c.state,
        c.channel
    );
    for p in &c.node_pools {
        let _ = writeln!(s, "  node pool {} at {}", p.id, p.version);
    }
    let _ = writeln!(s, "\nAt {}: {}", x.now, verdict_line(&x.verdict));
    s.push_str("\nConditions, in the order AUS applies them:\n");
    let width = x
        .checks
        .iter()
        .map(|c| c.condition.len())
        .max()
        .unwrap_or(0);
    for check in &x.checks {
        let tag = match (check.outcome, check.reason) {
            (Outcome::Fail, Some(r)) => format!(" [{r}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "  {} {:<width$}  {}{tag}",
            check.outcome.symbol(),
            check.condition,
            check.detail
        );
    }
    if !x.candidates.is_empty() {
        s.push_str("\nVersions OCM offers, highest first:\n");
        s.push_str(&crate::output::indent(
            &candidate_table(&x.candidates).to_string(),
        ));
    }
    s.push_str("\nEarliest upgrade under current conditions: ");
    match (&x.estimate.earliest, &x.estimate.version) {
        (Some(at), Some(version)) => {
            let _ = writeln!(s, "{at} to {version}");
        }
        _ => s.push_str("unknown\n"),
    }
    let _ = writeln!(s, "  {}", x.estimate.summary);
    for a in &x.estimate.assumptions {
        let _ = writeln!(s, "  assumes: {a}");
    }
    s
}

fn verdict_line(v: &Verdict) -> String {
    match v {
        Verdict::Action { .. } => format!("AUS acts in this pass: {}", v.summary()),
        Verdict::Skipped { reason, .. } => format!("held back by {reason}"),
        Verdict::Ignored { detail } => format!("not managed by AUS: {detail}"),
    }
}

fn candidate_table(candidates: &[Candidate]) -> Table {
    let mut t = crate::output::table(
        [
            "version",
            "blocked",
            "inherited",
            "sector dependencies",
            "soak days (soaked/needed)",
            "missing gates",
            "first failure",
        ],
        2,
    );
    for c in candidates {
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        let blocked = c.blocked_by.as_ref().map_or_else(
            || "✓".to_owned(),
            |b| format!("✗ {} ({})", b.pattern, b.source),
        );
        let inherited = match &c.inherited {
            None => "-".to_owned(),
            Some(i) if i.passed => "✓".to_owned(),
            Some(i) => format!(
                "✗ {}{}",
                i.lowest_version.as_deref().unwrap_or(""),
                i.workload
                    .as_deref()
                    .map_or_else(String::new, |w| format!(" ({w})"))
            ),
        };
        let deps = if c.sector_dependencies.is_empty() {
            "-".to_owned()
        } else {
            c.sector_dependencies
                .iter()
                .map(|d| {
                    format!(
                        "{} {}: {} {}",
                        mark(d.passed),
                        d.workload,
                        d.sector,
                        d.lowest_version
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let soak = c
            .soak
            .iter()
            .map(|w| {
                let mut line = format!(
                    "{} {}: {:.2}/{}",
                    mark(w.passed),
                    w.workload,
                    w.soaked_days,
                    w.needed_days
                );
                if !w.passed {
                    match w.reached_at {
                        Some(t) => {
                            let _ = write!(line, " ({} soaking, met {t})", w.clusters_soaking);
                        }
                        None => line.push_str(" (none soaking)"),
                    }
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n");
        let gates = if c.missing_gates.is_empty() {
            "-".to_owned()
        } else {
            c.missing_gates.join("\n")
        };
        t.add_row([
            c.version.clone(),
            blocked,
            inherited,
            deps,
            soak,
            gates,
            c.first_failure
                .map_or_else(|| "none".to_owned(), |r| r.to_string()),
        ]);
    }
    t
}
