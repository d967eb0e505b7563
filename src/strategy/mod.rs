//! The strategies: one module each, one shape each.
//!
//! A strategy takes a [`RunSpec`] and runs its jobs its own way: a loop, a thread per job, a pool
//! over a queue, actors, async tasks, forked processes... It returns an [`Outcome`] (jobs done,
//! failures, the wallet's books) and declares its [`Props`], the safety properties `list` and
//! `compare` print beside the measurements. Time and memory are *not* the strategy's business:
//! the harness in [`crate::harness`] takes them from outside the process.
//!
//! To add a strategy: write a module with a `pub const INFO: StrategyInfo`, add it to
//! [`STRATEGIES`], and it shows up in `list`, `run` and `compare`.

pub mod actors;
pub mod fork;
pub mod futures;
pub mod pool;
pub mod prefork;
pub mod presets;
pub mod rayon_pool;
pub mod redis;
pub mod resque;
pub mod rpc;
pub mod sequential;
pub mod spec;
pub mod sqlite;
pub mod threads;

use crate::strategy::spec::{Outcome, RunSpec, SyncMode};

/// Where a strategy's jobs keep their memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Memory {
    /// one address space: cheap, and every job can corrupt every other's state
    Shared,
    /// a process per job or worker: costly, and a job can only break itself
    Isolated,
}

/// The safety and cost properties a strategy has by construction.
#[derive(Copy, Clone, Debug, serde::Serialize)]
pub struct Props {
    pub memory: Memory,
    /// A job that segfaults or aborts does not take the other jobs down.
    pub survives_crash: bool,
    /// A hung job can be killed from outside without killing the rest.
    pub kills_hung: bool,
    /// Jobs can run on several cores at once.
    pub parallel: bool,
    /// Needs a server (Redis, an RPC server) besides the workers.
    pub needs_server: bool,
}

/// Everything the rest of concur needs to know about a strategy.
pub struct StrategyInfo {
    pub name: &'static str,
    /// The Ruby system it models, and how.
    pub models: &'static str,
    pub props: Props,
    /// Workers when `--workers` is not given; `None` when the strategy fixes its own count
    /// (sequential: 1; threads: one per job) and rejects `--workers`.
    pub default_workers: Option<usize>,
    /// Wallet `--sync` modes that apply; the first is the default.
    pub syncs: &'static [SyncMode],
    /// Why the strategy cannot run on this machine, if it cannot (e.g. no redis-server).
    pub unavailable: fn() -> Option<String>,
    /// Run the jobs. Called in the measured child process.
    pub run: fn(&RunSpec) -> anyhow::Result<Outcome>,
}

/// Always available.
pub fn available() -> Option<String> {
    None
}

/// Every strategy, in the order `list` and `compare` show them.
pub static STRATEGIES: &[&StrategyInfo] = &[
    &sequential::INFO,
    &threads::INFO,
    &pool::INFO,
    &rayon_pool::INFO,
    &actors::INFO,
    &futures::INFO,
    &fork::INFO,
    &prefork::INFO,
    &rpc::INFO,
    &redis::INFO,
    &sqlite::INFO,
    &sqlite::FORK_INFO,
];

/// The strategy or preset ([`presets::PRESETS`]) called `name`.
pub fn find(name: &str) -> Option<&'static StrategyInfo> {
    STRATEGIES
        .iter()
        .chain(presets::PRESETS)
        .copied()
        .find(|s| s.name == name)
}

/// All strategy names, comma-separated (for error messages).
pub fn names() -> String {
    STRATEGIES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
        + &format!(
            "; presets: {}",
            presets::PRESETS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
}

/// Properties shared by every strategy whose workers are threads of one process.
pub const THREADED: Props = Props {
    memory: Memory::Shared,
    survives_crash: false,
    kills_hung: false,
    parallel: true,
    needs_server: false,
};
