//! `concur worker`: a long-running process that fetches jobs, runs them, retries failures, and
//! answers Resque's signals.
//!
//! Two shapes, one protocol:
//!
//! - **threads** (default, Sidekiq, `threads.rs`): `--concurrency` processor threads fetch and
//!   run jobs, each on its own connection; the main thread never runs a job.
//! - **--fork** (Resque, `fork.rs`): one process per job, at most `--concurrency` at once, from
//!   one loop on one thread, because a process that forks must be single-threaded.
//!
//! Whatever the shape, the main loop does the same duties between jobs (`housekeeping` here): it
//! answers signals (`signals.rs`), beats and reaps dead workers (`registry.rs`), and moves due
//! scheduled and retry jobs onto their queues. A finished job is settled the same way too
//! (`settle.rs`).
//!
//! QUIT finishes the jobs running and exits; TERM and INT requeue the jobs in flight and exit at
//! once (a thread cannot be stopped, so with threads a job still running when the process exits
//! simply ends with it; its requeued copy runs again: at-least-once); USR1 SIGKILLs running fork
//! children (their jobs fail and follow the retry schedule); USR2 pauses fetching; CONT resumes.

mod fork;
mod link;
mod registry;
mod settle;
mod signals;
mod slot;
mod threads;

use crate::app::queue::fetch::{self, FetchMode, Fetched, Registration};
use crate::app::queue::job::{now, Job};
use crate::app::queue::{keys, move_to_dead, move_to_queue, open, redis_url};
use anyhow::Context;
use link::Link;
use nix::sys::resource::UsageWho;
use registry::{Clock, BEATS_TO_DEATH};
use signals::{on_signals, Signals};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct WorkerRequest {
    /// Queues to fetch from, in priority order
    pub queues: Vec<String>,
    /// Jobs at once: threads, or with --fork concurrent child processes
    pub concurrency: u64,
    /// Fork a child process per job (Resque) instead of running jobs on threads (Sidekiq)
    pub fork: bool,
    /// How jobs are taken from the queue
    pub fetch: FetchMode,
    /// Reliable fetch, threads: take this many jobs per round trip (1: one at a time)
    pub batch: u64,
    /// `--fork` with reliable fetch: fetch the next job while every child is busy (see
    /// [`fork`]'s prefetch), unless `--no-prefetch`
    pub prefetch: bool,
    /// `--fork` with `-c 2` or more: start each child away from the parent's CPU (see
    /// [`crate::sys::cpu`]), unless `--no-spread`
    pub spread: bool,
    /// Retries for a failing job with "retry": true, then the dead set
    pub max_retries: u64,
    /// Multiply retry delays by this (0.001 turns Sidekiq's minutes into milliseconds, for tests
    /// and demos); the schedule is logged unscaled
    pub time_scale: f64,
    /// Seconds between heartbeats; a worker silent for 3 of them is presumed dead and its jobs
    /// in flight are requeued by any other worker's reaper
    pub heartbeat: f64,
    /// Exit once the queues, the retry and schedule sets and every processing list are empty
    /// (so it waits for scheduled jobs and retries, however far off)
    pub exit_when_empty: bool,
    /// Count each finished jid in the hash concur:done (jid -> times run), to check that no job
    /// was lost or run twice
    pub record_jids: bool,
    /// Log every job, not only failures, retries and reaps
    pub verbose: bool,
    /// `--redis-url`, else REDIS_URL.
    pub redis_url: Option<String>,
}

/// How long the single-threaded fork loop blocks in a fetch when no child runs: it bounds how
/// late a signal, a heartbeat or the scheduler can be.
pub const IDLE_BLOCK_S: f64 = 0.1;
/// Main loop tick: signals, the scheduler poll, heartbeats.
const TICK: Duration = Duration::from_millis(50);

/// Where a worker is in its life. The main loop moves it on (a signal, `--exit-when-empty`); the
/// processor threads read it between jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Fetching and running jobs.
    Running = 0,
    /// After QUIT: no more fetching; exit once the running jobs finish.
    Quitting = 1,
    /// After TERM or INT: the jobs in flight are requeued and the worker exits now.
    Stopping = 2,
}

/// A [`Phase`] every thread of the worker can read.
struct AtomicPhase(AtomicU8);

impl AtomicPhase {
    fn new() -> AtomicPhase {
        AtomicPhase(AtomicU8::new(Phase::Running as u8))
    }

    fn get(&self) -> Phase {
        match self.0.load(SeqCst) {
            0 => Phase::Running,
            1 => Phase::Quitting,
            _ => Phase::Stopping,
        }
    }

    fn set(&self, phase: Phase) {
        self.0.store(phase as u8, SeqCst);
    }
}

/// A job being run: for the heartbeat, and for TERM with basic fetch.
#[derive(Clone)]
struct Current {
    fetched: Fetched,
    jid: String,
    class: String,
    run_at: f64,
}

