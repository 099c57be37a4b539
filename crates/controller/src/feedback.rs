//! Feedback to cluster owners: validation errors as OCM service logs (§14.1),
//! never repeated within 24 hours.

use jiff::{SignedDuration, Timestamp};
use srecap_aus::{INTEGRATION, OrgPlan};
use srecap_ocm::model::{NewClusterLog, Severity};
use srecap_ocm::{Filter, OcmClient};

pub const CLUSTER_SUMMARY: &str = "Cluster upgrade policy validation errors";
pub const ORG_SUMMARY: &str = "AUS configuration error on organization";

/// One service log to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub cluster_uuid: String,
    pub summary: &'static str,
    pub description: String,
}

/// The notices for an organization with validation errors (R120, R121): one per
/// invalid cluster with its messages as `- ` lines, and the organization's
/// messages to every valid cluster.
pub fn notices(plan: &OrgPlan) -> Vec<Notice> {
    let mut out: Vec<Notice> = plan
        .validation_errors
        .clusters
        .iter()
        .map(|(uuid, messages)| Notice {
            cluster_uuid: uuid.clone(),
            summary: CLUSTER_SUMMARY,
            description: messages
                .iter()
                .map(|m| format!("- {m}"))
                .collect::<Vec<_>>()
                .join("\n"),
        })
        .collect();
    if !plan.validation_errors.organization.is_empty() {
        let description = plan.validation_errors.organization.join("\n");
        out.extend(plan.details.valid_clusters.iter().map(|c| Notice {
            cluster_uuid: c.external_id.clone(),
            summary: ORG_SUMMARY,
            description: description.clone(),
        }));
    }
    out
}

/// Send a notice unless the same one (service, severity, summary, description) was
/// logged for the cluster within the last day (R122). Returns whether it was sent.
pub async fn send(
    client: &OcmClient,
    notice: &Notice,
    now: Timestamp,
) -> Result<bool, srecap_ocm::OcmError> {
    let since = now - SignedDuration::from_hours(24);
    let filter = Filter::eq("service_name", INTEGRATION)
        .and(Filter::eq("severity", "Moderate"))
        .and(Filter::eq("summary", notice.summary))
        .and(Filter::eq("description", notice.description.clone()))
        .and(Filter::ge("created_at", since.to_string()));
    if !client
        .list_cluster_service_logs(&notice.cluster_uuid, Some(&filter))
        .await?
        .is_empty()
    {
        return Ok(false);
    }
    client
        .create_service_log(&NewClusterLog {
            cluster_uuid: notice.cluster_uuid.clone(),
            service_name: INTEGRATION.to_owned(),
            summary: notice.summary.to_owned(),
            description: notice.description.clone(),
            severity: Severity::Moderate,
            internal_only: None,
            log_type: None,
            doc_references: Vec::new(),
        })
        .await?;
    Ok(true)
}
