//! What each strategy survives, measured rather than declared: one short run with a crashing
//! job and one with a hung job, under the same harness as every other run.
//!
//! Why measure it when `concur list` already prints each strategy's properties? Because a
//! property is a claim, and the trade-off the report draws (memory per worker against safety)
//! should stand on what happened here. `rpc` shows why: its workers are processes, so a crash
//! kills only one of them, yet nobody replaces a dead worker, and jobs are left that never ran.
//! The probes are `concur chaos` in miniature, on 2 workers: 6 no-op jobs, three of which abort
//! the process (`--fault crash`: more crashes than workers, so a strategy must replace a dead
//! worker to finish the queue), then 4 jobs, one of which never returns (`--fault hang`) with a
//! 200 ms `--job-timeout`. A strategy *survives* a probe when the faulty jobs failed and every other
//! job ran; a run that died, stopped, or lost other jobs did not.

use super::plan::Plan;
use super::runner::measure_limited;
use crate::error::is_usage;
use crate::harness::Measurement;
use crate::request::{self, RunRequest};
use crate::strategy::StrategyInfo;
use crate::workload::fault::Fault;
use crate::workload::Workload;
use serde::Serialize;
use std::time::Duration;

/// A hung job is noticed after this long.
const HANG_TIMEOUT: Duration = Duration::from_millis(200);
/// A probe that has not ended after this long is stopped (as by SIGTERM) and has failed:
/// nothing dealt with its hung job.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "kebab-case")]
pub enum Probe {
    /// The faulty jobs failed alone; every other job ran.
    Survived(String),
    /// The run died, stopped, or lost other jobs.
    Failed(String),
    /// Not probed: the fault is not wired into this strategy, or it cannot run here.
    NotProbed(String),
}

impl Probe {
    pub fn survived(&self) -> bool {
        matches!(self, Probe::Survived(_))
    }

    /// `✓`, `✗` or `-`.
    pub fn mark(&self) -> &'static str {
        match self {
            Probe::Survived(_) => "✓",
            Probe::Failed(_) => "✗",
            Probe::NotProbed(_) => "-",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Probe::Survived(d) | Probe::Failed(d) | Probe::NotProbed(d) => d,
        }
    }
}

/// One strategy's measured safety.
#[derive(Clone, Debug, Serialize)]
pub struct Safety {
    pub strategy: String,
    /// A job that aborts its process (a segfault in native code).
    pub crash: Probe,
    /// A job that never returns.
    pub hang: Probe,
}

impl Safety {
    /// `crash ✓ hang ✗`, for tables and charts.
    pub fn marks(&self) -> String {
        format!("crash {} hang {}", self.crash.mark(), self.hang.mark())
    }

    /// How many probes it survived, 0..=2: the safety axis of the trade-off.
    pub fn score(&self) -> u8 {
        u8::from(self.crash.survived()) + u8::from(self.hang.survived())
    }
}

/// Probe every strategy of the plan; `say` reports each as it finishes.
pub fn probe_all(plan: &Plan, mut say: impl FnMut(&Safety)) -> Vec<Safety> {
    let mut out = Vec::new();
    for &info in &plan.strategies {
        if crate::sys::signals::interrupted().is_some() {
            break;
        }
        let safety = Safety {
            strategy: info.name.to_owned(),
            crash: probe(info, Fault::Crash),
            hang: probe(info, Fault::Hang),
        };
        say(&safety);
        out.push(safety);
    }
    out
}

/// The probe run of `info` with `fault`: few no-op jobs, two workers where a count applies.
fn request(info: &'static StrategyInfo, fault: Fault) -> RunRequest {
    let mut run = RunRequest::new(info, Workload::Noop).workers_if_counted(Some(2));
    // More crashing jobs (3) than workers (2): the rest of the queue runs only if a dead
    // worker is replaced, as a Resque or a resque-pool does.
    let (items, every) = match fault {
        Fault::Hang => (4, 4),
        _ => (6, 2),
    };
    run.items = Some(items);
    run.fault = request::fault(Some(fault), every, request::DEFAULT_LEAK_MB);
    if fault == Fault::Hang {
        run.job_timeout = Some(HANG_TIMEOUT);
        run.shutdown_timeout = Duration::from_secs(1);
    }
    run
}

/// Run one probe and judge it.
fn probe(info: &'static StrategyInfo, fault: Fault) -> Probe {
    if let Some(why) = (info.unavailable)() {
        return Probe::NotProbed(why);
    }
    let spec = match request(info, fault).resolve() {
        Ok(spec) => spec,
        Err(e) if is_usage(&e) => return Probe::NotProbed(e.to_string()),
        Err(e) => return Probe::NotProbed(format!("{e:#}")),
    };
    let faulty = spec.fault.map(|f| f.count(spec.items)).unwrap_or(0);
    match measure_limited(&spec, Some(PROBE_LIMIT)) {
        Ok((m, _)) => judge(&m, faulty),
        // The measured child died: a crash in a shared process takes every job with it.
        Err(why) => Probe::Failed(why.split(':').next().unwrap_or(&why).trim().to_owned()),
    }
}

/// Survived: not stopped, the faulty jobs (and only they) failed, and every job ran.
fn judge(m: &Measurement, faulty: u64) -> Probe {
    if let Some(stop) = m.stop {
        return Probe::Failed(match stop {
            crate::strategy::Stop::JobTimeout => {
                "the run stopped: a thread cannot be killed".into()
            }
            _ => "the hung job was never dealt with: the run had to be stopped".into(),
        });
    }
    let per_job = m.failures.iter().filter(|f| f.job.is_some()).count() as u64;
    let never_ran = m.items.saturating_sub(m.jobs);
    let others = m.failures.len() as u64 - per_job;
    if per_job == faulty && never_ran == 0 && others == 0 {
        Probe::Survived(format!(
            "{faulty} faulty job{} failed alone; the other {} ran",
            if faulty == 1 { "" } else { "s" },
            m.items - faulty
        ))
    } else {
        let first = m
            .failures
            .iter()
            .find(|f| f.job.is_none())
            .map(|f| format!(": {}", f.why))
            .unwrap_or_default();
        Probe::Failed(format!(
            "{per_job} of {faulty} faulty jobs reported, {} of {} jobs ran{first}",
            m.jobs, m.items
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_scores() {
        let s = Safety {
            strategy: "fork".into(),
            crash: Probe::Survived("x".into()),
            hang: Probe::Failed("y".into()),
        };
        assert_eq!(s.marks(), "crash ✓ hang ✗");
        assert_eq!(s.score(), 1);
        assert_eq!(Probe::NotProbed("z".into()).mark(), "-");
    }
}
