//! `concur diff A.json B.json`: what changed between two comparisons, strategy by strategy, as
//! critcmp compares two criterion baselines.
//!
//! Why not read the two tables by eye: "before and after a change" and "my laptop against
//! yours" are exactly where eyes see differences in noise. So each strategy's wall times are
//! compared with their spread: B's median over A's is the *ratio*, and the verdict says whether
//! the difference is larger than the noise: **faster** or **slower** when the medians differ by
//! more than twice their combined standard error (a difference that noisy runs would seldom
//! produce by chance) *and* by more than [`FLOOR`] (a few percent is what a process start varies
//! on an idle machine), else **within noise**. With one run on either side there is no spread
//! to go by, only the floor, and the verdict says so.
//!
//! It reads the runs (`runs[]`: one wall time per measured run) rather than the summaries, so
//! files written before results.json had a `schema` (version 0) compare as well as new ones.

use crate::error::Error;
use crate::sys::table::Table;
use crate::sys::units::bytes;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A difference smaller than this fraction of A's median is never called a change.
pub const FLOOR: f64 = 0.05;
/// How many combined standard errors a difference must exceed.
pub const SIGMAS: f64 = 2.0;

/// `concur diff A B`.
#[derive(Clone, Debug)]
pub struct DiffRequest {
    pub a: PathBuf,
    pub b: PathBuf,
}

/// The parts of results.json that a diff reads.
#[derive(Deserialize)]
struct File {
    #[serde(default)]
    schema: u32,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    machine: Option<super::machine::Machine>,
    #[serde(default)]
    command: Option<String>,
    runs: Vec<FileRun>,
}

#[derive(Deserialize)]
struct FileRun {
    #[serde(default)]
    point: String,
    strategy: String,
    status: String,
    measurement: Option<FileMeasurement>,
}

#[derive(Deserialize)]
struct FileMeasurement {
    wall_s: f64,
    #[serde(default)]
    peak_rss_bytes: u64,
}

/// One strategy's measured runs in one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub walls: Vec<f64>,
    pub rss: Vec<f64>,
}

impl Sample {
    pub fn median(&self) -> f64 {
        super::median_f(&self.walls)
    }

    /// The standard error of the median, estimated as the mean's: σ / √n.
    fn standard_error(&self) -> f64 {
        super::stddev(&self.walls) / (self.walls.len() as f64).sqrt()
    }
}

/// What a diff says of one strategy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Faster,
    Slower,
    WithinNoise,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::WithinNoise => "within noise",
        }
    }
}

/// B against A: the ratio of medians (B / A; below 1 is faster) and the verdict.
pub fn judge(a: &Sample, b: &Sample) -> (f64, Verdict) {
    let (ma, mb) = (a.median(), b.median());
    if ma <= 0.0 {
        return (f64::NAN, Verdict::WithinNoise);
    }
    let ratio = mb / ma;
    let noise = SIGMAS * a.standard_error().hypot(b.standard_error());
    let diff = mb - ma;
    let verdict = if diff.abs() <= noise.max(FLOOR * ma) {
        Verdict::WithinNoise
    } else if diff < 0.0 {
        Verdict::Faster
    } else {
        Verdict::Slower
    };
    (ratio, verdict)
}

/// Read a results file: one clear line if it cannot be read or is not one.
fn load(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{} is not a concur compare results.json ({e})",
            path.display()
        ))
        .into()
    })
}

/// Each (point, strategy)'s successful runs, in the order they first appear.
fn samples(file: &File) -> Vec<((String, String), Sample)> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by: BTreeMap<(String, String), Sample> = BTreeMap::new();
    for r in &file.runs {
        let Some(m) = r.measurement.as_ref().filter(|_| r.status == "ok") else {
            continue;
        };
        let key = (r.point.clone(), r.strategy.clone());
        if !by.contains_key(&key) {
            order.push(key.clone());
        }
        let s = by.entry(key).or_default();
        s.walls.push(m.wall_s);
        s.rss.push(m.peak_rss_bytes as f64);
    }
    order
        .into_iter()
        .map(|k| {
            let s = by.remove(&k).unwrap_or_default();
            (k, s)
        })
        .collect()
}

