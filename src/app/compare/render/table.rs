//! The comparison table: one row per strategy, the measurements beside the properties.
//!
//! The cells are built once ([`rows`]) and drawn twice: as a text table for the terminal
//! ([`render`], laid out by [`crate::sys::table`]) and as an HTML table for report.html. Medians, not means (one slow run should not
//! move the headline), with the wall-time spread beside them so a reader can judge the noise.

use crate::app::compare::{PointResult, Results, Status, Summary};
use crate::strategy::Memory;
use crate::sys::table::{terminal_width, wrap_words, Table};
use crate::sys::units::{bytes, seconds};
use crate::workload::Workload;
use std::fmt::Write;

/// A column of the table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    /// Right-aligned (and never wrapped).
    pub numeric: bool,
    /// When the terminal is too narrow, columns are dropped lowest first; 0 is never dropped.
    pub drop: u8,
}

const fn col(header: &'static str, numeric: bool, drop: u8) -> Column {
    Column {
        header,
        numeric,
        drop,
    }
}

/// The columns of a comparison's table, in order. One measured run has no spread: its time is
/// one value, and there is no MIN-MAX column.
///
/// What goes first on a narrow terminal: PAR and MEMORY (properties, which the trade-off chart
/// below shows too), then JOBS/S (the reciprocal of the time), CPU, the min-max range (σ stays
/// beside the median), and the per-worker memory (which the trade-off chart is about). What
/// stays is the headline: who ran, how fast, how much memory, right or wrong, what it survived.
pub fn columns(results: &Results) -> Vec<Column> {
    let single = results.plan.runs == 1;
    let mut c = vec![
        col("STRATEGY", false, 0),
        col("WORKERS", true, 0),
        col(if single { "WALL" } else { "WALL median ± σ" }, true, 0),
    ];
    if !single {
        c.push(col("MIN-MAX", true, 5));
    }
    c.extend([
        col("CPU", true, 4),
        col("PEAK RSS", true, 0),
        col("PEAK PSS", true, 0),
        col("PER WORKER RSS / PSS", true, 6),
        col("JOBS/S", true, 3),
        col("CHECK", false, 0),
        col("MEMORY", false, 2),
        col("CRASH", false, 0),
        col("HANG", false, 0),
        col("PAR", false, 1),
    ]);
    c
}

