//! `concur chaos`: assume chaos, and watch which strategies survive it.
//!
//! Resque's README gives its reason to fork a process per job: jobs "will lock up, run too long,
//! or have unwanted memory growth". This command makes that claim something a workshop can
//! watch: every strategy runs the same jobs with one job in K broken on purpose
//! ([`crate::workload::fault`]), each run in its own measured child exactly as `concur run`
//! does, and a table says what survived: jobs completed, failed and never run, whether the run
//! finished at all, the measured process's own RSS before and after its jobs (a leak kept or
//! returned), and how long a hung job went unnoticed.
//!
//! A run that dies is a result here, not an error: the harness reports how it died and the
//! table goes on. Ctrl-C stops after the current run, which stops gracefully itself.

use crate::error::{usage, Error};
use crate::harness::{self, Measurement, Stream};
use crate::request::{self, RunRequest};
use crate::strategy::{Stop, StrategyInfo};
use crate::sys::table::Table;
use crate::sys::units::{bytes, seconds};
use crate::workload::fault::Fault;
use crate::workload::Workload;
use serde::Serialize;
use std::time::Duration;

/// A hang needs a timeout to be noticed at all; chaos uses this one unless told otherwise.
pub const DEFAULT_HANG_TIMEOUT: Duration = Duration::from_secs(1);

/// One strategy under one fault.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub strategy: String,
    pub fault: Fault,
    pub jobs: u64,
    /// Jobs the fault strikes.
    pub faulty: u64,
    /// Jobs that ran to the end without failing (`None`: unknown, the run died).
    pub completed: Option<u64>,
    /// Jobs reported failed (`None`: unknown, the run died).
    pub failed: Option<u64>,
    /// Jobs that never ran.
    pub not_run: Option<u64>,
    /// Did the run get to the end of its jobs and report them?
    pub finished: bool,
    /// How it ended, in words.
    pub ending: String,
    pub rss_start_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub hang_detected_s: Option<f64>,
    pub wall_s: Option<f64>,
    /// The full measurement of the run, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Measurement>,
}

/// `concur chaos`: which faults, under which strategies, on what jobs.
#[derive(Clone, Debug)]
pub struct ChaosRequest {
    pub faults: Vec<Fault>,
    pub strategies: Vec<&'static StrategyInfo>,
    /// The healthy jobs' workload.
    pub workload: Workload,
    pub items: u64,
    /// One job in `every` is faulty.
    pub every: u64,
    /// For strategies with a worker count.
    pub workers: Option<u64>,
    pub leak_mb: u64,
    /// A job running longer is a hang [default: [`DEFAULT_HANG_TIMEOUT`] for `hang`].
    pub job_timeout: Option<Duration>,
    /// Sleep: milliseconds each healthy job waits.
    pub wait_ms: u64,
    pub json: bool,
}

/// `concur chaos`.
pub fn chaos(req: &ChaosRequest) -> anyhow::Result<()> {
    if let Some(s) = req
        .strategies
        .iter()
        .find(|s| s.needs_redis && !s.props.survives_crash)
    {
        return usage(format!(
            "chaos: --fault is not wired into -s {} (its jobs are JSON in Redis)",
            s.name
        ));
    }
    let mut rows = Vec::new();
    let mut stopped = None;
    'all: for &fault in &req.faults {
        for &strategy in &req.strategies {
            if !req.json {
                eprintln!(
                    "concur chaos: {} with --fault {}",
                    strategy.name,
                    fault.name()
                );
            }
            match run_one(req, strategy, fault) {
                Ok(row) => rows.push(row),
                Err(e) => match e.downcast_ref::<Error>() {
                    Some(Error::Interrupted(sig)) => {
                        stopped = Some(*sig);
                        break 'all;
                    }
                    _ => return Err(e),
                },
            }
            if let Some(sig) = crate::sys::signals::interrupted() {
                stopped = Some(sig);
                break 'all;
            }
        }
    }
    let json = serde_json::json!({ "rows": rows, "stopped_by": stopped.map(|s| s.as_str()) });
    crate::app::json_copy(&json)?;
    if req.json {
        println!("{json}");
    } else {
        print!("{}", table(&rows));
        print!("{}", lessons(&rows));
    }
    match stopped {
        Some(sig) => Err(Error::Interrupted(sig).into()),
        None => Ok(()),
    }
}

/// The run of `strategy` under `fault`, checked exactly as `concur run` checks it.
fn request(req: &ChaosRequest, strategy: &'static StrategyInfo, fault: Fault) -> RunRequest {
    let mut run = RunRequest::new(strategy, req.workload).workers_if_counted(req.workers);
    run.items = Some(req.items);
    run.knobs.wait_ms = req.wait_ms;
    run.fault = request::fault(Some(fault), req.every, req.leak_mb);
    run.job_timeout = req
        .job_timeout
        .or((fault == Fault::Hang).then_some(DEFAULT_HANG_TIMEOUT));
    run
}

