//! An OCM simulator: serves a [`Fleet`] over HTTP the way `OpenShift` Cluster
//! Manager (OCM) does, with a simulated clock that moves upgrades along.
//!
//! It exists so that the OCM client, the AUS reconciler and the time-travel
//! simulation can be tested end to end over real HTTP, without an OCM account.
//! The wire format is implemented here from the spec (`spec/ocm-api.md`)
//! independently of the client crate, so the client's integration tests catch
//! mismatches instead of sharing them.
//!
//! # Map
//!
//! * [`world`] — the state: organizations, subscriptions, clusters, labels,
//!   policies, gates, agreements, service logs; seeding from a fleet,
//!   validation of writes (spec §5.1–5.4, 5.7).
//! * [`progression`] — the simulated clock and the upgrade state machine (§5.5).
//! * [`search`] — OCM's `search` language and `order` clauses (§2.5, §5.8).
//! * [`render`] — the JSON served for each object, and searchable attributes.
//! * [`api`] — the axum routes: AMS, CS, service logs, token endpoint, `/_sim`.
//! * [`auth`] — tokens: issuing (client credentials, refresh) and checking.
//! * [`control`] — fault injection, latency and request counting.
//! * [`identity_providers`] — cluster identity providers and their
//!   validations (rhidp I75).
//! * [`sso`] — a minimal Keycloak: realms, initial and registration access
//!   tokens, client registration (rhidp I77, I78).
//! * [`error`] — OCM's error body.
//! * [`server`] — [`run`] and [`spawn`].
//!
//! # Design decisions
//!
//! * One lock around the world. Handlers are short and never await while
//!   holding it, so the simulator is strongly consistent (a label written is
//!   immediately searchable), as the reference assumes of OCM.
//! * Two clocks. Token expiry uses the real clock, so a test can give tokens a
//!   one-second lifetime while simulated time stands still; everything OCM
//!   stores (`created_at`, `next_run`, policy states, release publication) uses
//!   the simulated clock, which moves only when told (`POST /_sim/clock`,
//!   [`Simulator::advance`]).
//! * Finished manual policies disappear (after
//!   [`SimConfig::terminal_policy_retention`], default zero), following spec
//!   §5.5: OCM removes them, and AUS reads any listed policy as "in progress".
//! * Derived `available_upgrades` are computed from the release catalog at the
//!   simulated instant whenever served, so releases appear as the clock passes
//!   their `published` date; lists given explicitly in the scenario are kept and
//!   trimmed to versions newer than the cluster as it upgrades.
//! * Search is evaluated on the JSON a client sees (plus OCM's virtual
//!   attributes), and every collection declares its searchable attributes, so
//!   an unknown attribute is a 400 even when nothing would match.
//! * Fleet-wide lists are rendered once per object: an object's JSON is kept
//!   with the record it was rendered from and reused while the record is
//!   unchanged, and a query's selection (filter and order, as positions) is
//!   kept until the world changes. A reconciler pass lists thousands of labels
//!   and clusters of which a handful changed since the last pass, in pages and
//!   in `id in (...)` chunks; rendering and filtering everything per request
//!   made the time-travel simulation spend most of its time here.
//! * Ids and timestamps of objects the scenario does not name are deterministic
//!   (see [`world`]), so a scenario always serves the same answers.
//! * Every caller sees every organization (one admin service account); per-org
//!   visibility (§5.1) is not simulated.
//!
//! # Control surface (`/_sim`, no token)
//!
//! | endpoint | body | effect |
//! |---|---|---|
//! | `GET /_sim/clock` | – | `{"now": RFC3339}` |
//! | `POST /_sim/clock` | `{"advance_seconds": N}` or `{"now": RFC3339}` | move the clock forward, run progression |
//! | `GET/POST /_sim/latency` | `{"millis": N}` | fixed delay before every `/api/` request |
//! | `POST /_sim/faults` | `{"status", "path_prefix"?, "method"?, "organization"?, "count"?, "retry_after"?}` | inject a fault ([`control`]) |
//! | `GET/DELETE /_sim/faults` | – | list / clear faults |
//! | `GET /_sim/requests` | – | `{"total": N, "by_endpoint": {"GET /api/.../{id}": n}}` |
//! | `DELETE /_sim/requests` | – | reset the counts |
//! | `POST /_sim/clusters/{id}` | `{"healthy"?, "state"?, "fail_upgrades"?}` | cluster conditions: unhealthy delays upgrades, `fail_upgrades` ends them `failed` |
//! | `POST /_sim/releases` | `{"version", "channel_groups", "published"}` | add a release to the catalog |
//! | `GET /_sim/fleet` | – | [`Simulator::fleet`] as JSON |
//! | `GET/POST/DELETE /_sim/drops` | `{"path_prefix"?, "method"?, "count"?}` | handle matching requests, then cut the connection ([`control::ResponseDrop`]) |
//! | `GET /_sim/sso`, `POST /_sim/sso/{realm}/iat`, ... | see [`api::sso`] | the SSO simulator's admin surface |
//!
//! # SSO simulator (rhidp)
//!
//! Keycloak's client registration service is served under
//! `/auth/realms/{realm}` (see [`api::sso`]), for the realms of the fleet's
//! `sso` section. It shares the simulated clock (IAT expiry), the fault and
//! drop lists and the request counts with the OCM endpoints.

