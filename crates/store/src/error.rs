//! [`StoreError`]: everything that can go wrong between AUS and its state store.

use std::path::PathBuf;

/// An error of the state store. Every variant names what it was working on (the
/// URL, the database file, the state key), so that the message alone tells an
/// operator where to look.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `--state` URL has a scheme this build does not know.
    #[error(
        "unsupported state store URL {url:?}: expected `sqlite:PATH` (a database file), `postgres://USER@HOST/DB` (a PostgreSQL database) or `memory:` (nothing persisted)"
    )]
    UnsupportedUrl { url: String },

    /// A `postgres://` URL that sqlx cannot read (bad port, unknown `sslmode`,
    /// ...). `url` is redacted.
    #[error("invalid PostgreSQL state store URL {url:?}")]
    InvalidPostgresUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// The PostgreSQL server cannot be reached, refuses the credentials, or the
    /// TLS handshake fails. `url` is redacted.
    #[error("cannot connect to state database {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// The schema migrations of a PostgreSQL database cannot be applied, for
    /// example because a newer srecap migrated it further than this build knows.
    #[error("cannot bring the schema of state database {url} up to date")]
    MigrateDatabase {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A PostgreSQL statement failed; `operation` says which one and for which
    /// key. `url` is redacted.
    #[error("state database {url}: cannot {operation}")]
    Statement {
        url: String,
        operation: String,
        #[source]
        source: sqlx::Error,
    },

    /// A history commit carried a lease that is no longer the live one: it
    /// expired, was released, or another replica took the organization over.
    /// Nothing was written; the other replica's history stands.
    #[error(
        "soak history {key} is not committed: the lease of {holder:?} (fencing token {token}) {reason}; another replica may reconcile this organization now"
    )]
    Fenced {
        key: String,
        holder: String,
        token: i64,
        reason: &'static str,
    },

    /// A lease operation was given a time to live of zero or one that the
    /// database cannot represent.
    #[error("invalid lease time to live {ttl:?} for {key}: {reason}")]
    InvalidTtl {
        key: String,
        ttl: std::time::Duration,
        reason: &'static str,
    },

    /// Another process already runs the reconciler on this SQLite file. A
    /// SQLite store is for one runner; several replicas need PostgreSQL.
    #[error(
        "state database {path} is in use by another srecap runner (it holds the lock on {lock}); run one runner per SQLite file, or use `--state postgres://...` to share the work between replicas"
    )]
    RunnerLocked { path: PathBuf, lock: PathBuf },

    /// The runner lock file next to a SQLite database cannot be opened or
    /// locked.
    #[error("cannot lock {lock} for the runner of state database {path}")]
    RunnerLock {
        path: PathBuf,
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },

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

    /// A sealing key or a sealed record that cannot be used.
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
}
