//! The stored form of a soak history: its JSON text (spec R63, R64).
//!
//! Both backends run every write through [`check`], so that a history the
//! memory store accepts is one the SQLite store accepts too.

use srecap_fleet::VersionData;

use crate::{StateKey, StoreError};

/// Refuse a history that could not be read back as written.
///
/// JSON has no NaN or infinity (`serde_json` writes them as `null`, which then
/// fails to read as a number), and spec R62 makes soak days non-negative; a
/// negative value can only come from a bug, and storing it would carry the bug
/// into every later pass.
pub(crate) fn check(key: &StateKey, history: &VersionData) -> Result<(), StoreError> {
    for (version, entry) in &history.versions {
        for (workload, soak) in &entry.workloads {
            if !(soak.soak_days.is_finite() && soak.soak_days >= 0.0) {
                return Err(StoreError::Unstorable {
                    key: key.to_string(),
                    reason: format!(
                        "soak_days of version {version:?}, workload {workload:?} is {}, not a finite non-negative number",
                        soak.soak_days
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The JSON text stored for `history`.
pub(crate) fn encode(key: &StateKey, history: &VersionData) -> Result<String, StoreError> {
    check(key, history)?;
    serde_json::to_string(history).map_err(|e| StoreError::Unstorable {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// The history stored as `text` at `key` in `location` (a database file).
pub(crate) fn decode(
    key: &StateKey,
    location: &str,
    text: &str,
) -> Result<VersionData, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt {
        key: key.to_string(),
        location: location.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use srecap_fleet::{VersionHistory, WorkloadHistory};

    use super::*;

    fn with_soak(days: f64) -> VersionData {
        let mut history = VersionData::default();
        history.versions.insert(
            "4.15.3".into(),
            VersionHistory {
                workloads: [(
                    "batch".to_owned(),
                    WorkloadHistory {
                        soak_days: days,
                        reporting: vec!["c1".to_owned()].into(),
                    },
                )]
                .into(),
            }
            .into(),
        );
        history
    }

    #[test]
    fn soak_days_that_json_cannot_carry_are_refused() {
        let key = StateKey::new("prod", "o1").expect("valid key");
        for days in [f64::NAN, f64::INFINITY, -0.5] {
            let err = encode(&key, &with_soak(days)).expect_err("refused");
            assert_eq!(
                err.to_string(),
                format!(
                    "soak history prod/o1 is not stored: soak_days of version \"4.15.3\", workload \"batch\" is {days}, not a finite non-negative number"
                )
            );
        }
        let text = encode(&key, &with_soak(0.1 + 0.2)).expect("finite");
        assert_eq!(
            decode(&key, "x.db", &text).expect("reads"),
            with_soak(0.1 + 0.2)
        );
    }

    #[test]
    fn soak_days_read_back_bit_for_bit() {
        // 14 * 0.1 = 1.4000000000000001 is one of many values that serde_json's
        // default (fast) float parser reads back one ulp off.
        let key = StateKey::new("prod", "o1").expect("valid key");
        let mut values: Vec<f64> = (0..2000).map(|i| f64::from(i) * 0.1).collect();
        values.extend([
            1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            1.0 / 3.0,
            86_399.0 / 86_400.0,
        ]);
        for days in values {
            let text = encode(&key, &with_soak(days)).expect("finite");
            let back = decode(&key, "x.db", &text).expect("reads");
            let read = back.versions["4.15.3"].workloads["batch"].soak_days;
            assert_eq!(
                read.to_bits(),
                days.to_bits(),
                "{days:e} read back as {read:e}"
            );
        }
    }

    #[test]
    fn unreadable_text_names_key_and_location() {
        let key = StateKey::new("prod", "o1").expect("valid key");
        let err = decode(&key, "/var/state.db", "{\"versions\": 3}").expect_err("corrupt");
        assert!(
            err.to_string().starts_with(
                "stored soak history prod/o1 in /var/state.db is corrupt; fix or delete it"
            ),
            "{err}"
        );
    }
}
