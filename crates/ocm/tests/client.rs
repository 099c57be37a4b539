//! The OCM client against the OCM simulator over real HTTP on 127.0.0.1.
//!
//! The simulator implements the wire format from the spec independently of this
//! crate, so these tests catch disagreements instead of sharing them.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_fleet::{Cluster, Fleet, NodePool, Organization, Product, Release, VersionGate};
use srecap_ocm::auth::{AuthError, ConnectionOptions, Credentials, Grant, Secret};
use srecap_ocm::model::{
    ApiErrorBody, LabelType, NewAddonUpgradePlan, NewClusterLog, NewUpgradePolicy,
    PolicyStateValue, ScheduleType, Severity, UpgradeType,
};
use srecap_ocm::{
    ClientConfig, Filter, OcmClient, OcmError, Outcome, RequestEvent, RequestObserver, RetryPolicy,
    endpoints,
};
use srecap_sim::{Fault, RunningSim, SimConfig, Simulator, spawn};

const T0: &str = "2026-11-21T10:00:00Z";
const AUS_PREFIX: &str = "sre-capabilities.aus.";

fn t0() -> Timestamp {
    T0.parse().unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn cluster(name: &str, org: &str, version: &str) -> Cluster {
    let ver = v(version);
    Cluster {
        name: name.to_owned(),
        organization: org.to_owned(),
        id: format!("{name}-id"),
        external_id: format!("{name}-uuid"),
        channel: format!("stable-{}.{}", ver.major, ver.minor),
        version: ver,
        channel_group: "stable".to_owned(),
        available_upgrades: Vec::new().into(),
        available_upgrades_explicit: false,
        available_channels: Vec::new(),
        product: Product::Osd,
        hypershift: false,
        sts: false,
        state: "ready".to_owned(),
        healthy: true,
        labels: BTreeMap::new().into(),
        node_pools: Vec::new(),
        upgrade_policies: Vec::new(),
        gate_agreements: Vec::new(),
        auth: srecap_fleet::ClusterAuth::default(),
    }
}

fn org(id: &str, pairs: &[(&str, &str)]) -> Organization {
    Organization {
        id: id.to_owned(),
        name: format!("Team {id}"),
        labels: labels(pairs),
    }
}

fn aus_labels() -> BTreeMap<String, String> {
    labels(&[
        ("sre-capabilities.aus.workloads", "wl-1"),
        ("sre-capabilities.aus.schedule", "0 * * * *"),
        ("sre-capabilities.aus.soak-days", "2"),
    ])
}

/// Two organizations; an OSD cluster enrolled in AUS, one that is not, a ROSA HCP
/// cluster with an older node pool; a 4.15 gate; releases for derived upgrades.
fn small_fleet() -> Fleet {
    let now = t0();
    let day = SignedDuration::from_hours(24);
    let mut prod1 = cluster("prod-1", "org-a", "4.14.5");
    prod1.labels = aus_labels().into();
    prod1.available_channels = vec!["stable-4.14".into(), "stable-4.15".into()];
    let mut prod2 = cluster("prod-2", "org-a", "4.14.5");
    prod2.labels = labels(&[("other.label", "x")]).into();
    let mut hcp = cluster("hcp-1", "org-b", "4.14.6");
    hcp.product = Product::Rosa;
    hcp.hypershift = true;
    hcp.labels = aus_labels().into();
    hcp.node_pools = vec![NodePool {
        id: "workers".into(),
        version: v("4.14.5"),
        upgrade_policies: Vec::new(),
    }];
    Fleet {
        now,
        environment: "production".into(),
        organizations: vec![
            org(
                "org-a",
                &[("sre-capabilities.aus.blocked-versions", "^4\\.15\\.1$")],
            ),
            org("org-b", &[("sre-capabilities.rhidp.status", "enabled")]),
        ],
        clusters: vec![prod1, prod2, hcp],
        version_gates: vec![VersionGate {
            id: "gate-ocp-4-15".into(),
            version_raw_id_prefix: "4.15".into(),
            label: "api.openshift.com/gate-ocp".into(),
            sts_only: false,
        }],
        releases: ["4.14.6", "4.14.7", "4.15.0"]
            .into_iter()
            .map(|r| Release {
                version: v(r),
                channel_groups: vec!["stable".into()],
                published: now - day,
            })
            .collect(),
        version_data: BTreeMap::new(),
        addons: srecap_fleet::Addons::default(),
        sso: srecap_fleet::Sso::default(),
        secrets: srecap_fleet::Secrets::default(),
    }
}

/// `n` OSD clusters in one organization.
fn big_fleet(n: usize) -> Fleet {
    let mut fleet = small_fleet();
    fleet.clusters = (0..n)
        .map(|i| cluster(&format!("c{i:04}"), "org-a", "4.14.5"))
        .collect();
    fleet
}

/// Every attempt the client reports.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(String, String, Outcome, u32)>>,
}

impl RequestObserver for Recorder {
    fn observe(&self, e: &RequestEvent<'_>) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                e.method.to_owned(),
                e.endpoint.to_owned(),
                e.outcome,
                e.attempt,
            ));
    }
}

