//! `srecap observability …`: print or write the artefacts generated from the
//! metric and SLO definitions (rules, promtool tests, Alertmanager snippet,
//! Grafana dashboards, runbooks).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use srecap_observability::{Artefact, Links, artefacts, dashboard, rules};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum ObservabilityCommand {
    /// Print the recording and alerting rules (burn-rate alerts per SLO and
    /// shard, operational alerts).
    Rules(RulesArgs),
    /// Print the Alertmanager routes and inhibitions for the rules.
    Alertmanager(LinkArgs),
    /// Print the Grafana dashboards as a JSON array, or write one file per
    /// dashboard with --out.
    Dashboards(DashboardArgs),
    /// Write every artefact (rules, promtool tests, Alertmanager snippet,
    /// dashboards, runbooks) under a directory, as checked into the repository.
    Generate(GenerateArgs),
}

/// Where generated links point.
#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    /// Base URL of the runbooks; `<base>/<capability>/<AlertName>.md` is each alert's
    /// `runbook_url`.
    #[arg(long, value_name = "URL")]
    pub runbook_url_base: Option<String>,
    /// Grafana base URL for the alerts' `dashboard` annotation.
    #[arg(long, value_name = "URL")]
    pub grafana_url: Option<String>,
    /// OCM environments that must always report (one `AUSAbsent` alert each;
    /// repeatable). Default: production.
    #[arg(long = "environment", value_name = "NAME")]
    pub environments: Vec<String>,
    /// The `aus run --config` file: its environments must always report, and
    /// each environment's `alertSeverity` caps its alerts (`warning`: that
    /// environment never pages). Default: every alert keeps its severity.
    #[arg(long, value_name = "FILE", conflicts_with = "environments")]
    pub config: Option<PathBuf>,
}

impl LinkArgs {
    fn links(&self) -> Result<Links, Failure> {
        let mut links = Links::default();
        if let Some(base) = &self.runbook_url_base {
            links.runbook_base = url(base, "--runbook-url-base")?;
        }
        if let Some(base) = &self.grafana_url {
            links.grafana_base = url(base, "--grafana-url")?;
        }
        if !self.environments.is_empty() {
            for env in &self.environments {
                if env.is_empty()
                    || !env
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(Failure::input(anyhow::anyhow!(
                        "--environment {env:?}: use letters, digits, '-' and '_' only (it becomes a label value in PromQL)"
                    )));
                }
            }
            links.environments.clone_from(&self.environments);
        }
        if let Some(path) = &self.config {
            let settings = crate::environments::load(path).map_err(Failure::input)?;
            links.environments = settings
                .environments
                .iter()
                .map(|e| e.name.clone())
                .collect();
            links.severity_caps = settings.severities();
        }
        Ok(links)
    }
}

fn url(value: &str, flag: &str) -> Result<String, Failure> {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return Err(Failure::input(anyhow::anyhow!(
            "{flag} {value:?}: expected an absolute http(s) URL"
        )));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// prometheus-operator `PrometheusRule` manifests (one per SLO, plus the
    /// operational alerts), as a multi-document YAML stream.
    PrometheusRule,
    /// A plain Prometheus rule file for `rule_files:` (and promtool).
    Rules,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value_t = RulesFormat::PrometheusRule)]
    pub format: RulesFormat,
    /// Namespace of the `PrometheusRule` objects.
    #[arg(long, default_value = "srecap")]
    pub namespace: String,
    #[command(flatten)]
    pub links: LinkArgs,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Write `<uid>.json` files into this directory instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Repository root (or any directory) to write `deploy/…` and
    /// `docs/runbooks/…` under.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub links: LinkArgs,
}

pub fn run(command: &ObservabilityCommand) -> Result<(), Failure> {
    match command {
        ObservabilityCommand::Rules(args) => {
            let sets = rules::aus_rules(&args.links.links()?).context("generating rules")?;
            let text = match args.format {
                RulesFormat::PrometheusRule => rules::to_prometheus_rules(&sets, &args.namespace),
                RulesFormat::Rules => rules::to_rules_file(&sets),
            };
            print(&text)
        }
        ObservabilityCommand::Alertmanager(args) => {
            let sets = rules::aus_rules(&args.links()?).context("generating rules")?;
            print(&rules::alertmanager_snippet(&sets))
        }
        ObservabilityCommand::Dashboards(args) => {
            let sets = rules::aus_rules(&Links::default()).context("generating rules")?;
            let boards = dashboard::aus_dashboards(&sets);
            if let Some(dir) = &args.out {
                let files: Vec<Artefact> = boards
                    .iter()
                    .map(|d| Artefact {
                        path: format!("{}.json", d.uid),
                        contents: d.to_json(),
                    })
                    .collect();
                write_all(dir, &files)
            } else {
                let all: Vec<&serde_json::Value> = boards.iter().map(|d| &d.model).collect();
                let text = serde_json::to_string_pretty(&all).context("encoding dashboards")?;
                print(&(text + "\n"))
            }
        }
        ObservabilityCommand::Generate(args) => {
            let files = artefacts(&args.links.links()?).context("generating artefacts")?;
            write_all(&args.out, &files)?;
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "wrote {} files under {}",
                files.len(),
                args.out.display()
            );
            Ok(())
        }
    }
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(())
}

/// Write every file through a temporary sibling and a rename, so a reader never
/// sees half a file.
fn write_all(root: &Path, files: &[Artefact]) -> Result<(), Failure> {
    for a in files {
        let path = root.join(&a.path);
        let dir = path.parent().unwrap_or(root);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
        let tmp = path.with_extension("tmp~");
        std::fs::write(&tmp, &a.contents).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    }
    Ok(())
}
