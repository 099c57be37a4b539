//! `report.html`: what an SRE reads after a simulation. One chart per
//! organization and sector (each cluster's version over time, dates on the x
//! axis, release publications marked, a legend, a hover title on every line
//! and upgrade), then the release lag table, the failed upgrades and the
//! clusters left behind with the reason `srecap aus explain` gives.
//!
//! The charts are SVG written by hand, not drawn by a plotting library:
//! they are step lines and a few labels, and only hand-written SVG can carry
//! the `<title>` elements browsers show on hover. The page is self-contained
//! (no network): it embeds `DejaVu Sans`, committed in `assets/` (licence
//! alongside), as a base64 `@font-face`, so every machine draws the text with
//! the same glyphs. Every instant is printed in UTC with its zone (`Z`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use jiff::{SignedDuration, Timestamp, ToSpan as _};
use semver::Version;

use crate::auditor::Violation;
use crate::error::SimulationError;
use crate::summary::{LagBasis, ReleaseLag, release_lags};
use crate::timeline::{ClusterEntry, Outcome, Timeline};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "DejaVu Sans";
/// Chart geometry, in SVG user units (pixels at 100 % zoom). The legend is
/// HTML beside the chart, so the chart's width does not depend on names.
const WIDTH: f64 = 860.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;
/// Vertical space per version on the y axis.
const LEVEL: f64 = 26.0;
/// Ten colours that stay apart on white (Tableau 10), then two more; a
/// sector with more clusters repeats them with a dashed line.
const PALETTE: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];

/// An instant as the report prints it: UTC, to the minute, zone shown.
fn minute(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%MZ").to_string()
}

fn minute_or_dash(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "–".to_owned(), minute)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Organizations, and each one's sectors (`None`: clusters without one), in
/// order of first appearance, so dev comes before prod as scenarios list them.
fn panels(t: &Timeline) -> Vec<(&str, Vec<Option<&str>>)> {
    let mut out: Vec<(&str, Vec<Option<&str>>)> = Vec::new();
    for c in &t.clusters {
        let sector = c.sector.as_deref();
        match out.iter_mut().find(|(o, _)| *o == c.organization) {
            Some((_, sectors)) if sectors.contains(&sector) => {}
            Some((_, sectors)) => sectors.push(sector),
            None => out.push((&c.organization, vec![sector])),
        }
    }
    out
}

/// The x axis: simulated time to pixels, and the dates to label it with.
struct TimeAxis {
    start: Timestamp,
    seconds: f64,
    plot_width: f64,
}

impl TimeAxis {
    fn new(t: &Timeline) -> TimeAxis {
        TimeAxis {
            start: t.start,
            seconds: t.end.duration_since(t.start).as_secs_f64().max(60.0),
            plot_width: WIDTH - LEFT - RIGHT,
        }
    }

    fn x(&self, at: Timestamp) -> f64 {
        let s = at.duration_since(self.start).as_secs_f64();
        LEFT + (s / self.seconds).clamp(0.0, 1.0) * self.plot_width
    }

    fn contains(&self, at: Timestamp) -> bool {
        let s = at.duration_since(self.start).as_secs_f64();
        (0.0..=self.seconds).contains(&s)
    }

    /// UTC midnights inside the period, at most about eight of them, so the
    /// labels (`2026-11-21`, about 75 px) never touch.
    fn ticks(&self) -> Vec<Timestamp> {
        let days = self.seconds / 86_400.0;
        let step = [1_i64, 2, 7, 14, 28, 56, 91, 182, 364]
            .into_iter()
            .find(|s| days / *s as f64 <= 8.0)
            .unwrap_or(728);
        let Ok(first) = self
            .start
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .to_zoned(jiff::tz::TimeZone::UTC)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut day = first;
        // Weekly steps start on a Monday: the week's rhythm of schedules shows.
        if step % 7 == 0 {
            while day.weekday() != jiff::civil::Weekday::Monday {
                let Ok(next) = day.checked_add(1.day()) else {
                    return out;
                };
                day = next;
            }
        }
        while day.timestamp() <= self.start + SignedDuration::from_secs_f64(self.seconds) {
            if day.timestamp() >= self.start {
                out.push(day.timestamp());
            }
            let Ok(next) = day.checked_add(step.days()) else {
                break;
            };
            day = next;
        }
        out
    }
}

