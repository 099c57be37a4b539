//! [`PostgresStore`]: the shared backend, for several replicas and large
//! fleets.
//!
//! Design, and why:
//! * The schema mirrors SQLite's (one row per key, the document as text) plus
//!   a `leases` table; embedded versioned migrations in
//!   `migrations/postgres/` are applied at open, under sqlx's advisory lock,
//!   so replicas starting together migrate once.
//! * A write transaction first takes a transaction-scoped advisory lock on its
//!   key (`pg_advisory_xact_lock(class, hashtext(key))`), then reads the
//!   history. Two processes reconciling the same organization therefore
//!   serialize, the second reading what the first committed, so the same
//!   interval is never credited twice, while writers of different
//!   organizations run in parallel. (A row lock would need the row to exist
//!   first; the advisory lock works for a key never stored, and the lock ends
//!   with the transaction however it ends, including a dropped connection.)
//!   A hash collision only makes two keys wait for each other.
//! * Leases live in rows locked with `SELECT … FOR UPDATE`, and every
//!   expiry is judged by `clock_timestamp()`, the database's clock at the
//!   statement, never a replica's (`now()` would be the transaction's start).
//! * A fenced commit reads its lease row `FOR SHARE` in the history
//!   transaction: the check and the write commit together, and a takeover
//!   (which updates that row) waits until the write is committed.
//! * TLS comes from the URL (`sslmode=require`, `verify-full` with
//!   `sslrootcert=…`), through rustls.

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use srecap_fleet::VersionData;
use tokio::time::Instant;

use crate::lease::{check_key, check_ttl, fence_reason, fenced};
use crate::location::PostgresUrl;
use crate::{HistoryStore, HistoryTxn, Lease, StateKey, StoreError, document};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process: a pass works on a few organizations at a time,
/// each holding one connection for its transaction, plus readers.
const MAX_CONNECTIONS: u32 = 8;

/// How long to wait for a connection (from the pool or a new one) before
/// failing with a clear error rather than hanging a pass.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The first key of the two-key advisory locks that serialize writers of one
/// soak history. Two-key locks live in another key space than sqlx's one-key
/// migration lock, so they never meet it.
const HISTORY_LOCK_CLASS: i32 = 0x05ec_a905;

/// A soak-history store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    url: PostgresUrl,
}

