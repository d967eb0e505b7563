//! The queue commands' flags (clap derive), kept beside the code they drive; `cli.rs` only
//! names the subcommands.

use crate::app::queue::demo::DemoRequest;
use crate::app::queue::fetch::FetchMode;
use crate::app::queue::stats::StatsRequest;
use crate::app::queue::worker::WorkerRequest;
use crate::app::queue::{EnqueueRequest, RetryRequest};
use crate::request::{MAX_COST, MAX_ITEMS, MAX_REPEAT, MAX_WORKERS};
use crate::workload::Workload;
use clap::Args;

/// Where the shared Redis is. Not optional in practice: enqueue, worker and stats are separate
/// processes (on separate machines, in production) and must all reach the same server.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// The Redis server every queue process shares (also REDIS_URL; this flag wins), e.g.
    /// redis://HOST:PORT or unix:///PATH/redis.sock
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
}

pub const ENQUEUE_EXAMPLES: &str = "\
Examples:
  export REDIS_URL=redis://127.0.0.1:6390
  concur enqueue                               51 EmojiJob on queue default
  concur enqueue -w noop --items 10000         ten thousand no-op jobs
  concur enqueue -w sleep --wait-ms 200 -q slow  slow jobs on queue slow
  concur enqueue --flaky 2 --items 1           a job that fails twice, then succeeds on retry
  concur enqueue -w noop --in 30s              scheduled: moved to its queue in 30 s
  concur enqueue -w noop --at 2026-11-25T18:00:00Z";

#[derive(Debug, Clone, Args)]
pub struct EnqueueArgs {
    /// What each job does (emoji, cpu, sleep, noop; wallet is `run`-only)
    #[arg(short, long, value_enum, default_value_t = Workload::Emoji)]
    pub workload: Workload,
    /// Jobs to enqueue [default: 51 for emoji, 16 for cpu, 1000 for sleep and noop, 1 with --flaky]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_ITEMS))]
    pub items: Option<u64>,
    /// The queue to push to
    #[arg(short, long, value_name = "Q", default_value = "default", value_parser = parse_queue_name)]
    pub queue: String,
    /// Emoji: prints per job
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=MAX_REPEAT))]
    pub repeat: u64,
    /// Cpu: million computation steps per job
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=MAX_COST))]
    pub cost: u64,
    /// Sleep: milliseconds each job waits
    #[arg(long, value_name = "MS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub wait_ms: u64,
    /// Enqueue FlakyJob instead: a no-op that fails its first K attempts (to see retries, the
    /// schedule and the dead set)
    #[arg(long, value_name = "K")]
    pub flaky: Option<u64>,
    /// Retries for these jobs (0 = dead on first failure) [default: the worker's --max-retries]
    #[arg(long, value_name = "N")]
    pub retry: Option<u64>,
    /// Run after this long (e.g. 30s, 1.5m, 250ms, 2h): into the schedule set, not the queue
    #[arg(long = "in", value_name = "DUR", value_parser = super::parse_duration, conflicts_with = "at")]
    pub in_: Option<std::time::Duration>,
    /// Run at this time: Unix seconds or UTC RFC 3339 (2026-11-25T18:00:00Z)
    #[arg(long, value_name = "TIME", value_parser = crate::sys::time::parse_time)]
    pub at: Option<f64>,
    /// Print each job's jid on stdout, one per line
    #[arg(long)]
    pub print_jids: bool,
    #[command(flatten)]
    pub redis: RedisArgs,
}

pub const WORKER_EXAMPLES: &str = "\
Examples:
  concur worker                                  5 threads on queue default (Sidekiq)
  concur worker --queues critical,default -c 10  critical first, then default
  concur worker --fork -c 2                      a process per job, 2 at a time (Resque)
  concur worker --fetch basic                    BRPOP: a kill -9 loses the jobs in flight
  concur worker --batch 50                       50 jobs per round trip (reliable, threads)
  concur worker --exit-when-empty                drain and stop (scripts, demos)

