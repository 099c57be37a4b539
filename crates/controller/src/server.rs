//! The metrics and health endpoints: `/metrics`, `/healthz`, `/readyz`.
//!
//! Design decisions:
//! * `/healthz` answers as long as the process serves requests: a liveness
//!   probe that fails on a slow OCM or store would have Kubernetes restart a
//!   replica that is merely waiting.
//! * `/readyz` reflects the present ([`Readiness`]): the store answers now and a
//!   pass finished within two intervals. A replica cut off from its store, or
//!   whose loop is stuck, is taken out of the Service.
//! * `/metrics` carries tenants' cluster names, schedules and workloads, so it
//!   can be served over TLS ([`Tls`]) and behind a bearer token, as Kubernetes
//!   controllers do by default; the probes stay open, since the kubelet sends
//!   no token.
//! * TLS is rustls through `tokio-rustls` (the rustls project's own tokio
//!   binding, already in the dependency graph through reqwest and sqlx) with
//!   the ring provider that sqlx's PostgreSQL TLS uses: no OpenSSL to link and
//!   no second crypto provider. axum serves any [`axum::serve::Listener`], so
//!   a TLS listener is a few lines and needs no extra server crate (axum-server
//!   would have brought a second accept loop and its own graceful-shutdown
//!   handle). Handshakes run in their own tasks, with a timeout, so a client
//!   that stalls mid-handshake never blocks other scrapes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use srecap_store::Store;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

use crate::metrics::Metrics;

/// How long `/readyz` waits for the store before calling it unreachable.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A part of the `/metrics` exposition: one capability's metric families.
pub trait Families: Send + Sync {
    /// Append the families in OpenMetrics text, without `# EOF`.
    fn encode_families(&self, out: &mut String);
}

impl Families for Metrics {
    fn encode_families(&self, out: &mut String) {
        Metrics::encode_families(self, out);
    }
}

/// What `/metrics` serves: the families of every capability the process runs,
/// in one exposition (each family once, one `# EOF`).
#[derive(Clone, Default)]
pub struct Exposition {
    parts: Vec<Arc<dyn Families>>,
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("parts", &self.parts.len())
            .finish()
    }
}

impl Exposition {
    /// An exposition of `part` alone.
    pub fn of(part: Arc<dyn Families>) -> Exposition {
        Exposition { parts: vec![part] }
    }

    /// Add `part` after the families already there.
    #[must_use]
    pub fn with(mut self, part: Arc<dyn Families>) -> Exposition {
        self.parts.push(part);
        self
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            part.encode_families(&mut out);
        }
        out.push_str("# EOF\n");
        out
    }

    /// The classic Prometheus text (0.0.4).
    pub fn encode_text(&self) -> String {
        crate::metrics::classic_text(&self.encode())
    }
}

impl From<Arc<Metrics>> for Exposition {
    fn from(metrics: Arc<Metrics>) -> Exposition {
        Exposition::of(metrics)
    }
}

/// Shared state of the endpoints.
#[derive(Debug, Clone)]
pub struct Health {
    pub metrics: Exposition,
    pub readiness: Arc<Readiness>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub bearer_token: Option<Arc<str>>,
}

/// Whether the service can do its job now: the store answers, and every loop
/// (one per capability) finished a pass recently.
#[derive(Debug)]
pub struct Readiness {
    store: Option<Store>,
    loops: Vec<LoopReadiness>,
}

/// One loop's part of [`Readiness`].
#[derive(Debug)]
struct LoopReadiness {
    /// The capability the loop runs (`aus`, `rhidp`); empty for the single
    /// loop of [`Readiness::new`].
    name: &'static str,
    max_age: Duration,
    last_pass: Mutex<Option<Instant>>,
}

impl LoopReadiness {
    fn age(&self) -> Option<Duration> {
        self.last_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|at| at.elapsed())
    }
}

impl Readiness {
    /// Readiness of a loop with passes every `interval`, probing `store` (none:
    /// no store to probe). A pass must have finished within two intervals.
    pub fn new(store: Option<Store>, interval: Duration) -> Readiness {
        Readiness::for_loops(store, &[("", interval)])
    }

