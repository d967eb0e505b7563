//! The harness: run a workload in a child process and measure it from outside.
//!
//! Why outside? A process cannot honestly weigh itself while it works: a sampler thread inside
//! would share its cores and its memory, and would make a forking strategy fork a multi-threaded
//! process. So `concur run` re-executes itself as `concur __exec` (the measured child) and:
//!
//! - samples the child's whole process tree from `/proc` every few milliseconds ([`proc`]),
//!   keeping the peak RSS, PSS, thread and process counts;
//! - takes wall time from its own clock, from just before the spawn to the reap;
//! - takes CPU user/sys and the child's own peak RSS from `wait4(2)`'s rusage, which includes
//!   every descendant the child reaped;
//! - reads the child's stdout through a pipe and counts every emoji ([`emoji::Tally`]), so the
//!   correctness check sees exactly what a terminal would, forked workers included;
//! - is the child subreaper, so a descendant orphaned by a crash comes back to it and is killed
//!   and reaped: no run leaves a process behind.

use super::inflight;
use crate::error::Error;
use crate::strategy::{Failure, Outcome, RunSpec, Stop};
use crate::sys::proc;
use crate::workload::emoji;
use crate::workload::Workload;
use anyhow::{anyhow, Context};
use serde::Serialize;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What to do with the child's emoji stream once it is counted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Pass it on to our stdout as it arrives.
    Show,
    /// Count it and drop it (`--quiet`, `--json`, `compare`).
    Discard,
}

/// One measured run: the `run --json` object and one row of `compare`'s results.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub strategy: String,
    pub workload: Workload,
    pub jobs: u64,
    pub workers: usize,
    pub items: u64,
    pub repeat: u64,
    pub sync: String,
    pub pause_us: u64,
    pub app_mb: u64,
    /// Harness clock, spawn to reap.
    pub wall_s: f64,
    /// The strategy's own clock inside the child (excludes process start-up and exit).
    pub work_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub peak_rss_bytes: u64,
    pub peak_pss_bytes: u64,
    pub peak_threads: u64,
    pub peak_processes: u64,
    pub jobs_per_s: f64,
    pub correct: bool,
    /// One line: what the check found.
    pub check: String,
    pub failed_jobs: u64,
    pub failures: Vec<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_balance: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_updates: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emoji_seen: Option<u64>,
    /// Sleep workload: (peak RSS - RSS before the strategy) / peak jobs in flight (see
    /// [`inflight`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_per_in_flight_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_in_flight: Option<u64>,
    pub notes: Vec<String>,
    /// Tree samples taken.
    pub samples: u64,
    /// CPU the sampler spent while the child ran (on its own core; the cost to compare with wall).
    pub sampler_cpu_s: f64,
    /// CPU of the last sample, taken while the child was stopped (excluded from wall).
    pub final_sample_cpu_s: f64,
    /// Descendants still alive after the child exited, killed and reaped by the harness.
    pub orphans_killed: u64,
    /// Why the run stopped before doing every job.
    #[serde(rename = "stopped_by", skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Jobs never started because of that stop.
    pub jobs_not_started: u64,
    /// The measured child's own RSS before the strategy ran, and after (a kept leak shows here).
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    /// `--fault`, when one was injected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<crate::workload::fault::FaultSpec>,
    /// Jobs killed or abandoned for running past `--job-timeout`.
    pub jobs_timed_out: u64,
    /// From a hung job's start to the moment it was dealt with (the first one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hang_detected_s: Option<f64>,
}

/// A run that stopped early (Ctrl-C, SIGTERM, a job timeout in threads) has been reported; this
/// is the error that gives the command its exit code: 130/143 for a signal, 1 for a timeout.
pub fn stopped_error(m: &Measurement) -> anyhow::Result<()> {
    let err = match m.stop {
        None => return Ok(()),
        Some(Stop::JobTimeout) => Error::RunFailed {
            why: format!(
                "the run was stopped: a job ran past --job-timeout, and '{}' cannot kill a thread",
                m.strategy
            ),
            code: 1,
        },
        Some(_) => match crate::sys::signals::interrupted() {
            Some(sig) => Error::Interrupted(sig),
            None => Error::RunFailed {
                why: "the measured run was stopped by a signal".into(),
                code: 1,
            },
        },
    };
    Err(err.into())
}

