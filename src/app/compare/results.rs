//! What a comparison found: each strategy's runs at each point, their medians, and the few
//! figures derived from them (per-worker memory, the fork-versus-threads ratio).
//!
//! Why medians of several runs: one run is an anecdote (a page-cache miss, a neighbour's build);
//! the median of three or five, with the min-max beside it, is what hyperfine reports and what a
//! reader can judge. A strategy whose runs failed part-way gets no summary at all: a median of
//! the runs that happened to work would mislead. These types are what [`super::render`] draws
//! and exports; nothing here prints.

use super::floors::Floor;
use super::machine::Machine;
use super::plan::Plan;
use crate::harness::Measurement;
use crate::strategy::{Memory, Props, StrategyInfo};
use serde::Serialize;

/// How a strategy fared at one point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// A run failed; the error (the child's own line when it gave one).
    Failed(String),
    /// Not run: it cannot run here, or cannot do what was asked.
    Skipped(String),
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed(_) => "failed",
            Status::Skipped(_) => "skipped",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Ok => None,
            Status::Failed(why) | Status::Skipped(why) => Some(why),
        }
    }
}

/// The medians (and spreads) of one strategy's runs at one point.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub workers: usize,
    pub wall_median_s: f64,
    pub wall_min_s: f64,
    pub wall_max_s: f64,
    /// User + system CPU.
    pub cpu_median_s: f64,
    pub peak_rss_median_bytes: u64,
    pub peak_pss_median_bytes: u64,
    pub peak_threads_median: u64,
    pub peak_processes_median: u64,
    pub jobs_per_s_median: f64,
    /// Runs whose result was correct.
    pub correct_runs: usize,
    /// What the check found: the first wrong run's finding, else the first run's.
    pub check: String,
    /// (peak - sequential's peak) / workers, when sequential ran at the same point.
    pub per_worker_rss_bytes: Option<f64>,
    pub per_worker_pss_bytes: Option<f64>,
}

impl Summary {
    /// Summarise measured runs (at least one).
    pub fn of(runs: &[Measurement]) -> Option<Summary> {
        let first = runs.first()?;
        let walls: Vec<f64> = runs.iter().map(|m| m.wall_s).collect();
        let check = runs
            .iter()
            .find(|m| !m.correct)
            .unwrap_or(first)
            .check
            .clone();
        Some(Summary {
            runs: runs.len(),
            workers: first.workers,
            wall_median_s: median_f(&walls),
            wall_min_s: walls.iter().copied().fold(f64::INFINITY, f64::min),
            wall_max_s: walls.iter().copied().fold(0.0, f64::max),
            cpu_median_s: median_f(
                &runs
                    .iter()
                    .map(|m| m.cpu_user_s + m.cpu_sys_s)
                    .collect::<Vec<_>>(),
            ),
            peak_rss_median_bytes: median_u(runs.iter().map(|m| m.peak_rss_bytes)),
            peak_pss_median_bytes: median_u(runs.iter().map(|m| m.peak_pss_bytes)),
            peak_threads_median: median_u(runs.iter().map(|m| m.peak_threads)),
            peak_processes_median: median_u(runs.iter().map(|m| m.peak_processes)),
            jobs_per_s_median: median_f(&runs.iter().map(|m| m.jobs_per_s).collect::<Vec<_>>()),
            correct_runs: runs.iter().filter(|m| m.correct).count(),
            check,
            per_worker_rss_bytes: None,
            per_worker_pss_bytes: None,
        })
    }

    pub fn all_correct(&self) -> bool {
        self.correct_runs == self.runs
    }
}

