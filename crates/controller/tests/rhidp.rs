//! The Red Hat IdP reconciler end to end against the simulator over HTTP
//! (issue 17's acceptance): discovery, sealed client records, Keycloak
//! registration, OCM identity providers and service logs, two passes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use srecap_controller::rhidp::{Outcome, Realm, RhidpReconciler};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient, RetryPolicy};
use srecap_rhidp::Planner;
use srecap_rhidp::settings::{KeycloakInstance, Settings};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_sso::{Secret, SsoClient};
use srecap_store::{SealingKey, Store};

const ISSUER: &str = "https://auth.redhat.com/auth/realms/EmployeeIDP";
const REALM: &str = "EmployeeIDP";

const SCENARIO: &str = "\
now: 2026-11-21T10:00:00Z
organizations:
- id: org-a
clusters:
- name: en
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: enabled}
- name: enf
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: enforced, sre-capabilities.rhidp.group-filter-regex: '^team-.*$'}
  identity_providers:
  - {id: gh-1, type: GithubIdentityProvider, name: github, mapping_method: claim}
- name: rosa-hcp
  organization: org-a
  version: 4.14.5
  console_url: https://console-openshift-console.apps.rosa.rosa-hcp.x1y2.p3.openshiftapps.com
  labels: {sre-capabilities.rhidp.status: enabled, sre-capabilities.rhidp.name: corp sso}
- name: off
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: disabled}
- name: typo
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: Enabeld}
  identity_providers:
  - {id: gh-2, type: GithubIdentityProvider, name: github, mapping_method: claim}
sso:
  realms:
  - issuer: https://auth.redhat.com/auth/realms/EmployeeIDP
    allowed_scopes: [web-origins, acr, profile, roles, email, regex-filtered-groups]
    iat: {token: test-iat, expires: 2027-01-01T00:00:00Z, count: 100}
";

struct World {
    sim: RunningSim,
    ocm: Arc<OcmClient>,
    store: Store,
    key: SealingKey,
}

impl World {
    async fn new() -> World {
        let fleet =
            srecap_fleet::parse_scenario(SCENARIO, "rhidp.yaml", Timestamp::UNIX_EPOCH).unwrap();
        let sim = srecap_sim::spawn(Simulator::new(fleet, SimConfig::default()))
            .await
            .unwrap();
        let opts = ConnectionOptions {
            api_url: Some(sim.base_url()),
            token_url: Some(sim.token_url()),
            client_id: Some("srecap-sim".into()),
            client_secret: Some("srecap-sim".into()),
            offline_token: None,
            token_file: None,
            scopes: None,
        };
        let credentials = Credentials::resolve(&opts, &|_| None, None).unwrap();
        let mut config = ClientConfig::new(credentials);
        config.retry = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        World {
            ocm: Arc::new(OcmClient::new(config).unwrap()),
            sim,
            store: Store::open("memory:").await.unwrap(),
            key: SealingKey::generate(),
        }
    }

    fn reconciler(&self) -> RhidpReconciler {
        let settings = Settings::new(vec![KeycloakInstance {
            issuer: ISSUER.to_owned(),
        }])
        .unwrap();
        RhidpReconciler {
            ocm: self.ocm.clone(),
            sso: SsoClient::new().unwrap(),
            secrets: self.store.secrets(self.key.clone()),
            planner: Planner::new(settings),
            environment: "production".to_owned(),
            namespace: "rhidp".to_owned(),
            realms: BTreeMap::from([(
                ISSUER.to_owned(),
                Realm {
                    url: Some(format!("{}/auth/realms/{REALM}", self.sim.base_url())),
                    iat: Secret::new("test-iat"),
                },
            )]),
            allowed: Arc::new(|_| true),
            dry_run: false,
            telemetry: None,
        }
    }

    fn cluster_id(&self, name: &str) -> String {
        self.sim
            .sim
            .fleet()
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .id
            .clone()
    }

    fn uuid(&self, name: &str) -> String {
        self.sim
            .sim
            .fleet()
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .external_id
            .clone()
    }
}

