//! The scenario file as serde reads it, before defaults and cross references.
//!
//! Every struct denies unknown keys, and every scalar with a format (versions,
//! instants, label values, enums) is checked by its own `Deserialize` impl, so a
//! bad value fails *while it is read*: the parser then knows its line and
//! `serde_path_to_error` its field path. Only checks that need the whole document
//! (duplicates, references between sections) are left to the builder, which gets
//! line numbers from the [`Spanned`] fields kept here for that purpose. Only
//! scalars are spanned: the span wrapper adds a synthetic `value` step to the
//! field path of anything nested inside it.
//!
//! Fields with a documented default are `Option`s so that an explicit YAML `null`
//! (`labels:` with nothing after it) means "not given" rather than an error.

use std::fmt;
use std::marker::PhantomData;

use jiff::Timestamp;
use semver::Version;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_path_to_error::{Path, Segment};
use serde_saphyr::{MessageFormatter, Spanned};

use crate::history::parse_check_in;
use crate::model::{Product, ScheduleType};

/// A reason the document cannot be used, located as precisely as known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    /// 1-based line, when the parser or a span knows it.
    pub line: Option<u64>,
    /// Field path such as `clusters[3].version`; empty for the document itself.
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Document {
    pub now: Option<Instant>,
    pub environment: Option<String>,
    pub organizations: Vec<OrganizationDoc>,
    pub clusters: Vec<ClusterDoc>,
    pub version_gates: Option<Vec<VersionGateDoc>>,
    pub releases: Option<Vec<ReleaseDoc>>,
    pub version_data: Option<Entries<VersionDataDoc>>,
    /// Latest version of each add-on in the catalogue.
    pub addon_catalog: Option<Entries<SemVer>>,
    /// SSO realms (rhidp, I80).
    pub sso: Option<SsoDoc>,
    /// Pre-existing client records: namespace -> name -> record (rhidp, I80).
    pub secrets: Option<Entries<Option<Entries<Value>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrganizationDoc {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub labels: Option<Entries<LabelValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterDoc {
    pub name: Spanned<String>,
    pub organization: Spanned<String>,
    pub id: Option<String>,
    pub external_id: Option<String>,
    pub version: SemVer,
    pub channel_group: Option<String>,
    pub channel: Option<String>,
    pub available_upgrades: Option<Vec<SemVer>>,
    pub available_channels: Option<Vec<String>>,
    pub product: Option<ProductName>,
    pub hypershift: Option<bool>,
    pub sts: Option<bool>,
    pub state: Option<String>,
    pub healthy: Option<bool>,
    pub labels: Option<Entries<LabelValue>>,
    pub node_pools: Option<Vec<NodePoolDoc>>,
    pub upgrade_policies: Option<Vec<UpgradePolicyDoc>>,
    pub gate_agreements: Option<Vec<String>>,
    pub addons: Option<Vec<AddonDoc>>,
    #[serde(default)]
    pub console_url: ConsoleUrlDoc,
    pub external_auth: Option<bool>,
    pub identity_providers: Option<Vec<IdentityProviderDoc>>,
}

/// An existing identity provider of a cluster. The OpenID fields are flat, as
/// the scenario format writes them (`client_id`, `issuer`, `groups_claim`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IdentityProviderDoc {
    pub id: Spanned<String>,
    #[serde(rename = "type")]
    pub idp_type: Spanned<String>,
    pub name: Spanned<String>,
    pub mapping_method: Option<Spanned<String>>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub issuer: Option<String>,
    pub groups_claim: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SsoDoc {
    pub realms: Option<Vec<RealmDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RealmDoc {
    pub issuer: Spanned<String>,
    pub allowed_scopes: Option<Vec<String>>,
    pub iat: Option<IatDoc>,
    pub clients: Option<Vec<SsoClientDoc>>,
    pub echo_attributes: Option<bool>,
    pub unknown_client_status: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IatDoc {
    pub token: Option<String>,
    pub expires: Instant,
    pub count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SsoClientDoc {
    pub client_id: Spanned<String>,
    pub secret: String,
    pub redirect_uris: Option<Vec<String>>,
    pub default_client_scopes: Option<Vec<String>>,
    pub attributes: Option<Entries<LabelValue>>,
    pub rat: String,
}

/// A cluster's `console_url`, where an explicit `null` differs from absence.
#[derive(Debug, Default)]
pub(super) enum ConsoleUrlDoc {
    /// Not given: derived from the cluster name.
    #[default]
    Derived,
    /// `null`: the cluster has no console URL.
    None,
    Given(String),
}

impl<'de> Deserialize<'de> for ConsoleUrlDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only called for a key that is present (`#[serde(default)]` covers
        // absence), so `null` here was written.
        Ok(match Option::<String>::deserialize(deserializer)? {
            Some(url) => ConsoleUrlDoc::Given(url),
            None => ConsoleUrlDoc::None,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddonDoc {
    pub id: Spanned<String>,
    pub version: SemVer,
    pub state: Option<String>,
    pub upgrade_policies: Option<Vec<UpgradePolicyDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodePoolDoc {
    pub id: Spanned<String>,
    pub version: SemVer,
    pub upgrade_policies: Option<Vec<UpgradePolicyDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpgradePolicyDoc {
    pub id: String,
    pub version: Option<SemVer>,
    pub next_run: Option<Instant>,
    pub state: Option<String>,
    pub schedule_type: Option<ScheduleTypeName>,
    pub schedule: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VersionGateDoc {
    pub id: Spanned<String>,
    pub version_raw_id_prefix: MinorPrefix,
    pub label: String,
    pub sts_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseDoc {
    pub version: SemVer,
    pub channel_groups: Vec<String>,
    pub published: Instant,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VersionDataDoc {
    pub check_in: Option<CheckIn>,
    pub versions: Option<Entries<VersionHistoryDoc, VersionKey>>,
    pub stats: Option<StatsDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VersionHistoryDoc {
    pub workloads: Option<Entries<WorkloadHistoryDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkloadHistoryDoc {
    pub soak_days: Option<SoakDays>,
    pub reporting: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsDoc {
    pub min_version: SemVer,
    pub min_version_per_workload: Option<Entries<SemVer>>,
}

/// A mapping read in document order, duplicates refused.
///
/// The YAML parser already refuses duplicate keys; `serde_json` keeps the last one
/// silently, which would hide a mistake, so the check is repeated here.
///
/// Keys are plain strings rather than [`Spanned`] ones on purpose: a spanned key
/// hides its text from `serde_path_to_error`, and every error below it would lose
/// that step of its field path.
#[derive(Debug)]
pub(super) struct Entries<V, K = String>(pub Vec<(K, V)>);

/// A mapping key whose text can be compared for duplicates.
pub(super) trait EntryKey {
    fn text(&self) -> &str;
}

impl EntryKey for String {
    fn text(&self) -> &str {
        self
    }
}

impl<'de, V, K> Deserialize<'de> for Entries<V, K>
where
    V: Deserialize<'de>,
    K: Deserialize<'de> + EntryKey,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V, K>(PhantomData<(V, K)>);

        impl<'de, V, K> Visitor<'de> for EntriesVisitor<V, K>
        where
            V: Deserialize<'de>,
            K: Deserialize<'de> + EntryKey,
        {
            type Value = Entries<V, K>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(K, V)> = Vec::new();
                while let Some(key) = map.next_key::<K>()? {
                    if entries.iter().any(|(k, _)| k.text() == key.text()) {
                        return Err(de::Error::custom(DuplicateKey(key.text())));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// A version used as a mapping key (version data), checked where it is read. The
/// text is kept as written: it is the key AUS stores.
#[derive(Debug)]
pub(super) struct VersionKey(pub String);

impl EntryKey for VersionKey {
    fn text(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for VersionKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match parse_version(&text) {
            Ok(_) => Ok(VersionKey(text)),
            Err(reason) => Err(de::Error::custom(reason)),
        }
    }
}

/// The reason given for a repeated mapping key, whichever parser noticed it.
struct DuplicateKey<'a>(&'a str);

impl fmt::Display for DuplicateKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "duplicate key {:?}", self.0)
    }
}

/// A semantic version, checked where it is read.
#[derive(Debug)]
pub(super) struct SemVer(pub Version);

impl<'de> Deserialize<'de> for SemVer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_version(&text).map(SemVer).map_err(de::Error::custom)
    }
}

/// Parse a version with the loader's wording for the failure.
pub(super) fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).map_err(|e| format!("{text:?} is not a valid semantic version ({e})"))
}

/// An RFC 3339 instant with an offset (`Z` or `±hh:mm`), checked where it is read.
#[derive(Debug)]
pub(super) struct Instant(pub Timestamp);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<Timestamp>().map(Instant).map_err(|e| {
            de::Error::custom(format_args!(
                "{text:?} is not an RFC 3339 timestamp with an offset such as \
                 2026-11-21T10:00:00Z ({e})"
            ))
        })
    }
}

/// A stored `check_in`, read as leniently as AUS reads its own history (R64).
#[derive(Debug)]
pub(super) struct CheckIn(pub Timestamp);

impl<'de> Deserialize<'de> for CheckIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_check_in(&text).map(CheckIn).map_err(|e| {
            de::Error::custom(format_args!("{text:?} is not a check-in timestamp ({e})"))
        })
    }
}

/// An OCM label value: always a string in OCM, but a scenario may write a bare
/// number or boolean (`soak-days: 2`), which stands for its text.
#[derive(Debug)]
pub(super) struct LabelValue(pub String);

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelVisitor;

        impl Visitor<'_> for LabelVisitor {
            type Value = LabelValue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a label value (a string, number or boolean)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<LabelValue, E> {
                Ok(LabelValue(v))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<LabelValue, E> {
                Err(E::custom(
                    "a label value cannot be null; write \"\" for an empty value",
                ))
            }

            fn visit_none<E: de::Error>(self) -> Result<LabelValue, E> {
                self.visit_unit()
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LabelValue, E> {
                // `Debug` is the shortest text that reads back as the same number and
                // keeps `2.0` as `2.0` (`Display` would print `2`), closest to what
                // was written.
                Ok(LabelValue(format!("{v:?}")))
            }
        }

        // `deserialize_any`: the value's own type decides; a JSON number has no
        // string form to ask for.
        deserializer.deserialize_any(LabelVisitor)
    }
}

/// `product`: `osd` or `rosa`.
#[derive(Debug)]
pub(super) struct ProductName(pub Product);

impl<'de> Deserialize<'de> for ProductName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "osd" => Ok(ProductName(Product::Osd)),
            "rosa" => Ok(ProductName(Product::Rosa)),
            _ => Err(de::Error::custom(format_args!(
                "{text:?} is not a product (expected osd or rosa)"
            ))),
        }
    }
}

/// `schedule_type`: `manual` or `automatic`.
#[derive(Debug)]
pub(super) struct ScheduleTypeName(pub ScheduleType);

impl<'de> Deserialize<'de> for ScheduleTypeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "manual" => Ok(ScheduleTypeName(ScheduleType::Manual)),
            "automatic" => Ok(ScheduleTypeName(ScheduleType::Automatic)),
            _ => Err(de::Error::custom(format_args!(
                "{text:?} is not a schedule type (expected manual or automatic)"
            ))),
        }
    }
}

