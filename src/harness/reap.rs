//! Waiting for the measured child and cleaning up after it: `wait4(2)` for its status and
//! rusage, and, as the child subreaper, killing and reaping every descendant it left behind.

use crate::sys::proc;
use std::sync::mpsc;
use std::time::Instant;

/// What the watcher thread reports about the child.
pub(super) enum Event {
    /// The child stopped itself at the end of its work (SIGSTOP), waiting for a last sample.
    Stopped(Instant),
    /// The child exited: its wait status and rusage, and when.
    Exited(anyhow::Result<(i32, libc::rusage)>, Instant),
}

/// Wait for the child's stop and exit, reporting each as it happens.
pub(super) fn watch(pid: i32, tx: mpsc::Sender<Event>) {
    loop {
        match wait4(pid) {
            Ok((status, _)) if libc::WIFSTOPPED(status) => {
                if tx.send(Event::Stopped(Instant::now())).is_err() {
                    return;
                }
            }
            other => {
                let _ = tx.send(Event::Exited(other, Instant::now()));
                return;
            }
        }
    }
}

/// Block until `pid` exits or stops; its wait status and rusage (self plus reaped descendants).
pub(super) fn wait4(pid: i32) -> anyhow::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers and timevals).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid, exclusively borrowed out-pointers for the call;
        // nix has no wait4, and we need the child's own rusage, not RUSAGE_CHILDREN's running max.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WUNTRACED, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(anyhow::anyhow!("waiting for the measured run: {err}"));
        }
    }
}

/// Kill and reap every process re-parented to us (we are the subreaper) during the run, leaving
/// alone the children we already had (`keep`); how many there were.
pub(super) fn kill_orphans(keep: &[i32]) -> u64 {
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::waitpid;
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    let mut killed = 0;
    // Kill whole subtrees, deepest first, until none is left (they may fork while we look).
    for _ in 0..100 {
        let mut pids: Vec<i32> = proc::children(me)
            .into_iter()
            .filter(|p| !keep.contains(p))
            .flat_map(proc::tree)
            .collect();
        pids.dedup();
        if pids.is_empty() {
            break;
        }
        for &p in pids.iter().rev() {
            if kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        for &p in &pids {
            let _ = waitpid(Pid::from_raw(p), Some(ALL_CHILDREN));
        }
    }
    killed
}

/// Wait for any kind of child: Linux's `__WALL` also takes children that report to their parent
/// with a signal other than SIGCHLD; elsewhere every child is of the one kind.
#[cfg(target_os = "linux")]
const ALL_CHILDREN: nix::sys::wait::WaitPidFlag = nix::sys::wait::WaitPidFlag::__WALL;
#[cfg(not(target_os = "linux"))]
const ALL_CHILDREN: nix::sys::wait::WaitPidFlag = nix::sys::wait::WaitPidFlag::empty();

/// SIGKILL `root` and every process below it, deepest first (they are reaped afterwards: the
/// root by the watcher, the rest by [`kill_orphans`] as their subreaper).
pub(super) fn kill_tree(root: i32) {
    use nix::sys::signal::{kill, Signal};
    for p in proc::tree(root).into_iter().rev() {
        let _ = kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
    }
}

pub(super) fn timeval_s(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}
