//! One trial of the wallet race, and a series of them: how each is run, and what it found.
//!
//! A trial runs in this process when the strategy's workers share its memory (the trace of its
//! reads and writes can then be read back, and a schedule forced on it), else as a measured child
//! through the harness, as `concur run` would run it. Either way it comes back as a [`Trial`]:
//! the final balance and the updates lost. A series is the same trial `--trials` times; it keeps
//! the first losing trial's [`Timeline`], because one drawn interleaving explains the race better
//! than any count.

use super::RaceRequest;
use crate::error::Error;
use crate::harness::{self, Stream};
use crate::request::RunRequest;
use crate::strategy::{Failure, Memory, RunSpec, StrategyInfo};
use crate::workload::trace::{self, Event, Op, Schedule, Trace};
use crate::workload::wallet::{SyncMode, START};
use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Distinct notes kept from a series' trials (a per-trial note could otherwise repeat 200 times).
const MAX_NOTES: usize = 3;

/// How the interleaving of a trial is chosen.
#[derive(Clone, Debug)]
pub(super) enum Mode {
    /// However the machine runs it: intermittent, like a real race.
    Random,
    /// The same forced schedule every trial.
    Schedule(Schedule),
    /// A schedule per trial drawn from the seed: reproducible, some losing, some not.
    Seed(u64),
}

impl Mode {
    /// `--schedule` wins over `--seed`; neither is the machine's own interleaving.
    pub(super) fn of(args: &RaceRequest) -> anyhow::Result<Mode> {
        Ok(match (&args.schedule, args.seed) {
            (Some(text), _) => Mode::Schedule(Schedule::parse(text).map_err(Error::Usage)?),
            (None, Some(seed)) => Mode::Seed(seed),
            (None, None) => Mode::Random,
        })
    }

    pub(super) fn schedule(&self, trial: u64) -> Option<Schedule> {
        match self {
            Mode::Random => None,
            Mode::Schedule(s) => Some(s.clone()),
            Mode::Seed(seed) => Some(Schedule::from_seed(seed.wrapping_add(trial), 2)),
        }
    }
    pub(super) fn name(&self) -> &'static str {
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

/// The spec of one trial, checked exactly as `concur run` checks a run.
pub(super) fn trial_spec(
    args: &RaceRequest,
    info: &'static StrategyInfo,
    sync: SyncMode,
    workers: Option<u64>,
) -> anyhow::Result<RunSpec> {
    let mut run = RunRequest::new(info, args.workload);
    run.sync = Some(sync);
    run.items = Some(args.items);
    run.knobs.pause_us = args.pause_us;
    run.knobs.accounts = args.accounts;
    run.workers = workers;
    run.resolve()
}

/// Workers for a trial of `info`: the user's `--workers` where the strategy has a worker count,
/// else its default but at least two, so that two workers can race (`fork` defaults to one
/// child at a time, like one Resque worker, and would never race).
/// For a strategy without a worker count the user's `--workers` is passed on for `run`'s
/// validation to refuse, except in fix rows (`main == false`), where it was meant for another row.
pub(super) fn race_workers(args: &RaceRequest, info: &StrategyInfo, main: bool) -> Option<u64> {
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
pub(super) struct Series {
    pub trials: Vec<Trial>,
    pub expected_balance: i64,
    pub timeline: Option<Timeline>,
    pub notes: Vec<String>,
    pub failures: Vec<Failure>,
}

pub(super) fn run_series(
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

pub(super) fn losing(trials: &[Trial]) -> u64 {
    trials.iter().filter(|t| t.lost_updates > 0).count() as u64
}

pub(super) fn lost(trials: &[Trial]) -> u64 {
    trials.iter().map(|t| t.lost_updates).sum()
}

pub(super) fn histogram(trials: &[Trial]) -> Vec<Bin> {
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for t in trials {
        *bins.entry(t.final_balance).or_default() += 1;
    }
    bins.into_iter()
        .map(|(balance, trials)| Bin { balance, trials })
        .collect()
}

/// For a process-per-job strategy whose every update vanished: what happened instead of a race.
pub(super) fn isolation_note(info: &StrategyInfo, items: u64, trials: &[Trial]) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy;

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
}
