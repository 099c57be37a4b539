//! The configuration commands (`srecap aus policy|org|apply|export`) through the
//! real binary against the simulator over HTTP: exactly the expected labels are
//! written, bad input writes nothing, re-applying writes nothing.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use jiff::Timestamp;
use serde_json::Value;
use srecap_sim::{RunningSim, SimConfig, Simulator};

const AUS: &str = "sre-capabilities.aus.";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Env {
    _runtime: tokio::runtime::Runtime,
    sim: RunningSim,
    dir: tempfile::TempDir,
}

impl Env {
    /// The example fleet, with one label of another tool on a cluster and on the
    /// organization (which no command may touch).
    fn new() -> Env {
        let mut fleet =
            srecap_fleet::load_scenario(&repo().join("examples/fleet.yaml"), Timestamp::UNIX_EPOCH)
                .unwrap();
        for c in &mut fleet.clusters {
            std::sync::Arc::make_mut(&mut c.labels).insert("owner".into(), "team-a".into());
        }
        fleet.organizations[0]
            .labels
            .insert("billing.tier".into(), "gold".into());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime
            .block_on(srecap_sim::spawn(Simulator::new(
                fleet,
                SimConfig::default(),
            )))
            .unwrap();
        Env {
            _runtime: runtime,
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("srecap").unwrap();
        cmd.args(["aus"])
            .args(args)
            .args(["--ocm-url", &self.sim.base_url()])
            .args(["--token-url", &self.sim.token_url()])
            .args(["--client-id", "srecap-sim", "--client-secret", "srecap-sim"])
            .env_remove("OCM_URL")
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Exit 2, and nothing written; returns standard error.
    fn refused(&self, args: &[&str]) -> String {
        self.sim.sim.reset_request_counts();
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(self.writes(), 0, "{args:?} wrote: {stderr}");
        assert!(stderr.contains("error: "), "{stderr}");
        stderr
    }

    /// POST, PATCH and DELETE requests since the counts were reset.
    fn writes(&self) -> u64 {
        self.sim
            .sim
            .request_counts()
            .iter()
            .filter(|(k, _)| !k.starts_with("GET "))
            .map(|(_, n)| n)
            .sum()
    }

    fn cluster_labels(&self, name: &str) -> BTreeMap<String, String> {
        let fleet = self.sim.sim.fleet();
        fleet
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .labels
            .as_ref()
            .clone()
    }

    fn org_labels(&self, id: &str) -> BTreeMap<String, String> {
        let fleet = self.sim.sim.fleet();
        fleet
            .organizations
            .iter()
            .find(|o| o.id == id)
            .unwrap()
            .labels
            .clone()
    }

    fn all_labels(&self) -> String {
        serde_json::to_string(&self.sim.sim.fleet().organizations).unwrap()
            + &serde_json::to_string(
                &self
                    .sim
                    .sim
                    .fleet()
                    .clusters
                    .iter()
                    .map(|c| (&c.name, c.labels.clone()))
                    .collect::<Vec<_>>(),
            )
            .unwrap()
    }
}

fn aus(labels: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(AUS)?, v.as_str())))
        .collect()
}

const CLUSTER: &str = "plat-dev-apse2-01";

