//! The simulator over real HTTP on 127.0.0.1: what an OCM client can observe.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use semver::Version;
use serde_json::{Value, json};
use srecap_fleet::{
    Cluster, Fleet, NodePool, Organization, PolicyState, Product, Release, ScheduleType,
    UpgradePolicy, VersionGate,
};
use srecap_sim::{RunningSim, SimConfig, Simulator, spawn};

// In a subdirectory so cargo does not build it as a test binary of its own.
#[path = "sim/rhidp.rs"]
mod rhidp;

const T0: &str = "2026-11-21T10:00:00Z";
const CS: &str = "/api/clusters_mgmt/v1";
const AMS: &str = "/api/accounts_mgmt/v1";
const SL: &str = "/api/service_logs/v1";

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

fn release(version: &str, published: Timestamp) -> Release {
    Release {
        version: v(version),
        channel_groups: vec!["stable".to_owned(), "fast".to_owned()],
        published,
    }
}

/// Two organizations, a classic OSD cluster with derived upgrades, a ROSA STS
/// cluster with an explicit list, a ROSA HCP cluster with a node pool.
fn fleet() -> Fleet {
    let now = t0();
    let day = SignedDuration::from_hours(24);
    let mut prod1 = cluster("prod-1", "org-a", "4.14.5");
    prod1.labels = labels(&[
        ("sre-capabilities.aus.workloads", "wl-1"),
        ("sre-capabilities.aus.schedule", "0 * * * *"),
        ("sre-capabilities.aus.soak-days", "2"),
    ])
    .into();
    prod1.available_channels = vec!["stable-4.14".into(), "stable-4.15".into()];
    let mut prod2 = cluster("prod-2", "org-a", "4.14.5");
    prod2.product = Product::Rosa;
    prod2.sts = true;
    prod2.available_upgrades = vec![v("4.14.6"), v("4.15.0")].into();
    prod2.available_upgrades_explicit = true;
    prod2.labels = labels(&[("sre-capabilities.aus.workloads", "wl-2")]).into();
    let mut hcp = cluster("hcp-1", "org-b", "4.14.6");
    hcp.product = Product::Rosa;
    hcp.hypershift = true;
    hcp.node_pools = vec![NodePool {
        id: "workers".into(),
        version: v("4.14.5"),
        upgrade_policies: Vec::new(),
    }];
    hcp.labels = labels(&[("other.label", "x")]).into();
    Fleet {
        now,
        environment: "production".into(),
        organizations: vec![
            Organization {
                id: "org-a".into(),
                name: "Team A".into(),
                labels: labels(&[
                    ("sre-capabilities.aus.blocked-versions", "^4\\.15\\.1$"),
                    ("sre-capabilities.rhidp.status", "enabled"),
                ]),
            },
            Organization {
                id: "org-b".into(),
                name: "Team B".into(),
                labels: labels(&[("sre-capabilities.aus.sector-deps.prod", "stage")]),
            },
        ],
        clusters: vec![prod1, prod2, hcp],
        version_gates: vec![
            VersionGate {
                id: "gate-ocp-4-15".into(),
                version_raw_id_prefix: "4.15".into(),
                label: "api.openshift.com/gate-ocp".into(),
                sts_only: false,
            },
            VersionGate {
                id: "gate-sts-4-15".into(),
                version_raw_id_prefix: "4.15".into(),
                label: "api.openshift.com/gate-sts".into(),
                sts_only: true,
            },
        ],
        releases: vec![
            release("4.14.6", now - day * 10),
            release("4.14.7", now + day * 2),
            release("4.15.0", now - day * 5),
            release("4.15.2", now + day * 3),
        ],
        version_data: BTreeMap::new(),
        addons: srecap_fleet::Addons::default(),
        sso: srecap_fleet::Sso::default(),
        secrets: srecap_fleet::Secrets::default(),
    }
}

/// A simulator on an ephemeral port plus an HTTP client holding a token.
struct Harness {
    running: RunningSim,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn new(fleet: Fleet, config: SimConfig) -> Harness {
        let running = spawn(Simulator::new(fleet, config)).await.unwrap();
        let http = reqwest::Client::new();
        let mut h = Harness {
            running,
            http,
            token: String::new(),
        };
        h.token = h.fetch_token().await;
        h
    }

    async fn default() -> Harness {
        Harness::new(fleet(), SimConfig::default()).await
    }

