//! The command line: clap definitions only. Work happens in the modules these dispatch to.

pub mod queue;

use crate::app::compare::{Preset, Sweep};
use crate::strategy::spec::{SyncMode, Workload};
use crate::workload::fault::Fault;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  concur list                                   every strategy and workload, with properties
  concur run -s threads                         51 threads print 51 emoji, 50 times each
  concur run -s pool --workers 2 --quiet        the same on a pool of 2, summary only
  concur run -s threads -w wallet               lose updates to a race...
  concur run -s threads -w wallet --sync mutex  ...and stop losing them
  concur run -s futures --workers 1 -w wallet   a single-threaded event loop loses them too
  concur run -s rayon --json                    one JSON object on stdout, for scripts
  concur run -s pool -w cpu --workers 2         CPU-bound jobs on both cores
  concur run -s futures -w sleep --items 10000  ten thousand waits on one event loop
  concur run -s fork --workers 4                Resque: a process per job, 4 at a time
  concur run -s fork -w wallet                  each child changes its own copy: isolation
  concur run -s rpc -w wallet --sync none       a server owns the balance; get+set still races
  concur run -s redis --workers 8 --batch 16    Sidekiq's shape: JSON jobs in a Redis list
  concur run -s redis -w wallet --sync watch    WATCH/MULTI/EXEC: no update lost, retries counted
  concur run -s fork --fault crash --every 10   one job in ten aborts: fork loses only those
  concur run -s fork --fault hang --job-timeout 1s   a hung child is killed, the run goes on";

#[derive(Debug, Parser)]
#[command(
    name = "concur",
    version,
    about = "Run the same background jobs under many concurrency strategies and measure them side by side",
    long_about = "concur runs the same background-job workloads (emoji printing, a shared wallet) under \
many strategies - a loop, threads, a pool, actors, async tasks, processes - and measures each from \
outside: wall and CPU time, peak RSS and PSS of the whole process tree, and whether the result is \
correct. It is a workshop tool: watch the output interleave, see the memory, lose updates on purpose.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every strategy and workload, one line each, with each strategy's properties
    List,
    /// Run one workload under one strategy, measured from outside
    #[command(after_help = EXAMPLES)]
    Run(RunArgs),
    /// Run every strategy several times, each in a fresh measured child, and report side by side
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// The wallet race: lost updates over many trials, the losing interleaving, and every fix
    #[command(after_help = RACE_EXAMPLES, long_about = RACE_ABOUT)]
    Race(RaceArgs),
    /// Assume chaos: which strategies survive a crashing, panicking, leaking or hung job
    #[command(after_help = CHAOS_EXAMPLES, long_about = CHAOS_ABOUT)]
    Chaos(ChaosArgs),
    /// The workshop lessons: list them, show one, run its demos, remember progress
    #[command(
        after_help = "Examples:\n  concur lesson list        lessons, with [x] for done\n  concur lesson next        the first lesson not done yet\n  concur lesson 3 --yes     lesson 3, demos run without asking\n  concur lesson 3 --no-run  lesson 3, demo commands shown, not run\n\nProgress lives in $CONCUR_STATE_DIR, else $XDG_STATE_HOME/concur, else ~/.local/state/concur."
    )]
    Lesson {
        /// list, next, or a lesson number
        #[arg(value_name = "list|next|N")]
        which: Option<String>,
        /// Run the demos without asking (and skip the prediction prompt)
        #[arg(long, short)]
        yes: bool,
        /// Do not run the demos
        #[arg(long, conflicts_with = "yes")]
        no_run: bool,
    },
    /// Measure the primitives strategies are built from (fork, thread spawn, channel, task, ...)
    #[command(
        after_help = "Examples:\n  concur limits\n  concur limits --app-mb 200   also fork with 200 MiB of app memory\n  concur limits --json\n\n\
Each strategy against its floor: concur compare -w noop --items 2000\n\
The same primitives as criterion benches: cargo bench -- primitive"
    )]
    Limits {
        /// Runs per primitive (median and min-max are reported)
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
        runs: u64,
        /// Also time fork with this many MiB allocated and touched in the parent
        #[arg(long, value_name = "MB", default_value_t = 0,
              value_parser = clap::value_parser!(u64).range(0..=MAX_APP_MB))]
        app_mb: u64,
        /// One JSON object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Push jobs onto a Redis queue (Sidekiq's JSON), now or scheduled (--in / --at)
    #[command(after_help = crate::cli::queue::ENQUEUE_EXAMPLES)]
    Enqueue(crate::cli::queue::EnqueueArgs),
    /// A long-running queue worker: threads (Sidekiq) or --fork (Resque), reliable fetch, retries
    #[command(after_help = crate::cli::queue::WORKER_EXAMPLES)]
    Worker(crate::cli::queue::WorkerArgs),
    /// The queue at a glance: queues, workers, processed/failed, retry/scheduled/dead (--watch)
    #[command(
        after_help = "Examples:\n  concur stats\n  concur stats --watch\n  concur stats --json"
    )]
    Stats(crate::cli::queue::StatsArgs),
    /// Re-enqueue a failed job now (by jid), or every dead job
    #[command(
        after_help = "Examples:\n  concur retry 3f2a9c0d41b27e8a55c0d1e2\n  concur retry --all-dead"
    )]
    Retry(crate::cli::queue::RetryArgs),
    /// Self-contained: private Redis, 3 workers, kill -9 one, reliable vs basic fetch
    #[command(name = "queue-demo")]
    QueueDemo(crate::cli::queue::DemoArgs),
    /// (internal) the measured child of `run`: runs the jobs and reports the outcome
    #[command(name = "__exec", hide = true)]
    Exec {
        /// The run spec, a JSON file (a file in the run's private temp dir, not an argument, so
        /// that a password in a Redis URL never shows in `ps`)
        #[arg(long)]
        spec: PathBuf,
        /// Where to write the outcome JSON
        #[arg(long)]
        result: PathBuf,
    },
}

