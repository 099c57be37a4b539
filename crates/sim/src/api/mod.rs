//! The HTTP surface: OCM's REST API, the SSO token endpoint and the `/_sim`
//! control endpoints, assembled into one axum router.
//!
//! * [`accounts`] — AMS: labels, subscriptions, organizations, current account.
//! * [`clusters`] — CS: clusters, node pools, upgrade policies, version gates,
//!   gate agreements.
//! * [`service_logs`] — service logs.
//! * [`identity_providers`] — CS: a cluster's identity providers (rhidp I75).
//! * [`sso`] — the SSO simulator's realms and its `/_sim/sso` surface (I77, I78).
//! * [`admin`] — `/_sim/*` knobs and the token endpoint.
//!
//! Every `/api/` request passes one gate (`api_gate`) that counts it by route
//! template, adds the configured latency, checks the bearer token and applies
//! injected faults, in that order, before a handler sees it.

pub mod accounts;
pub mod addons;
pub mod admin;
pub mod clusters;
pub mod identity_providers;
pub mod service_logs;
pub mod sso;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts, MatchedPath, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::Simulator;
use crate::control::RequestFacts;
use crate::error::{ApiError, Service};
use crate::search::{Query as Search, parse_order, sort_indices_by_terms};
use crate::world::{Rejection, Rendered, RenderedItem};

/// Build the whole router for a simulator.
pub fn router(sim: Simulator) -> Router {
    let api = Router::new()
        .merge(accounts::routes())
        .merge(clusters::routes())
        .merge(service_logs::routes())
        .merge(addons::routes())
        .merge(identity_providers::routes())
        .route_layer(from_fn_with_state(sim.clone(), api_gate));
    let permits = Arc::new(Semaphore::new(sim.config().max_concurrent_requests.max(1)));
    Router::new()
        .merge(api)
        .merge(sso::routes(&sim))
        .merge(admin::routes())
        .merge(sso::admin_routes())
        .fallback(not_found)
        .layer(from_fn_with_state(permits, bounded))
        .with_state(sim)
}

/// Bounded concurrency: at most `max_concurrent_requests` handlers run at once.
async fn bounded(State(permits): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    // The semaphore is never closed, so acquiring only fails if it were; answer
    // 503 rather than panic in that case.
    match permits.acquire().await {
        Ok(_permit) => next.run(req).await,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn not_found(req: Request) -> ApiError {
    let path = req.uri().path().to_owned();
    ApiError::not_found(
        Service::of_path(&path),
        format!("The requested resource '{path}' doesn't exist"),
    )
}

/// The subject of the bearer token a request carried (set by `api_gate`).
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// Count, delay, authenticate and maybe fail an `/api/` request.
async fn api_gate(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let service = Service::of_path(&path);
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let latency = sim.with_control(|c| {
        c.count_request(method.as_str(), &template);
        c.latency
    });
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let now = sim.now();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let subject = token.and_then(|t| sim.with_tokens(|store| store.subject(t)));
    let Some(subject) = subject else {
        let reason = if token.is_some() {
            "Invalid or expired access token"
        } else {
            "Request is missing an access token (Authorization: Bearer)"
        };
        return ApiError::unauthorized(service, reason)
            .at(now)
            .into_response();
    };

    // Organizations the request touches, for organization-scoped faults. A
    // service-log POST names its cluster in the body, so buffer it (small).
    let (req, body_cluster) = if method == Method::POST && path.ends_with("/cluster_logs") {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, 4 * 1024 * 1024).await else {
            return ApiError::bad_request(service, "Request body is too large or unreadable")
                .at(now)
                .into_response();
        };
        let cluster = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
            v.get("cluster_uuid")
                .or_else(|| v.get("cluster_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        (Request::from_parts(parts, Body::from(bytes)), cluster)
    } else {
        (req, None)
    };
    let organizations = sim.with_world_read(|w| {
        let mut orgs = touched_organizations(w, &path, req.uri().query().unwrap_or(""));
        if let Some(org) =
            body_cluster.and_then(|c| w.organization_of_cluster(&c).map(str::to_owned))
        {
            orgs.push(org);
        }
        orgs
    });
    let facts = RequestFacts {
        method: method.as_str(),
        path: &path,
        organizations: &organizations,
    };
    if let Some(fault) = sim.with_control(|c| c.take_fault(&facts)) {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return ApiError::new(service, status, format!("Injected fault: {status}"))
            .at(now)
            .with_retry_after(fault.retry_after)
            .into_response();
    }

    let drop = sim.with_control(|c| c.take_drop(method.as_str(), &path));
    let mut req = req;
    req.extensions_mut().insert(Caller(subject));
    let mut response = next.run(req).await;
    if drop {
        return cut_after_headers(response);
    }
    // OCM's clock is the simulator's: its `Date` says the simulated time, so
    // a client can tell when its own clock (or `--now`) is far from OCM's.
    if let Ok(date) = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&now)
        && let Ok(value) = header::HeaderValue::from_str(&date)
    {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

/// The response's status and headers, then a body that fails: the connection
/// is cut before the client learns the outcome of a request that was handled
/// (crash tests, [`crate::control::ResponseDrop`]).
pub(crate) fn cut_after_headers(response: Response) -> Response {
    let (parts, _) = response.into_parts();
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("response dropped by the simulator"))
    });
    Response::from_parts(parts, Body::from_stream(failing))
}

/// Organizations whose objects a path (and query) names.
fn touched_organizations(world: &crate::world::World, path: &str, query: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for pair in segments.windows(2) {
        let org = match pair {
            ["clusters", id] => world.organization_of_cluster(id),
            ["subscriptions", id] => world.organization_of_subscription(id),
            ["organizations", id] => world.organization(id).ok().map(|o| o.org.id.as_str()),
            _ => None,
        };
        if let Some(org) = org {
            out.push(org.to_owned());
        }
    }
    if path.starts_with("/api/service_logs/") {
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=')
                && (k == "cluster_uuid" || k == "cluster_id")
                && let Some(org) = world.organization_of_cluster(v)
            {
                out.push(org.to_owned());
            }
        }
    }
    out
}

