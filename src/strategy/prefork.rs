//! `prefork`: resque-pool and multi_headed_greek_monster. Fork `--workers` long-lived worker
//! processes *once*, then feed them jobs; replace a worker that dies.
//!
//! `fork` pays for a `fork(2)`, a page-table copy and an exit per job. A prefork pool pays that
//! once per worker and then hands out jobs over a socket: the cost per job falls to a message
//! round trip, and what is lost is the fresh process per job (a worker that leaks memory keeps
//! it for every later job, and a job can see what an earlier job left in its worker's memory).
//! Unicorn, Puma's cluster mode, resque-pool and the greek monster all look like this.
//!
//! # Shape of a run
//! 1. The parent (the measured child, single-threaded, with its `--app-mb` ballast already
//!    allocated and touched by the measured child) forks the workers. Each inherits the ballast
//!    copy-on-write: N workers cost one copy of the app plus what each writes, which PSS shows
//!    and RSS hides.
//! 2. Each worker has its own Unix socket pair with the parent. The parent writes a job number
//!    (8 bytes), the worker performs the job and answers `(job, exit code)` (16 bytes), and gets
//!    the next. One job at a time per worker: the queue stays in the parent, as in
//!    multi_headed_greek_monster, so a slow worker never hoards jobs.
//! 3. The parent `poll`s every busy worker's socket. End-of-file on a socket means its worker
//!    died: the parent reaps it, records the job it held as failed (Resque's `DirtyExit`), forks
//!    a replacement and goes on. Resque-pool's manager does exactly this with `waitpid`.
//! 4. When the queue is empty, or after SIGINT/SIGTERM (no job is handed out once a stop is
//!    asked for; running ones finish), each worker is told to stop; the parent reaps them all.
//!
//! Writes to a dead worker use `send(MSG_NOSIGNAL)`: an `EPIPE` error, not a `SIGPIPE` that would
//! kill the parent. Fork safety, `PR_SET_PDEATHSIG` and `_exit` are [`super::fork`]'s helpers.
//!
//! The wallet works as in `fork`: with `--sync none` each worker changes its own copy (which now
//! lives as long as the worker, and still never reaches the parent); `shared`/`shared-atomic` put
//! it in a `MAP_SHARED` mapping.

use super::fork::{self, Ending, Wallet, PROCESSES};
use super::{available, StrategyInfo, Workers};
use crate::error::Error;
use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::workload::wallet::SyncMode;
use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{send, MsgFlags};
use nix::unistd::Pid;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

pub const INFO: StrategyInfo = StrategyInfo {
    name: "prefork",
    models: "resque-pool / multi_headed_greek_monster: N workers forked once, fed jobs over sockets, a dead one replaced",
    props: PROCESSES,
    workers: Workers::Count(2),
    syncs: &[SyncMode::None, SyncMode::SharedAtomic, SyncMode::Shared],
    transfers: &[],
    needs_redis: false,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: None,
    unavailable: available,
    run,
};

/// The job number that tells a worker to exit.
const STOP: u64 = u64::MAX;

/// A worker process as the parent sees it.
struct Worker {
    pid: Pid,
    /// The parent's end of the worker's socket pair.
    sock: UnixStream,
    /// The job it is performing, if any.
    job: Option<u64>,
    /// Jobs it has performed.
    done: u64,
}

/// Send `job` to a worker; false if it is gone (EPIPE/ECONNRESET: it died).
fn feed(sock: &UnixStream, job: u64) -> bool {
    let buf = job.to_le_bytes();
    matches!(send(sock.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL), Ok(8))
}

