//! The story's world: the app's database, the job queue, and the actors that use them.
//!
//! - **The database** is an embedded SQLite file in WAL mode, as the app's Postgres would be:
//!   each actor has its own connection, and a reader sees only what is committed. That is the
//!   whole bug: a row inserted in a transaction that has not committed yet does not exist for
//!   anybody else.
//! - **The queue** is an in-process list standing in for Redis: it is not part of any
//!   transaction, and a job pushed to it is visible to the workers at once.
//! - **The app** handles `items` requests: each opens a transaction, inserts a user, gets its
//!   welcome job enqueued (where depends on the [`Fix`]), does the rest of its work (the pause),
//!   and commits.
//! - **A relay** (the outbox only) moves committed outbox rows to the queue.
//! - **Workers** take jobs (from the queue, or from the `delayed_jobs` table) and look the user
//!   up: no row is Rails' `ActiveRecord::RecordNotFound`.
//!
//! Actors do one step per call ([`Actor::step`]), so one code path serves both ways of running
//! them ([`super::schedule`]): on threads with real time, or taking turns on a virtual clock.

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

/// Where the app enqueues the job, or how it makes sure the job finds its row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    /// `after_create`: inside the transaction, before COMMIT. The bug.
    InTransaction,
    /// `after_commit`: after COMMIT (Rails swallows its exceptions; a crash in between loses
    /// the job).
    AfterCommit,
    /// Enqueue in the transaction, and have the worker retry a job whose row is missing.
    RetryOnMissing,
    /// A transactional outbox: the job is a row written in the same transaction; a relay
    /// pushes committed rows to the queue.
    Outbox,
    /// DelayedJob: the queue *is* a table of the same database; workers claim committed rows.
    DelayedJob,
}

impl Fix {
    /// How the table and the lanes name it.
    pub fn label(self) -> &'static str {
        match self {
            Fix::InTransaction => "enqueue in the transaction (after_create)",
            Fix::AfterCommit => "enqueue after COMMIT (after_commit)",
            Fix::RetryOnMissing => "in the transaction + retry on RecordNotFound",
            Fix::Outbox => "outbox row in the transaction + relay",
            Fix::DelayedJob => "DelayedJob: job row in the transaction",
        }
    }

    /// Do workers take jobs from the in-process queue (rather than the `delayed_jobs` table)?
    fn queued(self) -> bool {
        self != Fix::DelayedJob
    }
}

/// One way of running the story: a fix, with or without the app dying after a COMMIT.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub fix: Fix,
    /// The app process dies right after one request's COMMIT, before anything after it.
    pub crash: bool,
}

/// How a trial runs: its size and its (nominal) durations.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Requests the app handles, one after another: one user and one welcome job each.
    pub items: u64,
    pub workers: usize,
    /// The rest of the app's transaction, between the enqueue (or the outbox insert) and COMMIT.
    pub pause: Duration,
    /// How long an idle worker or relay waits before it looks again.
    pub poll: Duration,
}

impl Settings {
    /// The request whose COMMIT the app does not survive, in a crash variant: the last one.
    pub fn crash_at(&self) -> u64 {
        self.items.saturating_sub(1)
    }

    /// A retry's wait before attempt `attempt` (2, 3, ...): [`RETRY_FACTOR`] times the
    /// transaction's pause, then twice as long each time. Sidekiq's first retry waits 15 s or
    /// more, a thousand transactions; the shape is what matters here.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.pause.max(self.poll) * RETRY_FACTOR * 2u32.saturating_pow(attempt.saturating_sub(2))
    }
}

/// A retry waits this many times the transaction's pause (see [`Settings::backoff`]).
pub const RETRY_FACTOR: u32 = 10;

/// Attempts a retried job gets before it is given up (Sidekiq's default is 25).
pub const MAX_ATTEMPTS: u32 = 5;

const SCHEMA: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL);
CREATE TABLE delayed_jobs (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, locked_by TEXT);
";

/// Open a connection to the story's database: WAL already set, no busy handler (contention is
/// seen as `SQLITE_BUSY` and the step is tried again later), nothing synced (a lesson, not a bank).
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let con = Connection::open(path)?;
    con.busy_timeout(Duration::ZERO)?;
    con.pragma_update(None, "synchronous", "OFF")?;
    Ok(con)
}

