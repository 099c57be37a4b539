//! Blocked-version verdicts (R22, R32), evaluated once per pattern and version.
//!
//! Blocked-version patterns are users' regular expressions, and one organization's
//! labels must never stall the others (issue 15, item 10). So the planner decides
//! every (pattern, version) pair it can need while it validates the labels —
//! each pattern against each distinct version a cluster may move to — and the
//! decision loop only looks the verdicts up. A pattern that exhausts its
//! backtracking budget ([`srecap_labels::VersionPattern::BACKTRACK_LIMIT`]) on a
//! version is then a label error of whoever set it (the organization or the
//! cluster), which freezes the organization (R6) with a message naming the label,
//! instead of a decision that quietly takes seconds per candidate.

use rustc_hash::FxHashMap;
use srecap_labels::{PatternTooCostly, VersionPattern};

/// Verdicts by pattern source, then version string. Failures are kept too, so a
/// pattern shared by many clusters' labels costs its budget once per version.
#[derive(Debug, Default)]
pub(crate) struct BlockedVerdicts {
    by_pattern: FxHashMap<String, FxHashMap<String, Result<bool, PatternTooCostly>>>,
}

impl BlockedVerdicts {
    /// Decide every pattern against every version, each pair once per pass; the
    /// first pattern out of budget is the error.
    pub(crate) fn evaluate(
        &mut self,
        patterns: &[VersionPattern],
        versions: &[&str],
    ) -> Result<(), PatternTooCostly> {
        for p in patterns {
            let verdicts = self.by_pattern.entry(p.as_str().to_owned()).or_default();
            for &v in versions {
                let verdict = if let Some(known) = verdicts.get(v) {
                    known.clone()
                } else {
                    let verdict = p.try_matches(v);
                    verdicts.insert(v.to_owned(), verdict.clone());
                    verdict
                };
                verdict?;
            }
        }
        Ok(())
    }

    /// Whether every pair of `patterns` and `versions` has a verdict within
    /// budget already, so that [`BlockedVerdicts::evaluate`] would return `Ok`
    /// without evaluating anything, in whatever order it is given the versions.
    pub(crate) fn all_within_budget(&self, patterns: &[VersionPattern], versions: &[&str]) -> bool {
        patterns.iter().all(|p| {
            self.by_pattern.get(p.as_str()).is_some_and(|verdicts| {
                versions
                    .iter()
                    .all(|&v| verdicts.get(v).is_some_and(Result::is_ok))
            })
        })
    }

    /// How many verdicts are kept.
    pub(crate) fn len(&self) -> usize {
        self.by_pattern.values().map(FxHashMap::len).sum()
    }

    /// Whether `pattern` blocks `version`: the verdict evaluated above, or, for a
    /// pair nobody asked for, evaluated now (out of budget blocks: when in
    /// doubt, do not upgrade).
    pub(crate) fn matches(&self, pattern: &VersionPattern, version: &str) -> bool {
        match self
            .by_pattern
            .get(pattern.as_str())
            .and_then(|verdicts| verdicts.get(version))
        {
            Some(verdict) => verdict.clone().unwrap_or(true),
            None => pattern.matches(version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r22_each_pair_is_decided_once_and_failures_are_remembered() {
        let ok = VersionPattern::parse(r"^4\.12\.(?!1$)").unwrap();
        // Costly on 4.12 versions only, so it passes the probes of `parse`.
        let hostile = VersionPattern::parse(r"^4\.12(.?){60}\1.{60}").unwrap();
        let mut verdicts = BlockedVerdicts::default();
        let versions = ["4.12.1", "4.12.2"];
        verdicts
            .evaluate(std::slice::from_ref(&ok), &versions)
            .unwrap();
        assert!(!verdicts.matches(&ok, "4.12.1"));
        assert!(verdicts.matches(&ok, "4.12.2"));
        let err = verdicts
            .evaluate(&[ok.clone(), hostile.clone()], &versions)
            .unwrap_err();
        assert_eq!(err.version, "4.12.1");
        // Remembered: the same failure again without evaluating.
        assert_eq!(
            verdicts
                .evaluate(std::slice::from_ref(&hostile), &versions)
                .unwrap_err(),
            err
        );
        assert!(verdicts.matches(&hostile, "4.12.1"), "out of budget blocks");
        assert!(verdicts.all_within_budget(std::slice::from_ref(&ok), &versions));
        assert!(!verdicts.all_within_budget(std::slice::from_ref(&hostile), &versions));
        assert!(!verdicts.all_within_budget(std::slice::from_ref(&ok), &["4.13.0"]));
    }
}
