//! A run as asked for: [`RunRequest`]. Every default and every limit of a run lives here, once,
//! and [`RunRequest::resolve`] checks a request and turns it into the [`RunSpec`] the measured
//! child receives.
//!
//! Who builds requests: `concur run` from its flags (in the `cli` layer), and `compare`, `race`,
//! `chaos`, the lessons and the benches directly, field by field. No command assembles an argv
//! and parses it again: a request is data, and a mistake in it is one [`Error::Usage`] line.

use crate::error::{usage, Error};
use crate::strategy::{self, threads, RunSpec, StrategyInfo, Workers};
use crate::sys::redis_server;
use crate::workload::fault::{Fault, FaultSpec};
use crate::workload::wallet::SyncMode;
use crate::workload::{emoji, Knobs, Workload};
use std::time::Duration;

/// Limits beyond which a run is surely a typo, not an experiment.
pub const MAX_WORKERS: u64 = 1024;
pub const MAX_ITEMS: u64 = 1_000_000;
pub const MAX_REPEAT: u64 = 100_000;
pub const MAX_PAUSE_US: u64 = 1_000_000;
pub const MAX_APP_MB: u64 = 16 * 1024;
pub const MAX_COST: u64 = 10_000;
pub const MAX_WAIT_MS: u64 = 60_000;
/// Emoji writes in one run (items x repeat).
pub const MAX_WRITES: u64 = 20_000_000;
/// `--fault leak`: MiB per faulty job.
pub const MAX_LEAK_MB: u64 = 4096;
/// `-s redis --batch K`: jobs per LPOP.
pub const MAX_BATCH: u64 = strategy::redis::MAX_BATCH;

/// Each workload's knob when not given: 50 emoji per item, 100 us between a wallet's read and
/// write, 5 million cpu steps, a 10 ms sleep.
pub const DEFAULT_KNOBS: Knobs = Knobs {
    repeat: 50,
    pause_us: 100,
    cost: 5,
    wait_ms: 10,
    accounts: 2,
};
/// `--every`: one job in K is faulty.
pub const DEFAULT_EVERY: u64 = 10;
/// `--leak-mb`.
pub const DEFAULT_LEAK_MB: u64 = 20;
/// `--shutdown-timeout`: running jobs get this long to finish after Ctrl-C.
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

/// Jobs when `--items` is not given: 51 emoji (0..=50, as in the talks), 100 wallet jobs (an
/// even count, so the expected balance is the starting 100), 16 cpu jobs (8 per core on a
/// workshop laptop), 1000 sleeps or no-ops.
pub fn default_items(workload: Workload) -> u64 {
    match workload {
        Workload::Emoji => 51,
        Workload::Wallet => 100,
        Workload::Cpu => 16,
        Workload::Sleep | Workload::Noop => 1000,
        Workload::Transfer => 100,
    }
}

/// One run, as asked for. `None` means "the default", which [`RunRequest::resolve`] fills in.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub strategy: &'static StrategyInfo,
    pub workload: Workload,
    pub workers: Option<u64>,
    pub items: Option<u64>,
    pub knobs: Knobs,
    pub sync: Option<SyncMode>,
    pub app_mb: u64,
    /// `--dirty PCT`: each forked worker writes PCT % of the app's pages (0..=100).
    pub dirty_pct: u8,
    /// `-s redis` and its presets: `--redis-url`, else `REDIS_URL`, else a private server.
    pub redis_url: Option<String>,
    pub batch: Option<u64>,
    pub fault: Option<FaultSpec>,
    pub job_timeout: Option<Duration>,
    pub shutdown_timeout: Duration,
    /// `-w transfer --schedule l1,l2,l1,l2`: force the order of lock attempts.
    pub lock_schedule: Option<String>,
}

impl RunRequest {
    /// `workload` under `strategy` with every default.
    pub fn new(strategy: &'static StrategyInfo, workload: Workload) -> RunRequest {
        RunRequest {
            strategy,
            workload,
            workers: None,
            items: None,
            knobs: DEFAULT_KNOBS,
            sync: None,
            app_mb: 0,
            dirty_pct: 0,
            redis_url: None,
            batch: None,
            fault: None,
            job_timeout: None,
            shutdown_timeout: DEFAULT_SHUTDOWN,
            lock_schedule: None,
        }
    }

    /// The strategy called `name` (or a preset) with `workload` and every default; a usage error
    /// naming the valid strategies otherwise.
    pub fn named(name: &str, workload: Workload) -> anyhow::Result<RunRequest> {
        Ok(RunRequest::new(find_strategy(name)?, workload))
    }

