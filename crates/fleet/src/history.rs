//! AUS soak history ("version data") as AUS stores it, per organization.

use std::collections::BTreeMap;
use std::sync::Arc;

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
    pub reporting: Vec<String>,
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
