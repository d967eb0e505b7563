//! `concur __exec`: the measured child. It runs one strategy's jobs and writes the outcome to a
//! file for the harness; it never measures itself (the harness does, from outside).

use crate::strategy::{self, Failure, Outcome, RunSpec, Stop};
use crate::workload::inflight::{self, Tracking};
use crate::workload::{app, fault::Fault, panic_message, Workload};
use anyhow::{anyhow, Context};
use std::path::Path;
use std::time::Duration;

/// Run the spec and write the outcome to `result`.
pub fn exec(spec_path: &Path, result: &Path) -> anyhow::Result<()> {
    die_with_harness();
    let spec_json = std::fs::read(spec_path).context("reading the run spec")?;
    let spec: RunSpec = serde_json::from_slice(&spec_json).context("parsing the run spec")?;
    let info = strategy::find(&spec.strategy)
        .ok_or_else(|| anyhow!("unknown strategy '{}'", spec.strategy))?;
    fail_on_request(&spec.strategy)?;
    // Ctrl-C only raises a flag the strategies read between jobs (see `crate::sys::signals`).
    crate::sys::signals::catch()?;
    if spec.fault.is_some_and(|f| f.fault == Fault::Panic) {
        // Injected panics are expected: one line each, and no backtrace (with RUST_BACKTRACE
        // set, symbolising one maps the binary's debug info, ~80 MiB that would read as a leak).
        std::panic::set_hook(Box::new(|info| {
            let msg = panic_message(info.payload());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!("concur: a job panicked{at}: {msg}");
        }));
    }
    app::load(spec.app_mb);
    if spec.dirty_pct > 0 {
        // `--dirty`: every forked worker (or fork-per-job child) spoils part of the app it
        // shares copy-on-write, as a garbage collector would.
        let pct = spec.dirty_pct;
        crate::sys::process::in_every_child(move || {
            app::dirty(pct);
        });
    }
    let me = std::process::id() as i32;
    let rss_start = crate::sys::proc::rss(me).unwrap_or(0);
    if let Some(ms) = spec.job_timeout_ms {
        // Only where jobs are threads of this process: a strategy that forks must stay
        // single-threaded, and kills its hung children itself.
        if !info.props.kills_hung {
            start_watchdog(
                Duration::from_millis(ms),
                result.to_path_buf(),
                rss_start,
                spec.workers,
            );
        }
    }
    if spec.workload == Workload::Sleep {
        // Memory per in-flight job: count the jobs running at once (see `super::inflight`).
        inflight::track(Tracking::Count);
    }
    let baseline_rss = super::inflight::own_rss();
    let mut outcome = (info.run)(&spec)?;
    if spec.workload == Workload::Sleep {
        super::inflight::write(result, baseline_rss, outcome.workers, spec.items);
    }
    outcome.processes_forked = crate::sys::process::forked();
    outcome.rss_start_bytes = rss_start;
    outcome.rss_end_bytes = crate::sys::proc::rss(me).unwrap_or(0);
    outcome.self_pss_bytes = crate::sys::proc::rss_pss(me)
        .map(|(_, pss)| pss)
        .unwrap_or(0);
    super::wire::write_outcome(&outcome, result)?;
    wait_for_last_sample();
    Ok(())
}

/// Hidden test hook: `CONCUR_TEST_FAIL=name[,name...]` makes the measured child of those
/// strategies fail before any job runs, so tests (and a curious presenter) can see how `compare`
/// reports a strategy that fails. Not in `--help`; documented in docs/README-compare.md.
pub const FAIL_ENV: &str = "CONCUR_TEST_FAIL";

fn fail_on_request(strategy: &str) -> anyhow::Result<()> {
    let wanted = std::env::var(FAIL_ENV).unwrap_or_default();
    if wanted.split(',').any(|s| s.trim() == strategy) {
        anyhow::bail!("'{strategy}' failed on purpose ({FAIL_ENV}={wanted})");
    }
    Ok(())
}

/// `--job-timeout` for in-process strategies. A hung thread cannot be killed (see
/// [`inflight::watchdog`]), so when a job overruns, the watchdog reports what it
/// knows and ends the whole process: a clear stop instead of a run that never ends.
fn start_watchdog(timeout: Duration, result: std::path::PathBuf, rss_start: u64, workers: usize) {
    // Before the thread starts, so no job can begin unrecorded.
    inflight::track(Tracking::Watch);
    std::thread::Builder::new()
        .name("job-watchdog".into())
        .spawn(move || {
            let over = inflight::watchdog(timeout);
            let secs = crate::sys::units::seconds(timeout.as_secs_f64());
            eprintln!(
                "concur: job {} has run for {} (--job-timeout {secs}); a thread cannot be killed \
                 from outside, so the whole run stops here (a process per job, -s fork, would \
                 lose only that job)",
                over.job,
                crate::sys::units::seconds(over.ran.as_secs_f64())
            );
            let mut failures = vec![Failure::job(
                over.job,
                format!("ran past --job-timeout {secs}; threads cannot be killed: run stopped"),
            )];
            failures.extend(
                over.others
                    .iter()
                    .map(|&j| Failure::job(j, "still running when the run was stopped")),
            );
            let outcome = Outcome {
                // Jobs started: those that ended, and those still running (failed here).
                jobs: over.ended + 1 + over.others.len() as u64,
                workers,
                failures,
                stop: Some(Stop::JobTimeout),
                jobs_timed_out: 1,
                hang_detected_s: Some(over.ran.as_secs_f64()),
                rss_start_bytes: rss_start,
                rss_end_bytes: crate::sys::proc::rss(std::process::id() as i32).unwrap_or(0),
                ..Default::default()
            };
            let _ = super::wire::write_outcome(&outcome, &result);
            // SAFETY: `_exit` ends the process at once, hung threads included, without running
            // destructors that could wait for them; the outcome file is already written.
            unsafe { libc::_exit(super::wire::JOB_TIMEOUT_EXIT) }
        })
        .expect("spawning the job watchdog");
}

/// Stop until the harness has taken its last sample of our tree and sends SIGCONT. Without this
/// a run shorter than the sampling interval would never be seen at its full size.
fn wait_for_last_sample() {
    if std::env::var_os("CONCUR_HARNESS_PID").is_some() {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

/// If the harness dies (Ctrl-C, kill), take this child down with it instead of running on.
fn die_with_harness() {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    // The harness may have died before the line above; then we have been re-parented already.
    if let Some(harness) = std::env::var("CONCUR_HARNESS_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        if std::os::unix::process::parent_id() != harness {
            std::process::exit(1);
        }
    }
}
