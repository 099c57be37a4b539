//! Invariants of plans over generated worlds, and convergence: following plans with
//! the in-memory executor reaches a fixed point whose end state is what the labels
//! ask for.

use std::collections::BTreeSet;

use crate::world::{World, cluster, github, settings};
use proptest::prelude::*;
use srecap_rhidp::Planner;
use srecap_rhidp::cluster::{Disposition, OffReason};
use srecap_rhidp::idp::OPENID;
use srecap_rhidp::plan::{Action, IdpAction, IdpDeleteReason, Plan, SsoClientAction};
use srecap_rhidp::record::StoredRecord;

#[derive(Debug, Clone)]
struct Spec {
    status: Option<&'static str>,
    name: Option<&'static str>,
    regex: bool,
    console: bool,
    github: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(vec![
            None,
            Some("enabled"),
            Some("enforced"),
            Some("sso-client-only"),
            Some("disabled"),
            Some("Enabled"),
        ]),
        prop::sample::select(vec![None, Some("alt-sso"), Some("bad/name")]),
        any::<bool>(),
        prop::bool::weighted(0.9),
        any::<bool>(),
    )
        .prop_map(|(status, name, regex, console, github)| Spec {
            status,
            name,
            regex,
            console,
            github,
        })
}

fn labels(s: &Spec) -> Vec<(&'static str, &'static str)> {
    let mut l = Vec::new();
    if let Some(v) = s.status {
        l.push(("sre-capabilities.rhidp.status", v));
    }
    if let Some(v) = s.name {
        l.push(("sre-capabilities.rhidp.name", v));
    }
    if s.regex {
        l.push(("sre-capabilities.rhidp.group-filter-regex", "^a"));
    }
    l
}

fn build(specs: &[Spec]) -> World {
    let mut w = World::default();
    let mut st = settings();
    st.allow_mass_deletion = true;
    w.planner = Planner::new(st);
    for (i, s) in specs.iter().enumerate() {
        let mut c = cluster(&format!("id{i}"), &format!("c{i}"), "org-1", &labels(s));
        if !s.console {
            c.console_url = None;
        }
        let id = c.id.clone();
        w.cluster(c);
        if s.github {
            w.idps(&id, vec![github(&format!("gh{i}"), "github")]);
        }
    }
    w
}

