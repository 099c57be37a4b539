//! The AUS state store: each organization's soak history ("version data", spec
//! §6), kept between passes.
//!
//! Modules:
//! * [`location`]: [`StoreUrl`], the parsed `--state` value (`sqlite:PATH` or
//!   `memory:`), and [`default_url`] under the user's data directory.
//! * [`key`]: [`StateKey`], `<environment>/<org id>` (R63).
//! * [`sqlite`]: [`SqliteStore`], the embedded default.
//! * [`memory`]: [`MemoryStore`], for simulations and tests.
//! * [`error`]: [`StoreError`], what can go wrong, with the key or file at fault.
//!
//! A controller uses [`Store`] (opened from a URL) through the [`HistoryStore`]
//! trait: per organization and pass, [`HistoryStore::begin`] opens a
//! transaction that has already read the stored history
//! ([`HistoryTxn::history`]); [`HistoryTxn::commit`] writes the updated one;
//! dropping the transaction without committing (dry-run, an error) leaves the
//! stored history as it was. Inherited histories (R70) are read with
//! [`HistoryStore::load`] / [`HistoryStore::load_many`], which see committed
//! documents only.
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
//!   crash-safe, readers never block the writer. Schema changes are embedded
//!   sqlx migrations applied at open.
//! * Write transactions begin with `BEGIN IMMEDIATE`, taking SQLite's write
//!   lock before reading, so that two processes reconciling the same
//!   organization serialize (the second waits, then reads what the first
//!   wrote) instead of both crediting the same interval. All writers of one
//!   database share that lock, so a transaction should span one organization's
//!   update and save, not network calls.
//! * Queries are checked at run time (`sqlx::query`), so building needs no
//!   database.
//! * A document that does not read as a history is an error naming its key;
//!   it is never reset silently, which would restart the organization's soak
//!   counts at zero.

pub mod error;
pub mod key;
pub mod location;
pub mod memory;
pub mod sqlite;

mod document;

use std::collections::BTreeMap;

pub use error::StoreError;
pub use key::StateKey;
pub use location::{StoreUrl, default_url, default_url_from};
pub use memory::{MemoryStore, MemoryTxn};
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
    /// sources, dry runs).
    fn load(
        &self,
        key: &StateKey,
    ) -> impl Future<Output = Result<Option<VersionData>, StoreError>> + Send;

    /// The committed histories at `keys`, from one consistent snapshot; keys
    /// with no history are absent from the map.
    fn load_many(
        &self,
        keys: &[StateKey],
    ) -> impl Future<Output = Result<BTreeMap<StateKey, VersionData>, StoreError>> + Send;
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
            StoreUrl::Memory => Self::Memory(MemoryStore::new()),
        })
    }

    /// The URL of this store, for logs and messages.
    pub fn url(&self) -> StoreUrl {
        match self {
            Self::Sqlite(store) => StoreUrl::Sqlite(store.path().to_path_buf()),
            Self::Memory(_) => StoreUrl::Memory,
        }
    }
}

impl HistoryStore for Store {
    type Txn = OrgTxn;

    async fn begin(&self, key: &StateKey) -> Result<OrgTxn, StoreError> {
        Ok(match self {
            Self::Sqlite(store) => OrgTxn::Sqlite(store.begin(key).await?),
            Self::Memory(store) => OrgTxn::Memory(store.begin(key).await?),
        })
    }

    async fn load(&self, key: &StateKey) -> Result<Option<VersionData>, StoreError> {
        match self {
            Self::Sqlite(store) => store.load(key).await,
            Self::Memory(store) => store.load(key).await,
        }
    }

    async fn load_many(
        &self,
        keys: &[StateKey],
    ) -> Result<BTreeMap<StateKey, VersionData>, StoreError> {
        match self {
            Self::Sqlite(store) => store.load_many(keys).await,
            Self::Memory(store) => store.load_many(keys).await,
        }
    }
}

/// The open transaction of a [`Store`].
#[derive(Debug)]
pub enum OrgTxn {
    Sqlite(SqliteTxn),
    Memory(MemoryTxn),
}

impl HistoryTxn for OrgTxn {
    fn key(&self) -> &StateKey {
        match self {
            Self::Sqlite(txn) => txn.key(),
            Self::Memory(txn) => txn.key(),
        }
    }

    fn history(&self) -> Option<&VersionData> {
        match self {
            Self::Sqlite(txn) => txn.history(),
            Self::Memory(txn) => txn.history(),
        }
    }

    async fn commit(self, new: &VersionData) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(txn) => txn.commit(new).await,
            Self::Memory(txn) => txn.commit(new).await,
        }
    }
}
