//! Account management (AMS, `/api/accounts_mgmt/v1`): labels, subscriptions,
//! organizations and the current account (spec E1–E6).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{Caller, ListSpec, Params, created, json_body, list_cached, reject, unpaged};
use crate::Simulator;
use crate::error::{ApiError, Service};
use crate::render::{
    AMS, LABEL_BOOLS, LABEL_FIELDS, ORGANIZATION_FIELDS, SUBSCRIPTION_BOOLS, SUBSCRIPTION_FIELDS,
};
use crate::world::{LabelOwner, World};

const SERVICE: Service = Service::Accounts;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(&format!("{AMS}/labels"), get(list_labels))
        .route(&format!("{AMS}/current_account"), get(current_account))
        .route(&format!("{AMS}/subscriptions"), get(list_subscriptions))
        .route(
            &format!("{AMS}/subscriptions/{{id}}"),
            get(get_subscription),
        )
        .route(
            &format!("{AMS}/subscriptions/{{id}}/labels"),
            get(list_subscription_labels).post(create_subscription_label),
        )
        .route(
            &format!("{AMS}/subscriptions/{{id}}/labels/{{key}}"),
            get(get_subscription_label)
                .patch(update_subscription_label)
                .delete(delete_subscription_label),
        )
        .route(&format!("{AMS}/organizations"), get(list_organizations))
        .route(
            &format!("{AMS}/organizations/{{id}}"),
            get(get_organization),
        )
        .route(
            &format!("{AMS}/organizations/{{id}}/labels"),
            get(list_organization_labels).post(create_organization_label),
        )
        .route(
            &format!("{AMS}/organizations/{{id}}/labels/{{key}}"),
            get(get_organization_label)
                .patch(update_organization_label)
                .delete(delete_organization_label),
        )
}

const LABELS: ListSpec = ListSpec {
    kind: "LabelList",
    resource: "Label",
    service: SERVICE,
    fields: Some(LABEL_FIELDS),
    bools: LABEL_BOOLS,
    order_fields: LABEL_FIELDS,
};

const SUBSCRIPTIONS: ListSpec = ListSpec {
    kind: "SubscriptionList",
    resource: "Subscription",
    service: SERVICE,
    fields: Some(SUBSCRIPTION_FIELDS),
    bools: SUBSCRIPTION_BOOLS,
    order_fields: SUBSCRIPTION_FIELDS,
};

const ORGANIZATIONS: ListSpec = ListSpec {
    kind: "OrganizationList",
    resource: "Organization",
    service: SERVICE,
    fields: Some(ORGANIZATION_FIELDS),
    bools: &[],
    order_fields: ORGANIZATION_FIELDS,
};

async fn list_labels(State(sim): State<Simulator>, params: Params) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let now = w.now;
        list_cached(w, &LABELS, &params, cap, "", World::rendered_labels).map_err(|e| e.at(now))
    })
}

async fn current_account(
    State(sim): State<Simulator>,
    Extension(Caller(subject)): Extension<Caller>,
) -> Json<Value> {
    let wanted = sim.config().account_organization.clone();
    sim.with_world_read(|w| {
        let org = match &wanted {
            Some(id) => w.organizations.iter().find(|o| &o.org.id == id),
            None => w.organizations.first(),
        };
        let mut account = json!({
            "kind": "Account",
            "id": format!("{subject}-account"),
            "href": format!("{AMS}/accounts/{subject}-account"),
            "username": subject,
            "email": format!("{subject}@example.com"),
            "service_account": true,
        });
        if let Some(org) = org {
            account["organization"] = w.render_organization(org, false, false);
        }
        Json(account)
    })
}

/// The AMS `labels=key=value,key2=value2` filter on subscriptions.
fn label_filter(params: &Params) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = params.get("labels").filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        SERVICE,
                        format!("Invalid labels filter '{text}': expected key=value pairs"),
                    )
                })
        })
        .collect()
}

async fn list_subscriptions(
    State(sim): State<Simulator>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    let fetch_labels = params.flag("fetchLabels");
    let fetch_capabilities = params.flag("fetchCapabilities");
    let wanted_labels = label_filter(&params)?;
    let variant = format!("{fetch_labels}/{fetch_capabilities}/{wanted_labels:?}");
    sim.with_world_read(|w| {
        let now = w.now;
        list_cached(w, &SUBSCRIPTIONS, &params, cap, &variant, |w| {
            if !fetch_labels && !fetch_capabilities && wanted_labels.is_empty() {
                return w.rendered_subscriptions();
            }
            // Labels by subscription, once per request: looking them up per
            // subscription made a fleet-wide listing quadratic.
            let mut by_owner: HashMap<&str, Vec<&crate::world::LabelRecord>> = HashMap::new();
            for l in &w.labels {
                if let LabelOwner::Subscription(id) = &l.owner {
                    by_owner.entry(id.as_str()).or_default().push(l);
                }
            }
            w.clusters
                .iter()
                .filter(|rec| {
                    let own = by_owner.get(rec.subscription_id.as_str());
                    wanted_labels.iter().all(|(k, v)| {
                        own.is_some_and(|ls| ls.iter().any(|l| &l.key == k && &l.value == v))
                    })
                })
                .map(|rec| {
                    let view = w.render_subscription(rec, false, false);
                    let mut served = view.clone();
                    if fetch_labels {
                        served["labels"] = Value::Array(
                            by_owner
                                .get(rec.subscription_id.as_str())
                                .map(|ls| ls.iter().map(|l| w.render_label(l)).collect())
                                .unwrap_or_default(),
                        );
                    }
                    if fetch_capabilities {
                        served["capabilities"] = Value::Array(Vec::new());
                    }
                    std::sync::Arc::new((view, served))
                })
                .collect()
        })
        .map_err(|e| e.at(now))
    })
}

