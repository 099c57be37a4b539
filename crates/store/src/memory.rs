//! [`MemoryStore`]: the `memory:` backend, for simulations and tests.
//!
//! It behaves like the SQLite backend within one process: committed documents
//! only, one writing transaction at a time, readers never wait for a writer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use srecap_fleet::VersionData;
use tokio::sync::OwnedMutexGuard;

use crate::{HistoryStore, HistoryTxn, StateKey, StoreError, document};

/// Histories kept in process memory. Clones share the same histories, as two
/// handles on one database file do.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Held by the open transaction, as SQLite's write lock is held from
    /// `BEGIN IMMEDIATE` to commit or rollback. Async, because a second writer
    /// waits for it across `.await`s.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Committed documents. Held only for a lookup or an insert, never across
    /// an `.await`, so readers do not wait for an open transaction.
    committed: Mutex<HashMap<StateKey, VersionData>>,
}

impl Shared {
    fn committed(&self) -> MutexGuard<'_, HashMap<StateKey, VersionData>> {
        // A panic elsewhere while holding the lock cannot leave a half-written
        // map: every critical section is a single get or insert.
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl HistoryStore for MemoryStore {
    type Txn = MemoryTxn;

    async fn begin(&self, key: &StateKey) -> Result<MemoryTxn, StoreError> {
        let writer = Arc::clone(&self.shared.writer).lock_owned().await;
        let history = self.shared.committed().get(key).cloned();
        Ok(MemoryTxn {
            shared: Arc::clone(&self.shared),
            _writer: writer,
            key: key.clone(),
            history,
        })
    }

    async fn load(&self, key: &StateKey) -> Result<Option<VersionData>, StoreError> {
        Ok(self.shared.committed().get(key).cloned())
    }

    async fn load_many(
        &self,
        keys: &[StateKey],
    ) -> Result<BTreeMap<StateKey, VersionData>, StoreError> {
        // One lock for all keys: the answer is one consistent snapshot.
        let committed = self.shared.committed();
        Ok(keys
            .iter()
            .filter_map(|key| Some((key.clone(), committed.get(key)?.clone())))
            .collect())
    }
}

/// An open transaction on a [`MemoryStore`]; dropping it discards it.
#[derive(Debug)]
pub struct MemoryTxn {
    shared: Arc<Shared>,
    _writer: OwnedMutexGuard<()>,
    key: StateKey,
    history: Option<VersionData>,
}

impl HistoryTxn for MemoryTxn {
    fn key(&self) -> &StateKey {
        &self.key
    }

    fn history(&self) -> Option<&VersionData> {
        self.history.as_ref()
    }

    async fn commit(self, new: &VersionData) -> Result<(), StoreError> {
        document::check(&self.key, new)?;
        self.shared.committed().insert(self.key, new.clone());
        Ok(())
    }
}
