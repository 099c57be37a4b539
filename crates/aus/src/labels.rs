//! The AUS label set (spec §3.3, §3.4), declared once for parsing, CLI and docs.

use srecap_labels::{CapabilityDecl, LabelDecl, LabelKind, LabelScope, LabelSetDecl};

pub const SOAK_DAYS: &str = "soak-days";
pub const WORKLOADS: &str = "workloads";
pub const SCHEDULE: &str = "schedule";
pub const MUTEXES: &str = "mutexes";
pub const SECTOR: &str = "sector";
pub const BLOCKED_VERSIONS: &str = "blocked-versions";
pub const VERSION_GATE_APPROVALS: &str = "version-gate-approvals";
pub const SECTOR_DEPS: &str = "sector-deps.";
pub const SECTOR_MAX_PARALLEL: &str = "sector-max-parallel-upgrades.";
pub const INHERIT: &str = "version-data.inherit";
pub const PUBLISH: &str = "version-data.publish";

/// `sre-capabilities.aus.`: any subscription label with this prefix opts a cluster
/// in (R10).
pub const AUS_PREFIX: &str = "sre-capabilities.aus.";

/// The Advanced Upgrade Service as a capability: its name and label sets.
pub const CAPABILITY: CapabilityDecl = CapabilityDecl {
    name: "aus",
    summary: "schedules OpenShift upgrades fleet-wide: soak days per workload, sectors, mutexes, maintenance windows, version gates",
    label_sets: &[
        (LabelScope::Cluster, &CLUSTER_LABELS),
        (LabelScope::Organization, &ORG_LABELS),
    ],
};

/// Subscription (cluster) labels.
pub const CLUSTER_LABELS: LabelSetDecl = LabelSetDecl {
    capability: "aus",
    labels: &[
        LabelDecl {
            setting: SOAK_DAYS,
            kind: LabelKind::WholeNumber,
            required: true,
            summary: "days every workload of the cluster must have soaked a version before the cluster moves to it (soak days are cluster-days)",
        },
        LabelDecl {
            setting: WORKLOADS,
            kind: LabelKind::List { min_items: 1 },
            required: true,
            summary: "workloads running on the cluster; soak time is counted per version and workload",
        },
        LabelDecl {
            setting: SCHEDULE,
            kind: LabelKind::Cron,
            required: true,
            summary: "maintenance window: upgrades start only at these fire times (UTC; day-of-month AND day-of-week)",
        },
        LabelDecl {
            setting: MUTEXES,
            kind: LabelKind::List { min_items: 0 },
            required: false,
            summary: "lock names: clusters sharing a mutex do not upgrade at the same time",
        },
        LabelDecl {
            setting: SECTOR,
            kind: LabelKind::Text,
            required: false,
            summary: "sector of the cluster (staged rollout); must be declared by the organization's sector-deps labels",
        },
        LabelDecl {
            setting: BLOCKED_VERSIONS,
            kind: LabelKind::Patterns,
            required: false,
            summary: "regular expressions of versions this cluster must never get (matched anywhere in the version)",
        },
        LabelDecl {
            setting: VERSION_GATE_APPROVALS,
            kind: LabelKind::List { min_items: 0 },
            required: false,
            summary: "version-gate labels the gate approver may acknowledge for this cluster",
        },
    ],
};

/// Organization labels.
pub const ORG_LABELS: LabelSetDecl = LabelSetDecl {
    capability: "aus",
    labels: &[
        LabelDecl {
            setting: BLOCKED_VERSIONS,
            kind: LabelKind::Patterns,
            required: false,
            summary: "regular expressions of versions no cluster of the organization may get",
        },
        LabelDecl {
            setting: SECTOR_DEPS,
            kind: LabelKind::List { min_items: 0 },
            required: false,
            summary: "sector `<name>` depends on the listed sectors (empty: a sector without dependencies)",
        },
        LabelDecl {
            setting: SECTOR_MAX_PARALLEL,
            kind: LabelKind::Limit,
            required: false,
            summary: "how many clusters of sector `<name>` sharing a mutex may upgrade at once (`N` or `N%`)",
        },
        LabelDecl {
            setting: INHERIT,
            kind: LabelKind::List { min_items: 0 },
            required: false,
            summary: "organization ids whose soak history this organization uses",
        },
        LabelDecl {
            setting: PUBLISH,
            kind: LabelKind::List { min_items: 0 },
            required: false,
            summary: "organization ids allowed to use this organization's soak history",
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's label tables are generated from these declarations; keep them in
    /// sync (regenerate with the table this test prints on failure).
    #[test]
    fn readme_label_tables_match_the_declarations() {
        let readme = include_str!("../../../README.md");
        for (what, set) in [("cluster", CLUSTER_LABELS), ("organization", ORG_LABELS)] {
            let table = set.markdown_table();
            assert!(
                readme.contains(&table),
                "README.md lacks the {what} label table:\n{table}"
            );
        }
    }
}
