//! The threaded shape (Sidekiq, the default): `--concurrency` processor threads, each with *its
//! own* Redis connection (a blocking BLMOVE holds its connection for up to a second), fetch and
//! run jobs; the main thread never runs a job: it handles signals, beats, moves due scheduled and
//! retry jobs onto their queues, and reaps dead workers.

use super::signals::{on_signals, Signals};
use super::{with_redis, Clock, Current, Phase, Worker, TICK};
use crate::app::queue::fetch::{self, FetchMode, Fetched, Fetcher};
use crate::app::queue::job::{self, now, Failure, Job};
use crate::app::queue::{keys, RESPONSE_TIMEOUT};
use crate::sys::redis_server::connect;
use anyhow::Context;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a processor thread blocks in one BLMOVE/BRPOP (it checks for QUIT in between).
const THREAD_BLOCK_S: f64 = 1.0;

/// The main thread: start the processors, then do the worker's duties until QUIT (wait for the
/// processors) or TERM (requeue and leave at once).
pub(super) fn thread_loop(
    w: &Arc<Worker>,
    s: &Signals,
    con: &mut redis::Connection,
) -> anyhow::Result<()> {
    let handles = spawn_processors(w)?;
    let mut clock = Clock::new();
    loop {
        if on_signals(w, s, None) {
            return stop_now(w, con); // the processor threads end with the process
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

/// One thread per `--concurrency` slot, each running [`processor`].
fn spawn_processors(w: &Arc<Worker>) -> anyhow::Result<Vec<JoinHandle<()>>> {
    (0..w.args.concurrency as usize)
        .map(|slot| {
            let w = w.clone();
            std::thread::Builder::new()
                .name(format!("concur-job-{slot}"))
                .spawn(move || processor(&w, slot))
        })
        .collect::<Result<_, _>>()
        .context("starting processor threads")
}

/// TERM or INT: put the jobs in flight back on their queues and leave (the threads running them
/// cannot be stopped; they end with the process).
fn stop_now(w: &Worker, con: &mut redis::Connection) -> anyhow::Result<()> {
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
    // With reliable fetch the registration stays: a processor may be inside BLMOVE right now, and
    // if it lands a job after our requeue, the next reaper (any worker's) finds it in our
    // processing list. Without a heartbeat, that is the next reaper pass.
    match w.args.fetch {
        FetchMode::Reliable => redis::cmd("DEL").arg(keys::beat(&w.id)).exec(con)?,
        FetchMode::Basic => w.deregister(con)?,
    }
    Ok(())
}

/// One processor thread: its own connection, fetch, run, settle, until told to stop.
fn processor(w: &Worker, slot: usize) {
    if let Some(p) = Processor::connect(w, slot) {
        p.run();
    }
}

/// What one processor thread owns: its slot in the worker's running map, its connection (a
/// blocking fetch holds it), and its fetcher.
struct Processor<'w> {
    w: &'w Worker,
    slot: usize,
    con: redis::Connection,
    fetcher: Fetcher,
}

impl<'w> Processor<'w> {
    /// Connect, retrying every second while the worker runs; `None` once it no longer does.
    fn connect(w: &'w Worker, slot: usize) -> Option<Processor<'w>> {
        let fetcher = Fetcher::new(w.args.fetch, &w.id, &w.reg.queues);
        loop {
            match connect_processor(w) {
                Ok(con) => {
                    return Some(Processor {
                        w,
                        slot,
                        con,
                        fetcher,
                    })
                }
                Err(e) if w.phase.get() == Phase::Running => {
                    w.log(&format!("processor {slot}: connect: {e}; retrying"));
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(_) => return None,
            }
        }
    }

    /// Fetch, run and settle jobs until QUIT or TERM.
    fn run(mut self) {
        while self.w.phase.get() == Phase::Running {
            if self.w.paused.load(SeqCst) {
                std::thread::sleep(TICK);
                continue;
            }
            let Some(fetched) = self.fetch() else {
                continue;
            };
            if self.w.paused.load(SeqCst) {
                // Fetched as USR2 arrived: put it back untouched for another worker.
                let _ = self.fetcher.requeue(&mut self.con, &fetched);
                continue;
            }
            // A job fetched as QUIT arrived is run: it is ours now, and pushing it back could
            // strand it on a queue that every worker has just seen empty (--exit-when-empty).
            // After TERM the main thread has requeued it already and the process is about to end.
            self.work(fetched);
        }
    }

    /// The next job, waiting at most [`THREAD_BLOCK_S`] for one. `None` when there was none, or
    /// when the fetch failed (logged; the connection is then replaced, if a new one opens).
    fn fetch(&mut self) -> Option<Fetched> {
        match self.fetcher.fetch(&mut self.con, Some(THREAD_BLOCK_S)) {
            Ok(got) => got,
            Err(e) => {
                let slot = self.slot;
                self.w
                    .log(&format!("processor {slot}: fetch: {e}; reconnecting"));
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(c) = connect_processor(self.w) {
                    self.con = c;
                }
                None
            }
        }
    }

    /// Run one fetched job on this thread and settle it; a payload that is not a job is buried.
    fn work(&mut self, fetched: Fetched) {
        let (w, slot) = (self.w, self.slot);
        let job = match Job::parse(&fetched.raw) {
            Ok(j) => j,
            Err(e) => {
                let _ = w.bury(&mut self.con, &self.fetcher, &fetched, &e);
                return;
            }
        };
        let started = Instant::now();
        w.set_running(slot, Current::new(fetched.clone(), &job));
        if w.args.verbose {
            w.log(&format!(
                "start jid={} class={} attempt={} t={:.3}",
                job.jid,
                job.class,
                job.attempts_before() + 1,
                now()
            ));
        }
        let result = perform(&job, &mut self.con);
        if let Err(e) = w.settle(&mut self.con, &self.fetcher, &fetched, job, result, started) {
            w.log(&format!(
                "processor {slot}: settling a job: {e} (it stays in the processing list for the reaper)"
            ));
        }
        w.clear_running(slot);
    }
}

/// A processor's own connection: replies may take a whole blocking fetch longer than usual.
fn connect_processor(w: &Worker) -> redis::RedisResult<redis::Connection> {
    let timeout = RESPONSE_TIMEOUT + Duration::from_secs_f64(THREAD_BLOCK_S);
    connect(&w.client, Duration::from_secs(2), timeout)
}

/// Run `job` (with this processor's connection, for jobs whose effect is in Redis); a panic is
/// its failure (class `Panic`), not the end of the thread.
fn perform(job: &Job, con: &mut redis::Connection) -> Result<(), Failure> {
    let run = std::panic::AssertUnwindSafe(|| job::perform_with(job, Some(con)));
    std::panic::catch_unwind(run).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        Err(Failure::new("Panic", msg))
    })
}
