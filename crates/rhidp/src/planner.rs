//! The planner: snapshot + stored state + `now` → [`Plan`]. Pure and deterministic.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::client::DesiredClient;
use crate::cluster::{self, ClusterConfig, DiscoveredCluster, Disposition, Organization};
use crate::idp::{Claims, CurrentIdp, DesiredIdp, Difference};
use crate::labels::Status;
use crate::plan::{
    Action, ClientChange, ClientDeleteReason, ClusterPlan, DeletionGuard, Facts, IdpAction,
    IdpDeleteReason, IdpListState, IdpRef, OperatorCode, OperatorError, Plan, SsoClientAction,
};
use crate::problem::{Level, ServiceLog};
use crate::record::{ClientRecord, RecordState, StoredRecord};
use crate::settings::Settings;

/// Deletes above which the blast-radius guard may trip (I59).
pub const GUARD_MIN_DELETES: usize = 5;

/// What OCM shows for one environment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ocm_environment: String,
    pub organizations: BTreeMap<String, Organization>,
    /// Discovered clusters (I16). A cluster that owns a client record but lost its
    /// labels must be included (ready, with its labels, i.e. none): it then reads as
    /// `disabled` and is cleaned up (I57).
    pub clusters: Vec<DiscoveredCluster>,
    /// Providers per cluster id. A cluster without an entry is treated as unreadable
    /// (skipped, I47).
    pub identity_providers: BTreeMap<String, IdpListing>,
    /// Clusters that still exist in OCM in any state (discovered ones need not be
    /// repeated). A record whose cluster is neither discovered nor here belongs to a
    /// deleted cluster.
    pub existing_clusters: Vec<ExistingCluster>,
}

/// A cluster that exists in OCM, whatever its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingCluster {
    pub id: String,
    pub name: String,
    pub organization_id: String,
}

/// A cluster's provider list (I47).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpListing {
    Listed(Vec<CurrentIdp>),
    Unreadable,
}

/// srecap's stored state.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The secret store's entries under `<namespace>/<environment>` (I35), pending
    /// ones included.
    pub records: BTreeMap<String, StoredRecord>,
    /// The client-secret fingerprint each provider was last written with, by cluster
    /// id and provider name. The executor stores it after a successful create or
    /// update and drops it after a delete; OCM never returns secrets, so this is how
    /// a re-registered client is noticed (W5).
    pub idp_fingerprints: BTreeMap<String, BTreeMap<String, String>>,
}

/// Plans passes with fixed settings.
#[derive(Debug, Clone)]
pub struct Planner {
    settings: Settings,
}

/// The planned client action for a wanted key, as the provider phase needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStep {
    /// Registered and in step.
    Ready,
    /// Created (or re-registered) in this pass: a new secret.
    Create,
    /// Updated in this pass: same secret, maybe another group filter.
    Update,
    /// Nothing usable: unreadable, or issuer mismatch (I48).
    Unresolved,
}

/// Who a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner<'a> {
    Discovered(&'a str),
    Existing,
    Gone,
}

struct ClusterEntry<'a> {
    cluster: &'a DiscoveredCluster,
    status: Option<Status>,
    disposition: Disposition,
    problems: Vec<crate::problem::Problem>,
    waiting: Vec<String>,
    /// Listed providers `enforced` would delete but the allow-list keeps (W9).
    kept_idps: Vec<String>,
}

impl Planner {
    pub fn new(settings: Settings) -> Planner {
        Planner { settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clusters whose provider lists a pass needs (I47), by id: the reconciler
    /// asks instead of deciding. Clusters without a console URL, with external
    /// authentication or with configuration errors are never touched, so their
    /// lists are not fetched (a step towards W21). `snapshot.identity_providers` is
    /// not read.
    pub fn provider_lists_needed<'a>(&self, snapshot: &'a Snapshot) -> Vec<&'a str> {
        let mut errors = Vec::new();
        let mut clusters = self.evaluate(snapshot);
        // Duplicate keys freeze clusters too.
        desired_clients(&mut clusters, &mut errors);
        clusters
            .into_iter()
            .filter(|(_, e)| matches!(e.disposition, Disposition::Off { .. } | Disposition::On(_)))
            .map(|(id, _)| id)
            .collect()
    }

