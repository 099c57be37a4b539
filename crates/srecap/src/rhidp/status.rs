//! `srecap rhidp status`: per cluster with an rhidp label, what the planner
//! makes of it (the reconciler's own decision, not a re-implementation): the
//! effective status, auth name, issuer, SSO client and its record, the
//! identity provider, problems, and the actions the next pass would take.
//!
//! The source rules are `aus status`'s ([`SourceArgs`]): OCM when pointed at
//! it, a scenario with `--scenario` (records from its `secrets` section), the
//! embedded example otherwise. On OCM the client records are read only when
//! `--state` is given, and then the sealing key is required; without them the
//! record column says `unknown` and the planned actions assume an empty store.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use srecap_rhidp::cluster::{Disposition, OffReason};
use srecap_rhidp::plan::{Action, IdpListState, OperatorError, SsoClientAction};
use srecap_rhidp::record::{RecordState, StoredRecord};
use srecap_rhidp::{IdpListing, Planner, Snapshot, State};

use super::RealmArgs;
use crate::Failure;
use crate::output::{self, Format, indent, table};
use crate::source::{DataSource, SourceArgs};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this organization's clusters.
    #[arg(long, value_name = "ID")]
    pub org: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub realms: RealmArgs,
    /// On OCM with --state: the file holding the client records' sealing key
    /// (else `SRECAP_SECRET_KEY`).
    #[arg(long, value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Namespace root of the client records (`<root>/<environment>`).
    #[arg(long, value_name = "NAME", default_value = "rhidp")]
    pub secret_namespace: String,
    /// Output format: table (default, fits $COLUMNS), wide, json or yaml.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Format>,
}

/// The whole status, as `-o json|yaml` prints it.
#[derive(Debug, Serialize)]
pub struct StatusView {
    pub source: String,
    pub now: Timestamp,
    pub ocm_environment: String,
    pub clusters: Vec<ClusterStatus>,
    /// Problems for the operator (records, issuer mismatches, orphans).
    pub operator_errors: Vec<OperatorError>,
    /// What the next pass would do, in the reference's action shapes.
    pub next_pass: Vec<Value>,
}

/// One cluster's row.
#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub cluster_id: String,
    pub organization: String,
    /// `enabled`, `enforced`, `sso-client-only`, `disabled`, or `invalid`.
    pub status: String,
    /// What the capability does with it: `on`, `off`, `organization-not-allowed`,
    /// `configuration-error`, `external-auth`, `no-console`.
    pub state: &'static str,
    pub auth_name: Option<String>,
    pub issuer: Option<String>,
    /// The SSO client key (Keycloak `clientId`).
    pub sso_client: Option<String>,
    /// `registered`, `pending`, `unreadable`, `none`, or `unknown` (no store read).
    pub record: &'static str,
    /// The managed provider on the cluster: `present`, `absent`, `unreadable`.
    pub identity_provider: &'static str,
    pub problems: Vec<String>,
    pub next_pass: Vec<Value>,
    /// Providers `enforced` keeps because `.keep-idps` names them (W9).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_idps: Vec<String>,
}

pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    let source = args.source.source()?;
    let view = match &source {
        DataSource::Scenario(_) | DataSource::Example => {
            let path = match &source {
                DataSource::Scenario(p) => Some(p.as_path()),
                _ => None,
            };
            let fleet = crate::source::load(path, args.source.now)?;
            let realms: Vec<String> = fleet.sso.realms.iter().map(|r| r.issuer.clone()).collect();
            let settings = args.realms.settings(&realms)?;
            let snapshot = super::scenario::snapshot(&fleet, None);
            let namespace = format!("{}/{}", args.secret_namespace, fleet.environment);
            let state = super::scenario::state(&fleet, &namespace);
            let label = match path {
                Some(p) => format!("scenario {}", p.display()),
                None => "embedded example fleet (examples/fleet.yaml)".to_owned(),
            };
            view(
                &label,
                &Planner::new(settings),
                &snapshot,
                &state,
                true,
                fleet.now,
                args.org.as_deref(),
            )
        }
        DataSource::Ocm => live(args)?,
    };
    output::write(Format::chosen(args.output), &view, render)
}

