//! Exercises 1 and 2: the wallet. A balance of 100; two workers deposit at once, +10 and -10.
//! Whatever the schedule, the balance must end at 100.
//!
//! Exercise 1 fixes the race with a `Mutex`, exercise 2 with one atomic operation; both are
//! graded by the same scenario, plus a rule on how the fix is made.

use crate::grade::{model_check, trials_check, Bench, Suite};
use crate::model::{ensure, Search};
use crate::thread::Builder;
use crate::trace;
use std::sync::{Arc, Barrier};

/// What both exercises implement.
pub trait Wallet: Send + Sync + 'static {
    /// A wallet holding `balance`.
    fn new(balance: i64) -> Self;
    /// Add `amount` (negative: take it out).
    fn deposit(&self, amount: i64);
    /// The balance now.
    fn balance(&self) -> i64;
}

/// How the fix must be made.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// Exercise 1: every deposit under a lock.
    Mutex,
    /// Exercise 2: no lock, an atomic operation.
    Atomic,
}

/// The grader's suite for a wallet type.
pub fn suite<W: Wallet>(fix: Fix) -> Suite {
    Suite {
        checks: vec![
            model_check(
                "every schedule of two deposits (+10, -10 on 100)",
                Search::Every { limit: 200_000 },
                "every one ends at 100",
                move || two_deposits::<W>(None),
            ),
            model_check(
                match fix {
                    Fix::Mutex => "the fix is a lock",
                    Fix::Atomic => "the fix is one atomic operation, no lock",
                },
                Search::Every { limit: 1 },
                match fix {
                    Fix::Mutex => "each deposit takes the lock",
                    Fix::Atomic => "no deposit takes a lock",
                },
                move || two_deposits::<W>(Some(fix)),
            ),
            trials_check(
                "real threads",
                1_000,
                "no update lost (2 threads × 50 deposits each)",
                |_| trial::<W>(),
            ),
        ],
        bench: Bench::new("4 threads × 20,000 deposits", bench::<W>),
    }
}

/// W1 deposits +10 while W2 deposits -10; the balance must end at 100 (and, given a `fix`, the
/// deposits must be made that way).
fn two_deposits<W: Wallet>(fix: Option<Fix>) {
    let wallet = Arc::new(W::new(100));
    let workers: Vec<_> = [("W1", 10), ("W2", -10)]
        .into_iter()
        .map(|(lane, amount)| {
            let w = Arc::clone(&wallet);
            Builder::new()
                .name(lane.into())
                .spawn(move || w.deposit(amount))
                .expect("spawn")
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    if let Some(fix) = fix {
        rule(fix);
        return;
    }
    let b = wallet.balance();
    if b != 100 {
        let blamed = |e: &trace::Event| e.lane.starts_with('W') && is_write(&e.text);
        let failed_cas = trace::snapshot()
            .iter()
            .rev()
            .find(|e| blamed(e))
            .is_some_and(|e| e.text.contains('✗'));
        trace::mark_last(
            blamed,
            if failed_cas {
                "✗ failed, and the deposit was given up"
            } else {
                "✗ written from a stale read: the other deposit is gone"
            },
        );
    }
    ensure(b == 100, || {
        let lost = match b {
            110 => "W2's -10 was lost".to_owned(),
            90 => "W1's +10 was lost".to_owned(),
            _ => "the deposits did not add up".to_owned(),
        };
        format!("the balance ended at {b}, expected 100: {lost}")
    });
}

/// A step that changes the balance.
fn is_write(text: &str) -> bool {
    ["store", "unlock", "fetch_", "compare_exchange", "swap"]
        .iter()
        .any(|w| text.starts_with(w))
}

/// Exercise 1 must lock; exercise 2 must not.
fn rule(fix: Fix) {
    let events = trace::snapshot();
    for lane in ["W1", "W2"] {
        let locked = events.iter().any(|e| {
            e.lane == lane && (e.text.starts_with("lock") || e.text.starts_with("try_lock"))
        });
        match fix {
            Fix::Mutex => ensure(locked, || {
                format!("{lane}'s deposit took no lock: this exercise is about a Mutex around the read and the write (one atomic operation is exercise 2)")
            }),
            Fix::Atomic => ensure(!locked, || {
                format!("{lane}'s deposit took a lock: this exercise asks for one atomic operation and no Mutex (the Mutex was exercise 1)")
            }),
        }
    }
}

/// Two real threads, 50 deposits each, that must net to nothing.
fn trial<W: Wallet>() -> Result<(), String> {
    let wallet = Arc::new(W::new(100));
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = [10i64, -10]
        .into_iter()
        .map(|first| {
            let (w, start) = (Arc::clone(&wallet), Arc::clone(&start));
            crate::thread::spawn(move || {
                start.wait();
                for i in 0..50 {
                    w.deposit(if i % 2 == 0 { first } else { -first });
                }
            })
        })
        .collect();
    for w in workers {
        w.join_quietly()
            .map_err(|p| crate::model::message(p.as_ref()))?;
    }
    match wallet.balance() {
        100 => Ok(()),
        b => Err(format!(
            "the balance ended at {b}, expected 100 ({} updates lost)",
            (b - 100).abs() / 10
        )),
    }
}

/// Four threads, 20,000 deposits each.
fn bench<W: Wallet>() -> u64 {
    let wallet = Arc::new(W::new(100));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let w = Arc::clone(&wallet);
            crate::thread::spawn(move || {
                for i in 0..20_000 {
                    w.deposit(if i % 2 == 0 { 10 } else { -10 });
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    assert_eq!(wallet.balance(), 100, "the benchmark lost updates");
    80_000
}
