//! The dry-run output of one mixed pass, checked in: the JSON contract of a plan
//! (action shapes, problems, service logs, operator errors, facts). Review a
//! changed snapshot as a change of that contract.

use crate::world::{ISSUER, World, cluster, github, openid, redirect, reference_record};

#[test]
fn mixed_pass_plan() {
    let mut w = World::default();
    // c1: enabled earlier, now disabled — provider then client go, with a notice.
    w.cluster(cluster(
        "id1",
        "c1",
        "org-1",
        &[("sre-capabilities.rhidp.status", "disabled")],
    ));
    let k1 = "c1-org-1-redhat-sso-issuer.example.com";
    let mut r1 = reference_record(k1, ISSUER, "s1");
    r1.redirect_uris = vec![redirect("c1", "redhat-sso")];
    w.record(k1, r1).idps(
        "id1",
        vec![openid("idp-1", "redhat-sso", k1, ISSUER, false)],
    );
    // c2: newly enforced with a group filter and a GitHub provider (kept this pass, W8).
    w.cluster(cluster(
        "id2",
        "c2",
        "org-1",
        &[
            ("sre-capabilities.rhidp.status", "enforced"),
            ("sre-capabilities.rhidp.group-filter-regex", "^sre-.*"),
        ],
    ))
    .idps("id2", vec![github("idp-2", "github")]);
    // c3: a status typo and an unknown key — frozen, one error and one warning log.
    w.cluster(cluster(
        "id3",
        "c3",
        "org-2",
        &[
            ("sre-capabilities.rhidp.status", "Enabled"),
            ("sre-capabilities.rhidp.statsu", "enabled"),
        ],
    ));
    let plan = w.plan();
    insta::assert_json_snapshot!(plan);
}
