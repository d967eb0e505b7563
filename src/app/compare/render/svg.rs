//! The SVG figures of a report, drawn with plotters' SVG backend.
//!
//! Why plotters and not SVG strings by hand: axes, ticks, scaling and legends are exactly the
//! fiddly code a plotting library has already got right. Only the SVG backend is enabled (no
//! bitmap, no font files): SVG text is emitted as `<text>` elements the browser lays out, so no
//! font has to be found on this machine, and criterion's reports are not disturbed (see
//! shared/CRATES.md).
//!
//! - `time.svg`: median wall time per strategy, a whisker from the fastest to the slowest run;
//! - `memory.svg`: peak RSS and peak PSS side by side, on one scale, so copy-on-write sharing
//!   shows as the gap between the two panels;
//! - `sweep.svg`: time, RSS and PSS along a sweep, a line per strategy.

use crate::app::compare::{PointResult, Results, Status, Sweep};
use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const MIB: f64 = 1024.0 * 1024.0;
const FONT: &str = "sans-serif";

/// A colour per strategy, stable across figures (Tableau 10).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// plotters' drawing errors carry the backend's error type; flatten them for anyhow.
fn e<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("drawing: {err:?}")
}

/// An axis tick: whole numbers once the axis reaches 100, one decimal below.
fn tick(v: f64, axis_max: f64) -> String {
    if axis_max >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// `n` equal segments, one per category: plotters' integer ranges include their end, so the
/// segments of `0..n-1` are exactly `0..n`'s elements.
fn segments(
    n: usize,
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize> {
    (0..n.saturating_sub(1)).into_segmented()
}

/// Render into an SVG string of the given size.
fn draw_svg(
    size: (u32, u32),
    f: impl FnOnce(&Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        f(&root)?;
        root.present().map_err(e)?;
    }
    Ok(buf)
}

fn title(point: &PointResult, what: &str) -> String {
    if point.label.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({})", point.label)
    }
}

/// A horizontal bar per strategy, first strategy at the top. `values[i]` is `None` for a
/// strategy with no measurement (its status is written where the bar would be).
struct Bars<'a> {
    title: &'a str,
    unit: &'a str,
    names: Vec<&'static str>,
    statuses: Vec<&'static str>,
    values: Vec<Option<f64>>,
    spans: Vec<Option<(f64, f64)>>,
    max: f64,
    fill: RGBColor,
}

fn draw_bars(area: &Area<'_>, b: &Bars<'_>) -> anyhow::Result<()> {
    let n = b.names.len();
    let max = if b.max > 0.0 { b.max * 1.25 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(b.title, (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..max, segments(n))
        .map_err(e)?;
    // Row i from the top is segment n-1-i from the bottom.
    let row = |i: usize| n - 1 - i;
    let names = b.names.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(s) if *s < n => names[n - 1 - *s].to_owned(),
            _ => String::new(),
        })
        .x_desc(b.unit)
        .x_label_formatter(&|x| tick(*x, max))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(b.values.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row(i))),
                    (v, SegmentValue::Exact(row(i) + 1)),
                ],
                b.fill.mix(0.85).filled(),
            );
            r.set_margin(5, 5, 0, 0);
            Some(r)
        }))
        .map_err(e)?;
    chart
        .draw_series(b.spans.iter().enumerate().filter_map(|(i, s)| {
            let (lo, hi) = (*s)?;
            let y = SegmentValue::CenterOf(row(i));
            Some(PathElement::new(
                vec![(lo, y.clone()), (hi, y)],
                BLACK.stroke_width(2),
            ))
        }))
        .map_err(e)?;
    let label = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series(b.values.iter().enumerate().map(|(i, v)| {
            let y = SegmentValue::CenterOf(row(i));
            let (x, text) = match v {
                Some(v) => {
                    let hi = b.spans[i].map_or(*v, |(_, hi)| hi.max(*v));
                    (hi, format!("{v:.2} {}", b.unit))
                }
                None => (0.0, b.statuses[i].to_owned()),
            };
            EmptyElement::at((x, y)) + Text::new(text, (6, 0), label.clone())
        }))
        .map_err(e)?;
    Ok(())
}

