//! Forcing the order of lock attempts, so that a deadlock happens on every machine, every time,
//! and so that a fix can be shown to survive the very order that broke the naive version.
//!
//! # What is scheduled
//! A transfer takes two locks: its *first* (the sender's account under `lock-pair`, the lower
//! account under `ordered`) and then its *second*. A [`LockSchedule`] such as `l1 l2 l1 l2`
//! orders those attempts: worker 1 tries its first lock, worker 2 its first, worker 1 its second,
//! worker 2 its second. An *attempt* is scheduled, not an acquisition: a worker whose attempt
//! finds the lock taken starts waiting (that is the lock doing its job), the turn passes on, and
//! a later step of a worker that is still waiting is passed over, because a waiting thread
//! cannot act. So a schedule never waits for something a lock forbids, and the same schedule can
//! be put to the naive order and to every fix.
//!
//! # Predicting
//! [`LockSchedule::deadlocks`] plays a schedule on a model of the locks, with no threads, and
//! says whether it ends in a deadlock: what `concur race -w transfer --seed N` checks every real
//! trial against.

use crate::workload::wallet::SyncMode;

/// The talks' deadlock: both workers take their first lock before either tries its second.
pub const DEFAULT_LOCK_SCHEDULE: &str = "l1,l2,l1,l2";

/// An order of lock attempts: `steps[i]` is the worker (0-based) whose next attempt comes i-th;
/// each worker appears exactly twice (its first lock, then its second).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockSchedule {
    pub steps: Vec<usize>,
    pub workers: usize,
}

impl LockSchedule {
    /// Parse `l1,l2,l1,l2` (commas or spaces; `l`/`lock`, workers numbered from 1).
    pub fn parse(text: &str) -> Result<LockSchedule, String> {
        let mut steps = Vec::new();
        for tok in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let t = tok.to_ascii_lowercase();
            let digits = t.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            if !matches!(&t[..t.len() - digits.len()], "l" | "lock") {
                return Err(format!(
                    "'{tok}' is not a lock step: write l1, l2, ... (the worker whose next lock attempt comes now)"
                ));
            }
            let n: usize = digits
                .parse()
                .ok()
                .filter(|n| (1..=26).contains(n))
                .ok_or_else(|| format!("'{tok}' needs a worker number from 1 to 26"))?;
            steps.push(n - 1);
        }
        let workers = steps.iter().map(|w| w + 1).max().unwrap_or(0);
        if workers == 0 {
            return Err("the lock schedule is empty: try l1,l2,l1,l2".into());
        }
        for w in 0..workers {
            let n = steps.iter().filter(|&&s| s == w).count();
            if n != 2 {
                return Err(format!(
                    "worker {} must appear exactly twice (its first lock, then its second), not {n} times",
                    w + 1
                ));
            }
        }
        Ok(LockSchedule { steps, workers }.canonical())
    }

    /// Number workers in the order they first act: workers get their labels by arriving.
    fn canonical(mut self) -> LockSchedule {
        let mut order: Vec<usize> = Vec::new();
        for &s in &self.steps {
            if !order.contains(&s) {
                order.push(s);
            }
        }
        for s in &mut self.steps {
            *s = order.iter().position(|w| w == s).unwrap_or(*s);
        }
        self
    }

    /// A schedule of `workers` workers drawn from `seed`, the same on every machine.
    pub fn from_seed(seed: u64, workers: usize) -> LockSchedule {
        let mut rng = crate::sys::ids::SplitMix64(seed);
        let mut left: Vec<(usize, u8)> = (0..workers).map(|w| (w, 2)).collect();
        let mut steps = Vec::with_capacity(2 * workers);
        while !left.is_empty() {
            let i = (rng.next_u64() % left.len() as u64) as usize;
            steps.push(left[i].0);
            left[i].1 -= 1;
            if left[i].1 == 0 {
                left.swap_remove(i);
            }
        }
        LockSchedule { steps, workers }.canonical()
    }

    /// The steps of a round with only the first `m` workers (the last round of a run whose jobs
    /// do not divide evenly).
    pub fn round(&self, m: usize) -> Vec<usize> {
        self.steps.iter().copied().filter(|&w| w < m).collect()
    }

    /// `l1 l2 l1 l2`.
    pub fn text(&self) -> String {
        self.steps
            .iter()
            .map(|w| format!("l{}", w + 1))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Does the first round of this schedule deadlock under `sync`, with `accounts` accounts
    /// (jobs routed as [`super::route`] routes them)? Played on a model of the locks.
    pub fn deadlocks(&self, sync: SyncMode, accounts: usize) -> bool {
        let mut model = Model::new(self.workers, sync, accounts);
        for &w in &self.steps {
            model.step(w);
        }
        model.run_free();
        model.stuck()
    }
}

