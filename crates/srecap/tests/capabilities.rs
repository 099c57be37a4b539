//! `srecap capabilities`: every capability with its namespace and labels, from
//! the declarations the reconcilers validate with.

use assert_cmd::Command;

fn srecap(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("srecap")
        .unwrap()
        .args(args)
        .env("COLUMNS", "80")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

#[test]
fn json_lists_each_capability_with_its_namespace_and_labels() {
    let out = srecap(&["capabilities", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aus = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "aus")
        .expect("aus is listed");
    assert_eq!(aus["namespace"], "sre-capabilities.aus");
    let labels = aus["labels"].as_array().unwrap();
    let soak = labels
        .iter()
        .find(|l| l["key"] == "sre-capabilities.aus.soak-days")
        .expect("soak-days");
    assert_eq!(soak["scope"], "cluster");
    assert_eq!(soak["required"], true);
    assert!(
        labels
            .iter()
            .any(|l| l["key"] == "sre-capabilities.aus.sector-deps.<name>"
                && l["scope"] == "organization"),
        "group settings show where the name goes"
    );
    for capability in all.as_array().unwrap() {
        let namespace = capability["namespace"].as_str().unwrap();
        for label in capability["labels"].as_array().unwrap() {
            assert!(
                label["key"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{namespace}.")),
                "{label}"
            );
        }
    }
}

#[test]
fn the_table_fits_the_terminal_and_yaml_is_offered() {
    let out = srecap(&["capabilities"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("sre-capabilities.aus"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    let out = srecap(&["capabilities", "-o", "yaml"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("name: aus"));
}

#[test]
fn rhidp_is_listed_with_its_labels_on_both_scopes() {
    let out = srecap(&["capabilities", "-o", "json"]);
    assert!(out.status.success());
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rhidp = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rhidp")
        .expect("rhidp is listed");
    assert_eq!(rhidp["namespace"], "sre-capabilities.rhidp");
    let labels = rhidp["labels"].as_array().unwrap();
    for key in [
        "sre-capabilities.rhidp.status",
        "sre-capabilities.rhidp.name",
        "sre-capabilities.rhidp.issuer",
        "sre-capabilities.rhidp.group-filter-regex",
    ] {
        for scope in ["cluster", "organization"] {
            assert!(
                labels
                    .iter()
                    .any(|l| l["key"] == key && l["scope"] == scope && l["required"] == false),
                "{key} on {scope}"
            );
        }
    }
    let table = String::from_utf8(srecap(&["capabilities"]).stdout).unwrap();
    assert!(table.contains("rhidp labels:"), "{table}");
}
