//! Taking jobs off a queue, and what happens to a job whose worker dies holding it.
//!
//! **Basic fetch** is `BRPOP`: the job leaves Redis the moment it is fetched. If the worker is
//! killed (`kill -9`, OOM killer, a machine reboot) before the job is done, nobody will ever know
//! it existed. Sidekiq's basic fetch is this `BRPOP`; Resque polls with `LPOP`, which loses a
//! fetched job the same way.
//!
//! **Reliable fetch** is `BLMOVE queue processing RIGHT LEFT`: one atomic step moves the job from
//! the queue to a list that belongs to this worker (`concur:processing:<worker>:<queue>`), and
//! the job is removed from there (`LREM`) only when it is finished or has been handed to the retry
//! set. A killed worker leaves its jobs in that list. Every worker runs a *reaper*: a registered
//! worker whose heartbeat key has expired is dead, and its processing lists are moved back onto
//! their queues (`LMOVE`, atomic per job, so two reapers never requeue the same job twice).
//!
//! The price is *at-least-once*: a job whose worker died after the job's effects but before the
//! `LREM` runs again, and so does the job of a worker that was only too slow to beat. Jobs must be
//! idempotent. concur counts those duplicates instead of hiding them (`--record-jids`).
//!
//! Several queues are fetched in priority order: a non-blocking `LMOVE` on each, then a blocking
//! `BLMOVE` on one of them (BLMOVE takes a single source list) for at most the fetch timeout.

use super::keys;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FetchMode {
    /// BLMOVE each job into this worker's processing list; removed when done; a reaper requeues
    /// the lists of dead workers
    Reliable,
    /// BRPOP: the job leaves Redis when fetched; a worker killed mid-job loses it
    Basic,
}

/// What a worker writes about itself in `concur:processes` (kept until it exits cleanly or is
/// reaped): enough for a reaper to find its processing lists and for `stats` to show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub host: String,
    pub pid: u32,
    pub queues: Vec<String>,
    pub started: f64,
    pub concurrency: u64,
    pub mode: String,
    pub fetch: String,
}

/// A fetched job: its payload exactly as stored (LREM needs the same bytes) and its queue.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub raw: String,
    pub queue: String,
}

/// One connection's way of fetching for one worker.
pub struct Fetcher {
    pub mode: FetchMode,
    pub id: String,
    pub queues: Vec<String>,
    next_blocking: usize,
}

impl Fetcher {
    pub fn new(mode: FetchMode, id: &str, queues: &[String]) -> Fetcher {
        Fetcher {
            mode,
            id: id.to_owned(),
            queues: queues.to_vec(),
            next_blocking: 0,
        }
    }

