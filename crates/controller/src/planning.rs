//! The pure planner, run off the async executor.
//!
//! Planning is CPU-bound: on a big organization, or one with costly labels, it
//! takes long enough that running it inline would hold the runtime thread that
//! also drives the other organizations' passes (they are polled together in one
//! stream) and the timer of `--org-deadline`, so one organization could stall
//! the others and its deadline could never fire (issue 15, item 10). Each
//! planning call therefore runs on tokio's blocking pool over owned data; the
//! pass awaits it like any I/O, so the deadline's timeout wins the race when it
//! expires. An abandoned call finishes on its own thread and its plan is dropped:
//! the planner is pure, so nothing half-done is left behind.

use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use srecap_aus::OrgPlan;
use srecap_aus::planner::{Faults, OrgInput, ParsedLabels, PlanOptions, plan_org_parsed};
use srecap_aus::soak::Source;
use srecap_fleet::{Cluster, Organization, VersionData, VersionGate};

/// What stays the same across one organization's planning calls of a pass.
#[derive(Debug)]
pub(crate) struct OrgContext {
    pub environment: String,
    pub org: Organization,
    /// Verified inheritance sources: (environment, organization id, stored history).
    pub sources: Vec<(String, String, VersionData)>,
    pub extra_org_errors: Vec<String>,
    pub version_gates: Vec<VersionGate>,
    pub now: Timestamp,
    pub faults: Faults,
    /// The labels parsed by earlier calls, this pass's or the previous ones'
    /// (each entry is used only while its labels are the same; the calls run
    /// one after the other, so the lock is never contended).
    pub parsed: Mutex<ParsedLabels>,
}

impl OrgContext {
    /// An owned copy of `input`'s organization-wide parts, planned with the
    /// labels `parsed` before.
    pub(crate) fn of(input: &OrgInput<'_>, mut parsed: ParsedLabels) -> Arc<OrgContext> {
        parsed.start_pass();
        Arc::new(OrgContext {
            environment: input.environment.to_owned(),
            org: input.org.clone(),
            sources: input
                .sources
                .iter()
                .map(|s| {
                    (
                        s.environment.to_owned(),
                        s.org_id.to_owned(),
                        s.history.clone(),
                    )
                })
                .collect(),
            extra_org_errors: input.extra_org_errors.clone(),
            version_gates: input.version_gates.to_vec(),
            now: input.now,
            faults: input.faults,
            parsed: Mutex::new(parsed),
        })
    }

    /// The parsed labels, for the organization's next pass.
    pub(crate) fn take_parsed(&self) -> ParsedLabels {
        std::mem::take(&mut *self.parsed.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Plan the organization over `clusters` and its stored `history` on the
/// blocking pool.
pub(crate) async fn plan(
    context: &Arc<OrgContext>,
    clusters: Arc<Vec<Cluster>>,
    history: Option<Arc<VersionData>>,
    options: PlanOptions,
) -> OrgPlan {
    let context = Arc::clone(context);
    let task = tokio::task::spawn_blocking(move || {
        let input = OrgInput {
            environment: &context.environment,
            org: &context.org,
            clusters: clusters.iter().collect(),
            history: history.as_deref(),
            sources: context
                .sources
                .iter()
                .map(|(environment, org_id, history)| Source {
                    environment,
                    org_id,
                    history,
                })
                .collect(),
            extra_org_errors: context.extra_org_errors.clone(),
            version_gates: &context.version_gates,
            now: context.now,
            faults: context.faults,
        };
        // A panic while planning leaves the cache as it was before the call
        // or with whole entries added: it is still sound.
        let mut parsed = context
            .parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        plan_org_parsed(&input, options, &mut parsed)
    });
    match task.await {
        Ok(plan) => plan,
        // A panic in the planner is a bug: it stays a panic, as it was inline.
        Err(e) => match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            // Blocking tasks are only cancelled when the runtime shuts down,
            // and then nothing awaits this future any more.
            Err(e) => unreachable!("planning task cancelled while awaited: {e}"),
        },
    }
}
