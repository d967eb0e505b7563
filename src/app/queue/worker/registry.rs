//! Who is working: the registration, the heartbeat, the procline, and leaving cleanly.
//!
//! A worker registers in `concur:processes` (kept until a clean exit or a reaper) and proves it is
//! alive with a heartbeat hash `concur:worker:<id>` (host, pid, queues, started, busy, status, the
//! jobs running) that expires after [`BEATS_TO_DEATH`] heartbeats. Any worker whose heartbeat has
//! expired is dead, and every other worker's reaper requeues its jobs in flight. The process name
//! (`ps -o comm`, `top`) says what the worker is doing, like Resque's procline (Linux allows 15
//! bytes).
//!
//! **Counters in memory.** A worker counts the jobs it processed and failed in memory and adds
//! them to `concur:stat:processed` / `failed` with each heartbeat (at most every
//! [`STATE_REFRESH`] while jobs finish, else every heartbeat interval) and when it leaves, with
//! a script that remembers in the heartbeat hash what it already added, so a flush retried after
//! a lost reply adds nothing twice. After a graceful stop (QUIT, `--exit-when-empty`, TERM) the
//! counters are exact; a `kill -9` loses the counts since the last flush (at most one heartbeat
//! interval of work), never a job.
//!
//! **Presumed dead.** A reaper reaps only a worker whose heartbeat it has found missing on two
//! passes a heartbeat interval apart, with its own connection healthy and prompt all along: a
//! Redis that stalled (`DEBUG SLEEP`, `CLIENT PAUSE`, a slow restart) lets every heartbeat expire
//! at once, and the workers beat again as soon as it answers. A worker that was really silent
//! (stopped with SIGSTOP, swapped out, cut off) notices at its next beat that its heartbeat had
//! expired, and whether a reaper took its jobs; it says so, re-registers, and does not
//! acknowledge the jobs it no longer owns (see `settle`).

use super::{Current, Worker, WorkerRequest};
use crate::app::queue::fetch::{self, FetchMode, Registration};
use crate::app::queue::job::now;
use crate::app::queue::keys;
use std::collections::HashMap;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// KEYS[1] `concur:stat:processed`, KEYS[2] `concur:stat:failed`, KEYS[3] the worker's heartbeat
/// hash. ARGV[1..2] the worker's totals, ARGV[3..4] what it knows it flushed already. Add to the
/// counters what was not added yet, and remember the totals in the heartbeat hash.
const FLUSH: &str = r#"
local function add(stat, field, total, known)
  local prev = tonumber(redis.call('HGET', KEYS[3], field) or '0')
  if known > prev then prev = known end
  if total > prev then redis.call('INCRBY', stat, total - prev) end
  redis.call('HSET', KEYS[3], field, total)
end
add(KEYS[1], 'flushed_processed', tonumber(ARGV[1]), tonumber(ARGV[3]))
add(KEYS[2], 'flushed_failed', tonumber(ARGV[2]), tonumber(ARGV[4]))
return 1
"#;

/// A heartbeat expires after this many intervals without one.
pub(super) const BEATS_TO_DEATH: f64 = 3.0;
/// The heartbeat hash is rewritten at most this often when what it shows changes.
const STATE_REFRESH: Duration = Duration::from_millis(250);

impl Worker {
    /// How long a heartbeat lives: [`BEATS_TO_DEATH`] intervals.
    fn ttl_ms(&self) -> u64 {
        (self.args.heartbeat * BEATS_TO_DEATH * 1000.0) as u64
    }

    /// Beat when a heartbeat interval has passed, or sooner (at most every [`STATE_REFRESH`])
    /// when what `stats` shows (busy, current jobs, status, jobs done) has changed.
    pub(super) fn beat_if_due(
        &self,
        con: &mut redis::Connection,
        clock: &mut Clock,
        running: &[Current],
    ) -> redis::RedisResult<()> {
        let state = (
            running.len(),
            self.status(),
            self.processed.load(SeqCst) + self.failed.load(SeqCst),
        );
        let due = clock.beat.elapsed().as_secs_f64() >= self.args.heartbeat;
        if due || (state != clock.state && clock.beat.elapsed() >= STATE_REFRESH) {
            clock.beat = Instant::now();
            clock.state = state;
            self.beat(con, running)?;
        }
        Ok(())
    }

