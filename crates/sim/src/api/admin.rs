//! The SSO token endpoint and the `/_sim` control surface (no token needed).
//!
//! | endpoint | body | effect |
//! |---|---|---|
//! | `GET /_sim/clock` | – | `{"now": RFC3339}` |
//! | `POST /_sim/clock` | `{"advance_seconds": N}` or `{"now": RFC3339}` | move the clock forward, run progression |
//! | `GET/POST /_sim/latency` | `{"millis": N}` | fixed delay before every `/api/` request |
//! | `GET/POST/DELETE /_sim/faults` | a [`Fault`] | inject / list / clear faults |
//! | `GET/POST/DELETE /_sim/drops` | a [`ResponseDrop`] | handle matching requests, then cut the connection / list / clear |
//! | `GET/DELETE /_sim/requests` | – | API request counts by `METHOD /path/{template}` / reset |
//! | `POST /_sim/clusters/{id}` | `{"healthy"?, "state"?, "fail_upgrades"?}` | cluster conditions |
//! | `POST /_sim/releases` | `{"version", "channel_groups", "published"}` | add a release |
//! | `GET /_sim/fleet` | – | the current state as a scenario-model `Fleet` |
//! | `GET /telemeter/api/v1/query` | `?query=` | Telemeter-like firing critical alerts of unhealthy clusters (health provider) |

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use srecap_fleet::Release;

use crate::Simulator;
use crate::control::{Fault, ResponseDrop};

/// Path of the token endpoint, as on `sso.redhat.com`.
pub const TOKEN_PATH: &str = "/auth/realms/redhat-external/protocol/openid-connect/token";

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/_sim/clock", get(get_clock).post(set_clock))
        .route("/_sim/latency", get(get_latency).post(set_latency))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/_sim/drops",
            get(list_drops).post(add_drop).delete(clear_drops),
        )
        .route("/_sim/requests", get(get_requests).delete(reset_requests))
        .route("/_sim/clusters/{id}", post(set_cluster))
        .route("/_sim/releases", post(add_release))
        .route("/_sim/fleet", get(get_fleet))
        .route(TELEMETER_QUERY_PATH, get(telemeter_query))
}

/// A Telemeter-like Prometheus instant-query endpoint (AUS health provider,
/// spec R48): every unhealthy cluster has one firing critical alert labelled with
/// its external id (`_id`) and organization. A `organization="..."` matcher in the
/// query restricts the answer to that organization; the rest of the query is not
/// evaluated.
pub const TELEMETER_QUERY_PATH: &str = "/telemeter/api/v1/query";

#[derive(Debug, Deserialize)]
struct PromQuery {
    #[serde(default)]
    query: String,
}

async fn telemeter_query(State(sim): State<Simulator>, Query(q): Query<PromQuery>) -> Json<Value> {
    let org = q
        .query
        .split("organization=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(ToOwned::to_owned);
    // The cluster records as they are: a fleet snapshot (every cluster with
    // its labels and policies) per query was a tenth of a year over HTTP.
    let result: Vec<Value> = sim.with_world_read(|w| {
        let now = w.now;
        w.clusters
            .iter()
            .map(|rec| &rec.cluster)
            .filter(|c| !c.healthy)
            .filter(|c| org.as_ref().is_none_or(|o| *o == c.organization))
            .map(|c| {
                json!({
                    "metric": {
                        "__name__": "alerts",
                        "alertname": "ClusterOperatorDegraded",
                        "alertstate": "firing",
                        "severity": "critical",
                        "_id": c.external_id,
                        "organization": c.organization,
                    },
                    "value": [now.as_second(), "1"],
                })
            })
            .collect()
    });
    Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
}

/// A plain-JSON error for the control surface (it is not OCM).
fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Parse a control body, answering 400 with the serde message.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(control_error(StatusCode::BAD_REQUEST, e.to_string())))
}

async fn token(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let config = sim.config().clone();
    let org = sim
        .with_world(|w| {
            config
                .account_organization
                .clone()
                .or_else(|| w.organizations.first().map(|o| o.org.id.clone()))
        })
        .unwrap_or_default();
    let result = sim.with_tokens(|store| {
        store.grant(
            &form,
            basic.as_deref(),
            &config.client_id,
            &config.client_secret,
            config.token_lifetime,
            &org,
        )
    });
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(e.body())).into_response()
        }
    }
}

async fn get_clock(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({"now": sim.now().to_string()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    advance_seconds: Option<i64>,
    #[serde(default)]
    now: Option<Timestamp>,
}

async fn set_clock(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let change: ClockChange = match parse(&body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let result = match (change.advance_seconds, change.now) {
        (Some(secs), None) => sim.advance(SignedDuration::from_secs(secs)),
        (None, Some(t)) => sim.set_now(t),
        _ => {
            return control_error(
                StatusCode::BAD_REQUEST,
                "give exactly one of 'advance_seconds' or 'now'",
            );
        }
    };
    match result {
        Ok(()) => Json(json!({"now": sim.now().to_string()})).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn get_latency(State(sim): State<Simulator>) -> Json<Value> {
    let millis = sim.with_control(|c| c.latency.as_millis());
    Json(json!({"millis": millis}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyChange {
    millis: u64,
}

async fn set_latency(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    match parse::<LatencyChange>(&body) {
        Ok(change) => {
            sim.set_latency(Duration::from_millis(change.millis));
            Json(json!({"millis": change.millis})).into_response()
        }
        Err(r) => *r,
    }
}

async fn list_faults(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({"faults": sim.with_control(|c| c.faults.clone())}))
}

async fn add_fault(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let fault: Fault = match parse(&body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if !(400..=599).contains(&fault.status) {
        return control_error(StatusCode::BAD_REQUEST, "fault status must be 4xx or 5xx");
    }
    sim.add_fault(fault.clone());
    (StatusCode::CREATED, Json(json!(fault))).into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn list_drops(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({"drops": sim.with_control(|c| c.drops.clone())}))
}

async fn add_drop(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    let rule: ResponseDrop = match parse(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    sim.add_response_drop(rule.clone());
    (StatusCode::CREATED, Json(json!(rule))).into_response()
}

async fn clear_drops(State(sim): State<Simulator>) -> StatusCode {
    sim.with_control(|c| c.drops.clear());
    StatusCode::NO_CONTENT
}

async fn get_requests(State(sim): State<Simulator>) -> Json<Value> {
    let counts = sim.request_counts();
    let total: u64 = counts.values().sum();
    Json(json!({"total": total, "by_endpoint": counts}))
}

async fn reset_requests(State(sim): State<Simulator>) -> StatusCode {
    sim.with_control(|c| c.requests.clear());
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterChange {
    #[serde(default)]
    healthy: Option<bool>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    fail_upgrades: Option<bool>,
}

async fn set_cluster(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let change: ClusterChange = match parse(&body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match sim.set_cluster_condition(&id, change.healthy, change.state, change.fail_upgrades) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn add_release(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    match parse::<Release>(&body) {
        Ok(release) => {
            sim.add_release(release);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn get_fleet(State(sim): State<Simulator>) -> Json<Value> {
    Json(serde_json::to_value(sim.fleet()).unwrap_or(Value::Null))
}