    /// Plan one pass.
    pub fn plan(&self, snapshot: &Snapshot, state: &State, now: Timestamp) -> Plan {
        let mut errors = Vec::new();
        let mut clusters = self.evaluate(snapshot);
        let desired = desired_clients(&mut clusters, &mut errors);
        let owners: BTreeMap<&str, Owner<'_>> = state
            .records
            .iter()
            .map(|(name, r)| (name.as_str(), owner(name, r, &clusters, snapshot)))
            .collect();

        // Client steps for wanted keys first: the provider phase depends on them.
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        let mut steps: BTreeMap<&str, ClientStep> = BTreeMap::new();
        for (key, client) in &desired {
            let step = match state.records.get(key.as_str()) {
                None => {
                    creates.push(SsoClientAction::Create {
                        client: client.clone(),
                        retry_of_pending: false,
                    });
                    ClientStep::Create
                }
                Some(StoredRecord::Unreadable(e)) => {
                    errors.push(OperatorError {
                        code: OperatorCode::RecordUnreadable,
                        cluster_id: Some(client.cluster_id.clone()),
                        sso_client_id: Some(key.clone()),
                        message: format!("client record {key}: {e}; repair or delete it"),
                        fails_pass: false,
                    });
                    ClientStep::Unresolved
                }
                Some(StoredRecord::Record(r)) if r.state == RecordState::Pending => {
                    creates.push(SsoClientAction::Create {
                        client: client.clone(),
                        retry_of_pending: true,
                    });
                    ClientStep::Create
                }
                Some(StoredRecord::Record(r)) if r.issuer != client.issuer => {
                    errors.push(OperatorError {
                        code: OperatorCode::IssuerMismatch,
                        cluster_id: Some(client.cluster_id.clone()),
                        sso_client_id: Some(key.clone()),
                        message: format!(
                            "SSO client {key}: SSO client issuer {} does not match configured cluster issuer {}",
                            r.issuer, client.issuer
                        ),
                        fails_pass: true,
                    });
                    ClientStep::Unresolved
                }
                Some(StoredRecord::Record(r)) => {
                    let changes = client_changes(r, client);
                    if changes.is_empty() {
                        ClientStep::Ready
                    } else {
                        updates.push(SsoClientAction::Update {
                            client: client.clone(),
                            changes,
                        });
                        ClientStep::Update
                    }
                }
            };
            steps.insert(key.as_str(), step);
        }

        // Provider phase, per cluster in id order.
        let mut idp_deletes: Vec<IdpAction> = Vec::new();
        let mut idp_writes: Vec<IdpAction> = Vec::new();
        let mut idp_trailing: Vec<IdpAction> = Vec::new();
        let mut idp_total = 0;
        for entry in clusters.values_mut() {
            let Some(IdpListing::Listed(listing)) =
                snapshot.identity_providers.get(&entry.cluster.id)
            else {
                continue;
            };
            idp_total += listing.len();
            let owned = owned_client_ids(&entry.cluster.id, state, &owners);
            plan_providers(
                entry,
                listing,
                &owned,
                state,
                &steps,
                &mut idp_deletes,
                &mut idp_writes,
                &mut idp_trailing,
                &mut errors,
            );
        }
        let deleted_idps: BTreeSet<(&str, &str)> = idp_deletes
            .iter()
            .filter_map(|a| match a {
                IdpAction::Delete {
                    cluster_id, idp_id, ..
                } => Some((cluster_id.as_str(), idp_id.as_str())),
                _ => None,
            })
            .collect();

        // Client deletes: records whose key is not wanted.
        let mut deletes = Vec::new();
        for (name, stored) in &state.records {
            if desired.contains_key(name) {
                continue;
            }
            let record = match stored {
                StoredRecord::Record(r) => r,
                StoredRecord::Unreadable(e) => {
                    // Without its RAT and issuer the client cannot be deleted (I40).
                    errors.push(OperatorError {
                        code: OperatorCode::RecordUnreadable,
                        cluster_id: None,
                        sso_client_id: Some(name.clone()),
                        message: format!("client record {name}: {e}; repair or delete it"),
                        fails_pass: false,
                    });
                    continue;
                }
            };
            let Some((reason, after)) = client_deletion(
                record,
                owners[name.as_str()],
                &clusters,
                snapshot,
                &deleted_idps,
            ) else {
                continue;
            };
            let record_only = record.state == RecordState::Pending;
            if record_only {
                errors.push(OperatorError {
                    code: OperatorCode::PossibleOrphan,
                    cluster_id: record.cluster_id.clone(),
                    sso_client_id: Some(name.clone()),
                    message: format!(
                        "pending client record {name} is no longer wanted; if a Keycloak client {name} exists in the realm, delete it there"
                    ),
                    fails_pass: false,
                });
            }
            deletes.push(SsoClientAction::Delete {
                sso_client_id: name.clone(),
                reason,
                record_only,
                after_idp_deletes: after,
            });
        }

        // The guard counts and withholds the trailing deletes with the others.
        let trailing_from = idp_deletes.len();
        idp_deletes.append(&mut idp_trailing);
        let guard = self.guard(
            &mut deletes,
            &mut idp_deletes,
            state.records.len(),
            idp_total,
            &mut errors,
        );

        let facts = facts(&clusters, state, guard.as_ref());
        let mut actions: Vec<Action> = Vec::new();
        let trailing = if idp_deletes.len() >= trailing_from {
            idp_deletes.split_off(trailing_from)
        } else {
            Vec::new()
        };
        actions.extend(idp_deletes.into_iter().map(Action::IdentityProvider));
        actions.extend(deletes.into_iter().map(Action::SsoClient));
        actions.extend(creates.into_iter().map(Action::SsoClient));
        actions.extend(updates.into_iter().map(Action::SsoClient));
        let (idp_creates, idp_updates): (Vec<_>, Vec<_>) = idp_writes
            .into_iter()
            .partition(|a| matches!(a, IdpAction::Create { .. }));
        actions.extend(idp_creates.into_iter().map(Action::IdentityProvider));
        actions.extend(idp_updates.into_iter().map(Action::IdentityProvider));
        actions.extend(trailing.into_iter().map(Action::IdentityProvider));

        let clusters = clusters
            .into_values()
            .map(|e| ClusterPlan {
                cluster_id: e.cluster.id.clone(),
                cluster_uuid: e.cluster.external_id.clone(),
                name: e.cluster.name.clone(),
                organization_id: e.cluster.organization_id.clone(),
                effective_status: e.status,
                identity_providers: match snapshot.identity_providers.get(&e.cluster.id) {
                    Some(IdpListing::Listed(_)) => IdpListState::Listed,
                    _ => IdpListState::Unreadable,
                },
                service_logs: ServiceLog::for_problems(&e.cluster.external_id, &e.problems),
                disposition: e.disposition,
                problems: e.problems,
                waiting: e.waiting,
                kept_idps: e.kept_idps,
            })
            .collect();
        Plan {
            now,
            ocm_environment: snapshot.ocm_environment.clone(),
            actions,
            clusters,
            operator_errors: errors,
            deletions_blocked: guard,
            facts,
        }
    }

