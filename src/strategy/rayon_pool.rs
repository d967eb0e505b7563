//! `rayon`: a work-stealing pool. Each of `--workers` threads has its own deque of jobs and steals
//! from the others when it runs dry, so there is no single queue to contend on.
//!
//! The pool is built for the run (not rayon's global pool) so `--workers` means what it says.

use super::in_process::{InProcess, SHARED_MEMORY_SYNCS};
use super::{available, Floor, Setup, StrategyInfo, Workers, THREADED};
use crate::strategy::spec::{Outcome, RunSpec};
use rayon::prelude::*;

pub const INFO: StrategyInfo = StrategyInfo {
    name: "rayon",
    models: "a work-stealing pool (rayon), N threads",
    props: THREADED,
    workers: Workers::Count(4),
    syncs: SHARED_MEMORY_SYNCS,
    transfers: crate::workload::transfer::TRANSFER_SYNCS,
    needs_redis: false,
    source: file!(),
    wallet_in: Some(crate::workload::wallet::implemented_in),
    made_of: None,
    floor: Some(Floor {
        per_job: "rayon per item",
        setup: Some(Setup {
            primitive: "rayon fan-out+join",
            short: "fan-out+join",
            per_worker: false,
        }),
        parallel: false,
    }),
    unavailable: available,
    run,
};

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.workers)
        .thread_name(|i| format!("rayon-{i}"))
        .build()?;
    let jobs = InProcess::new(spec);
    pool.install(|| (0..spec.items).into_par_iter().for_each(|i| jobs.job(i)));
    Ok(jobs.finish(spec.workers))
}
