//! `redis`: Sidekiq's shape. Jobs are JSON in a Redis list; N threads, each with its own
//! connection, pop them until the list is empty.
//!
//! Why bother with a server when a crossbeam channel (`pool`) does the same in memory? Because
//! that is what Sidekiq and Resque really do, and it changes what a job costs and what can go
//! wrong:
//!
//! - every fetch is a round trip to another process (here a Unix socket, in production a network
//!   hop), so the queue itself becomes the bottleneck long before the jobs do. `--batch K` fetches
//!   K jobs per round trip (`LPOP key K`) and is the cure, at a price: a worker that dies holding
//!   a batch loses all of it, because LPOP removes jobs before they run (a later issue makes
//!   fetch reliable with LMOVE to a per-worker list);
//! - jobs are data, not closures: `{"class", "args", "jid", "enqueued_at"}` like Sidekiq's, so
//!   `redis-cli LRANGE` shows what is waiting and any language could run them;
//! - the wallet lives in Redis, where the race is the classic one: `--sync none` is GET, pause,
//!   SET and loses updates; `--sync incr` is one INCRBY, which the server applies atomically;
//!   `--sync watch` is optimistic locking (WATCH, read, pause, MULTI/SET/EXEC, retried when EXEC
//!   reports that someone else wrote first), and the retries are counted.
//!
//! Where Redis comes from: the spec's `redis_url` (from `--redis-url` or `REDIS_URL`), else a
//! [`PrivateServer`] started right here in the measured child, so its memory and CPU are part of
//! this strategy's figures (a queue needs a server, and the server is not free). Every key of a
//! run lives under `concur:<run-id>:` with a TTL as a safety net, and is deleted at the end, so a
//! shared Redis is left as it was found.

use super::{Floor, Memory, Props, Setup, StrategyInfo, Workers};
use crate::error::Error;
use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::sys::ids::jid;
use crate::sys::redis_server::{self, connect, redact, PrivateServer};
use crate::workload::wallet::{SyncMode, WalletOutcome};
use crate::workload::Workload;
use crate::workload::{emoji, wallet};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const INFO: StrategyInfo = StrategyInfo {
    name: "redis",
    models: "Sidekiq: JSON jobs in a Redis list, N threads each with its own connection (LPOP)",
    props: Props {
        memory: Memory::Shared,
        survives_crash: false,
        kills_hung: false,
        parallel: true,
        needs_server: true,
    },
    workers: Workers::Count(4),
    syncs: SYNCS,
    transfers: &[],
    needs_redis: true,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: Some(Floor {
        per_job: "redis round trip",
        setup: Some(Setup {
            primitive: "thread spawn+join",
            short: "thread spawn",
            per_worker: true,
        }),
        parallel: true,
    }),
    unavailable,
    run,
};

/// Wallet modes in Redis, racy first (the default).
pub const SYNCS: &[SyncMode] = &[SyncMode::None, SyncMode::Incr, SyncMode::Watch];

/// The largest `--batch`.
pub const MAX_BATCH: u64 = 10_000;

/// Connecting (TCP connect plus the client's hello) must finish within this.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A reply slower than this means the server is gone or wedged (no command here blocks).
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The harness's check of a URL: connect and each reply get this long (the client's hello is
/// two replies, PING a third)...
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// ...and the whole check answers within this, whatever DNS or the network do.
const CHECK_DEADLINE: Duration = Duration::from_secs(2);
/// Keys expire this long after they were last touched, in case a run is killed before cleanup.
const KEY_TTL_S: u64 = 3600;
/// How often a long run pushes its keys' expiry back.
const TTL_REFRESH: Duration = Duration::from_secs(300);
/// Jobs per RPUSH while enqueueing.
const PUSH_CHUNK: usize = 1000;

/// Runnable when `REDIS_URL` is set or `redis-server` is installed.
pub fn unavailable() -> Option<String> {
    if redis_server::env_url().is_some() || redis_server::find_server().is_some() {
        None
    } else {
        Some(redis_server::HOW_TO_GET_IT.to_owned())
    }
}