/// The median; the mean of the middle two for an even count.
pub fn median_f(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_u(values: impl Iterator<Item = u64>) -> u64 {
    let v: Vec<f64> = values.map(|x| x as f64).collect();
    median_f(&v).round() as u64
}

/// An isolation/safety score from a strategy's properties, 0..=3: one point each for isolated
/// memory, surviving a crashing job, and being able to kill a hung job. (Parallelism is speed,
/// and needing a server is an operating cost; neither is safety.)
pub fn safety_score(p: &Props) -> u8 {
    u8::from(p.memory == Memory::Isolated) + u8::from(p.survives_crash) + u8::from(p.kills_hung)
}

/// One strategy at one point.
#[derive(Clone)]
pub struct Cell {
    pub info: &'static StrategyInfo,
    /// A worker count was asked for but this strategy fixes its own.
    pub workers_fixed: bool,
    pub status: Status,
    pub runs: Vec<Measurement>,
    pub summary: Option<Summary>,
}

/// Every strategy at one sweep point (the only point without a sweep).
#[derive(Clone)]
pub struct PointResult {
    pub value: Option<u64>,
    /// `workers=8`, or "" without a sweep.
    pub label: String,
    pub app_mb: u64,
    pub cells: Vec<Cell>,
}

impl PointResult {
    pub fn cell(&self, name: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.info.name == name)
    }

    /// Per-worker memory: what each worker adds over the one-worker baseline (sequential, same
    /// point, same app), when sequential ran.
    pub fn add_per_worker(&mut self) {
        let Some(base) = self
            .cell("sequential")
            .and_then(|c| c.summary.as_ref())
            .map(|s| (s.peak_rss_median_bytes, s.peak_pss_median_bytes))
        else {
            return;
        };
        for cell in &mut self.cells {
            if cell.info.name == "sequential" {
                continue;
            }
            if let Some(s) = &mut cell.summary {
                let w = s.workers.max(1) as f64;
                s.per_worker_rss_bytes =
                    Some(s.peak_rss_median_bytes.saturating_sub(base.0) as f64 / w);
                s.per_worker_pss_bytes =
                    Some(s.peak_pss_median_bytes.saturating_sub(base.1) as f64 / w);
            }
        }
    }
}

/// One measured run (or the run that failed): a row of results.csv and of results.json's `runs`.
#[derive(Clone, Debug)]
pub struct RunRow {
    pub point: String,
    pub point_value: Option<u64>,
    pub strategy: String,
    /// 1-based; 0 is the warm-up (recorded only when it failed).
    pub run: u32,
    pub error: Option<String>,
    pub measurement: Option<Measurement>,
}

/// The Sidekiq claim, measured: fork's peak memory over threads' at one point.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Ratio {
    pub point: String,
    pub app_mb: u64,
    pub fork_workers: usize,
    pub threads_workers: usize,
    pub fork_rss_bytes: u64,
    pub threads_rss_bytes: u64,
    pub rss_ratio: f64,
    pub fork_pss_bytes: u64,
    pub threads_pss_bytes: u64,
    pub pss_ratio: f64,
}

impl Ratio {
    /// fork's and threads' medians at a point with an app loaded; `None` unless both ran.
    pub fn at(point: &PointResult) -> Option<Ratio> {
        if point.app_mb == 0 {
            return None;
        }
        let fork = point.cell("fork")?.summary.as_ref()?;
        let threads = point.cell("threads")?.summary.as_ref()?;
        if threads.peak_rss_median_bytes == 0 || threads.peak_pss_median_bytes == 0 {
            return None;
        }
        Some(Ratio {
            point: point.label.clone(),
            app_mb: point.app_mb,
            fork_workers: fork.workers,
            threads_workers: threads.workers,
            fork_rss_bytes: fork.peak_rss_median_bytes,
            threads_rss_bytes: threads.peak_rss_median_bytes,
            rss_ratio: fork.peak_rss_median_bytes as f64 / threads.peak_rss_median_bytes as f64,
            fork_pss_bytes: fork.peak_pss_median_bytes,
            threads_pss_bytes: threads.peak_pss_median_bytes,
            pss_ratio: fork.peak_pss_median_bytes as f64 / threads.peak_pss_median_bytes as f64,
        })
    }

    /// One sentence for the terminal and the HTML report.
    pub fn sentence(&self) -> String {
        use crate::sys::units::bytes;
        let at = if self.point.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.point)
        };
        format!(
            "with a {} MiB app{at}: fork ({} worker{}) peaks at {:.1}x threads' RSS ({} vs {}) \
             and {:.1}x its PSS ({} vs {})",
            self.app_mb,
            self.fork_workers,
            if self.fork_workers == 1 { "" } else { "s" },
            self.rss_ratio,
            bytes(self.fork_rss_bytes),
            bytes(self.threads_rss_bytes),
            self.pss_ratio,
            bytes(self.fork_pss_bytes),
            bytes(self.threads_pss_bytes),
        )
    }
}

/// Everything a report is made of.
#[derive(Clone)]
pub struct Results {
    pub plan: Plan,
    pub machine: Machine,
    pub points: Vec<PointResult>,
    pub rows: Vec<RunRow>,
    pub ratios: Vec<Ratio>,
    pub elapsed_s: f64,
    /// With `-w noop`: each strategy's per-job overhead against its floor.
    pub floors: Vec<Floor>,
    /// What each strategy survived, measured by the probes (empty with `--no-probe`).
    pub safety: Vec<super::probe::Safety>,
}

