//! The async OCM client: one method per operation AUS uses (`spec/ocm-api.md` §3).
//!
//! Every call goes through one path: take a bearer token (fetched or renewed by the
//! token source), take a concurrency permit, send with a per-request timeout,
//! report the attempt to the observer, and retry per [`RetryPolicy`]. A 401 from the
//! API invalidates the token and repeats the call once with a fresh one.
//!
//! Collections are read with [`OcmClient::pages`], which follows §2.4: `size=100`,
//! and keep asking while fewer than `total` items were seen and the last page was
//! non-empty (§2.4 asks for `page * size < total`; counting items is the same when
//! the server honours `size`, and still complete when it caps it).
//! Search filters with long `in` lists are split into several queries of at most
//! [`MAX_IN_VALUES`] values and the results de-duplicated by id.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::Retryable;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::auth::{Bearer, Credentials, TokenSource, TokenSourceConfig};
use crate::error::OcmError;
use crate::model::{
    Account, Addon, AddonInstallation, AddonUpgradePlan, ApiErrorBody, Cluster,
    ClusterChannelPatch, ClusterLog, Identified, IdentityProvider, IdentityProviderPatch, Label,
    LabelWrite, NewAddonUpgradePlan, NewClusterLog, NewIdentityProvider, NewUpgradePolicy,
    NodePool, Organization, Page, ReleaseVersion, Subscription, UpgradePolicy, UpgradePolicyState,
    VersionGate, VersionGateAgreement, VersionGateRef,
};
use crate::observer::{Outcome, RequestEvent, RequestObserver};
use crate::rate::{Rate, RateBudget};
use crate::retry::{RetryPolicy, parse_retry_after, status_is_retryable, transport_is_retryable};
use crate::search::{Filter, MAX_IN_VALUES};

/// Items requested per page (§2.4: stay at ≤100).
pub const PAGE_SIZE: u64 = 100;

/// Endpoint templates; also the `endpoint` label of [`RequestEvent`]s.
pub mod endpoints {
    pub const LABELS: &str = "/api/accounts_mgmt/v1/labels";
    pub const SUBSCRIPTIONS: &str = "/api/accounts_mgmt/v1/subscriptions";
    pub const SUBSCRIPTION: &str = "/api/accounts_mgmt/v1/subscriptions/{id}";
    pub const SUBSCRIPTION_LABELS: &str = "/api/accounts_mgmt/v1/subscriptions/{id}/labels";
    pub const SUBSCRIPTION_LABEL: &str = "/api/accounts_mgmt/v1/subscriptions/{id}/labels/{key}";
    pub const ORGANIZATIONS: &str = "/api/accounts_mgmt/v1/organizations";
    pub const ORGANIZATION: &str = "/api/accounts_mgmt/v1/organizations/{id}";
    pub const ORGANIZATION_LABELS: &str = "/api/accounts_mgmt/v1/organizations/{id}/labels";
    pub const ORGANIZATION_LABEL: &str = "/api/accounts_mgmt/v1/organizations/{id}/labels/{key}";
    pub const CURRENT_ACCOUNT: &str = "/api/accounts_mgmt/v1/current_account";
    pub const CLUSTERS: &str = "/api/clusters_mgmt/v1/clusters";
    pub const CLUSTER: &str = "/api/clusters_mgmt/v1/clusters/{id}";
    pub const NODE_POOLS: &str = "/api/clusters_mgmt/v1/clusters/{id}/node_pools";
    pub const UPGRADE_POLICIES: &str = "/api/clusters_mgmt/v1/clusters/{id}/upgrade_policies";
    pub const UPGRADE_POLICY: &str =
        "/api/clusters_mgmt/v1/clusters/{id}/upgrade_policies/{policy_id}";
    pub const UPGRADE_POLICY_STATE: &str =
        "/api/clusters_mgmt/v1/clusters/{id}/upgrade_policies/{policy_id}/state";
    pub const CONTROL_PLANE_UPGRADE_POLICIES: &str =
        "/api/clusters_mgmt/v1/clusters/{id}/control_plane/upgrade_policies";
    pub const CONTROL_PLANE_UPGRADE_POLICY: &str =
        "/api/clusters_mgmt/v1/clusters/{id}/control_plane/upgrade_policies/{policy_id}";
    pub const NODE_POOL_UPGRADE_POLICIES: &str =
        "/api/clusters_mgmt/v1/clusters/{id}/node_pools/{node_pool_id}/upgrade_policies";
    pub const NODE_POOL_UPGRADE_POLICY: &str = "/api/clusters_mgmt/v1/clusters/{id}/node_pools/{node_pool_id}/upgrade_policies/{policy_id}";
    pub const IDENTITY_PROVIDERS: &str = "/api/clusters_mgmt/v1/clusters/{id}/identity_providers";
    pub const IDENTITY_PROVIDER: &str =
        "/api/clusters_mgmt/v1/clusters/{id}/identity_providers/{idp_id}";
    pub const VERSION_GATES: &str = "/api/clusters_mgmt/v1/version_gates";
    pub const GATE_AGREEMENTS: &str = "/api/clusters_mgmt/v1/clusters/{id}/gate_agreements";
    pub const VERSIONS: &str = "/api/clusters_mgmt/v1/versions";
    pub const VERSION: &str = "/api/clusters_mgmt/v1/versions/{id}";
    pub const ADDONS: &str = "/api/addons_mgmt/v1/addons";
    pub const ADDON_INSTALLATIONS: &str = "/api/addons_mgmt/v1/clusters/{id}/addons";
    pub const ADDON_UPGRADE_PLANS: &str = "/api/addons_mgmt/v1/clusters/{id}/upgrade_plans";
    pub const ADDON_UPGRADE_PLAN: &str =
        "/api/addons_mgmt/v1/clusters/{id}/upgrade_plans/{plan_id}";
    pub const CLUSTER_LOGS: &str = "/api/service_logs/v1/cluster_logs";
    pub const CLUSTER_LOGS_FOR_CLUSTER: &str = "/api/service_logs/v1/clusters/cluster_logs";
}

