//! The transfer workload: jobs move money between accounts, and each takes two locks. It is the
//! other classic failure of locks, after the lost update: the deadlock.
//!
//! # The jobs
//! `--accounts K` accounts (default 2: A and B) start with 100 each. Job `i` moves 10 from
//! account `i mod K` to the next one, so with two accounts the jobs alternate A→B and B→A, and
//! with three they form a ring (A→B, B→C, C→A). A transfer locks one account, does its work
//! (`--pause-us`: checking the sender's funds, say), locks the other, then writes both legs and
//! unlocks. Money is neither created nor destroyed, so the total is the check, and so is each
//! account's final balance (the transfers commute).
//!
//! # The `--sync` modes
//! - `lock-pair`: lock the sender, then the receiver. Two jobs in opposite directions can each
//!   hold the lock the other waits for: a deadlock. concur finds it (see [`locks`]), names the
//!   cycle, aborts the waiters and stops the run: no hang.
//! - `ordered`: lock the lower account first, whatever the direction. Every worker climbs the
//!   same order, so no cycle can form: the classic fix.
//! - `try-lock`: take the second lock only if it is free; otherwise give the first back, back
//!   off a random moment, and start again (no cycle can hold: nobody waits while holding).
//! - `actor`: one actor owns every account and applies transfers one message at a time: no
//!   locks at all.
//!
//! Aborted transfers never wrote anything (both legs are written only with both locks held), so
//! the total is conserved even in a deadlocked run; only the run is not finished.

pub mod locks;
pub mod schedule;

use crate::actor::{self, Addr, ReplyTo};
use crate::workload::wallet::{pause, SyncMode, START};
use locks::{Aborted, Locks};
pub use schedule::{LockSchedule, DEFAULT_LOCK_SCHEDULE};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;

/// What one transfer moves.
pub const AMOUNT: i64 = 10;
/// The most accounts (`A` to `Z`).
pub const MAX_ACCOUNTS: u64 = 26;

/// The transfer modes, naive first (the default).
pub const TRANSFER_SYNCS: &[SyncMode] = &[
    SyncMode::LockPair,
    SyncMode::Ordered,
    SyncMode::TryLock,
    SyncMode::Actor,
];

/// An account's name: A, B, C, ...
pub fn name(account: usize) -> char {
    (b'A' + (account as u8).min(25)) as char
}

/// Job `i` moves [`AMOUNT`] from account `i mod accounts` to the next one.
pub fn route(i: u64, accounts: usize) -> (usize, usize) {
    let from = (i % accounts as u64) as usize;
    (from, (from + 1) % accounts)
}

/// Which lock a transfer from `from` to `to` takes first, and which second.
pub fn lock_order(sync: SyncMode, from: usize, to: usize) -> (usize, usize) {
    match sync {
        SyncMode::Ordered => (from.min(to), from.max(to)),
        _ => (from, to),
    }
}

/// Each account's balance after `items` transfers, whatever their order.
pub fn expected_balances(items: u64, accounts: usize) -> Vec<i64> {
    let mut b = vec![START; accounts];
    for i in 0..items {
        let (from, to) = route(i, accounts);
        b[from] -= AMOUNT;
        b[to] += AMOUNT;
    }
    b
}

/// Where each transfer `--sync` mode is implemented (`race --fix` prints it).
pub fn implemented_in(sync: SyncMode) -> String {
    let item = match sync {
        SyncMode::LockPair => "Bank::locked, lock_order",
        SyncMode::Ordered => "lock_order (lower account first)",
        SyncMode::TryLock => "Bank::locked (try_lock_or_release)",
        SyncMode::Actor => "Bank::by_actor",
        other => other.name(),
    };
    format!("{} ({item})", file!())
}

/// One member of a deadlock's cycle: worker `worker` (W1, W2, ...), running job `job`, holds
/// account `holds`'s lock and waits for account `waits_for`'s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub worker: usize,
    pub job: u64,
    pub holds: usize,
    pub waits_for: usize,
}

/// A deadlock found in a run: the cycle, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlock {
    pub cycle: Vec<Holder>,
    /// Transfers finished before it.
    pub transfers_done: u64,
    /// How long nothing had moved when the cycle was found.
    pub detected_after_ms: u64,
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .cycle
            .iter()
            .map(|h| {
                format!(
                    "W{} (job {}) holds {}, waits for {}",
                    h.worker,
                    h.job,
                    name(h.holds),
                    name(h.waits_for)
                )
            })
            .collect();
        if self.cycle.len() == 2 {
            write!(f, "{}: each waits for the other", parts.join("; "))
        } else {
            write!(f, "{} (a cycle: each waits for the next)", parts.join("; "))
        }
    }
}

/// What a lock event did (for drawing a trial).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockOp {
    Lock,
    Wait,
    TryFailed,
    Unlock,
    Moved,
    Abort,
}

