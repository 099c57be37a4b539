//! Integration tests of the state store against real SQLite files (in temporary
//! directories), a real PostgreSQL server, and the in-memory backend.
//!
//! The behavioural tests are written once and run against every backend. Each
//! gets two handles on the same storage: two independent opens of one SQLite
//! file or one PostgreSQL database (as two processes would have), or two
//! clones of one memory store.
//!
//! PostgreSQL: the server is named by `SRECAP_TEST_POSTGRES_URL` (scripts/test
//! starts a throwaway one and sets it); every test creates its own database,
//! so tests run in parallel. Without the variable the PostgreSQL tests fail,
//! saying so: they never skip.

#![allow(
    clippy::float_cmp,
    reason = "soak days must read back bit for bit, so exact comparison is the point"
)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sqlx::{Connection as _, Executor as _};
use srecap_fleet::{Reporting, Stats, VersionData, VersionHistory, WorkloadHistory};
use srecap_store::{
    HistoryStore, HistoryTxn, Lease, SealingKey, StateKey, Store, StoreError, StoreUrl,
};
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
        Arc::new(VersionHistory {
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
        }),
    );
    versions.insert(
        "4.13.0-rc.2".to_owned(),
        VersionHistory {
            workloads: [(
                "workload1".to_owned(),
                workload(23.000_000_000_000_004, &[]),
            )]
            .into(),
        }
        .into(),
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
        Arc::new(VersionHistory {
            workloads: [(
                "w".to_owned(),
                WorkloadHistory {
                    soak_days: count as f64,
                    reporting: names.into(),
                },
            )]
            .into(),
        }),
    );
    history
}

fn count_of(history: Option<&VersionData>) -> (f64, Vec<String>) {
    history
        .and_then(|h| h.versions.get("4.0.0"))
        .and_then(|v| v.workloads.get("w"))
        .map_or((0.0, Vec::new()), |w| (w.soak_days, w.reporting.to_vec()))
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

    assert_eq!(b.load(&k).await.expect("load"), Some(Arc::new(doc.clone())));
    let txn = b.begin(&k).await.expect("begin");
    assert_eq!(txn.key(), &k);
    assert_eq!(txn.history(), Some(&doc));
    drop(txn);
    let many = b
        .load_many(std::slice::from_ref(&k))
        .await
        .expect("load_many");
    assert_eq!(many, BTreeMap::from([(k, Arc::new(doc))]));
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
    assert_eq!(b.load(&k).await.expect("load"), Some(Arc::new(old.clone())));

    // A commit that is refused writes nothing and releases the lock.
    let mut bad = old.clone();
    bad.versions
        .get_mut("4.12.1")
        .and_then(|v| Arc::make_mut(v).workloads.get_mut("workload1"))
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
        count_of(a.load(&k).await.expect("load").as_deref()),
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
    let (count, mut names) = count_of(a.load(&k).await.expect("load").as_deref());
    let total = 2 * TASKS_PER_HANDLE * INCREMENTS;
    assert_eq!(count, total as f64);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "every increment is in the history once");
}

async fn other_keys_are_untouched<S: HistoryStore>(a: &S, b: &S) {
    let one = key("production", "org-1");
    let two = key("production", "org-2");
    // An add-on's history of org-1 (R115) is another key.
    let addon = StateKey::addon("production", "org-1", "logging").expect("valid key");
    a.begin(&addon)
        .await
        .expect("begin")
        .commit(&counter(7, vec![]))
        .await
        .expect("commit");
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
        .load_many(&[two.clone(), one.clone(), addon.clone()])
        .await
        .expect("load_many");
    assert_eq!(
        many,
        BTreeMap::from([
            (addon, Arc::new(counter(7, vec![]))),
            (one, Arc::new(counter(2, vec![]))),
            (two, Arc::new(awkward_history()))
        ])
    );
}

// ---- leases, export and import, on every backend ----------------------------

