//! Jobs in flight in this process: one tracker for two readers.
//!
//! - **How many at once.** The memory each in-flight job costs (the sleep workload: ten thousand
//!   slow API calls at once, as tasks, threads or processes?) is the tree's peak RSS over the
//!   baseline, divided by the peak number of jobs in flight. [`peak`] is that number, counted
//!   where jobs run in this process (the harness turns it into the figure).
//! - **Which ones, since when.** The `--job-timeout` watchdog of in-process strategies
//!   ([`watchdog`]) needs each running job's start time, to notice one that hangs.
//!
//! Every in-process job holds a [`Guard`] from [`enter`] while it runs. Neither reader is free:
//! `concur limits` showed a global map insert per job to be most of `pool`'s per-job cost on
//! no-op jobs, and even a shared counter adds contention. So the tracker does only what
//! [`track`] asked for, once, before the first job: nothing (a relaxed load per job), count, or
//! count and remember start times.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the tracker keeps.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Tracking {
    /// Nothing: the default, and what no-op benchmarks must pay.
    Off = 0,
    /// How many jobs are in flight, and the peak.
    Count = 1,
    /// That, and each running job's start time, for the watchdog.
    Watch = 2,
}

static MODE: AtomicU8 = AtomicU8::new(Tracking::Off as u8);
static CURRENT: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static ENDED: AtomicU64 = AtomicU64::new(0);

fn started() -> &'static Mutex<HashMap<u64, Instant>> {
    static STARTED: OnceLock<Mutex<HashMap<u64, Instant>>> = OnceLock::new();
    STARTED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Keep at least `what` from now on (a stronger mode is never weakened). Call before the first
/// job starts: a job that entered before is not seen.
pub fn track(what: Tracking) {
    MODE.fetch_max(what as u8, SeqCst);
}

/// A job in flight, from [`enter`] until dropped (also by unwinding).
pub struct Guard {
    mode: u8,
    job: u64,
}

/// Job `i` starts; it is in flight until the guard is dropped.
pub fn enter(i: u64) -> Guard {
    let mode = MODE.load(Relaxed);
    if mode >= Tracking::Count as u8 {
        let now = CURRENT.fetch_add(1, SeqCst) + 1;
        PEAK.fetch_max(now, SeqCst);
    }
    if mode >= Tracking::Watch as u8 {
        lock().insert(i, Instant::now());
    }
    Guard { mode, job: i }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.mode >= Tracking::Count as u8 {
            CURRENT.fetch_sub(1, SeqCst);
        }
        if self.mode >= Tracking::Watch as u8 {
            lock().remove(&self.job);
            ENDED.fetch_add(1, SeqCst);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<u64, Instant>> {
    started().lock().unwrap_or_else(|p| p.into_inner())
}

/// The most jobs that were in flight at once in this process (0 when not counted).
pub fn peak() -> u64 {
    PEAK.load(SeqCst)
}

/// What the watchdog found: the job that ran past the timeout, for how long, and how many
/// jobs had ended by then.
pub struct Overrun {
    pub job: u64,
    /// Every other job still running at that moment.
    pub others: Vec<u64>,
    pub ran: Duration,
    pub ended: u64,
}

/// The job-timeout watchdog of in-process strategies. Call on a thread of its own, after
/// `track(Tracking::Watch)`; returns when some job has run longer than `timeout` (never, if
/// none does).
///
/// A thread cannot be killed from outside: Rust (like Ruby since `Thread#kill` was found
/// unsafe) offers no way to stop a thread that does not cooperate, since it could die holding a
/// lock or half-way through changing shared state. All the watchdog can honestly do is notice,
/// and then the caller stops the whole process.
pub fn watchdog(timeout: Duration) -> Overrun {
    let tick = (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(50));
    loop {
        std::thread::sleep(tick);
        let started = lock();
        if let Some((&job, at)) = started
            .iter()
            .filter(|(_, at)| at.elapsed() >= timeout)
            .min_by_key(|(_, at)| **at)
        {
            let mut others: Vec<u64> = started.keys().copied().filter(|&j| j != job).collect();
            others.sort_unstable();
            return Overrun {
                job,
                others,
                ran: at.elapsed(),
                ended: ENDED.load(SeqCst),
            };
        }
    }
}
