//! Running the plan: every strategy at every point, a warm-up and then the measured runs.
//!
//! Why each run is a fresh child: the harness measures a process from outside (wall from this
//! process's clock, CPU from `wait4`, RSS and PSS of the child's whole tree from `/proc`), and a
//! strategy that ran before must leave nothing behind in the next one's figures. Why the warm-up:
//! the first run pays for the page cache, the binary and the allocator; the report should not.
//! Why a strategy stops at its first failure: a second failure says nothing new and costs a
//! timeout; its error is the row, and the report goes on with the other strategies.
//!
//! Everything the user sees while it runs goes through one [`Progress`]: the bar, and the lines
//! printed above it (a strategy's result, a child's stderr, a skip), so they never tear the bar.

use super::plan::{Plan, WARMUPS};
use super::results::{Cell, PointResult, RunRow, Status, Summary};
use crate::error::is_usage;
use crate::harness::{self, Measurement, Stream};
use crate::strategy::RunSpec;
use crate::sys::signals::interrupted;
use crate::sys::units::{bytes, seconds};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{Read, Seek};
use std::process::Stdio;

/// Hidden test hook: strategies to treat as unavailable here (comma-separated names).
pub const SKIP_ENV: &str = "CONCUR_TEST_SKIP";

/// The spec of each cell (`None`: skipped), point by point.
pub(super) type Specs = Vec<Vec<Option<RunSpec>>>;

/// Resolve every strategy's spec at every point. Strategies that cannot run here, or cannot do
/// what was asked, become skipped cells; if *no* strategy can do what was asked, that is a usage
/// error (e.g. `--sync mutex` without `-w wallet`).
pub(super) fn prepare(plan: &Plan) -> anyhow::Result<(Vec<PointResult>, Specs)> {
    let skip_hook = std::env::var(SKIP_ENV).unwrap_or_default();
    let mut first_refusal: Option<anyhow::Error> = None;
    let mut runnable = 0;
    let mut points = Vec::new();
    for value in plan.points() {
        let mut cells = Vec::new();
        for &info in &plan.strategies {
            let (run, workers_fixed) = plan.request(info, value);
            let (status, prepared) = if skip_hook.split(',').any(|s| s.trim() == info.name) {
                (
                    Status::Skipped(format!("{SKIP_ENV} asks to treat it as unavailable")),
                    None,
                )
            } else if let Some(why) = (info.unavailable)() {
                (Status::Skipped(why), None)
            } else {
                match run.resolve() {
                    Ok(spec) => {
                        runnable += 1;
                        (Status::Ok, Some(spec))
                    }
                    Err(e) if is_usage(&e) => {
                        let why = e.to_string();
                        first_refusal.get_or_insert(e);
                        (Status::Skipped(why), None)
                    }
                    Err(e) => return Err(e),
                }
            };
            cells.push((
                Cell {
                    info,
                    workers_fixed,
                    status,
                    runs: Vec::new(),
                    summary: None,
                },
                prepared,
            ));
        }
        points.push((value, cells));
    }
    if runnable == 0 {
        if let Some(e) = first_refusal {
            return Err(e);
        }
    }
    let specs = points
        .iter()
        .map(|(_, cells)| cells.iter().map(|(_, spec)| spec.clone()).collect())
        .collect();
    let points = points
        .into_iter()
        .map(|(value, cells)| PointResult {
            value,
            label: plan.point_label(value),
            app_mb: plan.app_mb_at(value),
            cells: cells.into_iter().map(|(c, _)| c).collect(),
        })
        .collect();
    Ok((points, specs))
}

/// The progress bar, and the lines printed above it while it is shown.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} runs  {msg}  ({elapsed})",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        );
        Progress { bar }
    }

    /// A line on stderr, above the bar.
    fn say(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }
}

/// Where a cell is: its point, as rows and messages name it.
struct At<'a> {
    /// `workers=8`, or "" without a sweep.
    label: &'a str,
    value: Option<u64>,
}

impl At<'_> {
    /// ` (workers=8)`, or "" without a sweep.
    fn suffix(&self) -> String {
        if self.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.label)
        }
    }

    /// The row of run `run` (0: the warm-up) of `cell`: its measurement or why it failed.
    fn row(&self, cell: &Cell, run: u32, result: Result<Measurement, String>) -> RunRow {
        let (measurement, error) = match result {
            Ok(m) => (Some(m), None),
            Err(why) => (None, Some(why)),
        };
        RunRow {
            point: self.label.to_owned(),
            point_value: self.value,
            strategy: cell.info.name.to_owned(),
            run,
            error,
            measurement,
        }
    }
}