    fn evaluate<'a>(&self, snapshot: &'a Snapshot) -> BTreeMap<&'a str, ClusterEntry<'a>> {
        let mut out = BTreeMap::new();
        for c in &snapshot.clusters {
            // The first of duplicate ids wins: discovery lists each cluster once.
            out.entry(c.id.as_str()).or_insert_with(|| {
                let eval = cluster::evaluate(
                    c,
                    snapshot.organizations.get(&c.organization_id),
                    &self.settings,
                );
                ClusterEntry {
                    cluster: c,
                    status: eval.status,
                    disposition: eval.disposition,
                    problems: eval.problems,
                    waiting: Vec::new(),
                    kept_idps: Vec::new(),
                }
            });
        }
        out
    }
}

/// I46–I54 with the srecap rules (W3, W5, W8, W19) for one listed cluster.
#[allow(clippy::too_many_arguments)]
fn plan_providers(
    entry: &mut ClusterEntry<'_>,
    listing: &[CurrentIdp],
    owned: &BTreeSet<String>,
    state: &State,
    steps: &BTreeMap<&str, ClientStep>,
    deletes: &mut Vec<IdpAction>,
    writes: &mut Vec<IdpAction>,
    trailing: &mut Vec<IdpAction>,
    errors: &mut Vec<OperatorError>,
) {
    let ClusterEntry {
        cluster: c,
        disposition,
        waiting,
        kept_idps,
        ..
    } = entry;
    let c: &DiscoveredCluster = c;
    // A provider delete; `after` names the managed provider whose write it
    // waits for (W8 cleanup, planned last).
    let removal = |idp: &CurrentIdp,
                   reason: IdpDeleteReason,
                   after: Option<&str>,
                   notice: Option<ServiceLog>,
                   errors: &mut Vec<OperatorError>| {
        let Some(id) = &idp.id else {
            errors.push(without_id(c, &idp.name, "delete"));
            return None;
        };
        Some(IdpAction::Delete {
            cluster_id: c.id.clone(),
            cluster_name: c.name.clone(),
            idp_name: idp.name.clone(),
            idp_id: id.clone(),
            reason,
            after_provider: after.map(str::to_owned),
            notice,
        })
    };
    let mut delete = |idp: &CurrentIdp,
                      reason: IdpDeleteReason,
                      notice: Option<ServiceLog>,
                      errors: &mut Vec<OperatorError>| {
        deletes.extend(removal(idp, reason, None, notice, errors));
    };
    let mut trailing_delete = |idp: &CurrentIdp,
                               reason: IdpDeleteReason,
                               after: &str,
                               errors: &mut Vec<OperatorError>| {
        trailing.extend(removal(idp, reason, Some(after), None, errors));
    };
    let config: &ClusterConfig = match disposition {
        Disposition::NoConsole | Disposition::Frozen | Disposition::ExternalAuth { .. } => {
            return;
        }
        Disposition::Off {
            reason,
            managed_name,
        } => {
            for idp in listing {
                let managed = managed_name.as_deref() == Some(idp.name.as_str());
                if managed || idp.client_id().is_some_and(|id| owned.contains(id)) {
                    // Notice only when the switch-off is the owners' own doing.
                    let notice = (managed && *reason == cluster::OffReason::Disabled)
                        .then(|| ServiceLog::removed(&c.external_id, &idp.name));
                    delete(idp, IdpDeleteReason::NotWanted, notice, errors);
                }
            }
            return;
        }
        Disposition::On(config) => config,
    };
    if !config.switches.idp {
        // sso-client-only: the managed provider goes, the client stays (I57).
        for idp in listing {
            if idp.name == config.auth_name || idp.client_id().is_some_and(|id| owned.contains(id))
            {
                delete(idp, IdpDeleteReason::NotWanted, None, errors);
            }
        }
        return;
    }

    let step = steps
        .get(config.key.as_str())
        .copied()
        .unwrap_or(ClientStep::Unresolved);
    let record = match state.records.get(&config.key) {
        Some(StoredRecord::Record(r)) => Some(r.as_ref()),
        _ => None,
    };
    let (client_id, with_groups, new_secret) = match (step, record) {
        (ClientStep::Unresolved, _) => {
            // I49: the managed provider is protected; W8: so are the others.
            waiting.push("the SSO client record is not usable; providers untouched".into());
            return;
        }
        (ClientStep::Create, _) => (config.key.clone(), config.group_filter.is_some(), true),
        (ClientStep::Update, Some(r)) => {
            (r.client_id.clone(), config.group_filter.is_some(), false)
        }
        (ClientStep::Ready, Some(r)) => (r.client_id.clone(), r.group_filter().is_some(), false),
        (ClientStep::Update | ClientStep::Ready, None) => return,
    };
    let after_client = (step != ClientStep::Ready).then(|| config.key.clone());
    let desired = DesiredIdp {
        name: config.auth_name.clone(),
        client_id,
        issuer: config.issuer.clone(),
        claims: Claims::desired(with_groups),
    };

    let mut matches = false;
    let writes_before = writes.len();
    match listing.iter().find(|i| i.name == config.auth_name) {
        None => writes.push(IdpAction::Create {
            cluster_id: c.id.clone(),
            cluster_name: c.name.clone(),
            idp: desired,
            secret_from: config.key.clone(),
            after_client,
            notice: Some(ServiceLog::created(&c.external_id, &config.auth_name)),
        }),
        Some(current) if !current.is_openid() => {
            delete(current, IdpDeleteReason::WrongType, None, errors);
            writes.push(IdpAction::Create {
                cluster_id: c.id.clone(),
                cluster_name: c.name.clone(),
                idp: desired,
                secret_from: config.key.clone(),
                after_client,
                notice: Some(ServiceLog::created(&c.external_id, &config.auth_name)),
            });
        }
        Some(current) => {
            let mut differences = desired.differences(current);
            let applied = state
                .idp_fingerprints
                .get(&c.id)
                .and_then(|m| m.get(&config.auth_name));
            let secret_changed = new_secret
                || record
                    .and_then(ClientRecord::fingerprint)
                    .is_some_and(|fp| applied != Some(&fp));
            if secret_changed {
                differences.push(Difference::Secret);
            }
            if differences.is_empty() {
                matches = true;
            } else if let Some(id) = &current.id {
                writes.push(IdpAction::Update {
                    cluster_id: c.id.clone(),
                    cluster_name: c.name.clone(),
                    idp_id: id.clone(),
                    idp: desired,
                    secret_from: config.key.clone(),
                    after_client,
                    differences,
                });
            } else {
                errors.push(without_id(c, &current.name, "update"));
            }
        }
    }

    let managed_write = writes.len() > writes_before;
    // What happens to each provider other than the managed one: srecap's own
    // under an old name go (W3, whatever the allow-list says: they point at a
    // client srecap deletes); foreign ones go when `enforced`, unless the
    // allow-list keeps them (W9).
    let mut removals = Vec::new();
    for idp in listing.iter().filter(|i| i.name != config.auth_name) {
        if idp.client_id().is_some_and(|id| owned.contains(id)) {
            removals.push((idp, IdpDeleteReason::Renamed));
        } else if config.switches.enforced {
            if config.keep_idps.contains(&idp.name) {
                kept_idps.push(idp.name.clone());
            } else {
                removals.push((idp, IdpDeleteReason::Enforced));
            }
        }
    }
    if matches {
        for (idp, reason) in removals {
            delete(idp, reason, None, errors);
        }
    } else if managed_write {
        // W8 within one pass: the others go after the managed provider's
        // create or update, and only if it succeeded.
        for (idp, reason) in removals {
            trailing_delete(idp, reason, &config.auth_name, errors);
        }
    } else if !removals.is_empty() {
        waiting.push(format!(
            "other identity providers are removed once {} exists and matches",
            config.auth_name
        ));
    }
}

