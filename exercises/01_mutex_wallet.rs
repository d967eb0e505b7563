//! # Exercise 1: the wallet, safe with a Mutex (lesson 10 · about 10 min)
//!
//! Two workers deposit into one wallet at the same time: W1 adds 10, W2 takes 10 away, from a
//! balance of 100. `deposit` below reads the balance, pauses, then writes the new one: when both
//! workers read 100 before either writes, the second write wipes out the first (110, then 90)
//! and a deposit is lost. That is the race `concur race` shows.
//!
//! Make `deposit` safe with a `Mutex`: the read, the pause and the write must happen while the
//! lock is held, so that no other deposit can slip in between. Keep the `pause()` where it is
//! (it stands for the work a real job does between reading and writing).
//!
//! Check it: `concur exercise check 1`. The grader runs every schedule of the two deposits
//! (every order in which the two workers' steps can interleave), then 2,000 trials on real
//! threads, then measures your wallet's cost against the reference solution.
//!
//! Rules: take `Mutex` and the atomics from `kit::sync` (not `std::sync`): they are the standard
//! ones, but the grader can schedule and draw them. What a `Mutex` holds must be `Debug`.
//! Stuck? `concur exercise hint 1`.

use kit::pause;
use kit::sync::atomic::{AtomicI64, Ordering};
use kit::sync::Mutex;

pub struct Wallet {
    balance: AtomicI64,
}

impl kit::wallet::Wallet for Wallet {
    fn new(balance: i64) -> Wallet {
        Wallet {
            balance: AtomicI64::new(balance),
        }
    }

    /// Read, pause, write: racy. Two deposits at once can lose one.
    fn deposit(&self, amount: i64) {
        let seen = self.balance.load(Ordering::SeqCst);
        pause();
        self.balance.store(seen + amount, Ordering::SeqCst);
    }

    fn balance(&self) -> i64 {
        self.balance.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------------------------------------
// HINT (`concur exercise hint 1` prints this; try without it first)
//
// Put the balance *inside* the lock: `balance: Mutex<i64>`. Then in `deposit`, take the lock once
// (`let mut b = self.balance.lock().unwrap();`), read `*b`, `pause()`, and write `*b = seen +
// amount` before the guard `b` goes out of scope: the lock is held from `lock()` to the end of the
// block. Taking the lock twice, once to read and once to write, is still a race (the grader has a
// schedule for that).
