//! `SsoClient` against the simulator's Keycloak over HTTP (spec rhidp §5,
//! I26–I34, I40, I72): registration with initial access tokens, the rotating
//! registration access token, deletes and their retries, and errors that
//! never carry a credential.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use srecap_sim::{Fault, RunningSim, SimConfig, Simulator};
use srecap_sso::{
    ClientRegistration, Deleted, Outcome, Secret, SsoClient, SsoError, SsoObserver, SsoRequestEvent,
};

const SCENARIO: &str = "\
now: 2026-11-21T10:00:00Z
organizations:
- id: org-a
clusters: []
sso:
  realms:
  - issuer: https://auth.redhat.com/auth/realms/EmployeeIDP
    allowed_scopes: [web-origins, acr, profile, roles, email, regex-filtered-groups]
    iat: {token: test-iat, expires: 2027-01-01T00:00:00Z, count: 100}
  - issuer: https://auth.redhat.com/auth/realms/Strict
    allowed_scopes: [web-origins, acr, profile, roles, email]
    iat: {token: strict-iat, expires: 2027-01-01T00:00:00Z, count: 100}
    unknown_client_status: 404
";

const REALM: &str = "EmployeeIDP";
const KEY: &str = "my-cluster-org-1-redhat-sso-auth.redhat.com";

async fn sim() -> RunningSim {
    let fleet = srecap_fleet::parse_scenario(SCENARIO, "sso.yaml", Timestamp::UNIX_EPOCH).unwrap();
    srecap_sim::spawn(Simulator::new(fleet, SimConfig::default()))
        .await
        .unwrap()
}

fn issuer(sim: &RunningSim, realm: &str) -> String {
    format!("{}/auth/realms/{realm}", sim.base_url())
}

fn client(key: &str, regex: Option<&str>) -> ClientRegistration {
    let mut scopes: Vec<String> = ["web-origins", "acr", "profile", "roles", "email"]
        .map(str::to_owned)
        .into();
    let attributes = regex.map(|r| {
        scopes.push("regex-filtered-groups".to_owned());
        BTreeMap::from([("group-filter-regex".to_owned(), r.to_owned())])
    });
    ClientRegistration {
        client_id: key.to_owned(),
        redirect_uris: vec![
            "https://oauth-openshift.apps.my-cluster.abcd.p1.openshiftapps.com/oauth2callback/redhat-sso"
                .to_owned(),
        ],
        default_client_scopes: scopes,
        attributes,
    }
}

/// Requests of `method` to the realm's registration endpoints so far.
fn registration_requests(sim: &RunningSim, method: &str) -> u64 {
    sim.sim
        .request_counts()
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&format!("{method} ")) && k.contains("clients-registrations")
        })
        .map(|(_, n)| n)
        .sum()
}

/// The error's whole text, `Display` and `Debug`, with its source chain.
fn text(e: &SsoError) -> String {
    let mut out = format!("{e} {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        // Writing to a String cannot fail.
        let _ = write!(out, " {s}");
        source = s.source();
    }
    out
}

#[tokio::test]
async fn i27_register_answers_secret_and_rat_and_the_realm_holds_the_client() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let registered = sso
        .register(
            &issuer(&sim, REALM),
            &Secret::new("test-iat"),
            &client(KEY, Some("^team-.*$")),
        )
        .await
        .unwrap();
    assert_eq!(registered.client_id, KEY);
    let held = sim.sim.sso_clients(REALM).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].client_id, KEY);
    assert_eq!(registered.secret.expose(), held[0].secret);
    assert_eq!(registered.registration_access_token.expose(), held[0].rat);
    assert_eq!(registered.redirect_uris, held[0].redirect_uris);
    assert_eq!(
        held[0].default_client_scopes.last().map(String::as_str),
        Some("regex-filtered-groups")
    );
    assert_eq!(
        registered
            .attributes
            .get("group-filter-regex")
            .map(String::as_str),
        Some("^team-.*$")
    );
    // The client's secret never shows in `Debug` (I72).
    let shown = format!("{registered:?}");
    assert!(!shown.contains(&held[0].secret) && !shown.contains(&held[0].rat));
}

#[tokio::test]
async fn i27_a_taken_client_id_is_a_conflict() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let iss = issuer(&sim, REALM);
    let iat = Secret::new("test-iat");
    sso.register(&iss, &iat, &client(KEY, None)).await.unwrap();
    let err = sso
        .register(&iss, &iat, &client(KEY, None))
        .await
        .unwrap_err();
    assert!(matches!(err, SsoError::Conflict { .. }), "{err:?}");
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains(KEY), "{err}");
}

