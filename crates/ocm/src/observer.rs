//! A hook for per-request metrics.
//!
//! The client reports every HTTP attempt (retries included) to an optional
//! [`RequestObserver`], labelled by the endpoint *template* rather than the concrete
//! path, so that a metrics backend gets a bounded label set (one series per OCM
//! operation, not one per cluster id).

use std::fmt;
use std::time::Duration;

/// Endpoint label used for token requests to the SSO server.
pub const TOKEN_ENDPOINT: &str = "sso:token";

/// How one HTTP attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with this status code.
    Status(u16),
    /// No answer within the per-request timeout.
    Timeout,
    /// Connection or protocol failure before a status was read.
    Transport,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Status(s) => write!(f, "{s}"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Transport => f.write_str("transport-error"),
        }
    }
}

/// One finished HTTP attempt.
#[derive(Debug, Clone, Copy)]
pub struct RequestEvent<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The endpoint template, e.g. `/api/clusters_mgmt/v1/clusters/{id}/upgrade_policies`,
    /// or [`TOKEN_ENDPOINT`].
    pub endpoint: &'a str,
    pub outcome: Outcome,
    pub duration: Duration,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
}

/// Receives one event per HTTP attempt. Called inline on the request path, so
/// implementations should be cheap (increment counters, record a histogram sample).
pub trait RequestObserver: Send + Sync {
    fn observe(&self, event: &RequestEvent<'_>);
}
