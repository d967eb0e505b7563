//! The workloads: what one job does, and how to check that a run did all of them right.
//!
//! A strategy decides *where* jobs run (a loop, threads, a pool, actors, tasks, processes); a
//! workload decides *what* a job is. Emoji jobs are stateless and check their output; wallet jobs
//! share one balance, and where that balance lives is the lesson of each strategy. Faults break
//! jobs on purpose; [`inflight`] counts the jobs running at once; [`app`] stands in for a booted
//! application's memory.

pub mod app;
pub mod cpu;
pub mod emoji;
pub mod fault;
pub mod inflight;
pub mod trace;
pub mod transfer;
pub mod wallet;

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
    /// move 10 between accounts, two locks per job: deadlock and its fixes
    Transfer,
}

impl Workload {
    pub const ALL: &'static [Workload] = &[
        Workload::Emoji,
        Workload::Wallet,
        Workload::Cpu,
        Workload::Sleep,
        Workload::Noop,
        Workload::Transfer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Emoji => "emoji",
            Workload::Wallet => "wallet",
            Workload::Cpu => "cpu",
            Workload::Sleep => "sleep",
            Workload::Noop => "noop",
            Workload::Transfer => "transfer",
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
            Workload::Transfer => {
                "each job moves 10 between two of `accounts` accounts, taking two locks: the naive order deadlocks; correct when every account ends where the transfers say"
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
            Workload::Transfer => 100,
        }
    }
}

/// Each workload's own knob: the same under every strategy. The defaults and limits live in
/// the request layer (`concur::request`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knobs {
    /// Emoji: writes per item.
    pub repeat: u64,
    /// Wallet: microseconds between reading the balance and writing it back.
    pub pause_us: u64,
    /// Cpu: million computation steps per job.
    pub cost: u64,
    /// Sleep: milliseconds each job waits.
    pub wait_ms: u64,
    /// Transfer: how many accounts the money moves between.
    #[serde(default = "two_accounts")]
    pub accounts: u64,
}

fn two_accounts() -> u64 {
    2
}

/// The text of a caught panic's payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a non-string panic".into())
}

/// Perform job `i` of a workload that keeps no shared state (everything but the wallet, whose
/// account depends on where the strategy keeps it). The process strategies call this in their
/// forked children, where a failure can only be reported as an exit status.
pub fn perform_stateless(workload: Workload, knobs: &Knobs, i: u64) -> Result<(), String> {
    match workload {
        Workload::Noop | Workload::Wallet => Ok(()),
        // Transfers share accounts: only in-process strategies run them (`RunRequest` refuses
        // the others), through `strategy::in_process`.
        Workload::Transfer => Err("the transfer workload runs only in-process".into()),
        Workload::Cpu => cpu::perform(i, knobs.cost).map(drop),
        Workload::Sleep => {
            std::thread::sleep(std::time::Duration::from_millis(knobs.wait_ms));
            Ok(())
        }
        Workload::Emoji => emoji::perform(i, knobs.repeat).map_err(|e| e.to_string()),
    }
}