/// Check a user-given URL from the harness, before anything is started: it must parse and the
/// server must answer PING within [`CHECK_DEADLINE`]. `source` names where it came from.
pub fn check_url(url: &str, source: &str) -> Result<(), String> {
    let shown = redact(url);
    if url.starts_with("rediss://") {
        return Err(format!(
            "{source} '{shown}': TLS (rediss://) is not built into concur; use redis://HOST:PORT or unix:///PATH/TO/redis.sock"
        ));
    }
    let client = redis::Client::open(url).map_err(|_| {
        format!(
            "{source} '{shown}' is not a Redis URL; use redis://HOST:PORT[/DB] or unix:///PATH/TO/redis.sock"
        )
    })?;
    let dns = needs_dns(&client);
    let ping = move || {
        connect(&client, CHECK_TIMEOUT, CHECK_TIMEOUT)
            .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con))
    };
    // A host name needs a DNS lookup, which no timeout of ours bounds: that check runs on a
    // thread, given up after the deadline. A Unix socket or an IP address connects with a
    // timeout, on this thread: no thread is left behind, and a process that forks next
    // (`worker --fork`) keeps no dead thread's stack and malloc arena, which every fork would
    // copy and fault on (about 9% of a no-op job's time).
    let answer = if dns {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let _ = tx.send(ping());
        });
        let answer = rx.recv_timeout(CHECK_DEADLINE);
        if answer.is_ok() {
            let _ = thread.join();
        }
        answer
    } else {
        Ok(ping())
    };
    match answer {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_timeout() => Err(format!(
            "no answer from Redis at {shown} ({source}) within {:.1} s: is a Redis server listening there?",
            CHECK_TIMEOUT.as_secs_f64()
        )),
        Ok(Err(e)) => Err(format!("cannot reach Redis at {shown} ({source}): {e}")),
        Err(_) => Err(format!(
            "no answer from Redis at {shown} ({source}) within {:.1} s: is a Redis server listening there?",
            CHECK_DEADLINE.as_secs_f64()
        )),
    }
}

/// Whether connecting to `client` starts with a DNS lookup (a TCP host that is neither an IP
/// address nor `localhost`).
fn needs_dns(client: &redis::Client) -> bool {
    match client.get_connection_info().addr() {
        redis::ConnectionAddr::Unix(_) => false,
        redis::ConnectionAddr::Tcp(host, _) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host != "localhost" && host.parse::<std::net::IpAddr>().is_err()
        }
        _ => true,
    }
}

/// A job as it sits in the list: Sidekiq's payload shape.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    class: String,
    args: Vec<i64>,
    jid: String,
    enqueued_at: f64,
}

/// The keys of one run, all under `concur:<run-id>:`.
pub(crate) struct Keys {
    pub(crate) prefix: String,
    pub(crate) queue: String,
    pub(crate) balance: String,
    pub(crate) version: String,
    versions: String,
    based_on: String,
}

impl Keys {
    pub(crate) fn new(run_id: &str) -> Keys {
        let prefix = format!("concur:{run_id}:");
        Keys {
            queue: format!("{prefix}queue:default"),
            balance: format!("{prefix}wallet"),
            version: format!("{prefix}wallet:version"),
            versions: format!("{prefix}wallet:versions"),
            based_on: format!("{prefix}wallet:based-on"),
            prefix,
        }
    }

    fn all(&self) -> [&str; 5] {
        [
            &self.queue,
            &self.balance,
            &self.version,
            &self.versions,
            &self.based_on,
        ]
    }
}

/// Deletes a run's keys when dropped (error paths included); [`Cleanup::finish`] does it on
/// the happy path and says how many there were.
pub(crate) struct Cleanup<'a> {
    client: &'a redis::Client,
    keys: &'a Keys,
    done: bool,
}

