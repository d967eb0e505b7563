//! Exercise 7: a fork-per-job runner (Resque's model). Each job runs in a child process of its
//! own; whatever the job does to itself (abort, panic, exit with an error, hang), the runner
//! survives, reports it, and kills a child that outlives its timeout.
//!
//! [`spawn`] does the fork (the one `unsafe` step, here, not in your code); the learner writes
//! the supervision with [`Child`]'s `try_wait`, `wait` and `kill`.
//!
//! Graded on real processes (chaos faults, no model checker: a fork is not a thread): one job of
//! each kind, their outcomes, and no child left behind, running or unreaped. Each step is
//! printed as it happens, so a runner that hangs is drawn up to its last wait.

use crate::grade::{Bench, Check, Suite};
use crate::report::Outcome as Verdict;
use crate::trace;
use std::fmt;
use std::time::{Duration, Instant};

/// A job, as the child runs it. Most are chaos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Does its work and exits 0.
    Ok,
    /// Works for this many milliseconds, then exits 0.
    Slow(u64),
    /// Aborts: the child dies of SIGABRT.
    Crash,
    /// Panics: the child exits with code 101.
    Panic,
    /// Exits with this code.
    Exit(i32),
    /// Never ends (a stuck network call).
    Hang,
}

impl Job {
    fn does(self) -> String {
        match self {
            Job::Ok => "works, exits 0".into(),
            Job::Slow(ms) => format!("works {ms} ms, exits 0"),
            Job::Crash => "abort()".into(),
            Job::Panic => "panics".into(),
            Job::Exit(c) => format!("exit({c})"),
            Job::Hang => "hangs".into(),
        }
    }

    /// In the child: do the job, then leave without running the parent's exit handlers.
    fn run_in_child(self) -> ! {
        let code = match self {
            Job::Ok => 0,
            Job::Slow(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                0
            }
            Job::Crash => std::process::abort(),
            Job::Panic => {
                let r = std::panic::catch_unwind(|| {
                    std::panic::panic_any(crate::model::Quiet);
                });
                if r.is_err() {
                    101
                } else {
                    0
                }
            }
            Job::Exit(c) => c,
            Job::Hang => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
        };
        // SAFETY: `_exit` ends the child at once; it never returns and touches no Rust state.
        unsafe { libc::_exit(code) }
    }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code (0: success).
    Code(i32),
    /// A signal killed it (6: SIGABRT, 9: SIGKILL).
    Signal(i32),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s} ({})", signal_name(*s)),
        }
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// What the runner reports for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The job failed, and why (any words).
    Failed(String),
}

/// A child process running one job.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    job: Job,
    /// The job's number (1-based) in the lanes.
    no: usize,
    forked_at: Instant,
    killed: bool,
}

/// A runner still polling a child this long after forking it has forgotten its timeout.
const POLLED_TOO_LONG: Duration = Duration::from_secs(4);

static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

const CHILD_LANE: &str = "children";

