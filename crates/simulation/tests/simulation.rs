//! End-to-end tests of the time-travel simulation: the real reconciler over
//! HTTP against the in-process simulator, with small hand-made fleets.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use srecap_aus::planner::Faults;
use srecap_fleet::Fleet;
use srecap_simulation::summary::{LagBasis, release_lags};
use srecap_simulation::timeline::{Outcome, UpgradeKind};
use srecap_simulation::{Disturbances, Invariant, Options, Simulation, chart, simulate};

/// One organization, sectors dev -> prod, one shared mutex in prod. 4.16.1
/// is published at 02:30 on the first day.
///
/// Worked by hand (passes every hour from Monday 2026-03-02 00:00, upgrades
/// take 90 minutes):
/// * dev-1 (soak 0, hourly): the 03:00 pass is the first to see 4.16.1; the
///   slot is the first fire strictly after 03:06, 04:00, within 2 h: policy
///   created 03:00, starts 04:00, completes 05:30.
/// * soak of 4.16.1 / web: dev-1 reports it first at the 06:00 pass (adds
///   nothing), then 1/24 day per pass from 07:00. prod needs 1 day.
/// * prod (daily at 12:00, window from 10:00): on 03-02 soak is ~0.2 days;
///   on 03-03 at 10:00 it is 1.125 days and dev runs 4.16.1, so prod-1
///   (first in discovery order) is booked for 12:00, done 13:30. prod-2
///   shares mutex `shared` and waits for the next window: booked 03-04 10:00,
///   runs 12:00-13:30.
const SCENARIO: &str = r"
now: 2026-03-02T00:00:00Z
environment: production
organizations:
  - id: org-a
    name: Org A
    labels:
      sre-capabilities.aus.sector-deps.dev: ''
      sre-capabilities.aus.sector-deps.prod: dev
releases:
  - {version: 4.16.0, channel_groups: [stable], published: 2026-02-01T00:00:00Z}
  - {version: 4.16.1, channel_groups: [stable], published: 2026-03-02T02:30:00Z}
clusters:
  - name: dev-1
    organization: org-a
    version: 4.16.0
    labels:
      sre-capabilities.aus.workloads: web
      sre-capabilities.aus.soak-days: '0'
      sre-capabilities.aus.schedule: '0 * * * *'
      sre-capabilities.aus.sector: dev
  - name: prod-1
    organization: org-a
    version: 4.16.0
    labels:
      sre-capabilities.aus.workloads: web
      sre-capabilities.aus.soak-days: 'PROD_SOAK'
      sre-capabilities.aus.schedule: 'PROD_SCHEDULE'
      sre-capabilities.aus.mutexes: shared
      sre-capabilities.aus.sector: prod
  - name: prod-2
    organization: org-a
    version: 4.16.0
    labels:
      sre-capabilities.aus.workloads: web
      sre-capabilities.aus.soak-days: 'PROD_SOAK'
      sre-capabilities.aus.schedule: 'PROD_SCHEDULE'
      sre-capabilities.aus.mutexes: shared
      sre-capabilities.aus.sector: prod
";

fn scenario(prod_soak: &str, prod_schedule: &str, dev_extra: Option<(&str, &str)>) -> Fleet {
    let mut text = SCENARIO
        .replace("PROD_SOAK", prod_soak)
        .replace("PROD_SCHEDULE", prod_schedule);
    if let Some((k, v)) = dev_extra {
        text = text.replace(
            "      sre-capabilities.aus.sector: dev\n",
            &format!("      sre-capabilities.aus.sector: dev\n      {k}: '{v}'\n"),
        );
    }
    srecap_fleet::parse_scenario(&text, "test scenario", Timestamp::UNIX_EPOCH).unwrap()
}

fn base() -> Fleet {
    scenario("1", "0 12 * * *", None)
}

fn options(days: i64, faults: Faults) -> Options {
    Options {
        horizon: SignedDuration::from_hours(24 * days),
        faults,
        ..Options::default()
    }
}

