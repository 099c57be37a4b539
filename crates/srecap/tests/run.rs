//! `srecap aus run` against the simulator: a real process, a real SQLite file.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use jiff::Timestamp;
use serde_json::Value;
use srecap_fleet::{Fleet, VersionData};
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{HistoryStore, HistoryTxn, StateKey, Store};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Env {
    runtime: tokio::runtime::Runtime,
    sim: RunningSim,
    fleet: Fleet,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let fleet =
            srecap_fleet::load_scenario(&repo().join("examples/fleet.yaml"), Timestamp::UNIX_EPOCH)
                .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime
            .block_on(srecap_sim::spawn(Simulator::new(
                fleet.clone(),
                SimConfig::default(),
            )))
            .unwrap();
        let env = Env {
            runtime,
            sim,
            fleet,
            dir: tempfile::tempdir().unwrap(),
        };
        env.runtime.block_on(async {
            let store = Store::open(&env.state()).await.unwrap();
            for (org, doc) in &env.fleet.version_data {
                let txn = store
                    .begin(&StateKey::new("production", org.as_str()).unwrap())
                    .await
                    .unwrap();
                txn.commit(doc).await.unwrap();
            }
        });
        env
    }

    fn state(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("state.db").display())
    }

    fn run_cmd(&self) -> Command {
        self.run_cmd_at(&self.fleet.now.to_string(), "json")
    }

    fn run_cmd_at(&self, now: &str, output: &str) -> Command {
        self.run_cmd_with(now, output, &self.state())
    }

    fn run_cmd_with(&self, now: &str, output: &str, state: &str) -> Command {
        let mut cmd = Command::cargo_bin("srecap").unwrap();
        cmd.args([
            "aus",
            "run",
            "--once",
            "-o",
            output,
            "--client-id",
            "srecap-sim",
            "--client-secret",
            "srecap-sim",
        ])
        .args([
            "--ocm-url",
            &self.sim.base_url(),
            "--token-url",
            &self.sim.token_url(),
            "--state",
            state,
        ])
        .args([
            "--health-prometheus",
            &format!("{}/telemeter", self.sim.base_url()),
        ])
        .args(["--now", now])
        .env_remove("OCM_URL")
        .env("HOME", self.dir.path());
        cmd
    }

    fn histories(&self) -> Vec<(String, Option<VersionData>)> {
        self.runtime.block_on(async {
            let store = Store::open(&self.state()).await.unwrap();
            let mut out = Vec::new();
            for org in ["org-data", "org-payments", "org-platform"] {
                out.push((
                    org.to_owned(),
                    store
                        .load(&StateKey::new("production", org).unwrap())
                        .await
                        .unwrap()
                        .map(std::sync::Arc::unwrap_or_clone),
                ));
            }
            out
        })
    }

    /// Every upgrade policy in OCM: (cluster[/pool], version).
    fn policies(&self) -> Vec<String> {
        let f = self.sim.sim.fleet();
        let mut out = Vec::new();
        for c in &f.clusters {
            out.extend(
                c.upgrade_policies
                    .iter()
                    .map(|p| format!("{} {:?}", c.name, p.version)),
            );
            for np in &c.node_pools {
                out.extend(
                    np.upgrade_policies
                        .iter()
                        .map(|p| format!("{}/{} {:?}", c.name, np.id, p.version)),
                );
            }
        }
        out.sort();
        out
    }
}

fn actions(plan: &Value) -> BTreeSet<String> {
    plan["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(ToString::to_string)
        })
        .collect()
}

#[test]
fn aus_run_once_does_what_aus_plan_predicts() {
    let env = Env::new();
    let out = env.run_cmd().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let plan_out = Command::cargo_bin("srecap")
        .unwrap()
        .args(["aus", "plan", "--approve-gates", "-o", "json"])
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&plan_out.stdout).unwrap();
    // `aus run` agrees to approved version gates before planning (R105–R111).
    assert_eq!(actions(&run), actions(&plan));
    assert!(!actions(&plan).is_empty());
}

