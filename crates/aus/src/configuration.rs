//! AUS configuration as data: the policy-as-code document, label rendering, label
//! diffs and the checks that keep a change from making an organization invalid.
//!
//! This is the pure half of `srecap aus policy|org|apply|export`; the binary reads
//! OCM into a [`State`], edits a copy, and writes [`State::changes`]. Design:
//!
//! * **One validation path.** Every command — an imperative flag or a document —
//!   ends as label maps, and [`State::introduced_problems`] judges those maps with
//!   the reconciler's own label declarations ([`crate::labels`]), sector rules and
//!   inheritance rule. So the CLI can never write what the reconciler rejects, and
//!   a problem an organization already had does not block unrelated edits.
//! * **Typed document, checked while read.** Names, schedules, patterns and limits
//!   are newtypes whose `Deserialize` validates, so the YAML/JSON parser knows the
//!   line and field of a bad value ([`Configuration::parse`]).
//! * **Exact round trip.** Optional settings are `Option`s: an absent label and a
//!   label with an empty value are different labels, and [`Configuration::from_state`]
//!   followed by applying the result must write nothing.
//! * **Semantic comparison.** A label whose value parses to the same typed value as
//!   the desired one (`a, b` and `a,b`) is not rewritten.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use srecap_labels::{CronSchedule, LabelSetDecl, ParallelLimit, VersionPattern};

use crate::labels::{
    AUS_PREFIX, BLOCKED_VERSIONS, CLUSTER_LABELS, INHERIT, MUTEXES, ORG_LABELS, PUBLISH, SCHEDULE,
    SECTOR, SECTOR_DEPS, SECTOR_MAX_PARALLEL, SOAK_DAYS, VERSION_GATE_APPROVALS, WORKLOADS,
};

/// `apiVersion` of the document format.
pub const API_VERSION: &str = "srecap/v1";
/// `kind` of the document format.
pub const KIND: &str = "AusConfiguration";

/// Schedule presets: name, cron expression (UTC), meaning.
pub const SCHEDULE_PRESETS: &[(&str, &str, &str)] = &[
    ("anytime", "* * * * *", "every minute of every day"),
    (
        "weekdays",
        "0 * * * 1-5",
        "every hour on the hour, Monday to Friday",
    ),
    (
        "weekends",
        "0 * * * 0,6",
        "every hour on the hour, Saturday and Sunday",
    ),
    ("nightly", "0 2 * * *", "02:00 UTC every day"),
];

/// The full key of an AUS setting.
pub fn key(setting: &str) -> String {
    format!("{AUS_PREFIX}{setting}")
}

// ---- validated scalars --------------------------------------------------------

/// A name in a comma-separated label (workload, mutex, gate label, organization
/// id): not empty, no comma, no surrounding space — the reconciler splits on
/// commas and trims, so anything else would not read back as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            Err("a name cannot be empty".into())
        } else if s.contains(',') {
            Err(format!(
                "{s:?} contains a comma, which a comma-separated label cannot carry"
            ))
        } else if s.trim() != s {
            Err(format!("{s:?} has leading or trailing whitespace"))
        } else {
            Ok(Name(s))
        }
    }
}

impl TryFrom<&str> for Name {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, String> {
        Name::try_from(s.to_owned())
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A maintenance-window cron expression (5 fields, UTC) that fires; a preset name
/// ([`SCHEDULE_PRESETS`]) is expanded when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule(String);

impl Schedule {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Schedule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some((_, cron, _)) = SCHEDULE_PRESETS.iter().find(|(n, _, _)| *n == s.trim()) {
            return Ok(Schedule((*cron).to_owned()));
        }
        CronSchedule::parse(&s).map_err(|e| {
            let presets: Vec<&str> = SCHEDULE_PRESETS.iter().map(|(n, _, _)| *n).collect();
            format!("{e} (or use a preset: {})", presets.join(", "))
        })?;
        Ok(Schedule(s.trim().to_owned()))
    }
}

impl From<Schedule> for String {
    fn from(s: Schedule) -> String {
        s.0
    }
}

/// A blocked-version regular expression (matched anywhere in a version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern(String);

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.contains(',') {
            return Err(format!(
                "{s:?} contains a comma, which the comma-separated blocked-versions label cannot carry (write `{{1,2}}` ranges as alternatives)"
            ));
        }
        if s.trim().is_empty() {
            return Err("a pattern cannot be empty".into());
        }
        VersionPattern::parse(s.trim())?;
        Ok(Pattern(s.trim().to_owned()))
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> String {
        p.0
    }
}

