//! `concur stats`: what the queue is doing, from Redis alone.
//!
//! Every fact a worker knows about itself it also writes to Redis (its heartbeat hash, the
//! counters, its processing lists), so a dashboard needs no connection to any worker: this is the
//! same trick Sidekiq's Web UI uses. `--watch` redraws like `top`; `--json` is for scripts.

use super::fetch::{self, Registration};
use super::job::{now, Job};
use super::{keys, open, redis_url};
use crate::sys::table::Table;
use crate::sys::units::seconds;
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
    /// How many jobs of each set (retry, scheduled, dead) to list.
    pub limit: usize,
    /// `--redis-url`, else REDIS_URL.
    pub redis_url: Option<String>,
}

/// A job waiting in the retry or schedule set, or lying in the dead set: what Sidekiq's Web UI
/// shows on its Retries, Scheduled and Dead pages.
#[derive(Debug, Serialize, PartialEq)]
pub struct ListedJob {
    pub jid: String,
    pub class: String,
    pub queue: String,
    pub args: Vec<Value>,
    /// `ErrorClass: message` of its last failure, if it failed.
    pub error: Option<String>,
    /// Times it has run (and failed) so far.
    pub attempts: u64,
    /// Retry and schedule sets: when it runs next (Unix seconds). `None` in the dead set.
    pub next_run: Option<f64>,
    /// When it last failed (Unix seconds), if it did.
    pub failed_at: Option<f64>,
}

/// A registered worker without a heartbeat that stopped on TERM or INT: its jobs were put back,
/// and its registration waits for any worker's reaper to forget it.
#[derive(Debug, Serialize, PartialEq)]
pub struct StoppedWorker {
    pub id: String,
    pub stopped_at: f64,
}

/// A registered worker without a heartbeat that did not say it stopped: presumed dead.
#[derive(Debug, Serialize, PartialEq)]
pub struct DeadWorker {
    pub id: String,
    /// Jobs in its processing lists, waiting for a reaper to requeue them.
    pub jobs_held: u64,
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
    /// Registered workers without a heartbeat that did not say they stopped: presumed dead,
    /// their jobs waiting for a reaper (ids; `presumed_dead` has the jobs they hold).
    pub unreaped: Vec<String>,
    pub presumed_dead: Vec<DeadWorker>,
    /// Registered workers without a heartbeat that stopped cleanly on TERM or INT.
    pub stopped: Vec<StoppedWorker>,
    /// The first jobs of the retry set (next due first), the schedule set (next due first) and
    /// the dead set (latest first), at most `--limit` each; the counts above are of them all.
    pub retry_jobs: Vec<ListedJob>,
    pub scheduled_jobs: Vec<ListedJob>,
    pub dead_jobs: Vec<ListedJob>,
    /// From `--record-jids` workers, if any ran.
    pub recorded: Option<Recorded>,
}

/// Read everything once, listing at most `limit` jobs of each set.
pub fn snapshot(con: &mut redis::Connection, limit: usize) -> redis::RedisResult<Snapshot> {
    let queues = queue_stats(con)?;
    let totals = Totals::read(con)?;
    let Silent {
        workers,
        dead: presumed_dead,
        stopped,
    } = worker_stats(con)?;
    let recorded = recorded(con, totals.done_jids)?;
    Ok(Snapshot {
        retry_jobs: listed(con, keys::RETRY, limit, Order::Next)?,
        scheduled_jobs: listed(con, keys::SCHEDULE, limit, Order::Next)?,
        dead_jobs: listed(con, keys::DEAD, limit, Order::Latest)?,
        unreaped: presumed_dead.iter().map(|d| d.id.clone()).collect(),
        presumed_dead,
        stopped,
        queues,
        scheduled: totals.scheduled,
        retries: totals.retries,
        dead: totals.dead,
        in_flight: fetch::in_flight_total(con)?,
        processed: totals.processed,
        failed: totals.failed,
        workers,
        recorded,
    })
}

/// Which end of a sorted set to list from.
#[derive(Copy, Clone)]
enum Order {
    /// Lowest score first: the next due.
    Next,
    /// Highest score first: the latest.
    Latest,
}

/// The first `limit` jobs of the sorted set `key`. A payload that is not a job (another
/// client's) is listed by what can be read of it.
fn listed(
    con: &mut redis::Connection,
    key: &str,
    limit: usize,
    order: Order,
) -> redis::RedisResult<Vec<ListedJob>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let cmd = match order {
        Order::Next => "ZRANGE",
        Order::Latest => "ZREVRANGE",
    };
    let rows: Vec<(String, f64)> = redis::cmd(cmd)
        .arg(key)
        .arg(0)
        .arg(limit as i64 - 1)
        .arg("WITHSCORES")
        .query(con)?;
    let dead = key == keys::DEAD;
    Ok(rows
        .into_iter()
        .map(|(payload, score)| listed_job(&payload, score, dead))
        .collect())
}

fn listed_job(payload: &str, score: f64, dead: bool) -> ListedJob {
    match Job::parse(payload) {
        Ok(j) => ListedJob {
            error: match (&j.error_class, &j.error_message) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (Some(c), None) => Some(c.clone()),
                (None, Some(m)) => Some(m.clone()),
                (None, None) => None,
            },
            attempts: if j.failed_at.is_some() || j.error_class.is_some() {
                j.attempts_before()
            } else {
                0
            },
            next_run: (!dead).then_some(score),
            failed_at: j.failed_at.or(dead.then_some(score)),
            jid: j.jid,
            class: j.class,
            queue: j.queue,
            args: j.args,
        },
        Err(why) => ListedJob {
            jid: String::new(),
            class: "(not a job)".into(),
            queue: String::new(),
            args: vec![Value::String(payload.chars().take(80).collect())],
            error: Some(why),
            attempts: 0,
            next_run: (!dead).then_some(score),
            failed_at: dead.then_some(score),
        },
    }
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

