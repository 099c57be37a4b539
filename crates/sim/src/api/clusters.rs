//! Clusters service (CS, `/api/clusters_mgmt/v1`): clusters, node pools, the
//! three upgrade-policy collections, version gates and gate agreements (spec
//! E7–E15).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{ListSpec, Params, created, json_body, list, list_cached, reject};
use crate::Simulator;
use crate::error::{ApiError, Service};
use crate::render::{
    AGREEMENT_FIELDS, CLUSTER_BOOLS, CLUSTER_FIELDS, CS, GATE_BOOLS, GATE_FIELDS, NODE_POOL_FIELDS,
    POLICY_FIELDS,
};
use crate::world::PolicyScope;

const SERVICE: Service = Service::Clusters;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route(&format!("{CS}/clusters"), get(list_clusters))
        .route(
            &format!("{CS}/clusters/{{id}}"),
            get(get_cluster).patch(patch_cluster),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/node_pools"),
            get(list_node_pools),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/node_pools/{{np}}"),
            get(get_node_pool),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/upgrade_policies"),
            get(list_classic).post(create_classic),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/upgrade_policies/{{pid}}"),
            get(get_classic).delete(delete_classic),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/upgrade_policies/{{pid}}/state"),
            get(get_classic_state).patch(patch_classic_state),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/control_plane/upgrade_policies"),
            get(list_control_plane).post(create_control_plane),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/control_plane/upgrade_policies/{{pid}}"),
            get(get_control_plane).delete(delete_control_plane),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/node_pools/{{np}}/upgrade_policies"),
            get(list_node_pool_policies).post(create_node_pool_policy),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/node_pools/{{np}}/upgrade_policies/{{pid}}"),
            get(get_node_pool_policy).delete(delete_node_pool_policy),
        )
        .route(&format!("{CS}/version_gates"), get(list_gates))
        .route(&format!("{CS}/version_gates/{{id}}"), get(get_gate))
        .route(
            &format!("{CS}/clusters/{{id}}/gate_agreements"),
            get(list_agreements).post(create_agreement),
        )
        .route(
            &format!("{CS}/clusters/{{id}}/gate_agreements/{{aid}}"),
            get(get_agreement).delete(delete_agreement),
        )
}

const CLUSTERS: ListSpec = ListSpec {
    kind: "ClusterList",
    resource: "Cluster",
    service: SERVICE,
    fields: Some(CLUSTER_FIELDS),
    bools: CLUSTER_BOOLS,
    order_fields: CLUSTER_FIELDS,
};

const NODE_POOLS: ListSpec = ListSpec {
    kind: "NodePoolList",
    resource: "NodePool",
    service: SERVICE,
    fields: Some(NODE_POOL_FIELDS),
    bools: &[],
    order_fields: NODE_POOL_FIELDS,
};

const GATES: ListSpec = ListSpec {
    kind: "VersionGateList",
    resource: "VersionGate",
    service: SERVICE,
    fields: Some(GATE_FIELDS),
    bools: GATE_BOOLS,
    order_fields: GATE_FIELDS,
};

const AGREEMENTS: ListSpec = ListSpec {
    kind: "VersionGateAgreementList",
    resource: "VersionGateAgreement",
    service: SERVICE,
    fields: None,
    bools: &[],
    order_fields: AGREEMENT_FIELDS,
};

fn policy_spec(scope: &PolicyScope) -> ListSpec {
    ListSpec {
        kind: match scope {
            PolicyScope::Classic => "UpgradePolicyList",
            PolicyScope::ControlPlane => "ControlPlaneUpgradePolicyList",
            PolicyScope::NodePool(_) => "NodePoolUpgradePolicyList",
        },
        resource: "UpgradePolicy",
        service: SERVICE,
        // Policy collections support only paging (spec E11): `search` is ignored.
        fields: None,
        bools: &[],
        order_fields: POLICY_FIELDS,
    }
}

async fn list_clusters(State(sim): State<Simulator>, params: Params) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let now = w.now;
        list_cached(
            w,
            &CLUSTERS,
            &params,
            cap,
            "",
            crate::world::World::rendered_clusters,
        )
        .map_err(|e| e.at(now))
    })
}

async fn get_cluster(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sim.with_world_read(|w| {
        let now = w.now;
        let rendered = w.rendered_cluster(&id).map_err(reject(SERVICE, now))?;
        Ok(Json(&rendered.1).into_response())
    })
}

