//! The threaded shape (Sidekiq, the default): `--concurrency` processor threads, each with *its
//! own* Redis connection (a blocking BLMOVE holds its connection for up to a second) and its own
//! processing lists (a [`Slot`]), fetch and run jobs; the main thread never runs a job: it
//! handles signals, beats, moves due scheduled and retry jobs onto their queues, and reaps dead
//! workers.
//!
//! Per job a processor makes one round trip: the acknowledgement of the job it just finished
//! rides in the pipeline of the next fetch. Its counts stay in memory until the next heartbeat.

use super::link::Link;
use super::signals::{on_signals, Signals};
use super::slot::Slot;
use super::{Clock, Current, Phase, Worker, TICK};
use crate::app::queue::fetch::{self, FetchMode, Fetched};
use crate::app::queue::job::{self, now, Failure, Job};
use crate::app::queue::keys;
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
    con: redis::Connection,
) -> anyhow::Result<()> {
    let handles = spawn_processors(w)?;
    let mut clock = Clock::new();
    let mut link = Link::with(w, con, Duration::ZERO);
    let mut unblocked = false;
    loop {
        if on_signals(w, s, None) {
            return stop_now(w, &mut link); // the processor threads end with the process
        }
        if w.phase.get() == Phase::Quitting {
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
            if !unblocked {
                unblocked = unblock_processors(w, &mut link);
            }
        }
        let running = w.running();
        w.housekeep(&mut link, &mut clock, &running);
        std::thread::sleep(TICK);
    }
    for h in handles {
        let _ = h.join();
    }
    // Nothing is in flight any more: every thread settled its jobs before it returned.
    w.leave(s, &mut link)
}

/// Quitting: end the processors' blocking fetches now (they return no job, as on a timeout),
/// rather than after up to [`THREAD_BLOCK_S`]. Whether it was done.
fn unblock_processors(w: &Worker, link: &mut Link) -> bool {
    let ids: Vec<i64> = {
        let map = w.client_ids.lock().unwrap_or_else(|p| p.into_inner());
        map.values().copied().collect()
    };
    let Some(con) = link.get(w) else {
        return false;
    };
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("CLIENT").arg("UNBLOCK").arg(id).ignore();
    }
    pipe.exec(con).is_ok()
}

/// One thread per `--concurrency` slot, each running [`processor`].
fn spawn_processors(w: &Arc<Worker>) -> anyhow::Result<Vec<JoinHandle<()>>> {
    (0..w.args.concurrency)
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
fn stop_now(w: &Worker, link: &mut Link) -> anyhow::Result<()> {
    let con = link.get(w).context(
        "Redis is out of reach: the jobs in flight stay in the processing lists for a reaper",
    )?;
    let n = match w.args.fetch {
        FetchMode::Reliable => fetch::requeue_processing(con, &w.id, &w.reg)?,
        FetchMode::Basic => {
            let running = w.running();
            let fetcher = fetch::Fetcher::new(w.args.fetch, &w.id, 0, &w.reg.queues);
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
        FetchMode::Reliable => {
            let mut pipe = redis::pipe();
            pipe.atomic();
            let sent = w.add_flush(&mut pipe);
            pipe.cmd("DEL").arg(keys::beat(&w.id)).ignore();
            pipe.exec(con)?;
            w.flushed_now(sent);
        }
        FetchMode::Basic => w.deregister(con)?,
    }
    Ok(())
}

/// One processor thread: its own connection and lists, fetch, run, settle, until told to stop.
fn processor(w: &Worker, slot: u64) {
    let link = Link::new(w, Duration::from_secs_f64(THREAD_BLOCK_S));
    let mut p = Processor {
        w,
        slot: Slot::new(w, slot, link),
        generation: 0,
    };
    p.run();
}

/// What one processor thread owns: its slot (connection, lists, what it owes Redis).
struct Processor<'w> {
    w: &'w Worker,
    slot: Slot<'w>,
    /// The connection whose client id the worker knows.
    generation: u64,
}

impl Processor<'_> {
    /// Fetch, run and settle jobs until QUIT or TERM; after QUIT, settle what is owed.
    fn run(&mut self) {
        while self.w.phase.get() == Phase::Running {
            if !self.slot.restore(&[]) || !self.known() {
                self.nap();
                continue;
            }
            if self.w.paused.load(SeqCst) {
                self.slot.release();
                self.slot.flush();
                std::thread::sleep(TICK);
                continue;
            }
            let Some(fetched) = self.slot.fetch(Some(THREAD_BLOCK_S)) else {
                continue;
            };
            if self.w.paused.load(SeqCst) {
                // Fetched as USR2 arrived: put it back untouched for another worker.
                self.slot.requeue(&fetched);
                continue;
            }
            // A job fetched as QUIT arrived is run: it is ours now, and pushing it back could
            // strand it on a queue that every worker has just seen empty (--exit-when-empty).
            // After TERM the main thread has requeued it already and the process is about to end.
            self.work(fetched);
        }
        // QUIT: put back the rest of a batch and acknowledge what finished (through an outage
        // if need be) before the main thread deregisters. TERM: the process is ending; the main thread requeued everything.
        while !self.slot.idle() && self.w.phase.get() == Phase::Quitting {
            if self.slot.restore(&[]) {
                self.slot.release();
                self.slot.flush();
            } else {
                self.nap();
            }
        }
    }

    /// Tell the worker this connection's client id (once per connection), so that QUIT can
    /// unblock its fetch; false if Redis failed.
    fn known(&mut self) -> bool {
        if self.slot.link.generation == self.generation {
            return true;
        }
        let Some(con) = self.slot.link.get(self.w) else {
            return false;
        };
        match redis::cmd("CLIENT").arg("ID").query::<i64>(con) {
            Ok(id) => {
                let mut map = self.w.client_ids.lock().unwrap_or_else(|p| p.into_inner());
                map.insert(self.slot.fetcher.slot, id);
                self.generation = self.slot.link.generation;
                true
            }
            Err(e) => {
                self.slot.failed("CLIENT ID", &e);
                false
            }
        }
    }

    /// Wait for the slot's next reconnect (at most a tick, so a stop is noticed).
    fn nap(&self) {
        std::thread::sleep(self.slot.wait().clamp(Duration::from_millis(1), TICK));
    }

    /// Run one fetched job on this thread and settle it; a payload that is not a job is buried.
    fn work(&mut self, fetched: Fetched) {
        let w = self.w;
        let job = match Job::parse(&fetched.raw) {
            Ok(j) => j,
            Err(e) => {
                let f = w.bury(fetched, &e);
                self.slot.finish(f);
                return;
            }
        };
        let slot = self.slot.fetcher.slot as usize;
        let started = Instant::now();
        w.set_running(slot, Current::new(fetched.clone(), &job));
        if w.args.verbose {
            w.log(&format!(
                "start jid={} class={} attempt={} t={:.3}",
                job.jid,
                job.class,
                job.attempts_before().saturating_add(1),
                now()
            ));
        }
        let result = perform(&job, self.slot.con());
        let f = w.finished(fetched, job, result, started);
        self.slot.finish(f);
        w.clear_running(slot);
    }
}

/// Run `job` (with this processor's connection, when it has one, for jobs whose effect is in
/// Redis); a panic is its failure (class `Panic`), not the end of the thread.
fn perform(job: &Job, con: Option<&mut redis::Connection>) -> Result<(), Failure> {
    let run = std::panic::AssertUnwindSafe(|| job::perform_with(job, con));
    std::panic::catch_unwind(run).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        Err(Failure::new("Panic", msg))
    })
}