    /// `--workers N`, but only where the strategy takes a count: `compare`, `race` and `chaos`
    /// pass one count to every strategy, and `sequential` and `threads` fix their own.
    pub fn workers_if_counted(mut self, workers: Option<u64>) -> RunRequest {
        if self.strategy.workers.takes_count() {
            self.workers = workers;
        }
        self
    }

    /// Check the request and resolve every default: the spec the measured child runs, or one
    /// line saying why the request makes no sense ([`Error::Usage`]).
    pub fn resolve(&self) -> anyhow::Result<RunSpec> {
        let info = self.strategy;
        let redis_url = self.redis_url()?;
        if redis_url.is_none() {
            if let Some(why) = (info.unavailable)() {
                return usage(format!("strategy '{}' cannot run here: {why}", info.name));
            }
        }
        let items = self.items.unwrap_or(default_items(self.workload));
        self.check_transfer()?;
        self.check_limits(items)?;
        let workers = match (info.workers, self.workers) {
            (Workers::One | Workers::PerJob, Some(_)) => {
                return usage(format!(
                    "--workers does not apply to '{}', which {}; use -s pool --workers N for a fixed pool",
                    info.name,
                    info.workers.why_fixed()
                ))
            }
            (policy, asked) => policy.resolve(asked, items),
        };
        self.check_workers_and_memory(items, workers)?;
        let sync = self.sync()?;
        Ok(RunSpec {
            strategy: info.name.to_owned(),
            workload: self.workload,
            workers,
            items,
            knobs: self.knobs,
            sync,
            app_mb: self.app_mb,
            dirty_pct: self.dirty_pct,
            redis_url,
            batch: self.batch.unwrap_or(1),
            fault: self.fault,
            job_timeout_ms: self.job_timeout.map(|d| d.as_millis().max(1) as u64),
            shutdown_timeout_ms: self.shutdown_timeout.as_millis().max(1) as u64,
            lock_schedule: self.lock_schedule(workers, items)?,
        })
    }

    /// Limits that clap cannot check alone: they depend on the strategy, the workload, the
    /// machine, or several flags at once.
    fn check_limits(&self, items: u64) -> anyhow::Result<()> {
        let info = self.strategy;
        if info.workers == Workers::PerJob && items > threads::MAX_THREADS {
            return usage(format!(
                "'{}' starts one thread per job and stops at {} (got --items {items}); use -s pool",
                info.name,
                threads::MAX_THREADS
            ));
        }
        if self.workload == Workload::Emoji {
            if items > emoji::MAX_ITEMS {
                return usage(format!(
                    "emoji has {} distinct items (U+1F400..U+1F7FF); got --items {items}",
                    emoji::MAX_ITEMS
                ));
            }
            let writes = items * self.knobs.repeat;
            if writes > MAX_WRITES {
                return usage(format!(
                    "--items {items} x --repeat {} is {writes} writes; the limit is {MAX_WRITES}",
                    self.knobs.repeat
                ));
            }
        }
        if self.workload == Workload::Transfer
            && !(2..=crate::workload::transfer::MAX_ACCOUNTS).contains(&self.knobs.accounts)
        {
            return usage(format!(
                "--accounts must be from 2 to {} (got {})",
                crate::workload::transfer::MAX_ACCOUNTS,
                self.knobs.accounts
            ));
        }
        if self.fault.is_some() && info.needs_redis && !info.props.survives_crash {
            return usage("--fault is not wired into -s redis (its jobs are JSON in Redis); try fork, rpc, threads, pool, rayon, actors, futures or sequential");
        }
        if self.dirty_pct > 0 && self.app_mb == 0 {
            return usage("--dirty writes part of the app's pages: give it an app with --app-mb");
        }
        if self.dirty_pct > 100 {
            return usage(format!(
                "--dirty {} is a percentage: 0..=100",
                self.dirty_pct
            ));
        }
        Ok(())
    }

    /// Limits that need the worker count: SQLite's one writer, and memory (the app stand-in
    /// plus what `--fault leak` keeps) against what this machine has available now.
    fn check_workers_and_memory(&self, items: u64, workers: usize) -> anyhow::Result<()> {
        let info = self.strategy;
        if strategy::sqlite::is_sqlite(info) && workers > strategy::sqlite::MAX_WORKERS {
            return usage(format!(
                "'{}' takes at most {} --workers (got {workers}): SQLite has one writer at a \
                 time, so more workers only queue on its lock (at 256 a run of 1024 no-ops \
                 takes 20 s of busy retries)",
                info.name,
                strategy::sqlite::MAX_WORKERS
            ));
        }
        let Some(avail) = crate::sys::proc::mem_available_mb() else {
            return Ok(());
        };
        if self.app_mb > avail {
            return usage(format!(
                "--app-mb {} is more than this machine has available ({avail} MiB)",
                self.app_mb
            ));
        }
        let (kept, why) = leak_kept_mb(info, self.fault, items, workers);
        if kept > 0 && self.app_mb + kept > avail {
            let app = match self.app_mb {
                0 => String::new(),
                mb => format!(" plus --app-mb {mb}"),
            };
            return usage(format!(
                "--fault leak would hold up to {kept} MiB at once ({why}){app}, more than this \
                 machine has available ({avail} MiB)"
            ));
        }
        Ok(())
    }