/// `PATCH /clusters/{id}`: the simulator supports the channel switch AUS does;
/// other attributes are accepted and ignored. `dryRun=true` validates only.
async fn patch_cluster(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    let channel = match body.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(
                SERVICE,
                format!("Field 'channel' must be a string, got {other}"),
            ));
        }
    };
    let dry_run = params.flag("dryRun");
    sim.with_world(|w| {
        let now = w.now;
        if let Some(channel) = channel {
            if dry_run {
                let mut scratch = w.clone();
                scratch
                    .switch_channel(&id, &channel)
                    .map_err(reject(SERVICE, now))?;
            } else {
                w.switch_channel(&id, &channel)
                    .map_err(reject(SERVICE, now))?;
            }
        }
        let rec = w.cluster(&id).map_err(reject(SERVICE, now))?;
        Ok(Json(w.render_cluster(rec, true)))
    })
}

async fn list_node_pools(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let rec = w.cluster(&id).map_err(reject(SERVICE, w.now))?;
        let items: Vec<(Value, Value)> = (0..rec.cluster.node_pools.len())
            .map(|i| {
                let v = w.render_node_pool(rec, i);
                (v.clone(), v)
            })
            .collect();
        list(&NODE_POOLS, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

async fn get_node_pool(
    State(sim): State<Simulator>,
    Path((id, np)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        let rec = w.cluster(&id).map_err(reject(SERVICE, w.now))?;
        let index = rec
            .cluster
            .node_pools
            .iter()
            .position(|p| p.id == np)
            .ok_or_else(|| {
                ApiError::not_found(SERVICE, format!("Node pool '{np}' not found")).at(w.now)
            })?;
        Ok(Json(w.render_node_pool(rec, index)))
    })
}

// ----- upgrade policies (one implementation, three collections) ----------------

fn list_policies(
    sim: &Simulator,
    id: &str,
    scope: &PolicyScope,
    params: &Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let rec = w.cluster(id).map_err(reject(SERVICE, w.now))?;
        if let PolicyScope::NodePool(np) = scope
            && !rec.cluster.node_pools.iter().any(|p| &p.id == np)
        {
            {
                return Err(
                    ApiError::not_found(SERVICE, format!("Node pool '{np}' not found")).at(w.now),
                );
            }
        }
        let items: Vec<(Value, Value)> = w
            .policies_of(id, scope)
            .into_iter()
            .map(|p| {
                let v = w.render_policy(p);
                let mut view = v.clone();
                view["creation_timestamp"] = Value::String(p.created_at.to_string());
                (view, v)
            })
            .collect();
        list(&policy_spec(scope), items, params, cap).map_err(|e| e.at(w.now))
    })
}

fn create_policy(
    sim: &Simulator,
    id: &str,
    scope: PolicyScope,
    params: &Params,
    bytes: &Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(SERVICE, bytes)?;
    let dry_run = params.flag("dryRun");
    let config = sim.config().clone();
    sim.with_world(|w| {
        let now = w.now;
        let made = w
            .create_policy(id, scope, &body, &config, dry_run)
            .map_err(reject(SERVICE, now))?;
        Ok(match made {
            Some(p) => created(w.render_policy(&p)),
            None => StatusCode::NO_CONTENT.into_response(),
        })
    })
}

fn get_policy(
    sim: &Simulator,
    id: &str,
    scope: &PolicyScope,
    pid: &str,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        let p = w.policy(id, scope, pid).map_err(reject(SERVICE, w.now))?;
        Ok(Json(w.render_policy(p)))
    })
}

