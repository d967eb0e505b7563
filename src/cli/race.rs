//! `concur race`'s flags.

use super::parse_strategy;
use crate::app::race::{RaceRequest, MAX_RACE_ITEMS, MAX_TRIALS};
use crate::app::story::{Story, StoryRequest};
use crate::request::{MAX_PAUSE_US, MAX_WORKERS};
use crate::strategy::StrategyInfo;
use crate::workload::transfer::{DEFAULT_LOCK_SCHEDULE, MAX_ACCOUNTS};
use crate::workload::wallet::SyncMode;
use crate::workload::Workload;
use clap::Args;

/// Trials when `--trials` is not given: 200 wallets, 20 transfers (a deadlocked trial waits
/// 100 ms before its cycle is looked for).
const WALLET_TRIALS: u64 = 200;
const TRANSFER_TRIALS: u64 = 20;

pub(super) const RACE_ABOUT: &str = "\
Runs the wallet race many times: each trial is a balance of 100 and --items jobs (default 2: one \
+10, one -10), each a read, a pause, a write. Reports the trials that lost an update, the updates \
lost, a histogram of final balances, and one losing trial drawn as lanes per worker with the lost \
write marked (events recorded as they happened, one monotonic clock).

In-process strategies (threads, pool, rayon, futures, actors) run each trial in this process by \
calling the strategy's own code; process and server strategies (fork, rpc, redis) run each trial \
as a measured child process (as --harness does for all). The timeline and the deterministic modes \
(--schedule, --seed) are in-process only.

-w transfer races the other failure of locks: each job moves 10 between two accounts and takes \
both accounts' locks. The naive order (--sync lock-pair) deadlocks; concur finds the cycle (which \
worker holds which lock, waiting for which), aborts it and counts the trial. --schedule l1,l2,l1,l2 \
forces the lock attempts' order (both take their first lock, then both try their second: a \
deadlock every time); --fix ordered,try-lock,actor runs each fix under the same order.

--play makes you the scheduler: press 1 or 2 to move a worker one step, and find the order that \
loses an update, then the one that deadlocks two locks, then try to break a fix. What you find \
is replayed on real threads and measured. --play-script KEYS plays without a terminal.";

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
  concur race -w transfer --schedule           lock A, lock B, then each waits for the other: deadlock
  concur race -w transfer --schedule --fix all the same order against ordered, try-lock and actor
  concur race -w transfer --accounts 3 --items 3 --schedule l1,l2,l3,l1,l2,l3   a three-way cycle
  concur race --play                           you are the scheduler (keys 1 and 2)
  concur race --play --sync mutex              try to lose an update through a lock
  concur race --play --play-script 1212        the same, scripted (for tests and slides)
  concur race --story enqueue-before-commit --schedule --trials 1
                                               a job that runs before COMMIT, and each fix";

#[derive(Debug, Clone, Args)]
pub struct RaceArgs {
    /// Strategy to race (see `concur list`); its racy --sync mode is used, `none` where it has one
    #[arg(short, long, value_name = "STRATEGY", default_value = "threads", value_parser = parse_strategy)]
    pub strategy: &'static StrategyInfo,

    /// What to race: the wallet (lost updates) or transfers between accounts (deadlock)
    #[arg(short, long, value_name = "WORKLOAD", default_value = "wallet", value_parser = parse_race_workload)]
    pub workload: Workload,

    /// The raced mode [default: the strategy's racy one: none for the wallet, lock-pair for
    /// transfers]; with --play, the scene to play (none, mutex, lock-pair, ordered, try-lock)
    #[arg(long, value_enum)]
    pub sync: Option<SyncMode>,

    /// Transfer: accounts (job i moves 10 from account i mod K to the next)
    #[arg(long, value_name = "K", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(2..=MAX_ACCOUNTS))]
    pub accounts: u64,

    /// How many times to run the trial [default: 200, 20 for transfers]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_TRIALS))]
    pub trials: Option<u64>,

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

    /// Force an interleaving every trial, e.g. r1,r2,w1,w2 (the default when given no value; for
    /// transfers l1,l2,l1,l2, the order of lock attempts): workers take turns in this order,
    /// round after round of jobs. In-process strategies only
    #[arg(long, value_name = "STEPS", num_args = 0..=1, default_missing_value = "",
          conflicts_with = "seed")]
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

    /// Be the scheduler: press 1, 2 (3) to move a worker one step; lose an update, deadlock two
    /// locks, then try to break a fix. What you find is replayed on real threads
    #[arg(long, conflicts_with_all = ["schedule", "seed", "harness"])]
    pub play: bool,

    /// --play without a terminal: these keys, in order (1-3 move a worker, r restarts the level,
    /// n skips it, q quits; spaces ignored)
    #[arg(long, value_name = "KEYS", requires = "play")]
    pub play_script: Option<String>,

    /// --play: start at this level (1 lose an update, 2 deadlock, 3 break the fix)
    #[arg(long, value_name = "N", requires = "play",
          value_parser = clap::value_parser!(u8).range(1..=3))]
    pub level: Option<u8>,

    /// Tell another story than the wallet's: enqueue-before-commit (a job enqueued inside a
    /// transaction runs before COMMIT and finds no row; then each fix). Takes --trials, --items
    /// (requests per trial), --workers, --pause-us (enqueue to COMMIT), --schedule, --seed, --json
    #[arg(long, value_name = "NAME", conflicts_with_all = ["strategy", "fix", "harness"])]
    pub story: Option<Story>,
}

/// `-w`: the two workloads `race` knows.
fn parse_race_workload(s: &str) -> Result<Workload, String> {
    match s {
        "wallet" => Ok(Workload::Wallet),
        "transfer" => Ok(Workload::Transfer),
        _ => Err(format!(
            "race runs -w wallet (lost updates) or -w transfer (deadlock), not '{s}'"
        )),
    }
}

impl From<RaceArgs> for RaceRequest {
    fn from(a: RaceArgs) -> RaceRequest {
        let transfer = a.workload == Workload::Transfer;
        let default_schedule = if transfer {
            DEFAULT_LOCK_SCHEDULE
        } else {
            crate::workload::trace::DEFAULT_SCHEDULE
        };
        let story = a.story.map(|story| StoryRequest {
            story,
            trials: a.trials.unwrap_or(WALLET_TRIALS),
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
            workload: a.workload,
            sync: a.sync,
            accounts: a.accounts,
            play: a.play.then_some(crate::app::race::PlayRequest {
                script: a.play_script,
                level: a.level,
            }),
            trials: a.trials.unwrap_or(if transfer {
                TRANSFER_TRIALS
            } else {
                WALLET_TRIALS
            }),
            items: a.items,
            workers: a.workers,
            pause_us: a.pause_us,
            schedule: a.schedule.map(|s| {
                if s.is_empty() {
                    default_schedule.to_owned()
                } else {
                    s
                }
            }),
            seed: a.seed,
            fix: a.fix,
            harness: a.harness,
            json: a.json,
        }
    }
}
