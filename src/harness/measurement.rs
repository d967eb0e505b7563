//! What one measured run found: [`Measurement`], the `run --json` object and one row of
//! `compare`'s results. It is made from the child's own [`Outcome`] and what the harness saw
//! from outside ([`Sampled`]), and it carries the correctness check in one line.

use crate::error::Error;
use crate::strategy::{Failure, Outcome, RunSpec, Stop};
use crate::workload::transfer::{self, TransferOutcome};
use crate::workload::{emoji, Workload};
use serde::Serialize;

/// What to do with the child's emoji stream once it is counted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Pass it on to our stdout as it arrives.
    Show,
    /// Count it and drop it (`--quiet`, `--json`, `compare`).
    Discard,
}

/// One measured run: the `run --json` object and one row of `compare`'s results.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub strategy: String,
    pub workload: Workload,
    pub jobs: u64,
    pub workers: usize,
    pub items: u64,
    pub repeat: u64,
    pub sync: String,
    pub pause_us: u64,
    pub app_mb: u64,
    pub dirty_pct: u8,
    /// Harness clock, spawn to reap.
    pub wall_s: f64,
    /// The strategy's own clock inside the child (excludes process start-up and exit).
    pub work_s: f64,
    /// What measuring from outside cost: wall − work (starting the measured child, its spec
    /// and outcome files, its exit, the last sample), never below zero.
    pub harness_overhead_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub peak_rss_bytes: u64,
    pub peak_pss_bytes: u64,
    pub peak_threads: u64,
    pub peak_processes: u64,
    /// Processes the measured child forked, counted (not sampled): a fork-per-job run makes
    /// one per job, most too short-lived for the sampler to see.
    pub processes_forked: u64,
    pub jobs_per_s: f64,
    pub correct: bool,
    /// One line: what the check found.
    pub check: String,
    pub failed_jobs: u64,
    pub failures: Vec<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_updates: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji_seen: Option<u64>,
    /// Emoji: unbroken blocks of one emoji in the stream, in the order it reached the harness
    /// (`items` when every item printed all of its emoji together; thousands for a shuffle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji_blocks: Option<u64>,
    /// Transfer workload: each account's balance, the totals, back-offs, and the deadlock's
    /// cycle if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<crate::workload::transfer::TransferOutcome>,
    /// Sleep workload: (peak RSS - RSS before the strategy) / peak jobs in flight (see
    /// [`inflight`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_per_in_flight_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_in_flight: Option<u64>,
    pub notes: Vec<String>,
    /// Tree samples taken.
    pub samples: u64,
    /// CPU the sampler spent while the child ran (on its own core; the cost to compare with wall).
    pub sampler_cpu_s: f64,
    /// CPU the harness process spent on the whole run: the sampler, the stdout reader, the
    /// watcher (not counted in `cpu_user_s` / `cpu_sys_s`, which are the child's).
    pub harness_cpu_s: f64,
    /// CPU of the last sample, taken while the child was stopped (excluded from wall).
    pub final_sample_cpu_s: f64,
    /// Descendants still alive after the child exited, killed and reaped by the harness.
    pub orphans_killed: u64,
    /// Why the run stopped before doing every job.
    #[serde(rename = "stopped_by", skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Jobs never started because of that stop.
    pub jobs_not_started: u64,
    /// The measured child's own RSS before the strategy ran, and after (a kept leak shows here).
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    /// `--fault`, when one was injected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<crate::workload::fault::FaultSpec>,
    /// Jobs killed or abandoned for running past `--job-timeout`.
    pub jobs_timed_out: u64,
    /// From a hung job's start to the moment it was dealt with (the first one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hang_detected_s: Option<f64>,
}

/// A run that stopped early (Ctrl-C, SIGTERM, a job timeout in threads) has been reported; this
/// is the error that gives the command its exit code: 130/143 for a signal, 1 for a timeout.
pub fn stopped_error(m: &Measurement) -> anyhow::Result<()> {
    let err = match m.stop {
        None => return Ok(()),
        Some(Stop::Deadlock) => Error::RunFailed {
            why: format!(
                "the transfers deadlocked: {}",
                m.transfer
                    .as_ref()
                    .and_then(|t| t.deadlock.as_ref())
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "no cycle recorded".into())
            ),
            code: 1,
        },
        Some(Stop::JobTimeout) => Error::RunFailed {
            why: format!(
                "the run was stopped: a job ran past --job-timeout, and '{}' cannot kill a thread",
                m.strategy
            ),
            code: 1,
        },
        Some(_) => match crate::sys::signals::interrupted() {
            Some(sig) => Error::Interrupted(sig),
            None => Error::RunFailed {
                why: "the measured run was stopped by a signal".into(),
                code: 1,
            },
        },
    };
    Err(err.into())
}