/// One line of the table.
pub enum Row {
    /// A strategy that ran: one cell per column.
    Measured(Vec<String>),
    /// A strategy that failed or was skipped: its name, its status, why.
    Missing(String, &'static str, String),
}

fn yn(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// The scale and unit of a time, chosen by its size: (multiplier, unit).
fn time_unit(s: f64) -> (f64, &'static str) {
    if s >= 1.0 {
        (1.0, "s")
    } else if s >= 1e-3 {
        (1e3, "ms")
    } else {
        (1e6, "µs")
    }
}

/// `9.6 ms ± 1.2`: the median with its standard deviation in the median's unit; one run is
/// one value (`377.0 ms`), with no spread to show.
pub fn time_spread(median: f64, stddev: f64, runs: usize) -> String {
    let (scale, unit) = time_unit(median);
    if runs <= 1 {
        format!("{:.1} {unit}", median * scale)
    } else {
        format!("{:.1} {unit} ± {:.1}", median * scale, stddev * scale)
    }
}

/// `8.1-12.0`: the fastest and slowest run, in the median's unit.
pub fn time_range(median: f64, min: f64, max: f64) -> String {
    let (scale, _) = time_unit(median);
    format!("{:.1}-{:.1}", min * scale, max * scale)
}

fn per_worker(name: &str, s: &Summary) -> String {
    match (s.per_worker_rss_bytes, s.per_worker_pss_bytes) {
        (Some(rss), Some(pss)) => format!("{} / {}", bytes(rss as u64), bytes(pss as u64)),
        _ if name == "sequential" => "(baseline)".to_owned(),
        _ => "-".to_owned(),
    }
}

/// What a strategy survives: measured by the probes when they ran, else as declared.
fn survives(results: &Results, cell: &crate::app::compare::Cell) -> (String, String) {
    match results.safety_of(cell.info.name) {
        Some(s) => (s.crash.mark().to_owned(), s.hang.mark().to_owned()),
        None => (
            yn(cell.info.props.survives_crash),
            yn(cell.info.props.kills_hung),
        ),
    }
}

/// A measured strategy's cells, one per column of [`columns`].
fn measured(results: &Results, cell: &crate::app::compare::Cell, s: &Summary) -> Vec<String> {
    let name = cell.info.name.to_owned();
    let p = &cell.info.props;
    let (crash, hang) = survives(results, cell);
    let pss = |b: u64| {
        if results.machine.pss_available {
            bytes(b)
        } else {
            "n/a".to_owned()
        }
    };
    let mut cells = vec![
        name.clone(),
        format!("{}{}", s.workers, if cell.workers_fixed { "*" } else { "" }),
        time_spread(s.wall_median_s, s.wall_stddev_s, s.runs),
    ];
    if results.plan.runs != 1 {
        cells.push(time_range(s.wall_median_s, s.wall_min_s, s.wall_max_s));
    }
    cells.extend([
        seconds(s.cpu_median_s),
        bytes(s.peak_rss_median_bytes),
        pss(s.peak_pss_median_bytes),
        per_worker(&name, s),
        format!("{:.0}", s.jobs_per_s_median),
        if s.all_correct() {
            "ok".to_owned()
        } else {
            format!("WRONG {}/{}", s.runs - s.correct_runs, s.runs)
        },
        match p.memory {
            Memory::Shared => "shared",
            Memory::Isolated => "isolated",
        }
        .to_owned(),
        crash,
        hang,
        yn(p.parallel),
    ]);
    cells
}

/// The rows of one point's table.
pub fn rows(results: &Results, point: &PointResult) -> Vec<Row> {
    point
        .cells
        .iter()
        .map(|cell| match (&cell.status, &cell.summary) {
            (Status::Ok, Some(s)) => Row::Measured(measured(results, cell, s)),
            (status, _) => Row::Missing(
                cell.info.name.to_owned(),
                match status {
                    Status::Skipped(_) => "skipped",
                    _ => "FAILED",
                },
                status.reason().unwrap_or("no runs").to_owned(),
            ),
        })
        .collect()
}

/// The lines under a point's table: what the stars and columns mean, what went wrong.
pub fn footnotes(results: &Results, point: &PointResult) -> Vec<String> {
    let mut notes = Vec::new();
    let fixed: Vec<_> = point
        .cells
        .iter()
        .filter(|c| c.workers_fixed)
        .map(|c| c.info.name)
        .collect();
    if !fixed.is_empty() {
        notes.push(format!(
            "* {} fix{} their own worker count (one loop; one thread per job): --workers is not passed to them",
            fixed.join(", "),
            if fixed.len() == 1 { "es" } else { "" }
        ));
    }
    let any_per_worker = point.cells.iter().any(|c| {
        c.summary
            .as_ref()
            .is_some_and(|s| s.per_worker_rss_bytes.is_some())
    });
    if any_per_worker {
        notes.push(
            "per worker = (peak - sequential's peak) / workers: what each worker adds".into(),
        );
    } else if point.cells.iter().any(|c| c.summary.is_some()) {
        notes.push("per worker: add -s sequential for the one-worker baseline".into());
    }
    notes.push(if results.safety.is_empty() {
        "CRASH: survives a crashing job · HANG: can kill a hung job (as declared: --no-probe) · PAR: uses several cores".into()
    } else {
        "CRASH, HANG: measured by a probe run (✓ the faulty jobs failed alone, ✗ the run died, stopped or lost other jobs, - not probed) · PAR: uses several cores".into()
    });
    for cell in &point.cells {
        if let Some(s) = &cell.summary {
            if !s.all_correct() {
                notes.push(format!("{}: {}", cell.info.name, s.check));
            }
        }
    }
    if !results.machine.pss_available {
        notes.push(crate::sys::proc::PSS_UNAVAILABLE.to_owned());
    }
    for r in results.ratios.iter().filter(|r| r.point == point.label) {
        notes.push(r.sentence());
    }
    notes
}

/// One line describing a point's setup.
pub fn heading(results: &Results, point: &PointResult) -> String {
    let plan = &results.plan;
    let jobs = point
        .cells
        .iter()
        .find_map(|c| c.runs.first().map(|m| m.jobs))
        .unwrap_or(plan.items.unwrap_or(plan.workload.default_items()));
    let warmups = match plan.warmups {
        0 => ", no warm-up".to_owned(),
        1 => " after 1 warm-up".to_owned(),
        n => format!(" after {n} warm-ups"),
    };
    let mut h = format!(
        "{} · {jobs} jobs · {} run{} each{warmups}",
        plan.workload.name(),
        plan.runs,
        if plan.runs == 1 { "" } else { "s" }
    );
    if !point.label.is_empty() {
        let _ = write!(h, " · {}", point.label);
    }
    if let Some(w) = plan.workers {
        let _ = write!(h, " · --workers {w}");
    }
    if point.app_mb > 0 {
        let _ = write!(h, " · app {} MiB", point.app_mb);
    }
    match plan.workload {
        Workload::Cpu => {
            let _ = write!(h, " · cost {}M steps per job", plan.knobs.cost);
        }
        Workload::Sleep => {
            let _ = write!(h, " · wait {} ms per job", plan.knobs.wait_ms);
        }
        _ => {}
    }
    if let Some(sync) = plan.sync {
        let _ = write!(h, " · sync {}", sync.name());
    }
    h
}

/// One point's table with the columns `keep` (indices into [`columns`]): a strategy that did
/// not run says why, right after its name.
fn point_table(results: &Results, point: &PointResult, keep: &[usize]) -> Table {
    let cols = columns(results);
    let headers = keep.iter().map(|&i| cols[i].header);
    let numeric: Vec<usize> = keep
        .iter()
        .enumerate()
        .filter(|(_, &i)| cols[i].numeric)
        .map(|(k, _)| k)
        .collect();
    let mut table = Table::new(headers).right(&numeric);
    for row in rows(results, point) {
        match row {
            Row::Measured(cells) => table.row(keep.iter().map(|&i| cells[i].clone())),
            Row::Missing(name, status, why) => table.span_row([name], format!("{status}: {why}")),
        }
    }
    table
}

/// The columns to show at `width` (all with `--wide` or no width): while the table is wider,
/// the column with the lowest drop rank goes. The names of the dropped columns, in order.
fn fit_columns(results: &Results, width: Option<u16>) -> (Vec<usize>, Vec<&'static str>) {
    let cols = columns(results);
    let mut keep: Vec<usize> = (0..cols.len()).collect();
    let mut dropped = Vec::new();
    let Some(width) = width.filter(|_| !results.plan.wide) else {
        return (keep, dropped);
    };
    let mut order: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].drop > 0).collect();
    order.sort_by_key(|&i| cols[i].drop);
    let too_wide = |keep: &[usize]| {
        results.points.iter().any(|p| {
            // Spanning rows' free text wraps to any width: measure the columns alone.
            table_width(&point_table(results, p, keep).render_at(Some(u16::MAX)))
                > usize::from(width)
        })
    };
    for i in order {
        if !too_wide(&keep) {
            break;
        }
        keep.retain(|&k| k != i);
        dropped.push(cols[i].header);
    }
    (keep, dropped)
}

