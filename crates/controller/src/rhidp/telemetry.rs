//! Everything the Red Hat `IdP` capability exposes on `/metrics`: its SLI
//! ([`RhidpSli`]) and the reference's and srecap's metrics ([`RhidpMetrics`]),
//! in one registry that a process serving several capabilities appends to its
//! exposition ([`crate::server::Exposition`]).
//!
//! The reconciler records each pass here itself (not the loop around it), so
//! `rhidp run --once`, the loop and `srecap run` count passes alike; a dry run
//! is never counted, since it proves nothing about the service.

use std::sync::Arc;

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::registry::Registry;

use super::metrics::RhidpMetrics;
use super::sli::RhidpSli;
use super::{RhidpError, RhidpReport};
use crate::server::Families;

/// The rhidp SLI and metrics of one process (every environment).
#[derive(Debug)]
pub struct RhidpTelemetry {
    registry: Registry,
    pub sli: RhidpSli,
    pub metrics: RhidpMetrics,
}

impl RhidpTelemetry {
    pub fn new() -> Arc<RhidpTelemetry> {
        let mut registry = Registry::default();
        let sli = RhidpSli::register(&mut registry);
        let metrics = RhidpMetrics::new();
        metrics.register(&mut registry);
        Arc::new(RhidpTelemetry {
            registry,
            sli,
            metrics,
        })
    }

    /// Count one pass of `environment` in the SLI and the metrics.
    pub fn record(&self, environment: &str, result: &Result<RhidpReport, RhidpError>) {
        self.sli.record(environment, result);
        match result {
            Ok(report) => self.metrics.record(environment, report),
            Err(_) => self.metrics.record_failure(environment),
        }
    }

    /// The OpenMetrics text of the rhidp families alone, with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_families(&mut out);
        out.push_str("# EOF\n");
        out
    }
}

impl Families for RhidpTelemetry {
    fn encode_families(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = encode_registry(out, &self.registry);
    }
}