#[test]
fn policy_apply_writes_exactly_the_policy_and_presets_expand() {
    let env = Env::new();
    env.ok(&[
        "policy",
        "apply",
        "--cluster",
        CLUSTER,
        "--workload",
        "api,web",
        "--workload",
        "db",
        "--schedule",
        "nightly",
        "--soak-days",
        "3",
        "--mutex",
        "apse2",
        "--sector",
        "stage",
        "--blocked-version",
        r"^4\.16\.3$",
        "--gate-approval",
        "api.openshift.com/gate-ocp",
        "-o",
        "json",
    ]);
    let labels = env.cluster_labels(CLUSTER);
    assert_eq!(
        aus(&labels),
        BTreeMap::from([
            ("blocked-versions", r"^4\.16\.3$"),
            ("mutexes", "apse2"),
            ("schedule", "0 2 * * *"),
            ("sector", "stage"),
            ("soak-days", "3"),
            ("version-gate-approvals", "api.openshift.com/gate-ocp"),
            ("workloads", "api,web,db"),
        ])
    );
    assert_eq!(labels["owner"], "team-a");

    // A whole policy: settings not given go.
    for (preset, cron) in [
        ("anytime", "* * * * *"),
        ("weekdays", "0 * * * 1-5"),
        ("weekends", "0 * * * 0,6"),
    ] {
        env.ok(&[
            "policy",
            "apply",
            "--cluster",
            CLUSTER,
            "--workload",
            "api",
            "--schedule",
            preset,
            "--soak-days",
            "0",
        ]);
        assert_eq!(
            aus(&env.cluster_labels(CLUSTER)),
            BTreeMap::from([("schedule", cron), ("soak-days", "0"), ("workloads", "api")])
        );
    }

    // get shows it; delete removes every AUS label and nothing else.
    let got: Value =
        serde_json::from_str(&env.ok(&["policy", "get", "--cluster", CLUSTER, "-o", "json"]))
            .unwrap();
    assert_eq!(got["policy"]["schedule"], "0 * * * 0,6");
    assert_eq!(got["errors"], serde_json::json!([]));
    env.ok(&["policy", "delete", "--cluster", CLUSTER]);
    let labels = env.cluster_labels(CLUSTER);
    assert!(aus(&labels).is_empty());
    assert_eq!(labels["owner"], "team-a");
}

#[test]
fn policy_dry_run_shows_the_diff_and_writes_nothing() {
    let env = Env::new();
    env.sim.sim.reset_request_counts();
    let out = env.ok(&[
        "policy",
        "apply",
        "--cluster",
        CLUSTER,
        "--workload",
        "ingress",
        "--schedule",
        "weekdays",
        "--soak-days",
        "2",
        "--mutex",
        "apse2",
        "--dry-run",
        "-o",
        "table",
    ]);
    assert_eq!(env.writes(), 0);
    insta::assert_snapshot!("policy_apply_dry_run", out);

    let dump = env.ok(&[
        "policy",
        "apply",
        "--cluster",
        CLUSTER,
        "--workload",
        "ingress",
        "--schedule",
        "weekdays",
        "--soak-days",
        "2",
        "--dump",
    ]);
    assert_eq!(env.writes(), 0);
    insta::assert_snapshot!("policy_apply_dump", dump);

    let out = env.ok(&[
        "policy",
        "validate",
        "--cluster",
        CLUSTER,
        "--workload",
        "ingress",
        "--schedule",
        "weekdays",
        "--soak-days",
        "2",
        "-o",
        "table",
    ]);
    assert!(out.contains("is valid"), "{out}");
    assert_eq!(env.writes(), 0);
}

#[test]
fn invalid_input_is_refused_naming_the_label_and_nothing_is_written() {
    let env = Env::new();
    let before = env.all_labels();
    let policy = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec![
            "policy",
            "apply",
            "--cluster",
            CLUSTER,
            "--workload",
            "ingress",
            "--schedule",
            "weekdays",
            "--soak-days",
            "2",
        ];
        args.extend_from_slice(extra);
        args
    };
    let e = env.refused(&[
        "policy",
        "apply",
        "--cluster",
        CLUSTER,
        "--workload",
        "w",
        "--schedule",
        "0 48 * * *",
        "--soak-days",
        "1",
    ]);
    assert!(
        e.contains("--schedule: label sre-capabilities.aus.schedule: invalid cron"),
        "{e}"
    );
    let e = env.refused(&policy(&["--blocked-version", "("]));
    assert!(
        e.contains("label sre-capabilities.aus.blocked-versions: invalid regular expression"),
        "{e}"
    );
    let e = env.refused(&policy(&["--sector", "qa"]));
    assert!(e.contains("label sre-capabilities.aus.sector: sector \"qa\" is not declared by the organization (declared: dev, prod, stage)"), "{e}");
    let e = env.refused(&policy(&["--mutex", "a,,b"]));
    assert!(e.contains("label sre-capabilities.aus.mutexes"), "{e}");
    let e = env.refused(&[
        "policy",
        "validate",
        "--cluster",
        CLUSTER,
        "--workload",
        "w",
        "--schedule",
        "sometimes",
        "--soak-days",
        "1",
    ]);
    assert!(e.contains("preset"), "{e}");
    let e = env.refused(&["policy", "get", "--cluster", "nope"]);
    assert!(
        e.contains("no cluster \"nope\" in organization org-platform"),
        "{e}"
    );
    let e = env.refused(&["policy", "get", "--cluster", CLUSTER, "--org", "org-nope"]);
    assert!(e.contains("unknown organization \"org-nope\""), "{e}");
    let e = env.refused(&["org", "max-parallel", "prod", "lots"]);
    assert!(
        e.contains("label sre-capabilities.aus.sector-max-parallel-upgrades.prod"),
        "{e}"
    );
    let e = env.refused(&["org", "max-parallel", "qa", "2"]);
    assert!(e.contains("sector \"qa\" is not declared"), "{e}");
    let e = env.refused(&["org", "inherit", "org-platform"]);
    assert!(e.contains("cannot inherit version data from itself"), "{e}");
    let e = env.refused(&["org", "inherit", "org-nope"]);
    assert!(e.contains("unknown organization \"org-nope\""), "{e}");
    // Removing a sector its clusters still use.
    let e = env.refused(&["org", "sectors", "remove-dep", "prod", "--org", "org-data"]);
    assert!(e.contains("sector \"prod\" is not declared"), "{e}");
    assert_eq!(before, env.all_labels());
}