impl Recorder {
    fn outcomes(&self, method: &str, endpoint: &str) -> Vec<Outcome> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(m, e, _, _)| m == method && e == endpoint)
            .map(|(_, _, o, _)| *o)
            .collect()
    }
}

struct Harness {
    running: RunningSim,
    client: OcmClient,
    recorder: Arc<Recorder>,
}

fn options(running: &RunningSim, id: &str, secret: &str) -> ConnectionOptions {
    ConnectionOptions {
        api_url: Some(running.base_url()),
        token_url: Some(running.token_url()),
        client_id: Some(id.to_owned()),
        client_secret: Some(secret.to_owned()),
        ..ConnectionOptions::default()
    }
}

fn sim_credentials(running: &RunningSim) -> Credentials {
    Credentials::resolve(
        &options(running, "srecap-sim", "srecap-sim"),
        &|_| None,
        None,
    )
    .unwrap()
}

/// Fast retries so tests stay quick; the policy itself is what is under test.
fn test_config(credentials: Credentials, recorder: &Arc<Recorder>) -> ClientConfig {
    let mut config = ClientConfig::new(credentials);
    config.retry = RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    };
    config.request_timeout = Duration::from_secs(10);
    config.observer = Some(recorder.clone());
    config
}

impl Harness {
    async fn start(fleet: Fleet, sim_config: SimConfig) -> Harness {
        Harness::start_with(fleet, sim_config, |_| {}).await
    }

    async fn start_with(
        fleet: Fleet,
        sim_config: SimConfig,
        tweak: impl FnOnce(&mut ClientConfig),
    ) -> Harness {
        let running = spawn(Simulator::new(fleet, sim_config)).await.unwrap();
        let recorder = Arc::new(Recorder::default());
        let mut config = test_config(sim_credentials(&running), &recorder);
        tweak(&mut config);
        let client = OcmClient::new(config).unwrap();
        Harness {
            running,
            client,
            recorder,
        }
    }

    async fn small() -> Harness {
        Harness::start(small_fleet(), SimConfig::default()).await
    }

    fn sim(&self) -> &Simulator {
        &self.running.sim
    }

    /// A refresh token issued by the simulator for its service account.
    async fn offline_token(&self) -> String {
        let body: serde_json::Value = reqwest::Client::new()
            .post(self.running.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "srecap-sim"),
                ("client_secret", "srecap-sim"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["refresh_token"].as_str().unwrap().to_owned()
    }
}

fn aus_subscription_filter() -> Filter {
    Filter::like("key", format!("{AUS_PREFIX}%")).and(Filter::eq("type", "Subscription"))
}

#[tokio::test]
async fn label_discovery_finds_enrolled_clusters_by_search() {
    let h = Harness::small().await;
    let labels = h
        .client
        .search_labels(&aus_subscription_filter())
        .await
        .unwrap();
    assert_eq!(
        labels.len(),
        6,
        "3 AUS labels on each of 2 clusters: {labels:?}"
    );
    assert!(labels.iter().all(|l| l.key.starts_with(AUS_PREFIX)
        && l.label_type == Some(LabelType::Subscription)
        && l.id.is_some()));
    let sub_ids: Vec<String> = labels
        .iter()
        .filter_map(|l| l.subscription_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        sub_ids,
        vec!["hcp-1-id-sub".to_owned(), "prod-1-id-sub".to_owned()]
    );

    // Flow 4.1, steps 3 and 4.
    let subs = h
        .client
        .list_subscriptions(Some(
            &Filter::in_("id", sub_ids.clone())
                .and(Filter::eq("managed", true))
                .and(Filter::in_("status", ["Active", "Reserved"])),
        ))
        .await
        .unwrap();
    assert_eq!(subs.len(), 2);
    assert!(
        subs.iter().all(|s| !s.labels.is_empty()),
        "fetchLabels embeds labels"
    );
    let clusters = h
        .client
        .list_clusters(Some(
            &Filter::eq("managed", true)
                .and(Filter::in_("product.id", ["osd", "rosa"]))
                .and(Filter::eq("state", "ready"))
                .and(Filter::in_("subscription.id", sub_ids)),
        ))
        .await
        .unwrap();
    let mut names: Vec<_> = clusters.iter().filter_map(|c| c.name.clone()).collect();
    names.sort();
    assert_eq!(names, vec!["hcp-1", "prod-1"]);
    let hcp = clusters.iter().find(|c| c.id == "hcp-1-id").unwrap();
    assert!(hcp.is_hcp());
    assert_eq!(hcp.raw_version().unwrap(), v("4.14.6"));

    // Organization labels are found with the org-scoped search.
    let org_labels = h
        .client
        .search_labels(
            &Filter::like("key", format!("{AUS_PREFIX}%"))
                .and(Filter::in_("organization_id", ["org-a", "org-b"]))
                .and(Filter::eq("type", "Organization")),
        )
        .await
        .unwrap();
    assert_eq!(org_labels.len(), 1);
    assert_eq!(org_labels[0].organization_id.as_deref(), Some("org-a"));
    assert_eq!(org_labels[0].value, "^4\\.15\\.1$");
}

#[tokio::test]
async fn paging_lists_more_than_a_thousand_clusters_without_duplicates() {
    let h = Harness::start(big_fleet(1_050), SimConfig::default()).await;
    let clusters = h.client.list_clusters(None).await.unwrap();
    assert_eq!(clusters.len(), 1_050);
    let ids: HashSet<&str> = clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 1_050, "no duplicates");
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::CLUSTERS).len(),
        11,
        "ceil(1050 / 100) pages"
    );

    // An `in` list of 1,050 subscription ids is sent as 11 queries of ≤100 values.
    let sub_ids: Vec<String> = clusters
        .iter()
        .filter_map(|c| c.subscription_id().map(str::to_owned))
        .collect();
    let before = h.recorder.outcomes("GET", endpoints::CLUSTERS).len();
    let again = h
        .client
        .list_clusters(Some(&Filter::in_("subscription.id", sub_ids)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1_050);
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::CLUSTERS).len() - before,
        11
    );
}

