//! The comparison table: one row per strategy, the measurements beside the properties.
//!
//! The cells are built once ([`rows`]) and drawn twice: as a text table for the terminal
//! ([`render`], laid out by [`crate::sys::table`]) and as an HTML table for report.html. Medians, not means (one slow run should not
//! move the headline), with the wall-time spread beside them so a reader can judge the noise.

use crate::app::compare::{PointResult, Results, Status, Summary};
use crate::strategy::Memory;
use crate::sys::table::Table;
use crate::sys::units::{bytes, seconds};
use crate::workload::Workload;
use std::fmt::Write;

/// Column headers, in order.
pub const HEADERS: [&str; 13] = [
    "STRATEGY",
    "WORKERS",
    "WALL median (min-max)",
    "CPU",
    "PEAK RSS",
    "PEAK PSS",
    "PER WORKER RSS / PSS",
    "JOBS/S",
    "CHECK",
    "MEMORY",
    "CRASH",
    "HANG",
    "PAR",
];

/// One line of the table.
pub enum Row {
    /// A strategy that ran: one cell per header.
    Measured(Vec<String>),
    /// A strategy that failed or was skipped: its name, its status, why.
    Missing(String, &'static str, String),
}

fn yn(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// `9.6 ms (8.1-12.0)`: the median with its range, in the median's unit.
pub fn time_range(median: f64, min: f64, max: f64) -> String {
    let (scale, unit) = if median >= 1.0 {
        (1.0, "s")
    } else if median >= 1e-3 {
        (1e3, "ms")
    } else {
        (1e6, "µs")
    };
    format!(
        "{:.1} {unit} ({:.1}-{:.1})",
        median * scale,
        min * scale,
        max * scale
    )
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

/// The rows of one point's table.
pub fn rows(results: &Results, point: &PointResult) -> Vec<Row> {
    point
        .cells
        .iter()
        .map(|cell| {
            let name = cell.info.name.to_owned();
            match (&cell.status, &cell.summary) {
                (Status::Ok, Some(s)) => {
                    let p = &cell.info.props;
                    let (crash, hang) = survives(results, cell);
                    Row::Measured(vec![
                        name.clone(),
                        format!("{}{}", s.workers, if cell.workers_fixed { "*" } else { "" }),
                        time_range(s.wall_median_s, s.wall_min_s, s.wall_max_s),
                        seconds(s.cpu_median_s),
                        bytes(s.peak_rss_median_bytes),
                        bytes(s.peak_pss_median_bytes),
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
                    ])
                }
                (status, _) => Row::Missing(
                    name,
                    match status {
                        Status::Skipped(_) => "skipped",
                        _ => "FAILED",
                    },
                    status.reason().unwrap_or("no runs").to_owned(),
                ),
            }
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
    let mut h = format!(
        "{} · {jobs} jobs · {} run{} each after 1 warm-up",
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

/// Columns holding numbers (workers, times, memory, jobs/s): right-aligned.
const NUMERIC: [usize; 7] = [1, 2, 3, 4, 5, 6, 7];

/// One point's table: a strategy that did not run says why, right after its name.
fn point_table(results: &Results, point: &PointResult) -> Table {
    let mut table = Table::new(HEADERS).right(&NUMERIC);
    for row in rows(results, point) {
        match row {
            Row::Measured(cells) => table.row(cells),
            Row::Missing(name, status, why) => table.span_row([name], format!("{status}: {why}")),
        }
    }
    table
}

/// The whole terminal table, every point.
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "concur compare · {}", results.machine.describe());
    let _ = writeln!(out, "{}", results.plan.scene());
    if results.plan.preset == crate::app::compare::Preset::Tradeoff {
        let _ = writeln!(
            out,
            "  (change it: --preset quick for the fast emoji run, --dirty PCT, --app-mb MB, --workers N, -w WORKLOAD)"
        );
    }
    for point in &results.points {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", heading(results, point));
        out.push_str(&point_table(results, point).render());
        for note in footnotes(results, point) {
            let _ = writeln!(out, "  {note}");
        }
    }
    for note in &results.plan.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ranges_share_the_median_unit() {
        assert_eq!(time_range(0.0096, 0.0081, 0.012), "9.6 ms (8.1-12.0)");
        assert_eq!(time_range(1.5, 1.3, 2.0), "1.5 s (1.3-2.0)");
        assert_eq!(time_range(0.0005, 0.0004, 0.0006), "500.0 µs (400.0-600.0)");
    }
}
