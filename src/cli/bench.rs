//! `concur bench ...`: benchmarks of concur's own machinery (clap only).

use crate::app::queue::bench::BenchQueueRequest;
use crate::app::Request;
use clap::{Args, Subcommand};

pub const BENCH_QUEUE_EXAMPLES: &str = "\
Examples:
  concur bench queue                       every worker mode on a private redis-server
  concur bench queue --items 50000 --runs 5
  REDIS_URL=redis://127.0.0.1:6390 concur bench queue --json

Each mode: N no-op jobs drained by `concur worker --exit-when-empty`; jobs/s over the worker's
busy span, Redis commands and round trips per job (INFO commandstats, total_reads_processed),
CPU per job, peak RSS, the ratio to `redis-benchmark -t lpop` at the same connection count and
to the floors (fork, round trip) measured in the same run.";

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The Redis job queue: each worker mode's jobs/s, commands and round trips per job, CPU,
    /// RSS, against redis-benchmark and the floors
    #[command(after_help = BENCH_QUEUE_EXAMPLES)]
    Queue(BenchQueueArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BenchQueueArgs {
    /// No-op jobs per run of each threaded mode
    #[arg(long, value_name = "N", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub items: u64,
    /// No-op jobs per run of each --fork mode (a process each)
    #[arg(long, value_name = "N", default_value_t = 3_000,
          value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub fork_items: u64,
    /// Runs of each mode (the median is reported)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=20))]
    pub runs: u64,
    /// One JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

impl From<BenchCommand> for Request {
    fn from(c: BenchCommand) -> Request {
        match c {
            BenchCommand::Queue(a) => Request::BenchQueue(BenchQueueRequest {
                items: a.items,
                fork_items: a.fork_items,
                runs: a.runs as usize,
                json: a.json,
            }),
        }
    }
}
