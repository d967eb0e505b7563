//! # Exercise 6: a transfer that cannot deadlock (lessons 10, 15 · about 15 min)
//!
//! Moving money between two accounts takes both accounts' locks: take money out of one, put it
//! into the other, and nobody may see it half done. `transfer` below locks `from`, then `to`.
//! Now run A→B and B→A at the same time: the first holds A and waits for B, the second holds B
//! and waits for A. Neither can go on, ever: a deadlock.
//!
//! Fix it so that no schedule deadlocks, while still holding both locks across the move (an
//! auditor who locks both accounts must never count money that left one account and has not
//! reached the other). Keep the `pause()` between taking the two locks.
//!
//! Check it: `concur exercise check 6`. The grader runs every schedule of A→B and B→A at once
//! (a deadlock is found the moment every thread waits), every schedule of a transfer beside the
//! auditor, then trials on real threads within a time limit, and measures the cost.
//!
//! Rules: the locks are `kit::sync::Mutex` (see kit/transfer.rs: `Account { id, balance }`).
//! Stuck? `concur exercise hint 6`.

use kit::pause;
use kit::transfer::Account;

/// Move `amount` from `from` to `to`.
pub fn transfer(from: &Account, to: &Account, amount: i64) {
    let mut source = from.balance.lock().unwrap();
    pause();
    let mut target = to.balance.lock().unwrap();
    *source -= amount;
    *target += amount;
}

// ------------------------------------------------------------------------------------------------
// HINT (`concur exercise hint 6` prints this; try without it first)
//
// A deadlock needs a cycle: A waits for B while B waits for A. Make every transfer take the two
// locks in the same global order, whatever the direction: the account with the smaller `id`
// first. Then whoever holds the first lock can always get the second. Keep `source` and `target`
// straight when the order is swapped. Releasing the first lock before taking the second also
// avoids the deadlock, but lets the auditor see the money in flight (the grader draws that).