/// Issue 16: a pass says what it did (table output), and a pass whose time is
/// far from OCM's clock (the simulator's `Date`) gets a warning, since soak
/// days would be counted wrong.
#[test]
fn aus_run_once_reports_what_it_did_and_warns_about_a_wrong_clock() {
    let env = Env::new();
    let out = env
        .run_cmd_at(&env.fleet.now.to_string(), "table")
        .arg("--dry-run")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("organization(s) done, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("refused by OCM: 0"), "{stdout}");
    assert!(
        stdout.contains("clusters left alone, by reason: "),
        "{stdout}"
    );
    assert!(!stderr.contains("OCM's clock"), "{stderr}");
    assert!(!stderr.contains("no soak history"), "{stderr}");
    // A new, empty store is announced: soak starts from zero.
    let fresh = format!("sqlite:{}", env.dir.path().join("new.db").display());
    let out = env
        .run_cmd_with(&env.fleet.now.to_string(), "json", &fresh)
        .arg("--dry-run")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the state store holds no soak history yet: soak days start from zero"),
        "{stderr}"
    );
    // ... and a dry run writes nothing to disk, not even that new store.
    assert!(!env.dir.path().join("new.db").exists());
    // The same pass evaluated an hour after OCM's time.
    let later = (env.fleet.now + jiff::SignedDuration::from_hours(1)).to_string();
    let out = env
        .run_cmd_at(&later, "json")
        .arg("--dry-run")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("differs from OCM's clock (HTTP Date) by more than 5 minutes"),
        "{stderr}"
    );
}

/// Issue 16: the `--once` table fits 80 and 120 columns and `-o wide` shows
/// it whole; `-o yaml` is accepted.
#[test]
fn aus_run_once_tables_fit_the_columns() {
    let env = Env::new();
    let now = env.fleet.now.to_string();
    for (name, format, columns) in [
        ("run_columns_80", "table", "80"),
        ("run_columns_120", "table", "120"),
        ("run_wide", "wide", "80"),
    ] {
        let out = env
            .run_cmd_at(&now, format)
            .arg("--dry-run")
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if format == "table" {
            let limit: usize = columns.parse().unwrap();
            for line in stdout.lines().filter(|l| l.contains(['│', '┆'])) {
                assert!(line.chars().count() <= limit, "{columns}: {line}");
            }
        }
        insta::assert_snapshot!(name, stdout);
    }
    let out = env
        .run_cmd_at(&now, "yaml")
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("organizations:"));
}