const LONG: Duration = Duration::from_mins(1);
/// Short enough to wait out in a test, long enough that a statement or two
/// never outlasts it on a loaded machine.
const SHORT: Duration = Duration::from_secs(2);

async fn acquire(store: &Store, k: &StateKey, holder: &str, ttl: Duration) -> Option<Lease> {
    store.acquire(k, holder, ttl).await.expect("acquire")
}

async fn commit_fenced(
    store: &Store,
    k: &StateKey,
    history: &VersionData,
    lease: &Lease,
) -> Result<(), StoreError> {
    store
        .begin(k)
        .await
        .expect("begin")
        .commit_fenced(history, lease)
        .await
}

fn assert_fenced(result: Result<(), StoreError>, reason: &str) {
    let err = result.expect_err("the stale lease is refused");
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    assert!(err.to_string().contains(reason), "{err}");
}

async fn a_lease_has_one_live_holder(a: &Store, _b: &Store) {
    let k = key("production", "org-1");
    let first = acquire(a, &k, "replica-1", LONG).await.expect("granted");
    assert_eq!(
        (first.key(), first.holder(), first.ttl()),
        (&k, "replica-1", LONG)
    );
    assert_eq!(first.took_over_from(), None);
    assert!(
        acquire(a, &k, "replica-2", LONG).await.is_none(),
        "a second holder"
    );
    // Other organizations and environments are separate leases.
    assert!(
        acquire(a, &key("production", "org-2"), "replica-2", LONG)
            .await
            .is_some()
    );
    assert!(
        acquire(a, &key("staging", "org-1"), "replica-2", LONG)
            .await
            .is_some()
    );
    // The holder itself may acquire again (a restarted replica with the same
    // id): it gets a newer token, which fences the older lease.
    let again = acquire(a, &k, "replica-1", LONG)
        .await
        .expect("same holder");
    assert!(again.token() > first.token());
    assert_fenced(
        commit_fenced(a, &k, &counter(1, vec![]), &first).await,
        "has been taken over",
    );
    commit_fenced(a, &k, &counter(1, vec![]), &again)
        .await
        .expect("the live lease commits");
    assert_eq!(count_of(a.load(&k).await.expect("load").as_deref()).0, 1.0);
}

async fn an_expired_lease_is_taken_over_and_fenced(a: &Store, _b: &Store) {
    let k = key("production", "org-1");
    let old = acquire(a, &k, "replica-1", SHORT).await.expect("granted");
    commit_fenced(a, &k, &counter(1, vec![]), &old)
        .await
        .expect("live lease commits");
    // The replica pauses past its TTL: replica-2 takes over.
    tokio::time::sleep(SHORT + Duration::from_millis(300)).await;
    let new = acquire(a, &k, "replica-2", LONG).await.expect("taken over");
    assert_eq!(new.took_over_from(), Some("replica-1"));
    assert!(new.token() > old.token());
    // The paused replica resumes: it can neither commit, renew nor release.
    let txn = a.begin(&k).await.expect("begin");
    assert_eq!(count_of(txn.history()).0, 1.0);
    assert_fenced(
        txn.commit_fenced(&counter(2, vec![]), &old).await,
        "has been taken over",
    );
    assert_eq!(a.renew(&old, LONG).await.expect("renew"), None);
    assert!(!a.release(&old).await.expect("release"));
    assert_eq!(
        count_of(a.load(&k).await.expect("load").as_deref()).0,
        1.0,
        "nothing written"
    );
    commit_fenced(a, &k, &counter(5, vec![]), &new)
        .await
        .expect("new holder commits");
    assert_eq!(count_of(a.load(&k).await.expect("load").as_deref()).0, 5.0);
}

