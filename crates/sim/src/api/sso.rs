//! The SSO simulator over HTTP (rhidp I77, I78): Keycloak's realm endpoints
//! under `/auth/realms/<realm>` and their `/_sim/sso` admin surface.
//!
//! Realm requests pass `sso_gate`, the counterpart of the OCM `api_gate`:
//! counted by route template, delayed by the configured latency, failed by
//! injected faults (with a Keycloak-style body) and, for crash tests, handled
//! and then cut off ([`crate::control::ResponseDrop`]). They need no OCM token:
//! the realm authenticates each with the IAT or RAT it carries.
//!
//! | endpoint | effect |
//! |---|---|
//! | `GET /auth/realms/{realm}/.well-known/openid-configuration` | discovery document; `issuer` is `<sim base>/auth/realms/{realm}` |
//! | `POST /auth/realms/{realm}/clients-registrations/default` | register (bearer IAT) |
//! | `GET/PUT/DELETE /auth/realms/{realm}/clients-registrations/default/{client_id}` | read / update / delete (bearer RAT; GET and PUT rotate it) |
//! | `GET /auth/realms/{realm}/protocol/openid-connect/auth` | login check (I79): `client_id` and `redirect_uri` of a registered client → 302 to `redirect_uri?code=...&state=...`; else 400 |
//! | `GET /_sim/sso` | realms with their IATs (tokens, expiry, count left) |
//! | `POST /_sim/sso/{realm}/iat` | `{"expires_in": s, "count": n}` → `{"token", "expires_at", "count"}` |
//! | `GET /_sim/sso/{realm}/clients` | registered clients: redirect URIs, scopes, attributes |
//! | `POST /_sim/sso/{realm}/clients/{client_id}/revoke` | invalidate the client's RAT |
//! | `POST /_sim/sso/{realm}/settings` | `{"echo_attributes"?, "unknown_client_status"?}` |

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cut_after_headers;
use crate::Simulator;
use crate::control::RequestFacts;
use crate::sso::{SsoError, bearer, openid_configuration, percent_encode};

/// Where realms are served, as on Red Hat SSO (which keeps the `/auth` prefix).
pub const REALMS: &str = "/auth/realms";

/// The realm endpoints, behind `sso_gate`.
pub fn routes(sim: &Simulator) -> Router<Simulator> {
    Router::new()
        .route(
            &format!("{REALMS}/{{realm}}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(
            &format!("{REALMS}/{{realm}}/clients-registrations/default"),
            post(register),
        )
        .route(
            &format!("{REALMS}/{{realm}}/protocol/openid-connect/auth"),
            get(authorize),
        )
        .route(
            &format!("{REALMS}/{{realm}}/clients-registrations/default/{{client_id}}"),
            get(read_client).put(update_client).delete(delete_client),
        )
        .route_layer(from_fn_with_state(sim.clone(), sso_gate))
}

/// The `/_sim/sso` admin endpoints (no gate: they are not Keycloak).
pub fn admin_routes() -> Router<Simulator> {
    Router::new()
        .route("/_sim/sso", get(list_realms))
        .route("/_sim/sso/{realm}/iat", post(issue_iat))
        .route("/_sim/sso/{realm}/clients", get(list_clients))
        .route(
            "/_sim/sso/{realm}/clients/{client_id}/revoke",
            post(revoke_rat),
        )
        .route("/_sim/sso/{realm}/settings", post(set_settings))
}

/// Count, delay, fail or cut a realm request.
async fn sso_gate(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let (latency, fault, drop) = sim.with_control(|c| {
        c.count_request(method.as_str(), &template);
        let facts = RequestFacts {
            method: method.as_str(),
            path: &path,
            organizations: &[],
        };
        let fault = c.take_fault(&facts);
        // A request that fails never reaches the handler, so it has nothing to drop.
        let drop = fault.is_none() && c.take_drop(method.as_str(), &path);
        (c.latency, fault, drop)
    });
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = (
            status,
            Json(json!({"error": "injected_fault", "error_description": format!("Injected fault: {status}")})),
        )
            .into_response();
        if let Some(secs) = fault.retry_after
            && let Ok(value) = header::HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let response = next.run(req).await;
    if drop {
        cut_after_headers(response)
    } else {
        response
    }
}

fn sso_error(e: &SsoError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(e.body())).into_response()
}

/// The realm's issuer as this simulator serves it: the request's own host, so
/// the discovery document points back at the simulator whatever port it has.
fn served_issuer(headers: &HeaderMap, realm: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}{REALMS}/{realm}")
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

fn parse_json(bytes: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(sso_error(&SsoError::Invalid(format!(
            "the body is not valid JSON: {e}"
        ))))
    })
}

async fn discovery(
    State(sim): State<Simulator>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    match sim.with_world_read(|w| w.sso.realm(&realm).map(|_| ())) {
        Ok(()) => Json(openid_configuration(&served_issuer(&headers, &realm))).into_response(),
        Err(e) => sso_error(&e),
    }
}

#[derive(Deserialize)]
struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: Option<String>,
}

