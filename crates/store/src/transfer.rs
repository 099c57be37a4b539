//! Soak histories outside a database: the `srecap state export` document, and
//! the reference AUS's stored documents (spec R62–R64) for `state import
//! --format reference`.
//!
//! The export document (stable; `format` changes if its shape ever does):
//!
//! ```json
//! {
//!   "format": "srecap-state/v1",
//!   "entries": [
//!     {"key": "production/1a2b3c", "history": {"check_in": "…", "versions": {…}, "stats": {…}}}
//!   ]
//! }
//! ```
//!
//! `key` is `<environment>/<org id>` (R63) and `history` is the R63 document,
//! serialized as R64 says, exactly as stored. Entries are sorted by key.
//!
//! The reference stores one object per key (`state/advanced-upgrade-scheduler/
//! <environment>/<org id>` in its S3 bucket, the body an R63 document). It is
//! read either as that tree downloaded to a directory (`aws s3 sync
//! s3://BUCKET/state/advanced-upgrade-scheduler/ DIR`), or as one JSON object
//! mapping each key to its document.
//!
//! Reading checks everything before anything is written, and an error names
//! the entry (its index and key, or its file) and the field at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use srecap_fleet::VersionData;

use crate::{StateKey, StoreError};

/// The `format` of the export document.
pub const FORMAT: &str = "srecap-state/v1";

/// Why a transfer document cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The text is not JSON at all.
    #[error("not a JSON document")]
    Json(#[source] serde_json::Error),

    /// The document's top level is not the expected shape.
    #[error("{0}")]
    Shape(String),

    /// One entry is malformed; `entry` names it (index and key, or file) and
    /// `field` the part at fault.
    #[error("{entry}: field `{field}`: {reason}")]
    Entry {
        entry: String,
        field: String,
        reason: String,
    },

    /// Two entries have the same key: which one should win is not for
    /// `import` to guess.
    #[error("{entry}: key {key} is already given by {first}")]
    Duplicate {
        entry: String,
        key: String,
        first: String,
    },

    /// A file or directory of a reference tree cannot be read.
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Serialize)]
struct ExportDocument<'a> {
    format: &'static str,
    entries: Vec<ExportEntry<'a>>,
}

#[derive(Serialize)]
struct ExportEntry<'a> {
    key: String,
    history: &'a VersionData,
}

/// The export document of `histories`, pretty-printed, ending with a newline.
pub fn to_export_json(histories: &BTreeMap<StateKey, VersionData>) -> String {
    let document = ExportDocument {
        format: FORMAT,
        entries: histories
            .iter()
            .map(|(key, history)| ExportEntry {
                key: key.to_string(),
                history,
            })
            .collect(),
    };
    // Serializing plain data (strings, finite numbers, maps with string keys)
    // cannot fail.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// Read an export document.
pub fn parse_export(text: &str) -> Result<BTreeMap<StateKey, VersionData>, TransferError> {
    let value: Value = serde_json::from_str(text).map_err(TransferError::Json)?;
    let Value::Object(mut top) = value else {
        return Err(TransferError::Shape(format!(
            "expected an object with `format` (\"{FORMAT}\") and `entries`; found {}",
            kind(&value)
        )));
    };
    match top.remove("format") {
        Some(Value::String(format)) if format == FORMAT => {}
        Some(other) => {
            return Err(TransferError::Shape(format!(
                "field `format`: expected \"{FORMAT}\", found {other}; for the reference AUS's documents use `--format reference`"
            )));
        }
        None => {
            return Err(TransferError::Shape(format!(
                "field `format` is missing: expected \"{FORMAT}\"; for the reference AUS's documents use `--format reference`"
            )));
        }
    }
    let entries = match top.remove("entries") {
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(TransferError::Shape(format!(
                "field `entries`: expected a list, found {}",
                kind(&other)
            )));
        }
        None => {
            return Err(TransferError::Shape(
                "field `entries` is missing".to_owned(),
            ));
        }
    };
    if let Some(unknown) = top.keys().next() {
        return Err(TransferError::Shape(format!(
            "unknown field `{unknown}`: expected only `format` and `entries`"
        )));
    }
    let mut histories = Histories::default();
    for (index, entry) in entries.into_iter().enumerate() {
        let mut name = format!("entry {index}");
        let Value::Object(mut fields) = entry else {
            return Err(TransferError::Entry {
                entry: name,
                field: "(entry)".to_owned(),
                reason: format!(
                    "expected an object with `key` and `history`, found {}",
                    kind(&entry)
                ),
            });
        };
        let key_text = match fields.remove("key") {
            Some(Value::String(key)) => key,
            Some(other) => {
                return Err(entry_error(
                    &name,
                    "key",
                    format!("expected a string, found {}", kind(&other)),
                ));
            }
            None => return Err(entry_error(&name, "key", "missing".to_owned())),
        };
        name = format!("entry {index} (key {key_text:?})");
        let key = parse_key(&key_text).map_err(|reason| entry_error(&name, "key", reason))?;
        let Some(history) = fields.remove("history") else {
            return Err(entry_error(&name, "history", "missing".to_owned()));
        };
        if let Some(unknown) = fields.keys().next() {
            return Err(entry_error(
                &name,
                unknown,
                "unknown field: an entry has only `key` and `history`".to_owned(),
            ));
        }
        let history = parse_history(&name, "history.", history)?;
        histories.insert(name, key, history)?;
    }
    Ok(histories.into_map())
}

