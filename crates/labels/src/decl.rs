//! Label-set declarations and parsing.

use std::collections::BTreeMap;
use std::ops::Bound;

use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use crate::cron::CronSchedule;
use crate::value::{LabelValue, ParallelLimit, VersionPattern, parse_csv, parse_whole_number};

/// The value type of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelKind {
    /// Any string; the empty string means "absent".
    Text,
    /// A whole number >= 0.
    WholeNumber,
    /// Comma-separated names, trimmed; `min_items` of them at least.
    List { min_items: usize },
    /// A five-field cron expression (UTC, both day fields must match).
    Cron,
    /// Comma-separated regular expressions matched anywhere in a version.
    Patterns,
    /// `N` or `N%`.
    Limit,
}

impl LabelKind {
    /// What values the kind takes, for help and errors.
    pub fn describe(self) -> &'static str {
        match self {
            LabelKind::Text => "string",
            LabelKind::WholeNumber => "whole number >= 0",
            LabelKind::List { min_items: 0 } => "comma-separated list",
            LabelKind::List { .. } => "comma-separated list, at least one item",
            LabelKind::Cron => "cron expression (5 fields, UTC)",
            LabelKind::Patterns => "comma-separated regular expressions",
            LabelKind::Limit => "whole number or percentage (`N` or `N%`)",
        }
    }
}

/// One declared setting of a capability.
#[derive(Debug, Clone, Copy)]
pub struct LabelDecl {
    /// The `<setting>` part of `sre-capabilities.<capability>.<setting>`; for a group
    /// (a map keyed by the rest of the key) it ends with a `.`.
    pub setting: &'static str,
    pub kind: LabelKind,
    pub required: bool,
    /// One line for generated docs and CLI help.
    pub summary: &'static str,
}

impl LabelDecl {
    /// Whether this declaration is a group-by-prefix map (`sector-deps.<sector>`).
    pub fn is_group(&self) -> bool {
        self.setting.ends_with('.')
    }
}

/// One label that failed validation. Displays as `label <key>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label {key}: {reason}")]
pub struct LabelError {
    pub key: String,
    pub reason: String,
}

/// A capability's whole label set.
#[derive(Debug, Clone, Copy)]
pub struct LabelSetDecl {
    /// `aus` in `sre-capabilities.aus.soak-days`.
    pub capability: &'static str,
    pub labels: &'static [LabelDecl],
}

/// The result of parsing a label map: typed values of the labels that are valid,
/// and one error per label that is not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedLabels {
    /// A handful of settings: a small vector beats a tree here, and a plan parses
    /// one label map per cluster.
    values: Vec<(&'static str, LabelValue)>,
    groups: BTreeMap<&'static str, BTreeMap<String, LabelValue>>,
    pub errors: Vec<LabelError>,
}

// Absent lists are shared too: `Arc::from([])` allocates, once per cluster and
// setting otherwise.
static EMPTY_LIST: LazyLock<Arc<[String]>> = LazyLock::new(|| Arc::from([]));
static EMPTY_PATTERNS: LazyLock<Arc<[VersionPattern]>> = LazyLock::new(|| Arc::from([]));

impl ParsedLabels {
    pub fn get(&self, setting: &str) -> Option<&LabelValue> {
        self.values
            .iter()
            .find(|(k, _)| *k == setting)
            .map(|(_, v)| v)
    }

