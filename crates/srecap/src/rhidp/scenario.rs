//! A scenario file as the rhidp planner sees OCM: the snapshot discovery would
//! build from the simulator serving that file (I13–I17: clusters with rhidp
//! labels on their subscription or organization, ready, OSD/ROSA), and the
//! stored state from the scenario's `secrets` section, read as a steady state
//! (see [`state`]).

use std::collections::BTreeMap;

use srecap_fleet::Fleet;
use srecap_rhidp::cluster::{DiscoveredCluster, Organization};
use srecap_rhidp::idp::{Claims, CurrentIdp, OpenIdSettings};
use srecap_rhidp::labels::in_namespace;
use srecap_rhidp::record::{Secret, StoredRecord};
use srecap_rhidp::{ExistingCluster, IdpListing, Snapshot, State};

/// The snapshot of `fleet` (every organization allowed, as `rhidp run`
/// without `--org`; `only`: that organization alone).
pub fn snapshot(fleet: &Fleet, only: Option<&str>) -> Snapshot {
    let organizations: BTreeMap<String, Organization> = fleet
        .organizations
        .iter()
        .map(|o| {
            (
                o.id.clone(),
                Organization {
                    labels: o.labels.clone(),
                    allowed: only.is_none_or(|id| id == o.id),
                },
            )
        })
        .collect();
    let labelled = |labels: &BTreeMap<String, String>| labels.keys().any(|k| in_namespace(k));
    let mut clusters = Vec::new();
    let mut identity_providers = BTreeMap::new();
    for c in &fleet.clusters {
        let org_labelled = organizations
            .get(&c.organization)
            .is_some_and(|o| labelled(&o.labels));
        if c.state != "ready" || !(labelled(&c.labels) || org_labelled) {
            continue;
        }
        clusters.push(DiscoveredCluster {
            id: c.id.clone(),
            external_id: c.external_id.clone(),
            name: c.name.clone(),
            organization_id: c.organization.clone(),
            console_url: c.auth.console_url.clone(),
            external_auth: c.auth.external_auth,
            labels: (*c.labels).clone(),
        });
        let listed = c
            .auth
            .identity_providers
            .iter()
            .map(|idp| CurrentIdp {
                id: Some(idp.id.clone()),
                kind: idp.idp_type.clone(),
                name: idp.name.clone(),
                mapping_method: Some(idp.mapping_method.clone()),
                open_id: idp.open_id.as_ref().map(|o| {
                    let claim = |name: &str, default: Vec<String>| {
                        o.claims.get(name).cloned().unwrap_or(default)
                    };
                    let d = Claims::default();
                    OpenIdSettings {
                        client_id: o.client_id.clone(),
                        issuer: o.issuer.clone(),
                        claims: Claims {
                            email: claim("email", d.email),
                            name: claim("name", d.name),
                            preferred_username: claim("preferred_username", d.preferred_username),
                            groups: claim("groups", d.groups),
                        },
                    }
                }),
            })
            .collect();
        identity_providers.insert(c.id.clone(), IdpListing::Listed(listed));
    }
    let existing_clusters = fleet
        .clusters
        .iter()
        .map(|c| ExistingCluster {
            id: c.id.clone(),
            name: c.name.clone(),
            organization_id: c.organization.clone(),
        })
        .collect();
    Snapshot {
        ocm_environment: fleet.environment.clone(),
        organizations,
        clusters,
        identity_providers,
        existing_clusters,
    }
}

/// The records of the scenario's `secrets` section under `namespace`
/// (`rhidp/<environment>`), empty when there is none, and the provider
/// fingerprints a store would hold for them.
///
/// A scenario has no store of fingerprints, and without one the planner
/// updates every managed provider once (adoption, W5), so every status of a
/// scenario would show an update per cluster. A scenario describes a steady
/// state instead: an OpenID provider that refers to a record's client holds
/// that record's secret, unless the scenario gives the provider its own
/// `client_secret`, whose fingerprint is then used (so a scenario can still
/// show a provider left with an old secret, W5). This reads the field the
/// scenario format already has rather than adding one for fingerprints,
/// which nobody could write by hand.
pub fn state(fleet: &Fleet, namespace: &str) -> State {
    let records: BTreeMap<String, StoredRecord> = fleet
        .secrets
        .get(namespace)
        .map(|entries| {
            entries
                .iter()
                .map(|(name, json)| (name.clone(), StoredRecord::parse(&json.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let by_client: BTreeMap<&str, String> = records
        .values()
        .filter_map(|r| match r {
            StoredRecord::Record(r) => Some((r.client_id.as_str(), r.fingerprint()?)),
            StoredRecord::Unreadable(_) => None,
        })
        .collect();
    let mut idp_fingerprints: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for c in &fleet.clusters {
        for idp in &c.auth.identity_providers {
            let Some(open_id) = &idp.open_id else {
                continue;
            };
            let Some(record) = by_client.get(open_id.client_id.as_str()) else {
                continue;
            };
            let fingerprint = match &open_id.client_secret {
                Some(secret) => Secret::new(secret.clone()).fingerprint(),
                None => record.clone(),
            };
            idp_fingerprints
                .entry(c.id.clone())
                .or_default()
                .insert(idp.name.clone(), fingerprint);
        }
    }
    State {
        records,
        idp_fingerprints,
    }
}
