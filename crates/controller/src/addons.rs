//! The add-on upgrade scheduler's pass (§13, R113–R118): for each registered
//! organization of the environment with add-on settings, plan each installed
//! add-on with [`srecap_aus::addon::plan_addon`] and apply the plan.
//!
//! Design decisions:
//! * It runs in the AUS runtime, after the cluster pass of each environment
//!   ([`crate::environments::Environments::pass`]), with the same OCM, store
//!   and dry-run setting.
//! * Errors are contained per organization (a deviation from R118, which
//!   collects them and fails the run): one organization's failure is logged
//!   and reported, the others are planned and applied as usual, as everywhere
//!   else in srecap.
//! * Each add-on's history (`<env>/<org>/<addon>`, R115) is saved in one
//!   transaction before OCM is written, as the cluster pass does (R75).
//! * With replicas, an organization's add-ons are reconciled by the replica
//!   holding its lease only (the lease of the cluster pass).
//! * No inheritance for add-on histories yet (no `version-data.*` settings).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use srecap_aus::addon::{AddonAction, AddonCluster, AddonInput, available_upgrades, plan_addon};
use srecap_fleet::{AddonInstallation, Organization};
use srecap_store::{HistoryStore as _, HistoryTxn as _, StateKey};

use crate::error::PassError;
use crate::metrics::AddonFacts;
use crate::ocm::NewAddonPlan;
use crate::reconciler::Reconciler;
use crate::registry::{AddonSettings, RegisteredOrg};

/// The add-on scheduler's integration name (R113): disabling it in the
/// registry leaves the organization's add-ons alone.
pub const ADDON_INTEGRATION: &str = "ocm-addons-upgrade-scheduler-org";

/// What the add-on pass did to one organization.
#[derive(Debug)]
pub struct AddonOrgOutcome {
    pub org_id: String,
    /// The add-on plans (one per installed add-on id), or why there are none.
    pub result: Result<Vec<srecap_aus::addon::AddonPlan>, PassError>,
}

/// Whether an organization's add-ons are scheduled (R113, R4 by the add-on
/// integration's own name).
fn selected<'a>(r: &Reconciler, org_id: &str, org: &'a RegisteredOrg) -> Option<&'a AddonSettings> {
    let config = r.config();
    let settings = org.addons.as_ref()?;
    if org.disabled.iter().any(|i| i == ADDON_INTEGRATION)
        || config.exclude.iter().any(|o| o == org_id)
        || (!config.include.is_empty() && !config.include.iter().any(|o| o == org_id))
    {
        return None;
    }
    Some(settings)
}

/// One add-on pass over the reconciler's environment at `now`.
pub async fn pass(r: &Reconciler, now: Timestamp) -> Vec<AddonOrgOutcome> {
    let Some(registry) = r.config().registry.clone() else {
        return Vec::new();
    };
    let orgs: Vec<(&String, &AddonSettings)> = registry
        .iter()
        .filter_map(|(id, org)| selected(r, id, org).map(|s| (id, s)))
        .filter(|(id, _)| r.may_reconcile(id))
        .collect();
    if orgs.is_empty() {
        return Vec::new();
    }
    // The catalogue once per pass.
    let catalog = match r.ocm().addon_catalog().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(env = %r.config().environment, error = %e, "add-on catalogue unreadable: no add-on upgrades this pass");
            // Every organization of the pass fails with it.
            let cause = bad_cause(&e);
            let reason = e.to_string();
            return orgs
                .into_iter()
                .map(|(id, _)| {
                    r.metrics().addon_org_finished(id, cause);
                    AddonOrgOutcome {
                        org_id: id.clone(),
                        result: Err(PassError::BadAnswer {
                            cluster: "(add-on catalogue)".to_owned(),
                            reason: reason.clone(),
                        }),
                    }
                })
                .collect();
        }
    };
    let mut outcomes = Vec::new();
    let mut facts = Vec::new();
    for (org_id, settings) in orgs {
        let result = org_pass(r, org_id, settings, &catalog, now).await;
        r.metrics()
            .addon_org_finished(org_id, result.as_ref().err().and_then(bad_cause));
        match &result {
            Ok(plans) => facts.extend(plans.iter().map(|p| AddonFacts {
                org_id: org_id.clone(),
                addon_id: p.addon_id.clone(),
                plan: Arc::new(p.plan.clone()),
            })),
            Err(e) => {
                tracing::error!(env = %r.config().environment, org = %org_id, error = %e, "add-on upgrades of the organization failed");
            }
        }
        outcomes.push(AddonOrgOutcome {
            org_id: org_id.clone(),
            result,
        });
    }
    r.metrics().publish_addons(facts);
    outcomes
}