impl<'a> Cleanup<'a> {
    pub(crate) fn new(client: &'a redis::Client, keys: &'a Keys) -> Cleanup<'a> {
        Cleanup {
            client,
            keys,
            done: false,
        }
    }

    /// Delete the keys; an I/O error (a Ctrl-C's EINTR on a socket with a timeout, say) is
    /// retried twice on a fresh connection: DEL is idempotent, and a half-done call leaves the
    /// old connection in an unknown state.
    fn delete(&mut self) -> redis::RedisResult<u64> {
        self.done = true;
        let mut attempt = 0;
        loop {
            match self.delete_once() {
                Err(e) if e.is_io_error() && attempt < 2 => attempt += 1,
                done => return done,
            }
        }
    }

    fn delete_once(&self) -> redis::RedisResult<u64> {
        let mut con = connect(self.client, CONNECT_TIMEOUT, RESPONSE_TIMEOUT)?;
        let mut names: Vec<String> = self.keys.all().iter().map(|k| k.to_string()).collect();
        // Anything else a future version leaves under the prefix goes too.
        let pattern = format!("{}*", self.keys.prefix);
        let found: Vec<String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(&mut con)?
            .collect::<Result<_, _>>()?;
        names.extend(found);
        names.sort();
        names.dedup();
        redis::cmd("DEL").arg(&names).query(&mut con)
    }

    pub(crate) fn finish(mut self) -> redis::RedisResult<u64> {
        self.delete()
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.delete();
        }
    }
}

/// What one worker did.
#[derive(Default)]
struct WorkerReport {
    performed: u64,
    fetches: u64,
    watch_retries: u64,
    failures: Vec<Failure>,
    finished: Option<Instant>,
}

/// The Redis a run talks to (the `redis` strategy and the `resque` preset).
pub(crate) struct RunRedis {
    /// The private redis-server, when no URL was given; dropping it stops and reaps it.
    pub(crate) server: Option<PrivateServer>,
    /// The URL as messages show it (password redacted).
    pub(crate) shown: String,
    pub(crate) client: redis::Client,
    pub(crate) con: redis::Connection,
    /// When the run's work began: after the server's start-up, which is reported, not counted.
    pub(crate) started: Instant,
}

impl RunRedis {
    /// Start the private server (or take `--redis-url`/`REDIS_URL`), then connect; a bad or
    /// unreachable URL is a usage error (exit 2).
    pub(crate) fn open(spec: &RunSpec) -> anyhow::Result<RunRedis> {
        let (server, url) = match &spec.redis_url {
            Some(url) => (None, url.clone()),
            None => {
                let server = PrivateServer::start()?;
                let url = server.url().to_owned();
                (Some(server), url)
            }
        };
        let shown = redact(&url);
        let started = Instant::now();
        let client = redis::Client::open(url.as_str())
            .map_err(|e| Error::Usage(format!("'{shown}' is not a Redis URL: {e}")))?;
        let con = connect(&client, CONNECT_TIMEOUT, RESPONSE_TIMEOUT)
            .map_err(|e| Error::Usage(format!("cannot reach Redis at {shown}: {e}")))?;
        Ok(RunRedis {
            server,
            shown,
            client,
            con,
            started,
        })
    }
}

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let RunRedis {
        server,
        shown,
        client,
        mut con,
        started,
    } = RunRedis::open(spec)?;
    let mut notes = vec![server_note(server.as_ref(), &shown)];

    let run_id = run_id();
    let keys = Keys::new(&run_id);
    let cleanup = Cleanup::new(&client, &keys);
    let enqueue_s = load(&mut con, spec, &keys, &run_id)?.as_secs_f64();

    let (reports, released) = drain(spec, &client, &keys, &mut con);
    let mut drained = Drained::add_up(reports, released);
    let performed = drained.performed;
    let stop = Stop::requested().filter(|_| performed < spec.items);
    if performed < spec.items && stop.is_none() {
        drained.failures.push(Failure::run(format!(
            "{} of {} jobs never ran",
            spec.items - performed,
            spec.items
        )));
    }

    let wallet = match spec.workload {
        Workload::Wallet => Some(wallet_outcome(&mut con, spec, &keys)?),
        _ => None,
    };
    let work_s = started.elapsed().as_secs_f64();

    notes.extend(drained.notes(spec, &keys, enqueue_s));
    let deleted = cleanup.finish().context("deleting the run's keys")?;
    notes.push(format!(
        "keys: {deleted} left under {}*, now deleted (an emptied list deletes itself)",
        keys.prefix
    ));
    drop(server); // stop and reap it now, before we report: nothing is left for the harness

    Ok(Outcome {
        jobs: performed,
        jobs_not_started: if stop.is_some() {
            spec.items - performed
        } else {
            0
        },
        stop,
        workers: spec.workers,
        failures: drained.failures,
        wallet,
        work_s,
        notes,
        ..Default::default()
    })
}