impl PostgresStore {
    /// Connect to the database `url` names and apply pending migrations.
    pub async fn open(url: &PostgresUrl) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url.expose()).map_err(|source| {
            StoreError::InvalidPostgresUrl {
                url: url.redacted(),
                source,
            }
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: url.redacted(),
                source,
            })?;
        let store = Self {
            pool,
            url: url.clone(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The database URL (displayed without its password).
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(self.error("connect to migrate the schema".to_owned()))?;
        // `run_direct`: see the note in the SQLite backend; it takes sqlx's
        // advisory migration lock itself.
        MIGRATOR
            .run_direct(None, &mut *conn, false)
            .await
            .map_err(|source| StoreError::MigrateDatabase {
                url: self.url.redacted(),
                source,
            })
    }

    /// The names of the sealed records in `namespace` ([`crate::secret`]).
    pub(crate) async fn secret_list(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT name FROM sealed_record WHERE namespace = $1 ORDER BY name")
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
        sqlx::query_scalar("SELECT sealed FROM sealed_record WHERE namespace = $1 AND name = $2")
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
             VALUES ($1, $2, $3, now(), now()) \
             ON CONFLICT (namespace, name) DO NOTHING"
        } else {
            "INSERT INTO sealed_record (namespace, name, sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, now(), now()) \
             ON CONFLICT (namespace, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at"
        };
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
        let done = sqlx::query("DELETE FROM sealed_record WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.error(format!("delete sealed record {namespace}/{name}")))?;
        Ok(done.rows_affected() > 0)
    }

    fn error(&self, operation: String) -> impl FnOnce(sqlx::Error) -> StoreError + use<> {
        let url = self.url.redacted();
        move |source| StoreError::Statement {
            url,
            operation,
            source,
        }
    }

    fn location(&self) -> String {
        self.url.redacted()
    }

    /// The latest applied schema migration.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(self.error("read the schema version".to_owned()))
    }

    /// Every stored history, from one snapshot (one statement).
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
    /// transaction: all of them or, on any error, none. Each key's writer lock
    /// is taken, in key order, so a running reconciler is not overwritten in
    /// the middle of its pass.
    pub async fn import(
        &self,
        histories: &BTreeMap<StateKey, VersionData>,
    ) -> Result<(), StoreError> {
        let texts = histories
            .iter()
            .map(|(key, history)| Ok((key, document::encode(key, history)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut txn = self
            .pool
            .begin()
            .await
            .map_err(self.error(format!("begin importing {} soak histories", texts.len())))?;
        for (key, text) in texts {
            lock_key(self, &mut txn, key).await?;
            upsert(self, &mut txn, key, text).await?;
        }
        txn.commit()
            .await
            .map_err(self.error("commit the import".to_owned()))
    }

    /// Grant `key`'s lease to `holder` for `ttl`, unless another holder's
    /// lease is live (`None`). A holder acquiring its own live lease again
    /// gets a new token, which fences any older lease object it still has
    /// (a restarted replica with the same id).
    pub async fn acquire(
        &self,
        key: &StateKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        check_ttl(key, ttl)?;
        let error = |what: &str| self.error(format!("{what} the lease of {key}"));
        let sent = Instant::now();
        let mut txn = self.pool.begin().await.map_err(error("begin acquiring"))?;
        // Make sure the row exists, so that `FOR UPDATE` has something to lock
        // and concurrent acquirers queue on it; a placeholder is released.
        sqlx::query(
            "INSERT INTO leases (environment, org_id, holder, token, acquired_at, expires_at, released_at)
             VALUES ($1, $2, '', 0, '-infinity', '-infinity', '-infinity')
             ON CONFLICT DO NOTHING",
        )
        .bind(key.environment())
        .bind(key.org_column())
        .execute(&mut *txn)
        .await
        .map_err(error("create"))?;
        let (previous, released, live): (String, bool, bool) = sqlx::query_as(
            "SELECT holder, released_at IS NOT NULL, released_at IS NULL AND expires_at > clock_timestamp()
             FROM leases WHERE environment = $1 AND org_id = $2 FOR UPDATE",
        )
        .bind(key.environment())
        .bind(key.org_column())
        .fetch_one(&mut *txn)
        .await
        .map_err(error("read"))?;
        if live && previous != holder {
            txn.rollback().await.map_err(error("end reading"))?;
            return Ok(None);
        }
        let token: i64 = sqlx::query_scalar(
            "UPDATE leases SET holder = $3, token = nextval('lease_tokens'),
                 acquired_at = clock_timestamp(),
                 expires_at = clock_timestamp() + make_interval(secs => $4),
                 released_at = NULL
             WHERE environment = $1 AND org_id = $2
             RETURNING token",
        )
        .bind(key.environment())
        .bind(key.org_column())
        .bind(holder)
        .bind(ttl.as_secs_f64())
        .fetch_one(&mut *txn)
        .await
        .map_err(error("grant"))?;
        txn.commit().await.map_err(error("commit"))?;
        Ok(Some(Lease {
            key: key.clone(),
            holder: holder.to_owned(),
            token,
            ttl,
            valid_until: sent + ttl,
            took_over_from: (!live && !released && previous != holder).then_some(previous),
        }))
    }

    /// Extend a live lease by `ttl` from now; `None` if it expired, was
    /// released or was taken over (acquire again for a new token).
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        check_ttl(&lease.key, ttl)?;
        let sent = Instant::now();
        let renewed: Option<i64> = sqlx::query_scalar(
            "UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $5)
             WHERE environment = $1 AND org_id = $2 AND holder = $3 AND token = $4
               AND released_at IS NULL AND expires_at > clock_timestamp()
             RETURNING token",
        )
        .bind(lease.key.environment())
        .bind(lease.key.org_column())
        .bind(&lease.holder)
        .bind(lease.token)
        .bind(ttl.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.error(format!("renew the lease of {}", lease.key)))?;
        Ok(renewed.map(|_| Lease {
            ttl,
            valid_until: sent + ttl,
            ..lease.clone()
        }))
    }

    /// Give a lease up so that another replica can take the organization at
    /// once; `false` if it had already been taken over or released.
    pub async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let released = sqlx::query(
            "UPDATE leases SET released_at = clock_timestamp()
             WHERE environment = $1 AND org_id = $2 AND holder = $3 AND token = $4
               AND released_at IS NULL",
        )
        .bind(lease.key.environment())
        .bind(lease.key.org_column())
        .bind(&lease.holder)
        .bind(lease.token)
        .execute(&self.pool)
        .await
        .map_err(self.error(format!("release the lease of {}", lease.key)))?;
        Ok(released.rows_affected() == 1)
    }
}