impl Planner {
    /// I59: withhold all deletes of a kind when there are more than max(5, 10 %).
    fn guard(
        &self,
        client_deletes: &mut Vec<SsoClientAction>,
        idp_deletes: &mut Vec<IdpAction>,
        clients: usize,
        idps: usize,
        errors: &mut Vec<OperatorError>,
    ) -> Option<DeletionGuard> {
        if self.settings.allow_mass_deletion {
            return None;
        }
        let exceeds = |n: usize, total: usize| n > GUARD_MIN_DELETES && n * 10 > total;
        let idp_count = idp_deletes.len();
        let idps_blocked = exceeds(idp_count, idps);
        if idps_blocked {
            idp_deletes.clear();
            // A client whose provider stays must stay too (I58).
            client_deletes.retain(|a| {
                !matches!(a, SsoClientAction::Delete { after_idp_deletes, .. } if !after_idp_deletes.is_empty())
            });
        }
        let client_count = client_deletes.len();
        let clients_blocked = exceeds(client_count, clients);
        if clients_blocked {
            client_deletes.clear();
        }
        if !(idps_blocked || clients_blocked) {
            return None;
        }
        errors.push(OperatorError {
            code: OperatorCode::DeletionsBlocked,
            cluster_id: None,
            sso_client_id: None,
            message: format!(
                "deletions withheld: {client_count} of {clients} SSO clients and {idp_count} of {idps} identity providers would be deleted (more than max({GUARD_MIN_DELETES}, 10 %)); check discovery, or allow mass deletion"
            ),
            fails_pass: true,
        });
        Some(DeletionGuard {
            sso_client_deletes: client_count,
            sso_clients: clients,
            sso_clients_blocked: clients_blocked,
            idp_deletes: idp_count,
            idps,
            idps_blocked,
        })
    }
}