    /// The reaper, once per heartbeat interval: a worker whose heartbeat is missing becomes a
    /// suspect; one still missing a heartbeat interval later (the reaper's connection healthy
    /// all along, see [`Clock::distrust`]) is dead: its jobs are requeued and it is forgotten,
    /// in one script ([`fetch::reap_one`]).
    pub(super) fn reap_if_due(
        &self,
        con: &mut redis::Connection,
        clock: &mut Clock,
    ) -> redis::RedisResult<()> {
        let h = self.heartbeat();
        if clock.reap.elapsed() < h {
            return Ok(());
        }
        clock.reap = Instant::now();
        let mut seen = Vec::new();
        for (id, reg) in fetch::registered(con)? {
            if id == self.id {
                continue;
            }
            seen.push(id.clone());
            if fetch::beating(con, &id)? {
                clock.suspects.remove(&id);
                continue;
            }
            let since = *clock
                .suspects
                .entry(id.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() < h {
                continue;
            }
            clock.suspects.remove(&id);
            if let Some(n) = fetch::reap_one(con, &id, &reg)? {
                self.log(&format!(
                    "reaped worker {id}: heartbeat expired, {n} job{} requeued",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        clock.suspects.retain(|id, _| seen.contains(id));
        Ok(())
    }

    /// Add "flush the in-memory counters" to `pipe` (see [`FLUSH`]); the totals it sends.
    pub(super) fn add_flush(&self, pipe: &mut redis::Pipeline) -> (u64, u64) {
        let known = *self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        let sent = (self.processed.load(SeqCst), self.failed.load(SeqCst));
        pipe.cmd("EVAL")
            .arg(FLUSH)
            .arg(3)
            .arg(keys::PROCESSED)
            .arg(keys::FAILED)
            .arg(keys::beat(&self.id))
            .arg(sent.0)
            .arg(sent.1)
            .arg(known.0)
            .arg(known.1)
            .ignore();
        sent
    }

    /// A flush of the totals `sent` landed (its reply came back).
    pub(super) fn flushed_now(&self, sent: (u64, u64)) {
        let mut known = self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        known.0 = known.0.max(sent.0);
        known.1 = known.1.max(sent.1);
    }

    /// Write the heartbeat and the registration, flushing the counters. If the heartbeat had
    /// expired since the last one, this worker was presumed dead: say so, and whether a reaper
    /// took its jobs (then it was forgotten too, and this beat registers it again).
    pub(super) fn beat(
        &self,
        con: &mut redis::Connection,
        running: &[Current],
    ) -> redis::RedisResult<()> {
        let current: Vec<serde_json::Value> = running
            .iter()
            .map(|c| {
                serde_json::json!({"jid": c.jid, "class": c.class, "queue": c.fetched.queue, "run_at": c.run_at})
            })
            .collect();
        let key = keys::beat(&self.id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("EXISTS").arg(&key);
        pipe.cmd("HEXISTS").arg(keys::PROCESSES).arg(&self.id);
        let sent = self.add_flush(&mut pipe);
        pipe.cmd("HSET")
            .arg(&key)
            .arg("host")
            .arg(&self.reg.host)
            .arg("pid")
            .arg(self.reg.pid)
            .arg("queues")
            .arg(self.reg.queues.join(","))
            .arg("started")
            .arg(self.reg.started)
            .arg("concurrency")
            .arg(self.reg.concurrency)
            .arg("mode")
            .arg(&self.reg.mode)
            .arg("fetch")
            .arg(&self.reg.fetch)
            .arg("beat")
            .arg(now())
            .arg("busy")
            .arg(running.len())
            .arg("status")
            .arg(self.status())
            .arg("processed")
            .arg(sent.0)
            .arg("failed")
            .arg(sent.1)
            .arg("current")
            .arg(serde_json::Value::from(current).to_string())
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.ttl_ms())
            .ignore()
            .cmd("HSET")
            .arg(keys::PROCESSES)
            .arg(&self.id)
            .arg(serde_json::to_string(&self.reg).expect("a registration serialises"))
            .ignore();
        let (beating, registered): (bool, bool) = pipe.query(con)?;
        self.flushed_now(sent);
        let mut last = self.last_beat.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = last.filter(|_| !beating) {
            self.presumed_dead(at.elapsed(), registered, running.len());
        }
        *last = Some(Instant::now());
        Ok(())
    }

    /// Our heartbeat had expired `silent` after the last one landed.
    fn presumed_dead(&self, silent: Duration, registered: bool, running: usize) {
        let why = format!(
            "presumed dead: no heartbeat landed for {:.1} s (this process was stopped, or Redis stalled)",
            silent.as_secs_f64()
        );
        if registered {
            self.log(&format!("{why}, but no reaper acted; beating again"));
        } else {
            self.log(&format!(
                "{why}, and a reaper requeued the jobs in its processing lists: the {running} running here will not be acknowledged, their copies run elsewhere (at-least-once); registered again"
            ));
        }
    }

    /// Forget this worker: flush its counters, delete its heartbeat and registration (its
    /// processing lists are empty).
    pub(super) fn deregister(&self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let sent = self.add_flush(&mut pipe);
        pipe.cmd("DEL")
            .arg(keys::beat(&self.id))
            .ignore()
            .cmd("HDEL")
            .arg(keys::PROCESSES)
            .arg(&self.id)
            .ignore()
            .exec(con)?;
        self.flushed_now(sent);
        Ok(())
    }

    /// The procline: what `ps -o comm` and `top` show (15 bytes at most on Linux).
    pub(super) fn procline(&self, busy: usize) {
        let text = match self.status() {
            "running" if busy == 0 => "concur: idle".to_owned(),
            "running" => format!("concur: {busy} busy"),
            s => format!("concur: {s}"),
        };
        if let Ok(name) = std::ffi::CString::new(text) {
            let _ = nix::sys::prctl::set_name(&name);
        }
    }
}

/// When the main loop last beat and reaped, what it last reported, and the workers its reaper
/// suspects.
pub(super) struct Clock {
    pub(super) beat: Instant,
    pub(super) reap: Instant,
    pub(super) state: (usize, &'static str, u64),
    /// Workers found without a heartbeat, and since when.
    pub(super) suspects: HashMap<String, Instant>,
    /// When the duties last ran to the end.
    pub(super) last_duties: Instant,
}

impl Clock {
    pub(super) fn new() -> Clock {
        Clock {
            beat: Instant::now(),
            reap: Instant::now(),
            state: (0, "running", 0),
            suspects: HashMap::new(),
            last_duties: Instant::now(),
        }
    }

    /// This worker could not watch Redis for a while (a failure, a stall, its own stop): what
    /// it saw missing may only be the others' heartbeats that could not land either. Suspect
    /// again from scratch.
    pub(super) fn distrust(&mut self) {
        self.suspects.clear();
    }
}

/// This worker's id (`host:pid:random`, unique across machines and restarts) and what it
/// registers about itself.
pub(super) fn registration(args: &WorkerRequest) -> (String, Registration) {
    let host = crate::sys::proc::hostname().unwrap_or_else(|| "localhost".into());
    let pid = std::process::id();
    let id = format!("{host}:{pid}:{:06x}", fastrand::u32(..0xff_ffff));
    let reg = Registration {
        host,
        pid,
        queues: args.queues.clone(),
        started: now(),
        concurrency: args.concurrency,
        mode: if args.fork { "fork" } else { "threads" }.into(),
        slots: if args.fork { 1 } else { args.concurrency },
        fetch: match args.fetch {
            FetchMode::Reliable => "reliable",
            FetchMode::Basic => "basic",
        }
        .into(),
    };
    (id, reg)
}
