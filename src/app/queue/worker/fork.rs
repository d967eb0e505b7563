//! The forking shape (Resque, `--fork`): one process per job, at most `--concurrency` at once.
//!
//! `fork(2)` copies only the calling thread, so a process that forks must be single-threaded at
//! that moment (a lock held by another thread would stay locked forever in the child). So in this
//! mode there are no threads at all: one loop fetches, forks, reaps, beats, polls the schedule
//! and reaps dead workers, in turn. The loop holds a `SingleThreaded` token, checked once at its
//! start and (in debug builds) again before every fork. The child unblocks the worker's signals,
//! runs the job, reports a failure through a pipe, and `_exit`s; the parent settles the job.
//!
//! The loop never sleeps for a fixed time. It waits for what it waits for:
//! - no child running: a blocking fetch (`BLMOVE` for at most [`IDLE_BLOCK_S`]);
//! - every slot busy, or a free one and no job waiting: `sigtimedwait` on the worker's signals
//!   and SIGCHLD until the next duties, so a child that exits is reaped, settled and replaced at
//!   once (its acknowledgement rides with the next fetch); a job queued while children run and
//!   a slot is free is taken when a child ends or at the next duties (at most [`TICK`] later);
//! - Redis out of reach: the same wait, until the backoff allows a reconnect.
//!
//! **Prefetch** (reliable fetch, unless `--no-prefetch`): once every slot is busy, the loop takes
//! the next job at once (a non-blocking `LMOVE` riding with the acknowledgements), so the round
//! trip overlaps the children's run instead of following it; when a child ends, its successor
//! is forked without waiting for Redis. The job fetched ahead sits in the processing list like
//! a running one (a kill -9 leaves it to the reaper, TERM requeues it). It waits at most
//! [`PREFETCH_HOLD`]: if no slot has freed by then, it goes back to the front of its queue for
//! an idle worker to take, and after such a long job the loop stops fetching ahead until a job
//! finishes within the hold again. Paused or quitting, it is given back at once.
//!
//! **Spread** (`-c 2` or more, unless `--no-spread`): each child starts on a CPU other than the
//! one the loop runs on, takes every CPU back as soon as it runs, and the loop gives them back
//! again before it next waits (see
//! [`crate::sys::cpu`]): with several slots the loop is the bottleneck, and a child queued
//! behind it on its CPU waits for it. With one slot the loop has nothing to do but wait for the
//! child, so the child stays where the scheduler puts it (sending it away measured slower).

use super::link::Link;
use super::signals::{on_signals, Signals};
use super::slot::Slot;
use super::{Clock, Current, Phase, Worker, IDLE_BLOCK_S, TICK};
use crate::app::queue::fetch::{self, Fetched};
use crate::app::queue::job::{self, now, Failure, Job};
use crate::sys::cpu::Spread;
use crate::sys::process::{try_reap, Ending, SingleThreaded};
use anyhow::Context;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a job fetched ahead may wait for a busy slot before it goes back to its queue.
pub(super) const PREFETCH_HOLD: Duration = Duration::from_millis(5);

