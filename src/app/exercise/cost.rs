//! What a passing exercise costs: its benchmark (`exNN bench VARIANT`) measured from outside by
//! the harness, like every strategy's run (wall time, CPU, peak RSS of the process tree), the
//! learner's and the reference solution's alternately, median of a few runs each.

use crate::harness::command::{measure_command, CommandMeasurement};
use std::path::Path;
use std::time::Duration;

/// Runs of each benchmark (the median is reported).
pub const RUNS: usize = 3;
/// A benchmark still running after this is stopped.
const LIMIT: Duration = Duration::from_secs(60);

/// One side's medians.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
}

/// The learner's cost beside the reference's.
#[derive(Clone, Debug)]
pub struct Cost {
    /// What the benchmark does (`4 threads × 20,000 deposits`).
    pub work: String,
    pub yours: Side,
    pub reference: Side,
}

/// Measure `variant`'s benchmark and the solution's, alternately. `Err` with why when a
/// benchmark failed (it checks its own result: a bug the checks missed shows up here).
pub fn measure(
    bin: &Path,
    variant: &str,
    env: &[(String, String)],
) -> anyhow::Result<Result<Cost, String>> {
    let mut yours = Vec::new();
    let mut reference = Vec::new();
    let mut work = String::new();
    for _ in 0..RUNS {
        for (v, into) in [(variant, &mut yours), ("solution", &mut reference)] {
            let mut cmd = super::grade::command(bin, &["bench", v], env);
            cmd.stderr(std::process::Stdio::null());
            let m = measure_command(cmd, LIMIT)?;
            if let Err(why) = ok(&m, v) {
                return Ok(Err(why));
            }
            if let Some((w, _, _)) = super::grade::bench_line(&m.stdout) {
                work = w;
            }
            into.push(m);
        }
    }
    Ok(Ok(Cost {
        work,
        yours: median(&yours),
        reference: median(&reference),
    }))
}

fn ok(m: &CommandMeasurement, variant: &str) -> Result<(), String> {
    let who = if variant == "solution" {
        "the reference's"
    } else {
        "your"
    };
    if m.timed_out {
        return Err(format!(
            "{who} benchmark was still running after {} s",
            LIMIT.as_secs()
        ));
    }
    if !m.success() {
        return Err(format!(
            "{who} benchmark failed (wait status {}): it checks its own result, and found a bug the checks did not",
            m.status
        ));
    }
    Ok(())
}

fn median(runs: &[CommandMeasurement]) -> Side {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Side {
        wall_s: mid(runs.iter().map(|m| m.wall_s).collect()),
        cpu_s: mid(runs.iter().map(|m| m.cpu_user_s + m.cpu_sys_s).collect()),
        peak_rss_bytes: mid(runs.iter().map(|m| m.peak_rss_bytes as f64).collect()) as u64,
    }
}