fn delete_policy(
    sim: &Simulator,
    id: &str,
    scope: &PolicyScope,
    pid: &str,
) -> Result<Response, ApiError> {
    sim.with_world(|w| {
        let now = w.now;
        w.delete_policy(id, scope, pid)
            .map_err(reject(SERVICE, now))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

async fn list_classic(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    list_policies(&sim, &id, &PolicyScope::Classic, &params)
}

async fn create_classic(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    create_policy(&sim, &id, PolicyScope::Classic, &params, &bytes)
}

async fn get_classic(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_policy(&sim, &id, &PolicyScope::Classic, &pid)
}

async fn delete_classic(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    delete_policy(&sim, &id, &PolicyScope::Classic, &pid)
}

async fn get_classic_state(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        let p = w
            .policy(&id, &PolicyScope::Classic, &pid)
            .map_err(reject(SERVICE, w.now))?;
        Ok(Json(w.render_policy_state(p)))
    })
}

async fn patch_classic_state(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    let Some(value) = body.get("value").and_then(Value::as_str).map(str::to_owned) else {
        return Err(ApiError::bad_request(SERVICE, "Field 'value' is required"));
    };
    sim.with_world(|w| {
        let now = w.now;
        w.set_policy_state(&id, &PolicyScope::Classic, &pid, &value)
            .map_err(reject(SERVICE, now))?;
        let p = w
            .policy(&id, &PolicyScope::Classic, &pid)
            .map_err(reject(SERVICE, now))?;
        Ok(Json(w.render_policy_state(p)))
    })
}

async fn list_control_plane(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    list_policies(&sim, &id, &PolicyScope::ControlPlane, &params)
}

async fn create_control_plane(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    create_policy(&sim, &id, PolicyScope::ControlPlane, &params, &bytes)
}

async fn get_control_plane(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_policy(&sim, &id, &PolicyScope::ControlPlane, &pid)
}

async fn delete_control_plane(
    State(sim): State<Simulator>,
    Path((id, pid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    delete_policy(&sim, &id, &PolicyScope::ControlPlane, &pid)
}

async fn list_node_pool_policies(
    State(sim): State<Simulator>,
    Path((id, np)): Path<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    list_policies(&sim, &id, &PolicyScope::NodePool(np), &params)
}

async fn create_node_pool_policy(
    State(sim): State<Simulator>,
    Path((id, np)): Path<(String, String)>,
    params: Params,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    create_policy(&sim, &id, PolicyScope::NodePool(np), &params, &bytes)
}

async fn get_node_pool_policy(
    State(sim): State<Simulator>,
    Path((id, np, pid)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_policy(&sim, &id, &PolicyScope::NodePool(np), &pid)
}

async fn delete_node_pool_policy(
    State(sim): State<Simulator>,
    Path((id, np, pid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    delete_policy(&sim, &id, &PolicyScope::NodePool(np), &pid)
}

// ----- version gates and agreements --------------------------------------------

async fn list_gates(State(sim): State<Simulator>, params: Params) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        let items: Vec<(Value, Value)> = w
            .version_gates
            .iter()
            .map(|g| {
                let v = w.render_gate(g);
                (v.clone(), v)
            })
            .collect();
        list(&GATES, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

async fn get_gate(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        w.version_gates
            .iter()
            .find(|g| g.id == id)
            .map(|g| Json(w.render_gate(g)))
            .ok_or_else(|| {
                ApiError::not_found(SERVICE, format!("Version gate '{id}' not found")).at(w.now)
            })
    })
}

async fn list_agreements(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let cap = sim.config().max_page_size;
    sim.with_world_read(|w| {
        w.cluster(&id).map_err(reject(SERVICE, w.now))?;
        w.agreements_by_cluster
            .update(&w.agreements, |a| &a.id, |a| &a.cluster_id);
        let items: Vec<(Value, Value)> = w
            .agreements_by_cluster
            .of(&id)
            .iter()
            .map(|&i| {
                let v = w.render_agreement(&w.agreements[i]);
                (v.clone(), v)
            })
            .collect();
        list(&AGREEMENTS, items, &params, cap).map_err(|e| e.at(w.now))
    })
}

async fn create_agreement(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(SERVICE, &bytes)?;
    let Some(gate_id) = body
        .get("version_gate")
        .and_then(|g| g.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(ApiError::bad_request(
            SERVICE,
            "Field 'version_gate.id' is required",
        ));
    };
    sim.with_world(|w| {
        let now = w.now;
        let aid = w
            .create_agreement(&id, &gate_id)
            .map_err(reject(SERVICE, now))?
            .id
            .clone();
        let a = w
            .agreements
            .iter()
            .find(|a| a.id == aid)
            .expect("just created");
        Ok(created(w.render_agreement(a)))
    })
}

async fn get_agreement(
    State(sim): State<Simulator>,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    sim.with_world_read(|w| {
        w.cluster(&id).map_err(reject(SERVICE, w.now))?;
        w.agreements
            .iter()
            .find(|a| a.cluster_id == id && a.id == aid)
            .map(|a| Json(w.render_agreement(a)))
            .ok_or_else(|| {
                ApiError::not_found(SERVICE, format!("Version gate agreement '{aid}' not found"))
                    .at(w.now)
            })
    })
}

async fn delete_agreement(
    State(sim): State<Simulator>,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    sim.with_world(|w| {
        let now = w.now;
        w.delete_agreement(&id, &aid)
            .map_err(reject(SERVICE, now))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
