//! `concur run`: one request, measured in a child, and what happened.

use crate::harness::{self, Measurement, Stream};
use crate::request::RunRequest;
use crate::sys::units::{bytes, seconds};
use crate::workload::fault::Fault;
use std::fmt::Write;

/// `concur run`: the request and how to show the result.
#[derive(Clone, Debug)]
pub struct RunCommand {
    pub request: RunRequest,
    /// One JSON object on stdout instead of the emoji stream and the summary.
    pub json: bool,
    /// No emoji stream (still written, counted and discarded).
    pub quiet: bool,
    /// `--interrupt-after`: send this process SIGINT after this long, as Ctrl-C would.
    pub interrupt_after: Option<std::time::Duration>,
}

/// `concur run`.
pub fn run(cmd: &RunCommand) -> anyhow::Result<Measurement> {
    let spec = cmd.request.resolve()?;
    let stream = if cmd.json || cmd.quiet {
        Stream::Discard
    } else {
        Stream::Show
    };
    if spec.fault.is_some_and(|f| f.fault == Fault::Hang) && spec.job_timeout_ms.is_none() {
        eprintln!(
            "concur: --fault hang without --job-timeout: the faulty jobs never return, so this run \
             ends only at Ctrl-C (then running jobs get --shutdown-timeout to finish)"
        );
    }
    if let Some(after) = cmd.interrupt_after {
        press_ctrl_c_after(after)?;
    }
    let m = match harness::measure(&spec, stream) {
        Ok(m) => m,
        Err(e) if cmd.json => {
            // A script reading stdout gets an object either way: here, the failure.
            println!("{}", serde_json::to_string(&Failed::of(&spec, &e))?);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    crate::app::json_copy(&m)?;
    if cmd.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        eprint!("{}", summary(&m));
    }
    // A stopped run has printed what it did; its exit code says it did not finish.
    harness::stopped_error(&m)?;
    Ok(m)
}

/// `--interrupt-after`: SIGINT to this process after `after`, as a terminal's Ctrl-C would send
/// it (the harness passes the first one on to the measured child). The handler only sets a
/// flag, so the timer thread is harmless if the run ends first.
fn press_ctrl_c_after(after: std::time::Duration) -> anyhow::Result<()> {
    crate::sys::signals::catch()?;
    std::thread::Builder::new()
        .name("interrupt-after".into())
        .spawn(move || {
            std::thread::sleep(after);
            eprintln!(
                "\nconcur: --interrupt-after {}: Ctrl-C",
                crate::sys::units::seconds(after.as_secs_f64())
            );
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGINT);
        })?;
    Ok(())
}

/// `run --json`'s object when the run itself failed (its child killed, or exiting non-zero):
/// what was asked, `correct: false`, the error's one line and the exit code that follows.
#[derive(serde::Serialize)]
struct Failed<'a> {
    strategy: &'a str,
    workload: crate::workload::Workload,
    items: u64,
    workers: usize,
    correct: bool,
    error: String,
    exit_code: i32,
}

