//! The strategies: one module each, one shape each.
//!
//! A strategy takes a [`RunSpec`] and runs its jobs its own way: a loop, a thread per job, a pool
//! over a queue, actors, async tasks, forked processes... It returns an [`Outcome`] (jobs done,
//! failures, the wallet's books) and declares its [`Props`], the safety properties `list` and
//! `compare` print beside the measurements. Time and memory are *not* the strategy's business:
//! the harness takes them from outside the process.
//!
//! To add a strategy: write a module with a `pub const INFO: StrategyInfo`, add it to
//! [`STRATEGIES`], and it shows up in `list`, `run` and `compare`.

pub mod actors;
pub mod fork;
pub mod futures;
pub mod in_process;
pub mod info;
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

pub use info::{available, Floor, Memory, Props, Setup, StrategyInfo, Workers, THREADED};
pub use spec::{Failure, Outcome, RunSpec, Stop};

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
