//! The version-gate approver (§12, R105–R111) as a pure function, and the
//! gate hold of the decision procedure (R92 (b)) that depends on it.
//!
//! The reference runs the approver as a separate integration on its own
//! schedule; srecap runs it inside each organization's pass, before planning,
//! so that a cluster whose gates the approver takes can be booked in the same
//! pass (R112 then holds trivially). This module only *decides*: given a
//! cluster, its `version-gate-approvals` label, every gate and the cluster's
//! agreements, which agreements to create. The controller reads and writes.
//!
//! Idempotence: a gate the cluster agreed to is never proposed again, and each
//! gate is proposed at most once per cluster, so repeating a pass (or running
//! it after a human agreed) creates nothing twice.
//!
//! What the approver will not take (a known label the cluster does not approve,
//! or a label without a handler) is left to the cluster's owners; the planner
//! holds such a cluster with [`Reason::MissingGateAgreement`] rather than book
//! an upgrade OCM refuses.

use std::collections::{BTreeMap, BTreeSet};

use srecap_fleet::{Cluster, VersionGate};

use crate::gate::{self, GATE_OCP};
use crate::plan::Reason;

/// `sre-capabilities.aus.version-gate-approvals` (R109), the label
/// [`Handlers::from_labels`] reads.
const APPROVALS_LABEL: &str = "sre-capabilities.aus.version-gate-approvals";

/// The handler labels a cluster lets the approver acknowledge (R109).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handlers(BTreeSet<String>);

impl Handlers {
    /// From the items of the `version-gate-approvals` label: missing or empty
    /// means the OCP gate only (R109, W23).
    pub fn from_items<S: AsRef<str>>(items: &[S]) -> Handlers {
        let set: BTreeSet<String> = items
            .iter()
            .map(|s| s.as_ref().trim())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if set.is_empty() {
            Handlers(BTreeSet::from([GATE_OCP.to_owned()]))
        } else {
            Handlers(set)
        }
    }

    /// From a cluster's subscription labels: the CSV value of
    /// `sre-capabilities.aus.version-gate-approvals` (R109).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Handlers {
        // Asked of most clusters in every pass: the key is not formatted per call.
        let items: Vec<&str> = labels
            .get(APPROVALS_LABEL)
            .map(|v| v.split(',').collect())
            .unwrap_or_default();
        Handlers::from_items(&items)
    }

    pub fn enabled(&self, label: &str) -> bool {
        self.0.contains(label)
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// What the approver does with one applicable, unacknowledged gate (R110).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Its label has a handler the cluster enabled: the approver agrees.
    Agree,
    /// A known handler label the cluster's `version-gate-approvals` does not
    /// list (R110: skipped).
    NotApproved,
    /// A label srecap has no handler for: OCM still enforces the gate, but the
    /// approver cannot know what acknowledging it requires, so it never does.
    NoHandler,
}

impl Take {
    /// Why the approver leaves it to the owners, or that it takes it.
    pub fn describe(self) -> &'static str {
        match self {
            Take::Agree => "the version-gate approver agrees to it",
            Take::NotApproved => {
                "not listed in the cluster's label sre-capabilities.aus.version-gate-approvals"
            }
            Take::NoHandler => "no approver handler for this label; only the owners can agree",
        }
    }
}

/// The approver's verdict on `gate` for a cluster with `handlers`.
pub fn take(gate: &VersionGate, handlers: &Handlers) -> Take {
    if !gate::has_handler(&gate.label) {
        Take::NoHandler
    } else if handlers.enabled(&gate.label) {
        Take::Agree
    } else {
        Take::NotApproved
    }
}

/// An agreement the approver creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub cluster: String,
    pub cluster_id: String,
    pub gate_id: String,
    pub label: String,
    pub version_prefix: String,
}