async fn get_subscription(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        let rec = w
            .cluster_by_subscription(&id)
            .map_err(reject(SERVICE, w.now))?;
        Ok(Json(w.render_subscription(
            rec,
            params.flag("fetchLabels"),
            params.flag("fetchCapabilities"),
        )))
    })
}

async fn list_organizations(
    State(sim): State<Simulator>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    let fetch_labels = params.flag("fetchLabels");
    let fetch_capabilities = params.flag("fetchCapabilities");
    let variant = format!("{fetch_labels}/{fetch_capabilities}");
    sim.with_world_read(|w| {
        let now = w.now;
        list_cached(w, &ORGANIZATIONS, &params, cap, &variant, |w| {
            w.organizations
                .iter()
                .map(|o| {
                    std::sync::Arc::new((
                        w.render_organization(o, false, false),
                        w.render_organization(o, fetch_labels, fetch_capabilities),
                    ))
                })
                .collect()
        })
        .map_err(|e| e.at(now))
    })
}

async fn get_organization(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        let org = w.organization(&id).map_err(reject(SERVICE, w.now))?;
        Ok(Json(w.render_organization(
            org,
            params.flag("fetchLabels"),
            params.flag("fetchCapabilities"),
        )))
    })
}

// ----- per-owner labels (shared by subscriptions and organizations) ------------

fn owner_labels(w: &World, owner: &LabelOwner) -> Result<Value, ApiError> {
    w.check_owner(owner).map_err(reject(SERVICE, w.now))?;
    let items: Vec<Value> = w
        .labels
        .iter()
        .filter(|l| &l.owner == owner)
        .map(|l| w.render_label(l))
        .collect();
    Ok(unpaged("LabelList", &items))
}

/// `key` and `value` (and optional `internal`) from a label body.
fn label_body(
    bytes: &Bytes,
    key_required: bool,
) -> Result<(Option<String>, String, bool), ApiError> {
    let body = json_body(SERVICE, bytes)?;
    let field = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(
            SERVICE,
            format!("Label field '{name}' must be a string, got {other}"),
        )),
    };
    let key = field("key")?;
    if key_required && key.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(SERVICE, "Label key is required"));
    }
    let Some(value) = field("value")? else {
        return Err(ApiError::bad_request(SERVICE, "Label value is required"));
    };
    let internal = body
        .get("internal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((key, value, internal))
}

fn create_label(sim: &Simulator, owner: LabelOwner, bytes: &Bytes) -> Result<Response, ApiError> {
    let (key, value, internal) = label_body(bytes, true)?;
    let key = key.unwrap_or_default();
    sim.with_world(|w| {
        let now = w.now;
        let id = w
            .create_label(owner, &key, &value, internal)
            .map_err(reject(SERVICE, now))?
            .id
            .clone();
        let label = w.labels.iter().find(|l| l.id == id).expect("just created");
        Ok(created(w.render_label(label)))
    })
}

fn update_label(
    sim: &Simulator,
    owner: &LabelOwner,
    key: &str,
    bytes: &Bytes,
) -> Result<Json<Value>, ApiError> {
    let (body_key, value, _) = label_body(bytes, false)?;
    if let Some(body_key) = body_key.filter(|k| k != key) {
        return Err(ApiError::bad_request(
            SERVICE,
            format!("Label key '{body_key}' in the body does not match '{key}' in the path"),
        ));
    }
    sim.with_world(|w| {
        let now = w.now;
        w.update_label(owner, key, &value)
            .map_err(reject(SERVICE, now))?;
        let label = w.label(owner, key).map_err(reject(SERVICE, now))?;
        Ok(Json(w.render_label(label)))
    })
}

fn get_label(sim: &Simulator, owner: &LabelOwner, key: &str) -> Result<Json<Value>, ApiError> {
    sim.with_world(|w| {
        let label = w.label(owner, key).map_err(reject(SERVICE, w.now))?;
        Ok(Json(w.render_label(label)))
    })
}

fn delete_label(sim: &Simulator, owner: &LabelOwner, key: &str) -> Result<Response, ApiError> {
    sim.with_world(|w| {
        let now = w.now;
        w.delete_label(owner, key).map_err(reject(SERVICE, now))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

async fn list_subscription_labels(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world(|w| owner_labels(w, &LabelOwner::Subscription(id)))
        .map(Json)
}

async fn create_subscription_label(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    create_label(&sim, LabelOwner::Subscription(id), &bytes)
}

async fn get_subscription_label(
    State(sim): State<Simulator>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_label(&sim, &LabelOwner::Subscription(id), &key)
}

async fn update_subscription_label(
    State(sim): State<Simulator>,
    Path((id, key)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    update_label(&sim, &LabelOwner::Subscription(id), &key, &bytes)
}

async fn delete_subscription_label(
    State(sim): State<Simulator>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    delete_label(&sim, &LabelOwner::Subscription(id), &key)
}

async fn list_organization_labels(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world(|w| owner_labels(w, &LabelOwner::Organization(id)))
        .map(Json)
}

async fn create_organization_label(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    create_label(&sim, LabelOwner::Organization(id), &bytes)
}

async fn get_organization_label(
    State(sim): State<Simulator>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_label(&sim, &LabelOwner::Organization(id), &key)
}

async fn update_organization_label(
    State(sim): State<Simulator>,
    Path((id, key)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    update_label(&sim, &LabelOwner::Organization(id), &key, &bytes)
}

async fn delete_organization_label(
    State(sim): State<Simulator>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    delete_label(&sim, &LabelOwner::Organization(id), &key)
}
