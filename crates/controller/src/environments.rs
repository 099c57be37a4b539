//! Several OCM environments reconciled by one process (R3–R5, R42–R44).
//!
//! ```text
//! per environment (concurrently)      Reconciler::discover ─► Snapshot
//!                                                │ organizations + labels
//!                                                ▼
//! every environment at once           Network::build (R5 step 1, R42)
//!                                                │
//! per environment (concurrently)      Reconciler::reconcile(snapshot, network)
//! ```
//!
//! Each environment keeps its own [`Reconciler`] (its own OCM client and
//! credentials, its own configuration and organization registry); they share
//! the store (histories keyed `<env>/<org>`) and the metrics exposition (each
//! through its own `ocm_env` view), so every environment is its own shard of
//! the SLIs and alerts.
//!
//! Design decisions:
//! * An environment whose discovery fails is skipped for the pass and counted in
//!   `aus_ocm_environment_errors{ocm_env}` (R5 step 2); the others go on.
//! * The inheritance network needs the organization labels of every
//!   environment. When an environment cannot be discovered, the labels of its
//!   last successful discovery stand in for it, so that an outage of the
//!   publishing environment does not turn every inheriting organization
//!   elsewhere into an "unverified inheritance" validation error (and a service
//!   log to its owners) for a problem that is AUS's, not theirs. Before any
//!   successful discovery there is nothing to stand in: those links are
//!   unverified for that pass, as in the reference, where building the network
//!   would have failed the whole run.
//! * Environments that are configured but not reconciled (an environment
//!   parameter, R3) are still read for the network, as R5 step 1 asks
//!   ([`Environments::with_network_only`]): one label search
//!   ([`crate::ocm::Ocm::inheritance_labels`]), no discovery, no writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::future::{LocalBoxFuture, join_all};
use jiff::Timestamp;
use srecap_aus::inheritance::Network;
use srecap_fleet::Organization;

use crate::error::PassError;
use crate::ocm::Ocm;
use crate::reconciler::{PassReport, Reconciler};
use crate::runtime::Reconcile;

/// Why a set of environments cannot run together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvironmentsError {
    #[error("no OCM environment to reconcile")]
    Empty,
    #[error(
        "environment {0} is configured twice: its histories and metrics would mix (names must be unique)"
    )]
    Duplicate(String),
}

/// The reconcilers of every environment of the process.
#[derive(Debug)]
pub struct Environments {
    reconcilers: Vec<Reconciler>,
    /// Environments read only for the inheritance network (R5 step 1 ignores
    /// the environment parameter): their `version-data.*` organization labels,
    /// nothing else.
    network_only: Vec<(String, Arc<dyn Ocm>)>,
    /// Organizations (with their labels) of each environment's last successful
    /// discovery: they stand in for an environment that cannot be discovered.
    last_seen: Mutex<BTreeMap<String, Vec<Organization>>>,
}

/// One environment's part of a pass.
#[derive(Debug)]
pub struct EnvironmentPass {
    pub environment: String,
    pub result: Result<PassReport, PassError>,
}

impl Environments {
    pub fn new(reconcilers: Vec<Reconciler>) -> Result<Environments, EnvironmentsError> {
        if reconcilers.is_empty() {
            return Err(EnvironmentsError::Empty);
        }
        let mut names = BTreeSet::new();
        for r in &reconcilers {
            if !names.insert(r.config().environment.clone()) {
                return Err(EnvironmentsError::Duplicate(r.config().environment.clone()));
            }
        }
        Ok(Environments {
            reconcilers,
            network_only: Vec::new(),
            last_seen: Mutex::default(),
        })
    }

    /// Also read `others` each pass, for the inheritance network only (R3, R5
    /// step 1: an environment parameter limits what is reconciled, not the
    /// network). A failure to read one is logged, and its last labels stand in.
    pub fn with_network_only(
        mut self,
        others: Vec<(String, Arc<dyn Ocm>)>,
    ) -> Result<Environments, EnvironmentsError> {
        let mut names: BTreeSet<String> = self
            .reconcilers
            .iter()
            .map(|r| r.config().environment.clone())
            .collect();
        for (name, _) in &others {
            if !names.insert(name.clone()) {
                return Err(EnvironmentsError::Duplicate(name.clone()));
            }
        }
        self.network_only = others;
        Ok(self)
    }