/// The worker's loop: read a job, perform it, answer, until told to stop (or the parent is gone).
/// Runs in the forked child; returns its exit code.
fn work(
    mut sock: UnixStream,
    spec: &RunSpec,
    wallet: Option<&Wallet>,
    fault: Option<crate::workload::fault::FaultSpec>,
) -> i32 {
    loop {
        let mut buf = [0u8; 8];
        if sock.read_exact(&mut buf).is_err() {
            return 0; // the parent closed our socket: nothing more to do
        }
        let job = u64::from_le_bytes(buf);
        if job == STOP {
            return 0;
        }
        let code = fork::perform_in_child(spec, wallet, fault, job);
        let mut reply = [0u8; 16];
        reply[..8].copy_from_slice(&job.to_le_bytes());
        reply[8..].copy_from_slice(&(code as i64).to_le_bytes());
        if sock.write_all(&reply).is_err() {
            return 1;
        }
    }
}

/// The pool: the workers, the queue position, and the books.
struct Pool<'a> {
    forker: &'a fork::SingleThreaded,
    spec: &'a RunSpec,
    wallet: Option<&'a Wallet>,
    fault: Option<crate::workload::fault::FaultSpec>,
    workers: Vec<Worker>,
    next: u64,
    failures: Vec<Failure>,
    forked: u64,
    replaced: u64,
    performed: u64,
}