async fn an_expired_lease_cannot_commit_or_renew(a: &Store, _b: &Store) {
    let k = key("production", "org-1");
    let lease = acquire(a, &k, "replica-1", SHORT).await.expect("granted");
    tokio::time::sleep(SHORT + Duration::from_millis(300)).await;
    assert!(tokio::time::Instant::now() > lease.valid_until());
    assert_fenced(
        commit_fenced(a, &k, &counter(1, vec![]), &lease).await,
        "has expired",
    );
    assert_eq!(a.renew(&lease, LONG).await.expect("renew"), None);
    assert_eq!(a.load(&k).await.expect("load"), None, "nothing written");
    // Its own holder acquiring again is not a takeover.
    let again = acquire(a, &k, "replica-1", LONG)
        .await
        .expect("granted again");
    assert_eq!(again.took_over_from(), None);
}

async fn renewing_keeps_the_lease_and_its_token(a: &Store, _b: &Store) {
    let k = key("production", "org-1");
    let lease = acquire(a, &k, "replica-1", SHORT).await.expect("granted");
    tokio::time::sleep(SHORT / 4).await;
    let renewed = a
        .renew(&lease, LONG)
        .await
        .expect("renew")
        .expect("still live");
    assert_eq!((renewed.token(), renewed.ttl()), (lease.token(), LONG));
    assert!(renewed.valid_until() > lease.valid_until());
    tokio::time::sleep(SHORT * 3 / 4 + Duration::from_millis(500)).await;
    // Past the first TTL, the renewed lease still excludes others and commits.
    assert!(acquire(a, &k, "replica-2", LONG).await.is_none());
    commit_fenced(a, &k, &counter(1, vec![]), &renewed)
        .await
        .expect("renewed lease commits");
}

async fn a_released_lease_is_handed_over_at_once(a: &Store, _b: &Store) {
    let k = key("production", "org-1");
    let lease = acquire(a, &k, "replica-1", LONG).await.expect("granted");
    assert!(a.release(&lease).await.expect("release"));
    assert!(
        !a.release(&lease).await.expect("release twice"),
        "already released"
    );
    assert_fenced(
        commit_fenced(a, &k, &counter(1, vec![]), &lease).await,
        "has been released",
    );
    let next = acquire(a, &k, "replica-2", LONG)
        .await
        .expect("handed over");
    assert_eq!(next.took_over_from(), None, "a release is not a takeover");
    assert!(next.token() > lease.token());
}

async fn fenced_commit_refuses_bad_leases_and_ttls(a: &Store, _b: &Store) {
    let one = key("production", "org-1");
    let two = key("production", "org-2");
    let lease = acquire(a, &one, "replica-1", LONG).await.expect("granted");
    assert_fenced(
        commit_fenced(a, &two, &counter(1, vec![]), &lease).await,
        "is the lease of another organization",
    );
    for ttl in [Duration::ZERO, Duration::from_hours(25)] {
        let err = a
            .acquire(&two, "replica-1", ttl)
            .await
            .expect_err("bad TTL");
        assert!(matches!(err, StoreError::InvalidTtl { .. }), "{err}");
        assert!(
            err.to_string().starts_with("invalid lease time to live"),
            "{err}"
        );
    }
    assert_eq!(a.load(&two).await.expect("load"), None);
}