/// Where the run's Redis came from, and whether its cost is in the figures.
fn server_note(server: Option<&PrivateServer>, shown: &str) -> String {
    match server {
        Some(s) => format!(
            "redis: private redis-server (pid {}) on a Unix socket, ready in {:.0} ms; its memory and CPU are in this run's figures",
            s.pid(),
            s.started_in().as_secs_f64() * 1e3
        ),
        None => format!(
            "redis: {shown} (from REDIS_URL/--redis-url); the server's memory and CPU are not in this run's figures"
        ),
    }
}

/// The workers' reports, added up.
struct Drained {
    performed: u64,
    fetches: u64,
    watch_retries: u64,
    failures: Vec<Failure>,
    /// From the workers' release to the last one's finish.
    drain_s: f64,
}

impl Drained {
    fn add_up(reports: Vec<WorkerReport>, released: Instant) -> Drained {
        let mut sum = Drained {
            performed: 0,
            fetches: 0,
            watch_retries: 0,
            failures: Vec::new(),
            drain_s: 0.0,
        };
        let mut last = released;
        for r in reports {
            sum.performed += r.performed;
            sum.fetches += r.fetches;
            sum.watch_retries += r.watch_retries;
            sum.failures.extend(r.failures);
            last = last.max(r.finished.unwrap_or(released));
        }
        sum.drain_s = last.duration_since(released).as_secs_f64();
        sum
    }

    /// What the queue, the drain and the wallet's protection did, one note each.
    fn notes(&self, spec: &RunSpec, keys: &Keys, enqueue_s: f64) -> Vec<String> {
        let (performed, drain_s, fetches) = (self.performed, self.drain_s, self.fetches);
        let mut notes = vec![format!(
            "queue: {} jobs as Sidekiq JSON RPUSHed to {} in {:.1} ms",
            spec.items,
            keys.queue,
            enqueue_s * 1e3
        )];
        let batch = spec.batch.max(1);
        notes.push(format!(
            "drain: {performed} jobs in {drain_s:.4} s = {:.0} jobs/s, {} workers, {fetches} LPOP calls (batch {batch})",
            if drain_s > 0.0 { performed as f64 / drain_s } else { 0.0 },
            spec.workers,
        ));
        if spec.workload == Workload::Wallet {
            let retries = self.watch_retries;
            notes.push(match spec.sync {
                SyncMode::Watch => format!(
                    "watch: {retries} retries (EXEC refused because another worker wrote the balance after our WATCH)"
                ),
                SyncMode::Incr => "incr: one INCRBY per job, applied atomically by the server".into(),
                _ => "none: GET, pause, SET; a write in between is overwritten".into(),
            });
        }
        notes
    }
}

/// Fill the run's keys: the wallet at its start (for the wallet workload), then every job
/// RPUSHed and the keys' expiry set; how long the enqueueing took.
pub(crate) fn load(
    con: &mut redis::Connection,
    spec: &RunSpec,
    keys: &Keys,
    run_id: &str,
) -> anyhow::Result<Duration> {
    if spec.workload == Workload::Wallet {
        init_wallet(con, keys)?;
    }
    let started = Instant::now();
    enqueue(con, spec, keys, run_id).context("enqueueing the jobs")?;
    refresh_ttl(con, keys).context("setting the keys' expiry")?;
    Ok(started.elapsed())
}

/// Put the wallet at its starting balance, version 0, under this run's keys.
fn init_wallet(con: &mut redis::Connection, keys: &Keys) -> anyhow::Result<()> {
    redis::cmd("MSET")
        .arg(&keys.balance)
        .arg(wallet::START)
        .arg(&keys.version)
        .arg(0)
        .exec(con)
        .context("setting up the wallet in Redis")
}

