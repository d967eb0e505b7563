//! The fix matrix: the raced strategy beside each `--fix`, every one losing nothing.
//!
//! Why a matrix: the race is half the lesson; the other half is that each fix (a mutex, an atomic
//! add, an actor, Redis's INCRBY, a server that owns the wallet) makes the same trials lose
//! nothing, and that a process per job "fixes" it by sharing nothing at all. The fixes come from
//! the registry: each strategy declares its `--sync` modes ([`StrategyInfo::syncs`]), and `--fix`
//! names them, so a strategy added there joins the matrix without a line changed here.

use super::trial::{
    isolation_note, losing, lost, race_workers, run_series, trial_spec, Mode, Series,
};
use super::RaceRequest;
use crate::error::usage;
use crate::strategy::{self, RunSpec, StrategyInfo};
use crate::workload::wallet::SyncMode;
use clap::ValueEnum;
use serde::Serialize;

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

/// A strategy with one of its sync modes: one row of the fix matrix.
pub(super) type Pair = (&'static StrategyInfo, SyncMode);

/// What one `--fix` token asks for: rows, or a note on why it adds none.
enum Fix {
    Rows(Vec<Pair>),
    Skipped(String),
}

/// `--fix` tokens resolved to (strategy, sync) rows, each once, plus notes on what was skipped.
pub(super) fn resolve(
    tokens: &[String],
    main: &'static StrategyInfo,
) -> anyhow::Result<(Vec<Pair>, Vec<String>)> {
    let mut rows: Vec<Pair> = Vec::new();
    let mut notes = Vec::new();
    for raw in tokens {
        match fix(raw, main)? {
            Fix::Rows(pairs) => {
                for (info, sync) in pairs {
                    if !rows.iter().any(|(i, s)| i.name == info.name && *s == sync) {
                        rows.push((info, sync));
                    }
                }
            }
            Fix::Skipped(note) => notes.push(note),
        }
    }
    Ok((rows, notes))
}

/// One token: empty (every sync of the raced strategy), `all`, a sync mode, a strategy, or
/// STRATEGY-SYNC.
fn fix(raw: &str, main: &'static StrategyInfo) -> anyhow::Result<Fix> {
    let token = raw.trim().to_ascii_lowercase();
    if token.is_empty() {
        return Ok(Fix::Rows(main.syncs.iter().map(|&s| (main, s)).collect()));
    }
    if token == "all" {
        let every = strategy::STRATEGIES
            .iter()
            .flat_map(|&info| info.syncs.iter().map(move |&s| (info, s)));
        return Ok(Fix::Rows(every.collect()));
    }
    if let Ok(sync) = SyncMode::from_str(&token, true) {
        return Ok(sync_alone(&token, sync, main));
    }
    // A strategy alone: its default mode (`rpc`: the server's exact adjust).
    if let Some(info) = strategy::find(&token) {
        return Ok(Fix::Rows(vec![(info, info.syncs[0])]));
    }
    strategy_sync(&token, raw)
}

/// A sync mode alone applies to the strategy being raced; if it has no such mode, the note says
/// which strategies do.
fn sync_alone(token: &str, sync: SyncMode, main: &'static StrategyInfo) -> Fix {
    if main.syncs.contains(&sync) {
        return Fix::Rows(vec![(main, sync)]);
    }
    let owners: Vec<String> = strategy::STRATEGIES
        .iter()
        .filter(|i| i.syncs.contains(&sync))
        .map(|i| format!("{}-{}", i.name, sync.name()))
        .collect();
    Fix::Skipped(format!(
        "skipped fix '{token}': {} does not do --sync {}{}",
        main.name,
        sync.name(),
        if owners.is_empty() {
            String::new()
        } else {
            format!(" (try {})", owners.join(", "))
        }
    ))
}

/// STRATEGY-SYNC, e.g. redis-incr, fork-shared-atomic; anything else is a usage error.
fn strategy_sync(token: &str, raw: &str) -> anyhow::Result<Fix> {
    let pair = strategy::STRATEGIES.iter().find_map(|&info| {
        let rest = token.strip_prefix(info.name)?.strip_prefix('-')?;
        let sync = SyncMode::from_str(rest, true).ok()?;
        Some((info, sync))
    });
    match pair {
        Some((info, sync)) if info.syncs.contains(&sync) => Ok(Fix::Rows(vec![(info, sync)])),
        Some((info, sync)) => Ok(Fix::Skipped(format!(
            "skipped fix '{token}': {} does not do --sync {}",
            info.name,
            sync.name()
        ))),
        None => {
            let syncs: Vec<_> = SyncMode::value_variants()
                .iter()
                .map(|s| s.name())
                .collect();
            usage(format!(
                "unknown fix '{raw}': give a sync ({}), a strategy ({}), STRATEGY-SYNC (e.g. threads-mutex), or all",
                syncs.join(", "),
                strategy::names()
            ))
        }
    }
}

/// The matrix: the raced series' row first, then a series of random trials for each fix.
/// A fix that cannot run here is skipped with a note.
pub(super) fn matrix(
    args: &RaceRequest,
    raced: (&RunSpec, bool, &Series),
    fixes: Vec<Pair>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Row>> {
    let info = args.strategy;
    let (spec, harness, series) = raced;
    if fixes.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = vec![row(info, spec, harness, series)];
    for (fix, sync) in fixes {
        if fix.name == info.name && sync == spec.sync {
            continue;
        }
        if let Some(why) = (fix.unavailable)() {
            notes.push(format!(
                "skipped {}-{}: {} cannot run here: {why}",
                fix.name,
                sync.name(),
                fix.name
            ));
            continue;
        }
        rows.push(fix_row(args, fix, sync)?);
    }
    Ok(rows)
}

/// One fix's row: its trials, with the machine's own interleaving.
fn fix_row(args: &RaceRequest, info: &'static StrategyInfo, sync: SyncMode) -> anyhow::Result<Row> {
    let spec = trial_spec(args, info, sync, race_workers(args, info, false))?;
    let harness = args.harness || !info.in_process();
    let series = run_series(info, &spec, harness, &Mode::Random, args.trials)?;
    let mut row = row(info, &spec, harness, &series);
    if let Some(n) = isolation_note(info, spec.items, &series.trials) {
        row.notes.push(n);
    }
    Ok(row)
}

/// The row of a series: its trials, and what they lost.
pub(super) fn row(info: &StrategyInfo, spec: &RunSpec, harness: bool, s: &Series) -> Row {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The path part of [`StrategyInfo::wallet_source`].
    fn file_path(described: &str) -> &str {
        described.split(' ').next().unwrap_or(described)
    }

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

    #[test]
    fn fixes_resolve_by_sync_strategy_or_pair() {
        let threads = strategy::find("threads").unwrap();
        let (rows, notes) = resolve(
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
        let (rows, notes) = resolve(&["mutex".into()], actors).unwrap();
        assert!(rows.is_empty());
        assert!(notes[0].contains("threads-mutex"), "{notes:?}");
        assert!(resolve(&["bogus".into()], threads).is_err());
    }
}