#[tokio::test]
async fn paging_follows_total_when_the_server_caps_page_size() {
    // The server returns at most 40 items whatever `size` says; stopping at the
    // first page smaller than requested would silently lose clusters (§2.4).
    let config = SimConfig {
        max_page_size: Some(40),
        ..SimConfig::default()
    };
    let h = Harness::start(big_fleet(130), config).await;
    let clusters = h.client.list_clusters(None).await.unwrap();
    let ids: HashSet<&str> = clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(clusters.len(), 130);
    assert_eq!(ids.len(), 130, "no duplicates");
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::CLUSTERS).len(),
        4,
        "40+40+40+10"
    );
}

#[tokio::test]
async fn classic_upgrade_policies_are_created_listed_and_deleted() {
    let h = Harness::small().await;
    let next_run = t0() + SignedDuration::from_mins(10);
    assert!(
        h.client
            .list_upgrade_policies("prod-1-id")
            .await
            .unwrap()
            .is_empty()
    );
    let created = h
        .client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.14.6"), next_run),
        )
        .await
        .unwrap();
    assert_eq!(created.version.as_deref(), Some("4.14.6"));
    assert_eq!(created.next_run, Some(next_run));
    let listed = h.client.list_upgrade_policies("prod-1-id").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].upgrade_type, Some(UpgradeType::Osd));
    assert_eq!(listed[0].target_version().unwrap(), Some(v("4.14.6")));
    let state = h
        .client
        .get_upgrade_policy_state("prod-1-id", &created.id)
        .await
        .unwrap();
    assert!(
        matches!(
            state.value,
            PolicyStateValue::Pending | PolicyStateValue::Scheduled
        ),
        "{state:?}"
    );
    h.client
        .delete_upgrade_policy("prod-1-id", &created.id)
        .await
        .unwrap();
    assert!(
        h.client
            .list_upgrade_policies("prod-1-id")
            .await
            .unwrap()
            .is_empty()
    );
    let err = h
        .client
        .get_upgrade_policy_state("prod-1-id", &created.id)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn control_plane_and_node_pool_policies_are_created_and_read() {
    let h = Harness::small().await;
    let next_run = t0() + SignedDuration::from_mins(10);
    let pools = h.client.list_node_pools("hcp-1-id").await.unwrap();
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].id, "workers");
    assert_eq!(pools[0].raw_version().unwrap(), v("4.14.5"));

    // Bring the node pool up to the control plane's version (what AUS does).
    let np = h
        .client
        .create_node_pool_upgrade_policy(
            "hcp-1-id",
            "workers",
            &NewUpgradePolicy::node_pool("hcp-1-id", &v("4.14.6"), next_run),
        )
        .await
        .unwrap();
    assert_eq!(np.upgrade_type, Some(UpgradeType::NodePool));
    let listed = h
        .client
        .list_node_pool_upgrade_policies("hcp-1-id", "workers")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].state.is_some(),
        "node pool policies carry their state inline"
    );

    let cp = h
        .client
        .create_control_plane_upgrade_policy(
            "hcp-1-id",
            &NewUpgradePolicy::control_plane("hcp-1-id", &v("4.14.7"), next_run),
        )
        .await
        .unwrap();
    let listed = h
        .client
        .list_control_plane_upgrade_policies("hcp-1-id")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, cp.id);
    assert_eq!(listed[0].upgrade_type, Some(UpgradeType::ControlPlane));
    assert_eq!(listed[0].cluster_id.as_deref(), Some("hcp-1-id"));
    let state = listed[0].state.as_ref().expect("inline state");
    assert!(matches!(
        state.value,
        PolicyStateValue::Pending | PolicyStateValue::Scheduled
    ));

    // A control-plane policy on a classic cluster is refused.
    let err = h
        .client
        .create_control_plane_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::control_plane("prod-1-id", &v("4.14.6"), next_run),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
}