/// Query parameters; a malformed query string is a 400 with OCM's body.
#[derive(Debug, Clone, Default)]
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Params, ApiError> {
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(map)| Params(map))
            .map_err(|e| {
                ApiError::bad_request(
                    Service::of_path(parts.uri.path()),
                    format!("Invalid query string: {e}"),
                )
            })
    }
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean flag such as `fetchLabels=true`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "t" | "1" | "yes"))
    }
}

/// Parse a JSON request body into OCM's 400 on failure.
pub fn json_body(service: Service, bytes: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(service, format!("Request body is not valid JSON: {e}")))
}

/// Turn a world rejection into OCM's error for a service.
pub fn reject(service: Service, now: jiff::Timestamp) -> impl Fn(Rejection) -> ApiError {
    move |rejection| {
        let err = match rejection {
            Rejection::NotFound(reason) => ApiError::not_found(service, reason),
            Rejection::Conflict(reason) => ApiError::conflict(service, reason),
            Rejection::Invalid { reason, details } => {
                let err = ApiError::bad_request(service, reason);
                match details {
                    Some(d) => err.with_details(d),
                    None => err,
                }
            }
        };
        err.at(now)
    }
}

/// How a collection can be listed.
#[derive(Debug, Clone, Copy)]
pub struct ListSpec {
    pub kind: &'static str,
    /// Resource name used in error messages.
    pub resource: &'static str,
    pub service: Service,
    /// Attributes usable in `search` and `order` (`None`: no `search` support;
    /// the parameter is ignored, as OCM's policy collections ignore it).
    pub fields: Option<&'static [&'static str]>,
    pub bools: &'static [&'static str],
    /// Attributes usable in `order`.
    pub order_fields: &'static [&'static str],
}

/// Filter, order and page a collection: `items` are `(search view, served JSON)`.
pub fn list(
    spec: &ListSpec,
    items: Vec<(Value, Value)>,
    params: &Params,
    max_page_size: Option<usize>,
) -> Result<Response, ApiError> {
    let (page, size) = paging(spec, params, max_page_size)?;
    let items: Rendered = items.into_iter().map(Arc::new).collect();
    let selected = select(spec, &items, params)?;
    Ok(page_of(spec, &items, &selected, page, size))
}

