//! Turning measurements into something people read: the terminal table ([`table`]), the
//! trade-off ([`tradeoff`]) and charts ([`chart`]), and the files of a report: SVG figures
//! ([`tradeoff`], [`svg`]), one self-contained HTML page ([`html`]), and every run as JSON and
//! CSV ([`export`]).

pub mod chart;
pub mod export;
pub mod html;
pub mod svg;
pub mod table;
pub mod tradeoff;

use super::Results;
use anyhow::Context;
use std::path::Path;

/// Write every file; a file that cannot be written is reported and the others still are.
/// An error only when none could be.
pub fn write_report(results: &Results) -> anyhow::Result<()> {
    let out = &results.plan.out;
    let mut svgs: Vec<(&str, String)> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut charts: Vec<(&str, anyhow::Result<String>)> = vec![
        ("tradeoff.svg", Ok(tradeoff::svg(results))),
        ("time.svg", svg::time(results)),
        ("memory.svg", svg::memory(results)),
    ];
    if results.plan.sweep.is_some() {
        charts.push(("sweep.svg", svg::sweep(results)));
    }
    for (name, chart) in charts {
        match chart {
            Ok(text) => svgs.push((name, text)),
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    let mut files: Vec<(String, anyhow::Result<Vec<u8>>)> = vec![
        ("results.json".into(), export::json(results)),
        ("results.csv".into(), export::csv(results)),
    ];
    for (name, text) in &svgs {
        files.push(((*name).to_owned(), Ok(text.clone().into_bytes())));
    }
    files.push((
        "report.html".into(),
        Ok(html::render(results, &svgs).into_bytes()),
    ));
    let mut written = Vec::new();
    for (name, bytes) in files {
        match bytes.and_then(|b| write_file(&out.join(&name), &b)) {
            Ok(()) => written.push(name),
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    for f in &failed {
        eprintln!("concur: warning: could not write {f}");
    }
    if written.is_empty() {
        anyhow::bail!("no report file could be written in {}", out.display());
    }
    eprintln!(
        "concur: {} measured runs in {:.1} s; wrote {} in {}/",
        results.measured_runs(),
        results.elapsed_s,
        written.join(", "),
        out.display()
    );
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
