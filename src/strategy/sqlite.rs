//! `sqlite` and `sqlite-fork`: DelayedJob's idea, "model it in your database". Jobs are rows in
//! an embedded SQLite file; workers claim them with one atomic `UPDATE ... RETURNING`. No server.
//!
//! DelayedJob keeps its queue in the application's own database: a job is a row with `handler`
//! (what to run), `attempts`, `run_at` (not before), `locked_at`/`locked_by` (who is running it)
//! and `failed_at`. A worker *reserves* a job by locking a row nobody else holds, runs it, and
//! deletes the row (here: stamps `done_at`, so the run can be checked). What that buys:
//! - the queue is transactional and durable with the data; no extra server to run;
//! - a worker that dies mid-job does not lose the job: its lock *expires* (DelayedJob's
//!   `max_run_time`) and another worker takes the job over, with `attempts` counting the tries;
//! - a job that fails is retried later (`run_at` pushed back) until `MAX_ATTEMPTS`, then marked
//!   `failed_at` and kept for a human to read `last_error`.
//!
//! What it costs: every claim is a *write*. SQLite has one writer at a time (WAL lets readers
//! carry on), so workers queue up on the database lock; a claim that finds it taken gets
//! `SQLITE_BUSY` and retries. Those busy retries are counted and shown: they are the claim
//! contention that makes "the database is the queue" stop scaling.
//!
//! # The claim
//! ```sql
//! UPDATE jobs SET locked_by = ?me, locked_at = ?now, attempts = attempts + 1
//!  WHERE id = (SELECT id FROM jobs
//!               WHERE done_at IS NULL AND failed_at IS NULL AND run_at <= ?now
//!                 AND (locked_at IS NULL OR locked_at < ?now - ?lock_s)
//!               ORDER BY run_at, id LIMIT 1)
//! RETURNING id, attempts
//! ```
//! One statement, so one write transaction: no two workers can both see a row unlocked and both
//! lock it. A trigger logs every claim (and whose expired lock it took over) into `claims`, in
//! the same transaction, so the run can *prove* it: the notes count claims, distinct jobs, and
//! claims made while another worker's lock was still live (must be 0).
//!
//! # Threads or processes
//! `sqlite` runs `--workers` threads, each with its own connection (what a multi-threaded
//! DelayedJob-alike such as GoodJob does); `sqlite-fork` forks `--workers` worker processes, each
//! opening its own connection after the fork (DelayedJob's `script/delayed_job -n N`). The
//! parent creates the database and closes it *before* forking: an SQLite connection must never
//! cross a fork. The file lives in a private (0700) temp dir removed at the end.
//!
//! # The wallet
//! One row. `--sync none` reads it, pauses, and writes back what it computed: lost updates, as in
//! every read-pause-write. `--sync atomic` is one statement, `UPDATE wallet SET balance =
//! balance + ?`, which the database applies whole. Each write records the version it was based
//! on, so lost updates are counted exactly, as the in-memory ledger does.
//!
//! # Stopping, and how many workers
//! At SIGINT/SIGTERM no new job is claimed: worker threads read the process's stop flag before
//! each claim; worker processes never see the signal (forked workers ignore the terminal's
//! Ctrl-C), so the parent closes the queue in the database (`control.stopping`, which the claim
//! reads) and each worker leaves after the job it holds. Rows nobody claimed are reported as not
//! started. One writer at a time also caps the workers worth having: [`MAX_WORKERS`].
//!
//! # Breaking a worker on purpose
//! `--fault crash --every K`: the worker that first claims a faulty job dies holding its lock (a
//! process aborts; a thread walks away from its claim). `CONCUR_SQLITE_LOCK_MS` sets
//! the lock expiry (default 30 s, or twice `--wait-ms` if longer) so a test need not wait long.