/// Create the database at `path`: WAL mode and the three tables.
pub fn create(path: &Path) -> anyhow::Result<()> {
    // 0600 from the start: SQLite keeps the mode, and gives it to the -wal and -shm files.
    crate::sys::private::create(path)?;
    let con = open(path)?;
    let mode: String = con.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    anyhow::ensure!(mode == "wal", "SQLite refused WAL mode (got {mode})");
    con.execute_batch(SCHEMA)?;
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// A welcome job for `user`, on the queue.
#[derive(Copy, Clone, Debug)]
pub struct Job {
    pub user: u64,
    pub attempt: u32,
    /// Not to be taken before this time (µs on the trial's clock): a retry's backoff.
    pub due_us: f64,
}

/// Who did something: the lanes of the timeline.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    App,
    Relay,
    /// Worker number (1-based).
    Worker(usize),
}

/// Whether an event is the bug, its consequence, or neither.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Plain,
    /// A job that found no row, a job lost to a crash.
    Bad,
    /// A job that found its row.
    Good,
}

/// One thing an actor did, when (µs on the trial's clock).
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub t_us: f64,
    pub lane: Lane,
    pub what: String,
    pub mark: Mark,
}

/// What a trial counted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Books {
    /// When each user's row committed.
    #[serde(skip)]
    pub committed_at: BTreeMap<u64, f64>,
    /// When each user's welcome job first ran with its row there.
    #[serde(skip)]
    pub done_at: BTreeMap<u64, f64>,
    /// Lookups that found no row (RecordNotFound): a job that ran before its row committed.
    pub no_row: u64,
    /// Jobs put back to try again later (retry on missing).
    pub retries: u64,
    /// Jobs given up after [`MAX_ATTEMPTS`] or failed for good on RecordNotFound.
    pub failed: u64,
    /// Jobs the app never enqueued because it died between COMMIT and the enqueue.
    pub never_enqueued: u64,
}

/// What the actors share: the queue, the books, the event log, and whether the trial is over.
#[derive(Default)]
pub struct Shared {
    pub queue: Mutex<VecDeque<Job>>,
    pub books: Mutex<Books>,
    pub events: Mutex<Vec<Event>>,
    /// Jobs that exist (on the queue, in the outbox, in `delayed_jobs`, or being run) and have
    /// not come to an end yet.
    pending: Mutex<u64>,
    app_done: Mutex<bool>,
    /// An actor failed: everyone stops.
    aborted: AtomicBool,
}

impl Shared {
    fn log(&self, t_us: f64, lane: Lane, what: impl Into<String>, mark: Mark) {
        let event = Event {
            t_us,
            lane,
            what: what.into(),
            mark,
        };
        lock(&self.events).push(event);
    }

    fn add_pending(&self, n: i64) {
        let mut p = lock(&self.pending);
        *p = p.saturating_add_signed(n);
    }

    /// The app has handled every request and every job has come to an end (or an actor
    /// failed and the trial is being abandoned).
    pub fn finished(&self) -> bool {
        self.aborted.load(SeqCst) || (*lock(&self.app_done) && *lock(&self.pending) == 0)
    }

    /// Abandon the trial: every actor stops at its next step.
    pub fn abort(&self) {
        self.aborted.store(true, SeqCst);
    }

    fn book(&self, f: impl FnOnce(&mut Books)) {
        f(&mut lock(&self.books));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What an actor's step asks of the scheduler.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Next {
    /// It did one operation: go on (on the virtual clock, one operation's time passes).
    Go,
    /// Nothing to do, or a pause: come back after this long.
    Wait(Duration),
    /// This actor has finished.
    Done,
}

/// An actor of the story: one step per call, at `now_us` on the trial's clock.
pub trait Actor: Send {
    fn step(&mut self, now_us: f64, shared: &Shared) -> anyhow::Result<Next>;
}

/// Where the app is in its current request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    Begin,
    Insert,
    /// Enqueue the job, or write its outbox / `delayed_jobs` row: inside the transaction.
    Inside,
    Pause,
    Commit,
    /// `after_commit`, or the crash that prevents it.
    After,
}

