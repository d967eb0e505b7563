//! A real job queue over Redis: `concur enqueue`, `concur worker`, `concur stats`,
//! `concur retry`, and the self-contained `concur queue-demo`.
//!
//! Why, when `run -s redis` already puts jobs in Redis? Because there the producer and the
//! consumers live in one process for one measured run. The systems in the talks are *services*:
//! clients enqueue from anywhere, worker processes on any number of machines fetch, and Redis is
//! the shared engine that lets an app outgrow one machine. Services meet failures a single run
//! never does, and this module is about those:
//!
//! - a worker killed with `kill -9` mid-job: with plain BRPOP ([`fetch::FetchMode::Basic`]) the
//!   job has already left Redis and is lost; with reliable fetch it sits in the worker's
//!   processing list until a *reaper* (every worker runs one) sees the dead worker's heartbeat
//!   expire and moves it back ([`fetch`]);
//! - a job that raises: retried on Sidekiq's schedule, then kept in a dead set for a human
//!   ([`job`], [`worker`]);
//! - an operator who wants a worker to stop, pause, or drop a stuck child: Resque's signals
//!   ([`worker`]);
//! - someone asking "what is going on?": [`stats`].
//!
//! Every key lives under `concur:` (see [`keys`]), in Sidekiq's layout: queues are lists
//! (LPUSH in, pop from the right), schedule/retry/dead are sorted sets scored by time, workers
//! register in a hash and prove they are alive with a heartbeat key that expires.

pub mod bench;
pub mod demo;
mod enqueue;
pub mod fetch;
pub mod job;
pub mod stats;
pub mod worker;

pub use enqueue::{enqueue, EnqueueRequest};

use crate::error::{usage, Error};
use crate::sys::redis_server::{connect, env_url, redact};
use anyhow::Context;
use job::{now, Job};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryRequest {
    /// The job to re-enqueue now (looked up in the dead set, then the retry set)
    pub jid: Option<String>,
    /// Re-enqueue every job in the dead set
    pub all_dead: bool,
    /// `--redis-url`, else REDIS_URL.
    pub redis_url: Option<String>,
}

/// Every key the queue uses.
pub mod keys {
    /// Set of queue names ever pushed to.
    pub const QUEUES: &str = "concur:queues";
    /// Sorted set of jobs enqueued with `--in`/`--at`, scored by when they are due.
    pub const SCHEDULE: &str = "concur:schedule";
    /// Sorted set of failed jobs awaiting a retry, scored by when it is due.
    pub const RETRY: &str = "concur:retry";
    /// Sorted set of jobs whose retries ran out, scored by when they died.
    pub const DEAD: &str = "concur:dead";
    /// Hash: worker id -> its registration (host, pid, queues, started, ...), kept until the
    /// worker exits cleanly or a reaper has requeued its jobs.
    pub const PROCESSES: &str = "concur:processes";
    /// Counters of finished and failed jobs.
    pub const PROCESSED: &str = "concur:stat:processed";
    pub const FAILED: &str = "concur:stat:failed";
    /// Hash jid -> times it finished, written by workers run with `--record-jids`.
    pub const DONE: &str = "concur:done";
    /// Set of run tokens already counted in [`DONE`] (a count retried after a lost reply is
    /// not counted twice).
    pub const DONE_RUNS: &str = "concur:done:runs";
    /// `queue-demo`'s payments: hash jid -> times a PayJob ran, and the balance they pay into.
    pub const PAY_RUNS: &str = "concur:pay:runs";
    pub const PAY_BALANCE: &str = "concur:pay:balance";

    /// An IdempotentPayJob's key: set once, by the run that pays.
    pub fn pay_applied(jid: &str) -> String {
        format!("concur:pay:applied:{jid}")
    }
    /// Set by a PayJob's first run once its payment is made (`queue-demo` kills it then).
    pub fn pay_effect(jid: &str) -> String {
        format!("concur:pay:effect:{jid}")
    }

    pub fn queue(q: &str) -> String {
        format!("concur:queue:{q}")
    }
    /// The heartbeat: a hash of what the worker is doing, which expires unless renewed.
    pub fn beat(id: &str) -> String {
        format!("concur:worker:{id}")
    }
    /// Jobs fetching slot `slot` of worker `id` took from queue `q` and has not finished
    /// (reliable fetch).
    pub fn processing(id: &str, slot: u64, q: &str) -> String {
        format!("concur:processing:{id}:{slot}:{q}")
    }
}

/// Reply timeout for ordinary commands: a server silent this long is gone or wedged.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Dead jobs kept (Sidekiq keeps 10,000 too).
pub const DEAD_MAX: isize = 10_000;

