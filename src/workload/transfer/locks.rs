//! The account locks of a transfer run: a small lock manager that knows who holds what and who
//! waits for what, so that a deadlock can be found, named, and ended.
//!
//! # Why not `std::sync::Mutex`
//! Two `Mutex`es locked in opposite orders deadlock just as well, but then nothing can tell who
//! holds which, and nothing can wake the threads: the run hangs until it is killed, and a hung
//! threaded process is exactly what `concur` promises never to leave behind. A lock manager, as
//! a database has, keeps one table of owners and waiters under one mutex. Acquiring a free lock
//! takes it; acquiring a taken one waits on a condition variable: a real wait, a real
//! deadlock. What the table adds is the *wait-for graph*: when nothing has been acquired or
//! released for [`DEADLOCK_AFTER`], a waiter follows "I wait for lock L, L is held by W, W waits
//! for ..." and, if the chain comes back to itself, that cycle is a deadlock (a certainty, not a
//! guess: every thread in it waits for another thread in it). It records the cycle and aborts
//! every waiter, the way PostgreSQL aborts a deadlock victim after `deadlock_timeout`.
//!
//! # Forced schedules
//! The same table holds the turn of a [`LockSchedule`], under the same mutex, so that "whose
//! attempt comes next" and "is that worker waiting for a lock" are read together (see
//! [`super::schedule`] for what a step means).

use super::schedule::LockSchedule;
use super::{Deadlock, Holder, LockEvent, LockOp};
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// No lock acquired or released for this long, and a waiter looks for a cycle.
pub const DEADLOCK_AFTER: Duration = Duration::from_millis(100);
/// How often a waiter wakes to look (it is also woken by every release).
const POLL: Duration = Duration::from_millis(5);
/// A worker waiting this long for its turn in a schedule abandons the schedule.
pub const TURN_TIMEOUT: Duration = Duration::from_secs(5);
/// Events kept for `concur race`'s drawing of a trial.
const MAX_EVENTS: usize = 256;

/// The transfer was caught in a deadlock and aborted (its locks are released).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

/// Whose turn it is in a forced schedule.
struct Gate {
    schedule: LockSchedule,
    jobs: u64,
    /// A label is taken by a job that moves money the same way as the model's job of that
    /// number (`job mod accounts`), whatever order the jobs arrive in: so `l1 l2 l1 l2` always
    /// pits A→B against B→A, as [`LockSchedule::deadlocks`] predicts.
    accounts: u64,
    round: u64,
    pos: usize,
    steps: Vec<usize>,
    /// Job -> its label in the current round.
    tickets: HashMap<u64, (u64, usize)>,
    /// Jobs that run ungated from now on: their steps were passed over.
    free: HashSet<u64>,
    /// Jobs that backed off (try-lock): they start again once their round's steps are all
    /// taken, so the schedule decides the back-offs, not the timing of the retry.
    backed_off: HashSet<u64>,
    broken: bool,
}

impl Gate {
    fn new(schedule: LockSchedule, jobs: u64, accounts: usize) -> Gate {
        let steps = schedule.round((schedule.workers as u64).min(jobs) as usize);
        Gate {
            schedule,
            jobs,
            accounts: accounts as u64,
            round: 0,
            pos: 0,
            steps,
            tickets: HashMap::new(),
            free: HashSet::new(),
            backed_off: HashSet::new(),
            broken: false,
        }
    }

    fn exhausted(&self) -> bool {
        self.round * self.schedule.workers as u64 >= self.jobs
    }

    fn advance(&mut self) {
        self.pos += 1;
        if self.pos == self.steps.len() {
            self.round += 1;
            self.pos = 0;
            let done = self.round * self.schedule.workers as u64;
            let m = self
                .jobs
                .saturating_sub(done)
                .min(self.schedule.workers as u64);
            self.steps = self.schedule.round(m as usize);
        }
    }

    /// The job holding the label of the current step, if one does.
    fn current_job(&self) -> Option<u64> {
        let label = *self.steps.get(self.pos)?;
        self.tickets
            .iter()
            .find(|(_, &(r, l))| r == self.round && l == label)
            .map(|(&job, _)| job)
    }
}

/// What a lock attempt may do now.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Turn {
    /// It is this attempt's step: take it, then pass the turn on.
    Mine,
    /// No schedule applies (none, exhausted, abandoned, or this job runs free).
    Free,
    /// Another worker's step comes first.
    Wait,
}

struct State {
    owner: Vec<Option<u64>>,
    /// Job -> the lock it waits for.
    waiting: HashMap<u64, usize>,
    /// Job -> its worker's label (W1, W2, ... by order of first lock attempt) and thread.
    labels: HashMap<ThreadId, usize>,
    worker_of: HashMap<u64, usize>,
    last_progress: Instant,
    deadlock: Option<Deadlock>,
    gate: Option<Gate>,
    started: Instant,
    events: Option<Vec<LockEvent>>,
    transfers_done: u64,
}

