//! What a run is asked to do ([`RunSpec`]) and what it reports back ([`Outcome`]): the
//! interface every strategy implements, `fn(&RunSpec) -> Result<Outcome>`.
//!
//! Both cross a process boundary: the harness serialises the spec to JSON for the measured child
//! (`concur __exec`), and the child writes its outcome to a file the harness reads after reaping
//! it. Keeping them plain data keeps the two sides honest about what is measured. A spec is made
//! only by the request layer (`concur::request`), which checks every limit; nothing here has a default of its own.

use crate::workload::fault::FaultSpec;
use crate::workload::transfer::TransferOutcome;
use crate::workload::wallet::{SyncMode, WalletOutcome};
use crate::workload::{Knobs, Workload};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Everything the measured child needs to run one workload under one strategy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    /// A name from the registry ([`crate::strategy::find`]); the child resolves it again.
    pub strategy: String,
    pub workload: Workload,
    pub workers: usize,
    pub items: u64,
    /// Each workload's own knob (repeat, pause, cost, wait).
    #[serde(flatten)]
    pub knobs: Knobs,
    pub sync: SyncMode,
    pub app_mb: u64,
    /// `--dirty`: the percentage of the app's pages each forked worker writes.
    pub dirty_pct: u8,
    /// `redis`: the server to use; `None` = start a private one.
    pub redis_url: Option<String>,
    /// `redis`: jobs fetched per LPOP (1 = one round trip per job).
    pub batch: u64,
    /// `--fault`: one job in K crashes, panics, leaks or hangs.
    pub fault: Option<FaultSpec>,
    /// `--job-timeout` in milliseconds: a job running longer is killed (processes) or stops the
    /// run (threads, which cannot be killed).
    pub job_timeout_ms: Option<u64>,
    /// `--shutdown-timeout` in milliseconds: after SIGINT/SIGTERM, how long running jobs may
    /// finish before the harness kills them.
    pub shutdown_timeout_ms: u64,
    /// `-w transfer --schedule`: the order of lock attempts to force (`l1 l2 l1 l2`).
    #[serde(default)]
    pub lock_schedule: Option<String>,
}

/// A job that failed, and why. `job` is `None` for a failure that belongs to no one job (a
/// worker thread that died, a run killed before it reported).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
    pub why: String,
}

impl Failure {
    /// Job `job` failed because `why`.
    pub fn job(job: u64, why: impl Into<String>) -> Failure {
        Failure {
            job: Some(job),
            why: why.into(),
        }
    }

    /// A failure of the run rather than of one job.
    pub fn run(why: impl Into<String>) -> Failure {
        Failure {
            job: None,
            why: why.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.job {
            Some(job) => write!(f, "job {job}: {}", self.why),
            None => f.write_str(&self.why),
        }
    }
}

/// Why a run stopped before handing out every job. On the wire and in `--json` it is the text
/// of its [`Display`](fmt::Display): `SIGINT`, `SIGTERM (then killed)`, `job timeout`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT or SIGTERM asked for a graceful stop: no new job started, running ones finished.
    Signal(Signal),
    /// The same, but jobs still running after `--shutdown-timeout` (or a second signal) were
    /// killed, and the child's own report was lost with them.
    Killed(Signal),
    /// An in-process job ran past `--job-timeout`; a thread cannot be killed, so the run stopped.
    JobTimeout,
    /// Transfers deadlocked: the waiters were aborted and no further job started.
    Deadlock,
}

impl Stop {
    /// What a measured child reports when `skipped` jobs were never started: the signal that
    /// asked for the stop (none if every job started).
    pub fn if_skipped(skipped: u64) -> Option<Stop> {
        (skipped > 0).then(Stop::requested).flatten()
    }

    /// The SIGINT/SIGTERM that asked this process to stop, if one did.
    pub fn requested() -> Option<Stop> {
        crate::sys::signals::stop_signal().map(Stop::Signal)
    }

    /// The signal behind the stop, if one was.
    pub fn signal(self) -> Option<Signal> {
        match self {
            Stop::Signal(s) | Stop::Killed(s) => Some(s),
            Stop::JobTimeout | Stop::Deadlock => None,
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Signal(s) => f.write_str(s.as_str()),
            Stop::Killed(s) => write!(f, "{} (then killed)", s.as_str()),
            Stop::JobTimeout => f.write_str("job timeout"),
            Stop::Deadlock => f.write_str("deadlock"),
        }
    }
}

impl std::str::FromStr for Stop {
    type Err = String;
    fn from_str(text: &str) -> Result<Stop, String> {
        match text {
            "job timeout" => return Ok(Stop::JobTimeout),
            "deadlock" => return Ok(Stop::Deadlock),
            _ => {}
        }
        let (name, killed) = match text.strip_suffix(" (then killed)") {
            Some(name) => (name, true),
            None => (text, false),
        };
        let sig: Signal = name.parse().map_err(|_| format!("not a stop: '{text}'"))?;
        Ok(if killed {
            Stop::Killed(sig)
        } else {
            Stop::Signal(sig)
        })
    }
}

impl Serialize for Stop {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Stop, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What the measured child reports about its own run. Measurements (time, memory) are not here:
/// the harness takes those from outside.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Jobs performed (successfully or not).
    pub jobs: u64,
    /// Workers actually used (threads, tasks, actors, processes).
    pub workers: usize,
    pub failures: Vec<Failure>,
    pub wallet: Option<WalletOutcome>,
    /// Transfer workload: the accounts' books, and the deadlock if there was one.
    #[serde(default)]
    pub transfer: Option<TransferOutcome>,
    /// Seconds spent inside the strategy itself, by the child's own clock.
    pub work_s: f64,
    /// Lines worth showing under the summary (e.g. "isolated: 0 of N updates reached the parent").
    pub notes: Vec<String>,
    /// The child's own PSS at the end of its run: the fallback when a run is too quick for the
    /// harness to sample even once.
    pub self_pss_bytes: u64,
    /// Why the run stopped before handing out every job.
    #[serde(rename = "stopped_by")]
    pub stop: Option<Stop>,
    /// Jobs never started because of that stop.
    pub jobs_not_started: u64,
    /// The measured child's own RSS just before the strategy ran and just after: a leak kept
    /// in the process shows as the difference; a leak in a forked child does not.
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    /// Jobs killed or abandoned for running past `--job-timeout`.
    pub jobs_timed_out: u64,
    /// Processes the measured child forked, counted at each fork (a sampler misses the short
    /// ones).
    pub processes_forked: u64,
    /// From a hung job's start to the moment it was found and dealt with (the first one).
    pub hang_detected_s: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_read_back_what_they_print() {
        for stop in [
            Stop::Signal(Signal::SIGINT),
            Stop::Killed(Signal::SIGTERM),
            Stop::JobTimeout,
            Stop::Deadlock,
        ] {
            assert_eq!(stop.to_string().parse::<Stop>(), Ok(stop));
        }
        assert_eq!(
            Stop::Killed(Signal::SIGINT).to_string(),
            "SIGINT (then killed)"
        );
        assert!("SIGNOPE".parse::<Stop>().is_err());
    }

    #[test]
    fn failures_name_their_job() {
        assert_eq!(Failure::job(3, "panicked").to_string(), "job 3: panicked");
        assert_eq!(Failure::run("killed").to_string(), "killed");
    }
}
