//! `fork`: Resque's model. One `fork(2)` per job, at most `--workers` children alive at once.
//!
//! Resque's worker takes a job, forks, and waits: the child performs the job and exits; the parent
//! reads the child's exit status. Whatever the job does to its memory (leaks, corruption, a
//! segfault) dies with the child, and a child that dies by a signal or a non-zero status is one
//! failed job (Resque calls it `DirtyExit`), not a dead worker. That isolation is also why the
//! wallet never moves here: each child adjusts its *own* copy of the balance, and that copy dies
//! with it. To share the balance the processes need memory mapped `MAP_SHARED` (`--sync shared`),
//! and then they race exactly like threads do, unless the update is one atomic add
//! (`--sync shared-atomic`).
//!
//! # Fork safety
//! `fork` copies only the calling thread. A lock another thread held at that moment (malloc's, the
//! stdout lock, a runtime's) stays locked forever in the child. So the process that forks must be
//! single-threaded, and proves it with a [`SingleThreaded`] token: a thread count of 1 in
//! `/proc/self/stat` before the first fork, or no fork at all. The child then does only its job
//! and leaves with `libc::_exit`, which runs no atexit handlers and flushes no stdio buffers it
//! inherited (concur has none: the emoji are raw `write(2)`s). Every child asks to be killed if its parent dies
//! (`PR_SET_PDEATHSIG`), and the parent `waitpid`s every child it forked: no zombies, no orphans.
//!
//! # Copy-on-write
//! `fork` copies the page tables, not the pages: a child shares every page of its parent until one
//! of them writes to it. With `--app-mb 200` each child's RSS counts the 200 MiB it shares, so RSS
//! summed over the tree grows with every child alive; PSS divides shared pages among their
//! sharers and shows what the tree really costs.
//!
//! # Chaos: faults, timeouts, Ctrl-C
//! `--fault crash|panic|leak|hang` breaks one job in K on purpose ([`crate::workload::fault`]):
//! the child aborts, panics (caught in the child: exit 101), leaks (returned to the system at its
//! exit) or hangs. `--job-timeout` makes the parent send a hung child SIGTERM, then SIGKILL after
//! [`KILL_GRACE`] (a [`Termination`]), and report the job failed; the parent then polls `waitpid` instead of blocking
//! in it. After Ctrl-C (see [`crate::sys::signals`]) no new child is forked; running ones finish.
//! A child ignores SIGINT (the terminal sends it to the whole group; the parent decides).

use super::{available, Floor, Memory, Props, StrategyInfo, Workers};
use crate::error::Error;
use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::workload::fault::FaultSpec;
use crate::workload::wallet::{SyncMode, WalletOutcome};
use crate::workload::Workload;
use crate::workload::{self, wallet};
use anyhow::Context;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

pub const INFO: StrategyInfo = StrategyInfo {
    name: "fork",
    models: "Resque: fork(2) per job, at most N children, waitpid, exit status read",
    props: PROCESSES,
    workers: Workers::Count(1),
    // `none` (isolated) is the default; shared-atomic before shared so the summary's "try --sync"
    // hint names the fix.
    syncs: &[SyncMode::None, SyncMode::SharedAtomic, SyncMode::Shared],
    transfers: &[],
    needs_redis: false,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: Some(Floor {
        per_job: "fork+_exit+waitpid",
        setup: None,
        parallel: false,
    }),
    unavailable: available,
    run,
};

/// Properties of strategies whose workers are processes.
pub const PROCESSES: Props = Props {
    memory: Memory::Isolated,
    survives_crash: true,
    kills_hung: true,
    parallel: true,
    needs_server: false,
};

pub use crate::sys::process::{
    reap_any, reap_pid, try_reap, Ending, SingleThreaded, Termination, KILL_GRACE,
};

/// The Resque loop: for each job in `0..items`, fork a child that runs `job(i)` and exits with
/// its return code, keeping at most `workers` children alive; reap them all. Returns one line per
/// failed job (a `DirtyExit`: non-zero status or a signal). The run goes on after a failure.
///
/// This is the whole per-job path of `-s fork`; `benches/fork.rs` measures it against a bare
/// fork + `_exit` + `waitpid`.
pub fn run_jobs(
    forker: &SingleThreaded,
    items: u64,
    workers: usize,
    job: impl FnMut(u64) -> i32,
) -> anyhow::Result<Vec<Failure>> {
    Ok(run_jobs_with(forker, items, workers, None, job)?.failures)
}

