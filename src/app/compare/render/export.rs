//! results.json and results.csv: every measured run, for anyone who wants to check the summary
//! or plot it their own way.
//!
//! JSON carries the whole story (machine, plan, per-strategy summaries, ratios, runs), typed as
//! one `Document` so its shape is written down in one place; CSV is one
//! flat row per run with the machine facts repeated on each row, so a spreadsheet needs nothing
//! else. A failed run is a row too, with its error and empty measurements.

use crate::app::compare::floors::Floor;
use crate::app::compare::machine::Machine;
use crate::app::compare::probe::Safety;
use crate::app::compare::{
    safety_score, Cell, PointResult, Preset, Ratio, Results, RunRow, Summary, Sweep, WARMUPS,
};
use crate::harness::Measurement;
use crate::strategy::Props;
use crate::workload::Workload;
use serde::Serialize;

/// results.json: the whole story of a comparison.
#[derive(Serialize)]
struct Document<'a> {
    machine: &'a Machine,
    /// The command line, to reproduce the report.
    command: &'a str,
    config: Config<'a>,
    elapsed_s: f64,
    points: Vec<Point<'a>>,
    ratios: &'a [Ratio],
    floors: &'a [Floor],
    /// What each strategy survived, measured by the probes (empty with `--no-probe`).
    safety: &'a [Safety],
    runs: Vec<Run<'a>>,
}

/// What was asked, as resolved from flags and preset (`null`: each strategy's default).
#[derive(Serialize)]
struct Config<'a> {
    workload: Workload,
    strategies: Vec<&'static str>,
    runs: u32,
    warmups: u32,
    workers: Option<u64>,
    items: Option<u64>,
    repeat: u64,
    pause_us: u64,
    sync: Option<&'static str>,
    cost: u64,
    wait_ms: u64,
    app_mb: u64,
    dirty_pct: u8,
    sweep: Option<&'a Sweep>,
    preset: Preset,
    /// The scene in words, as the table's header says it.
    scene: String,
}

/// Every strategy at one sweep point (the only point without a sweep).
#[derive(Serialize)]
struct Point<'a> {
    /// `workers=8`, or "" without a sweep.
    point: &'a str,
    value: Option<u64>,
    app_mb: u64,
    strategies: Vec<Strategy<'a>>,
}

/// One strategy at one point: what it is, how it fared, its medians.
#[derive(Serialize)]
struct Strategy<'a> {
    strategy: &'static str,
    models: &'static str,
    props: Props,
    safety_score: u8,
    /// ok, failed or skipped.
    status: &'static str,
    reason: Option<&'a str>,
    workers_fixed: bool,
    summary: Option<&'a Summary>,
}

/// One measured run, or the run that failed.
#[derive(Serialize)]
struct Run<'a> {
    point: &'a str,
    point_value: Option<u64>,
    strategy: &'a str,
    /// 1-based; 0 is the warm-up (recorded only when it failed).
    run: u32,
    /// ok or failed.
    status: &'static str,
    error: Option<&'a str>,
    measurement: Option<&'a Measurement>,
}

