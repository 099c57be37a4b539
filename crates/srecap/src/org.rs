//! `srecap aus org ...`: organization settings (blocked versions, sectors and
//! their dependencies, parallelism limits, version-data inheritance), kept in the
//! organization's `sre-capabilities.aus.*` labels.
//!
//! Each command edits the organization's label map and goes through the shared
//! check ([`configuration::commit`]): a dependency cycle, a limit for an undeclared
//! sector, or a cluster left in a sector that no longer exists is refused before
//! anything is written.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use srecap_aus::configuration::{Limit, Name, OrgSettings, Pattern, State, key};
use srecap_aus::labels::{BLOCKED_VERSIONS, INHERIT, PUBLISH, SECTOR_DEPS, SECTOR_MAX_PARALLEL};
use srecap_ocm::OcmClient;

use crate::Failure;
use crate::configuration::{self, Common, Output};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Show every AUS setting of the organization.
    Get(Common),
    /// Versions no cluster of the organization may get (regular expressions).
    BlockedVersions {
        #[command(subcommand)]
        command: BlockedCommand,
    },
    /// Sectors and their dependencies (staged rollout).
    Sectors {
        #[command(subcommand)]
        command: SectorsCommand,
    },
    /// How many clusters of a sector sharing a mutex may upgrade at once:
    /// `max-parallel SECTOR N|N%`, `max-parallel get`, `max-parallel unset SECTOR`.
    MaxParallel(MaxParallelArgs),
    /// Organizations whose soak history this one uses: `inherit ORG_ID...` adds,
    /// `inherit get`, `inherit remove ORG_ID...`.
    Inherit(OrgListArgs),
    /// Organizations allowed to use this one's soak history: `publish ORG_ID...`
    /// adds, `publish get`, `publish remove ORG_ID...`.
    Publish(OrgListArgs),
}

/// Flags of every command that writes.
#[derive(Debug, Clone, Args)]
pub struct Write {
    #[command(flatten)]
    pub common: Common,
    /// Show the label diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum BlockedCommand {
    /// Block more versions.
    Add(PatternsArgs),
    /// Unblock versions (patterns not blocked are ignored).
    Remove(PatternsArgs),
    /// Replace the blocked versions (none: remove the label).
    Set(PatternsArgs),
    /// Show the blocked versions.
    Get(Common),
}

