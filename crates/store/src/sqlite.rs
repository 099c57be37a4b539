//! [`SqliteStore`]: the embedded default backend, one SQLite file.
//!
//! Connection settings, and why:
//! * `journal_mode=WAL`: readers (inherited histories, R70) see the last
//!   committed state and never wait for the writer; a commit is one append to
//!   the log, so a crash leaves either the old or the new row.
//! * `synchronous=FULL`: the log is synced at every commit, so a commit that
//!   returned survives power loss too. The history is a few kilobytes written
//!   once per organization and pass: durability costs nothing noticeable.
//! * busy timeout [`BUSY_TIMEOUT`]: a second process wanting the write lock
//!   waits for the first one's pass instead of failing at once.
//! * write transactions start with `BEGIN IMMEDIATE`, which takes the write
//!   lock before the history is read. With a plain (deferred) `BEGIN`, two
//!   processes could both read the old history and the later commit would fail
//!   (or, without the check, one pass's soak time would be lost); with
//!   `IMMEDIATE` the second one waits, then reads what the first committed.
//!
//! One runner per file: a SQLite store is for a single reconciler process.
//! [`SqliteStore::lock_runner`] (also taken by the first lease) holds an OS
//! file lock on `<database>.runner-lock` for the life of the store, so a second
//! runner is refused with a clear error instead of both crediting soak time and
//! booking upgrades. The OS drops the lock when the process ends, however it
//! ends (SIGKILL included), so a dead runner never blocks the next one. Leases
//! are then kept in process memory: every holder lives in this one process.
//! Read-only users (`aus explain --live`, `state export`) do not take the lock.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Sqlite, SqliteConnection, SqlitePool, Transaction};
use srecap_fleet::VersionData;
use tokio::sync::OwnedMutexGuard;

use crate::lease::LeaseTable;
use crate::{HistoryStore, HistoryTxn, Lease, StateKey, StoreError, document};

/// How long a writer waits for another process's write transaction. A pass
/// holds the lock while it works on one organization; a minute is far longer
/// than that and still ends a hung peer's hold with a clear "database is
/// locked" error instead of waiting forever.
pub const BUSY_TIMEOUT: Duration = Duration::from_mins(1);

/// Connections per store: one writer (see [`SqliteStore::writer`]) plus
/// readers, so `load` keeps working while a transaction is open.
const MAX_CONNECTIONS: u32 = 4;

/// Attempts at connecting when SQLite reports the file busy. Switching a new
/// file to WAL needs an exclusive lock that the busy timeout does not wait for
/// (see sqlx's `SqliteConnectOptions` notes), so two processes creating the
/// same file at the same instant can see one such error.
const OPEN_ATTEMPTS: u32 = 5;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// What every handle cloned from one [`SqliteStore::open`] shares besides the
/// pool.
#[derive(Debug, Default)]
struct Runner {
    /// The locked runner-lock file, once [`SqliteStore::lock_runner`] took it;
    /// closing it (dropping the last handle, or the process ending) unlocks.
    lock: Mutex<Option<File>>,
    leases: LeaseTable,
}

/// A soak-history store in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// Serializes this process's write transactions before they take a pooled
    /// connection. Without it, several tasks could each hold a connection while
    /// blocked in `BEGIN IMMEDIATE` on SQLite's lock, leaving none for the
    /// `load` the lock holder needs: a deadlock until the busy timeout.
    writer: Arc<tokio::sync::Mutex<()>>,
    runner: Arc<Runner>,
}

impl SqliteStore {
    /// Open (creating if missing) the database at `path` and apply pending
    /// migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        let pool_options = SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS);
        let mut attempt = 1;
        let pool = loop {
            match pool_options.clone().connect_with(options.clone()).await {
                Ok(pool) => break pool,
                Err(source) if attempt < OPEN_ATTEMPTS && is_busy(&source) => {
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
        };
        let store = Self {
            pool,
            path: path.to_path_buf(),
            writer: Arc::default(),
            runner: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file whose OS lock marks the runner of this database.
    pub fn runner_lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".runner-lock");
        PathBuf::from(name)
    }

    /// Become this database's only runner, or fail with
    /// [`StoreError::RunnerLocked`] if another process (or another open of the
    /// file in this one) already is. Idempotent for this store and its clones.
    pub fn lock_runner(&self) -> Result<(), StoreError> {
        let mut held = self
            .runner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if held.is_some() {
            return Ok(());
        }
        let lock = self.runner_lock_path();
        let error = |source| StoreError::RunnerLock {
            path: self.path.clone(),
            lock: lock.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(error)?;
        match file.try_lock() {
            Ok(()) => {
                *held = Some(file);
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(StoreError::RunnerLocked {
                path: self.path.clone(),
                lock,
            }),
            Err(TryLockError::Error(source)) => Err(error(source)),
        }
    }

    /// Grant `key`'s lease to `holder` (see [`crate::lease`]); takes the
    /// runner lock first.
    pub fn acquire(
        &self,
        key: &StateKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.lock_runner()?;
        self.runner.leases.acquire(key, holder, ttl)
    }

    /// Extend a live lease; `None` if it was lost.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.runner.leases.renew(lease, ttl)
    }

    /// Give a lease up; `false` if it had already been lost or released.
    pub fn release(&self, lease: &Lease) -> bool {
        self.runner.leases.release(lease)
    }

    /// The latest applied schema migration.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(self.error("read the schema version".to_owned()))
    }

    /// Every stored history, from one snapshot.
    pub async fn export(&self) -> Result<BTreeMap<StateKey, VersionData>, StoreError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT environment, org_id, document FROM soak_history ORDER BY key")
                .fetch_all(&self.pool)
                .await
                .map_err(self.error("read every soak history".to_owned()))?;
        let mut histories = BTreeMap::new();
        for (environment, org_id, text) in rows {
            let key = StateKey::from_columns(environment, org_id)?;
            let history = document::decode(&key, &self.location(), &text)?;
            histories.insert(key, history);
        }
        Ok(histories)
    }

