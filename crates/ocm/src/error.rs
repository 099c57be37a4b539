//! Errors of OCM API calls. None of them carries token or secret text.

use std::fmt;
use std::time::Duration;

use crate::auth::AuthError;
use crate::model::ApiErrorBody;

/// Why an OCM API call failed.
#[derive(Debug, thiserror::Error)]
pub enum OcmError {
    /// OCM answered with a non-success status; `body` is its error document (or, for
    /// a gateway page that is not JSON, a short excerpt of it in `reason`).
    #[error("OCM API {method} {path}: {}", ApiErrorDisplay { status: *status, body })]
    Api {
        method: String,
        path: String,
        status: u16,
        /// Boxed: it is large and errors should stay cheap to move.
        body: Box<ApiErrorBody>,
    },
    /// The request could not be sent or the answer not read (after retries).
    #[error("OCM API {method} {path}: {source}")]
    Transport {
        method: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer is not the JSON this client expects.
    #[error("OCM API {method} {path}: unexpected response body: {source}")]
    Decode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// No answer within the per-request timeout (after retries).
    #[error("OCM API {method} {path}: no answer within {after:?}")]
    Timeout {
        method: String,
        path: String,
        after: Duration,
    },
    /// No access token could be obtained.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// An id or key that cannot form a URL path segment (empty, `.` or `..`).
    #[error("cannot call OCM {template}: {segment:?} is not a valid path segment")]
    InvalidPathSegment {
        template: &'static str,
        segment: String,
    },
    /// The configured API URL cannot be used.
    #[error("OCM API URL {url:?} is not valid: {reason}")]
    InvalidApiUrl { url: String, reason: String },
    /// The configured request-rate budget cannot be used.
    #[error("OCM request rate: {0}")]
    Rate(#[from] crate::rate::RateError),
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl OcmError {
    /// The HTTP status for [`OcmError::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            OcmError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The OCM error body for [`OcmError::Api`].
    pub fn api_body(&self) -> Option<&ApiErrorBody> {
        match self {
            OcmError::Api { body, .. } => Some(body),
            _ => None,
        }
    }

    /// Whether OCM said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// `400 CLUSTERS-MGMT-400: <reason> (operation_id <id>)`.
struct ApiErrorDisplay<'a> {
    status: u16,
    body: &'a ApiErrorBody,
}

impl fmt::Display for ApiErrorDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(code) = &self.body.code {
            write!(f, " {code}")?;
        }
        // Without a reason (a bare gateway error), the status text still helps.
        let reason = self.body.reason.as_deref().or_else(|| {
            reqwest::StatusCode::from_u16(self.status)
                .ok()
                .and_then(|s| s.canonical_reason())
        });
        if let Some(reason) = reason {
            write!(f, ": {reason}")?;
        }
        if let Some(op) = &self.body.operation_id {
            write!(f, " (operation_id {op})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display_has_method_path_status_code_reason_and_operation() {
        let err = OcmError::Api {
            method: "POST".into(),
            path: "/api/clusters_mgmt/v1/clusters/c1/upgrade_policies".into(),
            status: 400,
            body: Box::new(ApiErrorBody {
                code: Some("CLUSTERS-MGMT-400".into()),
                reason: Some("bad version".into()),
                operation_id: Some("op-1".into()),
                ..ApiErrorBody::default()
            }),
        };
        assert_eq!(
            err.to_string(),
            "OCM API POST /api/clusters_mgmt/v1/clusters/c1/upgrade_policies: 400 CLUSTERS-MGMT-400: bad version (operation_id op-1)"
        );
        let err = OcmError::Api {
            method: "GET".into(),
            path: "/x".into(),
            status: 503,
            body: Box::default(),
        };
        assert_eq!(err.to_string(), "OCM API GET /x: 503: Service Unavailable");
    }
}
