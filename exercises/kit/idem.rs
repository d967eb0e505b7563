//! Exercise 5: a job that is idempotent under duplicate delivery. Queues deliver *at least*
//! once: after a worker crash, a network blip or a visibility timeout, the same job comes again,
//! sometimes to two workers at the same time. Charging a card twice is the bug.
//!
//! Graded: the same job performed by two workers at once (every schedule), then once more by a
//! third: the card is charged exactly once; a different job is still charged.

use crate::grade::{model_check, trials_check, Bench, Suite};
use crate::model::{ensure, Search};
use crate::sync::Mutex;
use crate::thread::Builder;
use crate::trace;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};

/// A job as the queue delivers it: charge `cents` for `order`. `jid` is unique per job; a
/// duplicate delivery carries the same `jid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub jid: String,
    pub order: u64,
    pub cents: i64,
}

impl Job {
    pub fn new(jid: &str, order: u64, cents: i64) -> Job {
        Job {
            jid: jid.to_owned(),
            order,
            cents,
        }
    }
}

#[derive(Debug, Default)]
struct Tables {
    /// order → charges made.
    charges: HashMap<u64, Vec<i64>>,
    /// Jobs recorded as done.
    done: HashSet<String>,
}

/// The shop's database. Each method is one statement, atomic on its own (the database holds its
/// own lock for the statement); nothing makes two statements atomic together.
pub struct Db {
    tables: Mutex<Tables>,
}

impl Db {
    pub fn new() -> Db {
        Db {
            tables: Mutex::quiet(Tables::default()),
        }
    }

    /// Charge the customer's card for `order` (the side effect that must happen once).
    pub fn charge(&self, order: u64, cents: i64) {
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let charges = t.charges.entry(order).or_default();
        charges.push(cents);
        let again = charges.len() > 1;
        drop(t);
        trace::record_marked(
            None,
            format!("charge order {order}: {}", euros(cents)),
            again.then(|| "✗ charged twice".to_owned()),
        );
    }

    /// `SELECT`: has the job been recorded as done?
    pub fn is_done(&self, jid: &str) -> bool {
        let done = self
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done
            .contains(jid);
        trace::record(None, format!("is_done({jid}) → {done}"));
        done
    }

    /// `INSERT`: record the job as done (no constraint: recording it twice is allowed).
    pub fn mark_done(&self, jid: &str) {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done
            .insert(jid.to_owned());
        trace::record(None, format!("mark_done({jid})"));
    }

    /// `INSERT ... ON CONFLICT DO NOTHING` (Redis: `SET key 1 NX`): record the job as done, and
    /// say whether this call did it. Of any number of calls at once, exactly one gets `true`.
    pub fn insert_once(&self, jid: &str) -> bool {
        let new = self
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done
            .insert(jid.to_owned());
        trace::record(None, format!("insert_once({jid}) → {new}"));
        new
    }

    /// The charges made for `order`.
    pub fn charges(&self, order: u64) -> Vec<i64> {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charges
            .get(&order)
            .cloned()
            .unwrap_or_default()
    }
}

impl Default for Db {
    fn default() -> Db {
        Db::new()
    }
}

fn euros(cents: i64) -> String {
    format!("€{}.{:02}", cents / 100, cents % 100)
}

/// What exercise 5 implements: perform `job` against `db`.
pub type Perform = fn(&Job, &Db);

/// The grader's suite for a `perform`.
pub fn suite(perform: Perform) -> Suite {
    Suite {
        checks: vec![
            model_check(
                "every schedule of a job delivered twice at once, then a third time",
                Search::Every { limit: 200_000 },
                "the card is charged once, and another job still is",
                move || duplicate(perform),
            ),
            trials_check(
                "real threads",
                500,
                "each of 10 jobs delivered to 2 threads at once: charged once each",
                move |_| trial(perform),
            ),
        ],
        bench: Bench::new(
            "10,000 jobs, each delivered twice, on 4 threads",
            move || bench(perform),
        ),
    }
}

fn duplicate(perform: Perform) {
    let db = Arc::new(Db::new());
    let job = Job::new("j7", 42, 3000);
    let workers: Vec<_> = ["W1", "W2"]
        .into_iter()
        .map(|lane| {
            let (db, job) = (Arc::clone(&db), job.clone());
            Builder::new()
                .name(lane.into())
                .spawn(move || perform(&job, &db))
                .expect("spawn")
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    trace::set_lane("W3");
    perform(&job, &db);
    perform(&Job::new("j8", 43, 1250), &db);
    let charges = db.charges(42).len();
    ensure(charges == 1, || match charges {
        0 => "order 42 was never charged: the job must still do its work once".into(),
        n => format!("order 42 was charged {n} times for one job (j7) delivered three times"),
    });
    ensure(db.charges(43).len() == 1, || {
        "order 43 (another job, j8) was not charged exactly once: only duplicates of the same job may be skipped".into()
    });
}

fn trial(perform: Perform) -> Result<(), String> {
    let db = Arc::new(Db::new());
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (db, start) = (Arc::clone(&db), Arc::clone(&start));
            crate::thread::spawn(move || {
                start.wait();
                for i in 0..10u64 {
                    perform(&Job::new(&format!("j{i}"), i, 100), &db);
                }
            })
        })
        .collect();
    for w in workers {
        w.join_quietly()
            .map_err(|p| crate::model::message(p.as_ref()))?;
    }
    for i in 0..10 {
        let n = db.charges(i).len();
        if n != 1 {
            return Err(format!("order {i} was charged {n} times"));
        }
    }
    Ok(())
}

fn bench(perform: Perform) -> u64 {
    let db = Arc::new(Db::new());
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let db = Arc::clone(&db);
            crate::thread::spawn(move || {
                for i in (t % 2..10_000).step_by(2) {
                    perform(&Job::new(&format!("j{i}"), i, 100), &db);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join_quietly();
    }
    assert!(
        (0..10_000).all(|i| db.charges(i).len() == 1),
        "the benchmark charged a job twice"
    );
    20_000
}