/// One organization's sector: its clusters' step lines, the releases and
/// the failures, as an SVG element with `<title>`s to hover; and the legend.
fn panel(t: &Timeline, axis: &TimeAxis, org: &str, sector: Option<&str>) -> (String, String) {
    let members: Vec<&ClusterEntry> = t
        .clusters
        .iter()
        .filter(|c| c.organization == org && c.sector.as_deref() == sector)
        .collect();
    let paths: Vec<Vec<(Timestamp, Version)>> =
        members.iter().map(|c| t.versions_of(&c.name)).collect();
    let failed: Vec<_> = t
        .upgrades
        .iter()
        .filter(|u| u.organization == org && u.sector.as_deref() == sector)
        .filter_map(|u| u.failed_at.map(|at| (u, at)))
        .collect();
    // The versions this panel's clusters ran, oldest at the bottom.
    let mut versions: Vec<&Version> = paths.iter().flatten().map(|(_, v)| v).collect();
    versions.extend(failed.iter().map(|(u, _)| &u.from_version));
    versions.sort();
    versions.dedup();
    let level: BTreeMap<&Version, usize> =
        versions.iter().enumerate().map(|(i, v)| (*v, i)).collect();
    let plot_height = LEVEL * versions.len().max(1) as f64;
    let height = TOP + plot_height + BOTTOM;
    let bottom = TOP + plot_height;
    // Level 0 in the middle of the lowest band.
    let y = |v: &Version, offset: f64| bottom - (level[v] as f64 + 0.5 + offset) * LEVEL;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FAMILY}" font-size="11">"#
    );
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{w}" height="{plot_height}" fill="#fafafa" stroke="#bbb"/>"##,
        w = axis.plot_width
    );
    // Dates: a light grid line and a label at each tick.
    for tick in axis.ticks() {
        let x = axis.x(tick);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#e4e4e4"/><text class="x-date" x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="#444">{d}</text>"##,
            ty = bottom + 16.0,
            d = tick.strftime("%Y-%m-%d"),
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="#666">date (UTC)</text>"##,
        x = LEFT + axis.plot_width / 2.0,
        ty = bottom + 34.0
    );
    for v in &versions {
        let _ = write!(
            svg,
            r##"<text class="y-version" x="{x:.1}" y="{ty:.1}" text-anchor="end" fill="#444">{v}</text>"##,
            x = LEFT - 6.0,
            ty = y(v, 0.0) + 4.0
        );
    }
    // Releases: a grey line at each publication inside the period, labelled
    // with the versions this panel knows; every version in the hover title.
    let mut published: BTreeMap<Timestamp, Vec<&Version>> = BTreeMap::new();
    for r in &t.releases {
        if axis.contains(r.published) {
            published.entry(r.published).or_default().push(&r.version);
        }
    }
    for (at, names) in &published {
        let x = axis.x(*at);
        let all = names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let here = names
            .iter()
            .filter(|v| level.contains_key(**v))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            svg,
            r##"<g class="release"><title>released {all} on {when}</title><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#999" stroke-dasharray="3 3"/><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="transparent" stroke-width="8"/><text x="{tx:.1}" y="{ty:.1}" fill="#777" font-size="10">{here}</text></g>"##,
            when = minute(*at),
            tx = x + 2.0,
            ty = TOP - 6.0,
        );
    }
    let mut legend = String::new();
    for (i, (c, path)) in members.iter().zip(&paths).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let dash = if i < PALETTE.len() {
            ""
        } else {
            r#" stroke-dasharray="6 3""#
        };
        // Clusters on one version sit a little apart, so each line shows.
        let offset = if members.len() > 1 {
            (i as f64 / (members.len() - 1) as f64 - 0.5) * 0.5
        } else {
            0.0
        };
        let mut d = String::new();
        let mut hops = Vec::new();
        for (k, (at, v)) in path.iter().enumerate() {
            let x = axis.x(*at);
            if k == 0 {
                let _ = write!(d, "M{x:.1},{:.1}", y(v, offset));
            } else {
                let _ = write!(d, " H{x:.1} V{:.1}", y(v, offset));
                hops.push(format!("{} → {v} on {}", path[k - 1].1, minute(*at)));
            }
        }
        let _ = write!(d, " H{:.1}", LEFT + axis.plot_width);
        let title = if hops.is_empty() {
            format!("{}: stayed on {}", c.name, c.initial_version)
        } else {
            format!("{}: {}", c.name, hops.join("; "))
        };
        let _ = write!(
            svg,
            r#"<g class="cluster" data-cluster="{name}"><title>{title}</title><path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash}/><path d="{d}" fill="none" stroke="transparent" stroke-width="9"/>"#,
            name = escape(&c.name),
            title = escape(&title),
        );
        for (k, (at, v)) in path.iter().enumerate().skip(1) {
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{cy:.1}" r="3.5" fill="{colour}"><title>{name}: {from} → {v} on {when}</title></circle>"#,
                x = axis.x(*at),
                cy = y(v, offset),
                name = escape(&c.name),
                from = path[k - 1].1,
                when = minute(*at),
            );
        }
        for (u, at) in failed.iter().filter(|(u, _)| u.cluster == c.name) {
            let (x, cy) = (axis.x(*at), y(&u.from_version, offset));
            let _ = write!(
                svg,
                r##"<g class="failure"><title>{name}: {from} → {to} failed on {when}</title><path d="M{x0:.1},{y0:.1} L{x1:.1},{y1:.1} M{x0:.1},{y1:.1} L{x1:.1},{y0:.1}" stroke="#c00" stroke-width="2.5"/></g>"##,
                name = escape(&c.name),
                from = u.from_version,
                to = u.to_version,
                when = minute(*at),
                x0 = x - 5.0,
                x1 = x + 5.0,
                y0 = cy - 5.0,
                y1 = cy + 5.0,
            );
        }
        svg.push_str("</g>");
        let style = if dash.is_empty() {
            format!("background:{colour}")
        } else {
            format!(
                "background:repeating-linear-gradient(90deg,{colour} 0 6px,transparent 6px 9px)"
            )
        };
        let _ = write!(
            legend,
            r#"<li><span class="swatch" style="{style}"></span>{name} <span class="dim">{from} → {to}</span></li>"#,
            name = escape(&c.name),
            from = c.initial_version,
            to = c.final_version,
        );
    }
    svg.push_str("</svg>");
    legend.push_str(
        r#"<li class="key"><span class="swatch release-key"></span>release published</li>"#,
    );
    if !failed.is_empty() {
        legend.push_str(r#"<li class="key"><span class="cross">✕</span>upgrade failed</li>"#);
    }
    (svg, legend)
}

