//! `concur compare`: every strategy on the same jobs, side by side, measured the same way.
//!
//! Why a command of its own, when `concur run` already measures one strategy? Because one run is
//! an anecdote. Comparing strategies honestly takes what hyperfine does for commands: a warm-up
//! run, several measured runs, the median with its spread, and every run recorded so anyone can
//! check the summary. Each run is a fresh child measured from outside by the very harness
//! `run --json` uses ([`crate::harness`]); this module only plans the runs, keeps the rows and
//! summarises them. Turning the results into a table, charts and files is [`crate::app::compare::render`]'s job.
//!
//! A strategy that cannot run here is *skipped* with its reason; one whose run fails is shown
//! *failed* with its error. Neither stops the report: a presenter with no Redis still gets the
//! other strategies' picture.
//!
//! Hidden test hooks (documented in docs/README-compare.md, not in `--help`):
//! `CONCUR_TEST_FAIL=name,...` makes those strategies' measured children fail
//! ([`crate::harness::child::FAIL_ENV`]); `CONCUR_TEST_SKIP=name,...` treats those strategies as
//! unavailable here.

pub mod floors;
pub mod machine;
pub mod render;

use crate::error::{is_usage, usage, Error};
use crate::harness::{self, Measurement, Stream};
use crate::request::{RunRequest, MAX_APP_MB, MAX_ITEMS, MAX_WORKERS};
use crate::strategy::{Memory, Props, RunSpec, StrategyInfo, STRATEGIES};
use crate::workload::wallet::SyncMode;
use crate::workload::{Knobs, Workload};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use machine::Machine;
use serde::Serialize;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// Hidden test hook: strategies to treat as unavailable here (comma-separated names).
pub const SKIP_ENV: &str = "CONCUR_TEST_SKIP";

/// Measured runs per strategy when neither `--runs` nor a preset says otherwise.
pub const DEFAULT_RUNS: u32 = 3;
/// Unmeasured runs before the measured ones (page cache, binary, allocator warmed).
pub const WARMUPS: u32 = 1;

/// Named heavier settings. Flags given explicitly win over the preset's values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 5 runs, a 100 MiB app, workers 1, 8, 32: the processes-versus-threads memory picture
    Workshop,
    /// 10 runs, a 100 MiB app, workers 1 to 64 in powers of two
    Thorough,
}

impl Preset {
    fn runs(self) -> u32 {
        match self {
            Preset::Workshop => 5,
            Preset::Thorough => 10,
        }
    }

    fn app_mb(self) -> u64 {
        100
    }

    fn sweep(self) -> Sweep {
        let values = match self {
            Preset::Workshop => vec![1, 8, 32],
            Preset::Thorough => vec![1, 2, 4, 8, 16, 32, 64],
        };
        Sweep {
            axis: Axis::Workers,
            values,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Workshop => "workshop",
            Preset::Thorough => "thorough",
        }
    }
}

/// What a sweep varies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Axis {
    Workers,
    Items,
    AppMb,
}

impl Axis {
    pub fn name(self) -> &'static str {
        match self {
            Axis::Workers => "workers",
            Axis::Items => "items",
            Axis::AppMb => "app-mb",
        }
    }
}

/// `--sweep AXIS=V1,V2,...`: the same comparison at each value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sweep {
    pub axis: Axis,
    pub values: Vec<u64>,
}

/// More points than this is surely a typo (each point is a whole comparison).
pub const MAX_SWEEP_POINTS: usize = 32;

