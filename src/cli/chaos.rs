//! `concur chaos`'s flags.

use super::{parse_strategy, parse_timeout};
use crate::app::chaos::ChaosRequest;
use crate::request::{MAX_LEAK_MB, MAX_WAIT_MS, MAX_WORKERS};
use crate::strategy::StrategyInfo;
use crate::workload::fault::Fault;
use crate::workload::Workload;
use clap::Args;

pub(super) const CHAOS_ABOUT: &str = "\
Assume chaos. Runs each strategy with one job in K broken on purpose and prints a survival \
table: jobs completed and failed, whether the run finished, the measured process's own RSS at \
the end against the start, and how long it took to notice a hung job.

  crash  the job calls abort(): a process per job loses one job; threads lose the whole run
  panic  the job panics: caught per job in-process (as Sidekiq rescues an exception), a DirtyExit
         under fork, a dead worker under rpc (nobody replaces it)
  leak   the job leaks --leak-mb MiB: returned to the system when a forked child exits, kept for
         good by a thread
  hang   the job never returns: fork and rpc kill it after --job-timeout (SIGTERM, then SIGKILL);
         a thread cannot be killed, so an in-process run is stopped as a whole

Each run is a measured child process, as in `concur run`; a crash ends only that child.";

pub(super) const CHAOS_EXAMPLES: &str = "\
Examples:
  concur chaos                                  every fault x fork, threads, pool, rpc
  concur chaos --fault crash -s fork,threads    the one-line lesson
  concur chaos --fault leak --leak-mb 50        leaks kept by threads, returned by fork
  concur chaos --fault hang --job-timeout 500ms how fast is a hang noticed, and then what
  concur chaos --json                           one JSON object: every run's row
  concur run -s fork --fault panic --every 5    one faulty run, with its full summary";

#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Faults to inject, comma-separated (crash, panic, leak, hang)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "crash,panic,leak,hang"
    )]
    pub fault: Vec<Fault>,

    /// Strategies, comma-separated (see `concur list`)
    #[arg(short, long, value_delimiter = ',', value_name = "LIST",
          default_value = "fork,rpc,threads,pool", value_parser = parse_strategy)]
    pub strategy: Vec<&'static StrategyInfo>,

    /// Workload of the healthy jobs (emoji, wallet, cpu, sleep, noop)
    #[arg(short, long, value_enum, default_value_t = Workload::Sleep)]
    pub workload: Workload,

    /// Jobs per run
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub items: u64,

    /// One job in K is faulty (jobs K-1, 2K-1, ...)
    #[arg(long, value_name = "K", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub every: u64,

    /// Workers, for strategies with a worker count [default: the strategy's own]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    pub workers: Option<u64>,

    /// leak: MiB each faulty job leaks
    #[arg(long, value_name = "MB", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=MAX_LEAK_MB))]
    pub leak_mb: u64,

    /// A job running longer than DUR is a hang [default: 1s for --fault hang, none otherwise]
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub job_timeout: Option<std::time::Duration>,

    /// Sleep: milliseconds each healthy job waits
    #[arg(long, value_name = "MS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_MS))]
    pub wait_ms: u64,

    /// One JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

impl From<ChaosArgs> for ChaosRequest {
    fn from(a: ChaosArgs) -> ChaosRequest {
        ChaosRequest {
            faults: a.fault,
            strategies: a.strategy,
            workload: a.workload,
            items: a.items,
            every: a.every,
            workers: a.workers,
            leak_mb: a.leak_mb,
            job_timeout: a.job_timeout,
            wait_ms: a.wait_ms,
            json: a.json,
        }
    }
}