/// The charts, one per organization and sector.
fn charts(t: &Timeline) -> String {
    let axis = TimeAxis::new(t);
    let mut out = String::new();
    for (org, sectors) in panels(t) {
        let _ = write!(out, r#"<h3 class="org">organization {}</h3>"#, escape(org));
        for sector in sectors {
            let n = t
                .clusters
                .iter()
                .filter(|c| c.organization == org && c.sector.as_deref() == sector)
                .count();
            let (svg, legend) = panel(t, &axis, org, sector);
            let _ = writeln!(
                out,
                r#"<figure class="panel"><figcaption>{org} · sector {sector} · {n} cluster{s}</figcaption><div class="panel-body">{svg}<ul class="legend">{legend}</ul></div></figure>"#,
                org = escape(org),
                sector = escape(sector.unwrap_or("(none)")),
                s = if n == 1 { "" } else { "s" },
            );
        }
    }
    out
}

fn lag_row(out: &mut String, l: &ReleaseLag) {
    let r = &l.rollout;
    let behind = l.behind.as_ref().map_or_else(
        || "–".to_owned(),
        |(s, basis)| {
            let why = match basis {
                LagBasis::Dependency => "depends on",
                LagBasis::Order => "after",
            };
            format!("{why} {}", escape(s))
        },
    );
    let lag = l
        .lag_days
        .map_or_else(|| "–".to_owned(), |d| format!("{d:.1}"));
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
        escape(&r.organization),
        r.version,
        escape(r.sector.as_deref().unwrap_or("(none)")),
        minute_or_dash(r.published),
        minute_or_dash(r.first),
        minute_or_dash(r.last),
        r.reached,
        r.clusters,
        behind,
        lag
    );
}

