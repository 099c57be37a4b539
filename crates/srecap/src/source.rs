//! Where a command's fleet comes from, in one place: the scenario file, the
//! embedded example, or OCM with the reconciler's stored soak history, chosen
//! like a kubectl context ([`SourceArgs`]).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use jiff::Timestamp;
use srecap_controller::HttpOcm;
use srecap_controller::health::HealthProvider;
use srecap_controller::snapshot::Snapshot;
use srecap_fleet::Fleet;
use srecap_store::Store;

use crate::Failure;
use crate::connection::OcmArgs;

/// Where the fleet comes from, like kubectl's context: OCM when the user points
/// at it (connection flags, `OCM_URL`, an `ocm login`), a scenario file with
/// `--scenario`, the embedded example with `--example` or when nothing else is
/// configured. Contradictory choices are refused (exit 2), and every table says
/// its source in its first line.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Scenario file (YAML or JSON; docs/scenario.md).
    #[arg(long, short = 's', value_name = "FILE", conflicts_with_all = ["live", "example"])]
    pub scenario: Option<PathBuf>,
    /// The embedded example fleet (examples/fleet.yaml), even where OCM is
    /// configured. Without any source option and without OCM configured, it is
    /// the default.
    #[arg(long, conflicts_with = "live")]
    pub example: bool,
    /// Evaluate at this instant (RFC 3339) instead of the scenario's `now` (or,
    /// on OCM, the current time).
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,
    /// Read the fleet from OCM and the soak history from the reconciler's state
    /// store (--state). Implied by any connection flag, `OCM_URL` or an `ocm
    /// login`. Nothing is written anywhere.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub ocm: OcmArgs,
    /// On OCM: the reconciler's state store (`sqlite:PATH` or `memory:`).
    /// Default as `aus run`: `sqlite:$XDG_DATA_HOME/srecap/state.db`.
    #[arg(long, value_name = "URL", env = "SRECAP_STATE", hide_env_values = true)]
    pub state: Option<String>,
    /// On OCM: environment name, the first part of the state keys.
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// On OCM: the Telemeter-like Prometheus `aus run` uses for cluster health
    /// (unhealthy clusters add no soak time). Default: every cluster is healthy.
    #[arg(long, value_name = "URL")]
    pub health_prometheus: Option<String>,
    /// Health errors are informational only, as `aus run --health-not-enforced`.
    #[arg(long, requires = "health_prometheus")]
    pub health_not_enforced: bool,
}

/// The source a command reads, once the options are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    Ocm,
    Scenario(PathBuf),
    Example,
}

/// A fleet and the line that says where it came from.
#[derive(Debug)]
pub struct Sourced {
    pub fleet: Fleet,
    /// `OCM https://api.openshift.com (environment production)`,
    /// `scenario fleet.yaml`, `embedded example fleet (examples/fleet.yaml)`.
    pub source: String,
}

/// Picks the organization whose per-cluster data a live read needs (`None`: all),
/// from the fleet-wide discovery; an error stops before any per-cluster call.
pub type Scope<'a> = dyn Fn(&Fleet, Timestamp) -> Result<Option<String>, Failure> + 'a;