/// One worker of the [`Model`]: its two locks in the order it takes them, how many it holds,
/// and what it waits for.
#[derive(Clone, Debug)]
struct Worker {
    locks: [usize; 2],
    held: usize,
    waiting: bool,
    done: bool,
}

/// Locks without threads: who holds what, who waits, and when a try-lock backs off.
struct Model {
    sync: SyncMode,
    owner: Vec<Option<usize>>,
    workers: Vec<Worker>,
}

impl Model {
    fn new(workers: usize, sync: SyncMode, accounts: usize) -> Model {
        let workers = (0..workers as u64)
            .map(|job| {
                let (from, to) = super::route(job, accounts);
                let (a, b) = super::lock_order(sync, from, to);
                Worker {
                    locks: [a, b],
                    held: 0,
                    waiting: false,
                    done: false,
                }
            })
            .collect();
        Model {
            sync,
            owner: vec![None; accounts],
            workers,
        }
    }

    /// Worker `w`'s next attempt; passed over while it waits.
    fn step(&mut self, w: usize) {
        let worker = &self.workers[w];
        if worker.done || worker.waiting {
            return;
        }
        let lock = worker.locks[worker.held];
        match self.owner[lock] {
            None => {
                self.owner[lock] = Some(w);
                self.workers[w].held += 1;
                if self.workers[w].held == 2 {
                    self.finish(w);
                }
            }
            // try-lock's second attempt: give the first lock back and start again later.
            Some(_) if self.sync == SyncMode::TryLock && worker.held == 1 => {
                self.owner[worker.locks[0]] = None;
                self.workers[w].held = 0;
                self.wake();
            }
            Some(_) => self.workers[w].waiting = true,
        }
    }

    /// Both locks held: the transfer happens and both are released.
    fn finish(&mut self, w: usize) {
        for l in self.workers[w].locks {
            self.owner[l] = None;
        }
        self.workers[w].done = true;
        self.wake();
    }

    /// Waiters whose lock is free take it.
    fn wake(&mut self) {
        for w in 0..self.workers.len() {
            let worker = &self.workers[w];
            if worker.waiting && self.owner[worker.locks[worker.held]].is_none() {
                self.workers[w].waiting = false;
                self.step(w);
            }
        }
    }

    /// After the schedule: every worker that can act runs until none can.
    fn run_free(&mut self) {
        loop {
            let before: Vec<(usize, bool, bool)> = self
                .workers
                .iter()
                .map(|w| (w.held, w.waiting, w.done))
                .collect();
            for w in 0..self.workers.len() {
                self.step(w);
            }
            let after: Vec<(usize, bool, bool)> = self
                .workers
                .iter()
                .map(|w| (w.held, w.waiting, w.done))
                .collect();
            if before == after {
                return;
            }
        }
    }

    fn stuck(&self) -> bool {
        self.workers.iter().any(|w| !w.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_numbers_workers_by_arrival() {
        let s = LockSchedule::parse("l2, l1 lock2,L1").unwrap();
        assert_eq!(s.text(), "l1 l2 l1 l2");
        assert_eq!(s.workers, 2);
        for bad in ["", "l1 l1 l1", "l1 l2 l1", "r1 w1", "l0 l0", "l27 l27"] {
            assert!(LockSchedule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_naive_order_deadlocks_when_both_hold_their_first_lock() {
        let deadlock = |s: &str, sync| LockSchedule::parse(s).unwrap().deadlocks(sync, 2);
        assert!(deadlock("l1 l2 l1 l2", SyncMode::LockPair));
        assert!(deadlock("l1 l2 l2 l1", SyncMode::LockPair));
        assert!(!deadlock("l1 l1 l2 l2", SyncMode::LockPair));
        for fix in [SyncMode::Ordered, SyncMode::TryLock] {
            for s in ["l1 l2 l1 l2", "l1 l2 l2 l1", "l1 l1 l2 l2"] {
                assert!(!deadlock(s, fix), "{s} under {fix:?}");
            }
        }
        // Three accounts in a ring, three workers: the three-way deadlock, and its fix.
        let ring = LockSchedule::parse("l1 l2 l3 l1 l2 l3").unwrap();
        assert!(ring.deadlocks(SyncMode::LockPair, 3));
        assert!(!ring.deadlocks(SyncMode::Ordered, 3));
    }

    #[test]
    fn seeded_schedules_are_reproducible_and_mixed() {
        let mut seen = (false, false);
        for seed in 0..40 {
            let s = LockSchedule::from_seed(seed, 2);
            assert_eq!(s, LockSchedule::from_seed(seed, 2));
            assert_eq!(LockSchedule::parse(&s.text()).unwrap(), s);
            if s.deadlocks(SyncMode::LockPair, 2) {
                seen.0 = true;
            } else {
                seen.1 = true;
            }
        }
        assert_eq!(seen, (true, true), "some seeds deadlock, some do not");
    }
}
