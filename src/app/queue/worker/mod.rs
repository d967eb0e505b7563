//! `concur worker`: a long-running process that fetches jobs, runs them, retries failures, and
//! answers Resque's signals.
//!
//! Two shapes, one protocol:
//!
//! - **threads** (default, Sidekiq): `--concurrency` processor threads, each with *its own* Redis
//!   connection (a blocking BLMOVE holds its connection for up to a second), fetch and run jobs;
//!   the main thread never runs a job: it handles signals, beats, moves due scheduled and retry
//!   jobs onto their queues, and reaps dead workers.
//! - **--fork** (Resque): one process per job, at most `--concurrency` at once. `fork(2)` copies
//!   only the calling thread, so a process that forks must be single-threaded at that moment (a
//!   lock held by another thread would stay locked forever in the child). So in this mode there
//!   are no threads at all: one loop fetches (blocking at most [`IDLE_BLOCK_S`], and not at all
//!   while children run), forks, polls `waitpid`, beats, polls the schedule and reaps, in turn.
//!   `Threads: 1` is checked before every fork. The child resets the signal handlers, runs the
//!   job, reports a failure through a pipe, and `_exit`s; the parent settles the job.
//!
//! The heartbeat is a hash `concur:worker:<id>` (host, pid, queues, started, busy, status, the
//! jobs running) that expires after 3 heartbeats; the registration in `concur:processes` stays
//! until a clean exit or a reaper. The process name (`ps -o comm`, `top`) says what the worker
//! is doing, like Resque's procline (Linux allows 15 bytes).
//!
//! Signals are *blocked* in every thread of the worker and collected by the main loop with a
//! zero-timeout `sigtimedwait` at each turn: no handler runs at an arbitrary moment, and no
//! system call (a blocking BLMOVE above all) is ever interrupted by EINTR, which would lose the
//! reply of a command the server has already carried out. Forked children unblock them again.
//! QUIT finishes the jobs running and exits; TERM and INT requeue the jobs in flight and exit at
//! once (a thread cannot be stopped, so with threads a job still running when the process exits
//! simply ends with it; its requeued copy runs again: at-least-once); USR1 SIGKILLs running fork
//! children (their jobs fail and follow the retry schedule); USR2 pauses fetching; CONT resumes.

use crate::app::queue::fetch::FetchMode;
use crate::app::queue::fetch::{self, Fetched, Fetcher, Registration};
use crate::app::queue::job::{self, now, Failure, Job, Next};
use crate::app::queue::{keys, open, redis_url, DEAD_MAX, RESPONSE_TIMEOUT};
use crate::sys::redis_server::connect;
use anyhow::Context;
use nix::sys::signal::{SigSet, Signal};
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

/// How long a processor thread blocks in one BLMOVE/BRPOP (it checks for QUIT in between).
const THREAD_BLOCK_S: f64 = 1.0;
/// How long the single-threaded fork loop blocks in a fetch when no child runs: it bounds how
/// late a signal, a heartbeat or the scheduler can be.
pub const IDLE_BLOCK_S: f64 = 0.1;
/// Main loop tick: signals, the scheduler poll, heartbeats.
const TICK: Duration = Duration::from_millis(50);
/// A heartbeat expires after this many intervals without one.
const BEATS_TO_DEATH: f64 = 3.0;
/// The heartbeat hash is rewritten at most this often when what it shows changes.
const STATE_REFRESH: Duration = Duration::from_millis(250);

const RUNNING: u8 = 0;
const QUIT: u8 = 1;
const TERM: u8 = 2;

/// The signals a worker answers, blocked and collected by the main loop.
struct Signals {
    set: SigSet,
}

impl Signals {
    /// Block the worker's signals in this thread and every thread started from it.
    fn install() -> anyhow::Result<Signals> {
        let mut set = SigSet::empty();
        for sig in [
            Signal::SIGQUIT,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGCONT,
        ] {
            set.add(sig);
        }
        set.thread_block()?;
        Ok(Signals { set })
    }