async fn export_then_import_restores_histories_all_or_nothing(a: &Store, b: &Store) {
    let one = key("production", "org-1");
    let two = key("staging", "org-2");
    a.begin(&one)
        .await
        .expect("begin")
        .commit(&awkward_history())
        .await
        .expect("commit");
    a.begin(&two)
        .await
        .expect("begin")
        .commit(&counter(3, vec![]))
        .await
        .expect("commit");
    let exported = b.export().await.expect("export");
    assert_eq!(
        exported,
        BTreeMap::from([
            (one.clone(), awkward_history()),
            (two.clone(), counter(3, vec![]))
        ])
    );

    // Import replaces the listed keys and leaves others alone.
    let three = key("production", "org-3");
    let import = BTreeMap::from([
        (one.clone(), counter(7, vec![])),
        (three.clone(), awkward_history()),
    ]);
    b.import(&import).await.expect("import");
    assert_eq!(
        a.export().await.expect("export"),
        BTreeMap::from([
            (one.clone(), counter(7, vec![])),
            (two.clone(), counter(3, vec![])),
            (three.clone(), awkward_history()),
        ])
    );

    // One unstorable history: nothing of the import is written.
    let mut bad = counter(1, vec![]);
    bad.versions
        .get_mut("4.0.0")
        .and_then(|v| Arc::make_mut(v).workloads.get_mut("w"))
        .expect("entry")
        .soak_days = -1.0;
    let import = BTreeMap::from([
        (one.clone(), counter(99, vec![])),
        (key("production", "org-4"), counter(1, vec![])),
        (key("zzz", "bad"), bad),
    ]);
    let err = a.import(&import).await.expect_err("refused");
    assert!(matches!(err, StoreError::Unstorable { .. }), "{err}");
    assert_eq!(b.export().await.expect("export").len(), 3);
    assert_eq!(
        b.load(&one).await.expect("load"),
        Some(Arc::new(counter(7, vec![])))
    );
}

// ---- Sealed records (rhidp I69, I70, I72) -------------------------------------

const NS: &str = "rhidp/production";

async fn sealed_records_are_shared_listed_and_replaced(a: &Store, b: &Store) {
    let key = SealingKey::generate();
    let (sa, sb) = (a.secrets(key.clone()), b.secrets(key));
    assert!(sa.list(NS).await.expect("list").is_empty());
    sa.put(NS, "z-cluster", b"{\"client_secret\":\"z\"}")
        .await
        .expect("put z");
    sa.put(NS, "a-cluster", b"a1").await.expect("put a");
    sa.put("rhidp/stage", "a-cluster", b"stage")
        .await
        .expect("put stage");
    assert_eq!(sb.list(NS).await.expect("list"), ["a-cluster", "z-cluster"]);
    assert_eq!(
        sb.get(NS, "a-cluster")
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        b"a1"
    );
    sb.put(NS, "a-cluster", b"a2").await.expect("replace");
    assert_eq!(
        sa.get(NS, "a-cluster")
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        b"a2"
    );
    assert_eq!(
        sa.get("rhidp/stage", "a-cluster")
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        b"stage"
    );
    assert!(sa.get(NS, "missing").await.expect("get").is_none());
    assert!(sa.delete(NS, "a-cluster").await.expect("delete"));
    assert!(
        !sb.delete(NS, "a-cluster").await.expect("delete again"),
        "idempotent"
    );
    assert_eq!(sb.list(NS).await.expect("list"), ["z-cluster"]);
    let value: serde_json::Value = sb
        .get_json(NS, "z-cluster")
        .await
        .expect("json")
        .expect("present");
    assert_eq!(value["client_secret"], "z");
    assert!(
        sa.put(NS, "a/b", b"x").await.is_err(),
        "a name with / is refused"
    );
}

async fn put_if_absent_keeps_the_first_record(a: &Store, b: &Store) {
    let key = SealingKey::generate();
    let (sa, sb) = (a.secrets(key.clone()), b.secrets(key));
    assert!(sa.put_if_absent(NS, "c1", b"pending").await.expect("first"));
    assert!(!sb.put_if_absent(NS, "c1", b"other").await.expect("second"));
    assert_eq!(
        sb.get(NS, "c1")
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        b"pending"
    );
    // Simultaneous creators: exactly one wins.
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { sa.clone() } else { sb.clone() };
            tokio::spawn(async move { s.put_if_absent(NS, "c2", format!("{i}").as_bytes()).await })
        })
        .collect();
    let mut won = 0;
    for t in tries {
        if t.await.expect("task").expect("put_if_absent") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

async fn a_sealed_record_opens_only_with_its_key(a: &Store, b: &Store) {
    a.secrets(SealingKey::generate())
        .put(NS, "c1", b"s3cr3t")
        .await
        .expect("put");
    let err = b
        .secrets(SealingKey::generate())
        .get(NS, "c1")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rhidp/production/c1") && text.contains("does not open"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "{text}");
    // Listing needs no key, and the record is still there for the right key.
    assert_eq!(
        b.secrets(SealingKey::generate())
            .list(NS)
            .await
            .expect("list"),
        ["c1"]
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

/// The test server's URL.
fn postgres_server() -> String {
    std::env::var("SRECAP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "SRECAP_TEST_POSTGRES_URL is not set: the PostgreSQL store tests need a server. \
             Run them through scripts/test, which starts a throwaway one, or set it to \
             postgres://USER:PASSWORD@HOST:PORT/DB for a user that may CREATE DATABASE"
        )
    })
}

/// `server` with its database replaced by `database`.
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority_start = base.find("://").expect("a URL") + 3;
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{database}{query}")
}

