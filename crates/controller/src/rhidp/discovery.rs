//! What OCM shows the Red Hat `IdP` capability in one environment (rhidp §3):
//! the label search, subscriptions, ready clusters and their identity
//! providers, as a [`Snapshot`] for the pure planner.
//!
//! Design decisions:
//! * One label search for both label types (I13), then subscriptions by id and
//!   by organization (I14, two searches rather than one `or`, so each can be
//!   chunked by 100 ids), then ready managed OSD/ROSA clusters of those
//!   subscriptions (I15). Subscription labels come from the label search, so
//!   subscriptions are listed without embedded labels (as AUS does).
//! * Clusters that own a client record but were not discovered (their labels
//!   were removed, their organization left the registry, they stopped being
//!   ready) are looked up by id in any state: a ready one joins the snapshot
//!   with no labels, so it reads as `disabled` and is cleaned up, IdP first
//!   (I57: srecap removes what it made instead of leaving a provider pointing
//!   at a deleted client, W4); one in another state is only known to exist, so
//!   nothing of it is deleted (I57: never delete for a cluster that still
//!   exists); one OCM does not know is gone.
//! * Identity providers are listed for every discovered cluster with a
//!   console and without external authentication, ten clusters at a time
//!   (I47); a cluster whose listing fails is unreadable this pass (skipped, not
//!   an error).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt as _, stream};
use srecap_ocm::model::{
    Cluster, ClusterState, IdentityProvider, LabelType, OPENID_IDENTITY_PROVIDER,
};
use srecap_ocm::search::Filter;
use srecap_ocm::{OcmClient, OcmError};
use srecap_rhidp::cluster::{DiscoveredCluster, Organization};
use srecap_rhidp::idp::{Claims, CurrentIdp, OpenIdSettings};
use srecap_rhidp::planner::{ExistingCluster, IdpListing, Snapshot};

/// `like` pattern of the label search (I13: no dot after the name, so
/// `sre-capabilities.rhidpx` is fetched too and ignored by the planner).
pub const LABEL_LIKE: &str = "sre-capabilities.rhidp%";

/// Identity-provider listings in flight (I47).
pub const IDP_CONCURRENCY: usize = 10;

/// A cluster a stored client record belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOwner {
    pub cluster_id: String,
    pub organization_id: String,
}