/// The registered workers: those with a heartbeat, and those without one, stopped or dead.
struct Silent {
    workers: Vec<WorkerStat>,
    dead: Vec<DeadWorker>,
    stopped: Vec<StoppedWorker>,
}

/// The registered workers with a heartbeat, sorted by id; of those without one, the ones that
/// said they stopped (TERM, INT), and the others, presumed dead, with the jobs they hold.
fn worker_stats(con: &mut redis::Connection) -> redis::RedisResult<Silent> {
    let mut s = Silent {
        workers: Vec::new(),
        dead: Vec::new(),
        stopped: Vec::new(),
    };
    for (id, reg) in fetch::registered(con)? {
        let beat: HashMap<String, String> =
            redis::cmd("HGETALL").arg(keys::beat(&id)).query(con)?;
        if !beat.is_empty() {
            s.workers.push(WorkerStat::new(id, reg, &beat));
            continue;
        }
        let stopped: Option<f64> = redis::cmd("GET").arg(keys::stopped(&id)).query(con)?;
        let mut held = 0;
        for (list, _) in reg.processing_lists(&id) {
            held += redis::cmd("LLEN").arg(list).query::<u64>(con)?;
        }
        match stopped {
            // Stopped, and nothing landed in its lists since: a stop, not a death.
            Some(at) if held == 0 => s.stopped.push(StoppedWorker { id, stopped_at: at }),
            _ => s.dead.push(DeadWorker {
                id,
                jobs_held: held,
            }),
        }
    }
    s.workers.sort_by(|a, b| a.id.cmp(&b.id));
    s.dead.sort_by(|a, b| a.id.cmp(&b.id));
    s.stopped.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(s)
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
    let mut queues = Table::new(["QUEUE", "SIZE", "LATENCY"]).right(&[1, 2]);
    for q in &s.queues {
        queues.row([
            q.name.clone(),
            q.size.to_string(),
            format!("{:.1} s", q.latency_s),
        ]);
    }
    out.push_str(&queues.render());
    if s.queues.is_empty() {
        let _ = writeln!(out, "  (no queues yet: concur enqueue)");
    }
    let _ = writeln!(
        out,
        "\nscheduled {}   retries {}   dead {}   in flight {}",
        s.scheduled, s.retries, s.dead, s.in_flight
    );
    let _ = writeln!(out, "processed {}   failed {}", s.processed, s.failed);
    render_workers(&mut out, s);
    for (title, total, jobs, when) in [
        (
            "retries (next due first)",
            s.retries,
            &s.retry_jobs,
            "NEXT RUN",
        ),
        (
            "scheduled (next due first)",
            s.scheduled,
            &s.scheduled_jobs,
            "RUNS AT",
        ),
        ("dead (latest first)", s.dead, &s.dead_jobs, "DIED AT"),
    ] {
        render_jobs(&mut out, title, total, jobs, when);
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

/// The workers: busy ones with their jobs, then the stopped and the presumed dead.
fn render_workers(out: &mut String, s: &Snapshot) {
    use std::fmt::Write;
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
    for w in &s.stopped {
        let _ = writeln!(
            out,
            "  {}  stopped at {} (TERM/INT: its jobs were put back; any worker's reaper forgets it)",
            w.id,
            super::fmt_time(w.stopped_at)
        );
    }
    for d in &s.presumed_dead {
        let _ = writeln!(
            out,
            "  {}  no heartbeat: presumed dead; {} job{} in its processing lists await a reaper",
            d.id,
            d.jobs_held,
            if d.jobs_held == 1 { "" } else { "s" }
        );
    }
}

/// One of the job sets, as a table: jid, class, args, attempts, error and when.
fn render_jobs(out: &mut String, title: &str, total: u64, jobs: &[ListedJob], when: &str) {
    use std::fmt::Write;
    if total == 0 {
        return;
    }
    let shown = if jobs.len() as u64 == total {
        String::new()
    } else {
        format!(", the first {} shown (--limit)", jobs.len())
    };
    let _ = writeln!(out, "\n{title}: {total}{shown}");
    if jobs.is_empty() {
        return;
    }
    let mut t = Table::new(["JID", "CLASS", "QUEUE", "ARGS", "ATTEMPTS", "ERROR", when])
        .right(&[4])
        .indent(2);
    for j in jobs {
        let args = Value::from(j.args.clone()).to_string();
        let at = j.next_run.or(j.failed_at).map(|t| {
            let left = t - now();
            if j.next_run.is_some() && left > 0.0 {
                format!("{} (in {})", super::fmt_time(t), seconds(left))
            } else {
                super::fmt_time(t)
            }
        });
        t.row([
            j.jid.clone(),
            j.class.clone(),
            j.queue.clone(),
            args.chars().take(40).collect(),
            j.attempts.to_string(),
            j.error.clone().unwrap_or_else(|| "-".into()),
            at.unwrap_or_default(),
        ]);
    }
    out.push_str(&t.render());
}

/// `concur stats`.
pub fn run(args: &StatsRequest) -> anyhow::Result<()> {
    let url = redis_url(args.redis_url.as_deref(), "stats")?;
    let (_, mut con) = open(&url)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&snapshot(&mut con, args.limit)?)?
        );
        return Ok(());
    }
    if !args.watch {
        print!("{}", render(&snapshot(&mut con, args.limit)?));
        return Ok(());
    }
    loop {
        let text = render(&snapshot(&mut con, args.limit)?);
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
