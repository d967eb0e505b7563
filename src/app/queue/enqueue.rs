//! `concur enqueue`: push jobs onto a queue now, or into the schedule set to run later.
//!
//! A producer is any client that can write Sidekiq's JSON into Redis; it needs no worker running
//! and knows nothing about them. Jobs go in pipelined chunks of [`CHUNK`] (one round trip each,
//! not one per job), each chunk recording its queue in `concur:queues` so `stats` can list it.
//! A job to run later (`--in`, `--at`) goes into the schedule set, scored by when it is due; a
//! worker's poller moves it onto its queue then.

use super::job::{self, now, Job};
use super::{fmt_time, keys, open, redis_url};
use crate::error::usage;
use crate::workload::{emoji, Workload};
use anyhow::Context;
use serde_json::Value;
use std::io::Write;

#[derive(Debug, Clone)]
pub struct EnqueueRequest {
    /// What each job does (emoji, cpu, sleep, noop; wallet is `run`-only)
    pub workload: Workload,
    /// Jobs to enqueue [default: 51 for emoji, 16 for cpu, 1000 for sleep and noop, 1 with --flaky]
    pub items: Option<u64>,
    /// The queue to push to
    pub queue: String,
    /// Emoji: prints per job
    pub repeat: u64,
    /// Cpu: million computation steps per job
    pub cost: u64,
    /// Sleep: milliseconds each job waits
    pub wait_ms: u64,
    /// Enqueue FlakyJob instead: a no-op that fails its first K attempts (to see retries, the
    /// schedule and the dead set)
    pub flaky: Option<u64>,
    /// Retries for these jobs (0 = dead on first failure) [default: the worker's --max-retries]
    pub retry: Option<u64>,
    /// Run after this long (seconds) (e.g. 30s, 1.5m, 250ms, 2h): into the schedule set, not the queue
    pub in_s: Option<f64>,
    /// Run at this time: Unix seconds or UTC RFC 3339 (2026-11-25T18:00:00Z)
    pub at: Option<f64>,
    /// Print each job's jid on stdout, one per line
    pub print_jids: bool,
    /// `--redis-url`, else REDIS_URL.
    pub redis_url: Option<String>,
}

/// Jobs pushed per round trip.
const CHUNK: usize = 1000;

/// Job `i`'s arguments.
type ArgsFn = Box<dyn Fn(u64) -> Vec<Value>>;

/// What each job of a batch is: its class, and its arguments by index.
struct Kind {
    class: &'static str,
    args: ArgsFn,
}

/// `concur enqueue`.
pub fn enqueue(args: &EnqueueRequest) -> anyhow::Result<()> {
    let items = match (args.items, args.flaky) {
        (Some(n), _) => n,
        (None, Some(_)) => 1,
        (None, None) => args.workload.default_items(),
    };
    let kind = Kind::of(args, items)?;
    let url = redis_url(args.redis_url.as_deref(), "enqueue")?;
    let (_, mut con) = open(&url)?;
    let at = args.at.or(args.in_s.map(|d| now() + d));
    let first_jid = push_jobs(&mut con, args, &kind, items, at)?;
    let line = summary(args, kind.class, items, &first_jid, at);
    if args.print_jids {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}

impl Kind {
    /// The jobs `args` asks for (`items` of them: emoji has only so many); a usage error for a
    /// workload that cannot be queued.
    fn of(args: &EnqueueRequest, items: u64) -> anyhow::Result<Kind> {
        let (class, args): (&'static str, ArgsFn) = match (args.flaky, args.workload) {
            (Some(k), _) => ("FlakyJob", Box::new(move |i| vec![i.into(), k.into()])),
            (None, Workload::Emoji) => {
                if items > emoji::MAX_ITEMS {
                    return usage(format!(
                        "emoji has {} distinct items; got --items {items}",
                        emoji::MAX_ITEMS
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
            (None, Workload::Wallet | Workload::Transfer) => {
                return usage(format!(
                    "{} is a `run` workload (its state lives in one run); queue jobs: emoji, cpu, sleep, noop, or --flaky K",
                    args.workload.name()
                ))
            }
        };
        Ok(Kind { class, args })
    }
}

/// Build and push the `items` jobs, [`CHUNK`] per round trip, onto the queue or (`at`) into the
/// schedule set; the first job's jid. With `--print-jids` each jid goes to stdout as it is made.
fn push_jobs(
    con: &mut redis::Connection,
    args: &EnqueueRequest,
    kind: &Kind,
    items: u64,
    at: Option<f64>,
) -> anyhow::Result<String> {
    let retry: Value = args.retry.map_or(Value::Bool(true), Value::from);
    let seed = job::batch_seed();
    let mut first_jid = None;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut stdout = std::io::stdout().lock();
    for i in 0..items {
        let job = Job::new(
            kind.class,
            (kind.args)(i),
            job::jid(&seed, i),
            &args.queue,
            retry.clone(),
        );
        if args.print_jids {
            writeln!(stdout, "{}", job.jid)?;
        }
        first_jid.get_or_insert_with(|| job.jid.clone());
        chunk.push(job.to_json());
        if chunk.len() == CHUNK || i + 1 == items {
            push_chunk(con, &args.queue, at, &chunk)?;
            chunk.clear();
        }
    }
    Ok(first_jid.unwrap_or_default())
}

/// One round trip: record `queue` and push `payloads` onto it, or (`at`) schedule them.
fn push_chunk(
    con: &mut redis::Connection,
    queue: &str,
    at: Option<f64>,
    payloads: &[String],
) -> anyhow::Result<()> {
    let mut pipe = redis::pipe();
    pipe.cmd("SADD").arg(keys::QUEUES).arg(queue).ignore();
    match at {
        Some(at) => {
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(keys::SCHEDULE);
            for p in payloads {
                zadd.arg(at).arg(p);
            }
            pipe.add_command(zadd).ignore();
        }
        None => {
            pipe.cmd("LPUSH")
                .arg(keys::queue(queue))
                .arg(payloads)
                .ignore();
        }
    }
    pipe.exec(con).context("pushing jobs")
}

/// The line that says what was enqueued (or scheduled, and when).
fn summary(
    args: &EnqueueRequest,
    class: &str,
    items: u64,
    first_jid: &str,
    at: Option<f64>,
) -> String {
    let what = format!(
        "{items} {class} job{} (first jid {first_jid})",
        if items == 1 { "" } else { "s" },
    );
    match at {
        Some(at) => format!(
            "scheduled {what} for queue {} at {} (in {:.1} s)",
            args.queue,
            fmt_time(at),
            (at - now()).max(0.0)
        ),
        None => format!("enqueued {what} on queue {}", args.queue),
    }
}
