//! The harness: run a workload in a child process and measure it from outside.
//!
//! Why outside? A process cannot honestly weigh itself while it works: a sampler thread inside
//! would share its cores and its memory, and would make a forking strategy fork a multi-threaded
//! process. So `concur run` re-executes itself as `concur __exec` (the measured child) and:
//!
//! - samples the child's whole process tree from `/proc` every few milliseconds
//!   ([`super::sampler`]), keeping the peak RSS, PSS, thread and process counts;
//! - takes wall time from its own clock, from just before the spawn to the reap;
//! - takes CPU user/sys and the child's own peak RSS from `wait4(2)`'s rusage, which includes
//!   every descendant the child reaped ([`super::reap`]);
//! - reads the child's stdout through a pipe and counts every emoji ([`super::stream`]), so the
//!   correctness check sees exactly what a terminal would, forked workers included;
//! - is the child subreaper, so a descendant orphaned by a crash comes back to it and is killed
//!   and reaped: no run leaves a process behind;
//! - turns Ctrl-C into a graceful stop ([`Shutdown`]): the child is told, running jobs get
//!   `--shutdown-timeout`, then the whole tree is killed.

use super::measurement::{build, Measurement, Sampled, Stream};
use super::reap::{kill_orphans, kill_tree, timeval_s, watch, Event};
use super::sampler::{self, Sampler};
use super::{inflight, stream, wire};
use crate::error::Error;
use crate::strategy::{Failure, Outcome, RunSpec, Stop};
use crate::sys::{private, proc, signals, units};
use anyhow::{anyhow, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Run `spec` in a fresh `concur __exec` child and measure it from outside.
pub fn measure(spec: &RunSpec, stream: Stream) -> anyhow::Result<Measurement> {
    measure_with_stderr(spec, stream, Stdio::inherit())
}

/// [`measure`], with the child's stderr sent to `stderr` instead of ours: `compare` gives it a
/// file, so a failed run's own error line ends up in the report rather than across its progress
/// bar.
pub fn measure_with_stderr(
    spec: &RunSpec,
    stream: Stream,
    stderr: Stdio,
) -> anyhow::Result<Measurement> {
    measure_within(spec, stream, stderr, None)
}

/// [`measure_with_stderr`], stopped like a SIGTERM would stop it (gracefully, then killed after
/// its `--shutdown-timeout`) if it runs longer than `limit`: for probes that may never end,
/// such as a hung job under a strategy that cannot deal with one.
pub fn measure_within(
    spec: &RunSpec,
    stream: Stream,
    stderr: Stdio,
    limit: Option<Duration>,
) -> anyhow::Result<Measurement> {
    // Orphaned grandchildren are re-parented to us rather than to init, so we can reap them.
    nix::sys::prctl::set_child_subreaper(true).context("becoming the child subreaper")?;
    // Ctrl-C from now on is a graceful stop of the run (see `signals`); one that came between
    // two runs of the same command stops the command.
    signals::catch()?;
    if let Some(sig) = signals::take().or_else(signals::interrupted) {
        return Err(Error::Interrupted(sig).into());
    }
    // 0700 with an owner file: the spec inside may hold a Redis password, and a harness killed
    // outright leaves the dir for the next run to sweep (see `sys::private`).
    let dir = private::dir("run")?;
    let result = dir.path().join("outcome.json");
    let ours_before = proc::children(std::process::id() as i32);
    let own_cpu_before = own_cpu_s();
    let mut run = Running::start(spec, dir.path(), &result, stream, stderr)?;
    let mut sampler = Sampler::new(run.pid);
    let mut shutdown = Shutdown::new(Duration::from_millis(spec.shutdown_timeout_ms), limit);
    let ended = run.supervise(&mut sampler, &mut shutdown)?;
    let (status, rusage) = ended.reaped?;
    let orphans_killed = kill_orphans(&ours_before);
    let tally = run
        .reader
        .join()
        .map_err(|_| anyhow!("the stdout reader panicked"))??;
    let outcome = outcome(spec, &result, status, shutdown.first_signal())?;
    let child_peak_rss = (rusage.ru_maxrss as u64) * 1024;
    let peak_rss_bytes = sampler.peak.rss_bytes.max(child_peak_rss);
    let sampled = Sampled {
        wall_s: ended.wall.as_secs_f64(),
        cpu_user_s: timeval_s(rusage.ru_utime),
        cpu_sys_s: timeval_s(rusage.ru_stime),
        peak_rss_bytes,
        // Too quick to sample: fall back to the child's own last reading of itself.
        peak_pss_bytes: match sampler.peak.pss_bytes {
            0 => outcome.self_pss_bytes,
            pss => pss,
        },
        peak_threads: sampler.peak.threads.max(1),
        peak_processes: sampler.peak.processes.max(1),
        samples: sampler.samples,
        sampler_cpu_s: sampler.cpu_s,
        harness_cpu_s: own_cpu_s() - own_cpu_before,
        final_sample_cpu_s: sampler.final_cpu_s,
        orphans_killed,
    };
    Ok(with_in_flight(spec, outcome, &tally, sampled, &result))
}

/// CPU (user + system) this process has used so far, all its threads.
fn own_cpu_s() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        tv(u.user_time()) + tv(u.system_time())
    })
}

