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

/// Named settings: the scene a comparison shows. Flags given explicitly win over the preset's
/// values; without `--preset`, the scene is [`Preset::Tradeoff`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The default: 32 overlapping sleep jobs on 8 workers, each carrying a 64 MiB app, plus a
    /// crash and a hang probe: processes cost ~N apps of RSS, threads one; PSS beside both
    Tradeoff,
    /// The old default: the emoji workload, each strategy's own worker count, no app (fast)
    Quick,
    /// 5 runs, a 100 MiB app, workers 1, 8, 32 on 64 sleep jobs: the memory picture as a sweep
    Workshop,
    /// 10 runs, a 100 MiB app, workers 1 to 64 in powers of two on 128 sleep jobs
    Thorough,
}

/// What a preset sets; `None` leaves it to the workload's or strategy's own default.
struct Scene {
    workload: Workload,
    runs: u32,
    app_mb: u64,
    workers: Option<u64>,
    items: Option<u64>,
    sweep: Option<Sweep>,
}

impl Preset {
    fn scene(self) -> Scene {
        let workers_sweep = |values: &[u64]| {
            Some(Sweep {
                axis: Axis::Workers,
                values: values.to_vec(),
            })
        };
        match self {
            Preset::Tradeoff => Scene {
                workload: Workload::Sleep,
                runs: DEFAULT_RUNS,
                app_mb: 64,
                workers: Some(8),
                items: Some(32),
                sweep: None,
            },
            Preset::Quick => Scene {
                workload: Workload::Emoji,
                runs: DEFAULT_RUNS,
                app_mb: 0,
                workers: None,
                items: None,
                sweep: None,
            },
            Preset::Workshop => Scene {
                workload: Workload::Sleep,
                runs: 5,
                app_mb: 100,
                workers: None,
                items: Some(64),
                sweep: workers_sweep(&[1, 8, 32]),
            },
            Preset::Thorough => Scene {
                workload: Workload::Sleep,
                runs: 10,
                app_mb: 100,
                workers: None,
                items: Some(128),
                sweep: workers_sweep(&[1, 2, 4, 8, 16, 32, 64]),
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Tradeoff => "tradeoff",
            Preset::Quick => "quick",
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
    /// `--dirty`: the percentage of the app each forked worker writes.
    Dirty,
}

impl Axis {
    /// The axis title of a sweep chart, with its unit.
    pub fn unit(self) -> &'static str {
        match self {
            Axis::Workers => "workers",
            Axis::Items => "jobs",
            Axis::AppMb => "app size, MiB",
            Axis::Dirty => "dirty: % of the app each forked worker writes",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Axis::Workers => "workers",
            Axis::Items => "items",
            Axis::AppMb => "app-mb",
            Axis::Dirty => "dirty",
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
            "dirty" => (Axis::Dirty, 0, 100),
            other => {
                return Err(format!(
                    "unknown sweep axis '{other}' (valid: workers, items, app-mb, dirty)"
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

/// `concur compare`, as asked: `None` is "the preset's" (the tradeoff scene's by default).
#[derive(Clone, Debug)]
pub struct CompareRequest {
    pub workload: Option<Workload>,
    /// Empty: every strategy.
    pub strategies: Vec<&'static StrategyInfo>,
    pub runs: Option<u32>,
    pub workers: Option<u64>,
    pub items: Option<u64>,
    pub knobs: Knobs,
    pub sync: Option<SyncMode>,
    pub app_mb: Option<u64>,
    /// `--dirty PCT`: each forked worker writes PCT % of the app's pages.
    pub dirty_pct: u8,
    pub out: PathBuf,
    pub sweep: Option<Sweep>,
    pub preset: Option<Preset>,
    /// Run the crash and hang probe per strategy (`--no-probe` turns it off).
    pub probe: bool,
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
    pub dirty_pct: u8,
    pub sweep: Option<Sweep>,
    pub preset: Preset,
    /// Probe each strategy with a crashing and a hanging job.
    pub probe: bool,
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
        let preset = args.preset.unwrap_or(Preset::Tradeoff);
        let scene = preset.scene();
        let sweep = Self::sweep(args, preset, scene.sweep, &mut notes)?;
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
        let app_mb = args.app_mb.unwrap_or(scene.app_mb);
        let dirty_sweep = sweep.as_ref().is_some_and(|s| s.axis == Axis::Dirty);
        if (args.dirty_pct > 0 || dirty_sweep) && app_mb == 0 {
            return usage("--dirty writes part of the app's pages: give it an app with --app-mb");
        }
        Ok(Plan {
            workload: args.workload.unwrap_or(scene.workload),
            strategies,
            runs: args.runs.unwrap_or(scene.runs),
            workers: args.workers.or(scene.workers),
            items: args.items.or(scene.items),
            knobs: args.knobs,
            sync: args.sync,
            app_mb,
            dirty_pct: args.dirty_pct,
            sweep,
            preset,
            probe: args.probe,
            out: args.out.clone(),
            command: command_line(),
            notes,
        })
    }

    /// The sweep asked for, else the preset's; a flag that sets what the sweep varies clashes.
    fn sweep(
        args: &CompareRequest,
        preset: Preset,
        preset_sweep: Option<Sweep>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Option<Sweep>> {
        if let Some(s) = &args.sweep {
            let clash = match s.axis {
                Axis::Workers => args.workers.is_some().then_some("--workers"),
                Axis::Items => args.items.is_some().then_some("--items"),
                Axis::AppMb => args.app_mb.is_some().then_some("--app-mb"),
                Axis::Dirty => (args.dirty_pct > 0).then_some("--dirty"),
            };
            if let Some(flag) = clash {
                return usage(format!(
                    "{flag} and --sweep {} both set {}; give one of them",
                    s.describe(),
                    s.axis.name()
                ));
            }
            return Ok(Some(s.clone()));
        }
        match preset_sweep {
            Some(s) if args.workers.is_some() => {
                notes.push(format!(
                    "--workers given: the {} preset's sweep ({}) is not used",
                    preset.name(),
                    s.describe()
                ));
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// The scene in one line, for the header of the table and the report.
    pub fn scene(&self) -> String {
        let items = self
            .items
            .map(|n| n.to_string())
            .unwrap_or_else(|| "the default number of".into());
        let workers = match self.workers {
            Some(w) => format!("{w} workers (sequential 1, threads one per job)"),
            None => "each strategy's own worker count".into(),
        };
        let app = match (self.app_mb, self.dirty_pct) {
            (0, _) => "no app".to_owned(),
            (mb, 0) => format!("a {mb} MiB app loaded before the workers start"),
            (mb, pct) => format!(
                "a {mb} MiB app loaded before the workers start, {pct}% of it written by each forked worker"
            ),
        };
        let sleep = if self.workload == Workload::Sleep {
            format!(" of {} ms", self.knobs.wait_ms)
        } else {
            String::new()
        };
        format!(
            "scene '{}': {items} {} jobs{sleep} on {workers}, {app}",
            self.preset.name(),
            self.workload.name()
        )
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

    /// The `--dirty` in force at a point.
    pub fn dirty_at(&self, value: Option<u64>) -> u8 {
        match (&self.sweep, value) {
            (Some(s), Some(v)) if s.axis == Axis::Dirty => v.min(100) as u8,
            _ => self.dirty_pct,
        }
    }

    /// The run of one strategy at one point, and whether a worker count asked for (by
    /// `--workers`, a workers sweep or the preset) does not apply to it (`sequential` and
    /// `threads` fix their own).
    pub fn request(&self, info: &'static StrategyInfo, value: Option<u64>) -> (RunRequest, bool) {
        let (mut workers, mut items) = (self.workers, self.items);
        if let (Some(s), Some(v)) = (&self.sweep, value) {
            match s.axis {
                Axis::Workers => workers = Some(v),
                Axis::Items => items = Some(v),
                Axis::AppMb | Axis::Dirty => {}
            }
        }
        let fixed = !info.workers.takes_count() && workers.is_some();
        let mut run = RunRequest::new(info, self.workload).workers_if_counted(workers);
        run.items = items;
        run.knobs = self.knobs;
        run.sync = self.sync;
        run.app_mb = self.app_mb_at(value);
        run.dirty_pct = self.dirty_at(value);
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