/// Whether a gate applies to `cluster`, for any minor it could move to
/// (R108), that the approver would agree to if it is not agreed yet: the
/// clusters whose agreements the approver must read. A cluster whose
/// applicable gates only its owners can agree to is read only when the
/// planner is about to book it ([`crate::facts`]), which saves a request per
/// cluster and pass.
pub fn may_agree(cluster: &Cluster, gates: &[VersionGate]) -> bool {
    // Most clusters have no applicable gate: their labels are not read (this
    // runs for every cluster in every pass).
    let mut applicable = gate::applicable_gates(gates, cluster).peekable();
    if applicable.peek().is_none() {
        return false;
    }
    let handlers = Handlers::from_labels(&cluster.labels);
    applicable.any(|g| take(g, &handlers) == Take::Agree)
}

/// The agreements to create for `cluster` (R108, R110): every applicable gate
/// of every minor it could move to (not only one target; blocked versions,
/// soak and schedule do not matter) that it has not agreed to and whose label
/// it approves. `cluster.gate_agreements` must be the agreements as read.
pub fn agreements(cluster: &Cluster, gates: &[VersionGate]) -> Vec<Agreement> {
    // As in `may_agree`: the labels are read only for a gate to decide.
    let mut open = gate::applicable_gates(gates, cluster)
        .filter(|g| !cluster.gate_agreements.contains(&g.id))
        .peekable();
    if open.peek().is_none() {
        return Vec::new();
    }
    let handlers = Handlers::from_labels(&cluster.labels);
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    open.filter(|g| take(g, &handlers) == Take::Agree)
        .filter(|g| seen.insert(g.id.as_str()))
        .map(|g| Agreement {
            cluster: cluster.name.clone(),
            cluster_id: cluster.id.clone(),
            gate_id: g.id.clone(),
            label: g.label.clone(),
            version_prefix: g.version_raw_id_prefix.clone(),
        })
        .collect()
}

/// `fleet` as the approver leaves it: every cluster has agreed to the gates
/// [`agreements`] proposes for it. What a reconciler pass plans after running
/// the approver, for predictions and tests (`srecap aus plan` itself plans the
/// fleet as it is).
pub fn approved(fleet: &srecap_fleet::Fleet) -> srecap_fleet::Fleet {
    let mut out = fleet.clone();
    for c in &mut out.clusters {
        for a in agreements(c, &fleet.version_gates) {
            c.gate_agreements.push(a.gate_id);
        }
    }
    out
}

/// Why a cluster that chose `version` waits for gate agreements (R92 (b)), as
/// the planner and `explain` both state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateHold {
    /// [`Reason::VersionGate`] when the approver takes every missing gate
    /// (it will by the next pass), [`Reason::MissingGateAgreement`] when
    /// only the owners can agree to at least one.
    pub reason: Reason,
    pub detail: String,
    /// The missing gates' ids, for the metric (§15.2).
    pub gates: Vec<String>,
    pub version_prefix: String,
}

/// The hold of `cluster` for `version`, if an applicable gate of that minor is
/// not agreed (R92 (b)). The detail depends only on the cluster's labels,
/// gates and version, never on time: the owners' service log (R122) is sent
/// again only when it changes.
pub fn hold(
    cluster: &Cluster,
    gates: &[VersionGate],
    version: &semver::Version,
) -> Option<GateHold> {
    let missing = gate::missing_for(gates, cluster, version);
    if missing.is_empty() {
        return None;
    }
    let prefix = gate::minor_prefix(version);
    let list: Vec<String> = missing
        .iter()
        .map(|g| format!("{} ({})", g.id, g.label))
        .collect();
    let handlers = Handlers::from_labels(&cluster.labels);
    let takes: Vec<Take> = missing.iter().map(|g| take(g, &handlers)).collect();
    let refused: Vec<String> = missing
        .iter()
        .zip(&takes)
        .filter(|(_, t)| **t != Take::Agree)
        .map(|(g, t)| format!("{} ({}): {}", g.id, g.label, t.describe()))
        .collect();
    let listable = if takes.contains(&Take::NotApproved) {
        " (or, for a gate the approver handles, list its label in sre-capabilities.aus.version-gate-approvals)"
    } else {
        ""
    };
    let (reason, detail) = if refused.is_empty() {
        (
            Reason::VersionGate,
            format!(
                "{version} needs agreement to version gate(s) for {prefix}: {}",
                list.join(", ")
            ),
        )
    } else {
        (
            Reason::MissingGateAgreement,
            format!(
                "{version} needs agreement to version gate(s) for {prefix} that the version-gate approver will not give: {}; OCM refuses the upgrade until the owners agree to them in OCM, after making the change each gate asks for{listable}",
                refused.join("; ")
            ),
        )
    };
    Some(GateHold {
        reason,
        detail,
        gates: missing.iter().map(|g| g.id.clone()).collect(),
        version_prefix: prefix,
    })
}

