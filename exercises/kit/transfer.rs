//! Exercise 6: a transfer between two accounts, each behind its own lock. Two transfers in
//! opposite directions at once can each hold one lock and wait for the other: a deadlock.
//!
//! Graded: every schedule of A→B and B→A at once ends with the right balances and no deadlock;
//! every schedule of a transfer beside an auditor (who locks both accounts, in order, and adds
//! them up) shows the auditor 200, never money in flight; trials on real threads, within a time
//! limit (a deadlock there is a hang).

use crate::grade::{model_check, trials_check, Bench, Suite};
use crate::model::{ensure, Search};
use crate::sync::Mutex;
use crate::thread::Builder;
use std::sync::{Arc, Barrier};

/// An account: its number, and its balance behind its own lock.
#[derive(Debug)]
pub struct Account {
    pub id: u32,
    pub balance: Mutex<i64>,
}

impl Account {
    /// Account `id` (drawn as A, B, C...) holding `balance`.
    pub fn new(id: u32, balance: i64) -> Account {
        let name = char::from(b'A' + (id.saturating_sub(1) % 26) as u8).to_string();
        Account {
            id,
            balance: Mutex::named(&name, balance),
        }
    }
}

/// What exercise 6 implements: move `amount` from `from` to `to`.
pub type Transfer = fn(&Account, &Account, i64);

/// The grader's suite for a `transfer`.
pub fn suite(transfer: Transfer) -> Suite {
    Suite {
        checks: vec![
            model_check(
                "every schedule of A→B (10) and B→A (20) at once",
                Search::Every { limit: 200_000 },
                "no deadlock, and A ends at 110, B at 90",
                move || opposite(transfer),
            ),
            model_check(
                "every schedule of A→B (10) beside an auditor",
                Search::Every { limit: 200_000 },
                "the auditor always counts 200 (no money in flight)",
                move || audited(transfer),
            ),
            trials_check(
                "real threads",
                300,
                "2 threads × 50 transfers in opposite directions: no deadlock, nothing lost",
                move |_| trial(transfer),
            ),
        ],
        bench: Bench::new(
            "2 threads × 20,000 transfers in opposite directions",
            move || bench(transfer),
        ),
    }
}

fn pair() -> Arc<(Account, Account)> {
    Arc::new((Account::new(1, 100), Account::new(2, 100)))
}

fn balance(a: &Account) -> i64 {
    *a.balance.lock().unwrap_or_else(|p| p.into_inner())
}

fn opposite(transfer: Transfer) {
    let accounts = pair();
    let workers: Vec<_> = [("W1", true, 10), ("W2", false, 20)]
        .into_iter()
        .map(|(lane, a_to_b, amount)| {
            let acc = Arc::clone(&accounts);
            Builder::new()
                .name(lane.into())
                .spawn(move || {
                    let (a, b) = (&acc.0, &acc.1);
                    if a_to_b {
                        transfer(a, b, amount)
                    } else {
                        transfer(b, a, amount)
                    }
                })
                .expect("spawn")
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    let (a, b) = (balance(&accounts.0), balance(&accounts.1));
    ensure((a, b) == (110, 90), || {
        format!("A ended at {a} and B at {b}, expected 110 and 90")
    });
}

fn audited(transfer: Transfer) {
    let accounts = pair();
    let acc = Arc::clone(&accounts);
    let mover = Builder::new()
        .name("W1".into())
        .spawn(move || transfer(&acc.0, &acc.1, 10))
        .expect("spawn");
    let acc = Arc::clone(&accounts);
    let auditor = Builder::new()
        .name("auditor".into())
        .spawn(move || {
            // The auditor locks both, in account order, and adds up.
            let a = acc.0.balance.lock().unwrap_or_else(|p| p.into_inner());
            let b = acc.1.balance.lock().unwrap_or_else(|p| p.into_inner());
            *a + *b
        })
        .expect("spawn");
    let _ = mover.join_quietly();
    let seen = auditor.join_quietly().unwrap_or(200);
    if seen != 200 {
        crate::trace::mark_last(
            |e| e.lane == "auditor" && e.text.starts_with("lock"),
            "✗ money in flight",
        );
    }
    ensure(seen == 200, || {
        format!("the auditor, holding both locks, counted {seen} instead of 200: it saw the money after it left one account and before it reached the other")
    });
    let (a, b) = (balance(&accounts.0), balance(&accounts.1));
    ensure((a, b) == (90, 110), || {
        format!("A ended at {a} and B at {b}, expected 90 and 110")
    });
}

fn trial(transfer: Transfer) -> Result<(), String> {
    let accounts = pair();
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = [true, false]
        .into_iter()
        .map(|a_to_b| {
            let (acc, start) = (Arc::clone(&accounts), Arc::clone(&start));
            crate::thread::spawn(move || {
                start.wait();
                for _ in 0..50 {
                    if a_to_b {
                        transfer(&acc.0, &acc.1, 3);
                    } else {
                        transfer(&acc.1, &acc.0, 3);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join_quietly()
            .map_err(|p| crate::model::message(p.as_ref()))?;
    }
    match (balance(&accounts.0), balance(&accounts.1)) {
        (100, 100) => Ok(()),
        (a, b) => Err(format!("A ended at {a} and B at {b}, expected 100 and 100")),
    }
}

fn bench(transfer: Transfer) -> u64 {
    let accounts = pair();
    let workers: Vec<_> = [true, false]
        .into_iter()
        .map(|a_to_b| {
            let acc = Arc::clone(&accounts);
            crate::thread::spawn(move || {
                for _ in 0..20_000 {
                    if a_to_b {
                        transfer(&acc.0, &acc.1, 1);
                    } else {
                        transfer(&acc.1, &acc.0, 1);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    assert_eq!(balance(&accounts.0), 100, "the benchmark lost money");
    40_000
}