#[test]
fn sector_cycles_are_refused_naming_the_cycle() {
    let env = Env::new();
    let e = env.refused(&["org", "sectors", "add-dep", "dev=prod"]);
    assert!(
        e.contains("sector dependency cycle: dev -> prod -> stage -> dev"),
        "{e}"
    );
    let e = env.refused(&["org", "sectors", "set", "a=b", "b=a"]);
    assert!(e.contains("sector dependency cycle: a -> b -> a"), "{e}");
}

#[test]
fn org_settings_commands_write_the_expected_labels() {
    let env = Env::new();
    let org = "org-data";
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--org", org, "-o", "json"]);
        env.ok(&a)
    };
    run(&["org", "blocked-versions", "add", r"^4\.16\.3$", "rc"]);
    run(&["org", "blocked-versions", "remove", "rc"]);
    run(&["org", "sectors", "add-dep", "canary=", "prod=canary"]);
    run(&["org", "max-parallel", "prod", "25%"]);
    run(&["org", "publish", "org-payments"]);
    run(&["org", "inherit", "remove", "org-platform"]);
    assert_eq!(
        aus(&env.org_labels(org)),
        BTreeMap::from([
            ("blocked-versions", r"^4\.16\.3$"),
            ("sector-deps.canary", ""),
            ("sector-deps.dev", ""),
            ("sector-deps.prod", "stage,canary"),
            ("sector-deps.stage", "dev"),
            ("sector-max-parallel-upgrades.prod", "25%"),
            ("version-data.publish", "org-payments"),
        ])
    );
    let got: Value = serde_json::from_str(&run(&["org", "get"])).unwrap();
    assert_eq!(got["sectors"]["prod"]["max_parallel"], "25%");
    assert_eq!(got["blocked_versions"], serde_json::json!([r"^4\.16\.3$"]));
    let got: Value = serde_json::from_str(&run(&["org", "max-parallel", "get"])).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"sectors": {"prod": {"max_parallel": "25%"}}})
    );
    run(&["org", "max-parallel", "unset", "prod"]);
    run(&["org", "sectors", "remove-dep", "prod=canary"]);
    run(&["org", "sectors", "remove-dep", "canary"]);
    run(&["org", "blocked-versions", "set"]);
    let labels = env.org_labels(org);
    assert!(
        !labels
            .keys()
            .any(|k| k.contains("canary") || k.contains("max-parallel") || k.contains("blocked")),
        "{labels:?}"
    );
    assert_eq!(labels[&format!("{AUS}sector-deps.prod")], "stage");

    // R45: inheriting from an organization that does not publish to this one
    // would stop AUS for it; refused until the source publishes.
    let e = env.refused(&["org", "inherit", "org-payments", "--org", org]);
    assert!(
        e.contains("inheritance from org-payments is unverified"),
        "{e}"
    );
    env.ok(&["org", "publish", "org-data", "--org", "org-payments"]);
    run(&["org", "inherit", "org-payments"]);
    assert_eq!(
        env.org_labels(org)[&format!("{AUS}version-data.inherit")],
        "org-payments"
    );
}