Signals: QUIT finish current jobs, then exit; TERM/INT requeue jobs in flight and exit now;
USR1 kill running fork children (their jobs fail and are retried); USR2 pause fetching; CONT
resume. In --fork mode the process that forks is single-threaded: fetching, heartbeats, the
scheduler and the reaper all run in one loop between waits for children.";

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Queues to fetch from, in priority order
    #[arg(long, value_name = "A,B", value_delimiter = ',', default_value = "default",
          value_parser = parse_queue_name)]
    pub queues: Vec<String>,
    /// Jobs at once: threads, or with --fork concurrent child processes
    #[arg(short, long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    pub concurrency: u64,
    /// Fork a child process per job (Resque) instead of running jobs on threads (Sidekiq)
    #[arg(long)]
    pub fork: bool,
    /// How jobs are taken from the queue
    #[arg(long, value_enum, default_value_t = FetchMode::Reliable)]
    pub fetch: FetchMode,
    /// Reliable fetch on threads: move K jobs into a processing list per round trip (fewer
    /// commands; a kill -9 reruns the whole batch, finished jobs included)
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=crate::app::queue::fetch::MAX_BATCH))]
    pub batch: u64,
    /// With --fork and reliable fetch, do not take the next job while every child is busy (by
    /// default one job is fetched ahead, and given back if it waits more than 5 ms)
    #[arg(long)]
    pub no_prefetch: bool,
    /// With --fork and -c 2 or more, let a new child start on the parent's CPU (by default each
    /// child starts on another CPU, and gets every CPU back before the parent waits)
    #[arg(long)]
    pub no_spread: bool,
    /// Retries for a failing job with "retry": true, then the dead set
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub max_retries: u64,
    /// Multiply retry delays by this (0.001 turns Sidekiq's minutes into milliseconds, for tests
    /// and demos); the schedule is logged unscaled
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_scale)]
    pub time_scale: f64,
    /// Time between heartbeats (5, 5s, 500ms); a worker silent for 3 of them is presumed dead
    /// and its jobs in flight are requeued by any other worker's reaper
    #[arg(long, value_name = "DUR", default_value_t = 5.0, value_parser = parse_heartbeat)]
    pub heartbeat: f64,
    /// Exit once the queues, the retry and schedule sets and every processing list are empty
    /// (so it waits for scheduled jobs and retries, however far off)
    #[arg(long)]
    pub exit_when_empty: bool,
    /// Count each finished jid in the hash concur:done (jid -> times run), to check that no job
    /// was lost or run twice
    #[arg(long)]
    pub record_jids: bool,
    /// Log every job, not only failures, retries and reaps
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Redraw every --interval seconds until Ctrl-C, like top
    #[arg(long)]
    pub watch: bool,
    /// Time between redraws with --watch (1, 1s, 500ms)
    #[arg(long, value_name = "DUR", default_value_t = 1.0, value_parser = parse_heartbeat)]
    pub interval: f64,
    /// One JSON object on stdout
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// How many jobs of the retry, scheduled and dead sets to list (with jid, class, args,
    /// error, attempts and when); the counts are always of them all
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub limit: u64,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["jid", "all_dead"]))]
pub struct RetryArgs {
    /// The job to re-enqueue now (looked up in the dead set, then the retry set)
    pub jid: Option<String>,
    /// Re-enqueue every job in the dead set
    #[arg(long)]
    pub all_dead: bool,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Jobs per trial (SleepJob of --wait-ms each)
    #[arg(long, value_name = "N", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=100_000))]
    pub items: u64,
    /// Worker processes
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(2..=16))]
    pub workers: u64,
    /// Milliseconds each job sleeps
    #[arg(long, value_name = "MS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub wait_ms: u64,
}

fn parse_queue_name(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "'{s}' is not a queue name (1-64 of letters, digits, _ - .)"
        ))
    }
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1000.0 => Ok(f),
        _ => Err(format!("'{s}' is not a time scale in (0, 1000]")),
    }
}

/// A period in seconds, in the one duration grammar every flag takes (`5`, `5s`, `250ms`, `1m`),
/// from 50 ms to an hour.
fn parse_heartbeat(s: &str) -> Result<f64, String> {
    let secs = super::parse_duration(s)?.as_secs_f64();
    if (0.05..=3600.0).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("'{s}' is not between 50ms and 1h"))
    }
}

impl From<EnqueueArgs> for EnqueueRequest {
    fn from(a: EnqueueArgs) -> EnqueueRequest {
        EnqueueRequest {
            workload: a.workload,
            items: a.items,
            queue: a.queue,
            repeat: a.repeat,
            cost: a.cost,
            wait_ms: a.wait_ms,
            flaky: a.flaky,
            retry: a.retry,
            in_s: a.in_.map(|d| d.as_secs_f64()),
            at: a.at,
            print_jids: a.print_jids,
            redis_url: a.redis.redis_url,
        }
    }
}

impl From<WorkerArgs> for WorkerRequest {
    fn from(a: WorkerArgs) -> WorkerRequest {
        WorkerRequest {
            queues: a.queues,
            concurrency: a.concurrency,
            fork: a.fork,
            fetch: a.fetch,
            batch: a.batch,
            prefetch: !a.no_prefetch,
            spread: !a.no_spread,
            max_retries: a.max_retries,
            time_scale: a.time_scale,
            heartbeat: a.heartbeat,
            exit_when_empty: a.exit_when_empty,
            record_jids: a.record_jids,
            verbose: a.verbose,
            redis_url: a.redis.redis_url,
        }
    }
}

impl From<StatsArgs> for StatsRequest {
    fn from(a: StatsArgs) -> StatsRequest {
        StatsRequest {
            watch: a.watch,
            interval: a.interval,
            json: a.json,
            limit: a.limit as usize,
            redis_url: a.redis.redis_url,
        }
    }
}

impl From<RetryArgs> for RetryRequest {
    fn from(a: RetryArgs) -> RetryRequest {
        RetryRequest {
            jid: a.jid,
            all_dead: a.all_dead,
            redis_url: a.redis.redis_url,
        }
    }
}

impl From<DemoArgs> for DemoRequest {
    fn from(a: DemoArgs) -> DemoRequest {
        DemoRequest {
            items: a.items,
            workers: a.workers,
            wait_ms: a.wait_ms,
        }
    }
}