/// Limits beyond which a run is surely a typo, not an experiment.
pub const MAX_WORKERS: u64 = 1024;
pub const MAX_ITEMS: u64 = 1_000_000;
pub const MAX_REPEAT: u64 = 100_000;
pub const MAX_PAUSE_US: u64 = 1_000_000;
pub const MAX_APP_MB: u64 = 16 * 1024;
/// Emoji writes in one run (items x repeat).
pub const MAX_WRITES: u64 = 20_000_000;
/// `--repeat` and `--pause-us` when not given (shared by `run` and `compare`).
pub const DEFAULT_REPEAT: u64 = 50;
pub const DEFAULT_PAUSE_US: u64 = 100;
/// `--cost` and `--wait-ms` when not given, and their limits (shared by `run` and `compare`).
pub const DEFAULT_COST: u64 = 5;
pub const MAX_COST: u64 = 10_000;
pub const DEFAULT_WAIT_MS: u64 = 10;
pub const MAX_WAIT_MS: u64 = 60_000;

/// Each workload's own knob, the same for `run` and `compare`.
#[derive(Debug, Clone, Args)]
pub struct WorkloadKnobs {
    /// Emoji: how many times each item prints its emoji
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REPEAT,
          value_parser = clap::value_parser!(u64).range(1..=MAX_REPEAT))]
    pub repeat: u64,

    /// Wallet: microseconds between reading the balance and writing it back (the race window)
    #[arg(long, value_name = "US", default_value_t = DEFAULT_PAUSE_US,
          value_parser = clap::value_parser!(u64).range(0..=MAX_PAUSE_US))]
    pub pause_us: u64,

    /// Cpu: million dependent computation steps per job (about 1.3 ms each here)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_COST,
          value_parser = clap::value_parser!(u64).range(1..=MAX_COST))]
    pub cost: u64,

    /// Sleep: milliseconds each job waits (a slow API call)
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_WAIT_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_MS))]
    pub wait_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Strategy: sequential, threads, pool, rayon, actors, futures, fork, prefork, rpc, redis,
    /// sqlite, sqlite-fork, or a preset: resque, sidekiq, delayed-job, sucker-punch (see `concur list`)
    #[arg(short, long, value_name = "STRATEGY", value_parser = parse_strategy)]
    pub strategy: String,

    /// Workload to run (emoji, wallet, cpu, sleep)
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

    /// Redis server for -s redis (also REDIS_URL; this flag wins); without either, concur starts
    /// a private redis-server on a Unix socket and stops it afterwards
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// -s redis: jobs fetched per round trip (LPOP key K); a worker that dies loses its batch
    #[arg(long, value_name = "K",
          value_parser = clap::value_parser!(u64).range(1..=crate::strategy::redis::MAX_BATCH))]
    pub batch: Option<u64>,

    /// Print one JSON object on stdout instead of the emoji stream and the summary
    #[arg(long)]
    pub json: bool,

    /// Do not show the emoji stream (it is still written, counted and discarded)
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub chaos: FaultArgs,
}

