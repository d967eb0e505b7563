//! The human report of `concur race`: the counts, where the balance ended, one losing
//! interleaving drawn lane by lane, and the fix matrix.
//!
//! Why draw one trial: "lost 97 updates in 200 trials" says *that* the race happens; a timeline
//! of one losing trial (two reads of the same balance, then two writes, the first of them lost)
//! says *how*, and is what a workshop remembers. `--json` carries every trial and every event;
//! this text shows what fits a screen.

use super::{Report, Timeline};
use crate::sys::table::Table;
use crate::workload::trace::Op;
use crate::workload::wallet::START;
use std::fmt::Write;

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

/// One losing trial, a column (lane) per worker, time flowing down; then who overwrote whom.
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
    let lanes = lanes.min(MAX_LANES);
    let header = std::iter::once("t (µs)".to_owned()).chain((1..=lanes).map(|w| format!("W{w}")));
    let mut table = Table::new(header).right(&[0]).indent(2);
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
        let mut cells = vec![String::new(); e.worker];
        cells[0] = format!("{:.1}", e.t_us);
        cells.push(what);
        table.row(cells);
    }
    out.push_str(&table.render());
    if shown.len() < t.events.len() {
        let _ = writeln!(
            out,
            "  ... {} more events (all of them are in --json)",
            t.events.len() - shown.len()
        );
    }
    out.push_str(&first_loss(t));
    if t.dropped > 0 {
        let _ = writeln!(out, "  ({} events did not fit the log)", t.dropped);
    }
    out
}

/// The first lost write explained: who overwrote it, from which stale read.
fn first_loss(t: &Timeline) -> String {
    let Some((i, lost)) = t.events.iter().enumerate().find(|(_, e)| e.lost) else {
        return String::new();
    };
    let Some(over) = t.events[i + 1..].iter().find(|e| e.op != Op::Read) else {
        return String::new();
    };
    format!(
        "  ✗ W{} wrote {} (v{}), then W{} wrote {} computed from v{}, a read taken before W{}'s write: W{}'s update is gone.\n",
        lost.worker, lost.balance, lost.version, over.worker, over.balance, over.based_on,
        lost.worker, lost.worker
    )
}

/// Strategy × fix: each row's lost trials and updates, where it ran, and where its update is
/// written in the source; a row's notes under it.
fn matrix(r: &Report) -> String {
    let mut out = format!(
        "Strategy × fix: lost updates over {} trials of {} jobs each\n",
        r.trials, r.items
    );
    let mut table = Table::new([
        "strategy",
        "sync",
        "lost trials",
        "lost updates",
        "path",
        "implemented in",
    ])
    .right(&[2, 3])
    .nowrap(&[1, 4])
    .indent(2);
    for row in &r.fixes {
        let ok = if row.lost_updates == 0 && row.wrong_balance_trials == 0 {
            "✓"
        } else {
            "✗"
        };
        table.row([
            row.strategy.clone(),
            row.sync.clone(),
            format!("{}/{}", row.losing_trials, row.trials),
            format!("{} {ok}", row.lost_updates),
            row.path.to_owned(),
            row.file.clone(),
        ]);
        for n in &row.notes {
            table.line(format!("      {n}"));
        }
    }
    out.push_str(&table.render());
    out
}
