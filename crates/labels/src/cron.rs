//! Cron schedules with AND semantics for day-of-month and day-of-week, in UTC.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The expression does not have exactly five fields.
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), got {0}")]
    FieldCount(usize),
    /// The cron library rejected the expression.
    #[error("invalid cron expression {expr:?}: {reason}")]
    Syntax { expr: String, reason: String },
    /// The expression is valid but no instant ever matches it.
    #[error("cron expression {0:?} never fires")]
    NeverFires(String),
}

/// A parsed five-field cron expression, evaluated in UTC.
///
/// Day matching uses AND semantics (AUS spec R84): when both day-of-month and
/// day-of-week are restricted, a day must satisfy both — `0 0 1-7 * 1` is the first
/// Monday of the month, not "days 1–7 or any Monday" as in Vixie cron.
#[derive(Clone)]
pub struct CronSchedule {
    source: Arc<str>,
    // Shared: a parsed schedule is large and cloned into every cluster policy.
    cron: Arc<Cron>,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.source).finish()
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl CronSchedule {
    /// Parse and check that the schedule fires at least once after `probe` (the
    /// reference accepted never-firing expressions and failed later, §18 G8).
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let trimmed = expr.trim();
        // Aliases such as `@daily` are one token; everything else must be 5 fields.
        // 6- and 7-field forms (seconds, years) are rejected on purpose: OCM schedules
        // have minute resolution and a year field is a foot-gun (spec R21 deviation).
        if !trimmed.starts_with('@') {
            let fields = trimmed.split_whitespace().count();
            if fields != 5 {
                return Err(CronError::FieldCount(fields));
            }
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .dom_and_dow(true)
            .build();
        let cron = parser.parse(trimmed).map_err(|e| CronError::Syntax {
            expr: trimmed.to_owned(),
            // Name the field and its range where we can: the library's own
            // words ("Number out of bounds") do not say which.
            reason: out_of_range(trimmed).unwrap_or_else(|| e.to_string()),
        })?;
        let schedule = CronSchedule {
            source: trimmed.into(),
            cron: Arc::new(cron),
        };
        // A fixed probe keeps validation deterministic; 28 years covers every
        // calendar combination (the Gregorian weekday/leap-year cycle repeats
        // within 28 years for the years a cluster will live in).
        let probe = Timestamp::from_second(1_767_225_600).expect("2026-01-01 is valid"); // 2026-01-01
        match schedule.first_after(probe) {
            Some(next) if next.duration_since(probe).as_hours() < 28 * 366 * 24 => Ok(schedule),
            _ => Err(CronError::NeverFires(trimmed.to_owned())),
        }
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `t` (whole minutes), or `None` if the
    /// expression never fires again.
    pub fn first_after(&self, t: Timestamp) -> Option<Timestamp> {
        let zoned = t.to_zoned(TimeZone::UTC);
        self.cron
            .find_next_occurrence(&zoned, false)
            .ok()
            .map(|z| z.timestamp())
    }
}

/// The five fields: name and allowed numbers.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// The first number of a five-field expression outside its field's range,
/// said with the field and the range.
fn out_of_range(expr: &str) -> Option<String> {
    for (position, (field, (name, low, high))) in expr.split_whitespace().zip(FIELDS).enumerate() {
        for item in field.split(',') {
            let range = item.split_once('/').map_or(item, |(range, _)| range);
            for number in range.split('-').filter_map(|n| n.parse::<u32>().ok()) {
                if number < low || number > high {
                    return Some(format!(
                        "{number} is out of range for the {name} field (field {} of 5: {low}-{high})",
                        position + 1
                    ));
                }
            }
        }
    }
    None
}

impl FromStr for CronSchedule {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSchedule::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_range_number_names_its_field_and_range() {
        for (expr, says) in [
            (
                "0 25 * * *",
                "25 is out of range for the hour field (field 2 of 5: 0-23)",
            ),
            (
                "61 * * * *",
                "61 is out of range for the minute field (field 1 of 5: 0-59)",
            ),
            (
                "0 3 * * 9",
                "9 is out of range for the day-of-week field (field 5 of 5: 0-7)",
            ),
            (
                "0 3 0 * *",
                "0 is out of range for the day-of-month field (field 3 of 5: 1-31)",
            ),
            (
                "0 3 * 1-13/2 *",
                "13 is out of range for the month field (field 4 of 5: 1-12)",
            ),
        ] {
            let err = CronSchedule::parse(expr).unwrap_err().to_string();
            assert!(err.contains(says), "{expr}: {err}");
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn r84_day_of_month_and_day_of_week_are_anded() {
        let c = CronSchedule::parse("0 0 1 * 1").unwrap();
        assert_eq!(
            c.first_after(ts("2021-08-30T00:00:00Z")),
            Some(ts("2021-11-01T00:00:00Z"))
        );
        let c = CronSchedule::parse("0 10 1 * 1").unwrap();
        assert_eq!(
            c.first_after(ts("2021-08-30T18:00:00Z")),
            Some(ts("2021-11-01T10:00:00Z"))
        );
        let first_monday = CronSchedule::parse("0 0 1-7 * 1").unwrap();
        assert_eq!(
            first_monday.first_after(ts("2021-09-01T00:00:00Z")),
            Some(ts("2021-09-06T00:00:00Z"))
        );
        let days = CronSchedule::parse("0 0 1-7 * *").unwrap();
        assert_eq!(
            days.first_after(ts("2021-09-01T00:00:00Z")),
            Some(ts("2021-09-02T00:00:00Z"))
        );
    }

    #[test]
    fn first_after_is_strict_and_minute_aligned() {
        let c = CronSchedule::parse("* * * * *").unwrap();
        assert_eq!(
            c.first_after(ts("2021-08-30T18:06:00Z")),
            Some(ts("2021-08-30T18:07:00Z"))
        );
        assert_eq!(
            c.first_after(ts("2021-08-30T18:06:23Z")),
            Some(ts("2021-08-30T18:07:00Z"))
        );
    }

    #[test]
    fn r21_rejects_bad_expressions() {
        for bad in [
            "0 48 * * 1-5",
            "60 * * * *",
            "* * * *",
            "*/0 * * * *",
            "H * * * *",
            "foo",
            "0 25 * * *",
            "",
            "0 0 * * * *",
            "0 0 * * * * 2030",
        ] {
            assert!(CronSchedule::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn r21_accepts_names_lists_ranges_steps_and_aliases() {
        for good in [
            "0 * * * *",
            "*/30 * * * *",
            "15 10,11,12 * * *",
            "0 12 * * 1-5",
            "0 0 * * 0",
            "0 0 * * 7",
            "0 0 * JAN,FEB MON-FRI",
            "0 0 L * *",
            "0 0 * * 1#1",
            "@daily",
            "@hourly",
        ] {
            assert!(CronSchedule::parse(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn never_firing_expressions_are_rejected() {
        assert_eq!(
            CronSchedule::parse("0 0 31 2 *").unwrap_err(),
            CronError::NeverFires("0 0 31 2 *".into())
        );
    }
}