impl<'a> Document<'a> {
    fn of(results: &'a Results) -> Document<'a> {
        let plan = &results.plan;
        Document {
            machine: &results.machine,
            command: &plan.command,
            config: Config {
                workload: plan.workload,
                strategies: plan.strategies.iter().map(|s| s.name).collect(),
                runs: plan.runs,
                warmups: WARMUPS,
                workers: plan.workers,
                items: plan.items,
                repeat: plan.knobs.repeat,
                pause_us: plan.knobs.pause_us,
                sync: plan.sync.map(|s| s.name()),
                cost: plan.knobs.cost,
                wait_ms: plan.knobs.wait_ms,
                app_mb: plan.app_mb,
                dirty_pct: plan.dirty_pct,
                sweep: plan.sweep.as_ref(),
                preset: plan.preset,
                scene: plan.scene(),
            },
            elapsed_s: results.elapsed_s,
            points: results.points.iter().map(Point::of).collect(),
            ratios: &results.ratios,
            floors: &results.floors,
            safety: &results.safety,
            runs: results.rows.iter().map(Run::of).collect(),
        }
    }
}

impl<'a> Point<'a> {
    fn of(p: &'a PointResult) -> Point<'a> {
        Point {
            point: &p.label,
            value: p.value,
            app_mb: p.app_mb,
            strategies: p.cells.iter().map(Strategy::of).collect(),
        }
    }
}

impl<'a> Strategy<'a> {
    fn of(c: &'a Cell) -> Strategy<'a> {
        Strategy {
            strategy: c.info.name,
            models: c.info.models,
            props: c.info.props,
            safety_score: safety_score(&c.info.props),
            status: c.status.name(),
            reason: c.status.reason(),
            workers_fixed: c.workers_fixed,
            summary: c.summary.as_ref(),
        }
    }
}

impl<'a> Run<'a> {
    fn of(r: &'a RunRow) -> Run<'a> {
        Run {
            point: &r.point,
            point_value: r.point_value,
            strategy: &r.strategy,
            run: r.run,
            status: if r.error.is_some() { "failed" } else { "ok" },
            error: r.error.as_deref(),
            measurement: r.measurement.as_ref(),
        }
    }
}

/// results.json. Its keys come out sorted at every level (through a `serde_json::Value`, whose
/// maps are ordered), as they always have: two reports diff line by line.
pub fn json(results: &Results) -> anyhow::Result<Vec<u8>> {
    let doc = serde_json::to_value(Document::of(results))?;
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// One row of results.csv.
#[derive(Serialize)]
struct CsvRow<'a> {
    point: &'a str,
    strategy: &'a str,
    run: u32,
    status: &'static str,
    error: Option<&'a str>,
    workload: &'static str,
    workers: Option<usize>,
    items: Option<u64>,
    repeat: Option<u64>,
    sync: Option<&'a str>,
    app_mb: Option<u64>,
    wall_s: Option<f64>,
    work_s: Option<f64>,
    cpu_user_s: Option<f64>,
    cpu_sys_s: Option<f64>,
    peak_rss_bytes: Option<u64>,
    peak_pss_bytes: Option<u64>,
    peak_threads: Option<u64>,
    peak_processes: Option<u64>,
    jobs: Option<u64>,
    jobs_per_s: Option<f64>,
    correct: Option<bool>,
    check: Option<&'a str>,
    failed_jobs: Option<u64>,
    lost_updates: Option<u64>,
    orphans_killed: Option<u64>,
    cores: usize,
    mem_total_bytes: u64,
    kernel: &'a str,
    concur_version: &'a str,
}

/// results.csv.
pub fn csv(results: &Results) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let machine = &results.machine;
    for r in &results.rows {
        let m = r.measurement.as_ref();
        w.serialize(CsvRow {
            point: &r.point,
            strategy: &r.strategy,
            run: r.run,
            status: if r.error.is_some() { "failed" } else { "ok" },
            error: r.error.as_deref(),
            workload: results.plan.workload.name(),
            workers: m.map(|m| m.workers),
            items: m.map(|m| m.items),
            repeat: m.map(|m| m.repeat),
            sync: m.map(|m| m.sync.as_str()),
            app_mb: m.map(|m| m.app_mb),
            wall_s: m.map(|m| m.wall_s),
            work_s: m.map(|m| m.work_s),
            cpu_user_s: m.map(|m| m.cpu_user_s),
            cpu_sys_s: m.map(|m| m.cpu_sys_s),
            peak_rss_bytes: m.map(|m| m.peak_rss_bytes),
            peak_pss_bytes: m.map(|m| m.peak_pss_bytes),
            peak_threads: m.map(|m| m.peak_threads),
            peak_processes: m.map(|m| m.peak_processes),
            jobs: m.map(|m| m.jobs),
            jobs_per_s: m.map(|m| m.jobs_per_s),
            correct: m.map(|m| m.correct),
            check: m.map(|m| m.check.as_str()),
            failed_jobs: m.map(|m| m.failed_jobs),
            lost_updates: m.and_then(|m| m.lost_updates),
            orphans_killed: m.map(|m| m.orphans_killed),
            cores: machine.cores,
            mem_total_bytes: machine.mem_total_bytes,
            kernel: &machine.kernel,
            concur_version: &machine.concur_version,
        })?;
    }
    // With no rows, serialize never wrote the header: write it so the file still says what it is.
    if results.rows.is_empty() {
        w.write_record(HEADER)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

const HEADER: [&str; 30] = [
    "point",
    "strategy",
    "run",
    "status",
    "error",
    "workload",
    "workers",
    "items",
    "repeat",
    "sync",
    "app_mb",
    "wall_s",
    "work_s",
    "cpu_user_s",
    "cpu_sys_s",
    "peak_rss_bytes",
    "peak_pss_bytes",
    "peak_threads",
    "peak_processes",
    "jobs",
    "jobs_per_s",
    "correct",
    "check",
    "failed_jobs",
    "lost_updates",
    "orphans_killed",
    "cores",
    "mem_total_bytes",
    "kernel",
    "concur_version",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_file_header_matches_the_rows() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(CsvRow {
            point: "",
            strategy: "s",
            run: 1,
            status: "ok",
            error: None,
            workload: "emoji",
            workers: None,
            items: None,
            repeat: None,
            sync: None,
            app_mb: None,
            wall_s: None,
            work_s: None,
            cpu_user_s: None,
            cpu_sys_s: None,
            peak_rss_bytes: None,
            peak_pss_bytes: None,
            peak_threads: None,
            peak_processes: None,
            jobs: None,
            jobs_per_s: None,
            correct: None,
            check: None,
            failed_jobs: None,
            lost_updates: None,
            orphans_killed: None,
            cores: 2,
            mem_total_bytes: 1,
            kernel: "k",
            concur_version: "v",
        })
        .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER.join(","));
    }
}