impl<'a> Failed<'a> {
    fn of(spec: &'a crate::strategy::RunSpec, e: &anyhow::Error) -> Failed<'a> {
        Failed {
            strategy: &spec.strategy,
            workload: spec.workload,
            items: spec.items,
            workers: spec.workers,
            correct: false,
            error: format!("{e:#}"),
            exit_code: crate::error::exit_code(e),
        }
    }
}

/// `""` for one, `"s"` (or `plural`) otherwise.
fn s(n: impl Into<u64>, plural: &'static str) -> &'static str {
    if n.into() == 1 {
        ""
    } else {
        plural
    }
}

/// The human summary of one run.
pub fn summary(m: &Measurement) -> String {
    let mut out = header(m);
    measured(&mut out, m);
    chaos(&mut out, m);
    verdict(&mut out, m);
    out
}

/// `concur: STRATEGY · WORKLOAD · N jobs · W workers [· sync S] [· app MB]`.
fn header(m: &Measurement) -> String {
    let sync = match (m.expected_balance, &m.transfer) {
        (Some(_), _) => format!(" · sync {}", m.sync),
        (_, Some(t)) => format!(" · {} accounts · sync {}", t.accounts.len(), m.sync),
        _ => String::new(),
    };
    let app = match (m.app_mb, m.dirty_pct) {
        (0, _) => String::new(),
        (mb, 0) => format!(" · app {mb} MiB"),
        (mb, pct) => format!(" · app {mb} MiB, {pct}% dirtied per forked worker"),
    };
    format!(
        "concur: {} · {} · {} jobs · {} worker{}{sync}{app}\n",
        m.strategy,
        m.workload.name(),
        m.jobs,
        m.workers,
        s(m.workers as u64, "s"),
    )
}

/// Time, CPU, memory and the process tree, as the harness measured them from outside.
fn measured(out: &mut String, m: &Measurement) {
    let _ = writeln!(
        out,
        "  wall      {}  (work {} inside the child)",
        seconds(m.wall_s),
        seconds(m.work_s)
    );
    let _ = writeln!(
        out,
        "  harness   {} = wall - work, {:.1}% of wall (starting and ending the measured child, its files, the last sample); its own cpu {}",
        seconds(m.harness_overhead_s),
        if m.wall_s > 0.0 { 100.0 * m.harness_overhead_s / m.wall_s } else { 0.0 },
        seconds(m.harness_cpu_s)
    );
    let _ = writeln!(
        out,
        "  cpu       user {}  sys {}",
        seconds(m.cpu_user_s),
        seconds(m.cpu_sys_s)
    );
    let _ = writeln!(
        out,
        "  memory    peak RSS {}  peak PSS {}  (whole process tree)",
        bytes(m.peak_rss_bytes),
        bytes(m.peak_pss_bytes)
    );
    let forked = match m.processes_forked {
        0 => String::new(),
        n => format!("; {n} process{} forked in all (counted)", s(n, "es")),
    };
    let _ = writeln!(
        out,
        "  tree      peak {} thread{}, {} process{} at once (sampled){forked}",
        m.peak_threads,
        s(m.peak_threads, "s"),
        m.peak_processes,
        s(m.peak_processes, "es")
    );
}

/// The fault injected, and how long a hung job went unnoticed.
fn chaos(out: &mut String, m: &Measurement) {
    if let Some(f) = &m.fault {
        let rss = if m.rss_start_bytes > 0 {
            format!(
                "own RSS {} before the jobs, {} after",
                bytes(m.rss_start_bytes),
                bytes(m.rss_end_bytes)
            )
        } else {
            "own RSS unknown (the run never reported)".into()
        };
        let _ = writeln!(
            out,
            "  chaos     --fault {} in 1 job of {}; {rss}",
            f.fault.name(),
            f.every
        );
    }
    if let Some(secs) = m.hang_detected_s {
        let _ = writeln!(
            out,
            "  hang      {} job{} past --job-timeout, the first found after {}",
            m.jobs_timed_out,
            s(m.jobs_timed_out, "s"),
            seconds(secs)
        );
    }
}

/// The rate, the check, the notes, the first failures, and why a wallet lost updates.
fn verdict(out: &mut String, m: &Measurement) {
    let _ = writeln!(out, "  rate      {:.0} jobs/s", m.jobs_per_s);
    let mark = if m.correct { "ok  " } else { "FAIL" };
    let _ = writeln!(out, "  check     {mark} {}", m.check);
    for note in &m.notes {
        let _ = writeln!(out, "  note      {note}");
    }
    for f in m.failures.iter().take(5) {
        let _ = writeln!(out, "  failed    {f}");
    }
    if m.failures.len() > 5 {
        let _ = writeln!(out, "  failed    ... and {} more", m.failures.len() - 5);
    }
    if m.transfer.as_ref().is_some_and(|t| t.deadlock.is_some()) {
        let _ = writeln!(
            out,
            "  why       each transfer holds one account's lock while it waits for the other's; transfers in opposite directions wait for each other forever (concur found the cycle and aborted it); try --sync ordered"
        );
    }
    let lost = m.lost_updates.unwrap_or(0);
    if !m.correct && lost > 0 {
        let info = crate::strategy::find(&m.strategy);
        let fix = info
            .and_then(|s| s.syncs.iter().find(|x| x.name() != "none"))
            .map(|s| s.name())
            .unwrap_or("mutex");
        // A process per job with nothing shared: every update stayed in its child. That is
        // isolation, not a race, and the balance is "right" only by accident.
        let isolated = info.is_some_and(|s| s.props.memory == crate::strategy::Memory::Isolated)
            && m.sync == "none"
            && lost == m.jobs;
        let why = if isolated {
            format!("each child changed its own copy of the balance and exited: isolation, not a race (no update reached the parent); to share on purpose, try --sync {fix}")
        } else {
            format!(
                "read, pause, write is not atomic: another job wrote in between; try --sync {fix}"
            )
        };
        let _ = writeln!(out, "  why       {why}");
    }
}
