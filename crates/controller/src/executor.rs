//! The executor: applies one organization's plan to OCM and says what happened.
//!
//! The planner decides; the executor only carries out, through [`Ocm`], and
//! reports every write as created, refused by OCM (with OCM's reason) or, for
//! service logs, skipped as a duplicate. Applying the same plan twice is safe:
//! OCM refuses a second pending policy for a cluster (the next pass reads it and
//! plans nothing), and a service log already sent within a day is not sent again
//! (R122).
//!
//! Version-gate agreements of the approver (R110) are written before
//! planning ([`Executor::approve`]), so that the plan can use the ones OCM
//! accepted; the same gate is never proposed twice for a cluster.
//!
//! Order (R99, R104): upgrade policies first, then channel switches. Each action
//! concerns a different cluster, so the writes of one group go out concurrently
//! (bounded); OCM refusing one does not stop the others.

// The writes' futures are boxed and collected before they are streamed: an
// organization's pass runs as a spawned task, and the compiler cannot prove a
// stream of closure futures `Send` for every lifetime (rust-lang/rust#110338).
use futures::FutureExt;
use futures::stream::{self, StreamExt};
use jiff::Timestamp;
use srecap_aus::approver::Agreement;
use srecap_aus::{Action, OrgPlan};
use srecap_observability::{FailureCause, WriteOperation};

use crate::error::PassError;
use crate::feedback::{self, Notice};
use crate::metrics::{Metrics, PassGauges};
use crate::ocm::{NewPolicy, Ocm, PolicyTarget};
use crate::outcome::{self, OcmVerdict};

/// The `kind` of a version-gate agreement in reports and metrics.
pub const GATE_AGREEMENT: &str = "gate_agreement";

/// A write OCM accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The action's `type` (`upgrade_policy`, `channel_switch`, ...) or
    /// `service_log`.
    pub kind: &'static str,
    pub cluster: String,
    /// What was written (`4.15.3 at 2026-…Z`, `stable-4.15 -> stable-4.16`, a
    /// service log's summary).
    pub what: String,
}

/// A write OCM refused, or that could not be sent.
#[derive(Debug, Clone)]
pub struct Refused {
    pub kind: &'static str,
    pub cluster: String,
    pub what: String,
    /// OCM's answer (status, code, reason) or the transport error.
    pub reason: String,
    /// The SLI cause when this refusal is a bad event (slo-alerting §1.3), or
    /// `None` for a benign race or a user's mistake.
    pub cause: Option<FailureCause>,
}

/// What applying a plan did.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    pub created: Vec<Written>,
    pub refused: Vec<Refused>,
    /// Service logs sent (§14.1).
    pub service_logs_sent: usize,
    /// Service logs not sent because the same one went out within a day (R122).
    pub service_logs_duplicate: usize,
}

impl Execution {
    /// One line per refused write: `kind cluster: reason`.
    pub fn refusal_lines(&self) -> Vec<String> {
        self.refused
            .iter()
            .map(|r| format!("{} {}: {}", r.kind, r.cluster, r.reason))
            .collect()
    }

    /// The bad-event causes of the refusals, for the organization's outcome.
    pub fn causes(&self) -> Vec<FailureCause> {
        self.refused.iter().filter_map(|r| r.cause).collect()
    }

    /// Fold `other` into this report.
    pub fn extend(&mut self, other: Execution) {
        self.created.extend(other.created);
        self.refused.extend(other.refused);
        self.service_logs_sent += other.service_logs_sent;
        self.service_logs_duplicate += other.service_logs_duplicate;
    }
}

/// Applies plans through one [`Ocm`], counting writes in [`Metrics`].
#[derive(Debug, Clone, Copy)]
pub struct Executor<'a> {
    pub ocm: &'a dyn Ocm,
    pub metrics: &'a Metrics,
    /// Writes in flight at once.
    pub concurrency: usize,
}

