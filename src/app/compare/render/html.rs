//! report.html: one self-contained page a presenter can open offline (no scripts, no fetches,
//! the SVG figures inlined): the trade-off first, then the same table as the terminal, then the
//! other figures.

use crate::app::compare::render::table::{self, Row};
use crate::app::compare::{PointResult, Results};
use std::fmt::Write;

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;\
padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;white-space:nowrap}\
.scroll{overflow-x:auto}\
th{background:#f3f3f3}td.bad{color:#b00;font-weight:bold}tr.missing td{color:#777}\
figure{margin:2em 0}figcaption{color:#555;font-size:14px}svg{max-width:100%;height:auto}\
code{background:#f3f3f3;padding:1px 4px}.note{color:#444;font-size:14px}\
.warn{color:#8a5300;background:#fff4e0;padding:6px 10px;font-size:14px}";

/// The page. `svgs` are (file name, SVG text) pairs, inlined in order.
pub fn render(results: &Results, svgs: &[(&str, String)]) -> String {
    let mut h = intro(results);
    let (first, rest) = svgs.split_at(
        svgs.iter()
            .take_while(|(n, _)| *n == "tradeoff.svg")
            .count(),
    );
    for (name, svg) in first {
        figure(&mut h, name, svg);
    }
    for point in &results.points {
        h.push_str(&point_section(results, point));
    }
    for (name, svg) in rest {
        figure(&mut h, name, svg);
    }
    let _ = writeln!(
        h,
        "<p class=\"note\">Raw data: results.json and results.csv beside this file, one row per \
         run.</p>\n</body>\n</html>"
    );
    h
}

/// An inlined SVG with its file name as the caption.
fn figure(h: &mut String, name: &str, svg: &str) {
    let _ = writeln!(
        h,
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
        svg.trim(),
        escape(name)
    );
}

/// The head, the title, how it was measured, the notes and the processes-versus-threads claim.
fn intro(results: &Results) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>concur compare: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(results.plan.workload.name())
    );
    let _ = writeln!(
        h,
        "<h1>concur compare: {}</h1>",
        escape(results.plan.workload.name())
    );
    let _ = writeln!(h, "<p><b>{}</b></p>", escape(&results.plan.scene()));
    let _ = writeln!(
        h,
        "<p>Machine: {} ({}, {}), started {}.<br>Command: <code>{}</code><br>{} measured runs \
         in {:.1} s; every run is a fresh child process measured from outside (wall from the \
         parent's clock, CPU from wait4, RSS and PSS of the whole process tree sampled from \
         /proc).</p>",
        escape(&results.machine.describe()),
        escape(&results.machine.hostname),
        escape(&results.machine.os),
        escape(&results.started_at),
        escape(&results.plan.command),
        results.measured_runs(),
        results.elapsed_s
    );
    for note in &results.plan.notes {
        let _ = writeln!(h, "<p class=\"note\">Note: {}</p>", escape(note));
    }
    for warning in results.noise_warnings() {
        let _ = writeln!(h, "<p class=\"warn\">{}</p>", escape(&warning));
    }
    if !results.ratios.is_empty() {
        let _ = writeln!(h, "<h2>Processes versus threads</h2>\n<ul>");
        for r in &results.ratios {
            let _ = writeln!(h, "<li>{}</li>", escape(&r.sentence()));
        }
        let _ = writeln!(h, "</ul>");
    }
    h
}

/// One point: its heading, the same table as the terminal's, and its footnotes.
fn point_section(results: &Results, point: &PointResult) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "<h2>{}</h2>", escape(&table::heading(results, point)));
    // A table wider than the window scrolls on its own, instead of running off the page.
    let _ = writeln!(h, "<div class=\"scroll\">\n<table>\n<tr>");
    let columns = table::columns(results);
    for c in &columns {
        let _ = write!(h, "<th>{}</th>", escape(c.header));
    }
    let _ = writeln!(h, "</tr>");
    for row in table::rows(results, point) {
        h.push_str(&table_row(row, columns.len()));
    }
    let _ = writeln!(h, "</table>\n</div>");
    for note in table::footnotes(results, point) {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(&note));
    }
    h
}

/// A row of the table; a strategy that did not run spans the columns with why.
fn table_row(row: Row, columns: usize) -> String {
    let mut h = String::new();
    match row {
        Row::Measured(cells) => {
            let _ = write!(h, "<tr>");
            for c in cells {
                let class = if c.starts_with("WRONG") {
                    " class=\"bad\""
                } else {
                    ""
                };
                let _ = write!(h, "<td{class}>{}</td>", escape(&c));
            }
            let _ = writeln!(h, "</tr>");
        }
        Row::Missing(name, status, why) => {
            let _ = writeln!(
                h,
                "<tr class=\"missing\"><td>{}</td><td colspan=\"{}\">{}: {}</td></tr>",
                escape(&name),
                columns - 1,
                escape(status),
                escape(&why)
            );
        }
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
