//! Cluster health from a Telemeter-like Prometheus (§4.5, R47–R50).
//!
//! The provider answers, per organization, which clusters have firing critical
//! alerts. A cluster with an *enforced* health error does not add soak time (R67);
//! health never stops the cluster's own upgrade (R49).

use std::collections::HashSet;

use serde::Deserialize;

/// The provider's name (R47: the only one the reference knows), the
/// `health_source` of the health gauges.
pub const TELEMETER: &str = "telemeter";

/// Where to ask, and whether its errors are enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthProvider {
    /// Base URL of the Prometheus API (`<url>/api/v1/query`).
    pub url: String,
    pub enforced: bool,
}

/// Why health could not be read: an operational error of the organization's pass
/// (deviation R50, §18 G4), never a user's validation error.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("querying the health provider {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the health provider {url} answered status {status}")]
    Status { url: String, status: u16 },
}

#[derive(Debug, Deserialize)]
struct Answer {
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    metric: std::collections::HashMap<String, String>,
}

impl HealthProvider {
    /// External ids of the organization's clusters with firing critical alerts.
    pub async fn unhealthy(
        &self,
        http: &reqwest::Client,
        org_id: &str,
    ) -> Result<HashSet<String>, HealthError> {
        let url = format!("{}/api/v1/query", self.url.trim_end_matches('/'));
        let query = format!(
            "alerts{{alertstate=\"firing\",severity=\"critical\"}} * on(_id) group_left ocm_subscription{{organization=\"{org_id}\"}}"
        );
        let response = http
            .get(&url)
            .query(&[("query", query)])
            .send()
            .await
            .map_err(|source| HealthError::Request {
                url: url.clone(),
                source,
            })?;
        if !response.status().is_success() {
            return Err(HealthError::Status {
                url,
                status: response.status().as_u16(),
            });
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|source| HealthError::Request {
                url: url.clone(),
                source,
            })?;
        Ok(answer
            .data
            .result
            .into_iter()
            .filter_map(|s| s.metric.get("_id").cloned())
            .collect())
    }
}
