//! srecap's state store: each organization's AUS soak history ("version
//! data", spec §6), kept between passes; the leases that share organizations
//! between replicas; and the sealed (encrypted) records capabilities keep
//! secret, such as the Red Hat `IdP` capability's SSO client records.
//!
//! Modules:
//! * [`location`]: [`StoreUrl`], the parsed `--state` value (`sqlite:PATH`,
//!   `postgres://…` or `memory:`; displayed without passwords), and
//!   [`default_url`] under the user's data directory.
//! * [`key`]: [`StateKey`], `<environment>/<org id>` (R63).
//! * [`sqlite`]: [`SqliteStore`], the embedded default, for one runner.
//! * [`postgres`]: [`PostgresStore`], shared by several replicas.
//! * [`memory`]: [`MemoryStore`], for simulations and tests.
//! * [`lease`]: [`Lease`], the fencing protocol that lets replicas share the
//!   organizations of an environment.
//! * [`secret`]: [`SecretStore`], records a capability keeps secret (SSO
//!   client records), sealed with AES-256-GCM under a [`SealingKey`] before
//!   they reach the database.
//! * [`transfer`]: the `srecap state export` document and the reference AUS's
//!   stored documents, read with errors naming the entry and field.
//! * [`error`]: [`StoreError`], what can go wrong, with the key, file or
//!   (redacted) URL at fault.
//!
//! A controller uses [`Store`] (opened from a URL) through the [`HistoryStore`]
//! trait: per organization and pass, [`HistoryStore::begin`] opens a
//! transaction that has already read the stored history
//! ([`HistoryTxn::history`]); [`HistoryTxn::commit`] writes the updated one;
//! dropping the transaction without committing (dry-run, an error) leaves the
//! stored history as it was. Inherited histories (R70) are read with
//! [`HistoryStore::load`] / [`HistoryStore::load_many`], which see committed
//! documents only. To share work, a replica first [`Store::acquire`]s the
//! organization's lease and commits with [`OrgTxn::commit_fenced`], which is
//! refused once the lease is no longer the live one.
//!
//! Design decisions:
//! * The history is one JSON document per key, in one row, written whole.
//!   AUS reads and writes it whole once per pass, and the JSON is the shape the
//!   reference stores (R63), so existing documents import unchanged. A
//!   single-row write is atomic on its own, so a crash at any point (even
//!   SIGKILL mid-write) leaves either the old or the new history, never a torn
//!   one. Because `check_in` lives in the same document as the soak days, the
//!   time credited by a pass and the instant it was credited up to are saved
//!   together: a crash cannot credit the same interval twice (R65, R68).
//! * SQLite in WAL mode with `synchronous=FULL`: embedded (no server to run),
//!   crash-safe, readers never block the writer. PostgreSQL when several
//!   replicas share the work. Schema changes are embedded versioned sqlx
//!   migrations (one directory per backend) applied at open.
//! * Writers of one key serialize: SQLite's `BEGIN IMMEDIATE` write lock (all
//!   keys of the file share it), PostgreSQL's per-key transaction advisory
//!   lock. Two processes reconciling the same organization therefore never
//!   both read the old history and both credit the same interval. A
//!   transaction should span one organization's update and save, not network
//!   calls.
//! * Leases (expiry by the database's clock plus a fencing token checked in the
//!   commit's own transaction) make each organization the work of one replica
//!   at a time, and make a replica that lost its lease unable to write. A
//!   SQLite file has one runner, held by an OS file lock that dies with its
//!   process; leases there are in-process.
//! * Queries are checked at run time (`sqlx::query`), so building needs no
//!   database.
//! * A document that does not read as a history is an error naming its key;
//!   it is never reset silently, which would restart the organization's soak
//!   counts at zero.

pub mod error;
pub mod key;
pub mod lease;
pub mod location;
pub mod memory;
pub mod postgres;
pub mod secret;
pub mod sqlite;
pub mod transfer;

mod document;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use error::StoreError;
pub use key::StateKey;
pub use lease::Lease;
pub use location::{PostgresUrl, StoreUrl, default_url, default_url_from};
pub use memory::{MemoryStore, MemoryTxn};
pub use postgres::{PostgresStore, PostgresTxn};
pub use secret::{SealingKey, SecretError, SecretStore};
pub use sqlite::{SqliteStore, SqliteTxn};
pub use srecap_fleet::VersionData;