/// A sector's parallel-upgrade limit, `N` or `N%` (a YAML number is `N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit(ParallelLimit);

impl Limit {
    pub fn parse(s: &str) -> Result<Limit, String> {
        ParallelLimit::parse(s).map(Limit)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or a percentage like \"50%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit(ParallelLimit::Count(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                u64::try_from(v)
                    .map(|v| Limit(ParallelLimit::Count(v)))
                    .map_err(|_| E::custom(format!("expected a whole number >= 0, got {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit, E> {
                Limit::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

// ---- the document -------------------------------------------------------------

/// One organization's whole AUS configuration (`kind: AusConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Configuration {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    /// The OCM organization id.
    pub organization: String,
    #[serde(default, skip_serializing_if = "OrgSettings::is_empty")]
    pub settings: OrgSettings,
    /// Cluster policies by cluster name.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSettings>,
}

/// Organization settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    /// Versions no cluster of the organization may get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_versions: Option<Vec<Pattern>>,
    /// Sectors by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sectors: BTreeMap<Name, SectorSettings>,
    #[serde(default, skip_serializing_if = "VersionDataSettings::is_empty")]
    pub version_data: VersionDataSettings,
}

impl OrgSettings {
    pub fn is_empty(&self) -> bool {
        *self == OrgSettings::default()
    }
}

/// One sector.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorSettings {
    /// Sectors this one follows (`[]`: none). Absent only for a sector that exists
    /// because another sector depends on it and that has no label of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<Name>>,
    /// Clusters of the sector sharing a mutex that may upgrade at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<Limit>,
}

/// Soak-history sharing between organizations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDataSettings {
    /// Organizations whose soak history this one uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<Vec<Name>>,
    /// Organizations allowed to use this one's soak history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<Vec<Name>>,
}

impl VersionDataSettings {
    pub fn is_empty(&self) -> bool {
        *self == VersionDataSettings::default()
    }
}

/// One cluster's AUS policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    pub workloads: Vec<Name>,
    pub schedule: Schedule,
    pub soak_days: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutexes: Option<Vec<Name>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_versions: Option<Vec<Pattern>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_gate_approvals: Option<Vec<Name>>,
}

fn csv<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(",")
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Pattern {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl ClusterSettings {
    /// The subscription labels of this policy (AUS labels only).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(key(WORKLOADS), csv(&self.workloads));
        out.insert(key(SCHEDULE), self.schedule.0.clone());
        out.insert(key(SOAK_DAYS), self.soak_days.to_string());
        if let Some(m) = &self.mutexes {
            out.insert(key(MUTEXES), csv(m));
        }
        if let Some(s) = &self.sector {
            out.insert(key(SECTOR), s.clone());
        }
        if let Some(b) = &self.blocked_versions {
            out.insert(key(BLOCKED_VERSIONS), csv(b));
        }
        if let Some(g) = &self.version_gate_approvals {
            out.insert(key(VERSION_GATE_APPROVALS), csv(g));
        }
        out
    }

    /// Read a policy back from subscription labels; the errors name each invalid
    /// label as the reconciler does.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        let parsed = CLUSTER_LABELS.parse(labels);
        if !parsed.is_valid() {
            return Err(parsed.errors.iter().map(ToString::to_string).collect());
        }
        let list = |setting: &str| -> Option<Vec<Name>> {
            labels.get(&key(setting))?;
            Some(
                parsed
                    .list(setting)
                    .iter()
                    .map(|s| Name(s.clone()))
                    .collect(),
            )
        };
        let patterns = labels.get(&key(BLOCKED_VERSIONS)).map(|_| {
            parsed
                .patterns(BLOCKED_VERSIONS)
                .iter()
                .map(|p| Pattern(p.as_str().to_owned()))
                .collect()
        });
        Ok(ClusterSettings {
            workloads: list(WORKLOADS).unwrap_or_default(),
            schedule: Schedule(
                parsed
                    .cron(SCHEDULE)
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            soak_days: parsed.whole_number(SOAK_DAYS).unwrap_or_default(),
            mutexes: list(MUTEXES),
            sector: parsed.text(SECTOR).map(ToOwned::to_owned),
            blocked_versions: patterns,
            version_gate_approvals: list(VERSION_GATE_APPROVALS),
        })
    }
}

