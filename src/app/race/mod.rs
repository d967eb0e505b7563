//! `concur race`: the wallet race run many times, the interleaving that loses an update drawn
//! event by event, and every fix shown losing nothing.
//!
//! # Why many trials
//! One run that happens to end at 100 proves nothing: a race is intermittent. So a trial is the
//! talks' wallet (by default two jobs, +10 and -10, each read, pause, write) and `race` runs it
//! 200 times, counting the trials that lost an update and drawing where the balance ended.
//!
//! # Why in-process trials
//! `concur run` measures every run in a fresh child process. Race trials do not need measuring,
//! only counting, and a process per trial costs more than the trial: on a loaded 2-core machine
//! 1000 threads trials took 0.4-0.7 s in-process and 3.2-5.2 s through the harness (see
//! docs/README-race.md). Strategies whose workers share the race's memory (threads, pool, rayon,
//! actors, futures) therefore run each trial by calling the strategy's own `run` in this process,
//! the very code `concur run` measures. Only in-process trials can be traced (the events live in
//! memory this process can read), so the timeline and the forced schedules are in-process only.
//! Process strategies (fork, rpc) and server strategies (redis) run each trial through the harness
//! (`harness::measure`), as `run` would; `--harness` does that for every strategy.
//!
//! # Fixes come from the registry
//! Each strategy declares the `--sync` modes it has ([`StrategyInfo::syncs`]); `--fix` names them
//! (`mutex`, `redis-incr`, `rpc`, ...), so a strategy added to the registry brings its fixes into
//! the matrix without a line changed here.
//!
//! # The parts
//! `trial` runs one trial and a series of them, `fixes` resolves `--fix` and runs the matrix,
//! `render` draws the human report; this module checks the request, puts the [`Report`]
//! together and prints it.

mod fixes;
pub mod play;
mod render;
mod transfer;
mod trial;

pub use fixes::Row;
pub use play::PlayRequest;
pub use render::render;
pub use trial::{Bin, Timeline, TimelineEvent, Trial};

use crate::error::usage;
use crate::strategy::{RunSpec, StrategyInfo};
use crate::workload::trace;
use crate::workload::wallet::SyncMode;
use crate::workload::Workload;
use serde::Serialize;
use trial::{
    histogram, isolation_note, losing, lost, race_workers, run_series, trial_spec, Mode, Series,
};

/// `concur race`, as asked.
#[derive(Clone, Debug)]
pub struct RaceRequest {
    pub strategy: &'static StrategyInfo,
    /// Wallet (lost updates) or transfer (deadlock).
    pub workload: Workload,
    /// The raced `--sync` (default: the strategy's racy one); with `--play`, the scene.
    pub sync: Option<SyncMode>,
    /// Transfer: how many accounts.
    pub accounts: u64,
    /// `--play`: the learner is the scheduler.
    pub play: Option<PlayRequest>,
    pub trials: u64,
    /// Jobs per trial.
    pub items: u64,
    pub workers: Option<u64>,
    pub pause_us: u64,
    /// `--schedule STEPS`: one forced interleaving every trial.
    pub schedule: Option<String>,
    /// `--seed N`: a schedule per trial drawn from N.
    pub seed: Option<u64>,
    /// `--fix` tokens (empty token: every sync of the raced strategy).
    pub fix: Vec<String>,
    /// Every trial a measured child process.
    pub harness: bool,
    pub json: bool,
    /// `--story NAME`: another failure than the wallet's (see [`crate::app::story`]).
    pub story: Option<crate::app::story::StoryRequest>,
}

/// Limits for `race`.
pub const MAX_TRIALS: u64 = 100_000;
pub const MAX_RACE_ITEMS: u64 = 10_000;

/// The whole `race --json` object.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub strategy: String,
    pub sync: String,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub path: &'static str,
    pub trials: u64,
    pub items: u64,
    pub workers: usize,
    pub pause_us: u64,
    pub expected_balance: i64,
    pub losing_trials: u64,
    pub lost_updates: u64,
    /// Deterministic modes: trials whose loss differed from the schedule's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected_trials: Option<u64>,
    pub balances: Vec<Bin>,
    pub per_trial: Vec<Trial>,
    pub timeline: Option<Timeline>,
    pub file: String,
    pub fixes: Vec<Row>,
    pub notes: Vec<String>,
}

