//! `pool`: a fixed number of worker threads taking jobs from one queue, like Sidekiq's
//! processors taking jobs from Redis, but with the queue in memory (a crossbeam channel).
//!
//! `--workers N` bounds the threads however many jobs there are: memory stays flat, and jobs
//! wait their turn in the channel instead of each getting a stack.

use super::in_process::{InProcess, SHARED_MEMORY_SYNCS};
use super::{available, Floor, Setup, StrategyInfo, Workers, THREADED};
use crate::strategy::spec::{Failure, Outcome, RunSpec};
use crossbeam::channel;

/// The floor of a pool of threads fed over a channel (pool, actors): a hand-off between
/// threads per job, and starting each worker once.
pub const CHANNEL_FLOOR: Floor = Floor {
    per_job: "channel hand-off",
    setup: Some(Setup {
        primitive: "thread spawn+join",
        short: "thread spawn",
        per_worker: true,
    }),
    parallel: false,
};

pub const INFO: StrategyInfo = StrategyInfo {
    name: "pool",
    models: "Sidekiq's processors: N threads over a queue (crossbeam channel)",
    props: THREADED,
    workers: Workers::Count(4),
    syncs: SHARED_MEMORY_SYNCS,
    transfers: crate::workload::transfer::TRANSFER_SYNCS,
    needs_redis: false,
    source: file!(),
    wallet_in: Some(crate::workload::wallet::implemented_in),
    made_of: None,
    floor: Some(CHANNEL_FLOOR),
    unavailable: available,
    run,
};

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let jobs = InProcess::new(spec);
    let (tx, rx) = channel::unbounded::<u64>();
    for i in 0..spec.items {
        tx.send(i).expect("the receiver is alive");
    }
    // Closing the queue is how workers learn there is no more work.
    drop(tx);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..spec.workers)
            .map(|w| {
                let (jobs, rx) = (&jobs, rx.clone());
                std::thread::Builder::new()
                    .name(format!("pool-{w}"))
                    .spawn_scoped(scope, move || {
                        for i in rx {
                            jobs.job(i);
                        }
                    })
                    .expect("spawning a pool worker")
            })
            .collect();
        for (w, handle) in workers.into_iter().enumerate() {
            if handle.join().is_err() {
                jobs.fail(Failure::run(format!("pool worker {w} panicked")));
            }
        }
    });
    Ok(jobs.finish(spec.workers))
}
