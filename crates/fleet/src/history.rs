//! AUS soak history ("version data") as AUS stores it, per organization.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serialize};

/// The soak history of one organization (spec R62).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionData {
    /// Instant of the last update; absent before the first. Read leniently
    /// ([`parse_check_in`]) because older AUS versions wrote other shapes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_check_in"
    )]
    pub check_in: Option<Timestamp>,
    /// Version string -> per-workload history. Versions are never removed, so
    /// the history grows all year; each version's entry is shared (`Arc`), so
    /// that the copy a pass updates costs a pointer per version, and only the
    /// versions clusters report now are copied for real (`Arc::make_mut`).
    #[serde(default)]
    pub versions: BTreeMap<String, Arc<VersionHistory>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// History of one version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionHistory {
    #[serde(default)]
    pub workloads: BTreeMap<String, WorkloadHistory>,
}

/// Soak days of one version for one workload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadHistory {
    /// Accumulated cluster-days (R66).
    #[serde(default)]
    pub soak_days: f64,
    /// Names of the clusters that reported this version and workload.
    #[serde(default)]
    pub reporting: Reporting,
}

/// Names of the clusters that reported a version and workload, in the order
/// they first reported (stored as a plain list).
///
/// Every pass adds soak days to the versions its clusters run, so it copies
/// those versions' histories; the names change only when a cluster reports a
/// version for the first time. They are therefore shared (`Arc`, copied on
/// the first write), and carry a hash index so that "has this cluster
/// reported?" is one lookup rather than a set built from the whole list on
/// every pass: both showed in profiles of a year-long forecast.
#[derive(Clone, Default)]
pub struct Reporting(Arc<ReportingNames>);

#[derive(Clone, Default)]
struct ReportingNames {
    /// As stored, duplicates included (older documents may have them).
    names: Vec<String>,
    /// Position of the first occurrence of each distinct name in `names`.
    index: HashTable<usize>,
}

fn name_hash(name: &str) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl Reporting {
    /// Has `name` reported?
    pub fn contains(&self, name: &str) -> bool {
        let names = &self.0.names;
        self.0
            .index
            .find(name_hash(name), |&i| names[i] == name)
            .is_some()
    }

    /// Append `name`, as a list would (a name already there is listed again).
    pub fn push(&mut self, name: String) {
        let inner = Arc::make_mut(&mut self.0);
        let hash = name_hash(&name);
        let names = &inner.names;
        if inner.index.find(hash, |&i| names[i] == name).is_none() {
            let position = names.len();
            inner
                .index
                .insert_unique(hash, position, |&i| name_hash(&names[i]));
        }
        inner.names.push(name);
    }

    /// Append `name` unless it is listed; whether it was appended.
    pub fn insert(&mut self, name: &str) -> bool {
        if self.contains(name) {
            return false;
        }
        self.push(name.to_owned());
        true
    }

    /// The names, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0.names
    }
}

impl std::ops::Deref for Reporting {
    type Target = [String];

