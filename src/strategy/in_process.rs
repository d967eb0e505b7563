//! The jobs of a run whose workers share one address space: sequential, threads, pool, rayon
//! and actors hand out job numbers their own way, and [`InProcess`] performs each one the same
//! way: stop flag first, the in-flight tracker, the fault, the job, its failure caught.

use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::sys::signals;
use crate::workload::transfer::{Bank, LockSchedule, NotDone, Traced};
use crate::workload::wallet::{self, Account, SyncMode};
use crate::workload::{inflight, panic_message, perform_stateless, Workload};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Instant;

/// The jobs of one run, for strategies whose workers share one address space.
///
/// Every in-process strategy runs `job(i)` for each `i` in `0..items` on whatever worker it likes,
/// then calls [`InProcess::finish`]. The wallet's account is chosen by `--sync`.
pub struct InProcess {
    spec: RunSpec,
    account: Option<Box<dyn Account>>,
    bank: Option<Bank>,
    failures: Mutex<Vec<Failure>>,
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
        let bank = (spec.workload == Workload::Transfer).then(|| {
            let (sync, accounts) = (spec.sync, spec.knobs.accounts as usize);
            match spec.lock_schedule.as_deref().map(LockSchedule::parse) {
                Some(Ok(schedule)) => Bank::with_traced(
                    sync,
                    accounts,
                    spec.items,
                    Traced {
                        schedule: Some(schedule),
                        record: false,
                    },
                ),
                _ => Bank::new(sync, accounts, spec.items),
            }
        });
        InProcess {
            spec: spec.clone(),
            account,
            bank,
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
        if signals::stop_requested() || self.bank.as_ref().is_some_and(Bank::deadlocked) {
            self.skipped.fetch_add(1, SeqCst);
            return;
        }
        let _in_flight = inflight::enter(i);
        let run = || {
            if let Some(f) = &self.spec.fault {
                f.strike(i);
            }
            match (&self.account, &self.bank) {
                (Some(account), _) => {
                    account.adjust(wallet::delta(i), self.spec.knobs.pause_us);
                    Ok(())
                }
                (_, Some(bank)) => match bank.transfer(i, self.spec.knobs.pause_us) {
                    Ok(()) => Ok(()),
                    Err(NotDone::Deadlocked) => Err(
                        "deadlocked: aborted holding one lock, waiting for the other".to_owned(),
                    ),
                    Err(NotDone::AfterDeadlock) => {
                        // Not started after all: counted as a job the stop kept from running.
                        self.skipped.fetch_add(1, SeqCst);
                        Ok(())
                    }
                },
                (None, None) => perform_stateless(self.spec.workload, &self.spec.knobs, i),
            }
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(Failure::job(i, e)),
            Err(panic) => self.fail(Failure::job(
                i,
                format!("panicked: {}", panic_message(&*panic)),
            )),
        }
    }

    /// Record a failed job (e.g. a worker thread that panicked).
    pub fn fail(&self, reason: Failure) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reason);
    }

    /// The run's outcome, once every job has been handed out and joined.
    pub fn finish(self, workers: usize) -> Outcome {
        let work_s = self.started.elapsed().as_secs_f64();
        let wallet = self.account.as_ref().map(|a| a.outcome(self.spec.items));
        let transfer = self.bank.as_ref().map(Bank::outcome);
        let skipped = self.skipped.load(SeqCst);
        let deadlocked = transfer.as_ref().is_some_and(|t| t.deadlock.is_some());
        Outcome {
            jobs: self.spec.items - skipped,
            jobs_not_started: skipped,
            stop: if deadlocked {
                Some(Stop::Deadlock)
            } else {
                Stop::if_skipped(skipped)
            },
            transfer,
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

/// Sync modes any shared-memory strategy supports for the wallet, racy first (the default).
pub const SHARED_MEMORY_SYNCS: &[SyncMode] = &[
    SyncMode::None,
    SyncMode::Mutex,
    SyncMode::Atomic,
    SyncMode::Actor,
];
