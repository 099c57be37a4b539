//! rhidp over real HTTP (rhidp.md §13): cluster login fields (I74), identity
//! providers (I75), the SSO simulator (I77) and its admin surface (I78).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use srecap_fleet::parse_scenario;
use srecap_sim::{RunningSim, SimConfig, Simulator, spawn};

const CS: &str = "/api/clusters_mgmt/v1";
const REALM: &str = "/auth/realms/EmployeeIDP";
const REGISTER: &str = "/auth/realms/EmployeeIDP/clients-registrations/default";
const ISSUER: &str = "https://auth.redhat.com/auth/realms/EmployeeIDP";

const SCENARIO: &str = "\
now: 2026-11-21T10:00:00Z
organizations:
- id: org-a
clusters:
- name: c1
  organization: org-a
  version: 4.14.5
  console_url: https://console-openshift-console.apps.c1.abcd.p1.openshiftapps.com
  identity_providers:
  - {id: idp-1, type: GithubIdentityProvider, name: github, mapping_method: claim}
  - {id: idp-2, type: OpenIDIdentityProvider, name: redhat-sso, mapping_method: add, client_id: c1-org-a-redhat-sso-auth.redhat.com, client_secret: old-secret, issuer: 'https://auth.redhat.com/auth/realms/EmployeeIDP', groups_claim: []}
- name: ext
  organization: org-a
  version: 4.14.5
  external_auth: true
- name: bare
  organization: org-a
  version: 4.14.5
  console_url: null
sso:
  realms:
  - issuer: https://auth.redhat.com/auth/realms/EmployeeIDP
    allowed_scopes: [web-origins, acr, profile, roles, email, regex-filtered-groups]
    iat: {token: scenario-iat, expires: 2026-12-01T00:00:00Z, count: 2}
    clients:
    - {client_id: pre-1, secret: pre-secret, redirect_uris: ['https://oauth-openshift.apps.pre.x.p1.openshiftapps.com/oauth2callback/redhat-sso'], rat: pre-rat}
";

struct Harness {
    running: RunningSim,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn new() -> Harness {
        let fleet = parse_scenario(SCENARIO, "rhidp.yaml", Timestamp::UNIX_EPOCH).unwrap();
        let running = spawn(Simulator::new(fleet, SimConfig::default()))
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let resp = http
            .post(running.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "srecap-sim"),
                ("client_secret", "srecap-sim"),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        Harness {
            running,
            http,
            token,
        }
    }

    fn sim(&self) -> &Simulator {
        &self.running.sim
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    /// An OCM request with the OCM token.
    async fn ocm(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.call(req).await
    }

    /// A realm request with an optional bearer (IAT or RAT).
    async fn sso(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.call(req).await
    }

    /// A `/_sim` call.
    async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        self.call(req).await
    }

    async fn register(&self, iat: &str, client_id: &str) -> (StatusCode, Value) {
        self.sso(
            Method::POST,
            REGISTER,
            Some(iat),
            Some(&registration(client_id)),
        )
        .await
    }
}

/// The body of I27 (with a group regex).
fn registration(client_id: &str) -> Value {
    json!({
        "clientId": client_id,
        "redirectUris": [format!("https://oauth-openshift.apps.{client_id}.abcd.p1.openshiftapps.com/oauth2callback/redhat-sso")],
        "defaultClientScopes": ["web-origins", "acr", "profile", "roles", "email", "regex-filtered-groups"],
        "attributes": {"group-filter-regex": "^ai-.*"},
    })
}

fn openid(name: &str, secret: &str) -> Value {
    json!({
        "type": "OpenIDIdentityProvider",
        "name": name,
        "mapping_method": "add",
        "open_id": {
            "client_id": "c1-org-a-redhat-sso-auth.redhat.com",
            "client_secret": secret,
            "issuer": ISSUER,
            "claims": {"email": ["email"], "name": ["name"], "preferred_username": ["preferred_username"], "groups": []},
        },
    })
}

fn idps(cluster: &str) -> String {
    format!("{CS}/clusters/{cluster}-id/identity_providers")
}

fn assert_ocm_400(status: StatusCode, body: &Value, needle: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["kind"], "Error", "{body}");
    assert_eq!(body["code"], "CLUSTERS-MGMT-400", "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(needle),
        "{reason:?} should mention {needle:?}"
    );
}

// ----- I74: cluster fields ---------------------------------------------------