impl Current {
    fn new(fetched: Fetched, job: &Job) -> Current {
        Current {
            fetched,
            jid: job.jid.clone(),
            class: job.class.clone(),
            run_at: now(),
        }
    }
}

/// Everything the main loop and the processors share.
struct Worker {
    id: String,
    args: WorkerRequest,
    reg: Registration,
    client: redis::Client,
    phase: AtomicPhase,
    paused: AtomicBool,
    running: Mutex<HashMap<usize, Current>>,
    /// Jobs this worker finished and failed, counted in memory and added to Redis's counters
    /// with each heartbeat and at exit (see `registry`).
    processed: AtomicU64,
    failed: AtomicU64,
    /// Since when Redis has been out of reach, if it is (see `link`).
    down: Mutex<Option<Instant>>,
    down_flag: AtomicBool,
    /// The counts Redis is known to have (the last flush whose reply came back), and when the
    /// last heartbeat landed.
    flushed: Mutex<(u64, u64)>,
    last_beat: Mutex<Option<Instant>>,
    /// From the first job fetched to the last one finished.
    busy: Busy,
    /// Jobs run to the end so far: each run's `--record-jids` token.
    runs: AtomicU64,
    /// Each processor's Redis client id, so that a quitting worker can end their blocking
    /// fetches at once (`CLIENT UNBLOCK`) instead of waiting out the fetch timeout.
    client_ids: Mutex<HashMap<u64, i64>>,
}

/// When the worker fetched its first job and finished its last, as nanoseconds from its start:
/// the span its throughput is measured over (`concur bench queue` reads it from the exit line).
struct Busy {
    t0: Instant,
    first: AtomicU64,
    last: AtomicU64,
}