/// One recorded lock event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockEvent {
    pub t_us: f64,
    pub worker: usize,
    pub job: u64,
    pub op: LockOp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<usize>,
}

/// A transfer run's books.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferOutcome {
    pub accounts: Vec<i64>,
    pub expected: Vec<i64>,
    pub total_start: i64,
    pub total_end: i64,
    pub transfers_done: u64,
    /// `try-lock`: times a transfer gave its first lock back and started again.
    pub backoffs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlock: Option<Deadlock>,
    /// Under `concur race`: the lock events, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<LockEvent>,
    /// Under a forced schedule: true if a worker waited too long for its turn and the schedule
    /// was abandoned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub schedule_broken: bool,
}

impl TransferOutcome {
    /// The total is what it was, and every account holds what the transfers say.
    pub fn conserved(&self) -> bool {
        self.total_end == self.total_start
    }
}

/// What `concur race` attaches to the next bank: a schedule to force and an event log.
#[derive(Clone, Debug, Default)]
pub struct Traced {
    pub schedule: Option<LockSchedule>,
    pub record: bool,
}

static INSTALLED: Mutex<Option<Traced>> = Mutex::new(None);

/// Attach `traced` to every bank created from now on (`None` detaches). Trials run one at a
/// time, so one slot is enough (as for the wallet's [`super::trace::install`]).
pub fn install(traced: Option<Traced>) {
    *INSTALLED.lock().unwrap_or_else(|p| p.into_inner()) = traced;
}

/// Messages to the bank actor.
enum BankMsg {
    Transfer {
        from: usize,
        to: usize,
        pause_us: u64,
        done: ReplyTo<()>,
    },
    Balances(ReplyTo<Vec<i64>>),
}

/// The bank actor's state: every account's balance.
struct Books(Vec<i64>);

fn bank_actor(Books(balances): &mut Books, msg: BankMsg) {
    match msg {
        BankMsg::Transfer {
            from,
            to,
            pause_us,
            done,
        } => {
            let (a, b) = (balances[from], balances[to]);
            pause(pause_us);
            balances[from] = a - AMOUNT;
            balances[to] = b + AMOUNT;
            let _ = done.send(());
        }
        BankMsg::Balances(reply) => {
            let _ = reply.send(balances.clone());
        }
    }
}

/// The accounts of one run, and how transfers between them are protected.
pub struct Bank {
    sync: SyncMode,
    items: u64,
    balances: Vec<AtomicI64>,
    locks: Locks,
    actor: Option<Addr<BankMsg>>,
    backoffs: AtomicU64,
}

/// A transfer did not happen: it was caught in a deadlock, or never got going because of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDone {
    /// Aborted holding its first lock while waiting for its second: part of the deadlock.
    Deadlocked,
    /// Held nothing: it came after the deadlock, or waited behind it for its first lock.
    AfterDeadlock,
}

impl Bank {
    /// `accounts` accounts of [`START`] each, for `items` transfers under `sync`; picks up what
    /// `concur race` installed ([`install`]).
    pub fn new(sync: SyncMode, accounts: usize, items: u64) -> Bank {
        let traced = INSTALLED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        Bank::with_traced(sync, accounts, items, traced)
    }

    /// The same, with an explicit schedule and log (or none).
    pub fn with_traced(sync: SyncMode, accounts: usize, items: u64, traced: Traced) -> Bank {
        let actor = (sync == SyncMode::Actor).then(|| {
            // The actor thread stops by itself when the last address (the bank's) is dropped.
            actor::spawn("bank", Books(vec![START; accounts]), bank_actor).0
        });
        Bank {
            sync,
            items,
            balances: (0..accounts).map(|_| AtomicI64::new(START)).collect(),
            locks: Locks::new(accounts, items, traced.schedule, traced.record),
            actor,
            backoffs: AtomicU64::new(0),
        }
    }

    /// Has the bank deadlocked (so that jobs not yet started should not start)?
    pub fn deadlocked(&self) -> bool {
        self.locks.deadlock().is_some()
    }

    /// Job `i`'s transfer.
    pub fn transfer(&self, i: u64, pause_us: u64) -> Result<(), NotDone> {
        if self.deadlocked() {
            return Err(NotDone::AfterDeadlock);
        }
        let (from, to) = route(i, self.locks.accounts());
        match &self.actor {
            Some(addr) => {
                self.by_actor(addr, from, to, pause_us);
                Ok(())
            }
            None => self.locked(i, from, to, pause_us),
        }
    }

    fn by_actor(&self, addr: &Addr<BankMsg>, from: usize, to: usize, pause_us: u64) {
        addr.call(|done| BankMsg::Transfer {
            from,
            to,
            pause_us,
            done,
        });
        self.locks.done(u64::MAX);
    }

