//! What a run is asked to do ([`RunSpec`]) and what it reports back ([`Outcome`]).
//!
//! Both cross a process boundary: the harness (`concur run`) serialises the spec to JSON for the
//! measured child (`concur __exec`), and the child writes its outcome to a file the harness reads
//! after reaping it. Keeping them plain data keeps the two sides honest about what is measured.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The jobs every strategy runs identically.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// item x prints the emoji U+1F400+x `--repeat` times, one write each
    Emoji,
    /// a balance of 100; jobs alternate +10/-10 as read, pause, write
    Wallet,
    /// pure computation of `--cost` million steps, self-checked: shows parallel speed-up
    Cpu,
    /// wait `--wait-ms` like a slow API call: shows what async buys for I/O-bound jobs
    Sleep,
    /// do nothing: what is left is the strategy's own cost per job
    Noop,
}

impl Workload {
    pub const ALL: &'static [Workload] = &[
        Workload::Emoji,
        Workload::Wallet,
        Workload::Cpu,
        Workload::Sleep,
        Workload::Noop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Emoji => "emoji",
            Workload::Wallet => "wallet",
            Workload::Cpu => "cpu",
            Workload::Sleep => "sleep",
            Workload::Noop => "noop",
        }
    }

    pub fn about(self) -> &'static str {
        match self {
            Workload::Emoji => {
                "item x of 0..items prints U+1F400+x `repeat` times, each its own write(2); correct when every emoji appears exactly `repeat` times"
            }
            Workload::Wallet => {
                "a balance of 100; jobs alternate +10/-10 as read, pause, write; correct when the final balance is the expected one"
            }
            Workload::Cpu => {
                "each job computes `cost` million dependent steps and checks its answer: CPU-bound, shows speed-up with cores"
            }
            Workload::Sleep => {
                "each job waits `wait-ms` like a slow API call: I/O-bound, shows what async tasks save over threads and processes"
            }
            Workload::Noop => {
                "each job does nothing: what is left is the strategy's own cost of handing out a job"
            }
        }
    }

    /// Jobs when `--items` is not given: 51 emoji (0..=50, as in the talks), 100 wallet jobs
    /// (an even count, so the expected balance is the starting 100), 16 cpu jobs (8 per core
    /// here), 1000 sleeps or no-ops.
    pub fn default_items(self) -> u64 {
        match self {
            Workload::Emoji => 51,
            Workload::Wallet => 100,
            Workload::Cpu => 16,
            Workload::Sleep => 1000,
            Workload::Noop => 1000,
        }
    }
}

/// How a wallet update is protected. Each strategy declares which modes apply to it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// no protection: read, pause, write (loses updates under concurrency)
    None,
    /// a lock held across read, pause, write
    Mutex,
    /// the update is one indivisible atomic add after the pause
    Atomic,
    /// one actor owns the balance; jobs send it messages
    Actor,
    /// fork: the balance lives in a MAP_SHARED mapping every child reads and writes (racy)
    Shared,
    /// fork: the same shared mapping, each update one atomic add after the pause (exact)
    SharedAtomic,
    /// rpc: each update is one `adjust` call the server applies whole (exact)
    Adjust,
    /// Redis: one INCRBY per update, applied atomically by the server
    Incr,
    /// Redis: WATCH, read, pause, MULTI/SET/EXEC, retried when another write came first
    Watch,
}

impl SyncMode {
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::None => "none",
            SyncMode::Mutex => "mutex",
            SyncMode::Atomic => "atomic",
            SyncMode::Actor => "actor",
            SyncMode::Shared => "shared",
            SyncMode::SharedAtomic => "shared-atomic",
            SyncMode::Adjust => "adjust",
            SyncMode::Incr => "incr",
            SyncMode::Watch => "watch",
        }
    }
}