impl OrgSettings {
    /// The organization labels of these settings (AUS labels only).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(b) = &self.blocked_versions {
            out.insert(key(BLOCKED_VERSIONS), csv(b));
        }
        for (name, s) in &self.sectors {
            if let Some(d) = &s.depends_on {
                out.insert(format!("{}{name}", key(SECTOR_DEPS)), csv(d));
            }
            if let Some(l) = &s.max_parallel {
                out.insert(format!("{}{name}", key(SECTOR_MAX_PARALLEL)), l.to_string());
            }
        }
        if let Some(i) = &self.version_data.inherit {
            out.insert(key(INHERIT), csv(i));
        }
        if let Some(p) = &self.version_data.publish {
            out.insert(key(PUBLISH), csv(p));
        }
        out
    }

    /// Read settings back from organization labels. Invalid labels are skipped
    /// and reported, one message each.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> (Self, Vec<String>) {
        let parsed = ORG_LABELS.parse(labels);
        let errors = parsed.errors.iter().map(ToString::to_string).collect();
        let list = |setting: &str| -> Option<Vec<Name>> {
            labels.get(&key(setting))?;
            parsed.get(setting)?;
            Some(
                parsed
                    .list(setting)
                    .iter()
                    .map(|s| Name(s.clone()))
                    .collect(),
            )
        };
        let mut out = OrgSettings {
            blocked_versions: labels
                .get(&key(BLOCKED_VERSIONS))
                .and(parsed.get(BLOCKED_VERSIONS))
                .map(|_| {
                    parsed
                        .patterns(BLOCKED_VERSIONS)
                        .iter()
                        .map(|p| Pattern(p.as_str().to_owned()))
                        .collect()
                }),
            sectors: BTreeMap::new(),
            version_data: VersionDataSettings {
                inherit: list(INHERIT),
                publish: list(PUBLISH),
            },
        };
        for (name, value) in parsed.group(SECTOR_DEPS) {
            if let srecap_labels::LabelValue::List(items) = value {
                out.sectors
                    .entry(Name(name.to_owned()))
                    .or_default()
                    .depends_on = Some(items.iter().map(|s| Name(s.clone())).collect());
            }
        }
        for (name, value) in parsed.group(SECTOR_MAX_PARALLEL) {
            if let srecap_labels::LabelValue::Limit(l) = value {
                out.sectors
                    .entry(Name(name.to_owned()))
                    .or_default()
                    .max_parallel = Some(Limit(*l));
            }
        }
        (out, errors)
    }
}

// ---- reading a document -------------------------------------------------------

/// A problem with a configuration document, located as precisely as known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {path}{}{reason}", line.map(|l| format!(":{l}")).unwrap_or_default(), if path.is_empty() { "" } else { ": " })]
pub struct DocumentError {
    pub file: String,
    pub line: Option<u64>,
    /// Field path, such as `clusters.prod-1.schedule`.
    pub path: String,
    pub reason: String,
}

impl Configuration {
    /// An empty document for `organization`.
    pub fn new(organization: &str) -> Configuration {
        Configuration {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            organization: organization.to_owned(),
            settings: OrgSettings::default(),
            clusters: BTreeMap::new(),
        }
    }