/// `<pid>-<hex nanos>`: unique enough that runs sharing one Redis never meet.
pub(crate) fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{}-{:08x}", std::process::id(), nanos & 0xffff_ffff)
}

/// Job `i` of the spec's workload, as Sidekiq would store it.
fn job(spec: &RunSpec, run_id: &str, i: u64) -> Job {
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
    let enqueued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Job {
        class: class.into(),
        args,
        jid: jid(run_id, i),
        enqueued_at,
    }
}

/// RPUSH every job, [`PUSH_CHUNK`] per command.
fn enqueue(
    con: &mut redis::Connection,
    spec: &RunSpec,
    keys: &Keys,
    run_id: &str,
) -> anyhow::Result<()> {
    let mut chunk = Vec::with_capacity(PUSH_CHUNK);
    for i in 0..spec.items {
        chunk.push(serde_json::to_string(&job(spec, run_id, i))?);
        if chunk.len() == PUSH_CHUNK || i + 1 == spec.items {
            redis::cmd("RPUSH").arg(&keys.queue).arg(&chunk).exec(con)?;
            chunk.clear();
        }
    }
    Ok(())
}

/// Push every key's expiry [`KEY_TTL_S`] into the future (missing keys are skipped by Redis).
fn refresh_ttl(con: &mut redis::Connection, keys: &Keys) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for key in keys.all() {
        pipe.cmd("EXPIRE").arg(key).arg(KEY_TTL_S).ignore();
    }
    pipe.exec(con)
}

/// Start the workers, release them together, and wait for all of them; their reports and the
/// moment they were released.
fn drain(
    spec: &RunSpec,
    client: &redis::Client,
    keys: &Keys,
    con: &mut redis::Connection,
) -> (Vec<WorkerReport>, Instant) {
    // Workers connect first, then start popping together, so the drain is timed on its own.
    let barrier = Barrier::new(spec.workers + 1);
    let released = Mutex::new(Instant::now());
    let (alive, all_done) = crossbeam::channel::bounded::<()>(0);
    let reports = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.workers)
            .map(|w| {
                let (barrier, alive) = (&barrier, alive.clone());
                std::thread::Builder::new()
                    .name(format!("redis-{w}"))
                    .spawn_scoped(scope, move || {
                        crate::sys::signals::keep_stop_signals_off_this_thread();
                        let report = worker(w, spec, client, keys, barrier);
                        drop(alive);
                        report
                    })
                    .expect("spawning a redis worker")
            })
            .collect();
        drop(alive);
        barrier.wait();
        *released.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        // Wait for every worker to let go of `alive`; keep the keys from expiring meanwhile.
        while let Err(crossbeam::channel::RecvTimeoutError::Timeout) =
            all_done.recv_timeout(TTL_REFRESH)
        {
            let _ = refresh_ttl(con, keys);
        }
        handles
            .into_iter()
            .enumerate()
            .map(|(w, h)| {
                h.join().unwrap_or_else(|_| WorkerReport {
                    failures: vec![Failure::run(format!("redis worker {w} panicked"))],
                    ..WorkerReport::default()
                })
            })
            .collect()
    });
    let released = released.into_inner().unwrap_or_else(|p| p.into_inner());
    (reports, released)
}