impl Sweep {
    /// Parse `workers=1,2,4` (clap value parser).
    pub fn parse(s: &str) -> Result<Sweep, String> {
        let (axis, list) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not AXIS=LIST (e.g. workers=1,2,4)"))?;
        let (axis, min, max) = match axis.trim() {
            "workers" => (Axis::Workers, 1, MAX_WORKERS),
            "items" => (Axis::Items, 1, MAX_ITEMS),
            "app-mb" | "app_mb" => (Axis::AppMb, 0, MAX_APP_MB),
            other => {
                return Err(format!(
                    "unknown sweep axis '{other}' (valid: workers, items, app-mb)"
                ))
            }
        };
        let mut values = Vec::new();
        for v in list.split(',').map(str::trim) {
            let n: u64 = v
                .parse()
                .map_err(|_| format!("'{v}' is not a whole number (in --sweep {s})"))?;
            if !(min..=max).contains(&n) {
                return Err(format!("{}={n} is outside {min}..={max}", axis.name()));
            }
            if values.contains(&n) {
                return Err(format!("{}={n} appears twice", axis.name()));
            }
            values.push(n);
        }
        if values.len() > MAX_SWEEP_POINTS {
            return Err(format!("at most {MAX_SWEEP_POINTS} sweep points"));
        }
        Ok(Sweep { axis, values })
    }

    /// The sweep as typed: `workers=1,8,32`.
    pub fn describe(&self) -> String {
        let values: Vec<_> = self.values.iter().map(u64::to_string).collect();
        format!("{}={}", self.axis.name(), values.join(","))
    }
}

/// Everything `compare` will do, resolved from flags and preset before anything runs.
#[derive(Clone)]
pub struct Plan {
    pub workload: Workload,
    pub strategies: Vec<&'static StrategyInfo>,
    pub runs: u32,
    pub workers: Option<u64>,
    pub items: Option<u64>,
    pub knobs: Knobs,
    pub sync: Option<SyncMode>,
    pub app_mb: u64,
    pub sweep: Option<Sweep>,
    pub preset: Option<Preset>,
    pub out: PathBuf,
    /// The command line, to reproduce the report.
    pub command: String,
    /// Things the user should know about how flags were resolved.
    pub notes: Vec<String>,
}

impl Plan {
    /// Resolve flags and preset; a combination that makes no sense is a usage error.
    pub fn from_request(args: &CompareRequest) -> anyhow::Result<Plan> {
        let mut notes = Vec::new();
        let preset = args.preset;
        let mut sweep = args.sweep.clone();
        if let Some(s) = &sweep {
            let clash = match s.axis {
                Axis::Workers => args.workers.is_some().then_some("--workers"),
                Axis::Items => args.items.is_some().then_some("--items"),
                Axis::AppMb => args.app_mb.is_some().then_some("--app-mb"),
            };
            if let Some(flag) = clash {
                return usage(format!(
                    "{flag} and --sweep {} both set {}; give one of them",
                    s.describe(),
                    s.axis.name()
                ));
            }
        }
        if sweep.is_none() {
            if let Some(p) = preset {
                let s = p.sweep();
                if args.workers.is_some() {
                    notes.push(format!(
                        "--workers given: the {} preset's sweep ({}) is not used",
                        p.name(),
                        s.describe()
                    ));
                } else {
                    sweep = Some(s);
                }
            }
        }
        let mut strategies: Vec<&'static StrategyInfo> = Vec::new();
        if args.strategies.is_empty() {
            strategies.extend(STRATEGIES.iter().copied());
        } else {
            for &info in &args.strategies {
                if !strategies.contains(&info) {
                    strategies.push(info);
                }
            }
        }
        Ok(Plan {
            workload: args.workload,
            strategies,
            runs: args
                .runs
                .or(preset.map(Preset::runs))
                .unwrap_or(DEFAULT_RUNS),
            workers: args.workers,
            items: args.items,
            knobs: args.knobs,
            sync: args.sync,
            app_mb: args.app_mb.or(preset.map(Preset::app_mb)).unwrap_or(0),
            sweep,
            preset,
            out: args.out.clone(),
            command: command_line(),
            notes,
        })
    }

    /// The sweep values, or one point (`None`) without a sweep.
    pub fn points(&self) -> Vec<Option<u64>> {
        match &self.sweep {
            Some(s) => s.values.iter().copied().map(Some).collect(),
            None => vec![None],
        }
    }

