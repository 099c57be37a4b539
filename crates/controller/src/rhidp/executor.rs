//! Applies a Red Hat `IdP` plan (`srecap_rhidp::Plan`) in order: Keycloak
//! client registration, sealed client records, OCM identity providers and
//! service logs, following the executor contract of `srecap_rhidp`.
//!
//! Design decisions:
//! * Every action runs even when an earlier one failed (I42), except where the
//!   plan names a dependency: a client delete waits for its provider deletes
//!   (I58), a provider create or update for its client action.
//! * Registration writes a pending record first, with put-if-absent (I41): a
//!   crash between registering and storing the secret leaves a pending record
//!   the next pass registers again, never a client nobody knows about. A
//!   failed record write after a successful registration deletes the new
//!   client with its RAT and reports the write error (I39).
//! * Secrets travel from the sealed record to the request body and nowhere
//!   else: outcomes carry action shapes and error texts, which never hold one.
//! * Service logs are deduplicated for 24 h on identical service name,
//!   severity, summary and description (I62), as AUS does.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use srecap_ocm::model::{
    IdentityProviderPatch, NewClusterLog, NewIdentityProvider, OPENID_IDENTITY_PROVIDER,
    OpenIdClaims, OpenIdWrite, Severity,
};
use srecap_ocm::search::Filter;
use srecap_ocm::{OcmClient, OcmError};
use srecap_rhidp::Plan;
use srecap_rhidp::client::DesiredClient;
use srecap_rhidp::idp::DesiredIdp;
use srecap_rhidp::plan::{Action, IdpAction, IdpRef, SsoClientAction};
use srecap_rhidp::problem::{self, Problem, ServiceLog};
use srecap_rhidp::record::{ClientRecord, Registration};
use srecap_sso::{ClientRegistration, Deleted, SsoClient, SsoError};
use srecap_store::{SecretStore, StoreError};

/// How long an identical service log is not sent again (I62).
pub const SERVICE_LOG_DEDUP: SignedDuration = SignedDuration::from_hours(24);

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Done,
    /// A delete found nothing left to delete.
    Gone,
    /// Not attempted: `reason` says which earlier action it waited for.
    Skipped {
        reason: String,
    },
    Failed {
        error: String,
    },
    /// OCM refused the write because of the users' configuration (a 400 for a
    /// provider name it does not accept): they got a service log; not a bad
    /// event of the service.
    Rejected {
        error: String,
    },
}

/// One action and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    /// The action in the reference's shape (I45, I55).
    pub action: serde_json::Value,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What applying a plan did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Execution {
    pub actions: Vec<ActionOutcome>,
    pub service_logs_sent: usize,
    /// Keycloak clients that may exist without srecap knowing their secret
    /// (I41: "clientId already taken" after a pending record).
    pub orphaned_clients: Vec<String>,
    /// Service logs that could not be sent or checked.
    pub service_log_errors: Vec<String>,
}

impl Execution {
    /// Actions that did not do what was planned (failed or rejected).
    pub fn failed(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Failed { .. } | Outcome::Rejected { .. }))
            .count()
    }

    /// Actions that failed for a reason that is not the users' (the SLI's bad
    /// events).
    pub fn bad(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Failed { .. }))
            .count()
    }

    pub fn count(&self, wanted: fn(&Outcome) -> bool) -> usize {
        self.actions.iter().filter(|a| wanted(&a.outcome)).count()
    }
}

/// A provider write: a create (with the notice sent once it succeeded) or an
/// update of the provider with this id.
#[derive(Debug, Clone, Copy)]
enum Write<'a> {
    Create(Option<&'a ServiceLog>),
    Update(&'a str),
}

/// Everything an executor writes to.
#[derive(Debug)]
pub struct Executor<'a> {
    pub ocm: &'a OcmClient,
    pub sso: &'a SsoClient,
    pub secrets: &'a SecretStore,
    /// `<secret namespace>/<environment>`: the client records.
    pub records: &'a str,
    /// Where the provider fingerprints live (see [`super::fingerprints_namespace`]).
    pub fingerprints: &'a str,
    pub environment: &'a str,
    /// The configured realms by issuer (I31, I67).
    pub realms: &'a BTreeMap<String, super::Realm>,
    pub now: Timestamp,
}

