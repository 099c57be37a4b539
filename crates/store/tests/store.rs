//! Integration tests of the state store against real SQLite files (in temporary
//! directories) and the in-memory backend.
//!
//! The behavioural tests are written once, generic over [`HistoryStore`], and
//! run against both backends. Each gets two handles on the same storage: two
//! independent opens of one SQLite file (as two processes would have), or two
//! clones of one memory store.

#![allow(
    clippy::float_cmp,
    reason = "soak days must read back bit for bit, so exact comparison is the point"
)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sqlx::Connection as _;
use srecap_fleet::{Stats, VersionData, VersionHistory, WorkloadHistory};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store, StoreError, StoreUrl};
use tokio::io::{AsyncBufReadExt as _, BufReader};

fn key(environment: &str, org: &str) -> StateKey {
    StateKey::new(environment, org).expect("valid test key")
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("valid test instant")
}

fn workload(soak_days: f64, reporting: &[&str]) -> WorkloadHistory {
    WorkloadHistory {
        soak_days,
        reporting: reporting.iter().map(|&name| name.to_owned()).collect(),
    }
}

/// A history whose floats do not survive a careless text round trip.
fn awkward_history() -> VersionData {
    let mut versions = BTreeMap::new();
    versions.insert(
        "4.12.1".to_owned(),
        VersionHistory {
            workloads: [
                (
                    "workload1".to_owned(),
                    workload(0.1 + 0.2, &["cluster1", "cluster2"]),
                ),
                ("workload2".to_owned(), workload(1e-300, &["cluster3"])),
                // 14 * 0.1, which a fast float parser reads back as 1.4.
                ("workload3".to_owned(), workload(14.0 * 0.1, &["cluster4"])),
            ]
            .into(),
        },
    );
    versions.insert(
        "4.13.0-rc.2".to_owned(),
        VersionHistory {
            workloads: [(
                "workload1".to_owned(),
                workload(23.000_000_000_000_004, &[]),
            )]
            .into(),
        },
    );
    VersionData {
        check_in: Some(at("2026-11-21T10:00:00.123456789Z")),
        versions,
        stats: Some(Stats {
            min_version: "4.12.1".to_owned(),
            min_version_per_workload: [
                ("workload1".to_owned(), "4.12.1".to_owned()),
                ("workload2".to_owned(), "4.12.1".to_owned()),
            ]
            .into(),
        }),
    }
}

/// A history counting `count` committed increments: the soak days and the
/// reporting list both grow by one per increment, so a lost update shows in
/// both.
fn counter(count: usize, names: Vec<String>) -> VersionData {
    let mut history = VersionData::default();
    history.versions.insert(
        "4.0.0".to_owned(),
        VersionHistory {
            workloads: [(
                "w".to_owned(),
                WorkloadHistory {
                    soak_days: count as f64,
                    reporting: names,
                },
            )]
            .into(),
        },
    );
    history
}

fn count_of(history: Option<&VersionData>) -> (f64, Vec<String>) {
    history
        .and_then(|h| h.versions.get("4.0.0"))
        .and_then(|v| v.workloads.get("w"))
        .map_or((0.0, Vec::new()), |w| (w.soak_days, w.reporting.clone()))
}

// ---- behaviours shared by both backends -------------------------------------

async fn round_trip_is_exact<S: HistoryStore>(a: &S, b: &S) {
    let k = key("production", "org-1");
    let doc = awkward_history();
    a.begin(&k)
        .await
        .expect("begin")
        .commit(&doc)
        .await
        .expect("commit");

    assert_eq!(b.load(&k).await.expect("load"), Some(doc.clone()));
    let txn = b.begin(&k).await.expect("begin");
    assert_eq!(txn.key(), &k);
    assert_eq!(txn.history(), Some(&doc));
    drop(txn);
    let many = b
        .load_many(std::slice::from_ref(&k))
        .await
        .expect("load_many");
    assert_eq!(many, BTreeMap::from([(k, doc)]));
}

async fn missing_key_reads_as_none<S: HistoryStore>(a: &S, b: &S) {
    let stored = key("production", "org-1");
    a.begin(&stored)
        .await
        .expect("begin")
        .commit(&awkward_history())
        .await
        .expect("commit");

    // Same org id in another environment, another org in the same environment.
    for other in [key("staging", "org-1"), key("production", "org-2")] {
        assert_eq!(b.load(&other).await.expect("load"), None, "{other}");
        assert_eq!(
            b.begin(&other).await.expect("begin").history(),
            None,
            "{other}"
        );
    }
    let many = b
        .load_many(&[key("staging", "org-1"), stored.clone(), key("x", "y")])
        .await
        .expect("load_many");
    assert_eq!(many.keys().collect::<Vec<_>>(), vec![&stored]);
}