pub mod addons;
pub mod api;
pub mod auth;
pub mod by_cluster;
pub mod config;
pub mod control;
pub mod error;
pub mod identity_providers;
pub mod progression;
pub mod render;
pub mod search;
pub mod server;
pub mod sso;
pub mod world;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use srecap_fleet::{Fleet, Release};

pub use config::SimConfig;
pub use control::{Fault, ResponseDrop};
pub use error::ApiError;
pub use progression::ClockError;
pub use server::{RunningSim, run, spawn};
pub use world::{PolicyEvent, PolicyRequest, Rejection, ServiceLog, ServiceLogRequest, World};

use crate::auth::TokenStore;
use crate::control::Control;

#[derive(Debug)]
struct Shared {
    config: SimConfig,
    world: Mutex<World>,
    tokens: Mutex<TokenStore>,
    control: Mutex<Control>,
}

/// A simulated OCM environment. Cloning shares the same state.
#[derive(Debug, Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

impl Simulator {
    /// Serve `fleet`; the simulated clock starts at `fleet.now`.
    pub fn new(fleet: Fleet, config: SimConfig) -> Simulator {
        let control = Control {
            latency: config.latency,
            ..Control::default()
        };
        Simulator {
            shared: Arc::new(Shared {
                config,
                world: Mutex::new(World::new(fleet)),
                tokens: Mutex::new(TokenStore::default()),
                control: Mutex::new(control),
            }),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    // A poisoned lock only means a handler panicked mid-request; the data is
    // still the last consistent state we wrote, so keep serving it.
    pub(crate) fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut guard = self
            .shared
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Conservatively, any access may change the world.
        guard.generation += 1;
        f(&mut guard)
    }

    /// Read the world directly (in-process clients: typed values, no HTTP, no
    /// JSON). The lock is held while `f` runs.
    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        self.with_world_read(|w| f(w))
    }

    /// Change the world directly, as a write request would (in-process
    /// clients). `f` gets the simulator's configuration for the validations
    /// that need it.
    pub fn write<R>(&self, f: impl FnOnce(&mut World, &SimConfig) -> R) -> R {
        let config = &self.shared.config;
        self.with_world(|w| f(w, config))
    }