/// Characters left as-is in a path segment: RFC 3986 unreserved. Everything else,
/// including `/` in label keys such as `api.openshift.com/x`, is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A concrete API path together with the template it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    template: &'static str,
    path: String,
    /// A segment that cannot be sent (empty, `.`, `..`); reported before any I/O.
    invalid: Option<String>,
}

impl ApiPath {
    /// Fill the template's `{...}` placeholders, in order, with percent-encoded
    /// `segments`.
    pub fn new(template: &'static str, segments: &[&str]) -> Self {
        let mut path = String::with_capacity(template.len() + 32);
        let mut invalid = None;
        let mut rest = template;
        let mut args = segments.iter();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            path.push_str(&rest[..open]);
            match args.next() {
                Some(seg) => {
                    if seg.is_empty() || seg.chars().all(|c| c == '.') {
                        invalid.get_or_insert_with(|| (*seg).to_owned());
                    }
                    path.extend(utf8_percent_encode(seg, SEGMENT));
                }
                None => invalid = Some(rest[open..=open + close].to_owned()),
            }
            rest = &rest[open + close + 1..];
        }
        path.push_str(rest);
        ApiPath {
            template,
            path,
            invalid,
        }
    }

    /// The template, e.g. `/api/clusters_mgmt/v1/clusters/{id}`.
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// The concrete, encoded path.
    pub fn as_str(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// Everything an [`OcmClient`] is built from.
#[derive(Clone)]
pub struct ClientConfig {
    /// Gateway base URL, e.g. `https://api.openshift.com`.
    pub api_url: String,
    pub credentials: Credentials,
    /// Timeout of one HTTP attempt (connect + answer).
    pub request_timeout: Duration,
    /// Requests in flight at once, across clones of the client.
    pub max_concurrency: usize,
    /// Requests per second across clones of the client (none: no budget, only
    /// the in-flight limit).
    pub rate: Option<Rate>,
    pub retry: RetryPolicy,
    /// Renew the access token when less than this is left (§1.5: 1 minute).
    pub token_refresh_margin: Duration,
    pub user_agent: String,
    pub observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientConfig {
    /// Defaults: the credentials' API URL, 30 s timeout, 8 in flight, default retries.
    pub fn new(credentials: Credentials) -> Self {
        ClientConfig {
            api_url: credentials.api_url.clone(),
            credentials,
            request_timeout: Duration::from_secs(30),
            max_concurrency: 8,
            rate: None,
            retry: RetryPolicy::default(),
            token_refresh_margin: Duration::from_mins(1),
            user_agent: format!("srecap/{}", env!("CARGO_PKG_VERSION")),
            observer: None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("api_url", &self.api_url)
            .field("credentials", &self.credentials)
            .field("request_timeout", &self.request_timeout)
            .field("max_concurrency", &self.max_concurrency)
            .field("rate", &self.rate)
            .field("retry", &self.retry)
            .field("token_refresh_margin", &self.token_refresh_margin)
            .field("user_agent", &self.user_agent)
            .field("observer", &self.observer.as_ref().map(|_| "<observer>"))
            .finish()
    }
}

struct Inner {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    permits: Semaphore,
    /// The semaphore's size, for fan-outs that should not queue more than it.
    max_concurrency: usize,
    budget: Option<RateBudget>,
    /// The last HTTP `Date` OCM sent, and when it arrived.
    server_clock: std::sync::Mutex<Option<(jiff::Timestamp, Instant)>>,
    retry: RetryPolicy,
    timeout: Duration,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// An OCM API client. Cloning is cheap and clones share the token cache and the
/// concurrency limit.
#[derive(Clone)]
pub struct OcmClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for OcmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcmClient")
            .field("api_url", &self.inner.base)
            .field("credentials", &self.inner.tokens.credentials().source)
            .finish_non_exhaustive()
    }
}

/// One failed attempt, classified for the retry loop.
struct AttemptError {
    error: OcmError,
    retryable: bool,
    retry_after: Option<Duration>,
}

/// Longest excerpt of a non-JSON error page kept in an error.
const MAX_ERROR_EXCERPT: usize = 200;

fn error_body(bytes: &[u8]) -> ApiErrorBody {
    serde_json::from_slice::<ApiErrorBody>(bytes).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        let excerpt: String = text.chars().take(MAX_ERROR_EXCERPT).collect();
        ApiErrorBody {
            reason: (!excerpt.is_empty()).then_some(excerpt),
            ..ApiErrorBody::default()
        }
    })
}