/// Fork a child that runs `job` and exits.
///
/// Panics if this process has more than one thread: a fork copies only the calling thread, so
/// a lock another thread held would stay locked forever in the child.
pub fn spawn(job: Job) -> Child {
    let threads = own_threads();
    assert!(
        threads == 1,
        "fork needs a single-threaded process, and this one has {threads} threads"
    );
    // Buffered output would be written twice: once by us, once by the child.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let no = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    // SAFETY: the process is single-threaded (checked just above), so the child's copy of memory
    // is consistent: no lock is held by a thread that does not exist in it. The child runs only
    // the job and leaves with `_exit`, never returning into the caller.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
        0 => {
            // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process: if the runner
            // dies, the child is killed rather than orphaned.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            job.run_in_child()
        }
        pid => {
            trace::record(None, format!("fork job {no} ({job:?}) → pid {pid}"));
            trace::record_in(CHILD_LANE, None, format!("job {no}: {}", job.does()), None);
            Child {
                pid,
                job,
                no,
                forked_at: Instant::now(),
                killed: false,
            }
        }
    }
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The job it runs.
    pub fn job(&self) -> Job {
        self.job
    }

    /// How it ended, if it has (and then it is reaped); `None` if it is still running.
    pub fn try_wait(&mut self) -> Option<Exit> {
        if self.job == Job::Hang && !self.killed && self.forked_at.elapsed() > POLLED_TOO_LONG {
            self.never_ends(&format!(
                "the runner was still polling job {}'s child {} s after forking it: it never ends by itself; kill it once its timeout has passed",
                self.no,
                POLLED_TOO_LONG.as_secs()
            ));
        }
        let exit = waitpid(self.pid, libc::WNOHANG)?;
        self.ended(exit);
        Some(exit)
    }

    /// Wait until it ends (it is then reaped): however long that takes.
    pub fn wait(&mut self) -> Exit {
        trace::wait(None, &format!("wait job {}", self.no));
        if self.job == Job::Hang && !self.killed {
            // The grader knows this job never ends: this wait would never return.
            self.never_ends(&format!(
                "the runner waited for job {}'s child, which hangs and was not killed: that wait never returns (poll with try_wait, and kill the child past its timeout)",
                self.no
            ));
        }
        let exit = loop {
            if let Some(e) = waitpid(self.pid, 0) {
                break e;
            }
        };
        trace::unwait();
        self.ended(exit);
        exit
    }

    /// Send it SIGKILL. It is not reaped until `wait` or `try_wait` says it ended.
    pub fn kill(&mut self) {
        // SAFETY: kill(2) on our own child's pid; it cannot be reused before we reap it.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.killed = true;
        trace::record(None, format!("kill job {} (SIGKILL)", self.no));
    }

    /// Fail the check: the runner is about to wait forever for this child.
    fn never_ends(&self, why: &str) -> ! {
        let what = format!("wait job {} …", self.no);
        trace::record_marked(None, what, Some("✗ waits forever".into()));
        crate::model::fail(why)
    }

    fn ended(&self, exit: Exit) {
        trace::record(None, format!("job {} ended: {exit}", self.no));
    }
}

/// `waitpid(pid, flags)`: how it ended, or `None` (still running, or interrupted).
fn waitpid(pid: i32, flags: i32) -> Option<Exit> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for the call.
    let r = unsafe { libc::waitpid(pid, &mut status, flags) };
    if r != pid {
        return None;
    }
    if libc::WIFEXITED(status) {
        Some(Exit::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Exit::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

fn own_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(1)
}

/// Our children still there (running, or ended and not reaped: zombies), with their state.
fn children() -> Vec<(i32, char)> {
    let me = std::process::id();
    let list =
        std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
    list.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(|pid: i32| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.trim_start().chars().next())
                })
                .unwrap_or('?');
            (pid, state)
        })
        .collect()
}

/// Mark the step that left child `pid` behind: its kill (never followed by a wait), or its fork.
fn blame_child(pid: i32, state: char) {
    let tail = format!("→ pid {pid}");
    let no = trace::snapshot().iter().find_map(|e| {
        e.text
            .strip_suffix(&tail)
            .and_then(|t| t.strip_prefix("fork job "))
            .and_then(|t| t.split(' ').next())
            .map(str::to_owned)
    });
    let Some(no) = no else { return };
    if state == 'Z' {
        let kill = format!("kill job {no} (SIGKILL)");
        trace::mark_last(|e| e.text == kill, "✗ never waited for: a zombie");
    } else {
        trace::mark_last(|e| e.text.ends_with(&tail), "✗ still running at the end");
    }
}

/// Kill and reap whatever the runner left behind.
fn clean_up(left: &[(i32, char)]) {
    for (pid, _) in left {
        // SAFETY: kill and waitpid on our own children.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
            libc::waitpid(*pid, std::ptr::null_mut(), 0);
        }
    }
}

/// What exercise 7 implements.
pub type RunJobs = fn(&[Job], Duration) -> Vec<Outcome>;

/// The job timeout of the chaos check.
pub const TIMEOUT: Duration = Duration::from_millis(400);