/// A gate's `version_raw_id_prefix`: `<major>.<minor>`, as OCM writes it.
///
/// Checked because a prefix such as `4.15.0` would silently never match a minor.
#[derive(Debug)]
pub(super) struct MinorPrefix(pub String);

impl<'de> Deserialize<'de> for MinorPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        match text.split_once('.') {
            Some((major, minor)) if is_number(major) && is_number(minor) => Ok(MinorPrefix(text)),
            _ => Err(de::Error::custom(format_args!(
                "{text:?} is not a <major>.<minor> version prefix such as \"4.15\""
            ))),
        }
    }
}

/// Accumulated soak days: a finite, non-negative number (R62).
#[derive(Debug)]
pub(super) struct SoakDays(pub f64);

impl<'de> Deserialize<'de> for SoakDays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let days = f64::deserialize(deserializer)?;
        if days.is_finite() && days >= 0.0 {
            Ok(SoakDays(days))
        } else {
            Err(de::Error::custom(format_args!(
                "{days} is not a soak-day count (expected a non-negative number)"
            )))
        }
    }
}

/// Read a YAML document.
pub(super) fn from_yaml(text: &str) -> Result<Document, Problem> {
    let mut failed_at: Option<Path> = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            failed_at = Some(e.path().clone());
            e.into_inner()
        })
    })
    .map_err(|e| yaml_problem(&e, failed_at.as_ref()))
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // Messages are composed by the loader, one line each.
        with_snippet: false,
        // Scenarios are operator-written files, and fleets of thousands of clusters
        // are legitimate: the default event and node budgets (1M/250k) would refuse
        // them. The depth limit stays, which is what guards the stack.
        budget: serde_saphyr::budget! {
            max_events: 200_000_000,
            max_nodes: 100_000_000,
        },
    }
}