/// How long to wait before the next sample: often at first (most runs are short and their peak
/// comes early), then less often (a long run needs fewer samples to find its peak). A cheap
/// sample (statm, stat) costs the harness tens of microseconds per process, on its own core.
fn sample_interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(20) {
        Duration::from_millis(2)
    } else if elapsed < Duration::from_secs(1) {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(20)
    }
}

/// PSS costs a page-table walk per process: besides the end and new peaks, take it this often.
const PSS_INTERVAL: Duration = Duration::from_millis(10);

/// What the watcher thread reports about the child.
enum Event {
    /// The child stopped itself at the end of its work (SIGSTOP), waiting for a last sample.
    Stopped(Instant),
    /// The child exited: its wait status and rusage, and when.
    Exited(anyhow::Result<(i32, libc::rusage)>, Instant),
}

/// Wait for the child's stop and exit, reporting each as it happens.
fn watch(pid: i32, tx: mpsc::Sender<Event>) {
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
    // Orphaned grandchildren are re-parented to us rather than to init, so we can reap them.
    nix::sys::prctl::set_child_subreaper(true).context("becoming the child subreaper")?;
    // Ctrl-C from now on is a graceful stop of the run (see `crate::sys::signals`); one that came
    // between two runs of the same command stops the command.
    crate::sys::signals::catch()?;
    if let Some(sig) = crate::sys::signals::take().or_else(crate::sys::signals::interrupted) {
        return Err(Error::Interrupted(sig).into());
    }

    let dir = tempfile::Builder::new().prefix("concur-run-").tempdir()?;
    let result_path = dir.path().join("outcome.json");
    // The spec goes in a file in our private (0700) temp dir: argv is world-readable in ps.
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(spec)?).context("writing the run spec")?;
    let exe = std::env::current_exe().context("finding the concur executable")?;

    let mut cmd = Command::new(exe);
    cmd.arg("__exec")
        .arg("--spec")
        .arg(&spec_path)
        .arg("--result")
        .arg(&result_path)
        .env("CONCUR_HARNESS_PID", std::process::id().to_string())
        // Whatever the child puts in a temp dir (the rpc socket, a private redis-server's dir)
        // lands inside ours, which goes when we return, even if the child was killed.
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);

    let ours_before = proc::children(std::process::id() as i32);
    let start = Instant::now();
    let mut child = cmd.spawn().context("starting the measured child")?;
    let pid = child.id() as i32;
    let stdout = child.stdout.take().expect("stdout is piped");

    // Count (and maybe show) the emoji stream on its own thread, so a full pipe never stalls the
    // child while we sample.
    let reader = std::thread::spawn(move || count_stream(stdout, stream));

    // Wait on its own thread, so wall time ends the moment the child does.
    let (event_tx, events) = mpsc::channel();
    std::thread::spawn(move || watch(pid, event_tx));

    let mut peak = proc::TreeSample::default();
    let mut samples = 0u64;
    let mut sampler_cpu_s = 0.0;
    let mut paused = Duration::ZERO;
    // The first PSS reading is due PSS_INTERVAL in (the child has only just exec'd before that).
    let mut last_pss = Instant::now();
    let mut final_sample_cpu_s = 0.0;
    let mut take_sample = |peak: &mut proc::TreeSample, last: bool| {
        let before = thread_cpu_s();
        // PSS at the end, when a process joins the tree after the first sample (a forked worker,
        // a server: where the PSS peak is likely to be), and at least every PSS_INTERVAL.
        let s = proc::sample_tree(pid, |cheap| {
            let due = last
                || (peak.processes > 0 && cheap.processes > peak.processes)
                || last_pss.elapsed() >= PSS_INTERVAL;
            if due {
                last_pss = Instant::now();
            }
            due
        });
        // The last sample is taken while the child is stopped, and that time is not the run's.
        let cost = thread_cpu_s() - before;
        if last {
            final_sample_cpu_s += cost;
        } else {
            sampler_cpu_s += cost;
        }
        samples += 1;
        peak.rss_bytes = peak.rss_bytes.max(s.rss_bytes);
        peak.pss_bytes = peak.pss_bytes.max(s.pss_bytes);
        peak.threads = peak.threads.max(s.threads);
        peak.processes = peak.processes.max(s.processes);
    };
    let shutdown_timeout = Duration::from_millis(spec.shutdown_timeout_ms);
    // The first signal and the deadline it set for the running jobs; whether we killed the tree.
    let mut stop: Option<(nix::sys::signal::Signal, Instant)> = None;
    let mut killed = false;
    let (reaped, end) = loop {
        if let Some(sig) = crate::sys::signals::take() {
            if stop.is_none() {
                eprintln!(
                    "\nconcur: {}: no new jobs; running ones may finish for up to {} \
                     (send it again to kill them now)",
                    sig.as_str(),
                    crate::sys::units::seconds(shutdown_timeout.as_secs_f64())
                );
                stop = Some((sig, Instant::now() + shutdown_timeout));
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            } else if !killed {
                eprintln!("concur: {}: killing the run now", sig.as_str());
                kill_tree(pid);
                killed = true;
            }
        }
        if let Some((_, deadline)) = stop {
            if !killed && Instant::now() >= deadline {
                eprintln!(
                    "concur: jobs still running after --shutdown-timeout {}: killing them",
                    crate::sys::units::seconds(shutdown_timeout.as_secs_f64())
                );
                kill_tree(pid);
                killed = true;
            }
        }
        match events.recv_timeout(sample_interval(start.elapsed())) {
            Ok(Event::Exited(reaped, at)) => break (reaped, at),
            Ok(Event::Stopped(at)) => {
                // The child has finished its work and stopped itself so that we can take one
                // last sample of the whole tree, however short the run was. The time it spends
                // stopped is not the run's.
                take_sample(&mut peak, true);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGCONT,
                );
                paused += at.elapsed();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => take_sample(&mut peak, false),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(anyhow!("the reaper thread died"));
            }
        }
    };
    let (status, rusage) = reaped?;
    drop(child); // already reaped by wait4; dropping a Child neither waits nor kills

    let orphans_killed = kill_orphans(&ours_before);
    let tally = reader
        .join()
        .map_err(|_| anyhow!("the stdout reader panicked"))??;

    let wall_s = end
        .duration_since(start)
        .saturating_sub(paused)
        .as_secs_f64();
    let outcome = match (read_outcome(&result_path, status, spec), stop) {
        (Ok(mut o), Some((sig, _))) => {
            o.stop.get_or_insert(Stop::Signal(sig));
            o
        }
        (Ok(o), None) => o,
        // Killed after the shutdown timeout or a second signal: what the harness saw is all
        // there is (the jobs' own report died with the child).
        (Err(_), Some((sig, _))) => Outcome {
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
        },
        (Err(e), None) => return Err(e),
    };

    let child_peak_rss = (rusage.ru_maxrss as u64) * 1024;
    let peak_rss_bytes = peak.rss_bytes.max(child_peak_rss);
    let peak_pss_bytes = if peak.pss_bytes > 0 {
        peak.pss_bytes
    } else {
        // Too quick to sample: fall back to the child's own last reading of itself.
        outcome.self_pss_bytes
    };

    let mut outcome = outcome;
    let in_flight = inflight::read(&result_path, peak_rss_bytes);
    if let Some((_, _, note)) = &in_flight {
        outcome.notes.push(note.clone());
    }
    let mut m = build(
        spec,
        outcome,
        tally,
        Sampled {
            wall_s,
            cpu_user_s: timeval_s(rusage.ru_utime),
            cpu_sys_s: timeval_s(rusage.ru_stime),
            peak_rss_bytes,
            peak_pss_bytes,
            peak_threads: peak.threads.max(1),
            peak_processes: peak.processes.max(1),
            samples,
            sampler_cpu_s,
            final_sample_cpu_s,
            orphans_killed,
        },
    );
    if let Some((record, per, _)) = in_flight {
        m.mem_per_in_flight_bytes = Some(per);
        m.peak_in_flight = Some(record.peak_in_flight);
    }
    Ok(m)
}

