//! `concur __exec`: the measured child. It runs one strategy's jobs and writes the outcome to a
//! file for the harness; it never measures itself (the harness does, from outside).

use crate::spec::RunSpec;
use crate::strategy;
use anyhow::{anyhow, Context};
use std::path::Path;

/// Run the spec and write the outcome to `result`.
pub fn exec(spec_path: &Path, result: &Path) -> anyhow::Result<()> {
    die_with_harness();
    let spec_json = std::fs::read(spec_path).context("reading the run spec")?;
    let spec: RunSpec = serde_json::from_slice(&spec_json).context("parsing the run spec")?;
    let info = strategy::find(&spec.strategy)
        .ok_or_else(|| anyhow!("unknown strategy '{}'", spec.strategy))?;
    fail_on_request(&spec.strategy)?;
    let ballast = app_ballast(spec.app_mb);
    let baseline_rss = crate::measure::inflight::own_rss();
    let mut outcome = (info.run)(&spec)?;
    if spec.workload == crate::spec::Workload::Sleep {
        crate::measure::inflight::write(result, baseline_rss, outcome.workers, spec.items);
    }
    std::hint::black_box(&ballast);
    outcome.self_pss_bytes = crate::measure::proc::rss_pss(std::process::id() as i32)
        .map(|(_, pss)| pss)
        .unwrap_or(0);
    let tmp = result.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&outcome)?)?;
    std::fs::rename(&tmp, result)?;
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

/// `--app-mb`: allocate and touch `mb` MiB, standing in for a booted application. Every page is
/// written (not just allocated), so it is resident and, after a fork, shared copy-on-write.
pub fn app_ballast(mb: u64) -> Vec<u8> {
    let mut v = vec![0u8; (mb as usize) << 20];
    for page in v.chunks_mut(4096) {
        page[0] = 1;
    }
    v
}