#[tokio::test]
async fn an_invalid_policy_is_rejected_with_ocms_error_body() {
    let h = Harness::small().await;
    let next_run = t0() + SignedDuration::from_mins(10);
    let err = h
        .client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.18.1"), next_run),
        )
        .await
        .unwrap_err();
    let OcmError::Api {
        ref method,
        ref path,
        status,
        ref body,
    } = err
    else {
        panic!("expected an API error, got {err}");
    };
    assert_eq!((method.as_str(), status), ("POST", 400));
    assert_eq!(
        path,
        "/api/clusters_mgmt/v1/clusters/prod-1-id/upgrade_policies"
    );
    assert_eq!(body.kind.as_deref(), Some("Error"));
    assert_eq!(body.code.as_deref(), Some("CLUSTERS-MGMT-400"));
    assert!(
        body.reason.as_deref().is_some_and(|r| r.contains("4.18.1")),
        "{body:?}"
    );
    assert!(body.operation_id.is_some());
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "OCM API POST /api/clusters_mgmt/v1/clusters/prod-1-id/upgrade_policies: 400 CLUSTERS-MGMT-400: "
        ),
        "{shown}"
    );
    assert!(shown.contains("(operation_id "), "{shown}");
    // A 400 is never retried.
    assert_eq!(
        h.recorder.outcomes("POST", endpoints::UPGRADE_POLICIES),
        vec![Outcome::Status(400)]
    );

    // Too little lead time is refused too, and nothing was created.
    let err = h
        .client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.14.6"), t0() + SignedDuration::from_mins(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        h.client
            .list_upgrade_policies("prod-1-id")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    let config = SimConfig {
        token_lifetime: Duration::from_secs(2),
        ..SimConfig::default()
    };
    let h = Harness::start_with(small_fleet(), config, |c| {
        c.token_refresh_margin = Duration::from_secs(1);
    })
    .await;
    h.client.list_version_gates().await.unwrap();
    h.client.list_version_gates().await.unwrap();
    assert_eq!(h.client.token_fetches(), 1, "a fresh token is reused");
    // Now less than the margin is left: the next call renews first.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    h.client.list_version_gates().await.unwrap();
    assert_eq!(h.client.token_fetches(), 2);
    assert!(
        !h.recorder
            .outcomes("GET", endpoints::VERSION_GATES)
            .contains(&Outcome::Status(401)),
        "renewal happens before the server would refuse the token"
    );
    assert_eq!(
        h.recorder
            .outcomes("POST", srecap_ocm::observer::TOKEN_ENDPOINT),
        vec![Outcome::Status(200), Outcome::Status(200)]
    );
}

#[tokio::test]
async fn an_offline_token_is_exchanged_and_a_401_renews_once() {
    let h = Harness::small().await;
    let offline = h.offline_token().await;
    // An access token the server never issued (as a stale ocm.json may hold): the
    // client cannot know its expiry, uses it, gets 401, renews, repeats the call.
    let credentials = Credentials {
        api_url: h.running.base_url(),
        token_url: h.running.token_url(),
        scopes: vec!["openid".into()],
        grant: Grant::RefreshToken {
            client_id: "cloud-services".into(),
            refresh_token: Secret::new(offline),
            access_token: Some(Secret::new("stale-opaque-token")),
        },
        source: srecap_ocm::CredentialSource::Options,
    };
    let recorder = Arc::new(Recorder::default());
    let client = OcmClient::new(test_config(credentials, &recorder)).unwrap();
    let gates = client.list_version_gates().await.unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!(client.token_fetches(), 1);
    assert_eq!(
        recorder.outcomes("GET", endpoints::VERSION_GATES),
        vec![Outcome::Status(401), Outcome::Status(200)]
    );
    // The renewed token is cached.
    client.list_version_gates().await.unwrap();
    assert_eq!(client.token_fetches(), 1);
}

#[tokio::test]
async fn requests_without_a_token_get_401_with_an_ocm_error_body() {
    let h = Harness::small().await;
    let resp = reqwest::Client::new()
        .get(format!("{}{}", h.running.base_url(), endpoints::CLUSTERS))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: ApiErrorBody = resp.json().await.unwrap();
    assert_eq!(body.kind.as_deref(), Some("Error"));
    assert!(body.code.is_some() && body.reason.is_some(), "{body:?}");
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_without_the_secret() {
    let h = Harness::small().await;
    let secret = "wrong-secret-do-not-print";
    let credentials =
        Credentials::resolve(&options(&h.running, "srecap-sim", secret), &|_| None, None).unwrap();
    let recorder = Arc::new(Recorder::default());
    let client = OcmClient::new(test_config(credentials, &recorder)).unwrap();
    let err = client.list_clusters(None).await.unwrap_err();
    let OcmError::Auth(AuthError::TokenRejected {
        status, ref error, ..
    }) = err
    else {
        panic!("expected a refused token request, got {err:?}");
    };
    assert_eq!(status, 401);
    assert_eq!(error.as_deref(), Some("invalid_client"));
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret));
    assert!(!format!("{client:?}").contains(secret));
    // A refused grant is not retried, and no API request was made.
    assert_eq!(
        recorder.outcomes("POST", srecap_ocm::observer::TOKEN_ENDPOINT),
        vec![Outcome::Status(401)]
    );
    assert!(recorder.outcomes("GET", endpoints::CLUSTERS).is_empty());
}