impl Executor<'_> {
    /// Create the plan's upgrade policies, then switch channels. A refused
    /// channel switch fails the organization's pass (R104) once every other
    /// write was tried; refused policies are reported and retried by the next
    /// pass (R99).
    pub async fn apply(
        &self,
        plan: &OrgPlan,
        gauges: &PassGauges,
    ) -> (Execution, Result<(), PassError>) {
        let (switches, policies): (Vec<&Action>, Vec<&Action>) = plan
            .actions
            .iter()
            .partition(|a| matches!(a, Action::ChannelSwitch { .. }));
        let mut report = Execution::default();
        let mut switch_errors = Vec::new();
        for group in [policies, switches] {
            let results: Vec<(&Action, Result<(), PassError>)> = stream::iter(
                group
                    .into_iter()
                    .map(|action| {
                        async move { (action, self.apply_one(plan, action, gauges).await) }.boxed()
                    })
                    .collect::<Vec<_>>(),
            )
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
            for (action, result) in results {
                self.metrics.action(action.kind(), result.is_ok());
                let op = match action {
                    Action::ChannelSwitch { .. } => WriteOperation::UpdateChannel,
                    Action::UpgradePolicy { .. }
                    | Action::ControlPlaneUpgradePolicy { .. }
                    | Action::NodePoolUpgradePolicy { .. } => WriteOperation::CreateUpgradePolicy,
                };
                let cause = result.as_ref().err().and_then(write_cause);
                self.metrics.write(&plan.org_id, op, cause);
                let what = describe(action);
                match result {
                    Ok(()) => {
                        tracing::info!(org = %plan.org_id, cluster = %action.cluster(), action = action.kind(), %what, "applied");
                        report.created.push(Written {
                            kind: action.kind(),
                            cluster: action.cluster().to_owned(),
                            what,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(org = %plan.org_id, cluster = %action.cluster(), action = action.kind(), error = %e, "OCM refused an action");
                        if matches!(action, Action::ChannelSwitch { .. }) {
                            switch_errors.push(format!(
                                "{} {}: {e}",
                                action.kind(),
                                action.cluster()
                            ));
                        }
                        report.refused.push(Refused {
                            kind: action.kind(),
                            cluster: action.cluster().to_owned(),
                            what,
                            reason: e.to_string(),
                            cause,
                        });
                    }
                }
            }
        }
        let result = if switch_errors.is_empty() {
            Ok(())
        } else {
            Err(PassError::ChannelSwitches(switch_errors))
        };
        (report, result)
    }

    async fn apply_one(
        &self,
        plan: &OrgPlan,
        action: &Action,
        gauges: &PassGauges,
    ) -> Result<(), PassError> {
        let (cluster_id, policy) = match action {
            Action::UpgradePolicy {
                cluster_id,
                version,
                next_run,
                ..
            } => (
                cluster_id,
                NewPolicy {
                    target: PolicyTarget::Cluster,
                    version: version.clone(),
                    next_run: *next_run,
                },
            ),
            Action::ControlPlaneUpgradePolicy {
                cluster_id,
                version,
                next_run,
                ..
            } => (
                cluster_id,
                NewPolicy {
                    target: PolicyTarget::ControlPlane,
                    version: version.clone(),
                    next_run: *next_run,
                },
            ),
            Action::NodePoolUpgradePolicy {
                cluster_id,
                node_pool,
                version,
                next_run,
                ..
            } => (
                cluster_id,
                NewPolicy {
                    target: PolicyTarget::NodePool(node_pool.clone()),
                    version: version.clone(),
                    next_run: *next_run,
                },
            ),
            Action::ChannelSwitch {
                cluster_id,
                from_channel,
                to_channel,
                ..
            } => {
                self.ocm.switch_channel(cluster_id, to_channel).await?;
                let uuid = plan
                    .details
                    .valid_clusters
                    .iter()
                    .find(|c| c.cluster_id == *cluster_id)
                    .map_or("", |c| c.external_id.as_str());
                gauges.channel_switched(&plan.org_id, uuid, from_channel, to_channel);
                return Ok(());
            }
        };
        self.ocm.create_policy(cluster_id, &policy).await
    }

    /// Create the approver's gate agreements (R110), concurrently. Returns the
    /// report and the agreements OCM accepted: only those count as agreed for
    /// this pass's planning. A refused agreement is reported and never fails
    /// the pass (deviation from R111: contained per cluster); the cluster
    /// waits and the next pass tries again.
    pub async fn approve<'g>(
        &self,
        org_id: &str,
        agreements: &'g [Agreement],
    ) -> (Execution, Vec<&'g Agreement>) {
        let results: Vec<(&Agreement, Result<(), PassError>)> = stream::iter(
            agreements
                .iter()
                .map(|a| {
                    async move {
                        (
                            a,
                            self.ocm
                                .create_gate_agreement(&a.cluster_id, &a.gate_id)
                                .await,
                        )
                    }
                    .boxed()
                })
                .collect::<Vec<_>>(),
        )
        .buffer_unordered(self.concurrency.max(1))
        .collect()
        .await;
        let mut report = Execution::default();
        let mut accepted = Vec::new();
        for (a, result) in results {
            let what = format!("version gate {} ({})", a.gate_id, a.label);
            let cause = result.as_ref().err().and_then(write_cause);
            self.metrics
                .write(org_id, WriteOperation::CreateVersionAgreement, cause);
            self.metrics.action(GATE_AGREEMENT, result.is_ok());
            match result {
                Ok(()) => {
                    tracing::info!(org = %org_id, cluster = %a.cluster, gate = %a.gate_id, label = %a.label, "agreed to a version gate");
                    report.created.push(Written {
                        kind: GATE_AGREEMENT,
                        cluster: a.cluster.clone(),
                        what,
                    });
                    accepted.push(a);
                }
                Err(e) => {
                    tracing::warn!(org = %org_id, cluster = %a.cluster, gate = %a.gate_id, error = %e, "OCM refused a version-gate agreement");
                    report.refused.push(Refused {
                        kind: GATE_AGREEMENT,
                        cluster: a.cluster.clone(),
                        what,
                        reason: e.to_string(),
                        cause,
                    });
                }
            }
        }
        (report, accepted)
    }

    /// Service logs for an organization with validation errors (§14.1), one per
    /// cluster, sent concurrently unless already sent within a day (R122).
    /// Failed sends are reported and fail the organization's pass.
    pub async fn feedback(
        &self,
        plan: &OrgPlan,
        now: Timestamp,
    ) -> (Execution, Result<(), PassError>) {
        let notices = feedback::notices(plan);
        let results: Vec<(&Notice, Result<bool, PassError>)> = stream::iter(
            notices
                .iter()
                .map(|notice| async move { (notice, self.send(notice, now).await) }.boxed())
                .collect::<Vec<_>>(),
        )
        .buffer_unordered(self.concurrency.max(1))
        .collect()
        .await;
        let mut report = Execution::default();
        let mut errors = Vec::new();
        for (notice, result) in results {
            let kind = notice.kind();
            match result {
                Ok(true) => {
                    self.metrics.service_log(&plan.org_id, kind, "sent");
                    self.metrics
                        .write(&plan.org_id, WriteOperation::PostServiceLog, None);
                    report.service_logs_sent += 1;
                    report.created.push(Written {
                        kind: "service_log",
                        cluster: notice.cluster_uuid.clone(),
                        what: notice.summary.to_owned(),
                    });
                }
                Ok(false) => {
                    self.metrics.service_log(&plan.org_id, kind, "duplicate");
                    report.service_logs_duplicate += 1;
                }
                Err(e) => {
                    self.metrics.service_log(&plan.org_id, kind, "error");
                    let cause = write_cause(&e);
                    self.metrics
                        .write(&plan.org_id, WriteOperation::PostServiceLog, cause);
                    errors.push(format!("{}: {e}", notice.cluster_uuid));
                    report.refused.push(Refused {
                        kind: "service_log",
                        cluster: notice.cluster_uuid.clone(),
                        what: notice.summary.to_owned(),
                        reason: e.to_string(),
                        cause,
                    });
                }
            }
        }
        let result = if errors.is_empty() {
            Ok(())
        } else {
            Err(PassError::Feedback(errors))
        };
        (report, result)
    }

    /// Send `notice` unless the same one went out within the window. Returns
    /// whether it was sent.
    async fn send(&self, notice: &Notice, now: Timestamp) -> Result<bool, PassError> {
        if self
            .ocm
            .service_log_sent_since(notice, now - feedback::DEDUP_WINDOW)
            .await?
        {
            return Ok(false);
        }
        self.ocm.send_service_log(notice).await?;
        Ok(true)
    }
}

