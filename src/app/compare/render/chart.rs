//! Compact bar charts for the terminal: time and memory at a glance, under the table.
//!
//! Plain Unicode blocks, no colour and no escape codes, so they survive `| less`, a log file and
//! a projector alike. They show one point (the only one, or a sweep's last); sweep.svg has the
//! rest.

use crate::app::compare::Results;
use crate::sys::units::{bytes, seconds};
use std::fmt::Write;

/// The longest bar, in characters.
const WIDTH: usize = 40;

/// A bar of `value` out of `max`: at least one block for anything above zero.
pub fn bar(value: f64, max: f64, fill: char) -> String {
    if max <= 0.0 || value <= 0.0 {
        return String::new();
    }
    let n = ((value / max) * WIDTH as f64).round() as usize;
    std::iter::repeat_n(fill, n.clamp(1, WIDTH)).collect()
}

/// Both charts, for the headline point.
pub fn render(results: &Results) -> String {
    let point = results.headline();
    let at = if point.label.is_empty() {
        String::new()
    } else {
        format!(", {}", point.label)
    };
    let name_w = point
        .cells
        .iter()
        .map(|c| c.info.name.len())
        .max()
        .unwrap_or(0);
    let mut out = super::tradeoff::terminal(results);
    let max_wall = point
        .cells
        .iter()
        .filter_map(|c| c.summary.as_ref().map(|s| s.wall_median_s))
        .fold(0.0, f64::max);
    let _ = writeln!(out, "\ntime (median wall{at})");
    for c in &point.cells {
        let name = c.info.name;
        match &c.summary {
            Some(s) => {
                let b = bar(s.wall_median_s, max_wall, '█');
                let _ = writeln!(
                    out,
                    "  {name:<name_w$}  {b:<WIDTH$}  {}",
                    seconds(s.wall_median_s)
                );
            }
            None => {
                let _ = writeln!(out, "  {name:<name_w$}  ({})", c.status.name());
            }
        }
    }
    let max_mem = point
        .cells
        .iter()
        .filter_map(|c| {
            c.summary
                .as_ref()
                .map(|s| s.peak_rss_median_bytes.max(s.peak_pss_median_bytes) as f64)
        })
        .fold(0.0, f64::max);
    let _ = writeln!(out, "\nmemory (median peak{at}; █ RSS, ░ PSS)");
    for c in &point.cells {
        let name = c.info.name;
        match &c.summary {
            Some(s) => {
                let rss = bar(s.peak_rss_median_bytes as f64, max_mem, '█');
                let pss = bar(s.peak_pss_median_bytes as f64, max_mem, '░');
                let _ = writeln!(
                    out,
                    "  {name:<name_w$}  {rss:<WIDTH$}  RSS {}",
                    bytes(s.peak_rss_median_bytes)
                );
                let _ = writeln!(
                    out,
                    "  {:<name_w$}  {pss:<WIDTH$}  PSS {}",
                    "",
                    bytes(s.peak_pss_median_bytes)
                );
            }
            None => {
                let _ = writeln!(out, "  {name:<name_w$}  ({})", c.status.name());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest() {
        assert_eq!(bar(10.0, 10.0, '#').len(), WIDTH);
        assert_eq!(bar(5.0, 10.0, '#').len(), WIDTH / 2);
        assert_eq!(bar(0.0001, 10.0, '#').len(), 1, "visible however small");
        assert_eq!(bar(0.0, 10.0, '#'), "");
    }
}