fn failed_section(t: &Timeline) -> String {
    let failed: Vec<_> = t
        .upgrades
        .iter()
        .filter(|u| u.outcome == Outcome::Failed)
        .collect();
    if failed.is_empty() {
        return r#"<p id="failed" class="ok">No upgrade failed.</p>"#.to_owned();
    }
    let mut rows = String::new();
    for u in failed {
        let what = match &u.node_pool {
            Some(np) => format!("node pool {}", escape(np)),
            None => "cluster".to_owned(),
        };
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            escape(&u.cluster),
            escape(&u.organization),
            escape(u.sector.as_deref().unwrap_or("(none)")),
            what,
            u.from_version,
            u.to_version,
            minute_or_dash(u.started_at),
            minute_or_dash(u.failed_at),
        );
    }
    format!(
        r#"<table id="failed"><thead><tr><th>cluster</th><th>organization</th><th>sector</th><th>upgrade of</th><th>from → to</th><th>started</th><th>failed</th></tr></thead>
<tbody>
{rows}</tbody></table>"#
    )
}

fn left_behind_section(t: &Timeline) -> String {
    let behind: Vec<_> = t
        .clusters
        .iter()
        .filter_map(|c| c.left_behind.as_ref().map(|l| (c, l)))
        .collect();
    if behind.is_empty() {
        return r#"<p id="left-behind" class="ok">Every cluster ends on the newest version OCM offers it.</p>"#.to_owned();
    }
    // The reasons at a glance, most common first: the answer to "why did
    // prod not move" is usually one or two of them.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, l) in &behind {
        *counts.entry(l.held_by.as_str()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let glance = counts
        .iter()
        .map(|(r, n)| format!("<b>{}</b> {n}", escape(r)))
        .collect::<Vec<_>>()
        .join(", ");
    let n = behind.len();
    let mut rows = String::new();
    for (c, l) in behind {
        let failing = if l.failing.is_empty() {
            escape(&l.detail)
        } else {
            let mut items = String::from("<ul>");
            for f in &l.failing {
                let _ = write!(items, "<li>{}</li>", escape(f));
            }
            items.push_str("</ul>");
            items
        };
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td class=\"why\">{}</td><td class=\"why\">{}</td></tr>",
            escape(&c.name),
            escape(&c.organization),
            escape(c.sector.as_deref().unwrap_or("(none)")),
            c.final_version,
            l.newest_offered,
            escape(&l.held_by),
            failing,
            escape(&l.estimate),
        );
    }
    format!(
        r#"<p>{n} cluster{s} end below the newest version OCM offers {them}. Held back by: {glance}.</p>
<table id="left-behind"><caption>What <code>srecap aus explain</code> says about each of them at {end}, the end of the simulation: every condition that fails then, in the planner's order. "Held back by" is the first of them other than the schedule, since a maintenance window closed at that instant says nothing about the days before; <b>unhealthy</b> when it is the cluster's own policy that waits, since OCM delays an unhealthy cluster's upgrade until it is healthy again.</caption>
<thead><tr><th>cluster</th><th>organization</th><th>sector</th><th>runs</th><th>newest offered</th><th>held back by</th><th>failing conditions at the end</th><th>next upgrade (estimate)</th></tr></thead>
<tbody>
{rows}</tbody></table>"#,
        s = if n == 1 { "" } else { "s" },
        them = if n == 1 { "it" } else { "them" },
        end = minute(t.end)
    )
}

