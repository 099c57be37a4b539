//! Reliability of replicas sharing an environment on PostgreSQL: real
//! `srecap aus run` processes, a simulator on 127.0.0.1 with injected faults and
//! latency, a PostgreSQL server of the test's own (so that it can be
//! restarted), replicas killed with SIGKILL.
//!
//! The fleet is the example fleet with every schedule open (`* * * * *`) and no
//! soak days required, so that every pass has upgrades to book and a replica
//! that writes when it should not would be seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use jiff::Timestamp;
use srecap_fleet::{Fleet, VersionData};
use srecap_sim::{Fault, RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

const ORGS: [&str; 3] = ["org-data", "org-payments", "org-platform"];

/// The tests of this file run one at a time: each starts several processes
/// and a database, and their timing bounds assume the two cores are theirs.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const INTERVAL: Duration = Duration::from_secs(2);
/// Lease TTL and organization deadline: a pass under 20 % faults with one-second
/// Retry-After waits takes a few seconds, and two cores are shared by three
/// replicas, PostgreSQL and the simulator. It is also how long the organizations
/// of a holder killed by SIGKILL stand still, so it must stay well under the
/// time between two kills of the same replica (see the chaos loop).
const LEASE_TTL: Duration = Duration::from_secs(6);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A throwaway PostgreSQL server on a free 127.0.0.1 port, as `scripts/test`
/// starts one, but owned by the test so that it can be stopped and restarted.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The system user to run the server as when the test runs as root.
    user: Option<&'static str>,
}

