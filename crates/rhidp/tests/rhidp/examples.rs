//! Planner tests: the worked examples of spec §15 (E1–E21 where they are planner
//! decisions), every row of the I57 transition table, and the srecap rules (W1,
//! W5, W8, I41, I59, I62, I72). Test names cite the rule or example.
//!
//! Not planner decisions, so not here: E11 (rollback after a failed record write)
//! and E12 (per-action error isolation) are executor behaviour — the executor must
//! delete a just-registered client with its RAT when the record write fails and
//! report the write error, and must run every action of a plan even when one
//! fails. E22 is the app-interface label bridge, which srecap replaces by its CLI.

use std::collections::BTreeMap;

use crate::world::{
    ISSUER, World, cluster, describe, github, openid, redirect, reference_record, settings,
};
use srecap_rhidp::cluster::{Disposition, OffReason, evaluate};
use srecap_rhidp::labels::Status;
use srecap_rhidp::plan::{
    Action, ClientChange, IdpAction, IdpDeleteReason, OperatorCode, SsoClientAction,
};
use srecap_rhidp::problem::{Code, Severity};
use srecap_rhidp::record::{ClientRecord, RecordState, StoredRecord};
use srecap_rhidp::{IdpListing, Planner};

const STATUS: &str = "sre-capabilities.rhidp.status";
const BARE: &str = "sre-capabilities.rhidp";
const NAME: &str = "sre-capabilities.rhidp.name";
const ISSUER_KEY: &str = "sre-capabilities.rhidp.issuer";
const REGEX: &str = "sre-capabilities.rhidp.group-filter-regex";
const KEEP: &str = "sre-capabilities.rhidp.keep-idps";
const K1: &str = "c1-org-1-redhat-sso-issuer.example.com";

fn enabled() -> [(&'static str, &'static str); 1] {
    [(STATUS, "enabled")]
}

/// One enabled cluster `c1` whose client and provider are in place and in step.
fn settled() -> World {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()));
    w.converge(3);
    assert_eq!(w.idp_names("id1"), ["redhat-sso"]);
    assert_eq!(w.record_keys(), [K1]);
    w
}

// ---------------------------------------------------------------- §15 labels

#[test]
fn e1_status_mapping() {
    let s = settings();
    // (status label, (SSO client, IdP, enforced))
    let rows = [
        (None, (false, false, false)),
        (Some("enabled"), (true, true, false)),
        (Some("enforced"), (true, true, true)),
        (Some("sso-client-only"), (true, false, false)),
        (Some("disabled"), (false, false, false)),
    ];
    for (status, (client, idp, enforced)) in rows {
        let sub: Vec<(&str, &str)> = status.map(|v| (STATUS, v)).into_iter().collect();
        let e = evaluate(&cluster("id1", "c1", "o", &sub), Some(&org()), &s);
        let switches = match &e.disposition {
            Disposition::On(c) => c.switches,
            Disposition::Off { .. } => Status::Disabled.switches(),
            other => panic!("{status:?}: {other:?}"),
        };
        assert_eq!(
            (switches.sso_client, switches.idp, switches.enforced),
            (client, idp, enforced),
            "{status:?}"
        );
        // The cluster is kept in every case, so its providers are still inspected.
        assert!(e.disposition.is_managed());
    }
}

fn org() -> srecap_rhidp::cluster::Organization {
    srecap_rhidp::cluster::Organization {
        labels: BTreeMap::new(),
        allowed: true,
    }
}

#[test]
fn e2_overrides_and_defaults() {
    let s = settings();
    let c = cluster(
        "id1",
        "c1",
        "o",
        &[
            (NAME, "custom-auth"),
            (ISSUER_KEY, "https://custom-issuer"),
            (STATUS, "enabled"),
            (REGEX, "^team-.*$"),
        ],
    );
    let Disposition::On(config) = evaluate(&c, Some(&org()), &s).disposition else {
        panic!("not on");
    };
    assert_eq!(config.auth_name, "custom-auth");
    assert_eq!(config.issuer, "https://custom-issuer");
    assert!(config.switches.idp && !config.switches.enforced);
    assert_eq!(config.group_filter.as_deref(), Some("^team-.*$"));

    let none = evaluate(&cluster("id2", "c2", "o", &[]), Some(&org()), &s);
    assert_eq!(
        none.disposition,
        Disposition::Off {
            reason: OffReason::Disabled,
            managed_name: Some("redhat-sso".into())
        }
    );
}

#[test]
fn e3_deprecated_bare_key_wins() {
    let e = evaluate(
        &cluster("id1", "c1", "o", &[(BARE, "enabled"), (STATUS, "disabled")]),
        Some(&org()),
        &settings(),
    );
    assert_eq!(e.status, Some(Status::Enabled));
    assert!(matches!(e.disposition, Disposition::On(_)));
}

