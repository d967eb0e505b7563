//! Exercise 3: a bank actor. One thread (the actor) owns the balance; everybody else sends it
//! messages and waits for its replies. Two workers deposit at once, +10 and -10 on 100.
//!
//! Graded: every schedule ends at 100, each reply is the balance right after that deposit (the
//! replies tell one serial story), and `stop` returns only once the actor's thread has ended.

use crate::grade::{model_check, trials_check, Bench, Suite};
use crate::model::{ensure, fail, Search};
use crate::thread::Builder;
use std::sync::{Arc, Barrier};

/// What exercise 3 implements: the handle to a running actor.
pub trait Bank: Send + Sync + Sized + 'static {
    /// Start the actor (a thread that owns `balance`); the handle to it.
    fn start(balance: i64) -> Self;
    /// Ask the actor to add `amount`, and wait for its reply: the balance just after.
    fn deposit(&self, amount: i64) -> i64;
    /// Stop the actor once it has handled what was sent; return the final balance, after its
    /// thread has ended.
    fn stop(self) -> i64;
}

/// The grader's suite for a bank type.
pub fn suite<B: Bank>() -> Suite {
    Suite {
        checks: vec![
            model_check(
                "schedules of two deposits through the actor (+10, -10 on 100)",
                // Every schedule: 984,884 for the reference solution (three threads and the
                // actor's replies), about 14 s on one core. The limit is a backstop: past it the
                // check says "the first N schedules", never "all".
                Search::Every { limit: 3_000_000 },
                "every one ends at 100, the replies agree, the actor stops",
                two_deposits::<B>,
            ),
            trials_check(
                "real threads",
                300,
                "no update lost, every actor stopped (2 threads × 20 deposits)",
                |_| trial::<B>(),
            ),
        ],
        bench: Bench::new("2 threads × 5,000 deposits through the actor", bench::<B>),
    }
}

fn two_deposits<B: Bank>() {
    let bank = Arc::new(B::start(100));
    let workers: Vec<_> = [("W1", 10), ("W2", -10)]
        .into_iter()
        .map(|(lane, amount)| {
            let b = Arc::clone(&bank);
            Builder::new()
                .name(lane.into())
                .spawn(move || b.deposit(amount))
                .expect("spawn")
        })
        .collect();
    let replies: Vec<i64> = workers
        .into_iter()
        .map(|w| w.join_quietly().unwrap_or(i64::MIN))
        .collect();
    let Ok(bank) = Arc::try_unwrap(bank) else {
        fail("the workers are done, yet someone still holds the bank's handle");
    };
    let live_before = crate::thread::live();
    let end = bank.stop();
    ensure(end == 100, || {
        format!("the actor's balance ended at {end}, expected 100: a deposit was lost")
    });
    let (r1, r2) = (replies[0], replies[1]);
    ensure((r1, r2) == (110, 100) || (r1, r2) == (100, 90), || {
        format!("W1's reply was {r1} and W2's {r2}: each reply must be the balance just after that deposit (110 then 100, or 90 then 100)")
    });
    ensure(crate::thread::live() == 0, || {
        format!(
            "stop() returned while {} thread(s) still ran ({live_before} before it): join the actor before returning",
            crate::thread::live()
        )
    });
}

fn trial<B: Bank>() -> Result<(), String> {
    crate::thread::reset_live();
    let bank = Arc::new(B::start(100));
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = [10i64, -10]
        .into_iter()
        .map(|first| {
            let (b, start) = (Arc::clone(&bank), Arc::clone(&start));
            crate::thread::spawn(move || {
                start.wait();
                for i in 0..20 {
                    b.deposit(if i % 2 == 0 { first } else { -first });
                }
            })
        })
        .collect();
    for w in workers {
        w.join_quietly()
            .map_err(|p| crate::model::message(p.as_ref()))?;
    }
    let bank = Arc::try_unwrap(bank).map_err(|_| "the handle is still shared".to_owned())?;
    let end = bank.stop();
    if end != 100 {
        return Err(format!("the balance ended at {end}, expected 100"));
    }
    match crate::thread::live() {
        0 => Ok(()),
        n => Err(format!("stop() returned with {n} thread(s) still running")),
    }
}

fn bench<B: Bank>() -> u64 {
    let bank = Arc::new(B::start(100));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let b = Arc::clone(&bank);
            crate::thread::spawn(move || {
                for i in 0..5_000 {
                    b.deposit(if i % 2 == 0 { 10 } else { -10 });
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    if let Ok(bank) = Arc::try_unwrap(bank) {
        assert_eq!(bank.stop(), 100, "the benchmark lost updates");
    }
    10_000
}