/// [`run_jobs`], plus a job timeout (a child running longer is sent SIGTERM, then SIGKILL after
/// [`KILL_GRACE`], and its job is failed) and a graceful stop: once
/// [`crate::sys::signals::stop_requested`], no new child is forked and the running ones are waited for.
pub fn run_jobs_with(
    forker: &SingleThreaded,
    items: u64,
    workers: usize,
    timeout: Option<Duration>,
    mut job: impl FnMut(u64) -> i32,
) -> anyhow::Result<Jobs> {
    let mut next = 0..items;
    run_queue(forker, workers, timeout, || Ok(next.next()), |i, _| job(i))
}

/// What [`run_queue`] saw.
#[derive(Debug, Default)]
pub struct Jobs {
    /// One line per failed job.
    pub failures: Vec<Failure>,
    /// Jobs forked (fewer than asked after a stop).
    pub started: u64,
    /// Jobs killed for running past the timeout.
    pub timed_out: u64,
    /// The first such job: from its fork to its SIGTERM.
    pub hang_detected_s: Option<f64>,
}

/// [`run_jobs_with`] over any queue: the *parent* takes each job with `next` (`Ok(None)` when the
/// queue is empty), then forks a child that runs `job(n, payload)`, `n` counting jobs from 0.
/// Resque's worker reserves a job before it forks, so the child only performs it; `-s resque`
/// uses this with `next` = LPOP.
pub fn run_queue<T>(
    forker: &SingleThreaded,
    workers: usize,
    timeout: Option<Duration>,
    mut next: impl FnMut() -> anyhow::Result<Option<T>>,
    mut job: impl FnMut(u64, T) -> i32,
) -> anyhow::Result<Jobs> {
    let workers = workers.max(1);
    let mut children = Children::new(workers, timeout);
    let mut i = 0u64;
    loop {
        while children.alive.len() >= workers {
            children.reap_one()?;
        }
        if crate::sys::signals::stop_requested() {
            break;
        }
        let payload = match next() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                children.reap_all()?;
                return Err(e);
            }
        };
        match forker.fork(|| job(i, payload)) {
            Ok(pid) => children.forked(pid, i),
            Err(e) => {
                // Out of processes (EAGAIN) or memory: reap what we started, then say so.
                children.reap_all()?;
                // The machine cannot do what was asked: exit code 2, like a usage error.
                return Err(Error::Usage(format!(
                    "cannot fork job {i}: {e:#} (out of processes or memory? try fewer --workers)"
                ))
                .into());
            }
        }
        i += 1;
    }
    children.reap_all()?;
    Ok(children.jobs)
}

/// A child running one job.
struct Running {
    job: u64,
    forked: Instant,
    /// Set when it was sent SIGTERM for running past the timeout.
    stopping: Option<Termination>,
}

/// The children [`run_queue`] has forked and not yet reaped, and what the reaped ones did.
struct Children {
    alive: HashMap<Pid, Running>,
    timeout: Option<Duration>,
    jobs: Jobs,
}

impl Children {
    fn new(workers: usize, timeout: Option<Duration>) -> Children {
        Children {
            alive: HashMap::with_capacity(workers),
            timeout,
            jobs: Jobs::default(),
        }
    }

    fn forked(&mut self, pid: Pid, job: u64) {
        self.jobs.started += 1;
        let running = Running {
            job,
            forked: Instant::now(),
            stopping: None,
        };
        self.alive.insert(pid, running);
    }

    /// Wait for every child still running.
    fn reap_all(&mut self) -> anyhow::Result<()> {
        while !self.alive.is_empty() {
            self.reap_one()?;
        }
        Ok(())
    }

    /// Wait for the next child to end (enforcing the timeout meanwhile), and book its job.
    fn reap_one(&mut self) -> anyhow::Result<()> {
        let (pid, ending) = match self.timeout {
            None => reap_any()?,
            Some(limit) => self.reap_or_enforce(limit),
        };
        let Some(r) = self.alive.remove(&pid) else {
            return Ok(()); // not a job child (none is expected)
        };
        if r.stopping.is_some() {
            let limit = crate::sys::units::seconds(limit_s(self.timeout));
            self.jobs.failures.push(Failure::job(
                r.job,
                format!("ran past --job-timeout {limit}; child {pid} {ending}"),
            ));
        } else if !ending.ok() {
            self.jobs.failures.push(Failure::job(
                r.job,
                format!("child {pid} {ending} (DirtyExit)"),
            ));
        }
        Ok(())
    }