/// A place that keeps soak histories by [`StateKey`].
///
/// A missing key reads as `None`; the caller treats it as an empty history
/// (R63).
pub trait HistoryStore: Send + Sync {
    type Txn: HistoryTxn;

    /// Open the write transaction of one organization's pass, waiting while
    /// another writer (this process or another) holds one, and read its stored
    /// history inside it.
    fn begin(&self, key: &StateKey) -> impl Future<Output = Result<Self::Txn, StoreError>> + Send;

    /// The committed history at `key`, outside any transaction (inherited
    /// sources, dry runs). Shared, not copied: the in-memory backend hands out
    /// the document it holds, so a pass costs no copy of a history that grows
    /// all year.
    fn load(
        &self,
        key: &StateKey,
    ) -> impl Future<Output = Result<Option<Arc<VersionData>>, StoreError>> + Send;

    /// The committed histories at `keys`, from one consistent snapshot; keys
    /// with no history are absent from the map.
    fn load_many(
        &self,
        keys: &[StateKey],
    ) -> impl Future<Output = Result<BTreeMap<StateKey, Arc<VersionData>>, StoreError>> + Send;
}

/// One organization's open write transaction. Dropping it without
/// [`commit`](HistoryTxn::commit) rolls it back.
pub trait HistoryTxn: Send {
    /// The key this transaction reads and writes.
    fn key(&self) -> &StateKey;

    /// The history stored when the transaction began (`None`: never stored).
    fn history(&self) -> Option<&VersionData>;

    /// Replace the stored history with `new` and commit. On error nothing is
    /// written.
    fn commit(self, new: &VersionData) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The store a `--state` URL names: the facade the controller holds.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
    Memory(MemoryStore),
}

impl Store {
    /// Open the store `url` names (see [`StoreUrl`] for the accepted forms).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_url(&StoreUrl::parse(url)?).await
    }

    /// Open an already parsed store URL.
    pub async fn open_url(url: &StoreUrl) -> Result<Self, StoreError> {
        Ok(match url {
            StoreUrl::Sqlite(path) => Self::Sqlite(SqliteStore::open(path).await?),
            StoreUrl::Postgres(url) => Self::Postgres(PostgresStore::open(url).await?),
            StoreUrl::Memory => Self::Memory(MemoryStore::new()),
        })
    }

    /// The sealed records of this store, opened with `key`.
    pub fn secrets(&self, key: SealingKey) -> SecretStore {
        SecretStore::new(self.clone(), key)
    }

    /// The URL of this store, for logs and messages (its `Display` hides any
    /// password).
    pub fn url(&self) -> StoreUrl {
        match self {
            Self::Sqlite(store) => StoreUrl::Sqlite(store.path().to_path_buf()),
            Self::Postgres(store) => StoreUrl::Postgres(store.url().clone()),
            Self::Memory(_) => StoreUrl::Memory,
        }
    }

    /// The latest schema migration applied (`None` for `memory:`, which has
    /// no schema).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        match self {
            Self::Sqlite(store) => store.schema_version().await,
            Self::Postgres(store) => store.schema_version().await,
            Self::Memory(_) => Ok(None),
        }
    }

    /// Every stored history, by key.
    pub async fn export(&self) -> Result<BTreeMap<StateKey, VersionData>, StoreError> {
        match self {
            Self::Sqlite(store) => store.export().await,
            Self::Postgres(store) => store.export().await,
            Self::Memory(store) => Ok(store.export()),
        }
    }

    /// Store `histories`, replacing the histories of those keys and leaving
    /// other keys alone, in one transaction: on any error nothing is written.
    pub async fn import(
        &self,
        histories: &BTreeMap<StateKey, VersionData>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.import(histories).await,
            Self::Postgres(store) => store.import(histories).await,
            Self::Memory(store) => store.import(histories).await,
        }
    }

    /// Claim the right to run the reconciler on this store. On SQLite this is
    /// exclusive ([`StoreError::RunnerLocked`] when another process runs on the
    /// file); PostgreSQL and memory stores share work through leases and accept
    /// any number of runners. A runner should call it at start, to fail before
    /// its first pass; [`Store::acquire`] takes it too.
    pub fn lock_runner(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.lock_runner(),
            Self::Postgres(_) | Self::Memory(_) => Ok(()),
        }
    }

    /// Grant organization `key`'s lease to replica `holder` for `ttl`, or
    /// `None` while another holder's lease is live. A grant after another
    /// holder's lease expired unreleased is a takeover
    /// ([`Lease::took_over_from`]). See [`lease`] for the protocol.
    pub async fn acquire(
        &self,
        key: &StateKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        match self {
            Self::Sqlite(store) => store.acquire(key, holder, ttl),
            Self::Postgres(store) => store.acquire(key, holder, ttl).await,
            Self::Memory(store) => store.acquire(key, holder, ttl),
        }
    }

    /// Extend a live lease by `ttl` from now, keeping its token; `None` once
    /// it expired, was released or was taken over.
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        match self {
            Self::Sqlite(store) => store.renew(lease, ttl),
            Self::Postgres(store) => store.renew(lease, ttl).await,
            Self::Memory(store) => store.renew(lease, ttl),
        }
    }

    /// Give a lease up, so that another replica may take the organization at
    /// once; `false` if it was no longer held.
    pub async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(store) => Ok(store.release(lease)),
            Self::Postgres(store) => store.release(lease).await,
            Self::Memory(store) => Ok(store.release(lease)),
        }
    }
}

