//! Leases: which replica reconciles which organization, and the fencing token
//! that keeps a replica that lost its organization from committing a history.
//!
//! Protocol, as the controller uses it:
//! 1. [`Store::acquire`](crate::Store::acquire) the organization's lease for a
//!    time to live; `None` means another replica holds it (skip the
//!    organization this pass).
//! 2. Reconcile, and save the history with
//!    [`OrgTxn::commit_fenced`](crate::OrgTxn::commit_fenced), which refuses
//!    ([`StoreError::Fenced`]) unless the lease is
//!    still the live one, checked atomically with the write.
//! 3. [`Store::renew`](crate::Store::renew) while working past half the TTL;
//!    [`Store::release`](crate::Store::release) at shutdown so another replica
//!    takes over at once instead of after the TTL.
//!
//! Why tokens: a lease alone cannot stop a replica that paused (GC, a
//! stalled network) past its TTL and then resumes believing it still holds the
//! organization. Every grant takes a larger token, and the store compares the
//! committing token with the current one at write time, so the stale writer is
//! refused even though it never noticed the expiry (Kleppmann's fencing
//! token).
//!
//! Expiry is judged by the store's clock: PostgreSQL's `clock_timestamp()`,
//! so that replicas' clocks never matter; the in-process table of the memory
//! and SQLite backends uses the process's monotonic clock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::{StateKey, StoreError};

/// The longest time to live accepted: a replica that dies keeps its
/// organizations unreconciled for up to one TTL, so a longer one is a mistake.
pub const MAX_TTL: Duration = Duration::from_hours(24);

/// One replica's right to reconcile one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub(crate) key: StateKey,
    pub(crate) holder: String,
    pub(crate) token: i64,
    pub(crate) ttl: Duration,
    pub(crate) valid_until: Instant,
    pub(crate) took_over_from: Option<String>,
}

impl Lease {
    /// The organization (and its environment, the lease's scope).
    pub fn key(&self) -> &StateKey {
        &self.key
    }

    /// The replica holding the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The fencing token: larger for every later grant of the same
    /// organization.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The time to live the lease was granted or last renewed for.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A local instant by which the lease has surely expired: the TTL counted
    /// from just before the request was sent, so never later than the store's
    /// own expiry. Work that cannot finish before it should not start.
    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }

    /// The replica whose lease expired without being released and that this
    /// grant replaced (a takeover, counted as a metric), if any.
    pub fn took_over_from(&self) -> Option<&str> {
        self.took_over_from.as_deref()
    }
}

/// Refuse a TTL of zero (a lease that is expired when granted) or longer than
/// [`MAX_TTL`].
pub(crate) fn check_ttl(key: &StateKey, ttl: Duration) -> Result<(), StoreError> {
    let reason = if ttl.is_zero() {
        "it is zero, so the lease would expire as it is granted"
    } else if ttl > MAX_TTL {
        "it is longer than 24 hours, so a replica that dies would block the organization that long"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidTtl {
        key: key.to_string(),
        ttl,
        reason,
    })
}

/// The state of an organization's lease row as the store sees it at a commit:
/// `None` when the committing lease is still the live one, else why not.
pub(crate) fn fence_reason(
    lease: &Lease,
    row_holder: &str,
    row_token: i64,
    released: bool,
    live: bool,
) -> Option<&'static str> {
    if row_token != lease.token || row_holder != lease.holder {
        Some("has been taken over")
    } else if released {
        Some("has been released")
    } else if !live {
        Some("has expired")
    } else {
        None
    }
}

/// Refuse a lease of another organization than the transaction's.
pub(crate) fn check_key(key: &StateKey, lease: &Lease) -> Result<(), StoreError> {
    if &lease.key == key {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            key: key.to_string(),
            holder: lease.holder.clone(),
            token: lease.token,
            reason: "is the lease of another organization",
        })
    }
}

pub(crate) fn fenced(lease: &Lease, reason: &'static str) -> StoreError {
    StoreError::Fenced {
        key: lease.key.to_string(),
        holder: lease.holder.clone(),
        token: lease.token,
        reason,
    }
}

/// Leases kept in process memory: the lease store of the memory backend, and
/// of the SQLite backend, whose single runner (see
/// [`SqliteStore::lock_runner`](crate::SqliteStore::lock_runner)) makes every
/// holder live in one process.
#[derive(Debug, Default)]
pub(crate) struct LeaseTable {
    rows: Mutex<LeaseRows>,
}

#[derive(Debug, Default)]
pub(crate) struct LeaseRows {
    by_key: HashMap<StateKey, Row>,
    last_token: i64,
}

#[derive(Debug)]
struct Row {
    holder: String,
    token: i64,
    expires: Instant,
    released: bool,
}

impl Row {
    fn live(&self, now: Instant) -> bool {
        !self.released && now < self.expires
    }
}

impl LeaseTable {
    /// The rows, locked. Every critical section leaves them consistent (a
    /// lookup and at most one insert), so a poisoned lock is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, LeaseRows> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn acquire(
        &self,
        key: &StateKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        check_ttl(key, ttl)?;
        let now = Instant::now();
        let mut rows = self.lock();
        let took_over_from = match rows.by_key.get(key) {
            Some(row) if row.live(now) && row.holder != holder => return Ok(None),
            Some(row) if !row.released && !row.live(now) && row.holder != holder => {
                Some(row.holder.clone())
            }
            _ => None,
        };
        rows.last_token += 1;
        let token = rows.last_token;
        rows.by_key.insert(
            key.clone(),
            Row {
                holder: holder.to_owned(),
                token,
                expires: now + ttl,
                released: false,
            },
        );
        Ok(Some(Lease {
            key: key.clone(),
            holder: holder.to_owned(),
            token,
            ttl,
            valid_until: now + ttl,
            took_over_from,
        }))
    }

    pub(crate) fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        check_ttl(&lease.key, ttl)?;
        let now = Instant::now();
        let mut rows = self.lock();
        match rows.by_key.get_mut(&lease.key) {
            Some(row) if row.token == lease.token && row.live(now) => {
                row.expires = now + ttl;
                Ok(Some(Lease {
                    ttl,
                    valid_until: now + ttl,
                    ..lease.clone()
                }))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn release(&self, lease: &Lease) -> bool {
        let mut rows = self.lock();
        match rows.by_key.get_mut(&lease.key) {
            Some(row) if row.token == lease.token && !row.released => {
                row.released = true;
                true
            }
            _ => false,
        }
    }
}

impl LeaseRows {
    /// Whether `lease` is still the live lease of its organization.
    pub(crate) fn check(&self, lease: &Lease) -> Result<(), StoreError> {
        let reason = match self.by_key.get(&lease.key) {
            None => Some("has been taken over"),
            Some(row) => fence_reason(
                lease,
                &row.holder,
                row.token,
                row.released,
                row.live(Instant::now()),
            ),
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(fenced(lease, reason)),
        }
    }
}