fn run(fleet: Fleet, options: &Options) -> Simulation {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(simulate(fleet, options, &mut |_, _| {}))
        .unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn hand_worked_rollout_matches_exactly() {
    let sim = run(base(), &options(3, Faults::default()));
    assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
    assert!(sim.problems.is_empty(), "{:#?}", sim.problems);
    let t = &sim.timeline;
    assert_eq!(t.passes, 72);
    assert_eq!(t.end, ts("2026-03-05T00:00:00Z"));
    let got: Vec<_> = t
        .upgrades
        .iter()
        .map(|u| {
            assert_eq!(u.kind, UpgradeKind::Cluster);
            assert_eq!(u.outcome, Outcome::Completed);
            (
                u.cluster.as_str(),
                u.from_version.to_string(),
                u.to_version.to_string(),
                u.created_at,
                u.next_run,
                u.started_at,
                u.completed_at,
            )
        })
        .collect();
    let expect = |c, created, run, done| {
        (
            c,
            "4.16.0".to_owned(),
            "4.16.1".to_owned(),
            ts(created),
            Some(ts(run)),
            Some(ts(run)),
            Some(ts(done)),
        )
    };
    assert_eq!(
        got,
        vec![
            expect(
                "dev-1",
                "2026-03-02T03:00:00Z",
                "2026-03-02T04:00:00Z",
                "2026-03-02T05:30:00Z"
            ),
            expect(
                "prod-1",
                "2026-03-03T10:00:00Z",
                "2026-03-03T12:00:00Z",
                "2026-03-03T13:30:00Z"
            ),
            expect(
                "prod-2",
                "2026-03-04T10:00:00Z",
                "2026-03-04T12:00:00Z",
                "2026-03-04T13:30:00Z"
            ),
        ]
    );
    assert!(
        t.clusters
            .iter()
            .all(|c| c.final_version.to_string() == "4.16.1")
    );
    let rollouts = srecap_simulation::summary::sector_rollouts(t);
    let prod = rollouts
        .iter()
        .find(|r| r.sector.as_deref() == Some("prod"))
        .unwrap();
    assert_eq!((prod.reached, prod.clusters), (2, 2));
    assert_eq!(prod.first, Some(ts("2026-03-03T13:30:00Z")));
    assert_eq!(prod.last, Some(ts("2026-03-04T13:30:00Z")));
    // prod's lag behind dev, the sector it depends on: first dev cluster at
    // 03-02 05:30, first prod cluster at 03-03 13:30.
    let lags = release_lags(t);
    let lag = |sector: &str| {
        lags.iter()
            .find(|l| l.rollout.sector.as_deref() == Some(sector))
            .unwrap()
    };
    assert_eq!(lag("dev").behind, None);
    assert_eq!(
        lag("prod").behind,
        Some(("dev".to_owned(), LagBasis::Dependency))
    );
    assert_eq!(lag("prod").lag_days, Some(32.0 / 24.0));
    // Everyone reached the newest version: nobody is left behind.
    assert!(t.clusters.iter().all(|c| c.left_behind.is_none()));
}

/// After one day prod has not soaked enough: the report says so, in the
/// explainer's words, for both prod clusters and neither dev one.
#[test]
fn clusters_left_behind_carry_the_explainers_reason() {
    let sim = run(base(), &options(1, Faults::default()));
    let t = &sim.timeline;
    let behind = |name: &str| {
        t.clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .left_behind
            .clone()
    };
    assert_eq!(behind("dev-1"), None);
    for prod in ["prod-1", "prod-2"] {
        let l = behind(prod).unwrap_or_else(|| panic!("{prod} is not left behind"));
        assert_eq!(l.newest_offered.to_string(), "4.16.1");
        // At midnight prod is outside its noon window; inside it, the
        // soak would still hold 4.16.1 back.
        assert_eq!(l.verdict, "outside-schedule", "{l:#?}");
        assert_eq!(l.held_by, "soak-days", "{l:#?}");
        assert_eq!(l.failing.len(), 2, "{l:#?}");
        assert!(l.failing[0].starts_with("outside-schedule: "), "{l:#?}");
        assert!(!l.estimate.is_empty());
    }
    let page = chart::html(t, &sim.violations).unwrap();
    assert!(page.contains(r#"<table id="left-behind">"#), "{page}");
    assert!(page.contains("<b>soak-days</b> 2"), "{page}");
}

/// Run with one planner fault and return the invariants the auditor flagged.
fn flagged(fleet: Fleet, days: i64, faults: Faults) -> BTreeSet<Invariant> {
    let sim = run(fleet, &options(days, faults));
    sim.violations.iter().map(|v| v.invariant).collect()
}

#[test]
fn auditor_catches_ignored_blocked_versions() {
    let fleet = || {
        scenario(
            "1",
            "0 12 * * *",
            Some(("sre-capabilities.aus.blocked-versions", r"^4\.16\.1$")),
        )
    };
    assert_eq!(flagged(fleet(), 1, Faults::default()), BTreeSet::new());
    let faults = Faults {
        ignore_blocked_versions: true,
        ..Faults::default()
    };
    assert_eq!(
        flagged(fleet(), 1, faults),
        BTreeSet::from([Invariant::BlockedVersion])
    );
}

#[test]
fn auditor_catches_ignored_soak_days() {
    let faults = Faults {
        ignore_soak_days: true,
        ..Faults::default()
    };
    // prod is booked at the first noon window, with ~0.2 of 1 soak day.
    assert_eq!(
        flagged(base(), 1, faults),
        BTreeSet::from([Invariant::SoakDays])
    );
}

#[test]
fn auditor_catches_ignored_schedule() {
    let faults = Faults {
        ignore_schedule: true,
        ..Faults::default()
    };
    // dev-1 is booked for 03:06, which its hourly schedule never fires at.
    assert_eq!(
        flagged(base(), 1, faults),
        BTreeSet::from([Invariant::Schedule])
    );
}

#[test]
fn auditor_catches_ignored_mutexes() {
    let faults = Faults {
        ignore_mutexes: true,
        ..Faults::default()
    };
    // prod-1 and prod-2 share `shared` but are booked in the same pass.
    assert_eq!(
        flagged(base(), 2, faults),
        BTreeSet::from([Invariant::Mutex])
    );
}

#[test]
fn auditor_catches_ignored_sector_dependencies() {
    // Hourly prod without soak: only the sector rule keeps prod behind dev.
    let fleet = || scenario("0", "0 * * * *", None);
    assert_eq!(flagged(fleet(), 1, Faults::default()), BTreeSet::new());
    let faults = Faults {
        ignore_sector_dependencies: true,
        ..Faults::default()
    };
    assert_eq!(
        flagged(fleet(), 1, faults),
        BTreeSet::from([Invariant::SectorDependency])
    );
}

#[test]
fn same_seed_same_timeline_and_disturbances_act() {
    let opts = |seed| Options {
        horizon: SignedDuration::from_hours(24 * 3),
        seed,
        disturbances: Disturbances {
            duration_spread: 0.5,
            failure_rate: 0.3,
            unhealthy_rate: 0.5,
        },
        ..Options::default()
    };
    let a = run(base(), &opts(7));
    let b = run(base(), &opts(7));
    assert_eq!(a.timeline, b.timeline);
    assert_eq!(a.violations, b.violations);
    // The spread is in effect: some upgrade did not take exactly 90 minutes.
    let plain = SignedDuration::from_mins(90);
    assert!(
        a.timeline
            .upgrades
            .iter()
            .any(|u| match (u.started_at, u.completed_at.or(u.failed_at)) {
                (Some(s), Some(e)) => e.duration_since(s) != plain,
                _ => false,
            }),
        "{:#?}",
        a.timeline.upgrades
    );
    assert!(a.violations.is_empty(), "{:#?}", a.violations);
}

/// Run chromium headless on `args`, killed after a minute; its standard
/// output (a file: a dumped DOM outgrows a pipe's buffer). Chromium must be
/// installed (`scripts/test` installs it): a missing browser fails the test.
fn chromium(args: &[&str], profile: &Path) -> String {
    let out_path = profile.join("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .expect("/usr/bin/chromium must be installed (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if child.try_wait().unwrap().is_some() {
            return std::fs::read_to_string(&out_path).unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn report_renders_its_chart_in_headless_chromium() {
    let sim = run(base(), &options(3, Faults::default()));
    let dir = tempfile::tempdir().unwrap();
    chart::write_report(dir.path(), &sim.timeline, &sim.violations).unwrap();
    let timeline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("timeline.json")).unwrap())
            .unwrap();
    assert_eq!(timeline["upgrades"].as_array().unwrap().len(), 3);
    let page = format!("file://{}", dir.path().join("report.html").display());

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&["--dump-dom", &page], profile.path());
    // One chart per organization and sector, each with one line per cluster
    // (and its hover title) and its legend.
    assert_eq!(dom.matches("<svg").count(), 2, "{dom}");
    for name in [
        "org-a · sector dev · 1 cluster<",
        "org-a · sector prod · 2 clusters",
    ] {
        assert!(dom.contains(name), "{name} missing");
    }
    assert_eq!(dom.matches(r#"<g class="cluster""#).count(), 3, "{dom}");
    assert!(dom.contains("<title>prod-1: 4.16.0 → 4.16.1 on 2026-03-03 13:30Z</title>"));
    assert_eq!(dom.matches(r#"<ul class="legend">"#).count(), 2);
    assert!(dom.contains(r#"class="x-date""#) && dom.contains(">2026-03-03</text>"));
    assert!(dom.contains(r#"<table id="release-lag">"#));

    // Non-blank: the screenshot of the report compresses far worse than that
    // of an empty page of the same size.
    let shot = dir.path().join("report.png");
    let blank_html = dir.path().join("blank.html");
    std::fs::write(&blank_html, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank = dir.path().join("blank.png");
    for (png, html) in [
        (&shot, dir.path().join("report.html")),
        (&blank, blank_html),
    ] {
        let profile = tempfile::tempdir().unwrap();
        chromium(
            &[
                "--window-size=1200,900",
                &format!("--screenshot={}", png.display()),
                &format!("file://{}", html.display()),
            ],
            profile.path(),
        );
    }
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    assert!(size(&blank) > 0, "chromium wrote no screenshot");
    assert!(
        size(&shot) > 8 * size(&blank),
        "report screenshot {} bytes vs blank {} bytes",
        size(&shot),
        size(&blank)
    );
}

#[test]
fn failed_upgrades_have_their_own_section_in_the_report() {
    let opts = Options {
        disturbances: Disturbances {
            failure_rate: 1.0,
            ..Disturbances::default()
        },
        ..options(1, Faults::default())
    };
    let sim = run(base(), &opts);
    let failed: Vec<_> = sim
        .timeline
        .upgrades
        .iter()
        .filter(|u| u.outcome == Outcome::Failed)
        .collect();
    assert!(!failed.is_empty(), "{:#?}", sim.timeline.upgrades);
    let page = chart::html(&sim.timeline, &sim.violations).unwrap();
    let section = &page[page.find(r#"<table id="failed">"#).expect("failed table")..];
    let u = failed[0];
    let row = format!(
        "<tr><td>{}</td><td>org-a</td><td>dev</td><td>cluster</td><td>4.16.0 → 4.16.1</td>",
        u.cluster
    );
    assert!(section.contains(&row), "{section}");
    let when = u.failed_at.unwrap().strftime("%Y-%m-%d %H:%MZ").to_string();
    assert!(section.contains(&when), "{section}");
    // The failure is marked on the chart too, with its hover title.
    assert!(page.contains(&format!("{}: 4.16.0 → 4.16.1 failed on {when}", u.cluster)));
}