#[test]
fn e4_exclusions_drop_no_console_and_external_auth() {
    let mut w = World::default();
    let mut no_console = cluster("id01", "no-console", "o", &enabled());
    no_console.console_url = None;
    let mut ext = cluster("id02", "ext-auth", "o", &[(STATUS, "disabled")]);
    ext.external_auth = true;
    let mut ext_false = cluster("id12", "ext-false", "o", &enabled());
    ext_false.external_auth = false;
    for c in [
        no_console,
        ext,
        cluster("id03", "enabled", "o", &enabled()),
        cluster("id04", "disabled", "o", &[(STATUS, "disabled")]),
        cluster("id05", "enforced", "o", &[(STATUS, "enforced")]),
        cluster("id06", "sso-only", "o", &[(STATUS, "sso-client-only")]),
        cluster("id07", "dep-enabled", "o", &[(BARE, "enabled")]),
        cluster("id08", "dep-disabled", "o", &[(BARE, "disabled")]),
        cluster(
            "id09",
            "custom-name",
            "o",
            &[(STATUS, "enabled"), (NAME, "foobar-auth")],
        ),
        cluster(
            "id10",
            "custom-issuer",
            "o",
            &[(STATUS, "enabled"), (ISSUER_KEY, "https://foobar.com")],
        ),
        cluster(
            "id11",
            "regex",
            "o",
            &[(STATUS, "enabled"), (REGEX, "^ai-.*")],
        ),
        ext_false,
    ] {
        w.cluster(c);
    }
    let plan = w.plan();
    assert_eq!(plan.facts.managed_clusters["o"], 10);
    let excluded: Vec<&str> = plan
        .clusters
        .iter()
        .filter(|c| !c.disposition.is_managed())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(excluded, ["no-console", "ext-auth"]);
    // Excluded clusters get nothing; the disabled external-auth cluster no log.
    assert!(plan.service_logs().next().is_none());
    let on = |name: &str| {
        plan.clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| match &c.disposition {
                Disposition::On(cfg) => (cfg.auth_name.clone(), cfg.issuer.clone()),
                other => panic!("{name}: {other:?}"),
            })
            .unwrap()
    };
    assert_eq!(on("custom-name").0, "foobar-auth");
    assert_eq!(on("custom-issuer").1, "https://foobar.com");
    assert_eq!(on("dep-enabled").0, "redhat-sso");
}

#[test]
fn e5_managed_clusters_metric_per_org() {
    let mut w = World::default();
    w.cluster(cluster("a", "cluster-1", "org-id-1", &enabled()))
        .cluster(cluster("b", "cluster-2", "org-id-2", &enabled()))
        .cluster(cluster(
            "c",
            "cluster-groups",
            "org-id-2",
            &[(STATUS, "enabled"), (REGEX, "^ai-.*")],
        ))
        .cluster(cluster(
            "d",
            "cluster-3",
            "org-id-2",
            &[(STATUS, "disabled")],
        ));
    let facts = w.plan().facts;
    assert_eq!(facts.managed_clusters["org-id-1"], 1);
    assert_eq!(facts.managed_clusters["org-id-2"], 3);
    assert_eq!(facts.validation_errors["org-id-2"], 0);
}

#[test]
fn e6_desired_sso_clients() {
    let mut w = World::default();
    let l = |s: &'static str| {
        vec![
            (STATUS, s),
            (ISSUER_KEY, "https://issuer.com"),
            (NAME, "oidc-auth"),
        ]
    };
    w.cluster(cluster("a", "cluster-1", "org-id-1", &l("enabled")))
        .cluster(cluster("b", "cluster-2", "org-id-2", &l("enabled")))
        .cluster(cluster("c", "cluster-groups", "org-id-2", &l("enabled")))
        .cluster(cluster("d", "cluster-3", "org-id-2", &l("disabled")));
    let creates: Vec<String> = describe(&w.plan())
        .into_iter()
        .filter(|d| d.starts_with("client create"))
        .collect();
    assert_eq!(
        creates,
        [
            "client create cluster-1-org-id-1-oidc-auth-issuer.com",
            "client create cluster-2-org-id-2-oidc-auth-issuer.com",
            "client create cluster-groups-org-id-2-oidc-auth-issuer.com",
        ]
    );
}

// ------------------------------------------------------------ §15 SSO diff

#[test]
fn e7_sso_diff_deletes_unwanted_and_creates_missing() {
    let mut w = World::default();
    w.cluster(cluster("id1", "to-be-kept", "o", &enabled()))
        .cluster(cluster("id2", "new-one", "o", &enabled()));
    let kept = "to-be-kept-o-redhat-sso-issuer.example.com";
    let mut r = reference_record(kept, ISSUER, "s1");
    r.redirect_uris = vec![redirect("to-be-kept", "redhat-sso")];
    w.record(kept, r);
    w.record(
        "to-be-removed",
        reference_record("to-be-removed", ISSUER, "s2"),
    );
    let d: Vec<String> = describe(&w.plan())
        .into_iter()
        .filter(|d| d.starts_with("client"))
        .collect();
    assert_eq!(
        d,
        [
            "client delete to-be-removed",
            "client create new-one-o-redhat-sso-issuer.example.com",
        ]
    );
}

#[test]
fn e8_deterministic_ordering_deletes_then_creates_sorted() {
    let mut w = World::default();
    w.cluster(cluster("id-z", "z-cluster", "org-1", &enabled()))
        .cluster(cluster("id-a", "a-cluster", "org-1", &enabled()));
    w.record("z-existing", reference_record("z-existing", ISSUER, "s"));
    w.record("a-existing", reference_record("a-existing", ISSUER, "s"));
    let d: Vec<String> = describe(&w.plan())
        .into_iter()
        .filter(|d| d.starts_with("client"))
        .collect();
    assert_eq!(
        d,
        [
            "client delete a-existing",
            "client delete z-existing",
            "client create a-cluster-org-1-redhat-sso-issuer.example.com",
            "client create z-cluster-org-1-redhat-sso-issuer.example.com",
        ]
    );
}

