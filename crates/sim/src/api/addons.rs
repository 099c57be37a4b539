//! Add-on service (`/api/addons_mgmt/v1`, spec D-v2): the catalogue, a
//! cluster's installations (searchable, e.g. `state='ready'`) and its upgrade
//! plans (list, create, delete).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::Value;
use srecap_fleet::ScheduleType;

use super::{ListSpec, Params, created, json_body, list, reject};
use crate::Simulator;
use crate::addons::{ADD, ADDON_FIELDS, AddonWorld, INSTALLATION_FIELDS, PLAN_FIELDS, PlanRequest};
use crate::error::{ApiError, Service};

const SERVICE: Service = Service::Addons;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(&format!("{ADD}/addons"), get(list_addons))
        .route(
            &format!("{ADD}/clusters/{{id}}/addons"),
            get(list_installations),
        )
        .route(
            &format!("{ADD}/clusters/{{id}}/upgrade_plans"),
            get(list_plans).post(create_plan),
        )
        .route(
            &format!("{ADD}/clusters/{{id}}/upgrade_plans/{{pid}}"),
            delete(delete_plan),
        )
}

const ADDONS: ListSpec = ListSpec {
    kind: "AddonList",
    resource: "Addon",
    service: SERVICE,
    fields: Some(ADDON_FIELDS),
    bools: &[],
    order_fields: ADDON_FIELDS,
};

const INSTALLATIONS: ListSpec = ListSpec {
    kind: "AddonInstallationList",
    resource: "AddonInstallation",
    service: SERVICE,
    fields: Some(INSTALLATION_FIELDS),
    bools: &[],
    order_fields: INSTALLATION_FIELDS,
};

const PLANS: ListSpec = ListSpec {
    kind: "AddonUpgradePlanList",
    resource: "AddonUpgradePlan",
    service: SERVICE,
    fields: None,
    bools: &[],
    order_fields: PLAN_FIELDS,
};

async fn list_addons(State(sim): State<Simulator>, params: Params) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let items = w
            .addons
            .catalog
            .iter()
            .map(|(id, latest)| {
                let v = AddonWorld::render_addon(id, latest);
                (v.clone(), v)
            })
            .collect();
        list(&ADDONS, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

async fn list_installations(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let cluster_id = w
            .cluster(&id)
            .map_err(reject(SERVICE, w.now))?
            .cluster
            .id
            .clone();
        let items = w
            .addons
            .installations
            .iter()
            .filter(|i| i.cluster_id == cluster_id)
            .map(|i| {
                let v = AddonWorld::render_installation(i);
                (v.clone(), v)
            })
            .collect();
        list(&INSTALLATIONS, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

async fn list_plans(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let cluster_id = w
            .cluster(&id)
            .map_err(reject(SERVICE, w.now))?
            .cluster
            .id
            .clone();
        let items = w
            .addons
            .plans
            .iter()
            .filter(|p| p.cluster_id == cluster_id)
            .map(|p| {
                let v = AddonWorld::render_plan(p);
                (v.clone(), v)
            })
            .collect();
        list(&PLANS, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

fn string_field<'b>(body: &'b Value, field: &str) -> Result<&'b str, ApiError> {
    body.get(field).and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(
            SERVICE,
            format!("Field '{field}' is required and must be a string"),
        )
    })
}

/// `POST .../upgrade_plans` with `{"version", "type", "addon_id", "cluster_id",
/// "next_run"}` (R116).
async fn create_plan(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    let addon_id = string_field(&body, "addon_id")?.to_owned();
    let version = string_field(&body, "version")?;
    let version = semver::Version::parse(version).map_err(|e| {
        ApiError::bad_request(SERVICE, format!("Field 'version' is not a version: {e}"))
    })?;
    let schedule_type = match string_field(&body, "type")? {
        "manual" => ScheduleType::Manual,
        "automatic" => ScheduleType::Automatic,
        other => {
            return Err(ApiError::bad_request(
                SERVICE,
                format!("Field 'type' must be 'manual' or 'automatic', not '{other}'"),
            ));
        }
    };
    let next_run = match body.get("next_run") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.parse::<jiff::Timestamp>().map_err(|e| {
            ApiError::bad_request(SERVICE, format!("Field 'next_run' is not a time: {e}"))
        })?),
        Some(other) => {
            return Err(ApiError::bad_request(
                SERVICE,
                format!("Field 'next_run' must be a string, got {other}"),
            ));
        }
    };
    if let Some(body_cluster) = body.get("cluster_id").and_then(Value::as_str)
        && body_cluster != id
    {
        return Err(ApiError::bad_request(
            SERVICE,
            format!(
                "Field 'cluster_id' ({body_cluster}) differs from the cluster of the path ({id})"
            ),
        ));
    }
    sim.with_world(|w| {
        let now = w.now;
        let plan = w
            .create_addon_plan(
                &id,
                PlanRequest {
                    addon_id,
                    version,
                    schedule_type,
                    next_run,
                },
            )
            .map_err(reject(SERVICE, now))?;
        Ok(created(AddonWorld::render_plan(plan)))
    })
}

async fn delete_plan(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    sim.with_world(|w| {
        let now = w.now;
        w.delete_addon_plan(&id, &pid)
            .map_err(reject(SERVICE, now))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
