//! `srecap aus policy apply|get|delete|validate`: one cluster's AUS policy, kept
//! in its subscription's `sre-capabilities.aus.*` labels.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::{Args, Subcommand};
use serde::Serialize;
use srecap_aus::configuration::{
    ClusterSettings, Configuration, Name, Pattern, Schedule, State, key,
};
use srecap_aus::labels::{
    AUS_PREFIX, BLOCKED_VERSIONS, CLUSTER_LABELS, MUTEXES, SCHEDULE, VERSION_GATE_APPROVALS,
    WORKLOADS,
};

use crate::Failure;
use crate::configuration::{self, Common, Output};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set a cluster's whole AUS policy: settings not given are removed.
    Apply(PolicyApplyArgs),
    /// Check a policy as `apply` would, without writing (exit 2 when invalid).
    Validate(PolicyApplyArgs),
    /// Show a cluster's AUS policy.
    Get(ClusterArgs),
    /// Remove every `sre-capabilities.aus.*` label of a cluster (AUS leaves it alone).
    Delete(DeleteArgs),
}

/// Schedule presets, for `--help`.
const SCHEDULE_HELP: &str = "Maintenance window: a 5-field cron expression (UTC; day-of-month AND day-of-week) or a preset: anytime = `* * * * *`, weekdays = `0 * * * 1-5`, weekends = `0 * * * 0,6`, nightly = `0 2 * * *`.";

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub common: Common,
    /// Cluster name, cluster id, external id (UUID) or subscription id.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: ClusterArgs,
    /// Show the label diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PolicyApplyArgs {
    #[command(flatten)]
    pub target: ClusterArgs,
    /// Workloads running on the cluster (repeatable or comma-separated).
    #[arg(
        long = "workload",
        value_name = "W",
        required = true,
        value_delimiter = ','
    )]
    pub workloads: Vec<String>,
    #[arg(long, value_name = "CRON|PRESET", help = SCHEDULE_HELP)]
    pub schedule: String,
    /// Days every workload must have soaked a version before the cluster gets it.
    #[arg(long, value_name = "N")]
    pub soak_days: u64,
    /// Mutexes: clusters sharing one do not upgrade at once (repeatable or comma-separated).
    #[arg(long = "mutex", value_name = "M", value_delimiter = ',')]
    pub mutexes: Vec<String>,
    /// Sector (staged rollout); must be declared by the organization.
    #[arg(long, value_name = "S")]
    pub sector: Option<String>,
    /// Regular expression of versions this cluster must never get (repeatable).
    #[arg(long = "blocked-version", value_name = "RE")]
    pub blocked_versions: Vec<String>,
    /// Version-gate label the gate approver may acknowledge (repeatable or comma-separated).
    #[arg(long = "gate-approval", value_name = "LABEL", value_delimiter = ',')]
    pub gate_approvals: Vec<String>,
    /// Show the label diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the policy as a configuration document (for `aus apply -f`) instead
    /// of applying it: YAML, or JSON with `-o json`.
    #[arg(long, conflicts_with = "dry_run")]
    pub dump: bool,
}

impl PolicyApplyArgs {
    /// The policy, every value checked by the label declarations (no I/O).
    fn settings(&self) -> Result<ClusterSettings, Failure> {
        let mut errors = Vec::new();
        let names = |flag: &str, setting: &str, values: &[String], errors: &mut Vec<String>| {
            values
                .iter()
                .filter_map(|v| {
                    Name::try_from(v.trim())
                        .map_err(|e| errors.push(format!("{flag}: label {}: {e}", key(setting))))
                        .ok()
                })
                .collect::<Vec<_>>()
        };
        let workloads = names("--workload", WORKLOADS, &self.workloads, &mut errors);
        let mutexes = names("--mutex", MUTEXES, &self.mutexes, &mut errors);
        let gates = names(
            "--gate-approval",
            VERSION_GATE_APPROVALS,
            &self.gate_approvals,
            &mut errors,
        );
        let schedule = Schedule::try_from(self.schedule.clone())
            .map_err(|e| errors.push(format!("--schedule: label {}: {e}", key(SCHEDULE))))
            .ok();
        let blocked: Vec<Pattern> = self
            .blocked_versions
            .iter()
            .filter_map(|p| {
                Pattern::try_from(p.clone())
                    .map_err(|e| {
                        errors.push(format!(
                            "--blocked-version: label {}: {e}",
                            key(BLOCKED_VERSIONS)
                        ));
                    })
                    .ok()
            })
            .collect();
        if let Some(s) = &self.sector
            && (s.contains(',') || s.trim().is_empty())
        {
            errors.push(format!(
                "--sector: label {}: {s:?} is not a sector name",
                key(srecap_aus::labels::SECTOR)
            ));
        }
        match schedule {
            Some(schedule) if errors.is_empty() => {
                let settings = ClusterSettings {
                    workloads,
                    schedule,
                    soak_days: self.soak_days,
                    mutexes: (!mutexes.is_empty()).then_some(mutexes),
                    sector: self.sector.as_ref().map(|s| s.trim().to_owned()),
                    blocked_versions: (!blocked.is_empty()).then_some(blocked),
                    version_gate_approvals: (!gates.is_empty()).then_some(gates),
                };
                // The declarations have the last word, as for the reconciler.
                let parsed = CLUSTER_LABELS.parse(&settings.labels());
                if parsed.is_valid() {
                    Ok(settings)
                } else {
                    Err(invalid(
                        &parsed
                            .errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>(),
                    ))
                }
            }
            _ => Err(invalid(&errors)),
        }
    }
}

