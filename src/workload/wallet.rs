//! The wallet workload: a balance of 100 that concurrent jobs adjust by +10 and -10, each as
//! *read, pause, write*. The pause stands in for the work a real job does between reading state
//! and saving it; it is what opens the window in which another job's update gets lost.
//!
//! # The race, in safe Rust
//! Rust will not let threads share a plain `i64` mutably, so the honest way to write the race is an
//! atomic `load` followed, after the pause, by a separate atomic `store`. Each half is atomic; the
//! pair is not, and that gap is exactly the lost update of the Ruby talks (`@balance += 10` is also
//! a read and a write). No `unsafe`, no `static mut`: the race is in the logic, not in undefined
//! behaviour.
//!
//! # Counting lost updates exactly
//! The [`Ledger`] stamps every write with a fresh version number and remembers which version each
//! write was based on. Following those links back from the final version gives the chain of
//! updates that survived; every update not on it was lost. The fixed accounts keep the same books,
//! so "0 lost" is measured there too, not assumed.

use super::trace::{Op, Ticket, Trace};
use crate::actor::{self, Addr, ReplyTo};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// transfer: lock the sender's account, then the receiver's (naive order: can deadlock)
    LockPair,
    /// transfer: lock the lower account first, whatever the direction (cannot deadlock)
    Ordered,
    /// transfer: take the second lock only if free, else release the first and back off
    TryLock,
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
            SyncMode::LockPair => "lock-pair",
            SyncMode::Ordered => "ordered",
            SyncMode::TryLock => "try-lock",
        }
    }
}

/// Wallet result: where the balance ended and what was expected.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WalletOutcome {
    pub expected_balance: i64,
    pub final_balance: i64,
    /// Updates that were overwritten by a concurrent read-pause-write (the race made visible).
    pub lost_updates: u64,
}

/// Expected final wallet balance after `items` jobs alternating +10, -10, +10, ...
pub fn expected_balance(items: u64) -> i64 {
    START + delta_sum(items)
}

/// Where each `--sync` mode of the shared-memory strategies is implemented: this file, and the
/// item (`race --fix` prints it beside each fix).
pub fn implemented_in(sync: SyncMode) -> String {
    let item = match sync {
        SyncMode::None => "Racy: Ledger::racy_update",
        SyncMode::Mutex => "Locked",
        SyncMode::Atomic => "AtomicAdd: Ledger::add_atomically",
        SyncMode::Actor => "ActorAccount",
        other => other.name(),
    };
    format!("{} ({item})", file!())
}

/// The starting balance.
pub const START: i64 = 100;
/// The size of each adjustment.
pub const STEP: i64 = 10;

/// Job `i` adds 10 when `i` is even and subtracts 10 when it is odd.
pub fn delta(i: u64) -> i64 {
    if i.is_multiple_of(2) {
        STEP
    } else {
        -STEP
    }
}

/// The sum of the deltas of jobs `0..items`: +10 when `items` is odd, else 0.
pub fn delta_sum(items: u64) -> i64 {
    if !items.is_multiple_of(2) {
        STEP
    } else {
        0
    }
}

