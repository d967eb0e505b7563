//! `concur run`'s flags, shared pieces of them (`WorkloadKnobs`, `FaultArgs`), and the request
//! they make.

use super::{parse_duration, parse_strategy, parse_timeout};
use crate::app::run::RunCommand;
use crate::request::{self, RunRequest, *};
use crate::strategy::StrategyInfo;
use crate::workload::fault::Fault;
use crate::workload::wallet::SyncMode;
use crate::workload::{Knobs, Workload};
use clap::Args;

/// Each workload's own knob, the same for `run` and `compare`.
#[derive(Debug, Clone, Args)]
pub struct WorkloadKnobs {
    /// Emoji: how many times each item prints its emoji
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KNOBS.repeat,
          value_parser = clap::value_parser!(u64).range(1..=MAX_REPEAT))]
    pub repeat: u64,

    /// Wallet: microseconds between reading the balance and writing it back (the race window)
    #[arg(long, value_name = "US", default_value_t = DEFAULT_KNOBS.pause_us,
          value_parser = clap::value_parser!(u64).range(0..=MAX_PAUSE_US))]
    pub pause_us: u64,

    /// Cpu: million dependent computation steps per job (about 1.3 ms each here)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KNOBS.cost,
          value_parser = clap::value_parser!(u64).range(1..=MAX_COST))]
    pub cost: u64,

    /// Sleep: milliseconds each job waits (a slow API call)
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_KNOBS.wait_ms,
          value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_MS))]
    pub wait_ms: u64,

    /// Transfer: accounts the money moves between (job i: account i mod K to the next one)
    #[arg(long, value_name = "K", default_value_t = DEFAULT_KNOBS.accounts,
          value_parser = clap::value_parser!(u64).range(2..=crate::workload::transfer::MAX_ACCOUNTS))]
    pub accounts: u64,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Strategy: sequential, threads, pool, rayon, actors, futures, fork, prefork, rpc, redis,
    /// sqlite, sqlite-fork, or a preset: resque, sidekiq, delayed-job, sucker-punch (see `concur list`)
    #[arg(short, long, value_name = "STRATEGY", value_parser = parse_strategy)]
    pub strategy: &'static StrategyInfo,

    /// Workload to run (emoji, wallet, cpu, sleep, noop, transfer)
    #[arg(short, long, value_enum, default_value_t = Workload::Emoji)]
    pub workload: Workload,

    /// Worker threads, actors, tasks' threads or processes (default: the strategy's own; `sequential` and
    /// `threads` fix their own count)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    pub workers: Option<u64>,

    /// Jobs to run [default: 51 for emoji (items 0..=50), 100 for wallet]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub items: Option<u64>,

    #[command(flatten)]
    pub knobs: WorkloadKnobs,

    /// Wallet: how updates are protected [default: the strategy's first in `concur list`]
    #[arg(long, value_enum)]
    pub sync: Option<SyncMode>,

    /// Allocate and touch this many MiB in the child before work starts (a booted app stand-in)
    #[arg(long, value_name = "MB", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=MAX_APP_MB))]
    pub app_mb: u64,

    /// Each forked worker (or fork-per-job child) writes PCT % of the app's pages, as a garbage
    /// collector does: copy-on-write sharing decays and PSS climbs toward RSS (needs --app-mb)
    #[arg(long, value_name = "PCT", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub dirty: u8,

    /// Redis server for -s redis (also REDIS_URL; this flag wins); without either, concur starts
    /// a private redis-server on a Unix socket and stops it afterwards
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// -s redis: jobs fetched per round trip (LPOP key K); a worker that dies loses its batch
    #[arg(long, value_name = "K",
          value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH))]
    pub batch: Option<u64>,

    /// Print one JSON object on stdout instead of the emoji stream and the summary
    #[arg(long)]
    pub json: bool,

    /// Do not show the emoji stream (it is still written, counted and discarded)
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub chaos: FaultArgs,

    #[command(flatten)]
    pub interrupt: InterruptArgs,

    /// -w transfer: force the order of lock attempts, e.g. l1,l2,l1,l2 (the default when given
    /// no value: both workers take their first lock, then both try their second: a deadlock)
    #[arg(long, value_name = "STEPS", num_args = 0..=1,
          default_missing_value = crate::workload::transfer::DEFAULT_LOCK_SCHEDULE)]
    pub schedule: Option<String>,
}

/// Breaking jobs on purpose, and stopping runs: shared by `run` and `chaos`.
#[derive(Debug, Clone, Args)]
pub struct FaultArgs {
    /// Break one job in K on purpose: crash (abort the process), panic, leak (--leak-mb), hang
    #[arg(long, value_enum, value_name = "FAULT")]
    pub fault: Option<Fault>,

    /// --fault strikes jobs K-1, 2K-1, ... (one job in K)
    #[arg(long, value_name = "K", default_value_t = DEFAULT_EVERY,
          value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub every: u64,

    /// --fault leak: MiB each faulty job allocates, touches and never frees
    #[arg(long, value_name = "MB", default_value_t = DEFAULT_LEAK_MB,
          value_parser = clap::value_parser!(u64).range(1..=MAX_LEAK_MB))]
    pub leak_mb: u64,

    /// Fail a job that runs longer than DUR (1s, 500ms, 2m): fork and rpc kill its process
    /// (SIGTERM, then SIGKILL); threads cannot be killed, so in-process strategies stop the run
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub job_timeout: Option<std::time::Duration>,

    /// After Ctrl-C or SIGTERM, let running jobs finish for up to DUR, then kill them (a second
    /// Ctrl-C kills at once)
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: std::time::Duration,
}

/// Flags of `run` only, beside the fault flags.
#[derive(Debug, Clone, Args)]
pub struct InterruptArgs {
    /// Press Ctrl-C for you after DUR (a SIGINT to this run, as a terminal sends it): the
    /// graceful stop, for a demo or a slide (exit 130)
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub interrupt_after: Option<std::time::Duration>,
}

impl From<&WorkloadKnobs> for Knobs {
    fn from(k: &WorkloadKnobs) -> Knobs {
        Knobs {
            repeat: k.repeat,
            pause_us: k.pause_us,
            cost: k.cost,
            wait_ms: k.wait_ms,
            accounts: k.accounts,
        }
    }
}

impl From<RunArgs> for RunCommand {
    fn from(a: RunArgs) -> RunCommand {
        RunCommand {
            request: RunRequest {
                strategy: a.strategy,
                workload: a.workload,
                workers: a.workers,
                items: a.items,
                knobs: Knobs::from(&a.knobs),
                sync: a.sync,
                app_mb: a.app_mb,
                dirty_pct: a.dirty,
                redis_url: a.redis_url,
                batch: a.batch,
                fault: request::fault(a.chaos.fault, a.chaos.every, a.chaos.leak_mb),
                job_timeout: a.chaos.job_timeout,
                shutdown_timeout: a.chaos.shutdown_timeout,
                lock_schedule: a.schedule,
            },
            json: a.json,
            quiet: a.quiet,
            interrupt_after: a.interrupt.interrupt_after,
        }
    }
}