    /// The `--sync` mode: the strategy's first unless one was asked for, which must be one the
    /// strategy does, and only for the wallet.
    fn sync(&self) -> anyhow::Result<SyncMode> {
        let info = self.strategy;
        let syncs = info.syncs_for(self.workload);
        let Some(sync) = self.sync else {
            return Ok(syncs.first().copied().unwrap_or(info.syncs[0]));
        };
        let transfer_only = matches!(
            sync,
            SyncMode::LockPair | SyncMode::Ordered | SyncMode::TryLock
        );
        if !matches!(self.workload, Workload::Wallet | Workload::Transfer) {
            let (what, flag) = if transfer_only {
                ("transfer", "-w transfer")
            } else {
                ("wallet", "-w wallet")
            };
            return usage(format!(
                "--sync {} applies to the {what} workload only (add {flag})",
                sync.name()
            ));
        }
        if !syncs.contains(&sync) {
            let valid: Vec<_> = syncs.iter().map(|s| s.name()).collect();
            let for_transfer = if self.workload == Workload::Transfer {
                " for -w transfer"
            } else {
                ""
            };
            return usage(format!(
                "'{}' does not do --sync {}{for_transfer}; it does: {}",
                info.name,
                sync.name(),
                valid.join(", ")
            ));
        }
        Ok(sync)
    }

    /// `--schedule` for transfers: parsed now, with enough workers running at once to take the
    /// turns (a worker waiting for its turn holds its thread).
    fn lock_schedule(&self, workers: usize, items: u64) -> anyhow::Result<Option<String>> {
        let Some(text) = &self.lock_schedule else {
            return Ok(None);
        };
        if self.workload != Workload::Transfer {
            return usage(
                "--schedule applies to -w transfer (for the wallet, see concur race --schedule)",
            );
        }
        let s = crate::workload::transfer::LockSchedule::parse(text).map_err(Error::Usage)?;
        let need = s.workers.min(items as usize);
        if workers < need {
            return usage(format!(
                "the schedule needs {need} workers running at once, and -s {} here has {workers}; use --workers {need} or more",
                self.strategy.name
            ));
        }
        Ok(Some(s.text()))
    }

    /// `-w transfer` needs accounts and locks in one address space: only the strategies that
    /// declare transfer modes run it.
    fn check_transfer(&self) -> anyhow::Result<()> {
        let info = self.strategy;
        if self.workload != Workload::Transfer || !info.transfers.is_empty() {
            return Ok(());
        }
        let able: Vec<&str> = strategy::STRATEGIES
            .iter()
            .filter(|s| !s.transfers.is_empty())
            .map(|s| s.name)
            .collect();
        usage(format!(
            "-w transfer runs where the accounts and their locks live in one process and jobs run on threads: {}; '{}' does not",
            able.join(", "),
            info.name
        ))
    }

    /// The Redis server's URL from `--redis-url` or else `REDIS_URL`, checked now (it must parse
    /// and answer within seconds); `None` means a private server. Strategies without Redis take
    /// no Redis flags.
    fn redis_url(&self) -> anyhow::Result<Option<String>> {
        let info = self.strategy;
        if !info.needs_redis {
            return match (&self.redis_url, self.batch) {
                (Some(_), _) => usage(
                    "--redis-url applies to -s redis only (and the presets sidekiq and resque)",
                ),
                (_, Some(_)) => usage("--batch applies to -s redis only (and its preset sidekiq)"),
                _ => Ok(None),
            };
        }
        if info.props.survives_crash && self.batch.is_some() {
            return usage(format!(
                "--batch applies to -s redis only (and its preset sidekiq): {} pops one job per fork",
                info.name
            ));
        }
        let (url, source) = match &self.redis_url {
            Some(url) => (url.clone(), "--redis-url"),
            None => match redis_server::env_url() {
                Some(url) => (url, "REDIS_URL"),
                None => return Ok(None),
            },
        };
        strategy::redis::check_url(&url, source).map_err(Error::Usage)?;
        Ok(Some(url))
    }
}

