//! The OCM side of the configuration commands (`aus policy`, `aus org`, `aus apply`,
//! `aus export`): read an organization into a [`State`], judge an edited copy with
//! the planner's own rules, print the label diff, and write it.
//!
//! Every command follows the same steps, so they share one behaviour: nothing is
//! written when a check fails (exit 2), `--dry-run` prints the diff and writes
//! nothing, and an unchanged configuration costs reads only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write as _};

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use srecap_aus::configuration::{ClusterLabels, LabelChange, State, Target, TargetChanges};
use srecap_ocm::{Filter, OcmClient, OcmError};

use crate::Failure;
use crate::connection::OcmArgs;

/// Output formats of the configuration commands: the shared one.
pub use crate::output::Format as Output;

/// Connection, organization and output flags shared by every configuration command.
#[derive(Debug, Clone, Args)]
pub struct Common {
    #[command(flatten)]
    pub ocm: OcmArgs,
    /// Organization id. Default: the logged-in account's organization.
    #[arg(long, value_name = "ID")]
    pub org: Option<String>,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
}

impl Common {
    pub fn output(&self) -> Output {
        Output::chosen(self.output)
    }
}

/// Run `f` with an OCM client on a fresh runtime.
pub fn with_client<T>(
    common: &Common,
    f: impl AsyncFnOnce(&OcmClient) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let client = crate::connection::client(&common.ocm, None)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(f(&client))
}

/// The organization to work on: `--org`, else the logged-in account's.
pub async fn org_id(client: &OcmClient, org: Option<&str>) -> Result<String, Failure> {
    if let Some(org) = org {
        return Ok(org.to_owned());
    }
    let account = match client.current_account().await {
        Ok(account) => account,
        // Credentials or the connection failed: that is what to fix, not
        // the organization.
        Err(e @ (OcmError::Auth(_) | OcmError::Transport { .. } | OcmError::Timeout { .. })) => {
            return Err(anyhow::Error::new(e)
                .context(format!("connecting to OCM at {}", client.api_url()))
                .into());
        }
        Err(e) if matches!(e.status(), Some(401 | 403)) => {
            return Err(anyhow::Error::new(e)
                .context(format!(
                    "OCM at {} refused the credentials (authentication failed)",
                    client.api_url()
                ))
                .into());
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("finding the logged-in account's organization (or give --org)")
                .into());
        }
    };
    account.organization.map(|o| o.id).ok_or_else(|| {
        Failure::input(anyhow::anyhow!(
            "the logged-in account has no organization; give --org ID"
        ))
    })
}

/// Check that an organization exists: an unknown one is bad input.
pub async fn check_org(client: &OcmClient, org: &str) -> Result<(), Failure> {
    match client.get_organization(org).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || e.status() == Some(403) => Err(Failure::input(
            anyhow::anyhow!("unknown organization {org:?} (OCM: {e})"),
        )),
        Err(e) => Err(api(e, &format!("reading organization {org}"))),
    }
}

fn api(e: OcmError, what: &str) -> Failure {
    Failure::from(anyhow::Error::new(e).context(what.to_owned()))
}

/// Read an organization's labels and its live clusters' labels.
pub async fn load(client: &OcmClient, org: &str) -> Result<State, Failure> {
    load_clusters(client, org, None).await
}

/// [`load`] with only the clusters `cluster` names (by name, cluster id, external
/// id or subscription id). Enough for a change to one cluster: the organization's
/// labels do not change, so no other cluster can become invalid.
pub async fn load_cluster(client: &OcmClient, org: &str, cluster: &str) -> Result<State, Failure> {
    load_clusters(client, org, Some(cluster)).await
}

