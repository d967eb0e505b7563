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

use super::{palette, table};
use crate::app::compare::{PointResult, Results, Status, Sweep};
use crate::sys::units::bytes;
use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const FONT: &str = "sans-serif";

/// Text sizes as plotters takes them: its SVG backend writes 0.806 of the size asked for as
/// the font size in pixels, so these come out at 16, 14.5 and 12.1 px: nothing under 12 (a
/// projector and a laptop screen both read it; a test checks every `<text>`).
const TITLE: u32 = 20;
const HEADING: u32 = 18;
const LABEL: u32 = 15;

/// A byte axis's unit, chosen by its largest value: (bytes per unit, name).
pub fn byte_unit(max_bytes: f64) -> (f64, &'static str) {
    const KIB: f64 = 1024.0;
    if max_bytes >= KIB * KIB * KIB {
        (KIB * KIB * KIB, "GiB")
    } else if max_bytes >= KIB * KIB {
        (KIB * KIB, "MiB")
    } else {
        (KIB, "KiB")
    }
}

/// A time axis's unit, chosen by its largest value: (seconds per unit, name).
pub fn time_unit(max_s: f64) -> (f64, &'static str) {
    if max_s >= 10.0 {
        (1.0, "s")
    } else if max_s >= 10e-3 {
        (1e-3, "ms")
    } else {
        (1e-6, "µs")
    }
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
    /// The text beside each bar: the value as the table prints it.
    labels: Vec<String>,
    max: f64,
    /// Each bar's colour: its strategy's.
    fills: Vec<RGBColor>,
}

