//! Add-ons (the add-on service, `/api/addons_mgmt/v1`, spec D-v2): the
//! catalogue's latest versions, the installations, and their upgrade plans.
//!
//! An upgrade plan of type `manual` runs at its `next_run`: the installation
//! moves to the plan's version at once (add-on upgrades take minutes, not the
//! hour of a cluster upgrade) and the plan stays, `completed`, until someone
//! deletes it, as OCM keeps it; AUS deletes completed plans (R117).

use std::collections::BTreeMap;

use jiff::Timestamp;
use semver::Version;
use serde_json::{Value, json};
use srecap_fleet::{AddonInstallation, Addons, PolicyState, ScheduleType, UpgradePolicy};

use crate::world::{Rejection, World};

/// `/api/addons_mgmt/v1`.
pub const ADD: &str = "/api/addons_mgmt/v1";

/// Searchable attributes of an installation.
pub const INSTALLATION_FIELDS: &[&str] = &["id", "state", "addon.id", "addon_version.id"];
/// Searchable attributes of an add-on.
pub const ADDON_FIELDS: &[&str] = &["id", "version.id"];
/// Orderable attributes of an upgrade plan.
pub const PLAN_FIELDS: &[&str] = &["id", "addon_id", "version", "next_run", "type"];

/// One add-on on one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct InstallationRecord {
    pub cluster_id: String,
    pub addon_id: String,
    pub version: Version,
    pub state: String,
}

/// An add-on upgrade plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRecord {
    pub cluster_id: String,
    pub addon_id: String,
    pub policy: UpgradePolicy,
}

/// The add-on part of the world.
#[derive(Debug, Clone, Default)]
pub struct AddonWorld {
    pub catalog: BTreeMap<String, Version>,
    pub installations: Vec<InstallationRecord>,
    pub plans: Vec<PlanRecord>,
}

/// What a client asks for when it creates an upgrade plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    pub addon_id: String,
    pub version: Version,
    pub schedule_type: ScheduleType,
    pub next_run: Option<Timestamp>,
}

impl AddonWorld {
    /// The add-on part of a fleet; plan ids come from `next_id`.
    pub fn new(addons: Addons, mut next_id: impl FnMut() -> String) -> AddonWorld {
        let mut world = AddonWorld {
            catalog: addons.catalog,
            ..AddonWorld::default()
        };
        for installation in addons.installations {
            for mut policy in installation.upgrade_policies {
                if policy.id.is_empty() {
                    policy.id = next_id();
                }
                world.plans.push(PlanRecord {
                    cluster_id: installation.cluster_id.clone(),
                    addon_id: installation.addon_id.clone(),
                    policy,
                });
            }
            world.installations.push(InstallationRecord {
                cluster_id: installation.cluster_id,
                addon_id: installation.addon_id,
                version: installation.version,
                state: installation.state,
            });
        }
        world
    }

    /// Back to the fleet's model.
    pub fn addons(&self) -> Addons {
        Addons {
            catalog: self.catalog.clone(),
            installations: self
                .installations
                .iter()
                .map(|i| AddonInstallation {
                    cluster_id: i.cluster_id.clone(),
                    addon_id: i.addon_id.clone(),
                    version: i.version.clone(),
                    state: i.state.clone(),
                    upgrade_policies: self
                        .plans
                        .iter()
                        .filter(|p| p.cluster_id == i.cluster_id && p.addon_id == i.addon_id)
                        .map(|p| p.policy.clone())
                        .collect(),
                })
                .collect(),
        }
    }

    /// Run due manual plans (see the module documentation).
    pub fn progress(&mut self, now: Timestamp) {
        for plan in &mut self.plans {
            let due = plan.policy.schedule_type == ScheduleType::Manual
                && matches!(
                    plan.policy.state,
                    PolicyState::Scheduled | PolicyState::Pending
                )
                && plan.policy.next_run.is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            let Some(version) = plan.policy.version.clone() else {
                continue;
            };
            if let Some(installation) = self
                .installations
                .iter_mut()
                .find(|i| i.cluster_id == plan.cluster_id && i.addon_id == plan.addon_id)
            {
                installation.version = version;
            }
            plan.policy.state = PolicyState::Completed;
        }
    }

