//! Service logs (`/api/service_logs/v1`, spec E19–E20, §5.7).
//!
//! * `POST /cluster_logs` stores an entry (`username` = token subject).
//! * `GET /clusters/cluster_logs?cluster_uuid=..|cluster_id=..` and
//!   `GET /clusters/{uuid or id}/cluster_logs` list one cluster's customer-visible
//!   entries (`internal_only` ones are hidden).
//! * `GET /cluster_logs` lists every entry, internal ones included (OCM needs
//!   elevated rights for it; the simulator's one service account has them).

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{Caller, ListSpec, Params, created, json_body, list, reject};
use crate::Simulator;
use crate::error::{ApiError, Service};
use crate::render::{SERVICE_LOG_BOOLS, SERVICE_LOG_FIELDS, SL};
use crate::world::{ServiceLog, World};

const SERVICE: Service = Service::ServiceLogs;

const LOGS: ListSpec = ListSpec {
    kind: "ClusterLogList",
    resource: "ClusterLog",
    service: SERVICE,
    fields: Some(SERVICE_LOG_FIELDS),
    bools: SERVICE_LOG_BOOLS,
    order_fields: SERVICE_LOG_FIELDS,
};

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(
            &format!("{SL}/cluster_logs"),
            get(list_all).post(create_log),
        )
        .route(&format!("{SL}/cluster_logs/{{id}}"), get(get_log))
        .route(
            &format!("{SL}/clusters/cluster_logs"),
            get(list_for_cluster_query),
        )
        .route(
            &format!("{SL}/clusters/{{cluster}}/cluster_logs"),
            get(list_for_cluster_path),
        )
}

async fn create_log(
    State(sim): State<Simulator>,
    Extension(Caller(subject)): Extension<Caller>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    sim.with_world(|w| {
        let now = w.now;
        let log = w
            .create_service_log(&body, &subject)
            .map_err(reject(SERVICE, now))?;
        Ok(created(World::render_service_log(log)))
    })
}

async fn get_log(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world(|w| {
        w.service_logs
            .iter()
            .find(|l| l.id == id)
            .map(|l| Json(World::render_service_log(l)))
            .ok_or_else(|| {
                ApiError::not_found(SERVICE, format!("Cluster log '{id}' not found")).at(w.now)
            })
    })
}

/// Which logs a listing looks at before its filter: all of them, or those of
/// a cluster found by uuid, by id, or by either.
enum Candidates<'a> {
    All,
    Uuid(&'a str),
    Id(&'a str),
    UuidOrId(&'a str),
}

/// Positions of the candidate logs, in the world's (creation) order: a
/// cluster's come from the indexes, not from a scan of every log.
fn candidates(w: &mut World, which: &Candidates<'_>) -> Vec<usize> {
    w.service_logs_by_uuid
        .update(&w.service_logs, |l| &l.id, |l| &l.cluster_uuid);
    w.service_logs_by_id
        .update(&w.service_logs, |l| &l.id, |l| &l.cluster_id);
    match *which {
        Candidates::All => (0..w.service_logs.len()).collect(),
        Candidates::Uuid(uuid) => w.service_logs_by_uuid.of(uuid).to_vec(),
        Candidates::Id(id) => w.service_logs_by_id.of(id).to_vec(),
        Candidates::UuidOrId(key) => {
            let mut both = w.service_logs_by_uuid.of(key).to_vec();
            both.extend_from_slice(w.service_logs_by_id.of(key));
            both.sort_unstable();
            both.dedup();
            both
        }
    }
}

fn list_logs(
    sim: &Simulator,
    params: &Params,
    which: &Candidates<'_>,
    keep: impl Fn(&ServiceLog) -> bool,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world(|w| {
        let positions = candidates(w, which);
        let items: Vec<(Value, Value)> = positions
            .into_iter()
            .map(|i| &w.service_logs[i])
            .filter(|l| keep(l))
            .map(|l| {
                let v = World::render_service_log(l);
                (v.clone(), v)
            })
            .collect();
        list(&LOGS, items, params, cap).map_err(|e| e.at(w.now))
    })
}

async fn list_all(State(sim): State<Simulator>, params: Params) -> Result<Response, ApiError> {
    list_logs(&sim, &params, &Candidates::All, |_| true)
}

async fn list_for_cluster_query(
    State(sim): State<Simulator>,
    params: Params,
) -> Result<Response, ApiError> {
    let uuid = params.get("cluster_uuid").map(str::to_owned);
    let id = params.get("cluster_id").map(str::to_owned);
    if uuid.is_none() && id.is_none() {
        return Err(ApiError::bad_request(
            SERVICE,
            "Either 'cluster_uuid' or 'cluster_id' query parameter is required",
        )
        .at(sim.now()));
    }
    let which = match (&uuid, &id) {
        (Some(uuid), _) => Candidates::Uuid(uuid),
        (None, Some(id)) => Candidates::Id(id),
        (None, None) => Candidates::All,
    };
    list_logs(&sim, &params, &which, |l| {
        !l.internal_only
            && uuid.as_ref().is_none_or(|u| &l.cluster_uuid == u)
            && id.as_ref().is_none_or(|i| &l.cluster_id == i)
    })
}

async fn list_for_cluster_path(
    State(sim): State<Simulator>,
    Path(cluster): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    list_logs(&sim, &params, &Candidates::UuidOrId(&cluster), |l| {
        !l.internal_only && (l.cluster_uuid == cluster || l.cluster_id == cluster)
    })
}