type Query = Vec<(&'static str, String)>;

impl OcmClient {
    pub fn new(config: ClientConfig) -> Result<Self, OcmError> {
        let base = config.api_url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base).map_err(|e| OcmError::InvalidApiUrl {
            url: base.clone(),
            reason: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(OcmError::Build)?;
        let tokens = TokenSource::new(
            config.credentials,
            TokenSourceConfig {
                http: http.clone(),
                retry: config.retry,
                timeout: config.request_timeout,
                refresh_margin: config.token_refresh_margin,
                observer: config.observer.clone(),
            },
        );
        Ok(OcmClient {
            inner: Arc::new(Inner {
                http,
                base,
                tokens,
                permits: Semaphore::new(config.max_concurrency.max(1)),
                max_concurrency: config.max_concurrency.max(1),
                budget: config.rate.map(RateBudget::new).transpose()?,
                server_clock: std::sync::Mutex::new(None),
                retry: config.retry,
                timeout: config.request_timeout,
                observer: config.observer,
            }),
        })
    }

    /// The gateway base URL.
    pub fn api_url(&self) -> &str {
        &self.inner.base
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &Credentials {
        self.inner.tokens.credentials()
    }

    /// Whether requests are queuing for the rate budget or for the in-flight
    /// limit right now: starting more work would only lengthen the queue.
    pub fn saturated(&self) -> bool {
        self.inner.budget.as_ref().is_some_and(|b| b.waiting() > 0)
            || self.inner.permits.available_permits() == 0
    }

    /// OCM's clock: the last HTTP `Date` it sent, advanced by the time since
    /// (`None` before any answer with a readable `Date`).
    pub fn server_time(&self) -> Option<jiff::Timestamp> {
        let (at, seen) = (*self
            .inner
            .server_clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))?;
        let since = jiff::SignedDuration::try_from(seen.elapsed()).ok()?;
        at.checked_add(since).ok()
    }

    /// The request-rate budget, if any.
    pub fn rate(&self) -> Option<Rate> {
        self.inner.budget.as_ref().map(RateBudget::rate)
    }

    /// Access tokens fetched from the token endpoint so far (diagnostics, tests).
    pub fn token_fetches(&self) -> u64 {
        self.inner.tokens.fetches()
    }

    /// Obtain an access token now (e.g. to check credentials before a run).
    pub async fn authenticate(&self) -> Result<(), OcmError> {
        self.inner.tokens.bearer().await?;
        Ok(())
    }

    // ---- transport -------------------------------------------------------------

    /// Send one request with retries and the 401-refresh rule; returns the body
    /// (empty for 204).
    async fn send<B: Serialize + Sync>(
        &self,
        method: Method,
        path: &ApiPath,
        query: &[(&'static str, String)],
        body: Option<&B>,
    ) -> Result<Vec<u8>, OcmError> {
        if let Some(segment) = &path.invalid {
            return Err(OcmError::InvalidPathSegment {
                template: path.template,
                segment: segment.clone(),
            });
        }
        let mut renewed = false;
        loop {
            let bearer = self.inner.tokens.bearer().await?;
            match self
                .send_with_retries(&method, path, query, body, &bearer)
                .await
            {
                Err(e) if e.status() == Some(401) && !renewed => {
                    // A token can be revoked or expire early; renew once and repeat.
                    if !self.inner.tokens.invalidate(bearer.generation).await {
                        return Err(e);
                    }
                    tracing::debug!(
                        endpoint = path.template,
                        "OCM said 401; renewing the token once"
                    );
                    renewed = true;
                }
                other => return other,
            }
        }
    }

    async fn send_with_retries<B: Serialize + Sync>(
        &self,
        method: &Method,
        path: &ApiPath,
        query: &[(&'static str, String)],
        body: Option<&B>,
        bearer: &Bearer,
    ) -> Result<Vec<u8>, OcmError> {
        let attempt_no = AtomicU32::new(0);
        let retry = self.inner.retry;
        let attempt = || self.attempt(method, path, query, body, bearer, &attempt_no);
        attempt
            .retry(retry.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &AttemptError| e.retryable)
            .adjust(|e: &AttemptError, computed| computed.map(|d| retry.honour(d, e.retry_after)))
            .notify(|e: &AttemptError, after| {
                tracing::debug!(error = %e.error, ?after, "retrying OCM request");
            })
            .await
            .map_err(|e| e.error)
    }

    async fn attempt<B: Serialize + Sync>(
        &self,
        method: &Method,
        path: &ApiPath,
        query: &[(&'static str, String)],
        body: Option<&B>,
        bearer: &Bearer,
        attempt_no: &AtomicU32,
    ) -> Result<Vec<u8>, AttemptError> {
        let attempt = attempt_no.fetch_add(1, Ordering::Relaxed) + 1;
        // The budget and the permit are per attempt: a retry costs OCM a
        // request like any other, and a request sleeping before its retry does
        // not hold up others.
        if let Some(budget) = &self.inner.budget {
            budget.acquire().await;
        }
        let _permit = self.inner.permits.acquire().await;
        let url = format!("{}{}", self.inner.base, path.path);
        let mut req = self
            .inner
            .http
            .request(method.clone(), &url)
            .bearer_auth(bearer.token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.inner.timeout);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        let observe = |outcome: Outcome| {
            tracing::debug!(
                method = %method,
                endpoint = path.template,
                outcome = %outcome,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                attempt,
                "OCM request"
            );
            if let Some(o) = &self.inner.observer {
                o.observe(&RequestEvent {
                    method: method.as_str(),
                    endpoint: path.template,
                    outcome,
                    duration: started.elapsed(),
                    attempt,
                });
            }
        };
        let failed = |source: reqwest::Error| {
            let timed_out = source.is_timeout();
            observe(if timed_out {
                Outcome::Timeout
            } else {
                Outcome::Transport
            });
            let error = if timed_out {
                OcmError::Timeout {
                    method: method.to_string(),
                    path: path.path.clone(),
                    after: self.inner.timeout,
                }
            } else {
                OcmError::Transport {
                    method: method.to_string(),
                    path: path.path.clone(),
                    source: source.without_url(),
                }
            };
            AttemptError {
                error,
                retryable: transport_is_retryable(method, false),
                retry_after: None,
            }
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                let mut err = failed(e);
                err.retryable = transport_is_retryable(method, true);
                return Err(err);
            }
            Err(e) => return Err(failed(e)),
        };
        let status = resp.status().as_u16();
        if let Some(date) = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                jiff::fmt::rfc2822::DateTimeParser::new()
                    .parse_timestamp(v)
                    .ok()
            })
        {
            *self
                .inner
                .server_clock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((date, Instant::now()));
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = resp.bytes().await.map_err(failed)?;
        observe(Outcome::Status(status));
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        Err(AttemptError {
            error: OcmError::Api {
                method: method.to_string(),
                path: path.path.clone(),
                status,
                body: Box::new(error_body(&bytes)),
            },
            retryable: status_is_retryable(method, status),
            retry_after,
        })
    }

    fn decode<T: DeserializeOwned>(
        method: &Method,
        path: &ApiPath,
        bytes: &[u8],
    ) -> Result<T, OcmError> {
        // A 204 on POST is treated as `{}` by the reference; here it decodes or fails
        // with a clear message.
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
        serde_json::from_slice(bytes).map_err(|source| OcmError::Decode {
            method: method.to_string(),
            path: path.path.clone(),
            source,
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &ApiPath, query: &Query) -> Result<T, OcmError> {
        let bytes = self.send::<()>(Method::GET, path, query, None).await?;
        Self::decode(&Method::GET, path, &bytes)
    }

    async fn write<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &ApiPath,
        body: &B,
    ) -> Result<T, OcmError> {
        let bytes = self.send(method.clone(), path, &[], Some(body)).await?;
        Self::decode(&method, path, &bytes)
    }

    async fn delete(&self, path: &ApiPath) -> Result<(), OcmError> {
        self.send::<()>(Method::DELETE, path, &[], None).await?;
        Ok(())
    }

    /// `Ok(None)` on 404.
    async fn get_optional<T: DeserializeOwned>(
        &self,
        path: &ApiPath,
    ) -> Result<Option<T>, OcmError> {
        match self.get(path, &Vec::new()).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- paging ----------------------------------------------------------------

    /// Every item of a collection, page by page (§2.4), as a stream: pages are
    /// fetched as the stream is consumed. `query` must not contain
    /// `page` or `size`; it should carry an order parameter for stable paging.
    pub fn pages<T>(
        &self,
        path: ApiPath,
        query: Vec<(&'static str, String)>,
    ) -> impl Stream<Item = Result<T, OcmError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        // State: the next page to ask for (None when done) and items seen so far.
        stream::try_unfold((Some(1u64), 0u64), move |(next, seen)| {
            let client = client.clone();
            let path = path.clone();
            let mut query = query.clone();
            async move {
                let Some(page_no) = next else {
                    return Ok::<_, OcmError>(None);
                };
                query.push(("page", page_no.to_string()));
                query.push(("size", PAGE_SIZE.to_string()));
                let page: Page<T> = client.get(&path, &query).await?;
                let seen = seen + page.items.len() as u64;
                // Counting items rather than `page * size` keeps paging complete
                // when the server caps the page size below what was asked (then
                // page numbers count in the capped size); an empty page always
                // ends, so a wrong `total` cannot loop forever.
                let more = !page.items.is_empty() && seen < page.total;
                Ok(Some((page.items, (more.then_some(page_no + 1), seen))))
            }
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
    }

    async fn list_all<T>(&self, path: ApiPath, query: Query) -> Result<Vec<T>, OcmError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        // The first page tells how many there are; the rest are fetched
        // concurrently (bounded by the client's limit): a fleet-wide label search
        // is a hundred pages, and fetching them one by one made discovery the
        // slowest part of a pass on a slow API.
        let page_query = |page: u64| {
            let mut q = query.clone();
            q.push(("page", page.to_string()));
            q.push(("size", PAGE_SIZE.to_string()));
            q
        };
        let first: Page<T> = self.get(&path, &page_query(1)).await?;
        let total = first.total;
        let mut items = first.items;
        if items.is_empty() || items.len() as u64 >= total {
            return Ok(items);
        }
        let mut next_page = 2;
        if items.len() as u64 == PAGE_SIZE {
            let pages = total.div_ceil(PAGE_SIZE);
            next_page = pages + 1;
            let rest: Vec<Page<T>> = stream::iter((2..=pages).map(|n| {
                let (path, q) = (path.clone(), page_query(n));
                async move { self.get::<Page<T>>(&path, &q).await }
            }))
            .buffered(self.inner.max_concurrency)
            .try_collect()
            .await?;
            let mut last_full = true;
            for page in rest {
                last_full = page.items.len() as u64 == PAGE_SIZE;
                items.extend(page.items);
            }
            if items.len() as u64 >= total || !last_full {
                return Ok(items);
            }
        }
        // The server caps pages below what was asked, or the collection grew:
        // continue page by page, counting items (see `pages`).
        let mut page_no = next_page;
        loop {
            let page: Page<T> = self.get(&path, &page_query(page_no)).await?;
            if page.items.is_empty() {
                return Ok(items);
            }
            items.extend(page.items);
            if items.len() as u64 >= page.total {
                return Ok(items);
            }
            page_no += 1;
        }
    }

    /// List with a search filter, splitting long `in` lists and de-duplicating by id.
    async fn list_filtered<T>(
        &self,
        path: &ApiPath,
        query: &Query,
        filter: Option<&Filter>,
    ) -> Result<Vec<T>, OcmError>
    where
        T: DeserializeOwned + Identified + Send + 'static,
    {
        let Some(filter) = filter else {
            return self.list_all(path.clone(), query.clone()).await;
        };
        // A filter that can match nothing (an empty `in` list) needs no request.
        let Some(filter) = filter.simplified() else {
            return Ok(Vec::new());
        };
        let chunks = filter.chunked(MAX_IN_VALUES);
        if let [only] = chunks.as_slice() {
            let mut q = query.clone();
            q.push(("search", only.to_string()));
            return self.list_all(path.clone(), q).await;
        }
        // Chunks are independent queries: run them concurrently, keep their order.
        let results: Vec<Vec<T>> = stream::iter(chunks.into_iter().map(|chunk| {
            let mut q = query.clone();
            q.push(("search", chunk.to_string()));
            self.list_all::<T>(path.clone(), q)
        }))
        .buffered(self.inner.max_concurrency)
        .try_collect()
        .await?;
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for item in results.into_iter().flatten() {
            let fresh = item.object_id().is_none_or(|id| seen.insert(id.to_owned()));
            if fresh {
                out.push(item);
            }
        }
        Ok(out)
    }

    // ---- AMS: labels -----------------------------------------------------------

    /// Search labels of every subscription and organization in scope (E1), e.g.
    /// `key like 'sre-capabilities.aus.%' and type='Subscription'`.
    pub async fn search_labels(&self, filter: &Filter) -> Result<Vec<Label>, OcmError> {
        let path = ApiPath::new(endpoints::LABELS, &[]);
        let query = vec![("orderBy", "created_at".to_owned())];
        self.list_filtered(&path, &query, Some(filter)).await
    }

    // ---- AMS: subscriptions ----------------------------------------------------

    /// Search subscriptions with their labels and capabilities embedded (E2).
    pub async fn list_subscriptions(
        &self,
        filter: Option<&Filter>,
    ) -> Result<Vec<Subscription>, OcmError> {
        let path = ApiPath::new(endpoints::SUBSCRIPTIONS, &[]);
        let query = vec![
            ("fetchLabels", "true".to_owned()),
            ("fetchCapabilities", "true".to_owned()),
            ("orderBy", "id".to_owned()),
        ];
        self.list_filtered(&path, &query, filter).await
    }

    /// Search subscriptions without embedded labels or capabilities (E2): for
    /// callers that already have the labels they need from a label search,
    /// since embedding every label of a thousand subscriptions doubles the
    /// bytes of a fleet-wide listing.
    pub async fn list_subscriptions_without_labels(
        &self,
        filter: Option<&Filter>,
    ) -> Result<Vec<Subscription>, OcmError> {
        let path = ApiPath::new(endpoints::SUBSCRIPTIONS, &[]);
        let query = vec![("orderBy", "id".to_owned())];
        self.list_filtered(&path, &query, filter).await
    }

    /// One subscription (E3).
    pub async fn get_subscription(&self, id: &str) -> Result<Subscription, OcmError> {
        let path = ApiPath::new(endpoints::SUBSCRIPTION, &[id]);
        self.get(&path, &vec![("fetchLabels", "true".to_owned())])
            .await
    }

    /// All labels of one subscription (E4; not paged by OCM).
    pub async fn list_subscription_labels(
        &self,
        subscription_id: &str,
    ) -> Result<Vec<Label>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::SUBSCRIPTION_LABELS, &[subscription_id]),
            Vec::new(),
        )
        .await
    }

    /// One subscription label by key; `None` if it does not exist.
    pub async fn get_subscription_label(
        &self,
        subscription_id: &str,
        key: &str,
    ) -> Result<Option<Label>, OcmError> {
        self.get_optional(&ApiPath::new(
            endpoints::SUBSCRIPTION_LABEL,
            &[subscription_id, key],
        ))
        .await
    }

    /// Create a subscription label (E4); OCM refuses an existing key.
    pub async fn create_subscription_label(
        &self,
        subscription_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Label, OcmError> {
        let path = ApiPath::new(endpoints::SUBSCRIPTION_LABELS, &[subscription_id]);
        self.write(Method::POST, &path, &LabelWrite::new(key, value))
            .await
    }

    /// Change a subscription label's value (E4, PATCH).
    pub async fn update_subscription_label(
        &self,
        subscription_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Label, OcmError> {
        let path = ApiPath::new(endpoints::SUBSCRIPTION_LABEL, &[subscription_id, key]);
        self.write(Method::PATCH, &path, &LabelWrite::new(key, value))
            .await
    }

    /// Delete a subscription label (E4).
    pub async fn delete_subscription_label(
        &self,
        subscription_id: &str,
        key: &str,
    ) -> Result<(), OcmError> {
        self.delete(&ApiPath::new(
            endpoints::SUBSCRIPTION_LABEL,
            &[subscription_id, key],
        ))
        .await
    }

    // ---- AMS: organizations ----------------------------------------------------

    /// One organization (E5).
    pub async fn get_organization(&self, id: &str) -> Result<Organization, OcmError> {
        self.get(&ApiPath::new(endpoints::ORGANIZATION, &[id]), &Vec::new())
            .await
    }

    /// Search organizations, labels embedded (E5).
    pub async fn list_organizations(
        &self,
        filter: Option<&Filter>,
    ) -> Result<Vec<Organization>, OcmError> {
        let path = ApiPath::new(endpoints::ORGANIZATIONS, &[]);
        let query = vec![
            ("fetchLabels", "true".to_owned()),
            ("orderBy", "id".to_owned()),
        ];
        self.list_filtered(&path, &query, filter).await
    }

    /// All labels of one organization (E6).
    pub async fn list_organization_labels(
        &self,
        organization_id: &str,
    ) -> Result<Vec<Label>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::ORGANIZATION_LABELS, &[organization_id]),
            Vec::new(),
        )
        .await
    }

    /// One organization label by key; `None` if it does not exist.
    pub async fn get_organization_label(
        &self,
        organization_id: &str,
        key: &str,
    ) -> Result<Option<Label>, OcmError> {
        self.get_optional(&ApiPath::new(
            endpoints::ORGANIZATION_LABEL,
            &[organization_id, key],
        ))
        .await
    }

    /// Create an organization label (E6).
    pub async fn create_organization_label(
        &self,
        organization_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Label, OcmError> {
        let path = ApiPath::new(endpoints::ORGANIZATION_LABELS, &[organization_id]);
        self.write(Method::POST, &path, &LabelWrite::new(key, value))
            .await
    }

    /// Change an organization label's value (E6, PATCH).
    pub async fn update_organization_label(
        &self,
        organization_id: &str,
        key: &str,
        value: &str,
    ) -> Result<Label, OcmError> {
        let path = ApiPath::new(endpoints::ORGANIZATION_LABEL, &[organization_id, key]);
        self.write(Method::PATCH, &path, &LabelWrite::new(key, value))
            .await
    }

    /// Delete an organization label (E6).
    pub async fn delete_organization_label(
        &self,
        organization_id: &str,
        key: &str,
    ) -> Result<(), OcmError> {
        self.delete(&ApiPath::new(
            endpoints::ORGANIZATION_LABEL,
            &[organization_id, key],
        ))
        .await
    }

    /// The account the token belongs to, with its organization.
    pub async fn current_account(&self) -> Result<Account, OcmError> {
        self.get(&ApiPath::new(endpoints::CURRENT_ACCOUNT, &[]), &Vec::new())
            .await
    }

    // ---- CS: clusters ----------------------------------------------------------

    /// Search clusters, ordered by creation time for stable paging (E7). Items lack
    /// `version.available_channels`; use [`OcmClient::get_cluster`] for those.
    pub async fn list_clusters(&self, filter: Option<&Filter>) -> Result<Vec<Cluster>, OcmError> {
        let path = ApiPath::new(endpoints::CLUSTERS, &[]);
        let query = vec![("order", "creation_timestamp".to_owned())];
        self.list_filtered(&path, &query, filter).await
    }

    /// One cluster, including `version.available_channels` (E8).
    pub async fn get_cluster(&self, id: &str) -> Result<Cluster, OcmError> {
        self.get(&ApiPath::new(endpoints::CLUSTER, &[id]), &Vec::new())
            .await
    }

    /// Switch a cluster's update channel (E9).
    pub async fn patch_cluster_channel(
        &self,
        id: &str,
        channel: &str,
    ) -> Result<Cluster, OcmError> {
        let body = ClusterChannelPatch {
            channel: channel.to_owned(),
        };
        self.write(
            Method::PATCH,
            &ApiPath::new(endpoints::CLUSTER, &[id]),
            &body,
        )
        .await
    }

    /// Node pools of a ROSA HCP cluster (E10).
    pub async fn list_node_pools(&self, cluster_id: &str) -> Result<Vec<NodePool>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::NODE_POOLS, &[cluster_id]),
            Vec::new(),
        )
        .await
    }

    // ---- CS: upgrade policies --------------------------------------------------

    /// Classic upgrade policies of a cluster (E11); items carry no state.
    pub async fn list_upgrade_policies(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<UpgradePolicy>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::UPGRADE_POLICIES, &[cluster_id]),
            Vec::new(),
        )
        .await
    }

    /// State of a classic upgrade policy (E11 `/state`).
    pub async fn get_upgrade_policy_state(
        &self,
        cluster_id: &str,
        policy_id: &str,
    ) -> Result<UpgradePolicyState, OcmError> {
        let path = ApiPath::new(endpoints::UPGRADE_POLICY_STATE, &[cluster_id, policy_id]);
        self.get(&path, &Vec::new()).await
    }

    /// Create a classic upgrade policy (E11). Not retried after an ambiguous
    /// failure: re-list before trying again to avoid a duplicate.
    pub async fn create_upgrade_policy(
        &self,
        cluster_id: &str,
        policy: &NewUpgradePolicy,
    ) -> Result<UpgradePolicy, OcmError> {
        let path = ApiPath::new(endpoints::UPGRADE_POLICIES, &[cluster_id]);
        self.write(Method::POST, &path, policy).await
    }

    /// Delete a classic upgrade policy (E11).
    pub async fn delete_upgrade_policy(
        &self,
        cluster_id: &str,
        policy_id: &str,
    ) -> Result<(), OcmError> {
        self.delete(&ApiPath::new(
            endpoints::UPGRADE_POLICY,
            &[cluster_id, policy_id],
        ))
        .await
    }

    // ---- identity providers (E16) -------------------------------------------------

    /// A cluster's identity providers, every page (E16, rhidp I47).
    pub async fn list_identity_providers(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<IdentityProvider>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::IDENTITY_PROVIDERS, &[cluster_id]),
            Vec::new(),
        )
        .await
    }

    /// Create an identity provider (E16, rhidp I52). Not retried after an
    /// ambiguous failure: the next pass lists the cluster's providers and
    /// finds it if it was created.
    pub async fn create_identity_provider(
        &self,
        cluster_id: &str,
        idp: &NewIdentityProvider,
    ) -> Result<IdentityProvider, OcmError> {
        let path = ApiPath::new(endpoints::IDENTITY_PROVIDERS, &[cluster_id]);
        self.write(Method::POST, &path, idp).await
    }

    /// Update an identity provider in place (E16, rhidp I53).
    pub async fn update_identity_provider(
        &self,
        cluster_id: &str,
        idp_id: &str,
        patch: &IdentityProviderPatch,
    ) -> Result<IdentityProvider, OcmError> {
        let path = ApiPath::new(endpoints::IDENTITY_PROVIDER, &[cluster_id, idp_id]);
        self.write(Method::PATCH, &path, patch).await
    }

    /// Delete an identity provider (E16, rhidp I51).
    pub async fn delete_identity_provider(
        &self,
        cluster_id: &str,
        idp_id: &str,
    ) -> Result<(), OcmError> {
        self.delete(&ApiPath::new(
            endpoints::IDENTITY_PROVIDER,
            &[cluster_id, idp_id],
        ))
        .await
    }

    // ---- add-on service v2 (D) -------------------------------------------------

    /// The add-on catalogue, each add-on with its latest version (D-v2).
    pub async fn list_addons(&self) -> Result<Vec<Addon>, OcmError> {
        let query = vec![("order", "id".to_owned())];
        self.list_all(ApiPath::new(endpoints::ADDONS, &[]), query)
            .await
    }

    /// A cluster's add-on installations in state `ready` (D-v2, R114).
    pub async fn list_ready_addon_installations(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<AddonInstallation>, OcmError> {
        let query = vec![("search", "state='ready'".to_owned())];
        self.list_all(
            ApiPath::new(endpoints::ADDON_INSTALLATIONS, &[cluster_id]),
            query,
        )
        .await
    }

    /// A cluster's add-on upgrade plans (D-v2).
    pub async fn list_addon_upgrade_plans(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<AddonUpgradePlan>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::ADDON_UPGRADE_PLANS, &[cluster_id]),
            Vec::new(),
        )
        .await
    }

    /// Create an add-on upgrade plan (R116, D-v2). Not retried after an
    /// ambiguous failure, as for upgrade policies.
    pub async fn create_addon_upgrade_plan(
        &self,
        plan: &NewAddonUpgradePlan,
    ) -> Result<AddonUpgradePlan, OcmError> {
        let path = ApiPath::new(endpoints::ADDON_UPGRADE_PLANS, &[&plan.cluster_id]);
        self.write(Method::POST, &path, plan).await
    }

    /// Delete an add-on upgrade plan (R117, D-v2).
    pub async fn delete_addon_upgrade_plan(
        &self,
        cluster_id: &str,
        plan_id: &str,
    ) -> Result<(), OcmError> {
        self.delete(&ApiPath::new(
            endpoints::ADDON_UPGRADE_PLAN,
            &[cluster_id, plan_id],
        ))
        .await
    }

    /// Control-plane upgrade policies of a ROSA HCP cluster, state inline (E12).
    pub async fn list_control_plane_upgrade_policies(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<UpgradePolicy>, OcmError> {
        let path = ApiPath::new(endpoints::CONTROL_PLANE_UPGRADE_POLICIES, &[cluster_id]);
        self.list_all(path, Vec::new()).await
    }

    /// Create a control-plane upgrade policy (E12).
    pub async fn create_control_plane_upgrade_policy(
        &self,
        cluster_id: &str,
        policy: &NewUpgradePolicy,
    ) -> Result<UpgradePolicy, OcmError> {
        let path = ApiPath::new(endpoints::CONTROL_PLANE_UPGRADE_POLICIES, &[cluster_id]);
        self.write(Method::POST, &path, policy).await
    }

    /// Delete a control-plane upgrade policy (E12).
    pub async fn delete_control_plane_upgrade_policy(
        &self,
        cluster_id: &str,
        policy_id: &str,
    ) -> Result<(), OcmError> {
        let path = ApiPath::new(
            endpoints::CONTROL_PLANE_UPGRADE_POLICY,
            &[cluster_id, policy_id],
        );
        self.delete(&path).await
    }

    /// Upgrade policies of one node pool, state inline (E13).
    pub async fn list_node_pool_upgrade_policies(
        &self,
        cluster_id: &str,
        node_pool_id: &str,
    ) -> Result<Vec<UpgradePolicy>, OcmError> {
        let path = ApiPath::new(
            endpoints::NODE_POOL_UPGRADE_POLICIES,
            &[cluster_id, node_pool_id],
        );
        self.list_all(path, Vec::new()).await
    }

    /// Create a node-pool upgrade policy (E13).
    pub async fn create_node_pool_upgrade_policy(
        &self,
        cluster_id: &str,
        node_pool_id: &str,
        policy: &NewUpgradePolicy,
    ) -> Result<UpgradePolicy, OcmError> {
        let path = ApiPath::new(
            endpoints::NODE_POOL_UPGRADE_POLICIES,
            &[cluster_id, node_pool_id],
        );
        self.write(Method::POST, &path, policy).await
    }

    /// Delete a node-pool upgrade policy (E13).
    pub async fn delete_node_pool_upgrade_policy(
        &self,
        cluster_id: &str,
        node_pool_id: &str,
        policy_id: &str,
    ) -> Result<(), OcmError> {
        let path = ApiPath::new(
            endpoints::NODE_POOL_UPGRADE_POLICY,
            &[cluster_id, node_pool_id, policy_id],
        );
        self.delete(&path).await
    }

    // ---- CS: version gates -----------------------------------------------------

    /// All version gates (E14).
    pub async fn list_version_gates(&self) -> Result<Vec<VersionGate>, OcmError> {
        let path = ApiPath::new(endpoints::VERSION_GATES, &[]);
        self.list_all(path, vec![("order", "id".to_owned())]).await
    }

    /// Gate agreements of one cluster (E15).
    pub async fn list_gate_agreements(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<VersionGateAgreement>, OcmError> {
        self.list_all(
            ApiPath::new(endpoints::GATE_AGREEMENTS, &[cluster_id]),
            Vec::new(),
        )
        .await
    }

    /// Agree to a version gate for one cluster (E15).
    pub async fn create_gate_agreement(
        &self,
        cluster_id: &str,
        version_gate_id: &str,
    ) -> Result<VersionGateAgreement, OcmError> {
        #[derive(Serialize)]
        struct Body {
            version_gate: VersionGateRef,
        }
        let body = Body {
            version_gate: VersionGateRef::with_id(version_gate_id),
        };
        self.write(
            Method::POST,
            &ApiPath::new(endpoints::GATE_AGREEMENTS, &[cluster_id]),
            &body,
        )
        .await
    }

    // ---- CS: versions (E18) ----------------------------------------------------

    /// Search `OpenShift` versions (E18).
    pub async fn list_versions(
        &self,
        filter: Option<&Filter>,
    ) -> Result<Vec<ReleaseVersion>, OcmError> {
        let path = ApiPath::new(endpoints::VERSIONS, &[]);
        self.list_filtered(&path, &vec![("order", "id".to_owned())], filter)
            .await
    }

    /// One `OpenShift` version by id, e.g. `openshift-v4.16.10` (E18).
    pub async fn get_version(&self, id: &str) -> Result<ReleaseVersion, OcmError> {
        self.get(&ApiPath::new(endpoints::VERSION, &[id]), &Vec::new())
            .await
    }

    // ---- service logs ----------------------------------------------------------

    /// Post a service log to a cluster (E19). Check for a duplicate first
    /// ([`OcmClient::list_cluster_service_logs`]); this call is not retried after
    /// ambiguous failures.
    pub async fn create_service_log(&self, log: &NewClusterLog) -> Result<ClusterLog, OcmError> {
        self.write(
            Method::POST,
            &ApiPath::new(endpoints::CLUSTER_LOGS, &[]),
            log,
        )
        .await
    }

    /// Service logs of one cluster by its UUID (`external_id`), optionally filtered
    /// (E20); internal-only entries are not returned by OCM.
    pub async fn list_cluster_service_logs(
        &self,
        cluster_uuid: &str,
        filter: Option<&Filter>,
    ) -> Result<Vec<ClusterLog>, OcmError> {
        let path = ApiPath::new(endpoints::CLUSTER_LOGS_FOR_CLUSTER, &[]);
        let query = vec![
            ("cluster_uuid", cluster_uuid.to_owned()),
            ("order", "timestamp desc".to_owned()),
        ];
        self.list_filtered(&path, &query, filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_path_encodes_segments_and_keeps_the_template() {
        let p = ApiPath::new(
            endpoints::SUBSCRIPTION_LABEL,
            &["s 1", "api.openshift.com/x"],
        );
        assert_eq!(
            p.as_str(),
            "/api/accounts_mgmt/v1/subscriptions/s%201/labels/api.openshift.com%2Fx"
        );
        assert_eq!(p.template(), endpoints::SUBSCRIPTION_LABEL);
        let p = ApiPath::new(
            endpoints::SUBSCRIPTION_LABEL,
            &["s", "sre-capabilities.aus.soak-days"],
        );
        assert!(
            p.as_str()
                .ends_with("/labels/sre-capabilities.aus.soak-days")
        );
        assert_eq!(p.invalid, None);
    }

    #[test]
    fn api_path_flags_segments_that_cannot_be_sent() {
        assert_eq!(
            ApiPath::new(endpoints::CLUSTER, &[""]).invalid,
            Some(String::new())
        );
        assert_eq!(
            ApiPath::new(endpoints::CLUSTER, &[".."]).invalid,
            Some("..".into())
        );
        assert_eq!(
            ApiPath::new(endpoints::CLUSTER, &[]).invalid,
            Some("{id}".into())
        );
    }

    #[test]
    fn non_json_error_pages_are_kept_as_a_short_reason() {
        let body = error_body(b"<html>Service Unavailable</html>");
        assert_eq!(
            body.reason.as_deref(),
            Some("<html>Service Unavailable</html>")
        );
        let long = "x".repeat(1000);
        assert_eq!(
            error_body(long.as_bytes()).reason.unwrap().len(),
            MAX_ERROR_EXCERPT
        );
        assert_eq!(error_body(b"").reason, None);
    }
}
