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

use crate::error::{usage, Error};
use crate::harness::{self, Stream};
use crate::request::RunRequest;
use crate::strategy::{self, Failure, Memory, RunSpec, StrategyInfo};
use crate::workload::trace::{self, Event, Op, Schedule, Trace};
use crate::workload::wallet::{SyncMode, START};
use crate::workload::Workload;
use anyhow::Context;
use clap::ValueEnum;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

/// How the interleaving of a trial is chosen.
#[derive(Clone, Debug)]
enum Mode {
    /// However the machine runs it: intermittent, like a real race.
    Random,
    /// The same forced schedule every trial.
    Schedule(Schedule),
    /// A schedule per trial drawn from the seed: reproducible, some losing, some not.
    Seed(u64),
}

impl Mode {
    fn schedule(&self, trial: u64) -> Option<Schedule> {
        match self {
            Mode::Random => None,
            Mode::Schedule(s) => Some(s.clone()),
            Mode::Seed(seed) => Some(Schedule::from_seed(seed.wrapping_add(trial), 2)),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Mode::Random => "random",
            Mode::Schedule(_) => "schedule",
            Mode::Seed(_) => "seed",
        }
    }
}

/// One trial's result.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub final_balance: i64,
    pub lost_updates: u64,
    /// Deterministic modes: what the schedule loses, known before the trial ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_lost: Option<u64>,
    /// Seed mode: the schedule this trial was forced through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Deterministic modes: false if a worker waited too long for its turn and the schedule was
    /// abandoned for this trial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<bool>,
}

/// How often each final balance came up.
#[derive(Clone, Debug, Serialize)]
pub struct Bin {
    pub balance: i64,
    pub trials: u64,
}

/// One event of the timeline, with its worker's lane and whether the update it wrote was lost.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEvent {
    pub t_us: f64,
    /// 1-based lane: W1, W2, ... in order of first appearance.
    pub worker: usize,
    pub op: Op,
    pub balance: i64,
    pub version: u32,
    pub based_on: u32,
    /// A write whose update did not survive: a later write was computed from an older read.
    pub lost: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// 1-based trial number.
    pub trial: u64,
    pub lost_updates: u64,
    pub events: Vec<TimelineEvent>,
    /// Events that did not fit the preallocated log (0 unless something is badly wrong).
    pub dropped: usize,
}

/// One row of the fix matrix: a strategy with one `--sync` mode, over all trials.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub strategy: String,
    pub sync: String,
    /// Where the update (racy or fixed) is implemented.
    pub file: String,
    /// "in-process" or "harness" (a measured child process per trial).
    pub path: &'static str,
    pub trials: u64,
    pub losing_trials: u64,
    pub lost_updates: u64,
    pub wrong_balance_trials: u64,
    pub notes: Vec<String>,
}

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

/// The path part of [`StrategyInfo::wallet_source`].
#[cfg(test)]
fn file_path(described: &str) -> &str {
    described.split(' ').next().unwrap_or(described)
}

