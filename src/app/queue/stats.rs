//! `concur stats`: what the queue is doing, from Redis alone.
//!
//! Every fact a worker knows about itself it also writes to Redis (its heartbeat hash, the
//! counters, its processing lists), so a dashboard needs no connection to any worker: this is the
//! same trick Sidekiq's Web UI uses. `--watch` redraws like `top`; `--json` is for scripts.

use super::fetch::{self, Registration};
use super::job::{now, Job};
use super::{keys, open, redis_url};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct StatsRequest {
    /// Redraw every --interval seconds until Ctrl-C, like top
    pub watch: bool,
    /// Seconds between redraws with --watch
    pub interval: f64,
    /// One JSON object on stdout
    pub json: bool,
    /// `--redis-url`, else REDIS_URL.
    pub redis_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueStat {
    pub name: String,
    pub size: u64,
    /// Seconds the oldest waiting job has waited.
    pub latency_s: f64,
}

#[derive(Debug, Serialize)]
pub struct WorkerStat {
    pub id: String,
    pub host: String,
    pub pid: u64,
    pub queues: String,
    pub mode: String,
    pub fetch: String,
    pub concurrency: u64,
    pub busy: u64,
    pub status: String,
    pub up_s: f64,
    pub processed: u64,
    pub failed: u64,
    pub current: Value,
}

#[derive(Debug, Serialize)]
pub struct Recorded {
    pub jids: u64,
    pub runs: u64,
    pub duplicates: u64,
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub queues: Vec<QueueStat>,
    pub scheduled: u64,
    pub retries: u64,
    pub dead: u64,
    pub in_flight: u64,
    pub processed: u64,
    pub failed: u64,
    pub workers: Vec<WorkerStat>,
    /// Registered workers without a heartbeat: dead, their jobs waiting for a reaper.
    pub unreaped: Vec<String>,
    /// From `--record-jids` workers, if any ran.
    pub recorded: Option<Recorded>,
}

/// Read everything once.
pub fn snapshot(con: &mut redis::Connection) -> redis::RedisResult<Snapshot> {
    let queues = queue_stats(con)?;
    let totals = Totals::read(con)?;
    let (workers, unreaped) = worker_stats(con)?;
    let recorded = recorded(con, totals.done_jids)?;
    Ok(Snapshot {
        queues,
        scheduled: totals.scheduled,
        retries: totals.retries,
        dead: totals.dead,
        in_flight: fetch::in_flight_total(con)?,
        processed: totals.processed,
        failed: totals.failed,
        workers,
        unreaped,
        recorded,
    })
}

/// Every queue ever pushed to, by name: its size, and how long its oldest job has waited.
fn queue_stats(con: &mut redis::Connection) -> redis::RedisResult<Vec<QueueStat>> {
    let mut names: Vec<String> = redis::cmd("SMEMBERS").arg(keys::QUEUES).query(con)?;
    names.sort();
    let mut queues = Vec::new();
    for name in names {
        let key = keys::queue(&name);
        let (size, oldest): (u64, Option<String>) = redis::pipe()
            .cmd("LLEN")
            .arg(&key)
            .cmd("LINDEX")
            .arg(&key)
            .arg(-1)
            .query(con)?;
        let latency_s = oldest
            .and_then(|p| Job::parse(&p).ok())
            .map_or(0.0, |j| (now() - j.enqueued_at).max(0.0));
        queues.push(QueueStat {
            name,
            size,
            latency_s,
        });
    }
    Ok(queues)
}

/// The sizes of the sorted sets and the counters, read in one round trip.
struct Totals {
    scheduled: u64,
    retries: u64,
    dead: u64,
    processed: u64,
    failed: u64,
    /// Jids in `concur:done` (written by `--record-jids` workers).
    done_jids: u64,
}

impl Totals {
    fn read(con: &mut redis::Connection) -> redis::RedisResult<Totals> {
        let (scheduled, retries, dead, processed, failed, done_jids): (
            u64,
            u64,
            u64,
            Option<u64>,
            Option<u64>,
            u64,
        ) = redis::pipe()
            .cmd("ZCARD")
            .arg(keys::SCHEDULE)
            .cmd("ZCARD")
            .arg(keys::RETRY)
            .cmd("ZCARD")
            .arg(keys::DEAD)
            .cmd("GET")
            .arg(keys::PROCESSED)
            .cmd("GET")
            .arg(keys::FAILED)
            .cmd("HLEN")
            .arg(keys::DONE)
            .query(con)?;
        Ok(Totals {
            scheduled,
            retries,
            dead,
            processed: processed.unwrap_or(0),
            failed: failed.unwrap_or(0),
            done_jids,
        })
    }
}

/// The registered workers with a heartbeat, sorted by id, and the ids of those without one
/// (dead, awaiting a reaper).
fn worker_stats(con: &mut redis::Connection) -> redis::RedisResult<(Vec<WorkerStat>, Vec<String>)> {
    let mut workers = Vec::new();
    let mut unreaped = Vec::new();
    for (id, reg) in fetch::registered(con)? {
        let beat: HashMap<String, String> =
            redis::cmd("HGETALL").arg(keys::beat(&id)).query(con)?;
        if beat.is_empty() {
            unreaped.push(id);
        } else {
            workers.push(WorkerStat::new(id, reg, &beat));
        }
    }
    workers.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((workers, unreaped))
}

impl WorkerStat {
    /// A worker as its registration and its heartbeat hash describe it.
    fn new(id: String, reg: Registration, beat: &HashMap<String, String>) -> WorkerStat {
        let num = |k: &str| beat.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        WorkerStat {
            host: reg.host,
            pid: reg.pid as u64,
            queues: reg.queues.join(","),
            mode: reg.mode,
            fetch: reg.fetch,
            concurrency: reg.concurrency,
            busy: num("busy"),
            status: beat.get("status").cloned().unwrap_or_default(),
            up_s: (now() - reg.started).max(0.0),
            processed: num("processed"),
            failed: num("failed"),
            current: beat
                .get("current")
                .and_then(|c| serde_json::from_str(c).ok())
                .unwrap_or(Value::Null),
            id,
        }
    }
}

/// What `--record-jids` workers counted, if any ran (`done_jids` jids finished).
fn recorded(con: &mut redis::Connection, done_jids: u64) -> redis::RedisResult<Option<Recorded>> {
    if done_jids == 0 {
        return Ok(None);
    }
    let runs: Vec<u64> = redis::cmd("HVALS").arg(keys::DONE).query(con)?;
    let total: u64 = runs.iter().sum();
    Ok(Some(Recorded {
        jids: done_jids,
        runs: total,
        // Never below zero, whatever another client left in the hash.
        duplicates: total.saturating_sub(done_jids),
    }))
}

/// The snapshot as text.
pub fn render(s: &Snapshot) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{:<24} {:>10} {:>10}", "queue", "size", "latency");
    if s.queues.is_empty() {
        let _ = writeln!(out, "  (no queues yet: concur enqueue)");
    }
    for q in &s.queues {
        let _ = writeln!(out, "{:<24} {:>10} {:>8.1} s", q.name, q.size, q.latency_s);
    }
    let _ = writeln!(
        out,
        "\nscheduled {}   retries {}   dead {}   in flight {}",
        s.scheduled, s.retries, s.dead, s.in_flight
    );
    let _ = writeln!(out, "processed {}   failed {}", s.processed, s.failed);
    let busy: u64 = s.workers.iter().map(|w| w.busy).sum();
    let _ = writeln!(out, "\nworkers {} ({busy} busy)", s.workers.len());
    for w in &s.workers {
        let _ = writeln!(
            out,
            "  {}  {} x{} {}  queues {}  busy {}/{}  {}  up {:.0} s  done {} failed {}",
            w.id,
            w.mode,
            w.concurrency,
            w.fetch,
            w.queues,
            w.busy,
            w.concurrency,
            w.status,
            w.up_s,
            w.processed,
            w.failed
        );
        for c in w.current.as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "      {} {} on {} for {:.1} s",
                c["class"].as_str().unwrap_or("?"),
                c["jid"].as_str().unwrap_or("?"),
                c["queue"].as_str().unwrap_or("?"),
                (now() - c["run_at"].as_f64().unwrap_or(now())).max(0.0)
            );
        }
    }
    for id in &s.unreaped {
        let _ = writeln!(out, "  {id}  no heartbeat: dead, jobs await a reaper");
    }
    if let Some(r) = &s.recorded {
        let _ = writeln!(
            out,
            "\nrecorded (--record-jids): {} jids finished, {} runs, {} duplicate runs",
            r.jids, r.runs, r.duplicates
        );
    }
    out
}

/// `concur stats`.
pub fn run(args: &StatsRequest) -> anyhow::Result<()> {
    let url = redis_url(args.redis_url.as_deref(), "stats")?;
    let (_, mut con) = open(&url)?;
    if args.json {
        println!("{}", serde_json::to_string(&snapshot(&mut con)?)?);
        return Ok(());
    }
    if !args.watch {
        print!("{}", render(&snapshot(&mut con)?));
        return Ok(());
    }
    loop {
        let text = render(&snapshot(&mut con)?);
        // Home, clear: a redraw like top, without a TUI library.
        print!(
            "\x1b[H\x1b[2Jconcur stats  {}  (every {} s, Ctrl-C to stop)\n\n{text}",
            super::fmt_time(now()),
            args.interval
        );
        std::io::Write::flush(&mut std::io::stdout())?;
        std::thread::sleep(std::time::Duration::from_secs_f64(args.interval));
    }
}
