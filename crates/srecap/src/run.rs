//! `srecap aus run`: the AUS reconciler.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use jiff::Timestamp;
use srecap_controller::health::HealthProvider;
use srecap_controller::server::{self, Health};
use srecap_controller::{Config, HttpOcm, Metrics, Reconciler};
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_store::Store;

use crate::Failure;
use crate::cli::{OcmArgs, PlanOutput, RunArgs};
use crate::plan_view::render_table;

/// An OCM client from the shared connection options (flags > environment >
/// `ocm login` configuration).
pub fn client(args: &OcmArgs, metrics: Option<Arc<Metrics>>) -> Result<OcmClient, Failure> {
    let opts = ConnectionOptions {
        api_url: args.ocm_url.clone(),
        token_url: args.token_url.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        offline_token: None,
        token_file: args.token_file.clone(),
        scopes: None,
    };
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let credentials = Credentials::resolve(&opts, &|k| std::env::var(k).ok(), home.as_deref())
        .map_err(Failure::input)?;
    let mut config = ClientConfig::new(credentials);
    config.max_concurrency = args.concurrency.max(1);
    if let Some(m) = metrics {
        config.observer = Some(m);
    }
    OcmClient::new(config).map_err(Failure::input)
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let metrics = Metrics::new(&args.environment);
    let client = client(&args.ocm, Some(metrics.clone()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let state_url = match &args.state {
            Some(url) => url.clone(),
            None => srecap_store::default_url().map_err(Failure::input)?.to_string(),
        };
        let store = Store::open(&state_url).await.map_err(Failure::input)?;
        let config = Config {
            environment: args.environment.clone(),
            include: args.orgs.clone(),
            exclude: args.exclude_orgs.clone(),
            dry_run: args.dry_run,
            concurrency: args.ocm.concurrency.max(1),
            health: args.health_prometheus.as_ref().map(|url| HealthProvider {
                url: url.clone(),
                enforced: !args.health_not_enforced,
            }),
            org_deadline: std::time::Duration::try_from(args.org_deadline)
                .ok()
                .filter(|d| !d.is_zero()),
            ..Config::default()
        };
        if let Ok(interval) = std::time::Duration::try_from(args.interval) {
            metrics.set_pass_interval(interval);
        }
        let ocm = Arc::new(HttpOcm::new(client, args.ocm.concurrency));
        let reconciler = Reconciler::new(ocm, store, config, metrics.clone());
        let ready = Arc::new(AtomicBool::new(false));
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);

        let server = match args.metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr} for metrics"))?;
                tracing::info!(addr = %listener.local_addr().context("bound address")?, "serving /metrics, /healthz, /readyz");
                let health = Health { metrics: metrics.clone(), ready: ready.clone() };
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let task = tokio::spawn(server::serve(listener, health, async {
                    let _ = stopped.await;
                }));
                Some((stop, task))
            }
            None => None,
        };

        if args.once {
            let now = args.now.unwrap_or_else(Timestamp::now);
            let report = tokio::select! {
                r = reconciler.pass(now) => r.context("discovering the OCM environment")?,
                () = &mut shutdown => return Err(anyhow::anyhow!("interrupted").into()),
            };
            ready.store(true, Ordering::Relaxed);
            print_report(&report, args)?;
        } else {
            loop {
                tokio::select! {
                    r = reconciler.pass(Timestamp::now()) => match r {
                        Ok(report) => {
                            ready.store(true, Ordering::Relaxed);
                            tracing::info!(orgs = report.orgs.len(), failed = report.failed_orgs(), "pass finished");
                        }
                        Err(e) => tracing::error!(error = %e, "pass failed"),
                    },
                    // Abandon the pass: dropping it drops in-flight requests and rolls
                    // back an open store transaction; the next start resumes cleanly.
                    () = &mut shutdown => break,
                }
                let pause = std::time::Duration::try_from(args.interval).unwrap_or(std::time::Duration::from_mins(5));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = &mut shutdown => break,
                }
            }
        }
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let _ = task.await;
        }
        Ok(())
    })
}

fn print_report(report: &srecap_controller::PassReport, args: &RunArgs) -> Result<(), Failure> {
    let plan = report.plan();
    let mut out = std::io::stdout().lock();
    let output = args.output.unwrap_or(if std::io::stdout().is_terminal() {
        PlanOutput::Table
    } else {
        PlanOutput::Json
    });
    match output {
        PlanOutput::Json => {
            serde_json::to_writer_pretty(&mut out, &plan).context("writing the plan")?;
            writeln!(out).context("writing the plan")?;
        }
        PlanOutput::Table => write!(out, "{}", render_table(&plan)).context("writing the plan")?,
    }
    let mut err = std::io::stderr().lock();
    for o in &report.orgs {
        if let Err(e) = &o.result {
            let _ = writeln!(
                err,
                "warning: organization {} failed this pass: {e}",
                o.org_id
            );
        }
        for f in o.failed_actions() {
            let _ = writeln!(err, "warning: organization {}: {f}", o.org_id);
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
