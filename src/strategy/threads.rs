//! `threads`: a thread per job, the simplest concurrency there is.
//!
//! Scoped threads (`std::thread::scope`) borrow the jobs without `Arc` and are all joined before
//! the scope ends, so no thread can outlive the run. Every job gets its own stack (2 MiB of
//! address space, a few KiB touched), which is cheap next to a process but not free: try
//! `--items 1000` and watch peak threads and RSS.

use super::in_process::{InProcess, SHARED_MEMORY_SYNCS};
use super::{available, Floor, StrategyInfo, Workers, THREADED};
use crate::strategy::spec::{Failure, Outcome, RunSpec};

pub const INFO: StrategyInfo = StrategyInfo {
    name: "threads",
    models: "a thread per job (std::thread::scope)",
    props: THREADED,
    workers: Workers::PerJob,
    syncs: SHARED_MEMORY_SYNCS,
    transfers: crate::workload::transfer::TRANSFER_SYNCS,
    needs_redis: false,
    source: file!(),
    wallet_in: Some(crate::workload::wallet::implemented_in),
    made_of: None,
    floor: Some(Floor {
        per_job: "thread spawn+join",
        setup: None,
        parallel: false,
    }),
    unavailable: available,
    run,
};

/// The most threads `threads` will start at once; beyond it, use `pool`.
pub const MAX_THREADS: u64 = 10_000;

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let jobs = InProcess::new(spec);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.items)
            .map(|i| {
                let jobs = &jobs;
                (i, scope.spawn(move || jobs.job(i)))
            })
            .collect();
        for (i, handle) in handles {
            if handle.join().is_err() {
                jobs.fail(Failure::job(i, "thread panicked"));
            }
        }
    });
    Ok(jobs.finish(spec.items as usize))
}
