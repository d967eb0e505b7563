//! Faults on purpose: one job in K crashes, panics, leaks or hangs (`--fault`, `--every`).
//!
//! Resque forks a process per job because, in its README's words, jobs "will lock up, run too
//! long, or have unwanted memory growth". Threads share one fate. These faults let a workshop see
//! the difference instead of taking it on trust:
//!
//! - `panic`: a Rust panic, the equivalent of an uncaught Ruby exception. In-process strategies
//!   catch it per job (like Sidekiq rescuing a job's exception) and the run goes on;
//! - `crash`: `std::process::abort()`, the equivalent of a segfault in a C extension. No thread
//!   survives it: the whole process dies by SIGABRT. Under `fork` only that job's child dies;
//! - `leak`: the job allocates `--leak-mb` MiB, touches every page and never frees it. A forked
//!   child's leak is returned to the system when it exits; a thread's stays for the process's life;
//! - `hang`: the job never returns. A forked child can be killed (`--job-timeout`); a thread
//!   cannot, so an in-process run is stopped as a whole (see [`watchdog`]).
//!
//! Job `i` is faulty when `i % every == every - 1`: jobs K-1, 2K-1, ... (the first K-1 run clean).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What goes wrong in a faulty job.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// the job aborts the whole process (SIGABRT), like a segfault in native code
    Crash,
    /// the job panics (an uncaught exception)
    Panic,
    /// the job leaks --leak-mb MiB of touched memory
    Leak,
    /// the job never returns
    Hang,
}

impl Fault {
    pub const ALL: &'static [Fault] = &[Fault::Crash, Fault::Panic, Fault::Leak, Fault::Hang];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::Panic => "panic",
            Fault::Leak => "leak",
            Fault::Hang => "hang",
        }
    }
}

/// A fault and where it strikes; part of the run spec.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub fault: Fault,
    /// One job in `every` is faulty.
    pub every: u64,
    /// `leak`: MiB per faulty job.
    pub leak_mb: u64,
}

impl FaultSpec {
    /// Is job `i` one of the faulty ones?
    pub fn hits(&self, i: u64) -> bool {
        let k = self.every.max(1);
        i % k == k - 1
    }

    /// How many of `items` jobs are faulty.
    pub fn count(&self, items: u64) -> u64 {
        items / self.every.max(1)
    }

    /// Job `i`'s fault, if it has one. Returns only for `leak` (and for a job without a fault).
    pub fn strike(&self, i: u64) {
        if !self.hits(i) {
            return;
        }
        match self.fault {
            Fault::Panic => panic!("injected panic (--fault panic)"),
            Fault::Crash => {
                eprintln!("concur: job {i}: injected crash: abort() (--fault crash)");
                std::process::abort()
            }
            Fault::Leak => leak(self.leak_mb),
            Fault::Hang => hang(),
        }
    }
}

/// Allocate `mb` MiB, write every page (so it is resident, not just reserved) and forget it.
pub fn leak(mb: u64) {
    let mut v = vec![0u8; (mb as usize) << 20];
    for page in v.chunks_mut(4096) {
        page[0] = 1;
    }
    std::mem::forget(std::hint::black_box(v));
}

/// Never return, using no CPU: a job stuck on a lock or a dead socket.
pub fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// In-process jobs that have started and not yet ended, with their start time, and how many
/// have ended: what the [`watchdog`] looks at.
struct Inflight {
    started: Mutex<HashMap<u64, Instant>>,
    ended: AtomicU64,
}

fn inflight() -> &'static Inflight {
    static INFLIGHT: std::sync::OnceLock<Inflight> = std::sync::OnceLock::new();
    INFLIGHT.get_or_init(|| Inflight {
        started: Mutex::new(HashMap::new()),
        ended: AtomicU64::new(0),
    })
}

/// Whether a [`watchdog`] looks at the in-flight jobs. Off unless `--job-timeout` is given:
/// the bookkeeping is one global lock, a map insert and a clock read per job start and end,
/// which `concur limits` showed to be most of `pool`'s and `actors`' per-job cost on no-op jobs
/// (four workers contending on one mutex), so a run without a watchdog does not pay it.
static TRACKED: AtomicBool = AtomicBool::new(false);

/// Start recording in-flight jobs for the watchdog. Call before the first job starts.
pub fn track_inflight() {
    TRACKED.store(true, SeqCst);
}

/// A job in progress, for the watchdog; dropping it (also by unwinding) marks the job ended.
/// Holds `None` when nothing watches.
pub struct Running(Option<u64>);

/// Mark in-process job `i` started (a no-op unless [`track_inflight`] was called).
pub fn running(i: u64) -> Running {
    if !TRACKED.load(Relaxed) {
        return Running(None);
    }
    inflight()
        .started
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(i, Instant::now());
    Running(Some(i))
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(i) = self.0 else { return };
        let f = inflight();
        f.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&i);
        f.ended.fetch_add(1, SeqCst);
    }
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

/// The job-timeout watchdog of in-process strategies. Call on a thread of its own; returns when
/// some job has run longer than `timeout` (never, if none does).
///
/// A thread cannot be killed from outside: Rust (like Ruby since `Thread#kill` was found
/// unsafe) offers no way to stop a thread that does not cooperate, since it could die holding a
/// lock or half-way through changing shared state. All the watchdog can honestly do is notice,
/// and then the caller stops the whole process. It sees only jobs that started after
/// [`track_inflight`]: call that before the first job, not from the watchdog's own thread.
pub fn watchdog(timeout: Duration) -> Overrun {
    let tick = (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(50));
    loop {
        std::thread::sleep(tick);
        let f = inflight();
        let started = f.started.lock().unwrap_or_else(|p| p.into_inner());
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
                ended: f.ended.load(SeqCst),
            };
        }
    }
}

/// Parse a duration: `1s`, `500ms`, `2m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => t.split_at(at),
        None => (t, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (try 1s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1e3,
        "s" => n,
        "m" | "min" => n * 60.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}' (use ms, s or m)"
            ))
        }
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 24.0 * 3600.0 {
        return Err(format!("'{text}' must be more than 0 and at most 24h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_in_k_is_faulty_starting_with_job_k_minus_1() {
        let f = FaultSpec {
            fault: Fault::Panic,
            every: 5,
            leak_mb: 1,
        };
        let hit: Vec<u64> = (0..20).filter(|&i| f.hits(i)).collect();
        assert_eq!(hit, vec![4, 9, 14, 19]);
        assert_eq!(f.count(20), 4);
        assert_eq!(f.count(24), 4);
        let all = FaultSpec { every: 1, ..f };
        assert!((0..5).all(|i| all.hits(i)));
    }

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "0s", "-1s", "3h", "1 fortnight", "nan"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
