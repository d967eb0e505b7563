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
//!   cannot, so an in-process run is stopped as a whole (see [`super::inflight::watchdog`]).
//!
//! Job `i` is faulty when `i % every == every - 1`: jobs K-1, 2K-1, ... (the first K-1 run clean).

use serde::{Deserialize, Serialize};
use std::time::Duration;

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
}