    pub fn render_addon(id: &str, latest: &Version) -> Value {
        json!({
            "kind": "Addon",
            "id": id,
            "href": format!("{ADD}/addons/{id}"),
            "version": {"kind": "AddonVersion", "id": latest.to_string()},
        })
    }

    pub fn render_installation(rec: &InstallationRecord) -> Value {
        json!({
            "kind": "AddonInstallation",
            "id": rec.addon_id,
            "href": format!("{ADD}/clusters/{}/addons/{}", rec.cluster_id, rec.addon_id),
            "addon": {"kind": "Addon", "id": rec.addon_id},
            "addon_version": {"kind": "AddonVersion", "id": rec.version.to_string()},
            "state": rec.state,
        })
    }

    pub fn render_plan(rec: &PlanRecord) -> Value {
        let p = &rec.policy;
        json!({
            "kind": "AddonUpgradePlan",
            "id": p.id,
            "href": format!("{ADD}/clusters/{}/upgrade_plans/{}", rec.cluster_id, p.id),
            "addon_id": rec.addon_id,
            "cluster_id": rec.cluster_id,
            "type": p.schedule_type.as_str(),
            "schedule": p.schedule,
            "next_run": p.next_run.map(|t| t.to_string()),
            "version": p.version.as_ref().map(ToString::to_string),
            "state": p.state.as_str(),
        })
    }
}

impl World {
    /// Create an add-on upgrade plan as OCM would: the add-on must be installed
    /// on the cluster, the version must be newer than the installed one and
    /// known to the catalogue, a manual plan needs a `next_run` in the future,
    /// and an installation has at most one plan that has not completed.
    pub fn create_addon_plan(
        &mut self,
        cluster_id: &str,
        request: PlanRequest,
    ) -> Result<&PlanRecord, Rejection> {
        let cluster_id = self.cluster(cluster_id)?.cluster.id.clone();
        let installation = self
            .addons
            .installations
            .iter()
            .find(|i| i.cluster_id == cluster_id && i.addon_id == request.addon_id)
            .ok_or_else(|| {
                Rejection::invalid(format!(
                    "Add-on '{}' is not installed on cluster '{cluster_id}'",
                    request.addon_id
                ))
            })?;
        let latest = self.addons.catalog.get(&request.addon_id);
        if latest.is_none_or(|l| request.version > *l) {
            return Err(Rejection::invalid(format!(
                "Version '{}' of add-on '{}' does not exist",
                request.version, request.addon_id
            )));
        }
        if request.version <= installation.version {
            return Err(Rejection::invalid(format!(
                "Add-on '{}' is already at version '{}'",
                request.addon_id, installation.version
            )));
        }
        if request.schedule_type == ScheduleType::Manual
            && request.next_run.is_none_or(|t| t < self.now)
        {
            return Err(Rejection::invalid(
                "A manual upgrade plan needs a 'next_run' that is not in the past",
            ));
        }
        let open = self.addons.plans.iter().any(|p| {
            p.cluster_id == cluster_id
                && p.addon_id == request.addon_id
                && p.policy.state != PolicyState::Completed
        });
        if open {
            return Err(Rejection::Conflict(format!(
                "Add-on '{}' of cluster '{cluster_id}' already has an upgrade plan",
                request.addon_id
            )));
        }
        let id = self.next_id("addon-plan");
        self.generation += 1;
        self.addons.plans.push(PlanRecord {
            cluster_id,
            addon_id: request.addon_id,
            policy: UpgradePolicy {
                id,
                version: Some(request.version),
                next_run: request.next_run,
                state: PolicyState::Scheduled,
                schedule_type: request.schedule_type,
                schedule: None,
            },
        });
        Ok(self.addons.plans.last().expect("just pushed"))
    }

    /// Delete an add-on upgrade plan.
    pub fn delete_addon_plan(&mut self, cluster_id: &str, plan_id: &str) -> Result<(), Rejection> {
        let cluster_id = self.cluster(cluster_id)?.cluster.id.clone();
        let before = self.addons.plans.len();
        self.addons
            .plans
            .retain(|p| !(p.cluster_id == cluster_id && p.policy.id == plan_id));
        if self.addons.plans.len() == before {
            return Err(Rejection::NotFound(format!(
                "Upgrade plan '{plan_id}' of cluster '{cluster_id}' not found"
            )));
        }
        self.generation += 1;
        Ok(())
    }
}
