//! The one picture of the trade-off: what each worker costs in memory, against what the strategy
//! survives. Drawn twice from the same rows: for the terminal ([`terminal`]) and as
//! `tradeoff.svg` ([`svg`]), the first figure of report.html.
//!
//! Why rows and not a scatter plot: a person should read it in five seconds. Strategies are
//! grouped by what the probes measured (survives a crashing job and kills a hung one; one of
//! the two; neither), and each row is a bar of the memory one more worker adds: RSS, which
//! counts every page a worker can see (the shared app included, once per process), and inside
//! it PSS, which splits shared pages among their sharers and is what the machine really pays.
//! Processes sit at the top with long RSS bars; threads at the bottom with none. `--dirty`
//! shows the PSS bar growing into the RSS bar as copy-on-write sharing decays.
//!
//! The SVG is written by hand, not with plotters: the layout is a table of bars, and by placing
//! each label on its own row the labels can never overlap (a test checks the text positions).

use crate::app::compare::probe::Safety;
use crate::app::compare::{Cell, Results, Status};
use crate::sys::units::bytes;
use std::fmt::Write;

/// One strategy's row.
pub struct Row {
    pub name: &'static str,
    /// The one-worker baseline (sequential): the others' per-worker figures are over it.
    pub baseline: bool,
    /// RSS and PSS one more worker adds, in bytes, when the strategy ran.
    pub per_worker: Option<(f64, f64)>,
    /// Why there are no figures (skipped, failed).
    pub missing: Option<String>,
    pub safety: Option<Safety>,
}

/// A group of rows that survived the same.
pub struct Group {
    pub title: &'static str,
    pub rows: Vec<Row>,
}

/// The groups, safest first; empty groups are left out.
pub fn groups(results: &Results) -> Vec<Group> {
    let point = results.headline();
    let mut groups: Vec<Group> = [
        "survives a crashing job and kills a hung one",
        "survives one of the two",
        "neither: one bad job takes every job down",
        "not probed",
    ]
    .into_iter()
    .map(|title| Group {
        title,
        rows: Vec::new(),
    })
    .collect();
    for cell in &point.cells {
        let safety = results.safety_of(cell.info.name).cloned();
        let group = match &safety {
            Some(s) if s.crash.mark() == "-" && s.hang.mark() == "-" => 3,
            Some(s) => 2 - usize::from(s.score()),
            None => 3,
        };
        groups[group].rows.push(Row {
            name: cell.info.name,
            baseline: cell.summary.is_some() && cell.info.workers == crate::strategy::Workers::One,
            per_worker: per_worker(cell),
            missing: match &cell.status {
                Status::Ok => None,
                other => Some(other.name().to_owned()),
            },
            safety,
        });
    }
    groups.retain(|g| !g.rows.is_empty());
    groups
}

/// What one more worker adds: over sequential's peak when it ran, else the whole peak divided
/// among the workers.
fn per_worker(cell: &Cell) -> Option<(f64, f64)> {
    let s = cell.summary.as_ref()?;
    let w = s.workers.max(1) as f64;
    let rss = s
        .per_worker_rss_bytes
        .unwrap_or(s.peak_rss_median_bytes as f64 / w);
    let pss = s
        .per_worker_pss_bytes
        .unwrap_or(s.peak_pss_median_bytes as f64 / w);
    Some((rss, pss.min(rss)))
}

/// The largest RSS per worker, the scale of every bar.
fn max_rss(groups: &[Group]) -> f64 {
    groups
        .iter()
        .flat_map(|g| &g.rows)
        .filter(|r| !r.baseline)
        .filter_map(|r| r.per_worker.map(|(rss, _)| rss))
        .fold(0.0, f64::max)
}

/// `safety: crash ✓ hang ✗`, or `not probed`.
fn marks(row: &Row) -> String {
    row.safety
        .as_ref()
        .map(Safety::marks)
        .unwrap_or_else(|| "not probed".into())
}

/// The longest bar in the terminal, in characters.
const WIDTH: usize = 32;

/// The bar of a row: PSS as `█`, the rest of RSS as `░`.
fn text_bar(rss: f64, pss: f64, max: f64) -> String {
    if max <= 0.0 || rss <= 0.0 {
        return "▏".into();
    }
    let len = |v: f64| ((v / max) * WIDTH as f64).round() as usize;
    let total = len(rss).clamp(1, WIDTH);
    let dark = len(pss).min(total);
    format!("{}{}", "█".repeat(dark), "░".repeat(total - dark))
}

/// The trade-off for the terminal.
pub fn terminal(results: &Results) -> String {
    let groups = groups(results);
    let max = max_rss(&groups);
    let name_w = groups
        .iter()
        .flat_map(|g| &g.rows)
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nthe trade-off: the memory one more worker adds, against what the strategy survives\n\
         (█ PSS: what it really costs · █+░ RSS: counts the shared app once per process)"
    );
    let figures: Vec<Vec<String>> = groups
        .iter()
        .map(|g| g.rows.iter().map(figures).collect())
        .collect();
    let fig_w = figures
        .iter()
        .flatten()
        .map(|f| f.chars().count())
        .max()
        .unwrap_or(0);
    for (g, figs) in groups.iter().zip(&figures) {
        let _ = writeln!(out, "  {}", g.title);
        for (r, fig) in g.rows.iter().zip(figs) {
            let bar = match r.per_worker {
                Some((rss, pss)) if !r.baseline => text_bar(rss, pss, max),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    {:<name_w$}  {bar:<WIDTH$}  {fig:<fig_w$}  {}",
                r.name,
                marks(r)
            );
        }
    }
    out
}