#[derive(Debug, Args)]
pub struct PatternsArgs {
    #[command(flatten)]
    pub write: Write,
    /// Regular expressions matched anywhere in a version, e.g. `^4\.16\.3$`.
    #[arg(value_name = "RE")]
    pub patterns: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SectorsCommand {
    /// Add dependencies: `A=B,C` makes sector A follow B and C (`A=` declares A
    /// without dependencies).
    AddDep(SectorSpecArgs),
    /// Remove dependencies: `A=B` drops B from A's; `A` removes sector A's
    /// declaration and limit.
    RemoveDep(SectorSpecArgs),
    /// Replace every sector declaration: `dev= stage=dev prod=stage`.
    Set(SectorSpecArgs),
    /// Show the sectors.
    Get(Common),
}

#[derive(Debug, Args)]
pub struct SectorSpecArgs {
    #[command(flatten)]
    pub write: Write,
    /// `SECTOR=DEP,DEP...`
    #[arg(value_name = "SECTOR=DEPS", required = true)]
    pub specs: Vec<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MaxParallelArgs {
    #[command(subcommand)]
    pub command: Option<MaxParallelCommand>,
    #[command(flatten)]
    pub write: Write,
    /// The sector.
    #[arg(value_name = "SECTOR", required = true)]
    pub sector: Option<String>,
    /// `N` clusters or `N%` of the sector's clusters sharing a mutex.
    #[arg(value_name = "N|N%", required = true)]
    pub limit: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MaxParallelCommand {
    /// Show the limits.
    Get(Common),
    /// Remove a sector's limit.
    Unset {
        #[command(flatten)]
        write: Write,
        #[arg(value_name = "SECTOR")]
        sector: String,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct OrgListArgs {
    #[command(subcommand)]
    pub command: Option<OrgListCommand>,
    #[command(flatten)]
    pub write: Write,
    /// Organization ids to add.
    #[arg(value_name = "ORG_ID", required = true)]
    pub orgs: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum OrgListCommand {
    /// Show the list.
    Get(Common),
    /// Remove organization ids from the list.
    Remove {
        #[command(flatten)]
        write: Write,
        #[arg(value_name = "ORG_ID", required = true)]
        orgs: Vec<String>,
    },
}

pub fn run(command: &OrgCommand) -> Result<(), Failure> {
    match command {
        OrgCommand::Get(common) => show(common, Clone::clone),
        OrgCommand::BlockedVersions { command } => blocked(command),
        OrgCommand::Sectors { command } => sectors(command),
        OrgCommand::MaxParallel(args) => max_parallel(args),
        OrgCommand::Inherit(args) => org_list(args, INHERIT),
        OrgCommand::Publish(args) => org_list(args, PUBLISH),
    }
}

fn input(msg: String) -> Failure {
    Failure::input(anyhow::anyhow!(msg))
}

/// Load the organization, let `edit` change its labels (it may check other
/// organizations through the client), then check, show and write the diff.
fn edit(
    write: &Write,
    edit: impl AsyncFnOnce(&OcmClient, &mut BTreeMap<String, String>) -> Result<(), Failure>,
) -> Result<(), Failure> {
    configuration::with_client(&write.common, async |client| {
        let org = configuration::org_id(client, write.common.org.as_deref()).await?;
        let before: State = configuration::load(client, &org).await?;
        let mut after = before.clone();
        edit(client, &mut after.org_labels).await?;
        configuration::load_publishers(client, &before, &mut after).await?;
        configuration::commit(
            client,
            &before,
            &after,
            write.dry_run,
            write.common.output(),
        )
        .await
    })
}

/// Print (part of) the organization's settings.
fn show(common: &Common, part: impl FnOnce(&OrgSettings) -> OrgSettings) -> Result<(), Failure> {
    configuration::with_client(common, async |client| {
        let org = configuration::org_id(client, common.org.as_deref()).await?;
        let state = configuration::load(client, &org).await?;
        let (settings, errors) = OrgSettings::from_labels(&state.org_labels);
        for e in &errors {
            configuration::warn(&format!("warning: organization {org}: {e}"));
        }
        let settings = part(&settings);
        match common.output() {
            Output::Table | Output::Wide => {
                configuration::print_text(&settings_table(&org, &settings))
            }
            output => configuration::print_data(&settings, output),
        }
    })
}

fn join<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

fn settings_table(org: &str, s: &OrgSettings) -> String {
    let mut rows = Vec::new();
    if let Some(b) = &s.blocked_versions {
        rows.push(("blocked versions".to_owned(), join(b)));
    }
    for (name, sector) in &s.sectors {
        let deps = match &sector.depends_on {
            Some(d) if d.is_empty() => "no dependencies".to_owned(),
            Some(d) => format!("after {}", join(d)),
            None => "declared by a dependency".to_owned(),
        };
        let limit = sector
            .max_parallel
            .as_ref()
            .map(|l| format!("; max parallel {l}"))
            .unwrap_or_default();
        rows.push((format!("sector {name}"), format!("{deps}{limit}")));
    }
    if let Some(i) = &s.version_data.inherit {
        rows.push(("inherits version data from".to_owned(), join(i)));
    }
    if let Some(p) = &s.version_data.publish {
        rows.push(("publishes version data to".to_owned(), join(p)));
    }
    let mut text = format!("organization {org}\n");
    if rows.is_empty() {
        text.push_str("no settings\n");
    } else {
        text.push_str(&configuration::table(["setting", "value"], rows));
    }
    text
}

/// The items of a comma-separated label (empty when absent).
fn items(labels: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    labels
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(ToOwned::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Set a comma-separated label; an empty list removes it.
fn set_items(labels: &mut BTreeMap<String, String>, key: String, items: &[String]) {
    if items.is_empty() {
        labels.remove(&key);
    } else {
        labels.insert(key, items.join(","));
    }
}

fn patterns(args: &PatternsArgs) -> Result<Vec<String>, Failure> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for p in &args.patterns {
        match Pattern::try_from(p.clone()) {
            Ok(p) => out.push(String::from(p)),
            Err(e) => errors.push(format!("label {}: {e}", key(BLOCKED_VERSIONS))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(input(format!("{}\nnothing was written", errors.join("\n"))))
    }
}

fn blocked(command: &BlockedCommand) -> Result<(), Failure> {
    let k = key(BLOCKED_VERSIONS);
    match command {
        BlockedCommand::Get(common) => show(common, |s| OrgSettings {
            blocked_versions: s.blocked_versions.clone(),
            ..OrgSettings::default()
        }),
        BlockedCommand::Add(args) => {
            let new = patterns(args)?;
            edit(&args.write, async |_, labels| {
                let mut list = items(labels, &k);
                for p in new {
                    if !list.contains(&p) {
                        list.push(p);
                    }
                }
                set_items(labels, k, &list);
                Ok(())
            })
        }
        BlockedCommand::Remove(args) => {
            let gone = patterns(args)?;
            edit(&args.write, async |_, labels| {
                let mut list = items(labels, &k);
                list.retain(|p| !gone.contains(p));
                set_items(labels, k, &list);
                Ok(())
            })
        }
        BlockedCommand::Set(args) => {
            let list = patterns(args)?;
            edit(&args.write, async |_, labels| {
                set_items(labels, k, &list);
                Ok(())
            })
        }
    }
}

/// `A=B,C` → (A, Some([B, C])); `A` → (A, None).
/// A sector and, when the argument named them, its dependencies.
type SectorSpec = (String, Option<Vec<String>>);

/// Every `SECTOR[=DEP,...]` argument, refusing the command at the first bad one
/// (before anything is written).
fn sector_specs(specs: &[String]) -> Result<Vec<SectorSpec>, Failure> {
    specs.iter().map(|s| sector_spec(s)).collect()
}

fn sector_spec(spec: &str) -> Result<SectorSpec, Failure> {
    let (name, deps) = match spec.split_once('=') {
        Some((n, d)) => (n.trim(), Some(d)),
        None => (spec.trim(), None),
    };
    let check =
        |s: &str| Name::try_from(s).map_err(|e| input(format!("sector spec {spec:?}: {e}")));
    check(name)?;
    if name.contains('=') || name.chars().any(char::is_whitespace) {
        return Err(input(format!(
            "sector spec {spec:?}: {name:?} is not a sector name"
        )));
    }
    let deps = match deps {
        None => None,
        Some(d) if d.trim().is_empty() => Some(Vec::new()),
        Some(d) => Some(
            d.split(',')
                .map(|s| check(s.trim()).map(String::from))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok((name.to_owned(), deps))
}

fn sectors(command: &SectorsCommand) -> Result<(), Failure> {
    let deps_key = |name: &str| format!("{}{name}", key(SECTOR_DEPS));
    match command {
        SectorsCommand::Get(common) => show(common, |s| OrgSettings {
            sectors: s.sectors.clone(),
            ..OrgSettings::default()
        }),
        SectorsCommand::AddDep(args) => {
            let specs = sector_specs(&args.specs)?;
            edit(&args.write, async |_, labels| {
                for (name, deps) in specs {
                    let k = deps_key(&name);
                    let mut list = items(labels, &k);
                    for d in deps.unwrap_or_default() {
                        if !list.contains(&d) {
                            list.push(d);
                        }
                    }
                    // A sector without dependencies is a label with an empty value.
                    labels.insert(k, list.join(","));
                }
                Ok(())
            })
        }
        SectorsCommand::RemoveDep(args) => {
            let specs = sector_specs(&args.specs)?;
            edit(&args.write, async |_, labels| {
                for (name, deps) in specs {
                    let k = deps_key(&name);
                    if !labels.contains_key(&k) {
                        return Err(input(format!(
                            "sector {name:?} is not declared by a {k} label"
                        )));
                    }
                    match deps {
                        None => {
                            labels.remove(&k);
                            labels.remove(&format!("{}{name}", key(SECTOR_MAX_PARALLEL)));
                        }
                        Some(deps) => {
                            let mut list = items(labels, &k);
                            list.retain(|d| !deps.contains(d));
                            labels.insert(k, list.join(","));
                        }
                    }
                }
                Ok(())
            })
        }
        SectorsCommand::Set(args) => {
            let specs = sector_specs(&args.specs)?;
            edit(&args.write, async |_, labels| {
                let prefix = key(SECTOR_DEPS);
                labels.retain(|k, _| !k.starts_with(&prefix));
                for (name, deps) in specs {
                    labels.insert(deps_key(&name), deps.unwrap_or_default().join(","));
                }
                Ok(())
            })
        }
    }
}

fn max_parallel(args: &MaxParallelArgs) -> Result<(), Failure> {
    let limit_key = |name: &str| format!("{}{name}", key(SECTOR_MAX_PARALLEL));
    match &args.command {
        Some(MaxParallelCommand::Get(common)) => show(common, |s| OrgSettings {
            sectors: s
                .sectors
                .iter()
                .filter(|(_, v)| v.max_parallel.is_some())
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.depends_on = None;
                    (k.clone(), v)
                })
                .collect(),
            ..OrgSettings::default()
        }),
        Some(MaxParallelCommand::Unset { write, sector }) => edit(write, async |_, labels| {
            if labels.remove(&limit_key(sector)).is_none() {
                configuration::warn(&format!("note: sector {sector:?} has no limit"));
            }
            Ok(())
        }),
        None => {
            let (Some(sector), Some(limit)) = (&args.sector, &args.limit) else {
                return Err(input("give SECTOR and N|N%".into()));
            };
            let k = limit_key(sector);
            let limit = Limit::parse(limit).map_err(|e| input(format!("label {k}: {e}")))?;
            edit(&args.write, async |_, labels| {
                labels.insert(k, limit.to_string());
                Ok(())
            })
        }
    }
}

fn org_list(args: &OrgListArgs, setting: &'static str) -> Result<(), Failure> {
    let k = key(setting);
    let names = |orgs: &[String]| {
        orgs.iter()
            .map(|o| {
                Name::try_from(o.trim())
                    .map(String::from)
                    .map_err(|e| input(format!("label {k}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    match &args.command {
        Some(OrgListCommand::Get(common)) => show(common, |s| {
            let mut out = OrgSettings::default();
            if setting == INHERIT {
                out.version_data.inherit.clone_from(&s.version_data.inherit);
            } else {
                out.version_data.publish.clone_from(&s.version_data.publish);
            }
            out
        }),
        Some(OrgListCommand::Remove { write, orgs }) => {
            let gone = names(orgs)?;
            edit(write, async |_, labels| {
                let mut list = items(labels, &k);
                list.retain(|o| !gone.contains(o));
                set_items(labels, k.clone(), &list);
                Ok(())
            })
        }
        None => {
            let new = names(&args.orgs)?;
            edit(&args.write, async |client, labels| {
                for o in &new {
                    configuration::check_org(client, o).await?;
                }
                let mut list = items(labels, &k);
                for o in new {
                    if !list.contains(&o) {
                        list.push(o);
                    }
                }
                set_items(labels, k.clone(), &list);
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sector_specs() {
        let spec = |s: &str| sector_spec(s).map_err(|f| f.error.to_string());
        assert_eq!(
            spec("prod=stage, dev").unwrap(),
            (
                "prod".to_owned(),
                Some(vec!["stage".to_owned(), "dev".to_owned()])
            )
        );
        assert_eq!(spec("dev=").unwrap(), ("dev".to_owned(), Some(Vec::new())));
        assert_eq!(spec("dev").unwrap(), ("dev".to_owned(), None));
        assert!(spec("=a").unwrap_err().contains("cannot be empty"));
        assert!(spec("a=b,,c").unwrap_err().contains("cannot be empty"));
        assert!(spec("a b=c").unwrap_err().contains("not a sector name"));
    }

    #[test]
    fn list_labels_are_trimmed_and_emptied_away() {
        let mut labels = BTreeMap::from([("k".to_owned(), "a, b,".to_owned())]);
        assert_eq!(items(&labels, "k"), ["a", "b"]);
        set_items(&mut labels, "k".to_owned(), &[]);
        assert!(labels.is_empty());
    }
}
