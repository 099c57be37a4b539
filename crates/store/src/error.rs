//! [`StoreError`]: everything that can go wrong between AUS and its state store.

use std::path::PathBuf;

/// An error of the state store. Every variant names what it was working on (the
/// URL, the database file, the state key), so that the message alone tells an
/// operator where to look.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `--state` URL has a scheme this build does not know.
    #[error(
        "unsupported state store URL {url:?}: expected `sqlite:PATH` (a database file) or `memory:` (nothing persisted)"
    )]
    UnsupportedUrl { url: String },

    /// `sqlite:` was given without a file name, or with SQLite's own in-memory
    /// name, which would silently persist nothing.
    #[error("state store URL {url:?} names no database file: {reason}")]
    InvalidPath { url: String, reason: &'static str },

    /// Neither `XDG_DATA_HOME` nor `HOME` gives a place for the default database.
    #[error(
        "no data directory for the default state database: neither XDG_DATA_HOME nor HOME is set to an absolute path; pass `--state sqlite:PATH`"
    )]
    NoDataDir,

    /// A state key part is empty or contains `/`, which would make two
    /// different (environment, organization) pairs share one key.
    #[error("invalid state key {environment:?}/{org_id:?}: {reason}")]
    InvalidKey {
        environment: String,
        org_id: String,
        reason: &'static str,
    },

    /// The directory that should hold the database file cannot be created.
    #[error("cannot create directory {path} for the state database")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The database file cannot be opened or created, or its connection
    /// settings (WAL, synchronous, busy timeout) cannot be applied.
    #[error("cannot open state database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    /// The schema migrations cannot be applied, for example because the file was
    /// written by a newer srecap with migrations this build does not know.
    #[error("cannot bring the schema of state database {path} up to date")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A statement failed; `operation` says which one and for which key.
    #[error("state database {path}: cannot {operation}")]
    Database {
        path: PathBuf,
        operation: String,
        #[source]
        source: sqlx::Error,
    },

    /// A stored document is not a soak history. Nothing resets it: a silent
    /// reset would restart every soak count of the organization at zero.
    #[error(
        "stored soak history {key} in {location} is corrupt; fix or delete it (it is not reset automatically)"
    )]
    Corrupt {
        key: String,
        location: String,
        #[source]
        source: serde_json::Error,
    },

    /// A history that could not be read back once written (a soak time that is
    /// not a finite, non-negative number: JSON has no NaN and would write null).
    #[error("soak history {key} is not stored: {reason}")]
    Unstorable { key: String, reason: String },
}