impl Postgres {
    fn start() -> Postgres {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let user = is_root().then_some("postgres");
        if let Some(user) = user {
            assert!(
                Command::new("chown")
                    .args([user, &dir.path().display().to_string()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let pg = Postgres {
            bin,
            dir,
            port: free_port(),
            user,
        };
        let data = pg.data();
        let out = pg
            .command("initdb")
            .args(["-D", &data, "-U", "srecap", "--auth=trust", "-E", "UTF8"])
            .arg("--no-locale")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn up(&self) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let status = self
            .command("pg_ctl")
            .args([
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
            ])
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "PostgreSQL did not start: see {log}");
    }

    fn down(&self) {
        let status = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "PostgreSQL did not stop");
    }

    fn url(&self) -> String {
        format!("postgres://srecap@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Debian keeps `initdb` and `pg_ctl` in `/usr/lib/postgresql/<major>/bin`.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().unwrap_or_else(|| {
        panic!("PostgreSQL's initdb not found under /usr/lib/postgresql: run `scripts/test`, which installs it, or `apt-get install postgresql`")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The simulator and the state stores.
struct World {
    runtime: tokio::runtime::Runtime,
    sim: RunningSim,
    fleet: Fleet,
    dir: tempfile::TempDir,
}

impl World {
    fn new(latency: Duration) -> World {
        let mut fleet =
            srecap_fleet::load_scenario(&repo().join("examples/fleet.yaml"), Timestamp::UNIX_EPOCH)
                .unwrap();
        // Only clusters that opted in: a label on any other would make it an
        // AUS cluster without workloads, and freeze its organization.
        for c in fleet
            .clusters
            .iter_mut()
            .filter(|c| c.labels.contains_key("sre-capabilities.aus.schedule"))
        {
            std::sync::Arc::make_mut(&mut c.labels)
                .insert("sre-capabilities.aus.schedule".into(), "* * * * *".into());
            std::sync::Arc::make_mut(&mut c.labels)
                .insert("sre-capabilities.aus.soak-days".into(), "0".into());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime
            .block_on(srecap_sim::spawn(Simulator::new(
                fleet.clone(),
                SimConfig {
                    latency,
                    ..SimConfig::default()
                },
            )))
            .unwrap();
        // The replicas pass at the wall clock's time: so does the simulator.
        sim.sim.set_now(Timestamp::now()).unwrap();
        World {
            runtime,
            sim,
            fleet,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Seed `url` with the fleet's stored histories, checked in now.
    fn seed(&self, url: &str, at: Timestamp) {
        self.runtime.block_on(async {
            let store = Store::open(url).await.unwrap();
            for (org, doc) in &self.fleet.version_data {
                let mut doc = doc.clone();
                doc.check_in = Some(at);
                let txn = store
                    .begin(&StateKey::new("production", org.as_str()).unwrap())
                    .await
                    .unwrap();
                txn.commit(&doc).await.unwrap();
            }
        });
    }

    fn histories(&self, url: &str) -> BTreeMap<String, VersionData> {
        self.runtime.block_on(async {
            let store = Store::open(url).await.unwrap();
            let mut out = BTreeMap::new();
            for org in ORGS {
                if let Some(h) = store
                    .load(&StateKey::new("production", org).unwrap())
                    .await
                    .unwrap()
                {
                    out.insert(org.to_owned(), std::sync::Arc::unwrap_or_clone(h));
                }
            }
            out
        })
    }

    fn srecap(&self) -> Command {
        let mut cmd = Command::cargo_bin("srecap").unwrap();
        cmd.args(["aus", "run", "--client-id", "srecap-sim"])
            .args(["--client-secret", "srecap-sim"])
            .args(["--ocm-url", &self.sim.base_url()])
            .args(["--token-url", &self.sim.token_url()])
            .args(["--concurrency", "16"])
            .env_remove("OCM_URL")
            .env_remove("RUST_LOG")
            .env("HOME", self.dir.path());
        cmd
    }

    /// One pass as of `now`, for the reference runs.
    fn once(&self, state: &str, now: Timestamp, org: Option<&str>) {
        let mut cmd = self.srecap();
        cmd.args(["--once", "-o", "json", "--state", state])
            .args(["--now", &now.to_string()]);
        if let Some(org) = org {
            cmd.args(["--org", org]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "aus run --once: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A replica running passes every INTERVAL, logging into the test's
    /// directory.
    fn replica(&self, state: &str, id: &str, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{id}.log"))).unwrap();
        self.srecap()
            .args(["--state", state, "--replica-id", id])
            .args(["--interval", &format!("{}s", INTERVAL.as_secs())])
            .args(["--lease-ttl", &format!("{}s", LEASE_TTL.as_secs())])
            .args(["--org-deadline", &format!("{}s", LEASE_TTL.as_secs())])
            .args(["--drain", "5s", "--log", "info"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        all
    }

    /// Upgrade policies per cluster (and node pool) now.
    fn policies(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in &self.sim.sim.fleet().clusters {
            out.insert(c.name.clone(), c.upgrade_policies.len());
            for np in &c.node_pools {
                out.insert(format!("{}/{}", c.name, np.id), np.upgrade_policies.len());
            }
        }
        out
    }
}

/// Keeps about `rate` of the simulator's API requests failing: every 100 ms it
/// queues one-shot 503 and 429 (with Retry-After) faults for that share of the
/// requests of the last 100 ms.
fn inject_faults(sim: &srecap_sim::Simulator, rate: f64, stop: &AtomicBool) {
    let total = |s: &srecap_sim::Simulator| s.request_counts().values().sum::<u64>();
    let mut last = total(sim);
    let mut toggle = false;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = total(sim);
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let failures = ((now - last) as f64 * rate).round() as u32;
        last = now;
        for _ in 0..failures {
            toggle = !toggle;
            sim.add_fault(Fault {
                status: if toggle { 503 } else { 429 },
                path_prefix: Some("/api/".into()),
                method: None,
                organization: None,
                count: Some(1),
                retry_after: (!toggle).then_some(1),
            });
        }
    }
    sim.clear_faults();
}

/// The part of `from..to` outside every excused window.
fn unexcused(
    from: Timestamp,
    to: Timestamp,
    excused: &[(Timestamp, Timestamp)],
) -> jiff::SignedDuration {
    let mut windows: Vec<(Timestamp, Timestamp)> = excused
        .iter()
        .map(|(a, b)| ((*a).max(from), (*b).min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    windows.sort();
    let mut covered = jiff::SignedDuration::ZERO;
    let mut reached = from;
    for (a, b) in windows {
        let start = a.max(reached);
        if b > start {
            covered += b.duration_since(start);
            reached = b;
        }
    }
    to.duration_since(from) - covered
}

/// The end of the replicas' logs, for a failure message.
fn tail(logs: &str) -> String {
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
    let mut text = errors[errors.len().saturating_sub(20)..].join("\n");
    let mut from = logs.len().saturating_sub(3000);
    while !logs.is_char_boundary(from) {
        from += 1;
    }
    text.push_str("\n...\n");
    text.push_str(&logs[from..]);
    text
}

/// xorshift64 with a fixed seed: a reproducible chaos schedule.
struct Chaos(u64);

impl Chaos {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn three_replicas_survive_kills_faults_and_a_database_restart() {
    let _serial = serial();
    let pg = Postgres::start();
    let world = World::new(Duration::from_millis(20));
    let pg_url = pg.url();
    let reference = format!("sqlite:{}", world.dir.path().join("reference.db").display());

    // Both stores start from the same history and the same first pass (which
    // puts every cluster into `reporting`), so that a later single pass over
    // the same time credits exactly what all the replicas' passes together
    // must have credited.
    let t0 = Timestamp::now();
    world.seed(&pg_url, t0);
    world.seed(&reference, t0);
    let t1 = Timestamp::now();
    world.once(&pg_url, t1, None);
    world.once(&reference, t1, None);
    let primed = world.histories(&pg_url);
    assert_eq!(primed, world.histories(&reference));

    // Observers: soak check-ins per organization, policies per cluster.
    let stop = Arc::new(AtomicBool::new(false));
    let check_ins: Arc<Mutex<BTreeMap<String, BTreeSet<Timestamp>>>> = Arc::default();
    let worst_policies: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    // Times when organizations may legitimately stand still: from a kill until
    // the victim's leases expired and another replica's next pass began, and
    // from the database's stop until the same after its restart.
    let mut excused: Vec<(Timestamp, Timestamp)> = Vec::new();
    let blocked = jiff::SignedDuration::try_from(LEASE_TTL + INTERVAL.mul_f64(1.1)).unwrap();
    std::thread::scope(|scope| {
        let sim = &world.sim.sim;
        let stop_ref = &stop;
        scope.spawn(move || inject_faults(sim, 0.2, stop_ref));
        let (check_ins_w, url, stop_w) = (check_ins.clone(), pg_url.clone(), stop.clone());
        scope.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let store = rt.block_on(Store::open(&url)).unwrap();
            let keys: Vec<StateKey> = ORGS
                .iter()
                .map(|o| StateKey::new("production", *o).unwrap())
                .collect();
            while !stop_w.load(Ordering::Relaxed) {
                // Errors while the database restarts are expected.
                let loaded = rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(1), store.load_many(&keys)).await
                });
                if let Ok(Ok(h)) = loaded {
                    let mut seen = check_ins_w.lock().unwrap();
                    for (key, doc) in h {
                        if let Some(at) = doc.check_in {
                            seen.entry(key.org_id().to_owned()).or_default().insert(at);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let (worst_w, stop_p) = (worst_policies.clone(), stop.clone());
        let world_ref = &world;
        scope.spawn(move || {
            while !stop_p.load(Ordering::Relaxed) {
                let now = world_ref.policies();
                let mut worst = worst_w.lock().unwrap();
                for (cluster, n) in now {
                    let w = worst.entry(cluster).or_default();
                    *w = (*w).max(n);
                }
                drop(worst);
                std::thread::sleep(Duration::from_millis(50));
            }
        });

        // Three replicas; a random one is SIGKILLed 16 times and restarted
        // under a new name (as a new pod would be); PostgreSQL restarts once.
        // A kill every 2.5–5 s hits a given organization's holder about every
        // 11 s, which then stands still for a lease TTL: enough time between
        // kills for every organization to be reconciled several times.
        let started = Instant::now();
        let mut generation = 0;
        let mut replicas: Vec<Child> = (0..3)
            .map(|i| world.replica(&pg_url, &format!("r{i}-0"), &[]))
            .collect();
        let mut chaos = Chaos(0x005e_ed0f_ca05);
        for kill in 0..16 {
            std::thread::sleep(Duration::from_millis(2500 + chaos.next(2500)));
            let victim = usize::try_from(chaos.next(3)).unwrap();
            let at = Timestamp::now();
            excused.push((at, at + blocked));
            let _ = replicas[victim].kill();
            let _ = replicas[victim].wait();
            generation += 1;
            replicas[victim] = world.replica(&pg_url, &format!("r{victim}-{generation}"), &[]);
            if kill == 8 {
                let down = Timestamp::now();
                pg.down();
                std::thread::sleep(Duration::from_secs(2));
                pg.up();
                excused.push((down, Timestamp::now() + blocked));
            }
        }
        // Let every organization settle after the last kill.
        std::thread::sleep(LEASE_TTL + INTERVAL * 5);
        // SIGTERM: the replicas drain and release their leases.
        for r in &replicas {
            let pid = r.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        for r in &mut replicas {
            let status = r.wait().unwrap();
            assert!(
                status.success(),
                "a replica exited with {status} on SIGTERM"
            );
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            started.elapsed() < Duration::from_secs(130),
            "the chaos phase took {:?}",
            started.elapsed()
        );
    });

    let logs = world.logs();
    assert!(!logs.contains("panicked"), "a replica panicked:\n{logs}");
    assert!(
        logs.contains("took the organization over"),
        "no lease was ever taken over"
    );

    // Released at shutdown: a newcomer gets every organization at once, and
    // not as a takeover.
    world.runtime.block_on(async {
        let store = Store::open(&pg_url).await.unwrap();
        for org in ORGS {
            let key = StateKey::new("production", org).unwrap();
            let lease = store
                .acquire(&key, "newcomer", Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("the lease of {org} was not released at shutdown"));
            assert_eq!(lease.took_over_from(), None, "{org}");
        }
    });

    // No cluster ever had two upgrade policies.
    let worst = worst_policies.lock().unwrap();
    assert!(
        worst.values().any(|n| *n == 1),
        "no upgrade was ever booked"
    );
    let doubled: Vec<_> = worst.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "clusters with two policies: {doubled:?}"
    );

    // Every organization was reconciled at least once in every two intervals
    // (plus one pass's deadline), but for the excused times.
    let bound = jiff::SignedDuration::try_from(INTERVAL.mul_f64(2.2) + LEASE_TTL).unwrap();
    let check_ins = check_ins.lock().unwrap();
    for org in ORGS {
        let seen: Vec<Timestamp> = check_ins[org].iter().copied().collect();
        assert!(
            seen.len() >= 5,
            "{org} was reconciled only {} times (check-ins {seen:?}, excused {excused:?}):\n{}",
            seen.len(),
            tail(&logs)
        );
        let long: Vec<_> = seen
            .windows(2)
            .map(|w| (w[0], unexcused(w[0], w[1], &excused)))
            .filter(|(_, gap)| *gap > bound)
            .collect();
        assert!(
            long.is_empty(),
            "{org}: unexcused gaps between passes longer than {bound:#}: {long:?}\n{}",
            tail(&logs)
        );
    }

    // No soak time was counted twice: one pass over the same time from the same
    // primed history credits exactly what the replicas credited.
    let chaos_histories = world.histories(&pg_url);
    for org in ORGS {
        let end = chaos_histories[org].check_in.unwrap();
        world.once(&reference, end, Some(org));
    }
    let single = world.histories(&reference);
    for org in ORGS {
        let (a, b) = (&chaos_histories[org], &single[org]);
        assert_eq!(a.check_in, b.check_in, "{org}");
        assert_eq!(
            a.versions.keys().collect::<Vec<_>>(),
            b.versions.keys().collect::<Vec<_>>(),
            "{org}"
        );
        for (version, vh) in &a.versions {
            for (workload, wh) in &vh.workloads {
                let expected = b.versions[version].workloads[workload].soak_days;
                assert!(
                    (wh.soak_days - expected).abs() < 1e-6,
                    "{org} {version} {workload}: replicas credited {} soak days, a single replica {expected}",
                    wh.soak_days
                );
            }
        }
        let credited = a.versions.iter().any(|(version, vh)| {
            vh.workloads.iter().any(|(workload, wh)| {
                let before = primed[org]
                    .versions
                    .get(version)
                    .and_then(|p| p.workloads.get(workload))
                    .map_or(0.0, |p| p.soak_days);
                wh.soak_days > before
            })
        });
        assert!(credited, "{org}: no soak time was credited at all");
    }
}

#[test]
fn a_replica_cut_off_from_postgres_stops_booking_within_one_lease_ttl() {
    let _serial = serial();
    let pg = Postgres::start();
    let world = World::new(Duration::from_millis(5));
    let pg_url = pg.url();
    world.seed(&pg_url, Timestamp::now());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut replica = world.replica(&pg_url, "lonely", &["--metrics-listen", &listen]);
    let readyz = || {
        reqwest::blocking::get(format!("http://{listen}/readyz")).map_or((0, String::new()), |r| {
            (r.status().as_u16(), r.text().unwrap_or_default())
        })
    };

    // Every 200 ms the booked policies are removed, so that every pass books
    // them again; each booking is recorded with when it was seen.
    let bookings: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = AtomicBool::new(false);
    let cut = std::thread::scope(|scope| {
        let sim = &world.sim.sim;
        let (bookings_w, stop_r) = (bookings.clone(), &stop);
        scope.spawn(move || {
            while !stop_r.load(Ordering::Relaxed) {
                let booked = sim.write(|w, _| {
                    let n = w.policies.len();
                    w.policies.clear();
                    w.generation += 1;
                    n
                });
                if booked > 0 {
                    bookings_w.lock().unwrap().push(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(readyz().0, 200, "ready while connected");
        let cut = Instant::now();
        pg.down();
        std::thread::sleep(LEASE_TTL * 3);
        // Not ready without its store, though alive.
        let (code, why) = readyz();
        assert_eq!(code, 503, "{why}");
        assert!(why.contains("state store"), "{why}");
        stop.store(true, Ordering::Relaxed);
        cut
    });
    let _ = replica.kill();
    let _ = replica.wait();
    let bookings = bookings.lock().unwrap();
    assert!(
        bookings.iter().any(|at| *at < cut),
        "the replica booked nothing while connected: {}",
        world.logs()
    );
    // Seen up to 200 ms after it was made.
    let late: Vec<Duration> = bookings
        .iter()
        .filter(|at| **at > cut + LEASE_TTL + Duration::from_millis(250))
        .map(|at| *at - cut)
        .collect();
    assert!(
        late.is_empty(),
        "bookings after the cut-off, at {late:?}:\n{}",
        world.logs()
    );
}