    /// The signals that arrived since the last call, in order (each pending signal once).
    fn arrived(&self) -> Vec<Signal> {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut got = Vec::new();
        loop {
            // SAFETY: `set` is an initialised sigset_t and `zero` a valid timespec, both alive
            // for the call, which only reads them; a null siginfo pointer is allowed. With a zero
            // timeout the call never blocks: it returns a pending signal or -1 (EAGAIN).
            let n = unsafe { libc::sigtimedwait(self.set.as_ref(), std::ptr::null_mut(), &zero) };
            match Signal::try_from(n) {
                Ok(sig) if n > 0 => got.push(sig),
                _ => return got,
            }
        }
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

/// Everything the main loop and the processors share.
struct Worker {
    id: String,
    args: WorkerRequest,
    reg: Registration,
    client: redis::Client,
    stop: AtomicU8,
    paused: AtomicBool,
    running: Mutex<HashMap<usize, Current>>,
    processed: AtomicU64,
    failed: AtomicU64,
}

impl Worker {
    fn ttl_ms(&self) -> u64 {
        (self.args.heartbeat * BEATS_TO_DEATH * 1000.0) as u64
    }

    fn status(&self) -> &'static str {
        match self.stop.load(SeqCst) {
            QUIT => "quitting",
            TERM => "stopping",
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

    /// Write the heartbeat and the registration.
    fn beat(&self, con: &mut redis::Connection, running: &[Current]) -> redis::RedisResult<()> {
        let current: Vec<serde_json::Value> = running
            .iter()
            .map(|c| {
                serde_json::json!({"jid": c.jid, "class": c.class, "queue": c.fetched.queue, "run_at": c.run_at})
            })
            .collect();
        let key = keys::beat(&self.id);
        redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg("host")
            .arg(&self.reg.host)
            .arg("pid")
            .arg(self.reg.pid)
            .arg("queues")
            .arg(self.reg.queues.join(","))
            .arg("started")
            .arg(self.reg.started)
            .arg("concurrency")
            .arg(self.reg.concurrency)
            .arg("mode")
            .arg(&self.reg.mode)
            .arg("fetch")
            .arg(&self.reg.fetch)
            .arg("beat")
            .arg(now())
            .arg("busy")
            .arg(running.len())
            .arg("status")
            .arg(self.status())
            .arg("processed")
            .arg(self.processed.load(SeqCst))
            .arg("failed")
            .arg(self.failed.load(SeqCst))
            .arg("current")
            .arg(serde_json::Value::from(current).to_string())
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.ttl_ms())
            .ignore()
            .cmd("HSET")
            .arg(keys::PROCESSES)
            .arg(&self.id)
            .arg(serde_json::to_string(&self.reg).expect("a registration serialises"))
            .ignore()
            .exec(con)
    }

    /// Forget this worker: heartbeat and registration (its processing lists are empty).
    fn deregister(&self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        redis::pipe()
            .cmd("DEL")
            .arg(keys::beat(&self.id))
            .ignore()
            .cmd("HDEL")
            .arg(keys::PROCESSES)
            .arg(&self.id)
            .ignore()
            .exec(con)
    }

    /// The procline: what `ps -o comm` and `top` show (15 bytes at most on Linux).
    fn procline(&self, busy: usize) {
        let text = match self.status() {
            "running" if busy == 0 => "concur: idle".to_owned(),
            "running" => format!("concur: {busy} busy"),
            s => format!("concur: {s}"),
        };
        if let Ok(name) = std::ffi::CString::new(text) {
            let _ = nix::sys::prctl::set_name(&name);
        }
    }

    /// Settle a finished job: success is counted (and recorded), failure goes to the retry or
    /// dead set; in both cases the job leaves the processing list in the same transaction.
    fn settle(
        &self,
        con: &mut redis::Connection,
        fetcher: &Fetcher,
        fetched: &Fetched,
        mut job: Job,
        result: Result<(), Failure>,
        started: Instant,
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        fetcher.ack(&mut pipe, fetched);
        match result {
            Ok(()) => {
                if self.args.record_jids {
                    // A separate step, like a real job's side effect: a worker killed between
                    // this and the acknowledgement runs the job again (counted as a duplicate).
                    redis::cmd("HINCRBY")
                        .arg(keys::DONE)
                        .arg(&job.jid)
                        .arg(1)
                        .exec(con)?;
                }
                pipe.cmd("INCR").arg(keys::PROCESSED).ignore();
                pipe.exec(con)?;
                self.processed.fetch_add(1, SeqCst);
                if self.args.verbose {
                    self.log(&format!(
                        "done jid={} class={} attempt={} ms={:.1} t={:.3}",
                        job.jid,
                        job.class,
                        job.attempts_before() + 1,
                        started.elapsed().as_secs_f64() * 1e3,
                        now()
                    ));
                }
            }
            Err(failure) => {
                let attempt = job.attempts_before() + 1;
                let next = job::fail(
                    &mut job,
                    &failure,
                    self.args.max_retries,
                    fastrand::u64(0..10),
                );
                pipe.cmd("INCR").arg(keys::FAILED).ignore();
                let t = now();
                let line = match next {
                    Next::Retry { count, delay_s } => {
                        let scaled = delay_s as f64 * self.args.time_scale;
                        pipe.cmd("ZADD")
                            .arg(keys::RETRY)
                            .arg(t + scaled)
                            .arg(job.to_json())
                            .ignore();
                        format!(
                            "retry jid={} class={} attempt={attempt} retry_count={count} delay_s={delay_s} scaled_s={scaled:.3} t={t:.3} error=\"{}: {}\"",
                            job.jid, job.class, failure.class, failure.message
                        )
                    }
                    Next::Dead { count } => {
                        pipe.cmd("ZADD")
                            .arg(keys::DEAD)
                            .arg(t)
                            .arg(job.to_json())
                            .ignore();
                        pipe.cmd("ZREMRANGEBYRANK")
                            .arg(keys::DEAD)
                            .arg(0)
                            .arg(-DEAD_MAX - 1)
                            .ignore();
                        format!(
                            "dead jid={} class={} attempt={attempt} retry_count={count} t={t:.3} error=\"{}: {}\"",
                            job.jid, job.class, failure.class, failure.message
                        )
                    }
                    Next::Discard => format!(
                        "discarded jid={} class={} (retry: false) error=\"{}: {}\"",
                        job.jid, job.class, failure.class, failure.message
                    ),
                };
                pipe.exec(con)?;
                self.failed.fetch_add(1, SeqCst);
                self.log(&line);
            }
        }
        Ok(())
    }

    /// A payload that is not a job: straight to the dead set, so it is kept for a human.
    fn bury(
        &self,
        con: &mut redis::Connection,
        fetcher: &Fetcher,
        fetched: &Fetched,
        why: &str,
    ) -> redis::RedisResult<()> {
        self.log(&format!("dead: {why}"));
        let mut pipe = redis::pipe();
        pipe.atomic();
        fetcher.ack(&mut pipe, fetched);
        pipe.cmd("ZADD")
            .arg(keys::DEAD)
            .arg(now())
            .arg(&fetched.raw)
            .ignore();
        pipe.cmd("INCR").arg(keys::FAILED).ignore();
        pipe.exec(con)
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
                        Ok(mut job) => super::move_to_queue(con, set, &payload, &mut job)?,
                        Err(_) => super::move_to_dead(con, set, &payload)?,
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

    /// The periodic duties of the main loop, shared by both shapes.
    fn housekeeping(
        &self,
        con: &mut redis::Connection,
        clock: &mut Clock,
        running: &[Current],
    ) -> redis::RedisResult<()> {
        self.enqueue_due(con)?;
        // What `stats` shows (busy, current jobs, status) is refreshed when it changes, at most
        // every STATE_REFRESH; the reaper runs once per heartbeat interval.
        let state = (
            running.len(),
            self.status(),
            self.processed.load(SeqCst) + self.failed.load(SeqCst),
        );
        let due = clock.beat.elapsed().as_secs_f64() >= self.args.heartbeat;
        if due || (state != clock.state && clock.beat.elapsed() >= STATE_REFRESH) {
            clock.beat = Instant::now();
            clock.state = state;
            self.beat(con, running)?;
        }
        if clock.reap.elapsed().as_secs_f64() >= self.args.heartbeat {
            clock.reap = Instant::now();
            for (id, n) in fetch::reap(con, &self.id)? {
                self.log(&format!(
                    "reaped worker {id}: heartbeat expired, {n} job{} requeued",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        if self.args.exit_when_empty
            && running.is_empty()
            && self.stop.load(SeqCst) == RUNNING
            && self.all_empty(con)?
        {
            self.log("queues empty: exiting (--exit-when-empty)");
            self.stop.store(QUIT, SeqCst);
        }
        self.procline(running.len());
        Ok(())
    }
}

/// When the main loop last beat and reaped, and what it last reported.
struct Clock {
    beat: Instant,
    reap: Instant,
    state: (usize, &'static str, u64),
}

impl Clock {
    fn new() -> Clock {
        Clock {
            beat: Instant::now(),
            reap: Instant::now(),
            state: (0, "running", 0),
        }
    }
}

/// `concur worker`.
pub fn run(args: &WorkerRequest) -> anyhow::Result<()> {
    let url = redis_url(args.redis_url.as_deref(), "worker")?;
    let signals = Signals::install().context("blocking the worker's signals")?;
    let (client, mut con) = open(&url)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let pid = std::process::id();
    let id = format!("{host}:{pid}:{:06x}", fastrand::u32(..0xff_ffff));
    let reg = Registration {
        host,
        pid,
        queues: args.queues.clone(),
        started: now(),
        concurrency: args.concurrency,
        mode: if args.fork { "fork" } else { "threads" }.into(),
        fetch: match args.fetch {
            FetchMode::Reliable => "reliable",
            FetchMode::Basic => "basic",
        }
        .into(),
    };
    let w = Arc::new(Worker {
        id,
        args: args.clone(),
        reg,
        client,
        stop: AtomicU8::new(RUNNING),
        paused: AtomicBool::new(false),
        running: Mutex::new(HashMap::new()),
        processed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    w.beat(&mut con, &[]).context("registering the worker")?;
    w.log(&format!(
        "started {} on queues {}: {} {}, {} fetch, heartbeat every {} s (dead after {:.2} s), max {} retries, time scale {}",
        w.id,
        w.reg.queues.join(","),
        args.concurrency,
        if args.fork { "forked children at most" } else { "threads" },
        w.reg.fetch,
        args.heartbeat,
        args.heartbeat * BEATS_TO_DEATH,
        args.max_retries,
        args.time_scale,
    ));
    let result = if args.fork {
        fork_loop(&w, &signals, &mut con)
    } else {
        thread_loop(&w, &signals, &mut con)
    };
    w.log(&format!(
        "exiting: {} processed, {} failed",
        w.processed.load(SeqCst),
        w.failed.load(SeqCst)
    ));
    result
}

/// React to the signals that arrived since the last look. Returns true on TERM/INT; fork
/// children killed by USR1 are added to `killed`.
fn on_signals(w: &Worker, s: &Signals, children: Option<(&[i32], &mut Vec<i32>)>) -> bool {
    let mut children = children;
    for sig in s.arrived() {
        match sig {
            Signal::SIGTERM | Signal::SIGINT => {
                w.stop.store(TERM, SeqCst);
                w.log(&format!(
                    "{}: requeueing the jobs in flight and exiting now",
                    sig.as_str().trim_start_matches("SIG")
                ));
                return true;
            }
            Signal::SIGQUIT if w.stop.load(SeqCst) == RUNNING => {
                w.stop.store(QUIT, SeqCst);
                w.log("QUIT: no more fetching; exiting once the running jobs finish");
            }
            Signal::SIGUSR2 => {
                w.paused.store(true, SeqCst);
                w.log("USR2: paused, no more fetching until CONT");
            }
            Signal::SIGCONT if w.paused.swap(false, SeqCst) => w.log("CONT: fetching again"),
            Signal::SIGUSR1 => match children.as_mut() {
                Some((pids, killed)) => {
                    for &pid in pids.iter() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            Signal::SIGKILL,
                        );
                        killed.push(pid);
                    }
                    w.log(&format!("USR1: killed {} running child(ren)", pids.len()));
                }
                None => w.log("USR1: nothing to kill (threads cannot be killed; run with --fork)"),
            },
            _ => {}
        }
    }
    false
}

/// Run `f` on a connection, reconnecting after a failure; false when it failed (logged).
fn with_redis(
    w: &Worker,
    con: &mut redis::Connection,
    what: &str,
    f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<()>,
) -> bool {
    match f(con) {
        Ok(()) => true,
        Err(e) => {
            w.log(&format!("{what}: {e}; reconnecting"));
            std::thread::sleep(Duration::from_millis(500));
            if let Ok(c) = connect(&w.client, Duration::from_secs(2), RESPONSE_TIMEOUT) {
                *con = c;
            }
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Threads (Sidekiq)

fn thread_loop(w: &Arc<Worker>, s: &Signals, con: &mut redis::Connection) -> anyhow::Result<()> {
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
        if w.stop.load(SeqCst) == QUIT && handles.iter().all(|h| h.is_finished()) {
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
            Err(e) if w.stop.load(SeqCst) == RUNNING => {
                w.log(&format!("processor {slot}: connect: {e}; retrying"));
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(_) => return,
        }
    };
    while w.stop.load(SeqCst) == RUNNING {
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

// ---------------------------------------------------------------------------------------------
// Fork (Resque)

struct ChildJob {
    current: Current,
    job: Job,
    started: Instant,
    report: std::fs::File,
}

fn fork_loop(w: &Arc<Worker>, s: &Signals, con: &mut redis::Connection) -> anyhow::Result<()> {
    use crate::sys::process::{try_reap, Ending, SingleThreaded};
    // The whole loop runs on this one thread: fetching, heartbeats, the scheduler and the
    // reaper take turns between waits for children, so the process can fork.
    let forker = SingleThreaded::check()?;
    let mut fetcher = Fetcher::new(w.args.fetch, &w.id, &w.reg.queues);
    let mut children: HashMap<i32, ChildJob> = HashMap::new();
    let mut killed_by_usr1: Vec<i32> = Vec::new();
    let mut clock = Clock::new();
    let mut last_housekeeping = Instant::now();
    loop {
        let pids: Vec<i32> = children.keys().copied().collect();
        if on_signals(w, s, Some((&pids, &mut killed_by_usr1))) {
            for &pid in &pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            for _ in &pids {
                let _ = nix::sys::wait::waitpid(None, None);
            }
            for c in children.values() {
                fetcher.requeue(con, &c.current.fetched)?;
            }
            w.log(&format!("requeued {} job(s) in flight", children.len()));
            w.deregister(con)?;
            return Ok(());
        }
        // Children that ended.
        let mut reaped_any = false;
        while let Some((pid, ending)) = try_reap() {
            reaped_any = true;
            let Some(mut child) = children.remove(&pid.as_raw()) else {
                continue;
            };
            let result = match ending {
                Ending::Exited(0) => Ok(()),
                Ending::Exited(code) => {
                    let mut text = String::new();
                    let _ = std::io::Read::read_to_string(&mut child.report, &mut text);
                    let mut lines = text.lines();
                    match (lines.next(), lines.next()) {
                        (Some(class), Some(msg)) => Err(Failure {
                            class: class.into(),
                            message: msg.into(),
                            backtrace: lines.map(String::from).collect(),
                        }),
                        _ => Err(Failure::bare(
                            "DirtyExit",
                            format!("child exited with status {code}"),
                            "the child wrote no report",
                        )),
                    }
                }
                Ending::Signaled(sig) => {
                    let by_usr1 = killed_by_usr1.contains(&pid.as_raw());
                    Err(Failure::bare(
                        "DirtyExit",
                        format!(
                            "child killed by {}{}",
                            sig.as_str(),
                            if by_usr1 { " (USR1 to the worker)" } else { "" }
                        ),
                        "the job's process was killed",
                    ))
                }
            };
            killed_by_usr1.retain(|&p| p != pid.as_raw());
            let fetched = child.current.fetched.clone();
            with_redis(w, con, "settling a job", |con| {
                w.settle(con, &fetcher, &fetched, child.job, result, child.started)
            });
        }
        let running: Vec<Current> = children.values().map(|c| c.current.clone()).collect();
        if last_housekeeping.elapsed() >= TICK {
            last_housekeeping = Instant::now();
            with_redis(w, con, "housekeeping", |con| {
                w.housekeeping(con, &mut clock, &running)
            });
        }
        if w.stop.load(SeqCst) == QUIT && children.is_empty() {
            break;
        }
        let can_fetch = w.stop.load(SeqCst) == RUNNING
            && !w.paused.load(SeqCst)
            && (children.len() as u64) < w.args.concurrency;
        let mut forked = false;
        if can_fetch {
            let block = children.is_empty().then_some(IDLE_BLOCK_S);
            let mut got = None;
            with_redis(w, con, "fetch", |con| {
                got = fetcher.fetch(con, block)?;
                Ok(())
            });
            if let Some(fetched) = got {
                match Job::parse(&fetched.raw) {
                    Err(e) => {
                        let _ = w.bury(con, &fetcher, &fetched, &e);
                    }
                    Ok(job) => {
                        let (pid, report) = fork_job(&forker, &job)?;
                        if w.args.verbose {
                            w.log(&format!(
                                "start jid={} class={} attempt={} child={pid} t={:.3}",
                                job.jid,
                                job.class,
                                job.attempts_before() + 1,
                                now()
                            ));
                        }
                        children.insert(
                            pid,
                            ChildJob {
                                current: Current {
                                    fetched,
                                    jid: job.jid.clone(),
                                    class: job.class.clone(),
                                    run_at: now(),
                                },
                                job,
                                started: Instant::now(),
                                report,
                            },
                        );
                        forked = true;
                    }
                }
            }
        }
        // A blocking fetch already waited; otherwise poll again shortly.
        let fetch_blocked = can_fetch && children.is_empty();
        if !(forked || reaped_any || fetch_blocked) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    fetch::requeue_processing(con, &w.id, &w.reg.queues)?;
    w.deregister(con)?;
    Ok(())
}

/// Fork a child that runs `job`; its pid and the read end of its failure report.
fn fork_job(
    forker: &crate::sys::process::SingleThreaded,
    job: &Job,
) -> anyhow::Result<(i32, std::fs::File)> {
    let (read, write) = nix::unistd::pipe().context("pipe for a child's report")?;
    let child_job = job.clone();
    let pid = forker.fork(move || {
        // The parent blocks its signals (see the module docs); the child must die of TERM, QUIT
        // and USR1's SIGKILL like any process, so it unblocks them.
        let _ = SigSet::all().thread_unblock();
        let _ = nix::sys::prctl::set_name(c"concur: job");
        match job::perform(&child_job) {
            Ok(()) => 0,
            Err(f) => {
                let mut out = std::fs::File::from(write);
                let text = format!(
                    "{}\n{}\n{}\n",
                    f.class,
                    f.message.replace('\n', " "),
                    f.backtrace.join("\n")
                );
                let _ = std::io::Write::write_all(&mut out, text.as_bytes());
                1
            }
        }
    })?;
    Ok((pid.as_raw(), std::fs::File::from(read)))
}
