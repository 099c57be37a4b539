//! Several OCM environments' rhidp reconcilers as one loop of the runtime
//! (`srecap run --capability rhidp` with a configuration file naming several
//! environments), and the lease that lets replicas share the work.
//!
//! Design decisions:
//! * A pass runs the environments one after another: each is a handful of
//!   OCM searches and a few Keycloak calls, and running them in turn keeps the
//!   Keycloak and OCM budgets of one replica predictable. An environment that
//!   cannot be discovered does not stop the others; the pass fails only when
//!   none ran.
//! * With several replicas on one shared store (PostgreSQL), each
//!   environment's pass runs under a lease (`<environment>/capability:rhidp`,
//!   the AUS lease protocol of `srecap_store::lease`): two replicas never
//!   register clients or create identity providers for one environment at the
//!   same time. The holder keeps it from pass to pass and gives it up at
//!   shutdown, so another replica takes over at once. rhidp's writes are not
//!   fenced like AUS's histories: a replica paused past its lease may still
//!   finish one write, which the pending record of I41 (put-if-absent before
//!   every registration) and the idempotent planner of the next pass absorb.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures::future::LocalBoxFuture;
use jiff::Timestamp;
use srecap_store::{Lease, StateKey, Store};

use super::{CAPABILITY, RhidpReconciler, error_chain, log_pass};
use crate::runtime::Reconcile;

/// How this replica shares environments with others.
#[derive(Debug, Clone)]
pub struct Sharing {
    /// Where the leases live (the store of the records).
    pub store: Store,
    /// This replica's name in leases.
    pub replica_id: String,
    /// How long a lease lasts without renewal (at least one pass).
    pub lease_ttl: Duration,
}

/// The rhidp reconcilers of every environment a process serves.
pub struct RhidpEnvironments {
    reconcilers: Vec<RhidpReconciler>,
    sharing: Option<Sharing>,
    held: Mutex<HashMap<String, Lease>>,
}

impl std::fmt::Debug for RhidpEnvironments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhidpEnvironments")
            .field("reconcilers", &self.reconcilers)
            .field("sharing", &self.sharing)
            .finish_non_exhaustive()
    }
}

/// The lease key of an environment's rhidp work.
fn lease_key(environment: &str) -> Result<StateKey, srecap_store::StoreError> {
    StateKey::new(environment, format!("capability:{CAPABILITY}"))
}

impl RhidpEnvironments {
    /// `sharing`: none for a single replica (or a dry run, which writes
    /// nothing and takes no lease).
    pub fn new(reconcilers: Vec<RhidpReconciler>, sharing: Option<Sharing>) -> RhidpEnvironments {
        RhidpEnvironments {
            reconcilers,
            sharing,
            held: Mutex::new(HashMap::new()),
        }
    }

    pub fn reconcilers(&self) -> &[RhidpReconciler] {
        &self.reconcilers
    }

    /// Whether this replica may run `environment`'s pass now: always without
    /// sharing, else while it holds (or just took) the environment's lease.
    async fn claim(&self, environment: &str) -> Result<bool, String> {
        let Some(sharing) = &self.sharing else {
            return Ok(true);
        };
        let key = lease_key(environment).map_err(|e| error_chain(&e))?;
        let held = |lease: Option<Lease>| {
            let mut guard = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match lease {
                Some(lease) => guard.insert(environment.to_owned(), lease),
                None => guard.remove(environment),
            }
        };
        match sharing
            .store
            .acquire(&key, &sharing.replica_id, sharing.lease_ttl)
            .await
        {
            Ok(Some(lease)) => {
                if let Some(previous) = lease.took_over_from() {
                    tracing::warn!(capability = CAPABILITY, ocm_env = %environment, from = %previous, "took the environment over from a replica whose lease expired");
                }
                held(Some(lease));
                Ok(true)
            }
            Ok(None) => {
                held(None);
                tracing::info!(capability = CAPABILITY, ocm_env = %environment, "skipped: another replica holds the environment's lease");
                Ok(false)
            }
            Err(e) => {
                held(None);
                Err(format!(
                    "the lease of {environment} could not be taken: {}",
                    error_chain(&e)
                ))
            }
        }
    }
}

/// What one environment's part of a pass came to.
#[derive(Debug)]
pub struct EnvironmentRun {
    pub environment: String,
    /// `Ok(None)`: another replica holds the environment; `Err`: the pass
    /// could not run (the reason, with its causes).
    pub result: Result<Option<super::RhidpReport>, String>,
}

impl RhidpEnvironments {
    /// One pass of every environment, in turn, each under its lease; an
    /// environment that cannot run does not stop the others.
    pub async fn pass(&self, now: Timestamp) -> Vec<EnvironmentRun> {
        let mut runs = Vec::with_capacity(self.reconcilers.len());
        for reconciler in &self.reconcilers {
            let started = std::time::Instant::now();
            let result = match self.claim(&reconciler.environment).await {
                Ok(true) => match reconciler.pass(now).await {
                    Ok(report) => {
                        log_pass(&report, started.elapsed());
                        Ok(Some(report))
                    }
                    Err(e) => {
                        let why = error_chain(&e);
                        tracing::error!(capability = CAPABILITY, ocm_env = %reconciler.environment, error = %why, "the environment's pass could not run");
                        Err(why)
                    }
                },
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            };
            runs.push(EnvironmentRun {
                environment: reconciler.environment.clone(),
                result,
            });
        }
        runs
    }
}

impl Reconcile for RhidpEnvironments {
    fn capability(&self) -> &'static str {
        CAPABILITY
    }

    /// The loop's pass fails only when no environment ran (the others' errors
    /// are logged and counted in the SLI).
    fn pass(&self, now: Timestamp) -> LocalBoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let runs = RhidpEnvironments::pass(self, now).await;
            let failures: Vec<String> = runs
                .iter()
                .filter_map(|r| {
                    r.result
                        .as_ref()
                        .err()
                        .map(|e| format!("{}: {e}", r.environment))
                })
                .collect();
            if !runs.is_empty() && failures.len() == runs.len() {
                Err(failures.join("; "))
            } else {
                Ok(())
            }
        })
    }

    fn release(&self) -> LocalBoxFuture<'_, usize> {
        Box::pin(async move {
            let Some(sharing) = &self.sharing else {
                return 0;
            };
            let leases: Vec<Lease> = self
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
                .map(|(_, l)| l)
                .collect();
            let mut released = 0;
            for lease in &leases {
                match sharing.store.release(lease).await {
                    Ok(true) => released += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(capability = CAPABILITY, key = %lease.key(), error = %e, "could not release a lease; it expires after its TTL");
                    }
                }
            }
            released
        })
    }
}