/// The widest line of a rendered table, in characters.
fn table_width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The whole terminal table, every point, fitted to the terminal's width ([`terminal_width`]).
pub fn render(results: &Results) -> String {
    render_at(results, terminal_width())
}

/// The whole terminal table, every point, fitted to `width` (nothing fitted with `None`).
pub fn render_at(results: &Results, width: Option<u16>) -> String {
    let wrap = |text: &str, indent: usize| wrap_words(text, width, indent);
    let mut out = String::new();
    out.push_str(&wrap(
        &format!("concur compare · {}", results.machine.describe()),
        2,
    ));
    out.push_str(&wrap(&results.plan.scene(), 2));
    if results.plan.preset == crate::app::compare::Preset::Tradeoff {
        out.push_str(&wrap(
            "  (change it: --preset quick for the fast emoji run, --dirty PCT, --app-mb MB, --workers N, -w WORKLOAD)",
            3,
        ));
    }
    let (keep, dropped) = fit_columns(results, width);
    for point in &results.points {
        let _ = writeln!(out);
        out.push_str(&wrap(&heading(results, point), 2));
        out.push_str(&point_table(results, point, &keep).render_at(width));
        for note in footnotes(results, point) {
            out.push_str(&wrap(&format!("  {note}"), 4));
        }
    }
    if !dropped.is_empty() {
        out.push_str(&wrap(
            &format!(
                "  (to fit {} columns, not shown: {}; --wide shows every column, results.md and report.html have them all)",
                width.unwrap_or(0),
                dropped.join(", ")
            ),
            4,
        ));
    }
    for note in &results.plan.notes {
        out.push_str(&wrap(&format!("note: {note}"), 2));
    }
    for warning in results.noise_warnings() {
        out.push_str(&wrap(&warning, 2));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_share_the_median_unit() {
        assert_eq!(time_range(0.0096, 0.0081, 0.012), "8.1-12.0");
        assert_eq!(time_spread(0.0096, 0.0012, 3), "9.6 ms ± 1.2");
        assert_eq!(time_spread(1.5, 0.25, 3), "1.5 s ± 0.2");
        assert_eq!(time_range(0.0005, 0.0004, 0.0006), "400.0-600.0");
        assert_eq!(time_spread(0.377, 0.0, 1), "377.0 ms", "one run, one value");
    }
}