/// Breaking jobs on purpose, and stopping runs: shared by `run` and `chaos`.
#[derive(Debug, Clone, Args)]
pub struct FaultArgs {
    /// Break one job in K on purpose: crash (abort the process), panic, leak (--leak-mb), hang
    #[arg(long, value_enum, value_name = "FAULT")]
    pub fault: Option<Fault>,

    /// --fault strikes jobs K-1, 2K-1, ... (one job in K)
    #[arg(long, value_name = "K", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub every: u64,

    /// --fault leak: MiB each faulty job allocates, touches and never frees
    #[arg(long, value_name = "MB", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub leak_mb: u64,

    /// Fail a job that runs longer than DUR (1s, 500ms, 2m): fork and rpc kill its process
    /// (SIGTERM, then SIGKILL); threads cannot be killed, so in-process strategies stop the run
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub job_timeout: Option<std::time::Duration>,

    /// After Ctrl-C or SIGTERM, let running jobs finish for up to DUR, then kill them (a second
    /// Ctrl-C kills at once)
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: std::time::Duration,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::workload::fault::parse_duration(s)
}

const CHAOS_ABOUT: &str = "\
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

const CHAOS_EXAMPLES: &str = "\
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
    pub strategy: Vec<String>,

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
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub leak_mb: u64,

    /// A job running longer than DUR is a hang [default: 1s for --fault hang, none otherwise]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub job_timeout: Option<std::time::Duration>,

    /// Sleep: milliseconds each healthy job waits
    #[arg(long, value_name = "MS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub wait_ms: u64,

    /// One JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

const COMPARE_EXAMPLES: &str = "\
Examples:
  concur compare                                every strategy, 3 runs each -> concur-report/
  concur compare -s threads,pool --runs 5       two strategies, 5 runs each
  concur compare -w wallet                      who loses updates, and what it costs not to
  concur compare -w cpu                         who uses both cores
  concur compare --app-mb 100 --sweep workers=1,8,32
                                                the Sidekiq memory claim: processes vs threads
  concur compare --preset workshop              the workshop's figures (heavier: tens of seconds)";

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Workload to run
    #[arg(short, long, value_enum, default_value_t = Workload::Emoji)]
    pub workload: Workload,

    /// Strategies to compare, comma-separated [default: every strategy; those that cannot run
    /// here are listed as skipped]
    #[arg(short, long = "strategies", visible_alias = "strategy", value_name = "LIST",
          value_delimiter = ',', value_parser = parse_strategy)]
    pub strategies: Vec<String>,

    /// Measured runs per strategy, after one warm-up run [default: 3, or the preset's]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: Option<u32>,

    /// Workers for the strategies that take a count (not sequential or threads, which fix their
    /// own; the table says so)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    pub workers: Option<u64>,

    /// Jobs to run [default: the workload's own: 51 for emoji, see `concur list`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub items: Option<u64>,

    #[command(flatten)]
    pub knobs: WorkloadKnobs,

    /// Wallet: how updates are protected [default: each strategy's first; a strategy that
    /// cannot do the mode asked for is skipped]
    #[arg(long, value_enum)]
    pub sync: Option<SyncMode>,

    /// Allocate and touch this many MiB in each measured child before work starts (a booted
    /// app stand-in) [default: 0, or the preset's]
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(0..=MAX_APP_MB))]
    pub app_mb: Option<u64>,

    /// Directory for results.json, results.csv, the SVG plots and report.html
    #[arg(long, value_name = "DIR", default_value = "concur-report")]
    pub out: PathBuf,

    /// Measure along a sweep: workers=1,2,4 or items=10,50 or app-mb=0,100 (plotted in sweep.svg)
    #[arg(long, value_name = "AXIS=LIST", value_parser = Sweep::parse)]
    pub sweep: Option<Sweep>,

    /// Heavier, named settings; flags given explicitly win over the preset's
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
}