/// A new, empty database on the test server, for one test.
async fn postgres_database() -> String {
    let server = postgres_server();
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to the test server SRECAP_TEST_POSTGRES_URL: {e}")
        });
    let name = format!("t_{:016x}", rand::rng().random::<u64>());
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create the test database");
    with_database(&server, &name)
}

async fn postgres_pair() -> (Store, Store) {
    let url = postgres_database().await;
    let a = Store::open(&url).await.expect("open first");
    let b = Store::open(&url).await.expect("open second");
    (a, b)
}

/// One test per backend and behaviour.
macro_rules! on_every_backend {
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
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let (a, b) = super::postgres_pair().await;
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

on_every_backend!(
    round_trip_is_exact,
    missing_key_reads_as_none,
    dropped_or_failed_transaction_leaves_the_old_history,
    writers_of_one_key_serialize,
    concurrent_increments_are_never_lost,
    other_keys_are_untouched,
    a_lease_has_one_live_holder,
    an_expired_lease_is_taken_over_and_fenced,
    an_expired_lease_cannot_commit_or_renew,
    renewing_keeps_the_lease_and_its_token,
    a_released_lease_is_handed_over_at_once,
    fenced_commit_refuses_bad_leases_and_ttls,
    export_then_import_restores_histories_all_or_nothing,
    sealed_records_are_shared_listed_and_replaced,
    put_if_absent_keeps_the_first_record,
    a_sealed_record_opens_only_with_its_key,
);

// ---- SQLite specifics -------------------------------------------------------

async fn raw_connection(path: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw connection")
}

#[tokio::test]
async fn sqlite_holds_no_plaintext_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let store = Store::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    store
        .secrets(SealingKey::generate())
        .put(NS, "c1", b"{\"client_secret\":\"plaintext-s3cr3t\"}")
        .await
        .expect("put");
    drop(store);
    let mut conn = raw_connection(&path).await;
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM sealed_record")
        .fetch_one(&mut conn)
        .await
        .expect("row");
    assert!(sealed.starts_with(b"s1"));
    assert!(!sealed.windows(16).any(|w| w == b"plaintext-s3cr3t"));
    for file in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let bytes = std::fs::read(file.path()).expect("read");
        assert!(
            !bytes.windows(16).any(|w| w == b"plaintext-s3cr3t"),
            "{} holds the plaintext",
            file.path().display()
        );
    }
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
        assert_eq!(
            store.load(&k).await.expect("load"),
            Some(Arc::new(awkward_history()))
        );
    }
    let mut conn = raw_connection(&path).await;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&mut conn)
        .await
        .expect("migrations table");
    assert_eq!(applied, vec![1, 2]);
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