#[test]
fn e9_create_carries_the_regex_and_the_record_has_the_reference_fields() {
    let mut w = World::default();
    w.cluster(cluster(
        "id1",
        "my-cluster",
        "org-1",
        &[(STATUS, "enabled"), (REGEX, "^team-.*$")],
    ));
    let plan = w.plan();
    let Some(Action::SsoClient(SsoClientAction::Create { client, .. })) = plan
        .actions
        .iter()
        .find(|a| matches!(a, Action::SsoClient(_)))
    else {
        panic!("no create");
    };
    let body = serde_json::to_value(client.registration()).unwrap();
    assert_eq!(body["attributes"]["group-filter-regex"], "^team-.*$");
    assert_eq!(body["defaultClientScopes"][5], "regex-filtered-groups");
    let key = "my-cluster-org-1-redhat-sso-issuer.example.com";
    let mut reg = crate::world::registered(client, "s3cr3t");
    reg.attributes = BTreeMap::from([("what".into(), "ever".into())]);
    assert_eq!(reg.client_id, key);
    assert_eq!(reg.issuer, ISSUER);
    assert_eq!(
        reg.registration_client_uri,
        format!("{ISSUER}/clients-registrations/default/{key}")
    );
    // Legacy fixture: unrecognised console URL, custom name and issuer.
    let mut legacy = cluster(
        "id2",
        "c",
        "o",
        &[
            (STATUS, "enabled"),
            (NAME, "oidc-auth"),
            (ISSUER_KEY, "https://issuer.com"),
        ],
    );
    legacy.console_url = Some("https://console.foobar.com".into());
    let mut w = World::default();
    w.cluster(legacy);
    let plan = w.plan();
    let Some(Action::SsoClient(SsoClientAction::Create { client, .. })) = plan.actions.first()
    else {
        panic!("no create");
    };
    assert_eq!(
        client.redirect_uri,
        "https://console.foobar.com/oauth2callback/oidc-auth"
    );
    assert_eq!(client.issuer, "https://issuer.com");
    // W20: operators hear about the unrecognised console URL; it does not block.
    assert!(
        plan.operator_errors
            .iter()
            .any(|e| e.code == OperatorCode::RedirectUnrecognised && !e.fails_pass)
    );
}

#[test]
fn e10_delete_of_an_obsolete_client_without_clusters() {
    let mut w = World::default();
    w.record(
        "obsolete-client",
        reference_record("obsolete-client", ISSUER, "s"),
    );
    assert_eq!(describe(&w.plan()), ["client delete obsolete-client"]);
}

// ------------------------------------------------------- §15 providers

/// E13 with the srecap W8 rule: C's GitHub provider goes one pass later, once C's
/// managed provider exists and matches.
#[test]
fn e13_mixed_provider_plan() {
    let mut w = World::default();
    let l = |s: &'static str| {
        vec![
            (STATUS, s),
            (ISSUER_KEY, "https://issuer.com"),
            (NAME, "oidc-auth"),
        ]
    };
    w.cluster(cluster("a", "A", "o", &l("enabled")))
        .cluster(cluster("b", "B", "o", &l("disabled")))
        .cluster(cluster("c", "C", "o", &l("enforced")));
    let ka = "A-o-oidc-auth-issuer.com";
    let kc = "C-o-oidc-auth-issuer.com";
    let mut ra = reference_record(ka, "https://issuer.com", "sa");
    ra.client_id = "other-client-id".into();
    ra.redirect_uris = vec![redirect("A", "oidc-auth")];
    let mut rc = reference_record(kc, "https://issuer.com", "sc");
    rc.client_id = "client_id".into();
    rc.redirect_uris = vec![redirect("C", "oidc-auth")];
    w.record(ka, ra).record(kc, rc);
    w.idps(
        "a",
        vec![
            openid("a1", "oidc-auth", "client_id", "https://issuer.com", false),
            github("a2", "gh-auth"),
        ],
    )
    .idps(
        "b",
        vec![openid(
            "b1",
            "oidc-auth",
            "client_id",
            "https://issuer.com",
            false,
        )],
    )
    .idps("c", vec![github("c1", "gh-auth")]);
    assert_eq!(
        describe(&w.pass()),
        [
            "idp delete B/oidc-auth#b1",
            "idp create C/oidc-auth",
            "idp update A/oidc-auth",
            // W8 within the pass: after C's managed provider was created.
            "idp delete C/gh-auth#c1",
        ]
    );
    assert!(describe(&w.pass()).is_empty());
    assert_eq!(w.idp_names("a"), ["gh-auth", "oidc-auth"]);
}

#[test]
fn e14_no_change_when_in_step() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()));
    let mut r = reference_record(K1, ISSUER, "s");
    r.client_id = "client-1".into();
    r.redirect_uris = vec![redirect("c1", "redhat-sso")];
    w.record(K1, r)
        .idps(
            "id1",
            vec![openid("i1", "redhat-sso", "client-1", ISSUER, false)],
        )
        .applied("id1", "redhat-sso", K1);
    assert_eq!(describe(&w.plan()), Vec::<String>::new());
}

/// Adoption: without a stored fingerprint srecap cannot know the provider holds the
/// record's secret, so it writes it once (W5).
#[test]
fn e14_adoption_writes_the_secret_once() {
    let mut w = settled();
    w.state.idp_fingerprints.clear();
    let plan = w.pass();
    assert_eq!(describe(&plan), ["idp update c1/redhat-sso"]);
    let Some(Action::IdentityProvider(IdpAction::Update { differences, .. })) =
        plan.actions.first()
    else {
        panic!()
    };
    assert_eq!(
        serde_json::to_value(differences).unwrap(),
        serde_json::json!(["secret"])
    );
    assert_eq!(w.converge(1), 0);
}

