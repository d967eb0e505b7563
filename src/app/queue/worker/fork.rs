//! The forking shape (Resque, `--fork`): one process per job, at most `--concurrency` at once.
//!
//! `fork(2)` copies only the calling thread, so a process that forks must be single-threaded at
//! that moment (a lock held by another thread would stay locked forever in the child). So in this
//! mode there are no threads at all: one loop fetches (blocking at most [`IDLE_BLOCK_S`], and not
//! at all while children run), forks, polls `waitpid`, beats, polls the schedule and reaps, in
//! turn. The loop holds a `SingleThreaded` token, checked once at its start and (in debug builds)
//! again before every fork. The child resets the signal handlers, runs the job, reports a failure
//! through a pipe, and `_exit`s; the parent settles the job.

use super::signals::{on_signals, Signals};
use super::{with_redis, Clock, Current, Phase, Worker, IDLE_BLOCK_S, TICK};
use crate::app::queue::fetch::{self, Fetcher};
use crate::app::queue::job::{self, now, Failure, Job};
use anyhow::Context;
use nix::sys::signal::SigSet;
use std::collections::HashMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct ChildJob {
    current: Current,
    job: Job,
    started: Instant,
    report: std::fs::File,
}

pub(super) fn fork_loop(
    w: &Arc<Worker>,
    s: &Signals,
    con: &mut redis::Connection,
) -> anyhow::Result<()> {
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
        if w.phase.get() == Phase::Quitting && children.is_empty() {
            break;
        }
        let can_fetch = w.phase.get() == Phase::Running
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
