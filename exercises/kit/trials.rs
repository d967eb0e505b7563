//! Real-thread trials: the scenario many times on the operating system's own threads, with the
//! standard primitives inside. The model checker has already tried every schedule it can see;
//! trials check the code on real cores, where what it cannot see (a `std` primitive used behind
//! its back, memory ordering) shows up, and count how often a race really bites.
//!
//! The trials run on a thread of their own, so that a deadlock on real threads is a verdict
//! (`hung`), not a grader that never returns. What counts is progress, not speed: the trials
//! are hung when none has finished for `stall` (a slow, loaded machine only makes them slower).

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// What the trials found.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub run: usize,
    pub failed: usize,
    /// The first failure: which trial, and why.
    pub first: Option<String>,
    /// The trials were still running at the time limit (threads blocked for good).
    pub hung: bool,
}

/// Run `trial(i)` for i in 0..n (each returns why it failed, if it did); hung if no trial
/// finishes for `stall`.
pub fn run<F>(n: usize, stall: Duration, trial: F) -> Tally
where
    F: Fn(usize) -> Result<(), String> + Send + 'static,
{
    crate::model::install_hook();
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("trials".into())
        .spawn(move || {
            for i in 0..n {
                let r = match panic::catch_unwind(AssertUnwindSafe(|| trial(i))) {
                    Ok(r) => r,
                    Err(p) => Err(crate::model::take_last_panic()
                        .unwrap_or_else(|| crate::model::message(p.as_ref()))),
                };
                if tx.send(r).is_err() {
                    return;
                }
            }
        })
        .expect("starting the trials thread");
    let mut tally = Tally::default();
    while tally.run < n {
        match rx.recv_timeout(stall) {
            Ok(r) => {
                tally.run += 1;
                if let Err(why) = r {
                    tally.failed += 1;
                    if tally.first.is_none() {
                        tally.first = Some(format!("trial {}: {why}", tally.run));
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tally.hung = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    tally
}