impl Executor<'_> {
    /// Apply `plan` (see the module notes).
    pub async fn apply(&self, plan: &Plan) -> Execution {
        let mut run = Execution::default();
        let uuids: BTreeMap<&str, &str> = plan
            .clusters
            .iter()
            .map(|c| (c.cluster_id.as_str(), c.cluster_uuid.as_str()))
            .collect();
        for log in plan.service_logs() {
            self.send_log(log, &mut run).await;
        }
        let mut failed_idp_deletes: BTreeSet<IdpRef> = BTreeSet::new();
        let mut failed_clients: BTreeSet<String> = BTreeSet::new();
        // Managed providers (cluster id, name) whose write did not succeed.
        let mut unwritten: BTreeSet<(String, String)> = BTreeSet::new();
        for action in &plan.actions {
            let shape = action.reference_shape();
            let outcome = match action {
                Action::SsoClient(a) => {
                    let outcome = self.client_action(a, &failed_idp_deletes, &mut run).await;
                    if !matches!(outcome, Outcome::Done | Outcome::Gone) {
                        failed_clients.insert(a.key().to_owned());
                    }
                    outcome
                }
                Action::IdentityProvider(a) => {
                    let outcome = self
                        .idp_action(a, &failed_clients, &unwritten, &uuids, &mut run)
                        .await;
                    if let (
                        IdpAction::Create {
                            cluster_id, idp, ..
                        }
                        | IdpAction::Update {
                            cluster_id, idp, ..
                        },
                        false,
                    ) = (a, outcome == Outcome::Done)
                    {
                        unwritten.insert((cluster_id.clone(), idp.name.clone()));
                    }
                    if let (
                        IdpAction::Delete {
                            cluster_id, idp_id, ..
                        },
                        false,
                    ) = (a, matches!(outcome, Outcome::Done | Outcome::Gone))
                    {
                        failed_idp_deletes.insert(IdpRef {
                            cluster_id: cluster_id.clone(),
                            idp_id: idp_id.clone(),
                        });
                    }
                    outcome
                }
            };
            if let Outcome::Failed { error } | Outcome::Rejected { error } = &outcome {
                tracing::warn!(action = %shape, %error, "rhidp action failed");
            }
            run.actions.push(ActionOutcome {
                action: shape,
                outcome,
            });
        }
        run
    }

    async fn client_action(
        &self,
        action: &SsoClientAction,
        failed_idp_deletes: &BTreeSet<IdpRef>,
        run: &mut Execution,
    ) -> Outcome {
        match action {
            SsoClientAction::Delete {
                sso_client_id,
                record_only,
                after_idp_deletes,
                ..
            } => {
                if let Some(waiting) = after_idp_deletes
                    .iter()
                    .find(|r| failed_idp_deletes.contains(*r))
                {
                    return Outcome::Skipped {
                        reason: format!(
                            "identity provider {} of cluster {} was not deleted",
                            waiting.idp_id, waiting.cluster_id
                        ),
                    };
                }
                self.delete_client(sso_client_id, *record_only, run).await
            }
            SsoClientAction::Create {
                client,
                retry_of_pending,
            } => self.register(client, *retry_of_pending, run).await,
            SsoClientAction::Update { client, .. } => self.update_client(client).await,
        }
    }

    async fn delete_client(&self, key: &str, record_only: bool, run: &mut Execution) -> Outcome {
        let record = match self
            .secrets
            .get_json::<ClientRecord>(self.records, key)
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => return Outcome::Gone,
            Err(e) => return failed(&e),
        };
        if record_only {
            // A pending record: a registration may or may not have happened
            // before a crash (I41). Find out before forgetting it.
            if let Err(outcome) = self.settle_pending(&record, run).await {
                return outcome;
            }
        } else if let Some(rat) = &record.registration_access_token {
            let rat = srecap_sso::Secret::new(rat.expose());
            match self
                .sso
                .delete(self.endpoint(&record.issuer), &record.client_id, &rat)
                .await
            {
                Ok(Deleted::Deleted) => {}
                Ok(Deleted::Gone(status)) => {
                    tracing::warn!(client = %key, status, "SSO client already gone in the realm (I40)");
                }
                Err(e) => return failed(&e),
            }
        }
        match self.secrets.delete(self.records, key).await {
            Ok(_) => Outcome::Done,
            Err(e) => failed(&e),
        }
    }

    /// Before a pending record of an unwanted key goes, make sure no client of
    /// that id is left in the realm without a record: register it (which
    /// fails with "clientId taken" when the interrupted registration did
    /// happen) and delete what that created with its RAT. A taken id is an
    /// orphan only someone with realm access can delete: the record stays, so
    /// the operator error repeats every pass until it is gone.
    async fn settle_pending(
        &self,
        record: &ClientRecord,
        run: &mut Execution,
    ) -> Result<(), Outcome> {
        let Some(realm) = self.realms.get(&record.issuer) else {
            return Err(Outcome::Failed {
                error: format!(
                    "pending client record {}: no initial access token is configured for issuer {}, so whether a client exists cannot be checked; the record is kept",
                    record.client_id, record.issuer
                ),
            });
        };
        let endpoint = self.endpoint(&record.issuer);
        let probe = ClientRegistration {
            client_id: record.client_id.clone(),
            redirect_uris: record.redirect_uris.clone(),
            default_client_scopes: srecap_rhidp::client::default_scopes(None),
            attributes: None,
        };
        match self.sso.register(endpoint, &realm.iat, &probe).await {
            Ok(created) => self
                .sso
                .delete(
                    endpoint,
                    &created.client_id,
                    &created.registration_access_token,
                )
                .await
                .map(drop)
                .map_err(|e| failed(&e)),
            Err(SsoError::Conflict { .. }) => {
                run.orphaned_clients.push(record.client_id.clone());
                Err(Outcome::Failed {
                    error: format!(
                        "orphaned Keycloak client {}: a registration was interrupted and its secret is unknown; delete the client in the realm (the pending record is kept until then)",
                        record.client_id
                    ),
                })
            }
            Err(e) => Err(failed(&e)),
        }
    }

    async fn register(
        &self,
        client: &DesiredClient,
        retry_of_pending: bool,
        run: &mut Execution,
    ) -> Outcome {
        let Some(realm) = self.realms.get(&client.issuer) else {
            return Outcome::Failed {
                error: format!(
                    "no initial access token is configured for issuer {}",
                    client.issuer
                ),
            };
        };
        if !retry_of_pending {
            let pending = ClientRecord::pending(client, self.environment, self.now);
            if let Err(e) = self
                .secrets
                .put_json_if_absent(self.records, &client.key, &pending)
                .await
            {
                return failed(&e);
            }
        }
        let endpoint = self.endpoint(&client.issuer);
        let registered = match self
            .sso
            .register(endpoint, &realm.iat, &registration(client))
            .await
        {
            Ok(r) => r,
            Err(SsoError::Conflict { .. }) => {
                // The pending record stays: its client exists without a known
                // secret, and only someone with realm access can delete it.
                run.orphaned_clients.push(client.key.clone());
                return Outcome::Failed {
                    error: format!(
                        "orphaned Keycloak client {}: a client with this id exists in the realm and its secret is unknown; delete it in the realm",
                        client.key
                    ),
                };
            }
            Err(e) => return failed(&e),
        };
        let rat = registered.registration_access_token.clone();
        let record = ClientRecord::registered(
            client,
            Registration {
                client_id: registered.client_id,
                secret: srecap_rhidp::record::Secret::new(registered.secret.expose()),
                redirect_uris: registered.redirect_uris,
                registration_access_token: srecap_rhidp::record::Secret::new(rat.expose()),
                attributes: registered.attributes,
            },
            self.environment,
            self.now,
        );
        match self
            .secrets
            .put_json(self.records, &client.key, &record)
            .await
        {
            Ok(()) => Outcome::Done,
            Err(write) => {
                // I39: undo the registration, report the write error.
                if let Err(rollback) = self.sso.delete(endpoint, &client.key, &rat).await {
                    tracing::error!(client = %client.key, error = %rollback, "rolling back a registration failed: the client may be orphaned in the realm");
                }
                failed(&write)
            }
        }
    }

    async fn update_client(&self, client: &DesiredClient) -> Outcome {
        let record = match self
            .secrets
            .get_json::<ClientRecord>(self.records, &client.key)
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Outcome::Failed {
                    error: format!("client record {} vanished before its update", client.key),
                };
            }
            Err(e) => return failed(&e),
        };
        let Some(rat) = &record.registration_access_token else {
            return Outcome::Failed {
                error: format!(
                    "client record {} has no registration access token",
                    client.key
                ),
            };
        };
        let rat = srecap_sso::Secret::new(rat.expose());
        let endpoint = self.endpoint(&record.issuer);
        let updated = match self.sso.update(endpoint, &rat, &registration(client)).await {
            Ok(u) => u,
            Err(e) => return failed(&e),
        };
        let mut new = ClientRecord::registered(
            client,
            Registration {
                client_id: updated.client_id,
                secret: srecap_rhidp::record::Secret::new(updated.secret.expose()),
                redirect_uris: updated.redirect_uris,
                registration_access_token: srecap_rhidp::record::Secret::new(
                    updated.registration_access_token.expose(),
                ),
                attributes: updated.attributes,
            },
            self.environment,
            self.now,
        );
        new.created_at = record.created_at.or(new.created_at);
        // The rotated RAT must be stored, or the client can no longer be
        // updated or deleted (I29).
        match self.secrets.put_json(self.records, &client.key, &new).await {
            Ok(()) => Outcome::Done,
            Err(e) => failed(&e),
        }
    }

    async fn idp_action(
        &self,
        action: &IdpAction,
        failed_clients: &BTreeSet<String>,
        unwritten: &BTreeSet<(String, String)>,
        uuids: &BTreeMap<&str, &str>,
        run: &mut Execution,
    ) -> Outcome {
        match action {
            IdpAction::Delete {
                cluster_id,
                idp_name,
                idp_id,
                after_provider,
                notice,
                ..
            } => {
                // W8: the others go only once the managed provider was written.
                if let Some(managed) = after_provider
                    .as_ref()
                    .filter(|n| unwritten.contains(&(cluster_id.clone(), (*n).clone())))
                {
                    return Outcome::Skipped {
                        reason: format!("identity provider {managed} was not written"),
                    };
                }
                let outcome = match self.ocm.delete_identity_provider(cluster_id, idp_id).await {
                    Ok(()) => Outcome::Done,
                    Err(e) if e.is_not_found() => Outcome::Gone,
                    Err(e) => return failed(&e),
                };
                if let Err(e) = self.set_fingerprint(cluster_id, idp_name, None).await {
                    tracing::warn!(cluster = %cluster_id, error = %e, "cannot forget a deleted provider's fingerprint");
                }
                if let Some(log) = notice {
                    self.send_log(log, run).await;
                }
                outcome
            }
            IdpAction::Create {
                cluster_id,
                idp,
                secret_from,
                after_client,
                notice,
                ..
            } => {
                let write = Write::Create(notice.as_ref());
                self.write_provider(
                    cluster_id,
                    idp,
                    secret_from,
                    after_client.as_deref(),
                    write,
                    failed_clients,
                    uuids,
                    run,
                )
                .await
            }
            IdpAction::Update {
                cluster_id,
                idp_id,
                idp,
                secret_from,
                after_client,
                ..
            } => {
                let write = Write::Update(idp_id);
                self.write_provider(
                    cluster_id,
                    idp,
                    secret_from,
                    after_client.as_deref(),
                    write,
                    failed_clients,
                    uuids,
                    run,
                )
                .await
            }
        }
    }

    /// Create or update the managed provider `idp` with the client secret of
    /// record `secret_from`, once the client action it waits for succeeded.
    #[allow(clippy::too_many_arguments)]
    async fn write_provider(
        &self,
        cluster_id: &str,
        idp: &DesiredIdp,
        secret_from: &str,
        after_client: Option<&str>,
        write: Write<'_>,
        failed_clients: &BTreeSet<String>,
        uuids: &BTreeMap<&str, &str>,
        run: &mut Execution,
    ) -> Outcome {
        if let Some(waiting) = after_client.filter(|k| failed_clients.contains(*k)) {
            return Outcome::Skipped {
                reason: format!("SSO client {waiting} was not ready"),
            };
        }
        let (secret, fingerprint) = match self.secret_of(secret_from).await {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let open_id = open_id(idp, secret);
        let mapping_method = srecap_rhidp::idp::MAPPING_METHOD.to_owned();
        let kind = OPENID_IDENTITY_PROVIDER.to_owned();
        let written = match write {
            Write::Create(_) => {
                let body = NewIdentityProvider {
                    kind,
                    name: idp.name.clone(),
                    mapping_method,
                    open_id,
                };
                self.ocm.create_identity_provider(cluster_id, &body).await
            }
            Write::Update(idp_id) => {
                let patch = IdentityProviderPatch {
                    kind,
                    mapping_method,
                    open_id,
                };
                self.ocm
                    .update_identity_provider(cluster_id, idp_id, &patch)
                    .await
            }
        };
        match written {
            Ok(_) => {
                self.remember(cluster_id, &idp.name, fingerprint).await;
                if let Write::Create(Some(log)) = write {
                    self.send_log(log, run).await;
                }
                Outcome::Done
            }
            Err(e) => self.rejected(cluster_id, &idp.name, &e, uuids, run).await,
        }
    }

    /// A failed provider write; a 400 is the owners' to fix (a name OCM does
    /// not accept): they get a service log (I61, I64 `RHIDP-OCM-REJECTED`).
    async fn rejected(
        &self,
        cluster_id: &str,
        auth_name: &str,
        e: &OcmError,
        uuids: &BTreeMap<&str, &str>,
        run: &mut Execution,
    ) -> Outcome {
        if e.status() == Some(400)
            && let Some(uuid) = uuids.get(cluster_id)
        {
            let problem = Problem::ocm_rejected(auth_name, &e.to_string());
            for log in ServiceLog::for_problems(uuid, &[problem]) {
                self.send_log(&log, run).await;
            }
            return Outcome::Rejected {
                error: e.to_string(),
            };
        }
        failed(e)
    }

    /// Where the realm of `issuer` serves its endpoints.
    fn endpoint<'i>(&'i self, issuer: &'i str) -> &'i str {
        self.realms
            .get(issuer)
            .and_then(|r| r.url.as_deref())
            .unwrap_or(issuer)
    }

    async fn secret_of(&self, key: &str) -> Result<(srecap_ocm::Secret, String), Outcome> {
        match self
            .secrets
            .get_json::<ClientRecord>(self.records, key)
            .await
        {
            Ok(Some(record)) => match &record.client_secret {
                Some(secret) => Ok((
                    srecap_ocm::Secret::new(secret.expose()),
                    record.fingerprint().unwrap_or_default(),
                )),
                None => Err(Outcome::Failed {
                    error: format!("client record {key} has no client secret yet"),
                }),
            },
            Ok(None) => Err(Outcome::Failed {
                error: format!("client record {key} is missing"),
            }),
            Err(e) => Err(failed(&e)),
        }
    }

    async fn remember(&self, cluster_id: &str, idp_name: &str, fingerprint: String) {
        if let Err(e) = self
            .set_fingerprint(cluster_id, idp_name, Some(fingerprint))
            .await
        {
            // The next pass then sees no fingerprint and updates the provider
            // once more: harmless.
            tracing::warn!(cluster = %cluster_id, error = %e, "cannot store a provider's secret fingerprint");
        }
    }

    async fn set_fingerprint(
        &self,
        cluster_id: &str,
        idp_name: &str,
        fingerprint: Option<String>,
    ) -> Result<(), StoreError> {
        let mut all: BTreeMap<String, String> = self
            .secrets
            .get_json(self.fingerprints, cluster_id)
            .await?
            .unwrap_or_default();
        match fingerprint {
            Some(f) => {
                all.insert(idp_name.to_owned(), f);
            }
            None => {
                all.remove(idp_name);
            }
        }
        if all.is_empty() {
            self.secrets
                .delete(self.fingerprints, cluster_id)
                .await
                .map(drop)
        } else {
            self.secrets
                .put_json(self.fingerprints, cluster_id, &all)
                .await
        }
    }

    /// Send `log` unless an identical one was sent in the last 24 h.
    async fn send_log(&self, log: &ServiceLog, run: &mut Execution) {
        let severity = severity(log.severity);
        let since = self.now.checked_sub(SERVICE_LOG_DEDUP).unwrap_or(self.now);
        let filter = Filter::eq("service_name", log.service_name)
            .and(Filter::eq("severity", severity_text(log.severity)))
            .and(Filter::eq("summary", log.summary.clone()))
            .and(Filter::eq("description", log.description.clone()))
            .and(Filter::ge("created_at", since.to_string()));
        match self
            .ocm
            .list_cluster_service_logs(&log.cluster_uuid, Some(&filter))
            .await
        {
            Ok(sent) if !sent.is_empty() => return,
            Ok(_) => {}
            Err(e) => {
                run.service_log_errors.push(e.to_string());
                return;
            }
        }
        let new = NewClusterLog {
            cluster_uuid: log.cluster_uuid.clone(),
            service_name: log.service_name.to_owned(),
            summary: log.summary.clone(),
            description: log.description.clone(),
            severity,
            internal_only: None,
            log_type: None,
            doc_references: Vec::new(),
        };
        match self.ocm.create_service_log(&new).await {
            Ok(_) => run.service_logs_sent += 1,
            Err(e) => run.service_log_errors.push(e.to_string()),
        }
    }
}

