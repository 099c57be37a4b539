//! End-to-end tests of the `srecap` binary.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn srecap() -> Command {
    let mut cmd = Command::cargo_bin("srecap").expect("srecap binary");
    cmd.current_dir(repo());
    cmd
}

fn plan_json(args: &[&str]) -> Value {
    let out = srecap()
        .args(["aus", "plan", "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan output is JSON")
}

#[test]
fn aus_plan_json_matches_the_reference_actions_for_every_golden_fleet() {
    let dir = repo().join("tests/fixtures/aus-plan");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let actual = plan_json(&["--scenario", path.to_str().unwrap()]);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("expected.json")).unwrap(),
        )
        .unwrap();
        let actions = |v: &Value| -> BTreeSet<String> {
            v["organizations"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|o| {
                    o["actions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(move |a| format!("{} {a}", o["org_id"]))
                })
                .collect()
        };
        assert_eq!(actions(&actual), actions(&expected), "{}", path.display());
        assert_eq!(actual["now"], expected["now"]);
        checked += 1;
    }
    assert_eq!(checked, 40);
}

#[test]
fn aus_plan_json_has_exactly_the_contract_fields() {
    let plan = plan_json(&["--scenario", "tests/fixtures/aus-plan/ref-001.yaml"]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&plan), ["now", "organizations"]);
    let org = &plan["organizations"][0];
    assert_eq!(
        keys(org),
        [
            "org_id",
            "validation_errors",
            "actions",
            "clusters",
            "version_data"
        ]
    );
    assert_eq!(
        keys(&org["validation_errors"]),
        ["organization", "clusters"]
    );
    for a in org["actions"].as_array().unwrap() {
        let expected: &[&str] = match a["type"].as_str().unwrap() {
            "upgrade_policy" | "control_plane_upgrade_policy" => {
                &["type", "cluster", "cluster_id", "version", "next_run"]
            }
            "node_pool_upgrade_policy" => &[
                "type",
                "cluster",
                "cluster_id",
                "node_pool",
                "version",
                "next_run",
            ],
            "channel_switch" => &[
                "type",
                "cluster",
                "cluster_id",
                "from_channel",
                "to_channel",
            ],
            other => panic!("unknown action type {other}"),
        };
        assert_eq!(keys(a), expected);
    }
    for e in org["clusters"].as_array().unwrap() {
        assert_eq!(keys(e), ["cluster", "decision", "reason", "detail"]);
        assert_eq!(e["decision"], "skipped");
    }
}

#[test]
fn aus_plan_now_overrides_the_scenario() {
    let plan = plan_json(&[
        "--scenario",
        "tests/fixtures/aus-plan/ref-012.yaml",
        "--now",
        "2027-03-17T05:10:00Z",
    ]);
    assert_eq!(plan["now"], "2027-03-17T05:10:00Z");
    assert_eq!(
        plan["organizations"][0]["version_data"]["check_in"],
        "2027-03-17T05:10:00Z"
    );
}

#[test]
fn aus_plan_table_is_readable() {
    let out = srecap()
        .args([
            "aus",
            "plan",
            "-o",
            "table",
            "--scenario",
            "tests/fixtures/aus-plan/ref-012.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("aus_plan_table_ref_012", text);
}

#[test]
fn unreadable_scenarios_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "now: 2026-11-21T10:00:00Z\norganizations: []\nclusters:\n  - name: a\n    organization: nope\n    version: 4.14.1\n").unwrap();
    for path in [bad.clone(), dir.path().join("missing.yaml")] {
        let out = srecap()
            .args(["aus", "plan", "--scenario", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let file = path.file_name().unwrap().to_string_lossy();
        assert!(stderr.contains(&*file), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = srecap()
        .args(["aus", "plan", "--now", "yesterday", "--scenario", "x.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_ocm_rate_is_a_usage_error_naming_the_flag() {
    for (rate, reason) in [
        ("-5", "above 0"),
        ("lots", "not a number"),
        ("1e9", "at most 1000000"),
    ] {
        let out = srecap()
            .args(["aus", "run", "--once", "--dry-run"])
            .arg(format!("--ocm-rate={rate}"))
            .env_remove("SRECAP_OCM_RATE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{rate}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--ocm-rate"), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
    }
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `srecap aus status | head -1`: the reader closes the pipe; srecap's next
    // write fails with EPIPE, which is how a pipeline says "enough". The read
    // end is closed before srecap writes anything, so the write surely fails.
    for args in [&["aus", "status"][..], &["aus", "plan", "-o", "json"][..]] {
        let mut child = srecap()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = srecap().args(["completion", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("srecap"));
    }
}

#[test]
fn sim_serve_serves_a_scenario_until_stopped() {
    let mut child = srecap()
        .args([
            "sim",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            "tests/fixtures/aus-plan/ref-012.yaml",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let api = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("API:")
                .map(|r| r.split_whitespace().next().unwrap().to_owned())
        })
        .expect("banner with the API address");
    let clock: Value = reqwest::blocking::get(format!("{api}/_sim/clock"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(clock["now"], "2027-03-17T02:46:30Z");
    let unauth = reqwest::blocking::get(format!("{api}/api/clusters_mgmt/v1/clusters")).unwrap();
    assert_eq!(unauth.status().as_u16(), 401);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_example_fleet_is_embedded_as_the_default_scenario() {
    let embedded = plan_json(&[]);
    let from_file = plan_json(&["--scenario", "examples/fleet.yaml"]);
    assert_eq!(embedded, from_file);
    assert_eq!(embedded["organizations"].as_array().unwrap().len(), 3);
    let actions: usize = embedded["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["actions"].as_array().unwrap().len())
        .sum();
    assert!(actions > 0, "the example fleet has work to do at its `now`");
}