fn draw_bars(area: &Area<'_>, b: &Bars<'_>) -> anyhow::Result<()> {
    let n = b.names.len();
    let max = if b.max > 0.0 { b.max * 1.25 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(b.title, (FONT, HEADING))
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
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL))
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
                b.fills[i].mix(0.85).filled(),
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
    let label = TextStyle::from((FONT, LABEL).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series(b.values.iter().enumerate().map(|(i, v)| {
            let y = SegmentValue::CenterOf(row(i));
            let (x, text) = match v {
                Some(v) => {
                    let hi = b.spans[i].map_or(*v, |(_, hi)| hi.max(*v));
                    (hi, b.labels[i].clone())
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

fn fills(point: &PointResult) -> Vec<RGBColor> {
    point
        .cells
        .iter()
        .map(|c| palette::plotters(c.info.name))
        .collect()
}

/// `time.svg`: median wall per strategy, with the min-max whisker; the axis in s, ms or µs,
/// whichever the slowest run needs.
pub fn time(results: &Results) -> anyhow::Result<String> {
    let point = results.headline();
    let sums: Vec<_> = point.cells.iter().map(|c| c.summary.as_ref()).collect();
    let max = sums
        .iter()
        .flatten()
        .map(|s| s.wall_max_s)
        .fold(0.0, f64::max);
    let (per, unit) = time_unit(max);
    let spread = if results.plan.runs == 1 {
        "1 run".to_owned()
    } else {
        format!("median of {} runs, whisker min-max", results.plan.runs)
    };
    let t = title(point, &format!("Wall time, {spread}"));
    draw_svg((900, height(point)), |root| {
        draw_bars(
            root,
            &Bars {
                title: &t,
                unit,
                names: names(point),
                statuses: statuses(point),
                values: sums
                    .iter()
                    .map(|s| s.map(|s| s.wall_median_s / per))
                    .collect(),
                spans: sums
                    .iter()
                    .map(|s| {
                        s.filter(|s| s.runs > 1)
                            .map(|s| (s.wall_min_s / per, s.wall_max_s / per))
                    })
                    .collect(),
                labels: sums
                    .iter()
                    .map(|s| {
                        s.map(|s| table::time_spread(s.wall_median_s, s.wall_stddev_s, s.runs))
                            .unwrap_or_default()
                    })
                    .collect(),
                max: max / per,
                fills: fills(point),
            },
        )
    })
}

/// `memory.svg`: peak RSS and peak PSS panels side by side, on the same scale, in KiB, MiB or
/// GiB, whichever the largest needs; each bar labelled as the table prints it.
pub fn memory(results: &Results) -> anyhow::Result<String> {
    let point = results.headline();
    let sums: Vec<_> = point.cells.iter().map(|c| c.summary.as_ref()).collect();
    let max = sums
        .iter()
        .flatten()
        .map(|s| s.peak_rss_median_bytes.max(s.peak_pss_median_bytes) as f64)
        .fold(0.0, f64::max);
    let (per, unit) = byte_unit(max);
    let t = title(
        point,
        "Peak memory of the whole process tree (median): RSS counts shared pages in every process, PSS splits them",
    );
    let pss_note = if results.machine.pss_available {
        "peak PSS"
    } else {
        "peak PSS (unavailable on this OS)"
    };
    draw_svg((1200, height(point) + 34), |root| {
        let root = root.titled(&t, (FONT, HEADING)).map_err(e)?;
        let (left, right) = root.split_horizontally(600);
        for (area, what, pick) in [
            (
                &left,
                "peak RSS",
                (|s: &crate::app::compare::Summary| s.peak_rss_median_bytes) as fn(&_) -> u64,
            ),
            (&right, pss_note, |s| s.peak_pss_median_bytes),
        ] {
            draw_bars(
                area,
                &Bars {
                    title: what,
                    unit,
                    names: names(point),
                    statuses: statuses(point),
                    values: sums
                        .iter()
                        .map(|s| s.map(|s| pick(s) as f64 / per))
                        .collect(),
                    spans: vec![None; sums.len()],
                    labels: sums
                        .iter()
                        .map(|s| s.map(|s| bytes(pick(s))).unwrap_or_default())
                        .collect(),
                    max: max / per,
                    fills: fills(point),
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
    // Raw seconds and bytes; each panel picks the unit its largest value needs.
    let panels: [(&str, Unit, Pick); 3] = [
        ("wall time (median)", time_unit, |s| s.wall_median_s),
        ("peak RSS (median)", byte_unit, |s| {
            s.peak_rss_median_bytes as f64
        }),
        ("peak PSS (median)", byte_unit, |s| {
            s.peak_pss_median_bytes as f64
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
        let root = root.titled(&t, (FONT, TITLE)).map_err(e)?;
        let (plots, legend) = root.split_horizontally(1230);
        let panes = plots.split_evenly((1, 3));
        for (area, (what, unit_of, pick)) in panes.iter().zip(panels) {
            let mut lines = sweep_lines(results, &strategies, pick);
            let max = lines.iter().flatten().map(|(_, v)| *v).fold(0.0, f64::max);
            let (per, unit) = unit_of(max);
            lines.iter_mut().flatten().for_each(|(_, v)| *v /= per);
            let panel = Panel {
                what,
                unit,
                axis: sweep,
                names: &strategies,
                lines,
            };
            panel.draw(area)?;
        }
        sweep_legend(&legend, results, &strategies)
    })
}

/// What a sweep panel plots of a summary (seconds or bytes).
type Pick = fn(&crate::app::compare::Summary) -> f64;
/// The unit for a panel whose largest value is the argument: (per unit, name).
type Unit = fn(f64) -> (f64, &'static str);

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
    /// The strategies, in legend order (for their colours).
    names: &'a [&'a str],
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
            .caption(self.what, (FONT, HEADING))
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
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .y_label_formatter(&|y| tick(*y, max))
            .draw()
            .map_err(e)?;
        for (k, points) in self.lines.iter().enumerate() {
            let c = palette::plotters(self.names[k]);
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
    let style = TextStyle::from((FONT, LABEL).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (k, name) in strategies.iter().enumerate() {
        let y = 60 + 22 * k as i32;
        legend
            .draw(&PathElement::new(
                vec![(4, y), (28, y)],
                palette::plotters(name).stroke_width(3),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_axis_picks_the_unit_its_largest_value_needs() {
        const MIB: f64 = 1024.0 * 1024.0;
        assert_eq!(
            byte_unit(3336.25 * MIB).1,
            "GiB",
            "3.3 GiB, as the table says"
        );
        assert_eq!(byte_unit(545.0 * MIB).1, "MiB");
        assert_eq!(byte_unit(20_000.0).1, "KiB");
        assert_eq!(time_unit(12.0).1, "s");
        assert_eq!(time_unit(0.37).1, "ms");
        assert_eq!(time_unit(0.000_5).1, "µs");
    }
}
