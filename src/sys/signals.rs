//! Ctrl-C and `kill`: stopping a run gracefully, in both processes of a measurement.
//!
//! Why not just die? Because a run that dies on SIGINT leaves things behind: the harness's temp
//! dir, a redis-server, forked children that finish their jobs into a closed pipe. And because a
//! workshop wants to *see* what a graceful stop is: Sidekiq and Resque, on TERM, stop taking new
//! jobs, let the running ones finish for a while, and only then kill them.
//!
//! concur does the same in two places:
//! - **the harness** (`concur run`, `concur chaos`) catches SIGINT and SIGTERM, forwards the first
//!   one to the measured child, waits up to `--shutdown-timeout` for it to finish, then kills the
//!   child's whole process tree; a second signal kills at once. It then prints the partial
//!   summary and exits 130 (SIGINT) or 143 (SIGTERM), as a shell expects.
//! - **the measured child** catches them too, and only sets a flag ([`stop_requested`]) that the
//!   strategies read between jobs: no new job starts, running ones finish.
//!
//! Both use the same handler from the `signal-hook` crate: it stores the signal's number in an
//! atomic, which is all a signal handler may safely do (no allocation, no lock, no I/O). Nobody
//! runs a signal-handling thread, so the fork strategies' process stays single-threaded. A child
//! forked for a job ignores SIGINT (the terminal sends Ctrl-C to the whole process group, and its
//! parent decides what happens to the job) and dies on SIGTERM, which is how a job timeout ends it.

use nix::sys::signal::Signal;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};

/// The number of the last SIGINT/SIGTERM that arrived and was not yet taken; 0 = none.
fn slot() -> &'static Arc<AtomicUsize> {
    static SLOT: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    SLOT.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// The first signal the harness took with [`take`]; 0 = none. Sticky, for the exit code.
static FIRST: AtomicUsize = AtomicUsize::new(0);

/// Catch SIGINT and SIGTERM from now on (idempotent). Each arrival only stores its number.
pub fn catch() -> anyhow::Result<()> {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        signal_hook::flag::register_usize(sig as i32, Arc::clone(slot()), sig as usize)?;
    }
    let _ = DONE.set(());
    Ok(())
}

/// Keep SIGINT and SIGTERM off the calling thread, so the kernel delivers them to another one.
///
/// For threads that wait on sockets with a timeout (a Redis connection's read timeout): such a
/// call is not restarted after a signal handler even with `SA_RESTART` (signal(7)), so the
/// handler, harmless as it is, would turn a Ctrl-C into a failed Redis call. The main thread
/// keeps the signals and takes the handler while it waits for its workers.
pub fn keep_stop_signals_off_this_thread() {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals()), None);
}

/// SIGINT and SIGTERM, the two signals that ask for a stop.
fn stop_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set
}

/// Run `f` with SIGINT and SIGTERM held back on this thread; one that arrives meanwhile is
/// delivered (and its flag set) as soon as `f` returns. For a single-threaded process making a
/// socket call with a timeout that must not be cut short: `resque`'s LPOP, which, interrupted
/// after the server popped the job but before the reply was read, would lose that job.
pub fn holding_stop_signals<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut old = SigSet::empty();
    let held =
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals()), Some(&mut old)).is_ok();
    let out = f();
    if held {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    out
}

fn to_signal(n: usize) -> Option<Signal> {
    (n != 0).then(|| Signal::try_from(n as i32).ok()).flatten()
}

/// Harness: the signal that arrived since the last call, if any (it is consumed, so a second
/// Ctrl-C shows up as a second `Some`).
pub fn take() -> Option<Signal> {
    let sig = to_signal(slot().swap(0, SeqCst))?;
    let _ = FIRST.compare_exchange(0, sig as usize, SeqCst, SeqCst);
    Some(sig)
}

/// Harness: the first signal ever taken in this process (a run interrupted earlier means the
/// command should stop rather than start another).
pub fn interrupted() -> Option<Signal> {
    to_signal(FIRST.load(SeqCst))
}

/// The parent to outlive, where the kernel cannot signal its death (see
/// [`stop_when_parent_dies`]); 0 = none.
static PARENT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Measured child, where there is no parent-death signal (macOS): from now on, a parent that
/// has died (we were re-parented, so `getppid()` changed) counts as a SIGTERM, noticed by
/// [`stop_requested`] between jobs. On Linux the kernel's parent-death signal does this.
pub fn stop_when_parent_dies() {
    if !cfg!(target_os = "linux") {
        PARENT.store(std::os::unix::process::parent_id(), SeqCst);
    }
}

/// Measured child: has a stop been asked for? Strategies check this before each job.
pub fn stop_requested() -> bool {
    let parent = PARENT.load(SeqCst);
    if parent != 0 && std::os::unix::process::parent_id() != parent {
        // Orphaned: stop as if the harness had sent SIGTERM.
        let _ = slot().compare_exchange(0, Signal::SIGTERM as usize, SeqCst, SeqCst);
    }
    slot().load(SeqCst) != 0
}

/// Measured child: the signal that asked for the stop.
pub fn stop_signal() -> Option<Signal> {
    to_signal(slot().load(SeqCst))
}

/// In a child just forked for a job: ignore SIGINT (the parent decides), die on SIGTERM.
pub fn job_child_dispositions() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: setting a disposition to SIG_IGN or SIG_DFL installs no handler code; sigaction(2)
    // is async-signal-safe, so this is fine in a freshly forked child.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGTERM, SigHandler::SigDfl);
    }
}

/// Die quietly on a closed stdout, like every Unix filter (`concur list | head`), instead of
/// panicking in `println!` on EPIPE (Rust ignores SIGPIPE by default). Call first thing in main.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: restoring the default disposition installs no handler code, so there is nothing
    // async-signal-unsafe to run; it happens first thing in main, before any thread exists.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