/// Each missing gate of `cluster` for `version` with what the approver does
/// with it (`srecap aus explain`).
pub fn missing_with_take<'g>(
    cluster: &Cluster,
    gates: &'g [VersionGate],
    version: &semver::Version,
) -> Vec<(&'g VersionGate, Take)> {
    let handlers = Handlers::from_labels(&cluster.labels);
    gate::missing_for(gates, cluster, version)
        .into_iter()
        .map(|g| (g, take(g, &handlers)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{GATE_INGRESS, GATE_STS};
    use crate::labels::{AUS_PREFIX, VERSION_GATE_APPROVALS};
    use srecap_fleet::Product;

    #[test]
    fn r109_the_approvals_label_is_the_aus_setting() {
        assert_eq!(
            APPROVALS_LABEL,
            format!("{AUS_PREFIX}{VERSION_GATE_APPROVALS}")
        );
    }

    fn cluster(sts: bool, available: &[&str], agreed: &[&str], approvals: Option<&str>) -> Cluster {
        let mut labels =
            BTreeMap::from([("sre-capabilities.aus.workloads".to_owned(), "wl".to_owned())]);
        if let Some(a) = approvals {
            labels.insert(
                "sre-capabilities.aus.version-gate-approvals".to_owned(),
                a.to_owned(),
            );
        }
        Cluster {
            name: "c".into(),
            organization: "o".into(),
            id: "c-id".into(),
            external_id: "c-uuid".into(),
            version: "4.12.17".parse().unwrap(),
            channel_group: "stable".into(),
            channel: "stable-4.12".into(),
            available_upgrades: available.iter().map(|v| v.parse().unwrap()).collect(),
            available_upgrades_explicit: true,
            available_channels: vec![],
            product: Product::Rosa,
            hypershift: false,
            sts,
            state: "ready".into(),
            healthy: true,
            labels: labels.into(),
            node_pools: vec![],
            upgrade_policies: vec![],
            gate_agreements: agreed.iter().map(|s| (*s).to_owned()).collect(),
            auth: srecap_fleet::ClusterAuth::default(),
        }
    }

    fn gate(id: &str, prefix: &str, label: &str) -> VersionGate {
        VersionGate {
            id: id.into(),
            version_raw_id_prefix: prefix.into(),
            label: label.into(),
            sts_only: false,
        }
    }

    fn set(h: &Handlers) -> Vec<&str> {
        h.labels().collect()
    }

    #[test]
    fn w23_r109_enabled_handlers() {
        let labels = |v: Option<&str>| cluster(false, &[], &[], v).labels;
        assert_eq!(set(&Handlers::from_labels(&labels(Some("a")))), ["a"]);
        assert_eq!(
            set(&Handlers::from_labels(&labels(Some("a,b,c")))),
            ["a", "b", "c"]
        );
        assert_eq!(set(&Handlers::from_labels(&labels(Some("")))), [GATE_OCP]);
        // Label absent, only other AUS labels.
        assert_eq!(set(&Handlers::from_labels(&labels(None))), [GATE_OCP]);
    }

    #[test]
    fn w23_r110_one_unacknowledged_ocp_gate() {
        let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
        // Handler enabled (by default) -> one agreement.
        let made = agreements(&cluster(false, &["4.13.1"], &[], None), &gates);
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].gate_id, "ocp-4.13");
        assert_eq!(made[0].version_prefix, "4.13");
        // Not enabled -> none.
        let not_enabled = cluster(false, &["4.13.1"], &[], Some(GATE_STS));
        assert!(agreements(&not_enabled, &gates).is_empty());
        // srecap's handlers only acknowledge: none can fail, so W23's
        // "enabled but reports failure" has no srecap counterpart.
    }

    #[test]
    fn r108_every_minor_the_cluster_could_move_to_and_idempotent() {
        let gates = [
            gate("ocp-4.13", "4.13", GATE_OCP),
            gate("ocp-4.14", "4.14", GATE_OCP),
            gate("ingress-4.14", "4.14", GATE_INGRESS),
            gate("ocp-4.15", "4.15", GATE_OCP), // not offered
            gate("ocp-4.12", "4.12", GATE_OCP), // not beyond
        ];
        let c = cluster(
            false,
            &["4.12.20", "4.13.1", "4.14.2"],
            &["ocp-4.13"],
            Some("api.openshift.com/gate-ocp,api.openshift.com/gate-ingress"),
        );
        let ids: Vec<String> = agreements(&c, &gates)
            .into_iter()
            .map(|a| a.gate_id)
            .collect();
        assert_eq!(ids, ["ocp-4.14", "ingress-4.14"]);
        // After agreeing, nothing is proposed again.
        let mut agreed = c.clone();
        agreed.gate_agreements.extend(ids);
        assert!(agreements(&agreed, &gates).is_empty());
        // A gate listed twice by OCM is proposed once.
        let twice = [gate("g", "4.13", GATE_OCP), gate("g", "4.13", GATE_OCP)];
        assert_eq!(
            agreements(&cluster(false, &["4.13.1"], &[], None), &twice).len(),
            1
        );
    }

    #[test]
    fn r94_sts_gates_only_for_sts_clusters() {
        let gates = [gate("sts-4.13", "4.13", GATE_STS)];
        let approves = Some(GATE_STS);
        assert!(agreements(&cluster(false, &["4.13.1"], &[], approves), &gates).is_empty());
        assert_eq!(
            agreements(&cluster(true, &["4.13.1"], &[], approves), &gates).len(),
            1
        );
        assert!(!may_agree(
            &cluster(false, &["4.13.1"], &[], approves),
            &gates
        ));
        assert!(may_agree(
            &cluster(true, &["4.13.1"], &[], approves),
            &gates
        ));
    }

    #[test]
    fn unknown_labels_are_never_agreed_even_when_listed() {
        let gates = [gate("x-4.13", "4.13", "api.openshift.com/gate-new")];
        let c = cluster(false, &["4.13.1"], &[], Some("api.openshift.com/gate-new"));
        assert!(!may_agree(&c, &gates));
        assert!(agreements(&c, &gates).is_empty());
        let hold = hold(&c, &gates, &"4.13.1".parse().unwrap()).unwrap();
        assert_eq!(hold.reason, Reason::MissingGateAgreement);
        assert!(hold.detail.contains("x-4.13"), "{}", hold.detail);
        assert!(hold.detail.contains("no approver handler"));
    }

    #[test]
    fn r92_hold_reason_depends_on_what_the_approver_takes() {
        let gates = [
            gate("ocp-4.13", "4.13", GATE_OCP),
            gate("ingress-4.13", "4.13", GATE_INGRESS),
        ];
        let v: semver::Version = "4.13.1".parse().unwrap();
        // Both approved: the approver agrees, the cluster only waits for it.
        let both = cluster(
            false,
            &["4.13.1"],
            &[],
            Some("api.openshift.com/gate-ocp,api.openshift.com/gate-ingress"),
        );
        let h = hold(&both, &gates, &v).unwrap();
        assert_eq!(h.reason, Reason::VersionGate);
        assert_eq!(h.gates, ["ocp-4.13", "ingress-4.13"]);
        // Ingress not approved: only the owners can agree to it.
        let h = hold(&cluster(false, &["4.13.1"], &[], None), &gates, &v).unwrap();
        assert_eq!(h.reason, Reason::MissingGateAgreement);
        assert!(h.detail.contains("ingress-4.13"));
        assert!(
            h.detail
                .contains("list its label in sre-capabilities.aus.version-gate-approvals")
        );
        assert!(!h.detail.contains("ocp-4.13 ("));
        // All agreed: no hold.
        assert!(
            hold(
                &cluster(false, &["4.13.1"], &["ocp-4.13", "ingress-4.13"], None),
                &gates,
                &v
            )
            .is_none()
        );
    }
}