/// Discover the environment `environment` through `client`. `allowed` says
/// whether the registry lets the capability manage an organization (I12);
/// `owners` are the clusters stored records belong to.
pub async fn discover(
    client: &OcmClient,
    environment: &str,
    allowed: &(dyn Fn(&str) -> bool + Sync),
    owners: &[RecordOwner],
) -> Result<Snapshot, OcmError> {
    let labels = client
        .search_labels(
            &Filter::like("key", LABEL_LIKE)
                .and(Filter::in_("type", ["Subscription", "Organization"])),
        )
        .await?;
    let mut sub_labels: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut org_labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for l in labels {
        match (l.label_type, l.subscription_id, l.organization_id) {
            (Some(LabelType::Organization), _, Some(org)) => {
                org_labels.entry(org).or_default().insert(l.key, l.value);
            }
            (Some(LabelType::Subscription) | None, Some(sub), _) => {
                sub_labels.entry(sub).or_default().insert(l.key, l.value);
            }
            _ => {}
        }
    }

    // I14: subscriptions with labels, and every subscription of an organization
    // with labels; active or reserved, managed.
    let live = || Filter::in_("status", ["Active", "Reserved"]).and(Filter::eq("managed", "true"));
    let mut subscriptions = Vec::new();
    if !sub_labels.is_empty() {
        subscriptions.extend(
            client
                .list_subscriptions_without_labels(Some(
                    &Filter::in_("id", sub_labels.keys().cloned()).and(live()),
                ))
                .await?,
        );
    }
    if !org_labels.is_empty() {
        subscriptions.extend(
            client
                .list_subscriptions_without_labels(Some(
                    &Filter::in_("organization_id", org_labels.keys().cloned()).and(live()),
                ))
                .await?,
        );
    }
    let mut org_of_sub: HashMap<String, String> = HashMap::new();
    for s in &subscriptions {
        if let Some(org) = &s.organization_id {
            org_of_sub.insert(s.id.clone(), org.clone());
        }
    }

    // I15: ready, managed OSD and ROSA clusters of those subscriptions.
    let mut clusters = if org_of_sub.is_empty() {
        Vec::new()
    } else {
        let mut ids: Vec<&String> = org_of_sub.keys().collect();
        ids.sort();
        client
            .list_clusters(Some(
                &Filter::eq("managed", "true")
                    .and(Filter::eq("state", "ready"))
                    .and(Filter::in_("product.id", ["osd", "rosa"]))
                    .and(Filter::in_("subscription.id", ids.into_iter().cloned())),
            ))
            .await?
    };
    clusters.sort_by(|a, b| a.id.cmp(&b.id));
    clusters.dedup_by(|a, b| a.id == b.id);

    let mut discovered: Vec<DiscoveredCluster> = Vec::new();
    for c in &clusters {
        let Some(sub) = c.subscription_id() else {
            continue;
        };
        let Some(org) = org_of_sub.get(sub) else {
            continue;
        };
        let labels = sub_labels.get(sub).cloned().unwrap_or_default();
        discovered.push(discovered_cluster(c, org, labels));
    }

    // Clusters of stored records that were not discovered (see the module notes).
    let known: BTreeSet<&str> = discovered.iter().map(|c| c.id.as_str()).collect();
    let missing: BTreeMap<&str, &str> = owners
        .iter()
        .filter(|o| !known.contains(o.cluster_id.as_str()))
        .map(|o| (o.cluster_id.as_str(), o.organization_id.as_str()))
        .collect();
    let mut existing_clusters = Vec::new();
    if !missing.is_empty() {
        let found = client
            .list_clusters(Some(&Filter::in_(
                "id",
                missing.keys().map(|id| (*id).to_owned()),
            )))
            .await?;
        for c in found {
            let Some(org) = missing.get(c.id.as_str()) else {
                continue;
            };
            let ready = c.state == Some(ClusterState::Ready);
            if ready && c.managed.unwrap_or(false) {
                discovered.push(discovered_cluster(&c, org, BTreeMap::new()));
            } else {
                existing_clusters.push(ExistingCluster {
                    id: c.id.clone(),
                    name: c.name.clone().unwrap_or_default(),
                    organization_id: (*org).to_owned(),
                });
            }
        }
    }
    discovered.sort_by(|a, b| a.id.cmp(&b.id));

    let organizations: BTreeMap<String, Organization> = discovered
        .iter()
        .map(|c| c.organization_id.clone())
        .chain(org_labels.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|org| {
            let labels = org_labels.get(&org).cloned().unwrap_or_default();
            let allowed = allowed(&org);
            (org, Organization { labels, allowed })
        })
        .collect();

    // I47: the providers of every cluster that can have one.
    let listable: Vec<&DiscoveredCluster> = discovered
        .iter()
        .filter(|c| c.console_url.is_some() && !c.external_auth)
        .collect();
    let identity_providers: BTreeMap<String, IdpListing> = stream::iter(listable)
        .map(|c| async move {
            let listing = match client.list_identity_providers(&c.id).await {
                Ok(idps) => IdpListing::Listed(idps.into_iter().map(current_idp).collect()),
                Err(e) => {
                    tracing::warn!(cluster = %c.id, error = %e, "identity providers unreadable: the cluster is skipped this pass");
                    IdpListing::Unreadable
                }
            };
            (c.id.clone(), listing)
        })
        .buffer_unordered(IDP_CONCURRENCY)
        .collect()
        .await;

    Ok(Snapshot {
        ocm_environment: environment.to_owned(),
        organizations,
        clusters: discovered,
        identity_providers,
        existing_clusters,
    })
}

fn discovered_cluster(
    c: &Cluster,
    org: &str,
    labels: BTreeMap<String, String>,
) -> DiscoveredCluster {
    DiscoveredCluster {
        id: c.id.clone(),
        external_id: c.external_id.clone().unwrap_or_default(),
        name: c.name.clone().unwrap_or_else(|| c.id.clone()),
        organization_id: org.to_owned(),
        console_url: c
            .console
            .as_ref()
            .and_then(|console| console.url.clone())
            .filter(|u| !u.is_empty()),
        external_auth: c.external_auth_config.as_ref().is_some_and(|e| e.enabled),
        labels,
    }
}

/// A listed provider as the planner reads it (I47: OpenID ones whole, others
/// by type, name and id).
fn current_idp(idp: IdentityProvider) -> CurrentIdp {
    let open_id = (idp.kind == OPENID_IDENTITY_PROVIDER)
        .then_some(idp.open_id)
        .flatten()
        .map(|o| OpenIdSettings {
            client_id: o.client_id.unwrap_or_default(),
            issuer: o.issuer.unwrap_or_default(),
            claims: o.claims.map_or_else(Claims::default, |c| {
                // I47: a missing list takes the default of I22.
                let d = Claims::default();
                Claims {
                    email: c.email.unwrap_or(d.email),
                    name: c.name.unwrap_or(d.name),
                    preferred_username: c.preferred_username.unwrap_or(d.preferred_username),
                    groups: c.groups.unwrap_or(d.groups),
                }
            }),
        });
    CurrentIdp {
        id: idp.id,
        kind: idp.kind,
        name: idp.name,
        mapping_method: idp.mapping_method,
        open_id,
    }
}
