//! Admission: how many organizations a pass reconciles at once.
//!
//! A fixed count is wrong both ways: at low OCM latency it leaves the request
//! budget unused, at high latency (or a low budget) it starts organizations
//! that then share the budget so thinly that each one risks its deadline.
//! Instead, another organization starts only while OCM says it is not
//! saturated (requests are not queuing for the rate budget or the in-flight
//! limit), one at a time with a short pause between starts so that the last
//! one's requests show in the signal, and never more than a hard maximum
//! (memory, store connections). An OCM without such a signal (the in-process
//! simulator) admits up to the maximum at once.

use std::future::Future;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

/// Pause between two admissions while the signal says there is room: long
/// enough for a started organization's first requests to reach the budget.
pub const ADMISSION_PAUSE: Duration = Duration::from_millis(25);

/// Run `work` with at most `max` futures at once, admitting more only while
/// `saturated` says `Some(false)` (or always, up to `max`, when it says
/// `None`). Results come in completion order.
pub async fn admit<I, F>(
    work: I,
    max: usize,
    saturated: impl Fn() -> Option<bool>,
) -> Vec<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let max = max.max(1);
    let mut waiting = work.into_iter().peekable();
    let mut running = FuturesUnordered::new();
    let mut done = Vec::new();
    let mut last_admitted: Option<Instant> = None;
    loop {
        // Admit what the signal allows now.
        while waiting.peek().is_some() && running.len() < max {
            let room = match saturated() {
                None => true,
                Some(saturated) => {
                    running.is_empty()
                        || (!saturated
                            && last_admitted.is_none_or(|t| t.elapsed() >= ADMISSION_PAUSE))
                }
            };
            if !room {
                break;
            }
            if let Some(next) = waiting.next() {
                running.push(next);
                last_admitted = Some(Instant::now());
            }
        }
        if running.is_empty() {
            return done;
        }
        let can_grow = waiting.peek().is_some() && running.len() < max && saturated().is_some();
        if can_grow {
            // Look again after a pause, or as soon as one finishes.
            tokio::select! {
                Some(output) = running.next() => done.push(output),
                () = tokio::time::sleep(ADMISSION_PAUSE) => {}
            }
        } else if let Some(output) = running.next().await {
            done.push(output);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Runs `n` jobs of `length` each and returns the most that ran at once.
    async fn peak(
        n: usize,
        max: usize,
        length: Duration,
        signal: impl Fn(usize) -> Option<bool>,
    ) -> (usize, Vec<usize>) {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..n).map(|i| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(length).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let counter = Arc::clone(&running);
        let done = admit(jobs, max, move || signal(counter.load(Ordering::SeqCst))).await;
        (peak.load(Ordering::SeqCst), done)
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_signal_the_maximum_runs_at_once() {
        let (peak, done) = peak(20, 8, Duration::from_secs(1), |_| None).await;
        assert_eq!(peak, 8);
        let mut done = done;
        done.sort_unstable();
        assert_eq!(done, (0..20).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_saturated_ocm_gets_no_more_work() {
        // The budget is saturated from three organizations on.
        let (peak, done) = peak(20, 64, Duration::from_secs(1), |running| Some(running >= 3)).await;
        assert_eq!(peak, 3);
        assert_eq!(done.len(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn room_is_filled_one_at_a_time_up_to_the_maximum() {
        let start = Instant::now();
        let (peak, _) = peak(10, 4, Duration::from_secs(1), |_| Some(false)).await;
        assert_eq!(peak, 4);
        // Four starts 25 ms apart, then each finish makes room: well under the
        // 10 s that one at a time would take.
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_always_runs_even_when_saturated() {
        let (peak, done) = peak(3, 8, Duration::from_millis(10), |_| Some(true)).await;
        assert_eq!(peak, 1);
        assert_eq!(done, [0, 1, 2]);
    }
}
