//! Watching a wallet race happen: an optional event log and an optional turn-taking schedule,
//! attached to a [`Ledger`](super::wallet::Ledger) only when `concur race` asks for them.
//!
//! # Why record, not reconstruct
//! A race is an order of events, and after the fact only the books are left (which write was
//! based on which version). To *show* the lost update (`W1 read 100`, `W2 read 100`, `W1 write
//! 110`, `W2 write 90`) the reads and writes are recorded as they happen, stamped by one
//! monotonic clock. Recording must be cheap or it changes the race it watches: an event is one
//! `fetch_add` for a slot plus four relaxed stores into memory allocated before the run, no lock
//! and no allocation. A ledger that is not traced pays one never-taken branch per operation.
//!
//! # Why a schedule
//! A real race is intermittent: it depends on the machine, the load, the luck. A workshop cannot
//! depend on luck, so a [`Schedule`] forces an interleaving by turn-taking: each read and write
//! waits until the schedule says it is its turn (`r1 r2 w1 w2`: both workers read before either
//! writes). Workers get their labels in the order they arrive, so any strategy whose workers can
//! run at the same time (threads, a pool of two or more, a multi-threaded runtime) loses exactly
//! the updates the schedule says it loses, on every machine, every time. A strategy that
//! serialises its updates (a lock, an actor) would never offer the next turn, so only the racy
//! `--sync none` is ever scheduled; and a wait that still times out (after [`TURN_TIMEOUT`])
//! abandons the schedule rather than hang, and says so.
//!
//! # How it is attached
//! Strategies build their own ledgers, deep inside their `run`. Rather than thread a trace through
//! every strategy, `concur race` [`install`]s one before a trial and removes it after; every
//! ledger created meanwhile picks it up ([`installed`]). Trials run one at a time, so one slot is
//! enough.

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a worker waits for its turn before the schedule is declared broken.
pub const TURN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a recorded event did to the ledger.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The first half of an update: the balance was read (at `version`).
    Read,
    /// The second half: `balance` was written as `version`, computed from version `based_on`.
    Write,
    /// An indivisible update (compare-and-swap): `balance` is the result, as `version`.
    Add,
}

impl Op {
    fn code(self) -> u64 {
        match self {
            Op::Read => 0,
            Op::Write => 1,
            Op::Add => 2,
        }
    }
    fn from_code(c: u64) -> Op {
        match c {
            0 => Op::Read,
            1 => Op::Write,
            _ => Op::Add,
        }
    }
}

/// One recorded event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Nanoseconds since the trace started, from one monotonic clock.
    pub t_ns: u64,
    /// Who did it: a thread, or a tokio task when inside one (tasks can change threads).
    pub lane: u64,
    pub op: Op,
    pub balance: i64,
    pub version: u32,
    /// For writes and adds: the version the new balance was computed from.
    pub based_on: u32,
}

/// A lock-free, fixed-size event log plus an optional schedule.
pub struct Trace {
    start: Instant,
    slots: Box<[[AtomicU64; 4]]>,
    next: AtomicUsize,
    /// The ledger's final (balance, version), noted when its outcome is taken.
    last: Mutex<Option<(i64, u32)>>,
    schedule: Option<Gate>,
}

impl Trace {
    /// A trace with room for `capacity` events, forcing `schedule` over `jobs` updates if given.
    pub fn new(capacity: usize, schedule: Option<(Schedule, u64)>) -> Self {
        Trace {
            start: Instant::now(),
            slots: (0..capacity).map(|_| Default::default()).collect(),
            next: AtomicUsize::new(0),
            last: Mutex::new(None),
            schedule: schedule.map(|(s, jobs)| Gate::new(s, jobs)),
        }
    }

    /// Record one event. Cheap: a slot index, a clock read, four stores.
    pub fn record(&self, op: Op, balance: i64, version: u32, based_on: u32) {
        let t_ns = self.start.elapsed().as_nanos() as u64;
        let i = self.next.fetch_add(1, Relaxed);
        if let Some(slot) = self.slots.get(i) {
            slot[0].store(t_ns, Relaxed);
            slot[1].store(lane(), Relaxed);
            slot[2].store(super::wallet::pack(balance, version), Relaxed);
            slot[3].store(((based_on as u64) << 8) | op.code(), Relaxed);
        }
    }