/// The Redis URL for a queue command: `--redis-url`, else `REDIS_URL`, checked to answer PING.
/// There is deliberately no private server here: enqueue, worker and stats are separate
/// processes that must share one Redis.
pub fn redis_url(flag: Option<&str>, command: &str) -> anyhow::Result<String> {
    let (url, source) = match (flag.map(str::to_owned), env_url()) {
        (Some(u), _) => (u.clone(), "--redis-url"),
        (None, Some(u)) => (u, "REDIS_URL"),
        (None, None) => {
            return usage(format!(
                "concur {command} needs the Redis server its workers share: set REDIS_URL or pass --redis-url (or try `concur queue-demo`, which starts its own)"
            ))
        }
    };
    crate::strategy::redis::check_url(&url, source).map_err(Error::Usage)?;
    Ok(url)
}

/// A client and a connection with bounded connect and reply times.
pub fn open(url: &str) -> anyhow::Result<(redis::Client, redis::Connection)> {
    let client =
        redis::Client::open(url).with_context(|| format!("opening Redis at {}", redact(url)))?;
    let con = connect(&client, CONNECT_TIMEOUT, RESPONSE_TIMEOUT)
        .with_context(|| format!("connecting to Redis at {}", redact(url)))?;
    Ok((client, con))
}

pub use crate::sys::time::fmt_time;

/// Take `payload` out of the sorted set KEYS[1] and, only if it was there, push ARGV[2] onto the
/// queue list KEYS[2] and record queue ARGV[3] in KEYS[3]. One script runs as one step on the
/// server: no client dies half-way (the job neither lost nor pushed twice), and of two clients
/// moving the same job only the one whose ZREM removed it pushes.
const MOVE_TO_QUEUE: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[3])
  redis.call('LPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"#;

/// The same, to the dead set KEYS[2] with score ARGV[2], for a payload that cannot be parsed.
const MOVE_TO_DEAD: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  return 1
end
return 0
"#;

/// Move `payload` from the sorted set `from` (schedule, retry, dead) onto its job's queue, in
/// one atomic step (see the `MOVE_TO_QUEUE` script). `Ok(false)`: somebody else moved it first.
pub fn move_to_queue(
    con: &mut redis::Connection,
    from: &str,
    payload: &str,
    job: &mut Job,
) -> redis::RedisResult<bool> {
    job.enqueued_at = now();
    redis::cmd("EVAL")
        .arg(MOVE_TO_QUEUE)
        .arg(3)
        .arg(from)
        .arg(keys::queue(&job.queue))
        .arg(keys::QUEUES)
        .arg(payload)
        .arg(job.to_json())
        .arg(&job.queue)
        .query::<i64>(con)
        .map(|moved| moved == 1)
}

/// Move an unparseable `payload` from `from` to the dead set, atomically.
pub fn move_to_dead(
    con: &mut redis::Connection,
    from: &str,
    payload: &str,
) -> redis::RedisResult<bool> {
    redis::cmd("EVAL")
        .arg(MOVE_TO_DEAD)
        .arg(2)
        .arg(from)
        .arg(keys::DEAD)
        .arg(payload)
        .arg(now())
        .query::<i64>(con)
        .map(|moved| moved == 1)
}

/// `concur retry JID` / `concur retry --all-dead`: move jobs from the dead (or retry) set back
/// onto their queues now. The job keeps its `retry_count`, so a retried dead job gets one more
/// attempt (its next failure is past the limit: dead again), as in Sidekiq.
pub fn retry(args: &RetryRequest) -> anyhow::Result<()> {
    let url = redis_url(args.redis_url.as_deref(), "retry")?;
    let (_, mut con) = open(&url)?;
    let mut moved = 0;
    let sets: &[&str] = if args.all_dead {
        &[keys::DEAD]
    } else {
        &[keys::DEAD, keys::RETRY]
    };
    for set in sets {
        let payloads: Vec<String> = redis::cmd("ZRANGE")
            .arg(*set)
            .arg(0)
            .arg(-1)
            .query(&mut con)?;
        for payload in payloads {
            let Ok(mut job) = Job::parse(&payload) else {
                continue;
            };
            if !args.all_dead && args.jid.as_deref() != Some(job.jid.as_str()) {
                continue;
            }
            if !move_to_queue(&mut con, set, &payload, &mut job)? {
                continue; // a worker's poller or another `retry` got it first
            }
            println!(
                "requeued {} {} on queue {} (from {}, failed {} time{}: {})",
                job.class,
                job.jid,
                job.queue,
                set.trim_start_matches("concur:"),
                job.attempts_before(),
                if job.attempts_before() == 1 { "" } else { "s" },
                job.error_message.as_deref().unwrap_or("-")
            );
            moved += 1;
            if !args.all_dead {
                return Ok(());
            }
        }
    }
    match (&args.jid, moved) {
        (Some(jid), 0) => {
            Err(Error::Usage(format!("no job {jid} in the dead or retry set")).into())
        }
        _ => {
            if args.all_dead {
                println!(
                    "requeued {moved} dead job{}",
                    if moved == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
    }
}
