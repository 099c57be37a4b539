//! The add-on upgrade scheduler (§13, R113–R118): the same decision procedure
//! as cluster upgrades, per installed add-on.
//!
//! Add-on policies are not labels: the organization registry gives each
//! cluster's add-on settings (workloads, schedule, soak days, mutexes, sector,
//! blocked versions) and the organization's (sectors, blocked versions,
//! inheritance). They are written in the label syntax without the
//! `sre-capabilities.aus.` prefix, so that they are validated by the same
//! declarations and decided by the same planner: this module turns one add-on
//! of one organization into a synthetic organization whose "clusters" run the
//! add-on's installed version (R114), plans it with the add-on timing (R115),
//! and turns the plan's upgrade policies into add-on policies (R116) after the
//! deletions of R117.
//!
//! What the synthetic organization leaves out is what R115 says is inert for
//! add-ons: no version gates, no channel switch (no channel is offered), no
//! node pools (never ROSA HCP).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_fleet::{Cluster, Organization, PolicyState, Product, ScheduleType, UpgradePolicy};

use crate::labels::{AUS_PREFIX, BLOCKED_VERSIONS};
use crate::plan::{Action, OrgPlan};
use crate::planner::{OrgInput, PlanOptions, plan_org_with};
use crate::schedule::{Timing, whole_seconds};
use crate::soak::Source;

/// When a created add-on policy runs: OCM starts add-on upgrades at once, so
/// the policy carries no slot of its own (R116).
pub const ADDON_NEXT_RUN: SignedDuration = SignedDuration::from_mins(6);

/// One installed add-on of one cluster, with what the registry says of it.
#[derive(Debug, Clone)]
pub struct AddonCluster<'a> {
    /// The OCM cluster (name, ids, state).
    pub cluster: &'a Cluster,
    /// The installed version (R114: it plays the role of the cluster version).
    pub installed: Version,
    /// What OCM offers: [`available_upgrades`] of the installed and latest version.
    pub available: Vec<Version>,
    /// The cluster's settings from the registry, keys without the
    /// `sre-capabilities.aus.` prefix (`workloads`, `schedule`, ...).
    pub settings: &'a BTreeMap<String, String>,
    /// Existing add-on upgrade policies of this installation (R117, R82).
    pub policies: &'a [UpgradePolicy],
}

/// One add-on of one organization, ready to plan.
#[derive(Debug, Clone)]
pub struct AddonInput<'a> {
    pub environment: &'a str,
    /// The organization (id and name; its labels are not read).
    pub org: &'a Organization,
    pub addon_id: &'a str,
    /// The organization's settings from the registry, keys without the prefix
    /// (`blocked-versions`, `sector-deps.<sector>`, ...).
    pub org_settings: &'a BTreeMap<String, String>,
    /// Installations in `ready` state, in OCM's order (R114).
    pub clusters: Vec<AddonCluster<'a>>,
    /// The stored history of key `<env>/<org>/<addon>` (R115).
    pub history: Option<&'a srecap_fleet::VersionData>,
    pub sources: Vec<Source<'a>>,
    pub now: Timestamp,
}

/// What the scheduler does for one add-on of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddonAction {
    /// Delete an existing policy: `automatic` or `completed` ones (R117).
    Delete {
        cluster_id: String,
        addon_id: String,
        policy_id: String,
    },
    /// Create a manual add-on upgrade policy (R116).
    Create {
        cluster: String,
        cluster_id: String,
        addon_id: String,
        version: Version,
        next_run: Timestamp,
    },
}

/// The add-on's plan: actions (deletions before creations, R99) and the plan of
/// the synthetic organization (explanations, history, metrics' facts).
#[derive(Debug, Clone)]
pub struct AddonPlan {
    pub addon_id: String,
    pub actions: Vec<AddonAction>,
    pub plan: OrgPlan,
}

/// R114: the latest catalogue version if the installed one differs, else none.
pub fn available_upgrades(installed: &Version, latest: &Version) -> Vec<Version> {
    if installed == latest {
        Vec::new()
    } else {
        vec![latest.clone()]
    }
}