fn names(point: &PointResult) -> Vec<&'static str> {
    point.cells.iter().map(|c| c.info.name).collect()
}

fn statuses(point: &PointResult) -> Vec<&'static str> {
    point
        .cells
        .iter()
        .map(|c| match c.status {
            Status::Ok => "no runs",
            Status::Failed(_) => "failed",
            Status::Skipped(_) => "skipped",
        })
        .collect()
}

fn height(point: &PointResult) -> u32 {
    140 + 42 * point.cells.len() as u32
}

/// `time.svg`: median wall per strategy, with the min-max whisker.
pub fn time(results: &Results) -> anyhow::Result<String> {
    let point = results.headline();
    let sums: Vec<_> = point.cells.iter().map(|c| c.summary.as_ref()).collect();
    let max = sums
        .iter()
        .flatten()
        .map(|s| s.wall_max_s)
        .fold(0.0, f64::max);
    let (scale, unit) = if max >= 10.0 { (1.0, "s") } else { (1e3, "ms") };
    let t = title(
        point,
        &format!(
            "Wall time, median of {} run{}, whisker min-max",
            results.plan.runs,
            if results.plan.runs == 1 { "" } else { "s" }
        ),
    );
    draw_svg((800, height(point)), |root| {
        draw_bars(
            root,
            &Bars {
                title: &t,
                unit,
                names: names(point),
                statuses: statuses(point),
                values: sums
                    .iter()
                    .map(|s| s.map(|s| s.wall_median_s * scale))
                    .collect(),
                spans: sums
                    .iter()
                    .map(|s| s.map(|s| (s.wall_min_s * scale, s.wall_max_s * scale)))
                    .collect(),
                max: max * scale,
                fill: color(0),
            },
        )
    })
}

/// `memory.svg`: peak RSS and peak PSS panels side by side, on the same scale.
pub fn memory(results: &Results) -> anyhow::Result<String> {
    let point = results.headline();
    let sums: Vec<_> = point.cells.iter().map(|c| c.summary.as_ref()).collect();
    let max = sums
        .iter()
        .flatten()
        .map(|s| s.peak_rss_median_bytes.max(s.peak_pss_median_bytes) as f64 / MIB)
        .fold(0.0, f64::max);
    let t = title(
        point,
        "Peak memory of the whole process tree (median): RSS counts shared pages in every process, PSS splits them",
    );
    draw_svg((1100, height(point) + 30), |root| {
        let root = root.titled(&t, (FONT, 15)).map_err(e)?;
        let (left, right) = root.split_horizontally(550);
        for (area, what, fill, pick) in [
            (
                &left,
                "peak RSS",
                color(0),
                (|s: &crate::app::compare::Summary| s.peak_rss_median_bytes) as fn(&_) -> u64,
            ),
            (&right, "peak PSS", color(1), |s| s.peak_pss_median_bytes),
        ] {
            draw_bars(
                area,
                &Bars {
                    title: what,
                    unit: "MiB",
                    names: names(point),
                    statuses: statuses(point),
                    values: sums
                        .iter()
                        .map(|s| s.map(|s| pick(s) as f64 / MIB))
                        .collect(),
                    spans: vec![None; sums.len()],
                    max,
                    fill,
                },
            )?;
        }
        Ok(())
    })
}

/// `sweep.svg`: wall time, peak RSS and peak PSS along the sweep, a line per strategy with a dot
/// at each measured point. Points sit at equal spacing (powers of two read like a log scale).
pub fn sweep(results: &Results) -> anyhow::Result<String> {
    let sweep = results
        .plan
        .sweep
        .as_ref()
        .ok_or_else(|| anyhow!("no sweep"))?;
    let strategies: Vec<&'static str> = results.plan.strategies.iter().map(|s| s.name).collect();
    let panels: [(&str, &str, Pick); 3] = [
        ("wall time (median)", "ms", |s| s.wall_median_s * 1e3),
        ("peak RSS (median)", "MiB", |s| {
            s.peak_rss_median_bytes as f64 / MIB
        }),
        ("peak PSS (median)", "MiB", |s| {
            s.peak_pss_median_bytes as f64 / MIB
        }),
    ];
    let t = format!(
        "{} along {} (median of {} run{} each)",
        results.plan.workload.name(),
        sweep.describe(),
        results.plan.runs,
        if results.plan.runs == 1 { "" } else { "s" }
    );
    draw_svg((1400, 480), |root| {
        let root = root.titled(&t, (FONT, 16)).map_err(e)?;
        let (plots, legend) = root.split_horizontally(1230);
        let panes = plots.split_evenly((1, 3));
        for (area, (what, unit, pick)) in panes.iter().zip(panels) {
            let panel = Panel {
                what,
                unit,
                axis: sweep,
                lines: sweep_lines(results, &strategies, pick),
            };
            panel.draw(area)?;
        }
        sweep_legend(&legend, results, &strategies)
    })
}