    /// The next job, waiting at most `block_s` seconds for one (`None`: do not wait).
    pub fn fetch(
        &mut self,
        con: &mut redis::Connection,
        block_s: Option<f64>,
    ) -> redis::RedisResult<Option<Fetched>> {
        match self.mode {
            FetchMode::Reliable => {
                if self.queues.len() > 1 || block_s.is_none() {
                    for q in &self.queues {
                        let got: Option<String> = redis::cmd("LMOVE")
                            .arg(keys::queue(q))
                            .arg(keys::processing(&self.id, q))
                            .arg("RIGHT")
                            .arg("LEFT")
                            .query(con)?;
                        if let Some(raw) = got {
                            return Ok(Some(Fetched {
                                raw,
                                queue: q.clone(),
                            }));
                        }
                    }
                }
                let Some(t) = block_s else { return Ok(None) };
                let q = self.queues[self.next_blocking % self.queues.len()].clone();
                self.next_blocking = self.next_blocking.wrapping_add(1);
                let got: Option<String> = redis::cmd("BLMOVE")
                    .arg(keys::queue(&q))
                    .arg(keys::processing(&self.id, &q))
                    .arg("RIGHT")
                    .arg("LEFT")
                    .arg(t)
                    .query(con)?;
                Ok(got.map(|raw| Fetched { raw, queue: q }))
            }
            FetchMode::Basic => {
                if let Some(t) = block_s {
                    let mut cmd = redis::cmd("BRPOP");
                    for q in &self.queues {
                        cmd.arg(keys::queue(q));
                    }
                    let got: Option<(String, String)> = cmd.arg(t).query(con)?;
                    return Ok(got.map(|(key, raw)| Fetched {
                        queue: key.trim_start_matches("concur:queue:").to_owned(),
                        raw,
                    }));
                }
                for q in &self.queues {
                    let got: Option<String> = redis::cmd("RPOP").arg(keys::queue(q)).query(con)?;
                    if let Some(raw) = got {
                        return Ok(Some(Fetched {
                            raw,
                            queue: q.clone(),
                        }));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Add "this job is no longer in flight" to `pipe` (nothing to do for basic fetch).
    pub fn ack(&self, pipe: &mut redis::Pipeline, job: &Fetched) {
        if self.mode == FetchMode::Reliable {
            pipe.cmd("LREM")
                .arg(keys::processing(&self.id, &job.queue))
                .arg(1)
                .arg(&job.raw)
                .ignore();
        }
    }

    /// Put a fetched job back at the front of its queue, e.g. on TERM.
    pub fn requeue(&self, con: &mut redis::Connection, job: &Fetched) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.ack(&mut pipe, job);
        pipe.cmd("RPUSH")
            .arg(keys::queue(&job.queue))
            .arg(&job.raw)
            .ignore();
        pipe.exec(con)
    }
}

/// Move every job in worker `id`'s processing lists back to the front of its queue; how many.
pub fn requeue_processing(
    con: &mut redis::Connection,
    id: &str,
    queues: &[String],
) -> redis::RedisResult<u64> {
    let mut n = 0;
    for q in queues {
        loop {
            let moved: Option<String> = redis::cmd("LMOVE")
                .arg(keys::processing(id, q))
                .arg(keys::queue(q))
                .arg("RIGHT")
                .arg("RIGHT")
                .query(con)?;
            if moved.is_none() {
                break;
            }
            n += 1;
        }
    }
    Ok(n)
}

/// Registered workers: id -> registration (unparsable entries are skipped).
pub fn registered(con: &mut redis::Connection) -> redis::RedisResult<Vec<(String, Registration)>> {
    let all: Vec<(String, String)> = redis::cmd("HGETALL").arg(keys::PROCESSES).query(con)?;
    Ok(all
        .into_iter()
        .filter_map(|(id, json)| serde_json::from_str(&json).ok().map(|r| (id, r)))
        .collect())
}

/// The reaper: requeue the in-flight jobs of every registered worker whose heartbeat has
/// expired, and forget it. Returns (worker id, jobs requeued) for each one reaped.
pub fn reap(con: &mut redis::Connection, me: &str) -> redis::RedisResult<Vec<(String, u64)>> {
    let mut reaped = Vec::new();
    for (id, reg) in registered(con)? {
        if id == me {
            continue;
        }
        let alive: bool = redis::cmd("EXISTS").arg(keys::beat(&id)).query(con)?;
        if alive {
            continue;
        }
        let n = requeue_processing(con, &id, &reg.queues)?;
        redis::cmd("HDEL").arg(keys::PROCESSES).arg(&id).exec(con)?;
        reaped.push((id, n));
    }
    Ok(reaped)
}

/// Jobs in every registered worker's processing lists (in flight, or awaiting the reaper).
pub fn in_flight_total(con: &mut redis::Connection) -> redis::RedisResult<u64> {
    let mut pipe = redis::pipe();
    let mut any = false;
    for (id, reg) in registered(con)? {
        for q in &reg.queues {
            pipe.cmd("LLEN").arg(keys::processing(&id, q));
            any = true;
        }
    }
    if !any {
        return Ok(0);
    }
    let lens: Vec<u64> = pipe.query(con)?;
    Ok(lens.iter().sum())
}