/// Read the reference AUS's documents from `path`: a directory laid out as
/// its bucket (`<environment>/<org id>` files), or a JSON object mapping
/// each key to its document.
pub fn read_reference(path: &Path) -> Result<BTreeMap<StateKey, VersionData>, TransferError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TransferError::Io { path, source }
    };
    if std::fs::metadata(path).map_err(io(path))?.is_dir() {
        return read_reference_dir(path);
    }
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse_reference_object(&text)
}

/// Read a JSON object `{"<environment>/<org id>": document, ...}`.
pub fn parse_reference_object(
    text: &str,
) -> Result<BTreeMap<StateKey, VersionData>, TransferError> {
    let value: Value = serde_json::from_str(text).map_err(TransferError::Json)?;
    let Value::Object(documents) = value else {
        return Err(TransferError::Shape(format!(
            "expected an object mapping each state key (`<environment>/<org id>`) to its stored document; found {}",
            kind(&value)
        )));
    };
    let mut histories = Histories::default();
    for (key_text, document) in documents {
        let name = format!("entry {key_text:?}");
        let key = parse_key(&key_text).map_err(|reason| entry_error(&name, "(key)", reason))?;
        let history = parse_history(&name, "", document)?;
        histories.insert(name, key, history)?;
    }
    Ok(histories.into_map())
}

fn read_reference_dir(dir: &Path) -> Result<BTreeMap<StateKey, VersionData>, TransferError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TransferError::Io { path, source }
    };
    let mut histories = Histories::default();
    let mut environments: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    environments.sort_by_key(std::fs::DirEntry::file_name);
    for environment in environments {
        let env_path = environment.path();
        if !environment.file_type().map_err(io(&env_path))?.is_dir() {
            return Err(TransferError::Shape(format!(
                "{} is a file: the reference tree holds `<environment>/<org id>` files only (download `state/advanced-upgrade-scheduler/` of the bucket)",
                env_path.display()
            )));
        }
        let mut orgs: Vec<_> = std::fs::read_dir(&env_path)
            .map_err(io(&env_path))?
            .collect::<Result<_, _>>()
            .map_err(io(&env_path))?;
        orgs.sort_by_key(std::fs::DirEntry::file_name);
        for org in orgs {
            let path = org.path();
            let name = format!("file {}", path.display());
            if !org.file_type().map_err(io(&path))?.is_file() {
                return Err(TransferError::Shape(format!(
                    "{} is not a file: the reference tree holds `<environment>/<org id>` files only (add-on histories, `<environment>/<org id>/<addon id>`, are not AUS's)",
                    path.display()
                )));
            }
            let key = StateKey::new(
                environment.file_name().to_string_lossy(),
                org.file_name().to_string_lossy(),
            )
            .map_err(|e| entry_error(&name, "(key)", e.to_string()))?;
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| entry_error(&name, "(document)", format!("not JSON: {e}")))?;
            let history = parse_history(&name, "", value)?;
            histories.insert(name, key, history)?;
        }
    }
    Ok(histories.into_map())
}

