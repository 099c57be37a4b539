//! `srecap sim serve`: serve a scenario as the OCM API until interrupted.

use anyhow::Context as _;
use srecap_sim::{SimConfig, Simulator};

use crate::Failure;
use crate::cli::ServeArgs;
use crate::source::load;

pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    let fleet = load(args.scenario.as_deref(), None)?;
    let config = SimConfig {
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        upgrade_duration: args.upgrade_duration,
        ..SimConfig::default()
    };
    let clusters = fleet.clusters.len();
    let orgs = fleet.organizations.len();
    let now = fleet.now;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let sim = Simulator::new(fleet, config);
        // The banner is the command's output: where to point a client.
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "srecap OCM simulator: {orgs} organizations, {clusters} clusters, simulated clock at {now}\n\
                 API:   http://{addr}  (OCM REST API; try GET /api/clusters_mgmt/v1/clusters)\n\
                 Token: http://{addr}/auth/realms/redhat-external/protocol/openid-connect/token (client credentials {} / ****)\n\
                 Clock: http://{addr}/_sim/clock  (POST {{\"advance_seconds\": N}} to move time)\n\
                 Press Ctrl-C to stop.",
                args.client_id
            );
        }
        srecap_sim::run(listener, sim, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the simulator")?;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}
