//! The workloads: what one job does, and how to check that a run did all of them right.
//!
//! A strategy decides *where* jobs run (a loop, threads, a pool, actors, tasks, processes); a
//! workload decides *what* a job is. Emoji jobs are stateless and check their output; wallet jobs
//! share one balance, and where that balance lives is the lesson of each strategy.

pub mod cpu;
pub mod emoji;
pub mod fault;
pub mod trace;
pub mod wallet;

use crate::strategy::spec::{Outcome, RunSpec, SyncMode, Workload};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Instant;
use wallet::Account;

/// The jobs of one run, for strategies whose workers share one address space.
///
/// Every in-process strategy runs `job(i)` for each `i` in `0..items` on whatever worker it likes,
/// then calls [`InProcess::finish`]. The wallet's account is chosen by `--sync`.
pub struct InProcess {
    spec: RunSpec,
    account: Option<Box<dyn Account>>,
    failures: Mutex<Vec<String>>,
    /// Jobs not started because a stop was asked for (Ctrl-C, SIGTERM).
    skipped: AtomicU64,
    started: Instant,
}

impl InProcess {
    pub fn new(spec: &RunSpec) -> Self {
        let account = match spec.workload {
            Workload::Wallet => Some(wallet::account(spec.sync, spec.items)),
            _ => None,
        };
        InProcess {
            spec: spec.clone(),
            account,
            failures: Mutex::new(Vec::new()),
            skipped: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// Perform job `i`. A failure is recorded, never propagated: one bad job must not stop a run.
    /// A panic is caught and recorded as this job's failure, as Sidekiq rescues a job's
    /// exception (an abort cannot be caught: it ends the process). After a stop was asked for
    /// (Ctrl-C), jobs not yet started are skipped and counted.
    pub fn job(&self, i: u64) {
        if crate::sys::signals::stop_requested() {
            self.skipped.fetch_add(1, SeqCst);
            return;
        }
        let _running = fault::running(i);
        let run = || {
            if let Some(f) = &self.spec.fault {
                f.strike(i);
            }
            match &self.account {
                Some(account) => {
                    account.adjust(wallet::delta(i), self.spec.pause_us);
                    Ok(())
                }
                None => perform_stateless(&self.spec, i),
            }
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(format!("job {i}: {e}")),
            Err(panic) => self.fail(format!("job {i}: panicked: {}", panic_message(&*panic))),
        }
    }

    /// Record a failed job (e.g. a worker thread that panicked).
    pub fn fail(&self, reason: String) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reason);
    }

    /// The run's outcome, once every job has been handed out and joined.
    pub fn finish(self, workers: usize) -> Outcome {
        let work_s = self.started.elapsed().as_secs_f64();
        let wallet = self.account.as_ref().map(|a| a.outcome(self.spec.items));
        let skipped = self.skipped.load(SeqCst);
        Outcome {
            jobs: self.spec.items - skipped,
            jobs_not_started: skipped,
            stopped_by: (skipped > 0)
                .then(crate::sys::signals::stop_signal)
                .flatten()
                .map(|s| s.as_str().to_owned()),
            workers,
            failures: self
                .failures
                .into_inner()
                .unwrap_or_else(|p| p.into_inner()),
            wallet,
            work_s,
            notes: Vec::new(),
            ..Default::default()
        }
    }
}

/// The text of a caught panic's payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a non-string panic".into())
}

/// Perform job `i` of a workload that keeps no shared state (everything but the wallet, whose
/// account depends on where the strategy keeps it). The process strategies call this in their
/// forked children, where a failure can only be reported as an exit status.
pub fn perform_stateless(spec: &RunSpec, i: u64) -> Result<(), String> {
    match spec.workload {
        Workload::Noop | Workload::Wallet => Ok(()),
        Workload::Cpu => cpu::perform(i, spec.cost).map(drop),
        Workload::Sleep => {
            let _in_flight = crate::harness::inflight::enter();
            std::thread::sleep(std::time::Duration::from_millis(spec.wait_ms));
            Ok(())
        }
        Workload::Emoji => emoji::perform(i, spec.repeat).map_err(|e| e.to_string()),
    }
}

/// Sync modes any shared-memory strategy supports for the wallet, racy first (the default).
pub const SHARED_MEMORY_SYNCS: &[SyncMode] = &[
    SyncMode::None,
    SyncMode::Mutex,
    SyncMode::Atomic,
    SyncMode::Actor,
];
