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
    /// Shared with the Keycloak client, which reports its requests here.
    pub metrics: Arc<RhidpMetrics>,
}

impl RhidpTelemetry {
    pub fn new() -> Arc<RhidpTelemetry> {
        let mut registry = Registry::default();
        let sli = RhidpSli::register(&mut registry);
        let metrics = Arc::new(RhidpMetrics::new());
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

    /// A Keycloak client that reports its requests here (I65).
    pub fn observe(&self, sso: srecap_sso::SsoClient) -> srecap_sso::SsoClient {
        sso.with_observer(self.metrics.clone())
    }

    /// The expiry of each realm's initial access token, per environment
    /// served (I65 `rhidp_sso_client_inital_access_token_expiration`): `path`
    /// is where the token was read from, never the token. A token that is not
    /// a JWT with `exp` has no series; a warning says so once.
    pub fn record_tokens(
        &self,
        environments: &[&str],
        realms: &std::collections::BTreeMap<String, super::Realm>,
        sources: &std::collections::BTreeMap<String, String>,
    ) {
        for (issuer, realm) in realms {
            let path = sources.get(issuer).map_or(issuer.as_str(), String::as_str);
            let mut known = true;
            for environment in environments {
                known &= self
                    .metrics
                    .record_iat(environment, path, &realm.iat)
                    .is_some();
            }
            if !known {
                tracing::warn!(capability = super::CAPABILITY, realm = %issuer, token_from = %path, "the initial access token carries no expiry (not a JWT with `exp`): its expiry is not exported and RHIDPInitialAccessTokenExpiring cannot warn");
            }
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
