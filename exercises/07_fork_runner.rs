//! # Exercise 7: a fork-per-job runner that survives its jobs (lessons 8, 11 · about 20 min)
//!
//! Resque forks a child for every job: whatever the job does to its own process (abort, panic,
//! exit with an error code, hang forever), the worker survives. But surviving is not enough: it
//! must also *say* what happened, and not wait forever. `run_jobs` below forks a child per job
//! (with `kit::fork::spawn`), waits for it, and reports `Done`. Fix it so that:
//!
//! 1. a child that did not exit with code 0 (killed by a signal, or a non-zero exit code) is
//!    reported `Outcome::Failed(why)`, and one that exited 0 `Outcome::Done`;
//! 2. a child still running `timeout` after it was forked is killed and reported `Failed`
//!    (and a slow job that finishes within its timeout is *not* killed);
//! 3. no child is left behind when `run_jobs` returns: not running, and not a zombie (a child
//!    that ended but was never waited for).
//!
//! One outcome per job, in the jobs' order. `kit::fork::Child` has `try_wait()` (how it ended,
//! or `None` if it is still running; never blocks), `wait()` (blocks until it ends) and
//! `kill()` (SIGKILL; the child still has to be waited for).
//!
//! Check it: `concur exercise check 7`. The grader runs one job of each kind (ok, crash,
//! exit(3), panic, hang, slow, ok) with a 400 ms timeout, then 40 jobs with crashes among them,
//! on real processes, and measures the cost of a fork per job against the reference.
//!
//! Rules: no `unsafe`, no `libc`: the fork is `kit::fork::spawn`'s job. Sleep with
//! `kit::thread::sleep`. Stuck? `concur exercise hint 7`.

use kit::fork::{self, Exit, Job, Outcome};
use std::time::{Duration, Instant};

/// Run each job in a child of its own, one at a time; the outcome of each, in order.
pub fn run_jobs(jobs: &[Job], timeout: Duration) -> Vec<Outcome> {
    jobs.iter()
        .map(|&job| {
            let mut child = fork::spawn(job);
            child.wait();
            Outcome::Done
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// HINT (`concur exercise hint 7` prints this; try without it first)
//
// `wait()` blocks for as long as the child lives: forever, for a hung job. Poll instead: note
// `let deadline = Instant::now() + timeout;`, then loop: `if let Some(exit) = child.try_wait()`,
// map `Exit::Code(0)` to `Done` and anything else to `Failed(exit.to_string())`; else if
// `Instant::now() >= deadline`, `child.kill()`, then `child.wait()` (a killed child is a zombie
// until it is waited for), and report `Failed`; else `kit::thread::sleep` a few milliseconds
// and try again.