fn without_id(c: &DiscoveredCluster, name: &str, what: &str) -> OperatorError {
    OperatorError {
        code: OperatorCode::IdpWithoutId,
        cluster_id: Some(c.id.clone()),
        sso_client_id: None,
        message: format!(
            "cannot {what} identity provider {name:?} of cluster {}: OCM listed it without an id",
            c.name
        ),
        fails_pass: true,
    }
}

/// I19: the wanted clients by key. A key two clusters want is kept by the first
/// cluster (by id); the second is frozen.
fn desired_clients(
    clusters: &mut BTreeMap<&str, ClusterEntry<'_>>,
    errors: &mut Vec<OperatorError>,
) -> BTreeMap<String, DesiredClient> {
    let mut desired: BTreeMap<String, DesiredClient> = BTreeMap::new();
    for entry in clusters.values_mut() {
        let Disposition::On(config) = &entry.disposition else {
            continue;
        };
        let c = entry.cluster;
        if !config.redirect_recognised {
            errors.push(OperatorError {
                code: OperatorCode::RedirectUnrecognised,
                cluster_id: Some(c.id.clone()),
                sso_client_id: Some(config.key.clone()),
                message: format!(
                    "console URL {:?} of cluster {} matches no known pattern; redirect URI {} is probably wrong",
                    c.console_url.as_deref().unwrap_or_default(),
                    c.name,
                    config.redirect_uri
                ),
                fails_pass: false,
            });
        }
        if let Some(other) = desired.get(&config.key) {
            errors.push(OperatorError {
                code: OperatorCode::DuplicateKey,
                cluster_id: Some(c.id.clone()),
                sso_client_id: Some(config.key.clone()),
                message: format!(
                    "clusters {} and {} both want SSO client {}; cluster {} is left alone",
                    other.cluster_id, c.id, config.key, c.id
                ),
                fails_pass: true,
            });
            entry.disposition = Disposition::Frozen;
            continue;
        }
        desired.insert(
            config.key.clone(),
            DesiredClient {
                key: config.key.clone(),
                cluster_id: c.id.clone(),
                cluster_uuid: c.external_id.clone(),
                cluster_name: c.name.clone(),
                organization_id: c.organization_id.clone(),
                auth_name: config.auth_name.clone(),
                issuer: config.issuer.clone(),
                redirect_uri: config.redirect_uri.clone(),
                group_filter: config.group_filter.clone(),
            },
        );
    }
    // Clients of sso-client-only clusters are wanted too; the loop above covers
    // every `On` cluster since all of them want a client (I7).
    desired
}

