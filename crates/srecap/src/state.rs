//! `srecap state`: operations on the soak-history store itself: bring its
//! schema up to date, back it up, restore it, move it between backends
//! (SQLite to PostgreSQL), and take over an existing reference AUS's history.
//!
//! The document formats and their checks live in `srecap_store::transfer`;
//! this module only reads and writes files and reports. An import checks the
//! whole file before it opens a transaction, and writes everything in that
//! one transaction, so a bad file or a failure writes nothing.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use srecap_store::{Store, StoreUrl, transfer};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Apply the store's pending schema migrations and print its schema version.
    Migrate(StoreArgs),
    /// Write every organization's soak history as one JSON document
    /// (`{"format": "srecap-state/v1", "entries": [{"key", "history"}, ...]}`).
    Export(ExportArgs),
    /// Restore soak histories from FILE in one transaction: the histories of the
    /// keys in FILE are replaced, other keys are left alone. A malformed file
    /// (the message names the entry and field) writes nothing.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store: `sqlite:PATH`, `postgres://USER:PASSWORD@HOST/DB[?sslmode=...]`
    /// or `memory:`. Default: `sqlite:$XDG_DATA_HOME/srecap/state.db`
    /// (`~/.local/share/srecap/state.db`), as `aus run`.
    #[arg(long, value_name = "URL", env = "SRECAP_STATE", hide_env_values = true)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Write the document to FILE (replaced whole, never left half-written)
    /// instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The document to import.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What FILE holds.
    #[arg(long, value_enum, default_value_t = ImportFormat::Srecap)]
    pub format: ImportFormat,
    /// Check FILE and report what would be imported; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// An `srecap state export` document.
    Srecap,
    /// The reference AUS's stored documents (spec R62–R64): a directory laid out
    /// as its bucket's `state/advanced-upgrade-scheduler/` (one
    /// `<environment>/<org id>` file each), or one JSON object mapping
    /// `<environment>/<org id>` to the document.
    Reference,
}

pub fn run(command: &StateCommand) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            StateCommand::Migrate(args) => migrate(args).await,
            StateCommand::Export(args) => export(args).await,
            StateCommand::Import(args) => import(args).await,
        }
    })
}

fn store_url(args: &StoreArgs) -> Result<StoreUrl, Failure> {
    match &args.state {
        Some(url) => StoreUrl::parse(url).map_err(Failure::input),
        None => srecap_store::default_url().map_err(Failure::input),
    }
}

async fn open(url: &StoreUrl) -> Result<Store, Failure> {
    Ok(Store::open_url(url).await.map_err(anyhow::Error::from)?)
}

async fn migrate(args: &StoreArgs) -> Result<(), Failure> {
    let url = store_url(args)?;
    // Opening applies the migrations.
    let store = open(&url).await?;
    let line = match store.schema_version().await.map_err(anyhow::Error::from)? {
        Some(version) => format!("state store {url}: schema version {version}, up to date\n"),
        None => format!("state store {url}: no schema (nothing is persisted)\n"),
    };
    write_stdout(&line)
}

async fn export(args: &ExportArgs) -> Result<(), Failure> {
    let url = store_url(&args.store)?;
    let store = open(&url).await?;
    let histories = store.export().await.map_err(anyhow::Error::from)?;
    let text = transfer::to_export_json(&histories);
    match &args.output {
        None => write_stdout(&text),
        Some(path) => {
            write_whole(path, &text)?;
            let mut stderr = io::stderr().lock();
            let _ = writeln!(
                stderr,
                "exported {} soak histories from {url} to {}",
                histories.len(),
                path.display()
            );
            Ok(())
        }
    }
}

async fn import(args: &ImportArgs) -> Result<(), Failure> {
    let url = store_url(&args.store)?;
    let file = &args.file;
    let histories = match args.format {
        ImportFormat::Srecap => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))
                .map_err(Failure::input)?;
            transfer::parse_export(&text)
        }
        ImportFormat::Reference => transfer::read_reference(file),
    }
    .with_context(|| format!("{} cannot be imported; nothing was written", file.display()))
    .map_err(Failure::input)?;
    let store = open(&url).await?;
    let existing = store.export().await.map_err(anyhow::Error::from)?;
    let replaced = histories
        .keys()
        .filter(|key| existing.contains_key(key))
        .count();
    let line = if args.dry_run {
        format!(
            "would import {} soak histories from {} into {url} ({replaced} replacing stored ones); nothing written (--dry-run)\n",
            histories.len(),
            file.display()
        )
    } else {
        store.import(&histories).await.with_context(|| {
            format!(
                "importing {} into {url}; nothing was written",
                file.display()
            )
        })?;
        format!(
            "imported {} soak histories from {} into {url} ({replaced} replaced stored ones)\n",
            histories.len(),
            file.display()
        )
    };
    write_stdout(&line)
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to standard output")?;
    Ok(())
}

/// Write `text` to `path` through a temporary file renamed over it, so that a
/// failed export never leaves a truncated backup where a good one was.
fn write_whole(path: &Path, text: &str) -> Result<(), Failure> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            Failure::from(e)
        })
}