#[tokio::test]
async fn i74_clusters_carry_console_external_auth_and_the_idp_link() {
    let h = Harness::new().await;
    let (status, c1) = h
        .ocm(Method::GET, &format!("{CS}/clusters/c1-id"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{c1}");
    assert_eq!(
        c1["console"]["url"],
        "https://console-openshift-console.apps.c1.abcd.p1.openshiftapps.com"
    );
    assert_eq!(c1["external_auth_config"]["enabled"], false);
    assert_eq!(
        c1["identity_providers"],
        json!({"kind": "IdentityProviderListLink", "href": format!("{CS}/clusters/c1-id/identity_providers")})
    );
    let (_, ext) = h
        .ocm(Method::GET, &format!("{CS}/clusters/ext-id"), None)
        .await;
    assert_eq!(ext["external_auth_config"]["enabled"], true);
    // Derived console URL (no console_url key): OSD-shaped.
    let url = ext["console"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://console-openshift-console.apps.ext."),
        "{url}"
    );
    assert!(url.ends_with(".p1.openshiftapps.com"), "{url}");
    // console_url: null ⇒ no console object, also in lists.
    let (_, list) = h
        .ocm(
            Method::GET,
            &format!("{CS}/clusters?search=name%3D'bare'"),
            None,
        )
        .await;
    assert_eq!(list["items"][0]["name"], "bare", "{list}");
    assert!(list["items"][0].get("console").is_none(), "{list}");
}

// ----- I75: identity providers -----------------------------------------------

#[tokio::test]
async fn i75_list_is_paged_and_never_returns_the_client_secret() {
    let h = Harness::new().await;
    let (status, list) = h.ocm(Method::GET, &idps("c1"), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["kind"], "IdentityProviderList");
    assert_eq!(
        (list["size"].as_u64(), list["total"].as_u64()),
        (Some(2), Some(2))
    );
    let github = &list["items"][0];
    assert_eq!(github["kind"], "IdentityProvider");
    assert_eq!(github["type"], "GithubIdentityProvider");
    assert_eq!(github["href"], format!("{}/idp-1", idps("c1")));
    assert!(github["github"].is_object(), "{github}");
    let oidc = &list["items"][1];
    assert_eq!(oidc["mapping_method"], "add");
    assert_eq!(
        oidc["open_id"]["client_id"],
        "c1-org-a-redhat-sso-auth.redhat.com"
    );
    assert_eq!(oidc["open_id"]["claims"]["groups"], json!([]));
    assert!(oidc["open_id"].get("client_secret").is_none(), "{oidc}");
    assert_eq!(
        h.sim()
            .identity_provider_secret("c1-id", "idp-2")
            .as_deref(),
        Some("old-secret")
    );

    // `size` honoured; the envelope's size is what the page holds.
    let (_, page) = h
        .ocm(Method::GET, &format!("{}?size=1&page=2", idps("c1")), None)
        .await;
    assert_eq!(
        (page["size"].as_u64(), page["total"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(page["items"][0]["id"], "idp-2");

    let (_, empty) = h.ocm(Method::GET, &idps("ext"), None).await;
    assert_eq!(empty["total"], 0);
    let (status, body) = h.ocm(Method::GET, &idps("nope"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn i75_create_stores_the_provider_and_keeps_the_secret_internal() {
    let h = Harness::new().await;
    let (status, created) = h
        .ocm(
            Method::POST,
            &idps("c1"),
            Some(&openid("redhat-sso-2", "s1")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["kind"], "IdentityProvider");
    assert_eq!(created["name"], "redhat-sso-2");
    assert_eq!(created["open_id"]["issuer"], ISSUER);
    assert!(
        created["open_id"].get("client_secret").is_none(),
        "{created}"
    );
    assert_eq!(
        h.sim().identity_provider_secret("c1-id", &id).as_deref(),
        Some("s1")
    );

    let (status, got) = h
        .ocm(Method::GET, &format!("{}/{id}", idps("c1")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    // mapping_method defaults to claim; other types need no settings.
    let (status, github) = h
        .ocm(
            Method::POST,
            &idps("c1"),
            Some(&json!({"type": "GithubIdentityProvider", "name": "gh2", "github": {"client_id": "x", "client_secret": "y"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{github}");
    assert_eq!(github["mapping_method"], "claim");
    assert!(github["github"].get("client_secret").is_none(), "{github}");

    // The fleet snapshot carries the new providers back (scenario model).
    let fleet = h.sim().fleet();
    assert_eq!(fleet.clusters[0].auth.identity_providers.len(), 4);
}

#[tokio::test]
async fn i75_create_validations_answer_400_with_ocm_error_bodies() {
    let h = Harness::new().await;
    let without = |field: &str| {
        let mut body = openid("x1", "s");
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let without_open_id = |field: &str| {
        let mut body = openid("x1", "s");
        body["open_id"].as_object_mut().unwrap().remove(field);
        body
    };
    let with = |path: &[&str], value: Value| {
        let mut body = openid("x1", "s");
        let mut at = &mut body;
        for step in &path[..path.len() - 1] {
            at = &mut at[*step];
        }
        at[path[path.len() - 1]] = value;
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("c1", without("name"), "'name' is required"),
        ("c1", with(&["name"], json!("red hat")), "is not valid"),
        ("c1", with(&["name"], json!("a/b")), "is not valid"),
        ("c1", with(&["name"], json!("redhat-sso")), "already used"),
        ("c1", without("type"), "'type' is required"),
        (
            "c1",
            with(&["type"], json!("SamlIdentityProvider")),
            "type 'SamlIdentityProvider' is not valid",
        ),
        (
            "c1",
            with(&["mapping_method"], json!("merge")),
            "Mapping method 'merge'",
        ),
        ("c1", without_open_id("client_id"), "open_id.client_id"),
        (
            "c1",
            without_open_id("client_secret"),
            "open_id.client_secret",
        ),
        ("c1", without_open_id("issuer"), "open_id.issuer"),
        (
            "c1",
            with(
                &["open_id", "issuer"],
                json!("http://auth.example.com/realms/r"),
            ),
            "https URL",
        ),
        ("c1", without("open_id"), "open_id.client_id"),
        ("c1", json!(["not", "an", "object"]), "JSON object"),
        ("ext", openid("x1", "s"), "external authentication"),
        ("bare", openid("x1", "s"), "no console URL"),
    ];
    for (cluster, body, needle) in cases {
        let (status, answer) = h.ocm(Method::POST, &idps(cluster), Some(&body)).await;
        assert_ocm_400(status, &answer, needle);
    }
    let (status, body) = h
        .ocm(Method::POST, &idps("nope"), Some(&openid("x1", "s")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Nothing was stored by the refused requests.
    let (_, list) = h.ocm(Method::GET, &idps("c1"), None).await;
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn i75_patch_merges_and_refuses_name_or_type_changes_delete_removes() {
    let h = Harness::new().await;
    let idp = format!("{}/idp-2", idps("c1"));
    let (status, patched) = h
        .ocm(
            Method::PATCH,
            &idp,
            Some(&json!({"mapping_method": "claim", "open_id": {"client_secret": "new-secret", "claims": {"groups": ["filtered_groups"]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["mapping_method"], "claim");
    assert_eq!(patched["name"], "redhat-sso");
    // Merged: fields not sent are kept.
    assert_eq!(
        patched["open_id"]["client_id"],
        "c1-org-a-redhat-sso-auth.redhat.com"
    );
    assert_eq!(
        patched["open_id"]["claims"]["groups"],
        json!(["filtered_groups"])
    );
    assert!(
        patched["open_id"].get("client_secret").is_none(),
        "{patched}"
    );
    assert_eq!(
        h.sim()
            .identity_provider_secret("c1-id", "idp-2")
            .as_deref(),
        Some("new-secret")
    );

    // Same name is fine (the reference sends none, but a client may).
    let (status, _) = h
        .ocm(Method::PATCH, &idp, Some(&json!({"name": "redhat-sso"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .ocm(Method::PATCH, &idp, Some(&json!({"name": "other"})))
        .await;
    assert_ocm_400(status, &body, "cannot change");
    let (status, body) = h
        .ocm(
            Method::PATCH,
            &idp,
            Some(&json!({"type": "GithubIdentityProvider"})),
        )
        .await;
    assert_ocm_400(status, &body, "cannot change");
    let (status, body) = h
        .ocm(Method::PATCH, &idp, Some(&json!({"mapping_method": "x"})))
        .await;
    assert_ocm_400(status, &body, "Mapping method");
    let (status, body) = h
        .ocm(
            Method::PATCH,
            &idp,
            Some(&json!({"open_id": {"issuer": "http://insecure"}})),
        )
        .await;
    assert_ocm_400(status, &body, "https URL");
    // A refused patch changed nothing.
    assert_eq!(
        h.sim()
            .identity_provider_secret("c1-id", "idp-2")
            .as_deref(),
        Some("new-secret")
    );
    let (status, body) = h
        .ocm(
            Method::PATCH,
            &format!("{}/idp-9", idps("c1")),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, _) = h.ocm(Method::DELETE, &idp, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = h.ocm(Method::GET, &idp, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["kind"], "Error");
    let (status, _) = h.ocm(Method::DELETE, &idp, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(h.sim().identity_provider_secret("c1-id", "idp-2"), None);
}

#[tokio::test]
async fn i75_idp_requests_are_counted_and_take_injected_faults() {
    let h = Harness::new().await;
    h.sim().add_fault(srecap_sim::Fault {
        status: 503,
        path_prefix: Some(idps("c1")),
        method: Some("POST".into()),
        organization: None,
        count: Some(1),
        retry_after: None,
    });
    let (status, body) = h
        .ocm(Method::POST, &idps("c1"), Some(&openid("x1", "s")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, _) = h
        .ocm(Method::POST, &idps("c1"), Some(&openid("x1", "s")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let counts = h.sim().request_counts();
    assert_eq!(
        counts.get(&format!("POST {CS}/clusters/{{id}}/identity_providers")),
        Some(&2),
        "{counts:?}"
    );
}

// ----- I77: the SSO simulator ----------------------------------------------------

#[tokio::test]
async fn i77_discovery_document_points_at_the_simulator() {
    let h = Harness::new().await;
    let path = format!("{REALM}/.well-known/openid-configuration");
    let (status, doc) = h.sso(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let issuer = h.url(REALM);
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(
        doc["registration_endpoint"],
        format!("{issuer}/clients-registrations/openid-connect")
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    for key in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        assert!(doc[key].as_str().unwrap().starts_with(&issuer), "{key}");
    }
    let (status, _) = h
        .sso(
            Method::GET,
            "/auth/realms/Nope/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn i77_register_returns_the_client_and_uses_one_iat_registration() {
    let h = Harness::new().await;
    let (status, client) = h
        .register("scenario-iat", "c1-org-a-redhat-sso-auth.redhat.com")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    assert_eq!(client["clientId"], "c1-org-a-redhat-sso-auth.redhat.com");
    assert!(!client["id"].as_str().unwrap().is_empty());
    assert!(!client["secret"].as_str().unwrap().is_empty());
    assert!(
        !client["registrationAccessToken"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        client["redirectUris"],
        registration("c1-org-a-redhat-sso-auth.redhat.com")["redirectUris"]
    );
    assert_eq!(client["defaultClientScopes"][5], "regex-filtered-groups");
    assert_eq!(
        client["attributes"],
        json!({"group-filter-regex": "^ai-.*"})
    );
    assert_eq!(
        (
            &client["enabled"],
            &client["protocol"],
            &client["publicClient"]
        ),
        (&json!(true), &json!("openid-connect"), &json!(false))
    );

    // `attributes: null` and no regex scope (I27: a server must accept both).
    let mut plain = registration("c2");
    plain["attributes"] = Value::Null;
    plain["defaultClientScopes"] = json!(["web-origins", "acr", "profile", "roles", "email"]);
    let (status, second) = h
        .sso(Method::POST, REGISTER, Some("scenario-iat"), Some(&plain))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["attributes"], Value::Null);
    assert_ne!(second["secret"], client["secret"], "secrets are random");

    // The scenario IAT allowed two registrations: now exhausted.
    let (status, body) = h.register("scenario-iat", "c3").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");

    let clients = h.sim().sso_clients("EmployeeIDP").unwrap();
    let ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["pre-1", "c1-org-a-redhat-sso-auth.redhat.com", "c2"]);
    assert_eq!(clients[1].secret, client["secret"].as_str().unwrap());
}

#[tokio::test]
async fn i77_registration_refusals() {
    let h = Harness::new().await;
    // No, unknown, or expired IAT: 401 invalid_token, nothing used.
    let (status, body) = h
        .sso(Method::POST, REGISTER, None, Some(&registration("a")))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_token"))
    );
    let (status, body) = h.register("forged", "a").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_token"))
    );
    // An OCM token is not an IAT.
    let ocm_token = h.token.clone();
    let (status, _) = h.register(&ocm_token, "a").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Duplicate clientId: 409 (pre-registered by the scenario).
    let (status, body) = h.register("scenario-iat", "pre-1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A scope outside the realm's allowed list: 403.
    let mut scoped = registration("a");
    scoped["defaultClientScopes"] = json!(["web-origins", "offline_access"]);
    let (status, body) = h
        .sso(Method::POST, REGISTER, Some("scenario-iat"), Some(&scoped))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Redirect URIs that are not absolute https: 400.
    for uri in [
        "http://oauth.example.com/cb",
        "/oauth2callback/redhat-sso",
        "https:///cb",
    ] {
        let mut bad = registration("a");
        bad["redirectUris"] = json!([uri]);
        let (status, body) = h
            .sso(Method::POST, REGISTER, Some("scenario-iat"), Some(&bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"], "invalid_redirect_uri");
    }

    // None of the refusals used the IAT: both registrations are still there.
    let (_, realms) = h.admin(Method::GET, "/_sim/sso", None).await;
    assert_eq!(
        realms["realms"][0]["initial_access_tokens"][0]["count"], 2,
        "{realms}"
    );

    // Expired: the SSO clock is the simulator's clock.
    h.sim()
        .set_now("2026-12-01T00:00:00Z".parse().unwrap())
        .unwrap();
    let (status, body) = h.register("scenario-iat", "a").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_token"))
    );
}

#[tokio::test]
async fn i77_delete_needs_the_clients_current_rat() {
    let h = Harness::new().await;
    let (_, client) = h.register("scenario-iat", "c1").await;
    let rat = client["registrationAccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{REGISTER}/c1");

    // The IAT is not the RAT, nor is another client's RAT.
    let (status, _) = h
        .sso(Method::DELETE, &path, Some("scenario-iat"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.sso(Method::DELETE, &path, Some("pre-rat"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = h.sso(Method::DELETE, &path, Some(&rat), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Gone: an unknown client answers 401 by default (I77) ...
    let (status, body) = h.sso(Method::DELETE, &path, Some(&rat), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // ... or 404 when the realm is configured so.
    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/settings",
            Some(&json!({"unknown_client_status": 404})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.sso(Method::DELETE, &path, Some(&rat), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A scenario client is deleted with the scenario's RAT.
    let (status, _) = h
        .sso(
            Method::DELETE,
            &format!("{REGISTER}/pre-1"),
            Some("pre-rat"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(h.sim().sso_clients("EmployeeIDP").unwrap().is_empty());
}

#[tokio::test]
async fn i77_read_and_update_rotate_the_rat() {
    let h = Harness::new().await;
    let path = format!("{REGISTER}/pre-1");
    let (status, read) = h.sso(Method::GET, &path, Some("pre-rat"), None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["secret"], "pre-secret");
    let rat2 = read["registrationAccessToken"].as_str().unwrap().to_owned();
    assert_ne!(rat2, "pre-rat");
    // The old RAT stopped working.
    let (status, _) = h.sso(Method::GET, &path, Some("pre-rat"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let update = json!({"clientId": "pre-1", "redirectUris": ["https://oauth.pre.example.com:443/oauth2callback/redhat-sso"]});
    let (status, updated) = h.sso(Method::PUT, &path, Some(&rat2), Some(&update)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["redirectUris"], update["redirectUris"]);
    assert_eq!(
        updated["secret"], "pre-secret",
        "an update keeps the secret"
    );
    let rat3 = updated["registrationAccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = h.sso(Method::DELETE, &path, Some(&rat2), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "rotated by the PUT");
    let (status, _) = h.sso(Method::DELETE, &path, Some(&rat3), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn i77_attribute_echo_can_be_switched_off() {
    let h = Harness::new().await;
    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/settings",
            Some(&json!({"echo_attributes": false})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, client) = h.register("scenario-iat", "c1").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(client["attributes"], json!({}));
    // The realm still stored what was sent.
    let (_, listed) = h
        .admin(Method::GET, "/_sim/sso/EmployeeIDP/clients", None)
        .await;
    assert_eq!(
        listed["clients"][1]["attributes"],
        json!({"group-filter-regex": "^ai-.*"})
    );
}

// ----- I78: admin surface ----------------------------------------------------------

#[tokio::test]
async fn i78_issued_iats_are_jwts_with_exp_on_the_sim_clock() {
    let h = Harness::new().await;
    let (status, issued) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/iat",
            Some(&json!({"expires_in": 3600, "count": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    let now = h.sim().now().as_second();
    assert_eq!(claims["exp"], now + 3600);
    assert_eq!(issued["count"], 1);

    let (status, _) = h.register(&token, "c1").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = h.register(&token, "c2").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "count 1 is used up");

    let (status, fresh) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/iat",
            Some(&json!({"expires_in": 60, "count": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    h.sim()
        .advance(jiff::SignedDuration::from_secs(61))
        .unwrap();
    let (status, _) = h.register(fresh["token"].as_str().unwrap(), "c2").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "expired on the simulated clock"
    );

    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/sso/Nope/iat",
            Some(&json!({"expires_in": 1, "count": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/iat",
            Some(&json!({"expires": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn i78_clients_are_listed_without_secrets_and_rats_can_be_revoked() {
    let h = Harness::new().await;
    let (_, client) = h.register("scenario-iat", "c1").await;
    let (status, listed) = h
        .admin(Method::GET, "/_sim/sso/EmployeeIDP/clients", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let c1 = &listed["clients"][1];
    assert_eq!(c1["clientId"], "c1");
    assert_eq!(c1["redirectUris"], client["redirectUris"]);
    assert_eq!(c1["defaultClientScopes"], client["defaultClientScopes"]);
    assert!(c1.get("secret").is_none() && c1.get("registrationAccessToken").is_none());

    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/clients/c1/revoke",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let rat = client["registrationAccessToken"].as_str().unwrap();
    let (status, _) = h
        .sso(Method::DELETE, &format!("{REGISTER}/c1"), Some(rat), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked RAT");
    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/sso/EmployeeIDP/clients/zz/revoke",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn i78_faults_counts_and_dropped_responses_on_realm_endpoints() {
    let h = Harness::new().await;
    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/faults",
            Some(&json!({"status": 503, "path_prefix": REGISTER, "method": "POST", "count": 1, "retry_after": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let resp = h
        .http
        .post(h.url(REGISTER))
        .bearer_auth("scenario-iat")
        .json(&registration("c1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    // The fault fired before the handler: nothing registered, IAT unused.
    assert_eq!(h.sim().sso_clients("EmployeeIDP").unwrap().len(), 1);

    // A dropped response: the registration commits, the client never sees it.
    let (status, _) = h
        .admin(
            Method::POST,
            "/_sim/drops",
            Some(&json!({"path_prefix": REGISTER, "method": "POST", "count": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let outcome = async {
        let resp = h
            .http
            .post(h.url(REGISTER))
            .bearer_auth("scenario-iat")
            .json(&registration("c1"))
            .send()
            .await?;
        resp.bytes().await
    }
    .await;
    assert!(
        outcome.is_err(),
        "the response must not arrive: {outcome:?}"
    );
    let clients = h.sim().sso_clients("EmployeeIDP").unwrap();
    assert_eq!(clients.len(), 2, "the registration committed");
    // The retry is a duplicate, as it would be against Keycloak (I41).
    let (status, _) = h.register("scenario-iat", "c1").await;
    assert_eq!(status, StatusCode::CONFLICT);

    let counts = h.sim().request_counts();
    assert_eq!(
        counts.get("POST /auth/realms/{realm}/clients-registrations/default"),
        Some(&3),
        "{counts:?}"
    );
}

// ----- I79: login check ---------------------------------------------------------------

#[tokio::test]
async fn i79_login_check_accepts_only_registered_redirect_uris() {
    let h = Harness::new().await;
    let (_, client) = h.register("scenario-iat", "c1").await;
    let redirect = client["redirectUris"][0].as_str().unwrap().to_owned();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let auth = h.url(&format!("{REALM}/protocol/openid-connect/auth"));
    let resp = no_redirects
        .get(&auth)
        .query(&[
            ("client_id", "c1"),
            ("redirect_uri", redirect.as_str()),
            ("response_type", "code"),
            ("state", "a b"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{redirect}?code=")),
        "{location}"
    );
    assert!(location.ends_with("&state=a%20b"), "{location}");

    for (client_id, uri) in [
        ("c1", "https://evil.example.com/cb"),
        ("c9", redirect.as_str()),
    ] {
        let resp = no_redirects
            .get(&auth)
            .query(&[("client_id", client_id), ("redirect_uri", uri)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{client_id} {uri}");
    }
}
