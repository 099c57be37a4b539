//! [`MemoryStore`]: the `memory:` backend, for simulations and tests.
//!
//! It behaves like the SQLite backend within one process: committed documents
//! only, one writing transaction at a time, readers never wait for a writer.
//! Its leases are kept in process memory too; clones of one store act as
//! replicas sharing the work.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use srecap_fleet::VersionData;
use tokio::sync::OwnedMutexGuard;

use crate::lease::LeaseTable;
use crate::{HistoryStore, HistoryTxn, Lease, StateKey, StoreError, document};

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
    /// Shared with readers and transactions rather than copied: a simulated
    /// year reads every organization's growing history several times a pass.
    committed: Mutex<HashMap<StateKey, Arc<VersionData>>>,
    /// Leases. A fenced commit takes this lock before `committed`, so that the
    /// check and the write happen with no grant in between.
    leases: LeaseTable,
    /// Sealed records by (namespace, name) ([`crate::secret`]).
    sealed: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    /// Injected write failures of sealed records: (writes to let through
    /// first, writes to fail then). For crash and rollback tests.
    secret_write_faults: Mutex<(usize, usize)>,
}

impl Shared {
    fn committed(&self) -> MutexGuard<'_, HashMap<StateKey, Arc<VersionData>>> {
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

    fn sealed(&self) -> MutexGuard<'_, BTreeMap<(String, String), Vec<u8>>> {
        // Every critical section is one lookup, insert or removal.
        self.shared
            .sealed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The names of the sealed records in `namespace`, sorted.
    pub(crate) fn secret_list(&self, namespace: &str) -> Vec<String> {
        self.sealed()
            .keys()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, name)| name.clone())
            .collect()
    }

    pub(crate) fn secret_get(&self, namespace: &str, name: &str) -> Option<Vec<u8>> {
        self.sealed()
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    pub(crate) fn secret_put(
        &self,
        namespace: &str,
        name: &str,
        sealed: Vec<u8>,
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        {
            let mut faults = self
                .shared
                .secret_write_faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *faults {
                (0, 0) => {}
                (0, ref mut fail) => {
                    *fail -= 1;
                    return Err(StoreError::Unstorable {
                        key: format!("{namespace}/{name}"),
                        reason: "injected write fault".to_owned(),
                    });
                }
                (ref mut pass, _) => *pass -= 1,
            }
        }
        let mut records = self.sealed();
        let key = (namespace.to_owned(), name.to_owned());
        if only_if_absent && records.contains_key(&key) {
            return Ok(false);
        }
        records.insert(key, sealed);
        Ok(true)
    }

    /// Let the next `after` writes of sealed records through, then fail
    /// `count` of them (rollback and crash tests).
    pub fn inject_secret_write_faults(&self, after: usize, count: usize) {
        *self
            .shared
            .secret_write_faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (after, count);
    }

    pub(crate) fn secret_delete(&self, namespace: &str, name: &str) -> bool {
        self.sealed()
            .remove(&(namespace.to_owned(), name.to_owned()))
            .is_some()
    }

    /// Grant `key`'s lease to `holder` (see [`crate::lease`]).
    pub fn acquire(
        &self,
        key: &StateKey,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.shared.leases.acquire(key, holder, ttl)
    }

    /// Extend a live lease; `None` if it was lost.
    pub fn renew(
        &self,
        lease: &Lease,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.shared.leases.renew(lease, ttl)
    }

    /// Give a lease up; `false` if it had already been lost or released.
    pub fn release(&self, lease: &Lease) -> bool {
        self.shared.leases.release(lease)
    }

    /// Every stored history.
    pub fn export(&self) -> BTreeMap<StateKey, VersionData> {
        self.shared
            .committed()
            .iter()
            .map(|(key, history)| (key.clone(), VersionData::clone(history)))
            .collect()
    }

    /// Store `histories` (replacing those keys' histories), all or nothing.
    pub async fn import(
        &self,
        histories: &BTreeMap<StateKey, VersionData>,
    ) -> Result<(), StoreError> {
        for (key, history) in histories {
            document::check(key, history)?;
        }
        let _writer = self.shared.writer.lock().await;
        let mut committed = self.shared.committed();
        for (key, history) in histories {
            committed.insert(key.clone(), Arc::new(history.clone()));
        }
        Ok(())
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

    async fn load(&self, key: &StateKey) -> Result<Option<Arc<VersionData>>, StoreError> {
        Ok(self.shared.committed().get(key).cloned())
    }

    async fn load_many(
        &self,
        keys: &[StateKey],
    ) -> Result<BTreeMap<StateKey, Arc<VersionData>>, StoreError> {
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
    history: Option<Arc<VersionData>>,
}

impl HistoryTxn for MemoryTxn {
    fn key(&self) -> &StateKey {
        &self.key
    }

    fn history(&self) -> Option<&VersionData> {
        self.history.as_deref()
    }

    async fn commit(self, new: &VersionData) -> Result<(), StoreError> {
        document::check(&self.key, new)?;
        self.shared
            .committed()
            .insert(self.key, Arc::new(new.clone()));
        Ok(())
    }
}

impl MemoryTxn {
    /// [`HistoryTxn::commit`] if `lease` is still the live lease of this key,
    /// else [`StoreError::Fenced`] and nothing is written.
    pub fn commit_fenced(self, new: &VersionData, lease: &Lease) -> Result<(), StoreError> {
        crate::lease::check_key(&self.key, lease)?;
        document::check(&self.key, new)?;
        let leases = self.shared.leases.lock();
        leases.check(lease)?;
        self.shared
            .committed()
            .insert(self.key, Arc::new(new.clone()));
        drop(leases);
        Ok(())
    }
}
