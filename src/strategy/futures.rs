//! `futures`: a task per job on the tokio runtime, as futuroscope or EventMachine would run them.
//!
//! With `--workers 1` the runtime is a single-threaded event loop: tasks take turns only where
//! they `.await`. That is enough to lose wallet updates: a task reads the balance, awaits its pause,
//! and another task runs in between. No second thread is needed for a race, only a yield point
//! between a read and a write. With more workers it is tokio's multi-threaded work-stealing
//! runtime.
//!
//! Emoji tasks yield after each print so the interleaving shows; wallet pauses are
//! `tokio::time::sleep`, which rounds up to the timer's 1 ms granularity.

use super::in_process::SHARED_MEMORY_SYNCS;
use super::{available, Floor, StrategyInfo, Workers, THREADED};
use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::workload::fault::FaultSpec;
use crate::workload::wallet::{delta, Ledger, SyncMode, WalletOutcome};
use crate::workload::{emoji, inflight, panic_message, Workload};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

pub const INFO: StrategyInfo = StrategyInfo {
    name: "futures",
    models: "futuroscope / EventMachine: a tokio task per job; --workers 1 is an event loop",
    props: THREADED,
    workers: Workers::Count(4),
    syncs: SHARED_MEMORY_SYNCS,
    transfers: &[],
    needs_redis: false,
    source: file!(),
    wallet_in: Some(wallet_in),
    made_of: None,
    floor: Some(Floor {
        per_job: "tokio spawn, batch joined",
        setup: None,
        parallel: false,
    }),
    unavailable: available,
    run,
};

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let runtime = if spec.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(spec.workers)
            .enable_time()
            .build()?
    };
    let started = Instant::now();
    let chaos = Chaos {
        fault: spec.fault,
        skipped: Arc::new(AtomicU64::new(0)),
    };
    let (failures, wallet) = runtime.block_on(async {
        let c = chaos.clone();
        match spec.workload {
            Workload::Emoji => (emoji_tasks(spec, c).await, None),
            Workload::Cpu => (cpu_tasks(spec, c).await, None),
            Workload::Sleep => (sleep_tasks(spec, c).await, None),
            Workload::Noop => (noop_tasks(spec, c).await, None),
            // `RunRequest` keeps transfers off tokio (a task blocked on a lock blocks its thread).
            Workload::Transfer => (
                vec![Failure::run("futures does not run the transfer workload")],
                None,
            ),
            Workload::Wallet => {
                let (failures, outcome) = wallet_tasks(spec, c).await;
                (failures, Some(outcome))
            }
        }
    });
    let skipped = chaos.skipped.load(SeqCst);
    Ok(Outcome {
        jobs: spec.items - skipped,
        jobs_not_started: skipped,
        stop: Stop::if_skipped(skipped),
        workers: spec.workers,
        failures,
        wallet,
        work_s: started.elapsed().as_secs_f64(),
        notes: Vec::new(),
        ..Default::default()
    })
}

/// Where each `--sync` mode is implemented here (for `race --fix`).
fn wallet_in(sync: SyncMode) -> String {
    let variant = match sync {
        SyncMode::None => "Racy",
        SyncMode::Mutex => "Locked",
        SyncMode::Atomic => "Atomic",
        SyncMode::Actor => "Actor",
        _ => "?",
    };
    format!("{} (AsyncAccount::{variant})", file!())
}

/// What every task shares for `--fault` and Ctrl-C.
#[derive(Clone)]
struct Chaos {
    fault: Option<FaultSpec>,
    /// Tasks that found a stop requested and did not run their job.
    skipped: Arc<AtomicU64>,
}

/// Job `i` as a task: skipped after Ctrl-C; its fault struck first (a panic is caught and is
/// this job's failure; a hang blocks the runtime thread it runs on, as blocking code does).
async fn job(
    i: u64,
    chaos: Chaos,
    work: impl Future<Output = std::io::Result<()>>,
) -> Result<(), Failure> {
    if crate::sys::signals::stop_requested() {
        chaos.skipped.fetch_add(1, SeqCst);
        return Ok(());
    }
    let _in_flight = inflight::enter(i);
    if let Some(f) = chaos.fault {
        std::panic::catch_unwind(|| f.strike(i))
            .map_err(|p| Failure::job(i, format!("panicked: {}", panic_message(&*p))))?;
    }
    work.await.map_err(|e| Failure::job(i, e.to_string()))
}

/// Wait for every task; a task that panicked is a failed job.
async fn join_all(mut set: JoinSet<Result<(), Failure>>) -> Vec<Failure> {
    let mut failures = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => failures.push(failure),
            Err(e) => failures.push(Failure::run(format!("task: {e}"))),
        }
    }
    failures
}

async fn emoji_tasks(spec: &RunSpec, chaos: Chaos) -> Vec<Failure> {
    let mut set = JoinSet::new();
    for i in 0..spec.items {
        let repeat = spec.knobs.repeat;
        set.spawn(job(i, chaos.clone(), async move {
            let glyph = emoji::glyph(i);
            for _ in 0..repeat {
                emoji::write_stdout(&glyph)?;
                tokio::task::yield_now().await;
            }
            Ok(())
        }));
    }
    join_all(set).await
}