impl Pool<'_> {
    /// Fork one worker. The child closes every other worker's socket it inherited (so that each
    /// socket has exactly one process at each end) and runs [`work`].
    fn spawn(&mut self) -> anyhow::Result<Worker> {
        let (parent_end, child_end) = UnixStream::pair().context("creating a worker socket")?;
        let inherited: Vec<RawFd> = self
            .workers
            .iter()
            .map(|w| w.sock.as_raw_fd())
            .chain([parent_end.as_raw_fd()])
            .collect();
        let (spec, wallet, fault) = (self.spec, self.wallet, self.fault);
        let pid = self.forker.fork(move || {
            for fd in inherited {
                let _ = nix::unistd::close(fd);
            }
            work(child_end, spec, wallet, fault)
        })
        .map_err(|e| {
            Error::Usage(format!(
                "cannot fork a prefork worker: {e:#} (out of processes or memory? try fewer --workers)"
            ))
        })?;
        // `child_end` was moved into the closure, which ran only in the child: the parent's copy
        // is dropped (closed) with the closure when `spawn` returns.
        self.forked += 1;
        Ok(Worker {
            pid,
            sock: parent_end,
            job: None,
            done: 0,
        })
    }

    /// Give worker `w` the next job, replacing it (as often as needed) if it turns out dead.
    /// After SIGINT/SIGTERM no job is given out: the queue is closed, running jobs finish.
    fn assign(&mut self, w: usize) -> anyhow::Result<()> {
        while self.next < self.spec.items && !crate::sys::signals::stop_requested() {
            let job = self.next;
            if feed(&self.workers[w].sock, job) {
                self.next += 1;
                self.workers[w].job = Some(job);
                return Ok(());
            }
            // Died between jobs: reap it, record it, replace it, and offer the job again.
            let ending = reap(self.workers[w].pid)?;
            self.failures.push(Failure::run(format!(
                "worker {} {ending} between jobs (replaced)",
                self.workers[w].pid
            )));
            self.replace(w)?;
        }
        Ok(())
    }

    fn replace(&mut self, w: usize) -> anyhow::Result<()> {
        let fresh = self.spawn()?;
        self.workers[w] = fresh;
        self.replaced += 1;
        Ok(())
    }

    /// Worker `w`'s socket is readable: a finished job, or its end of file (it died).
    fn on_readable(&mut self, w: usize) -> anyhow::Result<()> {
        let mut reply = [0u8; 16];
        match self.workers[w].sock.read_exact(&mut reply) {
            Ok(()) => {
                let job = u64::from_le_bytes(reply[..8].try_into().expect("8 bytes"));
                let code = i64::from_le_bytes(reply[8..].try_into().expect("8 bytes"));
                self.performed += 1;
                self.workers[w].done += 1;
                self.workers[w].job = None;
                if code != 0 {
                    self.failures.push(Failure::job(
                        job,
                        format!("worker {} reported exit code {code}", self.workers[w].pid),
                    ));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                ) =>
            {
                let worker = &self.workers[w];
                let ending = reap(worker.pid)?;
                let job = worker.job;
                let replace = self.next < self.spec.items && !crate::sys::signals::stop_requested();
                let why = format!(
                    "worker {} {ending} mid-job (DirtyExit; {})",
                    worker.pid,
                    if replace {
                        "worker replaced"
                    } else {
                        "no job left to give a replacement"
                    }
                );
                self.failures.push(Failure { job, why });
                if replace {
                    self.replace(w)?;
                } else {
                    // Nothing left to do: no replacement needed, and no one left to reap.
                    self.workers.swap_remove(w);
                    return Ok(());
                }
            }
            Err(e) => return Err(e).context("reading a prefork worker's reply"),
        }
        self.assign(w)
    }

    /// Run the queue dry: poll busy workers, collect replies, hand out jobs.
    fn drain(&mut self) -> anyhow::Result<()> {
        for w in 0..self.workers.len() {
            self.assign(w)?;
        }
        loop {
            let busy: Vec<usize> = (0..self.workers.len())
                .filter(|&w| self.workers[w].job.is_some())
                .collect();
            if busy.is_empty() {
                return Ok(());
            }
            let mut fds: Vec<PollFd> = busy
                .iter()
                .map(|&w| PollFd::new(self.workers[w].sock.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll on the prefork workers"),
            }
            let ready: Vec<usize> = busy
                .iter()
                .zip(&fds)
                .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
                .map(|(&w, _)| w)
                .collect();
            drop(fds);
            // Highest index first: `on_readable` may swap_remove a worker.
            for &w in ready.iter().rev() {
                self.on_readable(w)?;
            }
        }
    }

    /// Tell every worker to stop and reap them all; a worker that ends badly now is a failure.
    fn stop_all(&mut self) {
        for w in &self.workers {
            let _ = feed(&w.sock, STOP);
        }
        for w in std::mem::take(&mut self.workers) {
            drop(w.sock);
            match reap(w.pid) {
                Ok(e) if e.ok() => {}
                Ok(e) => self
                    .failures
                    .push(Failure::run(format!("worker {} {e} at shutdown", w.pid))),
                Err(e) => self
                    .failures
                    .push(Failure::run(format!("worker {}: {e:#}", w.pid))),
            }
        }
    }
}

/// Wait for one particular worker to end.
fn reap(pid: Pid) -> anyhow::Result<Ending> {
    fork::reap_pid(pid)
}

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let forker = fork::SingleThreaded::check()?;
    let fault = spec.fault;
    let started = Instant::now();
    let wallet = Wallet::for_spec(spec)?;
    let mut pool = Pool {
        forker: &forker,
        spec,
        wallet: wallet.as_ref(),
        fault,
        workers: Vec::new(),
        next: 0,
        failures: Vec::new(),
        forked: 0,
        replaced: 0,
        performed: 0,
    };
    let n = spec.workers.clamp(1, spec.items.max(1) as usize);
    let mut result = Ok(());
    for _ in 0..n {
        match pool.spawn() {
            Ok(w) => pool.workers.push(w),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        result = pool.drain();
    }
    // Always: no worker outlives the run, whatever went wrong.
    pool.stop_all();
    result?;
    let never_ran = spec.items - pool.next;
    let stop = Stop::if_skipped(never_ran);
    if never_ran > 0 && stop.is_none() {
        pool.failures.push(Failure::run(format!(
            "{never_ran} jobs never ran: no worker was left"
        )));
    }
    let mut notes = vec![format!(
        "prefork: {} workers forked once ({} forks in all, {} replaced after dying), {} jobs performed over their sockets",
        n, pool.forked, pool.replaced, pool.performed
    )];
    let failures = std::mem::take(&mut pool.failures);
    let jobs = pool.next;
    drop(pool);
    let wallet = wallet.map(|w| w.outcome(spec.items, &mut notes));
    Ok(Outcome {
        jobs,
        workers: n,
        failures,
        jobs_not_started: if stop.is_some() { never_ran } else { 0 },
        stop,
        wallet,
        work_s: started.elapsed().as_secs_f64(),
        notes,
        ..Default::default()
    })
}
