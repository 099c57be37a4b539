//! Cluster identity providers (`CS/clusters/{id}/identity_providers`, E16,
//! rhidp I75): list (paged), create, get, patch, delete. Validation lives in
//! [`crate::identity_providers`]; this module maps it to OCM's answers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ListSpec, Params, created, json_body, list, reject};
use crate::Simulator;
use crate::error::{ApiError, Service};
use crate::identity_providers::IDP_FIELDS;
use crate::render::CS;

const SERVICE: Service = Service::Clusters;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(
            &format!("{CS}/clusters/{{id}}/identity_providers"),
            get(list_idps).post(create_idp),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/identity_providers/{{idp}}"),
            get(get_idp).patch(patch_idp).delete(delete_idp),
        )
}

const IDPS: ListSpec = ListSpec {
    kind: "IdentityProviderList",
    resource: "IdentityProvider",
    service: SERVICE,
    // OCM's collection takes no `search` here; `order` by these attributes.
    fields: None,
    bools: &[],
    order_fields: IDP_FIELDS,
};

async fn list_idps(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let items = w
            .identity_providers_of(&id)
            .map_err(reject(SERVICE, w.now))?
            .into_iter()
            .map(|i| {
                let v = i.render();
                (v.clone(), v)
            })
            .collect();
        list(&IDPS, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

async fn get_idp(
    State(sim): State<Simulator>,
    Path((id, idp)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    sim.with_world_read(|w| {
        let rec = w
            .identity_provider(&id, &idp)
            .map_err(reject(SERVICE, w.now))?;
        Ok(axum::Json(rec.render()).into_response())
    })
}

async fn create_idp(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    sim.with_world(|w| {
        let now = w.now;
        let rec = w
            .create_identity_provider(&id, &body)
            .map_err(reject(SERVICE, now))?;
        Ok(created(rec.render()))
    })
}

async fn patch_idp(
    State(sim): State<Simulator>,
    Path((id, idp)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    sim.with_world(|w| {
        let now = w.now;
        let rec = w
            .patch_identity_provider(&id, &idp, &body)
            .map_err(reject(SERVICE, now))?;
        Ok(axum::Json(rec.render()).into_response())
    })
}

async fn delete_idp(
    State(sim): State<Simulator>,
    Path((id, idp)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    sim.with_world(|w| {
        let now = w.now;
        w.delete_identity_provider(&id, &idp)
            .map_err(reject(SERVICE, now))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
