//! `concur compare`'s flags.

use super::parse_strategy;
use super::run::WorkloadKnobs;
use crate::app::compare::{CompareRequest, Preset, Sweep};
use crate::request::{MAX_APP_MB, MAX_ITEMS, MAX_WORKERS};
use crate::strategy::StrategyInfo;
use crate::workload::wallet::SyncMode;
use crate::workload::Workload;
use clap::Args;
use std::path::PathBuf;

pub(super) const COMPARE_EXAMPLES: &str = "\
Examples:
  concur compare                                the trade-off: every strategy, 8 workers, a 64 MiB
                                                app each, a crash and a hang probe -> concur-report/
  concur compare --dirty 100                    forked workers write their app: PSS climbs to RSS
  concur compare -s fork,threads --sweep dirty=0,10,50,100
                                                copy-on-write decaying, step by step
  concur compare --preset quick                 the emoji run, no app: a fast look at every strategy
  concur compare -s threads,pool --runs 5       two strategies, 5 runs each
  concur compare -w wallet --preset quick       who loses updates, and what it costs not to
  concur compare -w noop --items 2000 --preset quick
                                                each strategy's cost per job against its floor
  concur compare --preset workshop              the memory picture as a sweep of workers 1, 8, 32

Without --preset the scene is 'tradeoff'; any flag given wins over the preset's value.";

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Workload to run [default: the preset's: sleep for tradeoff, emoji for quick]
    #[arg(short, long, value_enum)]
    pub workload: Option<Workload>,

    /// Strategies to compare, comma-separated [default: every strategy; those that cannot run
    /// here are listed as skipped]
    #[arg(short, long = "strategies", visible_alias = "strategy", value_name = "LIST",
          value_delimiter = ',', value_parser = parse_strategy)]
    pub strategies: Vec<&'static StrategyInfo>,

    /// Measured runs per strategy, after one warm-up run [default: the preset's, 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: Option<u32>,

    /// Workers for the strategies that take a count (not sequential or threads, which fix their
    /// own; the table says so) [default: the preset's, 8 for tradeoff]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    pub workers: Option<u64>,

    /// Jobs to run [default: the preset's, 32 for tradeoff; else the workload's own]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub items: Option<u64>,

    #[command(flatten)]
    pub knobs: WorkloadKnobs,

    /// Wallet: how updates are protected [default: each strategy's first; a strategy that
    /// cannot do the mode asked for is skipped]
    #[arg(long, value_enum)]
    pub sync: Option<SyncMode>,

    /// Allocate and touch this many MiB in each measured child before work starts (a booted
    /// app stand-in) [default: the preset's, 64 for tradeoff, 0 for quick]
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(0..=MAX_APP_MB))]
    pub app_mb: Option<u64>,

    /// Each forked worker (or fork-per-job child) writes PCT % of the app's pages, as a garbage
    /// collector does: copy-on-write sharing decays and PSS climbs toward RSS
    #[arg(long, value_name = "PCT", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub dirty: u8,

    /// Skip the crash and hang probe that measures what each strategy survives
    #[arg(long)]
    pub no_probe: bool,

    /// Directory for results.json, results.csv, the SVG plots and report.html
    #[arg(long, value_name = "DIR", default_value = "concur-report")]
    pub out: PathBuf,

    /// Measure along a sweep: workers=1,2,4, items=10,50, app-mb=0,100 or dirty=0,50,100
    /// (plotted in sweep.svg)
    #[arg(long, value_name = "AXIS=LIST", value_parser = Sweep::parse)]
    pub sweep: Option<Sweep>,

    /// Named settings [default: tradeoff]; flags given explicitly win over the preset's
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
}