async fn dropped_or_failed_transaction_leaves_the_old_history<S: HistoryStore>(a: &S, b: &S) {
    let k = key("production", "org-1");
    let old = awkward_history();
    a.begin(&k)
        .await
        .expect("begin")
        .commit(&old)
        .await
        .expect("commit");

    // Dropped without commit: a dry run, or an org whose pass failed.
    let txn = a.begin(&k).await.expect("begin");
    assert_eq!(txn.history(), Some(&old));
    drop(txn);
    assert_eq!(b.load(&k).await.expect("load"), Some(old.clone()));

    // A commit that is refused writes nothing and releases the lock.
    let mut bad = old.clone();
    bad.versions
        .get_mut("4.12.1")
        .and_then(|v| v.workloads.get_mut("workload1"))
        .expect("entry exists")
        .soak_days = f64::NAN;
    let err = a
        .begin(&k)
        .await
        .expect("begin")
        .commit(&bad)
        .await
        .expect_err("NaN is refused");
    assert!(matches!(err, StoreError::Unstorable { .. }), "{err}");

    let txn = tokio::time::timeout(Duration::from_secs(5), b.begin(&k))
        .await
        .expect("the write lock was released")
        .expect("begin");
    assert_eq!(txn.history(), Some(&old));
}

async fn writers_of_one_key_serialize<S: HistoryStore>(a: &S, b: &S) {
    let k = key("production", "org-1");
    let first = a.begin(&k).await.expect("begin first");
    assert_eq!(first.history(), None);

    // The second writer must wait while the first holds its transaction...
    let second = b.begin(&k);
    tokio::pin!(second);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut second)
            .await
            .is_err(),
        "a second transaction began while the first was open"
    );
    // ...and readers must not.
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), b.load(&k))
            .await
            .expect("a reader waited for the writer")
            .expect("load"),
        None
    );

    first
        .commit(&counter(1, vec!["a".into()]))
        .await
        .expect("commit first");
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second transaction began after the first committed")
        .expect("begin second");
    // The second sees the first's write, so its update builds on it.
    assert_eq!(count_of(second.history()), (1.0, vec!["a".to_owned()]));
    second
        .commit(&counter(2, vec!["a".into(), "b".into()]))
        .await
        .expect("commit second");
    assert_eq!(
        count_of(a.load(&k).await.expect("load").as_ref()),
        (2.0, vec!["a".to_owned(), "b".to_owned()])
    );
}

async fn concurrent_increments_are_never_lost<S>(a: &S, b: &S)
where
    S: HistoryStore + Clone + 'static,
{
    const TASKS_PER_HANDLE: usize = 3;
    const INCREMENTS: usize = 10;
    let k = key("production", "org-1");
    let mut tasks = Vec::new();
    for (handle, store) in [a, b].into_iter().enumerate() {
        for task in 0..TASKS_PER_HANDLE {
            let store = store.clone();
            let k = k.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..INCREMENTS {
                    let txn = store.begin(&k).await.expect("begin");
                    let (count, mut names) = count_of(txn.history());
                    assert_eq!(count, names.len() as f64, "soak days and names agree");
                    names.push(format!("{handle}.{task}.{n}"));
                    // Let the other tasks run while this one holds the lock.
                    tokio::task::yield_now().await;
                    txn.commit(&counter(names.len(), names))
                        .await
                        .expect("commit");
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("task finished");
    }
    let (count, mut names) = count_of(a.load(&k).await.expect("load").as_ref());
    let total = 2 * TASKS_PER_HANDLE * INCREMENTS;
    assert_eq!(count, total as f64);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "every increment is in the history once");
}

async fn other_keys_are_untouched<S: HistoryStore>(a: &S, b: &S) {
    let one = key("production", "org-1");
    let two = key("production", "org-2");
    a.begin(&one)
        .await
        .expect("begin")
        .commit(&counter(1, vec![]))
        .await
        .expect("commit");
    b.begin(&two)
        .await
        .expect("begin")
        .commit(&awkward_history())
        .await
        .expect("commit");
    a.begin(&one)
        .await
        .expect("begin")
        .commit(&counter(2, vec![]))
        .await
        .expect("commit");
    let many = b
        .load_many(&[two.clone(), one.clone()])
        .await
        .expect("load_many");
    assert_eq!(
        many,
        BTreeMap::from([(one, counter(2, vec![])), (two, awkward_history())])
    );
}

async fn sqlite_pair(dir: &Path) -> (Store, Store) {
    let url = format!("sqlite:{}", dir.join("state.db").display());
    let a = Store::open(&url).await.expect("open first");
    let b = Store::open(&url).await.expect("open second");
    (a, b)
}

async fn memory_pair() -> (Store, Store) {
    let a = Store::open("memory:").await.expect("open memory");
    (a.clone(), a)
}

/// One test per backend and behaviour.
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let (a, b) = super::sqlite_pair(dir.path()).await;
                    super::$behaviour(&a, &b).await;
                }
            )*
        }
        mod memory_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let (a, b) = super::memory_pair().await;
                    super::$behaviour(&a, &b).await;
                }
            )*
        }
    };
}