/// The app: `items` requests, one after another.
pub struct App {
    con: Connection,
    variant: Variant,
    settings: Settings,
    request: u64,
    phase: Phase,
}

impl App {
    pub fn new(path: &Path, variant: Variant, settings: &Settings) -> anyhow::Result<App> {
        Ok(App {
            con: open(path)?,
            variant,
            settings: settings.clone(),
            request: 0,
            phase: Phase::Begin,
        })
    }

    fn user(&self) -> u64 {
        self.request + 1
    }

    /// Run `sql` (no parameters); `Ok(false)` when the database was busy.
    fn exec(&self, sql: &str) -> anyhow::Result<bool> {
        not_busy(self.con.execute_batch(sql))
    }

    /// Run `sql` with `?1` = `user`; `Ok(false)` when the database was busy.
    fn insert(&self, sql: &str, user: u64) -> anyhow::Result<bool> {
        not_busy(self.con.execute(sql, params![user as i64]).map(drop))
    }

    /// What the app does inside its transaction, right after the insert.
    fn inside(&self, now: f64, shared: &Shared) -> anyhow::Result<bool> {
        let user = self.user();
        match self.variant.fix {
            Fix::InTransaction | Fix::RetryOnMissing => {
                enqueue(shared, user, now);
                shared.log(
                    now,
                    Lane::App,
                    format!("enqueue welcome({user})"),
                    Mark::Plain,
                );
            }
            Fix::AfterCommit => {}
            Fix::Outbox => {
                if !self.insert("INSERT INTO outbox (user_id) VALUES (?1)", user)? {
                    return Ok(false);
                }
                shared.log(
                    now,
                    Lane::App,
                    format!("INSERT outbox welcome({user})"),
                    Mark::Plain,
                );
            }
            Fix::DelayedJob => {
                if !self.insert("INSERT INTO delayed_jobs (user_id) VALUES (?1)", user)? {
                    return Ok(false);
                }
                shared.log(
                    now,
                    Lane::App,
                    format!("INSERT delayed_jobs welcome({user})"),
                    Mark::Plain,
                );
            }
        }
        Ok(true)
    }

    /// After COMMIT: `after_commit`'s enqueue, unless the process dies first.
    fn after(&mut self, now: f64, shared: &Shared) {
        let user = self.user();
        let dies = self.variant.crash && self.request == self.settings.crash_at();
        if dies {
            let what = match self.variant.fix {
                Fix::AfterCommit => {
                    shared.book(|b| b.never_enqueued += 1);
                    format!("✗ dies after COMMIT: welcome({user}) never enqueued")
                }
                _ => "✗ dies after COMMIT (restarted)".to_owned(),
            };
            shared.log(now, Lane::App, what, Mark::Bad);
        } else if self.variant.fix == Fix::AfterCommit {
            enqueue(shared, user, now);
            shared.log(
                now,
                Lane::App,
                format!("enqueue welcome({user})"),
                Mark::Plain,
            );
        }
    }
}