#[tokio::test]
async fn search_values_with_quotes_are_escaped() {
    let h = Harness::small().await;
    let key = "sre-capabilities.aus.sector-deps.it's";
    h.client
        .create_organization_label("org-b", key, "it's")
        .await
        .unwrap();
    let found = h
        .client
        .search_labels(&Filter::eq("value", "it's").and(Filter::eq("type", "Organization")))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, key);
    assert_eq!(found[0].organization_id.as_deref(), Some("org-b"));
    let found = h
        .client
        .search_labels(&Filter::eq("key", key))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    // The same key is addressable as a path segment.
    let label = h.client.get_organization_label("org-b", key).await.unwrap();
    assert_eq!(label.map(|l| l.value), Some("it's".to_owned()));
}

#[tokio::test]
async fn subscription_and_organization_labels_round_trip() {
    let h = Harness::small().await;
    let sub = "prod-2-id-sub";
    let key = "sre-capabilities.aus.sector";
    let created = h
        .client
        .create_subscription_label(sub, key, "prod")
        .await
        .unwrap();
    assert_eq!(
        (created.key.as_str(), created.value.as_str()),
        (key, "prod")
    );
    let dup = h
        .client
        .create_subscription_label(sub, key, "prod")
        .await
        .unwrap_err();
    assert!(matches!(dup.status(), Some(400 | 409)), "{dup}");
    let updated = h
        .client
        .update_subscription_label(sub, key, "stage")
        .await
        .unwrap();
    assert_eq!(updated.value, "stage");
    assert_eq!(updated.id, created.id, "PATCH keeps the label's id");
    let all = h.client.list_subscription_labels(sub).await.unwrap();
    assert!(all.iter().any(|l| l.key == key && l.value == "stage"));
    assert_eq!(
        h.client
            .get_subscription(sub)
            .await
            .unwrap()
            .cluster_id
            .as_deref(),
        Some("prod-2-id")
    );
    h.client.delete_subscription_label(sub, key).await.unwrap();
    assert_eq!(
        h.client.get_subscription_label(sub, key).await.unwrap(),
        None
    );

    // A key with a slash, as other tools use, is percent-encoded in the path.
    let slashed = "api.openshift.com/managed";
    h.client
        .create_organization_label("org-a", slashed, "true")
        .await
        .unwrap();
    let got = h
        .client
        .get_organization_label("org-a", slashed)
        .await
        .unwrap();
    assert_eq!(got.map(|l| l.key), Some(slashed.to_owned()));
    h.client
        .update_organization_label("org-a", slashed, "false")
        .await
        .unwrap();
    let org_labels = h.client.list_organization_labels("org-a").await.unwrap();
    assert!(
        org_labels
            .iter()
            .any(|l| l.key == slashed && l.value == "false")
    );
    h.client
        .delete_organization_label("org-a", slashed)
        .await
        .unwrap();
    assert_eq!(
        h.client
            .get_organization_label("org-a", slashed)
            .await
            .unwrap(),
        None
    );

    let org = h.client.get_organization("org-a").await.unwrap();
    assert_eq!(org.name.as_deref(), Some("Team org-a"));
    let orgs = h
        .client
        .list_organizations(Some(&Filter::in_("id", ["org-a", "org-b"])))
        .await
        .unwrap();
    assert_eq!(orgs.len(), 2);
    let account = h.client.current_account().await.unwrap();
    assert_eq!(account.organization.map(|o| o.id), Some("org-a".to_owned()));
}