/// Drift of a registered client from its desired state (W6, W7).
fn client_changes(record: &ClientRecord, client: &DesiredClient) -> Vec<ClientChange> {
    let mut changes = Vec::new();
    let want = vec![client.redirect_uri.clone()];
    if record.redirect_uris != want {
        changes.push(ClientChange::RedirectUris {
            from: record.redirect_uris.clone(),
            to: want,
        });
    }
    if record.group_filter() != client.group_filter.as_deref() {
        changes.push(ClientChange::GroupFilter {
            from: record.group_filter().map(str::to_owned),
            to: client.group_filter.clone(),
        });
    }
    changes
}

/// Who a record belongs to: its `cluster_id`, or for reference records (no srecap
/// fields) the cluster whose `<name>-<org>-` starts the key (I71, adoption).
fn owner<'a>(
    name: &str,
    stored: &StoredRecord,
    clusters: &BTreeMap<&'a str, ClusterEntry<'a>>,
    snapshot: &Snapshot,
) -> Owner<'a> {
    let record = match stored {
        StoredRecord::Record(r) => Some(r.as_ref()),
        StoredRecord::Unreadable(_) => None,
    };
    if let Some(id) = record.and_then(|r| r.cluster_id.as_deref()) {
        if let Some((id, _)) = clusters.get_key_value(id) {
            return Owner::Discovered(id);
        }
        return if snapshot.existing_clusters.iter().any(|e| e.id == id) {
            Owner::Existing
        } else {
            Owner::Gone
        };
    }
    let org = record.and_then(|r| r.organization_id.as_deref());
    let matches = |cluster: &str, organization: &str| {
        org.is_none_or(|o| o == organization)
            && name
                .strip_prefix(cluster)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.strip_prefix(organization))
                .is_some_and(|r| r.starts_with('-'))
    };
    // The longest matching name wins (`a-b` over `a` for key `a-b-org-…`).
    if let Some((id, _)) = clusters
        .iter()
        .filter(|(_, e)| matches(&e.cluster.name, &e.cluster.organization_id))
        .max_by_key(|(id, e)| (e.cluster.name.len(), std::cmp::Reverse(**id)))
    {
        return Owner::Discovered(id);
    }
    if snapshot
        .existing_clusters
        .iter()
        .any(|e| matches(&e.name, &e.organization_id))
    {
        Owner::Existing
    } else {
        Owner::Gone
    }
}