    /// Readiness of several loops (capability, interval) in one process: each
    /// must have finished a pass within two of its intervals.
    pub fn for_loops(store: Option<Store>, loops: &[(&'static str, Duration)]) -> Readiness {
        Readiness {
            store,
            loops: loops
                .iter()
                .map(|(name, interval)| LoopReadiness {
                    name,
                    max_age: interval.saturating_mul(2),
                    last_pass: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// A pass finished (its environment was discovered); with one loop, that
    /// loop's.
    pub fn pass_finished(&self) {
        if let Some(only) = self.loops.first() {
            *only
                .last_pass
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }

    /// A pass of the loop running `capability` finished (the only loop's when
    /// there is one and it has no name).
    pub fn pass_finished_by(&self, capability: &str) {
        let found = self
            .loops
            .iter()
            .find(|l| l.name == capability)
            .or_else(|| self.loops.iter().find(|l| l.name.is_empty()));
        if let Some(l) = found {
            *l.last_pass.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }

    /// How long ago the last pass finished (the oldest of the loops' last
    /// passes), if every loop finished one.
    pub fn last_pass_age(&self) -> Option<Duration> {
        let mut oldest = Duration::ZERO;
        for l in &self.loops {
            oldest = oldest.max(l.age()?);
        }
        Some(oldest)
    }

    /// `Ok` when ready, else why not (the store first: the most likely cause
    /// of stale passes, and the one an operator must act on).
    pub async fn check(&self) -> Result<(), String> {
        if let Some(store) = &self.store {
            match tokio::time::timeout(STORE_PROBE_TIMEOUT, store.schema_version()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("the state store is unreachable: {e}")),
                Err(_) => {
                    return Err(format!(
                        "the state store did not answer within {}s",
                        STORE_PROBE_TIMEOUT.as_secs()
                    ));
                }
            }
        }
        for l in &self.loops {
            let whose = if l.name.is_empty() {
                String::new()
            } else {
                format!(" of {}", l.name)
            };
            match l.age() {
                None => return Err(format!("no pass{whose} completed yet")),
                Some(age) if age > l.max_age => {
                    return Err(format!(
                        "the last pass{whose} finished {}s ago, more than two intervals ({}s)",
                        age.as_secs(),
                        l.max_age.as_secs()
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

pub fn router(health: Health) -> Router {
    let metrics_route = Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(health.clone(), authorize));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(metrics_route)
        .with_state(health)
}

/// The bearer-token check of `/metrics`.
async fn authorize(State(h): State<Health>, request: Request, next: Next) -> Response {
    let Some(expected) = &h.bearer_token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if same(token.trim().as_bytes(), expected.as_bytes()) => {
            next.run(request).await
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid bearer token is required for /metrics\n",
        )
            .into_response(),
    }
}

/// Equality that takes the same time wherever the first difference is, so the
/// token cannot be guessed byte by byte from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// OpenMetrics when the scraper asks for it (Prometheus does), the classic text
/// format otherwise, as the official client libraries negotiate.
async fn metrics(State(h): State<Health>, headers: HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            h.metrics.encode(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            h.metrics.encode_text(),
        )
    }
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    match h.readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Why TLS could not be set up for the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or holds no usable PEM.
    #[error("reading {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// rustls refused the certificate chain and key (for example a key that
    /// does not match the certificate).
    #[error("the certificate {cert} and key {key} cannot be used together: {source}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// TLS for the metrics endpoint.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// TLS from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1), as cert-manager or a mounted Secret provide them.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let read = |what, path: &Path, reason: String| TlsError::Read {
            what,
            path: path.to_owned(),
            reason,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| read("the certificate", cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| read("the certificate", cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(read(
                "the certificate",
                cert,
                "it holds no PEM CERTIFICATE block".to_owned(),
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| read("the private key", key, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
            .map_err(|source| TlsError::Config {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A listener whose connections are TLS streams: a task accepts TCP
/// connections and runs each handshake in a task of its own.
struct TlsListener {
    local: std::net::SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn new(listener: tokio::net::TcpListener, tls: Tls) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (send, ready) = mpsc::channel(64);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum does.
                        tracing::warn!(error = %e, "accepting a metrics connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let (acceptor, send) = (tls.acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            let _ = send.send((tls_stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task holds a sender until it is aborted, which
            // happens only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serve until `shutdown` completes, over TLS when `tls` is given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    health: Health,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            axum::serve(listener, router(health))
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            axum::serve(TlsListener::new(listener, tls)?, router(health))
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    async fn start(
        health: Health,
        tls: Option<Tls>,
    ) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, health, tls, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    fn health(token: Option<&str>, interval: Duration) -> Health {
        Health {
            metrics: Metrics::new("production").into(),
            readiness: Arc::new(Readiness::new(None, interval)),
            bearer_token: token.map(Arc::from),
        }
    }

    async fn status(client: &reqwest::Client, url: String, token: Option<&str>) -> u16 {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn metrics_need_the_bearer_token_and_probes_stay_open() {
        let h = health(Some("s3cret"), Duration::from_mins(5));
        h.readiness.pass_finished();
        let (addr, _stop) = start(h, None).await;
        let c = reqwest::Client::new();
        let base = format!("http://{addr}");
        assert_eq!(status(&c, format!("{base}/metrics"), None).await, 401);
        assert_eq!(
            status(&c, format!("{base}/metrics"), Some("wrong")).await,
            401
        );
        assert_eq!(
            status(&c, format!("{base}/metrics"), Some("s3cre")).await,
            401
        );
        assert_eq!(
            status(&c, format!("{base}/metrics"), Some("s3cret")).await,
            200
        );
        assert_eq!(status(&c, format!("{base}/healthz"), None).await, 200);
        assert_eq!(status(&c, format!("{base}/readyz"), None).await, 200);
    }

    #[tokio::test]
    async fn readiness_needs_a_recent_pass() {
        let h = health(None, Duration::from_millis(100));
        let readiness = h.readiness.clone();
        let (addr, _stop) = start(h, None).await;
        let c = reqwest::Client::new();
        let url = format!("http://{addr}/readyz");
        let body = c.get(&url).send().await.unwrap();
        assert_eq!(body.status().as_u16(), 503);
        assert_eq!(body.text().await.unwrap(), "no pass completed yet\n");
        readiness.pass_finished();
        assert_eq!(status(&c, url.clone(), None).await, 200);
        // Two intervals without a pass: not ready any more, though alive.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let body = c.get(&url).send().await.unwrap();
        assert_eq!(body.status().as_u16(), 503);
        assert!(
            body.text()
                .await
                .unwrap()
                .contains("more than two intervals")
        );
        assert_eq!(
            status(&c, format!("http://{addr}/healthz"), None).await,
            200
        );
    }

    #[tokio::test]
    async fn readiness_probes_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = Store::open(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        let readiness = Readiness::new(Some(store), Duration::from_mins(5));
        readiness.pass_finished();
        assert_eq!(readiness.check().await, Ok(()));
    }

    #[tokio::test]
    async fn metrics_over_tls() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-addext"])
            .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
            // An end-entity certificate: webpki refuses a CA as a server's.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (Debian's openssl package) makes the test certificate");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );

        // Clear errors for unusable files.
        let missing = Tls::from_pem_files(&dir.path().join("nope.pem"), &key).unwrap_err();
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
        let swapped = Tls::from_pem_files(&key, &cert).unwrap_err();
        assert!(
            swapped.to_string().contains("no PEM CERTIFICATE"),
            "{swapped}"
        );

        let tls = Tls::from_pem_files(&cert, &key).unwrap();
        let h = health(Some("t0ken"), Duration::from_mins(5));
        let (addr, _stop) = start(h, Some(tls)).await;
        let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
        let c = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{}/metrics", addr.port());
        assert_eq!(status(&c, url.clone(), Some("t0ken")).await, 200);
        assert_eq!(status(&c, url, None).await, 401);
        // Plain HTTP is not served on the TLS port.
        let plain = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/healthz", addr.port()))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(plain.is_err() || !plain.unwrap().status().is_success());
    }
}
