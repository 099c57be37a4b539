//! `srecap capabilities`: the capabilities this build runs, their label
//! namespaces and every label a team can set, read from the same declarations
//! the reconcilers and the writing commands validate with.

use std::fmt::Write as _;

use clap::Args;
use serde::Serialize;
use srecap_labels::CapabilityDecl;

use crate::Failure;
use crate::output::{self, Format};

/// Every capability of this build, in the order they were added.
pub const ALL: &[CapabilityDecl] = &[
    srecap_aus::labels::CAPABILITY,
    srecap_rhidp::labels::CAPABILITY,
];

#[derive(Debug, Clone, Args)]
pub struct CapabilitiesArgs {
    /// Output format (`table` lists the labels under each capability).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Format>,
}

#[derive(Debug, Serialize)]
struct CapabilityView {
    name: &'static str,
    namespace: String,
    summary: &'static str,
    labels: Vec<LabelView>,
}

#[derive(Debug, Serialize)]
struct LabelView {
    key: String,
    /// `cluster` (the subscription) or `organization`.
    scope: &'static str,
    value: &'static str,
    required: bool,
    summary: &'static str,
}

fn view(decl: &CapabilityDecl) -> CapabilityView {
    let labels = decl
        .label_sets
        .iter()
        .flat_map(|(scope, set)| {
            set.labels.iter().map(move |l| LabelView {
                // A group setting (`sector-deps.`) takes a name after the dot.
                key: if l.is_group() {
                    format!("{}<name>", set.key(l.setting))
                } else {
                    set.key(l.setting)
                },
                scope: scope.as_str(),
                value: l.kind.describe(),
                required: l.required,
                summary: l.summary,
            })
        })
        .collect();
    CapabilityView {
        name: decl.name,
        namespace: decl.namespace(),
        summary: decl.summary,
        labels,
    }
}

pub fn run(args: &CapabilitiesArgs) -> Result<(), Failure> {
    let format = Format::chosen(args.output);
    let views: Vec<CapabilityView> = ALL.iter().map(view).collect();
    output::write(format, &views, |views| render(views))
}

fn render(views: &[CapabilityView]) -> String {
    let mut out = String::new();
    let mut t = output::table(["CAPABILITY", "NAMESPACE", "LABELS", "SUMMARY"], 0);
    for v in views {
        t.add_row(vec![
            v.name.to_owned(),
            v.namespace.clone(),
            v.labels.len().to_string(),
            v.summary.to_owned(),
        ]);
    }
    output::keep_whole(&mut t, &[0, 1]);
    out.push_str(&t.to_string());
    out.push('\n');
    for v in views {
        out.push('\n');
        let _ = writeln!(out, "{} labels:", v.name);
        let mut t = output::table(["KEY", "ON", "VALUE", "REQUIRED", "MEANING"], 2);
        for l in &v.labels {
            t.add_row(vec![
                l.key.clone(),
                l.scope.to_owned(),
                l.value.to_owned(),
                if l.required { "yes" } else { "no" }.to_owned(),
                l.summary.to_owned(),
            ]);
        }
        output::drop_to_fit(&mut t, &[2, 3], 2);
        output::keep_whole(&mut t, &[0]);
        out.push_str(&output::indent(&t.to_string()));
    }
    out
}
