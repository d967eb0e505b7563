//! `concur race`'s flags.

use super::parse_strategy;
use crate::app::race::{RaceRequest, MAX_RACE_ITEMS, MAX_TRIALS};
use crate::app::story::{Story, StoryRequest};
use crate::request::{MAX_PAUSE_US, MAX_WORKERS};
use crate::strategy::StrategyInfo;
use clap::Args;

pub(super) const RACE_ABOUT: &str = "\
Runs the wallet race many times: each trial is a balance of 100 and --items jobs (default 2: one \
+10, one -10), each a read, a pause, a write. Reports the trials that lost an update, the updates \
lost, a histogram of final balances, and one losing trial drawn as lanes per worker with the lost \
write marked (events recorded as they happened, one monotonic clock).

In-process strategies (threads, pool, rayon, futures, actors) run each trial in this process by \
calling the strategy's own code; process and server strategies (fork, rpc, redis) run each trial \
as a measured child process (as --harness does for all). The timeline and the deterministic modes \
(--schedule, --seed) are in-process only.";

pub(super) const RACE_EXAMPLES: &str = "\
Examples:
  concur race                                  threads, 200 trials: how often is an update lost?
  concur race --schedule                       force r1,r2,w1,w2: one update lost, every time
  concur race --schedule r1,w1,r2,w2           a serial schedule: never lost
  concur race --seed 7 --trials 20             20 reproducible schedules, some losing, some not
  concur race -s futures --workers 1           one thread, an event loop, and still lost updates
  concur race --fix none,mutex,atomic,actor    each fix beside the race, 0 lost each
  concur race --fix all --trials 50            every strategy x every sync this build has
  concur race -s pool --items 100 --json       one JSON object: per-trial results, timeline events
  concur race --story enqueue-before-commit --schedule --trials 1
                                               a job that runs before COMMIT, and each fix";

#[derive(Debug, Clone, Args)]
pub struct RaceArgs {
    /// Strategy to race (see `concur list`); its racy --sync mode is used, `none` where it has one
    #[arg(short, long, value_name = "STRATEGY", default_value = "threads", value_parser = parse_strategy)]
    pub strategy: &'static StrategyInfo,

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

    /// Tell another story than the wallet's: enqueue-before-commit (a job enqueued inside a
    /// transaction runs before COMMIT and finds no row; then each fix). Takes --trials, --items
    /// (requests per trial), --workers, --pause-us (enqueue to COMMIT), --schedule, --seed, --json
    #[arg(long, value_name = "NAME", conflicts_with_all = ["strategy", "fix", "harness"])]
    pub story: Option<Story>,
}

impl From<RaceArgs> for RaceRequest {
    fn from(a: RaceArgs) -> RaceRequest {
        let story = a.story.map(|story| StoryRequest {
            story,
            trials: a.trials,
            items: a.items,
            workers: a.workers,
            pause_us: a.pause_us,
            schedule: a.schedule.clone(),
            seed: a.seed,
            json: a.json,
        });
        RaceRequest {
            story,
            strategy: a.strategy,
            trials: a.trials,
            items: a.items,
            workers: a.workers,
            pause_us: a.pause_us,
            schedule: a.schedule,
            seed: a.seed,
            fix: a.fix,
            harness: a.harness,
            json: a.json,
        }
    }
}
