//! The request-rate budget an operator gives one OCM environment.
//!
//! OCM is shared by every tenant of the environment, and its gateway limits
//! callers by rate, not by connections. A fixed number of requests in flight is
//! the wrong knob for that: at 50 ms of latency eight in flight are 160 requests
//! a second, at 500 ms only 16. The budget fixes the rate instead, and the
//! number in flight follows from it (Little's law: in flight = rate × latency).
//!
//! The budget is a generic cell rate algorithm (a token bucket kept as one
//! "theoretical arrival time"): each request reserves the next free slot under
//! a lock and then sleeps until it, so waiting requests keep their order and the
//! rate is never exceeded, whatever the number of callers. Up to `burst`
//! requests may go at once after a quiet period.
//!
//! Time is tokio's, so tests run it under paused time.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Why a rate budget could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RateError {
    /// The rate is zero, negative, not a number, or beyond a million a second.
    #[error(
        "a request rate must be a number of requests per second above 0 and at most 1000000, not {0}"
    )]
    InvalidRate(f64),
    /// A burst of 0 would never let a request through.
    #[error("a request burst must be at least 1")]
    InvalidBurst,
}

/// Requests per second, and how many may go at once after a quiet period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    /// `per_second` with a burst of a tenth of a second's worth (at least 1):
    /// small enough not to hit OCM with a wall of requests when a pass starts.
    pub fn per_second(per_second: f64) -> Result<Rate, RateError> {
        let rate = Rate {
            per_second,
            burst: 1,
        };
        rate.interval()?;
        // Checked above: finite, positive and at most a million.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let burst = (per_second / 10.0).ceil().max(1.0) as u32;
        Ok(Rate { burst, ..rate })
    }

    fn interval(self) -> Result<Duration, RateError> {
        if !(self.per_second.is_finite() && self.per_second > 0.0 && self.per_second <= 1e6) {
            return Err(RateError::InvalidRate(self.per_second));
        }
        if self.burst == 0 {
            return Err(RateError::InvalidBurst);
        }
        Ok(Duration::from_secs_f64(1.0 / self.per_second))
    }
}

/// A shared request-rate budget (see the module documentation).
pub struct RateBudget {
    rate: Rate,
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of the present a reservation may start: the burst.
    tolerance: Duration,
    /// When the next request would go if the budget were used evenly; `None`
    /// before the first request.
    next: Mutex<Option<Instant>>,
    /// Requests sleeping for their slot now: the sign that the budget, not
    /// OCM, is what limits progress.
    waiting: AtomicUsize,
}

impl fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateBudget")
            .field("rate", &self.rate)
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

impl RateBudget {
    pub fn new(rate: Rate) -> Result<RateBudget, RateError> {
        let interval = rate.interval()?;
        Ok(RateBudget {
            rate,
            interval,
            tolerance: interval * rate.burst,
            next: Mutex::new(None),
            waiting: AtomicUsize::new(0),
        })
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Requests waiting for their slot at this moment.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Wait until this request may go. Cancel-safe: a dropped wait gives up its
    /// slot's place in the count of waiters (the slot itself stays used, which
    /// only errs on the side of fewer requests).
    pub async fn acquire(&self) {
        let now = Instant::now();
        let at = self.reserve(now);
        if at > now {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let _waiter = Waiter(&self.waiting);
            tokio::time::sleep_until(at).await;
        }
    }

    /// Reserve the next slot at or after `now` and say when it starts.
    fn reserve(&self, now: Instant) -> Instant {
        // A poisoned lock only means another caller panicked between two
        // assignments of a plain value; the value is still a valid instant.
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let theoretical = next.map_or(now, |t| t.max(now)) + self.interval;
        *next = Some(theoretical);
        // A quiet budget lets `burst` requests through at once; after that,
        // one per interval.
        theoretical
            .checked_sub(self.tolerance)
            .map_or(now, |start| start.max(now))
    }
}

struct Waiter<'a>(&'a AtomicUsize);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_rates_are_refused() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
            assert!(Rate::per_second(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RateBudget::new(Rate {
                per_second: 1.0,
                burst: 0
            })
            .unwrap_err(),
            RateError::InvalidBurst
        );
    }

    #[test]
    fn the_burst_is_a_tenth_of_a_second() {
        assert_eq!(Rate::per_second(100.0).unwrap().burst, 10);
        assert_eq!(Rate::per_second(5.0).unwrap().burst, 1);
        assert_eq!(Rate::per_second(0.5).unwrap().burst, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_one_per_interval() {
        let budget = RateBudget::new(Rate {
            per_second: 10.0,
            burst: 3,
        })
        .unwrap();
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..6 {
            budget.acquire().await;
            sent.push(start.elapsed());
        }
        let ms: Vec<u128> = sent.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 0, 100, 200, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn many_callers_share_one_rate() {
        let budget = std::sync::Arc::new(
            RateBudget::new(Rate {
                per_second: 50.0,
                burst: 5,
            })
            .unwrap(),
        );
        let start = Instant::now();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let budget = std::sync::Arc::clone(&budget);
                tokio::spawn(async move {
                    budget.acquire().await;
                    Instant::now()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(budget.waiting() > 0, "callers beyond the burst wait");
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        // 100 requests at 50/s with a burst of 5: the last goes after 1.9 s.
        let last = times.iter().max().unwrap().duration_since(start);
        assert_eq!(last, Duration::from_millis(1900));
        // Never more than the burst plus the sustained rate in any second.
        for window_start in &times {
            let in_window = times
                .iter()
                .filter(|t| **t >= *window_start && **t < *window_start + Duration::from_secs(1))
                .count();
            assert!(in_window <= 55, "{in_window} requests in one second");
        }
        assert_eq!(budget.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_budget_refills_only_up_to_the_burst() {
        let budget = RateBudget::new(Rate {
            per_second: 10.0,
            burst: 2,
        })
        .unwrap();
        budget.acquire().await;
        tokio::time::sleep(Duration::from_mins(1)).await;
        let start = Instant::now();
        for _ in 0..4 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_is_not_counted() {
        let budget = RateBudget::new(Rate {
            per_second: 1.0,
            burst: 1,
        })
        .unwrap();
        budget.acquire().await;
        let waited = tokio::time::timeout(Duration::from_millis(10), budget.acquire()).await;
        assert!(waited.is_err());
        assert_eq!(budget.waiting(), 0);
    }
}