#[tokio::test]
async fn a_second_runner_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let (a, b) = sqlite_pair(dir.path()).await;
    a.lock_runner().expect("first runner");
    a.lock_runner().expect("idempotent");
    let k = key("production", "org-1");
    let lease = acquire(&a, &k, "replica-1", LONG)
        .await
        .expect("the runner's lease");
    let err = b
        .acquire(&k, "replica-2", LONG)
        .await
        .expect_err("second runner");
    assert!(matches!(err, StoreError::RunnerLocked { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "state database {} is in use by another srecap runner (it holds the lock on {}.runner-lock); run one runner per SQLite file, or use `--state postgres://...` to share the work between replicas",
            path.display(),
            path.display()
        )
    );
    // Readers are not runners: the second handle still reads.
    assert_eq!(b.load(&k).await.expect("load"), None);
    commit_fenced(&a, &k, &counter(1, vec![]), &lease)
        .await
        .expect("runner commits");
    // The lock ends with the first runner's store.
    drop(a);
    b.lock_runner()
        .expect("the second runner once the first is gone");
}

/// Environment variable that turns [`runner_child`] into the runner process
/// of [`a_killed_runner_does_not_block_the_next`]; its value is the store URL.
const RUNNER_CHILD_URL: &str = "SRECAP_STORE_RUNNER_CHILD_URL";

/// The child side of the runner-lock test (ignored; a no-op unless
/// [`RUNNER_CHILD_URL`] is set): take the runner lock, say so, then wait to be
/// killed (or a minute, should the parent vanish).
#[tokio::test]
#[ignore = "child process of a_killed_runner_does_not_block_the_next"]
async fn runner_child() {
    let Ok(url) = std::env::var(RUNNER_CHILD_URL) else {
        return;
    };
    let store = Store::open(&url).await.expect("child open");
    store.lock_runner().expect("child runner lock");
    writeln!(std::io::stdout(), "locked").expect("report");
    tokio::time::sleep(Duration::from_mins(1)).await;
}

#[tokio::test]
async fn a_killed_runner_does_not_block_the_next() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["runner_child", "--exact", "--ignored", "--nocapture"])
        .env(RUNNER_CHILD_URL, &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let locked = tokio::time::timeout(Duration::from_mins(1), async {
        while let Some(line) = out.next_line().await.expect("child output") {
            if line == "locked" {
                return true;
            }
        }
        false
    })
    .await
    .expect("the child locks within a minute");
    assert!(locked, "the child ended without taking the lock");

    let store = Store::open(&url).await.expect("open");
    let err = store.lock_runner().expect_err("the child runs");
    assert!(matches!(err, StoreError::RunnerLocked { .. }), "{err}");
    // SIGKILL: no destructor runs; the OS drops the lock with the process.
    child.kill().await.expect("kill child");
    store.lock_runner().expect("the dead runner's lock is gone");
}

// ---- PostgreSQL specifics ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_organizations_each_to_exactly_one() {
    const ORGS: usize = 20;
    let url = postgres_database().await;
    let mut replicas = Vec::new();
    for replica in 0..3 {
        let store = Store::open(&url).await.expect("open");
        replicas.push(tokio::spawn(async move {
            let mut granted = Vec::new();
            for org in 0..ORGS {
                let k = key("production", &format!("org-{org}"));
                if let Some(lease) = acquire(&store, &k, &format!("replica-{replica}"), LONG).await
                {
                    granted.push(lease);
                }
            }
            granted
        }));
    }
    let mut holders: BTreeMap<StateKey, Vec<String>> = BTreeMap::new();
    let mut tokens = Vec::new();
    for replica in replicas {
        for lease in replica.await.expect("replica task") {
            tokens.push(lease.token());
            holders
                .entry(lease.key().clone())
                .or_default()
                .push(lease.holder().to_owned());
        }
    }
    assert_eq!(holders.len(), ORGS, "every organization has a holder");
    for (k, holders) in &holders {
        assert_eq!(holders.len(), 1, "{k} is held by {holders:?}");
    }
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), ORGS, "tokens are unique");
}