/// Histories being read, remembering which entry gave each key.
#[derive(Default)]
struct Histories {
    by_key: BTreeMap<StateKey, (String, VersionData)>,
}

impl Histories {
    fn insert(
        &mut self,
        entry: String,
        key: StateKey,
        history: VersionData,
    ) -> Result<(), TransferError> {
        if let Some((first, _)) = self.by_key.get(&key) {
            return Err(TransferError::Duplicate {
                entry,
                key: key.to_string(),
                first: first.clone(),
            });
        }
        self.by_key.insert(key, (entry, history));
        Ok(())
    }

    fn into_map(self) -> BTreeMap<StateKey, VersionData> {
        self.by_key
            .into_iter()
            .map(|(key, (_, history))| (key, history))
            .collect()
    }
}

fn entry_error(entry: &str, field: &str, reason: String) -> TransferError {
    TransferError::Entry {
        entry: entry.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

/// `<environment>/<org id>` or an add-on's `<environment>/<org id>/<addon id>`
/// (R115) as a key.
fn parse_key(text: &str) -> Result<StateKey, String> {
    let Some((environment, org_id)) = text.split_once('/') else {
        return Err(format!("{text:?} is not `<environment>/<org id>`"));
    };
    StateKey::from_columns(environment, org_id).map_err(|e| match e {
        StoreError::InvalidKey { reason, .. } => {
            format!("{text:?} is not `<environment>/<org id>`: {reason}")
        }
        other => other.to_string(),
    })
}

/// One R63 document, with errors naming the field (`prefix` + its path).
fn parse_history(entry: &str, prefix: &str, value: Value) -> Result<VersionData, TransferError> {
    let history: VersionData = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.trim_end_matches('.').to_owned()
        } else {
            format!("{prefix}{path}")
        };
        let field = if field.is_empty() {
            "(document)".to_owned()
        } else {
            field
        };
        entry_error(entry, &field, e.into_inner().to_string())
    })?;
    // R62: soak days are non-negative; a negative one can only be a mistake,
    // and it would hold every upgrade of that version back.
    for (version, entry_history) in &history.versions {
        for (workload, soak) in &entry_history.workloads {
            if !(soak.soak_days.is_finite() && soak.soak_days >= 0.0) {
                return Err(entry_error(
                    entry,
                    &format!("{prefix}versions.{version}.workloads.{workload}.soak_days"),
                    format!("{} is not a non-negative number of days", soak.soak_days),
                ));
            }
        }
    }
    Ok(history)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
        "check_in": "2021-08-29 18:00:00",
        "versions": {"4.12.1": {"workloads": {"w1": {"soak_days": 23.5, "reporting": ["c1"]}}}},
        "stats": {"min_version": "4.12.1", "min_version_per_workload": {"w1": "4.12.1"}}
    }"#;

    #[test]
    fn export_document_round_trips() {
        let histories = parse_reference_object(&format!(
            r#"{{"production/o1": {DOC}, "stage/o2": {{}}, "production/o1/logging": {DOC}}}"#
        ))
        .expect("reference object");
        assert_eq!(histories.len(), 3);
        assert!(
            histories.contains_key(&StateKey::addon("production", "o1", "logging").expect("key"))
        );
        let text = to_export_json(&histories);
        assert!(
            text.starts_with("{\n  \"format\": \"srecap-state/v1\",\n  \"entries\": ["),
            "{text}"
        );
        assert_eq!(parse_export(&text).expect("reads back"), histories);
    }

    #[test]
    fn malformed_entries_are_named_with_their_field() {
        let cases = [
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p/o1", "history": {}}, {"key": "p/o2", "history": {"versions": {"4.1.0": {"workloads": {"w": {"soak_days": "ten"}}}}}}]}"#,
                r#"entry 1 (key "p/o2"): field `history.versions.4.1.0.workloads.w.soak_days`: invalid type: string "ten", expected f64"#,
            ),
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p", "history": {}}]}"#,
                r#"entry 0 (key "p"): field `key`: "p" is not `<environment>/<org id>`"#,
            ),
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p/o/addon/x", "history": {}}]}"#,
                r#"entry 0 (key "p/o/addon/x"): field `key`: "p/o/addon/x" is not `<environment>/<org id>`: the add-on id contains `/`, the key separator"#,
            ),
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p/o", "history": {"versions": {"4.1.0": {"workloads": {"w": {"soak_days": -1}}}}}}]}"#,
                r#"entry 0 (key "p/o"): field `history.versions.4.1.0.workloads.w.soak_days`: -1 is not a non-negative number of days"#,
            ),
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p/o", "history": {}, "extra": 1}]}"#,
                r#"entry 0 (key "p/o"): field `extra`: unknown field: an entry has only `key` and `history`"#,
            ),
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p/o", "history": {}}, {"key": "p/o", "history": {}}]}"#,
                r#"entry 1 (key "p/o"): key p/o is already given by entry 0 (key "p/o")"#,
            ),
            (
                r#"{"format": "srecap-state/v1", "entries": [{"key": "p/o", "history": {"check_in": "yesterday"}}]}"#,
                r#"entry 0 (key "p/o"): field `history.check_in`: "#,
            ),
        ];
        for (text, want) in cases {
            let err = parse_export(text).expect_err(text).to_string();
            assert!(err.starts_with(want), "{err}\nwanted: {want}");
        }
        let err = parse_export(r#"{"entries": []}"#)
            .expect_err("no format")
            .to_string();
        assert!(err.starts_with("field `format` is missing"), "{err}");
        let err =
            parse_reference_object(r#"{"production/o1": {"versions": {"4.1": {"workload": {}}}}}"#)
                .expect_err("typo")
                .to_string();
        assert!(
            err.starts_with(
                r#"entry "production/o1": field `versions.4.1.workload`: unknown field `workload`"#
            ),
            "{err}"
        );
    }

    #[test]
    fn reference_tree_reads_one_file_per_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("production")).expect("mkdir");
        std::fs::write(dir.path().join("production").join("o1"), DOC).expect("write");
        std::fs::write(dir.path().join("production").join("o2"), "{}").expect("write");
        let histories = read_reference(dir.path()).expect("tree");
        let keys: Vec<String> = histories.keys().map(ToString::to_string).collect();
        assert_eq!(keys, ["production/o1", "production/o2"]);
        let o1 = &histories[&StateKey::new("production", "o1").expect("key")];
        assert_eq!(
            o1.versions["4.12.1"].workloads["w1"].soak_days.to_bits(),
            23.5_f64.to_bits()
        );
        assert_eq!(
            o1.check_in,
            Some("2021-08-29T18:00:00Z".parse().expect("instant"))
        );

        std::fs::write(
            dir.path().join("production").join("o3"),
            "{\"versions\": 1}",
        )
        .expect("write");
        let err = read_reference(dir.path())
            .expect_err("bad file")
            .to_string();
        let path = dir.path().join("production").join("o3");
        assert!(
            err.starts_with(&format!(
                "file {}: field `versions`: invalid type",
                path.display()
            )),
            "{err}"
        );
    }
}
