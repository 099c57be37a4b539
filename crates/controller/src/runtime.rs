//! The reconcile loop of `srecap aus run`: a pass every interval until shutdown.
//!
//! The loop is the library's so that its timing can be tested with paused tokio
//! time and every front end (the binary, a test, a benchmark) runs the same one:
//! [`run`] takes anything that can make a pass ([`Reconcile`], implemented by
//! [`Reconciler`]), the [`Readiness`] that `/readyz` reports, and a shutdown
//! future, as mini-redis's `run(listener, shutdown)` does.
//!
//! Design decisions:
//! * Passes start one interval apart (counted from the start of the previous
//!   one, so a slow pass does not push the schedule), give or take a jitter of
//!   ±[`RunOptions::jitter`] drawn from a generator seeded with the replica id:
//!   replicas started together drift apart instead of all hitting OCM at once,
//!   and one replica's schedule is reproducible.
//! * Shutdown lets an in-flight pass finish for up to [`RunOptions::drain`]
//!   (within the Kubernetes grace period), then abandons it: dropping the pass
//!   drops its requests and rolls back its open store transactions, so the next
//!   start resumes from a consistent history. Leases are released last, so that
//!   another replica takes the organizations over at once, not after a TTL.
//! * One log line at start and one per pass: an operator reads what the service
//!   does from the log alone, without a dashboard.

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::LocalBoxFuture;
use jiff::Timestamp;
use tokio::time::Instant;

use crate::error::PassError;
use crate::reconciler::{PassReport, Reconciler};
use crate::server::Readiness;

/// Something that runs reconcile passes: a capability's reconciler (AUS's
/// [`Reconciler`] and [`crate::Environments`], rhidp's
/// [`crate::rhidp::RhidpReconciler`]), or a stand-in in tests of the loop's
/// timing. The futures need not be `Send`: the loop awaits them in place (a
/// pass's organization fan-out borrows across awaits in a way the compiler
/// cannot yet prove `Send` for).
///
/// The loop owns timing, shutdown, readiness and lease release; the
/// capability owns what a pass means, and logs its own one-line summary
/// (its figures differ: policies for AUS, SSO clients for rhidp).
pub trait Reconcile {
    /// The capability this loop runs (`aus`, `rhidp`), in its log lines and
    /// readiness.
    fn capability(&self) -> &'static str;
    /// One pass as of `now`: `Ok` when it ran (organizations may still have
    /// failed; that is in its summary and metrics), `Err` with the reason when
    /// it could not run at all (the environment could not be discovered).
    fn pass(&self, now: Timestamp) -> LocalBoxFuture<'_, Result<(), String>>;
    /// Give up every organization lease held (at shutdown); how many were held.
    fn release(&self) -> LocalBoxFuture<'_, usize>;
}

impl Reconcile for Reconciler {
    fn capability(&self) -> &'static str {
        "aus"
    }

    fn pass(&self, now: Timestamp) -> LocalBoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = Reconciler::pass(self, now).await;
            log_aus_pass(&result, started.elapsed())
        })
    }

    fn release(&self) -> LocalBoxFuture<'_, usize> {
        Box::pin(self.release_leases())
    }
}

/// AUS's pass line (one info line per pass), or the reason the pass failed.
pub fn log_aus_pass(result: &Result<PassReport, PassError>, took: Duration) -> Result<(), String> {
    match result {
        Ok(report) => {
            let line = PassLine::of(report);
            tracing::info!(
                capability = "aus",
                orgs_done = line.done,
                orgs_failed = line.failed,
                orgs_leased_elsewhere = line.leased_elsewhere,
                policies_created = line.policies_created,
                channel_switches = line.channel_switches,
                refused_by_ocm = line.refused,
                clusters_skipped = %line.skipped_text(),
                service_logs_sent = line.service_logs_sent,
                duration = ?took,
                "pass finished"
            );
            Ok(())
        }
        Err(e) => Err(format!("the OCM environment could not be discovered: {e}")),
    }
}

/// One loop of [`run_all`]: a capability's reconciler and how it runs.
pub struct Loop<'a> {
    pub reconcile: &'a dyn Reconcile,
    pub options: RunOptions,
}

impl std::fmt::Debug for Loop<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("capability", &self.reconcile.capability())
            .field("options", &self.options)
            .finish()
    }
}

