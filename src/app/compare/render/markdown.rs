//! `--export-markdown FILE`: the comparison as Markdown, as hyperfine exports it, to paste into
//! a README, an issue or a workshop's notes.
//!
//! Every column, whatever the terminal's width (a Markdown table is read in a browser), the
//! machine and the command that made it, and the same footnotes and noise warnings as the
//! terminal: a table pasted without its caveats would claim more than was measured.

use super::table::{self, Row};
use crate::app::compare::Results;
use std::fmt::Write;

/// A table cell: `|` would end the cell, and a line break would end the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// One row of a Markdown table.
fn md_row<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let cells: Vec<String> = cells.into_iter().map(|c| cell(c.as_ref())).collect();
    format!("| {} |\n", cells.join(" | "))
}

/// The whole document.
pub fn render(results: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## concur compare: {}\n", results.plan.workload.name());
    let _ = writeln!(md, "{}\n", results.plan.scene());
    let _ = writeln!(
        md,
        "Measured on {} ({}, {}), started {}, with `{}`.\n",
        results.machine.describe(),
        if results.machine.hostname.is_empty() {
            "unknown host"
        } else {
            &results.machine.hostname
        },
        if results.machine.os.is_empty() {
            "unknown OS"
        } else {
            &results.machine.os
        },
        results.started_at,
        results.plan.command
    );
    let columns = table::columns(results);
    for point in &results.points {
        let _ = writeln!(md, "### {}\n", table::heading(results, point));
        md.push_str(&md_row(columns.iter().map(|c| c.header)));
        md.push_str(&md_row(columns.iter().map(|c| {
            if c.numeric {
                "---:"
            } else {
                ":---"
            }
        })));
        for row in table::rows(results, point) {
            match row {
                Row::Measured(cells) => md.push_str(&md_row(&cells)),
                Row::Missing(name, status, why) => {
                    let mut cells = vec![name, format!("{status}: {why}")];
                    cells.resize(columns.len(), String::new());
                    md.push_str(&md_row(&cells));
                }
            }
        }
        md.push('\n');
        for note in table::footnotes(results, point) {
            let _ = writeln!(md, "- {}", cell(&note));
        }
        md.push('\n');
    }
    for note in &results.plan.notes {
        let _ = writeln!(md, "> note: {note}\n");
    }
    for warning in results.noise_warnings() {
        let _ = writeln!(md, "> **{warning}**\n");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("none|mutex"), "none\\|mutex");
        assert_eq!(md_row(["a", "b|c"]), "| a | b\\|c |\n");
    }
}
