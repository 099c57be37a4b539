//! `srecap observability …`: the command writes exactly the checked-in artefacts,
//! prints the rule formats, and refuses bad flags with exit code 2.

use std::path::PathBuf;

use assert_cmd::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn generate_writes_the_checked_in_artefacts() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("srecap")
        .unwrap()
        .args(["observability", "generate", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let mut n = 0;
    for sub in [
        "deploy/prometheus",
        "deploy/alertmanager",
        "deploy/grafana",
        "docs/runbooks/aus",
        "docs/runbooks/rhidp",
    ] {
        for entry in std::fs::read_dir(dir.path().join(sub)).unwrap() {
            let entry = entry.unwrap();
            let rel = format!("{sub}/{}", entry.file_name().to_string_lossy());
            let checked_in = std::fs::read_to_string(repo().join(&rel)).unwrap_or_default();
            assert_eq!(
                std::fs::read_to_string(entry.path()).unwrap(),
                checked_in,
                "{rel} is stale: run `cargo run -p srecap -- observability generate --out .`"
            );
            n += 1;
        }
    }
    assert!(n >= 10, "{n}");
}

#[test]
fn rules_print_as_prometheus_rule_or_plain_file() {
    let plain = Command::cargo_bin("srecap")
        .unwrap()
        .args(["observability", "rules", "--format", "rules"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let plain = String::from_utf8(plain).unwrap();
    let checked_in =
        std::fs::read_to_string(repo().join("deploy/prometheus/srecap-aus.rules.yaml")).unwrap();
    assert!(checked_in.ends_with(&plain));
    assert!(plain.starts_with("groups:\n"));
    let manifest = Command::cargo_bin("srecap")
        .unwrap()
        .args([
            "observability",
            "rules",
            "--namespace",
            "monitoring",
            "--environment",
            "stage",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let manifest = String::from_utf8(manifest).unwrap();
    // One per SLO (aus-reconcile, aus-ocm-writes, aus-addon-reconcile) and
    // the operational rules.
    assert_eq!(manifest.matches("kind: PrometheusRule").count(), 4);
    assert!(manifest.contains("name: srecap-aus-slo-aus-addon-reconcile"));
    assert!(manifest.contains("namespace: monitoring"));
    assert!(
        manifest.contains(
            "absent(srecap_aus_pass_last_completed_timestamp_seconds{ocm_env=\"stage\"})"
        )
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let out = Command::cargo_bin("srecap")
        .unwrap()
        .args([
            "observability",
            "rules",
            "--runbook-url-base",
            "docs/runbooks",
        ])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("--runbook-url-base")
    );
    Command::cargo_bin("srecap")
        .unwrap()
        .args([
            "observability",
            "alertmanager",
            "--environment",
            "prod\"uction",
        ])
        .assert()
        .code(2);
}

/// Issue 15 item 4: the `aus run --config` file gives each environment's alert
/// severity; `stage` (capped at `warning` in the example) never pages, and
/// every configured environment has its absence alert.
#[test]
fn rules_from_the_config_file_cap_each_environments_severity() {
    let out = Command::cargo_bin("srecap")
        .unwrap()
        .args(["observability", "rules", "--format", "rules", "--config"])
        .arg(repo().join("examples/srecap.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            r#"absent(srecap_aus_pass_last_completed_timestamp_seconds{ocm_env="stage"})"#
        ) && text.contains(
            r#"absent(srecap_aus_pass_last_completed_timestamp_seconds{ocm_env="production"})"#
        ),
        "{text}"
    );
    assert!(
        text.contains("unless on (ocm_env) (label_replace(vector(1), \"ocm_env\", \"stage\""),
        "{text}"
    );
    assert!(
        text.contains("and on (ocm_env) (label_replace(vector(1), \"ocm_env\", \"stage\""),
        "{text}"
    );
    // Default: unchanged.
    let plain = Command::cargo_bin("srecap")
        .unwrap()
        .args(["observability", "rules", "--format", "rules"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8(plain.stdout)
            .unwrap()
            .contains("label_replace(vector(1)")
    );
    // --config and --environment contradict each other.
    let both = Command::cargo_bin("srecap")
        .unwrap()
        .args(["observability", "rules", "--environment", "x", "--config"])
        .arg(repo().join("examples/srecap.yaml"))
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}