/// The lock table of one run.
pub struct Locks {
    state: Mutex<State>,
    moved: Condvar,
    accounts: usize,
}

impl Locks {
    /// Locks for `accounts` accounts; `schedule` forces the order of the first `jobs` jobs'
    /// attempts; `record` keeps an event log for drawing.
    pub fn new(accounts: usize, jobs: u64, schedule: Option<LockSchedule>, record: bool) -> Locks {
        Locks {
            state: Mutex::new(State {
                owner: vec![None; accounts],
                waiting: HashMap::new(),
                labels: HashMap::new(),
                worker_of: HashMap::new(),
                last_progress: Instant::now(),
                deadlock: None,
                gate: schedule.map(|s| Gate::new(s, jobs, accounts)),
                started: Instant::now(),
                events: record.then(Vec::new),
                transfers_done: 0,
            }),
            moved: Condvar::new(),
            accounts,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has a deadlock been found (and every waiter aborted)?
    pub fn deadlock(&self) -> Option<Deadlock> {
        self.state().deadlock.clone()
    }

    /// Was a forced schedule abandoned (a worker waited [`TURN_TIMEOUT`] for its turn)?
    pub fn schedule_broken(&self) -> bool {
        self.state().gate.as_ref().is_some_and(|g| g.broken)
    }

    /// The recorded events, in order.
    pub fn events(&self) -> Vec<LockEvent> {
        self.state().events.clone().unwrap_or_default()
    }

    /// Take `lock` for `job`, waiting as long as it is held. `nth` is the attempt's place in the
    /// job (0: its first lock, 1: its second), which a forced schedule orders.
    pub fn lock(&self, job: u64, lock: usize, nth: u8) -> Result<(), Aborted> {
        let mut s = self.wait_turn(job, nth)?;
        let mine = s.turn(job, nth) == Turn::Mine;
        if s.owner[lock].is_none() {
            s.take(job, lock);
            s.pass(mine);
            self.moved.notify_all();
            return Ok(());
        }
        s.waiting.insert(job, lock);
        s.record(job, LockOp::Wait, lock);
        s.pass(mine);
        self.moved.notify_all();
        loop {
            s = self
                .moved
                .wait_timeout(s, POLL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if s.deadlock.is_some() {
                s.waiting.remove(&job);
                return Err(Aborted);
            }
            if s.owner[lock].is_none() {
                s.waiting.remove(&job);
                s.take(job, lock);
                self.moved.notify_all();
                return Ok(());
            }
            if s.last_progress.elapsed() >= DEADLOCK_AFTER {
                if let Some(cycle) = s.cycle_from(job) {
                    s.abort(cycle);
                    self.moved.notify_all();
                    return Err(Aborted);
                }
            }
        }
    }

    /// Take `lock` for `job` only if it is free; if it is not, give `held` back at once (in the
    /// same turn, so a forced schedule sees the back-off) and return false. From then on the job
    /// runs outside the schedule.
    pub fn try_lock_or_release(
        &self,
        job: u64,
        lock: usize,
        held: usize,
        nth: u8,
    ) -> Result<bool, Aborted> {
        let mut s = self.wait_turn(job, nth)?;
        let mine = s.turn(job, nth) == Turn::Mine;
        let got = s.owner[lock].is_none();
        if got {
            s.take(job, lock);
        } else {
            s.record(job, LockOp::TryFailed, lock);
            s.release(job, held);
            if let Some(g) = &mut s.gate {
                g.backed_off.insert(job);
            }
        }
        s.pass(mine);
        self.moved.notify_all();
        Ok(got)
    }

    /// Give `lock` back.
    pub fn unlock(&self, job: u64, lock: usize) {
        let mut s = self.state();
        s.release(job, lock);
        self.moved.notify_all();
    }

    /// Give both of a finished transfer's locks back in one step, so that a worker woken by the
    /// first never finds the second still held (what makes try-lock's back-offs depend on the
    /// schedule alone).
    pub fn unlock_both(&self, job: u64, second: usize, first: usize) {
        let mut s = self.state();
        s.release(job, second);
        s.release(job, first);
        self.moved.notify_all();
    }

    /// A transfer finished (both legs written).
    pub fn done(&self, job: u64) {
        let mut s = self.state();
        s.transfers_done += 1;
        s.record(job, LockOp::Moved, usize::MAX);
    }

    pub fn transfers_done(&self) -> u64 {
        self.state().transfers_done
    }

    /// Wait until this attempt may go (its turn, or no schedule); aborted if a deadlock was found
    /// meanwhile.
    fn wait_turn(&self, job: u64, nth: u8) -> Result<MutexGuard<'_, State>, Aborted> {
        let mut s = self.state();
        let deadline = Instant::now() + TURN_TIMEOUT;
        loop {
            if s.deadlock.is_some() {
                return Err(Aborted);
            }
            if s.turn(job, nth) != Turn::Wait {
                // Labelled when its attempt goes: under a schedule, W1 is the schedule's l1.
                s.label(job);
                return Ok(s);
            }
            let now = Instant::now();
            if now >= deadline {
                if let Some(g) = &mut s.gate {
                    g.broken = true;
                }
                self.moved.notify_all();
                s.label(job);
                return Ok(s);
            }
            s = self
                .moved
                .wait_timeout(s, (deadline - now).min(POLL))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub fn accounts(&self) -> usize {
        self.accounts
    }
}

impl State {
    /// This job's worker: the calling thread, labelled in order of first appearance.
    fn label(&mut self, job: u64) {
        let next = self.labels.len() + 1;
        let w = *self
            .labels
            .entry(std::thread::current().id())
            .or_insert(next);
        self.worker_of.insert(job, w);
    }

    fn take(&mut self, job: u64, lock: usize) {
        self.owner[lock] = Some(job);
        self.last_progress = Instant::now();
        self.record(job, LockOp::Lock, lock);
    }

    fn release(&mut self, job: u64, lock: usize) {
        if self.owner[lock] == Some(job) {
            self.owner[lock] = None;
            self.last_progress = Instant::now();
            self.record(job, LockOp::Unlock, lock);
        }
    }

    fn record(&mut self, job: u64, op: LockOp, account: usize) {
        let worker = self.worker_of.get(&job).copied().unwrap_or(0);
        let t_us = self.started.elapsed().as_secs_f64() * 1e6;
        if let Some(events) = &mut self.events {
            if events.len() < MAX_EVENTS {
                events.push(LockEvent {
                    t_us,
                    worker,
                    job,
                    op,
                    account: (account != usize::MAX).then_some(account),
                });
            }
        }
    }

    /// Skip the steps of workers that are waiting for a lock (they cannot act), then say whether
    /// `job`'s attempt `nth` may go.
    fn turn(&mut self, job: u64, nth: u8) -> Turn {
        let waiting = &self.waiting;
        let Some(g) = self.gate.as_mut() else {
            return Turn::Free;
        };
        loop {
            if g.broken || g.exhausted() || g.free.contains(&job) {
                return Turn::Free;
            }
            if g.backed_off.contains(&job) {
                let round = g.tickets.get(&job).map_or(0, |t| t.0);
                return if round < g.round {
                    Turn::Free
                } else {
                    Turn::Wait
                };
            }
            match g.current_job() {
                Some(j) if waiting.contains_key(&j) => {
                    g.free.insert(j);
                    g.advance();
                }
                _ => break,
            }
        }
        let Some(&label) = g.steps.get(g.pos) else {
            return Turn::Free;
        };
        match g.tickets.get(&job) {
            Some(&(r, l)) if r == g.round && l == label => Turn::Mine,
            Some(&(r, _)) if r < g.round => {
                // A job left over from an earlier round (its steps were all taken): free.
                Turn::Free
            }
            Some(_) => Turn::Wait,
            None => {
                let labelled = g.tickets.values().any(|&(r, l)| r == g.round && l == label);
                let fits = job % g.accounts == label as u64 % g.accounts;
                if nth == 0 && !labelled && fits {
                    g.tickets.insert(job, (g.round, label));
                    Turn::Mine
                } else {
                    Turn::Wait
                }
            }
        }
    }

    /// The attempt that had the turn is made: the next step's turn.
    fn pass(&mut self, mine: bool) {
        if let (true, Some(g)) = (mine, self.gate.as_mut()) {
            g.advance();
        }
    }

    /// Follow "waits for a lock held by" from `job`; the cycle through `job`, if there is one.
    fn cycle_from(&self, job: u64) -> Option<Vec<Holder>> {
        let mut chain = vec![job];
        let mut at = job;
        loop {
            let lock = *self.waiting.get(&at)?;
            let holder = self.owner[lock]?;
            if holder == job {
                break;
            }
            if chain.contains(&holder) || chain.len() > self.owner.len() + 1 {
                return None;
            }
            chain.push(holder);
            at = holder;
        }
        let mut cycle: Vec<Holder> = chain
            .iter()
            .map(|&j| Holder {
                worker: self.worker_of.get(&j).copied().unwrap_or(0),
                job: j,
                holds: self
                    .owner
                    .iter()
                    .position(|o| *o == Some(j))
                    .unwrap_or(usize::MAX),
                waits_for: self.waiting[&j],
            })
            .collect();
        // Start the cycle at its lowest worker, so the same deadlock always reads the same.
        let first = (0..cycle.len())
            .min_by_key(|&i| cycle[i].worker)
            .unwrap_or(0);
        cycle.rotate_left(first);
        Some(cycle)
    }

    fn abort(&mut self, cycle: Vec<Holder>) {
        let waited = self.last_progress.elapsed();
        for h in &cycle {
            self.record(h.job, LockOp::Abort, h.waits_for);
        }
        self.deadlock = Some(Deadlock {
            cycle,
            transfers_done: self.transfers_done,
            detected_after_ms: waited.as_millis() as u64,
        });
    }
}
