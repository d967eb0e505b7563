//! `concur race -w transfer`: the deadlock, run many times, one deadlocked trial drawn lock by
//! lock, and each fix put through the same order of lock attempts.
//!
//! A trial is the transfer workload in this process (threads, pool, rayon, actors or
//! sequential, called directly as `race` calls them for the wallet), with a
//! [`LockSchedule`] forced on it or not. Under the naive order a trial either finishes or
//! deadlocks; the lock manager finds the cycle and aborts it, so a deadlocked trial costs
//! [`DEADLOCK_AFTER`] and never hangs. Every trial's books are checked: the total must be
//! conserved in every one, deadlocked or not (an aborted transfer wrote nothing).

use super::trial::{race_workers, trial_spec};
use super::RaceRequest;
use crate::error::usage;
use crate::strategy::{RunSpec, StrategyInfo};
use crate::sys::table::Table;
use crate::workload::transfer::locks::DEADLOCK_AFTER;
use crate::workload::transfer::{
    self, Deadlock, LockEvent, LockOp, LockSchedule, Traced, TransferOutcome,
};
use crate::workload::wallet::SyncMode;
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write;

/// How a trial's lock attempts are ordered.
#[derive(Clone, Debug)]
enum Mode {
    Random,
    Schedule(LockSchedule),
    Seed(u64),
}

impl Mode {
    fn of(args: &RaceRequest) -> anyhow::Result<Mode> {
        Ok(match (&args.schedule, args.seed) {
            (Some(text), _) => {
                Mode::Schedule(LockSchedule::parse(text).map_err(crate::error::Error::Usage)?)
            }
            (None, Some(seed)) => Mode::Seed(seed),
            (None, None) => Mode::Random,
        })
    }