    /// `workers=8`, or "" without a sweep.
    pub fn point_label(&self, value: Option<u64>) -> String {
        match (&self.sweep, value) {
            (Some(s), Some(v)) => format!("{}={v}", s.axis.name()),
            _ => String::new(),
        }
    }

    /// The `--app-mb` in force at a point.
    pub fn app_mb_at(&self, value: Option<u64>) -> u64 {
        match (&self.sweep, value) {
            (Some(s), Some(v)) if s.axis == Axis::AppMb => v,
            _ => self.app_mb,
        }
    }

    /// The run of one strategy at one point, and whether a worker count asked for (by
    /// `--workers` or a workers sweep) does not apply to it (`sequential` and `threads` fix
    /// their own).
    pub fn request(&self, info: &'static StrategyInfo, value: Option<u64>) -> (RunRequest, bool) {
        let (mut workers, mut items) = (self.workers, self.items);
        if let (Some(s), Some(v)) = (&self.sweep, value) {
            match s.axis {
                Axis::Workers => workers = Some(v),
                Axis::Items => items = Some(v),
                Axis::AppMb => {}
            }
        }
        let fixed = !info.workers.takes_count() && workers.is_some();
        let mut run = RunRequest::new(info, self.workload).workers_if_counted(workers);
        run.items = items;
        run.knobs = self.knobs;
        run.sync = self.sync;
        run.app_mb = self.app_mb_at(value);
        (run, fixed)
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("concur {}", args.join(" "))
}

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
    pub floors: Vec<floors::Floor>,
}

impl Results {
    /// Runs that were measured (failed runs are rows too, without a measurement).
    pub fn measured_runs(&self) -> usize {
        self.rows.iter().filter(|r| r.measurement.is_some()).count()
    }

    /// The point the single-point charts show: the only one, or a sweep's last (largest).
    pub fn headline(&self) -> &PointResult {
        self.points.last().expect("a plan has at least one point")
    }
}

/// `concur compare`, as asked: `None` is "the default" (or the preset's).
#[derive(Clone, Debug)]
pub struct CompareRequest {
    pub workload: Workload,
    /// Empty: every strategy.
    pub strategies: Vec<&'static StrategyInfo>,
    pub runs: Option<u32>,
    pub workers: Option<u64>,
    pub items: Option<u64>,
    pub knobs: Knobs,
    pub sync: Option<SyncMode>,
    pub app_mb: Option<u64>,
    pub out: PathBuf,
    pub sweep: Option<Sweep>,
    pub preset: Option<Preset>,
}

/// `concur compare`.
pub fn compare(args: &CompareRequest) -> anyhow::Result<()> {
    let plan = Plan::from_request(args)?;
    let (mut points, specs) = prepare(&plan)?;
    // Fail before measuring anything if the report cannot be written.
    std::fs::create_dir_all(&plan.out)
        .map_err(|e| Error::Usage(format!("cannot create --out {}: {e}", plan.out.display())))?;
    for note in &plan.notes {
        eprintln!("concur: note: {note}");
    }
    // Ctrl-C stops after the current run (the harness forwards it to the measured child), and
    // the report of what ran is still written; then exit 130.
    crate::sys::signals::catch()?;
    let started = Instant::now();
    let rows = run_all(&plan, &mut points, specs);
    let elapsed_s = started.elapsed().as_secs_f64();
    for point in &mut points {
        add_per_worker(point);
    }
    let ratios = points.iter().filter_map(Ratio::at).collect();
    let mut results = Results {
        plan,
        machine: Machine::here(),
        points,
        rows,
        ratios,
        elapsed_s,
        floors: Vec::new(),
    };
    if results.plan.workload == Workload::Noop {
        match floors::measure_limits() {
            Ok(limits) => results.floors = floors::floors(&results, &limits),
            Err(e) => eprintln!("concur: warning: no floors: {e:#}"),
        }
    }
    print!("{}", crate::app::compare::render::table::render(&results));
    print!("{}", floors::render(&results.floors));
    print!("{}", crate::app::compare::render::chart::render(&results));
    write_report(&results)?;
    match crate::sys::signals::interrupted() {
        Some(sig) => Err(crate::error::Error::Interrupted(sig).into()),
        None => Ok(()),
    }
}