    /// Note where the ledger ended (called when its outcome is taken).
    pub fn finish(&self, balance: i64, version: u32) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((balance, version));
    }

    /// The ledger's final balance and version, if its outcome was taken.
    pub fn last(&self) -> Option<(i64, u32)> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every recorded event, in time order. Call after the run's workers have been joined.
    pub fn events(&self) -> Vec<Event> {
        let n = self.next.load(SeqCst).min(self.slots.len());
        let mut events: Vec<Event> = self.slots[..n]
            .iter()
            .map(|s| {
                let (balance, version) = super::wallet::unpack(s[2].load(SeqCst));
                let tail = s[3].load(SeqCst);
                Event {
                    t_ns: s[0].load(SeqCst),
                    lane: s[1].load(SeqCst),
                    op: Op::from_code(tail & 0xff),
                    balance,
                    version,
                    based_on: (tail >> 8) as u32,
                }
            })
            .collect();
        events.sort_by_key(|e| e.t_ns);
        events
    }

    /// Events that did not fit in the log.
    pub fn dropped(&self) -> usize {
        self.next.load(SeqCst).saturating_sub(self.slots.len())
    }

    /// The schedule, if this trace forces one.
    pub fn gate(&self) -> Option<&Gate> {
        self.schedule.as_ref()
    }
}

thread_local! {
    static THREAD_LANE: Cell<u64> = const { Cell::new(0) };
}
static NEXT_THREAD_LANE: AtomicU64 = AtomicU64::new(1);

/// Who is running: the current tokio task if there is one (high bit set), else this thread.
fn lane() -> u64 {
    if let Some(id) = tokio::task::try_id() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        return h.finish() | (1 << 63);
    }
    THREAD_LANE.with(|l| {
        if l.get() == 0 {
            l.set(NEXT_THREAD_LANE.fetch_add(1, Relaxed));
        }
        l.get()
    })
}

static INSTALLED: Mutex<Option<Arc<Trace>>> = Mutex::new(None);

/// Attach `trace` to every ledger created from now on (`None` detaches).
pub fn install(trace: Option<Arc<Trace>>) {
    *INSTALLED.lock().unwrap_or_else(|p| p.into_inner()) = trace;
}

/// The trace new ledgers should attach to, if `concur race` installed one.
pub fn installed() -> Option<Arc<Trace>> {
    INSTALLED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A read or a write by worker `worker` (0-based) in a [`Schedule`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub write: bool,
    pub worker: usize,
}

/// An interleaving of `workers` workers' reads and writes, e.g. `r1 r2 w1 w2`: each worker reads
/// once and then writes once. Jobs run in rounds of `workers`, each round in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub steps: Vec<Step>,
    pub workers: usize,
}

/// The talks' interleaving: both read 100, then both write.
pub const DEFAULT_SCHEDULE: &str = "r1,r2,w1,w2";