impl SourceArgs {
    /// Which source the options point at (see [`SourceArgs`]); exit 2 when
    /// they point at two.
    pub fn source(&self) -> Result<DataSource, Failure> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        self.source_in(&env, std::env::var_os("HOME").map(PathBuf::from).as_deref())
    }

    fn source_in(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&std::path::Path>,
    ) -> Result<DataSource, Failure> {
        // Options given on the command line (a value clap took from the
        // environment is configuration, not a choice made for this command).
        let typed =
            |value: Option<&str>, var: &str| value.is_some_and(|v| env(var).as_deref() != Some(v));
        let ocm = &self.ocm;
        let secret_file = ocm
            .client_secret_file
            .as_ref()
            .map(|p| p.display().to_string());
        let pointed_at_ocm: Vec<&str> = [
            ("--live", self.live),
            ("--ocm-url", typed(ocm.ocm_url.as_deref(), "OCM_URL")),
            (
                "--client-id",
                typed(ocm.client_id.as_deref(), "OCM_CLIENT_ID"),
            ),
            (
                "--client-secret",
                typed(ocm.client_secret.as_deref(), "OCM_CLIENT_SECRET"),
            ),
            (
                "--client-secret-file",
                typed(secret_file.as_deref(), "OCM_CLIENT_SECRET_FILE"),
            ),
            ("--token-url", ocm.token_url.is_some()),
            ("--token-file", ocm.token_file.is_some()),
            ("--state", typed(self.state.as_deref(), "SRECAP_STATE")),
            ("--health-prometheus", self.health_prometheus.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        let file = match (&self.scenario, self.example) {
            (Some(path), _) => Some(("--scenario", DataSource::Scenario(path.clone()))),
            (None, true) => Some(("--example", DataSource::Example)),
            (None, false) => None,
        };
        match file {
            Some((flag, _)) if !pointed_at_ocm.is_empty() => Err(Failure::input(anyhow::anyhow!(
                "{flag} reads a fleet from a file, {} read OCM: give one or the other",
                pointed_at_ocm.join(", ")
            ))),
            Some((_, source)) => Ok(source),
            None if !pointed_at_ocm.is_empty()
                || srecap_ocm::auth::connection_configured(env, home) =>
            {
                Ok(DataSource::Ocm)
            }
            None => Ok(DataSource::Example),
        }
    }

    /// The fleet to explain, from the source the options point at.
    pub fn fleet(&self, source: &DataSource, scope: &Scope<'_>) -> Result<Sourced, Failure> {
        match source {
            DataSource::Scenario(path) => Ok(Sourced {
                fleet: load(Some(path), self.now)?,
                source: format!("scenario {}", path.display()),
            }),
            DataSource::Example => Ok(Sourced {
                fleet: load(None, self.now)?,
                source: "embedded example fleet (examples/fleet.yaml)".to_owned(),
            }),
            DataSource::Ocm => {
                let client = crate::connection::client(&self.ocm, None)?;
                let runtime =
                    tokio::runtime::Runtime::new().context("starting the async runtime")?;
                let fleet = runtime.block_on(self.live_fleet(&client, scope))?;
                Ok(Sourced {
                    fleet,
                    source: format!(
                        "OCM {} (environment {})",
                        crate::connection::redact_url(client.api_url()),
                        self.environment
                    ),
                })
            }
        }
    }

    /// The logged-in account's organization (`GET current_account`), for commands
    /// whose `--org` defaults to it.
    pub fn logged_in_org(&self) -> Result<String, Failure> {
        let client = crate::connection::client(&self.ocm, None)?;
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(crate::configuration::org_id(&client, None))
    }

    /// Discovery, then for the organization in scope every per-cluster fact
    /// (an explanation shows every condition) and the stored histories of it
    /// and of the organizations it inherits from: the controller's snapshot.
    async fn live_fleet(
        &self,
        client: &srecap_ocm::OcmClient,
        scope: &Scope<'_>,
    ) -> Result<Fleet, Failure> {
        let now = self.now.unwrap_or_else(Timestamp::now);
        let ocm = HttpOcm::new(client.clone(), self.ocm.in_flight());
        let snapshot = Snapshot::discover(&ocm, &self.environment, now)
            .await
            .context("discovering the AUS clusters in OCM")?;
        for (org, reason) in &snapshot.broken_orgs {
            tracing::warn!(org = %org, %reason, "OCM gave unusable data for this organization");
        }
        let only = scope(&snapshot.fleet, now)?;
        let url = match &self.state {
            Some(url) => url.clone(),
            None => srecap_store::default_url()
                .map_err(Failure::input)?
                .to_string(),
        };
        let store = Store::open(&url).await.map_err(Failure::input)?;
        let health = self.health_prometheus.as_ref().map(|url| HealthProvider {
            url: url.clone(),
            enforced: !self.health_not_enforced,
        });
        let mut fleet = snapshot
            .complete(&ocm, Some(&store), only.as_deref(), health.as_ref())
            .await
            .context(
                "reading the clusters' policies, agreements, channels, health and soak history",
            )?;
        fleet.now = now;
        Ok(fleet)
    }
}

/// The example fleet, embedded so that the main commands work on a fresh machine
/// without any file.
pub const EXAMPLE_FLEET: &str = include_str!("../../../examples/fleet.yaml");

/// Load a scenario (the embedded example when `path` is `None`); `now` overrides
/// the scenario's `now` (and the upgrades OCM offers at that instant are derived
/// again from the release catalog).
pub fn load(path: Option<&std::path::Path>, now: Option<Timestamp>) -> Result<Fleet, Failure> {
    let mut fleet = match path {
        Some(path) => srecap_fleet::load_scenario(path, Timestamp::now()),
        None => srecap_fleet::parse_scenario(
            EXAMPLE_FLEET,
            "examples/fleet.yaml (embedded)",
            Timestamp::now(),
        ),
    }
    .map_err(Failure::input)?;
    if let Some(now) = now {
        fleet.now = now;
        let releases = fleet.releases.clone();
        for c in fleet
            .clusters
            .iter_mut()
            .filter(|c| !c.available_upgrades_explicit)
        {
            c.available_upgrades = srecap_fleet::model::derive_available_upgrades(
                &releases,
                &c.version,
                &c.channel_group,
                now,
            )
            .into();
        }
    }
    Ok(fleet)
}
