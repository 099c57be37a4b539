//! `srecap state migrate | export | import`: real processes against real SQLite
//! files and a real PostgreSQL server.
//!
//! PostgreSQL comes from `SRECAP_TEST_POSTGRES_URL` (scripts/test starts a
//! throwaway server and sets it); each test creates its own database with
//! `psql`. Without the variable these tests fail, saying so.

#![allow(
    clippy::float_cmp,
    reason = "soak days must read back exactly as written, so exact comparison is the point"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use assert_cmd::cargo::CommandCargoExt;
use srecap_fleet::{Stats, VersionData, VersionHistory, WorkloadHistory};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

fn srecap(args: &[&str]) -> Output {
    Command::cargo_bin("srecap")
        .expect("srecap binary")
        .args(args)
        .env_remove("SRECAP_STATE")
        .output()
        .expect("run srecap")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn key(environment: &str, org: &str) -> StateKey {
    StateKey::new(environment, org).expect("valid key")
}

/// A history with floats that a careless round trip would change.
fn history(seed: f64) -> VersionData {
    let mut versions = BTreeMap::new();
    versions.insert(
        "4.15.3".to_owned(),
        std::sync::Arc::new(VersionHistory {
            workloads: [
                (
                    "batch".to_owned(),
                    WorkloadHistory {
                        soak_days: seed * 0.1 + 0.2,
                        reporting: vec!["c1".to_owned(), "c2".to_owned()].into(),
                    },
                ),
                (
                    "web".to_owned(),
                    WorkloadHistory {
                        soak_days: 14.0 * 0.1,
                        reporting: Vec::new().into(),
                    },
                ),
            ]
            .into(),
        }),
    );
    VersionData {
        check_in: Some("2026-11-21T10:00:00.123456789Z".parse().expect("instant")),
        versions,
        stats: Some(Stats {
            min_version: "4.15.3".into(),
            min_version_per_workload: [("batch".to_owned(), "4.15.3".to_owned())].into(),
        }),
    }
}

fn seed(url: &str, histories: &BTreeMap<StateKey, VersionData>) {
    block_on(async {
        let store = Store::open(url).await.expect("open");
        for (k, doc) in histories {
            store
                .begin(k)
                .await
                .expect("begin")
                .commit(doc)
                .await
                .expect("commit");
        }
    });
}

fn stored(url: &str) -> BTreeMap<StateKey, VersionData> {
    block_on(async {
        Store::open(url)
            .await
            .expect("open")
            .export()
            .await
            .expect("export")
    })
}

/// A new database on the test server; its URL.
fn postgres_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = std::env::var("SRECAP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "SRECAP_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server. \
             Run them through scripts/test, which starts a throwaway one, or set it to \
             postgres://USER:PASSWORD@HOST:PORT/DB for a user that may CREATE DATABASE"
        )
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let name = format!(
        "t_cli_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &server, "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql (Debian's postgresql-client) is needed to create test databases");
    assert!(
        out.status.success(),
        "psql CREATE DATABASE failed: {}",
        text(&out.stderr)
    );
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (server.clone(), String::new()),
    };
    let authority = base.find("://").expect("a URL") + 3;
    let base = match base[authority..].find('/') {
        Some(slash) => base[..authority + slash].to_owned(),
        None => base,
    };
    format!("{base}/{name}{query}")
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("state.db").display())
}