#[test]
fn e15_claims_follow_the_record_attributes() {
    let mut w = settled();
    // The record says the client has a filter (echoed by Keycloak), the label agrees.
    w.labels_of("id1").insert(REGEX.into(), "^ai-.*".into());
    if let Some(StoredRecord::Record(r)) = w.state.records.get_mut(K1) {
        r.attributes
            .insert("group-filter-regex".into(), "^ai-.*".into());
    }
    let plan = w.plan();
    assert_eq!(describe(&plan), ["idp update c1/redhat-sso"]);
    let Some(Action::IdentityProvider(IdpAction::Update { idp, idp_id, .. })) =
        plan.actions.first()
    else {
        panic!()
    };
    assert_eq!(idp.claims.groups, ["filtered_groups"]);
    assert_eq!(idp_id, &w.listing("id1")[0].id.clone().unwrap());
}

#[test]
fn e16_disabled_cleanup_only_of_managed_names() {
    let mut w = World::default();
    w.cluster(cluster("a", "A", "o", &[(STATUS, "disabled")]))
        .cluster(cluster("b", "B", "o", &[(STATUS, "disabled")]))
        .cluster(cluster(
            "c",
            "C",
            "o",
            &[(STATUS, "disabled"), (NAME, "redhat-app-sre-auth")],
        ));
    w.idps("a", vec![openid("a1", "redhat-sso", "x", ISSUER, false)])
        .idps(
            "b",
            vec![openid("b1", "some-other-idp", "x", ISSUER, false)],
        )
        .idps(
            "c",
            vec![openid("c1", "redhat-app-sre-auth", "x", ISSUER, false)],
        );
    assert_eq!(
        describe(&w.plan()),
        [
            "idp delete A/redhat-sso#a1",
            "idp delete C/redhat-app-sre-auth#c1"
        ]
    );
}

#[test]
fn e17_enforced_removes_foreign_providers_once_managed_matches() {
    let mut w = settled();
    w.labels_of("id1").insert(STATUS.into(), "enforced".into());
    let mut idps = w.listing("id1").to_vec();
    idps.push(github("g1", "github"));
    w.idps("id1", idps);
    let plan = w.plan();
    assert_eq!(describe(&plan), ["idp delete c1/github#g1"]);
    assert!(matches!(
        plan.actions[0],
        Action::IdentityProvider(IdpAction::Delete {
            reason: IdpDeleteReason::Enforced,
            ..
        })
    ));
}

#[test]
fn e18_unresolved_record_protects_the_provider() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()))
        .idps("id1", vec![openid("i1", "redhat-sso", K1, ISSUER, false)]);
    w.state.records.insert(
        K1.into(),
        StoredRecord::parse(&format!(r#"{{"client_id": "{K1}"}}"#)),
    );
    let plan = w.plan();
    assert_eq!(describe(&plan), Vec::<String>::new());
    assert!(!plan.failed());
}

#[test]
fn e19_issuer_mismatch_fails_the_pass_and_protects_the_provider() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()))
        .idps("id1", vec![openid("i1", "redhat-sso", K1, ISSUER, false)]);
    w.record(
        K1,
        reference_record(K1, "https://different-issuer.example.com", "s"),
    );
    let plan = w.plan();
    assert_eq!(describe(&plan), Vec::<String>::new());
    assert!(plan.failed());
    let errors: Vec<_> = plan
        .operator_errors
        .iter()
        .filter(|e| e.fails_pass)
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .contains("does not match configured cluster issuer")
    );
}

#[test]
fn e20_deletable_provider_without_id_is_an_error() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "o", &[(STATUS, "disabled")]));
    let mut idp = openid("x", "redhat-sso", "k", ISSUER, false);
    idp.id = None;
    w.idps("id1", vec![idp]);
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    assert_eq!(plan.operator_errors.len(), 1);
    assert_eq!(plan.operator_errors[0].code, OperatorCode::IdpWithoutId);
    assert!(plan.failed());
}

#[test]
fn e21_unreadable_provider_list_skips_that_cluster_only() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "o", &[(STATUS, "disabled")]))
        .cluster(cluster("id2", "c2", "o", &[(STATUS, "disabled")]));
    w.snapshot
        .identity_providers
        .insert("id1".into(), IdpListing::Unreadable);
    w.idps("id2", vec![openid("i2", "redhat-sso", "k", ISSUER, false)]);
    let plan = w.plan();
    assert_eq!(describe(&plan), ["idp delete c2/redhat-sso#i2"]);
    assert!(!plan.failed());
}

// ------------------------------------------------- I57, row by row

#[test]
fn i57_absent_to_enabled_client_then_provider_in_one_pass() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &[]));
    assert!(w.plan().actions.is_empty());
    w.labels_of("id1").insert(STATUS.into(), "enabled".into());
    let plan = w.pass();
    assert_eq!(
        describe(&plan),
        [
            format!("client create {K1}"),
            "idp create c1/redhat-sso".into()
        ]
    );
    let Some(Action::IdentityProvider(IdpAction::Create {
        after_client,
        notice,
        ..
    })) = plan.actions.get(1)
    else {
        panic!()
    };
    assert_eq!(after_client.as_deref(), Some(K1));
    assert_eq!(notice.as_ref().unwrap().severity, Severity::Info);
    assert_eq!(w.converge(2), 0);
}

#[test]
fn i57_failed_client_create_skips_the_provider_create() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()));
    w.failing.insert(format!("client create {K1}"));
    w.pass();
    assert!(w.idp_names("id1").is_empty());
    w.failing.clear();
    assert_eq!(w.converge(3), 1);
}