/// R115: of a `blocked-versions` value, the patterns about `addon_id`
/// (`<addon id>/…` or `^<addon id>/…`), rewritten to match the bare version:
/// `addon-1/1.2.5` becomes `^(?:1.2.5)`.
///
/// The reference matches the whole pattern against `<addon id>/<version>`;
/// anchoring the rest at the start of the version is the same for every
/// pattern but one whose top-level alternation escapes the prefix
/// (`addon-1/1.2.5|1.3.0`), which the reference applies to every add-on and
/// srecap to `addon-1` only, as its owner wrote it.
pub fn addon_patterns(value: &str, addon_id: &str) -> Option<String> {
    let prefix = format!("{addon_id}/");
    let kept: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter_map(|p| {
            p.strip_prefix('^')
                .unwrap_or(p)
                .strip_prefix(prefix.as_str())
                .map(|rest| format!("^(?:{rest})"))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// The label map the planner reads: prefixed keys, blocked versions narrowed
/// to the add-on.
fn labels_of(settings: &BTreeMap<String, String>, addon_id: &str) -> BTreeMap<String, String> {
    settings
        .iter()
        .filter_map(|(key, value)| {
            let value = if key == BLOCKED_VERSIONS {
                addon_patterns(value, addon_id)?
            } else {
                value.clone()
            };
            Some((format!("{AUS_PREFIX}{key}"), value))
        })
        .collect()
}

/// The synthetic cluster: the add-on's version in the cluster's place.
fn synthetic_cluster(c: &AddonCluster<'_>, addon_id: &str) -> Cluster {
    Cluster {
        name: c.cluster.name.clone(),
        organization: c.cluster.organization.clone(),
        id: c.cluster.id.clone(),
        external_id: c.cluster.external_id.clone(),
        version: c.installed.clone(),
        channel_group: c.cluster.channel_group.clone(),
        // No channel and none offered: never a channel switch (R115).
        channel: String::new(),
        available_upgrades: c.available.clone().into(),
        available_upgrades_explicit: true,
        available_channels: Vec::new(),
        // Never HCP: node-pool logic stays inert (R115).
        product: Product::Osd,
        hypershift: false,
        sts: c.cluster.sts,
        state: c.cluster.state.clone(),
        healthy: c.cluster.healthy,
        labels: labels_of(c.settings, addon_id).into(),
        node_pools: Vec::new(),
        // An existing add-on policy holds the installation (R82, R117).
        upgrade_policies: c.policies.to_vec(),
        gate_agreements: Vec::new(),
        auth: srecap_fleet::ClusterAuth::default(),
    }
}

/// R117: existing policies to delete.
fn obsolete(policy: &UpgradePolicy) -> bool {
    policy.schedule_type == ScheduleType::Automatic || policy.state == PolicyState::Completed
}

/// Plan one add-on of one organization (R114–R117).
pub fn plan_addon(input: &AddonInput<'_>) -> AddonPlan {
    let org = Organization {
        id: input.org.id.clone(),
        name: input.org.name.clone(),
        labels: labels_of(input.org_settings, input.addon_id),
    };
    let clusters: Vec<Cluster> = input
        .clusters
        .iter()
        .map(|c| synthetic_cluster(c, input.addon_id))
        .collect();
    let plan = plan_org_with(
        &OrgInput {
            environment: input.environment,
            org: &org,
            clusters: clusters.iter().collect(),
            history: input.history,
            sources: input.sources.clone(),
            extra_org_errors: Vec::new(),
            // No version gates for add-ons (R115).
            version_gates: &[],
            now: input.now,
            faults: crate::planner::Faults::default(),
        },
        PlanOptions {
            timing: Timing::ADDON,
            ..PlanOptions::default()
        },
    );
    // Deletions first (R99, R117); an organization frozen by validation
    // errors changes nothing (R6).
    let mut actions: Vec<AddonAction> = if plan.has_validation_errors() {
        Vec::new()
    } else {
        input
            .clusters
            .iter()
            .flat_map(|c| {
                c.policies
                    .iter()
                    .filter(|p| obsolete(p))
                    .map(|p| AddonAction::Delete {
                        cluster_id: c.cluster.id.clone(),
                        addon_id: input.addon_id.to_owned(),
                        policy_id: p.id.clone(),
                    })
            })
            .collect()
    };
    let next_run = whole_seconds(input.now + ADDON_NEXT_RUN);
    actions.extend(plan.actions.iter().filter_map(|a| match a {
        Action::UpgradePolicy {
            cluster,
            cluster_id,
            version,
            ..
        } => Some(AddonAction::Create {
            cluster: cluster.clone(),
            cluster_id: cluster_id.clone(),
            addon_id: input.addon_id.to_owned(),
            version: version.clone(),
            next_run,
        }),
        // Not produced for a synthetic organization (no HCP, no channels).
        Action::ControlPlaneUpgradePolicy { .. }
        | Action::NodePoolUpgradePolicy { .. }
        | Action::ChannelSwitch { .. } => None,
    }));
    AddonPlan {
        addon_id: input.addon_id.to_owned(),
        actions,
        plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Reason;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cluster(name: &str) -> Cluster {
        Cluster {
            name: name.to_owned(),
            organization: "org-1".to_owned(),
            id: format!("{name}-id"),
            external_id: format!("{name}-uuid"),
            version: v("4.15.3"),
            channel_group: "stable".to_owned(),
            channel: "stable-4.15".to_owned(),
            available_upgrades: vec![v("4.15.4")].into(),
            available_upgrades_explicit: true,
            available_channels: Vec::new(),
            product: Product::Rosa,
            hypershift: true,
            sts: true,
            state: "ready".to_owned(),
            healthy: true,
            labels: BTreeMap::new().into(),
            node_pools: Vec::new(),
            upgrade_policies: Vec::new(),
            gate_agreements: Vec::new(),
            auth: srecap_fleet::ClusterAuth::default(),
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn org() -> Organization {
        Organization {
            id: "org-1".to_owned(),
            name: "Org 1".to_owned(),
            labels: BTreeMap::new(),
        }
    }

    /// Every hour, no soak: the installation upgrades when nothing blocks it.
    fn cluster_settings(blocked: Option<&str>) -> BTreeMap<String, String> {
        let mut s = settings(&[
            ("workloads", "addon-workload"),
            ("schedule", "0 * * * *"),
            ("soak-days", "0"),
        ]);
        if let Some(b) = blocked {
            s.insert("blocked-versions".to_owned(), b.to_owned());
        }
        s
    }

    fn plan_w13(org_blocked: Option<&str>, cluster_blocked: Option<&str>) -> Vec<AddonAction> {
        let c = cluster("c1");
        let cluster_settings = cluster_settings(cluster_blocked);
        let org_settings =
            org_blocked.map_or_else(BTreeMap::new, |b| settings(&[("blocked-versions", b)]));
        let org = org();
        let input = AddonInput {
            environment: "production",
            org: &org,
            addon_id: "addon-1",
            org_settings: &org_settings,
            clusters: vec![AddonCluster {
                cluster: &c,
                installed: v("1.2.3"),
                // W13 offers two versions (the reference's test of the
                // blocked-version check itself).
                available: vec![v("1.2.4"), v("1.2.5")],
                settings: &cluster_settings,
                policies: &[],
            }],
            history: None,
            sources: Vec::new(),
            // 10:55: the 11:00 slot is within the add-on window of 10 minutes.
            now: ts("2026-05-01T10:55:00Z"),
        };
        plan_addon(&input).actions
    }

    fn created(version: &str) -> Vec<AddonAction> {
        vec![AddonAction::Create {
            cluster: "c1".to_owned(),
            cluster_id: "c1-id".to_owned(),
            addon_id: "addon-1".to_owned(),
            version: v(version),
            next_run: ts("2026-05-01T11:01:00Z"),
        }]
    }

    #[test]
    fn w13_r115_cluster_blocks_the_newest_add_on_version() {
        assert_eq!(plan_w13(None, Some("addon-1/1.2.5")), created("1.2.4"));
    }

    #[test]
    fn w13_r115_organization_blocks_the_newest_add_on_version() {
        assert_eq!(plan_w13(Some("addon-1/1.2.5"), None), created("1.2.4"));
    }

    #[test]
    fn w13_r115_organization_and_cluster_block_both() {
        assert_eq!(
            plan_w13(Some("addon-1/1.2.5"), Some("addon-1/1.2.4")),
            Vec::new()
        );
    }

    #[test]
    fn w13_r115_nothing_blocked_takes_the_newest() {
        assert_eq!(plan_w13(None, None), created("1.2.5"));
    }

    #[test]
    fn r115_only_patterns_about_the_add_on_count() {
        assert_eq!(
            addon_patterns(
                "addon-1/1.2.5, ^addon-1/1\\.3\\..*,addon-2/1.2.4,1.2.4",
                "addon-1"
            )
            .as_deref(),
            Some("^(?:1.2.5),^(?:1\\.3\\..*)")
        );
        assert_eq!(addon_patterns("addon-2/1.2.4,4.15.3", "addon-1"), None);
        // Another add-on's pattern blocks nothing of this one.
        assert_eq!(
            plan_w13(Some("addon-2/1.2.5"), Some("1.2.5")),
            created("1.2.5")
        );
    }

    #[test]
    fn r114_an_add_on_at_the_latest_version_has_no_upgrade() {
        assert!(available_upgrades(&v("1.2.5"), &v("1.2.5")).is_empty());
        assert_eq!(available_upgrades(&v("1.2.3"), &v("1.2.5")), [v("1.2.5")]);
    }

    #[test]
    fn r115_the_add_on_window_is_ten_minutes() {
        let c = cluster("c1");
        let s = cluster_settings(None);
        let org = org();
        let empty = BTreeMap::new();
        let at = |now: &str| {
            plan_addon(&AddonInput {
                environment: "production",
                org: &org,
                addon_id: "addon-1",
                org_settings: &empty,
                clusters: vec![AddonCluster {
                    cluster: &c,
                    installed: v("1.2.3"),
                    available: vec![v("1.2.5")],
                    settings: &s,
                    policies: &[],
                }],
                history: None,
                sources: Vec::new(),
                now: ts(now),
            })
        };
        // 10:45: the 11:00 slot is 15 minutes away, beyond the window.
        let early = at("2026-05-01T10:45:00Z");
        assert!(early.actions.is_empty());
        assert_eq!(early.plan.clusters[0].reason, Reason::OutsideSchedule);
        // 10:59:30: the slot must be at least a minute ahead, so 11:00 is
        // too close and 12:00 too far.
        assert!(at("2026-05-01T10:59:30Z").actions.is_empty());
        assert_eq!(at("2026-05-01T10:52:00Z").actions, {
            let mut a = created("1.2.5");
            if let AddonAction::Create { next_run, .. } = &mut a[0] {
                *next_run = ts("2026-05-01T10:58:00Z");
            }
            a
        });
    }

    #[test]
    fn r117_automatic_and_completed_policies_are_deleted_first_and_hold_the_pass() {
        let c = cluster("c1");
        let s = cluster_settings(None);
        let org = org();
        let empty = BTreeMap::new();
        let policy = |id: &str, state: PolicyState, schedule_type: ScheduleType| UpgradePolicy {
            id: id.to_owned(),
            version: Some(v("1.2.3")),
            next_run: None,
            state,
            schedule_type,
            schedule: None,
        };
        for existing in [
            policy("p-done", PolicyState::Completed, ScheduleType::Manual),
            policy("p-auto", PolicyState::Scheduled, ScheduleType::Automatic),
        ] {
            let policies = [existing.clone()];
            let plan = plan_addon(&AddonInput {
                environment: "production",
                org: &org,
                addon_id: "addon-1",
                org_settings: &empty,
                clusters: vec![AddonCluster {
                    cluster: &c,
                    installed: v("1.2.3"),
                    available: vec![v("1.2.5")],
                    settings: &s,
                    policies: &policies,
                }],
                history: None,
                sources: Vec::new(),
                now: ts("2026-05-01T10:55:00Z"),
            });
            // Deleted, and the existing policy counts this pass (R82): the
            // upgrade comes one pass later.
            assert_eq!(
                plan.actions,
                [AddonAction::Delete {
                    cluster_id: "c1-id".to_owned(),
                    addon_id: "addon-1".to_owned(),
                    policy_id: existing.id.clone(),
                }]
            );
        }
        // A pending manual policy is kept and holds the installation.
        let pending = [policy(
            "p-manual",
            PolicyState::Scheduled,
            ScheduleType::Manual,
        )];
        let plan = plan_addon(&AddonInput {
            environment: "production",
            org: &org,
            addon_id: "addon-1",
            org_settings: &empty,
            clusters: vec![AddonCluster {
                cluster: &c,
                installed: v("1.2.3"),
                available: vec![v("1.2.5")],
                settings: &s,
                policies: &pending,
            }],
            history: None,
            sources: Vec::new(),
            now: ts("2026-05-01T10:55:00Z"),
        });
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn invalid_registry_settings_freeze_the_add_on_and_name_the_setting() {
        let c = cluster("c1");
        let s = settings(&[
            ("workloads", "w"),
            ("schedule", "not cron"),
            ("soak-days", "0"),
        ]);
        let org = org();
        let empty = BTreeMap::new();
        let done = [UpgradePolicy {
            id: "p".to_owned(),
            version: None,
            next_run: None,
            state: PolicyState::Completed,
            schedule_type: ScheduleType::Manual,
            schedule: None,
        }];
        let plan = plan_addon(&AddonInput {
            environment: "production",
            org: &org,
            addon_id: "addon-1",
            org_settings: &empty,
            clusters: vec![AddonCluster {
                cluster: &c,
                installed: v("1.2.3"),
                available: vec![v("1.2.5")],
                settings: &s,
                policies: &done,
            }],
            history: None,
            sources: Vec::new(),
            now: ts("2026-05-01T10:55:00Z"),
        });
        assert!(
            plan.actions.is_empty(),
            "a frozen organization changes nothing"
        );
        let errors = plan.plan.validation_errors.clusters.get("c1-uuid").unwrap();
        assert!(errors.iter().any(|e| e.contains("schedule")), "{errors:?}");
    }
}
