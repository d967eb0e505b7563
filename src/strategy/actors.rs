//! `actors`: Celluloid and SuckerPunch inside the app process. Each worker is an actor: a thread
//! that owns its state and handles one message at a time from its mailbox. Nothing is shared, so
//! nothing needs a lock; the price is that all access to a piece of state is serialised through
//! its owner.
//!
//! The run uses all three ways of talking to an actor:
//! - jobs are **cast** to the workers round-robin (fire and forget, like `async.perform`);
//! - wallet jobs **call** the one wallet actor that owns the balance (the worker waits for it);
//! - at the end the supervisor asks every worker for a **future** of its processed count and then
//!   waits on all of them; casts are handled in order, so each answer comes after its jobs.

use super::in_process::InProcess;
use super::{available, StrategyInfo, Workers, THREADED};
use crate::actor::{self, ReplyTo};
use crate::strategy::spec::{Failure, Outcome, RunSpec};
use crate::workload::wallet::SyncMode;
use std::sync::Arc;

pub const INFO: StrategyInfo = StrategyInfo {
    name: "actors",
    models: "Celluloid / SuckerPunch: worker actors with mailboxes; cast, call and future replies",
    props: THREADED,
    workers: Workers::Count(4),
    syncs: &[SyncMode::Actor],
    transfers: &[SyncMode::Actor],
    needs_redis: false,
    source: file!(),
    wallet_in: Some(crate::workload::wallet::implemented_in),
    made_of: None,
    floor: Some(super::pool::CHANNEL_FLOOR),
    unavailable: available,
    run,
};

/// What a worker actor understands.
enum WorkerMsg {
    Perform(u64),
    Processed(ReplyTo<u64>),
}

struct Worker {
    jobs: Arc<InProcess>,
    processed: u64,
}

fn worker(state: &mut Worker, msg: WorkerMsg) {
    match msg {
        WorkerMsg::Perform(i) => {
            state.jobs.job(i);
            state.processed += 1;
        }
        WorkerMsg::Processed(reply) => {
            let _ = reply.send(state.processed);
        }
    }
}

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let jobs = Arc::new(InProcess::new(spec));
    let (addrs, actors): (Vec<_>, Vec<_>) = (0..spec.workers)
        .map(|w| {
            let state = Worker {
                jobs: Arc::clone(&jobs),
                processed: 0,
            };
            actor::spawn(&format!("actor-{w}"), state, worker)
        })
        .unzip();

    for i in 0..spec.items {
        addrs[(i % addrs.len() as u64) as usize].cast(WorkerMsg::Perform(i));
    }
    let futures: Vec<_> = addrs
        .iter()
        .map(|a| a.future(WorkerMsg::Processed))
        .collect();
    let mut processed = 0;
    for (w, reply) in futures.into_iter().enumerate() {
        match reply.wait() {
            Some(n) => processed += n,
            None => jobs.fail(Failure::run(format!("actor-{w} died before replying"))),
        }
    }
    drop(addrs);
    for actor in actors {
        // Each actor drops its Arc when it stops; a panicked one is already counted above.
        let _ = actor.join();
    }
    let jobs = Arc::into_inner(jobs).expect("every actor has stopped");
    if processed != spec.items {
        jobs.fail(Failure::run(format!(
            "actors processed {processed} of {} jobs",
            spec.items
        )));
    }
    Ok(jobs.finish(spec.workers))
}
