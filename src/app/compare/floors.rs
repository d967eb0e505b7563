//! Per-job overhead against the floor: what each strategy costs per job beyond the primitive it
//! is built from.
//!
//! With `-w noop` a job does nothing, so the strategy's work time (inside the measured child,
//! without process start-up) divided by the jobs is its own cost of handing out a job. The floor
//! is what its construction cannot avoid, priced with `concur limits` on this machine:
//!
//! | strategy | floor per job |
//! |---|---|
//! | threads | one thread spawn+join |
//! | pool, actors | a channel hand-off between threads, plus starting the workers (spawn x workers / jobs) |
//! | rayon | a rayon item, plus one fan-out+join / jobs (the pool is built before the clock starts) |
//! | futures | a tokio spawn, all joined at the end (the runtime is built before the clock) |
//! | fork | one fork+_exit+waitpid |
//! | rpc | one Unix-socket round trip (the `pop`) / the workers paying it at once, plus forking the workers (fork x workers / jobs) |
//! | redis | one Redis round trip (the LPOP) / the workers paying it at once, plus starting the workers |
//!
//! Each strategy declares its floor in the registry ([`crate::strategy::Floor`]). A round trip is
//! paid by every worker at the same time, so with N workers on C cores min(N, C) of them are
//! paid at once and the floor per job is the round trip divided by that: compared with the
//! whole round trip, a strategy whose workers overlap would seem to beat its own floor. A ratio
//! near 1 means the strategy adds little to its primitive.

use crate::app::compare::Results;
use crate::app::limits::Limits;
use crate::strategy::StrategyInfo;
use crate::sys::table::Table;
use crate::workload::Workload;
use serde::Serialize;

/// One strategy's per-job overhead beside its floor.
#[derive(Clone, Debug, Serialize)]
pub struct Floor {
    pub strategy: String,
    pub workers: usize,
    pub jobs: u64,
    /// Median of work_s / jobs over the runs.
    pub per_job_s: f64,
    /// How the floor is made, e.g. "fork+_exit+waitpid".
    pub floor_of: String,
    pub floor_s: f64,
    pub ratio: f64,
}

/// The floor of `info` with `workers` workers and `jobs` jobs on `cores` cores, from measured
/// primitives: the strategy's own [`crate::strategy::Floor`], priced.
pub fn floor(
    limits: &Limits,
    info: &StrategyInfo,
    workers: usize,
    jobs: u64,
    cores: usize,
) -> Option<(String, f64)> {
    let spec = info.floor?;
    let p = |name: &str| {
        limits
            .primitives
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.median_s)
    };
    // Workers that pay a parallel primitive at the same time: no more than the cores.
    let at_once = if spec.parallel {
        workers.min(cores).max(1)
    } else {
        1
    };
    let mut described = match at_once {
        1 => spec.per_job.to_owned(),
        n => format!("{} / {n} at once", spec.per_job),
    };
    let mut floor_s = p(spec.per_job)? / at_once as f64;
    if let Some(setup) = spec.setup {
        let times = if setup.per_worker { workers as u64 } else { 1 };
        described += &format!(" + {times} x {} / {jobs} jobs", setup.short);
        floor_s += p(setup.primitive)? * times as f64 / jobs.max(1) as f64;
    }
    Some((described, floor_s))
}

/// Floors for every strategy that ran at the headline point of a `-w noop` comparison.
pub fn floors(results: &Results, limits: &Limits) -> Vec<Floor> {
    if results.plan.workload != Workload::Noop {
        return Vec::new();
    }
    let point = results.headline();
    point
        .cells
        .iter()
        .filter_map(|cell| {
            let first = cell.runs.first()?;
            let mut per_job: Vec<f64> = cell
                .runs
                .iter()
                .map(|m| m.work_s / m.jobs.max(1) as f64)
                .collect();
            per_job.sort_by(|a, b| a.total_cmp(b));
            let per_job_s = per_job[per_job.len() / 2];
            let (floor_of, floor_s) = floor(
                limits,
                cell.info,
                first.workers,
                first.jobs,
                results.machine.cores,
            )?;
            Some(Floor {
                strategy: cell.info.name.to_owned(),
                workers: first.workers,
                jobs: first.jobs,
                per_job_s,
                floor_of,
                floor_s,
                ratio: per_job_s / floor_s,
            })
        })
        .collect()
}

