//! Typed label values.

use std::fmt;
use std::sync::Arc;

use crate::cron::CronSchedule;

/// A parsed label value, by [`crate::LabelKind`].
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    Text(String),
    WholeNumber(u64),
    /// Shared: many clusters carry the same value, and clones are refcounts.
    List(Arc<[String]>),
    Cron(CronSchedule),
    Patterns(Arc<[VersionPattern]>),
    Limit(ParallelLimit),
}

/// A maximum number of parallel upgrades: an absolute count or a percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParallelLimit {
    Count(u64),
    Percent(u64),
}

impl ParallelLimit {
    /// Parse `N` or `N%` (N a whole number, whitespace around N allowed).
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim();
        let (digits, percent) = match v.strip_suffix('%') {
            Some(rest) => (rest.trim(), true),
            None => (v, false),
        };
        let n = parse_whole_number(digits).map_err(|()| {
            format!("expected a whole number >= 0 or a percentage like \"50%\", got {value:?}")
        })?;
        Ok(if percent {
            ParallelLimit::Percent(n)
        } else {
            ParallelLimit::Count(n)
        })
    }

    /// The limit for a group of `members` clusters (spec R57, R59): a percentage is
    /// rounded half to even; a limit of 0 becomes 1 so a sector can always move.
    pub fn limit_for(self, members: usize) -> u64 {
        let raw = match self {
            ParallelLimit::Count(n) => n,
            ParallelLimit::Percent(p) => {
                let exact = members as f64 * p as f64 / 100.0;
                // Non-negative and far below 2^53: the cast is exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let rounded = exact.round_ties_even() as u64;
                rounded
            }
        };
        raw.max(1)
    }
}

impl fmt::Display for ParallelLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParallelLimit::Count(n) => write!(f, "{n}"),
            ParallelLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A blocked-version pattern: a regular expression (Python `re` dialect, as the
/// reference) that blocks a version when it matches **anywhere** in it.
///
/// `fancy-regex` is used instead of `regex` because the reference evaluates the
/// patterns with Python's `re`, which has look-around; users write `^4\.15\.(?!1$)`.
#[derive(Clone)]
pub struct VersionPattern {
    source: String,
    regex: fancy_regex::Regex,
}

impl VersionPattern {
    pub fn parse(source: &str) -> Result<Self, String> {
        fancy_regex::Regex::new(source)
            .map(|regex| VersionPattern {
                source: source.to_owned(),
                regex,
            })
            .map_err(|e| format!("invalid regular expression {source:?}: {e}"))
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches anywhere in `version`. A pattern that exceeds
    /// the backtracking limit counts as matching: when in doubt, do not upgrade.
    pub fn matches(&self, version: &str) -> bool {
        self.regex.is_match(version).unwrap_or(true)
    }
}

impl fmt::Debug for VersionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VersionPattern").field(&self.source).finish()
    }
}

impl PartialEq for VersionPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Plain ASCII digits with optional surrounding whitespace.
pub(crate) fn parse_whole_number(value: &str) -> Result<u64, ()> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    v.parse().map_err(|_| ())
}

/// Split a CSV value, trimming items; empty items are an error (spec §18 G18).
pub(crate) fn parse_csv(value: &str) -> Result<Vec<String>, String> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            if item.is_empty() {
                Err(format!("item {} of {value:?} is empty", i + 1))
            } else {
                Ok(item.to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r59_percent_limits_round_half_to_even() {
        let p = |n| ParallelLimit::Percent(n);
        assert_eq!(p(50).limit_for(5), 2);
        assert_eq!(p(50).limit_for(3), 2);
        assert_eq!(p(50).limit_for(7), 4);
        assert_eq!(p(50).limit_for(1), 1);
        assert_eq!(p(33).limit_for(5), 2);
        assert_eq!(p(2).limit_for(5), 1);
        assert_eq!(ParallelLimit::Count(0).limit_for(5), 1);
        assert_eq!(ParallelLimit::Count(3).limit_for(5), 3);
    }

    #[test]
    fn parallel_limit_parsing() {
        assert_eq!(ParallelLimit::parse("2"), Ok(ParallelLimit::Count(2)));
        assert_eq!(ParallelLimit::parse("50%"), Ok(ParallelLimit::Percent(50)));
        assert_eq!(ParallelLimit::parse("50 %"), Ok(ParallelLimit::Percent(50)));
        assert!(ParallelLimit::parse("-1").is_err());
        assert!(ParallelLimit::parse("1.5").is_err());
        assert!(ParallelLimit::parse("abc").is_err());
        assert!(ParallelLimit::parse("").is_err());
    }

    #[test]
    fn g18_csv_trims_and_rejects_empty_items() {
        assert_eq!(parse_csv("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_csv("a, b").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_csv("").unwrap(), Vec::<String>::new());
        assert!(parse_csv(",").is_err());
        assert!(parse_csv("a,,b").is_err());
    }

    #[test]
    fn r22_patterns_match_anywhere() {
        let p = VersionPattern::parse("4.12.1").unwrap();
        assert!(p.matches("4.12.10"));
        assert!(p.matches("14.12.1"));
        let anchored = VersionPattern::parse(r"^4\.12\.1$").unwrap();
        assert!(!anchored.matches("4.12.10"));
        let lookahead = VersionPattern::parse(r"^4\.15\.(?!1$)").unwrap();
        assert!(lookahead.matches("4.15.2"));
        assert!(!lookahead.matches("4.15.1"));
        assert!(VersionPattern::parse("(").is_err());
    }

    #[test]
    fn whole_numbers_are_plain_digits() {
        assert_eq!(parse_whole_number(" 12 "), Ok(12));
        for bad in ["-1", "+1", "1_0", "2.0", "1.5", "abc", ""] {
            assert!(parse_whole_number(bad).is_err(), "{bad}");
        }
    }
}