/// The measurement, with memory per in-flight job when the child left its record.
fn with_in_flight(
    spec: &RunSpec,
    mut outcome: Outcome,
    tally: &crate::workload::emoji::Tally,
    sampled: Sampled,
    result: &Path,
) -> Measurement {
    let in_flight = inflight::read(result, sampled.peak_rss_bytes);
    if let Some((_, _, note)) = &in_flight {
        outcome.notes.push(note.clone());
    }
    let mut m = build(spec, outcome, tally, sampled);
    if let Some((record, per, _)) = in_flight {
        m.mem_per_in_flight_bytes = Some(per);
        m.peak_in_flight = Some(record.peak_in_flight);
    }
    m
}

/// The child's outcome, or, when a stop ended in killing it, what the harness knows.
fn outcome(
    spec: &RunSpec,
    result: &Path,
    status: i32,
    stop: Option<Signal>,
) -> anyhow::Result<Outcome> {
    match (wire::read_outcome(result, status, spec), stop) {
        (Ok(mut o), Some(sig)) => {
            o.stop.get_or_insert(Stop::Signal(sig));
            Ok(o)
        }
        (Ok(o), None) => Ok(o),
        // Killed after the shutdown timeout or a second signal: what the harness saw is all
        // there is (the jobs' own report died with the child).
        (Err(_), Some(sig)) => Ok(Outcome {
            workers: spec.workers,
            stop: Some(Stop::Killed(sig)),
            notes: vec![format!(
                "killed after {}: the jobs still running did not finish, and their report was lost",
                sig.as_str()
            )],
            failures: vec![Failure::run(
                "the run was killed before it reported its jobs",
            )],
            ..Outcome::default()
        }),
        (Err(e), None) => Err(e),
    }
}

/// A measured child while it runs: its pid, the thread counting its stdout, the watcher's
/// events, and the harness clock's start.
struct Running {
    /// Reaped by the watcher's `wait4`; dropping a `Child` neither waits nor kills.
    _child: Child,
    pid: i32,
    reader: JoinHandle<std::io::Result<crate::workload::emoji::Tally>>,
    events: mpsc::Receiver<Event>,
    start: Instant,
}

/// How the child ended: its wait status and rusage, and the wall time that was the run's.
struct Ended {
    reaped: anyhow::Result<(i32, libc::rusage)>,
    wall: Duration,
}

impl Running {
    /// Write the spec into the run's private temp dir `dir`, and start `concur __exec` on it.
    fn start(
        spec: &RunSpec,
        dir: &Path,
        result: &Path,
        stream: Stream,
        stderr: Stdio,
    ) -> anyhow::Result<Running> {
        // The spec goes in a file in our private temp dir: argv is world-readable in ps.
        let spec_path = dir.join("spec.json");
        private::write(&spec_path, &serde_json::to_vec(spec)?).context("writing the run spec")?;
        let mut cmd = exec_command(&spec_path, result, dir)?;
        cmd.stderr(stderr);
        let start = Instant::now();
        let mut child = cmd.spawn().context("starting the measured child")?;
        let pid = child.id() as i32;
        let stdout = child.stdout.take().expect("stdout is piped");
        stream::enlarge(&stdout);
        // Count (and maybe show) the emoji stream on its own thread, so a full pipe never
        // stalls the child while we sample.
        let reader = std::thread::spawn(move || stream::count_stream(stdout, stream));
        // Wait on its own thread, so wall time ends the moment the child does.
        let (event_tx, events) = mpsc::channel();
        std::thread::spawn(move || watch(pid, event_tx));
        Ok(Running {
            _child: child,
            pid,
            reader,
            events,
            start,
        })
    }