/// The SLI's cause of a failed add-on pass, if it is a bad event (a user's
/// mistake is not).
fn bad_cause(error: &PassError) -> Option<srecap_observability::FailureCause> {
    match crate::outcome::classify_error(error, &[], true) {
        srecap_observability::Outcome::Failure(cause) => Some(cause),
        _ => None,
    }
}

async fn org_pass(
    r: &Reconciler,
    org_id: &str,
    settings: &AddonSettings,
    catalog: &BTreeMap<String, semver::Version>,
    now: Timestamp,
) -> Result<Vec<srecap_aus::addon::AddonPlan>, PassError> {
    let env = r.config().environment.as_str();
    let ocm = r.ocm();
    // R113: the registry's clusters, matched by name to the org's OCM clusters.
    let clusters: Vec<srecap_fleet::Cluster> = ocm
        .org_clusters(org_id)
        .await?
        .into_iter()
        .filter(|c| settings.clusters.contains_key(&c.name))
        .collect();
    let unmatched: Vec<&String> = settings
        .clusters
        .keys()
        .filter(|name| !clusters.iter().any(|c| &c.name == *name))
        .collect();
    if !unmatched.is_empty() {
        // A typo, or a cluster that is gone or not ready: said, not fatal.
        tracing::warn!(env = %env, org = %org_id, clusters = ?unmatched, "add-on settings name clusters the organization does not have (managed, ready) in OCM");
    }
    if clusters.is_empty() {
        return Ok(Vec::new());
    }
    let mut installed = ocm
        .ready_addons(clusters.iter().map(|c| c.id.clone()).collect())
        .await?;
    // Per add-on id, installations in the clusters' (OCM's) order (R114).
    let mut by_addon: BTreeMap<String, Vec<(&srecap_fleet::Cluster, AddonInstallation)>> =
        BTreeMap::new();
    for c in &clusters {
        for i in installed.remove(&c.id).unwrap_or_default() {
            if i.state == "ready" {
                by_addon.entry(i.addon_id.clone()).or_default().push((c, i));
            }
        }
    }
    let org = Organization {
        id: org_id.to_owned(),
        name: org_id.to_owned(),
        labels: BTreeMap::new(),
    };
    let mut plans = Vec::new();
    for (addon_id, installations) in by_addon {
        let Some(latest) = catalog.get(&addon_id) else {
            continue;
        };
        let key = StateKey::addon(env, org_id, &addon_id)?;
        let stored = r.store().load(&key).await?;
        let input = |history: Option<&srecap_fleet::VersionData>| -> srecap_aus::addon::AddonPlan {
            plan_addon(&AddonInput {
                environment: env,
                org: &org,
                addon_id: &addon_id,
                org_settings: &settings.organization,
                clusters: installations
                    .iter()
                    .map(|(c, i)| AddonCluster {
                        cluster: c,
                        installed: i.version.clone(),
                        available: available_upgrades(&i.version, latest),
                        settings: &settings.clusters[&c.name],
                        policies: &i.upgrade_policies,
                    })
                    .collect(),
                history,
                sources: Vec::new(),
                now,
            })
        };
        let mut plan = input(stored.as_deref());
        if !r.config().dry_run {
            // One transaction per add-on and pass (R75, R115).
            let txn = r.store().begin(&key).await?;
            if txn.history() != stored.as_deref() {
                plan = input(txn.history());
            }
            txn.commit(&plan.plan.version_data).await?;
            apply(r, &plan.actions).await?;
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// Deletions, then creations (R99, R117, R116). The first failure stops the
/// organization's writes (the next pass re-reads and retries).
async fn apply(r: &Reconciler, actions: &[AddonAction]) -> Result<(), PassError> {
    let ocm = r.ocm();
    for action in actions {
        match action {
            AddonAction::Delete {
                cluster_id,
                policy_id,
                ..
            } => ocm.delete_addon_plan(cluster_id, policy_id).await?,
            AddonAction::Create {
                cluster_id,
                addon_id,
                version,
                next_run,
                ..
            } => {
                ocm.create_addon_plan(&NewAddonPlan {
                    cluster_id: cluster_id.clone(),
                    addon_id: addon_id.clone(),
                    version: version.clone(),
                    next_run: *next_run,
                })
                .await?;
            }
        }
    }
    Ok(())
}