/// Client ids of the records a cluster owns: providers pointing at them are srecap's.
fn owned_client_ids(
    cluster_id: &str,
    state: &State,
    owners: &BTreeMap<&str, Owner<'_>>,
) -> BTreeSet<String> {
    state
        .records
        .iter()
        .filter(|(name, _)| owners.get(name.as_str()) == Some(&Owner::Discovered(cluster_id)))
        .flat_map(|(name, r)| {
            let mut ids = vec![name.clone()];
            if let StoredRecord::Record(r) = r {
                ids.push(r.client_id.clone());
            }
            ids
        })
        .collect()
}

/// Whether an unwanted record goes now (I57, I58), why, and after which provider
/// deletes.
fn client_deletion(
    record: &ClientRecord,
    owner: Owner<'_>,
    clusters: &BTreeMap<&str, ClusterEntry<'_>>,
    snapshot: &Snapshot,
    deleted_idps: &BTreeSet<(&str, &str)>,
) -> Option<(ClientDeleteReason, Vec<IdpRef>)> {
    let id = match owner {
        // Never delete for a cluster that still exists but was not discovered
        // (not ready, hibernating): W5.
        Owner::Existing => return None,
        Owner::Gone => return Some((ClientDeleteReason::ClusterGone, Vec::new())),
        Owner::Discovered(id) => id,
    };
    match &clusters.get(id)?.disposition {
        Disposition::NoConsole
        | Disposition::Frozen
        | Disposition::ExternalAuth { frozen: true } => None,
        Disposition::ExternalAuth { frozen: false } => {
            Some((ClientDeleteReason::ExternalAuth, Vec::new()))
        }
        Disposition::Off { .. } | Disposition::On(_) => {
            let Some(IdpListing::Listed(listing)) = snapshot.identity_providers.get(id) else {
                // The provider cannot be confirmed absent.
                return None;
            };
            let mut after = Vec::new();
            for idp in listing
                .iter()
                .filter(|i| i.client_id() == Some(record.client_id.as_str()))
            {
                let idp_id = idp.id.as_deref()?;
                if !deleted_idps.contains(&(id, idp_id)) {
                    return None;
                }
                after.push(IdpRef {
                    cluster_id: id.to_owned(),
                    idp_id: idp_id.to_owned(),
                });
            }
            Some((ClientDeleteReason::NotWanted, after))
        }
    }
}

fn facts(
    clusters: &BTreeMap<&str, ClusterEntry<'_>>,
    state: &State,
    guard: Option<&DeletionGuard>,
) -> Facts {
    let mut facts = Facts {
        clients: state.records.len() as u64,
        deletions_blocked: guard.is_some(),
        ..Facts::default()
    };
    for e in clusters.values() {
        let org = &e.cluster.organization_id;
        if e.disposition.is_managed() {
            *facts.managed_clusters.entry(org.clone()).or_default() += 1;
        }
        let allowed = !matches!(
            e.disposition,
            Disposition::Off {
                reason: cluster::OffReason::OrganizationNotAllowed,
                ..
            }
        );
        if allowed {
            *facts.validation_errors.entry(org.clone()).or_default() +=
                e.problems
                    .iter()
                    .filter(|p| p.level == Level::Error)
                    .count() as u64;
        }
    }
    facts
}
