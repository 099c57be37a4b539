//! A small world for planner tests: a snapshot, the stored state, and an
//! in-memory executor that applies a plan the way the real executor must (actions
//! in order, dependent actions skipped when what they depend on failed), so
//! multi-pass transitions (I57) can be followed to their fixed point.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use srecap_rhidp::client::DesiredClient;
use srecap_rhidp::cluster::{DiscoveredCluster, Organization};
use srecap_rhidp::idp::{Claims, CurrentIdp, MAPPING_METHOD, OPENID, OpenIdSettings};
use srecap_rhidp::labels::GROUP_FILTER_REGEX;
use srecap_rhidp::plan::{Action, IdpAction, Plan, SsoClientAction};
use srecap_rhidp::record::{ClientRecord, Registration, Secret, StoredRecord};
use srecap_rhidp::settings::{KeycloakInstance, Settings};
use srecap_rhidp::{ExistingCluster, IdpListing, Planner, Snapshot, State};

pub const ISSUER: &str = "https://issuer.example.com/auth/realms/EmployeeIDP";
pub const ENV: &str = "production";

pub fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

pub fn settings() -> Settings {
    Settings::with_defaults(
        "redhat-sso",
        ISSUER,
        [
            ISSUER,
            "https://issuer.com",
            "https://custom-issuer",
            "https://foobar.com",
            "https://issuer.example.com/auth/realms/Other",
            "https://other-host.example.com/auth/realms/EmployeeIDP",
        ]
        .into_iter()
        .map(|i| KeycloakInstance { issuer: i.into() })
        .collect(),
    )
    .unwrap()
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A ready cluster with an OSD console, in an allowed organization.
pub fn cluster(id: &str, name: &str, org: &str, sub: &[(&str, &str)]) -> DiscoveredCluster {
    DiscoveredCluster {
        id: id.into(),
        external_id: format!("uuid-{id}"),
        name: name.into(),
        organization_id: org.into(),
        console_url: Some(format!(
            "https://console-openshift-console.apps.{name}.abcd.p1.openshiftapps.com"
        )),
        external_auth: false,
        labels: labels(sub),
    }
}

pub fn openid(id: &str, name: &str, client_id: &str, issuer: &str, groups: bool) -> CurrentIdp {
    CurrentIdp {
        id: Some(id.into()),
        kind: OPENID.into(),
        name: name.into(),
        mapping_method: Some(MAPPING_METHOD.into()),
        open_id: Some(OpenIdSettings {
            client_id: client_id.into(),
            issuer: issuer.into(),
            claims: Claims::desired(groups),
        }),
    }
}

pub fn github(id: &str, name: &str) -> CurrentIdp {
    CurrentIdp {
        id: Some(id.into()),
        kind: "GithubIdentityProvider".into(),
        name: name.into(),
        mapping_method: Some("claim".into()),
        open_id: None,
    }
}

/// The redirect URI of a [`cluster`] for an auth name (I20, branch 2).
pub fn redirect(name: &str, auth_name: &str) -> String {
    format!(
        "https://oauth-openshift.apps.{name}.abcd.p1.openshiftapps.com/oauth2callback/{auth_name}"
    )
}

/// A registered record as the reference writes it (no srecap fields).
pub fn reference_record(key: &str, issuer: &str, secret: &str) -> ClientRecord {
    ClientRecord::from_json(
        &serde_json::json!({
            "client_id": key, "client_name": key, "client_secret": secret,
            "redirect_uris": [], "registration_access_token": "rat",
            "registration_client_uri": format!("{issuer}/clients-registrations/default/{key}"),
            "issuer": issuer, "attributes": null
        })
        .to_string(),
    )
    .unwrap()
}

#[derive(Debug, Clone)]
pub struct World {
    pub snapshot: Snapshot,
    pub state: State,
    pub planner: Planner,
    next_id: u32,
    /// Keycloak: client ids registered, with their current secret.
    pub keycloak: BTreeMap<String, String>,
    /// Actions the executor is told fail (by a short description, see [`describe`]).
    pub failing: BTreeSet<String>,
}

impl Default for World {
    fn default() -> World {
        World {
            snapshot: Snapshot {
                ocm_environment: ENV.into(),
                ..Snapshot::default()
            },
            state: State::default(),
            planner: Planner::new(settings()),
            next_id: 0,
            keycloak: BTreeMap::new(),
            failing: BTreeSet::new(),
        }
    }
}

impl World {
    pub fn org(&mut self, id: &str, org_labels: &[(&str, &str)]) -> &mut World {
        self.snapshot.organizations.insert(
            id.into(),
            Organization {
                labels: labels(org_labels),
                allowed: true,
            },
        );
        self
    }

    /// Add a cluster (its organization too, allowed, if unknown) with an empty,
    /// readable provider list.
    pub fn cluster(&mut self, c: DiscoveredCluster) -> &mut World {
        if !self.snapshot.organizations.contains_key(&c.organization_id) {
            let org = c.organization_id.clone();
            self.org(&org, &[]);
        }
        self.snapshot
            .identity_providers
            .entry(c.id.clone())
            .or_insert(IdpListing::Listed(Vec::new()));
        self.snapshot.existing_clusters.push(ExistingCluster {
            id: c.id.clone(),
            name: c.name.clone(),
            organization_id: c.organization_id.clone(),
        });
        self.snapshot.clusters.push(c);
        self
    }

    pub fn idps(&mut self, cluster_id: &str, idps: Vec<CurrentIdp>) -> &mut World {
        self.snapshot
            .identity_providers
            .insert(cluster_id.into(), IdpListing::Listed(idps));
        self
    }

    pub fn record(&mut self, key: &str, record: ClientRecord) -> &mut World {
        if let Some(s) = &record.client_secret {
            self.keycloak
                .insert(record.client_id.clone(), s.expose().to_owned());
        }
        self.state
            .records
            .insert(key.into(), StoredRecord::Record(Box::new(record)));
        self
    }

    /// Mark a provider as written with the record's current secret.
    pub fn applied(&mut self, cluster_id: &str, idp_name: &str, key: &str) -> &mut World {
        let fp = match &self.state.records[key] {
            StoredRecord::Record(r) => r.fingerprint().unwrap(),
            StoredRecord::Unreadable(_) => panic!("unreadable"),
        };
        self.state
            .idp_fingerprints
            .entry(cluster_id.into())
            .or_default()
            .insert(idp_name.into(), fp);
        self
    }

    pub fn labels_of(&mut self, cluster_id: &str) -> &mut BTreeMap<String, String> {
        &mut self
            .snapshot
            .clusters
            .iter_mut()
            .find(|c| c.id == cluster_id)
            .unwrap()
            .labels
    }

    pub fn cluster_mut(&mut self, cluster_id: &str) -> &mut DiscoveredCluster {
        self.snapshot
            .clusters
            .iter_mut()
            .find(|c| c.id == cluster_id)
            .unwrap()
    }

    pub fn plan(&self) -> Plan {
        self.planner.plan(&self.snapshot, &self.state, now())
    }

    pub fn listing(&self, cluster_id: &str) -> &[CurrentIdp] {
        match self.snapshot.identity_providers.get(cluster_id) {
            Some(IdpListing::Listed(l)) => l,
            _ => &[],
        }
    }

    pub fn idp_names(&self, cluster_id: &str) -> Vec<String> {
        self.listing(cluster_id)
            .iter()
            .map(|i| i.name.clone())
            .collect()
    }

    pub fn record_keys(&self) -> Vec<String> {
        self.state.records.keys().cloned().collect()
    }

    /// Plan and apply one pass; returns the plan.
    pub fn pass(&mut self) -> Plan {
        let plan = self.plan();
        self.apply(&plan);
        plan
    }

    /// Passes until a plan has no action (at most `max`); returns how many passes
    /// had actions.
    pub fn converge(&mut self, max: usize) -> usize {
        for n in 0..max {
            if self.pass().actions.is_empty() {
                return n;
            }
        }
        panic!(
            "no fixed point after {max} passes: {:?}",
            describe(&self.plan())
        );
    }

    fn fresh_id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}-{}", self.next_id)
    }

    /// The executor contract: actions in order; a client delete runs only if the
    /// provider deletes it waits for succeeded; a provider create or update runs
    /// only if the client action it waits for succeeded, with the secret of the
    /// record it names.
    pub fn apply(&mut self, plan: &Plan) {
        let mut failed: BTreeSet<String> = BTreeSet::new();
        // Managed providers whose create or update failed or was skipped.
        let mut unwritten: BTreeSet<(String, String)> = BTreeSet::new();
        let descriptions = describe(plan);
        for (action, description) in plan.actions.iter().zip(descriptions) {
            let write = match action {
                Action::IdentityProvider(
                    IdpAction::Create {
                        cluster_id, idp, ..
                    }
                    | IdpAction::Update {
                        cluster_id, idp, ..
                    },
                ) => Some((cluster_id.clone(), idp.name.clone())),
                _ => None,
            };
            if self.failing.contains(&description) {
                failed.insert(description);
                unwritten.extend(write);
                continue;
            }
            match action {
                Action::IdentityProvider(IdpAction::Delete {
                    cluster_id,
                    idp_id,
                    idp_name,
                    after_provider,
                    ..
                }) => {
                    if after_provider
                        .as_ref()
                        .is_some_and(|n| unwritten.contains(&(cluster_id.clone(), n.clone())))
                    {
                        failed.insert(description);
                        continue;
                    }
                    if let Some(IdpListing::Listed(l)) =
                        self.snapshot.identity_providers.get_mut(cluster_id)
                    {
                        l.retain(|i| i.id.as_deref() != Some(idp_id));
                    }
                    if let Some(m) = self.state.idp_fingerprints.get_mut(cluster_id) {
                        m.remove(idp_name);
                    }
                }
                Action::SsoClient(SsoClientAction::Delete {
                    sso_client_id,
                    after_idp_deletes,
                    ..
                }) => {
                    let blocked = after_idp_deletes.iter().any(|r| {
                        failed.iter().any(|f| {
                            f.starts_with("idp delete ") && f.ends_with(&format!("#{}", r.idp_id))
                        })
                    });
                    if blocked {
                        failed.insert(format!("client delete {sso_client_id}"));
                        continue;
                    }
                    self.keycloak.remove(sso_client_id);
                    self.state.records.remove(sso_client_id);
                }
                Action::SsoClient(SsoClientAction::Create { client, .. }) => {
                    let secret = self.fresh_id("secret");
                    self.keycloak.insert(client.key.clone(), secret.clone());
                    let record = registered(client, &secret);
                    self.state
                        .records
                        .insert(client.key.clone(), StoredRecord::Record(Box::new(record)));
                }
                Action::SsoClient(SsoClientAction::Update { client, .. }) => {
                    if let Some(StoredRecord::Record(r)) = self.state.records.get_mut(&client.key) {
                        r.redirect_uris = vec![client.redirect_uri.clone()];
                        r.attributes = client
                            .group_filter
                            .iter()
                            .map(|g| (GROUP_FILTER_REGEX.to_owned(), g.clone()))
                            .collect();
                    }
                }
                Action::IdentityProvider(
                    IdpAction::Create {
                        cluster_id,
                        idp,
                        secret_from,
                        after_client,
                        ..
                    }
                    | IdpAction::Update {
                        cluster_id,
                        idp,
                        secret_from,
                        after_client,
                        ..
                    },
                ) => {
                    if after_client.as_ref().is_some_and(|k| {
                        failed.contains(&format!("client create {k}"))
                            || failed.contains(&format!("client update {k}"))
                    }) {
                        unwritten.extend(write);
                        continue;
                    }
                    let Some(StoredRecord::Record(r)) = self.state.records.get(secret_from) else {
                        panic!("provider action without its record {secret_from}");
                    };
                    let fp = r.fingerprint().unwrap();
                    let id = match action {
                        Action::IdentityProvider(IdpAction::Update { idp_id, .. }) => {
                            idp_id.clone()
                        }
                        _ => self.fresh_id("idp"),
                    };
                    let new = CurrentIdp {
                        id: Some(id.clone()),
                        kind: OPENID.into(),
                        name: idp.name.clone(),
                        mapping_method: Some(MAPPING_METHOD.into()),
                        open_id: Some(OpenIdSettings {
                            client_id: idp.client_id.clone(),
                            issuer: idp.issuer.clone(),
                            claims: idp.claims.clone(),
                        }),
                    };
                    if let Some(IdpListing::Listed(l)) =
                        self.snapshot.identity_providers.get_mut(cluster_id)
                    {
                        l.retain(|i| i.id.as_deref() != Some(id.as_str()));
                        l.push(new);
                    }
                    self.state
                        .idp_fingerprints
                        .entry(cluster_id.clone())
                        .or_default()
                        .insert(idp.name.clone(), fp);
                }
            }
        }
    }
}