fn live(args: &StatusArgs) -> Result<StatusView, Failure> {
    let settings = args.realms.settings(&[])?;
    let client = crate::connection::client(&args.source.ocm, None)?;
    let environment = args.source.environment.clone();
    let now = args.source.now.unwrap_or_else(Timestamp::now);
    let secrets = match &args.source.state {
        Some(url) => {
            let key = super::run::sealing_key(args.secret_key_file.as_deref())?;
            Some((url.clone(), key))
        }
        None => None,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let state = match secrets {
            Some((url, key)) => {
                let store = super::run::open_store(&url, true).await?;
                let namespace = srecap_controller::rhidp::records_namespace(
                    &args.secret_namespace,
                    &environment,
                );
                Some(
                    super::run::read_state(
                        &store.secrets(key),
                        &args.secret_namespace,
                        &environment,
                    )
                    .await
                    .with_context(|| format!("reading the client records of {namespace}"))?,
                )
            }
            None => None,
        };
        let read = state.is_some();
        let state = state.unwrap_or_default();
        let owners = srecap_controller::rhidp::record_owners(&state);
        let snapshot = srecap_controller::rhidp::discovery::discover(
            &client,
            &environment,
            &|_| true,
            &owners,
        )
        .await
        .with_context(|| {
            format!("discovering the rhidp clusters of OCM environment {environment}")
        })?;
        let label = format!(
            "OCM {} (environment {environment})",
            crate::connection::redact_url(client.api_url())
        );
        Ok(view(
            &label,
            &Planner::new(settings),
            &snapshot,
            &state,
            read,
            now,
            args.org.as_deref(),
        ))
    })
}

fn view(
    source: &str,
    planner: &Planner,
    snapshot: &Snapshot,
    state: &State,
    records_read: bool,
    now: Timestamp,
    only: Option<&str>,
) -> StatusView {
    let plan = planner.plan(snapshot, state, now);
    let clusters = plan
        .clusters
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.organization_id))
        .map(|c| {
            let (state_word, auth_name, issuer, key) = match &c.disposition {
                Disposition::On(config) => (
                    "on",
                    Some(config.auth_name.clone()),
                    Some(config.issuer.clone()),
                    Some(config.key.clone()),
                ),
                Disposition::Off {
                    reason,
                    managed_name,
                } => (
                    match reason {
                        OffReason::Disabled => "off",
                        OffReason::OrganizationNotAllowed => "organization-not-allowed",
                    },
                    managed_name.clone(),
                    None,
                    None,
                ),
                Disposition::Frozen => ("configuration-error", None, None, None),
                Disposition::ExternalAuth { .. } => ("external-auth", None, None, None),
                Disposition::NoConsole => ("no-console", None, None, None),
            };
            let record = match (
                records_read,
                key.as_ref().and_then(|k| state.records.get(k)),
            ) {
                (false, _) => "unknown",
                (true, None) => "none",
                (true, Some(StoredRecord::Unreadable(_))) => "unreadable",
                (true, Some(StoredRecord::Record(r))) if r.state == RecordState::Pending => {
                    "pending"
                }
                (true, Some(StoredRecord::Record(_))) => "registered",
            };
            let identity_provider = match (
                c.identity_providers,
                snapshot.identity_providers.get(&c.cluster_id),
            ) {
                (IdpListState::Unreadable, _) | (_, None | Some(IdpListing::Unreadable)) => {
                    "unreadable"
                }
                (IdpListState::Listed, Some(IdpListing::Listed(list))) => {
                    if auth_name
                        .as_ref()
                        .is_some_and(|n| list.iter().any(|i| &i.name == n))
                    {
                        "present"
                    } else {
                        "absent"
                    }
                }
            };
            let prefix = format!("{}-{}-", c.name, c.organization_id);
            let next_pass = plan
                .actions
                .iter()
                .filter(|a| match a {
                    Action::IdentityProvider(i) => i.cluster_id() == c.cluster_id,
                    Action::SsoClient(
                        SsoClientAction::Create { client, .. }
                        | SsoClientAction::Update { client, .. },
                    ) => client.cluster_id == c.cluster_id,
                    Action::SsoClient(SsoClientAction::Delete { sso_client_id, .. }) => {
                        sso_client_id.starts_with(&prefix)
                    }
                })
                .map(Action::reference_shape)
                .collect();
            ClusterStatus {
                cluster: c.name.clone(),
                cluster_id: c.cluster_id.clone(),
                organization: c.organization_id.clone(),
                status: c
                    .effective_status
                    .map_or_else(|| "invalid".to_owned(), |s| s.as_str().to_owned()),
                state: state_word,
                auth_name,
                issuer,
                sso_client: key,
                record,
                identity_provider,
                problems: c
                    .problems
                    .iter()
                    .map(srecap_rhidp::problem::Problem::line)
                    .collect(),
                next_pass,
                kept_idps: c.kept_idps.clone(),
            }
        })
        .collect();
    StatusView {
        source: source.to_owned(),
        now,
        ocm_environment: plan.ocm_environment.clone(),
        clusters,
        operator_errors: plan.operator_errors.clone(),
        next_pass: plan.reference_actions(),
    }
}