    /// Read a document (JSON when it starts with `{`, YAML otherwise). `file`
    /// names it in errors. Every error carries the field path, and the line when
    /// the parser or a scan of the text finds it.
    pub fn parse(file: &str, text: &str) -> Result<Configuration, Vec<DocumentError>> {
        let located = |line: Option<u64>, path: String, reason: String| DocumentError {
            file: file.to_owned(),
            line,
            path,
            reason,
        };
        let doc: Configuration = if text.trim_start().starts_with('{') {
            let json_error = |path: String, inner: &serde_json::Error| {
                let line = Some(inner.line() as u64).filter(|&l| l > 0);
                let mut msg = inner.to_string();
                let suffix = format!(" at line {} column {}", inner.line(), inner.column());
                if let Some(s) = msg.strip_suffix(&suffix) {
                    msg.truncate(s.len());
                }
                vec![located(line, clean_path(&path), msg)]
            };
            let mut de = serde_json::Deserializer::from_str(text);
            let doc = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                json_error(path, e.inner())
            })?;
            // Trailing text after the document is a mistake too.
            de.end().map_err(|e| json_error(String::new(), &e))?;
            doc
        } else {
            let mut failed_at = None;
            let options = serde_saphyr::options! { with_snippet: false };
            serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
                serde_path_to_error::deserialize(de).map_err(|e| {
                    failed_at = Some(e.path().to_string());
                    e.into_inner()
                })
            })
            .map_err(|e| {
                let e = e.without_snippet();
                let line = e.location().map(|l| l.line()).filter(|&l| l > 0);
                let msg = serde_saphyr::MessageFormatter::format_message(
                    &serde_saphyr::DefaultMessageFormatter,
                    e,
                )
                .into_owned();
                vec![located(
                    line,
                    clean_path(failed_at.as_deref().unwrap_or("")),
                    msg,
                )]
            })?
        };
        let mut errors = Vec::new();
        if doc.api_version != API_VERSION {
            errors.push(located(
                find_line(text, &["apiVersion"]),
                "apiVersion".into(),
                format!(
                    "unsupported version {:?} (expected {API_VERSION:?})",
                    doc.api_version
                ),
            ));
        }
        if doc.kind != KIND {
            errors.push(located(
                find_line(text, &["kind"]),
                "kind".into(),
                format!("unsupported kind {:?} (expected {KIND:?})", doc.kind),
            ));
        }
        if doc.organization.trim().is_empty() {
            errors.push(located(
                find_line(text, &["organization"]),
                "organization".into(),
                "the organization id cannot be empty".into(),
            ));
        }
        for problem in doc.problems() {
            let keys: Vec<&str> = problem.path.split('.').collect();
            errors.push(located(
                find_line(text, &keys),
                problem.path,
                problem.reason,
            ));
        }
        if errors.is_empty() {
            Ok(doc)
        } else {
            Err(errors)
        }
    }

    /// Checks of the document on its own (no OCM): what the reconciler would
    /// reject in the labels it renders.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for (name, c) in &self.clusters {
            if c.workloads.is_empty() {
                out.push(Problem {
                    path: format!("clusters.{name}.workloads"),
                    reason: "at least one workload is required".into(),
                });
            }
        }
        let clusters: Vec<(String, BTreeMap<String, String>)> = self
            .clusters
            .iter()
            .map(|(n, c)| (n.clone(), c.labels()))
            .collect();
        let org = self.settings.labels();
        for p in organization_problems(&self.organization, &org, &clusters) {
            out.push(Problem {
                path: document_path(&p),
                reason: p.reason,
            });
        }
        out
    }

    /// The labels this document declares: the organization's, and each cluster's.
    pub fn labels(
        &self,
    ) -> (
        BTreeMap<String, String>,
        BTreeMap<String, BTreeMap<String, String>>,
    ) {
        (
            self.settings.labels(),
            self.clusters
                .iter()
                .map(|(n, c)| (n.clone(), c.labels()))
                .collect(),
        )
    }

    /// The configuration `state` holds. Clusters whose labels are invalid cannot
    /// be written down in this format; they are left out and named in the warnings.
    pub fn from_state(state: &State) -> (Configuration, Vec<String>) {
        let mut warnings = Vec::new();
        let (settings, errors) = OrgSettings::from_labels(&state.org_labels);
        for e in errors {
            warnings.push(format!("organization {}: {e} (left out)", state.org_id));
        }
        let mut doc = Configuration::new(&state.org_id);
        doc.settings = settings;
        for c in &state.clusters {
            if !c.labels.keys().any(|k| k.starts_with(AUS_PREFIX)) {
                continue;
            }
            match ClusterSettings::from_labels(&c.labels) {
                Ok(s) => {
                    doc.clusters.insert(c.name.clone(), s);
                }
                Err(errors) => warnings.push(format!(
                    "cluster {}: {} (left out)",
                    c.name,
                    errors.join("; ")
                )),
            }
        }
        (doc, warnings)
    }
}

