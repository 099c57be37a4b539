//! How commands reach OCM, in one place: the connection flags every command
//! that talks to OCM shares ([`OcmArgs`], with the request-rate budget), the
//! client they make, and how URLs and errors are shown without passwords.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use srecap_controller::Metrics;
use srecap_ocm::auth::env_vars;
use srecap_ocm::{ClientConfig, ConnectionOptions, Credentials, OcmClient};

use crate::Failure;

/// How to reach OCM; shared by every command that talks to it.
#[derive(Debug, Clone, Args)]
pub struct OcmArgs {
    /// OCM API URL or alias (production, stage, integration). Default: the
    /// `ocm login` configuration's URL, else `https://api.openshift.com`.
    #[arg(long, env = "OCM_URL", value_name = "URL", hide_env_values = true)]
    pub ocm_url: Option<String>,
    /// SSO token endpoint. Default: Red Hat SSO (or the `ocm login` configuration's).
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// Service-account client id (client-credentials grant).
    #[arg(long, value_name = "ID", env = "OCM_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Service-account client secret. Prefer --client-secret-file or the
    /// environment: every user of the machine can read a command line (`ps`).
    #[arg(
        long,
        value_name = "SECRET",
        env = "OCM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// File holding the service-account client secret (surrounding whitespace is
    /// ignored), e.g. a mounted Kubernetes Secret; wins over --client-secret.
    #[arg(long, value_name = "FILE", env = "OCM_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// File holding an offline token (refresh-token grant); env `OCM_OFFLINE_TOKEN`
    /// gives the token itself. Without any of these, the `ocm login`
    /// configuration (`$OCM_CONFIG` or `~/.config/ocm/ocm.json`) is used.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// OCM request-rate budget, in requests per second, shared by everything
    /// this process sends to OCM, retries included (0: no budget). The work in
    /// flight follows it: at 200 ms of latency 100 requests a second keep about
    /// 20 requests in flight, at 50 ms about 5.
    #[arg(
        long,
        value_name = "PER_SECOND",
        default_value_t = DEFAULT_OCM_RATE,
        env = "SRECAP_OCM_RATE",
        value_parser = parse_rate
    )]
    pub ocm_rate: f64,
    /// OCM requests in flight at most. Default: two seconds' worth of
    /// --ocm-rate (at least 8, at most 512); 8 without a rate budget.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
}

/// Requests a second to OCM by default: a pass over 10,000 clusters takes about
/// 25,000 requests, which this budget fits into the default 5-minute interval
/// with room for retries (BENCHMARKS.md, "One replica at 200 ms").
pub const DEFAULT_OCM_RATE: f64 = 100.0;

impl OcmArgs {
    /// The request-rate budget (none for `--ocm-rate 0`).
    pub fn rate(&self) -> Option<srecap_ocm::Rate> {
        // Validated by `parse_rate`.
        (self.ocm_rate > 0.0).then(|| srecap_ocm::Rate::per_second(self.ocm_rate).ok())?
    }

    /// Requests in flight at most: given, or two seconds' worth of the budget
    /// (latency above 2 s then leaves the budget partly unused, which is the
    /// safe side).
    pub fn in_flight(&self) -> usize {
        match (self.concurrency, self.rate()) {
            (Some(n), _) => usize::from(n),
            // At most 2,000,000 by `parse_rate`, so the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (None, Some(rate)) => ((rate.per_second * 2.0).ceil() as usize).clamp(8, 512),
            (None, None) => 8,
        }
    }

    /// What a run's start line says about the OCM budget.
    pub fn budget(&self) -> String {
        match self.rate() {
            Some(rate) => format!(
                "{} requests/s, {} in flight",
                rate.per_second,
                self.in_flight()
            ),
            None => format!("no rate budget, {} in flight", self.in_flight()),
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of requests per second"))?;
    if rate == 0.0 {
        return Ok(0.0);
    }
    srecap_ocm::Rate::per_second(rate)
        .map(|r| r.per_second)
        .map_err(|e| e.to_string())
}

/// An OCM client from the shared connection options (flags > environment >
/// `ocm login` configuration).
pub fn client(args: &OcmArgs, metrics: Option<Arc<Metrics>>) -> Result<OcmClient, Failure> {
    let opts = connection_options(args, &|k| std::env::var(k).ok())?;
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let credentials = Credentials::resolve(&opts, &|k| std::env::var(k).ok(), home.as_deref())
        .map_err(|e| scrub(Failure::input(e), &[args.ocm_url.as_deref()]))?;
    let mut config = ClientConfig::new(credentials);
    config.max_concurrency = args.in_flight();
    config.rate = args.rate();
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
pub(crate) fn scrub(failure: Failure, urls: &[Option<&str>]) -> Failure {
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
            ocm_rate: DEFAULT_OCM_RATE,
            concurrency: None,
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