fn outcomes(report: &srecap_controller::rhidp::RhidpReport) -> Vec<(String, Outcome)> {
    report
        .execution
        .as_ref()
        .unwrap()
        .actions
        .iter()
        .map(|a| (a.action.to_string(), a.outcome.clone()))
        .collect()
}

/// Issue 17's end-to-end acceptance (I3, I20, I22, I24, I57, I62, W1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_configures_every_enabled_cluster_and_a_second_changes_nothing() {
    let w = World::new().await;
    let r = w.reconciler();
    let now = w.sim.sim.now();
    let first = r.pass(now).await.unwrap();
    let done = outcomes(&first);
    assert!(
        done.iter().all(|(_, o)| *o == Outcome::Done),
        "every action succeeded: {done:#?}"
    );

    // Exactly one SSO client per enabled cluster, redirecting to its OAuth
    // callback (I20), keyed as I24 says.
    let clients = w.sim.sim.sso_clients(REALM).unwrap();
    let by_id: BTreeMap<&str, &srecap_sim::sso::Client> =
        clients.iter().map(|c| (c.client_id.as_str(), c)).collect();
    assert_eq!(clients.len(), 3, "{:?}", by_id.keys());
    let expected = [
        ("en", "redhat-sso"),
        ("enf", "redhat-sso"),
        ("rosa-hcp", "corp-sso"),
    ];
    for (cluster, auth) in expected {
        let key = format!("{cluster}-org-a-{auth}-auth.redhat.com");
        let client = by_id.get(key.as_str()).unwrap_or_else(|| panic!("{key}"));
        let redirect = &client.redirect_uris[0];
        assert!(
            redirect.ends_with(&format!("/oauth2callback/{auth}")),
            "{redirect}"
        );
        if cluster == "rosa-hcp" {
            assert_eq!(
                redirect,
                "https://oauth.rosa-hcp.x1y2.p3.openshiftapps.com:443/oauth2callback/corp-sso"
            );
        } else {
            assert!(
                redirect.starts_with(&format!("https://oauth-openshift.apps.{cluster}.")),
                "{redirect}"
            );
        }
        // One identity provider pointing at it, with the current secret (I22).
        let id = w.cluster_id(cluster);
        let idps = w.sim.sim.identity_providers(&id);
        let managed: Vec<_> = idps.iter().filter(|i| i.name == auth).collect();
        assert_eq!(managed.len(), 1, "{cluster}: {idps:?}");
        let open_id = managed[0].open_id.as_ref().unwrap();
        assert_eq!(open_id.client_id, key);
        assert_eq!(open_id.issuer, ISSUER);
        assert_eq!(
            w.sim
                .sim
                .identity_provider_secret(&id, &managed[0].id)
                .as_deref(),
            Some(client.secret.as_str()),
            "{cluster}: the provider holds the client's current secret"
        );
    }
    // The group filter reaches the client and the provider's claims (I10, I22).
    let enf = by_id["enf-org-a-redhat-sso-auth.redhat.com"];
    assert!(
        enf.default_client_scopes
            .iter()
            .any(|s| s == "regex-filtered-groups")
    );

    // The mis-spelled status: a service log and nothing else (W1, I62).
    let typo = w.cluster_id("typo");
    assert_eq!(
        w.sim.sim.identity_providers(&typo).len(),
        1,
        "its GitHub provider stays"
    );
    assert!(!by_id.keys().any(|k| k.starts_with("typo-")));
    let logs = w.sim.sim.service_logs();
    let typo_logs: Vec<_> = logs
        .iter()
        .filter(|l| l.cluster_uuid == w.uuid("typo"))
        .collect();
    assert_eq!(typo_logs.len(), 1, "{typo_logs:?}");
    assert!(
        typo_logs[0].description.contains("Enabeld"),
        "{:?}",
        typo_logs[0]
    );
    // The disabled cluster: nothing at all.
    assert!(
        w.sim
            .sim
            .identity_providers(&w.cluster_id("off"))
            .is_empty()
    );

    // Second pass: nothing to do, no new service log (24 h dedup).
    let second = r.pass(now).await.unwrap();
    assert!(
        second.plan.actions.is_empty(),
        "{:#?}",
        second.plan.reference_actions()
    );
    assert_eq!(second.execution.as_ref().unwrap().service_logs_sent, 0);
    assert_eq!(w.sim.sim.service_logs().len(), logs.len());
}