/// The loop: signals, children that ended, the worker's duties, then (room and no pause) a fetch
/// and a fork, on one thread from start to end.
pub(super) fn fork_loop(
    w: &Arc<Worker>,
    s: &Signals,
    con: redis::Connection,
) -> anyhow::Result<()> {
    // The whole loop runs on this one thread: fetching, heartbeats, the scheduler and the
    // reaper take turns between waits for children, so the process can fork.
    let forker = SingleThreaded::check()?;
    let link = Link::with(w, con, Duration::from_secs_f64(IDLE_BLOCK_S));
    let mut children = Children::new(w, forker, link);
    let mut clock = Clock::new();
    let mut duties = Instant::now();
    loop {
        if on_signals(w, s, Some((&children.pids, &mut children.killed_by_usr1))) {
            return children.stop_now();
        }
        children.reap();
        if Instant::now() >= duties {
            duties = Instant::now() + TICK;
            let running = children.running();
            w.housekeep(&mut children.slot.link, &mut clock, &running);
        }
        if w.phase.get() == Phase::Quitting && children.is_empty() && children.slot.idle() {
            break;
        }
        let until_duties = duties.saturating_duration_since(Instant::now());
        if !children.slot.healthy() && !children.slot.restore(&children.held()) {
            children.spread_back();
            s.wait(children.slot.wait().min(until_duties));
            continue;
        }
        if children.can_fetch() {
            // Idle: block in the fetch up to IDLE_BLOCK_S. With children running, only take a
            // job that is waiting: a blocked fetch would not see a child end.
            let block = children.is_empty().then_some(IDLE_BLOCK_S);
            if children.fetch_and_fork(block)? || block.is_some() {
                continue;
            }
        }
        // Full, paused, quitting, or no job waiting while children run: fetch ahead (one round
        // trip, acknowledgements included), or give back a job held too long; acknowledge what
        // finished; wait for a child (or the duties: a job queued meanwhile waits until then).
        if children.prefetch_due() {
            children.prefetch();
            continue;
        }
        let hold_left = children.give_back_if_due();
        children.slot.flush();
        children.spread_back();
        s.wait(until_duties.min(hold_left));
    }
    w.leave(s, &mut children.slot.link)
}

/// A job running in a child process.
struct ChildJob {
    fetched: Fetched,
    job: Job,
    /// When it started, as [`Current::run_at`] shows it (`started` measures its run).
    run_at: f64,
    started: Instant,
    /// The read end of the pipe the child writes its failure to.
    report: std::fs::File,
}

/// The fork loop's own state: the fork token, its slot, and the children running with their
/// jobs.
struct Children<'w> {
    w: &'w Worker,
    /// The proof that this process is single-threaded; every fork goes through it.
    forker: SingleThreaded,
    slot: Slot<'w>,
    by_pid: HashMap<i32, ChildJob>,
    /// The keys of `by_pid`, kept in step (the signal handling reads them on every turn).
    pids: Vec<i32>,
    /// Children SIGKILLed by USR1, so that their failure says why.
    killed_by_usr1: Vec<i32>,
    prefetch: Prefetch,
    /// The last job finished within [`PREFETCH_HOLD`]: the loop, not the jobs, is then what
    /// the children wait for. After a longer job, fetching ahead would mostly give jobs back,
    /// and spreading would confine long jobs to fewer CPUs (two CPU-bound children sent to the
    /// same CPU stayed there: 25% slower with `-c 2` on 2 CPUs).
    short: bool,
    /// `-c 2+`, unless `--no-spread`, with more than one CPU: where children start.
    spread: Option<Spread>,
    /// Children kept off the loop's CPU, to get every CPU back before the loop waits.
    away: Vec<i32>,
}

/// Fetching one job ahead while every child is busy (see the module's documentation).
struct Prefetch {
    /// `--fork` with reliable fetch and no `--no-prefetch`.
    on: bool,
    /// A child was forked since the last try: one more try is allowed.
    armed: bool,
    /// When the job held in the slot's buffer was fetched.
    since: Instant,
}

