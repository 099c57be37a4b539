//! `srecap rhidp …`: the Red Hat IdP capability's user surface (spec rhidp).
//!
//! * [`status`]: what the planner decides for each opted-in cluster, on OCM or
//!   on a scenario file, with the same source rules as `aus status`.
//! * [`switch`]: `enable`, `enforce` and `disable` write the subscription labels
//!   through OCM with the machinery of `aus policy` (label diff, `--dry-run`),
//!   validated by `srecap_rhidp::labels::validate` before any request.
//! * [`run`]: the reconciler, once or in a loop, with the sealed client records.
//! * [`scenario`]: a scenario file as the planner's snapshot and state.
//!
//! The realms every command needs (which issuers are valid, the default one)
//! come from one set of flags, [`RealmArgs`], so `enable --issuer` refuses
//! exactly what the reconciler would.

pub mod run;
pub mod scenario;
pub mod status;
pub mod switch;

use clap::{Args, Subcommand};
use srecap_rhidp::settings::{DEFAULT_AUTH_NAME, DEFAULT_ISSUER, KeycloakInstance, Settings};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum RhidpCommand {
    /// Every cluster with an sre-capabilities.rhidp label: effective status, auth
    /// name, issuer, SSO client, identity provider, problems, and what the next
    /// pass would do.
    Status(Box<status::StatusArgs>),
    /// Switch the Red Hat IdP on for a cluster: an SSO client and an identity
    /// provider (labels `.status=enabled` and the given settings).
    Enable(Box<switch::SwitchOnArgs>),
    /// As `enable`, and remove every other identity provider of the cluster once
    /// the Red Hat IdP works (`.status=enforced`), except those `--keep-idps`
    /// names (`.keep-idps`).
    Enforce(Box<switch::EnforceArgs>),
    /// Switch the Red Hat IdP off: the identity provider, then the SSO client
    /// are removed by the next pass (`.status=disabled`).
    Disable(Box<switch::SwitchOffArgs>),
    /// Run the reconciler: register SSO clients, keep their sealed records and
    /// configure identity providers, one pass or a pass every interval.
    Run(Box<run::RunArgs>),
}

pub fn run(command: &RhidpCommand) -> Result<(), Failure> {
    match command {
        RhidpCommand::Status(args) => status::run(args),
        RhidpCommand::Enable(args) => {
            switch::switch_on(args, srecap_rhidp::labels::Status::Enabled)
        }
        RhidpCommand::Enforce(args) => switch::enforce(args),
        RhidpCommand::Disable(args) => switch::switch_off(args),
        RhidpCommand::Run(args) => run::run(args),
    }
}

/// The Keycloak realms the capability may use, and the defaults for clusters
/// without `.name` or `.issuer` labels (spec I67).
#[derive(Debug, Clone, Args)]
pub struct RealmArgs {
    /// Issuer URL of a Keycloak realm SSO clients may be registered in
    /// (repeatable); an `.issuer` label must name one of them. Default: the
    /// default issuer (on a scenario: its `sso` realms).
    #[arg(long = "keycloak", value_name = "ISSUER")]
    pub keycloak: Vec<String>,
    /// Issuer of clusters without an `.issuer` label. Default:
    /// `https://auth.redhat.com/auth/realms/EmployeeIDP` when it is configured,
    /// else the first --keycloak.
    #[arg(long, value_name = "ISSUER")]
    pub default_issuer: Option<String>,
    /// Identity-provider name of clusters without a `.name` label.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_AUTH_NAME)]
    pub default_auth_name: String,
}

impl RealmArgs {
    /// The configured issuers: the flags, else `fallback` (a scenario's realms),
    /// else the reference default.
    pub fn issuers(&self, fallback: &[String]) -> Vec<String> {
        if !self.keycloak.is_empty() {
            return self.keycloak.clone();
        }
        if !fallback.is_empty() {
            return fallback.to_vec();
        }
        vec![
            self.default_issuer
                .clone()
                .unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
        ]
    }

    /// The planner's settings (exit 2 when they contradict each other).
    pub fn settings(&self, fallback: &[String]) -> Result<Settings, Failure> {
        let issuers = self.issuers(fallback);
        let default_issuer = match &self.default_issuer {
            Some(issuer) => issuer.clone(),
            None if issuers.iter().any(|i| i == DEFAULT_ISSUER) => DEFAULT_ISSUER.to_owned(),
            None => issuers
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
        };
        let instances = issuers
            .into_iter()
            .map(|issuer| KeycloakInstance { issuer })
            .collect();
        Settings::with_defaults(&self.default_auth_name, &default_issuer, instances).map_err(|e| {
            Failure::input(
                anyhow::Error::new(e).context(
                    "the Keycloak realms (--keycloak, --default-issuer, --default-auth-name)",
                ),
            )
        })
    }
}
