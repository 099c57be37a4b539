//! The Red Hat `IdP` capability's SLI (`srecap_observability::catalog`:
//! `srecap_rhidp_pass_total`, `srecap_rhidp_pass_errors_total`): one event per
//! pass of an environment, bad when the pass could not run or an action failed
//! for a reason that is not the users'. Users' mistakes (an unknown status, a
//! name OCM rejects) reach them as service logs and are never bad events, so
//! they cannot burn the error budget (`slo-alerting.md` §1.5).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use srecap_observability::catalog;

use super::{RhidpError, RhidpReport};

type Labels = Vec<(String, String)>;

/// Why a pass was a bad event (the `cause` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// OCM could not be read.
    Discovery,
    /// The state store, or a sealed record that does not open.
    Store,
    /// An operator error failed the plan (an issuer mismatch, a provider
    /// without id, withheld deletes).
    Plan,
    /// Keycloak or OCM refused a write for a reason that is not the users'.
    Action,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Discovery => "discovery",
            Cause::Store => "store",
            Cause::Plan => "plan",
            Cause::Action => "action",
        }
    }

    /// The cause of a pass's outcome; `None` for a good event.
    pub fn of(result: &Result<RhidpReport, RhidpError>) -> Option<Cause> {
        match result {
            Err(RhidpError::Discovery { .. }) => Some(Cause::Discovery),
            Err(RhidpError::Records { .. }) => Some(Cause::Store),
            Ok(report) if report.execution.as_ref().is_some_and(|e| e.bad() > 0) => {
                Some(Cause::Action)
            }
            Ok(report) if report.plan.failed() => Some(Cause::Plan),
            Ok(_) => None,
        }
    }
}

/// The SLI counters, registered in the process's registry.
#[derive(Debug, Clone, Default)]
pub struct RhidpSli {
    total: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
}

impl RhidpSli {
    /// Register the SLI families in `registry`.
    pub fn register(registry: &mut Registry) -> RhidpSli {
        let sli = RhidpSli::default();
        for (def, family) in [
            (&catalog::RHIDP_PASS_TOTAL, &sli.total),
            (&catalog::RHIDP_PASS_ERRORS, &sli.errors),
        ] {
            registry.register(def.registered_name(), def.help, family.clone());
        }
        sli
    }

    /// Count one pass of `environment`.
    pub fn record(&self, environment: &str, result: &Result<RhidpReport, RhidpError>) {
        self.total
            .get_or_create(&catalog::RHIDP_PASS_TOTAL.label_pairs(&[environment]))
            .inc();
        if let Some(cause) = Cause::of(result) {
            self.errors
                .get_or_create(
                    &catalog::RHIDP_PASS_ERRORS.label_pairs(&[environment, cause.as_str()]),
                )
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discovery_failure_is_a_bad_event_and_is_exposed_with_its_cause() {
        let mut registry = Registry::default();
        let sli = RhidpSli::register(&mut registry);
        let err: Result<RhidpReport, RhidpError> = Err(RhidpError::Discovery {
            environment: "production".into(),
            source: srecap_ocm::OcmError::InvalidApiUrl {
                url: "x".into(),
                reason: "down".into(),
            },
        });
        sli.record("production", &err);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("srecap_rhidp_pass_total{ocm_env=\"production\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "srecap_rhidp_pass_errors_total{ocm_env=\"production\",cause=\"discovery\"} 1"
            ),
            "{text}"
        );
    }
}
