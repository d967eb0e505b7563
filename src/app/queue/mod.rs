//! A real job queue over Redis: `concur enqueue`, `concur worker`, `concur stats`,
//! `concur retry`, and the self-contained `concur queue-demo`.
//!
//! Why, when `run -s redis` already puts jobs in Redis? Because there the producer and the
//! consumers live in one process for one measured run. The systems in the talks are *services*:
//! clients enqueue from anywhere, worker processes on any number of machines fetch, and Redis is
//! the shared engine that lets an app outgrow one machine. Services meet failures a single run
//! never does, and this module is about those:
//!
//! - a worker killed with `kill -9` mid-job: with plain BRPOP ([`crate::cli::queue::FetchMode::Basic`]) the
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

pub mod demo;
pub mod fetch;
pub mod job;
pub mod stats;
pub mod worker;

use crate::cli::queue::{EnqueueArgs, RedisArgs, RetryArgs};
use crate::error::{usage, UsageError};
use crate::sys::redis_server::{connect, env_url, redact};
use anyhow::Context;
use job::{now, Job};
use serde_json::Value;
use std::time::Duration;

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

    pub fn queue(q: &str) -> String {
        format!("concur:queue:{q}")
    }
    /// The heartbeat: a hash of what the worker is doing, which expires unless renewed.
    pub fn beat(id: &str) -> String {
        format!("concur:worker:{id}")
    }
    /// Jobs worker `id` took from queue `q` and has not finished (reliable fetch).
    pub fn processing(id: &str, q: &str) -> String {
        format!("concur:processing:{id}:{q}")
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
pub fn redis_url(args: &RedisArgs, command: &str) -> anyhow::Result<String> {
    let (url, source) = match (&args.redis_url, env_url()) {
        (Some(u), _) => (u.clone(), "--redis-url"),
        (None, Some(u)) => (u, "REDIS_URL"),
        (None, None) => {
            return usage(format!(
                "concur {command} needs the Redis server its workers share: set REDIS_URL or pass --redis-url (or try `concur queue-demo`, which starts its own)"
            ))
        }
    };
    crate::strategy::redis::check_url(&url, source).map_err(UsageError)?;
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

/// `30`, `1.5s`, `250ms`, `2m`, `1h` -> seconds.
pub fn parse_duration_s(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = t.strip_suffix('d') {
        (n, 86400.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && (v * mult) <= 366.0 * 86400.0 => Ok(v * mult),
        _ => Err(format!(
            "'{s}' is not a duration (e.g. 30s, 1.5m, 250ms, 2h; at most a year)"
        )),
    }
}

/// Unix seconds (`1764093600`, `@1764093600`) or UTC RFC 3339 (`2026-11-25T18:00:00Z`) -> Unix
/// seconds.
pub fn parse_time(s: &str) -> Result<f64, String> {
    let bad = || format!("'{s}' is not a time: use Unix seconds or UTC like 2026-11-25T18:00:00Z");
    let t = s.trim().trim_start_matches('@');
    if let Ok(v) = t.parse::<f64>() {
        return if v >= 0.0 { Ok(v) } else { Err(bad()) };
    }
    let t = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix("+00:00"))
        .ok_or_else(bad)?;
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let hms: Vec<f64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3
        || !(2..=3).contains(&hms.len())
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
    {
        return Err(bad());
    }
    let days = days_from_civil(d[0], d[1], d[2]);
    let secs = hms[0] * 3600.0 + hms[1] * 60.0 + hms.get(2).copied().unwrap_or(0.0);
    Ok(days as f64 * 86400.0 + secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-25 09:30:02 UTC`.
pub fn fmt_time(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil_from_days, the inverse of the above.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Job `i`'s arguments.
type ArgsFn = Box<dyn Fn(u64) -> Vec<Value>>;

/// `concur enqueue`.
pub fn enqueue(args: &EnqueueArgs) -> anyhow::Result<()> {
    use crate::strategy::spec::Workload;
    let items = match (args.items, args.flaky) {
        (Some(n), _) => n,
        (None, Some(_)) => 1,
        (None, None) => args.workload.default_items(),
    };
    let (class, make_args): (&str, ArgsFn) = match (args.flaky, args.workload) {
        (Some(k), _) => ("FlakyJob", Box::new(move |i| vec![i.into(), k.into()])),
        (None, Workload::Emoji) => {
            if items > crate::workload::emoji::MAX_ITEMS {
                return usage(format!(
                    "emoji has {} distinct items; got --items {items}",
                    crate::workload::emoji::MAX_ITEMS
                ));
            }
            let r = args.repeat;
            ("EmojiJob", Box::new(move |i| vec![i.into(), r.into()]))
        }
        (None, Workload::Cpu) => {
            let c = args.cost;
            ("CpuJob", Box::new(move |i| vec![i.into(), c.into()]))
        }
        (None, Workload::Sleep) => {
            let w = args.wait_ms;
            ("SleepJob", Box::new(move |i| vec![i.into(), w.into()]))
        }
        (None, Workload::Noop) => ("NoopJob", Box::new(|i| vec![i.into()])),
        (None, Workload::Wallet) => {
            return usage(
                "the wallet is a `run` workload (its balance lives in one run); queue jobs: emoji, cpu, sleep, noop, or --flaky K",
            )
        }
    };
    let url = redis_url(&args.redis, "enqueue")?;
    let (_, mut con) = open(&url)?;
    let retry: Value = args.retry.map_or(Value::Bool(true), Value::from);
    let at = args.at.or(args.in_s.map(|d| now() + d));
    let seed = job::batch_seed();
    let mut first_jid = None;
    let mut chunk = Vec::with_capacity(1000);
    let mut stdout = std::io::stdout().lock();
    for i in 0..items {
        let job = Job::new(
            class,
            make_args(i),
            job::jid(&seed, i),
            &args.queue,
            retry.clone(),
        );
        if args.print_jids {
            use std::io::Write;
            writeln!(stdout, "{}", job.jid)?;
        }
        first_jid.get_or_insert_with(|| job.jid.clone());
        chunk.push(job.to_json());
        if chunk.len() == 1000 || i + 1 == items {
            let mut pipe = redis::pipe();
            pipe.cmd("SADD").arg(keys::QUEUES).arg(&args.queue).ignore();
            match at {
                Some(at) => {
                    let mut zadd = redis::cmd("ZADD");
                    zadd.arg(keys::SCHEDULE);
                    for p in &chunk {
                        zadd.arg(at).arg(p);
                    }
                    pipe.add_command(zadd).ignore();
                }
                None => {
                    pipe.cmd("LPUSH")
                        .arg(keys::queue(&args.queue))
                        .arg(&chunk)
                        .ignore();
                }
            }
            pipe.exec(&mut con).context("pushing jobs")?;
            chunk.clear();
        }
    }
    let what = format!(
        "{items} {class} job{} (first jid {})",
        if items == 1 { "" } else { "s" },
        first_jid.unwrap_or_default()
    );
    let line = match at {
        Some(at) => format!(
            "scheduled {what} for queue {} at {} (in {:.1} s)",
            args.queue,
            fmt_time(at),
            (at - now()).max(0.0)
        ),
        None => format!("enqueued {what} on queue {}", args.queue),
    };
    if args.print_jids {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}

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
/// one atomic step (see [`MOVE_TO_QUEUE`]). `Ok(false)`: somebody else moved it first.
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
pub fn retry(args: &RetryArgs) -> anyhow::Result<()> {
    let url = redis_url(&args.redis, "retry")?;
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
        (Some(jid), 0) => Err(UsageError(format!("no job {jid} in the dead or retry set")).into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_parse() {
        assert_eq!(parse_duration_s("30").unwrap(), 30.0);
        assert_eq!(parse_duration_s("250ms").unwrap(), 0.25);
        assert_eq!(parse_duration_s("1.5m").unwrap(), 90.0);
        assert_eq!(parse_duration_s("2h").unwrap(), 7200.0);
        assert!(parse_duration_s("soon").is_err());
        assert!(parse_duration_s("-1s").is_err());
        assert_eq!(parse_time("1764093600").unwrap(), 1764093600.0);
        assert_eq!(parse_time("1970-01-02T00:00:01Z").unwrap(), 86401.0);
        assert_eq!(parse_time("2026-11-25T18:00:00Z").unwrap(), 1_795_629_600.0);
        assert!(parse_time("tomorrow").is_err());
        assert!(parse_time("2026-11-25T18:00:00+02:00").is_err());
        assert_eq!(fmt_time(1_795_629_600.0), "2026-11-25 18:00:00 UTC");
        assert_eq!(fmt_time(0.0), "1970-01-01 00:00:00 UTC");
    }
}
