//! Processes: forking only where it is safe, reaping every child, how a child ended, and how a
//! child that will not stop is made to.
//!
//! # Fork safety, proved by a token
//! `fork(2)` copies only the calling thread. A lock that another thread held at that moment
//! (malloc's, the stdout lock, a runtime's) stays locked for ever in the child. So a process may
//! fork only while it has one thread, and concur makes that a value rather than a promise:
//! [`SingleThreaded::check`] reads the thread count in `/proc/self/stat` and returns a token only
//! when it is 1, and every fork goes through the token ([`SingleThreaded::fork`]). The token is
//! neither `Send` nor `Sync`, so it cannot be handed to another thread; debug builds (and so the
//! test suite) check the thread count again before every fork, so a caller that starts a thread
//! while it holds the token is caught by the tests.
//!
//! The one way around the check is [`SingleThreaded::assume`], an `unsafe fn` for criterion's
//! benches, whose statistics threads exist when they fork: its contract is that every child does
//! nothing but system calls before `_exit`.
//!
//! # Stopping a child: SIGTERM, a grace, then SIGKILL
//! A hung job child, a worker past its job's timeout, a server that ignores SHUTDOWN: each is
//! asked to stop with SIGTERM (so it can clean up), and killed with SIGKILL if it is still there
//! a grace period later. [`Termination`] is that escalation, written once: it remembers when the
//! TERM went out and sends the KILL, once, when [`Termination::escalate`] finds the grace over.

use anyhow::Context;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// Children this process has forked so far: counted at each fork, because a sampler of
/// `/proc` misses a child that lives less than its interval.
static FORKED: AtomicU64 = AtomicU64::new(0);

/// What every child forked with [`SingleThreaded::fork`] does before its job, when set.
type ChildHook = Box<dyn Fn() + Send + Sync>;
static IN_EVERY_CHILD: OnceLock<ChildHook> = OnceLock::new();

/// How many children this process has forked (with a [`SingleThreaded`] token).
pub fn forked() -> u64 {
    FORKED.load(Relaxed)
}

/// Have every child that [`SingleThreaded::fork`] makes from now on run `hook` first (once per
/// process; later calls are ignored). The measured child uses it for `--dirty`: each forked
/// worker writes part of the app it inherited, whatever the strategy.
pub fn in_every_child(hook: impl Fn() + Send + Sync + 'static) {
    let _ = IN_EVERY_CHILD.set(Box::new(hook));
}
use std::time::{Duration, Instant};

/// Threads of the calling process, from /proc/self/stat.
pub fn thread_count() -> anyhow::Result<u64> {
    super::proc::own_threads().context("reading the thread count in /proc/self/stat")
}

/// After SIGTERM, a job child that has not died gets SIGKILL this much later.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// A child being stopped: SIGTERM sent at [`Termination::begin`], SIGKILL once `grace` has
/// passed, if it has not died by then.
///
/// The caller keeps reaping the child as before and calls [`Termination::escalate`] while it
/// waits. Call it only while the child is unreaped: once reaped, its pid may belong to another
/// process.
#[derive(Debug)]
pub struct Termination {
    pid: Pid,
    termed: Instant,
    grace: Duration,
    killed: bool,
}

impl Termination {
    /// Send `pid` SIGTERM now; SIGKILL is due `grace` later.
    pub fn begin(pid: Pid, grace: Duration) -> Termination {
        // An error is ESRCH (it has just ended on its own, unreaped) or EPERM (not ours): either
        // way there is nothing more to do than wait for it.
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        Termination {
            pid,
            termed: Instant::now(),
            grace,
            killed: false,
        }
    }

    /// Send SIGKILL if the grace is over and it has not been sent yet; whether it was sent now.
    pub fn escalate(&mut self) -> bool {
        if self.killed || self.termed.elapsed() < self.grace {
            return false;
        }
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
        self.killed = true;
        true
    }

    /// Whether the child had to be sent SIGKILL.
    pub fn killed(&self) -> bool {
        self.killed
    }
}

/// Proof that this process had one thread when it was checked: the precondition of `fork`.
pub struct SingleThreaded {
    /// False for [`SingleThreaded::assume`]: nothing was checked, nothing is re-checked.
    checked: bool,
    /// Neither `Send` nor `Sync`: the proof stays on the thread that made it.
    _here: PhantomData<*const ()>,
}

