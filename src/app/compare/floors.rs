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
//! | rpc | one Unix-socket round trip (the `pop`), plus forking the workers (fork x workers / jobs) |
//! | redis | one Redis round trip (the LPOP), plus starting the workers |
//!
//! A ratio near 1 means the strategy adds little to its primitive; below 1 means it avoids part
//! of the primitive's cost (a busy worker takes the next job without being woken, for example).

use crate::app::compare::Results;
use crate::app::limits::Limits;
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

/// The floor of `strategy` with `workers` workers and `jobs` jobs, from measured primitives.
pub fn floor(limits: &Limits, strategy: &str, workers: usize, jobs: u64) -> Option<(String, f64)> {
    let p = |name: &str| {
        limits
            .primitives
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.median_s)
    };
    // The primitive paid per job, and what is paid once per run (how many times, and of what).
    let w = workers as u64;
    let (primitive, once): (&str, Option<(u64, &str, &str)>) = match strategy {
        "threads" => ("thread spawn+join", None),
        "pool" | "actors" => (
            "channel hand-off",
            Some((w, "thread spawn+join", "thread spawn")),
        ),
        // rayon's pool and tokio's runtime are built before the strategy's clock starts; rayon
        // still wakes and joins its workers once for the run's loop.
        "rayon" => (
            "rayon per item",
            Some((1, "rayon fan-out+join", "fan-out+join")),
        ),
        "futures" => ("tokio spawn, batch joined", None),
        "fork" => ("fork+_exit+waitpid", None),
        "rpc" => (
            "unix socket round trip",
            Some((w, "fork+_exit+waitpid", "fork")),
        ),
        "redis" => (
            "redis round trip",
            Some((w, "thread spawn+join", "thread spawn")),
        ),
        _ => return None,
    };
    let per_job = p(primitive)?;
    let (described, setup) = match once {
        Some((times, name, short)) => (
            format!("{primitive} + {times} x {short} / {jobs} jobs"),
            p(name)? * times as f64 / jobs.max(1) as f64,
        ),
        None => (primitive.to_owned(), 0.0),
    };
    Some((described, per_job + setup))
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
            let (floor_of, floor_s) = floor(limits, cell.info.name, first.workers, first.jobs)?;
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

    #[test]
    fn floors_add_worker_start_up_spread_over_the_jobs() {
        let l = limits();
        assert_eq!(floor(&l, "fork", 1, 100).unwrap().1, 500e-6);
        let (what, s) = floor(&l, "rpc", 4, 1000).unwrap();
        assert!((s - (10e-6 + 4.0 * 500e-6 / 1000.0)).abs() < 1e-12, "{s}");
        assert!(what.contains("4 x fork"));
        let (_, s) = floor(&l, "pool", 4, 1000).unwrap();
        assert!((s - (20e-9 + 4.0 * 40e-6 / 1000.0)).abs() < 1e-12);
        let (what, s) = floor(&l, "rayon", 4, 1000).unwrap();
        assert!(
            (s - (1e-9 + 10e-6 / 1000.0)).abs() < 1e-12,
            "one fan-out per run: {s}"
        );
        assert!(what.contains("1 x fan-out+join"), "{what}");
        assert_eq!(floor(&l, "sequential", 1, 10), None);
        assert_eq!(floor(&l, "redis", 4, 10), None, "no redis figure, no floor");
    }
}