const RACE_ABOUT: &str = "\
Runs the wallet race many times: each trial is a balance of 100 and --items jobs (default 2: one \
+10, one -10), each a read, a pause, a write. Reports the trials that lost an update, the updates \
lost, a histogram of final balances, and one losing trial drawn as lanes per worker with the lost \
write marked (events recorded as they happened, one monotonic clock).

In-process strategies (threads, pool, rayon, futures, actors) run each trial in this process by \
calling the strategy's own code; process and server strategies (fork, rpc, redis) run each trial \
as a measured child process (as --harness does for all). The timeline and the deterministic modes \
(--schedule, --seed) are in-process only.";

const RACE_EXAMPLES: &str = "\
Examples:
  concur race                                  threads, 200 trials: how often is an update lost?
  concur race --schedule                       force r1,r2,w1,w2: one update lost, every time
  concur race --schedule r1,w1,r2,w2           a serial schedule: never lost
  concur race --seed 7 --trials 20             20 reproducible schedules, some losing, some not
  concur race -s futures --workers 1           one thread, an event loop, and still lost updates
  concur race --fix none,mutex,atomic,actor    each fix beside the race, 0 lost each
  concur race --fix all --trials 50            every strategy x every sync this build has
  concur race -s pool --items 100 --json       one JSON object: per-trial results, timeline events";

#[derive(Debug, Clone, Args)]
pub struct RaceArgs {
    /// Strategy to race (see `concur list`); its racy --sync mode is used, `none` where it has one
    #[arg(short, long, value_name = "STRATEGY", default_value = "threads", value_parser = parse_strategy)]
    pub strategy: String,

    /// How many times to run the wallet
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TRIALS))]
    pub trials: u64,

    /// Jobs per trial (alternately +10 and -10)
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=MAX_RACE_ITEMS))]
    pub items: u64,

    /// Workers, for strategies with a worker count (pool, rayon, futures, actors, fork, ...)
    /// [default: the strategy's own, at least 2 so that two can race]; `threads` starts one per job
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    pub workers: Option<u64>,

    /// Microseconds between reading the balance and writing it back (the race window)
    #[arg(long, value_name = "US", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=MAX_PAUSE_US))]
    pub pause_us: u64,

    /// Force an interleaving every trial, e.g. r1,r2,w1,w2 (the default when given no value):
    /// workers take turns in this order, round after round of jobs. In-process strategies only
    #[arg(long, value_name = "STEPS", num_args = 0..=1,
          default_missing_value = crate::workload::trace::DEFAULT_SCHEDULE, conflicts_with = "seed")]
    pub schedule: Option<String>,

    /// Force a schedule per trial drawn from this seed (two workers): the same trials on every
    /// machine, some losing and some not, each checked against what its schedule loses
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Also run these fixes, comma-separated: a sync (none, mutex, atomic, actor, ...) for the
    /// raced strategy, a strategy (e.g. actors, rpc) with its default, STRATEGY-SYNC (e.g.
    /// redis-incr), or `all`. With no value: every sync of the raced strategy
    #[arg(long, value_name = "LIST", value_delimiter = ',', num_args = 0..=1, default_missing_value = "")]
    pub fix: Vec<String>,

    /// Run every trial as its own measured child process, as `concur run` does (slower; no
    /// timeline)
    #[arg(long)]
    pub harness: bool,

    /// Print one JSON object on stdout (per-trial results, histogram, timeline events, fixes)
    #[arg(long)]
    pub json: bool,
}

/// Limits for `race`.
pub const MAX_TRIALS: u64 = 100_000;
pub const MAX_RACE_ITEMS: u64 = 10_000;

fn parse_strategy(s: &str) -> Result<String, String> {
    match crate::strategy::find(s) {
        Some(info) => Ok(info.name.to_owned()),
        None => Err(format!(
            "unknown strategy '{s}' (valid: {})",
            crate::strategy::names()
        )),
    }
}