    fn deref(&self) -> &[String] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Reporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl PartialEq for Reporting {
    fn eq(&self, other: &Reporting) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for Reporting {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Reporting {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Reporting {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl Extend<String> for Reporting {
    fn extend<I: IntoIterator<Item = String>>(&mut self, names: I) {
        for name in names {
            self.push(name);
        }
    }
}

impl FromIterator<String> for Reporting {
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> Reporting {
        let mut reporting = Reporting::default();
        reporting.extend(names);
        reporting
    }
}

impl From<Vec<String>> for Reporting {
    fn from(names: Vec<String>) -> Reporting {
        names.into_iter().collect()
    }
}

impl Serialize for Reporting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Reporting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Reporting, D::Error> {
        Vec::<String>::deserialize(deserializer).map(Reporting::from)
    }
}

/// Lowest versions of the organization's clusters (R69).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    pub min_version: String,
    #[serde(default)]
    pub min_version_per_workload: BTreeMap<String, String>,
}

/// Parse a stored `check_in` instant (spec R64).
///
/// Written as RFC 3339 UTC with `Z`, but documents written by older AUS versions
/// also exist, so reading accepts: fractional seconds or none, `Z` or an explicit
/// offset, no offset at all (read as UTC), and a space instead of `T`
/// (`2021-08-29 18:00:00`).
pub fn parse_check_in(text: &str) -> Result<Timestamp, jiff::Error> {
    let text = text.trim();
    // An instant with an offset is unambiguous: take it as it is.
    let with_offset = text.parse::<Timestamp>();
    if with_offset.is_ok() {
        return with_offset;
    }
    // Without an offset, the old AUS wrote UTC. A bare date is not an instant AUS
    // ever wrote, so a time of day is required (jiff would read it as midnight). If
    // the text is no civil date-time either, the error of the offset parse explains
    // more (it names what is missing), so that one is returned.
    let has_time = matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' '));
    match text.parse::<DateTime>() {
        Ok(civil) if has_time => civil.to_zoned(TimeZone::UTC).map(|zoned| zoned.timestamp()),
        _ => with_offset,
    }
}

/// Serde adapter for an optional `check_in`: null or absent is `None`.
fn deserialize_check_in<'de, D>(deserializer: D) -> Result<Option<Timestamp>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    parse_check_in(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format_args!("{text:?} is not a check-in timestamp ({e})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("valid test instant")
    }

    #[test]
    fn reporting_is_a_list_with_a_lookup_and_is_stored_as_the_list() {
        // Duplicates in a stored list (older documents) are kept as written.
        let mut r: Reporting =
            serde_json::from_str(r#"["c1", "c2", "c1"]"#).expect("a list of names");
        assert_eq!(r, ["c1", "c2", "c1"]);
        assert!(r.contains("c1") && r.contains("c2") && !r.contains("c3"));
        assert!(!r.insert("c2"), "a listed name is not appended again");
        let shared = r.clone();
        assert!(r.insert("c3"));
        r.push("c1".to_owned());
        assert_eq!(r, ["c1", "c2", "c1", "c3", "c1"]);
        assert!(r.contains("c3"));
        // The copy taken before is untouched (copy on write).
        assert_eq!(shared, ["c1", "c2", "c1"]);
        assert!(!shared.contains("c3"));
        assert_eq!(
            serde_json::to_string(&r).expect("serializable"),
            r#"["c1","c2","c1","c3","c1"]"#
        );
        assert_eq!(format!("{r:?}"), r#"["c1", "c2", "c1", "c3", "c1"]"#);
        // Many names: every one is found, none that is not there.
        let many: Reporting = (0..5000).map(|i| format!("cluster-{i}")).collect();
        assert!((0..5000).all(|i| many.contains(&format!("cluster-{i}"))));
        assert!(!many.contains("cluster-5000") && !many.contains(""));
    }

    #[test]
    fn check_in_accepts_every_documented_shape() {
        let cases = [
            ("2021-08-29T18:00:00Z", "2021-08-29T18:00:00Z"),
            ("2021-08-29T18:00:00.123456Z", "2021-08-29T18:00:00.123456Z"),
            ("2021-08-29T20:00:00+02:00", "2021-08-29T18:00:00Z"),
            ("2021-08-29T13:30:00.5-04:30", "2021-08-29T18:00:00.5Z"),
            ("2021-08-29T18:00:00", "2021-08-29T18:00:00Z"),
            ("2021-08-29T18:00:00.25", "2021-08-29T18:00:00.25Z"),
            ("2021-08-29 18:00:00", "2021-08-29T18:00:00Z"),
            ("2021-08-29 18:00:00.000001", "2021-08-29T18:00:00.000001Z"),
            ("2021-08-29 18:00:00Z", "2021-08-29T18:00:00Z"),
            ("2021-08-29 19:00:00+01:00", "2021-08-29T18:00:00Z"),
        ];
        for (text, want) in cases {
            let got = parse_check_in(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got, at(want), "{text}");
        }
    }

    #[test]
    fn check_in_rejects_garbage() {
        for text in [
            "",
            "yesterday",
            "2021-08-29",
            "2021-13-29T18:00:00Z",
            "18:00:00",
        ] {
            assert!(parse_check_in(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn check_in_is_written_back_as_utc_with_z() {
        let data = VersionData {
            check_in: Some(parse_check_in("2021-08-29 18:00:00").expect("valid")),
            ..VersionData::default()
        };
        let json = serde_json::to_string(&data).expect("serializable");
        assert_eq!(json, r#"{"check_in":"2021-08-29T18:00:00Z","versions":{}}"#);
        let back: VersionData = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, data);
    }

    #[test]
    fn stored_document_with_old_check_in_reads() {
        let doc = r#"{"check_in": "2021-08-29 18:00:00", "versions": {}}"#;
        let data: VersionData = serde_json::from_str(doc).expect("old shape reads");
        assert_eq!(data.check_in, Some(at("2021-08-29T18:00:00Z")));
        let absent: VersionData = serde_json::from_str("{}").expect("empty reads");
        assert_eq!(absent.check_in, None);
        let bad = serde_json::from_str::<VersionData>(r#"{"check_in": "soon"}"#)
            .expect_err("garbage is rejected");
        assert!(
            bad.to_string()
                .starts_with(r#""soon" is not a check-in timestamp ("#),
            "{bad}"
        );
    }
}