/// What a sweep panel plots of a summary.
type Pick = fn(&crate::app::compare::Summary) -> f64;

/// Each strategy's (point index, value) pairs, at the points where it has a summary.
fn sweep_lines(results: &Results, strategies: &[&str], pick: Pick) -> Vec<Vec<(usize, f64)>> {
    strategies
        .iter()
        .map(|name| {
            results
                .points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    p.cell(name)
                        .and_then(|c| c.summary.as_ref())
                        .map(|s| (i, pick(s)))
                })
                .collect()
        })
        .collect()
}

/// One panel of `sweep.svg`: a measure along the sweep, a line per strategy.
struct Panel<'a> {
    what: &'a str,
    unit: &'a str,
    axis: &'a Sweep,
    /// Per strategy, in legend order: (point index, value).
    lines: Vec<Vec<(usize, f64)>>,
}

impl Panel<'_> {
    fn draw(&self, area: &Area<'_>) -> anyhow::Result<()> {
        let values = &self.axis.values;
        let max = self
            .lines
            .iter()
            .flatten()
            .map(|(_, v)| *v)
            .fold(0.0, f64::max);
        let max = if max > 0.0 { max * 1.15 } else { 1.0 };
        let n = values.len();
        let mut chart = ChartBuilder::on(area)
            .caption(self.what, (FONT, 14))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(segments(n), 0f64..max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => values[*i].to_string(),
                _ => String::new(),
            })
            .x_desc(self.axis.axis.unit())
            .y_desc(self.unit)
            .y_label_formatter(&|y| tick(*y, max))
            .draw()
            .map_err(e)?;
        for (k, points) in self.lines.iter().enumerate() {
            let c = color(k);
            let at = |(i, v): &(usize, f64)| (SegmentValue::CenterOf(*i), *v);
            chart
                .draw_series(LineSeries::new(points.iter().map(at), c.stroke_width(2)))
                .map_err(e)?;
            chart
                .draw_series(points.iter().map(|p| Circle::new(at(p), 4, c.filled())))
                .map_err(e)?;
        }
        Ok(())
    }
}

/// The legend, once, beside the panels: a coloured stroke and the name.
fn sweep_legend(legend: &Area<'_>, results: &Results, strategies: &[&str]) -> anyhow::Result<()> {
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (k, name) in strategies.iter().enumerate() {
        let y = 60 + 22 * k as i32;
        legend
            .draw(&PathElement::new(
                vec![(4, y), (28, y)],
                color(k).stroke_width(3),
            ))
            .map_err(e)?;
        legend
            .draw(&Text::new(
                legend_label(results, name),
                (34, y),
                style.clone(),
            ))
            .map_err(e)?;
    }
    Ok(())
}

/// A strategy's name in the sweep legend, with why its line stops short if it does.
fn legend_label(results: &Results, name: &str) -> String {
    let cells: Vec<_> = results.points.iter().filter_map(|p| p.cell(name)).collect();
    if let Some(c) = cells.iter().find(|c| c.summary.is_none()) {
        // Missing at some point: say why (a line that stops short needs a reason).
        let all = cells.iter().all(|c| c.summary.is_none());
        format!(
            "{name} ({}{})",
            c.status.name(),
            if all { "" } else { " at some points" }
        )
    } else if cells.iter().any(|c| c.workers_fixed) {
        format!("{name} (fixed workers)")
    } else {
        name.to_owned()
    }
}