/// The most memory `--fault leak` can hold at once in a run of `items` jobs on `workers`, in
/// MiB, and how that is counted. A thread's leak stays for the process's life, and so does a
/// long-lived worker process's (prefork, rpc, sqlite-fork): every faulty job's MiB add up. A
/// process forked per job (`fork`, `resque`) returns its leak when it exits: at most `workers`
/// leak at once.
fn leak_kept_mb(
    info: &StrategyInfo,
    fault: Option<FaultSpec>,
    items: u64,
    workers: usize,
) -> (u64, String) {
    let Some(f) = fault.filter(|f| f.fault == Fault::Leak) else {
        return (0, String::new());
    };
    let faulty = f.count(items);
    let per_job_process = [&strategy::fork::INFO, &strategy::resque::INFO].contains(&info);
    let (holders, why) = if per_job_process {
        let at_once = faulty.min(workers as u64);
        let why = format!(
            "--leak-mb {} x {at_once} children at once: lower --leak-mb or --workers",
            f.leak_mb
        );
        (at_once, why)
    } else {
        let why = format!(
            "--leak-mb {} x {faulty} faulty jobs, kept until the run ends: lower --leak-mb or \
             --items, or raise --every",
            f.leak_mb
        );
        (faulty, why)
    };
    (f.leak_mb.saturating_mul(holders), why)
}

/// The strategy or preset called `name`, or a usage error that lists them.
pub fn find_strategy(name: &str) -> anyhow::Result<&'static StrategyInfo> {
    match strategy::find(name) {
        Some(info) => Ok(info),
        None => usage(format!(
            "unknown strategy '{name}' (valid: {})",
            strategy::names()
        )),
    }
}

/// `--fault`, `--every` and `--leak-mb` as one spec; `None` without a fault.
pub fn fault(fault: Option<Fault>, every: u64, leak_mb: u64) -> Option<FaultSpec> {
    fault.map(|fault| FaultSpec {
        fault,
        every,
        leak_mb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, workload: Workload) -> RunRequest {
        RunRequest::named(name, workload).unwrap()
    }

    #[test]
    fn defaults_resolve_per_strategy() {
        let s = req("sequential", Workload::Emoji).resolve().unwrap();
        assert_eq!((s.workers, s.items, s.knobs.repeat), (1, 51, 50));
        let s = req("threads", Workload::Wallet).resolve().unwrap();
        assert_eq!((s.workers, s.items), (100, 100), "a thread per job");
        let s = req("pool", Workload::Cpu).resolve().unwrap();
        assert_eq!((s.workers, s.items), (4, 16));
        assert_eq!(s.sync, SyncMode::None, "the strategy's first sync");
    }

    #[test]
    fn refuses_what_makes_no_sense_with_a_usage_error() {
        let mut r = req("threads", Workload::Emoji);
        r.workers = Some(4);
        let e = r.resolve().unwrap_err();
        assert!(crate::error::is_usage(&e), "{e}");
        assert!(e.to_string().contains("one thread per job"), "{e}");

        let mut r = req("pool", Workload::Emoji);
        r.sync = Some(SyncMode::Mutex);
        assert!(r.resolve().unwrap_err().to_string().contains("-w wallet"));

        let mut r = req("fork", Workload::Wallet);
        r.sync = Some(SyncMode::Mutex);
        assert!(r
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("it does: none"));

        let e = req("fork", Workload::Transfer).resolve().unwrap_err();
        assert!(
            e.to_string()
                .contains("sequential, threads, pool, rayon, actors"),
            "{e}"
        );
        let mut r = req("threads", Workload::Transfer);
        r.sync = Some(SyncMode::Mutex);
        assert!(r
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("lock-pair, ordered, try-lock, actor"));
        let mut r = req("threads", Workload::Wallet);
        r.sync = Some(SyncMode::Ordered);
        assert!(r.resolve().is_err(), "a transfer mode is not a wallet mode");
        let s = req("pool", Workload::Transfer).resolve().unwrap();
        assert_eq!(s.sync, SyncMode::LockPair, "the naive order is the default");

        let mut r = req("pool", Workload::Emoji);
        r.items = Some(2000);
        assert!(r.resolve().is_err(), "beyond the emoji block");

        assert!(RunRequest::named("nope", Workload::Emoji).is_err());
    }

    #[test]
    fn workers_if_counted_leaves_fixed_counts_alone() {
        let r = req("threads", Workload::Emoji).workers_if_counted(Some(8));
        assert_eq!(r.workers, None);
        let r = req("pool", Workload::Emoji).workers_if_counted(Some(8));
        assert_eq!(r.resolve().unwrap().workers, 8);
    }
}