#[test]
fn i57_enabled_to_enforced_keeps_managed_and_removes_others() {
    let mut w = settled();
    let mut idps = w.listing("id1").to_vec();
    idps.extend([github("g1", "github"), github("h1", "htpasswd")]);
    w.idps("id1", idps);
    assert!(
        w.plan().actions.is_empty(),
        "enabled leaves foreign providers"
    );
    w.labels_of("id1").insert(STATUS.into(), "enforced".into());
    w.converge(2);
    assert_eq!(w.idp_names("id1"), ["redhat-sso"]);
}

#[test]
fn i57_w8_enforced_never_deletes_foreign_before_managed_exists() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &[(STATUS, "enforced")]))
        .idps("id1", vec![github("g1", "github")]);
    assert_eq!(
        describe(&w.pass()),
        [
            format!("client create {K1}"),
            "idp create c1/redhat-sso".into(),
            "idp delete c1/github#g1".into(),
        ]
    );
    assert!(describe(&w.pass()).is_empty());
}

#[test]
fn i57_w8_a_failed_managed_create_keeps_the_foreign_providers() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &[(STATUS, "enforced")]))
        .idps("id1", vec![github("g1", "github")]);
    w.failing.insert("idp create c1/redhat-sso".into());
    let plan = w.pass();
    assert!(describe(&plan).contains(&"idp delete c1/github#g1".to_owned()));
    assert_eq!(
        w.idp_names("id1"),
        ["github"],
        "the last working login stays"
    );
    w.failing.clear();
    w.converge(2);
    assert_eq!(w.idp_names("id1"), ["redhat-sso"]);
}

#[test]
fn w9_enforced_keeps_the_providers_of_its_allow_list_and_reports_them() {
    let mut w = settled();
    let mut idps = w.listing("id1").to_vec();
    idps.extend([github("g1", "github"), github("h1", "htpasswd")]);
    w.idps("id1", idps);
    w.labels_of("id1").insert(STATUS.into(), "enforced".into());
    w.labels_of("id1")
        .insert(KEEP.into(), "htpasswd, cluster-admin".into());
    let plan = w.plan();
    assert_eq!(describe(&plan), ["idp delete c1/github#g1"]);
    let c1 = plan
        .clusters
        .iter()
        .find(|c| c.cluster_id == "id1")
        .unwrap();
    // Only providers that are listed and kept are reported, not every name
    // of the label.
    assert_eq!(c1.kept_idps, ["htpasswd"]);
    let json = serde_json::to_value(c1).unwrap();
    assert_eq!(json["kept_idps"], serde_json::json!(["htpasswd"]));
    assert_eq!(
        json["keep_idps"],
        serde_json::json!(["cluster-admin", "htpasswd"])
    );
    w.converge(2);
    assert_eq!(w.idp_names("id1"), ["redhat-sso", "htpasswd"]);
}

#[test]
fn w9_w8_kept_providers_are_not_deleted_after_a_first_create_either() {
    let mut w = World::default();
    w.cluster(cluster(
        "id1",
        "c1",
        "org-1",
        &[(STATUS, "enforced"), (KEEP, "htpasswd")],
    ))
    .idps(
        "id1",
        vec![github("g1", "github"), github("h1", "htpasswd")],
    );
    assert_eq!(
        describe(&w.pass()),
        [
            format!("client create {K1}"),
            "idp create c1/redhat-sso".into(),
            "idp delete c1/github#g1".into(),
        ]
    );
    assert!(describe(&w.pass()).is_empty());
    assert_eq!(w.idp_names("id1"), ["htpasswd", "redhat-sso"]);
}

#[test]
fn w9_keep_idps_does_not_keep_srecaps_own_provider_under_an_old_name() {
    let mut w = settled();
    w.labels_of("id1").insert(STATUS.into(), "enforced".into());
    w.labels_of("id1").insert(KEEP.into(), "redhat-sso".into());
    w.labels_of("id1").insert(NAME.into(), "new-sso".into());
    w.converge(4);
    // The old provider pointed at a client srecap deleted: a dead button (W3).
    assert_eq!(w.idp_names("id1"), ["new-sso"]);
}

#[test]
fn w9_an_invalid_allow_list_freezes_the_cluster() {
    let mut w = settled();
    let mut idps = w.listing("id1").to_vec();
    idps.push(github("g1", "github"));
    w.idps("id1", idps);
    w.labels_of("id1").insert(STATUS.into(), "enforced".into());
    w.labels_of("id1").insert(KEEP.into(), "github,".into());
    let plan = w.plan();
    assert!(plan.actions.is_empty(), "{:?}", describe(&plan));
    let c1 = &plan.clusters[0];
    assert_eq!(c1.problems[0].code, Code::KeepIdpsInvalid);
    assert_eq!(c1.service_logs.len(), 1);
}

#[test]
fn i57_enabled_to_sso_client_only_deletes_the_provider_keeps_the_client() {
    let mut w = settled();
    w.labels_of("id1")
        .insert(STATUS.into(), "sso-client-only".into());
    let id = w.listing("id1")[0].id.clone().unwrap();
    assert_eq!(
        describe(&w.pass()),
        [format!("idp delete c1/redhat-sso#{id}")]
    );
    assert_eq!(w.converge(1), 0);
    assert_eq!(w.record_keys(), [K1]);
}

#[test]
fn i57_enabled_to_disabled_provider_then_client_in_one_pass() {
    let mut w = settled();
    w.labels_of("id1").insert(STATUS.into(), "disabled".into());
    let id = w.listing("id1")[0].id.clone().unwrap();
    let plan = w.pass();
    assert_eq!(
        describe(&plan),
        [
            format!("idp delete c1/redhat-sso#{id}"),
            format!("client delete {K1}")
        ]
    );
    let Some(Action::SsoClient(SsoClientAction::Delete {
        after_idp_deletes, ..
    })) = plan.actions.get(1)
    else {
        panic!()
    };
    assert_eq!(after_idp_deletes[0].idp_id, id);
    // I63: the owners hear that the provider was removed.
    let Some(Action::IdentityProvider(IdpAction::Delete { notice, .. })) = plan.actions.first()
    else {
        panic!()
    };
    assert!(notice.is_some());
    assert!(w.idp_names("id1").is_empty() && w.record_keys().is_empty());
}