async fn load_clusters(
    client: &OcmClient,
    org: &str,
    cluster: Option<&str>,
) -> Result<State, Failure> {
    check_org(client, org).await?;
    let org_labels = client
        .list_organization_labels(org)
        .await
        .map_err(|e| api(e, &format!("reading the labels of organization {org}")))?
        .into_iter()
        .map(|l| (l.key, l.value))
        .collect();
    let mut filter =
        Filter::eq("organization_id", org).and(Filter::in_("status", ["Active", "Reserved"]));
    if let Some(c) = cluster {
        filter = filter.and(
            Filter::eq("display_name", c)
                .or(Filter::eq("cluster_id", c))
                .or(Filter::eq("external_cluster_id", c))
                .or(Filter::eq("id", c)),
        );
    }
    let subscriptions = client
        .list_subscriptions(Some(&filter))
        .await
        .map_err(|e| api(e, &format!("listing the clusters of organization {org}")))?;
    let clusters = subscriptions
        .into_iter()
        .map(|s| ClusterLabels {
            name: s
                .display_name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| s.cluster_id.clone())
                .unwrap_or_else(|| s.id.clone()),
            cluster_id: s.cluster_id,
            external_id: s.external_cluster_id,
            subscription_id: s.id,
            labels: s.labels.into_iter().map(|l| (l.key, l.value)).collect(),
        })
        .collect();
    Ok(State {
        org_id: org.to_owned(),
        org_labels,
        clusters,
        publishers: BTreeMap::new(),
    })
}

/// Read the publish lists of the organizations `after` newly inherits from (each
/// must exist), so that an unverified inheritance is refused before it is written.
pub async fn load_publishers(
    client: &OcmClient,
    before: &State,
    after: &mut State,
) -> Result<(), Failure> {
    let old = before.inherit_sources();
    for source in after.inherit_sources() {
        if old.contains(&source) || source == after.org_id {
            continue;
        }
        check_org(client, &source).await?;
        let labels: BTreeMap<String, String> = client
            .list_organization_labels(&source)
            .await
            .map_err(|e| api(e, &format!("reading the labels of organization {source}")))?
            .into_iter()
            .map(|l| (l.key, l.value))
            .collect();
        let (settings, _) = srecap_aus::configuration::OrgSettings::from_labels(&labels);
        let publish = settings
            .version_data
            .publish
            .unwrap_or_default()
            .into_iter()
            .map(String::from)
            .collect();
        after.publishers.insert(source, publish);
    }
    Ok(())
}

/// Refuse `after` if it breaks what `before` did not (exit 2, nothing written).
pub fn check(before: &State, after: &State) -> Result<(), Failure> {
    let problems = after.introduced_problems(before);
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("refusing to write a configuration AUS would reject:");
    for p in &problems {
        let _ = write!(msg, "\n  {p}");
    }
    msg.push_str("\nnothing was written");
    Err(Failure::input(anyhow::anyhow!(msg)))
}