/// CPU work straight on the runtime's threads (no `spawn_blocking`): with one worker the event
/// loop runs one job at a time and gains nothing from a second core — the lesson.
async fn cpu_tasks(spec: &RunSpec, chaos: Chaos) -> Vec<Failure> {
    let mut set = JoinSet::new();
    for i in 0..spec.items {
        let cost = spec.knobs.cost;
        set.spawn(job(i, chaos.clone(), async move {
            crate::workload::cpu::perform(i, cost)
                .map(drop)
                .map_err(std::io::Error::other)
        }));
    }
    join_all(set).await
}

/// Waits as timers on the event loop: ten thousand in flight cost a few hundred bytes each.
async fn sleep_tasks(spec: &RunSpec, chaos: Chaos) -> Vec<Failure> {
    let mut set = JoinSet::new();
    for i in 0..spec.items {
        let wait = Duration::from_millis(spec.knobs.wait_ms);
        set.spawn(job(i, chaos.clone(), async move {
            tokio::time::sleep(wait).await;
            Ok(())
        }));
    }
    join_all(set).await
}

/// A task per job that does nothing: the cost of the tasks themselves.
async fn noop_tasks(spec: &RunSpec, chaos: Chaos) -> Vec<Failure> {
    let mut set = JoinSet::new();
    for i in 0..spec.items {
        set.spawn(job(i, chaos.clone(), async { Ok(()) }));
    }
    join_all(set).await
}

/// The wallet, protected the async way.
enum AsyncAccount {
    Racy(Ledger),
    Locked(tokio::sync::Mutex<()>, Ledger),
    Atomic(Ledger),
    /// A task owns the ledger; jobs send it (delta, reply) and await the reply.
    Actor(mpsc::UnboundedSender<(i64, oneshot::Sender<()>)>),
}

async fn pause(us: u64) {
    if us > 0 {
        tokio::time::sleep(Duration::from_micros(us)).await;
    }
}

async fn racy_update(ledger: &Ledger, delta: i64, pause_us: u64) {
    let update = ledger.begin_update();
    pause(pause_us).await;
    ledger.finish_update(update, update.balance + delta);
}

impl AsyncAccount {
    async fn adjust(&self, delta: i64, pause_us: u64) {
        match self {
            AsyncAccount::Racy(ledger) => racy_update(ledger, delta, pause_us).await,
            AsyncAccount::Locked(lock, ledger) => {
                let _guard = lock.lock().await;
                racy_update(ledger, delta, pause_us).await;
            }
            AsyncAccount::Atomic(ledger) => {
                pause(pause_us).await;
                ledger.add_atomically(delta);
            }
            AsyncAccount::Actor(tx) => {
                let (done, wait) = oneshot::channel();
                if tx.send((delta, done)).is_ok() {
                    let _ = wait.await;
                }
            }
        }
    }
}

async fn wallet_tasks(spec: &RunSpec, chaos: Chaos) -> (Vec<Failure>, WalletOutcome) {
    let (pause_us, items) = (spec.knobs.pause_us, spec.items);
    let mut owner = None;
    let account = Arc::new(match spec.sync {
        // (shared/shared-atomic/adjust belong to the process strategies; here they mean none/atomic)
        SyncMode::None | SyncMode::Shared => AsyncAccount::Racy(Ledger::new(spec.items)),
        // (lock-pair, ordered, try-lock are transfer modes, refused for the wallet: a lock here)
        SyncMode::Mutex | SyncMode::LockPair | SyncMode::Ordered | SyncMode::TryLock => {
            AsyncAccount::Locked(Default::default(), Ledger::new(spec.items))
        }
        // incr and watch are Redis's; never offered here (see `syncs`), both an atomic add.
        SyncMode::Atomic
        | SyncMode::SharedAtomic
        | SyncMode::Adjust
        | SyncMode::Incr
        | SyncMode::Watch => AsyncAccount::Atomic(Ledger::new(spec.items)),
        SyncMode::Actor => {
            let (tx, mut rx) = mpsc::unbounded_channel::<(i64, oneshot::Sender<()>)>();
            owner = Some(tokio::spawn(async move {
                let ledger = Ledger::new(items);
                while let Some((delta, done)) = rx.recv().await {
                    racy_update(&ledger, delta, pause_us).await;
                    let _ = done.send(());
                }
                ledger
            }));
            AsyncAccount::Actor(tx)
        }
    });
    let mut set = JoinSet::new();
    for i in 0..spec.items {
        let account = Arc::clone(&account);
        set.spawn(job(i, chaos.clone(), async move {
            account.adjust(delta(i), pause_us).await;
            Ok(())
        }));
    }
    let failures = join_all(set).await;
    let account = Arc::into_inner(account).expect("every task has finished");
    let outcome = match account {
        AsyncAccount::Racy(l) | AsyncAccount::Locked(_, l) | AsyncAccount::Atomic(l) => {
            l.outcome(spec.items)
        }
        AsyncAccount::Actor(tx) => {
            drop(tx);
            let ledger = owner
                .expect("the actor task was started")
                .await
                .expect("the wallet task does not panic");
            ledger.outcome(spec.items)
        }
    };
    (failures, outcome)
}