#[test]
fn i58_failed_provider_delete_keeps_the_client() {
    let mut w = settled();
    w.labels_of("id1").insert(STATUS.into(), "disabled".into());
    let id = w.listing("id1")[0].id.clone().unwrap();
    w.failing.insert(format!("idp delete c1/redhat-sso#{id}"));
    w.pass();
    assert_eq!(w.record_keys(), [K1]);
    w.failing.clear();
    assert_eq!(w.converge(2), 1);
    assert!(w.record_keys().is_empty());
}

#[test]
fn i57_w3_name_change_deletes_the_old_provider_after_the_new_one_works() {
    let mut w = settled();
    w.labels_of("id1").insert(NAME.into(), "new-sso".into());
    let k2 = "c1-org-1-new-sso-issuer.example.com";
    let old = w.listing("id1")[0].id.clone().unwrap();
    assert_eq!(
        describe(&w.pass()),
        [
            format!("client create {k2}"),
            "idp create c1/new-sso".into(),
            format!("idp delete c1/redhat-sso#{old}"),
        ]
    );
    // The old client goes once no provider refers to it (I58).
    assert_eq!(describe(&w.pass()), [format!("client delete {K1}")]);
    assert_eq!(w.converge(1), 0);
    assert_eq!(w.idp_names("id1"), ["new-sso"]);
    assert_eq!(w.record_keys(), [k2]);
}

#[test]
fn i57_issuer_host_change_repoints_the_provider_then_drops_the_old_client() {
    let mut w = settled();
    w.labels_of("id1").insert(
        ISSUER_KEY.into(),
        "https://other-host.example.com/auth/realms/EmployeeIDP".into(),
    );
    let k2 = "c1-org-1-redhat-sso-other-host.example.com";
    assert_eq!(
        describe(&w.pass()),
        [
            format!("client create {k2}"),
            "idp update c1/redhat-sso".into()
        ]
    );
    // The provider no longer points at the old client: it goes next pass (I58).
    assert_eq!(describe(&w.pass()), [format!("client delete {K1}")]);
    assert_eq!(w.converge(1), 0);
    assert_eq!(w.listing("id1")[0].client_id(), Some(k2));
}

/// Same host, other realm: the key is the same (I24 exact), so this is the fatal
/// mismatch of I48 — the provider is protected and the operator must act (W16;
/// the realm-qualified key of I73 is not implemented).
#[test]
fn i57_issuer_realm_change_same_host_is_an_operator_error() {
    let mut w = settled();
    w.labels_of("id1").insert(
        ISSUER_KEY.into(),
        "https://issuer.example.com/auth/realms/Other".into(),
    );
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    assert!(
        plan.operator_errors
            .iter()
            .any(|e| e.code == OperatorCode::IssuerMismatch)
    );
}

#[test]
fn i57_w6_regex_change_updates_client_and_claims() {
    let mut w = settled();
    w.labels_of("id1").insert(REGEX.into(), "^ai-.*".into());
    let plan = w.pass();
    assert_eq!(
        describe(&plan),
        [
            format!("client update {K1}"),
            "idp update c1/redhat-sso".into()
        ]
    );
    let Some(Action::SsoClient(SsoClientAction::Update { changes, .. })) = plan.actions.first()
    else {
        panic!()
    };
    assert!(matches!(changes[0], ClientChange::GroupFilter { .. }));
    assert_eq!(w.converge(1), 0);
    assert_eq!(
        w.listing("id1")[0].open_id.as_ref().unwrap().claims.groups,
        ["filtered_groups"]
    );
    // And back.
    w.labels_of("id1").remove(REGEX);
    w.converge(2);
    assert!(
        w.listing("id1")[0]
            .open_id
            .as_ref()
            .unwrap()
            .claims
            .groups
            .is_empty()
    );
}

#[test]
fn i57_w7_console_url_change_updates_redirect_uris() {
    let mut w = settled();
    w.cluster_mut("id1").console_url =
        Some("https://console-openshift-console.apps.custom.example.com".into());
    let plan = w.pass();
    let Some(Action::SsoClient(SsoClientAction::Update { changes, .. })) = plan.actions.first()
    else {
        panic!("{:?}", describe(&plan))
    };
    assert_eq!(
        changes,
        &[ClientChange::RedirectUris {
            from: vec![
                "https://oauth-openshift.apps.c1.abcd.p1.openshiftapps.com/oauth2callback/redhat-sso"
                    .into()
            ],
            to: vec![
                "https://oauth-openshift.apps.custom.example.com/oauth2callback/redhat-sso".into()
            ],
        }]
    );
    assert_eq!(w.converge(2), 0);
}

#[test]
fn i57_w4_labels_removed_reads_as_disabled() {
    let mut w = settled();
    w.labels_of("id1").clear();
    w.converge(2);
    assert!(w.idp_names("id1").is_empty());
    assert!(w.record_keys().is_empty());
}

