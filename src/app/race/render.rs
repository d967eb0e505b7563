//! The human report of `concur race`: the counts, where the balance ended, one losing
//! interleaving drawn lane by lane, and the fix matrix.
//!
//! Why draw one trial: "lost 97 updates in 200 trials" says *that* the race happens; a timeline
//! of one losing trial (two reads of the same balance, then two writes, the first of them lost)
//! says *how*, and is what a workshop remembers. `--json` carries every trial and every event;
//! this text shows what fits a screen.

use super::{Report, Timeline};
use crate::workload::trace::Op;
use crate::workload::wallet::START;
use std::fmt::Write;

const LANE_WIDTH: usize = 22;
const MAX_SEED_LINES: usize = 12;
const MAX_LANES: usize = 6;
const MAX_EVENTS: usize = 24;
/// The widest bar of the final-balance histogram, in characters.
const BAR_WIDTH: usize = 40;

/// The human report.
pub fn render(r: &Report) -> String {
    let mut out = heading(r);
    if r.mode == "seed" {
        out.push_str(&seed_lines(r));
    }
    out.push_str(&balances(r));
    if let Some(t) = &r.timeline {
        out.push('\n');
        out.push_str(&timeline(t));
    } else if r.path == "in-process" && r.losing_trials == 0 {
        out.push_str("\n  no trial lost an update, so there is no losing interleaving to draw\n");
    }
    if !r.fixes.is_empty() {
        out.push('\n');
        out.push_str(&matrix(r));
    }
    for n in &r.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

/// What was raced and how, and how much was lost.
fn heading(r: &Report) -> String {
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
    out
}

/// `--seed`: each trial's schedule, and what it lost.
fn seed_lines(r: &Report) -> String {
    let mut out = String::from("  each trial's schedule, and what it lost:\n");
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
        out.push_str("    ... (every trial is in --json)\n");
    }
    out
}

/// Where the balance ended, as a histogram of the trials.
fn balances(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  final balance (expected {}):", r.expected_balance);
    let max = r
        .balances
        .iter()
        .map(|b| b.trials)
        .max()
        .unwrap_or(1)
        .max(1);
    for b in &r.balances {
        let width = ((b.trials as f64 / max as f64) * BAR_WIDTH as f64).round() as usize;
        let _ = writeln!(
            out,
            "    {:>6} │{:<BAR_WIDTH$} {}{}",
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
    out
}

/// One losing trial, a lane per worker, time flowing down; then who overwrote whom.
fn timeline(t: &Timeline) -> String {
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

/// Strategy × fix: each row's lost trials and updates, where it ran, and where its update is
/// written in the source; a row's notes under it.
fn matrix(r: &Report) -> String {
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