fn invalid(errors: &[String]) -> Failure {
    Failure::input(anyhow::anyhow!(
        "invalid policy:\n  {}\nnothing was written",
        errors.join("\n  ")
    ))
}

/// `state` with cluster `i`'s declared AUS labels replaced by `settings`'
/// (unknown `sre-capabilities.aus.*` keys are not AUS settings and stay).
fn with_policy(state: &State, i: usize, settings: &ClusterSettings) -> State {
    let mut after = state.clone();
    let labels = &mut after.clusters[i].labels;
    labels.retain(|k, _| CLUSTER_LABELS.lookup(k).is_none());
    labels.extend(settings.labels());
    after
}

fn cluster_index(state: &State, name: &str) -> Result<usize, Failure> {
    state
        .find_cluster(name)
        .map_err(|e| Failure::input(anyhow::anyhow!(e)))
}

pub fn run(command: &PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Apply(args) => apply(args, false),
        PolicyCommand::Validate(args) => apply(args, true),
        PolicyCommand::Get(args) => get(args),
        PolicyCommand::Delete(args) => delete(args),
    }
}

fn apply(args: &PolicyApplyArgs, validate_only: bool) -> Result<(), Failure> {
    let settings = args.settings()?;
    let common = &args.target.common;
    configuration::with_client(common, async |client| {
        let org = configuration::org_id(client, common.org.as_deref()).await?;
        let before = configuration::load_cluster(client, &org, &args.target.cluster).await?;
        let i = cluster_index(&before, &args.target.cluster)?;
        let after = with_policy(&before, i, &settings);
        configuration::check(&before, &after)?;
        if args.dump {
            let mut doc = Configuration::new(&org);
            doc.clusters
                .insert(before.clusters[i].name.clone(), settings.clone());
            let output = if common.output == Some(Output::Json) {
                Output::Json
            } else {
                Output::Yaml
            };
            return configuration::print_data(&doc, output);
        }
        if validate_only {
            let changes = before.changes(&after);
            let n: usize = changes.iter().map(|t| t.changes.len()).sum();
            return match common.output() {
                Output::Table | Output::Wide => configuration::print_text(&format!(
                    "policy for cluster {} is valid ({n} label change{} to apply)\n",
                    before.clusters[i].name,
                    if n == 1 { "" } else { "s" }
                )),
                output => configuration::print_data(
                    &serde_json::json!({
                        "cluster": before.clusters[i].name,
                        "valid": true,
                        "labels": settings.labels(),
                        "changes": changes,
                    }),
                    output,
                ),
            };
        }
        configuration::commit(client, &before, &after, args.dry_run, common.output()).await
    })
}

#[derive(Debug, Serialize)]
struct PolicyView<'a> {
    cluster: &'a str,
    subscription_id: &'a str,
    /// The policy when the labels are valid.
    policy: Option<ClusterSettings>,
    /// Every `sre-capabilities.aus.*` label, verbatim.
    labels: BTreeMap<String, String>,
    /// Why AUS rejects the labels (empty when valid, or when the cluster has none).
    errors: Vec<String>,
}

fn get(args: &ClusterArgs) -> Result<(), Failure> {
    configuration::with_client(&args.common, async |client| {
        let org = configuration::org_id(client, args.common.org.as_deref()).await?;
        let state = configuration::load_cluster(client, &org, &args.cluster).await?;
        let c = &state.clusters[cluster_index(&state, &args.cluster)?];
        let labels = configuration::aus_labels(&c.labels);
        let (policy, errors) = if labels.is_empty() {
            (None, Vec::new())
        } else {
            match ClusterSettings::from_labels(&c.labels) {
                Ok(p) => (Some(p), Vec::new()),
                Err(e) => (None, e),
            }
        };
        let view = PolicyView {
            cluster: &c.name,
            subscription_id: &c.subscription_id,
            policy,
            labels,
            errors,
        };
        match args.common.output() {
            Output::Table | Output::Wide => {
                let mut text = configuration::table(
                    ["label", "value"],
                    view.labels.iter().map(|(k, v)| (k.clone(), v.clone())),
                );
                text.insert_str(
                    0,
                    &format!(
                        "cluster {} (subscription {})\n",
                        view.cluster, view.subscription_id
                    ),
                );
                if view.labels.is_empty() {
                    text.push_str("no AUS policy: AUS leaves this cluster alone\n");
                }
                for e in &view.errors {
                    let _ = writeln!(text, "invalid: {e}");
                }
                configuration::print_text(&text)
            }
            output => configuration::print_data(&view, output),
        }
    })
}

fn delete(args: &DeleteArgs) -> Result<(), Failure> {
    let common = &args.target.common;
    configuration::with_client(common, async |client| {
        let org = configuration::org_id(client, common.org.as_deref()).await?;
        let before = configuration::load_cluster(client, &org, &args.target.cluster).await?;
        let i = cluster_index(&before, &args.target.cluster)?;
        let mut after = before.clone();
        after.clusters[i]
            .labels
            .retain(|k, _| !k.starts_with(AUS_PREFIX));
        configuration::commit(client, &before, &after, args.dry_run, common.output()).await
    })
}