/// Plan invariants: no key created and deleted, deletes before creates per kind,
/// no provider both deleted and written, no secret in the output.
fn check(plan: &Plan, w: &World) {
    let mut created = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    let mut seen_write = false;
    let mut seen_client_write = false;
    let mut deleted_idps = BTreeSet::new();
    for a in &plan.actions {
        match a {
            Action::SsoClient(SsoClientAction::Delete { sso_client_id, .. }) => {
                assert!(!seen_client_write, "client delete after a create/update");
                deleted.insert(sso_client_id.clone());
            }
            Action::SsoClient(s) => {
                seen_client_write = true;
                created.insert(s.key().to_owned());
            }
            Action::IdentityProvider(IdpAction::Delete {
                cluster_id,
                idp_id,
                after_provider,
                ..
            }) => {
                // Only the W8 cleanup deletes follow the writes, each after
                // its cluster's managed write.
                assert!(
                    !seen_write || after_provider.is_some(),
                    "provider delete after a write"
                );
                deleted_idps.insert((cluster_id.clone(), idp_id.clone()));
            }
            Action::IdentityProvider(IdpAction::Update {
                cluster_id, idp_id, ..
            }) => {
                seen_write = true;
                assert!(!deleted_idps.contains(&(cluster_id.clone(), idp_id.clone())));
            }
            Action::IdentityProvider(IdpAction::Create { .. }) => seen_write = true,
        }
    }
    assert!(created.is_disjoint(&deleted), "{created:?} / {deleted:?}");
    // W8: a cluster loses a provider other than the managed one only when the
    // managed one already matches, or after the managed one's write in this
    // pass, on which the delete depends.
    for (i, a) in plan.actions.iter().enumerate() {
        if let Action::IdentityProvider(IdpAction::Delete {
            cluster_id,
            reason: IdpDeleteReason::Enforced | IdpDeleteReason::Renamed,
            after_provider,
            ..
        }) = a
        {
            let write = plan.actions.iter().position(|b| matches!(
                b,
                Action::IdentityProvider(IdpAction::Create { cluster_id: c, .. } | IdpAction::Update { cluster_id: c, .. })
                    if c == cluster_id
            ));
            match (write, after_provider) {
                (None, None) => {}
                (Some(w), Some(_)) => assert!(w < i, "cleanup before the managed write"),
                other => panic!("W8 dependency missing: {other:?}"),
            }
        }
    }
    let json = serde_json::to_string(plan).unwrap();
    for secret in w.keycloak.values() {
        assert!(!json.contains(secret.as_str()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn plans_keep_their_invariants_and_converge(
        first in prop::collection::vec(spec(), 1..6),
        second in prop::collection::vec(spec(), 1..6),
    ) {
        let mut w = build(&first);
        for _ in 0..4 {
            let plan = w.plan();
            check(&plan, &w);
            w.apply(&plan);
        }
        // Relabel every cluster (and add or drop some), then follow to a fixed point.
        let mut next = build(&second);
        next.state = w.state.clone();
        next.keycloak = w.keycloak.clone();
        for (id, listing) in &w.snapshot.identity_providers {
            if next.snapshot.identity_providers.contains_key(id) {
                next.snapshot.identity_providers.insert(id.clone(), listing.clone());
            }
        }
        for _ in 0..6 {
            let plan = next.plan();
            check(&plan, &next);
            if plan.actions.is_empty() {
                break;
            }
            next.apply(&plan);
        }
        let plan = next.plan();
        prop_assert!(plan.actions.is_empty(), "no fixed point: {:?}", crate::world::describe(&plan));

        // The fixed point is what the labels ask for.
        for c in &plan.clusters {
            let idps = next.listing(&c.cluster_id);
            match &c.disposition {
                Disposition::On(cfg) if cfg.switches.idp => {
                    let managed = idps.iter().find(|i| i.name == cfg.auth_name).unwrap();
                    prop_assert_eq!(managed.client_id(), Some(cfg.key.as_str()));
                    let Some(StoredRecord::Record(r)) = next.state.records.get(&cfg.key) else {
                        panic!("no record for {}", cfg.key);
                    };
                    let fingerprint = r.fingerprint();
                    prop_assert_eq!(
                        next.state.idp_fingerprints[&c.cluster_id].get(&cfg.auth_name),
                        fingerprint.as_ref()
                    );
                    let others = idps.iter().filter(|i| i.name != cfg.auth_name);
                    if cfg.switches.enforced {
                        prop_assert_eq!(others.count(), 0);
                    } else {
                        prop_assert!(others.filter(|i| i.kind == OPENID).count() == 0);
                    }
                }
                Disposition::On(cfg) => {
                    prop_assert!(idps.iter().all(|i| i.kind != OPENID));
                    prop_assert!(next.state.records.contains_key(&cfg.key));
                }
                Disposition::Off { reason: OffReason::Disabled, .. } => {
                    prop_assert!(idps.iter().all(|i| i.kind != OPENID));
                }
                _ => {}
            }
        }
        // Every record belongs to a cluster that wants it, or to one that is frozen
        // or without a console (state kept).
        for key in next.state.records.keys() {
            let owner = plan.clusters.iter().find(|c| key.starts_with(&format!("{}-", c.name)));
            let keep = owner.is_some_and(|c| match &c.disposition {
                Disposition::On(cfg) => &cfg.key == key,
                Disposition::Frozen | Disposition::NoConsole => true,
                _ => false,
            });
            prop_assert!(keep, "stray record {key}");
        }
    }
}
