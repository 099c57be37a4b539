//! `PlanOptions { metric_facts: false }` leaves out the metrics' facts and
//! nothing else: the same decisions, explanations, history and gate facts as the
//! default pass, on synthetic fleets with and without invalid labels.

use srecap_aus::{FleetOptions, PlanOptions, plan_fleet};
use srecap_fleet::synthetic::{FleetShape, generate};

#[test]
fn without_metric_facts_the_plan_is_the_same() {
    let now = "2026-11-21T10:00:00Z".parse().expect("valid instant");
    let lean = FleetOptions {
        plan: PlanOptions {
            metric_facts: false,
            ..PlanOptions::default()
        },
        ..FleetOptions::default()
    };
    for (seed, invalid) in [(1, 0.0), (42, 0.02)] {
        let shape = FleetShape {
            invalid_label_fraction: invalid,
            ..FleetShape::default()
        };
        let fleet = generate(&shape, seed, now);
        let full = plan_fleet(&fleet, fleet.now, &FleetOptions::default());
        let without = plan_fleet(&fleet, fleet.now, &lean);
        assert_eq!(
            serde_json::to_value(&full).expect("serializable"),
            serde_json::to_value(&without).expect("serializable"),
            "seed {seed}"
        );
        assert_eq!(full.organizations.len(), without.organizations.len());
        let mut facts = 0;
        for (f, w) in full.organizations.iter().zip(&without.organizations) {
            assert_eq!(f.details.org_name, w.details.org_name);
            assert_eq!(f.details.history_updated, w.details.history_updated);
            assert_eq!(f.details.missing_gates, w.details.missing_gates);
            assert!(w.details.valid_clusters.is_empty());
            assert!(w.details.remaining_soak_days.is_empty());
            facts += f.details.valid_clusters.len() + f.details.remaining_soak_days.len();
        }
        assert!(facts > 0, "seed {seed}: the default pass builds the facts");
    }
}