/// Run several capabilities' loops in one process, each with its own
/// interval, until `shutdown` completes; every loop drains and releases its
/// leases. The summaries are in the order of `loops`.
pub async fn run_all(
    loops: &[Loop<'_>],
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
) -> Vec<RunSummary> {
    // One shutdown signal, seen by every loop.
    let shutdown = shutdown.shared();
    futures::future::join_all(
        loops
            .iter()
            .map(|l| run(l.reconcile, &l.options, readiness, shutdown.clone())),
    )
    .await
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Time between the starts of two passes.
    pub interval: Duration,
    /// Each pause varies by up to this fraction of the interval either way
    /// (0.1: ±10 %); clamped to `0.0..=0.5`.
    pub jitter: f64,
    /// This replica's name: seeds the jitter and appears in the logs.
    pub replica_id: String,
    /// After shutdown is asked, how long an in-flight pass may still run
    /// before it is abandoned.
    pub drain: Duration,
    /// What the start line says about the service.
    pub banner: Banner,
}

/// What the start line logs: enough to tell from a log which replica runs
/// against what.
#[derive(Debug, Clone, Default)]
pub struct Banner {
    pub version: String,
    /// The OCM API URL; a password in it is never logged.
    pub ocm_url: String,
    /// The state store, as its redacting `Display` shows it.
    pub store: String,
    /// Organizations in scope: `all`, or the `--org` list, minus `--exclude-org`.
    pub organizations: String,
    /// What may be sent to OCM: `100 requests/s, 200 in flight`.
    pub ocm_budget: String,
}

/// What the loop did, for the caller's exit status and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Passes that ended (successfully or not).
    pub passes: u64,
    /// Passes whose environment discovery failed.
    pub failed_passes: u64,
    /// Whether shutdown abandoned a pass that did not finish within the drain.
    pub abandoned: bool,
    /// Leases released at shutdown.
    pub leases_released: usize,
}

/// Run passes every `options.interval` until `shutdown` completes; see the
/// module documentation for the timing and the shutdown.
pub async fn run<R: Reconcile + ?Sized>(
    reconciler: &R,
    options: &RunOptions,
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
) -> RunSummary {
    let banner = &options.banner;
    let capability = reconciler.capability();
    tracing::info!(
        capability,
        version = %banner.version,
        replica = %options.replica_id,
        ocm = %redact(&banner.ocm_url),
        store = %banner.store,
        organizations = %banner.organizations,
        ocm_budget = %banner.ocm_budget,
        interval = ?options.interval,
        "srecap {capability} run started"
    );
    let mut jitter = Jitter::new(&options.replica_id, options.jitter);
    let mut summary = RunSummary::default();
    tokio::pin!(shutdown);
    loop {
        let started = Instant::now();
        let pass = reconciler.pass(Timestamp::now());
        tokio::pin!(pass);
        let result = tokio::select! {
            r = &mut pass => Some(r),
            () = &mut shutdown => {
                tracing::info!(drain = ?options.drain, "shutting down: letting the pass in flight finish");
                if let Ok(r) = tokio::time::timeout(options.drain, &mut pass).await {
                    record(&mut summary, readiness, capability, &r, started.elapsed());
                } else {
                    // Dropping the pass drops its requests and rolls back its
                    // open store transactions.
                    tracing::warn!(drain = ?options.drain, "abandoned the pass in flight: it did not finish within the drain time");
                    summary.abandoned = true;
                }
                None
            }
        };
        let Some(result) = result else { break };
        record(
            &mut summary,
            readiness,
            capability,
            &result,
            started.elapsed(),
        );
        let next = started + jitter.pause(options.interval);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = &mut shutdown => break,
        }
    }
    summary.leases_released = reconciler.release().await;
    tracing::info!(
        capability,
        passes = summary.passes,
        leases_released = summary.leases_released,
        "srecap {capability} run stopped"
    );
    summary
}

fn record(
    summary: &mut RunSummary,
    readiness: &Readiness,
    capability: &'static str,
    result: &Result<(), String>,
    took: Duration,
) {
    summary.passes += 1;
    match result {
        Ok(()) => readiness.pass_finished_by(capability),
        Err(e) => {
            summary.failed_passes += 1;
            tracing::error!(capability, error = %e, duration = ?took, "pass failed");
        }
    }
}

/// The figures of one pass's log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassLine {
    pub done: usize,
    pub failed: usize,
    pub leased_elsewhere: usize,
    /// Upgrade policies of every kind (classic, control plane, node pool).
    pub policies_created: usize,
    pub channel_switches: usize,
    pub refused: usize,
    /// Clusters without an action, by the planner's reason.
    pub skipped: BTreeMap<&'static str, usize>,
    pub service_logs_sent: usize,
}

impl PassLine {
    pub fn of(report: &PassReport) -> PassLine {
        let mut line = PassLine {
            leased_elsewhere: report.leased_elsewhere.len(),
            ..PassLine::default()
        };
        for org in &report.orgs {
            match &org.result {
                Ok(plan) => {
                    line.done += 1;
                    for e in &plan.clusters {
                        *line.skipped.entry(e.reason.as_str()).or_default() += 1;
                    }
                }
                Err(_) => line.failed += 1,
            }
            for w in &org.execution.created {
                match w.kind {
                    "service_log" => {}
                    "channel_switch" => line.channel_switches += 1,
                    _ => line.policies_created += 1,
                }
            }
            line.refused += org.execution.refused.len();
            line.service_logs_sent += org.execution.service_logs_sent;
        }
        line
    }

