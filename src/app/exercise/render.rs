//! What `concur exercise check` prints: each check, passed or not; the schedule that breaks the
//! learner's code drawn one lane per thread, time flowing down, the way `concur race` draws a
//! losing interleaving; and the cost against the reference.

use super::catalog::Exercise;
use super::cost::Cost;
use super::grade::{CheckResult, Graded, Step};
use crate::sys::table::Table;
use crate::sys::units;
use std::fmt::Write;

/// At most this many steps are drawn (the rest are counted).
const MAX_STEPS: usize = 40;

/// The heading: which exercise, which file.
pub fn heading(ex: &Exercise, file: &str) -> String {
    format!("Exercise {} · {} · {file}\n", ex.number, ex.title)
}

/// Every check the grader ran, and the first failure drawn.
pub fn checks(graded: &Graded) -> String {
    let mut out = String::new();
    for c in &graded.checks {
        let mark = if c.passed { "✓" } else { "✗" };
        let _ = writeln!(out, "  {mark} {}: {}", c.name, c.summary);
        if !c.passed {
            if let Some(why) = &c.why {
                let _ = writeln!(out, "      {why}");
            }
            if !c.steps.is_empty() {
                out.push('\n');
                out.push_str(&lanes(&c.steps));
            }
        }
    }
    for name in graded.plan.iter().skip(graded.checks.len()) {
        let _ = writeln!(out, "  · {name}: not run (fix the one above first)");
    }
    out
}

/// The steps as lanes: a column per thread in the order they first act, a row per step, and
/// what is wrong with a step in a last column (so the lanes stay narrow).
pub fn lanes(steps: &[Step]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for s in steps {
        if !names.contains(&s.lane.as_str()) {
            names.push(&s.lane);
        }
    }
    let header = std::iter::once("step".to_owned())
        .chain(names.iter().map(|n| n.to_string()))
        .chain(std::iter::once(String::new()));
    let mut table = Table::new(header).right(&[0]).indent(4);
    for (i, s) in steps.iter().take(MAX_STEPS).enumerate() {
        let col = names.iter().position(|n| *n == s.lane).unwrap_or(0);
        let mut cells = vec![String::new(); names.len() + 2];
        cells[0] = (i + 1).to_string();
        cells[col + 1] = s.text.clone();
        cells[names.len() + 1] = match &s.mark {
            Some(m) if m.starts_with('✗') => m.clone(),
            Some(m) => format!("✗ {m}"),
            None => String::new(),
        };
        table.row(cells);
    }
    let mut out = table.render();
    if steps.len() > MAX_STEPS {
        let _ = writeln!(out, "    ... {} more steps", steps.len() - MAX_STEPS);
    }
    out
}

/// The cost, yours beside the reference's.
pub fn cost(c: &Cost) -> String {
    let mut out = format!(
        "\n  cost of {} (median of {} runs each, measured from outside):\n",
        c.work,
        super::cost::RUNS
    );
    let mut table = Table::new(["", "wall", "cpu", "peak RSS"])
        .right(&[1, 2, 3])
        .indent(4);
    for (who, s) in [("yours", &c.yours), ("reference", &c.reference)] {
        table.row([
            who.to_owned(),
            units::seconds(s.wall_s),
            units::seconds(s.cpu_s),
            units::bytes(s.peak_rss_bytes),
        ]);
    }
    out.push_str(&table.render());
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    let _ = writeln!(
        out,
        "    yours ÷ reference: time ×{:.2}, memory ×{:.2}",
        ratio(c.yours.wall_s, c.reference.wall_s),
        ratio(
            c.yours.peak_rss_bytes as f64,
            c.reference.peak_rss_bytes as f64
        )
    );
    out
}

/// A rule broken before anything was built.
pub fn rule(file: &str, line: usize, code: &str, why: &str) -> String {
    format!("  ✗ the rules: {file}:{line}: `{code}`\n      {why}\n")
}

/// The first failed check, for the error line.
pub fn first_failure(graded: &Graded) -> Option<&CheckResult> {
    graded.checks.iter().find(|c| !c.passed)
}