    /// Poll for a child's end, meanwhile stopping children past `limit` (SIGTERM, then SIGKILL
    /// [`KILL_GRACE`] later). Returns the next child that ended.
    fn reap_or_enforce(&mut self, limit: Duration) -> (Pid, Ending) {
        let mut nap = Duration::from_micros(100);
        loop {
            if let Some(ended) = try_reap() {
                return ended;
            }
            self.enforce(limit);
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    /// SIGTERM every child whose job has run `limit`; SIGKILL those whose grace is over.
    fn enforce(&mut self, limit: Duration) {
        for (&pid, r) in self.alive.iter_mut() {
            match &mut r.stopping {
                None if r.forked.elapsed() >= limit => {
                    r.stopping = Some(Termination::begin(pid, KILL_GRACE));
                    self.jobs.timed_out += 1;
                    self.jobs
                        .hang_detected_s
                        .get_or_insert(r.forked.elapsed().as_secs_f64());
                }
                Some(termination) => {
                    termination.escalate();
                }
                None => {}
            }
        }
    }
}

fn limit_s(timeout: Option<Duration>) -> f64 {
    timeout.map(|t| t.as_secs_f64()).unwrap_or(0.0)
}

/// Where a process strategy's wallet lives for each `--sync` mode. Shared by `fork` and
/// `prefork`: both fork from a single-threaded parent, and a child sees the same memory either way.
pub enum Wallet {
    /// `none`: an ordinary ledger in the parent's memory; each child updates its private copy.
    Isolated(wallet::Ledger),
    /// `shared` / `shared-atomic`: a ledger in memory every child maps `MAP_SHARED`; the flag
    /// says whether each update is one atomic add.
    Shared(SharedLedger, bool),
}

impl Wallet {
    /// The wallet for `spec`, if its workload is the wallet. Call in the parent, before forking.
    pub fn for_spec(spec: &RunSpec) -> anyhow::Result<Option<Wallet>> {
        Ok(match (spec.workload, spec.sync) {
            (Workload::Wallet, SyncMode::Shared) => {
                Some(Wallet::Shared(SharedLedger::new(spec.items)?, false))
            }
            (Workload::Wallet, SyncMode::SharedAtomic) => {
                Some(Wallet::Shared(SharedLedger::new(spec.items)?, true))
            }
            (Workload::Wallet, _) => Some(Wallet::Isolated(wallet::Ledger::new(spec.items))),
            _ => None,
        })
    }

    /// The books after the run, with a note when every update stayed in a child's own copy.
    pub fn outcome(self, items: u64, notes: &mut Vec<String>) -> WalletOutcome {
        match self {
            Wallet::Isolated(ledger) => {
                let out = ledger.outcome(items);
                notes.push(format!(
                    "isolated: {} of {items} updates reached the parent (each child changed its own \
                     copy-on-write copy of the balance, which died with it; try --sync shared-atomic)",
                    items - out.lost_updates,
                ));
                out
            }
            Wallet::Shared(ledger, _) => ledger.outcome(items),
        }
    }
}

/// Job `i`, as a forked child performs it: the exit code it would report (0 = done). Injects the
/// `CONCUR_FAULT_SIGKILL_JOB` fault first (`fault` is read in the parent, before forking).
pub fn perform_in_child(
    spec: &RunSpec,
    wallet: Option<&Wallet>,
    fault: Option<FaultSpec>,
    i: u64,
) -> i32 {
    if let Some(f) = &fault {
        f.strike(i);
    }
    match wallet {
        None => match workload::perform_stateless(spec.workload, &spec.knobs, i) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("concur: job {i}: {e}");
                1
            }
        },
        Some(Wallet::Isolated(ledger)) => {
            ledger.racy_update(wallet::delta(i), spec.knobs.pause_us);
            0
        }
        Some(Wallet::Shared(ledger, atomic)) => {
            if *atomic {
                wallet::pause(spec.knobs.pause_us);
                ledger.add_atomically(wallet::delta(i));
            } else {
                ledger.racy_update(wallet::delta(i), spec.knobs.pause_us);
            }
            0
        }
    }
}

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let forker = SingleThreaded::check()?;
    let fault = spec.fault;
    let started = Instant::now();
    let wallet = Wallet::for_spec(spec)?;
    let timeout = spec.job_timeout_ms.map(Duration::from_millis);
    let jobs = run_jobs_with(&forker, spec.items, spec.workers, timeout, |i| {
        // Everything here runs in the child.
        perform_in_child(spec, wallet.as_ref(), fault, i)
    })?;
    let mut notes = Vec::new();
    let wallet = wallet.map(|w| w.outcome(spec.items, &mut notes));
    let not_started = spec.items - jobs.started;
    Ok(Outcome {
        jobs: jobs.started,
        workers: spec.workers,
        failures: jobs.failures,
        jobs_not_started: not_started,
        stop: Stop::if_skipped(not_started),
        jobs_timed_out: jobs.timed_out,
        hang_detected_s: jobs.hang_detected_s,
        wallet,
        work_s: started.elapsed().as_secs_f64(),
        notes,
        ..Default::default()
    })
}