/// `Ok(true)` when a statement ran, `Ok(false)` when the database was busy (try again later).
fn not_busy(done: rusqlite::Result<()>) -> anyhow::Result<bool> {
    match done {
        Ok(()) => Ok(true),
        Err(e) if is_busy(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Push a fresh job for `user` and count it as pending.
fn enqueue(shared: &Shared, user: u64, now: f64) {
    shared.add_pending(1);
    lock(&shared.queue).push_back(Job {
        user,
        attempt: 1,
        due_us: now,
    });
}

impl Actor for App {
    fn step(&mut self, now: f64, shared: &Shared) -> anyhow::Result<Next> {
        if self.request >= self.settings.items {
            *lock(&shared.app_done) = true;
            return Ok(Next::Done);
        }
        let user = self.user();
        let busy = Ok(Next::Wait(self.settings.poll));
        let (next, what) = match self.phase {
            Phase::Begin => {
                if !self.exec("BEGIN IMMEDIATE")? {
                    return busy;
                }
                (Phase::Insert, Some("BEGIN".to_owned()))
            }
            Phase::Insert => {
                if !self.insert("INSERT INTO users (id, name) VALUES (?1, 'ada')", user)? {
                    return busy;
                }
                (Phase::Inside, Some(format!("INSERT users id={user}")))
            }
            Phase::Inside => {
                if !self.inside(now, shared)? {
                    return busy;
                }
                (Phase::Pause, None)
            }
            Phase::Pause => {
                self.phase = Phase::Commit;
                let us = self.settings.pause.as_secs_f64() * 1e6;
                shared.log(
                    now,
                    Lane::App,
                    format!("… rest of the transaction ({us:.0} µs)"),
                    Mark::Plain,
                );
                return Ok(Next::Wait(self.settings.pause));
            }
            Phase::Commit => {
                // Booked before the statement: the moment it returns, a relay or a worker may
                // take the job (and settle it) on another thread.
                shared.book(|b| {
                    b.committed_at.insert(user, now);
                });
                let job_row = matches!(self.variant.fix, Fix::Outbox | Fix::DelayedJob);
                if job_row {
                    shared.add_pending(1); // the job row exists from now on
                }
                if !self.exec("COMMIT")? {
                    if job_row {
                        shared.add_pending(-1); // not yet, after all
                    }
                    return busy;
                }
                (Phase::After, Some("COMMIT".to_owned()))
            }
            Phase::After => {
                self.after(now, shared);
                self.request += 1;
                (Phase::Begin, None)
            }
        };
        if let Some(what) = what {
            shared.log(now, Lane::App, what, Mark::Plain);
        }
        self.phase = next;
        Ok(Next::Go)
    }
}

/// The outbox's relay: pushes each committed outbox row to the queue, then deletes the rows it
/// pushed. A relay that died between the two would push them again: at least once.
pub struct Relay {
    con: Connection,
    poll: Duration,
    pushed: HashSet<i64>,
}

impl Relay {
    pub fn new(path: &Path, settings: &Settings) -> anyhow::Result<Relay> {
        Ok(Relay {
            con: open(path)?,
            poll: settings.poll,
            pushed: HashSet::new(),
        })
    }

    /// The first committed outbox row not pushed yet: (row id, user).
    fn next_row(&self) -> anyhow::Result<Option<(i64, i64)>> {
        let mut rows = self
            .con
            .prepare("SELECT id, user_id FROM outbox ORDER BY id")?;
        let mut it = rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(it
            .find(|r| r.as_ref().map_or(true, |(id, _)| !self.pushed.contains(id)))
            .transpose()?)
    }
}

impl Actor for Relay {
    fn step(&mut self, now: f64, shared: &Shared) -> anyhow::Result<Next> {
        if shared.finished() {
            return Ok(Next::Done);
        }
        let next = match self.next_row() {
            Ok(next) => next,
            Err(e) if e.downcast_ref().is_some_and(is_busy) => return Ok(Next::Wait(self.poll)),
            Err(e) => return Err(e),
        };
        if let Some((id, user)) = next {
            self.pushed.insert(id);
            lock(&shared.queue).push_back(Job {
                user: user as u64,
                attempt: 1,
                due_us: now,
            });
            shared.log(
                now,
                Lane::Relay,
                format!("outbox → enqueue welcome({user})"),
                Mark::Plain,
            );
            return Ok(Next::Go);
        }
        if !self.pushed.is_empty() {
            let ids: Vec<String> = self.pushed.iter().map(i64::to_string).collect();
            let sql = format!("DELETE FROM outbox WHERE id IN ({})", ids.join(","));
            match self.con.execute(&sql, []) {
                Ok(_) => {
                    self.pushed.clear();
                    return Ok(Next::Go);
                }
                Err(e) if is_busy(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Next::Wait(self.poll))
    }
}

/// A worker: takes a job, then looks its user up.
pub struct Worker {
    con: Connection,
    n: usize,
    variant: Variant,
    settings: Settings,
    /// The job taken, between the take and the lookup.
    holding: Option<Job>,
}

impl Worker {
    pub fn new(
        path: &Path,
        n: usize,
        variant: Variant,
        settings: &Settings,
    ) -> anyhow::Result<Worker> {
        Ok(Worker {
            con: open(path)?,
            n,
            variant,
            settings: settings.clone(),
            holding: None,
        })
    }

    fn lane(&self) -> Lane {
        Lane::Worker(self.n)
    }

    /// Take the next job that is due: from the queue, or (DelayedJob) by claiming a committed
    /// row; `Ok(None)` when there is none now.
    fn take(&self, now: f64, shared: &Shared) -> anyhow::Result<Option<Job>> {
        if self.variant.fix.queued() {
            let mut queue = lock(&shared.queue);
            let due = queue.iter().position(|j| j.due_us <= now);
            return Ok(due.and_then(|i| queue.remove(i)));
        }
        let claimed = self
            .con
            .query_row(
                "UPDATE delayed_jobs SET locked_by = ?1 WHERE id = (SELECT id FROM delayed_jobs WHERE locked_by IS NULL ORDER BY id LIMIT 1) RETURNING user_id",
                params![self.n as i64],
                |r| r.get::<_, i64>(0),
            )
            .optional();
        match claimed {
            Ok(user) => Ok(user.map(|u| Job {
                user: u as u64,
                attempt: 1,
                due_us: now,
            })),
            // The app's transaction holds the write lock: nothing can be claimed yet.
            Err(e) if is_busy(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Look the job's user up, and settle the job: done, retried, or failed.
    fn lookup(&mut self, job: Job, now: f64, shared: &Shared) -> anyhow::Result<Next> {
        let lookup = self
            .con
            .query_row(
                "SELECT id FROM users WHERE id = ?1",
                params![job.user as i64],
                |_| Ok(()),
            )
            .optional();
        let found = match lookup {
            Ok(row) => row.is_some(),
            // A reader is rarely told busy in WAL mode (a checkpoint resetting the log): again.
            Err(e) if is_busy(&e) => {
                self.holding = Some(job);
                return Ok(Next::Wait(self.settings.poll));
            }
            Err(e) => return Err(e.into()),
        };
        let user = job.user;
        if found {
            if !self.variant.fix.queued() {
                match self.con.execute(
                    "DELETE FROM delayed_jobs WHERE user_id = ?1",
                    params![user as i64],
                ) {
                    Ok(_) => {}
                    Err(e) if is_busy(&e) => {
                        self.holding = Some(job); // settle it again in a moment
                        return Ok(Next::Wait(self.settings.poll));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            shared.book(|b| {
                b.done_at.entry(user).or_insert(now);
            });
            shared.add_pending(-1);
            shared.log(
                now,
                self.lane(),
                format!("SELECT users id={user}: found ✓ welcome sent"),
                Mark::Good,
            );
            return Ok(Next::Go);
        }
        shared.book(|b| b.no_row += 1);
        if self.variant.fix == Fix::RetryOnMissing && job.attempt < MAX_ATTEMPTS {
            let wait = self.settings.backoff(job.attempt + 1);
            lock(&shared.queue).push_back(Job {
                attempt: job.attempt + 1,
                due_us: now + wait.as_secs_f64() * 1e6,
                ..job
            });
            shared.book(|b| b.retries += 1);
            let what = format!(
                "SELECT users id={user}: no row ↻ retry in {:.0} µs",
                wait.as_secs_f64() * 1e6
            );
            shared.log(now, self.lane(), what, Mark::Bad);
        } else {
            shared.book(|b| b.failed += 1);
            shared.add_pending(-1);
            let what = format!("SELECT users id={user}: no row ✗ RecordNotFound");
            shared.log(now, self.lane(), what, Mark::Bad);
        }
        Ok(Next::Go)
    }
}

impl Actor for Worker {
    fn step(&mut self, now: f64, shared: &Shared) -> anyhow::Result<Next> {
        if let Some(job) = self.holding.take() {
            return self.lookup(job, now, shared);
        }
        if shared.finished() {
            return Ok(Next::Done);
        }
        match self.take(now, shared)? {
            Some(job) => {
                let from = if self.variant.fix.queued() {
                    "queue"
                } else {
                    "delayed_jobs"
                };
                shared.log(
                    now,
                    self.lane(),
                    format!("take welcome({}) from the {from}", job.user),
                    Mark::Plain,
                );
                self.holding = Some(job);
                Ok(Next::Go)
            }
            None => Ok(Next::Wait(self.settings.poll)),
        }
    }
}
