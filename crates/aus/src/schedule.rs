//! Maintenance-window slots (R84, R85).

use jiff::{SignedDuration, Timestamp};
use srecap_labels::CronSchedule;

/// A cluster's policy is booked at least this far ahead (R84; OCM itself requires 5
/// minutes).
pub const CLUSTER_DELAY: SignedDuration = SignedDuration::from_mins(6);
/// ... and only when the slot is at most this far away.
pub const CLUSTER_WINDOW: SignedDuration = SignedDuration::from_hours(2);

/// An add-on policy: at least this far ahead (R84, R115) ...
pub const ADDON_DELAY: SignedDuration = SignedDuration::from_mins(1);
/// ... and only when the slot is at most this far away (R115).
pub const ADDON_WINDOW: SignedDuration = SignedDuration::from_mins(10);

/// How far ahead a flavour of AUS books, and how near a slot must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub delay: SignedDuration,
    pub window: SignedDuration,
}

impl Timing {
    /// Cluster upgrades (R84).
    pub const CLUSTER: Timing = Timing {
        delay: CLUSTER_DELAY,
        window: CLUSTER_WINDOW,
    };
    /// Add-on upgrades (R115).
    pub const ADDON: Timing = Timing {
        delay: ADDON_DELAY,
        window: ADDON_WINDOW,
    };
}

/// Where `now` stands relative to a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The next slot is close enough: book it.
    Open(Timestamp),
    /// The next slot is too far away (or never comes).
    Closed(Option<Timestamp>),
}

/// The slot for a pass at `now`: the first fire time strictly after `now + delay`;
/// open iff it is at most `window` after `now` (inclusive).
pub fn window(
    schedule: &CronSchedule,
    now: Timestamp,
    delay: SignedDuration,
    window: SignedDuration,
) -> Window {
    let Ok(earliest) = now.checked_add(delay) else {
        return Window::Closed(None);
    };
    match schedule.first_after(earliest) {
        Some(slot) if slot.duration_since(now) <= window => Window::Open(slot),
        other => Window::Closed(other),
    }
}

/// Instants are written `YYYY-MM-DDTHH:MM:SSZ`: sub-seconds are dropped (R81, R96).
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn w(expr: &str, now: &str) -> Window {
        window(
            &CronSchedule::parse(expr).unwrap(),
            ts(now),
            CLUSTER_DELAY,
            CLUSTER_WINDOW,
        )
    }

    #[test]
    fn w16_r84_slots_and_window() {
        assert_eq!(
            w("* * * * *", "2021-08-30T18:00:00Z"),
            Window::Open(ts("2021-08-30T18:07:00Z"))
        );
        assert_eq!(
            w("* * * * *", "2021-08-30T18:00:23Z"),
            Window::Open(ts("2021-08-30T18:07:00Z"))
        );
        assert!(matches!(
            w("* 21 * * *", "2021-08-30T18:00:00Z"),
            Window::Closed(Some(_))
        ));
        assert_eq!(
            w("0 12 * * *", "2021-08-30T10:30:00Z"),
            Window::Open(ts("2021-08-30T12:00:00Z"))
        );
        assert_eq!(
            w("0 12 * * *", "2021-08-30T09:59:00Z"),
            Window::Closed(Some(ts("2021-08-30T12:00:00Z")))
        );
        assert_eq!(
            w("0 12 * * *", "2021-08-30T10:00:00Z"),
            Window::Open(ts("2021-08-30T12:00:00Z"))
        );
        assert_eq!(
            w("0 12 * * *", "2021-08-30T11:55:00Z"),
            Window::Closed(Some(ts("2021-08-31T12:00:00Z")))
        );
        // R85: a fire time exactly 6 minutes ahead is skipped.
        assert_eq!(
            w("6 18 * * *", "2021-08-30T18:00:00Z"),
            Window::Closed(Some(ts("2021-08-31T18:06:00Z")))
        );
        assert_eq!(
            w("0 10 1 * 1", "2021-11-01T08:30:00Z"),
            Window::Open(ts("2021-11-01T10:00:00Z"))
        );
    }
}