impl SingleThreaded {
    /// The token, if this process has exactly one thread; an error that says why not otherwise.
    pub fn check() -> anyhow::Result<SingleThreaded> {
        // A thread just joined is still counted until the kernel has released it (a few
        // microseconds after the join returns): give such a thread up to 100 ms to go.
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut n = thread_count()?;
        while n != 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            n = thread_count()?;
        }
        if n != 1 {
            anyhow::bail!(
                "refusing to fork: this process has {n} threads, and a forked child inherits \
                 their locks but not the threads that would release them (fork needs Threads: 1)"
            );
        }
        Ok(SingleThreaded {
            checked: true,
            _here: PhantomData,
        })
    }

    /// The token without the check.
    ///
    /// # Safety
    /// Every child forked with it must make nothing but async-signal-safe calls (system calls,
    /// no allocation, no lock) until it `_exit`s, or the process must really be single-threaded.
    pub unsafe fn assume() -> SingleThreaded {
        SingleThreaded {
            checked: false,
            _here: PhantomData,
        }
    }

    /// Fork a child that runs `job` and `_exit`s with the code it returns; the child's pid.
    ///
    /// The child first asks to be killed when its parent dies (and gives up at once if the
    /// parent is already gone), ignores SIGINT and dies on SIGTERM (see
    /// [`super::signals::job_child_dispositions`]), and catches a panic in `job` (exit 101):
    /// unwinding must never carry a child back into the parent's code.
    pub fn fork(&self, job: impl FnOnce() -> i32) -> anyhow::Result<Pid> {
        let parent = std::process::id();
        self.fork_bare(move || {
            // Die with the parent; and if it is already gone (we were re-parented before the
            // prctl took effect), do not run the job at all.
            if set_parent_death_signal(Signal::SIGKILL).is_err()
                || std::os::unix::process::parent_id() != parent
            {
                return 1;
            }
            super::signals::job_child_dispositions();
            if let Some(hook) = IN_EVERY_CHILD.get() {
                hook();
            }
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(101)
        })
    }

    /// Fork a child that runs `child` and `_exit`s with its code at once: no parent-death signal,
    /// no dispositions, no panic guard. The floor `concur limits` measures, and what
    /// [`SingleThreaded::fork`] builds on.
    pub fn fork_bare(&self, child: impl FnOnce() -> i32) -> anyhow::Result<Pid> {
        debug_assert!(
            !self.checked || matches!(thread_count(), Ok(1)),
            "a SingleThreaded token was used after another thread started"
        );
        // Anything left in Rust's stdout buffer would be copied into the child and printed
        // twice. concur writes its output with raw write(2)s, so this is normally a no-op.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: `self` proves this process was single-threaded when checked, and it cannot
        // have left this thread; so no lock can be held by a thread that does not exist in the
        // child (or, for `assume`, the child makes only async-signal-safe calls). The child
        // runs only `child` and then `_exit`s.
        match unsafe { nix::unistd::fork() }.context("fork failed")? {
            ForkResult::Parent { child } => {
                FORKED.fetch_add(1, Relaxed);
                Ok(child)
            }
            ForkResult::Child => {
                let code = child();
                // SAFETY: `_exit` ends the child at once, without running the parent's atexit
                // handlers or flushing stdio buffers copied from the parent.
                unsafe { libc::_exit(code) }
            }
        }
    }
}

/// Ask the kernel to send this process `sig` when its parent dies, even by SIGKILL (Linux's
/// `PR_SET_PDEATHSIG`, tied to the thread that forked it).
///
/// macOS has no such request, and a watcher thread or kqueue loop is no option in a process
/// that forks (it must stay single-threaded). There a child learns of its parent's death
/// otherwise: its parent's end of a socket or pipe closes (prefork's and rpc's workers read
/// EOF), the measured child polls `getppid()` between jobs
/// ([`super::signals::stop_when_parent_dies`]), and the harness kills its child's whole process
/// group at the end ([`kill_group`]). A job that hangs after its harness was SIGKILLed is left
/// running there: a Linux-only guarantee, said in the README.
pub fn set_parent_death_signal(sig: Signal) -> nix::Result<()> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_pdeathsig(sig)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = sig;
        Ok(())
    }
}

/// Have orphaned descendants re-parented to this process, so it can kill and reap them (Linux's
/// `PR_SET_CHILD_SUBREAPER`); whether it could. macOS has none: there the measured child gets a
/// process group of its own ([`own_group_without_subreaper`]) and [`kill_group`] ends it.
pub fn become_subreaper() -> nix::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_child_subreaper(true).map(|()| true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(false)
    }
}

/// Start `cmd`'s program in a session of its own (`setsid`), as a service runs: a terminal's
/// Ctrl-C does not reach it (its owner stops it), and where the kernel groups a session's
/// processes for scheduling (Linux's autogroup), it is scheduled apart from the session that
/// started it, not as one entity with its clients.
pub fn own_session(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls only setsid(2), which
    // is async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            Ok(())
        })
    };
}

/// Where there is no subreaper (macOS), start `cmd`'s process in a process group of its own, so
/// that [`kill_group`] can end everything it leaves behind. On Linux nothing changes: the child
/// stays in the terminal's group, and the subreaper finds its orphans.
pub fn own_group_without_subreaper(cmd: &mut std::process::Command) {
    #[cfg(not(target_os = "linux"))]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        let _ = cmd;
    }
}