/// Measure one run; a run that dies is a row too.
fn run_one(
    req: &ChaosRequest,
    strategy: &'static StrategyInfo,
    fault: Fault,
) -> anyhow::Result<Row> {
    let spec = request(req, strategy, fault).resolve()?;
    let faulty = spec.fault.map(|f| f.count(spec.items)).unwrap_or(0);
    let items = spec.items;
    match harness::measure(&spec, Stream::Discard) {
        Ok(m) => Ok(row_from(m, fault, items, faulty)),
        Err(e) => match e.downcast_ref::<Error>() {
            // The run died (a crash in a shared process): that is the row.
            Some(Error::RunFailed { why, .. }) => Ok(died(strategy, fault, items, faulty, why)),
            _ => Err(e),
        },
    }
}

/// The row of a run that died before it could report.
fn died(strategy: &StrategyInfo, fault: Fault, items: u64, faulty: u64, why: &str) -> Row {
    let ending = why.strip_prefix("the measured run was ").unwrap_or(why);
    Row {
        strategy: strategy.name.to_owned(),
        fault,
        jobs: items,
        faulty,
        completed: None,
        failed: None,
        not_run: None,
        finished: false,
        ending: ending.split(':').next().unwrap_or(ending).to_owned(),
        rss_start_bytes: None,
        rss_end_bytes: None,
        peak_rss_bytes: None,
        hang_detected_s: None,
        wall_s: None,
        run: None,
    }
}

fn row_from(m: Measurement, fault: Fault, items: u64, faulty: u64) -> Row {
    // Failures of a job are failed jobs; the others explain (e.g. a dead worker).
    let failed = m.failures.iter().filter(|f| f.job.is_some()).count() as u64;
    let completed = m.jobs.saturating_sub(failed);
    let not_run = items.saturating_sub(completed + failed);
    let (finished, ending) = match m.stop {
        Some(Stop::JobTimeout) => (false, "stopped: a thread cannot be killed".to_owned()),
        Some(stop) => (false, format!("stopped by {stop}")),
        None if not_run > 0 => (true, format!("finished, {not_run} jobs never ran")),
        None => (true, "finished".to_owned()),
    };
    Row {
        strategy: m.strategy.clone(),
        fault,
        jobs: items,
        faulty,
        completed: Some(completed),
        failed: Some(failed),
        not_run: Some(not_run),
        finished,
        ending,
        rss_start_bytes: Some(m.rss_start_bytes),
        rss_end_bytes: Some(m.rss_end_bytes),
        peak_rss_bytes: Some(m.peak_rss_bytes),
        hang_detected_s: m.hang_detected_s,
        wall_s: Some(m.wall_s),
        run: Some(m),
    }
}

/// The survival table. Nothing in it is cut short: on a terminal a long ending wraps in its
/// column; off one, a row is one line however long.
pub fn table(rows: &[Row]) -> String {
    let opt = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
    let mut table = Table::new([
        "fault",
        "strategy",
        "jobs",
        "done",
        "failed",
        "not run",
        "the run",
        "own RSS start -> end",
        "hang found",
    ])
    .right(&[2, 3, 4, 5, 7, 8])
    .nowrap(&[1]);
    for r in rows {
        let rss = match (r.rss_start_bytes, r.rss_end_bytes) {
            (Some(a), Some(b)) if a > 0 => format!("{} -> {}", bytes(a), bytes(b)),
            _ => "-".into(),
        };
        let hang = r.hang_detected_s.map(seconds).unwrap_or_else(|| "-".into());
        table.row([
            r.fault.name().to_owned(),
            r.strategy.clone(),
            r.jobs.to_string(),
            opt(r.completed),
            opt(r.failed),
            opt(r.not_run),
            r.ending.clone(),
            rss,
            hang,
        ]);
    }
    table.render()
}

/// One line per fault that was run: what the table shows.
fn lessons(rows: &[Row]) -> String {
    let mut out = String::new();
    let has = |f: Fault| rows.iter().any(|r| r.fault == f);
    if has(Fault::Crash) {
        out.push_str("crash: a process per job (fork) loses the crashing job; threads share one process, and it dies with all their jobs.\n");
    }
    if has(Fault::Panic) {
        out.push_str("panic: in-process strategies catch it per job; fork sees a DirtyExit (status 101); an rpc worker dies and nobody replaces it.\n");
    }
    if has(Fault::Leak) {
        out.push_str("leak: a forked child's leak goes back to the system when it exits (own RSS flat); threads keep every leaked MiB (own RSS grows).\n");
    }
    if has(Fault::Hang) {
        out.push_str("hang: fork and rpc kill the hung process after --job-timeout (SIGTERM, then SIGKILL) and go on; a thread cannot be killed, so the run stops.\n");
    }
    out
}