/// The spec of each cell (`None`: skipped), point by point.
type Specs = Vec<Vec<Option<RunSpec>>>;

/// Resolve every strategy's spec at every point. Strategies that cannot run here, or cannot do
/// what was asked, become skipped cells; if *no* strategy can do what was asked, that is a usage
/// error (e.g. `--sync mutex` without `-w wallet`).
fn prepare(plan: &Plan) -> anyhow::Result<(Vec<PointResult>, Specs)> {
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

/// Run every prepared cell: a warm-up, then the measured runs; stop a strategy at its first
/// failure. Returns one row per measured run (and per failed warm-up).
fn run_all(plan: &Plan, points: &mut [PointResult], specs: Specs) -> Vec<RunRow> {
    let per_cell = u64::from(WARMUPS + plan.runs);
    let total: u64 = specs.iter().flatten().filter(|s| s.is_some()).count() as u64 * per_cell;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} runs  {msg}  ({elapsed})")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    let mut rows = Vec::new();
    'points: for (point, point_specs) in points.iter_mut().zip(specs) {
        for (cell, spec) in point.cells.iter_mut().zip(point_specs) {
            if let Some(sig) = crate::sys::signals::interrupted() {
                // Ctrl-C: measure nothing more; what was measured still makes a report.
                bar.suspend(|| {
                    eprintln!(
                        "concur: {}: stopping; writing the report of what ran",
                        sig.as_str()
                    )
                });
                break 'points;
            }
            let Some(spec) = spec else {
                if let Status::Skipped(why) = &cell.status {
                    bar.suspend(|| {
                        eprintln!(
                            "  {:<11}{} skipped: {why}",
                            cell.info.name,
                            at(&point.label)
                        )
                    });
                }
                continue;
            };
            for run in 0..(WARMUPS + plan.runs) {
                let what = if run < WARMUPS {
                    "warm-up".to_owned()
                } else {
                    format!("run {}/{}", run - WARMUPS + 1, plan.runs)
                };
                bar.set_message(format!("{}{} {what}", cell.info.name, at(&point.label)));
                let result = measure_one(&spec);
                bar.inc(1);
                if let Some(sig) = crate::sys::signals::interrupted() {
                    // This run was cut short: it is not a measurement.
                    cell.status = Status::Failed(format!("stopped by {}", sig.as_str()));
                    break;
                }
                let number = (run + 1).saturating_sub(WARMUPS);
                match result {
                    Ok((m, child_stderr)) => {
                        for line in child_stderr.lines().filter(|l| !l.trim().is_empty()) {
                            bar.suspend(|| eprintln!("  [{}] {line}", cell.info.name));
                        }
                        if run >= WARMUPS {
                            rows.push(RunRow {
                                point: point.label.clone(),
                                point_value: point.value,
                                strategy: cell.info.name.to_owned(),
                                run: number,
                                error: None,
                                measurement: Some(m.clone()),
                            });
                            cell.runs.push(m);
                        }
                    }
                    Err(why) => {
                        let why = if run < WARMUPS {
                            format!("warm-up: {why}")
                        } else {
                            why
                        };
                        rows.push(RunRow {
                            point: point.label.clone(),
                            point_value: point.value,
                            strategy: cell.info.name.to_owned(),
                            run: number,
                            error: Some(why.clone()),
                            measurement: None,
                        });
                        cell.status = Status::Failed(why);
                        bar.inc(per_cell - u64::from(run) - 1);
                        break;
                    }
                }
            }
            // A strategy that failed part-way has no headline numbers: its good runs stay in the
            // rows (and the CSV), but a median of the runs that happened to work would mislead.
            if cell.status == Status::Ok {
                cell.summary = Summary::of(&cell.runs);
            }
            let line = match (&cell.status, &cell.summary) {
                (Status::Failed(why), _) => format!("FAILED: {why}"),
                (_, Some(s)) => format!(
                    "median {}  RSS {}  {}",
                    crate::sys::units::seconds(s.wall_median_s),
                    crate::sys::units::bytes(s.peak_rss_median_bytes),
                    if s.all_correct() { "ok" } else { "WRONG" }
                ),
                _ => String::new(),
            };
            bar.suspend(|| eprintln!("  {:<11}{} {line}", cell.info.name, at(&point.label)));
        }
    }
    bar.finish_and_clear();
    rows
}