    pub fn text(&self, setting: &str) -> Option<&str> {
        match self.get(setting) {
            Some(LabelValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn whole_number(&self, setting: &str) -> Option<u64> {
        match self.get(setting) {
            Some(LabelValue::WholeNumber(n)) => Some(*n),
            _ => None,
        }
    }

    /// A list setting, shared (absent: empty).
    pub fn shared_list(&self, setting: &str) -> Arc<[String]> {
        match self.get(setting) {
            Some(LabelValue::List(items)) => items.clone(),
            _ => EMPTY_LIST.clone(),
        }
    }

    /// A pattern setting, shared (absent: empty).
    pub fn shared_patterns(&self, setting: &str) -> Arc<[VersionPattern]> {
        match self.get(setting) {
            Some(LabelValue::Patterns(p)) => p.clone(),
            _ => EMPTY_PATTERNS.clone(),
        }
    }

    /// A list setting; absent lists are empty.
    pub fn list(&self, setting: &str) -> &[String] {
        match self.get(setting) {
            Some(LabelValue::List(items)) => items,
            _ => &[],
        }
    }

    pub fn cron(&self, setting: &str) -> Option<&CronSchedule> {
        match self.get(setting) {
            Some(LabelValue::Cron(c)) => Some(c),
            _ => None,
        }
    }

    /// A pattern setting; absent lists are empty.
    pub fn patterns(&self, setting: &str) -> &[VersionPattern] {
        match self.get(setting) {
            Some(LabelValue::Patterns(p)) => p,
            _ => &[],
        }
    }

    /// The entries of a group setting (`sector-deps.`), keyed by the key's rest.
    pub fn group(&self, setting: &str) -> impl Iterator<Item = (&str, &LabelValue)> {
        self.groups
            .get(setting)
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

impl LabelSetDecl {
    /// `sre-capabilities.<capability>.`
    pub fn prefix(&self) -> String {
        format!("{}{}.", crate::PREFIX, self.capability)
    }

    /// The full label key of a setting.
    pub fn key(&self, setting: &str) -> String {
        format!("{}{setting}", self.prefix())
    }

    /// The declaration a full label key belongs to, and for groups the key's rest.
    pub fn lookup<'k>(&self, key: &'k str) -> Option<(&'static LabelDecl, &'k str)> {
        let prefix = self.prefix();
        let setting = key.strip_prefix(prefix.as_str())?;
        self.labels.iter().find_map(|d| {
            if d.is_group() {
                setting.strip_prefix(d.setting).map(|rest| (d, rest))
            } else {
                (setting == d.setting).then_some((d, ""))
            }
        })
    }

    /// Validate one value for a full key, as the CLI does before writing.
    pub fn validate(&self, key: &str, value: &str) -> Result<LabelValue, LabelError> {
        let (decl, _) = self.lookup(key).ok_or_else(|| LabelError {
            key: key.to_owned(),
            reason: format!("not a label of capability {:?}", self.capability),
        })?;
        parse_value(decl.kind, value).map_err(|reason| LabelError {
            key: key.to_owned(),
            reason,
        })
    }

    /// Parse every declared label out of `labels` (a full OCM label map; keys of
    /// other capabilities and unknown settings are ignored — spec R25). Missing
    /// mandatory labels and invalid values become errors, all collected.
    pub fn parse(&self, labels: &BTreeMap<String, String>) -> ParsedLabels {
        LabelParser::new(*self).parse(labels)
    }

    /// A Markdown table documenting the label set.
    pub fn markdown_table(&self) -> String {
        let mut s = String::from("| label | type | mandatory | meaning |\n|---|---|---|---|\n");
        for d in self.labels {
            let key = if d.is_group() {
                format!("{}<name>", self.key(d.setting))
            } else {
                self.key(d.setting)
            };
            let _ = writeln!(
                s,
                "| `{key}` | {} | {} | {} |",
                d.kind.describe(),
                if d.required { "yes" } else { "no" },
                d.summary
            );
        }
        s
    }
}

/// Parses many label maps of one label set, remembering every distinct value it
/// has parsed: a fleet has thousands of clusters but a handful of distinct
/// schedules and patterns, and parsing a cron expression (with its never-fires
/// probe) or compiling a regex dominates the cost of a plan otherwise.
///
/// Parsing a map walks the keys under the capability prefix once (a map also
/// holds other capabilities' labels) rather than looking every declared key up,
/// and the value caches are per declaration with Fx hashing: this runs once per
/// cluster of a plan, and std hashing and repeated key searches showed in profiles.
#[derive(Debug, Clone)]
pub struct LabelParser {
    decl: LabelSetDecl,
    /// `sre-capabilities.<capability>.`
    prefix: String,
    /// Full key (or group prefix) of each declaration, in declaration order.
    keys: Vec<String>,
    /// Parsed values per declaration index, keyed by the raw value.
    values: Vec<FxHashMap<Box<str>, Result<LabelValue, String>>>,
}

/// Declarations a parse can track without allocating; bigger sets take the
/// lookup-per-key path.
const INLINE_DECLS: usize = 16;

impl LabelParser {
    pub fn new(decl: LabelSetDecl) -> LabelParser {
        let keys = decl.labels.iter().map(|d| decl.key(d.setting)).collect();
        LabelParser {
            decl,
            prefix: decl.prefix(),
            keys,
            values: vec![FxHashMap::default(); decl.labels.len()],
        }
    }

    /// How many distinct values the parser remembers: a parser kept for long
    /// (across reconcile passes) is replaced when this outgrows the labels it
    /// serves.
    pub fn cached_values(&self) -> usize {
        self.values.iter().map(FxHashMap::len).sum()
    }

    fn value(&mut self, index: usize, raw: &str) -> Result<LabelValue, String> {
        let known = &mut self.values[index];
        if let Some(v) = known.get(raw) {
            return v.clone();
        }
        let v = parse_value(self.decl.labels[index].kind, raw);
        known.insert(raw.into(), v.clone());
        v
    }

    /// See [`LabelSetDecl::parse`].
    pub fn parse(&mut self, labels: &BTreeMap<String, String>) -> ParsedLabels {
        let decls = self.decl.labels;
        // The value of each plain (non-group) declaration, found in one walk over
        // the keys with the capability prefix.
        let mut found: [Option<&str>; INLINE_DECLS] = [None; INLINE_DECLS];
        let inline = decls.len() <= INLINE_DECLS;
        if inline {
            let prefix = self.prefix.as_str();
            for (key, value) in labels
                .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                let setting = &key[prefix.len()..];
                if let Some(i) = decls
                    .iter()
                    .position(|d| !d.is_group() && d.setting == setting)
                {
                    found[i] = Some(value.as_str());
                }
            }
        }
        let mut out = ParsedLabels {
            values: Vec::with_capacity(decls.len()),
            ..ParsedLabels::default()
        };
        for (i, decl) in decls.iter().enumerate() {
            if decl.is_group() {
                let mut entries = BTreeMap::new();
                let group_prefix = &self.keys[i];
                let found: Vec<(&String, &String)> = labels
                    .range::<String, _>(group_prefix..)
                    .take_while(|(k, _)| k.starts_with(group_prefix.as_str()))
                    .collect();
                for (key, value) in found {
                    let rest = &key[self.keys[i].len()..];
                    match self.value(i, value) {
                        Ok(v) => {
                            entries.insert(rest.to_owned(), v);
                        }
                        Err(reason) => out.errors.push(LabelError {
                            key: key.clone(),
                            reason,
                        }),
                    }
                }
                out.groups.insert(decl.setting, entries);
                continue;
            }
            let raw = if inline {
                found[i]
            } else {
                labels.get(&self.keys[i]).map(String::as_str)
            };
            match raw {
                None if decl.required => out.errors.push(LabelError {
                    key: self.keys[i].clone(),
                    reason: format!("missing mandatory label ({})", decl.kind.describe()),
                }),
                None => {}
                Some(value) => match self.value(i, value) {
                    Ok(v) => out.values.push((decl.setting, v)),
                    Err(reason) => out.errors.push(LabelError {
                        key: self.keys[i].clone(),
                        reason,
                    }),
                },
            }
        }
        out
    }
}

/// Parsed values of the kinds that are expensive to parse (a cron schedule is
/// compiled, a pattern list compiles regexes), by raw text, for the whole
/// process. Labels change rarely, while a reconciler parses every cluster's
/// labels a few times per pass: compiling them again each time was a quarter
/// of a simulated pass. Parsing is a pure function of the text, so the cache
/// changes no result; it is bounded by emptying it when full.
static EXPENSIVE: LazyLock<Mutex<[ParsedByText; 2]>> =
    LazyLock::new(|| Mutex::new([FxHashMap::default(), FxHashMap::default()]));

/// Parse results by raw label value.
type ParsedByText = FxHashMap<Box<str>, Result<LabelValue, String>>;

/// Distinct expensive values kept per kind.
const EXPENSIVE_CAPACITY: usize = 4096;

fn parse_value(kind: LabelKind, value: &str) -> Result<LabelValue, String> {
    let slot = match kind {
        LabelKind::Cron => 0,
        LabelKind::Patterns => 1,
        _ => return parse_uncached(kind, value),
    };
    let cached = EXPENSIVE.lock().unwrap_or_else(PoisonError::into_inner)[slot]
        .get(value)
        .cloned();
    if let Some(v) = cached {
        return v;
    }
    let v = parse_uncached(kind, value);
    let mut caches = EXPENSIVE.lock().unwrap_or_else(PoisonError::into_inner);
    if caches[slot].len() >= EXPENSIVE_CAPACITY {
        caches[slot].clear();
    }
    caches[slot].insert(value.into(), v.clone());
    v
}

fn parse_uncached(kind: LabelKind, value: &str) -> Result<LabelValue, String> {
    match kind {
        LabelKind::Text => Ok(LabelValue::Text(value.trim().to_owned())),
        LabelKind::WholeNumber => parse_whole_number(value)
            .map(LabelValue::WholeNumber)
            .map_err(|()| format!("expected a whole number >= 0, got {value:?}")),
        LabelKind::List { min_items } => {
            let items = parse_csv(value)?;
            if items.len() < min_items {
                return Err(format!(
                    "expected at least {min_items} comma-separated item{}, got {value:?}",
                    if min_items == 1 { "" } else { "s" }
                ));
            }
            Ok(LabelValue::List(items.into()))
        }
        LabelKind::Cron => CronSchedule::parse(value)
            .map(LabelValue::Cron)
            .map_err(|e| e.to_string()),
        LabelKind::Patterns => parse_csv(value)?
            .iter()
            .map(|p| VersionPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map(|p| LabelValue::Patterns(p.into())),
        LabelKind::Limit => ParallelLimit::parse(value).map(LabelValue::Limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: LabelSetDecl = LabelSetDecl {
        capability: "demo",
        labels: &[
            LabelDecl {
                setting: "soak-days",
                kind: LabelKind::WholeNumber,
                required: true,
                summary: "days",
            },
            LabelDecl {
                setting: "workloads",
                kind: LabelKind::List { min_items: 1 },
                required: true,
                summary: "w",
            },
            LabelDecl {
                setting: "schedule",
                kind: LabelKind::Cron,
                required: false,
                summary: "s",
            },
            LabelDecl {
                setting: "deps.",
                kind: LabelKind::List { min_items: 0 },
                required: false,
                summary: "d",
            },
        ],
    };

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn messages_name_the_label_and_the_reason() {
        let p = SET.parse(&labels(&[("sre-capabilities.demo.soak-days", "-1")]));
        let msgs: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "label sre-capabilities.demo.soak-days: expected a whole number >= 0, got \"-1\"",
                "label sre-capabilities.demo.workloads: missing mandatory label (comma-separated list, at least one item)",
            ]
        );
    }

    #[test]
    fn groups_collect_by_prefix_and_ignore_other_keys() {
        let p = SET.parse(&labels(&[
            ("sre-capabilities.demo.soak-days", "3"),
            ("sre-capabilities.demo.workloads", "a, b"),
            ("sre-capabilities.demo.deps.prod", "stage,dev"),
            ("sre-capabilities.demo.deps.dev", ""),
            ("sre-capabilities.demo.unknown", "x"),
            ("sre-capabilities.other.soak-days", "x"),
        ]));
        assert!(p.is_valid(), "{:?}", p.errors);
        assert_eq!(p.whole_number("soak-days"), Some(3));
        assert_eq!(p.list("workloads"), ["a", "b"]);
        let deps: Vec<_> = p.group("deps.").map(|(k, _)| k.to_owned()).collect();
        assert_eq!(deps, ["dev", "prod"]);
    }

    #[test]
    fn validate_single_values_for_the_cli() {
        assert!(
            SET.validate("sre-capabilities.demo.schedule", "0 * * * *")
                .is_ok()
        );
        let err = SET
            .validate("sre-capabilities.demo.schedule", "0 48 * * *")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("label sre-capabilities.demo.schedule: invalid cron"),
            "{err}"
        );
        assert!(SET.validate("sre-capabilities.demo.nope", "1").is_err());
        assert!(SET.validate("sre-capabilities.demo.deps.x", "a,b").is_ok());
    }
}