/// One line describing an action in the reference's shape.
pub fn describe(action: &Value) -> String {
    let field = |k: &str| action.get(k).and_then(Value::as_str).unwrap_or("?");
    match (field("action_type"), action.get("sso_client_id")) {
        (kind, Some(_)) => format!("{kind} SSO client {}", field("sso_client_id")),
        ("delete", None) => format!("delete IdP {}", field("idp_name")),
        (kind, None) => format!("{kind} IdP {}", field("auth_name")),
    }
}

fn render(view: &StatusView) -> String {
    let mut s = format!(
        "Source: {}\nRed Hat IdP status at {}\n",
        view.source, view.now
    );
    if view.clusters.is_empty() {
        s.push_str("\nNo cluster has an sre-capabilities.rhidp label.\n");
    } else {
        let mut t = table(
            [
                "cluster",
                "organization",
                "status",
                "auth name",
                "issuer",
                "sso client",
                "record",
                "idp",
                "next pass",
            ],
            0,
        );
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        for c in &view.clusters {
            let next = if c.next_pass.is_empty() {
                "-".to_owned()
            } else {
                c.next_pass
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let status = if c.state == "on" || c.state == "off" {
                c.status.clone()
            } else {
                format!("{} ({})", c.status, c.state)
            };
            t.add_row(vec![
                c.cluster.clone(),
                c.organization.clone(),
                status,
                dash(&c.auth_name),
                dash(&c.issuer),
                dash(&c.sso_client),
                c.record.to_owned(),
                c.identity_provider.to_owned(),
                next,
            ]);
        }
        // The key repeats cluster, organization, auth name and issuer host,
        // and the issuer is long: they go first when the terminal is narrow.
        output::drop_to_fit(&mut t, &[5, 4, 1], 0);
        output::keep_whole(&mut t, &[0]);
        s.push('\n');
        s.push_str(&t.to_string());
        s.push('\n');
        for c in &view.clusters {
            for p in &c.problems {
                let _ = writeln!(s, "  {}: {p}", c.cluster);
            }
            if !c.kept_idps.is_empty() {
                let _ = writeln!(
                    s,
                    "  {}: enforced keeps {} (sre-capabilities.rhidp.keep-idps)",
                    c.cluster,
                    c.kept_idps.join(", ")
                );
            }
        }
    }
    if !view.operator_errors.is_empty() {
        s.push_str("\nOperator errors:\n");
        let mut lines = String::new();
        for e in &view.operator_errors {
            let _ = writeln!(lines, "- {}", e.message);
        }
        s.push_str(&indent(&lines));
    }
    s
}
