//! `sequential`: the baseline. One loop, one job after another, on one thread.
//!
//! Nothing can race and nothing runs in parallel; every other strategy's time and memory is worth
//! reading against this one.

use super::in_process::InProcess;
use super::{available, Memory, Props, StrategyInfo, Workers};
use crate::strategy::spec::{Outcome, RunSpec};
use crate::workload::wallet::SyncMode;

pub const INFO: StrategyInfo = StrategyInfo {
    name: "sequential",
    models: "the baseline: one loop, one job at a time",
    props: Props {
        memory: Memory::Shared,
        survives_crash: false,
        kills_hung: false,
        parallel: false,
        needs_server: false,
    },
    workers: Workers::One,
    syncs: &[SyncMode::None],
    transfers: crate::workload::transfer::TRANSFER_SYNCS,
    needs_redis: false,
    source: file!(),
    wallet_in: Some(crate::workload::wallet::implemented_in),
    made_of: None,
    floor: None,
    unavailable: available,
    run,
};

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let jobs = InProcess::new(spec);
    for i in 0..spec.items {
        jobs.job(i);
    }
    Ok(jobs.finish(1))
}