    fn sim(&self) -> &Simulator {
        &self.running.sim
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    async fn fetch_token(&self) -> String {
        let resp = self
            .http
            .post(self.running.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "srecap-sim"),
                ("client_secret", "srecap-sim"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.bearer_auth(&self.token).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.patch(self.url(path)).json(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    /// `/_sim` control call (no token).
    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn advance(&self, minutes: i64) {
        let (status, body) = self
            .control(
                reqwest::Method::POST,
                "/_sim/clock",
                Some(json!({"advance_seconds": minutes * 60})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn search(&self, path: &str, search: &str) -> Vec<Value> {
        let (status, body) = self.get(path, &[("search", search)]).await;
        assert_eq!(status, StatusCode::OK, "{search}: {body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["id"].as_str().unwrap()).collect()
}

fn assert_ocm_error(body: &Value, status: u16, code: &str) {
    assert_eq!(body["kind"], "Error", "{body}");
    assert!(body["id"].is_string(), "id is a string: {body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/errors/{}", body["id"].as_str().unwrap()))
    );
    assert!(!body["reason"].as_str().unwrap().is_empty());
    assert!(body["operation_id"].is_string());
    let _ = status;
}

fn in_minutes(now: Timestamp, minutes: i64) -> String {
    (now + SignedDuration::from_mins(minutes)).to_string()
}

// ----- auth ----------------------------------------------------------------------

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_ocm_body() {
    let h = Harness::default().await;
    let resp = h
        .http
        .get(h.url(&format!("{CS}/clusters")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_ocm_error(&body, 401, "CLUSTERS-MGMT-401");

    let resp = h
        .http
        .get(h.url(&format!("{AMS}/labels")))
        .bearer_auth("forged.token.")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "Error");
    assert!(body["code"].as_str().unwrap().starts_with("ACCT-MGMT-"));

    let (status, _) = h.get(&format!("{CS}/clusters"), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn token_endpoint_grants_client_credentials_basic_and_refresh() {
    let h = Harness::default().await;
    // Wrong secret.
    let resp = h
        .http
        .post(h.running.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "srecap-sim"),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // Basic credentials, as ocm-sdk-go sends them.
    let resp = h
        .http
        .post(h.running.token_url())
        .basic_auth("srecap-sim", Some("srecap-sim"))
        .form(&[("grant_type", "client_credentials"), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Refresh grant issues a working access token.
    let resp = h
        .http
        .post(h.running.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "cloud-services"),
            ("refresh_token", &refresh),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let resp = h
        .http
        .get(h.url(&format!("{AMS}/current_account")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let account: Value = resp.json().await.unwrap();
    assert_eq!(account["organization"]["id"], "org-a");
    assert_eq!(account["username"], "srecap-sim");

    // A refresh token is not an access token, and garbage is not a refresh token.
    let resp = h
        .http
        .get(h.url(&format!("{CS}/clusters")))
        .bearer_auth(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = h
        .http
        .post(h.running.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "garbage"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn access_tokens_expire_on_the_real_clock() {
    let config = SimConfig {
        token_lifetime: Duration::from_millis(700),
        ..SimConfig::default()
    };
    let h = Harness::new(fleet(), config).await;
    let (status, _) = h.get(&format!("{CS}/clusters"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (status, body) = h.get(&format!("{CS}/clusters"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_ocm_error(&body, 401, "CLUSTERS-MGMT-401");
}

// ----- search and paging ---------------------------------------------------------

#[tokio::test]
async fn label_search_handles_the_reference_queries() {
    let h = Harness::default().await;
    let labels = format!("{AMS}/labels");
    let subs = h
        .search(
            &labels,
            "key like 'sre-capabilities.aus.%' and type='Subscription'",
        )
        .await;
    assert_eq!(subs.len(), 4, "{subs:?}");
    assert!(
        subs.iter()
            .all(|l| l["type"] == "Subscription" && l["subscription_id"].is_string())
    );

    let orgs = h
        .search(
            &labels,
            "key like 'sre-capabilities.aus.%' and organization_id in ('org-a','org-b') and type='Organization'",
        )
        .await;
    assert_eq!(orgs.len(), 2);
    let both = h
        .search(
            &labels,
            "(key like 'sre-capabilities.aus%' or key like 'sre-capabilities.rhidp%') and organization_id='org-a' and type='Organization'",
        )
        .await;
    assert_eq!(both.len(), 2);
    // No inner parentheses: AND binds tighter than OR.
    let mixed = h
        .search(
            &labels,
            "key like 'sre-capabilities.aus.%' and type='Subscription' or key like 'sre-capabilities.aus.%' and type='Organization'",
        )
        .await;
    assert_eq!(mixed.len(), 6);
    // `orderBy` on AMS; labels carry every field the reference requires.
    let (_, body) = h
        .get(
            &labels,
            &[
                ("search", "type='Organization'"),
                ("orderBy", "created_at desc"),
            ],
        )
        .await;
    let first = &body["items"][0];
    for field in [
        "id",
        "internal",
        "created_at",
        "updated_at",
        "href",
        "key",
        "value",
        "type",
        "organization_id",
    ] {
        assert!(!first[field].is_null(), "{field} missing in {first}");
    }
    assert_eq!(first["organization_id"], "org-b", "newest first");
}

#[tokio::test]
async fn subscription_and_cluster_discovery_queries() {
    let h = Harness::default().await;
    let (status, body) = h
        .get(
            &format!("{AMS}/subscriptions"),
            &[
                ("search", "(id in ('prod-1-id-sub','prod-2-id-sub') or organization_id='org-b') and managed='true' and status in ('Active','Reserved')"),
                ("fetchLabels", "true"),
                ("fetchCapabilities", "true"),
                ("orderBy", "id"),
                ("size", "100"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "SubscriptionList");
    assert_eq!(
        ids(body["items"].as_array().unwrap()),
        ["hcp-1-id-sub", "prod-1-id-sub", "prod-2-id-sub"]
    );
    let prod1 = &body["items"][1];
    assert_eq!(prod1["cluster_id"], "prod-1-id");
    assert_eq!(prod1["external_cluster_id"], "prod-1-uuid");
    assert_eq!(prod1["organization_id"], "org-a");
    assert_eq!(prod1["labels"].as_array().unwrap().len(), 3);

    let clusters = h
        .search(
            &format!("{CS}/clusters"),
            "managed='true' and product.id in ('osd','rosa') and state='ready' and subscription.id in ('prod-2-id-sub','prod-1-id-sub')",
        )
        .await;
    assert_eq!(ids(&clusters), ["prod-1-id", "prod-2-id"]);
    assert!(
        clusters[0]["version"].get("available_channels").is_none(),
        "lists omit channels"
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "organization.id='org-b'")
            .await
            .len(),
        1
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "hypershift.enabled='t'")
            .await
            .len(),
        1
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "aws.sts.enabled=true")
            .await
            .len(),
        1
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "external_id is 'prod-2-uuid'")
            .await
            .len(),
        1
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "state='ready'")
            .await
            .len(),
        3
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "name ilike 'PROD-%'")
            .await
            .len(),
        2
    );
    assert_eq!(
        h.search(&format!("{CS}/clusters"), "not name like 'prod%'")
            .await
            .len(),
        1
    );
    let (_, body) = h
        .get(&format!("{CS}/clusters"), &[("order", "name desc")])
        .await;
    assert_eq!(
        ids(body["items"].as_array().unwrap()),
        ["prod-2-id", "prod-1-id", "hcp-1-id"]
    );
    let (_, body) = h
        .get(
            &format!("{CS}/clusters"),
            &[("order", "creation_timestamp")],
        )
        .await;
    assert_eq!(
        ids(body["items"].as_array().unwrap()),
        ["prod-1-id", "prod-2-id", "hcp-1-id"]
    );
}

#[tokio::test]
async fn bad_queries_are_400_with_ocm_error_bodies() {
    let h = Harness::default().await;
    let (status, body) = h
        .get(
            &format!("{CS}/clusters"),
            &[("search", "state = 'ready' and")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_ocm_error(&body, 400, "CLUSTERS-MGMT-400");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("Failed to parse search query")
    );

    let (status, body) = h
        .get(&format!("{CS}/clusters"), &[("search", "colour = 'red'")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["reason"].as_str().unwrap().contains("colour"),
        "{body}"
    );

    let (status, body) = h
        .get(
            &format!("{AMS}/labels"),
            &[("search", "key like 'x%' and (type='Subscription'")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_ocm_error(&body, 400, "ACCT-MGMT-11");

    let (status, body) = h
        .get(
            &format!("{AMS}/subscriptions"),
            &[("search", "managed='maybe'")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, _) = h
        .get(&format!("{CS}/clusters"), &[("order", "colour")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get(&format!("{CS}/clusters"), &[("page", "0")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = h.get(&format!("{CS}/clusters/nope"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ocm_error(&body, 404, "CLUSTERS-MGMT-404");
    let (status, body) = h.get(&format!("{AMS}/subscriptions/nope"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ocm_error(&body, 404, "ACCT-MGMT-7");
}

#[tokio::test]
async fn paging_reports_returned_size_and_total() {
    let mut f = fleet();
    for i in 0..22 {
        f.clusters
            .push(cluster(&format!("bulk-{i:02}"), "org-b", "4.14.5"));
    }
    let h = Harness::new(f, SimConfig::default()).await;
    let path = format!("{CS}/clusters");
    let (_, body) = h.get(&path, &[]).await;
    assert_eq!(
        (
            body["page"].as_u64(),
            body["size"].as_u64(),
            body["total"].as_u64()
        ),
        (Some(1), Some(25), Some(25))
    );
    let (_, body) = h
        .get(&path, &[("size", "10"), ("page", "3"), ("order", "name")])
        .await;
    assert_eq!(
        (
            body["page"].as_u64(),
            body["size"].as_u64(),
            body["total"].as_u64()
        ),
        (Some(3), Some(5), Some(25))
    );
    assert_eq!(body["items"][0]["name"], "bulk-20");
    let (_, body) = h.get(&path, &[("size", "10"), ("page", "4")]).await;
    assert_eq!(body["size"], 0);
    assert_eq!(body["total"], 25);

    // Walking pages in id order visits every cluster exactly once.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (_, body) = h
            .get(
                &path,
                &[("size", "10"), ("page", &page.to_string()), ("order", "id")],
            )
            .await;
        seen.extend(
            ids(body["items"].as_array().unwrap())
                .into_iter()
                .map(str::to_owned),
        );
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 25);
    assert_eq!(seen, sorted);

    // A server-side cap truncates pages but still reports the real total.
    let capped = Harness::new(
        fleet(),
        SimConfig {
            max_page_size: Some(2),
            ..SimConfig::default()
        },
    )
    .await;
    let (_, body) = capped.get(&path, &[("size", "100")]).await;
    assert_eq!(
        (body["size"].as_u64(), body["total"].as_u64()),
        (Some(2), Some(3))
    );
}

// ----- labels --------------------------------------------------------------------

#[tokio::test]
async fn label_crud_on_subscriptions_and_organizations() {
    let h = Harness::default().await;
    let base = format!("{AMS}/subscriptions/hcp-1-id-sub/labels");
    let (status, created) = h
        .post(
            &base,
            &json!({"kind": "Label", "key": "sre-capabilities.aus.workloads", "value": "api"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["subscription_id"], "hcp-1-id-sub");
    assert_eq!(created["type"], "Subscription");
    let id = created["id"].as_str().unwrap().to_owned();

    // Duplicate key → 409.
    let (status, body) = h
        .post(
            &base,
            &json!({"kind": "Label", "key": "sre-capabilities.aus.workloads", "value": "db"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_ocm_error(&body, 409, "ACCT-MGMT-13");

    // Immediately searchable across the fleet.
    let found = h
        .search(
            &format!("{AMS}/labels"),
            "key like 'sre-capabilities.aus.%' and subscription_id='hcp-1-id-sub'",
        )
        .await;
    assert_eq!(found.len(), 1);

    h.sim().advance(SignedDuration::from_mins(10)).unwrap();
    let (status, updated) = h
        .patch(
            &format!("{base}/sre-capabilities.aus.workloads"),
            &json!({"kind": "Label", "key": "sre-capabilities.aus.workloads", "value": "api,db"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["value"], "api,db");
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_ne!(updated["updated_at"], created["updated_at"]);

    let (status, list) = h.get(&base, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            list["page"].as_u64(),
            list["size"].as_u64(),
            list["total"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );

    let (status, _) = h
        .delete(&format!("{base}/sre-capabilities.aus.workloads"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = h
        .get(&format!("{base}/sre-capabilities.aus.workloads"), &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_ocm_error(&body, 404, "ACCT-MGMT-7");
    let (status, _) = h
        .delete(&format!("{base}/sre-capabilities.aus.workloads"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Keys with a slash travel percent-encoded in the path.
    let org = format!("{AMS}/organizations/org-b/labels");
    let (status, _) = h
        .post(&org, &json!({"key": "api.openshift.com/x", "value": "1"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, got) = h.get(&format!("{org}/api.openshift.com%2Fx"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["organization_id"], "org-b");
    let (_, org_body) = h
        .get(
            &format!("{AMS}/organizations/org-b"),
            &[("fetchLabels", "true")],
        )
        .await;
    assert_eq!(org_body["labels"].as_array().unwrap().len(), 2);

    // Unknown owner → 404; missing value → 400.
    let (status, _) = h
        .post(
            &format!("{AMS}/subscriptions/nope/labels"),
            &json!({"key": "k", "value": "v"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.post(&org, &json!({"key": "k"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The fleet snapshot sees the writes.
    let fleet = h.sim().fleet();
    assert_eq!(
        fleet.organizations[1]
            .labels
            .get("api.openshift.com/x")
            .map(String::as_str),
        Some("1")
    );
}

// ----- upgrade policies ----------------------------------------------------------

#[tokio::test]
async fn upgrade_policy_validation_matches_ocm() {
    let h = Harness::default().await;
    let now = t0();
    let path = format!("{CS}/clusters/prod-1-id/upgrade_policies");

    let (status, body) = h
        .post(&path, &json!({"version": "4.14.7", "schedule_type": "manual", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_ocm_error(&body, 400, "CLUSTERS-MGMT-400");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("Version '4.14.7' is not a valid upgrade"),
        "{body}"
    );

    let (status, body) = h
        .post(&path, &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 4)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("at least 5 minutes"),
        "{body}"
    );

    let (status, body) = h
        .post(&path, &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, -10)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["reason"].as_str().unwrap().contains("in the past"),
        "{body}"
    );

    for bad in [
        json!({"version": "4.14.6", "next_run": in_minutes(now, 60)}),
        json!({"version": "4.14.6", "schedule_type": "sometimes", "next_run": in_minutes(now, 60)}),
        json!({"version": "4.14.6", "schedule_type": "manual"}),
        json!({"version": "4.14.6", "schedule_type": "manual", "next_run": "tomorrow"}),
        json!({"schedule_type": "automatic", "schedule": "0 0 6 * * 1"}),
        json!({"version": "4.14.6", "schedule_type": "manual", "upgrade_type": "NodePool", "next_run": in_minutes(now, 60)}),
    ] {
        let (status, body) = h.post(&path, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
    }

    // Dry run validates without storing.
    let ok =
        json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 6)});
    let resp = h
        .http
        .post(h.url(&path))
        .query(&[("dryRun", "true")])
        .bearer_auth(&h.token)
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, list) = h.get(&path, &[]).await;
    assert_eq!(list["total"], 0);

    let (status, created) = h.post(&path, &ok).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "UpgradePolicy");
    assert_eq!(created["upgrade_type"], "OSD");
    assert_eq!(created["version"], "4.14.6");
    assert!(
        created.get("state").is_none(),
        "classic policies do not embed state"
    );
    let pid = created["id"].as_str().unwrap();
    let (status, state) = h.get(&format!("{path}/{pid}/state"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["kind"], "UpgradePolicyState");
    assert_eq!(state["value"], "scheduled");

    let (status, body) = h
        .post(&path, &json!({"version": "4.15.0", "schedule_type": "manual", "next_run": in_minutes(now, 120)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("already a pending upgrade policy"),
        "{body}"
    );
}

#[tokio::test]
async fn collections_match_the_cluster_kind_and_cancelling_frees_the_slot() {
    let h = Harness::default().await;
    let now = t0();
    let path = format!("{CS}/clusters/prod-1-id/upgrade_policies");
    let (_, created) = h
        .post(&path, &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 6)}))
        .await;
    let pid = created["id"].as_str().unwrap();
    // A classic policy on an HCP cluster, a control-plane policy on a classic one.
    let (status, _) = h
        .post(&format!("{CS}/clusters/hcp-1-id/upgrade_policies"), &json!({"version": "4.14.7", "schedule_type": "manual", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .post(&format!("{CS}/clusters/prod-2-id/control_plane/upgrade_policies"), &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Cancelling frees the slot; the cancelled policy disappears on the next tick.
    let (status, state) = h
        .patch(
            &format!("{path}/{pid}/state"),
            &json!({"value": "cancelled", "description": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["value"], "cancelled");
    h.advance(1).await;
    let (_, list) = h.get(&path, &[]).await;
    assert_eq!(list["total"], 0);
    let (status, _) = h.get(&format!("{path}/{pid}"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn minor_upgrades_need_gate_agreements() {
    let h = Harness::default().await;
    let now = t0();
    let path = format!("{CS}/clusters/prod-2-id/upgrade_policies");
    let body =
        json!({"version": "4.15.0", "schedule_type": "manual", "next_run": in_minutes(now, 30)});
    let (status, err) = h.post(&path, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["reason"], "missing gate agreements");
    let mut missing: Vec<&str> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    missing.sort_unstable();
    assert_eq!(
        missing,
        ["gate-ocp-4-15", "gate-sts-4-15"],
        "STS cluster needs the STS gate too"
    );

    let agreements = format!("{CS}/clusters/prod-2-id/gate_agreements");
    let (status, created) = h
        .post(
            &agreements,
            &json!({"version_gate": {"id": "gate-ocp-4-15"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["version_gate"]["id"], "gate-ocp-4-15");
    let (status, _) = h
        .post(
            &agreements,
            &json!({"version_gate": {"id": "gate-ocp-4-15"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "duplicate agreement");
    let (status, _) = h
        .post(
            &agreements,
            &json!({"version_gate": {"id": "no-such-gate"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, err) = h.post(&path, &body).await;
    assert_eq!(ids(err["details"].as_array().unwrap()), ["gate-sts-4-15"]);
    let (status, _) = h
        .post(
            &agreements,
            &json!({"version_gate": {"id": "gate-sts-4-15"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, policy) = h.post(&path, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");

    let (_, list) = h.get(&agreements, &[]).await;
    assert_eq!(list["kind"], "VersionGateAgreementList");
    assert_eq!(list["total"], 2);
    let (_, gates) = h
        .get(
            &format!("{CS}/version_gates"),
            &[("search", "sts_only='t'")],
        )
        .await;
    assert_eq!(ids(gates["items"].as_array().unwrap()), ["gate-sts-4-15"]);
}

#[tokio::test]
async fn a_policy_is_scheduled_then_started_then_completed_and_the_cluster_upgrades() {
    let config = SimConfig {
        terminal_policy_retention: SignedDuration::from_mins(30),
        ..SimConfig::default()
    };
    let h = Harness::new(fleet(), config).await;
    let now = t0();
    let path = format!("{CS}/clusters/prod-1-id/upgrade_policies");
    let (_, cluster) = h.get(&format!("{CS}/clusters/prod-1-id"), &[]).await;
    assert_eq!(
        cluster["version"]["available_upgrades"],
        json!(["4.14.6", "4.15.0"])
    );
    assert_eq!(
        cluster["version"]["available_channels"],
        json!(["stable-4.14", "stable-4.15"])
    );

    let (status, created) = h
        .post(&path, &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let state_path = format!("{path}/{}/state", created["id"].as_str().unwrap());
    let state = async || {
        h.get(&state_path, &[]).await.1["value"]
            .as_str()
            .unwrap_or("gone")
            .to_owned()
    };

    h.advance(30).await;
    assert_eq!(state().await, "scheduled");
    h.advance(30).await;
    assert_eq!(state().await, "started");
    h.advance(89).await;
    assert_eq!(state().await, "started");
    let (_, cluster) = h.get(&format!("{CS}/clusters/prod-1-id"), &[]).await;
    assert_eq!(
        cluster["version"]["raw_id"], "4.14.5",
        "not upgraded while running"
    );
    h.advance(1).await;
    assert_eq!(state().await, "completed");

    let (_, cluster) = h.get(&format!("{CS}/clusters/prod-1-id"), &[]).await;
    assert_eq!(cluster["version"]["raw_id"], "4.14.6");
    assert_eq!(cluster["version"]["id"], "openshift-v4.14.6");
    assert_eq!(cluster["openshift_version"], "4.14.6");
    assert_eq!(cluster["channel"], "stable-4.14", "channel unchanged");
    assert_eq!(cluster["version"]["available_upgrades"], json!(["4.15.0"]));

    // Retained for 30 simulated minutes, then gone (OCM removes finished policies).
    h.advance(29).await;
    assert_eq!(state().await, "completed");
    h.advance(1).await;
    assert_eq!(state().await, "gone");
    let (_, list) = h.get(&path, &[]).await;
    assert_eq!(list["total"], 0);
    assert!(h.sim().fleet().clusters[0].upgrade_policies.is_empty());
}

#[tokio::test]
async fn one_big_clock_jump_ends_like_small_steps_and_explicit_lists_are_trimmed() {
    let h = Harness::default().await;
    let now = t0();
    // prod-2 has an explicit list [4.14.6, 4.15.0].
    let (status, _) = h
        .post(&format!("{CS}/clusters/prod-2-id/upgrade_policies"), &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Exactly next_run + upgrade_duration in one jump: the upgrade started at
    // next_run, not when the clock was told, so it is already done.
    h.advance(60 + 90).await;
    assert_eq!(h.sim().fleet().clusters[1].version, v("4.14.6"));
    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/_sim/clock",
            Some(json!({"now": in_minutes(now, 24 * 60)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, clock) = h.control(reqwest::Method::GET, "/_sim/clock", None).await;
    assert_eq!(clock["now"], in_minutes(now, 24 * 60));
    let (_, list) = h
        .get(&format!("{CS}/clusters/prod-2-id/upgrade_policies"), &[])
        .await;
    assert_eq!(
        list["total"], 0,
        "completed manual policy removed by default"
    );
    let fleet = h.sim().fleet();
    let prod2 = &fleet.clusters[1];
    assert_eq!(prod2.version, v("4.14.6"));
    assert_eq!(prod2.available_upgrades.to_vec(), vec![v("4.15.0")]);

    // The clock never goes back.
    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/_sim/clock",
            Some(json!({"now": T0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn releases_appear_in_available_upgrades_when_published() {
    let h = Harness::default().await;
    let upgrades = async || {
        let (_, c) = h.get(&format!("{CS}/clusters/prod-1-id"), &[]).await;
        c["version"]["available_upgrades"].clone()
    };
    assert_eq!(upgrades().await, json!(["4.14.6", "4.15.0"]));
    h.advance(2 * 24 * 60).await;
    assert_eq!(upgrades().await, json!(["4.14.6", "4.14.7", "4.15.0"]));
    h.advance(24 * 60).await;
    assert_eq!(
        upgrades().await,
        json!(["4.14.6", "4.14.7", "4.15.0", "4.15.2"])
    );
    // A release added at run time shows from its publication instant.
    let published = in_minutes(h.sim().now(), 60);
    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/_sim/releases",
            Some(
                json!({"version": "4.14.8", "channel_groups": ["stable"], "published": published}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(upgrades().await.as_array().unwrap().len(), 4);
    h.advance(60).await;
    assert_eq!(
        upgrades().await,
        json!(["4.14.6", "4.14.7", "4.14.8", "4.15.0", "4.15.2"])
    );
}

#[tokio::test]
async fn hcp_control_plane_and_node_pool_policies_progress() {
    let h = Harness::default().await;
    let now = t0();
    let pools = format!("{CS}/clusters/hcp-1-id/node_pools");
    let (_, list) = h.get(&pools, &[]).await;
    assert_eq!(list["items"][0]["version"]["raw_id"], "4.14.5");
    assert_eq!(
        list["items"][0]["version"]["available_upgrades"],
        json!(["4.14.6"])
    );

    let np_path = format!("{pools}/workers/upgrade_policies");
    let (status, body) = h
        .post(&np_path, &json!({"version": "4.14.7", "schedule_type": "manual", "upgrade_type": "NodePool", "cluster_id": "hcp-1-id", "next_run": in_minutes(now, 6)}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "node pools cannot pass the control plane: {body}"
    );
    let (status, np) = h
        .post(&np_path, &json!({"version": "4.14.6", "schedule_type": "manual", "upgrade_type": "NodePool", "cluster_id": "hcp-1-id", "next_run": in_minutes(now, 6)}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{np}");
    assert_eq!(np["kind"], "NodePoolUpgradePolicy");
    assert_eq!(np["node_pool_id"], "workers");
    assert_eq!(np["state"]["value"], "scheduled");
    let (status, _) = h
        .post(&np_path, &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "one pending policy per node pool"
    );

    let cp_path = format!("{CS}/clusters/hcp-1-id/control_plane/upgrade_policies");
    // 4.14.7 is not published yet; 4.15.0 needs the gate.
    let (status, _) = h
        .post(&cp_path, &json!({"version": "4.14.7", "schedule_type": "manual", "upgrade_type": "ControlPlane", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    h.post(
        &format!("{CS}/clusters/hcp-1-id/gate_agreements"),
        &json!({"version_gate": {"id": "gate-ocp-4-15"}}),
    )
    .await;
    let (status, cp) = h
        .post(&cp_path, &json!({"version": "4.15.0", "schedule_type": "manual", "upgrade_type": "ControlPlane", "cluster_id": "hcp-1-id", "next_run": in_minutes(now, 60)}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cp}");
    assert_eq!(cp["kind"], "ControlPlaneUpgradePolicy");
    assert_eq!(cp["state"]["value"], "scheduled");

    h.advance(10).await;
    let (_, list) = h.get(&np_path, &[]).await;
    assert_eq!(list["items"][0]["state"]["value"], "started");
    h.advance(90).await;
    let (_, list) = h.get(&np_path, &[]).await;
    assert_eq!(list["total"], 0);
    let (_, pools_now) = h.get(&pools, &[]).await;
    assert_eq!(pools_now["items"][0]["version"]["raw_id"], "4.14.6");
    let (_, cps) = h.get(&cp_path, &[]).await;
    assert_eq!(cps["items"][0]["state"]["value"], "started");

    h.advance(60).await;
    let (_, cluster) = h.get(&format!("{CS}/clusters/hcp-1-id"), &[]).await;
    assert_eq!(cluster["version"]["raw_id"], "4.15.0");
    let (_, pools_now) = h.get(&pools, &[]).await;
    assert_eq!(
        pools_now["items"][0]["version"]["raw_id"], "4.14.6",
        "node pools keep their version"
    );
    assert_eq!(
        pools_now["items"][0]["version"]["available_upgrades"],
        json!(["4.15.0"])
    );
}

#[tokio::test]
async fn unhealthy_clusters_delay_upgrades_and_injected_failures_fail_them() {
    let h = Harness::default().await;
    let now = t0();
    let path = format!("{CS}/clusters/prod-1-id/upgrade_policies");
    let (_, created) = h
        .post(&path, &json!({"version": "4.14.6", "schedule_type": "manual", "next_run": in_minutes(now, 10)}))
        .await;
    let state_path = format!("{path}/{}/state", created["id"].as_str().unwrap());
    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/_sim/clusters/prod-1-id",
            Some(json!({"healthy": false, "fail_upgrades": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    h.advance(20).await;
    assert_eq!(h.get(&state_path, &[]).await.1["value"], "delayed");
    h.control(
        reqwest::Method::POST,
        "/_sim/clusters/prod-1-id",
        Some(json!({"healthy": true})),
    )
    .await;
    assert_eq!(h.get(&state_path, &[]).await.1["value"], "started");
    let config = SimConfig::default();
    h.sim().advance(config.upgrade_duration).unwrap();
    let (status, _) = h.get(&state_path, &[]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "failed manual policies are removed too"
    );
    assert_eq!(
        h.sim().fleet().clusters[0].version,
        v("4.14.5"),
        "failed upgrade keeps the version"
    );
}

#[tokio::test]
async fn scenario_policies_and_automatic_schedules_progress() {
    let mut f = fleet();
    f.clusters[0].upgrade_policies = vec![UpgradePolicy {
        id: "up-1".into(),
        version: Some(v("4.14.6")),
        next_run: Some(t0() + SignedDuration::from_mins(30)),
        state: PolicyState::Scheduled,
        schedule_type: ScheduleType::Manual,
        schedule: None,
    }];
    f.clusters[1].upgrade_policies = vec![UpgradePolicy {
        id: "auto-1".into(),
        version: None,
        next_run: Some(t0() + SignedDuration::from_hours(2)),
        state: PolicyState::Scheduled,
        schedule_type: ScheduleType::Automatic,
        schedule: Some("0 12 * * *".into()),
    }];
    let h = Harness::new(f, SimConfig::default()).await;
    let (_, state) = h
        .get(
            &format!("{CS}/clusters/prod-1-id/upgrade_policies/up-1/state"),
            &[],
        )
        .await;
    assert_eq!(state["value"], "scheduled");
    h.advance(4 * 60).await;
    let fleet = h.sim().fleet();
    assert_eq!(fleet.clusters[0].version, v("4.14.6"));
    // The automatic policy upgraded prod-2 within its minor and re-armed.
    assert_eq!(fleet.clusters[1].version, v("4.14.6"));
    let auto = &fleet.clusters[1].upgrade_policies[0];
    assert_eq!(auto.state, PolicyState::Scheduled);
    assert_eq!(auto.next_run, Some("2026-11-22T12:00:00Z".parse().unwrap()));
}

// ----- channels ------------------------------------------------------------------

#[tokio::test]
async fn channel_switch_validates_against_available_channels() {
    let h = Harness::default().await;
    let path = format!("{CS}/clusters/prod-1-id");
    let (status, body) = h.patch(&path, &json!({"channel": "invalid"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["reason"],
        "Invalid channel format: 'invalid'. Channel must follow Y-stream format (e.g., stable-4.16, eus-4.16)"
    );
    let (status, body) = h.patch(&path, &json!({"channel": "stable-4.16"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["reason"].as_str().unwrap().contains("not available"),
        "{body}"
    );
    let (status, body) = h.patch(&path, &json!({"channel": "fast-4.15"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = h.patch(&path, &json!({"channel": "stable-4.15"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["channel"], "stable-4.15");
    assert_eq!(h.sim().fleet().clusters[0].channel, "stable-4.15");
}

// ----- service logs --------------------------------------------------------------

#[tokio::test]
async fn service_logs_are_created_and_searched() {
    let h = Harness::default().await;
    let body = json!({
        "cluster_uuid": "prod-1-uuid",
        "service_name": "advanced-upgrade-scheduler",
        "summary": "it's x",
        "description": "d",
        "severity": "Moderate",
    });
    let (status, created) = h.post(&format!("{SL}/cluster_logs"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for field in [
        "id",
        "href",
        "event_stream_id",
        "username",
        "cluster_id",
        "timestamp",
    ] {
        assert!(!created[field].is_null(), "{field} missing");
    }
    assert_eq!(created["cluster_id"], "prod-1-id");
    assert_eq!(created["subscription_id"], "prod-1-id-sub");
    assert_eq!(created["username"], "srecap-sim");
    assert_eq!(created["log_type"], "cluster-state-updates");

    let mut internal = body.clone();
    internal["internal_only"] = json!(true);
    h.post(&format!("{SL}/cluster_logs"), &internal).await;

    let search = "created_at >= '2026-11-20T10:00:00+00:00' and description='d' and service_name='advanced-upgrade-scheduler' and severity='Moderate' and summary='it''s x'";
    let (status, list) = h
        .get(
            &format!("{SL}/clusters/cluster_logs"),
            &[
                ("cluster_uuid", "prod-1-uuid"),
                ("size", "100"),
                ("search", search),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1, "internal entries are hidden");
    let (_, none) = h
        .get(
            &format!("{SL}/clusters/cluster_logs"),
            &[
                ("cluster_uuid", "prod-1-uuid"),
                ("search", "summary='its x'"),
            ],
        )
        .await;
    assert_eq!(none["total"], 0);
    let (_, later) = h
        .get(
            &format!("{SL}/clusters/cluster_logs"),
            &[
                ("cluster_uuid", "prod-1-uuid"),
                ("search", "created_at >= '2026-11-22T00:00:00Z'"),
            ],
        )
        .await;
    assert_eq!(later["total"], 0);
    let (_, other) = h
        .get(
            &format!("{SL}/clusters/cluster_logs"),
            &[("cluster_uuid", "prod-2-uuid")],
        )
        .await;
    assert_eq!(other["total"], 0);
    let (_, by_path) = h
        .get(&format!("{SL}/clusters/prod-1-uuid/cluster_logs"), &[])
        .await;
    assert_eq!(by_path["total"], 1);
    assert_eq!(h.sim().service_logs().len(), 2);

    let (status, err) = h.get(&format!("{SL}/clusters/cluster_logs"), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_ocm_error(&err, 400, "OCM-SERVICE-LOGS-400");
    let mut bad = body.clone();
    bad["severity"] = json!("Catastrophic");
    let (status, _) = h.post(&format!("{SL}/cluster_logs"), &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    bad["severity"] = json!("Info");
    bad["cluster_uuid"] = json!("unknown-uuid");
    let (status, _) = h.post(&format!("{SL}/cluster_logs"), &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// ----- knobs ---------------------------------------------------------------------

#[tokio::test]
async fn faults_fail_one_organizations_requests() {
    let h = Harness::default().await;
    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/_sim/faults",
            Some(json!({"status": 503, "organization": "org-a"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = h
        .get(&format!("{CS}/clusters/prod-1-id/upgrade_policies"), &[])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_ocm_error(&body, 503, "CLUSTERS-MGMT-503");
    let (status, _) = h
        .get(&format!("{AMS}/subscriptions/prod-2-id-sub/labels"), &[])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = h
        .post(
            &format!("{SL}/cluster_logs"),
            &json!({"cluster_uuid": "prod-1-uuid", "summary": "s", "service_name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.sim().service_logs().is_empty(), "nothing written");
    // Other organizations and fleet-wide lists still work.
    let (status, _) = h
        .get(&format!("{CS}/clusters/hcp-1-id/node_pools"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.get(&format!("{AMS}/labels"), &[]).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = h
        .control(reqwest::Method::DELETE, "/_sim/faults", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .get(&format!("{CS}/clusters/prod-1-id/upgrade_policies"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn counted_429_faults_carry_retry_after_and_run_out() {
    let h = Harness::default().await;
    h.control(
        reqwest::Method::POST,
        "/_sim/faults",
        Some(json!({"status": 429, "path_prefix": "/api/clusters_mgmt/v1/clusters", "method": "GET", "count": 2, "retry_after": 1})),
    )
    .await;
    for _ in 0..2 {
        let resp = h
            .http
            .get(h.url(&format!("{CS}/clusters")))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "1");
    }
    let (status, _) = h.get(&format!("{CS}/clusters"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, faults) = h.control(reqwest::Method::GET, "/_sim/faults", None).await;
    assert_eq!(faults["faults"], json!([]));
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_latency_applies() {
    let h = Harness::default().await;
    h.get(&format!("{CS}/clusters/prod-1-id/upgrade_policies"), &[])
        .await;
    h.get(&format!("{CS}/clusters/prod-2-id/upgrade_policies"), &[])
        .await;
    h.get(&format!("{CS}/clusters"), &[]).await;
    let (_, counts) = h
        .control(reqwest::Method::GET, "/_sim/requests", None)
        .await;
    assert_eq!(counts["total"], 3);
    assert_eq!(
        counts["by_endpoint"]["GET /api/clusters_mgmt/v1/clusters/{id}/upgrade_policies"],
        2
    );
    assert_eq!(
        counts["by_endpoint"]["GET /api/clusters_mgmt/v1/clusters"],
        1
    );
    h.control(reqwest::Method::DELETE, "/_sim/requests", None)
        .await;
    assert!(h.sim().request_counts().is_empty());

    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/_sim/latency",
            Some(json!({"millis": 150})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let started = std::time::Instant::now();
    h.get(&format!("{CS}/clusters"), &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn shutdown_drains_and_stops_serving() {
    let h = Harness::default().await;
    let url = h.url(&format!("{CS}/clusters"));
    let Harness {
        running,
        http,
        token,
    } = h;
    running.sim.set_latency(Duration::from_millis(200));
    let in_flight = tokio::spawn({
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status())
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.shutdown().await.unwrap();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        StatusCode::OK,
        "in-flight request finished"
    );
    assert!(
        http.get(url).bearer_auth(token).send().await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn serves_a_scenario_file() {
    let text = r"
now: 2026-11-21T10:00:00Z
organizations:
  - id: org-a
clusters:
  - name: prod-1
    organization: org-a
    version: 4.14.5
    labels:
      sre-capabilities.aus.soak-days: 2
releases:
  - {version: 4.14.6, channel_groups: [stable], published: 2026-11-01T00:00:00Z}
  - {version: 4.14.7, channel_groups: [stable], published: 2026-11-22T00:00:00Z}
";
    let fleet = srecap_fleet::parse_scenario(text, "inline.yaml", t0()).unwrap();
    let h = Harness::new(fleet, SimConfig::default()).await;
    let labels = h
        .search(
            &format!("{AMS}/labels"),
            "key='sre-capabilities.aus.soak-days'",
        )
        .await;
    assert_eq!(labels[0]["value"], "2");
    assert_eq!(labels[0]["subscription_id"], "prod-1-id-sub");
    let (_, c) = h.get(&format!("{CS}/clusters/prod-1-id"), &[]).await;
    assert_eq!(c["external_id"], "prod-1-uuid");
    assert_eq!(c["channel"], "stable-4.14");
    assert_eq!(c["version"]["available_upgrades"], json!(["4.14.6"]));
    h.advance(14 * 60).await;
    let (_, c) = h.get(&format!("{CS}/clusters/prod-1-id"), &[]).await;
    assert_eq!(
        c["version"]["available_upgrades"],
        json!(["4.14.6", "4.14.7"])
    );
}

// ----- add-on service (D-v2) ----------------------------------------------------

const ADD: &str = "/api/addons_mgmt/v1";

/// The default fleet with add-on `logging` 1.0.0 on prod-1 (ready) and on
/// prod-2 (installing), `mesh` 2.0.0 on prod-1 (ready, latest); latest
/// `logging` is 1.2.0.
fn addon_fleet() -> Fleet {
    let mut fleet = fleet();
    let clusters: Vec<String> = fleet.clusters.iter().map(|c| c.id.clone()).collect();
    assert!(clusters.len() >= 2);
    fleet.addons.catalog = [("logging", "1.2.0"), ("mesh", "2.0.0")]
        .into_iter()
        .map(|(id, latest)| (id.to_owned(), v(latest)))
        .collect();
    for (cluster, addon, version, state) in [
        (&clusters[0], "logging", "1.0.0", "ready"),
        (&clusters[0], "mesh", "2.0.0", "ready"),
        (&clusters[1], "logging", "1.0.0", "installing"),
    ] {
        fleet
            .addons
            .installations
            .push(srecap_fleet::AddonInstallation {
                cluster_id: cluster.clone(),
                addon_id: addon.to_owned(),
                version: v(version),
                state: state.to_owned(),
                upgrade_policies: Vec::new(),
            });
    }
    fleet
}

#[tokio::test]
async fn addon_catalogue_and_installations_are_listed_and_searched_r114() {
    let h = Harness::new(addon_fleet(), SimConfig::default()).await;
    let (c1, c2) = {
        let f = h.sim().fleet();
        (f.clusters[0].id.clone(), f.clusters[1].id.clone())
    };
    let (status, body) = h.get(&format!("{ADD}/addons"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "AddonList");
    let items = body["items"].as_array().unwrap();
    assert_eq!(ids(items), ["logging", "mesh"]);
    assert_eq!(items[0]["version"]["id"], "1.2.0");

    let path = format!("{ADD}/clusters/{c1}/addons");
    let ready = h.search(&path, "state='ready'").await;
    assert_eq!(ready.len(), 2);
    assert_eq!(ready[0]["kind"], "AddonInstallation");
    assert_eq!(ready[0]["addon"]["id"], "logging");
    assert_eq!(ready[0]["addon_version"]["id"], "1.0.0");
    assert_eq!(ready[0]["state"], "ready");
    let path2 = format!("{ADD}/clusters/{c2}/addons");
    assert!(h.search(&path2, "state='ready'").await.is_empty());
    assert_eq!(h.search(&path2, "state='installing'").await.len(), 1);
    // An unknown search field is OCM's 400.
    let (status, body) = h.get(&path, &[("search", "colour='red'")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn addon_upgrade_plans_are_validated_run_and_deleted_r116_r117() {
    let h = Harness::new(addon_fleet(), SimConfig::default()).await;
    let now = t0();
    let c1 = h.sim().fleet().clusters[0].id.clone();
    let path = format!("{ADD}/clusters/{c1}/upgrade_plans");
    let plan = |version: &str, minutes: i64| {
        json!({"version": version, "type": "manual", "addon_id": "logging",
               "cluster_id": c1, "next_run": in_minutes(now, minutes)})
    };

    // Refusals: a version the catalogue does not have, no newer version, a
    // past next_run, an add-on that is not installed, a bad type.
    for (body, reason) in [
        (plan("1.3.0", 6), "does not exist"),
        (plan("1.0.0", 6), "already at version"),
        (plan("1.2.0", -1), "not in the past"),
        (
            json!({"version": "1.0.0", "type": "manual", "addon_id": "nope", "cluster_id": c1, "next_run": in_minutes(now, 6)}),
            "is not installed",
        ),
        (
            json!({"version": "1.2.0", "type": "sometimes", "addon_id": "logging", "cluster_id": c1, "next_run": in_minutes(now, 6)}),
            "'manual' or 'automatic'",
        ),
    ] {
        let (status, resp) = h.post(&path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert!(
            resp["reason"].as_str().unwrap().contains(reason),
            "{body}: {resp}"
        );
    }

    let (status, created) = h.post(&path, &plan("1.2.0", 6)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "AddonUpgradePlan");
    assert_eq!(created["type"], "manual");
    assert_eq!(created["state"], "scheduled");
    let id = created["id"].as_str().unwrap().to_owned();
    // One open plan per installation.
    let (status, body) = h.post(&path, &plan("1.2.0", 7)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Not before next_run; at next_run the installation moves and the plan
    // stays, completed (R117: AUS deletes it).
    h.advance(5).await;
    let ready = h
        .search(&format!("{ADD}/clusters/{c1}/addons"), "state='ready'")
        .await;
    assert_eq!(ready[0]["addon_version"]["id"], "1.0.0");
    h.advance(2).await;
    let ready = h
        .search(&format!("{ADD}/clusters/{c1}/addons"), "state='ready'")
        .await;
    assert_eq!(ready[0]["addon_version"]["id"], "1.2.0");
    let (status, list) = h.get(&path, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(ids(items), [id.as_str()]);
    assert_eq!(items[0]["state"], "completed");
    assert_eq!(items[0]["version"], "1.2.0");

    let (status, _) = h.delete(&format!("{path}/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = h.get(&path, &[]).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (status, body) = h.delete(&format!("{path}/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
