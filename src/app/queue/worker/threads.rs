//! The threaded shape (Sidekiq, the default): `--concurrency` processor threads, each with *its
//! own* Redis connection (a blocking BLMOVE holds its connection for up to a second), fetch and
//! run jobs; the main thread never runs a job: it handles signals, beats, moves due scheduled and
//! retry jobs onto their queues, and reaps dead workers.

use super::signals::{on_signals, Signals};
use super::{with_redis, Clock, Current, Phase, Worker, TICK};
use crate::app::queue::fetch::{self, FetchMode, Fetcher};
use crate::app::queue::job::{self, now, Failure, Job};
use crate::app::queue::{keys, RESPONSE_TIMEOUT};
use crate::sys::redis_server::connect;
use anyhow::Context;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a processor thread blocks in one BLMOVE/BRPOP (it checks for QUIT in between).
const THREAD_BLOCK_S: f64 = 1.0;

pub(super) fn thread_loop(
    w: &Arc<Worker>,
    s: &Signals,
    con: &mut redis::Connection,
) -> anyhow::Result<()> {
    let handles: Vec<_> = (0..w.args.concurrency as usize)
        .map(|slot| {
            let w = w.clone();
            std::thread::Builder::new()
                .name(format!("concur-job-{slot}"))
                .spawn(move || processor(&w, slot))
        })
        .collect::<Result<_, _>>()
        .context("starting processor threads")?;
    let mut clock = Clock::new();
    loop {
        if on_signals(w, s, None) {
            let n = match w.args.fetch {
                FetchMode::Reliable => fetch::requeue_processing(con, &w.id, &w.reg.queues)?,
                FetchMode::Basic => {
                    let running = w.running();
                    let fetcher = Fetcher::new(w.args.fetch, &w.id, &w.reg.queues);
                    for c in &running {
                        fetcher.requeue(con, &c.fetched)?;
                    }
                    running.len() as u64
                }
            };
            w.log(&format!("requeued {n} job(s) in flight"));
            // With reliable fetch the registration stays: a processor may be inside BLMOVE right
            // now, and if it lands a job after our requeue, the next reaper (any worker's) finds
            // it in our processing list. Without a heartbeat, that is the next reaper pass.
            match w.args.fetch {
                FetchMode::Reliable => redis::cmd("DEL").arg(keys::beat(&w.id)).exec(con)?,
                FetchMode::Basic => w.deregister(con)?,
            }
            return Ok(()); // the processor threads end with the process
        }
        if w.phase.get() == Phase::Quitting && handles.iter().all(|h| h.is_finished()) {
            break;
        }
        let running = w.running();
        with_redis(w, con, "housekeeping", |con| {
            w.housekeeping(con, &mut clock, &running)
        });
        std::thread::sleep(TICK);
    }
    for h in handles {
        let _ = h.join();
    }
    // Nothing is in flight any more: every thread finished its job before it returned.
    fetch::requeue_processing(con, &w.id, &w.reg.queues)?;
    w.deregister(con)?;
    Ok(())
}

/// One processor thread: its own connection, fetch, run, settle, until told to stop.
fn processor(w: &Worker, slot: usize) {
    let timeout = RESPONSE_TIMEOUT + Duration::from_secs_f64(THREAD_BLOCK_S);
    let mut fetcher = Fetcher::new(w.args.fetch, &w.id, &w.reg.queues);
    let mut con = loop {
        match connect(&w.client, Duration::from_secs(2), timeout) {
            Ok(c) => break c,
            Err(e) if w.phase.get() == Phase::Running => {
                w.log(&format!("processor {slot}: connect: {e}; retrying"));
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(_) => return,
        }
    };
    while w.phase.get() == Phase::Running {
        if w.paused.load(SeqCst) {
            std::thread::sleep(TICK);
            continue;
        }
        let fetched = match fetcher.fetch(&mut con, Some(THREAD_BLOCK_S)) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                w.log(&format!("processor {slot}: fetch: {e}; reconnecting"));
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(c) = connect(&w.client, Duration::from_secs(2), timeout) {
                    con = c;
                }
                continue;
            }
        };
        if w.paused.load(SeqCst) {
            // Fetched as USR2 arrived: put it back untouched for another worker.
            let _ = fetcher.requeue(&mut con, &fetched);
            continue;
        }
        // A job fetched as QUIT arrived is run: it is ours now, and pushing it back could strand
        // it on a queue that every worker has just seen empty (--exit-when-empty). After TERM
        // the main thread has requeued it already and the process is about to end.
        let job = match Job::parse(&fetched.raw) {
            Ok(j) => j,
            Err(e) => {
                let _ = w.bury(&mut con, &fetcher, &fetched, &e);
                continue;
            }
        };
        let started = Instant::now();
        w.running.lock().unwrap_or_else(|p| p.into_inner()).insert(
            slot,
            Current {
                fetched: fetched.clone(),
                jid: job.jid.clone(),
                class: job.class.clone(),
                run_at: now(),
            },
        );
        if w.args.verbose {
            w.log(&format!(
                "start jid={} class={} attempt={} t={:.3}",
                job.jid,
                job.class,
                job.attempts_before() + 1,
                now()
            ));
        }
        let result = std::panic::catch_unwind(|| job::perform(&job)).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            Err(Failure::new("Panic", msg))
        });
        if let Err(e) = w.settle(&mut con, &fetcher, &fetched, job, result, started) {
            w.log(&format!(
                "processor {slot}: settling a job: {e} (it stays in the processing list for the reaper)"
            ));
        }
        w.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&slot);
    }
}
