//! results.json and results.csv: every measured run, for anyone who wants to check the summary
//! or plot it their own way.
//!
//! JSON carries the whole story (machine, plan, per-strategy summaries, ratios, runs); CSV is one
//! flat row per run with the machine facts repeated on each row, so a spreadsheet needs nothing
//! else. A failed run is a row too, with its error and empty measurements.

use crate::app::compare::{safety_score, Results};
use serde::Serialize;
use serde_json::json;

/// results.json.
pub fn json(results: &Results) -> anyhow::Result<Vec<u8>> {
    let plan = &results.plan;
    let points: Vec<_> = results
        .points
        .iter()
        .map(|p| {
            let strategies: Vec<_> = p
                .cells
                .iter()
                .map(|c| {
                    json!({
                        "strategy": c.info.name,
                        "models": c.info.models,
                        "props": c.info.props,
                        "safety_score": safety_score(&c.info.props),
                        "status": c.status.name(),
                        "reason": c.status.reason(),
                        "workers_fixed": c.workers_fixed,
                        "summary": c.summary,
                    })
                })
                .collect();
            json!({
                "point": p.label,
                "value": p.value,
                "app_mb": p.app_mb,
                "strategies": strategies,
            })
        })
        .collect();
    let runs: Vec<_> = results
        .rows
        .iter()
        .map(|r| {
            json!({
                "point": r.point,
                "point_value": r.point_value,
                "strategy": r.strategy,
                "run": r.run,
                "status": if r.error.is_some() { "failed" } else { "ok" },
                "error": r.error,
                "measurement": r.measurement,
            })
        })
        .collect();
    let doc = json!({
        "machine": results.machine,
        "command": plan.command,
        "config": {
            "workload": plan.workload,
            "strategies": plan.strategies.iter().map(|s| s.name).collect::<Vec<_>>(),
            "runs": plan.runs,
            "warmups": crate::app::compare::WARMUPS,
            "workers": plan.workers,
            "items": plan.items,
            "repeat": plan.knobs.repeat,
            "pause_us": plan.knobs.pause_us,
            "sync": plan.sync.map(|s| s.name()),
            "cost": plan.knobs.cost,
            "wait_ms": plan.knobs.wait_ms,
            "app_mb": plan.app_mb,
            "sweep": plan.sweep,
            "preset": plan.preset,
        },
        "elapsed_s": results.elapsed_s,
        "points": points,
        "ratios": results.ratios,
        "floors": results.floors,
        "runs": runs,
    });
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