/// SIGKILL whatever is left of the process group `pgid` where there is no subreaper (macOS);
/// whether anything was. On Linux nothing is sent (the subreaper reaps the orphans instead).
pub fn kill_group(pgid: i32) -> bool {
    #[cfg(not(target_os = "linux"))]
    {
        nix::sys::signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok()
    }
    #[cfg(target_os = "linux")]
    {
        let _ = pgid;
        false
    }
}

/// Name this process as `ps -o comm` and `top` show it (Linux's `PR_SET_NAME`, 15 bytes at
/// most); a no-op where the kernel has no such name (macOS names threads, not processes).
pub fn set_process_name(name: &std::ffi::CStr) {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_name(name);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
    }
}

/// Make the program `cmd` starts die by `sig` when this thread's process dies, even by
/// SIGKILL; if this process is already gone when the child gets to exec, the exec fails.
///
/// The parent-death signal is tied to the *calling thread*: call this from a thread that
/// outlives the child (a main thread).
pub fn die_with_parent(cmd: &mut std::process::Command, sig: Signal) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2) and
    // getppid(2), both async-signal-safe; it allocates nothing (the error is a raw OS error,
    // not a boxed message) and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            set_parent_death_signal(sig)?;
            // If our parent died before the line above, nobody would ever signal us.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
}

/// How a child process ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `_exit(code)`; 0 is success.
    Exited(i32),
    /// Killed by a signal (the job crashed, or was killed).
    Signaled(Signal),
}

impl Ending {
    pub fn ok(self) -> bool {
        self == Ending::Exited(0)
    }

    fn of(status: WaitStatus) -> Option<(Pid, Ending)> {
        match status {
            WaitStatus::Exited(pid, code) => Some((pid, Ending::Exited(code))),
            WaitStatus::Signaled(pid, sig, _core) => Some((pid, Ending::Signaled(sig))),
            _ => None, // stopped, continued, still alive: not an ending
        }
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exited with status {code}"),
            Ending::Signaled(sig) => write!(f, "killed by {}", sig.as_str()),
        }
    }
}

/// Block until `pid` (or, with `None`, any child) ends; its pid and how it ended.
fn reap(pid: Option<Pid>) -> anyhow::Result<(Pid, Ending)> {
    loop {
        match waitpid(pid, None) {
            Ok(status) => {
                if let Some(ended) = Ending::of(status) {
                    return Ok(ended);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waitpid failed"),
        }
    }
}

/// Block until any child ends; its pid and how it ended.
pub fn reap_any() -> anyhow::Result<(Pid, Ending)> {
    reap(None)
}

/// Block until the child `pid` ends; how it ended.
pub fn reap_pid(pid: Pid) -> anyhow::Result<Ending> {
    reap(Some(pid))
        .map(|(_, ending)| ending)
        .with_context(|| format!("waiting for child {pid}"))
}

/// Reap a child if one has ended, without blocking.
pub fn try_reap() -> Option<(Pid, Ending)> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(status) => {
                if let Some(ended) = Ending::of(status) {
                    return Some(ended);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These tests never fork: the test harness is multi-threaded, which is the point of the first.

    #[test]
    fn refuses_to_fork_from_a_multithreaded_process() {
        let _other =
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        let err = SingleThreaded::check().err().unwrap().to_string();
        assert!(err.contains("refusing to fork"), "{err}");
    }

    #[test]
    fn endings_read_like_resque() {
        assert_eq!(
            Ending::Signaled(Signal::SIGKILL).to_string(),
            "killed by SIGKILL"
        );
        assert_eq!(Ending::Exited(3).to_string(), "exited with status 3");
        assert!(Ending::Exited(0).ok() && !Ending::Exited(1).ok());
    }

    /// Spawn (not fork: std's spawn execs at once) `sh -c script`; wait for it, escalating.
    fn terminate(script: &str, grace: Duration) -> (Termination, std::process::ExitStatus) {
        let mut child = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        // Let the shell set its dispositions before it is signalled.
        std::thread::sleep(Duration::from_millis(100));
        let mut term = Termination::begin(Pid::from_raw(child.id() as i32), grace);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (term, status);
            }
            term.escalate();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_child_that_stops_on_sigterm_is_not_killed() {
        use std::os::unix::process::ExitStatusExt;
        let (term, status) = terminate("exec sleep 30", Duration::from_secs(30));
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(!term.killed());
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_the_grace() {
        use std::os::unix::process::ExitStatusExt;
        // An ignored signal stays ignored across exec: this `sleep` shrugs SIGTERM off.
        let started = Instant::now();
        let (term, status) = terminate("trap '' TERM; exec sleep 30", Duration::from_millis(200));
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(term.killed());
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
