//! `srecap aus apply -f FILE` and `srecap aus export`: an organization's whole AUS
//! configuration as one versioned document (policy as code).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use srecap_aus::configuration::Configuration;

use crate::Failure;
use crate::configuration::{self, Common, Output};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Configuration file (YAML or JSON, `kind: AusConfiguration`); `-` reads
    /// standard input.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// Show the label diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove `sre-capabilities.aus.*` labels of the organization and its
    /// clusters that the file does not declare (never any other label).
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: Common,
}

pub fn apply(args: &ApplyArgs) -> Result<(), Failure> {
    let doc = read(&args.file)?;
    if let Some(org) = &args.common.org
        && *org != doc.organization
    {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: the file configures organization {:?}, not --org {org:?}",
            args.file.display(),
            doc.organization
        )));
    }
    configuration::with_client(&args.common, async |client| {
        let before = configuration::load(client, &doc.organization).await?;
        let mut after = before.with_document(&doc, args.prune).map_err(|errors| {
            Failure::input(anyhow::anyhow!(
                "{}: {}\nnothing was written",
                args.file.display(),
                errors.join("\n")
            ))
        })?;
        for org in doc.settings.version_data.publish.iter().flatten() {
            configuration::check_org(client, org.as_str()).await?;
        }
        configuration::load_publishers(client, &before, &mut after).await?;
        configuration::commit(client, &before, &after, args.dry_run, args.common.output()).await
    })
}

/// Read and check a configuration file (exit 2 with file, line and field).
fn read(path: &PathBuf) -> Result<Configuration, Failure> {
    let (name, text) = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")
            .map_err(Failure::input)?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(Failure::input)?;
        (path.display().to_string(), text)
    };
    Configuration::parse(&name, &text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Failure::input(anyhow::anyhow!("{}\nnothing was written", lines.join("\n")))
    })
}

pub fn export(args: &ExportArgs) -> Result<(), Failure> {
    configuration::with_client(&args.common, async |client| {
        let org = configuration::org_id(client, args.common.org.as_deref()).await?;
        let state = configuration::load(client, &org).await?;
        let (doc, warnings) = Configuration::from_state(&state);
        for w in warnings {
            configuration::warn(&format!("warning: {w}"));
        }
        let output = match args.common.output {
            // A document is data: YAML unless JSON is asked for.
            Some(Output::Json) => Output::Json,
            _ => Output::Yaml,
        };
        configuration::print_data(&doc, output)
    })
}