#[test]
fn i57_w4_org_leaves_allowlist_reads_as_disabled_without_notice() {
    let mut w = settled();
    w.snapshot.organizations.get_mut("org-1").unwrap().allowed = false;
    let plan = w.pass();
    assert_eq!(plan.actions.len(), 2);
    assert!(matches!(
        plan.clusters[0].disposition,
        Disposition::Off {
            reason: OffReason::OrganizationNotAllowed,
            ..
        }
    ));
    assert!(matches!(
        &plan.actions[0],
        Action::IdentityProvider(IdpAction::Delete { notice: None, .. })
    ));
    assert!(w.record_keys().is_empty());
    assert!(!plan.facts.managed_clusters.contains_key("org-1"));
}

#[test]
fn i57_w5_cluster_not_ready_keeps_everything() {
    let mut w = settled();
    // Not ready: not discovered, but it still exists in OCM.
    let discovered = std::mem::take(&mut w.snapshot.clusters);
    assert!(w.plan().actions.is_empty());
    // Back to ready: client, secret and provider were never touched, so the
    // provider still holds the client's secret and nothing is to do (W5).
    w.snapshot.clusters = discovered;
    assert!(w.plan().actions.is_empty());
}

#[test]
fn i57_w5_reregistered_client_updates_the_provider_secret() {
    let mut w = settled();
    // Someone re-registered the client: same client id, new secret.
    if let Some(StoredRecord::Record(r)) = w.state.records.get_mut(K1) {
        r.client_secret = Some(srecap_rhidp::record::Secret::new("new-secret"));
        r.secret_fingerprint = None;
    }
    assert_eq!(describe(&w.pass()), ["idp update c1/redhat-sso"]);
    assert_eq!(w.converge(1), 0);
}

#[test]
fn i57_cluster_deleted_deletes_the_client() {
    let mut w = settled();
    w.snapshot.clusters.clear();
    w.snapshot.existing_clusters.clear();
    w.snapshot.identity_providers.clear();
    assert_eq!(describe(&w.plan()), [format!("client delete {K1}")]);
}

#[test]
fn i57_external_auth_later_is_a_configuration_error_keeping_state() {
    let mut w = settled();
    w.cluster_mut("id1").external_auth = true;
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    let logs: Vec<_> = plan.service_logs().collect();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].description.starts_with("RHIDP-EXTERNAL-AUTH"));
    // Once disabled, the client goes (no provider step on such a cluster).
    w.labels_of("id1").insert(STATUS.into(), "disabled".into());
    assert_eq!(describe(&w.plan()), [format!("client delete {K1}")]);
}

#[test]
fn i57_console_url_disappears_keeps_everything_silently() {
    let mut w = settled();
    w.cluster_mut("id1").console_url = None;
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    assert!(plan.service_logs().next().is_none());
}

// ------------------------------------------------- srecap rules

#[test]
fn w1_unknown_status_freezes_the_cluster_and_tells_its_owners() {
    let mut w = settled();
    w.labels_of("id1").insert(STATUS.into(), "Disabled".into());
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    let c = &plan.clusters[0];
    assert_eq!(c.disposition, Disposition::Frozen);
    assert_eq!(c.problems[0].code, Code::StatusInvalid);
    assert_eq!(c.service_logs[0].summary, "Red Hat IdP configuration error");
    assert_eq!(c.service_logs[0].severity, Severity::Moderate);
    assert!(
        c.service_logs[0]
            .description
            .contains("sre-capabilities.rhidp.status=\"Disabled\"")
    );
    assert_eq!(plan.facts.validation_errors["org-1"], 1);
}

#[test]
fn i8_i9_invalid_name_or_issuer_freezes_and_names_the_label() {
    let mut w = settled();
    w.labels_of("id1").insert(NAME.into(), "a/b".into());
    w.labels_of("id1")
        .insert(ISSUER_KEY.into(), "https://unknown.example.com".into());
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    let codes: Vec<Code> = plan.clusters[0].problems.iter().map(|p| p.code).collect();
    assert_eq!(codes, [Code::NameInvalid, Code::IssuerUnknown]);
}

#[test]
fn i11_unknown_key_warns_without_blocking() {
    let mut w = World::default();
    w.cluster(cluster(
        "id1",
        "c1",
        "org-1",
        &[(STATUS, "enabled"), ("sre-capabilities.rhidp.statsu", "x")],
    ));
    let plan = w.plan();
    assert_eq!(plan.actions.len(), 2);
    let logs = &plan.clusters[0].service_logs;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].severity, Severity::Warning);
    assert!(logs[0].description.starts_with("RHIDP-UNKNOWN-KEY"));
    assert_eq!(plan.facts.validation_errors["org-1"], 0);
}

#[test]
fn i41_pending_record_is_registered_again() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()));
    let plan = w.plan();
    let Some(Action::SsoClient(SsoClientAction::Create { client, .. })) = plan.actions.first()
    else {
        panic!()
    };
    let pending = ClientRecord::pending(client, "production", crate::world::now());
    w.state
        .records
        .insert(K1.into(), StoredRecord::Record(Box::new(pending.clone())));
    let plan = w.plan();
    assert!(matches!(
        plan.actions.first(),
        Some(Action::SsoClient(SsoClientAction::Create {
            retry_of_pending: true,
            ..
        }))
    ));
    assert_eq!(describe(&plan)[1], "idp create c1/redhat-sso");

    // A pending record nobody wants any more: record only, and an orphan warning.
    w.labels_of("id1").insert(STATUS.into(), "disabled".into());
    let plan = w.plan();
    assert!(matches!(
        plan.actions.first(),
        Some(Action::SsoClient(SsoClientAction::Delete {
            record_only: true,
            ..
        }))
    ));
    assert_eq!(pending.state, RecordState::Pending);
    assert!(
        plan.operator_errors
            .iter()
            .any(|e| e.code == OperatorCode::PossibleOrphan)
    );
}