fn at(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" ({label})")
    }
}

/// One run through the harness, with the child's stderr kept: on failure its last line is the
/// reason (the child says what went wrong; the harness only knows that it did).
fn measure_one(spec: &RunSpec) -> Result<(Measurement, String), String> {
    let mut file = tempfile::tempfile().map_err(|e| format!("creating a temp file: {e}"))?;
    let for_child = file
        .try_clone()
        .map_err(|e| format!("duplicating a file handle: {e}"))?;
    let result = harness::measure_with_stderr(spec, Stream::Discard, Stdio::from(for_child));
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

/// Per-worker memory: what each worker adds over the one-worker baseline (sequential, same
/// point, same app), when sequential ran.
fn add_per_worker(point: &mut PointResult) {
    let Some(base) = point
        .cell("sequential")
        .and_then(|c| c.summary.as_ref())
        .map(|s| (s.peak_rss_median_bytes, s.peak_pss_median_bytes))
    else {
        return;
    };
    for cell in &mut point.cells {
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

/// Write every file; a file that cannot be written is reported and the others still are.
/// An error only when none could be.
fn write_report(results: &Results) -> anyhow::Result<()> {
    use crate::app::compare::render::{export, html, svg};
    let out = &results.plan.out;
    let mut svgs: Vec<(&str, String)> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut charts: Vec<(&str, anyhow::Result<String>)> = vec![
        ("time.svg", svg::time(results)),
        ("memory.svg", svg::memory(results)),
        ("tradeoff.svg", svg::tradeoff(results)),
    ];
    if results.plan.sweep.is_some() {
        charts.push(("sweep.svg", svg::sweep(results)));
    }
    for (name, chart) in charts {
        match chart {
            Ok(text) => svgs.push((name, text)),
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    let mut files: Vec<(String, anyhow::Result<Vec<u8>>)> = vec![
        ("results.json".into(), export::json(results)),
        ("results.csv".into(), export::csv(results)),
    ];
    for (name, text) in &svgs {
        files.push(((*name).to_owned(), Ok(text.clone().into_bytes())));
    }
    files.push((
        "report.html".into(),
        Ok(html::render(results, &svgs).into_bytes()),
    ));
    let mut written = Vec::new();
    for (name, bytes) in files {
        match bytes.and_then(|b| write_file(&out.join(&name), &b)) {
            Ok(()) => written.push(name),
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    for f in &failed {
        eprintln!("concur: warning: could not write {f}");
    }
    if written.is_empty() {
        anyhow::bail!("no report file could be written in {}", out.display());
    }
    eprintln!(
        "concur: {} measured runs in {:.1} s; wrote {} in {}/",
        results.measured_runs(),
        results.elapsed_s,
        written.join(", "),
        out.display()
    );
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy;

    #[test]
    fn parses_sweeps() {
        let s = Sweep::parse("workers=1,8,32").unwrap();
        assert_eq!(s.axis, Axis::Workers);
        assert_eq!(s.values, vec![1, 8, 32]);
        assert_eq!(s.describe(), "workers=1,8,32");
        assert_eq!(Sweep::parse("app-mb=0,100").unwrap().axis, Axis::AppMb);
        assert!(Sweep::parse("workers").is_err());
        assert!(Sweep::parse("cores=1,2").is_err());
        assert!(Sweep::parse("workers=0,2").is_err());
        assert!(Sweep::parse("workers=2,2").is_err());
        assert!(Sweep::parse("items=a").is_err());
    }

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
        add_per_worker(&mut point);
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
