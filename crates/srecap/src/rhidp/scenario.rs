//! A scenario file as the rhidp planner sees OCM: the snapshot discovery would
//! build from the simulator serving that file (I13–I17: clusters with rhidp
//! labels on their subscription or organization, ready, OSD/ROSA), and the
//! stored state from the scenario's `secrets` section.

use std::collections::BTreeMap;

use srecap_fleet::Fleet;
use srecap_rhidp::cluster::{DiscoveredCluster, Organization};
use srecap_rhidp::idp::{Claims, CurrentIdp, OpenIdSettings};
use srecap_rhidp::labels::in_namespace;
use srecap_rhidp::record::StoredRecord;
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
            labels: c.labels.clone(),
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
/// (`rhidp/<environment>`), empty when there is none. No fingerprints: a
/// scenario's store never wrote a provider.
pub fn state(fleet: &Fleet, namespace: &str) -> State {
    let records = fleet
        .secrets
        .get(namespace)
        .map(|entries| {
            entries
                .iter()
                .map(|(name, json)| (name.clone(), StoredRecord::parse(&json.to_string())))
                .collect()
        })
        .unwrap_or_default();
    State {
        records,
        idp_fingerprints: BTreeMap::new(),
    }
}