#[tokio::test]
async fn postgres_migrations_apply_once_and_report_the_version() {
    let url = postgres_database().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    for open in opens {
        let store = open
            .await
            .expect("task finished")
            .expect("simultaneous first opens");
        assert_eq!(store.schema_version().await.expect("version"), Some(3));
    }
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("raw connection");
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("migrations table");
    assert_eq!(applied, vec![1, 2, 3]);
}

#[tokio::test]
async fn postgres_errors_name_the_url_and_key_but_never_the_password() {
    let url = postgres_database().await;
    let store = Store::open(&url).await.expect("open");
    let StoreUrl::Postgres(pg) = store.url() else {
        panic!("not a PostgreSQL store");
    };
    let shown = pg.to_string();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned())
        .expect("scripts/test gives the server a password");
    assert!(
        shown.contains(":***@") && !shown.contains(&password),
        "{shown}"
    );

    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("raw connection");
    sqlx::query(
        "INSERT INTO soak_history (key, environment, org_id, document) VALUES ('production/torn', 'production', 'torn', '{\"versions\": {')",
    )
    .execute(&mut conn)
    .await
    .expect("insert");
    let err = store
        .load(&key("production", "torn"))
        .await
        .expect_err("corrupt");
    assert_eq!(
        err.to_string(),
        format!(
            "stored soak history production/torn in {shown} is corrupt; fix or delete it (it is not reset automatically)"
        )
    );

    let wrong = url.replacen(&format!(":{password}@"), ":not-the-password@", 1);
    let err = Store::open(&wrong).await.expect_err("wrong password");
    let chain = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(matches!(err, StoreError::Connect { .. }), "{chain}");
    assert!(
        err.to_string()
            .starts_with("cannot connect to state database postgres://srecap:***@"),
        "{chain}"
    );
    assert!(
        !chain.contains("not-the-password") && !chain.contains(&password),
        "{chain}"
    );
}

// ---- crash consistency ------------------------------------------------------

/// Environment variable that turns [`crash_child_writer`] into the writer
/// process of [`sigkill_never_tears_or_loses_a_history`]; its value is the
/// store URL.
const CHILD_URL: &str = "SRECAP_STORE_CRASH_CHILD_URL";

const CRASH_BASE: &str = "2030-01-01T00:00:00Z";

/// Write number `i`: every field encodes `i`, and the document (about 200 KB)
/// spans dozens of database pages, so a kill in the middle of writing it would
/// have many chances to leave a mix. (Run with `journal_mode=OFF` instead of
/// WAL, this test caught torn histories in about one run of three.)
fn generation(i: i64) -> VersionData {
    let names = |entry: &str| -> Reporting {
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
        versions.insert(version.to_owned(), Arc::new(VersionHistory { workloads }));
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
/// a no-op unless [`CHILD_URL`] is set). It increments the stored generation in
/// a loop, one transaction each, reporting each commit on stdout after it
/// returned, until killed (or, should the parent vanish, after a minute).
#[tokio::test]
#[ignore = "child process of sigkill_never_tears_or_loses_a_history"]
async fn crash_child_writer() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
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
    let dir = tempfile::tempdir().expect("temp dir");
    sigkill_children(&format!("sqlite:{}", dir.path().join("state.db").display())).await;
}

#[tokio::test]
async fn postgres_sigkill_never_tears_or_loses_a_history() {
    sigkill_children(&postgres_database().await).await;
}

/// Kill writer processes of the store at `url` at random points, and check
/// after each kill that the stored history is whole and no reported commit is
/// lost.
async fn sigkill_children(url: &str) {
    const KILLS: usize = 25;
    let k = key("production", "crash-org");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = StdRng::seed_from_u64(0x05ee_da05);
    let mut stored = 0;
    for kill in 0..KILLS {
        let mut child = tokio::process::Command::new(&exe)
            .args(["crash_child_writer", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_URL, url)
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
        let store = Store::open(url).await.expect("reopen after kill");
        let now = generation_of(store.load(&k).await.expect("load after kill").as_deref());
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
