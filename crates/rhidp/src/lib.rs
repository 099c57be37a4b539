//! The Red Hat identity-provider capability core (`rhidp`, `spec/rhidp.md`): a pure, deterministic
//! planner from OCM labels, stored client records and the identity providers on
//! clusters to SSO-client and identity-provider actions.
//!
//! A cluster opted in with `sre-capabilities.rhidp.status` gets (a) a confidential
//! OIDC client in a Keycloak realm whose redirect URI is the cluster's OAuth callback
//! and (b) an OCM identity provider of type `OpenIDIdentityProvider` that logs in
//! through that client. This crate decides *what* to do; it performs no I/O, has no
//! async code and never reads the clock (`now` is an argument). The executor (OCM
//! and Keycloak calls, the secret store, service logs) lives elsewhere and applies
//! a [`plan::Plan`] in order.
//!
//! Data flow of one pass over one OCM environment (rules in brackets):
//!
//! ```text
//! org + subscription labels ─► cluster::evaluate (I5–I11, I17, W1, W4) ─► Disposition
//!                                                      │
//! stored records (State) ─────────────────────────────►│ planner::Planner::plan
//! providers per cluster (Snapshot) ───────────────────►│   client steps (I19, I36, I41, W6, W7)
//! provider fingerprints (State) ──────────────────────►│   providers (I46–I54, W3, W5, W8, W19)
//!                                                      │   client deletes (I57, I58), guard (I59)
//!                                                      ▼
//!        Plan { actions, clusters (problems, service logs), operator_errors, facts }
//! ```
//!
//! Module map:
//! * [`labels`] — the label set, declared with `srecap-labels`; effective labels
//!   (I5), status (I6), switches (I7), value checks shared with the CLI
//!   ([`labels::validate`]).
//! * [`settings`] — default auth name and issuer, Keycloak instances (I67).
//! * [`cluster`] — a discovered cluster and its [`cluster::Disposition`].
//! * [`client`] — redirect URI (I20), scopes (I21), client key (I24, I25), the
//!   registration body (I27).
//! * [`record`] — client records (I30, I71) and [`record::Secret`] (I72).
//! * [`idp`] — listed and desired providers, their equality (I50), request bodies.
//! * [`problem`] — problem codes (I64) and service-log texts (I62, I63).
//! * [`plan`] — the output, serialisable as dry-run output (I45, I55 shapes via
//!   [`plan::Plan::reference_actions`]).
//! * [`planner`] — the decision procedure.
//!
//! # Executor contract
//! The plan's actions are ordered: provider deletes, client deletes (by key),
//! client creates then updates (by key), provider creates then updates, then the
//! W8 cleanup deletes that wait for a managed provider's write. One pass
//! therefore creates client and provider of a newly enabled cluster (I3, I57) and
//! removes a disabled cluster's provider before its client. The executor:
//! * runs every action even when an earlier one failed (I42), except that
//! * a client delete runs only if every provider delete in its `after_idp_deletes`
//!   succeeded or found the provider gone (I58), a provider create or update
//!   runs only if the client action named by `after_client` succeeded, and a
//!   provider delete with `after_provider` (W8 cleanup, last in the plan) only if
//!   that managed provider's create or update succeeded;
//! * builds provider bodies with [`idp::DesiredIdp::create_body`] /
//!   [`idp::DesiredIdp::patch_body`] and the secret of the record `secret_from`,
//!   then stores that record's [`record::ClientRecord::fingerprint`] in
//!   [`State::idp_fingerprints`] (and drops it after a provider delete);
//! * registers as I41 (pending record first, [`record::ClientRecord::pending`], then
//!   [`record::ClientRecord::registered`]) and rolls back as I39 / E11; after a
//!   client update it stores the rotated RAT and the attributes (the requested
//!   ones when Keycloak echoes none);
//! * sends [`plan::Plan::service_logs`] up front and each action's `notice` only
//!   after the action succeeded (I63);
//! * discovers, besides the labelled clusters, every ready cluster that owns a
//!   record (so removing all labels reads as `disabled`, I57), marks organizations
//!   outside the registry allowlist `allowed: false` (an empty allowlist allows
//!   none, W10), lists providers of every discovered cluster (a failing list is
//!   [`IdpListing::Unreadable`], I47), and passes in `existing_clusters` the
//!   clusters of records that still exist in OCM in any state.
//!
//! # Choices
//! Where the spec says PROPOSAL or UNCERTAIN, this crate chose what an SRE operating
//! a fleet would expect:
//! * **Status per source (W4).** I6 is applied per source, then the subscription
//!   wins: a subscription `.status=disabled` opts out of an organization-wide bare
//!   `sre-capabilities.rhidp=enabled`. Within one source the bare key still wins
//!   (E3).
//! * **Values are trimmed** (the label framework's text rule): `" enabled"` is
//!   `enabled`, a blank value is absent. Status values stay case-sensitive.
//! * **Unknown status (W1)**, an invalid name (I8), an issuer that is not
//!   `https://` or not configured (I9), a regex over 255 characters or with
//!   control characters (I10), an unusable key (I25, reported as a name problem
//!   since the name is what the user can shorten) and external authentication with
//!   a non-`disabled` status (I17) all **freeze** the cluster: no create, update or
//!   delete of its client or providers this pass, and a `Moderate` service log
//!   `Red Hat IdP configuration error` with one line per problem. A `disabled`
//!   cluster is not nagged about its name, issuer or regex (they are unused).
//! * **Unknown keys (I11)** are a `Warning` service log, never blocking.
//! * **Disabled cleanup.** Providers removed from a switched-off cluster are the one
//!   named by its auth name (I51) and every OIDC provider whose client id belongs
//!   to one of the cluster's records (ownership through the record, W3).
//! * **External auth, then `disabled`**: the records are deleted without a provider
//!   step (such clusters have no OAuth server; I17 forbids touching them).
//! * **Missing console URL** keeps everything silently (transient, I17); a cluster
//!   that exists but was not discovered (not ready) keeps everything (W5).
//! * **W8 generalised.** On a cluster whose provider is wanted, providers other than
//!   the managed one (foreign ones when `enforced`, srecap's own under an old auth
//!   name after a rename) are deleted only when the managed provider already
//!   exists and matches, or in the same pass right after its create or update,
//!   which they depend on (`after_provider`): a rename or a first `enforced`
//!   completes in one pass, and a cluster never loses its last working login to a
//!   failed create.
//! * **Enforced allow-list (W9).** `.keep-idps` names the foreign providers
//!   `enforced` keeps (comma-separated, each checked as an auth name; an empty
//!   item or a bad name is a configuration error that freezes the cluster, since
//!   a list that may not say what its author meant must not decide deletions).
//!   Kept providers that are listed are reported in the cluster's `kept_idps`.
//!   The list does not keep srecap's own provider under an old auth name (W3):
//!   it points at a client srecap deletes.
//! * **Issuer-host change (I57)**: the provider is re-pointed in the pass that
//!   creates the new client; the old client goes in the next pass, once no provider
//!   refers to it (I58), so deletes always precede creates within a kind.
//! * **Issuer realm change on the same host** stays the I48 fatal mismatch (operator
//!   error, provider protected): the key keeps the exact I24 format; the
//!   realm-qualified key of I73 is not implemented.
//! * **Secret fingerprints (W5).** A provider is updated when the fingerprint stored
//!   for it differs from the record's, when its client is (re-)registered in this
//!   pass, or when no fingerprint is stored (adoption of a reference deployment:
//!   one update per cluster writes the secret once and records it).
//! * **Mapping method is compared (W19)**; a listing without one is not drift.
//! * **Client drift (W6, W7).** A registered client whose redirect URI or group
//!   filter differs from the labels is updated (PUT with its RAT). Claims of the
//!   provider follow the record (I22), or the labels when the client is created or
//!   updated in the same pass. Records store the requested group filter when
//!   Keycloak echoes no attributes (§17 item 4), otherwise the update would repeat
//!   every pass.
//! * **Pending records (I41)** of a wanted key are registered again; of an unwanted
//!   key they are deleted (record only) with a "possible orphan" operator error.
//! * **Unreadable records** are never deleted (no RAT, no issuer) and are reported
//!   to the operator without failing the pass (E18 keeps the pass SUCCESS).
//! * **Adoption (I71).** A reference record without `cluster_id` belongs to the
//!   cluster whose `<name>-<org>-` starts its key (longest name wins); if no
//!   discovered or existing cluster matches, its cluster is gone and it is deleted.
//! * **Blast radius (I59)** is counted per kind: more than max(5, 10 %) client
//!   deletes (of the records) or provider deletes (of all listed providers) withholds
//!   all deletes of that kind; client deletes waiting for withheld provider deletes
//!   are withheld too. [`settings::Settings::allow_mass_deletion`] overrides.
//! * **Duplicate keys**: when two clusters want the same key, the first by cluster
//!   id keeps it and the other is frozen with an operator error.
//! * **Unrecognised console URLs (W20)** keep the reference's derived URI and raise
//!   a non-failing operator error.
//! * **I63 notices**: "created" on every provider create, "removed" only when the
//!   cluster's own labels switched it off (not for an organization leaving the
//!   allowlist, not for `sso-client-only`).
//!
//! # Label declarations
//! The dotted labels are declared with `srecap-labels` ([`labels::LABELS`]) as text
//! settings. The framework does not fit entirely: its keys all start with
//! `sre-capabilities.<capability>.`, so the deprecated bare key is handled by name,
//! and it has no enumeration kind, so status values and the name/issuer/regex rules
//! are checked in [`labels::validate`], which the CLI should call.

pub mod client;
pub mod cluster;
pub mod idp;
pub mod labels;
pub mod plan;
pub mod planner;
pub mod problem;
pub mod record;
pub mod settings;

pub use plan::{Action, Plan};
pub use planner::{ExistingCluster, IdpListing, Planner, Snapshot, State};

/// The capability name: service-log `service_name`, metric label, state namespace.
pub const CAPABILITY: &str = "rhidp";