/// A strategy with one of its sync modes: one row of the fix matrix.
type Pair = (&'static StrategyInfo, SyncMode);

/// `--fix` tokens resolved to (strategy, sync) rows, plus notes on what was skipped.
fn resolve_fixes(
    tokens: &[String],
    main: &'static StrategyInfo,
) -> anyhow::Result<(Vec<Pair>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let push = |rows: &mut Vec<Pair>, row: Pair| {
        if !rows
            .iter()
            .any(|(i, s)| i.name == row.0.name && *s == row.1)
        {
            rows.push(row);
        }
    };
    for raw in tokens {
        let token = raw.trim().to_ascii_lowercase();
        if token.is_empty() {
            for &s in main.syncs {
                push(&mut rows, (main, s));
            }
            continue;
        }
        if token == "all" {
            for &info in strategy::STRATEGIES {
                for &s in info.syncs {
                    push(&mut rows, (info, s));
                }
            }
            continue;
        }
        // A sync mode alone applies to the strategy being raced.
        if let Ok(sync) = SyncMode::from_str(&token, true) {
            if main.syncs.contains(&sync) {
                push(&mut rows, (main, sync));
            } else {
                let owners: Vec<String> = strategy::STRATEGIES
                    .iter()
                    .filter(|i| i.syncs.contains(&sync))
                    .map(|i| format!("{}-{}", i.name, sync.name()))
                    .collect();
                notes.push(format!(
                    "skipped fix '{token}': {} does not do --sync {}{}",
                    main.name,
                    sync.name(),
                    if owners.is_empty() {
                        String::new()
                    } else {
                        format!(" (try {})", owners.join(", "))
                    }
                ));
            }
            continue;
        }
        // A strategy alone: its default mode (`rpc`: the server's exact adjust).
        if let Some(info) = strategy::find(&token) {
            push(&mut rows, (info, info.syncs[0]));
            continue;
        }
        // STRATEGY-SYNC, e.g. redis-incr, fork-shared-atomic.
        let pair = strategy::STRATEGIES.iter().find_map(|&info| {
            let rest = token.strip_prefix(info.name)?.strip_prefix('-')?;
            let sync = SyncMode::from_str(rest, true).ok()?;
            Some((info, sync))
        });
        match pair {
            Some((info, sync)) if info.syncs.contains(&sync) => push(&mut rows, (info, sync)),
            Some((info, sync)) => notes.push(format!(
                "skipped fix '{token}': {} does not do --sync {}",
                info.name,
                sync.name()
            )),
            None => {
                let syncs: Vec<_> = SyncMode::value_variants()
                    .iter()
                    .map(|s| s.name())
                    .collect();
                return usage(format!(
                    "unknown fix '{raw}': give a sync ({}), a strategy ({}), STRATEGY-SYNC (e.g. threads-mutex), or all",
                    syncs.join(", "),
                    strategy::names()
                ));
            }
        }
    }
    Ok((rows, notes))
}

/// The spec of one trial, checked exactly as `concur run` checks a run.
fn trial_spec(
    args: &RaceRequest,
    info: &'static StrategyInfo,
    sync: SyncMode,
    workers: Option<u64>,
) -> anyhow::Result<RunSpec> {
    let mut run = RunRequest::new(info, Workload::Wallet);
    run.sync = Some(sync);
    run.items = Some(args.items);
    run.knobs.pause_us = args.pause_us;
    run.workers = workers;
    run.resolve()
}

/// Workers for a trial of `info`: the user's `--workers` where the strategy has a worker count,
/// else its default but at least two, so that two workers can race (`fork` defaults to one
/// child at a time, like one Resque worker, and would never race).
/// For a strategy without a worker count the user's `--workers` is passed on for `run`'s
/// validation to refuse, except in fix rows (`main == false`), where it was meant for another row.
fn race_workers(args: &RaceRequest, info: &StrategyInfo, main: bool) -> Option<u64> {
    match info.workers.default_count() {
        Some(default) => Some(args.workers.unwrap_or((default as u64).max(2))),
        None if main => args.workers,
        None => None,
    }
}

/// Removes the installed trace however the trial ends.
struct Installed;
impl Drop for Installed {
    fn drop(&mut self) {
        trace::install(None);
    }
}

/// What one trial found, and its trace if it ran in-process.
struct Ran {
    final_balance: i64,
    lost_updates: u64,
    expected_balance: i64,
    failures: Vec<Failure>,
    notes: Vec<String>,
    trace: Option<Arc<Trace>>,
}

fn run_trial(
    info: &StrategyInfo,
    spec: &RunSpec,
    harness: bool,
    schedule: Option<Schedule>,
) -> anyhow::Result<Ran> {
    if harness {
        let m = harness::measure(spec, Stream::Discard)?;
        return Ok(Ran {
            final_balance: m.final_balance.context("the child reported no wallet")?,
            lost_updates: m.lost_updates.unwrap_or(0),
            expected_balance: m.expected_balance.unwrap_or(START),
            failures: m.failures,
            notes: m.notes,
            trace: None,
        });
    }
    let capacity = 2 * spec.items as usize + 16;
    let t = Arc::new(Trace::new(capacity, schedule.map(|s| (s, spec.items))));
    trace::install(Some(Arc::clone(&t)));
    let outcome = {
        let _guard = Installed;
        (info.run)(spec)?
    };
    let w = outcome
        .wallet
        .context("the strategy reported no wallet outcome")?;
    Ok(Ran {
        final_balance: w.final_balance,
        lost_updates: w.lost_updates,
        expected_balance: w.expected_balance,
        failures: outcome.failures,
        notes: outcome.notes,
        trace: Some(t),
    })
}

/// Lanes, lost writes and relative times for one trial's events.
fn timeline(trial: u64, lost_updates: u64, t: &Trace) -> Timeline {
    let events = t.events();
    let mut lanes: HashMap<u64, usize> = HashMap::new();
    for e in &events {
        let n = lanes.len() + 1;
        lanes.entry(e.lane).or_insert(n);
    }
    // The surviving chain: from the final version back through what each write was based on.
    let based_on: HashMap<u32, u32> = events
        .iter()
        .filter(|e| e.op != Op::Read)
        .map(|e| (e.version, e.based_on))
        .collect();
    let last = t.last().map(|(_, v)| v).or_else(|| {
        events
            .iter()
            .rev()
            .find(|e| e.op != Op::Read)
            .map(|e| e.version)
    });
    let mut survived = HashSet::new();
    let mut v = last.unwrap_or(0);
    while v != 0 && survived.insert(v) {
        v = based_on.get(&v).copied().unwrap_or(0);
    }
    let t0 = events.first().map(|e| e.t_ns).unwrap_or(0);
    Timeline {
        trial,
        lost_updates,
        events: events
            .iter()
            .map(|e: &Event| TimelineEvent {
                t_us: (e.t_ns - t0) as f64 / 1e3,
                worker: lanes[&e.lane],
                op: e.op,
                balance: e.balance,
                version: e.version,
                based_on: e.based_on,
                lost: e.op != Op::Read && !survived.contains(&e.version),
            })
            .collect(),
        dropped: t.dropped(),
    }
}

/// Trials of one (strategy, sync), summarised.
struct Series {
    trials: Vec<Trial>,
    expected_balance: i64,
    timeline: Option<Timeline>,
    notes: Vec<String>,
    failures: Vec<Failure>,
}

fn run_series(
    info: &StrategyInfo,
    spec: &RunSpec,
    harness: bool,
    mode: &Mode,
    n: u64,
) -> anyhow::Result<Series> {
    let mut s = Series {
        trials: Vec::with_capacity(n as usize),
        expected_balance: START,
        timeline: None,
        notes: Vec::new(),
        failures: Vec::new(),
    };
    // A schedule is forced on the racy mode only: a lock or an actor would never give the next
    // worker its turn, and that refusal is the fix.
    let forcing = !matches!(mode, Mode::Random) && spec.sync == SyncMode::None;
    for i in 0..n {
        let schedule = if forcing { mode.schedule(i) } else { None };
        let expected_lost = match (&schedule, mode) {
            (Some(sc), _) => Some(sc.expected_lost(spec.items)),
            (None, Mode::Random) => None,
            (None, _) => Some(0),
        };
        let text = match mode {
            Mode::Seed(_) => schedule.as_ref().map(|s| s.text()),
            _ => None,
        };
        let ran = run_trial(info, spec, harness, schedule.clone())?;
        let forced = schedule.as_ref().map(|_| {
            ran.trace
                .as_ref()
                .and_then(|t| t.gate().map(|g| !g.broken()))
                .unwrap_or(false)
        });
        s.expected_balance = ran.expected_balance;
        for note in ran.notes {
            if s.notes.len() < MAX_NOTES && !s.notes.contains(&note) {
                s.notes.push(note);
            }
        }
        s.failures.extend(ran.failures);
        if s.timeline.is_none() && ran.lost_updates > 0 {
            if let Some(t) = &ran.trace {
                s.timeline = Some(timeline(i + 1, ran.lost_updates, t));
            }
        }
        s.trials.push(Trial {
            final_balance: ran.final_balance,
            lost_updates: ran.lost_updates,
            expected_lost,
            schedule: text,
            forced,
        });
    }
    Ok(s)
}

fn losing(trials: &[Trial]) -> u64 {
    trials.iter().filter(|t| t.lost_updates > 0).count() as u64
}

fn lost(trials: &[Trial]) -> u64 {
    trials.iter().map(|t| t.lost_updates).sum()
}

fn histogram(trials: &[Trial]) -> Vec<Bin> {
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for t in trials {
        *bins.entry(t.final_balance).or_default() += 1;
    }
    bins.into_iter()
        .map(|(balance, trials)| Bin { balance, trials })
        .collect()
}

/// For a process-per-job strategy whose every update vanished: what happened instead of a race.
fn isolation_note(info: &StrategyInfo, items: u64, trials: &[Trial]) -> Option<String> {
    let all_gone = !trials.is_empty()
        && trials
            .iter()
            .all(|t| t.lost_updates == items && t.final_balance == START);
    (info.props.memory == Memory::Isolated && all_gone).then(|| {
        let others: Vec<_> = info
            .syncs
            .iter()
            .filter(|s| **s != SyncMode::None)
            .map(|s| s.name())
            .collect();
        format!(
            "{0}: the opposite failure. No update was lost to a race: none reached the parent at all. \
Each job changed its own copy of the wallet in its own process and exited; the parent's balance \
never moved from {START}{1}. Isolation protects jobs from each other and also from sharing \
anything: a process per job needs memory it explicitly shares or a server to own the state{2}.",
            info.name,
            if START + crate::workload::wallet::delta_sum(items) == START {
                " (which happens to be the expected balance: right by accident)"
            } else {
                ""
            },
            if others.is_empty() {
                String::new()
            } else {
                format!(" (its other --sync modes: {})", others.join(", "))
            }
        )
    })
}

/// `concur race`, as asked.
#[derive(Clone, Debug)]
pub struct RaceRequest {
    pub strategy: &'static StrategyInfo,
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

/// `concur race`.
pub fn race(args: &RaceRequest) -> anyhow::Result<()> {
    if let Some(story) = &args.story {
        return crate::app::story::run(story);
    }
    let info = args.strategy;
    let mode = match (&args.schedule, args.seed) {
        (Some(text), _) => Mode::Schedule(Schedule::parse(text).map_err(Error::Usage)?),
        (None, Some(seed)) => Mode::Seed(seed),
        (None, None) => Mode::Random,
    };
    let sync = info.racy_sync();
    let spec = trial_spec(args, info, sync, race_workers(args, info, true))?;
    let harness = args.harness || !info.in_process();
    let mut notes = Vec::new();
    if !matches!(mode, Mode::Random) {
        if harness {
            return usage(format!(
                "--schedule and --seed force an interleaving inside this process and work only for in-process strategies{}; '{}' runs {}",
                " (threads, pool, rayon, futures, actors)",
                info.name,
                if args.harness { "through the harness (drop --harness)" } else { "its jobs in other processes or a server" }
            ));
        }
        let need = match &mode {
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
        if sync != SyncMode::None {
            notes.push(format!(
                "{} has no racy mode (its wallet is --sync {}): updates are serialised, so there is no interleaving to force and none is lost",
                info.name,
                sync.name()
            ));
        }
    }
    let (fix_rows, fix_notes) = resolve_fixes(&args.fix, info)?;
    notes.extend(fix_notes);

    let series = run_series(info, &spec, harness, &mode, args.trials)?;
    if harness {
        notes.push(format!(
            "{} trials ran through the harness (a measured child process each): no timeline",
            info.name
        ));
    }
    if fix_rows.is_empty() {
        // With a matrix, the raced strategy's own notes are printed under its row.
        notes.extend(series.notes.iter().cloned());
    }
    if let Some(n) = isolation_note(info, spec.items, &series.trials) {
        notes.push(n);
    }

    let main_row = make_row(info, &spec, harness, &series);
    let mut fixes = Vec::new();
    if !fix_rows.is_empty() {
        fixes.push(main_row);
        for (finfo, fsync) in fix_rows {
            if finfo.name == info.name && fsync == sync {
                continue;
            }
            if let Some(why) = (finfo.unavailable)() {
                notes.push(format!(
                    "skipped {}-{}: {} cannot run here: {why}",
                    finfo.name,
                    fsync.name(),
                    finfo.name
                ));
                continue;
            }
            let fspec = trial_spec(args, finfo, fsync, race_workers(args, finfo, false))?;
            let fharness = args.harness || !finfo.in_process();
            let fs = run_series(finfo, &fspec, fharness, &Mode::Random, args.trials)?;
            let mut row = make_row(finfo, &fspec, fharness, &fs);
            if let Some(n) = isolation_note(finfo, fspec.items, &fs.trials) {
                row.notes.push(n);
            }
            fixes.push(row);
        }
    }

    let unexpected = series
        .trials
        .iter()
        .filter(|t| t.expected_lost.is_some_and(|e| e != t.lost_updates))
        .count() as u64;
    let unforced = series
        .trials
        .iter()
        .filter(|t| t.forced == Some(false))
        .count();
    let report = Report {
        strategy: info.name.to_owned(),
        sync: sync.name().to_owned(),
        mode: mode.name(),
        schedule: match &mode {
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
        file: info.wallet_source(sync),
        fixes,
        notes,
    };
    let text = if args.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        render(&report)
    };
    // `concur race | head` closing the pipe early is not an error worth a panic.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if !series.failures.is_empty() {
        anyhow::bail!(
            "{} job(s) failed during the trials, first: {}",
            series.failures.len(),
            series.failures[0]
        );
    }
    if unforced > 0 {
        anyhow::bail!(
            "{unforced} trial(s) could not be forced through the schedule (a worker waited {} s for its turn)",
            trace::TURN_TIMEOUT.as_secs()
        );
    }
    Ok(())
}

fn make_row(info: &StrategyInfo, spec: &RunSpec, harness: bool, s: &Series) -> Row {
    Row {
        strategy: info.name.to_owned(),
        sync: spec.sync.name().to_owned(),
        file: info.wallet_source(spec.sync),
        path: if harness { "harness" } else { "in-process" },
        trials: s.trials.len() as u64,
        losing_trials: losing(&s.trials),
        lost_updates: lost(&s.trials),
        wrong_balance_trials: s
            .trials
            .iter()
            .filter(|t| t.final_balance != s.expected_balance)
            .count() as u64,
        notes: s.notes.clone(),
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

/// The human report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let how = match r.mode {
        "random" => "random interleaving (however this machine runs it)".to_owned(),
        "schedule" => format!(
            "forced schedule {}",
            r.schedule.as_deref().unwrap_or_default()
        ),
        _ => format!(
            "a schedule per trial drawn from seed {}",
            r.seed.unwrap_or_default()
        ),
    };
    let _ = writeln!(
        out,
        "concur race: {} · sync {} · {} trials of {} jobs (+10/-10 on a balance of {START}) · {} worker{} · pause {} µs · {how}",
        r.strategy,
        r.sync,
        r.trials,
        r.items,
        r.workers,
        if r.workers == 1 { "" } else { "s" },
        r.pause_us
    );
    let _ = writeln!(
        out,
        "  trials that lost an update: {} of {} ({})",
        r.losing_trials,
        r.trials,
        percent(r.losing_trials, r.trials)
    );
    let _ = writeln!(
        out,
        "  updates lost in total:      {} of {}",
        r.lost_updates,
        r.trials * r.items
    );
    if let Some(bad) = r.unexpected_trials {
        let expected: u64 = r.per_trial.iter().filter_map(|t| t.expected_lost).sum();
        let _ = writeln!(
            out,
            "  the schedules predicted:    {expected} lost; {} of {} trials differed",
            bad, r.trials
        );
    }
    if r.mode == "seed" {
        let _ = writeln!(out, "  each trial's schedule, and what it lost:");
        for (i, t) in r.per_trial.iter().enumerate().take(MAX_SEED_LINES) {
            let _ = writeln!(
                out,
                "    trial {:>3}: {}  → lost {} (predicted {})",
                i + 1,
                t.schedule.as_deref().unwrap_or("-"),
                t.lost_updates,
                t.expected_lost.unwrap_or(0)
            );
        }
        if r.per_trial.len() > MAX_SEED_LINES {
            let _ = writeln!(out, "    ... (every trial is in --json)");
        }
    }
    let _ = writeln!(out, "  final balance (expected {}):", r.expected_balance);
    let max = r
        .balances
        .iter()
        .map(|b| b.trials)
        .max()
        .unwrap_or(1)
        .max(1);
    for b in &r.balances {
        let width = ((b.trials as f64 / max as f64) * 40.0).round() as usize;
        let _ = writeln!(
            out,
            "    {:>6} │{:<40} {}{}",
            b.balance,
            "█".repeat(width.max(usize::from(b.trials > 0))),
            b.trials,
            if b.balance == r.expected_balance {
                "  ✓"
            } else {
                ""
            }
        );
    }
    if let Some(t) = &r.timeline {
        out.push('\n');
        out.push_str(&render_timeline(t));
    } else if r.path == "in-process" && r.losing_trials == 0 {
        let _ = writeln!(
            out,
            "\n  no trial lost an update, so there is no losing interleaving to draw"
        );
    }
    if !r.fixes.is_empty() {
        out.push('\n');
        out.push_str(&render_matrix(r));
    }
    for n in &r.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}

const LANE_WIDTH: usize = 22;
/// Distinct notes kept from a series' trials (a per-trial note could otherwise repeat 200 times).
const MAX_NOTES: usize = 3;
const MAX_SEED_LINES: usize = 12;
const MAX_LANES: usize = 6;
const MAX_EVENTS: usize = 24;

fn render_timeline(t: &Timeline) -> String {
    let mut out = String::new();
    let lanes = t.events.iter().map(|e| e.worker).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "Trial {}, which lost {} update{}: one lane per worker, time flows down",
        t.trial,
        t.lost_updates,
        if t.lost_updates == 1 { "" } else { "s" }
    );
    let mut head = format!("  {:>9}  ", "t (µs)");
    for w in 1..=lanes.min(MAX_LANES) {
        head.push_str(&format!("{:<LANE_WIDTH$}", format!("W{w}")));
    }
    let _ = writeln!(out, "{}", head.trim_end());
    let shown: Vec<_> = t
        .events
        .iter()
        .filter(|e| e.worker <= MAX_LANES)
        .take(MAX_EVENTS)
        .collect();
    for e in &shown {
        let what = match e.op {
            Op::Read => format!("read {} (v{})", e.balance, e.version),
            Op::Write => format!("write {} (v{})", e.balance, e.version),
            Op::Add => format!("add → {} (v{})", e.balance, e.version),
        };
        let what = if e.lost {
            format!("{what} ✗ LOST")
        } else {
            what
        };
        let pad = " ".repeat(LANE_WIDTH * (e.worker - 1));
        let _ = writeln!(out, "  {:>9.1}  {pad}{what}", e.t_us);
    }
    if shown.len() < t.events.len() {
        let _ = writeln!(
            out,
            "  ... {} more events (all of them are in --json)",
            t.events.len() - shown.len()
        );
    }
    // Explain the first lost write: who overwrote it, from which stale read.
    if let Some((i, lost)) = t.events.iter().enumerate().find(|(_, e)| e.lost) {
        if let Some(over) = t.events[i + 1..].iter().find(|e| e.op != Op::Read) {
            let _ = writeln!(
                out,
                "  ✗ W{} wrote {} (v{}), then W{} wrote {} computed from v{}, a read taken before W{}'s write: W{}'s update is gone.",
                lost.worker, lost.balance, lost.version, over.worker, over.balance, over.based_on,
                lost.worker, lost.worker
            );
        }
    }
    if t.dropped > 0 {
        let _ = writeln!(out, "  ({} events did not fit the log)", t.dropped);
    }
    out
}

fn render_matrix(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Strategy × fix: lost updates over {} trials of {} jobs each",
        r.trials, r.items
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<14} {:>12} {:>13}  {:<11} implemented in",
        "strategy", "sync", "lost trials", "lost updates", "path"
    );
    for row in &r.fixes {
        let ok = if row.lost_updates == 0 && row.wrong_balance_trials == 0 {
            "✓"
        } else {
            "✗"
        };
        let _ = writeln!(
            out,
            "  {:<10} {:<14} {:>12} {:>11} {ok}  {:<11} {}",
            row.strategy,
            row.sync,
            format!("{}/{}", row.losing_trials, row.trials),
            row.lost_updates,
            row.path,
            row.file
        );
        for n in &row.notes {
            let _ = writeln!(out, "      {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_and_sync_names_a_file_that_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for info in strategy::STRATEGIES {
            for &sync in info.syncs {
                let described = info.wallet_source(sync);
                let path = file_path(&described);
                assert!(
                    root.join(path).exists(),
                    "{}-{}: {path} does not exist; teach race::implemented_in where it lives",
                    info.name,
                    sync.name()
                );
            }
        }
    }

    fn trial(final_balance: i64, lost_updates: u64) -> Trial {
        Trial {
            final_balance,
            lost_updates,
            expected_lost: None,
            schedule: None,
            forced: None,
        }
    }

    #[test]
    fn an_isolated_strategy_that_kept_nothing_is_explained_as_isolation() {
        let isolated = StrategyInfo {
            name: "fork",
            props: crate::strategy::Props {
                memory: Memory::Isolated,
                ..crate::strategy::THREADED
            },
            ..crate::strategy::threads::INFO
        };
        let note = isolation_note(&isolated, 2, &[trial(100, 2), trial(100, 2)]).unwrap();
        assert!(note.contains("none reached the parent"), "{note}");
        assert!(note.contains("right by accident"), "{note}");
        assert!(note.contains("mutex, atomic, actor"), "{note}");
        // A race (some updates survived) is not isolation, and threads are never isolated.
        assert!(isolation_note(&isolated, 2, &[trial(100, 2), trial(90, 1)]).is_none());
        let threads = strategy::find("threads").unwrap();
        assert!(isolation_note(threads, 2, &[trial(100, 2)]).is_none());
    }

    #[test]
    fn fixes_resolve_by_sync_strategy_or_pair() {
        let threads = strategy::find("threads").unwrap();
        let (rows, notes) = resolve_fixes(
            &["mutex".into(), "threads-atomic".into(), "actors".into()],
            threads,
        )
        .unwrap();
        let got: Vec<_> = rows.iter().map(|(i, s)| (i.name, *s)).collect();
        assert_eq!(
            got,
            [
                ("threads", SyncMode::Mutex),
                ("threads", SyncMode::Atomic),
                ("actors", SyncMode::Actor)
            ]
        );
        assert!(notes.is_empty());
        let actors = strategy::find("actors").unwrap();
        let (rows, notes) = resolve_fixes(&["mutex".into()], actors).unwrap();
        assert!(rows.is_empty());
        assert!(notes[0].contains("threads-mutex"), "{notes:?}");
        assert!(resolve_fixes(&["bogus".into()], threads).is_err());
    }
}