impl<'w> Children<'w> {
    fn new(w: &'w Worker, forker: SingleThreaded, link: Link) -> Children<'w> {
        Children {
            w,
            forker,
            slot: Slot::new(w, 0, link),
            by_pid: HashMap::with_capacity(w.args.concurrency.min(1024) as usize),
            pids: Vec::with_capacity(w.args.concurrency.min(1024) as usize),
            killed_by_usr1: Vec::new(),
            prefetch: Prefetch {
                on: w.args.prefetch
                    && w.args.fetch == crate::app::queue::fetch::FetchMode::Reliable,
                armed: false,
                since: Instant::now(),
            },
            spread: Some(Spread::new())
                .filter(|s| w.args.spread && w.args.concurrency > 1 && s.possible()),
            away: Vec::new(),
            short: true,
        }
    }

    /// Give every child kept off the loop's CPU all CPUs back (the loop is about to wait: a
    /// long job must not stay confined).
    fn spread_back(&mut self) {
        if let Some(spread) = &self.spread {
            for pid in self.away.drain(..) {
                spread.restore(Pid::from_raw(pid));
            }
        }
    }

    /// Every slot busy, the last job short, nothing fetched ahead yet since the last fork, and
    /// the worker running and healthy: time to fetch the next job.
    fn prefetch_due(&self) -> bool {
        let p = &self.prefetch;
        p.on && p.armed
            && self.short
            && self.w.phase.get() == Phase::Running
            && !self.w.paused.load(SeqCst)
            && self.slot.healthy()
            && !self.slot.holding()
            && self.by_pid.len() as u64 >= self.w.args.concurrency
    }

    /// One round trip: acknowledge what finished, take the next job if one waits. (One ahead
    /// for any `-c`: fetching a job per slot, one round trip per `-c` jobs, measured no faster
    /// with `-c 2`, and would hold more jobs away from idle workers.)
    fn prefetch(&mut self) {
        self.prefetch.armed = false;
        if self.slot.prefetch() {
            self.prefetch.since = Instant::now();
        }
    }

    /// Give the job fetched ahead back to its queue if it has waited [`PREFETCH_HOLD`], or the
    /// worker is paused or quitting; else how long it may still wait (`MAX` if none is held).
    fn give_back_if_due(&mut self) -> Duration {
        if !self.slot.holding() {
            return Duration::MAX;
        }
        let left = PREFETCH_HOLD.saturating_sub(self.prefetch.since.elapsed());
        let stopping = self.w.phase.get() != Phase::Running || self.w.paused.load(SeqCst);
        if left.is_zero() || stopping {
            if self.w.args.verbose {
                for f in self.slot.held() {
                    let jid = Job::parse(&f.raw).map(|j| j.jid).unwrap_or_default();
                    self.w.log(&format!(
                        "gave back jid={jid} (fetched ahead, {}): to the front of queue {}",
                        if stopping {
                            "the worker is pausing or stopping"
                        } else {
                            "the children still run"
                        },
                        f.queue
                    ));
                }
            }
            self.slot.release();
            return Duration::MAX;
        }
        left
    }

    fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    fn running(&self) -> Vec<Current> {
        self.by_pid
            .values()
            .map(|c| Current {
                fetched: c.fetched.clone(),
                jid: c.job.jid.clone(),
                class: c.job.class.clone(),
                run_at: c.run_at,
            })
            .collect()
    }

    /// The jobs the children hold (in our processing list while they run).
    fn held(&self) -> Vec<Fetched> {
        self.by_pid.values().map(|c| c.fetched.clone()).collect()
    }

    /// Room for one more child, and the worker neither paused nor stopping.
    fn can_fetch(&self) -> bool {
        self.w.phase.get() == Phase::Running
            && !self.w.paused.load(SeqCst)
            && (self.by_pid.len() as u64) < self.w.args.concurrency
    }

    /// TERM or INT: SIGKILL the children, wait for them, put their jobs back on their queues
    /// and leave.
    fn stop_now(&mut self) -> anyhow::Result<()> {
        let pids = &self.pids;
        for &pid in pids {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        for _ in pids {
            let _ = nix::sys::wait::waitpid(None, None);
        }
        self.slot.flush();
        let w = self.w;
        let con = self.slot.link.get(w).context(
            "Redis is out of reach: the jobs in flight stay in the processing list for a reaper",
        )?;
        for c in self.by_pid.values() {
            self.slot.fetcher.requeue(con, &c.fetched)?;
        }
        fetch::requeue_processing(con, &w.id, &w.reg)?;
        w.log(&format!("requeued {} job(s) in flight", self.by_pid.len()));
        w.deregister(con)?;
        Ok(())
    }

    /// Settle the job of every child that has ended.
    fn reap(&mut self) {
        while let Some((pid, ending)) = try_reap() {
            let Some(mut child) = self.by_pid.remove(&pid.as_raw()) else {
                continue;
            };
            self.pids.retain(|&p| p != pid.as_raw());
            // Reaped: its pid may belong to another process from now on.
            self.away.retain(|&p| p != pid.as_raw());
            self.short = child.started.elapsed() < PREFETCH_HOLD;
            let by_usr1 = self.killed_by_usr1.contains(&pid.as_raw());
            let result = child.result(ending, by_usr1);
            self.killed_by_usr1.retain(|&p| p != pid.as_raw());
            let f = self
                .w
                .finished(child.fetched, child.job, result, child.started);
            self.slot.finish(f);
        }
    }

    /// Fetch a job (acknowledging the finished ones in the same round trip), blocking at most
    /// `block` seconds, and fork a child for it. A payload that is not a job is buried. True if
    /// a job came.
    fn fetch_and_fork(&mut self, block: Option<f64>) -> anyhow::Result<bool> {
        let Some(fetched) = self.slot.fetch(block) else {
            return Ok(false);
        };
        match Job::parse(&fetched.raw) {
            Err(e) => {
                let f = self.w.bury(fetched, &e);
                self.slot.finish(f);
            }
            Ok(job) => self.start(fetched, job),
        }
        Ok(true)
    }

    /// Fork a child for `job` and remember it. If the fork fails (no memory, too many
    /// processes), the job fails like one whose child died, and follows the retry schedule.
    fn start(&mut self, fetched: Fetched, job: Job) {
        let started = Instant::now();
        let spread = self.spread.as_ref().filter(|_| self.short);
        let (pid, report) = match fork_job(&self.forker, &job, spread) {
            Ok(child) => child,
            Err(e) => {
                let failure = Failure::bare(
                    "ForkError",
                    format!("could not fork a child for the job: {e:#}"),
                    "the job never started",
                );
                let f = self.w.finished(fetched, job, Err(failure), started);
                self.slot.finish(f);
                return;
            }
        };
        // At once: the child may otherwise start on this CPU, behind the loop.
        let away = spread.and_then(|spread| spread.away(Pid::from_raw(pid)));
        if away.is_some() {
            self.away.push(pid);
        }
        if self.w.args.verbose {
            self.w.log(&format!(
                "start jid={} class={} attempt={} child={pid}{} t={:.3}",
                job.jid,
                job.class,
                job.attempts_before().saturating_add(1),
                away.map(|cpu| format!(" started_off_cpu={cpu}"))
                    .unwrap_or_default(),
                now()
            ));
        }
        self.prefetch.armed = true;
        let child = ChildJob {
            fetched,
            job,
            run_at: now(),
            started,
            report,
        };
        self.by_pid.insert(pid, child);
        self.pids.push(pid);
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

/// Fork a child that runs `job`; its pid and the read end of its failure report. With `spread`,
/// the parent is about to keep the child off its CPU, and the child takes every CPU back as soon
/// as it runs, before the job (a job that sizes a pool by its CPU mask must see all of them).
fn fork_job(
    forker: &SingleThreaded,
    job: &Job,
    spread: Option<&Spread>,
) -> anyhow::Result<(i32, std::fs::File)> {
    let (read, write) = nix::unistd::pipe().context("pipe for a child's report")?;
    // The child borrows the parent's copy of the job: a clone would be allocated in the parent
    // and freed in both, and every free writes malloc pages that the fork has just shared
    // (copy-on-write faults: about a third of the worker's faults per job were malloc's).
    let child_job = job;
    let pid = forker.fork(move || {
        if let Some(spread) = spread {
            // Already running, wherever it started. (Should the parent's narrowing come after
            // this, the parent gives every CPU back before it next waits.)
            spread.restore(Pid::from_raw(0));
        }
        // The parent blocks its signals (see the signals module); the child must die of TERM,
        // QUIT and USR1's SIGKILL like any process, so it unblocks them.
        let _ = SigSet::all().thread_unblock();
        crate::sys::process::set_process_name(c"concur: job");
        match job::perform(child_job) {
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