#[test]
fn export_import_round_trip_from_sqlite_to_postgres_is_identical() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_url(dir.path());
    let histories: BTreeMap<StateKey, VersionData> = [
        (key("production", "org-1"), history(1.0)),
        (key("production", "org-2"), history(2.0)),
        (key("stage", "org-1"), VersionData::default()),
        // An add-on's history (R115) travels too.
        (
            StateKey::addon("production", "org-1", "logging").expect("valid key"),
            history(3.0),
        ),
    ]
    .into();
    seed(&sqlite, &histories);
    let file = dir.path().join("backup.json");
    let out = srecap(&[
        "state",
        "export",
        "--state",
        &sqlite,
        "-o",
        file.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("exported 4 soak histories"),
        "{}",
        text(&out.stderr)
    );

    let postgres = postgres_database();
    let out = srecap(&["state", "migrate", "--state", &postgres]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.starts_with("state store postgres://srecap:***@")
            && report.ends_with(": schema version 3, up to date\n"),
        "{report}"
    );

    let file = file.to_str().expect("utf-8 path");
    let out = srecap(&["state", "import", "--state", &postgres, file, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("would import 4 soak histories"),
        "{}",
        text(&out.stdout)
    );
    assert!(stored(&postgres).is_empty(), "--dry-run wrote");

    let out = srecap(&["state", "import", "--state", &postgres, file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stored(&postgres), histories);
    // And the documents are byte for byte the same.
    let again = srecap(&["state", "export", "--state", &postgres]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout),
        std::fs::read_to_string(file).expect("backup")
    );
}

#[test]
fn addon_histories_export_and_import_between_sqlite_stores_r115() {
    let dir = tempfile::tempdir().expect("temp dir");
    let from = format!("sqlite:{}", dir.path().join("from.db").display());
    let to = format!("sqlite:{}", dir.path().join("to.db").display());
    let addon = StateKey::addon("production", "org-1", "logging").expect("valid key");
    let histories: BTreeMap<StateKey, VersionData> = [
        (key("production", "org-1"), history(1.0)),
        (addon.clone(), history(2.0)),
    ]
    .into();
    seed(&from, &histories);
    let out = srecap(&["state", "export", "--state", &from]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = text(&out.stdout);
    assert!(
        exported.contains(r#""key": "production/org-1/logging""#),
        "{exported}"
    );
    let file = dir.path().join("backup.json");
    std::fs::write(&file, &exported).expect("write backup");
    let out = srecap(&[
        "state",
        "import",
        "--state",
        &to,
        file.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stored(&to), histories);
}

#[test]
fn reference_aus_documents_import_from_a_bucket_tree_and_from_one_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("advanced-upgrade-scheduler");
    std::fs::create_dir_all(tree.join("production")).expect("mkdir");
    // The spec's R63 example, and an old-style check_in (R64).
    std::fs::write(
        tree.join("production").join("1a2b3c"),
        r#"{"check_in": "2021-08-30T18:00:00Z",
            "versions": {"4.12.1": {"workloads": {
                "workload1": {"soak_days": 23.0, "reporting": ["cluster1", "cluster2"]},
                "workload2": {"soak_days": 7.0, "reporting": ["cluster3"]}}}},
            "stats": {"min_version": "4.12.1",
                      "min_version_per_workload": {"workload1": "4.12.1", "workload2": "4.12.1"}}}"#,
    )
    .expect("write");
    std::fs::write(
        tree.join("production").join("4d5e6f"),
        r#"{"check_in": "2021-08-29 18:00:00", "versions": {}}"#,
    )
    .expect("write");
    let sqlite = sqlite_url(dir.path());
    let out = srecap(&[
        "state",
        "import",
        "--state",
        &sqlite,
        "--format",
        "reference",
        tree.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let histories = stored(&sqlite);
    let first = &histories[&key("production", "1a2b3c")];
    assert_eq!(
        first.versions["4.12.1"].workloads["workload1"].soak_days,
        23.0
    );
    assert_eq!(
        first.versions["4.12.1"].workloads["workload2"].reporting,
        ["cluster3"]
    );
    assert_eq!(
        first.stats.as_ref().map(|s| s.min_version.as_str()),
        Some("4.12.1")
    );
    assert_eq!(
        histories[&key("production", "4d5e6f")].check_in,
        Some("2021-08-29T18:00:00Z".parse().expect("instant"))
    );

    // One JSON object, key to document.
    let object = dir.path().join("reference.json");
    std::fs::write(
        &object,
        r#"{"integration/org-9": {"versions": {"4.16.1": {"workloads": {"w": {"soak_days": 2.5, "reporting": ["c"]}}}}}}"#,
    )
    .expect("write");
    let out = srecap(&[
        "state",
        "import",
        "--state",
        &sqlite,
        "--format",
        "reference",
        object.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let histories = stored(&sqlite);
    assert_eq!(histories.len(), 3);
    assert_eq!(
        histories[&key("integration", "org-9")].versions["4.16.1"].workloads["w"].soak_days,
        2.5
    );
}

#[test]
fn malformed_input_names_the_entry_and_field_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = sqlite_url(dir.path());
    let before: BTreeMap<StateKey, VersionData> =
        [(key("production", "org-1"), history(1.0))].into();
    seed(&sqlite, &before);

    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"format": "srecap-state/v1", "entries": [
            {"key": "production/org-1", "history": {}},
            {"key": "production/org-2", "history": {"versions": {"4.1.0": {"workloads": {"w": {"soak_days": "ten"}}}}}}
        ]}"#,
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    let out = srecap(&["state", "import", "--state", &sqlite, path]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {path} cannot be imported; nothing was written\n  caused by: entry 1 (key \"production/org-2\"): field `history.versions.4.1.0.workloads.w.soak_days`: invalid type: string \"ten\""
        )),
        "{stderr}"
    );
    assert_eq!(stored(&sqlite), before, "entry 0 was written");

    // The reference format: the file at fault is named.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("production")).expect("mkdir");
    std::fs::write(tree.join("production").join("org-3"), "{}").expect("write");
    std::fs::write(
        tree.join("production").join("org-4"),
        r#"{"versions": {"4.1.0": {"workloads": {"w": {"soak_days": -3}}}}}"#,
    )
    .expect("write");
    let out = srecap(&[
        "state",
        "import",
        "--state",
        &sqlite,
        "--format",
        "reference",
        tree.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "caused by: file {}: field `versions.4.1.0.workloads.w.soak_days`: -3 is not a non-negative number of days",
            tree.join("production").join("org-4").display()
        )),
        "{stderr}"
    );
    assert_eq!(stored(&sqlite), before, "org-3 was written");

    // Not an export document at all.
    std::fs::write(&file, "[1, 2]").expect("write");
    let out = srecap(&["state", "import", "--state", &sqlite, path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("caused by: expected an object with `format`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(stored(&sqlite), before);
}

#[test]
fn a_bad_state_url_is_bad_input_and_a_password_is_never_printed() {
    let out = srecap(&["state", "migrate", "--state", "redis://localhost/0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: unsupported state store URL \"redis://localhost/0\""),
        "{}",
        text(&out.stderr)
    );
    // A wrong password for the test server: the error names the URL, redacted,
    // and neither password appears anywhere.
    let url = postgres_database();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned())
        .expect("scripts/test gives the server a password");
    let wrong = url.replacen(&format!(":{password}@"), ":hunter2@", 1);
    let out = srecap(&["state", "export", "--state", &wrong]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot connect to state database postgres://srecap:***@"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains(&password),
        "{stderr}"
    );
}