/// The whole page.
pub fn html(t: &Timeline, violations: &[Violation]) -> Result<String, SimulationError> {
    let font = base64::engine::general_purpose::STANDARD.encode(FONT);
    let completed = t.completed().count();
    let failed = t
        .upgrades
        .iter()
        .filter(|u| u.outcome == Outcome::Failed)
        .count();
    let mut lags = String::new();
    for l in release_lags(t) {
        lag_row(&mut lags, &l);
    }
    let mut problems = String::new();
    if violations.is_empty() {
        problems.push_str("<p class=\"ok\">The auditor found no violation of AUS's promises.</p>");
    } else {
        let _ = write!(
            problems,
            "<p class=\"bad\">The auditor found {} violation(s):</p><ul>",
            violations.len()
        );
        for v in violations {
            let _ = write!(problems, "<li>{}</li>", escape(&v.to_string()));
        }
        problems.push_str("</ul>");
    }
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>srecap rollout simulation</title>
<style>
@font-face {{ font-family: "{FAMILY}"; src: url(data:font/ttf;base64,{font}) format("truetype"); }}
body {{ font-family: "{FAMILY}"; margin: 1.5em; color: #222; font-size: 14px; }}
h3.org {{ margin: 1.5em 0 0.2em; }}
figure.panel {{ margin: 0.4em 0 1em; }}
figure.panel figcaption {{ font-weight: bold; margin-bottom: 0.2em; }}
.panel-body {{ display: flex; gap: 0.8em; align-items: flex-start; }}
svg.chart {{ flex: none; }}
svg.chart g.cluster:hover path:first-of-type {{ stroke-width: 4; }}
ul.legend {{ list-style: none; margin: 0; padding: 0; font-size: 12px; }}
ul.legend li {{ margin: 0 0 0.25em; white-space: nowrap; }}
.swatch {{ display: inline-block; width: 1.6em; height: 0.35em; vertical-align: middle; margin-right: 0.4em; }}
.release-key {{ background: repeating-linear-gradient(90deg, #999 0 3px, transparent 3px 6px); }}
.cross {{ color: #c00; display: inline-block; width: 1.6em; margin-right: 0.4em; text-align: center; }}
.dim {{ color: #777; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
caption {{ text-align: left; caption-side: top; color: #555; padding-bottom: 0.3em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; font-size: 12px; }}
td.num {{ text-align: right; }}
td.why {{ max-width: 28em; }}
td.why ul {{ margin: 0; padding-left: 1.1em; }}
.ok {{ color: #2a7a2a; }} .bad {{ color: #b02020; font-weight: bold; }}
</style>
</head>
<body>
<h1>Rollout simulation</h1>
<p>From {start} to {end} (all times UTC): {passes} reconciler passes every {tick} min, {created} upgrade policies created, {completed} upgrades completed, {failed} failed, {releases} releases in the catalog.</p>
{problems}
<h2 id="charts">Versions over time, by organization and sector</h2>
<p class="dim">Each line is one cluster's control-plane version; a dot is a completed upgrade, a red cross a failed one, a dashed grey line a release publication. Hover a line, dot or release line for names, versions and times.</p>
{charts}
<h2>Release lag</h2>
<table id="release-lag">
<caption>Per organization, release and sector: when the release was published and reached the sector's first and last cluster (– : not within the simulation). Lag: days from the release reaching the first cluster of the sector compared with (the sector it depends on by its <code>sector-deps</code> label, the later of several; or, in an organization without those labels, the sector before it in order of first appearance) to it reaching the first cluster of this one.</caption>
<thead><tr><th>organization</th><th>version</th><th>sector</th><th>published</th><th>first cluster</th><th>last cluster</th><th>reached</th><th>compared with</th><th>lag (days)</th></tr></thead>
<tbody>
{lags}</tbody>
</table>
<h2>Failed upgrades</h2>
{failed_section}
<h2>Clusters left behind</h2>
{left_behind}
</body>
</html>
"#,
        start = minute(t.start),
        end = minute(t.end),
        passes = t.passes,
        tick = t.tick_seconds / 60,
        created = t.upgrades.len(),
        releases = t.releases.len(),
        charts = charts(t),
        failed_section = failed_section(t),
        left_behind = left_behind_section(t),
    ))
}

/// Check, before a simulation of minutes, that its report can be written into
/// `dir`: create it if needed and write and remove a probe file.
pub fn check_writable(dir: &std::path::Path) -> Result<(), SimulationError> {
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| SimulationError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let probe = dir.join(".srecap-write-check.tmp");
    std::fs::write(&probe, b"").map_err(io(&probe))?;
    std::fs::remove_file(&probe).map_err(io(&probe))
}

/// Write `timeline.json` and `report.html` into `dir` (created if needed).
/// Each file is written whole to a temporary name and renamed, so a reader
/// never sees half a report.
pub fn write_report(
    dir: &std::path::Path,
    t: &Timeline,
    violations: &[Violation],
) -> Result<(), SimulationError> {
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| SimulationError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // The timeline with the auditor's findings alongside, one document.
    let mut doc = serde_json::to_value(t).map_err(|e| SimulationError::Chart(e.to_string()))?;
    if let Some(map) = doc.as_object_mut() {
        map.insert(
            "violations".to_owned(),
            serde_json::to_value(violations).map_err(|e| SimulationError::Chart(e.to_string()))?,
        );
    }
    let json =
        serde_json::to_string_pretty(&doc).map_err(|e| SimulationError::Chart(e.to_string()))?;
    let page = html(t, violations)?;
    for (name, body) in [("timeline.json", json), ("report.html", page)] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, body).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
    }
    Ok(())
}
