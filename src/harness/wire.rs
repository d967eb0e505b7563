//! The files the harness and its measured child exchange, in the run's private temp dir: the
//! spec the parent writes and the outcome the child leaves (a file, not an argument or a pipe:
//! argv is world-readable in `ps`, and a Redis URL may carry a password).

use crate::error::Error;
use crate::strategy::{Outcome, RunSpec};
use anyhow::Context;
use std::path::Path;

/// The exit code of a measured child whose in-process job ran past `--job-timeout`; it leaves a
/// partial outcome for the harness (like timeout(1)'s 124).
pub const JOB_TIMEOUT_EXIT: i32 = 124;

/// Why a measured child died by signal `signo`, in one line.
///
/// The lesson of `--fault crash`: one job's abort ends every job sharing its process. But only a
/// crash says that: the signals a crashing job dies by (an abort, a segfault, a bus error...).
/// SIGKILL, SIGTERM and the like come from outside (a `kill`, the OOM killer), and the jobs had
/// nothing to do with them.
fn killed_by(signo: i32, spec: &RunSpec) -> String {
    use nix::sys::signal::Signal;
    let sig = Signal::try_from(signo).ok();
    let name = sig
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| format!("signal {signo}"));
    let crash = matches!(
        sig,
        Some(Signal::SIGABRT | Signal::SIGSEGV | Signal::SIGBUS | Signal::SIGILL | Signal::SIGFPE)
    );
    let shared = crate::strategy::find(&spec.strategy).filter(|i| !i.props.survives_crash);
    match (crash, shared) {
        (true, Some(info)) => format!(
            "the measured run was killed by {name}: every job of '{}' shares one process, so \
             one crashing job took all of them down (a process per job, -s fork, loses only \
             that job)",
            info.name
        ),
        (true, None) => format!("the measured run was killed by {name}"),
        (false, _) => format!(
            "the measured run was killed by {name} from outside (no job sends it: a kill, or \
             the kernel's OOM killer?); its report was lost"
        ),
    }
}

/// Child side: write the outcome atomically (a temp file, then a rename), so the harness never
/// reads half of one.
pub fn write_outcome(outcome: &Outcome, result: &Path) -> anyhow::Result<()> {
    let tmp = result.with_extension("tmp");
    crate::sys::private::write(&tmp, &serde_json::to_vec(outcome)?)?;
    std::fs::rename(&tmp, result)?;
    Ok(())
}

/// The child's outcome, read after it was reaped with wait status `status`. A child killed by a
/// signal, or one that exited non-zero, is an [`Error::RunFailed`] (it has said why on
/// stderr); one stopped by its own job-timeout watchdog left a partial outcome.
pub(super) fn read_outcome(path: &Path, status: i32, spec: &RunSpec) -> anyhow::Result<Outcome> {
    if libc::WIFSIGNALED(status) {
        return Err(Error::RunFailed {
            why: killed_by(libc::WTERMSIG(status), spec),
            code: 1,
        }
        .into());
    }
    let code = libc::WEXITSTATUS(status);
    if code == JOB_TIMEOUT_EXIT {
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