impl Busy {
    fn new() -> Busy {
        Busy {
            t0: Instant::now(),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    fn fetched(&self) {
        if self.first.load(SeqCst) == u64::MAX {
            self.first.fetch_min(self.now(), SeqCst);
        }
    }

    fn finished(&self) {
        self.last.fetch_max(self.now(), SeqCst);
    }

    /// Seconds from the first fetch to the last job finished (0 if none ran).
    fn seconds(&self) -> f64 {
        let (first, last) = (self.first.load(SeqCst), self.last.load(SeqCst));
        if first == u64::MAX || last < first {
            0.0
        } else {
            (last - first) as f64 / 1e9
        }
    }
}

impl Worker {
    fn status(&self) -> &'static str {
        match self.phase.get() {
            Phase::Quitting => "quitting",
            Phase::Stopping => "stopping",
            _ if self.paused.load(SeqCst) => "paused",
            _ => "running",
        }
    }

    fn log(&self, msg: &str) {
        eprintln!("concur worker {}: {msg}", self.reg.pid);
    }

    fn running(&self) -> Vec<Current> {
        let map = self.running.lock().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Processor `slot` runs `current`.
    fn set_running(&self, slot: usize, current: Current) {
        let mut map = self.running.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(slot, current);
    }

    /// Processor `slot` is done with its job.
    fn clear_running(&self, slot: usize) {
        let mut map = self.running.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&slot);
    }

    /// Move due scheduled and retry jobs onto their queues. Each move is one Lua script on the
    /// server (ZREM, and only if that removed the job, the push), so two workers polling at once
    /// never push a job twice, and a worker killed mid-poll never loses one. (Sidekiq's poller
    /// does the same with its own script.)
    fn enqueue_due(&self, con: &mut redis::Connection) -> redis::RedisResult<u64> {
        let mut moved = 0;
        for set in [keys::SCHEDULE, keys::RETRY] {
            loop {
                let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(set)
                    .arg("-inf")
                    .arg(now())
                    .arg("LIMIT")
                    .arg(0)
                    .arg(100)
                    .query(con)?;
                if due.is_empty() {
                    break;
                }
                for payload in due {
                    let took = match Job::parse(&payload) {
                        Ok(mut job) => move_to_queue(con, set, &payload, &mut job)?,
                        Err(_) => move_to_dead(con, set, &payload)?,
                    };
                    moved += u64::from(took);
                }
            }
        }
        Ok(moved)
    }

    /// Nothing left for anyone: queues, schedule and retry sets, and every processing list.
    fn all_empty(&self, con: &mut redis::Connection) -> redis::RedisResult<bool> {
        let mut pipe = redis::pipe();
        for q in &self.reg.queues {
            pipe.cmd("LLEN").arg(keys::queue(q));
        }
        pipe.cmd("ZCARD").arg(keys::SCHEDULE);
        pipe.cmd("ZCARD").arg(keys::RETRY);
        let sizes: Vec<u64> = pipe.query(con)?;
        Ok(sizes.iter().all(|&n| n == 0) && fetch::in_flight_total(con)? == 0)
    }

    /// The periodic duties of the main loop, shared by both shapes: move due jobs onto their
    /// queues, beat, reap, notice that the queues are drained (`--exit-when-empty`), and show
    /// what the worker does in its procline.
    fn housekeeping(
        &self,
        con: &mut redis::Connection,
        clock: &mut Clock,
        running: &[Current],
    ) -> redis::RedisResult<()> {
        let started = Instant::now();
        let gap = clock.last_duties.elapsed();
        self.enqueue_due(con)?;
        self.beat_if_due(con, clock, running)?;
        // Duties that ran late, or round trips that took a heartbeat: Redis (or this process)
        // stalled, and heartbeats that expired meanwhile prove nothing.
        if gap > 2 * self.heartbeat() || started.elapsed() > self.heartbeat() {
            clock.distrust();
        }
        self.reap_if_due(con, clock)?;
        clock.last_duties = Instant::now();
        if self.args.exit_when_empty
            && running.is_empty()
            && self.phase.get() == Phase::Running
            && self.all_empty(con)?
        {
            self.log("queues empty: exiting (--exit-when-empty)");
            self.phase.set(Phase::Quitting);
        }
        self.procline(running.len());
        Ok(())
    }
}

/// `concur worker`.
pub fn run(args: &WorkerRequest) -> anyhow::Result<()> {
    if args.batch > 1 && (args.fork || args.fetch != FetchMode::Reliable) {
        return crate::error::usage(
            "--batch needs the threaded worker with --fetch reliable (a batch is acknowledged by emptying a processing list that holds only finished jobs)",
        );
    }
    let url = redis_url(args.redis_url.as_deref(), "worker")?;
    let signals = Signals::install().context("blocking the worker's signals")?;
    let (client, mut con) = open(&url)?;
    let (id, reg) = registry::registration(args);
    let w = Arc::new(Worker {
        id,
        args: args.clone(),
        reg,
        client,
        phase: AtomicPhase::new(),
        paused: AtomicBool::new(false),
        running: Mutex::new(HashMap::new()),
        processed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        down: Mutex::new(None),
        down_flag: AtomicBool::new(false),
        flushed: Mutex::new((0, 0)),
        last_beat: Mutex::new(None),
        busy: Busy::new(),
        runs: AtomicU64::new(0),
        client_ids: Mutex::new(HashMap::new()),
    });
    w.beat(&mut con, &[]).context("registering the worker")?;
    w.log(&format!(
        "started {} on queues {}: {} {}, {} fetch{}, heartbeat every {} s (dead after {:.2} s), max {} retries, time scale {}",
        w.id,
        w.reg.queues.join(","),
        args.concurrency,
        if args.fork { "forked children at most" } else { "threads" },
        w.reg.fetch,
        if args.batch > 1 { format!(" in batches of {}", args.batch) } else { String::new() },
        args.heartbeat,
        args.heartbeat * BEATS_TO_DEATH,
        args.max_retries,
        args.time_scale,
    ));
    let result = if args.fork {
        fork::fork_loop(&w, &signals, con)
    } else {
        threads::thread_loop(&w, &signals, con)
    };
    w.log(&format!(
        "exiting: {} processed, {} failed; busy {:.6} s (first job fetched to last finished); peak RSS {} KiB (job children at most {} KiB)",
        w.processed.load(SeqCst),
        w.failed.load(SeqCst),
        w.busy.seconds(),
        peak_rss_kib(UsageWho::RUSAGE_SELF),
        peak_rss_kib(UsageWho::RUSAGE_CHILDREN),
    ));
    result
}

/// The peak RSS of this process, or of the largest child it reaped, in KiB.
fn peak_rss_kib(who: UsageWho) -> i64 {
    nix::sys::resource::getrusage(who).map_or(0, |u| u.max_rss())
}

impl Worker {
    /// The main loop's duties on `link`; a failure is logged once per outage and retried with
    /// backoff, and a reaper that could not watch Redis for a while trusts no expiry it saw.
    fn housekeep(&self, link: &mut Link, clock: &mut Clock, running: &[Current]) {
        let Some(con) = link.get(self) else {
            clock.distrust();
            return;
        };
        match self.housekeeping(con, clock, running) {
            Ok(()) => link.ok(self),
            Err(e) => {
                link.failed(self, "housekeeping", &e);
                clock.distrust();
            }
        }
    }

    /// Leave after the last job: put back anything left in our processing lists, flush the
    /// counters and deregister, retrying while Redis is out of reach until TERM or INT.
    fn leave(&self, s: &Signals, link: &mut Link) -> anyhow::Result<()> {
        loop {
            if let Some(con) = link.get(self) {
                let done = fetch::requeue_processing(con, &self.id, &self.reg)
                    .and_then(|_| self.deregister(con));
                match done {
                    Ok(()) => {
                        link.ok(self);
                        return Ok(());
                    }
                    Err(e) => link.failed(self, "leaving", &e),
                }
            }
            if on_signals(self, s, None) {
                anyhow::bail!(
                    "stopped while Redis was out of reach: this worker's registration stays for a reaper, which will requeue anything left in its processing lists"
                );
            }
            std::thread::sleep(link.wait().clamp(Duration::from_millis(1), TICK));
        }
    }
}