    /// Sample the tree until the child exits, handling Ctrl-C and the child's own stop at its
    /// end (SIGSTOP, so that a last sample sees the whole tree however short the run was).
    fn supervise(
        &mut self,
        sampler: &mut Sampler,
        shutdown: &mut Shutdown,
    ) -> anyhow::Result<Ended> {
        let mut paused = Duration::ZERO;
        loop {
            shutdown.poll(self.pid);
            match self
                .events
                .recv_timeout(sampler::interval(self.start.elapsed()))
            {
                Ok(Event::Exited(reaped, at)) => {
                    let wall = at.duration_since(self.start).saturating_sub(paused);
                    return Ok(Ended { reaped, wall });
                }
                Ok(Event::Stopped(at)) => {
                    // The time it spends stopped for the last sample is not the run's.
                    sampler.sample(true);
                    let _ = kill(Pid::from_raw(self.pid), Signal::SIGCONT);
                    paused += at.elapsed();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => sampler.sample(false),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(anyhow!("the reaper thread died"));
                }
            }
        }
    }
}

/// `concur __exec --spec SPEC --result RESULT`, its temp files inside the run's dir.
fn exec_command(spec: &Path, result: &Path, dir: &Path) -> anyhow::Result<Command> {
    let exe: PathBuf = std::env::current_exe().context("finding the concur executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("__exec")
        .arg("--spec")
        .arg(spec)
        .arg("--result")
        .arg(result)
        .env("CONCUR_HARNESS_PID", std::process::id().to_string())
        // Whatever the child puts in a temp dir (the rpc socket, a private redis-server's dir)
        // lands inside ours, which goes when we return, even if the child was killed.
        .env("TMPDIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    Ok(cmd)
}

/// Ctrl-C and SIGTERM during a run, as Sidekiq and Resque treat TERM: the first signal is passed
/// on to the child (no new jobs; running ones may finish for `--shutdown-timeout`), a second
/// one, or the deadline, kills the child's whole tree.
struct Shutdown {
    timeout: Duration,
    /// When the run must end, if it has a limit: then it is stopped as by a SIGTERM.
    limit: Option<Instant>,
    /// The first signal, and the deadline it set for the running jobs.
    first: Option<(Signal, Instant)>,
    killed: bool,
}

impl Shutdown {
    fn new(timeout: Duration, limit: Option<Duration>) -> Shutdown {
        Shutdown {
            timeout,
            limit: limit.map(|l| Instant::now() + l),
            first: None,
            killed: false,
        }
    }

    /// The first signal that asked for a stop, if one did.
    fn first_signal(&self) -> Option<Signal> {
        self.first.map(|(sig, _)| sig)
    }

    /// Act on a signal that arrived, and on a deadline that passed, for the child `pid`.
    fn poll(&mut self, pid: i32) {
        let limit = units::seconds(self.timeout.as_secs_f64());
        if let Some(sig) = signals::take() {
            if self.first.is_none() {
                eprintln!(
                    "\nconcur: {}: no new jobs; running ones may finish for up to {limit} \
                     (send it again to kill them now)",
                    sig.as_str()
                );
                self.first = Some((sig, Instant::now() + self.timeout));
                let _ = kill(Pid::from_raw(pid), sig);
            } else if !self.killed {
                eprintln!("concur: {}: killing the run now", sig.as_str());
                self.kill(pid);
            }
        }
        // A run past its time limit (a probe) is stopped the same way, quietly: its caller
        // reports what that means.
        if self.first.is_none() && self.limit.is_some_and(|at| Instant::now() >= at) {
            self.first = Some((Signal::SIGTERM, Instant::now() + self.timeout));
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if let Some((_, deadline)) = self.first {
            if !self.killed && Instant::now() >= deadline {
                if self.limit.is_none() {
                    eprintln!(
                        "concur: jobs still running after --shutdown-timeout {limit}: killing them"
                    );
                }
                self.kill(pid);
            }
        }
    }

    fn kill(&mut self, pid: i32) {
        kill_tree(pid);
        self.killed = true;
    }
}