/// `12.3 ms ± 0.4 (3)`: median, σ and the number of runs.
fn cell(s: &Sample) -> String {
    let sd = super::stddev(&s.walls);
    format!(
        "{} ({})",
        super::render::table::time_spread(s.median(), sd, s.walls.len()),
        s.walls.len()
    )
}

/// Where a file was measured, in one line.
fn origin(name: &str, path: &Path, f: &File) -> String {
    let machine = f
        .machine
        .as_ref()
        .map(|m| format!("{} on {}", m.describe(), m.hostname))
        .unwrap_or_else(|| "machine unknown".into());
    let when = f.started_at.as_deref().unwrap_or("time unknown");
    let command = f.command.as_deref().unwrap_or("?");
    format!(
        "{name}: {} (schema {}) · {when} · {machine}\n   {command}",
        path.display(),
        f.schema
    )
}

/// `concur diff`: the table, on stdout.
pub fn diff(req: &DiffRequest) -> anyhow::Result<()> {
    let (a, b) = (load(&req.a)?, load(&req.b)?);
    print!("{}", render(&req.a, &a, &req.b, &b));
    Ok(())
}

fn render(pa: &Path, a: &File, pb: &Path, b: &File) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", origin("A", pa, a));
    let _ = writeln!(out, "{}", origin("B", pb, b));
    let (sa, sb) = (samples(a), samples(b));
    let mut t = Table::new([
        "STRATEGY",
        "A WALL median ± σ (runs)",
        "B WALL median ± σ (runs)",
        "B/A",
        "VERDICT",
        "A RSS",
        "B RSS",
    ])
    .right(&[1, 2, 3, 5, 6]);
    let mut only_one = Vec::new();
    let mut single = false;
    for ((point, name), x) in &sa {
        let label = if point.is_empty() {
            name.clone()
        } else {
            format!("{name} ({point})")
        };
        let Some((_, y)) = sb.iter().find(|(k, _)| k.0 == *point && k.1 == *name) else {
            only_one.push(format!("{label}: only in A"));
            continue;
        };
        single |= x.walls.len() < 2 || y.walls.len() < 2;
        let (ratio, verdict) = judge(x, y);
        t.row([
            label,
            cell(x),
            cell(y),
            format!("{ratio:.2}x"),
            verdict.name().to_owned(),
            bytes(super::median_f(&x.rss) as u64),
            bytes(super::median_f(&y.rss) as u64),
        ]);
    }
    for ((point, name), _) in &sb {
        if !sa.iter().any(|(k, _)| k.0 == *point && k.1 == *name) {
            only_one.push(format!("{name}: only in B"));
        }
    }
    out.push('\n');
    out.push_str(&t.render());
    let _ = writeln!(
        out,
        "  B/A below 1: B is faster. A verdict needs a difference beyond {SIGMAS:.0} combined \
         standard errors and beyond {:.0}% of A's median; anything less is within noise.",
        FLOOR * 100.0
    );
    if single {
        let _ = writeln!(
            out,
            "  warning: some strategies have a single run on one side: no spread to judge by, \
             only the {:.0}% floor (compare --runs 5 or more)",
            FLOOR * 100.0
        );
    }
    for line in only_one {
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(walls: &[f64]) -> Sample {
        Sample {
            walls: walls.to_vec(),
            rss: vec![1.0; walls.len()],
        }
    }

    #[test]
    fn verdicts_need_more_than_noise() {
        let a = sample(&[0.100, 0.101, 0.099]);
        let (r, v) = judge(&a, &sample(&[0.050, 0.051, 0.049]));
        assert_eq!(v, Verdict::Faster);
        assert!((r - 0.5).abs() < 1e-9);
        assert_eq!(judge(&a, &sample(&[0.2, 0.21, 0.19])).1, Verdict::Slower);
        // A 10% change inside a spread of ±30%: noise.
        let noisy = sample(&[0.07, 0.10, 0.13]);
        assert_eq!(
            judge(&noisy, &sample(&[0.08, 0.11, 0.14])).1,
            Verdict::WithinNoise
        );
        // 2% with no spread at all: under the floor.
        assert_eq!(
            judge(&a, &sample(&[0.102, 0.102, 0.102])).1,
            Verdict::WithinNoise
        );
        // One run each: only the floor decides.
        assert_eq!(judge(&sample(&[0.1]), &sample(&[0.2])).1, Verdict::Slower);
    }
}