#[tokio::test]
async fn clusters_channels_gates_and_agreements() {
    let h = Harness::small().await;
    let c = h.client.get_cluster("prod-1-id").await.unwrap();
    assert_eq!(c.channel.as_deref(), Some("stable-4.14"));
    let version = c.version.as_ref().unwrap();
    assert_eq!(
        version.available_channels.as_deref(),
        Some(&["stable-4.14".to_owned(), "stable-4.15".to_owned()][..]),
        "single GET carries available_channels"
    );
    // The simulator derives upgrades from its release catalog (same and next minor).
    assert_eq!(
        c.available_upgrades().unwrap(),
        vec![v("4.14.6"), v("4.14.7"), v("4.15.0")]
    );

    let switched = h
        .client
        .patch_cluster_channel("prod-1-id", "stable-4.15")
        .await
        .unwrap();
    assert_eq!(switched.channel.as_deref(), Some("stable-4.15"));
    assert!(
        switched
            .available_upgrades()
            .unwrap()
            .contains(&v("4.15.0"))
    );
    let err = h
        .client
        .patch_cluster_channel("prod-1-id", "not-a-channel")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");

    let gates = h.client.list_version_gates().await.unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!(gates[0].version_raw_id_prefix, "4.15");
    assert!(
        h.client
            .list_gate_agreements("prod-1-id")
            .await
            .unwrap()
            .is_empty()
    );
    // Without an agreement, a 4.15 upgrade is refused and the gate is named.
    let next_run = t0() + SignedDuration::from_mins(10);
    let err = h
        .client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.15.0"), next_run),
        )
        .await
        .unwrap_err();
    let body = err.api_body().expect("an OCM error body");
    assert_eq!(err.status(), Some(400));
    assert!(
        body.details
            .as_ref()
            .is_some_and(|d| d.to_string().contains(&gates[0].id)),
        "{body:?}"
    );
    let agreement = h
        .client
        .create_gate_agreement("prod-1-id", &gates[0].id)
        .await
        .unwrap();
    assert_eq!(agreement.version_gate.id, gates[0].id);
    let listed = h.client.list_gate_agreements("prod-1-id").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version_gate.id, gates[0].id);

    // With the gate agreed, a 4.15 upgrade can be scheduled.
    h.client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.15.0"), next_run),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn rate_limits_and_unavailability_are_retried_honouring_retry_after() {
    let h = Harness::small().await;
    h.sim().add_fault(Fault {
        status: 429,
        path_prefix: Some(endpoints::VERSION_GATES.to_owned()),
        method: None,
        organization: None,
        count: Some(1),
        retry_after: Some(1),
    });
    let started = std::time::Instant::now();
    let gates = h.client.list_version_gates().await.unwrap();
    assert_eq!(gates.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was honoured (backoff alone is ≤100 ms here): {:?}",
        started.elapsed()
    );
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::VERSION_GATES),
        vec![Outcome::Status(429), Outcome::Status(200)]
    );

    // POST is retried on 503: the server did not act on it.
    h.sim().add_fault(Fault {
        status: 503,
        path_prefix: Some("/api/clusters_mgmt/v1/clusters/prod-1-id/upgrade_policies".to_owned()),
        method: Some("POST".to_owned()),
        organization: None,
        count: Some(2),
        retry_after: None,
    });
    let next_run = t0() + SignedDuration::from_mins(10);
    h.client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.14.6"), next_run),
        )
        .await
        .unwrap();
    assert_eq!(
        h.recorder.outcomes("POST", endpoints::UPGRADE_POLICIES),
        vec![
            Outcome::Status(503),
            Outcome::Status(503),
            Outcome::Status(201)
        ]
    );
    assert_eq!(
        h.client
            .list_upgrade_policies("prod-1-id")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn post_is_not_retried_on_gateway_errors_but_idempotent_calls_are() {
    let h = Harness::small().await;
    h.sim().add_fault(Fault {
        status: 502,
        path_prefix: Some(endpoints::CLUSTER_LOGS.to_owned()),
        method: Some("POST".to_owned()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    let log = NewClusterLog {
        cluster_uuid: "prod-1-uuid".into(),
        service_name: "advanced-upgrade-scheduler".into(),
        summary: "s".into(),
        description: "d".into(),
        severity: Severity::Moderate,
        internal_only: None,
        log_type: None,
        doc_references: Vec::new(),
    };
    let err = h.client.create_service_log(&log).await.unwrap_err();
    assert_eq!(err.status(), Some(502), "{err}");
    assert_eq!(
        h.recorder.outcomes("POST", endpoints::CLUSTER_LOGS),
        vec![Outcome::Status(502)]
    );

    h.sim().add_fault(Fault {
        status: 502,
        path_prefix: Some("/api/clusters_mgmt/v1/clusters/prod-1-id".to_owned()),
        method: Some("PATCH".to_owned()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    h.client
        .patch_cluster_channel("prod-1-id", "stable-4.15")
        .await
        .unwrap();
    assert_eq!(
        h.recorder.outcomes("PATCH", endpoints::CLUSTER),
        vec![Outcome::Status(502), Outcome::Status(200)]
    );

    // Retries are bounded: a permanent 503 surfaces after max_retries.
    h.sim().add_fault(Fault {
        status: 503,
        path_prefix: Some(endpoints::VERSION_GATES.to_owned()),
        method: None,
        organization: None,
        count: None,
        retry_after: None,
    });
    let err = h.client.list_version_gates().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::VERSION_GATES).len(),
        4
    );
    h.sim().clear_faults();
}

#[tokio::test]
async fn service_logs_are_created_and_found_by_a_dedup_search() {
    let h = Harness::small().await;
    let log = NewClusterLog {
        cluster_uuid: "prod-1-uuid".into(),
        service_name: "advanced-upgrade-scheduler".into(),
        summary: "Cluster upgrade policy validation errors: it's broken".into(),
        description: "- label sre-capabilities.aus.soak-days: Input should be >= 0".into(),
        severity: Severity::Moderate,
        internal_only: None,
        log_type: None,
        doc_references: Vec::new(),
    };
    let dedup = |summary: &str| {
        Filter::ge("created_at", t0() - SignedDuration::from_hours(24))
            .and(Filter::eq("description", log.description.as_str()))
            .and(Filter::eq("service_name", log.service_name.as_str()))
            .and(Filter::eq("severity", "Moderate"))
            .and(Filter::eq("summary", summary))
    };
    let none = h
        .client
        .list_cluster_service_logs("prod-1-uuid", Some(&dedup(&log.summary)))
        .await
        .unwrap();
    assert!(none.is_empty());
    let created = h.client.create_service_log(&log).await.unwrap();
    assert_eq!(created.cluster_id.as_deref(), Some("prod-1-id"));
    assert!(created.id.is_some() && created.event_stream_id.is_some());
    assert_eq!(created.severity, Some(Severity::Moderate));

    let found = h
        .client
        .list_cluster_service_logs("prod-1-uuid", Some(&dedup(&log.summary)))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, created.id);
    let other = h
        .client
        .list_cluster_service_logs("prod-1-uuid", Some(&dedup("another summary")))
        .await
        .unwrap();
    assert!(other.is_empty());
    // Another cluster's logs are separate.
    let all_other = h
        .client
        .list_cluster_service_logs("prod-2-uuid", None)
        .await
        .unwrap();
    assert!(all_other.is_empty());
}

#[tokio::test]
async fn concurrency_is_bounded_across_clones() {
    let h = Harness::start_with(small_fleet(), SimConfig::default(), |c| {
        c.max_concurrency = 2;
    })
    .await;
    h.client.authenticate().await.unwrap();
    h.sim().set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    let calls = (0..6).map(|_| {
        let client = h.client.clone();
        async move { client.get_cluster("prod-1-id").await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    // 6 requests, 2 at a time, 150 ms each: at least 3 rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_rate_budget_paces_requests_across_clones() {
    // 20 requests a second with a burst of 2; the in-flight limit is no bound.
    let h = Harness::start_with(small_fleet(), SimConfig::default(), |c| {
        c.max_concurrency = 64;
        c.rate = Some(srecap_ocm::Rate {
            per_second: 20.0,
            burst: 2,
        });
    })
    .await;
    h.client.authenticate().await.unwrap();
    assert!(!h.client.saturated());
    let started = std::time::Instant::now();
    let calls = (0..20).map(|_| {
        let client = h.client.clone();
        async move { client.get_cluster("prod-1-id").await }
    });
    let all = futures::future::join_all(calls);
    tokio::pin!(all);
    // While the requests queue for the budget, the client says so.
    let saturated_meanwhile = tokio::select! {
        results = &mut all => panic!("20 requests at 20/s finished at once: {}", results.len()),
        () = tokio::time::sleep(Duration::from_millis(200)) => h.client.saturated(),
    };
    for r in all.await {
        r.unwrap();
    }
    assert!(saturated_meanwhile, "requests waiting for the budget");
    // The 20th request may go 0.9 s after the first (18 intervals of 50 ms).
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(880), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(!h.client.saturated());
    assert!((h.client.rate().unwrap().per_second - 20.0).abs() < f64::EPSILON);
}

#[tokio::test]
async fn empty_in_lists_make_no_request_and_metrics_use_templates() {
    let h = Harness::small().await;
    let none: [&str; 0] = [];
    let clusters = h
        .client
        .list_clusters(Some(
            &Filter::eq("managed", true).and(Filter::in_("subscription.id", none)),
        ))
        .await
        .unwrap();
    assert!(clusters.is_empty());
    assert!(h.recorder.outcomes("GET", endpoints::CLUSTERS).is_empty());

    h.client
        .get_upgrade_policy_state("prod-1-id", "nope")
        .await
        .unwrap_err();
    let events = h
        .recorder
        .events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        events.iter().any(|(m, e, o, _)| m == "GET"
            && e == endpoints::UPGRADE_POLICY_STATE
            && *o == Outcome::Status(404)),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(_, e, _, _)| !e.contains("prod-1-id")),
        "{events:?}"
    );
}

#[tokio::test]
async fn slow_answers_time_out_and_post_is_not_repeated_after_a_timeout() {
    let h = Harness::start_with(small_fleet(), SimConfig::default(), |c| {
        c.request_timeout = Duration::from_millis(150);
        c.retry.max_retries = 1;
    })
    .await;
    h.client.authenticate().await.unwrap();
    h.sim().set_latency(Duration::from_millis(600));

    let err = h.client.list_version_gates().await.unwrap_err();
    assert!(matches!(err, OcmError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains(endpoints::VERSION_GATES), "{err}");
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::VERSION_GATES),
        vec![Outcome::Timeout, Outcome::Timeout],
        "an idempotent GET is tried again"
    );

    let log = NewClusterLog {
        cluster_uuid: "prod-1-uuid".into(),
        service_name: "advanced-upgrade-scheduler".into(),
        summary: "s".into(),
        description: "d".into(),
        severity: Severity::Info,
        internal_only: None,
        log_type: None,
        doc_references: Vec::new(),
    };
    let err = h.client.create_service_log(&log).await.unwrap_err();
    assert!(matches!(err, OcmError::Timeout { .. }), "{err:?}");
    assert_eq!(
        h.recorder.outcomes("POST", endpoints::CLUSTER_LOGS),
        vec![Outcome::Timeout],
        "the server may have acted on the POST, so it is not sent again"
    );
}

/// Issue 15 item 11: a 500 on a read is transient, retried like 502–504; a 500
/// after a POST may mean OCM acted, so it is never retried.
#[tokio::test]
async fn a_500_is_retried_on_reads_but_not_on_posts() {
    let h = Harness::small().await;
    h.sim().add_fault(Fault {
        status: 500,
        path_prefix: Some(endpoints::VERSION_GATES.to_owned()),
        method: None,
        organization: None,
        count: Some(2),
        retry_after: None,
    });
    assert_eq!(h.client.list_version_gates().await.unwrap().len(), 1);
    assert_eq!(
        h.recorder.outcomes("GET", endpoints::VERSION_GATES),
        vec![
            Outcome::Status(500),
            Outcome::Status(500),
            Outcome::Status(200)
        ]
    );

    h.sim().add_fault(Fault {
        status: 500,
        path_prefix: Some("/api/clusters_mgmt/v1/clusters/prod-1-id/upgrade_policies".to_owned()),
        method: Some("POST".to_owned()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    let err = h
        .client
        .create_upgrade_policy(
            "prod-1-id",
            &NewUpgradePolicy::classic(&v("4.14.6"), t0() + SignedDuration::from_mins(10)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500), "{err}");
    assert_eq!(
        h.recorder.outcomes("POST", endpoints::UPGRADE_POLICIES),
        vec![Outcome::Status(500)]
    );
}

/// The small fleet with add-on `logging` installed on `prod-1` (ready, 1.0.0)
/// and `prod-2` (installing), latest 1.1.0.
fn addon_fleet() -> Fleet {
    let mut fleet = small_fleet();
    fleet.addons.catalog = [
        ("logging".to_owned(), v("1.1.0")),
        ("mesh".to_owned(), v("2.0.0")),
    ]
    .into_iter()
    .collect();
    for (cluster, state) in [("prod-1-id", "ready"), ("prod-2-id", "installing")] {
        fleet
            .addons
            .installations
            .push(srecap_fleet::AddonInstallation {
                cluster_id: cluster.to_owned(),
                addon_id: "logging".to_owned(),
                version: v("1.0.0"),
                state: state.to_owned(),
                upgrade_policies: Vec::new(),
            });
    }
    fleet
}

#[tokio::test]
async fn addon_service_v2_catalogue_and_ready_installations_r114() {
    let h = Harness::start(addon_fleet(), SimConfig::default()).await;
    let addons = h.client.list_addons().await.unwrap();
    let latest: Vec<(String, Option<Version>)> = addons
        .iter()
        .map(|a| (a.id.clone(), a.latest_version().unwrap()))
        .collect();
    assert_eq!(
        latest,
        vec![
            ("logging".to_owned(), Some(v("1.1.0"))),
            ("mesh".to_owned(), Some(v("2.0.0")))
        ]
    );
    let ready = h
        .client
        .list_ready_addon_installations("prod-1-id")
        .await
        .unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].addon_id(), "logging");
    assert_eq!(ready[0].installed_version().unwrap(), Some(v("1.0.0")));
    assert_eq!(ready[0].state.as_deref(), Some("ready"));
    // An installation that is not ready is not listed.
    assert!(
        h.client
            .list_ready_addon_installations("prod-2-id")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn addon_upgrade_plans_are_created_run_listed_and_deleted_r116_r117() {
    let h = Harness::start(addon_fleet(), SimConfig::default()).await;
    let next_run = t0() + srecap_aus_next_run();
    assert!(
        h.client
            .list_addon_upgrade_plans("prod-1-id")
            .await
            .unwrap()
            .is_empty()
    );
    let body = NewAddonUpgradePlan::manual("prod-1-id", "logging", &v("1.1.0"), next_run);
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        serde_json::json!({
            "version": "1.1.0",
            "type": "manual",
            "addon_id": "logging",
            "cluster_id": "prod-1-id",
            "next_run": "2026-11-21T10:06:00Z",
        })
    );
    let created = h.client.create_addon_upgrade_plan(&body).await.unwrap();
    assert_eq!(created.version.as_deref(), Some("1.1.0"));
    assert_eq!(created.schedule_type, Some(ScheduleType::Manual));
    assert_eq!(created.next_run, Some(next_run));
    // A second open plan for the same add-on is refused.
    let err = h.client.create_addon_upgrade_plan(&body).await.unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");

    // The plan runs at next_run and stays, completed.
    h.sim().advance(SignedDuration::from_mins(7)).unwrap();
    let listed = h
        .client
        .list_addon_upgrade_plans("prod-1-id")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].addon_id.as_deref(), Some("logging"));
    assert_eq!(listed[0].state, Some(PolicyStateValue::Completed));
    assert_eq!(listed[0].target_version().unwrap(), Some(v("1.1.0")));
    let ready = h
        .client
        .list_ready_addon_installations("prod-1-id")
        .await
        .unwrap();
    assert_eq!(ready[0].installed_version().unwrap(), Some(v("1.1.0")));

    h.client
        .delete_addon_upgrade_plan("prod-1-id", &created.id)
        .await
        .unwrap();
    assert!(
        h.client
            .list_addon_upgrade_plans("prod-1-id")
            .await
            .unwrap()
            .is_empty()
    );
    let err = h
        .client
        .delete_addon_upgrade_plan("prod-1-id", &created.id)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

fn srecap_aus_next_run() -> SignedDuration {
    SignedDuration::from_mins(6)
}
