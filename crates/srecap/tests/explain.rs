//! `srecap aus explain` and `srecap aus status`: snapshots on a fixture in which
//! every reason code holds back a cluster (`fixtures/explain-reasons.yaml`), with
//! explicit assertions on the verdicts so an accepted snapshot cannot bless a wrong
//! one; the same explanation read live from the simulator; and the error cases.

use std::path::PathBuf;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use jiff::Timestamp;
use serde_json::Value;
use srecap_sim::{SimConfig, Simulator};
use srecap_store::{HistoryStore as _, HistoryTxn as _, StateKey, Store};

const FIXTURE: &str = "crates/srecap/tests/fixtures/explain-reasons.yaml";

/// Every cluster of the fixture with the verdict its header comment promises.
const EXPECTED: &[(&str, &str)] = &[
    ("stage-1", "upgrade_policy 4.14.8"),
    ("stage-2", "mutex"),
    ("stage-3", "existing-policy"),
    ("stage-window", "outside-schedule"),
    ("stage-latest", "no-upgrades"),
    ("stage-blocked", "blocked-version"),
    ("stage-soak", "soak-days"),
    ("stage-installing", "not-ready"),
    ("prod-1", "sector-dependency"),
    ("prod-gated", "version-gate"),
    ("new-gate", "missing-gate-agreement"),
    ("batch-1", "existing-policy"),
    ("batch-2", "max-parallel"),
    ("unmanaged", "ignored"),
    ("f-bad", "validation-error"),
    ("f-good", "org-validation-error"),
    ("child-1", "inherited-version"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn srecap(args: &[&str]) -> Output {
    Command::cargo_bin("srecap")
        .expect("srecap binary")
        .current_dir(repo())
        .env_remove("SRECAP_STATE")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn explain_json(cluster: &str) -> Value {
    let text = ok(&srecap(&[
        "aus", "explain", "-s", FIXTURE, "-o", "json", cluster,
    ]));
    serde_json::from_str(&text).expect("explain output is JSON")
}

fn verdict(x: &Value) -> String {
    let v = &x["verdict"];
    match v["decision"].as_str().unwrap() {
        "action" => format!(
            "{} {}",
            v["action"]["type"].as_str().unwrap(),
            v["action"]["version"].as_str().unwrap()
        ),
        "skipped" => v["reason"].as_str().unwrap().to_owned(),
        other => other.to_owned(),
    }
}

#[test]
fn explain_covers_every_reason_code_with_its_numbers() {
    let mut all = Vec::new();
    for (cluster, expected) in EXPECTED {
        let x = explain_json(cluster);
        assert_eq!(verdict(&x), *expected, "{cluster}");
        let table = ok(&srecap(&[
            "aus", "explain", "-s", FIXTURE, "-o", "table", cluster,
        ]));
        insta::assert_snapshot!(format!("explain_table_{cluster}"), table);
        all.push(x);
    }
    let reasons: std::collections::BTreeSet<&str> = EXPECTED.iter().map(|(_, r)| *r).collect();
    for code in [
        "validation-error",
        "org-validation-error",
        "not-ready",
        "mutex",
        "max-parallel",
        "existing-policy",
        "outside-schedule",
        "no-upgrades",
        "blocked-version",
        "inherited-version",
        "sector-dependency",
        "soak-days",
        "version-gate",
        "missing-gate-agreement",
    ] {
        assert!(reasons.contains(code), "no cluster covers {code}");
    }
    insta::assert_json_snapshot!("explain_json_all", all);

    // The numbers behind the verdicts, stated independently of the snapshots.
    let by = |name: &str| {
        all.iter()
            .find(|x| x["cluster"]["name"] == name)
            .unwrap()
            .clone()
    };
    let check = |x: &Value, condition: &str| -> Value {
        x["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["condition"] == condition)
            .unwrap_or_else(|| panic!("no {condition} check"))
            .clone()
    };
    // Soak: 1 stored day + 1 day since the check-in by one reporting cluster.
    let soak = by("stage-soak");
    assert_eq!(soak["candidates"][0]["soak"][0]["soaked_days"], 2.0);
    assert_eq!(soak["candidates"][0]["soak"][0]["clusters_soaking"], 1);
    assert_eq!(soak["estimate"]["earliest"], "2026-03-03T11:00:00Z");
    // Mutex holder and max-parallel numbers.
    let mutex = check(&by("stage-2"), "mutexes");
    assert_eq!(mutex["data"][0]["held_by"][0], "stage-1");
    let parallel = check(&by("batch-2"), "mutexes");
    assert_eq!(parallel["data"][0]["upgrading"], 1);
    assert_eq!(parallel["data"][0]["limit"], 1);
    assert!(by("batch-2")["estimate"]["earliest"].is_null());
    // Sector dependency, blocking pattern, gates, next slot.
    let dep = &by("prod-1")["candidates"][0]["sector_dependencies"][0];
    assert_eq!(
        (&dep["sector"], &dep["lowest_version"]),
        (&Value::from("stage"), &Value::from("4.14.7"))
    );
    assert_eq!(
        by("stage-blocked")["candidates"][0]["blocked_by"]["pattern"],
        r"^4\.14\.9$"
    );
    // Which gates are missing, and whether the approver takes them (R110).
    assert_eq!(
        by("prod-gated")["candidates"][0]["missing_gates"][0],
        "gate-ocp-4-15 (api.openshift.com/gate-ocp): the version-gate approver agrees to it"
    );
    // Issue 15 item 2: a label without a handler is named, and left to the owners.
    assert_eq!(
        by("new-gate")["candidates"][0]["missing_gates"][0],
        "gate-new-4-16 (api.openshift.com/gate-new): no approver handler for this label; only the owners can agree"
    );
    let gates = check(&by("new-gate"), "version-gates");
    assert_eq!(gates["reason"], "missing-gate-agreement");
    assert!(
        gates["detail"].as_str().unwrap().contains("gate-new-4-16"),
        "{gates}"
    );
    // The approver takes the OCP gate in the pass that books (R110): the
    // estimate is the next slot. Only the owners can take new-gate's: never.
    assert_eq!(
        by("prod-gated")["estimate"]["earliest"],
        "2026-03-02T10:07:00Z"
    );
    assert!(by("new-gate")["estimate"]["earliest"].is_null());
    assert_eq!(
        check(&by("stage-window"), "schedule")["data"]["next_slot"],
        "2026-03-02T22:00:00Z"
    );
    assert_eq!(
        by("stage-window")["estimate"]["earliest"],
        "2026-03-02T22:00:00Z"
    );
    // An existing scheduled policy is the estimate.
    assert_eq!(
        by("stage-3")["estimate"]["earliest"],
        "2026-03-02T11:00:00Z"
    );
    // Explain goes on after the first failure: f-good's later checks pass.
    assert_eq!(check(&by("f-good"), "schedule")["outcome"], "pass");
}

#[test]
fn status_shows_every_cluster_per_organization() {
    let table = ok(&srecap(&["aus", "status", "-s", FIXTURE, "-o", "table"]));
    insta::assert_snapshot!("status_table", table);
    let text = ok(&srecap(&["aus", "status", "-s", FIXTURE, "-o", "json"]));
    let status: Value = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!("status_json", status);
    let orgs: Vec<&str> = status["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["org-child", "org-frozen", "org-main"]);
    // Status and explain agree on every AUS cluster.
    for org in status["organizations"].as_array().unwrap() {
        for c in org["clusters"].as_array().unwrap() {
            let name = c["cluster"].as_str().unwrap();
            let expected = EXPECTED.iter().find(|(n, _)| *n == name).unwrap().1;
            assert_eq!(
                verdict(&serde_json::json!({ "verdict": c["decision"] })),
                expected
            );
        }
    }

    let one = ok(&srecap(&[
        "aus",
        "status",
        "-s",
        FIXTURE,
        "-o",
        "json",
        "--org",
        "org-frozen",
    ]));
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["organizations"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["organizations"][0]["validation_errors"]["clusters"]["f-bad-uuid"][0],
        "label sre-capabilities.aus.soak-days: expected a whole number >= 0, got \"-1\""
    );
}

#[test]
fn yaml_carries_the_same_data_as_json() {
    let json: Value = serde_json::from_str(&ok(&srecap(&[
        "aus",
        "explain",
        "-s",
        FIXTURE,
        "-o",
        "json",
        "stage-soak",
    ])))
    .unwrap();
    let yaml = ok(&srecap(&[
        "aus",
        "explain",
        "-s",
        FIXTURE,
        "-o",
        "yaml",
        "stage-soak",
    ]));
    let from_yaml: Value = serde_saphyr::from_str(&yaml).expect("explain YAML parses");
    assert_eq!(from_yaml, json);
    let status_yaml = ok(&srecap(&["aus", "status", "-s", FIXTURE, "-o", "yaml"]));
    let status_json: Value = serde_json::from_str(&ok(&srecap(&[
        "aus", "status", "-s", FIXTURE, "-o", "json",
    ])))
    .unwrap();
    assert_eq!(
        serde_saphyr::from_str::<Value>(&status_yaml).unwrap(),
        status_json
    );
}

#[test]
fn clusters_are_found_by_name_id_and_external_id() {
    let by_name = explain_json("stage-2");
    assert_eq!(explain_json("stage-2-id"), by_name);
    assert_eq!(explain_json("stage-2-uuid"), by_name);
}

#[test]
fn unknown_names_and_bad_flags_exit_2_naming_the_fault() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["aus", "explain", "-s", FIXTURE, "no-such-cluster"],
            "no cluster \"no-such-cluster\"",
        ),
        (
            &["aus", "status", "-s", FIXTURE, "--org", "org-nope"],
            "no organization \"org-nope\"",
        ),
        (
            &["aus", "explain", "-s", FIXTURE, "-o", "xml", "stage-1"],
            "invalid value 'xml'",
        ),
        (
            &["aus", "explain", "-s", FIXTURE, "--live", "stage-1"],
            "cannot be used with",
        ),
        (&["aus", "explain"], "<CLUSTER>"),
        (
            &[
                "aus", "explain", "-s", FIXTURE, "--now", "tomorrow", "stage-1",
            ],
            "--now",
        ),
        (
            &["aus", "explain", "-s", "no/such/file.yaml", "stage-1"],
            "no/such/file.yaml",
        ),
    ];
    for (args, message) in cases {
        let out = srecap(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
}

/// The same fleet served by the simulator and read live (discovery, per-cluster
/// reads, history from a real SQLite store) explains exactly as the scenario.
#[test]
fn live_explain_equals_the_scenario_explain() {
    let fleet = srecap_fleet::load_scenario(&repo().join(FIXTURE), Timestamp::UNIX_EPOCH).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite:{}", dir.path().join("state.db").display());
    runtime.block_on(async {
        let store = Store::open(&state).await.unwrap();
        for (org, doc) in &fleet.version_data {
            let txn = store
                .begin(&StateKey::new("production", org.as_str()).unwrap())
                .await
                .unwrap();
            txn.commit(doc).await.unwrap();
        }
    });
    let now = fleet.now.to_string();
    let live_from = |sim: &srecap_sim::RunningSim, args: &[&str]| -> Value {
        let out = Command::cargo_bin("srecap")
            .unwrap()
            .args(args)
            .args([
                "--live",
                "-o",
                "json",
                "--client-id",
                "srecap-sim",
                "--client-secret",
                "srecap-sim",
                "--ocm-url",
                &sim.base_url(),
                "--token-url",
                &sim.token_url(),
                "--state",
                &state,
                "--now",
                &now,
                "--health-prometheus",
                &format!("{}/telemeter", sim.base_url()),
            ])
            .env_remove("OCM_URL")
            .env_remove("SRECAP_STATE")
            .env("HOME", dir.path())
            .output()
            .unwrap();
        serde_json::from_str(&ok(&out)).unwrap()
    };
    let live = |args: &[&str]| live_from(&sim, args);
    for cluster in [
        "stage-soak",
        "stage-2",
        "batch-2",
        "prod-gated",
        "new-gate",
        "child-1",
    ] {
        assert_eq!(
            live(&["aus", "explain", cluster]),
            explain_json(cluster),
            "{cluster}"
        );
    }
    let status = live(&["aus", "status", "--org", "org-main"]);
    let clusters = status["organizations"][0]["clusters"].as_array().unwrap();
    // Live discovery sees ready clusters only (R11).
    assert_eq!(clusters.len(), 12);
    // Without --org, live status shows the logged-in account's organization (the
    // simulator's account belongs to the first one); -A shows every one.
    let mine = live(&["aus", "status"]);
    let orgs = |v: &Value| -> Vec<String> {
        v["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["org_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(orgs(&mine), ["org-main"]);
    assert_eq!(mine, status);
    assert!(orgs(&live(&["aus", "status", "-A"])).len() > 1);
    let out = Command::cargo_bin("srecap")
        .unwrap()
        .args(["aus", "explain", "no-such-cluster", "--live"])
        .args(["--client-id", "srecap-sim", "--client-secret", "srecap-sim"])
        .args([
            "--ocm-url",
            &sim.base_url(),
            "--token-url",
            &sim.token_url(),
        ])
        .args(["--state", &state])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Health as the reconciler reads it: with stage-latest (the only cluster on
    // 4.14.8 with workload api) unhealthy, stage-soak's soak no longer accrues.
    let mut sick = fleet.clone();
    for c in &mut sick.clusters {
        if c.name == "stage-latest" {
            c.healthy = false;
        }
    }
    let sick_sim = runtime
        .block_on(srecap_sim::spawn(Simulator::new(
            sick,
            SimConfig::default(),
        )))
        .unwrap();
    let x = live_from(&sick_sim, &["aus", "explain", "stage-soak"]);
    assert_eq!(x["candidates"][0]["soak"][0]["clusters_soaking"], 0);
    assert!(x["estimate"]["earliest"].is_null());
    drop(sick_sim);

    // Issue 16: an OCM URL alone (flag or `OCM_URL`, no --live) reads OCM, and
    // the table says so in its first line.
    let table_from = |args: &[&str], url_in_env: bool| -> String {
        let mut cmd = Command::cargo_bin("srecap").unwrap();
        cmd.args(args)
            .args(["-o", "table", "--state", &state])
            .args(["--token-url", &sim.token_url()])
            .env("OCM_CLIENT_ID", "srecap-sim")
            .env("OCM_CLIENT_SECRET", "srecap-sim")
            .env_remove("SRECAP_STATE")
            .env("HOME", dir.path());
        if url_in_env {
            cmd.env("OCM_URL", sim.base_url());
        } else {
            cmd.env_remove("OCM_URL")
                .args(["--ocm-url", &sim.base_url()]);
        }
        ok(&cmd.output().unwrap())
    };
    for url_in_env in [false, true] {
        let table = table_from(&["aus", "status", "--org", "org-main"], url_in_env);
        let first = table.lines().next().unwrap();
        assert_eq!(
            first,
            format!("Source: OCM {} (environment production)", sim.base_url()),
            "{table}"
        );
        // Live discovery sees ready clusters only: not the scenario's
        // not-ready cluster.
        assert!(table.contains("stage-soak"), "{table}");
        let explained = table_from(&["aus", "explain", "stage-soak"], url_in_env);
        assert!(explained.starts_with("Source: OCM "), "{explained}");
    }
    // Wrong credentials are an authentication failure, said as such, not a
    // hint about --org.
    let out = Command::cargo_bin("srecap")
        .unwrap()
        .args(["aus", "status", "--ocm-url", &sim.base_url()])
        .args(["--token-url", &sim.token_url()])
        .args(["--client-id", "srecap-sim", "--client-secret", "wrong"])
        .env_remove("OCM_URL")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("connecting to OCM at {}", sim.base_url())),
        "{stderr}"
    );
    assert!(!stderr.contains("--org"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the secret is never printed: {stderr}"
    );
    drop(sim);
}

/// Issue 16: the source is the one the user pointed at, said in the first line;
/// a file and OCM at once is refused.
#[test]
fn the_source_is_the_one_pointed_at_and_said_first() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::cargo_bin("srecap")
            .unwrap()
            .current_dir(repo())
            .args(args)
            .env_remove("OCM_URL")
            .env_remove("OCM_CLIENT_ID")
            .env_remove("OCM_CLIENT_SECRET")
            .env_remove("OCM_OFFLINE_TOKEN")
            .env_remove("OCM_TOKEN")
            .env_remove("OCM_CONFIG")
            .env_remove("OCM_KEYRING")
            .env_remove("SRECAP_STATE")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    // Nothing configured: the embedded example, and it says so.
    let table = ok(&run(&["aus", "status", "-o", "table"]));
    assert_eq!(
        table.lines().next(),
        Some("Source: embedded example fleet (examples/fleet.yaml)")
    );
    let table = ok(&run(&["aus", "status", "-s", FIXTURE, "-o", "table"]));
    assert_eq!(
        table.lines().next().unwrap(),
        format!("Source: scenario {FIXTURE}")
    );
    // An `ocm login` makes OCM the default, as a kubectl context does: here it
    // points at a closed port, so the command fails on OCM instead of quietly
    // showing the example.
    let config = home.path().join(".config/ocm");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("ocm.json"),
        r#"{"url": "http://127.0.0.1:9", "token_url": "http://127.0.0.1:9/token", "refresh_token": "rt", "client_id": "cloud-services"}"#,
    )
    .unwrap();
    let out = run(&["aus", "status", "-A", "-o", "table"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    // --example still reads the example.
    let table = ok(&run(&["aus", "status", "--example", "-o", "table"]));
    assert!(
        table.starts_with("Source: embedded example fleet"),
        "{table}"
    );
    // A file and OCM at once: refused, naming both.
    for args in [
        &[
            "aus",
            "status",
            "-s",
            FIXTURE,
            "--ocm-url",
            "http://127.0.0.1:9",
        ][..],
        &[
            "aus",
            "explain",
            "--example",
            "--state",
            "memory:",
            "stage-1",
        ][..],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("give one or the other"), "{stderr}");
    }
}
