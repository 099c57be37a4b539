//! Version gates: which apply to a cluster and which it has not agreed to (§9).

use semver::Version;
use srecap_fleet::{Cluster, VersionGate};

pub const GATE_OCP: &str = "api.openshift.com/gate-ocp";
pub const GATE_STS: &str = "api.openshift.com/gate-sts";
pub const GATE_INGRESS: &str = "api.openshift.com/gate-ingress";

/// `major.minor` of a version.
pub fn minor_prefix(v: &Version) -> String {
    format!("{}.{}", v.major, v.minor)
}

/// Whether srecap's version-gate approver has a handler for `label` (the table
/// of §9). A gate without one is still enforced by OCM (see [`applicable`]);
/// only the approver leaves it to the cluster's owners.
pub fn has_handler(label: &str) -> bool {
    matches!(label, GATE_OCP | GATE_STS | GATE_INGRESS)
}

/// Whether `gate` concerns STS clusters only: OCM's `sts_only`, or the STS
/// label (R94's handler table), whichever says so.
pub fn sts_only(gate: &VersionGate) -> bool {
    gate.sts_only || gate.label == GATE_STS
}

/// Whether `gate` applies to `cluster` (R94): its minor is offered by OCM's
/// `available_upgrades` (not the HCP-augmented list), lies beyond the cluster's
/// current minor, and it is not an STS-only gate of a cluster without STS.
///
/// Deviation (R94 step 3, issue 15 item 2): the reference ignores gates whose
/// label has no handler, books the upgrade anyway and gets a 400 from OCM,
/// which requires an agreement to every applicable gate whatever its label.
/// srecap counts every label, so such a cluster waits (`missing-gate-agreement`)
/// instead of being sent a policy OCM refuses.
pub fn applicable(gate: &VersionGate, cluster: &Cluster) -> bool {
    let Some((major, minor)) = parse_prefix(&gate.version_raw_id_prefix) else {
        return false;
    };
    let offered = cluster
        .available_upgrades
        .iter()
        .any(|v| v.major == major && v.minor == minor);
    // `major.minor.0` of the cluster strictly below the gate's `major.minor.0`.
    let beyond = (cluster.version.major, cluster.version.minor) < (major, minor);
    offered && beyond && (cluster.sts || !sts_only(gate))
}

/// The gates of `gates` that apply to `cluster` ([`applicable`]), in order.
/// The minors it is offered beyond its own are found once, not once per gate:
/// the approver asks this of every cluster in every pass, and a fleet a year
/// into its releases has a gate per minor and dozens of offered versions.
pub fn applicable_gates<'g>(
    gates: &'g [VersionGate],
    cluster: &Cluster,
) -> impl Iterator<Item = &'g VersionGate> {
    let own = (cluster.version.major, cluster.version.minor);
    let mut offered: Vec<(u64, u64)> = Vec::new();
    for v in cluster.available_upgrades.iter() {
        let minor = (v.major, v.minor);
        if minor > own && !offered.contains(&minor) {
            offered.push(minor);
        }
    }
    let sts = cluster.sts;
    gates.iter().filter(move |g| {
        !offered.is_empty()
            && parse_prefix(&g.version_raw_id_prefix).is_some_and(|m| offered.contains(&m))
            && (sts || !sts_only(g))
    })
}

/// `major.minor` as numbers (no allocation: this runs per cluster and gate).
pub(crate) fn parse_prefix(prefix: &str) -> Option<(u64, u64)> {
    let (major, minor) = prefix.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then(|| Some((major.parse().ok()?, minor.parse().ok()?)))?
}

/// Whether any gate applies to `cluster` for `target`'s minor, whatever the
/// cluster agreed to (R92 (a), R94): whether its agreements matter at all.
pub fn gated(gates: &[VersionGate], cluster: &Cluster, target: &Version) -> bool {
    gates
        .iter()
        .filter(|g| parse_prefix(&g.version_raw_id_prefix) == Some((target.major, target.minor)))
        .any(|g| applicable(g, cluster))
}