impl Schedule {
    /// Parse `r1,r2,w1,w2` (commas or spaces; `r`/`read`, `w`/`write`, workers numbered from 1).
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let mut steps = Vec::new();
        for tok in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let t = tok.to_ascii_lowercase();
            let digits = t.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let op = &t[..t.len() - digits.len()];
            let write = match op {
                "r" | "read" => false,
                "w" | "write" => true,
                _ => return Err(format!("'{tok}' is not a step: write r1, w2, ... (read or write, then the worker number)")),
            };
            let n: usize = digits
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| format!("'{tok}' needs a worker number from 1 to 64"))?;
            steps.push(Step {
                write,
                worker: n - 1,
            });
        }
        let workers = steps.iter().map(|s| s.worker + 1).max().unwrap_or(0);
        if workers == 0 {
            return Err("the schedule is empty: try r1,r2,w1,w2".into());
        }
        for w in 0..workers {
            let at = |write: bool| -> Vec<usize> {
                (0..steps.len())
                    .filter(|&i| steps[i].worker == w && steps[i].write == write)
                    .collect()
            };
            let (reads, writes) = (at(false), at(true));
            if reads.len() != 1 || writes.len() != 1 {
                return Err(format!(
                    "worker {} must read exactly once and write exactly once (r{0} ... w{0})",
                    w + 1
                ));
            }
            if writes[0] < reads[0] {
                return Err(format!("worker {} writes before it reads", w + 1));
            }
        }
        Ok(Schedule { steps, workers }.canonical())
    }

    /// Number the workers in the order they first act (`r2 r1 w1 w2` is `r1 r2 w2 w1`): workers
    /// get their labels by arriving, so the first to read is always W1, here and in the timeline.
    fn canonical(mut self) -> Schedule {
        let mut order: Vec<usize> = Vec::new();
        for s in &self.steps {
            if !order.contains(&s.worker) {
                order.push(s.worker);
            }
        }
        for s in &mut self.steps {
            s.worker = order
                .iter()
                .position(|&w| w == s.worker)
                .unwrap_or(s.worker);
        }
        self
    }

    /// A schedule of `workers` workers drawn from `seed`: the same seed gives the same schedule on
    /// every machine and every release (see [`crate::sys::ids::SplitMix64`]).
    pub fn from_seed(seed: u64, workers: usize) -> Schedule {
        let mut rng = crate::sys::ids::SplitMix64(seed);
        let mut pending: Vec<Step> = (0..workers)
            .map(|worker| Step {
                write: false,
                worker,
            })
            .collect();
        let mut steps = Vec::with_capacity(2 * workers);
        while !pending.is_empty() {
            let i = (rng.next_u64() % pending.len() as u64) as usize;
            let step = pending[i];
            steps.push(step);
            if step.write {
                pending.swap_remove(i);
            } else {
                pending[i].write = true;
            }
        }
        Schedule { steps, workers }.canonical()
    }

    /// The steps of a round with only `m` of the workers (the last round, when the jobs do not
    /// divide evenly).
    fn round(&self, m: usize) -> Vec<Step> {
        self.steps
            .iter()
            .copied()
            .filter(|s| s.worker < m)
            .collect()
    }

    /// Updates this schedule loses over `jobs` jobs, found by playing it on a real ledger.
    pub fn expected_lost(&self, jobs: u64) -> u64 {
        let ledger = super::wallet::Ledger::with_trace(jobs, None);
        let mut done = 0u64;
        while done < jobs {
            let m = (jobs - done).min(self.workers as u64) as usize;
            let mut read = vec![(0i64, 0u32); m];
            for step in self.round(m) {
                if step.write {
                    let (b, v) = read[step.worker];
                    ledger.write(v, b + super::wallet::delta(done + step.worker as u64));
                } else {
                    read[step.worker] = ledger.read();
                }
            }
            done += m as u64;
        }
        ledger.outcome(jobs).lost_updates
    }

    /// `r1 r2 w1 w2`.
    pub fn text(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("{}{}", if s.write { 'w' } else { 'r' }, s.worker + 1))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A worker's place in the schedule: round and label, handed out at its read.
#[derive(Copy, Clone, Debug)]
pub struct Ticket {
    round: u64,
    worker: usize,
}

struct Turn {
    round: u64,
    pos: usize,
    steps: Vec<Step>,
}

/// Turn-taking over a [`Schedule`]: who may read or write next.
pub struct Gate {
    schedule: Schedule,
    jobs: u64,
    turn: Mutex<Turn>,
    moved: Condvar,
    broken: AtomicBool,
}

impl Gate {
    fn new(schedule: Schedule, jobs: u64) -> Self {
        let first = schedule.round((schedule.workers as u64).min(jobs) as usize);
        Gate {
            schedule,
            jobs,
            turn: Mutex::new(Turn {
                round: 0,
                pos: 0,
                steps: first,
            }),
            moved: Condvar::new(),
            broken: AtomicBool::new(false),
        }
    }

    /// True if some worker waited [`TURN_TIMEOUT`] for its turn and the schedule was abandoned.
    pub fn broken(&self) -> bool {
        self.broken.load(SeqCst)
    }

    /// Wait for a read turn, then run `read` (under the turn, so the order is exact). Without a
    /// turn (schedule exhausted or broken) `read` just runs.
    pub fn read<R>(&self, read: impl FnOnce() -> R) -> (R, Option<Ticket>) {
        self.take(None, read)
    }

    /// Wait for `ticket`'s write turn, then run `write`.
    pub fn write<R>(&self, ticket: Option<Ticket>, write: impl FnOnce() -> R) -> R {
        match ticket {
            Some(t) => self.take(Some(t), write).0,
            None => write(),
        }
    }

