//! OCM (`OpenShift` Cluster Manager) REST API: wire model, search language and an
//! async client, as specified in `spec/ocm-api.md`.
//!
//! Modules:
//! * [`model`]: serde types of the objects AUS reads and writes. Unknown fields are
//!   ignored, omittable fields are optional, versions stay strings on the wire and
//!   are parsed into semver by helpers that name the field at fault.
//! * [`search`]: a typed builder for OCM's `search` parameter that quotes literals
//!   and parenthesises correctly, and splits long `in` lists.
//! * [`auth`]: picks credentials (options > environment > `ocm` CLI login) without
//!   I/O beyond reading one file, and obtains, caches and renews access tokens.
//! * [`client`]: [`OcmClient`], one async method per OCM operation, with paging,
//!   bounded concurrency, a request-rate budget ([`rate`]), retries ([`retry`])
//!   and a metrics hook ([`observer`]).
//! * [`error`]: [`OcmError`], which never carries secret text.
//!
//! Design decisions:
//! * The client is cheap to clone (an `Arc` inside); clones share the token cache
//!   the in-flight request limit and the request-rate budget, so one OCM
//!   environment gets one budget.
//! * Retries are per request and the only retry loop: idempotent methods on
//!   gateway errors and connection failures, POST only when OCM certainly did not
//!   act (429/503 or no connection), honouring `Retry-After`.
//! * Request metrics are labelled by endpoint template, never by concrete path, so
//!   that label sets stay bounded.

pub mod auth;
pub mod client;
pub mod error;
pub mod model;
pub mod observer;
pub mod rate;
pub mod retry;
pub mod search;

pub use auth::{AuthError, ConnectionOptions, CredentialSource, Credentials, Grant, Secret};
pub use client::{ApiPath, ClientConfig, OcmClient, PAGE_SIZE, endpoints};
pub use error::OcmError;
pub use observer::{Outcome, RequestEvent, RequestObserver};
pub use rate::{Rate, RateBudget, RateError};
pub use retry::RetryPolicy;
pub use search::Filter;