/// `concur race`.
pub fn race(args: &RaceRequest) -> anyhow::Result<()> {
    if let Some(story) = &args.story {
        return crate::app::story::run(story);
    }
    if let Some(play) = &args.play {
        return play::play(args, play);
    }
    if args.workload == Workload::Transfer {
        return transfer::race(args);
    }
    let info = args.strategy;
    let mode = Mode::of(args)?;
    let sync = args.sync.unwrap_or_else(|| info.racy_sync());
    let spec = trial_spec(args, info, sync, race_workers(args, info, true))?;
    let harness = args.harness || !info.in_process();
    let mut notes = forcing_notes(args, &spec, &mode, harness)?;
    let (fixes, fix_notes) = fixes::resolve(&args.fix, info)?;
    notes.extend(fix_notes);

    let series = run_series(info, &spec, harness, &mode, args.trials)?;
    if harness {
        notes.push(format!(
            "{} trials ran through the harness (a measured child process each): no timeline",
            info.name
        ));
    }
    if fixes.is_empty() {
        // With a matrix, the raced strategy's own notes are printed under its row.
        notes.extend(series.notes.iter().cloned());
    }
    if let Some(n) = isolation_note(info, spec.items, &series.trials) {
        notes.push(n);
    }
    let fixes = fixes::matrix(args, (&spec, harness, &series), fixes, &mut notes)?;

    // Judged now, reported after the report is printed.
    let verdict = verdict(&series);
    let report = Report::new(args, &mode, &spec, harness, series, fixes, notes);
    crate::app::json_copy(&report)?;
    let text = if args.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        render(&report)
    };
    print(&text)?;
    verdict
}

/// With `--schedule` or `--seed`: refuse what cannot be forced, and say when there is nothing to
/// force. A forced interleaving lives in this process's memory, and needs a worker per turn.
fn forcing_notes(
    args: &RaceRequest,
    spec: &RunSpec,
    mode: &Mode,
    harness: bool,
) -> anyhow::Result<Vec<String>> {
    let info = args.strategy;
    let sync = spec.sync;
    if matches!(mode, Mode::Random) {
        return Ok(Vec::new());
    }
    if harness {
        return usage(format!(
            "--schedule and --seed force an interleaving inside this process and work only for in-process strategies{}; '{}' runs {}",
            " (threads, pool, rayon, futures, actors)",
            info.name,
            if args.harness { "through the harness (drop --harness)" } else { "its jobs in other processes or a server" }
        ));
    }
    let need = match mode {
        Mode::Schedule(s) => s.workers,
        _ => 2,
    }
    .min(spec.items as usize);
    if sync == SyncMode::None && spec.workers < need {
        return usage(format!(
            "the schedule needs {need} workers running at once, and -s {} here has {} (a worker waiting for its turn holds its thread); use --workers {need} or more",
            info.name, spec.workers
        ));
    }
    if sync == SyncMode::None {
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "{} with --sync {} serialises its updates, so there is no interleaving to force and none is lost",
        info.name,
        sync.name()
    )])
}

/// Print a report (`concur race | head` closing the pipe early is not an error worth a panic).
pub(super) fn print(text: &str) -> anyhow::Result<()> {
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The raced series' failure, if any: a job that failed, or a trial that could not be forced.
fn verdict(series: &Series) -> anyhow::Result<()> {
    if let Some(first) = series.failures.first() {
        anyhow::bail!(
            "{} job(s) failed during the trials, first: {first}",
            series.failures.len(),
        );
    }
    let unforced = series
        .trials
        .iter()
        .filter(|t| t.forced == Some(false))
        .count();
    if unforced > 0 {
        anyhow::bail!(
            "{unforced} trial(s) could not be forced through the schedule (a worker waited {} s for its turn)",
            trace::TURN_TIMEOUT.as_secs()
        );
    }
    Ok(())
}

impl Report {
    /// The report of the raced series (moved in) and the fix matrix.
    fn new(
        args: &RaceRequest,
        mode: &Mode,
        spec: &RunSpec,
        harness: bool,
        series: Series,
        fixes: Vec<Row>,
        notes: Vec<String>,
    ) -> Report {
        let info = args.strategy;
        let unexpected = series
            .trials
            .iter()
            .filter(|t| t.expected_lost.is_some_and(|e| e != t.lost_updates))
            .count() as u64;
        Report {
            strategy: info.name.to_owned(),
            sync: spec.sync.name().to_owned(),
            mode: mode.name(),
            schedule: match mode {
                Mode::Schedule(s) => Some(s.text()),
                _ => None,
            },
            seed: args.seed.filter(|_| matches!(mode, Mode::Seed(_))),
            path: if harness { "harness" } else { "in-process" },
            trials: args.trials,
            items: spec.items,
            workers: spec.workers,
            pause_us: spec.knobs.pause_us,
            expected_balance: series.expected_balance,
            losing_trials: losing(&series.trials),
            lost_updates: lost(&series.trials),
            unexpected_trials: (!matches!(mode, Mode::Random)).then_some(unexpected),
            balances: histogram(&series.trials),
            per_trial: series.trials,
            timeline: series.timeline,
            file: info.wallet_source(spec.sync),
            fixes,
            notes,
        }
    }
}
