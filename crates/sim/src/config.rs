//! Simulator settings: credentials, timings and the knobs the spec leaves open.

use std::time::Duration;

use jiff::SignedDuration;

/// How the simulator behaves where OCM's behaviour is configurable or unknown.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Service-account client id accepted by the token endpoint.
    pub client_id: String,
    /// Service-account secret accepted by the token endpoint.
    pub client_secret: String,
    /// Lifetime of issued access tokens, measured on the real (wall) clock so
    /// that short lifetimes in tests expire while the simulated clock stands still.
    pub token_lifetime: Duration,
    /// How long an upgrade runs on the simulated clock (`started` → `completed`).
    pub upgrade_duration: SignedDuration,
    /// Fixed delay added to every `/api/` request (changeable at `/_sim/latency`).
    pub latency: Duration,
    /// Minimum lead time of a manual policy's `next_run` (spec §5.4: 5 minutes).
    pub min_lead_time: SignedDuration,
    /// How long a completed, failed or cancelled manual policy stays listed on the
    /// simulated clock. OCM removes manual policies once they are done (spec §5.5),
    /// so the default is zero: the policy disappears when it reaches the state.
    pub terminal_policy_retention: SignedDuration,
    /// Largest page OCM returns, whatever `size` asks for (`None`: no cap; the
    /// real cap is undocumented).
    pub max_page_size: Option<usize>,
    /// Requests served at once; the rest wait (bounded concurrency).
    pub max_concurrent_requests: usize,
    /// Organization of the account `GET /current_account` returns; the first
    /// organization of the fleet when `None`.
    pub account_organization: Option<String>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            client_id: "srecap-sim".to_owned(),
            client_secret: "srecap-sim".to_owned(),
            token_lifetime: Duration::from_mins(15),
            upgrade_duration: SignedDuration::from_mins(90),
            latency: Duration::ZERO,
            min_lead_time: SignedDuration::from_mins(5),
            terminal_policy_retention: SignedDuration::ZERO,
            max_page_size: None,
            max_concurrent_requests: 64,
            account_organization: None,
        }
    }
}