/// Run every prepared cell: a warm-up, then the measured runs; stop a strategy at its first
/// failure, and everything at Ctrl-C. Returns one row per measured run (and per failed warm-up).
pub(super) fn run_all(plan: &Plan, points: &mut [PointResult], specs: Specs) -> Vec<RunRow> {
    let per_cell = u64::from(WARMUPS + plan.runs);
    let total: u64 = specs.iter().flatten().filter(|s| s.is_some()).count() as u64 * per_cell;
    let progress = Progress::new(total);
    let mut rows = Vec::new();
    'points: for (point, point_specs) in points.iter_mut().zip(specs) {
        let at = At {
            label: &point.label,
            value: point.value,
        };
        for (cell, spec) in point.cells.iter_mut().zip(point_specs) {
            if let Some(sig) = interrupted() {
                // Ctrl-C: measure nothing more; what was measured still makes a report.
                progress.say(&format!(
                    "concur: {}: stopping; writing the report of what ran",
                    sig.as_str()
                ));
                break 'points;
            }
            let name = cell.info.name;
            match spec {
                Some(spec) => {
                    run_cell(plan, &at, cell, &spec, &progress, &mut rows);
                    progress.say(&format!("  {name:<11}{} {}", at.suffix(), outcome(cell)));
                }
                None => {
                    if let Status::Skipped(why) = &cell.status {
                        progress.say(&format!("  {name:<11}{} skipped: {why}", at.suffix()));
                    }
                }
            }
        }
    }
    progress.bar.finish_and_clear();
    rows
}

/// One cell's runs: the warm-up, then the measured ones, until the first failure or Ctrl-C.
/// Each measured run (and a failed warm-up) becomes a row; the summary is made if all ran.
fn run_cell(
    plan: &Plan,
    at: &At,
    cell: &mut Cell,
    spec: &RunSpec,
    progress: &Progress,
    rows: &mut Vec<RunRow>,
) {
    let per_cell = WARMUPS + plan.runs;
    for run in 0..per_cell {
        let what = if run < WARMUPS {
            "warm-up".to_owned()
        } else {
            format!("run {}/{}", run - WARMUPS + 1, plan.runs)
        };
        let name = cell.info.name;
        progress
            .bar
            .set_message(format!("{name}{} {what}", at.suffix()));
        let result = measure_one(spec);
        progress.bar.inc(1);
        if let Some(sig) = interrupted() {
            // This run was cut short: it is not a measurement.
            cell.status = Status::Failed(format!("stopped by {}", sig.as_str()));
            break;
        }
        let number = (run + 1).saturating_sub(WARMUPS);
        match result {
            Ok((m, child_stderr)) => {
                for line in child_stderr.lines().filter(|l| !l.trim().is_empty()) {
                    progress.say(&format!("  [{name}] {line}"));
                }
                if run >= WARMUPS {
                    rows.push(at.row(cell, number, Ok(m.clone())));
                    cell.runs.push(m);
                }
            }
            Err(why) => {
                let why = if run < WARMUPS {
                    format!("warm-up: {why}")
                } else {
                    why
                };
                rows.push(at.row(cell, number, Err(why.clone())));
                cell.status = Status::Failed(why);
                progress.bar.inc(u64::from(per_cell - run - 1));
                break;
            }
        }
    }
    // A strategy that failed part-way has no headline numbers: its good runs stay in the rows
    // (and the CSV), but a median of the runs that happened to work would mislead.
    if cell.status == Status::Ok {
        cell.summary = Summary::of(&cell.runs);
    }
}

/// The line printed when a cell is done: its median and memory, or why it failed.
fn outcome(cell: &Cell) -> String {
    match (&cell.status, &cell.summary) {
        (Status::Failed(why), _) => format!("FAILED: {why}"),
        (_, Some(s)) => format!(
            "median {}  RSS {}  {}",
            seconds(s.wall_median_s),
            bytes(s.peak_rss_median_bytes),
            if s.all_correct() { "ok" } else { "WRONG" }
        ),
        _ => String::new(),
    }
}

/// One run through the harness, with the child's stderr kept: on failure its last line is the
/// reason (the child says what went wrong; the harness only knows that it did).
fn measure_one(spec: &RunSpec) -> Result<(Measurement, String), String> {
    measure_limited(spec, None)
}

/// [`measure_one`], stopped (as by SIGTERM) if it runs longer than `limit`.
pub(super) fn measure_limited(
    spec: &RunSpec,
    limit: Option<std::time::Duration>,
) -> Result<(Measurement, String), String> {
    let mut file = tempfile::tempfile().map_err(|e| format!("creating a temp file: {e}"))?;
    let for_child = file
        .try_clone()
        .map_err(|e| format!("duplicating a file handle: {e}"))?;
    let result = harness::measure_within(spec, Stream::Discard, Stdio::from(for_child), limit);
    let mut said = String::new();
    let _ = file
        .rewind()
        .and_then(|_| file.read_to_string(&mut said).map(|_| ()));
    match result {
        Ok(m) => Ok((m, said)),
        Err(e) => {
            let child_line = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().trim_start_matches("concur: error: ").to_owned());
            Err(match child_line {
                Some(line) => format!("{line}; {e:#}"),
                None => format!("{e:#}"),
            })
        }
    }
}