/// What the harness measured from outside.
pub(super) struct Sampled {
    pub wall_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub peak_rss_bytes: u64,
    pub peak_pss_bytes: u64,
    pub peak_threads: u64,
    pub peak_processes: u64,
    pub samples: u64,
    pub sampler_cpu_s: f64,
    pub harness_cpu_s: f64,
    pub final_sample_cpu_s: f64,
    pub orphans_killed: u64,
}

/// Is the run's result right, and what did the check find, in one line? A stopped run is not
/// right, whatever its jobs did.
fn check(spec: &RunSpec, outcome: &Outcome, tally: &emoji::Tally) -> (bool, String) {
    let failed_jobs = outcome.failures.len() as u64;
    if let Some(t) = &outcome.transfer {
        return transfer_check(spec, outcome, t);
    }
    if let Some(why) = &outcome.stop {
        return (
            false,
            match why {
                Stop::Killed(_) => format!(
                    "stopped by {why}: how many of {} jobs ran is unknown",
                    spec.items
                ),
                _ => format!(
                    "stopped by {why}: {} of {} jobs run, {} not started",
                    outcome.jobs, spec.items, outcome.jobs_not_started
                ),
            },
        );
    }
    // When some jobs never ran (every worker died), one failure line says so; counting it as a
    // failed job among those that ran would read wrong ("3 of 10 jobs failed" for 2 and 10).
    let failed = if outcome.jobs < spec.items && outcome.stop.is_none() {
        format!(
            "{failed_jobs} failures; {} of {} jobs ran",
            outcome.jobs, spec.items
        )
    } else {
        format!("{failed_jobs} of {} jobs failed", outcome.jobs)
    };
    match (&outcome.wallet, spec.workload) {
        (Some(w), _) => {
            // A lost update is a wrong result even when the balance happens to come out right
            // (the +10s and -10s that were lost can cancel, and under fork none arrive at all).
            let ok =
                w.final_balance == w.expected_balance && w.lost_updates == 0 && failed_jobs == 0;
            let isolated = crate::strategy::find(&spec.strategy)
                .is_some_and(|s| s.props.memory == crate::strategy::Memory::Isolated)
                && spec.sync == crate::workload::wallet::SyncMode::None;
            let lost = match w.lost_updates {
                0 => String::new(),
                n if isolated && n == outcome.jobs => {
                    format!(", none of {n} updates reached it (each stayed in its child)")
                }
                n => format!(", {n} of {} updates lost", outcome.jobs),
            };
            (
                ok,
                format!(
                    "final balance {}, expected {}{lost}",
                    w.final_balance, w.expected_balance
                ),
            )
        }
        (None, Workload::Emoji) => match tally.check(spec.items, spec.knobs.repeat) {
            None if failed_jobs == 0 => (
                true,
                format!(
                    "{} emoji x {} each, all present, in {} unbroken blocks",
                    spec.items,
                    spec.knobs.repeat,
                    tally.switches + 1
                ),
            ),
            None => (false, failed),
            Some(problem) => (false, problem),
        },
        (None, w) if failed_jobs == 0 => (
            true,
            match w {
                Workload::Cpu => format!("all {} jobs computed their checked result", outcome.jobs),
                _ => format!("all {} jobs done", outcome.jobs),
            },
        ),
        (None, _) => (false, failed),
    }
}

