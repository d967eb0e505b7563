//! Who is working: the registration, the heartbeat, the procline, and leaving cleanly.
//!
//! A worker registers in `concur:processes` (kept until a clean exit or a reaper) and proves it is
//! alive with a heartbeat hash `concur:worker:<id>` (host, pid, queues, started, busy, status, the
//! jobs running) that expires after [`BEATS_TO_DEATH`] heartbeats. Any worker whose heartbeat has
//! expired is dead, and every other worker's reaper requeues its jobs in flight. The process name
//! (`ps -o comm`, `top`) says what the worker is doing, like Resque's procline (Linux allows 15
//! bytes).

use super::{Current, Worker, WorkerRequest};
use crate::app::queue::fetch::{self, FetchMode, Registration};
use crate::app::queue::job::now;
use crate::app::queue::keys;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

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

    /// The reaper, once per heartbeat interval: requeue the jobs of workers whose heartbeat
    /// expired (see [`fetch::reap`]).
    pub(super) fn reap_if_due(
        &self,
        con: &mut redis::Connection,
        clock: &mut Clock,
    ) -> redis::RedisResult<()> {
        if clock.reap.elapsed().as_secs_f64() >= self.args.heartbeat {
            clock.reap = Instant::now();
            for (id, n) in fetch::reap(con, &self.id)? {
                self.log(&format!(
                    "reaped worker {id}: heartbeat expired, {n} job{} requeued",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        Ok(())
    }

    /// Write the heartbeat and the registration.
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
        redis::pipe()
            .cmd("HSET")
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
            .arg(self.processed.load(SeqCst))
            .arg("failed")
            .arg(self.failed.load(SeqCst))
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
            .ignore()
            .exec(con)
    }

    /// Forget this worker: heartbeat and registration (its processing lists are empty).
    pub(super) fn deregister(&self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        redis::pipe()
            .cmd("DEL")
            .arg(keys::beat(&self.id))
            .ignore()
            .cmd("HDEL")
            .arg(keys::PROCESSES)
            .arg(&self.id)
            .ignore()
            .exec(con)
    }

    /// The procline: what `ps -o comm` and `top` show (15 bytes at most on Linux).
    pub(super) fn procline(&self, busy: usize) {
        let text = match self.status() {
            "running" if busy == 0 => "concur: idle".to_owned(),
            "running" => format!("concur: {busy} busy"),
            s => format!("concur: {s}"),
        };
        if let Ok(name) = std::ffi::CString::new(text) {
            crate::sys::process::set_process_name(&name);
        }
    }
}

/// When the main loop last beat and reaped, and what it last reported.
pub(super) struct Clock {
    pub(super) beat: Instant,
    pub(super) reap: Instant,
    pub(super) state: (usize, &'static str, u64),
}

impl Clock {
    pub(super) fn new() -> Clock {
        Clock {
            beat: Instant::now(),
            reap: Instant::now(),
            state: (0, "running", 0),
        }
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
        fetch: match args.fetch {
            FetchMode::Reliable => "reliable",
            FetchMode::Basic => "basic",
        }
        .into(),
    };
    (id, reg)
}