    fn take<R>(&self, ticket: Option<Ticket>, f: impl FnOnce() -> R) -> (R, Option<Ticket>) {
        if self.broken() {
            return (f(), None);
        }
        blocking(|| {
            let deadline = Instant::now() + TURN_TIMEOUT;
            let mut turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                let mine = match (turn.steps.get(turn.pos), ticket) {
                    (None, _) => None,
                    (Some(s), None) if !s.write => Some(Ticket {
                        round: turn.round,
                        worker: s.worker,
                    }),
                    (Some(s), Some(t))
                        if s.write && t.round == turn.round && s.worker == t.worker =>
                    {
                        Some(t)
                    }
                    _ => None,
                };
                let exhausted = turn.round * self.schedule.workers as u64 >= self.jobs;
                if let Some(t) = mine {
                    let r = f();
                    turn.pos += 1;
                    if turn.pos == turn.steps.len() {
                        turn.round += 1;
                        turn.pos = 0;
                        let done = turn.round * self.schedule.workers as u64;
                        let m = self
                            .jobs
                            .saturating_sub(done)
                            .min(self.schedule.workers as u64);
                        turn.steps = self.schedule.round(m as usize);
                    }
                    self.moved.notify_all();
                    return (r, Some(t));
                }
                if exhausted || self.broken() {
                    return (f(), None);
                }
                let now = Instant::now();
                if now >= deadline {
                    self.broken.store(true, SeqCst);
                    self.moved.notify_all();
                    return (f(), None);
                }
                turn = self
                    .moved
                    .wait_timeout(turn, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        })
    }
}

/// Run a wait that blocks this thread. On a multi-threaded tokio worker, hand the worker's other
/// tasks to another thread first (`block_in_place`): the task whose turn it is may be queued
/// behind us.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_talks_schedule() {
        let s = Schedule::parse("r1, r2 w1,w2").unwrap();
        assert_eq!(s.workers, 2);
        assert_eq!(s.text(), "r1 r2 w1 w2");
        assert_eq!(s.expected_lost(2), 1);
        assert_eq!(s.expected_lost(100), 50);
        assert_eq!(s.expected_lost(3), 1);
    }

    #[test]
    fn serial_schedules_lose_nothing() {
        let s = Schedule::parse("read1 write1 read2 write2").unwrap();
        assert_eq!(s.expected_lost(10), 0);
        let s = Schedule::parse("r1 r2 r3 w1 w2 w3").unwrap();
        assert_eq!(s.expected_lost(3), 2);
        assert_eq!(
            Schedule::parse("r2 r1 w1 w2").unwrap().text(),
            "r1 r2 w2 w1"
        );
    }

    #[test]
    fn rejects_malformed_schedules() {
        for bad in ["", "r1 w1 r1", "w1 r1", "r1 x2", "r0 w0", "r1 r2 w1"] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn seeded_schedules_are_reproducible_and_well_formed() {
        for seed in 0..50 {
            let a = Schedule::from_seed(seed, 2);
            assert_eq!(a, Schedule::from_seed(seed, 2));
            assert_eq!(Schedule::parse(&a.text()).unwrap(), a);
        }
        let lost: Vec<_> = (0..50)
            .map(|s| Schedule::from_seed(s, 2).expected_lost(2))
            .collect();
        assert!(lost.contains(&0) && lost.contains(&1), "{lost:?}");
    }

    #[test]
    fn a_gate_forces_its_order_on_two_threads() {
        let trace = Arc::new(Trace::new(
            16,
            Some((Schedule::parse("r1 r2 w2 w1").unwrap(), 2)),
        ));
        let ledger = super::super::wallet::Ledger::with_trace(2, Some(Arc::clone(&trace)));
        std::thread::scope(|s| {
            for i in 0..2 {
                let ledger = &ledger;
                s.spawn(move || ledger.racy_update(super::super::wallet::delta(i), 0));
            }
        });
        assert!(!trace.gate().unwrap().broken());
        assert_eq!(ledger.outcome(2).lost_updates, 1);
        let ops: Vec<_> = trace.events().iter().map(|e| e.op).collect();
        assert_eq!(ops, [Op::Read, Op::Read, Op::Write, Op::Write]);
    }
}