#[test]
fn i59_blast_radius_guard_withholds_mass_deletes() {
    let mut w = World::default();
    for i in 0..20 {
        let key = format!("gone-{i:02}");
        w.record(&key, reference_record(&key, ISSUER, "s"));
    }
    let plan = w.plan();
    assert!(plan.actions.is_empty());
    assert!(plan.failed());
    let guard = plan.deletions_blocked.unwrap();
    assert_eq!((guard.sso_client_deletes, guard.sso_clients), (20, 20));
    assert!(guard.sso_clients_blocked && !guard.idps_blocked);
    assert!(plan.facts.deletions_blocked);
    // The operator override lets them through.
    let mut s = settings();
    s.allow_mass_deletion = true;
    w.planner = Planner::new(s);
    assert_eq!(w.plan().actions.len(), 20);
    // Five deletes never trip the guard.
    let mut w = World::default();
    for i in 0..5 {
        let key = format!("gone-{i:02}");
        w.record(&key, reference_record(&key, ISSUER, "s"));
    }
    assert_eq!(w.plan().actions.len(), 5);
}

#[test]
fn i45_i55_reference_action_shapes() {
    let mut w = settled();
    w.labels_of("id1").insert(STATUS.into(), "disabled".into());
    w.cluster(cluster("id2", "c2", "org-1", &enabled()));
    let shapes = w.plan().reference_actions();
    assert_eq!(
        shapes,
        [
            serde_json::json!({"action_type": "delete", "cluster_name": "c1", "idp_name": "redhat-sso"}),
            serde_json::json!({"action_type": "delete", "sso_client_id": K1}),
            serde_json::json!({"action_type": "create", "sso_client_id": "c2-org-1-redhat-sso-issuer.example.com", "cluster_name": "c2", "auth_name": "redhat-sso"}),
            serde_json::json!({"action_type": "create", "cluster_name": "c2", "auth_name": "redhat-sso"}),
        ]
    );
}

#[test]
fn i72_plans_never_hold_secrets() {
    let mut w = settled();
    w.labels_of("id1").insert(REGEX.into(), "^x".into());
    w.cluster(cluster("id2", "c2", "org-1", &enabled()));
    let plan = w.plan();
    assert!(!plan.actions.is_empty());
    let json = serde_json::to_string(&plan).unwrap();
    let debug = format!("{plan:?}");
    for secret in w.keycloak.values() {
        assert!(!json.contains(secret.as_str()), "{json}");
        assert!(!debug.contains(secret.as_str()));
    }
    assert!(!json.contains("rat-"));
}

#[test]
fn duplicate_keys_freeze_the_second_cluster() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &enabled()))
        .cluster(cluster("id2", "c1", "org-1", &enabled()));
    let plan = w.plan();
    assert_eq!(
        describe(&plan),
        [
            format!("client create {K1}"),
            "idp create c1/redhat-sso".into()
        ]
    );
    assert_eq!(plan.clusters[1].disposition, Disposition::Frozen);
    assert!(
        plan.operator_errors
            .iter()
            .any(|e| e.code == OperatorCode::DuplicateKey)
    );
}

#[test]
fn adopted_reference_records_are_attributed_by_name_and_org() {
    let mut w = World::default();
    w.cluster(cluster("id1", "c1", "org-1", &[(STATUS, "disabled")]));
    w.record(K1, reference_record(K1, ISSUER, "s"))
        .idps("id1", vec![openid("i1", "redhat-sso", K1, ISSUER, false)]);
    assert_eq!(
        describe(&w.plan()),
        [
            "idp delete c1/redhat-sso#i1".to_owned(),
            format!("client delete {K1}")
        ]
    );
    // Its cluster exists but is not ready: the record stays.
    let mut w = World::default();
    w.record(K1, reference_record(K1, ISSUER, "s"));
    w.snapshot
        .existing_clusters
        .push(srecap_rhidp::ExistingCluster {
            id: "id1".into(),
            name: "c1".into(),
            organization_id: "org-1".into(),
        });
    assert!(w.plan().actions.is_empty());
}

#[test]
fn i47_provider_lists_are_fetched_only_where_they_can_matter() {
    let mut w = World::default();
    let mut no_console = cluster("id1", "c1", "o", &enabled());
    no_console.console_url = None;
    let mut ext = cluster("id2", "c2", "o", &enabled());
    ext.external_auth = true;
    w.cluster(no_console)
        .cluster(ext)
        .cluster(cluster("id3", "c3", "o", &[(STATUS, "bogus")]))
        .cluster(cluster("id4", "c4", "o", &[(STATUS, "disabled")]))
        .cluster(cluster("id5", "c5", "o", &enabled()));
    assert_eq!(w.planner.provider_lists_needed(&w.snapshot), ["id4", "id5"]);
}

#[test]
fn i59_withheld_provider_deletes_withhold_their_clients_too() {
    let mut w = World::default();
    for i in 0..6 {
        let (id, name) = (format!("id{i}"), format!("c{i}"));
        w.cluster(cluster(&id, &name, "org-1", &enabled()));
    }
    w.converge(3);
    assert_eq!(w.record_keys().len(), 6);
    for i in 0..6 {
        w.labels_of(&format!("id{i}")).clear();
    }
    let plan = w.plan();
    let guard = plan.deletions_blocked.unwrap();
    assert!(guard.idps_blocked);
    assert_eq!((guard.idp_deletes, guard.idps), (6, 6));
    // No provider delete, and no client delete that waited for one.
    assert!(plan.actions.is_empty(), "{:?}", describe(&plan));
    assert!(plan.failed());
}