/// `clusters["x"].schedule` style paths from `serde_path_to_error` become
/// `clusters.x.schedule`.
fn clean_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.to_owned()
}

/// The line of a key path in YAML text, found by indentation: each key must
/// appear, in order, more indented than the previous one. A scan of the text is
/// enough for documents this format produces and avoids a spanned model.
fn find_line(text: &str, keys: &[&str]) -> Option<u64> {
    let mut indent: Option<usize> = None;
    let mut found = None;
    let mut lines = text.lines().enumerate();
    'keys: for k in keys {
        for (i, line) in lines.by_ref() {
            let trimmed = line.trim_start();
            let this_indent = line.len() - trimmed.len();
            if indent.is_some_and(|ind| this_indent <= ind)
                && !trimmed.is_empty()
                && !trimmed.starts_with('#')
            {
                return found;
            }
            let key = trimmed
                .strip_prefix(&format!("{k}:"))
                .or_else(|| trimmed.strip_prefix(&format!("\"{k}\":")))
                .or_else(|| trimmed.strip_prefix(&format!("'{k}':")));
            if key.is_some() {
                indent = Some(this_indent);
                found = Some(i as u64 + 1);
                continue 'keys;
            }
        }
        return found;
    }
    found
}

// ---- state, diffs and checks --------------------------------------------------

/// A cluster as the configuration commands see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterLabels {
    pub name: String,
    pub cluster_id: Option<String>,
    pub external_id: Option<String>,
    pub subscription_id: String,
    /// All labels of the subscription (not only AUS ones).
    pub labels: BTreeMap<String, String>,
}

/// An organization's labels and its clusters' labels, as read from OCM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    pub org_id: String,
    pub org_labels: BTreeMap<String, String>,
    pub clusters: Vec<ClusterLabels>,
    /// The `version-data.publish` lists of other organizations, by id, as far as
    /// they were read. Inheriting from one of them that does not publish to this
    /// organization is unverified, an organization error (R43, R45); sources not
    /// read here are not judged.
    #[serde(skip)]
    pub publishers: BTreeMap<String, Vec<String>>,
}

/// What owns a set of labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    Organization {
        id: String,
    },
    Cluster {
        name: String,
        subscription_id: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Organization { id } => write!(f, "organization {id}"),
            Target::Cluster {
                name,
                subscription_id,
            } => write!(f, "cluster {name} (subscription {subscription_id})"),
        }
    }
}

/// One label to add (`old` none), change, or remove (`new` none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The label changes of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetChanges {
    pub target: Target,
    pub changes: Vec<LabelChange>,
}

/// A check that failed, with what it is about: a label key, or a cluster's label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LabelProblem {
    /// The cluster, for a cluster label; `None` for an organization label.
    pub cluster: Option<String>,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cluster {
            Some(c) => write!(f, "cluster {c}: label {}: {}", self.key, self.reason),
            None => write!(f, "label {}: {}", self.key, self.reason),
        }
    }
}

/// A problem of a document, by field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

/// Where a label problem lives in the document format.
fn document_path(p: &LabelProblem) -> String {
    let setting = p.key.strip_prefix(AUS_PREFIX).unwrap_or(&p.key);
    if let Some(c) = &p.cluster {
        let field = setting.replace('-', "_");
        return format!("clusters.{c}.{field}");
    }
    if let Some(s) = setting.strip_prefix(SECTOR_DEPS) {
        format!("settings.sectors.{s}.depends_on")
    } else if let Some(s) = setting.strip_prefix(SECTOR_MAX_PARALLEL) {
        format!("settings.sectors.{s}.max_parallel")
    } else if setting == INHERIT {
        "settings.version_data.inherit".into()
    } else if setting == PUBLISH {
        "settings.version_data.publish".into()
    } else {
        format!("settings.{}", setting.replace('-', "_"))
    }
}