    /// `reason=n,reason=n` (or `none`).
    pub fn skipped_text(&self) -> String {
        if self.skipped.is_empty() {
            return "none".to_owned();
        }
        self.skipped
            .iter()
            .map(|(reason, n)| format!("{reason}={n}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `url` with any password replaced by `***`, for logs.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only URLs that cannot have a password fail here, and they have none.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The pauses between passes: the interval ± a fraction, from a small
/// deterministic generator (splitmix64) seeded with the replica id. No
/// cryptographic quality is needed, only spread and reproducibility.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
    fraction: f64,
}

impl Jitter {
    pub fn new(replica_id: &str, fraction: f64) -> Jitter {
        let mut hasher = DefaultHasher::new();
        replica_id.hash(&mut hasher);
        Jitter {
            state: hasher.finish(),
            fraction: if fraction.is_finite() {
                fraction.clamp(0.0, 0.5)
            } else {
                0.0
            },
        }
    }

    fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // The top 53 bits as a fraction in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }

    /// The next pause: `interval × (1 ± fraction)`.
    pub fn pause(&mut self, interval: Duration) -> Duration {
        let factor = 1.0 + self.fraction * (2.0 * self.next_unit() - 1.0);
        interval.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A stand-in reconciler: each pass takes `took` of (paused) time and is
    /// recorded with the instant it started.
    struct Fake {
        name: &'static str,
        took: Duration,
        starts: Mutex<Vec<Instant>>,
        finished: AtomicUsize,
        released: AtomicUsize,
    }

    impl Fake {
        fn new(took: Duration) -> Fake {
            Fake {
                name: "aus",
                took,
                starts: Mutex::new(Vec::new()),
                finished: AtomicUsize::new(0),
                released: AtomicUsize::new(0),
            }
        }
    }

    impl Reconcile for Fake {
        fn capability(&self) -> &'static str {
            self.name
        }

        fn pass(&self, _now: Timestamp) -> LocalBoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                self.starts.lock().unwrap().push(Instant::now());
                tokio::time::sleep(self.took).await;
                self.finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }

        fn release(&self) -> LocalBoxFuture<'_, usize> {
            Box::pin(async move {
                self.released.fetch_add(1, Ordering::SeqCst);
                3
            })
        }
    }

    fn options(interval: Duration, drain: Duration) -> RunOptions {
        RunOptions {
            interval,
            jitter: 0.1,
            replica_id: "replica-a".into(),
            drain,
            banner: Banner::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn passes_start_one_jittered_interval_apart() {
        let fake = Fake::new(Duration::from_secs(20));
        let readiness = Readiness::new(None, Duration::from_mins(1));
        let opts = options(Duration::from_mins(1), Duration::from_secs(30));
        let begin = Instant::now();
        let summary = run(
            &fake,
            &opts,
            &readiness,
            tokio::time::sleep(Duration::from_mins(10)),
        )
        .await;
        let starts = fake.starts.lock().unwrap().clone();
        assert_eq!(starts[0], begin, "the first pass starts at once");
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.len() >= 8, "{gaps:?}");
        for gap in &gaps {
            // Counted from pass start, not pass end: 60 s ± 10 %.
            assert!(
                (Duration::from_secs(54)..=Duration::from_secs(66)).contains(gap),
                "{gap:?}"
            );
        }
        assert!(
            gaps.windows(2).any(|w| w[0] != w[1]),
            "jitter varies the pauses: {gaps:?}"
        );
        // The same replica id gives the same schedule.
        let mut a = Jitter::new("replica-a", 0.1);
        let mut b = Jitter::new("replica-a", 0.1);
        let mut c = Jitter::new("replica-b", 0.1);
        let (pa, pb, pc): (Vec<_>, Vec<_>, Vec<_>) = (0..5)
            .map(|_| {
                let i = Duration::from_mins(1);
                (a.pause(i), b.pause(i), c.pause(i))
            })
            .fold((vec![], vec![], vec![]), |mut acc, (x, y, z)| {
                acc.0.push(x);
                acc.1.push(y);
                acc.2.push(z);
                acc
            });
        assert_eq!(pa, pb);
        assert_ne!(pa, pc);
        assert_eq!(usize::try_from(summary.passes).unwrap(), starts.len());
        assert!(!summary.abandoned);
        assert_eq!(fake.released.load(Ordering::SeqCst), 1);
        assert_eq!(summary.leases_released, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrunning_pass_is_followed_at_once() {
        let fake = Fake::new(Duration::from_secs(90));
        let readiness = Readiness::new(None, Duration::from_mins(1));
        let opts = options(Duration::from_mins(1), Duration::from_mins(2));
        run(
            &fake,
            &opts,
            &readiness,
            tokio::time::sleep(Duration::from_secs(200)),
        )
        .await;
        let starts = fake.starts.lock().unwrap().clone();
        assert_eq!(starts[1] - starts[0], Duration::from_secs(90));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_the_pass_finish_within_the_drain() {
        let fake = Fake::new(Duration::from_secs(30));
        let readiness = Readiness::new(None, Duration::from_mins(5));
        let opts = options(Duration::from_mins(5), Duration::from_mins(1));
        let begin = Instant::now();
        let summary = run(
            &fake,
            &opts,
            &readiness,
            tokio::time::sleep(Duration::from_secs(10)),
        )
        .await;
        assert_eq!(fake.finished.load(Ordering::SeqCst), 1);
        assert_eq!(summary.passes, 1);
        assert!(!summary.abandoned);
        // It stopped when the pass ended, not at the next interval.
        assert_eq!(Instant::now() - begin, Duration::from_secs(30));
        assert!(readiness.last_pass_age().is_some());
        assert_eq!(fake.released.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_abandons_a_pass_that_outlasts_the_drain() {
        let fake = Fake::new(Duration::from_mins(10));
        let readiness = Readiness::new(None, Duration::from_mins(5));
        let opts = options(Duration::from_mins(5), Duration::from_mins(2));
        let begin = Instant::now();
        let summary = run(
            &fake,
            &opts,
            &readiness,
            tokio::time::sleep(Duration::from_secs(10)),
        )
        .await;
        assert!(summary.abandoned);
        assert_eq!(summary.passes, 0);
        assert_eq!(fake.finished.load(Ordering::SeqCst), 0);
        assert_eq!(Instant::now() - begin, Duration::from_secs(130));
        assert!(readiness.last_pass_age().is_none());
        // Leases are released even so.
        assert_eq!(fake.released.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_the_pause_stops_at_once() {
        let fake = Fake::new(Duration::from_secs(1));
        let readiness = Readiness::new(None, Duration::from_mins(5));
        let opts = options(Duration::from_mins(5), Duration::from_mins(1));
        let begin = Instant::now();
        let summary = run(
            &fake,
            &opts,
            &readiness,
            tokio::time::sleep(Duration::from_secs(100)),
        )
        .await;
        assert_eq!(summary.passes, 1);
        assert_eq!(Instant::now() - begin, Duration::from_secs(100));
    }

    #[tokio::test(start_paused = true)]
    async fn several_capabilities_run_at_their_own_intervals_and_stop_together() {
        let mut aus = Fake::new(Duration::from_secs(5));
        aus.name = "aus";
        let mut rhidp = Fake::new(Duration::from_secs(1));
        rhidp.name = "rhidp";
        let readiness = Readiness::for_loops(
            None,
            &[
                ("aus", Duration::from_mins(5)),
                ("rhidp", Duration::from_mins(1)),
            ],
        );
        assert!(readiness.check().await.is_err(), "no pass yet");
        let mut fast = options(Duration::from_mins(1), Duration::from_secs(30));
        fast.jitter = 0.0;
        let mut slow = options(Duration::from_mins(5), Duration::from_secs(30));
        slow.jitter = 0.0;
        let loops = [
            Loop {
                reconcile: &aus,
                options: slow,
            },
            Loop {
                reconcile: &rhidp,
                options: fast,
            },
        ];
        let begin = Instant::now();
        let summaries = run_all(
            &loops,
            &readiness,
            tokio::time::sleep(Duration::from_secs(630)),
        )
        .await;
        // 0, 5, 10 min for AUS; every minute for rhidp; both stop at 10.5 min.
        assert_eq!(summaries[0].passes, 3);
        assert_eq!(summaries[1].passes, 11);
        assert_eq!(Instant::now() - begin, Duration::from_secs(630));
        assert_eq!(aus.released.load(Ordering::SeqCst), 1);
        assert_eq!(rhidp.released.load(Ordering::SeqCst), 1);
        assert!(
            readiness.check().await.is_ok(),
            "both loops passed recently"
        );
        // A loop that stops passing makes the process unready, named.
        tokio::time::advance(Duration::from_mins(3)).await;
        let why = readiness.check().await.unwrap_err();
        assert!(why.contains("of rhidp"), "{why}");
    }

    #[test]
    fn urls_are_logged_without_their_password() {
        assert_eq!(
            redact("postgres://srecap:hunter2@db:5432/srecap"),
            "postgres://srecap:***@db:5432/srecap"
        );
        assert_eq!(
            redact("https://api.openshift.com"),
            "https://api.openshift.com"
        );
        assert_eq!(redact("not a url"), "not a url");
    }
}
