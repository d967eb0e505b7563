//! What every strategy declares about itself: its properties and how to run it. The registry in
//! [`crate::strategy`] lists them; `list`, `compare`, `race` and the lessons read these fields
//! instead of comparing names.

use super::spec::{Outcome, RunSpec};
use crate::workload::wallet::SyncMode;

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
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

/// How many workers a strategy runs, and whether `--workers` may change it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Workers {
    /// One job at a time, by construction (`sequential`); `--workers` is refused.
    One,
    /// One worker per job (`threads`); `--workers` is refused.
    PerJob,
    /// `--workers N`, with this default.
    Count(usize),
}

impl Workers {
    /// The default count, for strategies that take `--workers`.
    pub fn default_count(self) -> Option<usize> {
        match self {
            Workers::Count(n) => Some(n),
            Workers::One | Workers::PerJob => None,
        }
    }

    /// Does `--workers` apply?
    pub fn takes_count(self) -> bool {
        matches!(self, Workers::Count(_))
    }

    /// Workers for a run of `items` jobs with `asked` from `--workers` (already accepted).
    pub fn resolve(self, asked: Option<u64>, items: u64) -> usize {
        match self {
            Workers::One => 1,
            Workers::PerJob => items as usize,
            Workers::Count(default) => asked.map(|w| w as usize).unwrap_or(default),
        }
    }

    /// Why `--workers` does not apply, in the words of an error message.
    pub fn why_fixed(self) -> &'static str {
        match self {
            Workers::One => "runs one job at a time",
            Workers::PerJob => "starts one thread per job",
            Workers::Count(_) => "takes --workers",
        }
    }
}

/// What bounds a strategy's per-job cost from below: primitives measured by `concur limits`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Floor {
    /// The primitive paid once per job (a name in `concur limits`).
    pub per_job: &'static str,
    /// A primitive paid once per run (`per_worker: false`) or once per worker, with a short
    /// name for the description.
    pub setup: Option<Setup>,
    /// Each worker pays `per_job` itself, at the same time as the others (a round trip to a
    /// server): N workers on C cores pay min(N, C) at once, so the floor per job is the
    /// primitive divided by that. False where one thread hands out every job (a spawn, a send,
    /// a fork in the parent).
    pub parallel: bool,
}

/// See [`Floor::setup`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    pub primitive: &'static str,
    pub short: &'static str,
    pub per_worker: bool,
}

/// Everything the rest of concur needs to know about a strategy.
#[derive(Debug)]
pub struct StrategyInfo {
    pub name: &'static str,
    /// The Ruby system it models, and how.
    pub models: &'static str,
    pub props: Props,
    pub workers: Workers,
    /// Wallet `--sync` modes that apply; the first is the default.
    pub syncs: &'static [SyncMode],
    /// Transfer `--sync` modes (`-w transfer`), the first the default; empty where transfers
    /// cannot run (their accounts and locks live in one address space).
    pub transfers: &'static [SyncMode],
    /// Needs a Redis server (`--redis-url`, `REDIS_URL`, or a private redis-server).
    pub needs_redis: bool,
    /// The file that implements it (`file!()`), for `race --fix` and the lessons.
    pub source: &'static str,
    /// Where each wallet `--sync` mode is implemented, when not in [`Self::source`].
    pub wallet_in: Option<fn(SyncMode) -> String>,
    /// A preset: what it is made of.
    pub made_of: Option<&'static str>,
    /// Its per-job floor, for `compare -w noop`; `None` where no primitive bounds it.
    pub floor: Option<Floor>,
    /// Why the strategy cannot run on this machine, if it cannot (e.g. no redis-server).
    pub unavailable: fn() -> Option<String>,
    /// Run the jobs. Called in the measured child process.
    pub run: fn(&RunSpec) -> anyhow::Result<Outcome>,
}

impl PartialEq for StrategyInfo {
    /// Names are unique in the registry.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl StrategyInfo {
    /// Do its workers live in one process that runs no server, so that a trial can run (and
    /// be traced) in this process?
    pub fn in_process(&self) -> bool {
        self.props.memory == Memory::Shared && !self.props.needs_server
    }

    /// The file (and item) that implements `sync` for this strategy.
    pub fn wallet_source(&self, sync: SyncMode) -> String {
        match self.wallet_in {
            Some(f) => f(sync),
            None => self.source.to_owned(),
        }
    }

    /// The `--sync` modes of `workload` under this strategy, the default first.
    pub fn syncs_for(&self, workload: crate::workload::Workload) -> &'static [SyncMode] {
        match workload {
            crate::workload::Workload::Transfer => self.transfers,
            _ => self.syncs,
        }
    }

    /// Its racy `--sync` mode: `none` if it has one, else its default.
    pub fn racy_sync(&self) -> SyncMode {
        if self.syncs.contains(&SyncMode::None) {
            SyncMode::None
        } else {
            self.syncs[0]
        }
    }
}

/// Always available.
pub fn available() -> Option<String> {
    None
}

/// Properties shared by every strategy whose workers are threads of one process.
pub const THREADED: Props = Props {
    memory: Memory::Shared,
    survives_crash: false,
    kills_hung: false,
    parallel: true,
    needs_server: false,
};