#[test]
fn aus_run_dry_run_and_now_without_once_are_refused_or_harmless() {
    let env = Env::new();
    let before = env.policies();
    let out = env.run_cmd().arg("--dry-run").output().unwrap();
    assert!(out.status.success());
    assert_eq!(env.policies(), before);
    let bad = Command::cargo_bin("srecap")
        .unwrap()
        .args(["aus", "run", "--now", "2026-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "--now requires --once");
}

/// SIGKILL at many points of a pass (fixed seed): afterwards no cluster has two
/// policies, no mutex is broken, and each organization's stored history is one of
/// its valid states (the seed, or the state after a complete pass at the same
/// instant). Organizations commit in separate transactions, concurrently (R123
/// isolation), so a kill between two commits legitimately leaves some
/// organizations before and others after the pass; what must never happen is a
/// torn or double-counted history *within* an organization.
#[test]
fn sigkill_at_any_point_leaves_ocm_and_the_history_consistent() {
    // The reference outcome: one clean pass on a fresh world.
    let clean = Env::new();
    let seed = clean.histories();
    assert!(
        clean
            .run_cmd()
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let after_pass = clean.histories();
    let clean_policies = clean.policies();
    assert_ne!(seed, after_pass);

    let env = Env::new();
    // xorshift with a fixed seed: kill points spread over a pass's lifetime.
    let mut x: u64 = 0x5eed_cafe_f00d_d00d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let runs = 50;
    for _ in 0..runs {
        let delay = Duration::from_millis(next() % 350);
        let mut child = env
            .run_cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let h = env.histories();
        for ((org, now), (before, after)) in h.iter().zip(seed.iter().zip(&after_pass)) {
            assert!(
                now == &before.1 || now == &after.1,
                "torn or double-counted history of {org} after a kill at {delay:?}"
            );
        }
        // At most one policy per cluster (and node pool) at every point.
        let p = env.policies();
        let clusters: BTreeSet<&str> = p.iter().map(|s| s.split(' ').next().unwrap()).collect();
        assert_eq!(clusters.len(), p.len(), "a cluster got two policies: {p:?}");
        assert!(
            p.iter().all(|x| clean_policies.contains(x)),
            "a policy the clean pass never made: {p:?}"
        );
    }
    // A complete pass afterwards converges on exactly the clean outcome: nothing
    // twice, no mutex broken (the clean plan honours every mutex).
    assert!(
        env.run_cmd()
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(env.policies(), clean_policies);
    assert_eq!(env.histories(), after_pass);
}

#[test]
fn a_second_runner_on_one_sqlite_file_is_refused() {
    let env = Env::new();
    let before = env.policies();
    // Another runner holds the file.
    let _holder = env.runtime.block_on(async {
        let store = Store::open(&env.state()).await.unwrap();
        store.lock_runner().unwrap();
        store
    });
    let out = env.run_cmd().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is in use by another srecap runner") && err.contains("postgres://"),
        "{err}"
    );
    assert_eq!(env.policies(), before, "the refused runner wrote to OCM");
}

#[test]
fn lease_settings_are_checked_before_anything_runs() {
    let env = Env::new();
    let before = env.policies();
    let out = env
        .run_cmd()
        .args(["--lease-ttl", "30s", "--org-deadline", "1m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--lease-ttl") && err.contains("--org-deadline"),
        "{err}"
    );
    let out = env.run_cmd().args(["--replica-id", " "]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.policies(), before);
}

/// Issue 15 items 4 and 5 (R3–R5, R41): `aus run --config` reconciles two
/// environments (two simulators) in one process; in `stage`, whose registry
/// names only `org-platform`, the other organizations are left alone: no
/// policy, no service log, no history.
#[test]
fn aus_run_config_reconciles_two_environments_and_only_registered_orgs() {
    let production = Env::new();
    let stage_sim = production
        .runtime
        .block_on(srecap_sim::spawn(Simulator::new(
            production.fleet.clone(),
            SimConfig::default(),
        )))
        .unwrap();
    let secret = production.dir.path().join("production-secret");
    std::fs::write(&secret, "srecap-sim\n").unwrap();
    let config = production.dir.path().join("srecap.yaml");
    std::fs::write(
        &config,
        format!(
            "environments:
  - name: production
    ocmUrl: {}
    tokenUrl: {}
    clientId: srecap-sim
    clientSecretFile: {}
    health:
      prometheus: {}/telemeter
  - name: stage
    ocmUrl: {}
    tokenUrl: {}
    clientIdEnv: STAGE_ID
    clientSecretEnv: STAGE_SECRET
    alertSeverity: warning
    organizations:
      - id: org-platform
",
            production.sim.base_url(),
            production.sim.token_url(),
            secret.display(),
            production.sim.base_url(),
            stage_sim.base_url(),
            stage_sim.token_url(),
        ),
    )
    .unwrap();
    let before: Vec<String> = stage_policies(&stage_sim, "org-platform", false);
    let out = Command::cargo_bin("srecap")
        .unwrap()
        .args(["aus", "run", "--once", "-o", "json", "--config"])
        .arg(&config)
        .args(["--state", &production.state()])
        .args(["--now", &production.fleet.now.to_string()])
        .env_remove("OCM_URL")
        .env_remove("OCM_CLIENT_ID")
        .env_remove("OCM_CLIENT_SECRET")
        .env("STAGE_ID", "srecap-sim")
        .env("STAGE_SECRET", "srecap-sim")
        .env("HOME", production.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orgs: Vec<&str> = plan["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap())
        .collect();
    // Production: every organization; stage: org-platform only.
    assert_eq!(
        orgs.iter().filter(|o| **o == "org-platform").count(),
        2,
        "{orgs:?}"
    );
    assert_eq!(
        orgs.iter().filter(|o| **o == "org-data").count(),
        1,
        "{orgs:?}"
    );
    assert!(
        stderr.contains("organization org-data left alone"),
        "{stderr}"
    );
    // Issue 16: stderr is not a terminal here, so the log lines carry no
    // colour escape codes.
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    // Nothing written for the unregistered organizations of stage.
    assert_eq!(stage_policies(&stage_sim, "org-platform", false), before);
    let others: Vec<String> = stage_sim
        .sim
        .fleet()
        .clusters
        .iter()
        .filter(|c| c.organization != "org-platform")
        .map(|c| c.external_id.clone())
        .collect();
    assert!(
        stage_sim
            .sim
            .service_logs()
            .iter()
            .all(|l| !others.contains(&l.cluster_uuid)),
        "service log sent to an unregistered organization"
    );
    assert!(
        !stage_policies(&stage_sim, "org-platform", true).is_empty() || actions(&plan).is_empty()
    );
    let keys: Vec<String> = production.runtime.block_on(async {
        let store = Store::open(&production.state()).await.unwrap();
        store
            .export()
            .await
            .unwrap()
            .keys()
            .map(ToString::to_string)
            .collect()
    });
    assert!(keys.contains(&"stage/org-platform".to_owned()), "{keys:?}");
    assert!(
        !keys
            .iter()
            .any(|k| k == "stage/org-data" || k == "stage/org-payments"),
        "{keys:?}"
    );

    // R3: --environment stage reconciles stage only; production is read for the
    // inheritance network (a label search), nothing else.
    production.sim.sim.reset_request_counts();
    let out = Command::cargo_bin("srecap")
        .unwrap()
        .args([
            "aus",
            "run",
            "--once",
            "-o",
            "json",
            "--dry-run",
            "--config",
        ])
        .arg(&config)
        .args(["--environment", "stage", "--state", &production.state()])
        .args(["--now", &production.fleet.now.to_string()])
        .env_remove("OCM_URL")
        .env("STAGE_ID", "srecap-sim")
        .env("STAGE_SECRET", "srecap-sim")
        .env("HOME", production.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orgs: Vec<&str> = plan["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["org-platform"]);
    let counts = production.sim.sim.request_counts();
    assert!(counts.keys().any(|k| k.contains("labels")), "{counts:?}");
    assert!(
        counts
            .keys()
            .all(|k| k.contains("labels") || k.contains("token")),
        "{counts:?}"
    );
}

/// Upgrade policies of the clusters of (`registered`) or outside (`!registered`)
/// organization `org` in `sim`.
fn stage_policies(sim: &RunningSim, org: &str, registered: bool) -> Vec<String> {
    let mut out: Vec<String> = sim
        .sim
        .fleet()
        .clusters
        .iter()
        .filter(|c| (c.organization == org) == registered)
        .flat_map(|c| {
            let pools = c.node_pools.iter().flat_map(|np| {
                np.upgrade_policies
                    .iter()
                    .map(|p| format!("{}/{} {:?}", c.name, np.id, p.version))
            });
            c.upgrade_policies
                .iter()
                .map(|p| format!("{} {:?}", c.name, p.version))
                .chain(pools)
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

/// --config replaces the connection and health flags: giving both is refused
/// before anything runs (exit 2), and a mistake in the file names the file, the
/// line and the field.
#[test]
fn aus_run_config_refuses_contradictions_and_names_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("srecap.yaml");
    std::fs::write(
        &config,
        "environments:\n  - name: prod\n    ocmUrl: https://api.example\n    clientId: x\n    clientSecretEnv: S\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("srecap")
            .unwrap()
            .args(["aus", "run", "--once", "--config"])
            .arg(&config)
            .args(extra)
            .env_remove("OCM_URL")
            .env_remove("OCM_CLIENT_ID")
            .env_remove("OCM_CLIENT_SECRET")
            .env("HOME", dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "--ocm-url",
        "https://other",
        "--health-prometheus",
        "http://p",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--ocm-url, --health-prometheus contradict --config"),
        "{stderr}"
    );
    let out = run(&["--environment", "stage"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("names no such environment (it has prod)"),
        "{stderr}"
    );

    std::fs::write(
        &config,
        "environments:\n  - name: prod\n    ocmUrl: https://api.example\n    clientId: x\n    clientSecret: hunter2\n",
    )
    .unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:5: environments[0] (prod).clientSecret: secrets are never written",
            config.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