fn failed(e: &dyn std::error::Error) -> Outcome {
    // The chain, for the operator: "cannot ...: because ...".
    let mut error = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        error.push_str(": ");
        error.push_str(&s.to_string());
        source = s.source();
    }
    Outcome::Failed { error }
}

fn registration(client: &DesiredClient) -> ClientRegistration {
    let r = client.registration();
    ClientRegistration {
        client_id: r.client_id,
        redirect_uris: r.redirect_uris,
        default_client_scopes: r.default_client_scopes,
        attributes: r.attributes,
    }
}

fn open_id(idp: &DesiredIdp, secret: srecap_ocm::Secret) -> OpenIdWrite {
    OpenIdWrite {
        client_id: idp.client_id.clone(),
        client_secret: secret,
        issuer: idp.issuer.clone(),
        claims: OpenIdClaims {
            email: idp.claims.email.clone(),
            name: idp.claims.name.clone(),
            preferred_username: idp.claims.preferred_username.clone(),
            groups: idp.claims.groups.clone(),
        },
    }
}

fn severity(s: problem::Severity) -> Severity {
    match s {
        problem::Severity::Info => Severity::Info,
        problem::Severity::Warning => Severity::Warning,
        problem::Severity::Moderate => Severity::Moderate,
    }
}

fn severity_text(s: problem::Severity) -> &'static str {
    match s {
        problem::Severity::Info => "Info",
        problem::Severity::Warning => "Warning",
        problem::Severity::Moderate => "Moderate",
    }
}