/// The transfer workload's check: no deadlock, every transfer done, the total conserved and
/// every account where the transfers put it.
fn transfer_check(spec: &RunSpec, outcome: &Outcome, t: &TransferOutcome) -> (bool, String) {
    let totals = format!(
        "total {} -> {}{}",
        t.total_start,
        t.total_end,
        if t.conserved() {
            " (conserved)"
        } else {
            " (NOT conserved)"
        }
    );
    if let Some(d) = &t.deadlock {
        return (
            false,
            format!(
                "deadlock after {} of {} transfers: {d}; {}{totals}",
                t.transfers_done,
                spec.items,
                match outcome.jobs_not_started {
                    0 => String::new(),
                    n => format!("{n} not started; "),
                }
            ),
        );
    }
    if let Some(why) = &outcome.stop {
        return (
            false,
            format!(
                "stopped by {why}: {} of {} transfers done; {totals}",
                t.transfers_done, spec.items
            ),
        );
    }
    let names = |b: &[i64]| -> String {
        b.iter()
            .enumerate()
            .map(|(k, v)| format!("{} {v}", transfer::name(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let backoffs = match t.backoffs {
        0 => String::new(),
        n => format!(", {n} back-offs"),
    };
    let ok = t.conserved()
        && t.accounts == t.expected
        && t.transfers_done == spec.items
        && outcome.failures.is_empty();
    let detail = if t.accounts == t.expected {
        format!("{} as expected", names(&t.accounts))
    } else {
        format!("{}, expected {}", names(&t.accounts), names(&t.expected))
    };
    let broken = if t.schedule_broken {
        "; the forced lock order was abandoned (a worker waited 5 s for its turn)"
    } else {
        ""
    };
    (
        ok,
        format!(
            "{} of {} transfers, {totals}, {detail}{backoffs}{broken}",
            t.transfers_done, spec.items
        ),
    )
}

/// The measurement of a run: the child's outcome, the stream's tally, the harness's figures.
pub(super) fn build(
    spec: &RunSpec,
    outcome: Outcome,
    tally: &emoji::Tally,
    m: Sampled,
) -> Measurement {
    let (correct, check) = check(spec, &outcome, tally);
    let failed_jobs = outcome.failures.len() as u64;
    Measurement {
        strategy: spec.strategy.clone(),
        workload: spec.workload,
        jobs: outcome.jobs,
        workers: outcome.workers,
        items: spec.items,
        repeat: spec.knobs.repeat,
        sync: spec.sync.name().to_owned(),
        pause_us: spec.knobs.pause_us,
        app_mb: spec.app_mb,
        dirty_pct: spec.dirty_pct,
        wall_s: m.wall_s,
        work_s: outcome.work_s,
        harness_overhead_s: (m.wall_s - outcome.work_s).max(0.0),
        cpu_user_s: m.cpu_user_s,
        cpu_sys_s: m.cpu_sys_s,
        peak_rss_bytes: m.peak_rss_bytes,
        peak_pss_bytes: m.peak_pss_bytes,
        peak_threads: m.peak_threads,
        peak_processes: m.peak_processes,
        processes_forked: outcome.processes_forked,
        jobs_per_s: if m.wall_s > 0.0 {
            outcome.jobs as f64 / m.wall_s
        } else {
            0.0
        },
        correct,
        check,
        failed_jobs,
        failures: outcome.failures,
        expected_balance: outcome.wallet.as_ref().map(|w| w.expected_balance),
        final_balance: outcome.wallet.as_ref().map(|w| w.final_balance),
        lost_updates: outcome.wallet.as_ref().map(|w| w.lost_updates),
        emoji_seen: (spec.workload == Workload::Emoji).then(|| tally.total()),
        emoji_blocks: (spec.workload == Workload::Emoji && tally.total() > 0)
            .then_some(tally.switches + 1),
        transfer: outcome.transfer.clone().map(|mut t| {
            // The event log is `race`'s (in-process); it never crosses from a child.
            t.events.clear();
            t
        }),
        mem_per_in_flight_bytes: None,
        peak_in_flight: None,
        notes: outcome.notes,
        samples: m.samples,
        sampler_cpu_s: m.sampler_cpu_s,
        harness_cpu_s: m.harness_cpu_s,
        final_sample_cpu_s: m.final_sample_cpu_s,
        orphans_killed: m.orphans_killed,
        stop: outcome.stop,
        jobs_not_started: outcome.jobs_not_started,
        rss_start_bytes: outcome.rss_start_bytes,
        rss_end_bytes: outcome.rss_end_bytes,
        fault: spec.fault,
        jobs_timed_out: outcome.jobs_timed_out,
        hang_detected_s: outcome.hang_detected_s,
    }
}