/// [`list`] for a fleet-wide collection, cached while the world is unchanged:
/// the rendered collection once per generation (a discovery asks for it in
/// several `id in (...)` chunks), and each query's selection (a client pages
/// through thousands of items 100 at a time, and filtering the whole
/// collection for every page made paging quadratic).
pub fn list_cached(
    w: &mut crate::world::World,
    spec: &ListSpec,
    params: &Params,
    max_page_size: Option<usize>,
    variant: &str,
    render: impl FnOnce(&mut crate::world::World) -> Rendered,
) -> Result<Response, ApiError> {
    let (page, size) = paging(spec, params, max_page_size)?;
    let rendered_key = format!("{}\u{0}{variant}", spec.kind);
    let key = format!(
        "{rendered_key}\u{0}{}\u{0}{}",
        params.get("search").unwrap_or(""),
        params
            .get("order")
            .or_else(|| params.get("orderBy"))
            .unwrap_or("")
    );
    let hit = match w.query_cache.get(&key) {
        Some((generation, rendered, selected)) if *generation == w.generation => {
            Some((rendered.clone(), selected.clone()))
        }
        _ => None,
    };
    let (rendered, selected) = if let Some(hit) = hit {
        hit
    } else {
        let rendered = match w.render_cache.get(&rendered_key) {
            Some((generation, hit)) if *generation == w.generation => hit.clone(),
            _ => {
                let generation = w.generation;
                w.render_cache.retain(|_, (g, _)| *g == generation);
                w.query_cache.retain(|_, (g, _, _)| *g == generation);
                let rendered = Arc::new(render(w));
                w.render_cache
                    .insert(rendered_key, (w.generation, rendered.clone()));
                rendered
            }
        };
        let selected = Arc::new(select(spec, &rendered, params)?);
        w.query_cache
            .insert(key, (w.generation, rendered.clone(), selected.clone()));
        (rendered, selected)
    };
    Ok(page_of(spec, &rendered, &selected, page, size))
}

fn paging(
    spec: &ListSpec,
    params: &Params,
    max_page_size: Option<usize>,
) -> Result<(usize, usize), ApiError> {
    let bad = |reason: String| ApiError::bad_request(spec.service, reason);
    let page = match params.get("page") {
        None => 1,
        Some(p) => match p.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(bad(format!("Invalid page '{p}': must be an integer >= 1"))),
        },
    };
    let size = match params.get("size") {
        None => 100,
        Some(s) => s
            .trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("Invalid size '{s}': must be an integer >= 0")))?,
    };
    Ok((page, max_page_size.map_or(size, |cap| size.min(cap))))
}

/// The positions of the items matching `search`, in `order`.
fn select(
    spec: &ListSpec,
    items: &[RenderedItem],
    params: &Params,
) -> Result<Vec<usize>, ApiError> {
    let mut chosen: Vec<usize> = (0..items.len()).collect();
    if let (Some(fields), Some(text)) = (spec.fields, params.get("search"))
        && !text.trim().is_empty()
    {
        let query = Search::parse(text).map_err(|e| ApiError::search(spec.service, &e))?;
        query
            .check(spec.resource, fields, spec.bools)
            .map_err(|e| ApiError::search(spec.service, &e))?;
        chosen.retain(|&i| query.matches(&items[i].0));
    }
    let order = params.get("order").or_else(|| params.get("orderBy"));
    if let Some(clause) = order.filter(|c| !c.trim().is_empty()) {
        let terms = parse_order(clause, spec.order_fields)
            .map_err(|e| ApiError::search(spec.service, &e))?;
        sort_indices_by_terms(&mut chosen, |i| &items[i].0, &terms);
    }
    Ok(chosen)
}

/// One page of a list, serialized straight from the rendered collection
/// (building a `Value` for the page would copy every item once more).
#[derive(serde::Serialize)]
#[allow(clippy::struct_field_names)] // OCM's list envelope names them
struct Page<'a> {
    kind: &'a str,
    page: usize,
    size: usize,
    total: usize,
    items: Items<'a>,
}

/// The served JSON of `items[positions]`.
struct Items<'a> {
    items: &'a [RenderedItem],
    positions: &'a [usize],
}

impl serde::Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.positions.iter().map(|&i| &self.items[i].1))
    }
}

fn page_of(
    spec: &ListSpec,
    items: &[RenderedItem],
    selected: &[usize],
    page: usize,
    size: usize,
) -> Response {
    let start = (page - 1).saturating_mul(size).min(selected.len());
    let end = start.saturating_add(size).min(selected.len());
    let positions = &selected[start..end];
    axum::Json(Page {
        kind: spec.kind,
        page,
        size: positions.len(),
        total: selected.len(),
        items: Items { items, positions },
    })
    .into_response()
}

/// A collection OCM does not page (per-owner label lists).
pub fn unpaged(kind: &str, items: &[Value]) -> Value {
    json!({"kind": kind, "page": 1, "size": items.len(), "total": items.len(), "items": items})
}

/// `201 Created` with a JSON body.
pub fn created(body: Value) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