/// Disabling removes the provider first, then the client (I57, I58), and the
/// enforced cluster loses its foreign providers once the managed one works
/// (W8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_removes_the_provider_then_the_client_and_enforcing_removes_foreign_ones() {
    let w = World::new().await;
    let r = w.reconciler();
    let now = w.sim.sim.now();
    r.pass(now).await.unwrap();
    // W8: the GitHub provider of the enforced cluster went right after the
    // managed one was created, in the same pass.
    let enf = w.cluster_id("enf");
    let names: Vec<String> = w
        .sim
        .sim
        .identity_providers(&enf)
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["redhat-sso"]);

    // Switch `en` off through OCM's label API.
    let en = w.ocm.get_cluster(&w.cluster_id("en")).await.unwrap();
    let sub = en.subscription_id().unwrap().to_owned();
    w.ocm
        .update_subscription_label(&sub, "sre-capabilities.rhidp.status", "disabled")
        .await
        .unwrap();
    let third = r.pass(now).await.unwrap();
    let shapes = third.plan.reference_actions();
    assert_eq!(
        shapes,
        [
            serde_json::json!({"action_type": "delete", "cluster_name": "en", "idp_name": "redhat-sso"}),
            serde_json::json!({"action_type": "delete", "sso_client_id": "en-org-a-redhat-sso-auth.redhat.com"}),
        ],
        "provider before client"
    );
    assert!(outcomes(&third).iter().all(|(_, o)| *o == Outcome::Done));
    assert!(w.sim.sim.identity_providers(&en.id).is_empty());
    assert!(
        !w.sim
            .sim
            .sso_clients(REALM)
            .unwrap()
            .iter()
            .any(|c| c.client_id.starts_with("en-"))
    );
    assert!(r.pass(now).await.unwrap().plan.actions.is_empty());
}

/// Secrets never leave the sealed store and the wire (I72): not in the plan,
/// the report or the errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_hold_no_secret() {
    let w = World::new().await;
    let r = w.reconciler();
    let report = r.pass(w.sim.sim.now()).await.unwrap();
    let text = serde_json::to_string(&report).unwrap() + &format!("{report:?}");
    for client in w.sim.sim.sso_clients(REALM).unwrap() {
        assert!(
            !text.contains(&client.secret),
            "client secret in the report"
        );
        assert!(!text.contains(&client.rat), "RAT in the report");
    }
    assert!(!text.contains("test-iat"));
}

/// E11 / I39: registration succeeds, writing the record fails: the new client
/// is deleted again with its RAT and the write error is reported; the pending
/// record written before registering makes the next pass register again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_record_write_rolls_the_registration_back_e11() {
    let w = World::new().await;
    let Store::Memory(memory) = &w.store else {
        unreachable!("the test world uses a memory store")
    };
    // Three enabled clusters: each writes a pending record, then the full one.
    // Let the first pending record through, fail the next write (the first
    // full record): one registration must be rolled back.
    memory.inject_secret_write_faults(1, 1);
    let r = w.reconciler();
    let now = w.sim.sim.now();
    let first = r.pass(now).await.unwrap();
    let failed: Vec<_> = outcomes(&first)
        .into_iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let Outcome::Failed { error } = &failed[0].1 else {
        unreachable!()
    };
    assert!(error.contains("injected write fault"), "{error}");
    let key: String =
        serde_json::from_str::<serde_json::Value>(&failed[0].0).unwrap()["sso_client_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let clients = w.sim.sim.sso_clients(REALM).unwrap();
    assert!(
        !clients.iter().any(|c| c.client_id == key),
        "the registration of {key} was rolled back"
    );
    assert_eq!(clients.len(), 2);
    // Next pass: the pending record is registered again; then all is done.
    r.pass(now).await.unwrap();
    let clients = w.sim.sim.sso_clients(REALM).unwrap();
    assert_eq!(clients.len(), 3);
    assert_eq!(clients.iter().filter(|c| c.client_id == key).count(), 1);
    assert!(r.pass(now).await.unwrap().plan.actions.is_empty());
}