/// Run `concur limits --json` in a child (the fork measurements need a single-threaded process).
pub fn measure_limits() -> anyhow::Result<Limits> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["limits", "--json", "--runs", "3"])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "concur limits failed");
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn time(s: f64) -> String {
    if s < 1e-8 {
        format!("{:.1} ns", s * 1e9)
    } else if s < 1e-6 {
        format!("{:.0} ns", s * 1e9)
    } else {
        crate::sys::units::seconds(s)
    }
}

/// The terminal section.
pub fn render(floors: &[Floor]) -> String {
    if floors.is_empty() {
        return String::new();
    }
    let mut table = Table::new(["STRATEGY", "PER JOB", "FLOOR", "RATIO", "FLOOR MADE OF"])
        .right(&[1, 2, 3])
        .indent(2);
    for f in floors {
        table.row([
            f.strategy.clone(),
            time(f.per_job_s),
            time(f.floor_s),
            format!("{:.2}x", f.ratio),
            f.floor_of.clone(),
        ]);
    }
    format!(
        "\nper-job overhead (noop jobs: work inside the child / jobs) against each strategy's floor (concur limits):\n{}",
        table.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::limits::{Limit, ThreadMemory};

    fn limits() -> Limits {
        let l = |name: &str, s: f64| Limit {
            name: name.into(),
            about: String::new(),
            median_s: s,
            min_s: s,
            max_s: s,
            ops_per_run: 1,
            runs: 1,
        };
        Limits {
            cores: 2,
            skipped: vec![],
            primitives: vec![
                l("fork+_exit+waitpid", 500e-6),
                l("thread spawn+join", 40e-6),
                l("unix socket round trip", 10e-6),
                l("channel hand-off", 20e-9),
                l("rayon per item", 1e-9),
                l("rayon fan-out+join", 10e-6),
            ],
            parked_thread: ThreadMemory {
                threads: 1,
                rss_per_thread_bytes: 1,
            },
        }
    }

    fn info(name: &str) -> &'static StrategyInfo {
        crate::strategy::find(name).unwrap()
    }

    #[test]
    fn floors_add_worker_start_up_spread_over_the_jobs() {
        let l = limits();
        assert_eq!(floor(&l, info("fork"), 1, 100, 2).unwrap().1, 500e-6);
        let (_, s) = floor(&l, info("pool"), 4, 1000, 2).unwrap();
        assert!((s - (20e-9 + 4.0 * 40e-6 / 1000.0)).abs() < 1e-12);
        let (what, s) = floor(&l, info("rayon"), 4, 1000, 2).unwrap();
        assert!(
            (s - (1e-9 + 10e-6 / 1000.0)).abs() < 1e-12,
            "one fan-out per run: {s}"
        );
        assert!(what.contains("1 x fan-out+join"), "{what}");
        assert_eq!(floor(&l, info("sequential"), 1, 10, 2), None);
        assert_eq!(
            floor(&l, info("redis"), 4, 10, 2),
            None,
            "no redis figure, no floor"
        );
    }

    #[test]
    fn round_trips_paid_at_once_divide_the_floor_by_the_workers_that_overlap() {
        let l = limits();
        // 4 rpc workers on 2 cores: two round trips at a time.
        let (what, s) = floor(&l, info("rpc"), 4, 1000, 2).unwrap();
        assert!(
            (s - (10e-6 / 2.0 + 4.0 * 500e-6 / 1000.0)).abs() < 1e-12,
            "{s}"
        );
        assert!(
            what.contains("/ 2 at once") && what.contains("4 x fork"),
            "{what}"
        );
        // One worker pays the whole round trip.
        let (what, s) = floor(&l, info("rpc"), 1, 1000, 2).unwrap();
        assert!((s - (10e-6 + 500e-6 / 1000.0)).abs() < 1e-12, "{s}");
        assert!(!what.contains("at once"), "{what}");
        // A spawn in one thread does not overlap, however many workers there are.
        let (what, _) = floor(&l, info("pool"), 4, 1000, 2).unwrap();
        assert!(!what.contains("at once"), "{what}");
    }
}
