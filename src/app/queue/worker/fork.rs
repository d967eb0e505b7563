//! The forking shape (Resque, `--fork`): one process per job, at most `--concurrency` at once.
//!
//! `fork(2)` copies only the calling thread, so a process that forks must be single-threaded at
//! that moment (a lock held by another thread would stay locked forever in the child). So in this
//! mode there are no threads at all: one loop fetches (blocking at most [`IDLE_BLOCK_S`], and not
//! at all while children run), forks, polls `waitpid`, beats, polls the schedule and reaps, in
//! turn. The loop holds a `SingleThreaded` token, checked once at its start and (in debug builds)
//! again before every fork. The child unblocks the worker's signals, runs the job, reports a
//! failure through a pipe, and `_exit`s; the parent settles the job.

use super::signals::{on_signals, Signals};
use super::{with_redis, Clock, Current, Phase, Worker, IDLE_BLOCK_S, TICK};
use crate::app::queue::fetch::{self, Fetched, Fetcher};
use crate::app::queue::job::{self, now, Failure, Job};
use crate::sys::process::{try_reap, Ending, SingleThreaded};
use anyhow::Context;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The loop: signals, children that ended, the worker's duties, then (room and no pause) a fetch
/// and a fork, on one thread from start to end.
pub(super) fn fork_loop(
    w: &Arc<Worker>,
    s: &Signals,
    con: &mut redis::Connection,
) -> anyhow::Result<()> {
    // The whole loop runs on this one thread: fetching, heartbeats, the scheduler and the
    // reaper take turns between waits for children, so the process can fork.
    let forker = SingleThreaded::check()?;
    let mut children = Children::new(w, forker);
    let mut clock = Clock::new();
    let mut last_housekeeping = Instant::now();
    loop {
        let pids = children.pids();
        if on_signals(w, s, Some((&pids, &mut children.killed_by_usr1))) {
            return children.stop_now(con, &pids);
        }
        let reaped_any = children.reap(con);
        if last_housekeeping.elapsed() >= TICK {
            last_housekeeping = Instant::now();
            let running = children.running();
            with_redis(w, con, "housekeeping", |con| {
                w.housekeeping(con, &mut clock, &running)
            });
        }
        if w.phase.get() == Phase::Quitting && children.is_empty() {
            break;
        }
        let can_fetch = children.can_fetch();
        let forked = can_fetch && children.fetch_and_fork(con)?;
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

/// A job running in a child process.
struct ChildJob {
    current: Current,
    job: Job,
    started: Instant,
    /// The read end of the pipe the child writes its failure to.
    report: std::fs::File,
}

/// The fork loop's own state: the fork token, and the children running with their jobs.
struct Children<'w> {
    w: &'w Worker,
    /// The proof that this process is single-threaded; every fork goes through it.
    forker: SingleThreaded,
    fetcher: Fetcher,
    by_pid: HashMap<i32, ChildJob>,
    /// Children SIGKILLed by USR1, so that their failure says why.
    killed_by_usr1: Vec<i32>,
}

impl<'w> Children<'w> {
    fn new(w: &'w Worker, forker: SingleThreaded) -> Children<'w> {
        Children {
            w,
            forker,
            fetcher: Fetcher::new(w.args.fetch, &w.id, &w.reg.queues),
            by_pid: HashMap::new(),
            killed_by_usr1: Vec::new(),
        }
    }

    fn pids(&self) -> Vec<i32> {
        self.by_pid.keys().copied().collect()
    }

    fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    fn running(&self) -> Vec<Current> {
        self.by_pid.values().map(|c| c.current.clone()).collect()
    }

    /// Room for one more child, and the worker neither paused nor stopping.
    fn can_fetch(&self) -> bool {
        self.w.phase.get() == Phase::Running
            && !self.w.paused.load(SeqCst)
            && (self.by_pid.len() as u64) < self.w.args.concurrency
    }

    /// TERM or INT: SIGKILL the children `pids`, wait for them, put their jobs back on their
    /// queues and leave.
    fn stop_now(&self, con: &mut redis::Connection, pids: &[i32]) -> anyhow::Result<()> {
        for &pid in pids {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for _ in pids {
            let _ = nix::sys::wait::waitpid(None, None);
        }
        for c in self.by_pid.values() {
            self.fetcher.requeue(con, &c.current.fetched)?;
        }
        self.w
            .log(&format!("requeued {} job(s) in flight", self.by_pid.len()));
        self.w.deregister(con)?;
        Ok(())
    }

    /// Settle the job of every child that has ended; whether any child was reaped.
    fn reap(&mut self, con: &mut redis::Connection) -> bool {
        let mut reaped_any = false;
        while let Some((pid, ending)) = try_reap() {
            reaped_any = true;
            let Some(mut child) = self.by_pid.remove(&pid.as_raw()) else {
                continue;
            };
            let by_usr1 = self.killed_by_usr1.contains(&pid.as_raw());
            let result = child.result(ending, by_usr1);
            self.killed_by_usr1.retain(|&p| p != pid.as_raw());
            let (w, fetcher) = (self.w, &self.fetcher);
            let fetched = child.current.fetched.clone();
            with_redis(w, con, "settling a job", |con| {
                w.settle(con, fetcher, &fetched, child.job, result, child.started)
            });
        }
        reaped_any
    }

    /// Fetch a job (blocking only while no child runs) and fork a child for it; whether one was
    /// forked. A payload that is not a job is buried.
    fn fetch_and_fork(&mut self, con: &mut redis::Connection) -> anyhow::Result<bool> {
        let block = self.is_empty().then_some(IDLE_BLOCK_S);
        let mut got = None;
        let (w, fetcher) = (self.w, &mut self.fetcher);
        with_redis(w, con, "fetch", |con| {
            got = fetcher.fetch(con, block)?;
            Ok(())
        });
        let Some(fetched) = got else {
            return Ok(false);
        };
        match Job::parse(&fetched.raw) {
            Err(e) => {
                let _ = w.bury(con, &self.fetcher, &fetched, &e);
                Ok(false)
            }
            Ok(job) => {
                self.start(fetched, job)?;
                Ok(true)
            }
        }
    }

    /// Fork a child for `job` and remember it.
    fn start(&mut self, fetched: Fetched, job: Job) -> anyhow::Result<()> {
        let (pid, report) = fork_job(&self.forker, &job)?;
        if self.w.args.verbose {
            self.w.log(&format!(
                "start jid={} class={} attempt={} child={pid} t={:.3}",
                job.jid,
                job.class,
                job.attempts_before() + 1,
                now()
            ));
        }
        let child = ChildJob {
            current: Current::new(fetched, &job),
            job,
            started: Instant::now(),
            report,
        };
        self.by_pid.insert(pid, child);
        Ok(())
    }
}

impl ChildJob {
    /// How the job went, from how its process ended (`by_usr1`: the worker killed it on USR1).
    fn result(&mut self, ending: Ending, by_usr1: bool) -> Result<(), Failure> {
        match ending {
            Ending::Exited(0) => Ok(()),
            Ending::Exited(code) => Err(self.read_report(code)),
            Ending::Signaled(sig) => Err(Failure::bare(
                "DirtyExit",
                format!(
                    "child killed by {}{}",
                    sig.as_str(),
                    if by_usr1 { " (USR1 to the worker)" } else { "" }
                ),
                "the job's process was killed",
            )),
        }
    }

    /// The failure the child wrote before it exited with `code` (see [`write_report`]).
    fn read_report(&mut self, code: i32) -> Failure {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut self.report, &mut text);
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(class), Some(msg)) => Failure {
                class: class.into(),
                message: msg.into(),
                backtrace: lines.map(String::from).collect(),
            },
            _ => Failure::bare(
                "DirtyExit",
                format!("child exited with status {code}"),
                "the child wrote no report",
            ),
        }
    }
}

/// Fork a child that runs `job`; its pid and the read end of its failure report.
fn fork_job(forker: &SingleThreaded, job: &Job) -> anyhow::Result<(i32, std::fs::File)> {
    let (read, write) = nix::unistd::pipe().context("pipe for a child's report")?;
    let child_job = job.clone();
    let pid = forker.fork(move || {
        // The parent blocks its signals (see the signals module); the child must die of TERM,
        // QUIT and USR1's SIGKILL like any process, so it unblocks them.
        let _ = SigSet::all().thread_unblock();
        crate::sys::process::set_process_name(c"concur: job");
        match job::perform(&child_job) {
            Ok(()) => 0,
            Err(f) => {
                write_report(write, &f);
                1
            }
        }
    })?;
    Ok((pid.as_raw(), std::fs::File::from(read)))
}

/// In the child: the failure as lines on the pipe `out`: its class, its message, its backtrace.
fn write_report(out: OwnedFd, f: &Failure) {
    let mut out = std::fs::File::from(out);
    let text = format!(
        "{}\n{}\n{}\n",
        f.class,
        f.message.replace('\n', " "),
        f.backtrace.join("\n")
    );
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
}