/// Take the writer lock of `key` for the rest of the transaction.
async fn lock_key(
    store: &PostgresStore,
    conn: &mut PgConnection,
    key: &StateKey,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(HISTORY_LOCK_CLASS)
        .bind(key.to_string())
        .execute(conn)
        .await
        .map_err(store.error(format!("lock the soak history {key}")))?;
    Ok(())
}

/// The stored history at `key`, read through `conn`.
async fn select(
    store: &PostgresStore,
    conn: &mut PgConnection,
    key: &StateKey,
) -> Result<Option<VersionData>, StoreError> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT document FROM soak_history WHERE key = $1")
            .bind(key.to_string())
            .fetch_optional(conn)
            .await
            .map_err(store.error(format!("read the soak history {key}")))?;
    text.map(|text| document::decode(key, &store.location(), &text))
        .transpose()
}

/// Write `text` as the history at `key` inside the transaction on `conn`.
async fn upsert(
    store: &PostgresStore,
    conn: &mut PgConnection,
    key: &StateKey,
    text: String,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO soak_history (key, environment, org_id, document, updated_at)
         VALUES ($1, $2, $3, $4, clock_timestamp())
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

impl HistoryStore for PostgresStore {
    type Txn = PostgresTxn;

    async fn begin(&self, key: &StateKey) -> Result<PostgresTxn, StoreError> {
        let mut txn = self
            .pool
            .begin()
            .await
            .map_err(self.error(format!("begin a transaction for {key}")))?;
        lock_key(self, &mut txn, key).await?;
        let history = select(self, &mut txn, key).await?;
        Ok(PostgresTxn {
            store: self.clone(),
            txn,
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
        // One statement, so all documents come from the same snapshot.
        let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, document FROM soak_history WHERE key = ANY($1)")
                .bind(&texts)
                .fetch_all(&self.pool)
                .await
                .map_err(self.error(format!("read {} soak histories", keys.len())))?;
        let by_text: BTreeMap<String, &StateKey> = texts.into_iter().zip(keys.iter()).collect();
        let mut found = BTreeMap::new();
        for (text_key, text) in rows {
            if let Some(&key) = by_text.get(&text_key) {
                found.insert(
                    key.clone(),
                    Arc::new(document::decode(key, &self.location(), &text)?),
                );
            }
        }
        Ok(found)
    }
}

/// An open transaction on a [`PostgresStore`], holding its key's writer
/// lock. Dropping it rolls back (when the connection returns to the pool).
#[derive(Debug)]
pub struct PostgresTxn {
    store: PostgresStore,
    txn: Transaction<'static, Postgres>,
    key: StateKey,
    history: Option<VersionData>,
}

impl HistoryTxn for PostgresTxn {
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

impl PostgresTxn {
    /// [`HistoryTxn::commit`] if `lease` is still the live lease of this key,
    /// else [`StoreError::Fenced`] and nothing is written. The lease row is
    /// read `FOR SHARE` in this transaction, so no takeover can slip between
    /// the check and the commit.
    pub async fn commit_fenced(
        mut self,
        new: &VersionData,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        check_key(&self.key, lease)?;
        let text = document::encode(&self.key, new)?;
        let row: Option<(String, i64, bool, bool)> = sqlx::query_as(
            "SELECT holder, token, released_at IS NOT NULL, expires_at > clock_timestamp()
             FROM leases WHERE environment = $1 AND org_id = $2 FOR SHARE",
        )
        .bind(self.key.environment())
        .bind(self.key.org_column())
        .fetch_optional(&mut *self.txn)
        .await
        .map_err(self.store.error(format!("check the lease of {}", self.key)))?;
        let reason = match &row {
            None => Some("has been taken over"),
            Some((holder, token, released, live)) => {
                fence_reason(lease, holder, *token, *released, *live)
            }
        };
        if let Some(reason) = reason {
            return Err(fenced(lease, reason));
        }
        upsert(&self.store, &mut self.txn, &self.key, text).await?;
        self.txn.commit().await.map_err(
            self.store
                .error(format!("commit the soak history {}", self.key)),
        )
    }
}