/// Write `changes`: organization additions and updates first (so a new sector
/// exists before a cluster uses it), then clusters, then organization removals
/// (so a sector disappears only after its clusters left it).
pub async fn write(client: &OcmClient, changes: &[TargetChanges]) -> Result<(), Failure> {
    for pass in 0..3 {
        for t in changes {
            let (owner_is_org, id) = match &t.target {
                Target::Organization { id } => (true, id),
                Target::Cluster {
                    subscription_id, ..
                } => (false, subscription_id),
            };
            for c in &t.changes {
                let stage = match (owner_is_org, c.new.is_none()) {
                    (true, false) => 0,
                    (false, _) => 1,
                    (true, true) => 2,
                };
                if stage != pass {
                    continue;
                }
                let result = match (owner_is_org, &c.old, &c.new) {
                    (true, None, Some(v)) => client
                        .create_organization_label(id, &c.key, v)
                        .await
                        .map(drop),
                    (true, Some(_), Some(v)) => client
                        .update_organization_label(id, &c.key, v)
                        .await
                        .map(drop),
                    (true, _, None) => client.delete_organization_label(id, &c.key).await,
                    (false, None, Some(v)) => client
                        .create_subscription_label(id, &c.key, v)
                        .await
                        .map(drop),
                    (false, Some(_), Some(v)) => client
                        .update_subscription_label(id, &c.key, v)
                        .await
                        .map(drop),
                    (false, _, None) => client.delete_subscription_label(id, &c.key).await,
                };
                result.map_err(|e| {
                    api(
                        e,
                        &format!(
                            "writing label {} of {} (changes before it were written; run the command again to finish)",
                            c.key, t.target
                        ),
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// What a configuration command did (or would do).
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub organization: &'a str,
    pub dry_run: bool,
    pub changes: &'a [TargetChanges],
}

/// Check, print and (unless `dry_run`) write the changes from `before` to `after`.
pub async fn commit(
    client: &OcmClient,
    before: &State,
    after: &State,
    dry_run: bool,
    output: Output,
) -> Result<(), Failure> {
    check(before, after)?;
    let changes = before.changes(after);
    if !dry_run {
        write(client, &changes).await?;
    }
    print_report(
        &Report {
            organization: &before.org_id,
            dry_run,
            changes: &changes,
        },
        output,
    )
}

pub fn print_report(report: &Report<'_>, output: Output) -> Result<(), Failure> {
    match output {
        Output::Table | Output::Wide => print_text(&render_diff(report)),
        _ => print_data(report, output),
    }
}

/// The label diff, one line per label: `+` added, `~` changed (old → new), `-`
/// removed.
pub fn render_diff(report: &Report<'_>) -> String {
    use crate::output::{Tint, tint};
    let on = crate::output::colour();
    let mut s = String::new();
    let mut counts = [0usize; 3];
    for t in report.changes {
        let _ = writeln!(s, "{}:", t.target);
        for LabelChange { key, old, new } in &t.changes {
            match (old, new) {
                (None, Some(v)) => {
                    counts[0] += 1;
                    let _ = writeln!(
                        s,
                        "  {}",
                        tint(&format!("+ {key} = '{v}'"), Tint::Added, on)
                    );
                }
                (Some(o), Some(v)) => {
                    counts[1] += 1;
                    let line = format!("~ {key}: '{o}' -> '{v}'");
                    let _ = writeln!(s, "  {}", tint(&line, Tint::Changed, on));
                }
                (Some(o), None) => {
                    counts[2] += 1;
                    let line = format!("- {key} (was '{o}')");
                    let _ = writeln!(s, "  {}", tint(&line, Tint::Removed, on));
                }
                (None, None) => {}
            }
        }
    }
    let total: usize = counts.iter().sum();
    if total == 0 {
        let _ = writeln!(
            s,
            "no changes: organization {} already has this configuration",
            report.organization
        );
    } else {
        let _ = writeln!(
            s,
            "{} {total} label{} ({} added, {} changed, {} removed){}",
            if report.dry_run {
                "would write"
            } else {
                "wrote"
            },
            if total == 1 { "" } else { "s" },
            counts[0],
            counts[1],
            counts[2],
            if report.dry_run {
                "; dry run, nothing written"
            } else {
                ""
            }
        );
    }
    s
}

/// A warning or note on standard error (a closed stderr is not worth failing for).
pub fn warn(msg: &str) {
    let _ = writeln!(io::stderr().lock(), "{msg}");
}

pub fn print_text(text: &str) -> Result<(), Failure> {
    crate::output::print(text)
}

/// Print data as JSON or YAML (a table request falls back to YAML, the most
/// readable of the two, for data that has no table form).
pub fn print_data<T: Serialize>(value: &T, output: Output) -> Result<(), Failure> {
    print_text(&crate::output::data(value, output)?)
}

/// A two-column table.
pub fn table(header: [&str; 2], rows: impl IntoIterator<Item = (String, String)>) -> String {
    let mut t = crate::output::table(header, 0);
    for (a, b) in rows {
        t.add_row([a, b]);
    }
    format!("{t}\n")
}

/// AUS labels of a label map.
pub fn aus_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| k.starts_with(srecap_aus::labels::AUS_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
