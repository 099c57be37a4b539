//! `srecap aus run`: the AUS reconciler.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use jiff::Timestamp;
use srecap_controller::health::HealthProvider;
use srecap_controller::server::{self, Health};
use srecap_controller::{Config, HttpOcm, Metrics, Reconciler};
use srecap_ocm::auth::env_vars;
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};
use srecap_store::Store;

use crate::Failure;
use crate::cli::{OcmArgs, PlanOutput, RunArgs};
use crate::plan_view::render_table;

/// An OCM client from the shared connection options (flags > environment >
/// `ocm login` configuration).
pub fn client(args: &OcmArgs, metrics: Option<Arc<Metrics>>) -> Result<OcmClient, Failure> {
    let opts = connection_options(args, &|k| std::env::var(k).ok())?;
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let credentials = Credentials::resolve(&opts, &|k| std::env::var(k).ok(), home.as_deref())
        .map_err(|e| scrub(Failure::input(e), &[args.ocm_url.as_deref()]))?;
    let mut config = ClientConfig::new(credentials);
    config.max_concurrency = args.concurrency.max(1);
    if let Some(m) = metrics {
        config.observer = Some(m);
    }
    OcmClient::new(config).map_err(Failure::input)
}

/// The options [`Credentials::resolve`] ranks. clap copies `OCM_CLIENT_ID` and
/// `OCM_CLIENT_SECRET` into the flags' fields (so that `--help` names them); a
/// value that came from the environment goes back to `resolve`'s environment tier,
/// which ranks below `--token-file`, unless it completes a pair whose other half
/// was given on the command line or in `--client-secret-file`.
fn connection_options(
    args: &OcmArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectionOptions, Failure> {
    let from_file = args
        .client_secret_file
        .as_deref()
        .map(read_secret_file)
        .transpose()?;
    let id_from_env = args.client_id.is_some() && args.client_id == env(env_vars::CLIENT_ID);
    let secret_from_env = from_file.is_none()
        && args.client_secret.is_some()
        && args.client_secret == env(env_vars::CLIENT_SECRET);
    let secret = from_file.or_else(|| args.client_secret.clone());
    let id_explicit = args.client_id.is_some() && !id_from_env;
    let secret_explicit = secret.is_some() && !secret_from_env;
    let keep_env = args.token_file.is_none() && (id_explicit || secret_explicit);
    Ok(ConnectionOptions {
        api_url: args.ocm_url.clone(),
        token_url: args.token_url.clone(),
        client_id: args.client_id.clone().filter(|_| keep_env || !id_from_env),
        client_secret: secret.filter(|_| keep_env || !secret_from_env),
        offline_token: None,
        token_file: args.token_file.clone(),
        scopes: None,
    })
}

/// The client secret in `path`, without surrounding whitespace (a mounted Secret
/// or `echo` adds a newline).
fn read_secret_file(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the client secret file {}", path.display()))
        .map_err(Failure::input)?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "the client secret file {} is empty",
            path.display()
        )));
    }
    Ok(secret.to_owned())
}

/// `url` with its password, if any, replaced by `***`: for logs and messages.
pub fn redact_url(url: &str) -> String {
    match password_of(url) {
        Some(password) => url.replacen(&format!(":{password}@"), ":***@", 1),
        None => url.to_owned(),
    }
}

/// The password of a `scheme://user:password@host` URL, as written in it.
fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = &userinfo[userinfo.find(':')? + 1..];
    (!password.is_empty()).then_some(password)
}

/// `failure` with the passwords of `urls` masked in every message of its chain.
/// An error that shows none of them keeps its type (a broken pipe stays one).
fn scrub(failure: Failure, urls: &[Option<&str>]) -> Failure {
    let passwords: Vec<&str> = urls
        .iter()
        .flatten()
        .filter_map(|u| password_of(u))
        .collect();
    let leaks = |text: &str| passwords.iter().any(|p| text.contains(&format!(":{p}@")));
    if !failure.error.chain().any(|e| leaks(&e.to_string())) {
        return failure;
    }
    let mask = |text: String| {
        passwords
            .iter()
            .fold(text, |t, p| t.replace(&format!(":{p}@"), ":***@"))
    };
    let mut messages: Vec<String> = failure.error.chain().map(|e| mask(e.to_string())).collect();
    let mut error = anyhow::Error::msg(messages.pop().unwrap_or_default());
    while let Some(outer) = messages.pop() {
        error = error.context(outer);
    }
    Failure {
        code: failure.code,
        error,
    }
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    run_reconciler(args).map_err(|failure| {
        scrub(
            failure,
            &[
                args.state.as_deref(),
                args.ocm.ocm_url.as_deref(),
                args.ocm.token_url.as_deref(),
                args.health_prometheus.as_deref(),
            ],
        )
    })
}