impl Results {
    /// Runs that were measured (failed runs are rows too, without a measurement).
    pub fn measured_runs(&self) -> usize {
        self.rows.iter().filter(|r| r.measurement.is_some()).count()
    }

    /// The measured safety of `strategy`, if it was probed.
    pub fn safety_of(&self, strategy: &str) -> Option<&super::probe::Safety> {
        self.safety.iter().find(|s| s.strategy == strategy)
    }

    /// The point the single-point charts show: the only one, or a sweep's last (largest).
    pub fn headline(&self) -> &PointResult {
        self.points.last().expect("a plan has at least one point")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy;
    use crate::workload::wallet::SyncMode;

    #[test]
    fn medians() {
        assert_eq!(median_f(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median_f(&[]), 0.0);
    }

    #[test]
    fn scores_safety_from_props() {
        assert_eq!(safety_score(&strategy::THREADED), 0);
        let isolated = Props {
            memory: Memory::Isolated,
            survives_crash: true,
            kills_hung: true,
            parallel: true,
            needs_server: false,
        };
        assert_eq!(safety_score(&isolated), 3);
    }

    fn summary(workers: usize, rss: u64, pss: u64) -> Summary {
        Summary {
            runs: 1,
            workers,
            wall_median_s: 0.01,
            wall_min_s: 0.01,
            wall_max_s: 0.01,
            cpu_median_s: 0.01,
            peak_rss_median_bytes: rss,
            peak_pss_median_bytes: pss,
            peak_threads_median: 1,
            peak_processes_median: 1,
            jobs_per_s_median: 1.0,
            correct_runs: 1,
            check: String::new(),
            per_worker_rss_bytes: None,
            per_worker_pss_bytes: None,
        }
    }

    const FORK: StrategyInfo = StrategyInfo {
        name: "fork",
        models: "test stand-in",
        props: strategy::THREADED,
        workers: strategy::Workers::Count(4),
        syncs: &[SyncMode::None],
        transfers: &[],
        needs_redis: false,
        source: file!(),
        wallet_in: None,
        made_of: None,
        floor: None,
        unavailable: strategy::available,
        run: |_| anyhow::bail!("not run in tests"),
    };

    fn cell(info: &'static StrategyInfo, s: Option<Summary>) -> Cell {
        Cell {
            info,
            workers_fixed: false,
            status: Status::Ok,
            runs: Vec::new(),
            summary: s,
        }
    }

    #[test]
    fn ratio_needs_fork_threads_and_an_app() {
        const MIB: u64 = 1 << 20;
        static FORK_INFO: StrategyInfo = FORK;
        let threads = strategy::find("threads").unwrap();
        let mut point = PointResult {
            value: Some(8),
            label: "workers=8".into(),
            app_mb: 100,
            cells: vec![
                cell(&FORK_INFO, Some(summary(8, 800 * MIB, 120 * MIB))),
                cell(threads, Some(summary(51, 100 * MIB, 100 * MIB))),
            ],
        };
        let r = Ratio::at(&point).expect("both present");
        assert_eq!(r.rss_ratio, 8.0);
        assert_eq!(r.pss_ratio, 1.2);
        assert!(
            r.sentence().contains("8.0x threads' RSS"),
            "{}",
            r.sentence()
        );
        assert!(r.sentence().contains("1.2x its PSS"), "{}", r.sentence());

        point.app_mb = 0;
        assert_eq!(Ratio::at(&point), None, "no app, no claim");
        point.app_mb = 100;
        point.cells.remove(0);
        assert_eq!(Ratio::at(&point), None, "no fork, no ratio");
    }

    #[test]
    fn per_worker_is_over_the_sequential_baseline() {
        let seq = strategy::find("sequential").unwrap();
        let pool = strategy::find("pool").unwrap();
        let mut point = PointResult {
            value: None,
            label: String::new(),
            app_mb: 0,
            cells: vec![
                cell(seq, Some(summary(1, 1000, 500))),
                cell(pool, Some(summary(4, 1400, 900))),
            ],
        };
        point.add_per_worker();
        let s = point.cells[1].summary.as_ref().unwrap();
        assert_eq!(s.per_worker_rss_bytes, Some(100.0));
        assert_eq!(s.per_worker_pss_bytes, Some(100.0));
        assert_eq!(
            point.cells[0]
                .summary
                .as_ref()
                .unwrap()
                .per_worker_rss_bytes,
            None
        );
    }
}