use super::fork::{self, PROCESSES};
use super::{available, StrategyInfo, Workers, THREADED};
use crate::error::Error;
use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::workload::trace::{self, Op};
use crate::workload::wallet::{SyncMode, WalletOutcome};
use crate::workload::Workload;
use crate::workload::{self, wallet};
use anyhow::Context;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const INFO: StrategyInfo = StrategyInfo {
    name: "sqlite",
    models: "DelayedJob, threaded (GoodJob-like): jobs as rows in an embedded SQLite file, claimed by UPDATE ... RETURNING",
    props: THREADED,
    workers: Workers::Count(4),
    syncs: SYNCS,
    transfers: &[],
    needs_redis: false,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: None,
    unavailable: available,
    run: run_threads,
};

pub const FORK_INFO: StrategyInfo = StrategyInfo {
    name: "sqlite-fork",
    models: "DelayedJob: jobs as rows in an embedded SQLite file, worker processes claim them by UPDATE ... RETURNING",
    props: PROCESSES,
    workers: Workers::Count(4),
    syncs: SYNCS,
    transfers: &[],
    needs_redis: false,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: None,
    unavailable: available,
    run: run_processes,
};

/// Wallet modes: the racy read-pause-write first (the default), then the one-statement add.
pub const SYNCS: &[SyncMode] = &[SyncMode::None, SyncMode::Atomic];

/// Tries before a failing job is marked `failed_at` (DelayedJob's default is 25).
pub const MAX_ATTEMPTS: i64 = 3;

/// The environment variable that sets the lock expiry in milliseconds.
pub const LOCK_ENV: &str = "CONCUR_SQLITE_LOCK_MS";

/// The most `--workers` a SQLite strategy takes. SQLite has one writer at a time: past a few
/// dozen workers each claim mostly waits on the lock, and the busy retries explode (1024 no-ops
/// on 2 cores: 64 workers 0.5 s, 128 workers 1.2 s, 256 workers 21 s and a million retries).
pub const MAX_WORKERS: usize = 64;

/// Is `info` one of the SQLite strategies, or a preset made of one (`delayed-job`)?
pub fn is_sqlite(info: &StrategyInfo) -> bool {
    [&INFO, &FORK_INFO, &super::presets::DELAYED_JOB].contains(&info)
}

/// Busy retries before a worker gives up on one statement (a wedged database, not contention).
const MAX_BUSY_RETRIES: u64 = 1_000_000;

const SCHEMA: &str = "
CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY,
    handler    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    run_at     REAL    NOT NULL,
    locked_at  REAL,
    locked_by  TEXT,
    failed_at  REAL,
    last_error TEXT,
    done_at    REAL
);
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE done_at IS NULL AND failed_at IS NULL;
CREATE TABLE claims (
    job_id         INTEGER NOT NULL,
    worker         TEXT    NOT NULL,
    claimed_at     REAL    NOT NULL,
    previous_owner TEXT,
    previous_at    REAL
);
CREATE TRIGGER log_claim AFTER UPDATE OF locked_by ON jobs
WHEN NEW.locked_by IS NOT NULL
BEGIN
    INSERT INTO claims VALUES (NEW.id, NEW.locked_by, NEW.locked_at, OLD.locked_by, OLD.locked_at);
END;
CREATE TABLE workers (
    name         TEXT PRIMARY KEY,
    claimed      INTEGER NOT NULL,
    performed    INTEGER NOT NULL,
    busy_retries INTEGER NOT NULL,
    idle_polls   INTEGER NOT NULL
);
CREATE TABLE wallet (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    balance  INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    based_on INTEGER NOT NULL
);
CREATE TABLE wallet_writes (version INTEGER PRIMARY KEY, based_on INTEGER NOT NULL);
CREATE TABLE control (id INTEGER PRIMARY KEY CHECK (id = 1), stopping INTEGER NOT NULL);
INSERT INTO control VALUES (1, 0);
CREATE TRIGGER log_write AFTER UPDATE ON wallet
BEGIN
    INSERT OR REPLACE INTO wallet_writes VALUES (NEW.version, NEW.based_on);
END;
";

