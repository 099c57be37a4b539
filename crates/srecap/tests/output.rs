//! Issue 16: every data command's table fits `$COLUMNS` (80 and 120 here) and
//! shows everything with `-o wide`; `-o yaml` and `-o json` are accepted by
//! every data command. The tables are snapshots, so a layout change is seen.

use std::path::PathBuf;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;

const FIXTURE: &str = "crates/srecap/tests/fixtures/explain-reasons.yaml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `srecap args` with no OCM configured, `$COLUMNS` set.
fn srecap(args: &[&str], columns: &str) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::cargo_bin("srecap")
        .unwrap()
        .current_dir(repo())
        .args(args)
        .env("COLUMNS", columns)
        .env("HOME", home.path())
        .env_remove("OCM_URL")
        .env_remove("OCM_CLIENT_ID")
        .env_remove("OCM_CLIENT_SECRET")
        .env_remove("OCM_OFFLINE_TOKEN")
        .env_remove("OCM_TOKEN")
        .env_remove("OCM_CONFIG")
        .env_remove("SRECAP_STATE")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The lines of a table: those drawn with its box characters.
fn table_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| l.contains(['│', '┆', '┌', '└', '╞', '├']))
}

fn commands() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("plan", vec!["aus", "plan"]),
        ("plan_fixture", vec!["aus", "plan", "-s", FIXTURE]),
        ("status", vec!["aus", "status", "-s", FIXTURE]),
        (
            "explain",
            vec!["aus", "explain", "-s", FIXTURE, "stage-soak"],
        ),
        ("forecast", vec!["aus", "forecast", "--days", "7"]),
    ]
}

#[test]
fn tables_fit_the_columns_and_wide_shows_everything() {
    for (name, args) in commands() {
        for columns in ["80", "120"] {
            let text = ok(&srecap(&args, columns));
            let limit: usize = columns.parse().unwrap();
            for line in table_lines(&text) {
                assert!(
                    line.chars().count() <= limit,
                    "{name} at COLUMNS={columns}: {} columns:\n{line}",
                    line.chars().count()
                );
            }
            insta::assert_snapshot!(format!("{name}_columns_{columns}"), text);
        }
        let mut wide = args.clone();
        wide.extend(["-o", "wide"]);
        let text = ok(&srecap(&wide, "80"));
        insta::assert_snapshot!(format!("{name}_wide"), text);
    }
}

#[test]
fn status_keeps_the_essential_columns_and_wide_has_them_all() {
    let narrow = ok(&srecap(&["aus", "status", "-s", FIXTURE], "80"));
    let header = table_lines(&narrow).nth(1).unwrap().to_owned();
    for column in ["cluster", "version", "this pass"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(!header.contains("mutexes"), "{header}");
    let wide = ok(&srecap(
        &["aus", "status", "-s", FIXTURE, "-o", "wide"],
        "80",
    ));
    let header = table_lines(&wide).nth(1).unwrap().to_owned();
    for column in ["mutexes", "schedule", "soak days", "workloads"] {
        assert!(header.contains(column), "{header}");
    }
}

#[test]
fn every_data_command_takes_yaml_and_json() {
    for (name, args) in commands() {
        for format in ["yaml", "json"] {
            let mut with = args.clone();
            with.extend(["-o", format]);
            let text = ok(&srecap(&with, "80"));
            if format == "json" {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{name} -o json: {e}\n{text}"));
            } else {
                assert!(!text.contains('│'), "{name} -o yaml drew a table");
                assert!(
                    !text.trim_start().starts_with('{'),
                    "{name} -o yaml gave JSON"
                );
            }
        }
    }
}

#[test]
fn a_table_stays_a_table_when_piped() {
    // The test's stdout is a pipe: the default is still the table.
    let text = ok(&srecap(&["aus", "plan"], "120"));
    assert!(text.starts_with("Source: embedded example fleet"), "{text}");
    assert!(table_lines(&text).next().is_some(), "{text}");
}
