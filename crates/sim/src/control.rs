//! Test knobs that are not OCM: injected faults, latency and request counting.
//!
//! A [`Fault`] makes matching `/api/` requests fail with a chosen status before
//! they reach a handler (so nothing is written). A request matches when every
//! condition the fault sets holds:
//!
//! * `path_prefix`: the request path starts with it;
//! * `method`: the HTTP method equals it (case-insensitive);
//! * `organization`: the request touches that organization's objects — a path
//!   naming one of its clusters (`/clusters/{id}/...`), subscriptions
//!   (`/subscriptions/{id}/...`) or the organization itself
//!   (`/organizations/{id}/...`), or a service-log request whose `cluster_uuid` /
//!   `cluster_id` parameter or body field names one of its clusters. Fleet-wide
//!   list requests (`GET /labels`, `GET /clusters?search=...`) touch no single
//!   organization and are not matched, so a client can still discover the fleet
//!   while one organization's clusters fail.
//!
//! `count` limits how many requests fail (then the fault is spent); `null` means
//! every matching request fails until `DELETE /_sim/faults`. `retry_after` adds a
//! `Retry-After` header (seconds), as a gateway 429 may.
//!
//! The same faults apply to the SSO simulator's realm endpoints
//! (`/auth/realms/<realm>/...`), which touch no organization.
//!
//! A [`ResponseDrop`] is the crash-test counterpart of a fault: the matching
//! request *is* handled (its write commits), then the connection is cut before
//! the response body is sent, so the client cannot know the outcome (a
//! registration whose secret is lost, rhidp I34/I41). It is a separate list
//! rather than a [`Fault`] field so that code building faults is unaffected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// HTTP status to answer with (4xx or 5xx).
    pub status: u16,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub organization: Option<String>,
    /// Remaining failures; `None` for unlimited.
    #[serde(default)]
    pub count: Option<u32>,
    /// Seconds for a `Retry-After` header.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

/// What a request looks like to fault matching.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Organizations whose objects the request touches.
    pub organizations: &'a [String],
}

impl Fault {
    fn matches(&self, req: &RequestFacts<'_>) -> bool {
        self.count != Some(0)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| req.path.starts_with(p))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(req.method))
            && self
                .organization
                .as_deref()
                .is_none_or(|o| req.organizations.iter().any(|x| x == o))
    }
}

/// Handle a matching request, then cut the connection before its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseDrop {
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Remaining drops; `None` for unlimited.
    #[serde(default)]
    pub count: Option<u32>,
}

impl ResponseDrop {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.count != Some(0)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Mutable knobs shared by all requests.
#[derive(Debug, Default)]
pub struct Control {
    pub latency: std::time::Duration,
    pub faults: Vec<Fault>,
    pub drops: Vec<ResponseDrop>,
    /// `"<METHOD> <path template>"` → count, for call-budget assertions.
    pub requests: BTreeMap<String, u64>,
}

impl Control {
    /// The first fault matching the request, consuming one use of it.
    pub fn take_fault(&mut self, req: &RequestFacts<'_>) -> Option<Fault> {
        let fault = self.faults.iter_mut().find(|f| f.matches(req))?;
        if let Some(n) = fault.count.as_mut() {
            *n -= 1;
        }
        let fired = fault.clone();
        self.faults.retain(|f| f.count != Some(0));
        Some(fired)
    }

    /// Whether the response to this request is to be dropped, consuming one
    /// use of the matching rule.
    pub fn take_drop(&mut self, method: &str, path: &str) -> bool {
        let Some(rule) = self.drops.iter_mut().find(|d| d.matches(method, path)) else {
            return false;
        };
        if let Some(n) = rule.count.as_mut() {
            *n -= 1;
        }
        self.drops.retain(|d| d.count != Some(0));
        true
    }

    pub fn count_request(&mut self, method: &str, template: &str) {
        *self
            .requests
            .entry(format!("{method} {template}"))
            .or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_all_their_conditions_and_run_out() {
        let mut control = Control::default();
        control.faults.push(Fault {
            status: 503,
            path_prefix: Some("/api/clusters_mgmt/".into()),
            method: Some("get".into()),
            organization: Some("org-x".into()),
            count: Some(2),
            retry_after: None,
        });
        let orgs = vec!["org-x".to_owned()];
        let other = vec!["org-y".to_owned()];
        let hit = RequestFacts {
            method: "GET",
            path: "/api/clusters_mgmt/v1/clusters/c1",
            organizations: &orgs,
        };
        let wrong_org = RequestFacts {
            organizations: &other,
            ..hit
        };
        let wrong_method = RequestFacts {
            method: "POST",
            ..hit
        };
        assert!(control.take_fault(&wrong_org).is_none());
        assert!(control.take_fault(&wrong_method).is_none());
        assert_eq!(control.take_fault(&hit).map(|f| f.status), Some(503));
        assert!(control.take_fault(&hit).is_some());
        assert!(control.take_fault(&hit).is_none(), "count exhausted");
        assert!(control.faults.is_empty());
    }

    #[test]
    fn drops_match_and_run_out() {
        let mut control = Control::default();
        control.drops.push(ResponseDrop {
            path_prefix: Some("/auth/".into()),
            method: Some("post".into()),
            count: Some(1),
        });
        assert!(!control.take_drop("GET", "/auth/realms/r"));
        assert!(control.take_drop("POST", "/auth/realms/r"));
        assert!(!control.take_drop("POST", "/auth/realms/r"));
        assert!(control.drops.is_empty());
    }
}