/// One worker: its own connection, LPOP (or `LPOP key K`) until the list is empty.
fn worker(
    w: usize,
    spec: &RunSpec,
    client: &redis::Client,
    keys: &Keys,
    barrier: &Barrier,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let con = connect(client, CONNECT_TIMEOUT, RESPONSE_TIMEOUT);
    barrier.wait(); // even when the connect failed, or the others would wait forever
    let mut con = match con {
        Ok(con) => con,
        Err(e) => {
            report
                .failures
                .push(Failure::run(format!("redis worker {w}: connect: {e}")));
            report.finished = Some(Instant::now());
            return report;
        }
    };
    let batch = spec.batch.max(1) as usize;
    loop {
        // After Ctrl-C, take no more jobs; those left in the list are deleted with the keys.
        if crate::sys::signals::stop_requested() {
            break;
        }
        let fetched: redis::RedisResult<Vec<String>> = if batch == 1 {
            redis::cmd("LPOP")
                .arg(&keys.queue)
                .query::<Option<String>>(&mut con)
                .map(|p| p.into_iter().collect())
        } else {
            redis::cmd("LPOP")
                .arg(&keys.queue)
                .arg(batch)
                .query::<Option<Vec<String>>>(&mut con)
                .map(Option::unwrap_or_default)
        };
        report.fetches += 1;
        let payloads = match fetched {
            Ok(p) if p.is_empty() => break,
            Ok(p) => p,
            Err(e) => {
                report
                    .failures
                    .push(Failure::run(format!("redis worker {w}: LPOP: {e}")));
                break;
            }
        };
        let mut held = payloads.len();
        for payload in payloads {
            held -= 1;
            match perform(&mut con, spec, keys, &payload) {
                Ok(retries) => report.watch_retries += retries,
                Err(JobError::Job(e)) => report.failures.push(Failure::run(e)),
                Err(JobError::Redis(e)) => {
                    // The connection is gone: this job and the rest of the batch are lost with
                    // it (LPOP already removed them from the list). Reliable fetch fixes that.
                    report.performed += 1;
                    report.failures.push(Failure::run(format!(
                        "redis worker {w}: {e}; {held} more fetched jobs lost with it"
                    )));
                    report.finished = Some(Instant::now());
                    return report;
                }
            }
            report.performed += 1;
        }
    }
    report.finished = Some(Instant::now());
    report
}

pub(crate) enum JobError {
    /// This job failed; the worker carries on.
    Job(String),
    /// The connection failed; the worker stops.
    Redis(redis::RedisError),
}

impl From<redis::RedisError> for JobError {
    fn from(e: redis::RedisError) -> Self {
        JobError::Redis(e)
    }
}

/// Run one job from its payload; the WATCH retries it took.
pub(crate) fn perform(
    con: &mut redis::Connection,
    spec: &RunSpec,
    keys: &Keys,
    payload: &str,
) -> Result<u64, JobError> {
    let job: Job = serde_json::from_str(payload)
        .map_err(|e| JobError::Job(format!("bad job payload {payload:?}: {e}")))?;
    let arg = |n: usize| {
        job.args.get(n).copied().ok_or_else(|| {
            JobError::Job(format!("{} {}: missing argument {n}", job.class, job.jid))
        })
    };
    match job.class.as_str() {
        "EmojiJob" => {
            emoji::perform(arg(0)? as u64, arg(1)? as u64)
                .map_err(|e| JobError::Job(format!("EmojiJob {}: {e}", job.jid)))?;
            Ok(0)
        }
        "WalletJob" => adjust(con, spec.sync, keys, arg(0)?, arg(1)? as u64),
        "NoopJob" => Ok(0),
        "CpuJob" => crate::workload::cpu::perform(arg(0)? as u64, arg(1)? as u64)
            .map(|_| 0)
            .map_err(|e| JobError::Job(format!("CpuJob {}: {e}", job.jid))),
        "SleepJob" => {
            std::thread::sleep(std::time::Duration::from_millis(arg(1)? as u64));
            Ok(0)
        }
        other => Err(JobError::Job(format!("unknown job class {other}"))),
    }
}