const CLAIM: &str = "
UPDATE jobs SET locked_by = ?1, locked_at = ?2, attempts = attempts + 1
 WHERE id = (SELECT id FROM jobs
              WHERE done_at IS NULL AND failed_at IS NULL AND run_at <= ?2
                AND (locked_at IS NULL OR locked_at < ?2 - ?3)
              ORDER BY run_at, id LIMIT 1)
   AND (SELECT stopping FROM control) = 0
RETURNING id, attempts";

/// Seconds since the epoch, as the `REAL` timestamps in the table.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The lock expiry for this run, in seconds.
fn lock_s(spec: &RunSpec) -> f64 {
    let ms = std::env::var(LOCK_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| (2 * spec.knobs.wait_ms).max(30_000));
    ms as f64 / 1e3
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Run `f` until it does not fail with `SQLITE_BUSY`, counting each busy answer in `busy`.
/// The connection's own busy handler is off (timeout 0) so that contention is seen, not hidden.
fn retry<T>(busy: &mut u64, mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let mut backoff = Duration::from_micros(20);
    let mut tries = 0;
    loop {
        match f() {
            Err(e) if is_busy(&e) && tries < MAX_BUSY_RETRIES => {
                *busy += 1;
                tries += 1;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let con = Connection::open(path)?;
    con.busy_timeout(Duration::ZERO)?;
    con.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(con)
}

/// Create the database: schema, WAL mode, one row per job, the wallet row.
fn create(path: &Path, spec: &RunSpec) -> anyhow::Result<()> {
    // An empty file is an empty database; made 0600 here, SQLite keeps its mode and gives it to
    // the -wal and -shm files (it would create them all 0644).
    crate::sys::private::create(path).context("creating the SQLite database file")?;
    let mut con = open(path).context("creating the SQLite database")?;
    let mode: String = con.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    anyhow::ensure!(mode == "wal", "SQLite refused WAL mode (got {mode})");
    con.execute_batch(SCHEMA).context("creating the tables")?;
    let tx = con.transaction()?;
    {
        let mut insert =
            tx.prepare("INSERT INTO jobs (id, handler, run_at) VALUES (?1, ?2, ?3)")?;
        let t = now();
        for i in 0..spec.items {
            insert.execute(params![i as i64, handler(spec, i), t])?;
        }
        tx.execute(
            "INSERT INTO wallet VALUES (1, ?1, 0, 0)",
            params![wallet::START],
        )?;
    }
    tx.commit().context("enqueueing the jobs")?;
    Ok(())
}

/// What DelayedJob would store in `handler` (it is YAML there; JSON here, for show).
fn handler(spec: &RunSpec, i: u64) -> String {
    let (class, args) = match spec.workload {
        Workload::Emoji => ("EmojiJob", vec![i as i64, spec.knobs.repeat as i64]),
        Workload::Wallet => (
            "WalletJob",
            vec![wallet::delta(i), spec.knobs.pause_us as i64],
        ),
        Workload::Noop => ("NoopJob", vec![i as i64]),
        Workload::Cpu => ("CpuJob", vec![i as i64, spec.knobs.cost as i64]),
        Workload::Sleep => ("SleepJob", vec![i as i64, spec.knobs.wait_ms as i64]),
        Workload::Transfer => ("TransferJob", vec![i as i64]),
    };
    serde_json::json!({ "class": class, "args": args }).to_string()
}

/// What one worker did, written to the `workers` table when it stops.
#[derive(Default)]
struct Stats {
    claimed: u64,
    performed: u64,
    busy: u64,
    idle: u64,
}

/// How a worker "crashes" on the injected fault.
#[derive(Copy, Clone)]
enum Crash {
    /// The process SIGKILLs itself (sqlite-fork).
    Kill,
    /// The thread returns at once, leaving its lock behind (sqlite).
    Abandon,
}

/// One worker: claim, perform, mark done (or failed, or due again), until no job is left.
fn worker(path: &Path, spec: &RunSpec, name: &str, crash: Crash) -> anyhow::Result<()> {
    let lock = lock_s(spec);
    let mut st = Stats::default();
    // Opening reads the WAL index, which another connection may hold for a moment: busy too.
    let con = retry(&mut st.busy, || open(path)).context("opening the database")?;
    let mut claim = con.prepare(CLAIM)?;
    // A thread sees the process's stop flag; a worker process is told through the database.
    while !crate::sys::signals::stop_requested() {
        let claimed: Option<(i64, i64)> = retry(&mut st.busy, || {
            claim
                .query_row(params![name, now(), lock], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })?;
        let Some((id, attempts)) = claimed else {
            // Nothing claimable. Done if the queue is closed or nothing is pending; else a job
            // is locked by someone (perhaps a dead worker whose lock will expire) or due later:
            // poll again.
            if stopping(&con, &mut st.busy)? || pending(&con, &mut st.busy)? == 0 {
                break;
            }
            st.idle += 1;
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        st.claimed += 1;
        let i = id as u64;
        if let Some(f) = spec.fault.filter(|f| f.hits(i) && attempts == 1) {
            match crash {
                Crash::Kill => f.strike(i),
                Crash::Abandon => return Ok(()),
            }
        }
        let result = perform(&con, spec, i, &mut st.busy);
        if result.is_ok() {
            st.performed += 1;
        }
        let claim = Claim {
            id,
            attempts,
            by: name,
        };
        claim.settle(&con, result, &mut st.busy)?;
    }
    drop(claim);
    st.save(&con, name)
}

/// Has the queue been closed ([`close_queue`])?
fn stopping(con: &Connection, busy: &mut u64) -> rusqlite::Result<bool> {
    retry(busy, || {
        con.query_row("SELECT stopping FROM control", [], |r| r.get::<_, i64>(0))
    })
    .map(|s| s != 0)
}

/// After SIGINT/SIGTERM, in the parent of `sqlite-fork`: close the queue. Its worker processes
/// ignore the terminal's Ctrl-C (as every forked worker here does: the parent decides), so the
/// parent tells them through the database: the claim finds nothing once `control.stopping` is
/// set, and each worker leaves after the job it is running, as DelayedJob's workers do on TERM.
fn close_queue(path: &Path) -> anyhow::Result<()> {
    let con = open(path).context("opening the database to stop the workers")?;
    let mut busy = 0;
    retry(&mut busy, || {
        con.execute("UPDATE control SET stopping = 1", [])
    })
    .context("closing the queue")?;
    Ok(())
}

/// Jobs neither done nor failed: running, waiting for a retry, or not yet claimed.
fn pending(con: &Connection, busy: &mut u64) -> rusqlite::Result<i64> {
    retry(busy, || {
        con.query_row(
            "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL AND failed_at IS NULL",
            [],
            |r| r.get(0),
        )
    })
}

/// A job a worker has locked: its row, the how-manyth attempt this is, and the lock's owner.
struct Claim<'a> {
    id: i64,
    attempts: i64,
    by: &'a str,
}

impl Claim<'_> {
    /// Release the lock and record what the attempt came to: done; failed for good after
    /// [`MAX_ATTEMPTS`]; else due again later, as DelayedJob reschedules.
    fn settle(
        &self,
        con: &Connection,
        result: anyhow::Result<()>,
        busy: &mut u64,
    ) -> rusqlite::Result<usize> {
        let (id, by, t) = (self.id, self.by, now());
        match result {
            Ok(()) => retry(busy, || {
                con.execute(
                    "UPDATE jobs SET done_at = ?1, locked_by = NULL, locked_at = NULL WHERE id = ?2 AND locked_by = ?3",
                    params![t, id, by],
                )
            }),
            Err(e) if self.attempts >= MAX_ATTEMPTS => retry(busy, || {
                con.execute(
                    "UPDATE jobs SET failed_at = ?1, last_error = ?2, locked_by = NULL, locked_at = NULL WHERE id = ?3 AND locked_by = ?4",
                    params![t, e.to_string(), id, by],
                )
            }),
            Err(e) => {
                // DelayedJob waits attempts^4 + 5 seconds; milliseconds here, a run is short.
                let due = t + (self.attempts.pow(4) + 5) as f64 / 1e3;
                retry(busy, || {
                    con.execute(
                        "UPDATE jobs SET run_at = ?1, last_error = ?2, locked_by = NULL, locked_at = NULL WHERE id = ?3 AND locked_by = ?4",
                        params![due, e.to_string(), id, by],
                    )
                })
            }
        }
    }
}

impl Stats {
    /// Write this worker's row of the `workers` table (busy retries of this insert are not in it).
    fn save(&self, con: &Connection, name: &str) -> anyhow::Result<()> {
        let mut busy = self.busy;
        retry(&mut busy, || {
            con.execute(
                "INSERT INTO workers VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    name,
                    self.claimed as i64,
                    self.performed as i64,
                    self.busy as i64,
                    self.idle as i64
                ],
            )
        })?;
        Ok(())
    }
}

/// Job `i`: the wallet in the database, or any stateless job.
///
/// Under `concur race` (in-process, threads only) the wallet's reads and writes are recorded in
/// the installed trace and, with `--schedule`/`--seed`, taken in the forced order, exactly as the
/// in-memory ledger does; versions here are job numbers + 1.
fn perform(con: &Connection, spec: &RunSpec, i: u64, busy: &mut u64) -> anyhow::Result<()> {
    if spec.workload != Workload::Wallet {
        return workload::perform_stateless(spec.workload, &spec.knobs, i)
            .map_err(anyhow::Error::msg);
    }
    let trace = trace::installed();
    let gate = trace.as_ref().and_then(|t| t.gate());
    let version = i as i64 + 1; // each job writes once: its own version number
    let delta = wallet::delta(i);
    if spec.sync == SyncMode::Atomic {
        wallet::pause(spec.knobs.pause_us);
        // One statement: SQLite evaluates the right-hand sides on the row as it was, inside the
        // write lock, so nothing can come between the read of `balance` and the write.
        let (balance, based_on): (i64, i64) = retry(busy, || {
            con.query_row(
                "UPDATE wallet SET balance = balance + ?1, based_on = version, version = ?2 RETURNING balance, based_on",
                params![delta, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?;
        if let Some(t) = &trace {
            t.record(Op::Add, balance, version as u32, based_on as u32);
        }
        return Ok(());
    }
    let mut read_busy = 0;
    let mut read = || -> rusqlite::Result<(i64, i64)> {
        let got = retry(&mut read_busy, || {
            con.query_row("SELECT balance, version FROM wallet", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })?;
        if let Some(t) = &trace {
            t.record(Op::Read, got.0, got.1 as u32, got.1 as u32);
        }
        Ok(got)
    };
    let (got, ticket) = match gate {
        Some(g) => g.read(read),
        None => (read(), None),
    };
    *busy += read_busy;
    let (balance, read_version) = got?;
    wallet::pause(spec.knobs.pause_us);
    let mut write = || -> rusqlite::Result<()> {
        retry(busy, || {
            con.execute(
                "UPDATE wallet SET balance = ?1, based_on = ?2, version = ?3",
                params![balance + delta, read_version, version],
            )
        })?;
        if let Some(t) = &trace {
            t.record(
                Op::Write,
                balance + delta,
                version as u32,
                read_version as u32,
            );
        }
        Ok(())
    };
    match gate {
        Some(g) => g.write(ticket, write),
        None => write(),
    }?;
    Ok(())
}

/// A private directory for the database; removed (with the file) when dropped.
fn private_dir() -> anyhow::Result<tempfile::TempDir> {
    crate::sys::private::dir("sqlite")
        .context("creating a private directory for the SQLite database")
}

fn run_threads(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let dir = private_dir()?;
    let path = dir.path().join("jobs.db");
    create(&path, spec)?;
    let pid = std::process::id();
    let errors: Vec<Failure> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.workers)
            .map(|w| {
                let path = &path;
                s.spawn(move || {
                    let name = format!("pid:{pid} thread:{w}");
                    worker(path, spec, &name, Crash::Abandon)
                        .map_err(|e| Failure::run(format!("worker {name}: {e:#}")))
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .filter_map(|(w, h)| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(Failure::run(format!("worker thread {w} panicked"))),
            })
            .collect()
    });
    let notes = vec![format!(
        "sqlite: {} worker threads, one connection each, WAL mode",
        spec.workers
    )];
    finish(spec, &path, dir, started, errors, notes)
}

fn run_processes(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let forker = fork::SingleThreaded::check()?;
    let started = Instant::now();
    let dir = private_dir()?;
    let path = dir.path().join("jobs.db");
    // Created and closed before any fork: no connection crosses a fork.
    create(&path, spec)?;
    let mut alive = std::collections::HashSet::new();
    let mut spawn_error = None;
    for _ in 0..spec.workers {
        let spawned = forker.fork(|| {
            let name = format!("pid:{}", std::process::id());
            match worker(&path, spec, &name, Crash::Kill) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("concur: sqlite worker {name}: {e:#}");
                    1
                }
            }
        });
        match spawned {
            Ok(pid) => {
                alive.insert(pid);
            }
            Err(e) => {
                spawn_error = Some(Error::Usage(format!(
                    "cannot fork an sqlite worker: {e:#} (out of processes or memory? try fewer --workers)"
                )));
                break;
            }
        }
    }
    let mut errors = Vec::new();
    let mut notes = vec![format!(
        "sqlite-fork: {} worker processes, each opening its own connection after the fork, WAL mode",
        alive.len()
    )];
    let mut closed = false;
    while !alive.is_empty() {
        if !closed && crate::sys::signals::stop_requested() {
            close_queue(&path)?;
            closed = true;
        }
        // Polled, not blocked in waitpid (which SIGINT does not interrupt): a stop must be
        // passed on to the workers at once.
        let Some((pid, ending)) = fork::try_reap() else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        if alive.remove(&pid) && !ending.ok() {
            match ending {
                fork::Ending::Signaled(_) => notes.push(format!(
                    "worker {pid} {ending} holding a claim: its lock expired after {:.1} s and another worker took the job over",
                    lock_s(spec)
                )),
                fork::Ending::Exited(_) => {
                    errors.push(Failure::run(format!("worker {pid} {ending}")))
                }
            }
        }
    }
    if let Some(e) = spawn_error {
        return Err(e.into());
    }
    finish(spec, &path, dir, started, errors, notes)
}

/// Read the books out of the database, remove it, and report.
fn finish(
    spec: &RunSpec,
    path: &Path,
    dir: tempfile::TempDir,
    started: Instant,
    mut failures: Vec<Failure>,
    mut notes: Vec<String>,
) -> anyhow::Result<Outcome> {
    let work_s = started.elapsed().as_secs_f64();
    let con = Connection::open(path).context("reopening the SQLite database")?;
    con.busy_timeout(Duration::from_secs(5))?;
    failures.extend(failed_jobs(&con).context("reading the failed jobs")?);
    let books = Books::read(&con, lock_s(spec)).context("reading the claims' books")?;
    // A stop leaves the jobs no worker claimed: not started, not failed.
    let stop = Stop::if_skipped(books.unclaimed as u64);
    failures.extend(books.failures(stop));
    notes.extend(books.notes());
    let wallet = if spec.workload == Workload::Wallet {
        Some(wallet_outcome(&con, spec.items)?)
    } else {
        None
    };
    drop(con);
    dir.close().context("removing the SQLite database")?;
    notes.push("database: a private temp dir, removed at the end".into());
    let not_started = if stop.is_some() {
        books.unclaimed as u64
    } else {
        0
    };
    Ok(Outcome {
        jobs: spec.items - not_started,
        workers: spec.workers,
        failures,
        jobs_not_started: not_started,
        stop,
        wallet,
        work_s,
        notes,
        ..Default::default()
    })
}

/// One failure per job marked `failed_at`, with its attempts and last error.
fn failed_jobs(con: &Connection) -> rusqlite::Result<Vec<Failure>> {
    let mut failed = con.prepare(
        "SELECT id, attempts, last_error FROM jobs WHERE failed_at IS NOT NULL ORDER BY id",
    )?;
    let rows = failed.query_map([], |r| {
        Ok(Failure::job(
            r.get::<_, i64>(0)? as u64,
            format!(
                "failed after {} attempts: {}",
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?.unwrap_or_default()
            ),
        ))
    })?;
    rows.collect()
}

/// What the `jobs`, `claims` and `workers` tables say about the run, counted.
struct Books {
    done: i64,
    pending: i64,
    /// Pending jobs no worker ever claimed.
    unclaimed: i64,
    claims: i64,
    distinct: i64,
    taken_over: i64,
    /// Claims made while another worker's lock was still live: must be 0.
    double: i64,
    busy: i64,
    idle: i64,
    workers: i64,
}

impl Books {
    /// Count, given the run's lock expiry in seconds.
    fn read(con: &Connection, lock_s: f64) -> rusqlite::Result<Books> {
        let one = |sql: &str| -> rusqlite::Result<i64> { con.query_row(sql, [], |r| r.get(0)) };
        let (busy, idle, workers) = con.query_row(
            "SELECT COALESCE(SUM(busy_retries), 0), COALESCE(SUM(idle_polls), 0), COUNT(*) FROM workers",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(Books {
            done: one("SELECT COUNT(*) FROM jobs WHERE done_at IS NOT NULL")?,
            pending: one("SELECT COUNT(*) FROM jobs WHERE done_at IS NULL AND failed_at IS NULL")?,
            unclaimed: one(
                "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL AND failed_at IS NULL AND attempts = 0",
            )?,
            claims: one("SELECT COUNT(*) FROM claims")?,
            distinct: one("SELECT COUNT(DISTINCT job_id) FROM claims")?,
            taken_over: one("SELECT COUNT(*) FROM claims WHERE previous_owner IS NOT NULL")?,
            double: con.query_row(
                "SELECT COUNT(*) FROM claims WHERE previous_owner IS NOT NULL AND claimed_at - previous_at < ?1",
                params![lock_s],
                |r| r.get(0),
            )?,
            busy,
            idle,
            workers,
        })
    }

    /// Jobs left behind, and jobs claimed twice at once. After a `stop`, the jobs nobody
    /// claimed are not started rather than left behind.
    fn failures(&self, stop: Option<Stop>) -> Vec<Failure> {
        let mut failures = Vec::new();
        match stop {
            Some(stop) if self.pending > self.unclaimed => {
                failures.push(Failure::run(format!(
                    "{} jobs were claimed but not finished when {stop} stopped the run (a retry not yet due, or a dead worker's lock)",
                    self.pending - self.unclaimed
                )))
            }
            Some(_) => {}
            None if self.pending > 0 => failures.push(Failure::run(format!(
                "{} jobs never finished (no worker left to take them)",
                self.pending
            ))),
            None => {}
        }
        if self.double > 0 {
            failures.push(Failure::run(format!(
                "{} jobs were claimed while another worker's lock was still live",
                self.double
            )));
        }
        failures
    }

    /// The claims and the contention, one note each.
    fn notes(&self) -> [String; 2] {
        let Books {
            done,
            claims,
            distinct,
            taken_over,
            double,
            busy,
            idle,
            workers,
            ..
        } = self;
        [
            format!(
                "claims: {claims} claims of {distinct} distinct jobs, {taken_over} taken over from another worker's lock, {double} of them while that lock was live; {done} done"
            ),
            format!(
                "contention: {busy} busy retries (SQLITE_BUSY: another worker held the write lock) and {idle} idle polls, over {workers} workers that finished cleanly"
            ),
        ]
    }
}

/// The final balance and the exact lost-update count: follow `based_on` from the final version
/// back to the start; every write not on that chain was overwritten.
fn wallet_outcome(con: &Connection, items: u64) -> anyhow::Result<WalletOutcome> {
    let (balance, mut version): (i64, i64) =
        con.query_row("SELECT balance, version FROM wallet", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if let Some(t) = trace::installed() {
        t.finish(balance, version as u32);
    }
    let mut based_on = con.prepare("SELECT based_on FROM wallet_writes WHERE version = ?1")?;
    let mut survived = 0u64;
    while version != 0 && survived <= items {
        survived += 1;
        version = based_on
            .query_row(params![version], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
    }
    Ok(WalletOutcome {
        expected_balance: wallet::START + wallet::delta_sum(items),
        final_balance: balance,
        lost_updates: items.saturating_sub(survived),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

    fn spec(items: u64) -> RunSpec {
        RunSpec {
            strategy: INFO.name.into(),
            workload: Workload::Noop,
            workers: 2,
            items,
            knobs: crate::workload::Knobs {
                repeat: 1,
                pause_us: 0,
                cost: 1,
                wait_ms: 0,
                accounts: 2,
            },
            sync: SYNCS[0],
            app_mb: 0,
            dirty_pct: 0,
            redis_url: None,
            batch: 1,
            fault: None,
            job_timeout_ms: None,
            shutdown_timeout_ms: 5000,
            lock_schedule: None,
        }
    }

    fn claim(con: &Connection, me: &str, at: f64, lock_s: f64) -> Option<(i64, i64)> {
        con.query_row(CLAIM, params![me, at, lock_s], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .unwrap()
    }

    #[test]
    fn a_claim_takes_each_row_once_until_its_lock_expires() {
        let dir = private_dir().unwrap();
        let path = dir.path().join("jobs.db");
        create(&path, &spec(2)).unwrap();
        let (a, b) = (open(&path).unwrap(), open(&path).unwrap());
        let t = now();
        assert_eq!(claim(&a, "a", t, 10.0), Some((0, 1)));
        assert_eq!(claim(&b, "b", t, 10.0), Some((1, 1)));
        // Both rows are locked and their locks are live: nothing to claim.
        assert_eq!(claim(&a, "a", t + 5.0, 10.0), None);
        // Eleven seconds on, a's lock has expired: b takes job 0 over, as its second attempt.
        assert_eq!(claim(&b, "b", t + 11.0, 10.0), Some((0, 2)));
        let (owner, previous): (String, Option<String>) = a
            .query_row(
                "SELECT worker, previous_owner FROM claims WHERE job_id = 0 ORDER BY rowid DESC",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((owner.as_str(), previous.as_deref()), ("b", Some("a")));
    }

    #[test]
    fn a_job_due_later_is_not_claimed_yet() {
        let dir = private_dir().unwrap();
        let path = dir.path().join("jobs.db");
        create(&path, &spec(1)).unwrap();
        let con = open(&path).unwrap();
        let t = now();
        con.execute("UPDATE jobs SET run_at = ?1", params![t + 60.0])
            .unwrap();
        assert_eq!(claim(&con, "a", t, 10.0), None);
        assert_eq!(claim(&con, "a", t + 61.0, 10.0), Some((0, 1)));
    }

    #[test]
    fn the_wallet_books_count_lost_updates_exactly() {
        let dir = private_dir().unwrap();
        let path = dir.path().join("jobs.db");
        create(&path, &spec(3)).unwrap();
        let con = open(&path).unwrap();
        // Jobs 0 and 1 both read version 0; job 1's write overwrites job 0's. Job 2 adds whole.
        let racy = "UPDATE wallet SET balance = ?1, based_on = 0, version = ?2";
        con.execute(racy, params![110, 1]).unwrap();
        con.execute(racy, params![90, 2]).unwrap();
        con.execute(
            "UPDATE wallet SET balance = balance + 10, based_on = version, version = 3",
            [],
        )
        .unwrap();
        let o = wallet_outcome(&con, 3).unwrap();
        assert_eq!((o.final_balance, o.lost_updates), (100, 1));
    }
}