/// A row's figures in words: `48.8 MiB RSS / 0 B PSS`, or why there are none.
fn figures(r: &Row) -> String {
    match (r.per_worker, &r.missing) {
        _ if r.baseline => "(the baseline: one worker)".into(),
        (Some((rss, pss)), _) => format!("{} RSS / {} PSS", bytes(rss as u64), bytes(pss as u64)),
        (None, Some(why)) => format!("({why})"),
        (None, None) => "(no figures)".into(),
    }
}

/// Layout of the SVG, in pixels.
const LEFT: f64 = 150.0;
const BAR_W: f64 = 430.0;
const ROW_H: f64 = 26.0;
const GROUP_H: f64 = 30.0;
const TOP: f64 = 78.0;
const FONT: f64 = 13.0;
const WIDTH_PX: f64 = 1000.0;

/// Escape text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn text(out: &mut String, x: f64, y: f64, size: f64, attrs: &str, s: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size:.0}" font-family="sans-serif"{attrs}>{}</text>"#,
        esc(s)
    );
}

/// `tradeoff.svg`.
pub fn svg(results: &Results) -> String {
    let groups = groups(results);
    let max = max_rss(&groups).max(1.0);
    let rows: usize = groups.iter().map(|g| g.rows.len()).sum();
    let height = TOP + GROUP_H * groups.len() as f64 + ROW_H * rows as f64 + 60.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height:.0}" viewBox="0 0 {WIDTH_PX} {height:.0}">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    text(
        &mut out,
        16.0,
        26.0,
        17.0,
        r#" font-weight="bold""#,
        "The trade-off: what one more worker costs in memory, against what the strategy survives",
    );
    text(&mut out, 16.0, 48.0, FONT, "", &results.plan.scene());
    legend(&mut out);
    let mut y = TOP;
    for g in &groups {
        y += GROUP_H;
        text(
            &mut out,
            16.0,
            y - 9.0,
            14.0,
            r#" font-weight="bold""#,
            g.title,
        );
        for r in &g.rows {
            row(&mut out, r, y, max);
            y += ROW_H;
        }
    }
    axis(&mut out, y + 8.0, max);
    out.push_str("</svg>\n");
    out
}

/// The key, under the subtitle: the two bar colours and the marks.
fn legend(out: &mut String) {
    let y = 64.0;
    let _ = writeln!(
        out,
        r##"<rect x="16" y="{}" width="14" height="10" fill="#08519c"/>"##,
        y - 9.0
    );
    text(out, 36.0, y, 12.0, "", "PSS: what it really costs");
    let _ = writeln!(
        out,
        r##"<rect x="220" y="{}" width="14" height="10" fill="#9ecae1"/>"##,
        y - 9.0
    );
    text(
        out,
        240.0,
        y,
        12.0,
        "",
        "RSS: counts the shared app once per process",
    );
    text(
        out,
        560.0,
        y,
        12.0,
        "",
        "survives (measured): ✓ yes  ✗ no  - not probed",
    );
}

/// One strategy: its name, its bars, its figures, its marks.
fn row(out: &mut String, r: &Row, y: f64, max: f64) {
    let mid = y + ROW_H / 2.0;
    text(
        out,
        LEFT - 10.0,
        mid + 4.5,
        FONT,
        r#" text-anchor="end""#,
        r.name,
    );
    match r.per_worker.filter(|_| !r.baseline) {
        Some((rss, pss)) => {
            let w = |v: f64| (v / max * BAR_W).max(if v > 0.0 { 1.0 } else { 0.0 });
            let _ = writeln!(
                out,
                r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="16" fill="#9ecae1"/>"##,
                mid - 8.0,
                w(rss)
            );
            let _ = writeln!(
                out,
                r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="16" fill="#08519c"/>"##,
                mid - 8.0,
                w(pss)
            );
            text(
                out,
                LEFT + BAR_W + 12.0,
                mid + 4.5,
                12.0,
                "",
                &format!("{} RSS / {} PSS", bytes(rss as u64), bytes(pss as u64)),
            );
        }
        None => text(out, LEFT, mid + 4.5, 12.0, "", &figures(r)),
    }
    text(out, 830.0, mid + 4.5, FONT, "", &marks(r));
}

/// The x axis under the bars: 0, half and the maximum, in MiB per worker.
fn axis(out: &mut String, y: f64, max: f64) {
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="black"/>"#,
        LEFT + BAR_W
    );
    for frac in [0.0, 0.5, 1.0] {
        let x = LEFT + frac * BAR_W;
        let _ = writeln!(
            out,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#,
            y + 4.0
        );
        let mib = frac * max / (1024.0 * 1024.0);
        text(
            out,
            x,
            y + 17.0,
            11.0,
            r#" text-anchor="middle""#,
            &format!("{mib:.1}"),
        );
    }
    text(
        out,
        LEFT + BAR_W / 2.0,
        y + 35.0,
        12.0,
        r#" text-anchor="middle""#,
        "MiB one more worker adds (its peak over sequential's, per worker)",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bars_nest_pss_inside_rss() {
        assert_eq!(text_bar(10.0, 5.0, 10.0).chars().count(), WIDTH);
        assert_eq!(
            text_bar(10.0, 5.0, 10.0)
                .chars()
                .filter(|&c| c == '█')
                .count(),
            WIDTH / 2
        );
        assert_eq!(text_bar(0.0, 0.0, 10.0), "▏");
        assert_eq!(
            text_bar(0.001, 0.0, 10.0).chars().count(),
            1,
            "visible however small"
        );
    }
}