    /// Like `with_world` for handlers that only read (they may fill the query
    /// cache), so cached list selections stay valid across them.
    pub(crate) fn with_world_read<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut guard = self
            .shared
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    pub(crate) fn with_tokens<R>(&self, f: impl FnOnce(&mut TokenStore) -> R) -> R {
        let mut guard = self
            .shared
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    pub(crate) fn with_control<R>(&self, f: impl FnOnce(&mut Control) -> R) -> R {
        let mut guard = self
            .shared
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// The simulated instant.
    pub fn now(&self) -> Timestamp {
        self.with_world_read(|w| w.now)
    }

    /// Move the simulated clock to `t` (forward only) and run progression.
    pub fn set_now(&self, t: Timestamp) -> Result<(), ClockError> {
        let config = self.shared.config.clone();
        self.with_world(|w| w.advance_to(t, &config))
    }

    /// Move the simulated clock forward by `d` and run progression.
    pub fn advance(&self, d: SignedDuration) -> Result<(), ClockError> {
        let config = self.shared.config.clone();
        self.with_world(|w| {
            let t = w
                .now
                .checked_add(d)
                .map_err(|_| ClockError::OutOfRange(d))?;
            w.advance_to(t, &config)
        })
    }

    /// The current state as a fleet: versions, labels, policies (with states),
    /// node pools, agreements, releases. Service logs are not part of it.
    pub fn fleet(&self) -> Fleet {
        self.with_world_read(|w| w.fleet())
    }

    /// Every service log stored so far, internal ones included, oldest first.
    pub fn service_logs(&self) -> Vec<ServiceLog> {
        self.with_world_read(|w| w.service_logs.clone())
    }

    /// The axum router serving OCM, the token endpoint and `/_sim`.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// Set the fixed latency added to every `/api/` request.
    pub fn set_latency(&self, latency: Duration) {
        self.with_control(|c| c.latency = latency);
    }

    /// Inject a fault (see [`control`]).
    pub fn add_fault(&self, fault: Fault) {
        self.with_control(|c| c.faults.push(fault));
    }

    /// Handle matching requests, then cut their connection (see [`control`]).
    pub fn add_response_drop(&self, rule: ResponseDrop) {
        self.with_control(|c| c.drops.push(rule));
    }

    /// The OpenID client secret an identity provider holds (write-only on the
    /// API): tests check it is the current SSO client's secret (rhidp W5).
    /// `None` for an unknown cluster or provider, or one without a secret.
    pub fn identity_provider_secret(&self, cluster_id: &str, idp_id: &str) -> Option<String> {
        self.with_world_read(|w| {
            w.identity_provider(cluster_id, idp_id)
                .ok()
                .and_then(|i| i.secret.clone())
        })
    }

    /// A cluster's identity providers as the fleet model has them (secrets
    /// included); empty for an unknown cluster.
    pub fn identity_providers(&self, cluster_id: &str) -> Vec<srecap_fleet::IdentityProvider> {
        self.with_world_read(|w| {
            w.identity_providers_of(cluster_id)
                .map(|idps| {
                    idps.into_iter()
                        .map(identity_providers::IdpRecord::to_fleet)
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Issue an initial access token in an SSO realm (as `POST
    /// /_sim/sso/{realm}/iat` does): valid `expires_in` seconds of simulated
    /// time, for `count` registrations.
    pub fn issue_iat(
        &self,
        realm: &str,
        expires_in: i64,
        count: u32,
    ) -> Result<crate::sso::Iat, crate::sso::SsoError> {
        self.with_world_read(|w| {
            let now = w.now;
            w.sso.issue_iat(realm, expires_in, count, now)
        })
    }

    /// The clients registered in an SSO realm, in registration order.
    pub fn sso_clients(
        &self,
        realm: &str,
    ) -> Result<Vec<crate::sso::Client>, crate::sso::SsoError> {
        self.with_world_read(|w| w.sso.realm(realm).map(|r| r.clients.clone()))
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        self.with_control(|c| c.faults.clear());
    }

    /// `/api/` requests served so far, by `"<METHOD> <route template>"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.with_control(|c| c.requests.clone())
    }

    /// Forget the request counts.
    pub fn reset_request_counts(&self) {
        self.with_control(|c| c.requests.clear());
    }

    /// Change a cluster's health (delays upgrades while false), OCM state, or
    /// whether its upgrades fail.
    pub fn set_cluster_condition(
        &self,
        cluster_id: &str,
        healthy: Option<bool>,
        state: Option<String>,
        fail_upgrades: Option<bool>,
    ) -> Result<(), Rejection> {
        let config = self.shared.config.clone();
        self.with_world(|w| {
            w.set_cluster_condition(cluster_id, healthy, state, fail_upgrades)?;
            // A cluster that became healthy lets delayed upgrades start now.
            w.progress(&config);
            Ok(())
        })
    }

    /// Start journaling policy transitions (see [`Simulator::take_policy_events`]).
    pub fn record_policy_events(&self) {
        self.with_world_read(|w| w.record_events = true);
    }

    /// The policy transitions journaled since the last call, oldest first.
    pub fn take_policy_events(&self) -> Vec<PolicyEvent> {
        self.with_world_read(|w| std::mem::take(&mut w.events))
    }

    /// How long this cluster's upgrades run (`None`: [`SimConfig::upgrade_duration`]).
    pub fn set_upgrade_duration(
        &self,
        cluster_id: &str,
        duration: Option<SignedDuration>,
    ) -> Result<(), Rejection> {
        self.with_world_read(|w| {
            w.cluster_mut(cluster_id)?.upgrade_duration = duration;
            Ok(())
        })
    }

    /// Add a release to the catalog (it shows from its `published` instant).
    pub fn add_release(&self, release: Release) {
        self.with_world(|w| w.releases.push(release));
    }
}
