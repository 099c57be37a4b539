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
/// Users' patterns run on every pass of a shared service, so their cost is
/// bounded (issue 15, item 10): a pattern the linear-time `regex` engine accepts
/// (no look-around, no backreference) runs there; only the others run on
/// `fancy-regex`'s backtracking engine, which the reference's Python `re` needs for
/// `^4\.15\.(?!1$)`, with a small backtracking budget
/// ([`VersionPattern::BACKTRACK_LIMIT`]). A match that exhausts the budget is a
/// [`PatternTooCostly`] error the planner reports as a label error, never a hang.
#[derive(Clone)]
pub struct VersionPattern {
    source: String,
    engine: Engine,
}

#[derive(Clone)]
enum Engine {
    Linear(regex::Regex),
    Backtracking(fancy_regex::Regex),
}

/// A pattern needed more backtracking steps than [`VersionPattern::BACKTRACK_LIMIT`]
/// to decide whether it matches a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "pattern {pattern:?} needs more than {limit} backtracking steps to test version {version}: \
     use a simpler pattern (without backreferences or nested repetition)"
)]
pub struct PatternTooCostly {
    pub pattern: String,
    pub version: String,
    pub limit: usize,
}

impl VersionPattern {
    /// Backtracking steps one match of a look-around or backreference pattern may
    /// take. Real patterns against a version string take a few dozen; a
    /// catastrophic one (`(.?){20}\1.{20}`) exhausts it in well under a
    /// millisecond rather than running for seconds (fancy-regex's default is
    /// 1 000 000).
    pub const BACKTRACK_LIMIT: usize = 10_000;

    pub fn parse(source: &str) -> Result<Self, String> {
        // `regex` refuses exactly the constructs that need backtracking
        // (look-around, backreferences); everything it accepts it runs in
        // linear time, with the same meaning as fancy-regex's.
        if let Ok(regex) = regex::Regex::new(source) {
            return Ok(VersionPattern {
                source: source.to_owned(),
                engine: Engine::Linear(regex),
            });
        }
        let pattern = fancy_regex::RegexBuilder::new(source)
            .backtrack_limit(Self::BACKTRACK_LIMIT)
            .build()
            .map(|regex| VersionPattern {
                source: source.to_owned(),
                engine: Engine::Backtracking(regex),
            })
            .map_err(|e| format!("invalid regular expression {source:?}: {e}"))?;
        // A pattern that cannot even decide typical versions within its budget
        // is refused when read, so the CLI (which validates values without
        // knowing any version) never writes one the planner will reject.
        for probe in Self::PROBES {
            pattern.try_matches(probe).map_err(|e| e.to_string())?;
        }
        Ok(pattern)
    }

    /// Typical versions a backtracking pattern must decide within its budget to
    /// be accepted at all: a release and a release candidate.
    const PROBES: [&str; 2] = ["4.16.10", "4.17.0-rc.1"];

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern runs on the backtracking engine (look-around or
    /// backreferences), so a match can exhaust its budget.
    pub fn backtracks(&self) -> bool {
        matches!(self.engine, Engine::Backtracking(_))
    }

    /// Whether the pattern matches anywhere in `version`, or an error when the
    /// backtracking budget ran out before that was decided.
    pub fn try_matches(&self, version: &str) -> Result<bool, PatternTooCostly> {
        match &self.engine {
            Engine::Linear(r) => Ok(r.is_match(version)),
            Engine::Backtracking(r) => r.is_match(version).map_err(|_| PatternTooCostly {
                pattern: self.source.clone(),
                version: version.to_owned(),
                limit: Self::BACKTRACK_LIMIT,
            }),
        }
    }

    /// Whether the pattern matches anywhere in `version`. A pattern that exceeds
    /// the backtracking budget counts as matching: when in doubt, do not upgrade.
    /// (The planner checks [`VersionPattern::try_matches`] first and reports
    /// such a pattern as a label error.)
    pub fn matches(&self, version: &str) -> bool {
        self.try_matches(version).unwrap_or(true)
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
    fn r22_only_look_around_and_backreferences_backtrack() {
        // Issue 15 item 10: the linear engine wherever the pattern allows it.
        for linear in [r"^4\.12\.1$", "4.12", r"^4\.1[0-3]\..*", "(.?){20}.{20}"] {
            assert!(
                !VersionPattern::parse(linear).unwrap().backtracks(),
                "{linear}"
            );
        }
        for fancy in [r"^4\.15\.(?!1$)", r"(?<=4\.)12", r"(\d)\1"] {
            assert!(
                VersionPattern::parse(fancy).unwrap().backtracks(),
                "{fancy}"
            );
        }
        assert!(VersionPattern::parse(r"(\d)\.\1").unwrap().matches("4.4.1"));
        assert!(
            !VersionPattern::parse(r"(\d)\.\1")
                .unwrap()
                .matches("4.12.1")
        );
    }

    #[test]
    fn r22_a_catastrophic_pattern_is_refused_when_read_quickly() {
        // The hostile label of issue 15 item 10: exponential backtracking on
        // fancy-regex's default budget; here refused on the probe versions, fast.
        let started = std::time::Instant::now();
        for _ in 0..625 {
            let err = VersionPattern::parse(r"(.?){20}\1.{20}").unwrap_err();
            assert_eq!(
                err,
                r#"pattern "(.?){20}\\1.{20}" needs more than 10000 backtracking steps to test version 4.16.10: use a simpler pattern (without backreferences or nested repetition)"#
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn r22_a_pattern_costly_on_some_versions_only_is_an_error_there() {
        // Decides the probe versions at once (anchored on 4.12), explodes on 4.12.
        let p = VersionPattern::parse(r"^4\.12(.?){60}\1.{60}").unwrap();
        let err = p.try_matches("4.12.16").unwrap_err();
        assert_eq!(err.version, "4.12.16");
        assert!(p.matches("4.12.16"), "a pattern out of budget blocks");
        assert_eq!(p.try_matches("4.13.1"), Ok(false));
    }

    #[test]
    fn whole_numbers_are_plain_digits() {
        assert_eq!(parse_whole_number(" 12 "), Ok(12));
        for bad in ["-1", "+1", "1_0", "2.0", "1.5", "abc", ""] {
            assert!(parse_whole_number(bad).is_err(), "{bad}");
        }
    }
}