/// The applicable gates for `target`'s minor that `cluster` has not agreed to
/// (R92 (a)).
pub fn missing_for<'g>(
    gates: &'g [VersionGate],
    cluster: &Cluster,
    target: &Version,
) -> Vec<&'g VersionGate> {
    gates
        .iter()
        .filter(|g| parse_prefix(&g.version_raw_id_prefix) == Some((target.major, target.minor)))
        .filter(|g| applicable(g, cluster))
        .filter(|g| !cluster.gate_agreements.contains(&g.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use srecap_fleet::Product;

    fn cluster(
        product: Product,
        hypershift: bool,
        sts: bool,
        available: &[&str],
        agreed: &[&str],
    ) -> Cluster {
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
            product,
            hypershift,
            sts,
            state: "ready".into(),
            healthy: true,
            labels: std::collections::BTreeMap::default().into(),
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

    /// The approver's batch form finds exactly the gates [`applicable`] finds,
    /// in order, whatever the cluster is offered.
    #[test]
    fn r94_applicable_gates_is_applicable_per_gate() {
        let gates = [
            gate("ocp-4.12", "4.12", GATE_OCP),
            gate("ocp-4.13", "4.13", GATE_OCP),
            gate("sts-4.13", "4.13", GATE_STS),
            VersionGate {
                sts_only: true,
                ..gate("other-4.14", "4.14", "api.openshift.com/gate-other")
            },
            gate("ocp-4.14", "4.14", GATE_OCP),
            gate("ocp-5.0", "5.0", GATE_OCP),
            gate("broken", "4.x", GATE_OCP),
            gate("short", "4", GATE_OCP),
        ];
        let offers: [&[&str]; 6] = [
            &[],
            &["4.12.18"],
            &["4.12.18", "4.13.1"],
            &["4.13.0", "4.13.2", "4.14.1"],
            &["4.14.3", "5.0.1"],
            &["4.11.9", "4.12.20"],
        ];
        for available in offers {
            for sts in [false, true] {
                let c = cluster(Product::Rosa, false, sts, available, &[]);
                let one_by_one: Vec<&str> = gates
                    .iter()
                    .filter(|g| applicable(g, &c))
                    .map(|g| g.id.as_str())
                    .collect();
                let batch: Vec<&str> = applicable_gates(&gates, &c)
                    .map(|g| g.id.as_str())
                    .collect();
                assert_eq!(batch, one_by_one, "{available:?} sts={sts}");
            }
        }
        let c = cluster(Product::Rosa, false, true, &["4.13.0", "4.14.1"], &[]);
        assert_eq!(
            applicable_gates(&gates, &c)
                .map(|g| g.id.as_str())
                .collect::<Vec<_>>(),
            ["ocp-4.13", "sts-4.13", "other-4.14", "ocp-4.14"]
        );
    }

    #[test]
    fn w22_r94_gate_applicability() {
        let gates = [gate("ocp-4.13", "4.13", GATE_OCP)];
        let target: Version = "4.13.1".parse().unwrap();
        for (p, h, s) in [
            (Product::Osd, false, false),
            (Product::Rosa, false, false),
            (Product::Rosa, false, true),
            (Product::Rosa, true, true),
        ] {
            assert!(
                missing_for(
                    &gates,
                    &cluster(p, h, s, &["4.13.1"], &["ocp-4.13"]),
                    &target
                )
                .is_empty()
            );
        }
        for (p, s) in [
            (Product::Osd, false),
            (Product::Rosa, false),
            (Product::Rosa, true),
        ] {
            assert_eq!(
                missing_for(&gates, &cluster(p, false, s, &["4.13.1"], &[]), &target).len(),
                1
            );
        }
        assert!(!applicable(
            &gates[0],
            &cluster(Product::Osd, false, false, &[], &[])
        ));
        assert!(!applicable(
            &gates[0],
            &cluster(Product::Osd, false, false, &["4.12.18"], &[])
        ));
    }

    #[test]
    fn r94_sts_gates_only_for_sts_and_unknown_labels_too() {
        let sts = [gate("sts-4.13", "4.13", GATE_STS)];
        let target: Version = "4.13.1".parse().unwrap();
        assert!(
            missing_for(
                &sts,
                &cluster(Product::Rosa, false, false, &["4.13.1"], &[]),
                &target
            )
            .is_empty()
        );
        assert_eq!(
            missing_for(
                &sts,
                &cluster(Product::Osd, false, true, &["4.13.1"], &[]),
                &target
            )
            .len(),
            1
        );
        // Deviation from R94 step 3: OCM enforces a gate whatever its label.
        let other = [gate("x", "4.13", "api.openshift.com/some-gate")];
        assert_eq!(
            missing_for(
                &other,
                &cluster(Product::Rosa, false, false, &["4.13.1"], &[]),
                &target
            )
            .len(),
            1
        );
        // OCM's `sts_only` alone makes a gate STS-only too.
        let mut flagged = gate("f", "4.13", "api.openshift.com/some-gate");
        flagged.sts_only = true;
        assert!(!applicable(
            &flagged,
            &cluster(Product::Osd, false, false, &["4.13.1"], &[])
        ));
        assert!(applicable(
            &flagged,
            &cluster(Product::Osd, false, true, &["4.13.1"], &[])
        ));
    }
}
