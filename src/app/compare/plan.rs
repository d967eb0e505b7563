//! What `compare` will do, decided before anything runs: the request as asked, the presets, the
//! sweep, and the [`Plan`] they resolve into.
//!
//! Why resolve first: a comparison can take minutes, and a flag that clashes with the preset or
//! the sweep should be refused in the first second, not after the first strategy ran. Everything
//! the runner and the report need (the strategies in order, the runs, each point's workers,
//! items and app size) is settled here, once; they read the plan and decide nothing.

use crate::error::usage;
use crate::request::{RunRequest, MAX_APP_MB, MAX_ITEMS, MAX_WORKERS};
use crate::strategy::{StrategyInfo, STRATEGIES};
use crate::workload::wallet::SyncMode;
use crate::workload::{Knobs, Workload};
use serde::Serialize;
use std::path::PathBuf;

/// Measured runs per strategy when neither `--runs` nor a preset says otherwise.
pub const DEFAULT_RUNS: u32 = 3;
/// Unmeasured runs before the measured ones (page cache, binary, allocator warmed).
pub const WARMUPS: u32 = 1;

/// Named heavier settings. Flags given explicitly win over the preset's values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 5 runs, a 100 MiB app, workers 1, 8, 32: the processes-versus-threads memory picture
    Workshop,
    /// 10 runs, a 100 MiB app, workers 1 to 64 in powers of two
    Thorough,
}

impl Preset {
    fn runs(self) -> u32 {
        match self {
            Preset::Workshop => 5,
            Preset::Thorough => 10,
        }
    }

    fn app_mb(self) -> u64 {
        100
    }

    fn sweep(self) -> Sweep {
        let values = match self {
            Preset::Workshop => vec![1, 8, 32],
            Preset::Thorough => vec![1, 2, 4, 8, 16, 32, 64],
        };
        Sweep {
            axis: Axis::Workers,
            values,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Workshop => "workshop",
            Preset::Thorough => "thorough",
        }
    }
}

/// What a sweep varies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Axis {
    Workers,
    Items,
    AppMb,
}

impl Axis {
    pub fn name(self) -> &'static str {
        match self {
            Axis::Workers => "workers",
            Axis::Items => "items",
            Axis::AppMb => "app-mb",
        }
    }
}

/// `--sweep AXIS=V1,V2,...`: the same comparison at each value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sweep {
    pub axis: Axis,
    pub values: Vec<u64>,
}

/// More points than this is surely a typo (each point is a whole comparison).
pub const MAX_SWEEP_POINTS: usize = 32;

impl Sweep {
    /// Parse `workers=1,2,4` (clap value parser).
    pub fn parse(s: &str) -> Result<Sweep, String> {
        let (axis, list) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not AXIS=LIST (e.g. workers=1,2,4)"))?;
        let (axis, min, max) = match axis.trim() {
            "workers" => (Axis::Workers, 1, MAX_WORKERS),
            "items" => (Axis::Items, 1, MAX_ITEMS),
            "app-mb" | "app_mb" => (Axis::AppMb, 0, MAX_APP_MB),
            other => {
                return Err(format!(
                    "unknown sweep axis '{other}' (valid: workers, items, app-mb)"
                ))
            }
        };
        let mut values = Vec::new();
        for v in list.split(',').map(str::trim) {
            let n: u64 = v
                .parse()
                .map_err(|_| format!("'{v}' is not a whole number (in --sweep {s})"))?;
            if !(min..=max).contains(&n) {
                return Err(format!("{}={n} is outside {min}..={max}", axis.name()));
            }
            if values.contains(&n) {
                return Err(format!("{}={n} appears twice", axis.name()));
            }
            values.push(n);
        }
        if values.len() > MAX_SWEEP_POINTS {
            return Err(format!("at most {MAX_SWEEP_POINTS} sweep points"));
        }
        Ok(Sweep { axis, values })
    }

    /// The sweep as typed: `workers=1,8,32`.
    pub fn describe(&self) -> String {
        let values: Vec<_> = self.values.iter().map(u64::to_string).collect();
        format!("{}={}", self.axis.name(), values.join(","))
    }
}

/// `concur compare`, as asked: `None` is "the default" (or the preset's).
#[derive(Clone, Debug)]
pub struct CompareRequest {
    pub workload: Workload,
    /// Empty: every strategy.
    pub strategies: Vec<&'static StrategyInfo>,
    pub runs: Option<u32>,
    pub workers: Option<u64>,
    pub items: Option<u64>,
    pub knobs: Knobs,
    pub sync: Option<SyncMode>,
    pub app_mb: Option<u64>,
    pub out: PathBuf,
    pub sweep: Option<Sweep>,
    pub preset: Option<Preset>,
}