/// A [`wallet::Ledger`]'s words, laid out in an anonymous `MAP_SHARED` mapping: the one piece of
/// memory a forked child writes that its parent and siblings see.
///
/// Layout: `[0..8)` the packed balance+version word, `[8..12)` the next version, `[16..)` one
/// `u32` per version: the version it was based on (the books that count lost updates).
pub struct SharedLedger {
    map: NonNull<libc::c_void>,
    len: usize,
    slots: usize,
}

const HEADER: usize = 16;

impl SharedLedger {
    /// A shared ledger at [`wallet::START`] with room for `writes` updates.
    pub fn new(writes: u64) -> anyhow::Result<Self> {
        let slots = writes as usize + 1;
        let len = HEADER + 4 * slots;
        let nonzero = NonZeroUsize::new(len).expect("HEADER > 0");
        use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
        // SAFETY: a fresh anonymous mapping aliases nothing; it is unmapped only in `drop`.
        let map = unsafe {
            mmap_anonymous(
                None,
                nonzero,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .context("mapping shared memory for the wallet")?;
        let ledger = SharedLedger { map, len, slots };
        ledger.word().store(wallet::pack(wallet::START, 0), SeqCst);
        Ok(ledger)
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the mapping is page-aligned, at least HEADER bytes long, zero-filled by the
        // kernel (a valid AtomicU64), lives as long as `self`, and is only accessed atomically.
        unsafe { &*(self.map.as_ptr() as *const AtomicU64) }
    }

    fn next_version(&self) -> &AtomicU32 {
        // SAFETY: as in `word`; offset 8 is 4-aligned and inside the header.
        unsafe { &*((self.map.as_ptr() as *const u8).add(8) as *const AtomicU32) }
    }

    fn based_on(&self) -> &[AtomicU32] {
        // SAFETY: as in `word`; `slots` u32s start at offset 16 (4-aligned), inside `len`.
        unsafe {
            std::slice::from_raw_parts(
                (self.map.as_ptr() as *const u8).add(HEADER) as *const AtomicU32,
                self.slots,
            )
        }
    }

    fn read(&self) -> (i64, u32) {
        wallet::unpack(self.word().load(SeqCst))
    }

    fn stamp(&self, based_on: u32) -> u32 {
        let v = self.next_version().fetch_add(1, SeqCst) + 1;
        if let Some(slot) = self.based_on().get(v as usize) {
            slot.store(based_on, SeqCst);
        }
        v
    }

    /// Read, pause, write: the race, across processes this time.
    pub fn racy_update(&self, delta: i64, pause_us: u64) {
        let (balance, version) = self.read();
        wallet::pause(pause_us);
        let v = self.stamp(version);
        self.word().store(wallet::pack(balance + delta, v), SeqCst);
    }

    /// One indivisible compare-and-swap add: atomics work across processes on shared memory.
    pub fn add_atomically(&self, delta: i64) {
        let v = self.next_version().fetch_add(1, SeqCst) + 1;
        let mut cur = self.word().load(SeqCst);
        loop {
            let (balance, version) = wallet::unpack(cur);
            let new = wallet::pack(balance + delta, v);
            match self.word().compare_exchange(cur, new, SeqCst, SeqCst) {
                Ok(_) => {
                    if let Some(slot) = self.based_on().get(v as usize) {
                        slot.store(version, SeqCst);
                    }
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Final balance and exact lost-update count, as [`wallet::Ledger::outcome`] counts them.
    pub fn outcome(&self, jobs: u64) -> WalletOutcome {
        let (balance, mut v) = self.read();
        let mut survived = 0u64;
        // Each version is based on an earlier one, so the walk ends; the bound is belt and braces.
        while v != 0 && survived <= jobs {
            survived += 1;
            v = self
                .based_on()
                .get(v as usize)
                .map(|s| s.load(SeqCst))
                .unwrap_or(0);
        }
        WalletOutcome {
            expected_balance: wallet::START + wallet::delta_sum(jobs),
            final_balance: balance,
            lost_updates: jobs.saturating_sub(survived),
        }
    }
}

impl Drop for SharedLedger {
    fn drop(&mut self) {
        // SAFETY: `map`/`len` are exactly what mmap returned; no reference outlives `self`.
        let _ = unsafe { nix::sys::mman::munmap(self.map, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_ledger_keeps_the_same_books_as_the_ledger() {
        let l = SharedLedger::new(4).unwrap();
        let (b1, v1) = l.read();
        l.racy_update(10, 0);
        // A write based on the stale read overwrites the +10: one lost update.
        let v = l.stamp(v1);
        l.word().store(wallet::pack(b1 - 10, v), SeqCst);
        l.add_atomically(10);
        l.add_atomically(-10);
        let o = l.outcome(4);
        assert_eq!((o.final_balance, o.lost_updates), (90, 1));
    }
}