    /// Both locks (in the mode's order), both legs, both unlocks; `try-lock` backs off and
    /// starts again when its second lock is taken.
    fn locked(&self, job: u64, from: usize, to: usize, pause_us: u64) -> Result<(), NotDone> {
        let (first, second) = lock_order(self.sync, from, to);
        loop {
            self.locks
                .lock(job, first, 0)
                .map_err(|Aborted| NotDone::AfterDeadlock)?;
            pause(pause_us);
            let got = if self.sync == SyncMode::TryLock {
                self.locks
                    .try_lock_or_release(job, second, first, 1)
                    .map_err(|Aborted| NotDone::AfterDeadlock)?
            } else {
                match self.locks.lock(job, second, 1) {
                    Ok(()) => true,
                    Err(Aborted) => {
                        self.locks.unlock(job, first);
                        return Err(NotDone::Deadlocked);
                    }
                }
            };
            if !got {
                self.backoffs.fetch_add(1, SeqCst);
                // A random moment, so that two workers backing off together do not retry in
                // lockstep forever.
                pause(fastrand::u64(1..=pause_us.max(1) * 2));
                continue;
            }
            // Both locks held: the racy-looking load and store are safe here, and that is the
            // point (the same code without the locks would lose money).
            let (a, b) = (
                self.balances[from].load(SeqCst),
                self.balances[to].load(SeqCst),
            );
            self.balances[from].store(a - AMOUNT, SeqCst);
            self.balances[to].store(b + AMOUNT, SeqCst);
            self.locks.done(job);
            self.locks.unlock_both(job, second, first);
            return Ok(());
        }
    }

    /// The books after every job was handed out.
    pub fn outcome(&self) -> TransferOutcome {
        let accounts = match &self.actor {
            Some(addr) => addr
                .call(BankMsg::Balances)
                .unwrap_or_else(|| vec![START; self.balances.len()]),
            None => self.balances.iter().map(|b| b.load(SeqCst)).collect(),
        };
        let n = accounts.len();
        TransferOutcome {
            total_start: START * n as i64,
            total_end: accounts.iter().sum(),
            expected: expected_balances(self.items, n),
            accounts,
            transfers_done: self.locks.transfers_done(),
            backoffs: self.backoffs.load(SeqCst),
            deadlock: self.locks.deadlock(),
            events: self.locks.events(),
            schedule_broken: self.locks.schedule_broken(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_alternate_between_two_accounts_and_ring_three() {
        assert_eq!(route(0, 2), (0, 1));
        assert_eq!(route(1, 2), (1, 0));
        assert_eq!(route(2, 3), (2, 0));
        assert_eq!(expected_balances(2, 2), vec![100, 100]);
        assert_eq!(expected_balances(3, 2), vec![90, 110]);
        assert_eq!(lock_order(SyncMode::Ordered, 1, 0), (0, 1));
        assert_eq!(lock_order(SyncMode::LockPair, 1, 0), (1, 0));
    }

    fn forced() -> Traced {
        Traced {
            schedule: Some(LockSchedule::parse(DEFAULT_LOCK_SCHEDULE).unwrap()),
            record: true,
        }
    }

    fn two_threads(bank: &Bank) -> Vec<Result<(), NotDone>> {
        std::thread::scope(|s| {
            let h: Vec<_> = (0..2)
                .map(|i| s.spawn(move || bank.transfer(i, 0)))
                .collect();
            h.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn the_forced_schedule_deadlocks_the_naive_order_and_names_the_cycle() {
        let bank = Bank::with_traced(SyncMode::LockPair, 2, 2, forced());
        let results = two_threads(&bank);
        assert_eq!(
            results,
            vec![Err(NotDone::Deadlocked); 2],
            "both hold one lock"
        );
        let o = bank.outcome();
        assert!(o.conserved(), "{o:?}");
        assert_eq!(o.accounts, vec![100, 100], "nothing moved");
        let d = o.deadlock.expect("a deadlock");
        assert_eq!(d.cycle.len(), 2);
        let text = d.to_string();
        assert!(text.contains("holds A, waits for B"), "{text}");
        assert!(text.contains("holds B, waits for A"), "{text}");
        assert!(
            text.starts_with("W1 (job "),
            "the cycle starts at W1: {text}"
        );
    }

    #[test]
    fn every_fix_survives_the_schedule_that_deadlocks_the_naive_order() {
        for sync in [SyncMode::Ordered, SyncMode::TryLock, SyncMode::Actor] {
            let bank = Bank::with_traced(sync, 2, 2, forced());
            assert_eq!(two_threads(&bank), vec![Ok(()); 2], "{sync:?}");
            let o = bank.outcome();
            assert_eq!(o.deadlock, None);
            assert_eq!(o.accounts, o.expected);
            assert_eq!(o.transfers_done, 2);
            if sync == SyncMode::TryLock {
                assert_eq!(o.backoffs, 1, "W1 backs off exactly once");
            }
        }
    }
}