/// One wallet update in Redis, protected (or not) as `sync` says; the WATCH retries it took.
///
/// The balance sits in `wallet`; beside it `wallet:version` names the write that produced it and
/// `wallet:based-on` maps each write to the version it read, so that lost updates can be counted
/// exactly afterwards (see [`wallet_outcome`]). These books ride along in the same MGET and MSET
/// as the balance and do not change the race.
fn adjust(
    con: &mut redis::Connection,
    sync: SyncMode,
    keys: &Keys,
    delta: i64,
    pause_us: u64,
) -> Result<u64, JobError> {
    match sync {
        SyncMode::Incr => {
            wallet::pause(pause_us);
            redis::cmd("INCRBY")
                .arg(&keys.balance)
                .arg(delta)
                .exec(con)?;
            Ok(0)
        }
        SyncMode::Watch => {
            let mine: u64 = redis::cmd("INCR").arg(&keys.versions).query(con)?;
            let mut retries = 0;
            loop {
                redis::cmd("WATCH").arg(&keys.version).exec(con)?;
                let (balance, read): (i64, u64) = redis::cmd("MGET")
                    .arg(&keys.balance)
                    .arg(&keys.version)
                    .query(con)?;
                wallet::pause(pause_us);
                // EXEC answers nil (None) when the watched key changed since WATCH.
                let done: Option<(redis::Value, redis::Value)> = redis::pipe()
                    .atomic()
                    .cmd("MSET")
                    .arg(&keys.balance)
                    .arg(balance + delta)
                    .arg(&keys.version)
                    .arg(mine)
                    .cmd("HSET")
                    .arg(&keys.based_on)
                    .arg(mine)
                    .arg(read)
                    .query(con)?;
                if done.is_some() {
                    return Ok(retries);
                }
                retries += 1;
            }
        }
        _ => {
            // `none`: GET, pause, SET.
            let mine: u64 = redis::cmd("INCR").arg(&keys.versions).query(con)?;
            let (balance, read): (i64, u64) = redis::cmd("MGET")
                .arg(&keys.balance)
                .arg(&keys.version)
                .query(con)?;
            wallet::pause(pause_us);
            redis::pipe()
                .cmd("MSET")
                .arg(&keys.balance)
                .arg(balance + delta)
                .arg(&keys.version)
                .arg(mine)
                .ignore()
                .cmd("HSET")
                .arg(&keys.based_on)
                .arg(mine)
                .arg(read)
                .ignore()
                .exec(con)?;
            Ok(0)
        }
    }
}

/// The final balance and how many updates were lost.
///
/// For `none` and `watch`, follow the versions back from the final one: every write on that
/// chain survived, every other write was overwritten. `incr` keeps no versions (there is no read
/// to be stale), so its losses are what the balance is off by, in steps.
pub(crate) fn wallet_outcome(
    con: &mut redis::Connection,
    spec: &RunSpec,
    keys: &Keys,
) -> anyhow::Result<WalletOutcome> {
    let expected = crate::workload::wallet::expected_balance(spec.items);
    let (balance, mut version): (i64, Option<u64>) = redis::cmd("MGET")
        .arg(&keys.balance)
        .arg(&keys.version)
        .query(con)
        .context("reading the final balance")?;
    let lost = if spec.sync == SyncMode::Incr {
        (balance - expected).unsigned_abs() / wallet::STEP as u64
    } else {
        let based_on: HashMap<u64, u64> = redis::cmd("HGETALL")
            .arg(&keys.based_on)
            .query(con)
            .context("reading the wallet's books")?;
        let mut survived = 0u64;
        while let Some(v) = version.filter(|&v| v != 0) {
            survived += 1;
            if survived > spec.items {
                break; // a corrupt chain must not loop forever
            }
            version = based_on.get(&v).copied();
        }
        spec.items.saturating_sub(survived)
    };
    Ok(WalletOutcome {
        expected_balance: expected,
        final_balance: balance,
        lost_updates: lost,
        isolated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_host_name_needs_a_dns_lookup_and_a_thread() {
        let dns = |url: &str| needs_dns(&redis::Client::open(url).unwrap());
        assert!(!dns("unix:///tmp/x/redis.sock"));
        assert!(!dns("redis://127.0.0.1:6379"));
        assert!(!dns("redis://[::1]:6379/0"));
        assert!(!dns("redis://localhost:6390"));
        assert!(dns("redis://redis.example.com:6379"));
    }

    #[test]
    fn keys_share_the_run_prefix() {
        let k = Keys::new("42-abc");
        assert!(k.all().iter().all(|key| key.starts_with("concur:42-abc:")));
        assert_eq!(k.queue, "concur:42-abc:queue:default");
    }

    #[test]
    fn a_job_serialises_in_sidekiqs_shape() {
        let j = Job {
            class: "EmojiJob".into(),
            args: vec![3, 50],
            jid: jid("1-2", 3),
            enqueued_at: 1.5,
        };
        let v: serde_json::Value = serde_json::to_value(&j).unwrap();
        let mut fields: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(fields, ["args", "class", "enqueued_at", "jid"]);
    }
}