/// What an action writes, for reports and logs.
fn describe(action: &Action) -> String {
    match action {
        Action::UpgradePolicy {
            version, next_run, ..
        }
        | Action::ControlPlaneUpgradePolicy {
            version, next_run, ..
        } => format!(
            "{version} at {}",
            srecap_aus::schedule::whole_seconds(*next_run)
        ),
        Action::NodePoolUpgradePolicy {
            node_pool,
            version,
            next_run,
            ..
        } => format!(
            "node pool {node_pool} to {version} at {}",
            srecap_aus::schedule::whole_seconds(*next_run)
        ),
        Action::ChannelSwitch {
            from_channel,
            to_channel,
            ..
        } => format!("{from_channel} -> {to_channel}"),
    }
}

/// The bad-event cause of a failed OCM write, if it is one.
pub fn write_cause(error: &PassError) -> Option<FailureCause> {
    match error {
        PassError::Ocm(e) => match outcome::classify_ocm(e, true) {
            OcmVerdict::Bad(cause) => Some(cause),
            OcmVerdict::User(_) | OcmVerdict::Benign => None,
        },
        PassError::Store(_)
        | PassError::BadAnswer { .. }
        | PassError::ChannelSwitches(_)
        | PassError::Health(_)
        | PassError::Feedback(_)
        | PassError::Cancelled => Some(FailureCause::Internal),
        PassError::Deadline { .. } => Some(FailureCause::Deadline),
    }
}
