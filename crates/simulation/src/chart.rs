//! `report.html`: each cluster's version over time, one panel per sector,
//! release dates marked, drawn as SVG by plotters.
//!
//! Text is measured with `ab_glyph` on `DejaVu Sans`, committed in `assets/`
//! (licence alongside), never a system font, so the layout is the same on
//! every machine; the page embeds the same font as a base64 `@font-face`, so a
//! browser draws the text with the glyphs it was measured with.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Once;

use base64::Engine as _;
use jiff::Timestamp;
use plotters::prelude::*;
use plotters::style::FontStyle;
use semver::Version;

use crate::auditor::Violation;
use crate::error::SimulationError;
use crate::summary::{SectorRollout, sector_rollouts};
use crate::timeline::Timeline;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "DejaVu Sans";
const WIDTH: u32 = 1100;
const PANEL_HEIGHT: u32 = 300;
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn register_font() -> Result<(), SimulationError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| SimulationError::Chart("the embedded DejaVu Sans is unreadable".into()));
    });
    result
}

fn days(t: &Timeline, at: Timestamp) -> f64 {
    at.duration_since(t.start).as_secs_f64() / 86_400.0
}

/// Sector panels in order of first appearance (`(none)` for clusters
/// without a sector).
fn panels(t: &Timeline) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &t.clusters {
        let s = c.sector.clone().unwrap_or_else(|| "(none)".to_owned());
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The chart alone, as an SVG document.
pub fn svg(t: &Timeline) -> Result<String, SimulationError> {
    register_font()?;
    let err = |e: &dyn std::fmt::Display| SimulationError::Chart(e.to_string());
    // Every version any cluster ran, in order: the y axis.
    let mut versions: Vec<Version> = t
        .clusters
        .iter()
        .flat_map(|c| t.versions_of(&c.name).into_iter().map(|(_, v)| v))
        .collect();
    versions.sort();
    versions.dedup();
    let level: BTreeMap<&Version, usize> =
        versions.iter().enumerate().map(|(i, v)| (v, i)).collect();
    let end = days(t, t.end).max(1.0);
    let sectors = panels(t);
    let height = PANEL_HEIGHT * u32::try_from(sectors.len().max(1)).unwrap_or(1);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let areas = root.split_evenly((sectors.len().max(1), 1));
        for (area, sector) in areas.iter().zip(&sectors) {
            let members: Vec<_> = t
                .clusters
                .iter()
                .filter(|c| c.sector.as_deref().unwrap_or("(none)") == sector)
                .collect();
            let top = versions.len().saturating_sub(1).max(1);
            #[allow(clippy::cast_precision_loss)]
            let y_range = -0.5..(top as f64 + 0.5);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("sector {sector}: {} clusters", members.len()),
                    (FAMILY, 16),
                )
                .margin(8)
                .x_label_area_size(32)
                .y_label_area_size(80)
                .build_cartesian_2d(0.0..end, y_range)
                .map_err(|e| err(&e))?;
            let labels = versions.clone();
            chart
                .configure_mesh()
                .x_desc("simulated day")
                .y_labels(versions.len().min(20))
                .y_label_formatter(&|y| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let i = y.round().max(0.0) as usize;
                    if (y - y.round()).abs() < 1e-6 {
                        labels.get(i).map(ToString::to_string).unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .label_style((FAMILY, 12))
                .axis_desc_style((FAMILY, 12))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| err(&e))?;
            // Releases: a vertical line at each publication inside the period,
            // labelled once with every version published at that instant.
            let mut published: BTreeMap<Timestamp, Vec<String>> = BTreeMap::new();
            for r in &t.releases {
                published
                    .entry(r.published)
                    .or_default()
                    .push(r.version.to_string());
            }
            for (at, names) in &published {
                let x = days(t, *at);
                if !(0.0..=end).contains(&x) {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(
                        [(x, -0.5), (x, top as f64 + 0.5)],
                        RGBColor(170, 170, 170).stroke_width(1),
                    ))
                    .map_err(|e| err(&e))?
                    .label(format!("release {}", names.join(", ")));
                chart
                    .draw_series(std::iter::once(Text::new(
                        names.join(" "),
                        (x, top as f64 + 0.3),
                        (FAMILY, 10).into_font().color(&RGBColor(120, 120, 120)),
                    )))
                    .map_err(|e| err(&e))?;
            }
            for (i, c) in members.iter().enumerate() {
                let path = t.versions_of(&c.name);
                // A step line: hold each version until the next upgrade ends.
                let mut points = Vec::new();
                // Spread clusters on one version a little, so lines stay apart.
                #[allow(clippy::cast_precision_loss)]
                let offset = (i as f64 / members.len().max(1) as f64 - 0.5) * 0.3;
                for (k, (at, v)) in path.iter().enumerate() {
                    let y = level[v] as f64 + offset;
                    let x = days(t, *at);
                    if k > 0 {
                        let prev = level[&path[k - 1].1] as f64 + offset;
                        points.push((x, prev));
                    }
                    points.push((x, y));
                }
                if let Some(&(_, y)) = points.last() {
                    points.push((end, y));
                }
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(c.name.clone());
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn date(t: Option<Timestamp>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| t.strftime("%Y-%m-%d %H:%M").to_string(),
    )
}

/// The whole page: summary, the chart, the sector table and any violation.
pub fn html(t: &Timeline, violations: &[Violation]) -> Result<String, SimulationError> {
    let chart = svg(t)?;
    // The SVG's XML prologue is not allowed inside HTML.
    let chart = chart
        .find("<svg")
        .map_or(chart.as_str(), |i| &chart[i..])
        .to_owned();
    let font = base64::engine::general_purpose::STANDARD.encode(FONT);
    let completed = t.completed().count();
    let mut rows = String::new();
    for r in sector_rollouts(t) {
        rollout_row(&mut rows, &r);
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
body {{ font-family: "{FAMILY}"; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }}
.ok {{ color: #2a7a2a; }} .bad {{ color: #b02020; font-weight: bold; }}
</style>
</head>
<body>
<h1>Rollout simulation</h1>
<p>From {start} to {end}: {passes} reconciler passes every {tick} min, {created} upgrade policies created, {completed} upgrades completed, {releases} releases in the catalog.</p>
{problems}
<h2>Versions over time, by sector</h2>
<figure id="chart">
{chart}
<figcaption>Each line is one cluster's control-plane version; grey vertical lines mark release publications.</figcaption>
</figure>
<h2>Releases per sector</h2>
<table id="rollouts">
<thead><tr><th>organization</th><th>sector</th><th>version</th><th>published</th><th>first cluster</th><th>last cluster</th><th>reached</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
</body>
</html>
"#,
        start = date(Some(t.start)),
        end = date(Some(t.end)),
        passes = t.passes,
        tick = t.tick_seconds / 60,
        created = t.upgrades.len(),
        releases = t.releases.len(),
    ))
}

fn rollout_row(out: &mut String, r: &SectorRollout) {
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td></tr>",
        escape(&r.organization),
        escape(r.sector.as_deref().unwrap_or("(none)")),
        r.version,
        date(r.published),
        date(r.first),
        date(r.last),
        r.reached,
        r.clusters
    );
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