/// Whether two values of `key` mean the same to the reconciler.
fn same_value(decl: LabelSetDecl, key: &str, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (decl.validate(key, a), decl.validate(key, b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The changes turning `before` into `after` (both full label maps of one owner).
pub fn diff_labels(
    decl: LabelSetDecl,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<LabelChange> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for k in keys {
        match (before.get(k), after.get(k)) {
            (Some(a), Some(b)) if same_value(decl, k, a, b) => {}
            (old, new) => out.push(LabelChange {
                key: k.clone(),
                old: old.cloned(),
                new: new.cloned(),
            }),
        }
    }
    out
}

/// Every reason the reconciler would find the organization (or one of its
/// clusters) invalid, given its labels and its clusters' labels.
pub fn organization_problems(
    org_id: &str,
    org_labels: &BTreeMap<String, String>,
    clusters: &[(String, BTreeMap<String, String>)],
) -> Vec<LabelProblem> {
    let mut out = Vec::new();
    let parsed = ORG_LABELS.parse(org_labels);
    for e in &parsed.errors {
        out.push(LabelProblem {
            cluster: None,
            key: e.key.clone(),
            reason: e.reason.clone(),
        });
    }
    // Sectors (R33): every sector-deps key and value.
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in parsed.group(SECTOR_DEPS) {
        if let srecap_labels::LabelValue::List(items) = value {
            for i in items.iter() {
                deps.entry(i.clone()).or_default();
            }
            deps.insert(name.to_owned(), items.to_vec());
        }
    }
    if let Some(cycle) = find_cycle(&deps) {
        out.push(LabelProblem {
            cluster: None,
            key: format!("{}{}", key(SECTOR_DEPS), cycle[0]),
            reason: format!("sector dependency cycle: {}", cycle.join(" -> ")),
        });
    }
    for (name, _) in parsed.group(SECTOR_MAX_PARALLEL) {
        if !deps.contains_key(name) {
            out.push(LabelProblem {
                cluster: None,
                key: format!("{}{name}", key(SECTOR_MAX_PARALLEL)),
                reason: format!(
                    "sector {name:?} is not declared by any {}<name> label, so this limit would be ignored",
                    key(SECTOR_DEPS)
                ),
            });
        }
    }
    if parsed.list(INHERIT).iter().any(|o| o == org_id) {
        out.push(LabelProblem {
            cluster: None,
            key: key(INHERIT),
            reason: format!("organization {org_id} cannot inherit version data from itself"),
        });
    }
    for (name, labels) in clusters {
        if !labels.keys().any(|k| k.starts_with(AUS_PREFIX)) {
            continue;
        }
        let parsed = CLUSTER_LABELS.parse(labels);
        for e in &parsed.errors {
            out.push(LabelProblem {
                cluster: Some(name.clone()),
                key: e.key.clone(),
                reason: e.reason.clone(),
            });
        }
        if let Some(sector) = parsed.text(SECTOR).filter(|s| !s.is_empty())
            && !deps.contains_key(sector)
        {
            let known: Vec<&str> = deps.keys().map(String::as_str).collect();
            out.push(LabelProblem {
                cluster: Some(name.clone()),
                key: key(SECTOR),
                reason: format!(
                    "sector {sector:?} is not declared by the organization (declared: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A dependency cycle, as the list of sectors along it, first one repeated at the
/// end (`[a, b, a]`); the one found first in name order.
pub fn find_cycle(deps: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        s: &'a str,
        deps: &'a BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks.insert(s, Mark::Open);
        stack.push(s);
        for d in deps.get(s).into_iter().flatten() {
            match marks.get(d.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|x| *x == d.as_str()).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|x| (*x).to_owned()).collect();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(d, deps, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(s, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for s in deps.keys() {
        if marks.get(s.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(s, deps, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

impl State {
    fn cluster_maps(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.clusters
            .iter()
            .map(|c| (c.name.clone(), c.labels.clone()))
            .collect()
    }

    /// The organization ids this state inherits version data from.
    pub fn inherit_sources(&self) -> Vec<String> {
        ORG_LABELS.parse(&self.org_labels).list(INHERIT).to_vec()
    }

    fn problems(&self) -> Vec<LabelProblem> {
        let mut out = organization_problems(&self.org_id, &self.org_labels, &self.cluster_maps());
        let unverified: Vec<String> = self
            .inherit_sources()
            .into_iter()
            .filter(|b| {
                self.publishers
                    .get(b)
                    .is_some_and(|p| !p.contains(&self.org_id))
            })
            .collect();
        if !unverified.is_empty() {
            out.push(LabelProblem {
                cluster: None,
                key: key(INHERIT),
                reason: format!(
                    "inheritance from {} is unverified: {} not publish version data to {} (ask the owner to run `srecap aus org publish {} --org ID`); AUS would stop scheduling this organization",
                    unverified.join(", "),
                    if unverified.len() == 1 { "it does" } else { "they do" },
                    self.org_id,
                    self.org_id
                ),
            });
        }
        out
    }

    /// Problems of this state that `before` did not have: a change is refused
    /// for what it breaks, not for what was already broken.
    pub fn introduced_problems(&self, before: &State) -> Vec<LabelProblem> {
        let old: BTreeSet<LabelProblem> = before.problems().into_iter().collect();
        self.problems()
            .into_iter()
            .filter(|p| !old.contains(p))
            .collect()
    }

    /// The label writes that turn `self` into `after` (same organization and
    /// clusters), organization first, then clusters by name.
    pub fn changes(&self, after: &State) -> Vec<TargetChanges> {
        let mut out = Vec::new();
        let org = diff_labels(ORG_LABELS, &self.org_labels, &after.org_labels);
        if !org.is_empty() {
            out.push(TargetChanges {
                target: Target::Organization {
                    id: self.org_id.clone(),
                },
                changes: org,
            });
        }
        let mut clusters: Vec<(&ClusterLabels, &ClusterLabels)> = self
            .clusters
            .iter()
            .filter_map(|b| {
                after
                    .clusters
                    .iter()
                    .find(|a| a.subscription_id == b.subscription_id)
                    .map(|a| (b, a))
            })
            .collect();
        clusters.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (b, a) in clusters {
            let changes = diff_labels(CLUSTER_LABELS, &b.labels, &a.labels);
            if !changes.is_empty() {
                out.push(TargetChanges {
                    target: Target::Cluster {
                        name: b.name.clone(),
                        subscription_id: b.subscription_id.clone(),
                    },
                    changes,
                });
            }
        }
        out
    }

    /// The cluster named `name` (or with that cluster id, external id or
    /// subscription id).
    pub fn find_cluster(&self, name: &str) -> Result<usize, String> {
        let matches: Vec<usize> = self
            .clusters
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.name == name
                    || c.subscription_id == name
                    || c.cluster_id.as_deref() == Some(name)
                    || c.external_id.as_deref() == Some(name)
            })
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [i] => Ok(*i),
            [] => Err(format!(
                "no cluster {name:?} in organization {} (give a cluster name, cluster id, external id or subscription id)",
                self.org_id
            )),
            many => Err(format!(
                "{name:?} names {} clusters in organization {} (subscriptions {}); use a subscription id",
                many.len(),
                self.org_id,
                many.iter()
                    .map(|&i| self.clusters[i].subscription_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// This state with `doc` applied: declared labels set; with `prune`, every other
    /// `sre-capabilities.aus.*` label of the organization and its clusters removed
    /// (never any other label). Unknown clusters are errors.
    pub fn with_document(&self, doc: &Configuration, prune: bool) -> Result<State, Vec<String>> {
        let mut after = self.clone();
        let (org, clusters) = doc.labels();
        if prune {
            after.org_labels.retain(|k, _| !k.starts_with(AUS_PREFIX));
        }
        after.org_labels.extend(org);
        let mut errors = Vec::new();
        let mut declared = BTreeSet::new();
        for (name, labels) in clusters {
            match self.find_cluster(&name) {
                Ok(i) => {
                    declared.insert(i);
                    let c = &mut after.clusters[i];
                    if prune {
                        c.labels.retain(|k, _| !k.starts_with(AUS_PREFIX));
                    }
                    c.labels.extend(labels);
                }
                Err(e) => errors.push(format!("clusters.{name}: {e}")),
            }
        }
        if prune {
            for (i, c) in after.clusters.iter_mut().enumerate() {
                if !declared.contains(&i) {
                    c.labels.retain(|k, _| !k.starts_with(AUS_PREFIX));
                }
            }
        }
        if errors.is_empty() {
            Ok(after)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests;