    /// Store `histories` (replacing those keys' histories) in one
    /// transaction: all of them or, on any error, none.
    pub async fn import(
        &self,
        histories: &BTreeMap<StateKey, VersionData>,
    ) -> Result<(), StoreError> {
        let texts = histories
            .iter()
            .map(|(key, history)| Ok((key, document::encode(key, history)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let _writer = self.writer.lock().await;
        let mut txn = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.error(format!("begin importing {} soak histories", texts.len())))?;
        for (key, text) in texts {
            upsert(self, &mut txn, key, text).await?;
        }
        txn.commit()
            .await
            .map_err(self.error("commit the import".to_owned()))
    }

    /// Apply the embedded migrations inside one `BEGIN IMMEDIATE` transaction.
    /// sqlx does not lock SQLite databases while migrating; without the write
    /// lock two processes opening a fresh file together could both try to
    /// create the table and one would fail. (sqlx runs each migration in a
    /// savepoint of this transaction.)
    async fn migrate(&self) -> Result<(), StoreError> {
        let database = |operation: &str| {
            let path = self.path.clone();
            let operation = operation.to_owned();
            move |source| StoreError::Database {
                path,
                operation,
                source,
            }
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(database("connect to migrate the schema"))?;
        let mut txn = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(database("lock the database to migrate the schema"))?;
        // `run_direct` rather than `run`: `run` is generic over `Acquire`, and
        // its future fails the "`Acquire` is not general enough" check once it
        // has to be `Send` (inside `tokio::spawn`); sqlx exposes `run_direct`
        // as the way around that.
        MIGRATOR
            .run_direct(None, &mut *txn, false)
            .await
            .map_err(|source| StoreError::Migrate {
                path: self.path.clone(),
                source,
            })?;
        txn.commit()
            .await
            .map_err(database("commit the schema migration"))
    }

    /// The names of the sealed records in `namespace` ([`crate::secret`]).
    pub(crate) async fn secret_list(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT name FROM sealed_record WHERE namespace = ? ORDER BY name")
            .bind(namespace)
            .fetch_all(&self.pool)
            .await
            .map_err(self.error(format!("list the sealed records of {namespace}")))
    }

    /// The sealed record at (`namespace`, `name`).
    pub(crate) async fn secret_get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT sealed FROM sealed_record WHERE namespace = ? AND name = ?")
            .bind(namespace)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error(format!("read sealed record {namespace}/{name}")))
    }

    /// Write a sealed record, replacing it unless `only_if_absent`; `true`
    /// when a row was written.
    pub(crate) async fn secret_put(
        &self,
        namespace: &str,
        name: &str,
        sealed: &[u8],
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        let statement = if only_if_absent {
            "INSERT INTO sealed_record (namespace, name, sealed, created_at, updated_at) \
             VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ')) \
             ON CONFLICT (namespace, name) DO NOTHING"
        } else {
            "INSERT INTO sealed_record (namespace, name, sealed, created_at, updated_at) \
             VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ')) \
             ON CONFLICT (namespace, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at"
        };
        // Writers of this process queue here, not on SQLite's lock (see `writer`).
        let _writer = self.writer.lock().await;
        let done = sqlx::query(statement)
            .bind(namespace)
            .bind(name)
            .bind(sealed)
            .execute(&self.pool)
            .await
            .map_err(self.error(format!("write sealed record {namespace}/{name}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete a sealed record; `false` if there was none.
    pub(crate) async fn secret_delete(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let _writer = self.writer.lock().await;
        let done = sqlx::query("DELETE FROM sealed_record WHERE namespace = ? AND name = ?")
            .bind(namespace)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.error(format!("delete sealed record {namespace}/{name}")))?;
        Ok(done.rows_affected() > 0)
    }

    fn error(&self, operation: String) -> impl FnOnce(sqlx::Error) -> StoreError + use<> {
        let path = self.path.clone();
        move |source| StoreError::Database {
            path,
            operation,
            source,
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Whether SQLite said the database is busy or locked (primary codes 5 and 6;
/// extended codes keep the primary code in their low byte).
fn is_busy(error: &sqlx::Error) -> bool {
    let Some(code) = error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
    else {
        return false;
    };
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// The stored history at `key`, read through `conn`.
async fn select(
    store: &SqliteStore,
    conn: &mut SqliteConnection,
    key: &StateKey,
) -> Result<Option<VersionData>, StoreError> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT document FROM soak_history WHERE key = ?")
            .bind(key.to_string())
            .fetch_optional(conn)
            .await
            .map_err(store.error(format!("read the soak history {key}")))?;
    text.map(|text| document::decode(key, &store.location(), &text))
        .transpose()
}

impl HistoryStore for SqliteStore {
    type Txn = SqliteTxn;

    async fn begin(&self, key: &StateKey) -> Result<SqliteTxn, StoreError> {
        let writer = Arc::clone(&self.writer).lock_owned().await;
        let mut txn = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.error(format!("begin a transaction for {key}")))?;
        let history = select(self, &mut txn, key).await?;
        Ok(SqliteTxn {
            store: self.clone(),
            txn,
            _writer: writer,
            key: key.clone(),
            history,
        })
    }

    async fn load(&self, key: &StateKey) -> Result<Option<Arc<VersionData>>, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(self.error(format!("connect to read {key}")))?;
        Ok(select(self, &mut conn, key).await?.map(Arc::new))
    }

    async fn load_many(
        &self,
        keys: &[StateKey],
    ) -> Result<BTreeMap<StateKey, Arc<VersionData>>, StoreError> {
        // One read transaction, so all documents come from the same snapshot.
        let mut txn = self
            .pool
            .begin()
            .await
            .map_err(self.error(format!("begin reading {} soak histories", keys.len())))?;
        let mut found = BTreeMap::new();
        for key in keys {
            if let Some(history) = select(self, &mut txn, key).await? {
                found.insert(key.clone(), Arc::new(history));
            }
        }
        // Read-only: ending it either way releases the snapshot.
        txn.rollback()
            .await
            .map_err(self.error("end the read transaction".to_owned()))?;
        Ok(found)
    }
}

/// An open `BEGIN IMMEDIATE` transaction on a [`SqliteStore`]; it holds the
/// database's write lock. Dropping it rolls back.
#[derive(Debug)]
pub struct SqliteTxn {
    store: SqliteStore,
    txn: Transaction<'static, Sqlite>,
    // Declared after `txn` so it is released after the rollback is queued.
    _writer: OwnedMutexGuard<()>,
    key: StateKey,
    history: Option<VersionData>,
}

impl HistoryTxn for SqliteTxn {
    fn key(&self) -> &StateKey {
        &self.key
    }

    fn history(&self) -> Option<&VersionData> {
        self.history.as_ref()
    }

    async fn commit(mut self, new: &VersionData) -> Result<(), StoreError> {
        let text = document::encode(&self.key, new)?;
        upsert(&self.store, &mut self.txn, &self.key, text).await?;
        self.txn.commit().await.map_err(
            self.store
                .error(format!("commit the soak history {}", self.key)),
        )
    }
}

impl SqliteTxn {
    /// [`HistoryTxn::commit`] if `lease` is still the live lease of this key,
    /// else [`StoreError::Fenced`] and nothing is written. Every holder lives
    /// in this process (one runner per file), so the in-process lease table is
    /// the whole truth.
    pub async fn commit_fenced(self, new: &VersionData, lease: &Lease) -> Result<(), StoreError> {
        crate::lease::check_key(&self.key, lease)?;
        self.store.runner.leases.lock().check(lease)?;
        self.commit(new).await
    }
}

/// Write `text` as the history at `key` inside `txn`.
async fn upsert(
    store: &SqliteStore,
    conn: &mut SqliteConnection,
    key: &StateKey,
    text: String,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO soak_history (key, environment, org_id, document, updated_at)
         VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         ON CONFLICT (key) DO UPDATE
         SET document = excluded.document, updated_at = excluded.updated_at",
    )
    .bind(key.to_string())
    .bind(key.environment())
    .bind(key.org_column())
    .bind(text)
    .execute(conn)
    .await
    .map_err(store.error(format!("write the soak history {key}")))?;
    Ok(())
}