/// The grader's suite for a runner.
pub fn suite(run_jobs: RunJobs) -> Suite {
    let chaos = [
        Job::Ok,
        Job::Crash,
        Job::Exit(3),
        Job::Panic,
        Job::Hang,
        Job::Slow(TIMEOUT.as_millis() as u64 / 4),
        Job::Ok,
    ];
    let many: Vec<Job> = (0..40)
        .map(|i| if i % 7 == 3 { Job::Crash } else { Job::Ok })
        .collect();
    Suite {
        checks: vec![
            Check::new(
                format!(
                    "chaos: one job of each kind, timeout {} ms",
                    TIMEOUT.as_millis()
                ),
                // A backstop: a runner that waits for the hung job, or polls it forever, is
                // caught by the kit's Child at once (it knows that job never ends).
                Duration::from_secs(60),
                move || grade_run(run_jobs, &chaos),
            ),
            Check::new(
                "40 jobs, one in seven crashing",
                Duration::from_secs(60),
                move || grade_run(run_jobs, &many),
            ),
        ],
        bench: Bench::new("200 jobs, a child each", move || bench(run_jobs)),
    }
}

fn expected(job: Job) -> bool {
    matches!(job, Job::Ok | Job::Slow(_))
}

/// Run the jobs through the learner's runner, streaming every step; then judge the outcomes
/// and what was left behind.
fn grade_run(run_jobs: RunJobs, jobs: &[Job]) -> Verdict {
    SPAWNED.store(0, std::sync::atomic::Ordering::SeqCst);
    trace::begin(true);
    trace::set_lane("runner");
    let start = Instant::now();
    let ran = std::panic::catch_unwind(|| run_jobs(jobs, TIMEOUT));
    let took = start.elapsed();
    let left = children();
    let outcomes = match ran {
        Ok(o) => o,
        Err(p) => {
            clean_up(&left);
            let why = match p.is::<crate::model::Broken>() {
                true => crate::model::message(p.as_ref()),
                false => crate::model::take_last_panic()
                    .unwrap_or_else(|| crate::model::message(p.as_ref())),
            };
            let (events, _) = trace::take(false);
            trace::end();
            return Verdict::fail(format!("{} jobs", jobs.len()), why, events);
        }
    };
    let mut why = None;
    if outcomes.len() != jobs.len() {
        why = Some(format!(
            "{} outcomes for {} jobs: report one per job, in order",
            outcomes.len(),
            jobs.len()
        ));
    }
    for (i, (job, got)) in jobs.iter().zip(&outcomes).enumerate() {
        let ok = matches!(got, Outcome::Done) == expected(*job);
        let text = format!("report job {}: {got:?}", i + 1);
        let mark = (!ok).then(|| {
            format!(
                "✗ expected {}",
                if expected(*job) { "Done" } else { "Failed" }
            )
        });
        trace::record(None, text);
        if !ok && why.is_none() {
            trace::mark_last(|e| e.lane == "runner", mark.as_deref().unwrap_or("✗"));
            why = Some(format!(
                "job {} ({job:?}) was reported {got:?}: a child that {} must be reported {}",
                i + 1,
                job.does(),
                if expected(*job) { "Done" } else { "Failed" }
            ));
        }
    }
    if why.is_none() {
        if let Some((pid, state)) = left.first() {
            blame_child(*pid, *state);
            why = Some(if *state == 'Z' {
                format!("run_jobs returned, leaving child {pid} a zombie: it ended (or was killed) but was never reaped; wait for it after killing it")
            } else {
                format!("run_jobs returned, leaving child {pid} still running: kill the child of a job past its timeout")
            });
        }
    }
    clean_up(&left);
    let (events, _) = trace::take(false);
    trace::end();
    match why {
        None => Verdict::pass(format!(
            "{} jobs, each outcome right, no child left behind ({} ms)",
            jobs.len(),
            took.as_millis()
        )),
        Some(why) => Verdict::fail(format!("{} jobs", jobs.len()), why, events),
    }
}

fn bench(run_jobs: RunJobs) -> u64 {
    let jobs = vec![Job::Ok; 200];
    let outcomes = run_jobs(&jobs, Duration::from_secs(5));
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Done),
        "the benchmark's jobs failed"
    );
    200
}
