//! Exercise 4: a bounded pool of worker threads over a channel (Sidekiq's processors), which
//! shuts down cleanly.
//!
//! Graded: under seeded schedules of two workers and a queue of one, three jobs each run exactly
//! once, the queue is bounded, and `shutdown` returns only after every worker thread has ended;
//! chaos: jobs that panic must not take their worker down; then trials on real threads.

use crate::grade::{model_check, trials_check, Bench, Suite};
use crate::model::{ensure, Search};
use crate::trace;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

/// A job: a number, and the work to do.
pub struct Job {
    pub id: u64,
    work: Box<dyn FnOnce() + Send>,
}

impl Job {
    pub fn new(id: u64, work: impl FnOnce() + Send + 'static) -> Job {
        Job {
            id,
            work: Box::new(work),
        }
    }

    /// Do the work (a job may panic: that is its business, not its worker's).
    pub fn run(self) {
        (self.work)()
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.id)
    }
}

/// What exercise 4 implements.
pub trait Pool: Sized + 'static {
    /// Start `workers` threads taking jobs from a queue that holds at most `capacity` jobs.
    fn new(workers: usize, capacity: usize) -> Self;
    /// Queue `job`, waiting while the queue is full.
    fn submit(&self, job: Job);
    /// No new jobs: every queued job runs, every worker thread ends; returns once they have.
    fn shutdown(self);
}

/// The grader's suite for a pool type.
pub fn suite<P: Pool>() -> Suite {
    Suite {
        checks: vec![
            model_check(
                "schedules of 3 jobs on 2 workers, queue of 1, then shutdown",
                // Every schedule of three threads over a channel is hundreds of thousands: a
                // seeded sample, the same on every check.
                Search::Sample {
                    seed: 4,
                    runs: 3_000,
                    depth: 3,
                },
                "the queue is bounded, each job runs once, shutdown ends every worker",
                || three_jobs::<P>(),
            ),
            trials_check(
                "chaos: jobs that panic",
                20,
                "2 of 40 jobs panic on a pool of 2: the 38 others still run, and shutdown returns",
                |_| panicking_jobs::<P>(),
            ),
            trials_check(
                "real threads",
                200,
                "200 jobs on 4 workers (queue of 8): each ran once, no thread left",
                |_| trial::<P>(200, 4, 8),
            ),
        ],
        bench: Bench::new("20,000 tiny jobs on 4 workers, queue of 64", bench::<P>),
    }
}

/// Jobs that count their runs in `ran` (one slot per job).
fn counting(ran: &Arc<Vec<AtomicU64>>, id: u64) -> Job {
    let ran = Arc::clone(ran);
    Job::new(id, move || {
        trace::record(None, format!("runs job {id}"));
        ran[id as usize - 1].fetch_add(1, SeqCst);
    })
}

fn three_jobs<P: Pool>() {
    let ran: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect());
    let pool = P::new(2, 1);
    for id in 1..=3 {
        pool.submit(counting(&ran, id));
    }
    pool.shutdown();
    let made = crate::sync::channel::made();
    ensure(!made.is_empty(), || {
        "no channel from kit::sync::channel was made: the jobs must go through a bounded channel"
            .into()
    });
    ensure(made.iter().all(|c| matches!(c, Some(n) if *n <= 1)), || {
        format!("the queue must hold at most 1 job (the capacity asked), but the channels made were {}: an unbounded queue lets a burst of jobs fill memory", shown(&made))
    });
    for (i, n) in ran.iter().enumerate() {
        let n = n.load(SeqCst);
        ensure(n == 1, || {
            match n {
            0 => format!("job {} had not run when shutdown() returned: shutdown must let the queued jobs finish", i + 1),
            _ => format!("job {} ran {n} times", i + 1),
        }
        });
    }
    let live = crate::thread::live();
    ensure(live == 0, || {
        format!("shutdown() returned while {live} worker thread(s) still ran: join them before returning")
    });
}

fn shown(made: &[Option<usize>]) -> String {
    let each: Vec<String> = made
        .iter()
        .map(|c| match c {
            Some(n) => format!("bounded({n})"),
            None => "unbounded()".into(),
        })
        .collect();
    each.join(", ")
}

fn panicking_jobs<P: Pool>() -> Result<(), String> {
    crate::thread::reset_live();
    let ran = Arc::new(AtomicU64::new(0));
    let pool = P::new(2, 4);
    for id in 1..=40 {
        let ran = Arc::clone(&ran);
        pool.submit(Job::new(id, move || {
            if id == 5 || id == 6 {
                std::panic::panic_any(crate::model::Quiet);
            }
            ran.fetch_add(1, SeqCst);
        }));
    }
    pool.shutdown();
    let n = ran.load(SeqCst);
    if n != 38 {
        return Err(format!(
            "{n} of the 38 jobs that do not panic ran: a panicking job must not take its worker down (catch it)"
        ));
    }
    match crate::thread::live() {
        0 => Ok(()),
        n => Err(format!(
            "shutdown() returned with {n} worker thread(s) still running"
        )),
    }
}

fn trial<P: Pool>(jobs: u64, workers: usize, capacity: usize) -> Result<(), String> {
    crate::thread::reset_live();
    let ran: Arc<Vec<AtomicU64>> = Arc::new((0..jobs).map(|_| AtomicU64::new(0)).collect());
    let pool = P::new(workers, capacity);
    for id in 1..=jobs {
        pool.submit(counting(&ran, id));
    }
    pool.shutdown();
    if let Some((i, n)) = ran
        .iter()
        .map(|n| n.load(SeqCst))
        .enumerate()
        .find(|(_, n)| *n != 1)
    {
        return Err(format!("job {} ran {n} times, expected once", i + 1));
    }
    match crate::thread::live() {
        0 => Ok(()),
        n => Err(format!(
            "shutdown() returned with {n} worker thread(s) still running"
        )),
    }
}

fn bench<P: Pool>() -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let pool = P::new(4, 64);
    for id in 1..=20_000 {
        let done = Arc::clone(&done);
        pool.submit(Job::new(id, move || {
            done.fetch_add(1, SeqCst);
        }));
    }
    pool.shutdown();
    assert_eq!(done.load(SeqCst), 20_000, "the benchmark lost jobs");
    20_000
}