/// The pause between read and write, in a thread.
pub fn pause(us: u64) {
    if us > 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

/// A balance with its books: value and version packed into one atomic word so that a read sees
/// a consistent pair, plus, per version, the version it was based on.
///
/// `concur race` can attach a [`Trace`] (an event log, maybe a forced schedule; see
/// [`super::trace`]); without one, each update pays a single never-taken branch.
pub struct Ledger {
    word: AtomicU64,
    next_version: AtomicU32,
    based_on: Vec<AtomicU32>,
    trace: Option<Arc<Trace>>,
}

/// The first half of an update, as [`Ledger::begin_update`] read it.
#[derive(Copy, Clone, Debug)]
pub struct Update {
    pub balance: i64,
    pub version: u32,
    ticket: Option<Ticket>,
}

/// A balance and its version as one word (the balance truncated to 32 bits).
pub fn pack(balance: i64, version: u32) -> u64 {
    ((balance as i32 as u32 as u64) << 32) | version as u64
}

/// The balance and version packed in `word`.
pub fn unpack(word: u64) -> (i64, u32) {
    (((word >> 32) as u32 as i32) as i64, word as u32)
}

impl Ledger {
    /// A ledger at [`START`] with room for `writes` updates, traced if `concur race` installed a
    /// trace ([`super::trace::install`]).
    pub fn new(writes: u64) -> Self {
        Self::with_trace(writes, super::trace::installed())
    }

    /// A ledger with an explicit trace (or none).
    pub fn with_trace(writes: u64, trace: Option<Arc<Trace>>) -> Self {
        Ledger {
            word: AtomicU64::new(pack(START, 0)),
            next_version: AtomicU32::new(0),
            based_on: (0..=writes).map(|_| AtomicU32::new(0)).collect(),
            trace,
        }
    }

    /// Read the balance and the version it came from.
    pub fn read(&self) -> (i64, u32) {
        unpack(self.word.load(SeqCst))
    }

    fn stamp(&self, based_on: u32) -> u32 {
        let v = self.next_version.fetch_add(1, SeqCst) + 1;
        if let Some(slot) = self.based_on.get(v as usize) {
            slot.store(based_on, SeqCst);
        }
        v
    }

    /// Write `balance`, computed from what was read at version `based_on`. Not atomic with the
    /// read: this is the racy half.
    pub fn write(&self, based_on: u32, balance: i64) {
        let v = self.stamp(based_on);
        self.word.store(pack(balance, v), SeqCst);
        if let Some(t) = &self.trace {
            t.record(Op::Write, balance, v, based_on);
        }
    }

    /// The read half of a racy update, recorded when traced (and, under a forced schedule, taken
    /// in turn). Finish it with [`Ledger::finish_update`].
    pub fn begin_update(&self) -> Update {
        let read = || {
            let (balance, version) = self.read();
            if let Some(t) = &self.trace {
                t.record(Op::Read, balance, version, version);
            }
            (balance, version)
        };
        let ((balance, version), ticket) = match self.trace.as_ref().and_then(|t| t.gate()) {
            Some(gate) => gate.read(read),
            None => (read(), None),
        };
        Update {
            balance,
            version,
            ticket,
        }
    }

    /// The write half: store `balance`, computed from what `update` read.
    pub fn finish_update(&self, update: Update, balance: i64) {
        match self.trace.as_ref().and_then(|t| t.gate()) {
            Some(gate) => gate.write(update.ticket, || self.write(update.version, balance)),
            None => self.write(update.version, balance),
        }
    }

    /// Add `delta` as one indivisible read-modify-write (a compare-and-swap loop).
    pub fn add_atomically(&self, delta: i64) {
        // One version per update; only the attempt that wins the compare-and-swap publishes it.
        let v = self.next_version.fetch_add(1, SeqCst) + 1;
        let mut cur = self.word.load(SeqCst);
        loop {
            let (balance, version) = unpack(cur);
            let new = pack(balance + delta, v);
            match self.word.compare_exchange(cur, new, SeqCst, SeqCst) {
                Ok(_) => {
                    if let Some(slot) = self.based_on.get(v as usize) {
                        slot.store(version, SeqCst);
                    }
                    if let Some(t) = &self.trace {
                        t.record(Op::Add, balance + delta, v, version);
                    }
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Final balance and exact lost-update count after `jobs` updates.
    pub fn outcome(&self, jobs: u64) -> WalletOutcome {
        let (balance, mut v) = self.read();
        if let Some(t) = &self.trace {
            t.finish(balance, v);
        }
        let mut survived = 0u64;
        while v != 0 {
            survived += 1;
            v = self
                .based_on
                .get(v as usize)
                .map(|s| s.load(SeqCst))
                .unwrap_or(0);
        }
        WalletOutcome {
            expected_balance: START + delta_sum(jobs),
            final_balance: balance,
            lost_updates: jobs.saturating_sub(survived),
        }
    }

    /// One racy update: read, pause, write.
    pub fn racy_update(&self, delta: i64, pause_us: u64) {
        let update = self.begin_update();
        pause(pause_us);
        self.finish_update(update, update.balance + delta);
    }
}

/// A shared balance, as each `--sync` mode protects it.
pub trait Account: Send + Sync {
    /// One job's update.
    fn adjust(&self, delta: i64, pause_us: u64);
    /// The final balance and the lost-update count, after all jobs.
    fn outcome(&self, jobs: u64) -> WalletOutcome;
}

/// The account for `sync`, sized for `jobs` updates.
pub fn account(sync: SyncMode, jobs: u64) -> Box<dyn Account> {
    match sync {
        // `shared` is the racy update wherever the balance lives; the process strategies that
        // offer it keep their own books, so in one address space it is simply `none`.
        SyncMode::None | SyncMode::Shared => Box::new(Racy(Ledger::new(jobs))),
        // The transfer modes are not wallet modes (`RunRequest` refuses them for -w wallet); in
        // one balance they would all amount to a lock.
        SyncMode::Mutex | SyncMode::LockPair | SyncMode::Ordered | SyncMode::TryLock => {
            Box::new(Locked {
                lock: Mutex::new(()),
                ledger: Ledger::new(jobs),
            })
        }
        // incr and watch are Redis's modes (`run` only lets a strategy use the modes it lists);
        // in memory both amount to one indivisible add, a CAS loop like WATCH/MULTI/EXEC.
        SyncMode::Atomic
        | SyncMode::SharedAtomic
        | SyncMode::Adjust
        | SyncMode::Incr
        | SyncMode::Watch => Box::new(AtomicAdd(Ledger::new(jobs))),
        SyncMode::Actor => Box::new(ActorAccount::start(jobs)),
    }
}

/// `--sync none`: read, pause, write, unprotected.
pub struct Racy(pub Ledger);

impl Account for Racy {
    fn adjust(&self, delta: i64, pause_us: u64) {
        self.0.racy_update(delta, pause_us);
    }
    fn outcome(&self, jobs: u64) -> WalletOutcome {
        self.0.outcome(jobs)
    }
}

/// `--sync mutex`: the same read, pause, write, with a lock held across all three.
pub struct Locked {
    lock: Mutex<()>,
    ledger: Ledger,
}

impl Account for Locked {
    fn adjust(&self, delta: i64, pause_us: u64) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.ledger.racy_update(delta, pause_us);
    }
    fn outcome(&self, jobs: u64) -> WalletOutcome {
        self.ledger.outcome(jobs)
    }
}

/// `--sync atomic`: do the pause (the job's work), then apply the update as one atomic
/// read-modify-write. There is no window between read and write left to lose an update in.
pub struct AtomicAdd(pub Ledger);

impl Account for AtomicAdd {
    fn adjust(&self, delta: i64, pause_us: u64) {
        pause(pause_us);
        self.0.add_atomically(delta);
    }
    fn outcome(&self, jobs: u64) -> WalletOutcome {
        self.0.outcome(jobs)
    }
}

/// Messages to the wallet actor.
pub enum WalletMsg {
    /// Read, pause, write, then reply (or not, for a cast).
    Adjust {
        delta: i64,
        pause_us: u64,
        done: Option<ReplyTo<()>>,
    },
    /// The outcome after `jobs` updates.
    Report {
        jobs: u64,
        reply: ReplyTo<WalletOutcome>,
    },
}

/// The wallet actor's handler: it alone touches the ledger, one message at a time.
pub fn wallet_actor(ledger: &mut Ledger, msg: WalletMsg) {
    match msg {
        WalletMsg::Adjust {
            delta,
            pause_us,
            done,
        } => {
            ledger.racy_update(delta, pause_us);
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        WalletMsg::Report { jobs, reply } => {
            let _ = reply.send(ledger.outcome(jobs));
        }
    }
}

/// `--sync actor`: one actor owns the ledger; each job `call`s it. The actor's read, pause, write
/// is the racy code, made safe because only one thread ever runs it.
pub struct ActorAccount {
    addr: Addr<WalletMsg>,
}

impl ActorAccount {
    pub fn start(jobs: u64) -> Self {
        let (addr, _actor) = actor::spawn("wallet", Ledger::new(jobs), wallet_actor);
        // The actor thread stops by itself when `addr` (the last address) is dropped.
        ActorAccount { addr }
    }
}

impl Account for ActorAccount {
    fn adjust(&self, delta: i64, pause_us: u64) {
        self.addr.call(|done| WalletMsg::Adjust {
            delta,
            pause_us,
            done: Some(done),
        });
    }
    fn outcome(&self, jobs: u64) -> WalletOutcome {
        self.addr
            .call(|reply| WalletMsg::Report { jobs, reply })
            .expect("the wallet actor outlives its account")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_balance_follows_the_parity_of_jobs() {
        assert_eq!(START + delta_sum(100), 100);
        assert_eq!(START + delta_sum(51), 110);
    }

    #[test]
    fn sequential_updates_lose_nothing() {
        let l = Ledger::new(4);
        for i in 0..4 {
            l.racy_update(delta(i), 0);
        }
        let o = l.outcome(4);
        assert_eq!((o.final_balance, o.lost_updates), (100, 0));
    }

    #[test]
    fn an_overwritten_update_is_counted_lost() {
        let l = Ledger::new(2);
        let (b1, v1) = l.read();
        let (b2, v2) = l.read();
        l.write(v1, b1 + 10);
        l.write(v2, b2 - 10); // based on the version before the +10: the +10 is lost
        let o = l.outcome(2);
        assert_eq!((o.final_balance, o.lost_updates), (90, 1));
    }

    #[test]
    fn negative_balances_round_trip() {
        assert_eq!(unpack(pack(-1234, 7)), (-1234, 7));
    }
}