    fn schedule(&self, trial: u64, workers: usize) -> Option<LockSchedule> {
        match self {
            Mode::Random => None,
            Mode::Schedule(s) => Some(s.clone()),
            Mode::Seed(seed) => Some(LockSchedule::from_seed(seed.wrapping_add(trial), workers)),
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

/// One transfer trial.
#[derive(Clone, Debug, Serialize)]
pub struct TransferTrial {
    pub deadlocked: bool,
    /// Deterministic modes: what the schedule's model says, known before the trial ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_deadlock: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Deterministic modes: false if the schedule had to be abandoned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<bool>,
    pub transfers_done: u64,
    pub conserved: bool,
    /// Every account where the transfers put it (only a finished trial can be).
    pub balances_right: bool,
    pub backoffs: u64,
}

/// The first deadlocked trial: its cycle and its lock events.
#[derive(Clone, Debug, Serialize)]
pub struct Drawn {
    pub trial: u64,
    pub deadlock: Deadlock,
    pub events: Vec<LockEvent>,
}

/// One `--fix` row: a transfer mode over the same trials.
#[derive(Clone, Debug, Serialize)]
pub struct FixRow {
    pub strategy: String,
    pub sync: String,
    pub file: String,
    pub trials: u64,
    pub deadlocked_trials: u64,
    pub not_conserved_trials: u64,
    pub wrong_balance_trials: u64,
    pub backoffs: u64,
    pub forced: bool,
}

/// The whole `race -w transfer --json` object.
#[derive(Clone, Debug, Serialize)]
pub struct TransferReport {
    pub strategy: String,
    pub workload: &'static str,
    pub sync: String,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub trials: u64,
    pub items: u64,
    pub accounts: u64,
    pub workers: usize,
    pub pause_us: u64,
    pub deadlocked_trials: u64,
    pub not_conserved_trials: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected_trials: Option<u64>,
    pub per_trial: Vec<TransferTrial>,
    pub deadlock: Option<Drawn>,
    pub file: String,
    pub fixes: Vec<FixRow>,
    pub notes: Vec<String>,
}

/// A series of trials of one mode.
struct Series {
    trials: Vec<TransferTrial>,
    drawn: Option<Drawn>,
}

/// `concur race -w transfer`.
pub fn race(args: &RaceRequest) -> anyhow::Result<()> {
    let info = args.strategy;
    if args.harness || !info.in_process() {
        return usage(format!(
            "race -w transfer runs its trials in this process (threads, pool, rayon, actors, sequential); '{}' {}",
            info.name,
            if args.harness { "with --harness: drop --harness" } else { "runs its jobs elsewhere" }
        ));
    }
    let mode = Mode::of(args)?;
    let sync = args
        .sync
        .or_else(|| info.transfers.first().copied())
        .unwrap_or(SyncMode::LockPair);
    let spec = trial_spec(args, info, sync, race_workers(args, info, true))?;
    let mut notes = forcing_notes(args, &spec, &mode)?;
    let series = run_series(info, &spec, &mode, args.trials)?;
    let fixes = fixes(args, info, &spec, &mode, &mut notes)?;
    let report = report(args, &mode, &spec, series, fixes, notes);
    crate::app::json_copy(&report)?;
    let text = if args.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        render(&report)
    };
    super::print(&text)?;
    verdict(&report)
}

/// Refuse a schedule that cannot be forced; say when there is nothing to force.
fn forcing_notes(args: &RaceRequest, spec: &RunSpec, mode: &Mode) -> anyhow::Result<Vec<String>> {
    let need = match mode {
        Mode::Random => return Ok(Vec::new()),
        Mode::Schedule(s) => s.workers,
        Mode::Seed(_) => 2,
    }
    .min(spec.items as usize);
    if spec.sync == SyncMode::Actor {
        return Ok(vec![format!(
            "{} with --sync actor takes no locks (one actor owns every account): there is no lock order to force",
            args.strategy.name
        )]);
    }
    if spec.workers < need {
        return usage(format!(
            "the schedule needs {need} workers running at once, and -s {} here has {} (a worker waiting for its turn holds its thread); use --workers {need} or more",
            args.strategy.name, spec.workers
        ));
    }
    Ok(Vec::new())
}

/// `n` trials of `spec`, each forced through the mode's schedule (except under `actor`).
fn run_series(info: &StrategyInfo, spec: &RunSpec, mode: &Mode, n: u64) -> anyhow::Result<Series> {
    let workers = spec.workers.min(spec.items as usize).max(2);
    let forcing = !matches!(mode, Mode::Random) && spec.sync != SyncMode::Actor;
    let mut s = Series {
        trials: Vec::with_capacity(n as usize),
        drawn: None,
    };
    for i in 0..n {
        let schedule = if forcing {
            mode.schedule(i, workers)
        } else {
            None
        };
        let expected = match (&schedule, mode) {
            (Some(sc), _) => Some(sc.deadlocks(spec.sync, spec.knobs.accounts as usize)),
            (None, Mode::Random) => None,
            (None, _) => Some(false),
        };
        let text = matches!(mode, Mode::Seed(_))
            .then(|| schedule.as_ref().map(|s| s.text()))
            .flatten();
        let forced = schedule.is_some();
        let t = run_trial(info, spec, schedule)?;
        if s.drawn.is_none() {
            if let Some(d) = &t.deadlock {
                s.drawn = Some(Drawn {
                    trial: i + 1,
                    deadlock: d.clone(),
                    events: t.events.clone(),
                });
            }
        }
        s.trials.push(TransferTrial {
            deadlocked: t.deadlock.is_some(),
            expected_deadlock: expected,
            schedule: text,
            forced: forced.then_some(!t.schedule_broken),
            transfers_done: t.transfers_done,
            conserved: t.conserved(),
            balances_right: t.accounts == t.expected,
            backoffs: t.backoffs,
        });
    }
    Ok(s)
}

/// Removes the installed schedule however the trial ends.
struct Installed;
impl Drop for Installed {
    fn drop(&mut self) {
        transfer::install(None);
    }
}

/// One trial in this process, its books and lock events.
fn run_trial(
    info: &StrategyInfo,
    spec: &RunSpec,
    schedule: Option<LockSchedule>,
) -> anyhow::Result<TransferOutcome> {
    transfer::install(Some(Traced {
        schedule,
        record: true,
    }));
    let outcome = {
        let _guard = Installed;
        (info.run)(spec)?
    };
    outcome
        .transfer
        .context("the strategy reported no transfer outcome")
}

/// `--fix`: each transfer mode of the strategy (or the ones named), under the same mode.
fn fixes(
    args: &RaceRequest,
    info: &'static StrategyInfo,
    spec: &RunSpec,
    mode: &Mode,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<FixRow>> {
    let mut syncs: Vec<SyncMode> = Vec::new();
    for token in &args.fix {
        let token = token.trim().to_ascii_lowercase();
        let named: Vec<SyncMode> = match token.as_str() {
            "" | "all" => info.transfers.to_vec(),
            t => match info.transfers.iter().find(|s| s.name() == t) {
                Some(&s) => vec![s],
                None => {
                    let valid: Vec<_> = info.transfers.iter().map(|s| s.name()).collect();
                    return usage(format!(
                        "unknown transfer fix '{t}' for {}: give {}, or all",
                        info.name,
                        valid.join(", ")
                    ));
                }
            },
        };
        for s in named {
            if s != spec.sync && !syncs.contains(&s) {
                syncs.push(s);
            }
        }
    }
    let mut rows = Vec::new();
    for sync in syncs {
        let spec = RunSpec {
            sync,
            ..spec.clone()
        };
        if let Ok(mut extra) = forcing_notes(args, &spec, mode) {
            notes.append(&mut extra);
        }
        let series = run_series(info, &spec, mode, args.trials)?;
        rows.push(row(info, &spec, &series, mode));
    }
    Ok(rows)
}

fn row(info: &StrategyInfo, spec: &RunSpec, s: &Series, mode: &Mode) -> FixRow {
    let count =
        |f: &dyn Fn(&TransferTrial) -> bool| s.trials.iter().filter(|t| f(t)).count() as u64;
    FixRow {
        strategy: info.name.to_owned(),
        sync: spec.sync.name().to_owned(),
        file: transfer::implemented_in(spec.sync),
        trials: s.trials.len() as u64,
        deadlocked_trials: count(&|t| t.deadlocked),
        not_conserved_trials: count(&|t| !t.conserved),
        wrong_balance_trials: count(&|t| !t.deadlocked && !t.balances_right),
        backoffs: s.trials.iter().map(|t| t.backoffs).sum(),
        forced: !matches!(mode, Mode::Random) && spec.sync != SyncMode::Actor,
    }
}

fn report(
    args: &RaceRequest,
    mode: &Mode,
    spec: &RunSpec,
    series: Series,
    fixes: Vec<FixRow>,
    notes: Vec<String>,
) -> TransferReport {
    let count =
        |f: &dyn Fn(&TransferTrial) -> bool| series.trials.iter().filter(|t| f(t)).count() as u64;
    TransferReport {
        strategy: args.strategy.name.to_owned(),
        workload: "transfer",
        sync: spec.sync.name().to_owned(),
        mode: mode.name(),
        schedule: match mode {
            Mode::Schedule(s) => Some(s.text()),
            _ => None,
        },
        seed: match mode {
            Mode::Seed(s) => Some(*s),
            _ => None,
        },
        trials: args.trials,
        items: spec.items,
        accounts: spec.knobs.accounts,
        workers: spec.workers,
        pause_us: spec.knobs.pause_us,
        deadlocked_trials: count(&|t| t.deadlocked),
        not_conserved_trials: count(&|t| !t.conserved),
        unexpected_trials: (!matches!(mode, Mode::Random))
            .then(|| count(&|t| t.expected_deadlock.is_some_and(|e| e != t.deadlocked))),
        per_trial: series.trials,
        deadlock: series.drawn,
        file: transfer::implemented_in(spec.sync),
        fixes,
        notes,
    }
}

/// A trial whose money was not conserved, or a schedule that could not be forced, is concur's
/// failure, not a result.
fn verdict(r: &TransferReport) -> anyhow::Result<()> {
    let lost = r.not_conserved_trials + r.fixes.iter().map(|f| f.not_conserved_trials).sum::<u64>();
    if lost > 0 {
        anyhow::bail!("{lost} trial(s) did not conserve the total: the locks failed");
    }
    let unforced = r
        .per_trial
        .iter()
        .filter(|t| t.forced == Some(false))
        .count();
    if unforced > 0 {
        anyhow::bail!(
            "{unforced} trial(s) could not be forced through the lock schedule (a worker waited {} s for its turn)",
            transfer::locks::TURN_TIMEOUT.as_secs()
        );
    }
    Ok(())
}

/// The human report.
pub fn render(r: &TransferReport) -> String {
    let mut out = String::new();
    let how = match (r.mode, &r.schedule, r.seed) {
        ("schedule", Some(s), _) => format!("forced lock order {s}"),
        ("seed", _, Some(seed)) => format!("a lock order per trial drawn from seed {seed}"),
        _ => "random interleaving (however this machine runs it)".to_owned(),
    };
    let _ = writeln!(
        out,
        "concur race: {} · transfer · sync {} · {} trials of {} transfers between {} accounts · {} workers · pause {} µs · {how}",
        r.strategy, r.sync, r.trials, r.items, r.accounts, r.workers, r.pause_us
    );
    let _ = writeln!(
        out,
        "  trials that deadlocked:     {} of {}",
        r.deadlocked_trials, r.trials
    );
    let _ = writeln!(
        out,
        "  total conserved:            in {} of {} trials (an aborted transfer writes nothing)",
        r.trials - r.not_conserved_trials,
        r.trials
    );
    if let Some(bad) = r.unexpected_trials {
        let predicted = r
            .per_trial
            .iter()
            .filter(|t| t.expected_deadlock == Some(true))
            .count();
        let _ = writeln!(
            out,
            "  the schedules predicted:    {predicted} deadlocked; {bad} of {} trials differed",
            r.trials
        );
    }
    if r.mode == "seed" {
        for (i, t) in r.per_trial.iter().enumerate().take(12) {
            let _ = writeln!(
                out,
                "    trial {:>3}: {}  → {}",
                i + 1,
                t.schedule.as_deref().unwrap_or("-"),
                if t.deadlocked { "deadlock" } else { "done" }
            );
        }
    }
    match &r.deadlock {
        Some(d) => out.push_str(&drawing(d)),
        None => out.push_str("\n  no trial deadlocked, so there is no cycle to draw\n"),
    }
    if !r.fixes.is_empty() {
        out.push_str(&matrix(r));
    }
    for n in &r.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}

/// One deadlocked trial, a lane per worker, and its cycle in words.
fn drawing(d: &Drawn) -> String {
    let mut out = format!(
        "\nTrial {}, which deadlocked: one lane per worker, time flows down\n",
        d.trial
    );
    let lanes = d
        .events
        .iter()
        .map(|e| e.worker)
        .max()
        .unwrap_or(0)
        .clamp(1, 6);
    let header = std::iter::once("t (µs)".to_owned()).chain((1..=lanes).map(|w| format!("W{w}")));
    let mut table = Table::new(header).right(&[0]).indent(2);
    let t0 = d.events.first().map(|e| e.t_us).unwrap_or(0.0);
    for e in d
        .events
        .iter()
        .filter(|e| e.worker >= 1 && e.worker <= lanes)
        .take(24)
    {
        let acct = e.account.map(transfer::name).unwrap_or('?');
        let what = match e.op {
            LockOp::Lock => format!("lock {acct}"),
            LockOp::Wait => format!("wait for {acct}…"),
            LockOp::TryFailed => format!("try {acct}: taken, back off"),
            LockOp::Unlock => format!("unlock {acct}"),
            LockOp::Moved => "move 10".to_owned(),
            LockOp::Abort => "✗ aborted".to_owned(),
        };
        let mut cells = vec![String::new(); e.worker];
        cells[0] = format!("{:.1}", e.t_us - t0);
        cells.push(what);
        table.row(cells);
    }
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "  ✗ deadlock: {} (found after {} ms with no lock taken or released; every waiter aborted, nothing written)",
        d.deadlock,
        d.deadlock.detected_after_ms.max(DEADLOCK_AFTER.as_millis() as u64)
    );
    out
}

/// Mode × trials: deadlocks, totals, back-offs, and where each mode is implemented.
fn matrix(r: &TransferReport) -> String {
    let mut out = format!(
        "\nEach fix under the same {}: deadlocks over {} trials\n",
        if r.mode == "random" {
            "conditions"
        } else {
            "lock order"
        },
        r.trials
    );
    let mut table = Table::new([
        "strategy",
        "sync",
        "deadlocked",
        "total kept",
        "back-offs",
        "implemented in",
    ])
    .right(&[2, 3, 4])
    .nowrap(&[1])
    .indent(2);
    table.row([
        r.strategy.clone(),
        r.sync.clone(),
        format!("{}/{}", r.deadlocked_trials, r.trials),
        format!("{}/{}", r.trials - r.not_conserved_trials, r.trials),
        r.per_trial
            .iter()
            .map(|t| t.backoffs)
            .sum::<u64>()
            .to_string(),
        r.file.clone(),
    ]);
    for f in &r.fixes {
        let ok = if f.deadlocked_trials == 0 {
            " ✓"
        } else {
            " ✗"
        };
        table.row([
            f.strategy.clone(),
            f.sync.clone(),
            format!("{}/{}{ok}", f.deadlocked_trials, f.trials),
            format!("{}/{}", f.trials - f.not_conserved_trials, f.trials),
            f.backoffs.to_string(),
            f.file.clone(),
        ]);
    }
    out.push_str(&table.render());
    out
}