/// The login check (I79): an end-to-end test can assert that "a user could
/// log in" through a cluster's SSO client without an OpenShift cluster.
async fn authorize(
    State(sim): State<Simulator>,
    Path(realm): Path<String>,
    axum::extract::Query(params): axum::extract::Query<AuthorizeParams>,
) -> Response {
    let checked = sim.with_world_read(|w| {
        w.sso
            .authorize(&realm, &params.client_id, &params.redirect_uri)
    });
    if let Err(e) = checked {
        return sso_error(&e);
    }
    let separator = if params.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut location = format!(
        "{}{separator}code={}",
        params.redirect_uri,
        uuid::Uuid::new_v4()
    );
    if let Some(state) = &params.state {
        location.push_str("&state=");
        location.push_str(&percent_encode(state));
    }
    match header::HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => sso_error(&SsoError::Invalid(
            "redirect_uri cannot be used in a Location header".to_owned(),
        )),
    }
}

// SSO handlers take the world lock without bumping its generation
// (`with_world_read`): no OCM collection renders SSO state, so OCM's list
// caches stay valid across registrations.

async fn register(
    State(sim): State<Simulator>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let token = authorization(&headers);
    // The token is checked before the body, as Keycloak does (a bad body with a
    // bad token is a 401), so unreadable JSON reaches the realm as `null`,
    // which it refuses as "not a JSON object" once the token passed.
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    match sim.with_world_read(|w| {
        let now = w.now;
        w.sso.register(&realm, token, &body, now)
    }) {
        Ok(client) => (StatusCode::CREATED, Json(client)).into_response(),
        Err(e) => sso_error(&e),
    }
}

async fn read_client(
    State(sim): State<Simulator>,
    Path((realm, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = authorization(&headers);
    match sim.with_world_read(|w| w.sso.read(&realm, &client_id, token)) {
        Ok(client) => Json(client).into_response(),
        Err(e) => sso_error(&e),
    }
}

async fn update_client(
    State(sim): State<Simulator>,
    Path((realm, client_id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let token = authorization(&headers);
    let body = match parse_json(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match sim.with_world_read(|w| w.sso.update(&realm, &client_id, token, &body)) {
        Ok(client) => Json(client).into_response(),
        Err(e) => sso_error(&e),
    }
}

async fn delete_client(
    State(sim): State<Simulator>,
    Path((realm, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = authorization(&headers);
    match sim.with_world_read(|w| w.sso.delete(&realm, &client_id, token)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sso_error(&e),
    }
}

/// A plain-JSON error for the admin surface.
fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn admin_sso_error(e: &SsoError) -> Response {
    let status = match e {
        // The realm's 401 is Keycloak's answer to a RAT; the admin has none.
        SsoError::UnknownClient { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    admin_error(status, e.to_string())
}

async fn list_realms(State(sim): State<Simulator>) -> Json<Value> {
    let realms: Vec<Value> = sim.with_world_read(|w| {
        w.sso
            .realms
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "issuer": r.issuer,
                    "allowed_scopes": r.allowed_scopes,
                    "echo_attributes": r.echo_attributes,
                    "unknown_client_status": r.unknown_client_status,
                    "initial_access_tokens": r.iats.iter().map(|i| json!({
                        "token": i.token,
                        "expires_at": i.expires.to_string(),
                        "count": i.remaining,
                    })).collect::<Vec<_>>(),
                    "clients": r.clients.len(),
                })
            })
            .collect()
    });
    Json(json!({"realms": realms}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IatRequest {
    expires_in: i64,
    count: u32,
}

async fn issue_iat(
    State(sim): State<Simulator>,
    Path(realm): Path<String>,
    bytes: Bytes,
) -> Response {
    let request: IatRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match sim.with_world_read(|w| {
        let now = w.now;
        w.sso
            .issue_iat(&realm, request.expires_in, request.count, now)
    }) {
        Ok(iat) => (
            StatusCode::CREATED,
            Json(json!({
                "token": iat.token,
                "expires_at": iat.expires.to_string(),
                "count": iat.remaining,
            })),
        )
            .into_response(),
        Err(e) => admin_sso_error(&e),
    }
}

async fn list_clients(State(sim): State<Simulator>, Path(realm): Path<String>) -> Response {
    match sim.with_world_read(|w| {
        w.sso.realm(&realm).map(|r| {
            r.clients
                .iter()
                .map(crate::sso::Client::summary)
                .collect::<Vec<_>>()
        })
    }) {
        Ok(clients) => Json(json!({"clients": clients})).into_response(),
        Err(e) => admin_sso_error(&e),
    }
}

async fn revoke_rat(
    State(sim): State<Simulator>,
    Path((realm, client_id)): Path<(String, String)>,
) -> Response {
    match sim.with_world_read(|w| w.sso.revoke_rat(&realm, &client_id)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_sso_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RealmSettings {
    #[serde(default)]
    echo_attributes: Option<bool>,
    #[serde(default)]
    unknown_client_status: Option<u16>,
}

async fn set_settings(
    State(sim): State<Simulator>,
    Path(realm): Path<String>,
    bytes: Bytes,
) -> Response {
    let settings: RealmSettings = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let Some(status) = settings.unknown_client_status
        && !matches!(status, 401 | 404)
    {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "unknown_client_status must be 401 or 404",
        );
    }
    match sim.with_world_read(|w| {
        w.sso.realm_mut(&realm).map(|r| {
            if let Some(echo) = settings.echo_attributes {
                r.echo_attributes = echo;
            }
            if let Some(status) = settings.unknown_client_status {
                r.unknown_client_status = status;
            }
        })
    }) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => admin_sso_error(&e),
    }
}