fn yaml_problem(error: &serde_saphyr::Error, path: Option<&Path>) -> Problem {
    let error = error.without_snippet();
    let line = error.location().map(|l| l.line()).filter(|&l| l > 0);
    let message = match error {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            DuplicateKey(key).to_string()
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => "duplicate key".to_owned(),
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "a scenario is a single YAML document, but another one starts here".to_owned()
        }
        other => serde_saphyr::DefaultMessageFormatter
            .format_message(other)
            .into_owned(),
    };
    located(line, path, &message)
}

/// Read a JSON document.
pub(super) fn from_json(text: &str) -> Result<Document, Problem> {
    let mut de = serde_json::Deserializer::from_str(text);
    let document = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().clone();
        json_problem(&e.into_inner(), Some(&path))
    })?;
    // Trailing text after the document is a mistake too.
    de.end().map_err(|e| json_problem(&e, None))?;
    Ok(document)
}

fn json_problem(error: &serde_json::Error, path: Option<&Path>) -> Problem {
    let line = Some(error.line() as u64).filter(|&l| l > 0);
    // serde_json appends its own location; the loader puts the line first instead.
    let mut message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message.truncate(stripped.len());
    }
    located(line, path, &message)
}

/// Turn a parser's message and path into the loader's wording, which is the same
/// for YAML and JSON: the path names the field at fault, the reason what is wrong.
fn located(line: Option<u64>, path: Option<&Path>, message: &str) -> Problem {
    let mut segments: Vec<String> = Vec::new();
    let mut first = true;
    let mut previous: Option<&str> = None;
    for segment in path.map(Path::iter).into_iter().flatten() {
        match segment {
            Segment::Seq { index } => segments.push(format!("[{index}]")),
            // `Spanned` reads its scalar as a synthetic `value` field; not the user's.
            Segment::Map { key } if key == "value" && previous.is_some_and(is_spanned_field) => {}
            Segment::Map { key } => segments.push(key_segment(key, first)),
            Segment::Enum { variant } => segments.push(key_segment(variant, first)),
            // A key the parser refused before it was known (a duplicate): the
            // message names it, and the path stops at the mapping that holds it.
            Segment::Unknown => break,
        }
        previous = match segment {
            Segment::Map { key } => Some(key.as_str()),
            _ => None,
        };
        first = false;
    }
    let mut path = segments.concat();

    let reason = if let Some(rest) = message.strip_prefix("missing field ") {
        // The path points at the struct; point at the absent field instead.
        let field = rest.trim_matches('`');
        path.push_str(&key_segment(field, path.is_empty()));
        "missing required field".to_owned()
    } else if message.starts_with("unknown field ") {
        // The path already ends with the unknown key. The known keys help fixing a
        // typo; parsers disagree on quoting them, so the backticks go.
        match message.split_once(", expected ") {
            Some((_, expected)) => {
                format!("unknown field (expected {})", expected.replace('`', ""))
            }
            None => "unknown field (this mapping takes no fields)".to_owned(),
        }
    } else {
        message.to_owned()
    };
    Problem { line, path, reason }
}

