//! OCM's error body (spec §2.8) and the status codes the simulator answers with.
//!
//! Every failure a handler can produce is an [`ApiError`]: a status, the service
//! that answers (which decides the `code` prefix and `href`), a human `reason`
//! and optional `details`. It renders as OCM does:
//!
//! ```json
//! {"kind": "Error", "id": "400", "href": "/api/clusters_mgmt/v1/errors/400",
//!  "code": "CLUSTERS-MGMT-400", "reason": "...", "operation_id": "<uuid>",
//!  "timestamp": "..."}
//! ```
//!
//! Clusters service ids are the HTTP status. Account management uses its own
//! numeric ids: 7 (not found) and 9 (internal error) are observed in the wild; the
//! others (11 bad request, 13 conflict, 1 unauthorized, 429 rate limited, 5xx as
//! 9) are the simulator's choice, documented here so client tests do not depend on
//! them. Service logs use `OCM-SERVICE-LOGS-<status>` (spec: prefix uncertain).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::search::SearchError;

/// The OCM service a path belongs to; decides the error `code` and `href`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Clusters,
    Accounts,
    ServiceLogs,
    Addons,
}

impl Service {
    /// The service serving `path`; paths outside the three services answer as the
    /// clusters service (the gateway's default in the simulator).
    pub fn of_path(path: &str) -> Service {
        if path.starts_with("/api/accounts_mgmt/") {
            Service::Accounts
        } else if path.starts_with("/api/service_logs/") {
            Service::ServiceLogs
        } else if path.starts_with("/api/addons_mgmt/") {
            Service::Addons
        } else {
            Service::Clusters
        }
    }

    fn base(self) -> &'static str {
        match self {
            Service::Clusters => "/api/clusters_mgmt/v1",
            Service::Accounts => "/api/accounts_mgmt/v1",
            Service::ServiceLogs => "/api/service_logs/v1",
            Service::Addons => "/api/addons_mgmt/v1",
        }
    }

    /// `(id, code)` for a status.
    fn id_and_code(self, status: StatusCode) -> (String, String) {
        let status = status.as_u16();
        match self {
            Service::Clusters => (status.to_string(), format!("CLUSTERS-MGMT-{status}")),
            Service::ServiceLogs => (status.to_string(), format!("OCM-SERVICE-LOGS-{status}")),
            Service::Addons => (status.to_string(), format!("ADDONS-MGMT-{status}")),
            Service::Accounts => {
                let id = match status {
                    400 => 11,
                    401 => 1,
                    404 => 7,
                    409 => 13,
                    s if s >= 500 => 9,
                    s => u32::from(s),
                };
                (id.to_string(), format!("ACCT-MGMT-{id}"))
            }
        }
    }
}

/// A failed API request, rendered as OCM's Error body. Boxed: errors are the
/// rare path and handlers return them by value everywhere.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {}", .0.status, .0.reason)]
pub struct ApiError(Box<ErrorParts>);

/// What an [`ApiError`] carries.
#[derive(Debug, Clone)]
pub struct ErrorParts {
    pub status: StatusCode,
    pub service: Service,
    pub reason: String,
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header (fault injection of 429/503).
    pub retry_after: Option<u64>,
    /// The simulated clock when the error happened (the body's `timestamp`).
    pub timestamp: Option<jiff::Timestamp>,
}

impl ApiError {
    pub fn new(service: Service, status: StatusCode, reason: impl Into<String>) -> ApiError {
        ApiError(Box::new(ErrorParts {
            status,
            service,
            reason: reason.into(),
            details: None,
            retry_after: None,
            timestamp: None,
        }))
    }

    pub fn parts(&self) -> &ErrorParts {
        &self.0
    }

    pub fn bad_request(service: Service, reason: impl Into<String>) -> ApiError {
        ApiError::new(service, StatusCode::BAD_REQUEST, reason)
    }

    pub fn not_found(service: Service, reason: impl Into<String>) -> ApiError {
        ApiError::new(service, StatusCode::NOT_FOUND, reason)
    }

    pub fn conflict(service: Service, reason: impl Into<String>) -> ApiError {
        ApiError::new(service, StatusCode::CONFLICT, reason)
    }

    pub fn unauthorized(service: Service, reason: impl Into<String>) -> ApiError {
        ApiError::new(service, StatusCode::UNAUTHORIZED, reason)
    }

    pub fn search(service: Service, err: &SearchError) -> ApiError {
        ApiError::bad_request(service, err.to_string())
    }

    #[must_use]
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.0.details = Some(details);
        self
    }

    #[must_use]
    pub fn with_retry_after(mut self, seconds: Option<u64>) -> ApiError {
        self.0.retry_after = seconds;
        self
    }

    #[must_use]
    pub fn at(mut self, now: jiff::Timestamp) -> ApiError {
        self.0.timestamp = Some(now);
        self
    }

    /// The JSON body OCM sends.
    pub fn body(&self) -> Value {
        let e = &self.0;
        let (id, code) = e.service.id_and_code(e.status);
        let mut body = json!({
            "kind": "Error",
            "id": id,
            "href": format!("{}/errors/{id}", e.service.base()),
            "code": code,
            "reason": e.reason,
            "operation_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": e.timestamp.unwrap_or_else(jiff::Timestamp::now).to_string(),
        });
        if let Some(details) = &e.details {
            body["details"] = details.clone();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.0.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.0.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