#[tokio::test]
async fn i31_expired_exhausted_or_wrong_iats_are_unauthorized() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let iss = issuer(&sim, REALM);
    let one = sim.sim.issue_iat(REALM, 3600, 1).unwrap();
    let expiring = sim.sim.issue_iat(REALM, 60, 5).unwrap();

    // Exhausted: one registration, then refused.
    let one_iat = Secret::new(one.token.clone());
    sso.register(&iss, &one_iat, &client("a", None))
        .await
        .unwrap();
    let exhausted = sso
        .register(&iss, &one_iat, &client("b", None))
        .await
        .unwrap_err();
    // Wrong: a token of another realm, and no token of any realm.
    let other_realm = sso
        .register(&iss, &Secret::new("strict-iat"), &client("c", None))
        .await
        .unwrap_err();
    let wrong = sso
        .register(&iss, &Secret::new("not-a-token"), &client("d", None))
        .await
        .unwrap_err();
    // Expired on the simulated clock.
    sim.sim
        .advance(jiff::SignedDuration::from_secs(120))
        .unwrap();
    let expired = sso
        .register(
            &iss,
            &Secret::new(expiring.token.clone()),
            &client("e", None),
        )
        .await
        .unwrap_err();

    for (case, err, token) in [
        ("exhausted", &exhausted, one.token.as_str()),
        ("other realm", &other_realm, "strict-iat"),
        ("wrong", &wrong, "not-a-token"),
        ("expired", &expired, expiring.token.as_str()),
    ] {
        assert!(
            matches!(err, SsoError::Unauthorized { .. }),
            "{case}: {err:?}"
        );
        assert_eq!(err.status(), Some(401), "{case}");
        let all = text(err);
        assert!(all.contains("initial access token"), "{case}: {all}");
        assert!(!all.contains(token), "{case}: the IAT leaks: {all}");
    }
    // Only the first registration got through.
    let held: Vec<String> = sim
        .sim
        .sso_clients(REALM)
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(held, ["a"]);
}

#[tokio::test]
async fn i29_get_and_update_rotate_the_rat() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let iss = issuer(&sim, REALM);
    let first = sso
        .register(&iss, &Secret::new("test-iat"), &client(KEY, None))
        .await
        .unwrap();
    let rat1 = first.registration_access_token;

    let read = sso.get(&iss, KEY, &rat1).await.unwrap();
    let rat2 = read.registration_access_token;
    assert_ne!(rat1.expose(), rat2.expose(), "a read rotates the RAT");
    assert_eq!(
        read.secret.expose(),
        first.secret.expose(),
        "the secret stays"
    );
    let stale = sso.get(&iss, KEY, &rat1).await.unwrap_err();
    assert!(matches!(stale, SsoError::Unauthorized { .. }), "{stale:?}");
    assert!(!text(&stale).contains(rat1.expose()));

    // Update: the regex arrives (W6) and the RAT rotates again.
    let updated = sso
        .update(&iss, &rat2, &client(KEY, Some("^ai-.*")))
        .await
        .unwrap();
    let rat3 = updated.registration_access_token;
    assert_ne!(rat2.expose(), rat3.expose());
    let held = &sim.sim.sso_clients(REALM).unwrap()[0];
    assert_eq!(
        held.attributes
            .as_ref()
            .and_then(|a| a.get("group-filter-regex"))
            .map(String::as_str),
        Some("^ai-.*")
    );
    assert!(
        held.default_client_scopes
            .iter()
            .any(|s| s == "regex-filtered-groups")
    );
    assert_eq!(held.rat, rat3.expose());
    let stale = sso
        .update(&iss, &rat2, &client(KEY, None))
        .await
        .unwrap_err();
    assert!(matches!(stale, SsoError::Unauthorized { .. }), "{stale:?}");
    let all = text(&stale);
    assert!(
        !all.contains(rat2.expose()) && !all.contains(&held.secret),
        "{all}"
    );
}

#[tokio::test]
async fn i40_delete_then_gone_with_either_unknown_client_status() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    for (realm, iat, gone) in [(REALM, "test-iat", 401), ("Strict", "strict-iat", 404)] {
        let iss = issuer(&sim, realm);
        let registered = sso
            .register(&iss, &Secret::new(iat), &client(KEY, None))
            .await
            .unwrap();
        let rat = registered.registration_access_token;
        assert_eq!(
            sso.delete(&iss, KEY, &rat).await.unwrap(),
            Deleted::Deleted,
            "{realm}"
        );
        assert!(sim.sim.sso_clients(realm).unwrap().is_empty(), "{realm}");
        assert_eq!(
            sso.delete(&iss, KEY, &rat).await.unwrap(),
            Deleted::Gone(gone),
            "{realm}: a second delete finds nothing"
        );
    }
}