struct Sampled {
    wall_s: f64,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    peak_rss_bytes: u64,
    peak_pss_bytes: u64,
    peak_threads: u64,
    peak_processes: u64,
    samples: u64,
    sampler_cpu_s: f64,
    final_sample_cpu_s: f64,
    orphans_killed: u64,
}

fn build(spec: &RunSpec, outcome: Outcome, tally: emoji::Tally, m: Sampled) -> Measurement {
    let failed_jobs = outcome.failures.len() as u64;
    // When some jobs never ran (every worker died), one failure line says so; counting it as a
    // failed job among those that ran would read wrong ("3 of 10 jobs failed" for 2 and 10).
    let failed = if outcome.jobs < spec.items && outcome.stop.is_none() {
        format!(
            "{failed_jobs} failures; {} of {} jobs ran",
            outcome.jobs, spec.items
        )
    } else {
        format!("{failed_jobs} of {} jobs failed", outcome.jobs)
    };
    let (correct, check) = match (&outcome.wallet, spec.workload) {
        (Some(w), _) => {
            // A lost update is a wrong result even when the balance happens to come out right
            // (the +10s and -10s that were lost can cancel, and under fork none arrive at all).
            let ok =
                w.final_balance == w.expected_balance && w.lost_updates == 0 && failed_jobs == 0;
            let lost = if w.lost_updates > 0 {
                format!(", {} of {} updates lost", w.lost_updates, outcome.jobs)
            } else {
                String::new()
            };
            (
                ok,
                format!(
                    "final balance {}, expected {}{lost}",
                    w.final_balance, w.expected_balance
                ),
            )
        }
        (None, Workload::Emoji) => match tally.check(spec.items, spec.knobs.repeat) {
            None if failed_jobs == 0 => (
                true,
                format!(
                    "{} emoji x {} each, all present",
                    spec.items, spec.knobs.repeat
                ),
            ),
            None => (false, failed),
            Some(problem) => (false, problem),
        },
        (None, w) if failed_jobs == 0 => (
            true,
            match w {
                Workload::Cpu => format!("all {} jobs computed their checked result", outcome.jobs),
                _ => format!("all {} jobs done", outcome.jobs),
            },
        ),
        (None, _) => (false, failed),
    };
    let (correct, check) = match &outcome.stop {
        Some(why @ Stop::Killed(_)) => (
            false,
            format!(
                "stopped by {why}: how many of {} jobs ran is unknown",
                spec.items
            ),
        ),
        Some(why) => (
            false,
            format!(
                "stopped by {why}: {} of {} jobs run, {} not started",
                outcome.jobs, spec.items, outcome.jobs_not_started
            ),
        ),
        None => (correct, check),
    };
    Measurement {
        strategy: spec.strategy.clone(),
        workload: spec.workload,
        jobs: outcome.jobs,
        workers: outcome.workers,
        items: spec.items,
        repeat: spec.knobs.repeat,
        sync: spec.sync.name().to_owned(),
        pause_us: spec.knobs.pause_us,
        app_mb: spec.app_mb,
        wall_s: m.wall_s,
        work_s: outcome.work_s,
        cpu_user_s: m.cpu_user_s,
        cpu_sys_s: m.cpu_sys_s,
        peak_rss_bytes: m.peak_rss_bytes,
        peak_pss_bytes: m.peak_pss_bytes,
        peak_threads: m.peak_threads,
        peak_processes: m.peak_processes,
        jobs_per_s: if m.wall_s > 0.0 {
            outcome.jobs as f64 / m.wall_s
        } else {
            0.0
        },
        correct,
        check,
        failed_jobs,
        failures: outcome.failures,
        expected_balance: outcome.wallet.as_ref().map(|w| w.expected_balance),
        final_balance: outcome.wallet.as_ref().map(|w| w.final_balance),
        lost_updates: outcome.wallet.as_ref().map(|w| w.lost_updates),
        emoji_seen: (spec.workload == Workload::Emoji).then(|| tally.total()),
        mem_per_in_flight_bytes: None,
        peak_in_flight: None,
        notes: outcome.notes,
        samples: m.samples,
        sampler_cpu_s: m.sampler_cpu_s,
        final_sample_cpu_s: m.final_sample_cpu_s,
        orphans_killed: m.orphans_killed,
        stop: outcome.stop,
        jobs_not_started: outcome.jobs_not_started,
        rss_start_bytes: outcome.rss_start_bytes,
        rss_end_bytes: outcome.rss_end_bytes,
        fault: spec.fault,
        jobs_timed_out: outcome.jobs_timed_out,
        hang_detected_s: outcome.hang_detected_s,
    }
}