fn apply_file(env: &Env, text: &str, extra: &[&str]) -> Output {
    let mut child = env
        .cmd(&["apply", "-f", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn apply_twice_is_a_no_op_and_export_round_trips() {
    let env = Env::new();
    // Export, then apply the export: not a single write.
    let exported = env.ok(&["export", "--org", "org-payments"]);
    env.sim.sim.reset_request_counts();
    let out = apply_file(&env, &exported, &["--prune", "-o", "table"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.writes(), 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("no changes"));

    // A change applied twice writes once.
    let changed = exported
        .replacen("soak_days: 0", "soak_days: 4", 1)
        .replace(
            "version_data:",
            "version_data:\n    publish: [org-data]\n  unused:",
        );
    let changed = changed.replace("  unused:\n", "");
    let path = env.dir.path().join("payments.yaml");
    std::fs::write(&path, &changed).unwrap();
    let file = path.to_str().unwrap();
    env.sim.sim.reset_request_counts();
    let first = env.ok(&["apply", "-f", file, "-o", "json"]);
    let report: Value = serde_json::from_str(&first).unwrap();
    assert!(!report["changes"].as_array().unwrap().is_empty(), "{first}");
    assert!(env.writes() > 0);
    env.sim.sim.reset_request_counts();
    let second: Value =
        serde_json::from_str(&env.ok(&["apply", "-f", file, "-o", "json"])).unwrap();
    assert_eq!(second["changes"], serde_json::json!([]));
    assert_eq!(env.writes(), 0);
    let counts = env.sim.sim.request_counts();
    assert!(counts.keys().all(|k| k.starts_with("GET ")), "{counts:?}");
}

#[test]
fn prune_removes_only_aus_labels_the_file_no_longer_declares() {
    let env = Env::new();
    let exported = env.ok(&["export"]);
    let doc: Value = serde_saphyr::from_str(&exported).unwrap();
    let names: Vec<String> = doc["clusters"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // Drop the first cluster and the publish setting from the file.
    let mut doc = doc;
    doc["clusters"].as_object_mut().unwrap().remove(&names[0]);
    doc["settings"]
        .as_object_mut()
        .unwrap()
        .remove("version_data");
    let text = serde_json::to_string(&doc).unwrap();

    // Without --prune nothing goes.
    env.sim.sim.reset_request_counts();
    let out = apply_file(&env, &text, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.writes(), 0);

    let out = apply_file(&env, &text, &["--prune", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed: Vec<(String, String)> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            let who = t["target"]["name"]
                .as_str()
                .or(t["target"]["id"].as_str())
                .unwrap()
                .to_owned();
            t["changes"].as_array().unwrap().iter().map(move |c| {
                assert!(c["new"].is_null(), "{c}");
                (who.clone(), c["key"].as_str().unwrap().to_owned())
            })
        })
        .collect();
    assert!(
        removed.iter().all(|(_, k)| k.starts_with(AUS)),
        "{removed:?}"
    );
    assert!(removed.contains(&("org-platform".into(), format!("{AUS}version-data.publish"))));
    assert!(
        removed
            .iter()
            .filter(|(who, _)| *who != "org-platform")
            .all(|(who, _)| *who == names[0])
    );
    let labels = env.cluster_labels(&names[0]);
    assert!(aus(&labels).is_empty());
    assert_eq!(labels["owner"], "team-a");
    assert_eq!(env.org_labels("org-platform")["billing.tier"], "gold");
}

#[test]
fn file_errors_name_file_line_and_field_and_write_nothing() {
    let env = Env::new();
    let path = env.dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: srecap/v1\nkind: AusConfiguration\norganization: org-platform\nclusters:\n  plat-dev-apse2-01:\n    workloads: [ingress]\n    schedule: '0 48 * * *'\n    soak_days: 1\n",
    )
    .unwrap();
    let e = env.refused(&["apply", "-f", path.to_str().unwrap()]);
    assert!(
        e.contains("bad.yaml:7: clusters.plat-dev-apse2-01.schedule: invalid cron expression"),
        "{e}"
    );
    std::fs::write(
        &path,
        "apiVersion: srecap/v1\nkind: AusConfiguration\norganization: org-platform\nclusters:\n  nope:\n    workloads: [ingress]\n    schedule: nightly\n    soak_days: 1\n",
    )
    .unwrap();
    let e = env.refused(&["apply", "-f", path.to_str().unwrap()]);
    assert!(
        e.contains("clusters.nope: no cluster \"nope\" in organization org-platform"),
        "{e}"
    );
    let e = env.refused(&["apply", "-f", "missing.yaml"]);
    assert!(e.contains("missing.yaml"), "{e}");
}

#[test]
fn completions_offer_the_configuration_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::cargo_bin("srecap")
            .unwrap()
            .args(["completion", shell])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // clap_complete's fish script stops two subcommands deep.
        let words: &[&str] = if shell == "fish" {
            &["policy", "blocked-versions", "max-parallel", "export"]
        } else {
            &[
                "policy",
                "blocked-versions",
                "add-dep",
                "max-parallel",
                "export",
                "prune",
            ]
        };
        for word in words {
            assert!(text.contains(word), "{shell} lacks {word}");
        }
    }
}

/// `cmd` split as a POSIX shell would for the README's lines: words, single
/// quotes, a trailing `# comment` and a `> file` redirection.
fn shell_words(line: &str) -> (Vec<String>, Option<String>, String) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut comment = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '#' if word.is_none() => {
                comment = chars.by_ref().collect();
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    let redirect = match words.iter().position(|w| w == ">") {
        Some(i) => {
            let target = words[i + 1].clone();
            words.truncate(i);
            Some(target)
        }
        None => None,
    };
    (words, redirect, comment)
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- walkthrough:end -->").next())
        .expect("README walkthrough markers");
    let fleet = srecap_fleet::load_scenario(
        &repo().join("examples/walkthrough.yaml"),
        Timestamp::UNIX_EPOCH,
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = runtime
        .block_on(srecap_sim::spawn(Simulator::new(
            fleet,
            SimConfig::default(),
        )))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The walkthrough's `ocm` login file, pointing at this simulator.
    let config = dir.path().join("ocm.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "url": sim.base_url(),
            "token_url": sim.token_url(),
            "client_id": "srecap-sim",
            "client_secret": "srecap-sim",
        })
        .to_string(),
    )
    .unwrap();
    let mut ran = 0;
    let srecap = |args: &[String]| {
        Command::cargo_bin("srecap")
            .unwrap()
            .args(args)
            .env("OCM_CONFIG", &config)
            .env("HOME", dir.path())
            .env_remove("OCM_URL")
            .env_remove("OCM_CLIENT_ID")
            .env_remove("OCM_CLIENT_SECRET")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    for line in block.lines().filter(|l| l.starts_with("srecap ")) {
        let (words, redirect, comment) = shell_words(line);
        if words.iter().any(|w| w == "--dry-run") {
            // The README quotes this output as a terminal shows it.
            let mut table = words[1..].to_vec();
            table.extend(["-o".to_owned(), "table".to_owned()]);
            let shown = String::from_utf8(srecap(&table).stdout).unwrap();
            assert!(readme.contains(&shown), "README lacks:\n{shown}");
        }
        let out = srecap(&words[1..]);
        let expected = if comment.contains("exit 2") { 2 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        if let Some(file) = redirect {
            std::fs::write(dir.path().join(file), &stdout).unwrap();
        }
        if words.iter().any(|w| w == "--prune") {
            // A table, also when piped (issue 16): the diff says it is empty.
            assert!(stdout.contains("no changes: organization"), "{stdout}");
        }
        ran += 1;
    }
    // Others may add lines (status, explain); these 14 are the configuration ones.
    assert!(ran >= 14, "{ran}");
    let f = sim.sim.fleet();
    let org = &f.organizations[0].labels;
    assert_eq!(org[&format!("{AUS}sector-deps.prod")], "stage");
    assert_eq!(org[&format!("{AUS}blocked-versions")], r"^4\.16\.5$");
    let mutexes: std::collections::BTreeSet<&str> = f
        .clusters
        .iter()
        .map(|c| c.labels[&format!("{AUS}mutexes")].as_str())
        .collect();
    assert_eq!(mutexes.into_iter().collect::<Vec<_>>(), ["eu", "us"]);

    // The format example of the README is a valid document.
    let example = readme
        .split("### Policy as code")
        .nth(1)
        .and_then(|r| r.split("```yaml\n").nth(1))
        .and_then(|r| r.split("```").next())
        .unwrap();
    srecap_aus::configuration::Configuration::parse("README.md", example).unwrap();
}

#[test]
fn api_failures_exit_1_naming_what_failed() {
    let env = Env::new();
    // PATCH is not retried on a 500 (OCM may have acted), so the first one fails.
    env.sim.sim.add_fault(srecap_sim::Fault {
        status: 500,
        path_prefix: Some("/api/accounts_mgmt/v1/subscriptions".into()),
        method: Some("PATCH".into()),
        organization: None,
        count: None,
        retry_after: None,
    });
    let out = env.run(&[
        "policy",
        "apply",
        "--cluster",
        CLUSTER,
        "--workload",
        "api",
        "--schedule",
        "nightly",
        "--soak-days",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("writing label sre-capabilities.aus."),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("cluster {CLUSTER}")), "{stderr}");
    assert!(stderr.contains("500"), "{stderr}");
}

#[test]
fn a_file_for_another_or_unknown_organization_is_refused() {
    let env = Env::new();
    let doc = "apiVersion: srecap/v1\nkind: AusConfiguration\norganization: org-nope\n";
    let path = env.dir.path().join("nope.yaml");
    std::fs::write(&path, doc).unwrap();
    let file = path.to_str().unwrap();
    let e = env.refused(&["apply", "-f", file]);
    assert!(e.contains("unknown organization \"org-nope\""), "{e}");
    let e = env.refused(&["apply", "-f", file, "--org", "org-data"]);
    assert!(
        e.contains("configures organization \"org-nope\", not --org \"org-data\""),
        "{e}"
    );
}

#[test]
fn tables_of_settings_and_policies() {
    let env = Env::new();
    let org = env.ok(&["org", "get", "--org", "org-payments", "-o", "table"]);
    insta::assert_snapshot!("org_get_table", org);
    let policy = env.ok(&["policy", "get", "--cluster", CLUSTER, "-o", "table"]);
    insta::assert_snapshot!("policy_get_table", policy);
    let yaml = env.ok(&[
        "org",
        "sectors",
        "get",
        "--org",
        "org-payments",
        "-o",
        "yaml",
    ]);
    insta::assert_snapshot!("org_sectors_get_yaml", yaml);
}

/// Issue 16: the configuration commands' tables (a policy, the organization's
/// settings, a label diff) fit 80 and 120 columns, and `-o wide` is accepted.
#[test]
fn configuration_tables_fit_the_columns() {
    let env = Env::new();
    let commands: [(&str, &[&str]); 3] = [
        (
            "policy_get",
            &[
                "policy",
                "get",
                "--cluster",
                "pay-prd-use1-01",
                "--org",
                "org-payments",
            ],
        ),
        ("org_get", &["org", "get", "--org", "org-payments"]),
        (
            "policy_diff",
            &[
                "policy",
                "apply",
                "--cluster",
                "pay-prd-use1-01",
                "--workload",
                "payments",
                "--schedule",
                "weekdays",
                "--soak-days",
                "5",
                "--dry-run",
                "--org",
                "org-payments",
            ],
        ),
    ];
    for (name, args) in commands {
        for (format, columns) in [("table", "80"), ("table", "120"), ("wide", "80")] {
            let mut with = args.to_vec();
            with.extend(["-o", format]);
            let out = env.cmd(&with).env("COLUMNS", columns).output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(
                out.status.success(),
                "{with:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if format == "table" {
                let limit: usize = columns.parse().unwrap();
                for line in text.lines().filter(|l| l.contains(['│', '┆'])) {
                    assert!(line.chars().count() <= limit, "{name} {columns}: {line}");
                }
            }
            let label = if format == "wide" {
                format!("{name}_wide")
            } else {
                format!("{name}_columns_{columns}")
            };
            insta::assert_snapshot!(label, text);
        }
    }
}