/// Everything the measured child needs to run one workload under one strategy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    pub strategy: String,
    pub workload: Workload,
    pub workers: usize,
    pub items: u64,
    pub repeat: u64,
    pub pause_us: u64,
    pub sync: SyncMode,
    pub app_mb: u64,
    /// cpu: million generator steps per job.
    #[serde(default = "default_cost")]
    pub cost: u64,
    /// sleep: milliseconds each job waits.
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
    /// `redis`: the server to use; `None` = start a private one.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// `redis`: jobs fetched per LPOP (1 = one round trip per job).
    #[serde(default = "one")]
    pub batch: u64,
    /// `--fault`: one job in K crashes, panics, leaks or hangs.
    #[serde(default)]
    pub fault: Option<crate::workload::fault::FaultSpec>,
    /// `--job-timeout` in milliseconds: a job running longer is killed (processes) or stops the
    /// run (threads, which cannot be killed).
    #[serde(default)]
    pub job_timeout_ms: Option<u64>,
    /// `--shutdown-timeout` in milliseconds: after SIGINT/SIGTERM, how long running jobs may
    /// finish before the harness kills them.
    #[serde(default = "default_shutdown_ms")]
    pub shutdown_timeout_ms: u64,
}

impl RunSpec {
    /// `items` jobs of `workload` on `workers` workers of `strategy`, with every other knob quiet:
    /// the strategy's first `--sync` mode, 50 emoji per item, no pause between a wallet's read and
    /// write, no app memory, no faults, a private Redis. For benches and tests; `concur run`
    /// builds its spec from the flags. `None` for an unknown strategy.
    pub fn new(strategy: &str, workload: Workload, items: u64, workers: usize) -> Option<RunSpec> {
        let info = crate::strategy::find(strategy)?;
        Some(RunSpec {
            strategy: strategy.to_owned(),
            workload,
            workers,
            items,
            repeat: 50,
            pause_us: 0,
            sync: info.syncs[0],
            app_mb: 0,
            cost: default_cost(),
            wait_ms: default_wait_ms(),
            redis_url: None,
            batch: 1,
            fault: None,
            job_timeout_ms: None,
            shutdown_timeout_ms: DEFAULT_SHUTDOWN_MS,
        })
    }
}

/// Running jobs get this long to finish after Ctrl-C, unless `--shutdown-timeout` says otherwise.
pub const DEFAULT_SHUTDOWN_MS: u64 = 5000;

fn default_shutdown_ms() -> u64 {
    DEFAULT_SHUTDOWN_MS
}

fn one() -> u64 {
    1
}

fn default_cost() -> u64 {
    5
}

fn default_wait_ms() -> u64 {
    10
}

/// Wallet result: where the balance ended and what was expected.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WalletOutcome {
    pub expected_balance: i64,
    pub final_balance: i64,
    /// Updates that were overwritten by a concurrent read-pause-write (the race made visible).
    pub lost_updates: u64,
}

/// What the measured child reports about its own run. Measurements (time, memory) are not here:
/// the harness takes those from outside.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Jobs performed (successfully or not).
    pub jobs: u64,
    /// Workers actually used (threads, tasks, actors, processes).
    pub workers: usize,
    /// Jobs that failed, with a reason each.
    pub failures: Vec<String>,
    pub wallet: Option<WalletOutcome>,
    /// Seconds spent inside the strategy itself, by the child's own clock.
    pub work_s: f64,
    /// Lines worth showing under the summary (e.g. "isolated: 0 of N updates reached the parent").
    pub notes: Vec<String>,
    /// The child's own PSS at the end of its run: the fallback when a run is too quick for the
    /// harness to sample even once.
    #[serde(default)]
    pub self_pss_bytes: u64,
    /// Why the run stopped before handing out every job: "SIGINT", "SIGTERM", "job timeout".
    #[serde(default)]
    pub stopped_by: Option<String>,
    /// Jobs never started because of that stop.
    #[serde(default)]
    pub jobs_not_started: u64,
    /// The measured child's own RSS just before the strategy ran and just after: a leak kept
    /// in the process shows as the difference; a leak in a forked child does not.
    #[serde(default)]
    pub rss_start_bytes: u64,
    #[serde(default)]
    pub rss_end_bytes: u64,
    /// Jobs killed or abandoned for running past `--job-timeout`.
    #[serde(default)]
    pub jobs_timed_out: u64,
    /// From a hung job's start to the moment it was found and dealt with (the first one).
    #[serde(default)]
    pub hang_detected_s: Option<f64>,
}

/// Expected final wallet balance after `items` jobs alternating +10, -10, +10, ...
pub fn expected_balance(items: u64) -> i64 {
    crate::workload::wallet::START + crate::workload::wallet::delta_sum(items)
}