impl From<CompareArgs> for CompareRequest {
    fn from(a: CompareArgs) -> CompareRequest {
        CompareRequest {
            workload: a.workload,
            strategies: a.strategies,
            runs: a.runs,
            workers: a.workers,
            items: a.items,
            knobs: (&a.knobs).into(),
            sync: a.sync,
            app_mb: a.app_mb,
            dirty_pct: a.dirty,
            probe: !a.no_probe,
            out: a.out,
            sweep: a.sweep,
            preset: a.preset,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::app::compare::{Axis, Plan, DEFAULT_RUNS};
    use crate::cli::{Cli, Command};
    use crate::error::is_usage;
    use crate::strategy::{self, STRATEGIES};
    use clap::Parser;

    fn plan(args: &[&str]) -> anyhow::Result<Plan> {
        let cli = Cli::try_parse_from(["concur", "compare"].iter().chain(args).copied())?;
        match cli.command {
            Some(Command::Compare(a)) => Plan::from_request(&a.into()),
            _ => unreachable!("parsed a compare command"),
        }
    }

    #[test]
    fn presets_fill_in_what_flags_leave_out() {
        // The default scene is the trade-off: 8 workers, 32 overlapping jobs, a 64 MiB app.
        let p = plan(&[]).unwrap();
        assert_eq!(
            (p.runs, p.app_mb, p.sweep.is_none(), p.workers, p.items),
            (DEFAULT_RUNS, 64, true, Some(8), Some(32))
        );
        assert_eq!(p.workload, crate::workload::Workload::Sleep);
        assert_eq!(p.strategies.len(), STRATEGIES.len(), "all by default");
        assert!(p.probe, "probes by default");

        // quick is the old default: emoji, each strategy's own workers, no app.
        let p = plan(&["--preset", "quick"]).unwrap();
        assert_eq!((p.app_mb, p.workers, p.items), (0, None, None));
        assert_eq!(p.workload, crate::workload::Workload::Emoji);
        let p = plan(&["--preset", "quick", "-w", "wallet", "--no-probe"]).unwrap();
        assert_eq!(p.workload, crate::workload::Workload::Wallet, "a flag wins");
        assert!(!p.probe);

        // --dirty needs an app; the default scene has one, quick does not.
        assert!(plan(&["--dirty", "50"]).is_ok());
        assert!(is_usage(
            &plan(&["--preset", "quick", "--dirty", "50"]).err().unwrap()
        ));

        let p = plan(&["--preset", "workshop"]).unwrap();
        assert_eq!((p.runs, p.app_mb), (5, 100));
        assert_eq!(p.sweep.unwrap().describe(), "workers=1,8,32");

        let p = plan(&["--preset", "workshop", "--runs", "1", "--app-mb", "0"]).unwrap();
        assert_eq!((p.runs, p.app_mb), (1, 0), "explicit flags win");

        let p = plan(&["--preset", "thorough", "--workers", "4"]).unwrap();
        assert!(
            p.sweep.is_none(),
            "--workers replaces the preset's workers sweep"
        );
        assert_eq!(p.notes.len(), 1, "and says so");

        let p = plan(&["--preset", "workshop", "--sweep", "items=10,20"]).unwrap();
        assert_eq!(p.sweep.unwrap().axis, Axis::Items, "an explicit sweep wins");

        let err = plan(&["--sweep", "app-mb=0,10", "--app-mb", "5"])
            .err()
            .unwrap();
        assert!(is_usage(&err), "{err}");

        let p = plan(&["-s", "pool,threads,pool"]).unwrap();
        let names: Vec<_> = p.strategies.iter().map(|s| s.name).collect();
        assert_eq!(names, ["pool", "threads"], "in the order given, once each");
    }

    #[test]
    fn requests_leave_workers_to_strategies_that_fix_their_own() {
        let p = plan(&["--sweep", "workers=3,5"]).unwrap();
        let threads = strategy::find("threads").unwrap();
        let pool = strategy::find("pool").unwrap();
        let (a, fixed) = p.request(threads, Some(5));
        assert_eq!((a.workers, fixed), (None, true));
        let (a, fixed) = p.request(pool, Some(5));
        assert_eq!((a.workers, fixed), (Some(5), false));
        assert_eq!(p.point_label(Some(5)), "workers=5");
    }
}
