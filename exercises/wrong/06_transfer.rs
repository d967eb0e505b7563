//! Exercise 6, a plausible wrong answer: never hold two locks at once. No deadlock, but between
//! the two steps the money is in neither account, and an auditor holding both locks sees 190.

use kit::pause;
use kit::transfer::Account;

pub fn transfer(from: &Account, to: &Account, amount: i64) {
    *from.balance.lock().unwrap() -= amount;
    pause();
    *to.balance.lock().unwrap() += amount;
}