pub fn registered(client: &DesiredClient, secret: &str) -> ClientRecord {
    ClientRecord::registered(
        client,
        Registration {
            client_id: client.key.clone(),
            secret: Secret::new(secret),
            redirect_uris: vec![client.redirect_uri.clone()],
            registration_access_token: Secret::new(format!("rat-{secret}")),
            attributes: client
                .group_filter
                .iter()
                .map(|g| (GROUP_FILTER_REGEX.to_owned(), g.clone()))
                .collect(),
        },
        ENV,
        now(),
    )
}

/// One short line per action: `idp delete <cluster name>/<idp name>#<id>`,
/// `client delete <key>`, `client create <key>`, `client update <key>`,
/// `idp create <cluster name>/<name>`, `idp update <cluster name>/<name>`.
pub fn describe(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| match a {
            Action::IdentityProvider(IdpAction::Delete {
                cluster_name,
                idp_name,
                idp_id,
                ..
            }) => format!("idp delete {cluster_name}/{idp_name}#{idp_id}"),
            Action::IdentityProvider(IdpAction::Create {
                cluster_name, idp, ..
            }) => format!("idp create {cluster_name}/{}", idp.name),
            Action::IdentityProvider(IdpAction::Update {
                cluster_name, idp, ..
            }) => format!("idp update {cluster_name}/{}", idp.name),
            Action::SsoClient(SsoClientAction::Delete { sso_client_id, .. }) => {
                format!("client delete {sso_client_id}")
            }
            Action::SsoClient(SsoClientAction::Create { client, .. }) => {
                format!("client create {}", client.key)
            }
            Action::SsoClient(SsoClientAction::Update { client, .. }) => {
                format!("client update {}", client.key)
            }
        })
        .collect()
}
