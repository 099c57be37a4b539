//! Which failed requests are retried, and how long to wait (`spec/ocm-api.md` §2.9).
//!
//! * Idempotent methods (GET, DELETE, PATCH) are retried on connection errors,
//!   timeouts, 429, 500, 502, 503 and 504. A 500 is usually transient in OCM (a
//!   backend hiccup behind the gateway), and repeating an idempotent request is
//!   harmless, whereas a single 500 on a read used to fail a whole organization's
//!   pass or, during discovery, the whole environment's (issue 15, item 11).
//! * POST is retried only when the server certainly did not act on it: 429, 503, or
//!   a connection that was never established. A 5xx or timeout after the request was
//!   sent may have created the object, so the caller must re-list instead.
//! * Other 4xx are never retried.
//!
//! Delays grow exponentially with jitter up to `max_delay`; a `Retry-After` header
//! (seconds) replaces the computed delay, capped at `max_retry_after`.

use std::time::Duration;

use backon::ExponentialBuilder;
use reqwest::Method;

/// Retry tuning for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Ceiling for computed delays.
    pub max_delay: Duration,
    /// Ceiling for a server-requested `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Five retries: under a 20 % rate of transient errors a request still
    /// fails with probability 0.2⁶ ≈ 6·10⁻⁵, so a pass of a few thousand
    /// requests completes (three retries lost about one organization pass in
    /// forty); the delays add up to at most about 30 s with jitter, well inside
    /// the default 5-minute interval.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_mins(1),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_factor(2.0)
            .with_jitter()
    }

    /// The delay to use instead of the computed one when the server asked for one.
    pub(crate) fn honour(&self, computed: Duration, retry_after: Option<Duration>) -> Duration {
        retry_after.map_or(computed, |ra| ra.min(self.max_retry_after))
    }
}

/// Whether a request is safe to repeat after an ambiguous failure.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::DELETE | Method::PATCH | Method::HEAD | Method::PUT
    )
}

/// Whether an HTTP status is worth retrying for this method.
pub(crate) fn status_is_retryable(method: &Method, status: u16) -> bool {
    if is_idempotent(method) {
        matches!(status, 429 | 500 | 502 | 503 | 504)
    } else {
        matches!(status, 429 | 503)
    }
}

/// Whether a transport failure is worth retrying for this method. A refused or
/// failed connection never reached the server, so even POST is safe.
pub(crate) fn transport_is_retryable(method: &Method, connect_failed: bool) -> bool {
    is_idempotent(method) || connect_failed
}

/// Parse `Retry-After` in its delta-seconds form; the HTTP-date form is rare for
/// OCM's gateway and falls back to the computed backoff.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_is_retried_only_when_the_server_did_not_act() {
        assert!(status_is_retryable(&Method::POST, 429));
        assert!(status_is_retryable(&Method::POST, 503));
        assert!(!status_is_retryable(&Method::POST, 500));
        assert!(!status_is_retryable(&Method::POST, 502));
        assert!(!status_is_retryable(&Method::POST, 504));
        assert!(!transport_is_retryable(&Method::POST, false));
        assert!(transport_is_retryable(&Method::POST, true));
    }

    #[test]
    fn idempotent_methods_retry_server_errors_but_not_client_errors() {
        for m in [Method::GET, Method::DELETE, Method::PATCH] {
            for s in [429, 500, 502, 503, 504] {
                assert!(status_is_retryable(&m, s), "{m} {s}");
            }
            for s in [400, 401, 403, 404, 409, 501] {
                assert!(!status_is_retryable(&m, s), "{m} {s}");
            }
            assert!(transport_is_retryable(&m, false));
        }
    }

    #[test]
    fn retry_after_is_parsed_and_capped() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        let p = RetryPolicy::default();
        let computed = Duration::from_millis(700);
        assert_eq!(p.honour(computed, None), computed);
        assert_eq!(
            p.honour(computed, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.honour(computed, Some(Duration::from_hours(1))),
            p.max_retry_after
        );
    }
}