#[tokio::test]
async fn i34_a_503_on_delete_is_retried() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let iss = issuer(&sim, REALM);
    let rat = sso
        .register(&iss, &Secret::new("test-iat"), &client(KEY, None))
        .await
        .unwrap()
        .registration_access_token;
    sim.sim.add_fault(Fault {
        status: 503,
        path_prefix: Some(format!("/auth/realms/{REALM}/clients-registrations")),
        method: Some("DELETE".to_owned()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    assert_eq!(sso.delete(&iss, KEY, &rat).await.unwrap(), Deleted::Deleted);
    assert_eq!(
        registration_requests(&sim, "DELETE"),
        2,
        "one failure, one retry"
    );
    assert!(sim.sim.sso_clients(REALM).unwrap().is_empty());
}

#[tokio::test]
async fn i34_a_503_on_register_is_not_retried() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let iss = issuer(&sim, REALM);
    sim.sim.add_fault(Fault {
        status: 503,
        path_prefix: Some(format!("/auth/realms/{REALM}/clients-registrations")),
        method: Some("POST".to_owned()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    let err = sso
        .register(&iss, &Secret::new("test-iat"), &client(KEY, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SsoError::Status { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(
        registration_requests(&sim, "POST"),
        1,
        "registration is not idempotent"
    );
    assert!(sim.sim.sso_clients(REALM).unwrap().is_empty());
    assert!(!text(&err).contains("test-iat"));
}

#[tokio::test]
async fn i72_errors_never_carry_tokens_or_secrets() {
    let sim = sim().await;
    let sso = SsoClient::new().unwrap();
    let iss = issuer(&sim, REALM);
    let registered = sso
        .register(&iss, &Secret::new("test-iat"), &client(KEY, None))
        .await
        .unwrap();
    let secret = registered.secret.expose().to_owned();
    let rat = registered.registration_access_token.expose().to_owned();
    let mut errors = vec![
        // A scope outside the realm's list (403).
        sso.register(
            &issuer(&sim, "Strict"),
            &Secret::new("strict-iat"),
            &client("x", Some("^a$")),
        )
        .await
        .unwrap_err(),
        // A redirect URI that is not https (400).
        sso.register(
            &iss,
            &Secret::new("test-iat"),
            &ClientRegistration {
                redirect_uris: vec!["http://insecure/cb".to_owned()],
                ..client("y", None)
            },
        )
        .await
        .unwrap_err(),
        // A token presented for another client.
        sso.get(&iss, "y", &Secret::new(rat.clone()))
            .await
            .unwrap_err(),
        sso.update(&iss, &Secret::new(secret.clone()), &client(KEY, None))
            .await
            .unwrap_err(),
    ];
    // No answer at all: a realm on a closed port.
    errors.push(
        sso.get(
            "http://127.0.0.1:9/auth/realms/x",
            KEY,
            &Secret::new(rat.clone()),
        )
        .await
        .unwrap_err(),
    );
    for err in &errors {
        let all = text(err);
        for credential in ["test-iat", "strict-iat", secret.as_str(), rat.as_str()] {
            assert!(!all.contains(credential), "{all}");
        }
    }
    assert_eq!(errors[0].status(), Some(403));
    assert_eq!(errors[1].status(), Some(400));
    assert!(
        matches!(errors[4], SsoError::Transport { .. }),
        "{:?}",
        errors[4]
    );
}

/// Every attempt an observer saw: (method, verb, outcome).
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, Outcome)>>);

impl SsoObserver for Recorder {
    fn observe(&self, event: &SsoRequestEvent<'_>) {
        assert!(event.duration.as_secs() < 30);
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push((
            event.method.to_owned(),
            event.verb.to_owned(),
            event.outcome,
        ));
    }
}

impl Recorder {
    fn seen(&self) -> Vec<(String, String, Outcome)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// I65 `qontract_reconcile_external_api_keycloak_*`: every attempt, retries
/// included, reaches the observer with the reference's method names and the
/// HTTP verb.
#[tokio::test]
async fn i65_every_attempt_is_reported_by_method_and_verb() {
    let sim = sim().await;
    let recorder = Arc::new(Recorder::default());
    let sso = SsoClient::new().unwrap().with_observer(recorder.clone());
    let iss = issuer(&sim, REALM);
    let registered = sso
        .register(&iss, &Secret::new("test-iat"), &client(KEY, None))
        .await
        .unwrap();
    let read = sso
        .get(&iss, KEY, &registered.registration_access_token)
        .await
        .unwrap();
    let updated = sso
        .update(
            &iss,
            &read.registration_access_token,
            &client(KEY, Some("^a")),
        )
        .await
        .unwrap();
    sim.sim.add_fault(Fault {
        status: 503,
        path_prefix: Some(format!("/auth/realms/{REALM}/clients-registrations")),
        method: Some("DELETE".to_owned()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    sso.delete(&iss, KEY, &updated.registration_access_token)
        .await
        .unwrap();
    let seen = recorder.seen();
    let expected = [
        ("clients.register", "POST", Outcome::Status(201)),
        ("clients.get", "GET", Outcome::Status(200)),
        ("clients.update", "PUT", Outcome::Status(200)),
        ("clients.delete", "DELETE", Outcome::Status(503)),
        ("clients.delete", "DELETE", Outcome::Status(204)),
    ]
    .map(|(m, v, o)| (m.to_owned(), v.to_owned(), o));
    assert_eq!(seen, expected);
    // A client without an observer still works (and reports nowhere).
    SsoClient::new()
        .unwrap()
        .register(&iss, &Secret::new("test-iat"), &client("other", None))
        .await
        .unwrap();
    assert_eq!(recorder.seen().len(), 5);
}
