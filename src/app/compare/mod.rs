//! `concur compare`: every strategy on the same jobs, side by side, measured the same way.
//!
//! Why a command of its own, when `concur run` already measures one strategy? Because one run is
//! an anecdote. Comparing strategies honestly takes what hyperfine does for commands: a warm-up
//! run, several measured runs, the median with its spread, and every run recorded so anyone can
//! check the summary. Each run is a fresh child measured from outside by the very harness
//! `run --json` uses ([`crate::harness`]); this module only plans the runs, keeps the rows and
//! summarises them. Turning the results into a table, charts and files is [`render`]'s job.
//!
//! A strategy that cannot run here is *skipped* with its reason; one whose run fails is shown
//! *failed* with its error. Neither stops the report: a presenter with no Redis still gets the
//! other strategies' picture.
//!
//! Hidden test hooks (documented in docs/README-compare.md, not in `--help`):
//! `CONCUR_TEST_FAIL=name,...` makes those strategies' measured children fail
//! ([`crate::harness::child::FAIL_ENV`]); `CONCUR_TEST_SKIP=name,...` treats those strategies as
//! unavailable here.
//!
//! The parts, in the order a comparison goes through them: [`plan`] resolves flags and preset
//! into what will run, `runner` runs it, [`results`] holds and summarises what it found,
//! [`floors`] prices each strategy's per-job overhead against `concur limits`, and [`render`]
//! draws the table and the charts and writes the files.

pub mod floors;
pub mod machine;
pub mod plan;
pub mod probe;
pub mod render;
pub mod results;
mod runner;

pub use plan::{
    Axis, CompareRequest, Plan, Preset, Sweep, DEFAULT_RUNS, MAX_SWEEP_POINTS, WARMUPS,
};
pub use results::{
    median_f, safety_score, Cell, PointResult, Ratio, Results, RunRow, Status, Summary,
};
pub use runner::SKIP_ENV;

use crate::error::Error;
use crate::sys::signals;
use crate::workload::Workload;
use machine::Machine;
use std::time::Instant;

/// `concur compare`.
pub fn compare(args: &CompareRequest) -> anyhow::Result<()> {
    let plan = Plan::from_request(args)?;
    let (mut points, specs) = runner::prepare(&plan)?;
    // Fail before measuring anything if the report cannot be written.
    std::fs::create_dir_all(&plan.out)
        .map_err(|e| Error::Usage(format!("cannot create --out {}: {e}", plan.out.display())))?;
    for note in &plan.notes {
        eprintln!("concur: note: {note}");
    }
    // Ctrl-C stops after the current run (the harness forwards it to the measured child), and
    // the report of what ran is still written; then exit 130.
    signals::catch()?;
    let started = Instant::now();
    let rows = runner::run_all(&plan, &mut points, specs);
    let safety = if plan.probe {
        eprintln!("concur: probing what each strategy survives (a crashing job, a hung job; --no-probe skips it)");
        probe::probe_all(&plan, |s| eprintln!("  {:<12} {}", s.strategy, s.marks()))
    } else {
        Vec::new()
    };
    let elapsed_s = started.elapsed().as_secs_f64();
    for point in &mut points {
        point.add_per_worker();
    }
    let ratios = points.iter().filter_map(Ratio::at).collect();
    let mut results = Results {
        plan,
        machine: Machine::here(),
        points,
        rows,
        ratios,
        elapsed_s,
        floors: Vec::new(),
        safety,
    };
    if results.plan.workload == Workload::Noop {
        match floors::measure_limits() {
            Ok(limits) => results.floors = floors::floors(&results, &limits),
            Err(e) => eprintln!("concur: warning: no floors: {e:#}"),
        }
    }
    print!("{}", render::table::render(&results));
    print!("{}", floors::render(&results.floors));
    print!("{}", render::chart::render(&results));
    render::write_report(&results)?;
    match signals::interrupted() {
        Some(sig) => Err(Error::Interrupted(sig).into()),
        None => Ok(()),
    }
}
