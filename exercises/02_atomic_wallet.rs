//! # Exercise 2: the wallet, with one atomic operation (lesson 10 · about 10 min)
//!
//! The same wallet and the same race as exercise 1: W1 adds 10 while W2 takes 10 away, from 100,
//! and `deposit` reads, pauses, then writes, so a deposit can be lost.
//!
//! This time, no lock. The processor can add to a number in memory as one indivisible step that
//! no other thread can split: make `deposit` one such atomic operation on the balance. (The
//! `pause()` has no place left to go: an indivisible step has no middle. Delete it.)
//!
//! Check it: `concur exercise check 2`. The grader runs every schedule of the two deposits,
//! checks that no deposit takes a lock, runs 1,000 trials on real threads, and measures the cost
//! against the reference: compare it with your Mutex from exercise 1.
//!
//! Rules: atomics from `kit::sync::atomic` (not `std::sync`): they are the standard ones, but
//! the grader can schedule and draw them. Stuck? `concur exercise hint 2`.

use kit::pause;
use kit::sync::atomic::{AtomicI64, Ordering};

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
// HINT (`concur exercise hint 2` prints this; try without it first)
//
// `AtomicI64` has read-modify-write operations that do the whole update as one step:
// `self.balance.fetch_add(amount, Ordering::SeqCst)`. A compare-and-swap also works, but only in
// a loop: `compare_exchange(seen, seen + amount, ..)` fails when another deposit got there first,
// and then you must read again and retry. A single compare_exchange whose failure is ignored
// loses the deposit (the grader has a schedule for that too).
