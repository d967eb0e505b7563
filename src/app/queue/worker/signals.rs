//! Resque's signals, without signal handlers.
//!
//! The worker's signals are *blocked* in every thread and collected by the main loop with a
//! zero-timeout `sigtimedwait` at each turn: no handler runs at an arbitrary moment, and no
//! system call (a blocking BLMOVE above all) is ever interrupted by EINTR, which would lose the
//! reply of a command the server has already carried out. Forked children unblock them again.
//!
//! SIGCHLD is in the set too: the fork loop waits for "a child ended, or a signal came" with a
//! blocking `sigtimedwait` ([`Signals::wait`]), so a finished child is settled the moment it
//! exits rather than at the next tick of a poll. (A blocked SIGCHLD stays pending even though
//! its default action is to be ignored, so none is missed between a `waitpid` and the wait.)

use super::{Phase, Worker};
use nix::sys::signal::{SigSet, Signal};
use std::sync::atomic::Ordering::SeqCst;

/// The signals a worker answers, blocked and collected by the main loop.
pub(super) struct Signals {
    set: SigSet,
    /// A signal [`Signals::wait`] took, kept for the next [`on_signals`].
    stash: std::cell::Cell<Option<Signal>>,
}

impl Signals {
    /// Block the worker's signals in this thread and every thread started from it.
    pub(super) fn install() -> anyhow::Result<Signals> {
        let mut set = SigSet::empty();
        for sig in [
            Signal::SIGQUIT,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGCONT,
            Signal::SIGCHLD,
        ] {
            set.add(sig);
        }
        set.thread_block()?;
        Ok(Signals {
            set,
            stash: std::cell::Cell::new(None),
        })
    }

    /// The signals that arrived since the last call, in order (each pending signal once).
    fn arrived(&self) -> Vec<Signal> {
        let mut got: Vec<Signal> = self.stash.take().into_iter().collect();
        while let Some(sig) = self.take(std::time::Duration::ZERO) {
            got.push(sig);
        }
        got
    }

    /// Block until one of the worker's signals (SIGCHLD included) is pending, for at most
    /// `timeout`, and leave it pending for the next [`on_signals`]. The fork loop's only wait.
    pub(super) fn wait(&self, timeout: std::time::Duration) {
        if self.stash.get().is_some() {
            return;
        }
        // Kept for `on_signals` (SIGCHLD needs no answer: the loop reaps anyway).
        if let Some(sig) = self.take(timeout).filter(|&s| s != Signal::SIGCHLD) {
            self.stash.set(Some(sig));
        }
    }

    /// One pending signal, waiting at most `timeout` for one.
    fn take(&self, timeout: std::time::Duration) -> Option<Signal> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        loop {
            // SAFETY: `set` is an initialised sigset_t and `ts` a valid timespec, both alive
            // for the call, which only reads them; a null siginfo pointer is allowed. The call
            // returns a pending signal of the set, or -1 (EAGAIN after the timeout, EINTR).
            let n = unsafe { libc::sigtimedwait(self.set.as_ref(), std::ptr::null_mut(), &ts) };
            if n > 0 {
                return Signal::try_from(n).ok();
            }
            if nix::errno::Errno::last() != nix::errno::Errno::EINTR || timeout.is_zero() {
                return None;
            }
        }
    }
}

/// React to the signals that arrived since the last look. Returns true on TERM/INT; fork
/// children killed by USR1 are added to `killed`.
pub(super) fn on_signals(
    w: &Worker,
    s: &Signals,
    children: Option<(&[i32], &mut Vec<i32>)>,
) -> bool {
    let mut children = children;
    for sig in s.arrived() {
        match sig {
            Signal::SIGTERM | Signal::SIGINT => {
                w.phase.set(Phase::Stopping);
                w.log(&format!(
                    "{}: requeueing the jobs in flight and exiting now",
                    sig.as_str().trim_start_matches("SIG")
                ));
                return true;
            }
            Signal::SIGQUIT if w.phase.get() == Phase::Running => {
                w.phase.set(Phase::Quitting);
                w.log("QUIT: no more fetching; exiting once the running jobs finish");
            }
            Signal::SIGUSR2 => {
                w.paused.store(true, SeqCst);
                w.log("USR2: paused, no more fetching until CONT");
            }
            Signal::SIGCONT if w.paused.swap(false, SeqCst) => w.log("CONT: fetching again"),
            Signal::SIGUSR1 => match children.as_mut() {
                Some((pids, killed)) => {
                    for &pid in pids.iter() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            Signal::SIGKILL,
                        );
                        killed.push(pid);
                    }
                    w.log(&format!("USR1: killed {} running child(ren)", pids.len()));
                }
                None => w.log("USR1: nothing to kill (threads cannot be killed; run with --fork)"),
            },
            _ => {}
        }
    }
    false
}
