//! Exercise 6, the reference solution: every transfer takes the two locks in one global order
//! (the smaller account id first), so no cycle of waits can form.

use kit::pause;
use kit::transfer::Account;

pub fn transfer(from: &Account, to: &Account, amount: i64) {
    let (first, second) = if from.id < to.id {
        (from, to)
    } else {
        (to, from)
    };
    let mut first_guard = first.balance.lock().unwrap();
    pause();
    let mut second_guard = second.balance.lock().unwrap();
    let (source, target) = if from.id < to.id {
        (&mut *first_guard, &mut *second_guard)
    } else {
        (&mut *second_guard, &mut *first_guard)
    };
    *source -= amount;
    *target += amount;
}