    pub fn reconcilers(&self) -> &[Reconciler] {
        &self.reconcilers
    }

    /// One pass over every environment (R5): discover each, build the
    /// inheritance network from all of them, then reconcile each. The
    /// environments are in configuration order.
    pub async fn pass(&self, now: Timestamp) -> Vec<EnvironmentPass> {
        let started = Instant::now();
        let (discovered, labelled) = futures::join!(
            join_all(self.reconcilers.iter().map(|r| r.discover(now))),
            join_all(
                self.network_only
                    .iter()
                    .map(|(_, ocm)| ocm.inheritance_labels())
            ),
        );
        let network = {
            let mut last_seen = self
                .last_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for ((name, _), l) in self.network_only.iter().zip(labelled) {
                match l {
                    Ok(orgs) => {
                        last_seen.insert(name.clone(), orgs);
                    }
                    Err(e) => {
                        tracing::warn!(env = %name, error = %e, "could not read the organization labels of an environment for the inheritance network; using its last known labels");
                    }
                }
            }
            for (r, d) in self.reconcilers.iter().zip(&discovered) {
                if let Ok(snapshot) = d {
                    last_seen.insert(
                        r.config().environment.clone(),
                        snapshot.fleet.organizations.clone(),
                    );
                }
            }
            Network::build(last_seen.iter().flat_map(|(env, orgs)| {
                orgs.iter()
                    .map(move |o| (env.as_str(), o.id.as_str(), &o.labels))
            }))
        };
        let network = &network;
        join_all(self.reconcilers.iter().zip(discovered).map(
            |(r, d)| async move {
                let result = match d {
                    Ok(snapshot) => r.reconcile(now, snapshot, network).await,
                    Err(e) => {
                        tracing::error!(env = %r.config().environment, error = %e, "environment skipped this pass: it could not be discovered");
                        Err(e)
                    }
                };
                // The add-on upgrade scheduler after the cluster pass (§13).
                crate::addons::pass(r, now).await;
                r.finish(started, &result);
                EnvironmentPass {
                    environment: r.config().environment.clone(),
                    result,
                }
            },
        ))
        .await
    }

    /// Give every lease of every environment up (shutdown).
    pub async fn release_leases(&self) -> usize {
        join_all(self.reconcilers.iter().map(Reconciler::release_leases))
            .await
            .into_iter()
            .sum()
    }
}

/// The loop sees one pass: the organizations of every environment that could
/// be discovered; it fails only when none could.
impl Reconcile for Environments {
    fn capability(&self) -> &'static str {
        "aus"
    }

    fn pass(&self, now: Timestamp) -> LocalBoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let result = self.merged_pass(now).await;
            crate::runtime::log_aus_pass(&result, started.elapsed())
        })
    }

    fn release(&self) -> LocalBoxFuture<'_, usize> {
        Box::pin(self.release_leases())
    }
}

impl Environments {
    /// One pass over every environment, merged into one report: the
    /// organizations of every environment that could be discovered; it fails
    /// only when none could.
    pub async fn merged_pass(&self, now: Timestamp) -> Result<PassReport, PassError> {
        let mut merged = PassReport {
            now,
            orgs: Vec::new(),
            leased_elsewhere: Vec::new(),
            unregistered: Vec::new(),
        };
        let mut first_error = None;
        let mut any_ok = false;
        for env in Environments::pass(self, now).await {
            match env.result {
                Ok(report) => {
                    any_ok = true;
                    merged.orgs.extend(report.orgs);
                    merged.leased_elsewhere.extend(report.leased_elsewhere);
                    merged.unregistered.extend(report.unregistered);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if !any_ok => Err(e),
            _ => Ok(merged),
        }
    }
}