fn run_reconciler(args: &RunArgs) -> Result<(), Failure> {
    let metrics = Metrics::new(&args.environment);
    let client = client(&args.ocm, Some(metrics.clone()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let state_url = match &args.state {
            Some(url) => url.clone(),
            None => srecap_store::default_url().map_err(Failure::input)?.to_string(),
        };
        let store = Store::open(&state_url)
            .await
            .with_context(|| format!("opening the state store {}", redact_url(&state_url)))
            .map_err(Failure::input)?;
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
            ignore_sts: args.ignore_sts,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ocm_args(id: Option<&str>, secret: Option<&str>) -> OcmArgs {
        OcmArgs {
            ocm_url: None,
            token_url: None,
            client_id: id.map(str::to_owned),
            client_secret: secret.map(str::to_owned),
            client_secret_file: None,
            token_file: None,
            concurrency: 8,
        }
    }

    fn env_with(
        id: Option<&'static str>,
        secret: Option<&'static str>,
    ) -> impl Fn(&str) -> Option<String> {
        move |k| match k {
            env_vars::CLIENT_ID => id.map(str::to_owned),
            env_vars::CLIENT_SECRET => secret.map(str::to_owned),
            _ => None,
        }
    }

    #[test]
    fn client_secret_file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  s3cret\n").unwrap();
        let mut args = ocm_args(Some("id"), Some("flag-secret"));
        args.client_secret_file = Some(path.clone());
        let opts = connection_options(&args, &env_with(None, None)).unwrap();
        assert_eq!(opts.client_id.as_deref(), Some("id"));
        assert_eq!(opts.client_secret.as_deref(), Some("s3cret"));

        std::fs::write(&path, "\n").unwrap();
        let err = connection_options(&args, &env_with(None, None)).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.error.to_string().contains("is empty"),
            "{:#}",
            err.error
        );
        args.client_secret_file = Some(dir.path().join("missing"));
        assert_eq!(
            connection_options(&args, &env_with(None, None))
                .unwrap_err()
                .code,
            2
        );
    }

    #[test]
    fn environment_values_keep_their_rank_below_token_file() {
        // Both halves from the environment: resolve's environment tier takes them.
        let args = ocm_args(Some("env-id"), Some("env-secret"));
        let opts =
            connection_options(&args, &env_with(Some("env-id"), Some("env-secret"))).unwrap();
        assert_eq!((opts.client_id, opts.client_secret), (None, None));

        // A flag id pairs with the environment's secret.
        let args = ocm_args(Some("flag-id"), Some("env-secret"));
        let opts = connection_options(&args, &env_with(None, Some("env-secret"))).unwrap();
        assert_eq!(opts.client_id.as_deref(), Some("flag-id"));
        assert_eq!(opts.client_secret.as_deref(), Some("env-secret"));

        // ... unless --token-file is given: then the id names the token's client.
        let mut args = ocm_args(Some("flag-id"), Some("env-secret"));
        args.token_file = Some("/token".into());
        let opts = connection_options(&args, &env_with(None, Some("env-secret"))).unwrap();
        assert_eq!(opts.client_id.as_deref(), Some("flag-id"));
        assert_eq!(opts.client_secret, None);

        // Flags alone are passed as they are.
        let args = ocm_args(Some("id"), Some("secret"));
        let opts = connection_options(&args, &env_with(None, None)).unwrap();
        assert_eq!(opts.client_secret.as_deref(), Some("secret"));
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://srecap:pa:ss@db.example:5432/srecap?sslmode=require"),
            "postgres://srecap:***@db.example:5432/srecap?sslmode=require"
        );
        assert_eq!(redact_url("https://user@host/x"), "https://user@host/x");
        assert_eq!(
            redact_url("sqlite:/var/lib/srecap/state.db"),
            "sqlite:/var/lib/srecap/state.db"
        );
        assert_eq!(redact_url("http://h/a:b@c"), "http://h/a:b@c");
    }

    #[test]
    fn scrub_masks_every_message_of_the_chain() {
        let url = "postgres://u:hunter2@db/srecap";
        let failure = Failure::input(
            anyhow::anyhow!("cannot connect to {url}").context(format!("opening {url}")),
        );
        let scrubbed = scrub(failure, &[Some(url), None]);
        assert_eq!(scrubbed.code, 2);
        let text = format!("{:#}", scrubbed.error);
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(
            text,
            "opening postgres://u:***@db/srecap: cannot connect to postgres://u:***@db/srecap"
        );
    }
}
