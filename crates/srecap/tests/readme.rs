//! Issue 16: the README's tour, run line by line against the simulator, works
//! as written: every command exits 0 (so `aus run --once` had no refused
//! write and no failed organization), and the curl lines get the answers the
//! README implies. `curl` and `jq` come from Debian (`scripts/test`).
//!
//! The simulator of the tour (`sim serve ... --listen 127.0.0.1:8000 &`) is
//! started by the test on a free port instead, serving the same file; the
//! README's address and `/tmp` paths are rewritten to the test's.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use srecap_sim::{SimConfig, Simulator};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `sh` blocks of the README section that starts with `heading`, up to
/// the next heading of the same level, as logical lines (continuations
/// joined, comments dropped).
fn blocks(readme: &str, heading: &str, end: &str) -> Vec<Vec<String>> {
    let start = readme.find(heading).expect("README section");
    let section = &readme[start..];
    let section = &section[..section[heading.len()..]
        .find(end)
        .map_or(section.len(), |i| i + heading.len())];
    let mut out = Vec::new();
    for block in section.split("```sh\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        let mut lines = Vec::new();
        let mut current = String::new();
        for raw in body.lines() {
            let line = raw.trim_end();
            if let Some(head) = line.strip_suffix('\\') {
                current.push_str(head);
                current.push(' ');
                continue;
            }
            current.push_str(line);
            let logical = strip_comment(&current).trim().to_owned();
            if !logical.is_empty() {
                lines.push(logical);
            }
            current.clear();
        }
        out.push(lines);
    }
    out
}

/// A line without its trailing `# comment` (a `#` outside quotes that follows
/// whitespace).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// Shell words of a line (quotes removed; no expansion is needed here).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut single, mut double, mut any) = (false, false, false);
    for c in line.chars() {
        match c {
            '\'' if !double => {
                single = !single;
                any = true;
            }
            '"' if !single => {
                double = !double;
                any = true;
            }
            c if c.is_whitespace() && !single && !double => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

fn run_srecap(args: &[String], cwd: &Path, home: &Path) -> std::process::Output {
    Command::cargo_bin("srecap")
        .unwrap()
        .current_dir(cwd)
        .args(args)
        .env("HOME", home)
        .env_remove("OCM_URL")
        .env_remove("OCM_CLIENT_ID")
        .env_remove("OCM_CLIENT_SECRET")
        .env_remove("OCM_CONFIG")
        .env_remove("SRECAP_STATE")
        .env_remove("XDG_CONFIG_HOME")
        .env("CI", "true")
        .output()
        .unwrap()
}

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fleet = srecap_fleet::load_scenario(
        &repo().join("examples/fleet.yaml"),
        jiff::Timestamp::UNIX_EPOCH,
    )
    .unwrap();
    let sim = runtime
        .block_on(srecap_sim::spawn(Simulator::new(
            fleet,
            SimConfig::default(),
        )))
        .unwrap();
    let base = sim.base_url();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().display().to_string();
    // Commands run in a scratch directory that sees the repository's example
    // and fixture files where the README's relative paths expect them, so
    // that what they write (`./srecap-demo/`) stays out of the repository.
    for dir in ["examples", "tests"] {
        std::os::unix::fs::symlink(repo().join(dir), work.path().join(dir)).unwrap();
    }
    // The README's address and scratch paths, made the test's.
    let local = |line: &str| {
        line.replace("http://127.0.0.1:8000", &base)
            .replace("/tmp/", &format!("{tmp}/"))
    };
    let mut ran = 0;
    for block in blocks(&readme, "\n## A tour\n", "\n### ") {
        if block.iter().any(|l| l.contains("curl ")) {
            // One script: the token of the first line is used by the others.
            let script: Vec<String> = block
                .iter()
                .filter(|l| !l.contains(" sim serve "))
                .map(|l| local(l))
                .collect();
            let out = Command::new("sh")
                .arg("-ec")
                .arg(script.join("\n"))
                .output()
                .expect("sh");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{script:?}\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // `jq .total`: the example fleet's AUS labels, a positive count;
            // the clock call answers with the new time.
            let total: u64 = stdout
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .parse()
                .unwrap_or(0);
            assert!(total > 0, "{stdout}");
            ran += script.len();
            continue;
        }
        for line in block {
            if line.contains(" sim serve ") {
                continue; // the test's simulator stands in for it
            }
            let line = local(&line);
            let Some((_, args)) = line.split_once(" -- ") else {
                panic!("a tour line that is not `cargo run ... -- ARGS`: {line}");
            };
            let args = words(args);
            let out = run_srecap(&args, work.path(), home.path());
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(0), "{line}\n{stdout}\n{stderr}");
            assert!(!stdout.is_empty(), "{line} printed nothing");
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} tour lines found");
    // The demo and `sim run --report` wrote their reports where the README says.
    assert!(work.path().join("srecap-demo/report.html").is_file());
    assert!(work.path().join("rollout/report.html").is_file());
}

#[test]
fn comments_and_quotes_are_read_like_a_shell() {
    assert_eq!(strip_comment("a 'b # c' # d"), "a 'b # c' ");
    assert_eq!(
        words("aus plan --scenario 'x y.yaml' -o \"json\""),
        ["aus", "plan", "--scenario", "x y.yaml", "-o", "json"]
    );
}