impl HistoryStore for Store {
    type Txn = OrgTxn;

    async fn begin(&self, key: &StateKey) -> Result<OrgTxn, StoreError> {
        Ok(match self {
            Self::Sqlite(store) => OrgTxn::Sqlite(store.begin(key).await?),
            Self::Postgres(store) => OrgTxn::Postgres(store.begin(key).await?),
            Self::Memory(store) => OrgTxn::Memory(store.begin(key).await?),
        })
    }

    async fn load(&self, key: &StateKey) -> Result<Option<Arc<VersionData>>, StoreError> {
        match self {
            Self::Sqlite(store) => store.load(key).await,
            Self::Postgres(store) => store.load(key).await,
            Self::Memory(store) => store.load(key).await,
        }
    }

    async fn load_many(
        &self,
        keys: &[StateKey],
    ) -> Result<BTreeMap<StateKey, Arc<VersionData>>, StoreError> {
        match self {
            Self::Sqlite(store) => store.load_many(keys).await,
            Self::Postgres(store) => store.load_many(keys).await,
            Self::Memory(store) => store.load_many(keys).await,
        }
    }
}

/// The open transaction of a [`Store`].
#[derive(Debug)]
pub enum OrgTxn {
    Sqlite(SqliteTxn),
    Postgres(PostgresTxn),
    Memory(MemoryTxn),
}

impl OrgTxn {
    /// [`HistoryTxn::commit`], fenced by `lease`: refused with
    /// [`StoreError::Fenced`], writing nothing, unless `lease` is still the
    /// live lease of this transaction's key when the write commits.
    pub async fn commit_fenced(self, new: &VersionData, lease: &Lease) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(txn) => txn.commit_fenced(new, lease).await,
            Self::Postgres(txn) => txn.commit_fenced(new, lease).await,
            Self::Memory(txn) => txn.commit_fenced(new, lease),
        }
    }
}

impl HistoryTxn for OrgTxn {
    fn key(&self) -> &StateKey {
        match self {
            Self::Sqlite(txn) => txn.key(),
            Self::Postgres(txn) => txn.key(),
            Self::Memory(txn) => txn.key(),
        }
    }

    fn history(&self) -> Option<&VersionData> {
        match self {
            Self::Sqlite(txn) => txn.history(),
            Self::Postgres(txn) => txn.history(),
            Self::Memory(txn) => txn.history(),
        }
    }

    async fn commit(self, new: &VersionData) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(txn) => txn.commit(new).await,
            Self::Postgres(txn) => txn.commit(new).await,
            Self::Memory(txn) => txn.commit(new).await,
        }
    }
}