/// Fields declared as `Spanned<String>` in the structs above.
fn is_spanned_field(field: &str) -> bool {
    matches!(
        field,
        "id" | "name" | "organization" | "type" | "mapping_method" | "issuer" | "client_id"
    )
}

/// One step of a field path: `.name` for identifier-like keys, `["4.14.6"]` for
/// keys that contain dots or other punctuation (versions, label keys).
pub(super) fn key_segment(key: &str, first: bool) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, first) {
        (true, true) => key.to_owned(),
        (true, false) => format!(".{key}"),
        (false, _) => format!("[{key:?}]"),
    }
}

/// The line of `key` directly under `version_data:` in YAML text.
///
/// [`Entries`] keeps no key positions (see there), so a problem found later with a
/// version-data key re-reads the text once, keys only, to point at the line.
pub(super) fn version_data_key_line(text: &str, key: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Outline {
        version_data: Option<KeyLines>,
    }

    struct KeyLines(Vec<Spanned<String>>);

    impl<'de> Deserialize<'de> for KeyLines {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct KeysVisitor;

            impl<'de> Visitor<'de> for KeysVisitor {
                type Value = KeyLines;

                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a mapping")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyLines, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<Spanned<String>>()? {
                        map.next_value::<de::IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(KeyLines(keys))
                }
            }

            deserializer.deserialize_map(KeysVisitor)
        }
    }

    let outline: Outline = serde_saphyr::from_str_with_options(text, yaml_options()).ok()?;
    let keys = outline.version_data?.0;
    keys.iter().find(|k| k.value == key).and_then(line_of)
}

/// The 1-based line of a spanned value, when the parser recorded one (JSON does not).
pub(super) fn line_of<T>(spanned: &Spanned<T>) -> Option<u64> {
    Some(spanned.referenced.line()).filter(|&l| l > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_steps_quote_keys_with_punctuation() {
        assert_eq!(key_segment("clusters", true), "clusters");
        assert_eq!(key_segment("org-a", false), ".org-a");
        assert_eq!(key_segment("4.14.6", false), "[\"4.14.6\"]");
        assert_eq!(
            key_segment("sre-capabilities.aus.soak-days", false),
            "[\"sre-capabilities.aus.soak-days\"]"
        );
        assert_eq!(key_segment("", false), "[\"\"]");
    }

    #[test]
    fn parser_wording_is_normalised() {
        let problem = located(Some(3), None, "unknown field `x`, expected `a` or `b`");
        assert_eq!(problem.reason, "unknown field (expected a or b)");
        let problem = located(Some(3), None, "missing field `version`");
        assert_eq!(
            (problem.path.as_str(), problem.reason.as_str()),
            ("version", "missing required field")
        );
        let problem = located(None, None, "something else");
        assert_eq!(problem.reason, "something else");
    }
}