on_both_backends!(
    round_trip_is_exact,
    missing_key_reads_as_none,
    dropped_or_failed_transaction_leaves_the_old_history,
    writers_of_one_key_serialize,
    concurrent_increments_are_never_lost,
    other_keys_are_untouched,
);

// ---- SQLite specifics -------------------------------------------------------

async fn raw_connection(path: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw connection")
}

#[tokio::test]
async fn sqlite_file_is_in_wal_mode_and_created_with_its_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("deep").join("er").join("state.db");
    let store = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    assert_eq!(store.url(), StoreUrl::Sqlite(path.clone()));
    assert!(path.is_file());

    let mut conn = raw_connection(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_applies_migrations_once_and_keeps_histories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let url = format!("sqlite:{}", path.display());
    let k = key("production", "org-1");
    {
        let store = Store::open(&url).await.expect("first open");
        store
            .begin(&k)
            .await
            .expect("begin")
            .commit(&awkward_history())
            .await
            .expect("commit");
    }
    for _ in 0..2 {
        let store = Store::open(&url).await.expect("reopen");
        assert_eq!(store.load(&k).await.expect("load"), Some(awkward_history()));
    }
    let mut conn = raw_connection(&path).await;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&mut conn)
        .await
        .expect("migrations table");
    assert_eq!(applied, vec![1]);
    let row: (String, String, String) =
        sqlx::query_as("SELECT key, environment, org_id FROM soak_history")
            .fetch_one(&mut conn)
            .await
            .expect("one row");
    assert_eq!(
        row,
        (
            "production/org-1".into(),
            "production".into(),
            "org-1".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_first_opens_of_one_file_all_succeed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    for open in opens {
        open.await.expect("task finished").expect("open");
    }
}

#[tokio::test]
async fn corrupt_row_is_an_error_naming_the_key_and_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let store = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    let mut conn = raw_connection(&path).await;
    for (org, document) in [
        ("torn", r#"{"versions": {"4.1"#),
        ("alien", r#"{"colour": 1}"#),
    ] {
        sqlx::query(
            "INSERT INTO soak_history (key, environment, org_id, document, updated_at)
             VALUES (?1, 'production', ?2, ?3, 'now')",
        )
        .bind(format!("production/{org}"))
        .bind(org)
        .bind(document)
        .execute(&mut conn)
        .await
        .expect("insert");
    }
    let prefix = |org: &str| {
        format!(
            "stored soak history production/{org} in {} is corrupt; fix or delete it (it is not reset automatically)",
            path.display()
        )
    };
    for org in ["torn", "alien"] {
        let k = key("production", org);
        let errors = [
            store.load(&k).await.expect_err("load"),
            store.begin(&k).await.expect_err("begin"),
            store
                .load_many(std::slice::from_ref(&k))
                .await
                .expect_err("load_many"),
        ];
        for err in errors {
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
            assert_eq!(err.to_string(), prefix(org));
        }
    }
}

#[tokio::test]
async fn unopenable_locations_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").expect("write");
    let err = Store::open(&format!("sqlite:{}/state.db", file.display()))
        .await
        .expect_err("parent is a file");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create directory {} for the state database",
            file.display()
        )
    );

    let err = Store::open(&format!("sqlite:{}", file.display()))
        .await
        .expect_err("not a database");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open state database {}", file.display()))
            || err
                .to_string()
                .starts_with(&format!("state database {}: cannot", file.display())),
        "{err}"
    );

    let err = Store::open("redis://localhost/0")
        .await
        .expect_err("scheme");
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err}");
}

// ---- crash consistency ------------------------------------------------------

/// Environment variable that turns [`crash_child_writer`] into the writer
/// process of [`sigkill_never_tears_or_loses_a_history`]; its value is the
/// database file.
const CHILD_DB: &str = "SRECAP_STORE_CRASH_CHILD_DB";

const CRASH_BASE: &str = "2030-01-01T00:00:00Z";