/// Everything `compare` will do, resolved from flags and preset before anything runs.
#[derive(Clone)]
pub struct Plan {
    pub workload: Workload,
    pub strategies: Vec<&'static StrategyInfo>,
    pub runs: u32,
    pub workers: Option<u64>,
    pub items: Option<u64>,
    pub knobs: Knobs,
    pub sync: Option<SyncMode>,
    pub app_mb: u64,
    pub sweep: Option<Sweep>,
    pub preset: Option<Preset>,
    pub out: PathBuf,
    /// The command line, to reproduce the report.
    pub command: String,
    /// Things the user should know about how flags were resolved.
    pub notes: Vec<String>,
}

impl Plan {
    /// Resolve flags and preset; a combination that makes no sense is a usage error.
    pub fn from_request(args: &CompareRequest) -> anyhow::Result<Plan> {
        let mut notes = Vec::new();
        let preset = args.preset;
        let mut sweep = args.sweep.clone();
        if let Some(s) = &sweep {
            let clash = match s.axis {
                Axis::Workers => args.workers.is_some().then_some("--workers"),
                Axis::Items => args.items.is_some().then_some("--items"),
                Axis::AppMb => args.app_mb.is_some().then_some("--app-mb"),
            };
            if let Some(flag) = clash {
                return usage(format!(
                    "{flag} and --sweep {} both set {}; give one of them",
                    s.describe(),
                    s.axis.name()
                ));
            }
        }
        if sweep.is_none() {
            if let Some(p) = preset {
                let s = p.sweep();
                if args.workers.is_some() {
                    notes.push(format!(
                        "--workers given: the {} preset's sweep ({}) is not used",
                        p.name(),
                        s.describe()
                    ));
                } else {
                    sweep = Some(s);
                }
            }
        }
        let mut strategies: Vec<&'static StrategyInfo> = Vec::new();
        if args.strategies.is_empty() {
            strategies.extend(STRATEGIES.iter().copied());
        } else {
            for &info in &args.strategies {
                if !strategies.contains(&info) {
                    strategies.push(info);
                }
            }
        }
        Ok(Plan {
            workload: args.workload,
            strategies,
            runs: args
                .runs
                .or(preset.map(Preset::runs))
                .unwrap_or(DEFAULT_RUNS),
            workers: args.workers,
            items: args.items,
            knobs: args.knobs,
            sync: args.sync,
            app_mb: args.app_mb.or(preset.map(Preset::app_mb)).unwrap_or(0),
            sweep,
            preset,
            out: args.out.clone(),
            command: command_line(),
            notes,
        })
    }

    /// The sweep values, or one point (`None`) without a sweep.
    pub fn points(&self) -> Vec<Option<u64>> {
        match &self.sweep {
            Some(s) => s.values.iter().copied().map(Some).collect(),
            None => vec![None],
        }
    }

    /// `workers=8`, or "" without a sweep.
    pub fn point_label(&self, value: Option<u64>) -> String {
        match (&self.sweep, value) {
            (Some(s), Some(v)) => format!("{}={v}", s.axis.name()),
            _ => String::new(),
        }
    }

    /// The `--app-mb` in force at a point.
    pub fn app_mb_at(&self, value: Option<u64>) -> u64 {
        match (&self.sweep, value) {
            (Some(s), Some(v)) if s.axis == Axis::AppMb => v,
            _ => self.app_mb,
        }
    }

    /// The run of one strategy at one point, and whether a worker count asked for (by
    /// `--workers` or a workers sweep) does not apply to it (`sequential` and `threads` fix
    /// their own).
    pub fn request(&self, info: &'static StrategyInfo, value: Option<u64>) -> (RunRequest, bool) {
        let (mut workers, mut items) = (self.workers, self.items);
        if let (Some(s), Some(v)) = (&self.sweep, value) {
            match s.axis {
                Axis::Workers => workers = Some(v),
                Axis::Items => items = Some(v),
                Axis::AppMb => {}
            }
        }
        let fixed = !info.workers.takes_count() && workers.is_some();
        let mut run = RunRequest::new(info, self.workload).workers_if_counted(workers);
        run.items = items;
        run.knobs = self.knobs;
        run.sync = self.sync;
        run.app_mb = self.app_mb_at(value);
        (run, fixed)
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("concur {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sweeps() {
        let s = Sweep::parse("workers=1,8,32").unwrap();
        assert_eq!(s.axis, Axis::Workers);
        assert_eq!(s.values, vec![1, 8, 32]);
        assert_eq!(s.describe(), "workers=1,8,32");
        assert_eq!(Sweep::parse("app-mb=0,100").unwrap().axis, Axis::AppMb);
        assert!(Sweep::parse("workers").is_err());
        assert!(Sweep::parse("cores=1,2").is_err());
        assert!(Sweep::parse("workers=0,2").is_err());
        assert!(Sweep::parse("workers=2,2").is_err());
        assert!(Sweep::parse("items=a").is_err());
    }
}