fn count_stream(mut from: impl Read, stream: Stream) -> std::io::Result<emoji::Tally> {
    let mut tally = emoji::Tally::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut shown = false;
    let stdout = std::io::stdout();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        tally.feed(&buf[..n]);
        if stream == Stream::Show {
            let mut out = stdout.lock();
            // A closed terminal (e.g. `| head`) must not fail the measurement.
            let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
            shown = true;
        }
    }
    if shown {
        let _ = writeln!(stdout.lock());
    }
    Ok(tally)
}

fn read_outcome(path: &std::path::Path, status: i32, spec: &RunSpec) -> anyhow::Result<Outcome> {
    if libc::WIFSIGNALED(status) {
        let sig = nix::sys::signal::Signal::try_from(libc::WTERMSIG(status))
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|_| format!("signal {}", libc::WTERMSIG(status)));
        // The lesson of `--fault crash`: one job's abort ends every job sharing its process.
        let shared = crate::strategy::find(&spec.strategy)
            .filter(|info| !info.props.survives_crash)
            .map(|info| {
                format!(
                    ": every job of '{}' shares one process, so one crashing job took all of \
                     them down (a process per job, -s fork, loses only that job)",
                    info.name
                )
            })
            .unwrap_or_default();
        return Err(Error::RunFailed {
            why: format!("the measured run was killed by {sig}{shared}"),
            code: 1,
        }
        .into());
    }
    let code = libc::WEXITSTATUS(status);
    if code == crate::harness::child::JOB_TIMEOUT_EXIT {
        // The in-process watchdog stopped the run and left a partial outcome.
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(o) = serde_json::from_str::<Outcome>(&text) {
                return Ok(o);
            }
        }
    }
    if code != 0 {
        // The child printed its own one-line error; keep its exit code (2 = usage-like).
        return Err(Error::RunFailed {
            why: format!("the measured run failed (exit {code})"),
            code,
        }
        .into());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| "the measured run exited without reporting its outcome")?;
    serde_json::from_str(&text).context("reading the measured run's outcome")
}

/// Block until `pid` exits or stops; its wait status and rusage (self plus reaped descendants).
fn wait4(pid: i32) -> anyhow::Result<(i32, libc::rusage)> {
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
            return Err(anyhow!("waiting for the measured run: {err}"));
        }
    }
}

/// Kill and reap every process re-parented to us (we are the subreaper) during the run, leaving
/// alone the children we already had (`keep`); how many there were.
fn kill_orphans(keep: &[i32]) -> u64 {
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag};
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
            let _ = waitpid(Pid::from_raw(p), Some(WaitPidFlag::__WALL));
        }
    }
    killed
}

/// SIGKILL `root` and every process below it, deepest first (they are reaped afterwards: the
/// root by the watcher, the rest by [`kill_orphans`] as their subreaper).
fn kill_tree(root: i32) {
    use nix::sys::signal::{kill, Signal};
    for p in proc::tree(root).into_iter().rev() {
        let _ = kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
    }
}

fn timeval_s(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// CPU time of the calling thread (the sampler), in seconds, to the nanosecond.
fn thread_cpu_s() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}