/// Write number `i`: every field encodes `i`, and the document (about 200 KB)
/// spans dozens of database pages, so a kill in the middle of writing it would
/// have many chances to leave a mix. (Run with `journal_mode=OFF` instead of
/// WAL, this test caught torn histories in about one run of three.)
fn generation(i: i64) -> VersionData {
    let names = |entry: &str| {
        (0..1500)
            .map(|n| format!("{entry}-cluster-{n}-gen-{i}"))
            .collect()
    };
    let mut versions = BTreeMap::new();
    for (v, version) in ["4.14.0", "4.15.0"].into_iter().enumerate() {
        let mut workloads = BTreeMap::new();
        for (w, name) in ["alpha", "beta"].into_iter().enumerate() {
            workloads.insert(
                name.to_owned(),
                WorkloadHistory {
                    soak_days: i as f64 * 0.1 + (2 * v + w) as f64,
                    reporting: names(&format!("{version}-{name}")),
                },
            );
        }
        versions.insert(version.to_owned(), VersionHistory { workloads });
    }
    VersionData {
        check_in: Some(at(CRASH_BASE) + SignedDuration::from_secs(i)),
        versions,
        stats: Some(Stats {
            min_version: format!("4.{i}.0"),
            min_version_per_workload: BTreeMap::new(),
        }),
    }
}

/// The write number of a stored history, which must be exactly that
/// generation (`0` when nothing is stored yet).
fn generation_of(history: Option<&VersionData>) -> i64 {
    let Some(history) = history else { return 0 };
    let check_in = history.check_in.expect("every generation has a check_in");
    let i = (check_in - at(CRASH_BASE)).get_seconds();
    // Not `assert_eq!`: the documents are large, and a diff of two would bury
    // the message.
    assert!(
        history == &generation(i),
        "the stored history of generation {i} is torn"
    );
    i
}

/// The child side of the crash test (an entry point, not a test: ignored, and
/// a no-op unless [`CHILD_DB`] is set). It increments the stored generation in
/// a loop, one transaction each, reporting each commit on stdout after it
/// returned, until killed (or, should the parent vanish, after a minute).
#[tokio::test]
#[ignore = "child process of sigkill_never_tears_or_loses_a_history"]
async fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let url = format!("sqlite:{}", PathBuf::from(path).display());
    let store = Store::open(&url).await.expect("child open");
    let k = key("production", "crash-org");
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    let mut stdout = std::io::stdout();
    while tokio::time::Instant::now() < deadline {
        let txn = store.begin(&k).await.expect("child begin");
        let next = generation_of(txn.history()) + 1;
        txn.commit(&generation(next)).await.expect("child commit");
        writeln!(stdout, "committed {next}").expect("report");
    }
}

#[tokio::test]
async fn sigkill_never_tears_or_loses_a_history() {
    const KILLS: usize = 25;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let url = format!("sqlite:{}", path.display());
    let k = key("production", "crash-org");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = StdRng::seed_from_u64(0x05ee_da05);
    let mut stored = 0;
    for kill in 0..KILLS {
        let mut child = tokio::process::Command::new(&exe)
            .args(["crash_child_writer", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn child");
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut reports = Vec::new();
        // Every fifth child is killed early, likely while it opens the file
        // (the first one while it creates and migrates it); the others once
        // they are writing, so that most kills land between or inside commits.
        let in_write_loop = kill % 5 != 0;
        if in_write_loop {
            let first = tokio::time::timeout(Duration::from_mins(1), async {
                while let Some(line) = out.next_line().await.expect("child output") {
                    if let Some(n) = line.strip_prefix("committed ") {
                        return n.to_owned();
                    }
                }
                panic!("kill {kill}: the child ended without committing");
            })
            .await
            .expect("the child commits within a minute");
            reports.push(first);
        }
        tokio::time::sleep(Duration::from_micros(rng.random_range(0..30_000))).await;
        // `kill` sends SIGKILL on Unix: no destructor, no rollback, no flush.
        child.kill().await.expect("kill child");
        while let Some(line) = out.next_line().await.expect("child output") {
            if let Some(n) = line.strip_prefix("committed ") {
                reports.push(n.to_owned());
            }
        }
        let reported = reports
            .iter()
            .map(|n| n.parse::<i64>().expect("generation number"))
            .max()
            .unwrap_or(stored);

        // A fresh open, as the next run of srecap would do.
        let store = Store::open(&url).await.expect("reopen after kill");
        let now = generation_of(store.load(&k).await.expect("load after kill").as_ref());
        // A reported commit is never lost; at most the one commit that
        // returned before its report was written is ahead of the reports.
        assert!(
            (reported..=reported + 1).contains(&now),
            "kill {kill}: stored generation {now}, last reported {reported}"
        );
        assert!(now >= stored, "kill {kill}: generation went back");
        if in_write_loop {
            assert!(now > stored, "kill {kill}: a reported commit is missing");
        }
        stored = now;
    }
}
