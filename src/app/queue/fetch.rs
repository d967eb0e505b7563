//! Taking jobs off a queue, and what happens to a job whose worker dies holding it.
//!
//! **Basic fetch** is `BRPOP`: the job leaves Redis the moment it is fetched. If the worker is
//! killed (`kill -9`, OOM killer, a machine reboot) before the job is done, nobody will ever know
//! it existed. Sidekiq's basic fetch is this `BRPOP`; Resque polls with `LPOP`, which loses a
//! fetched job the same way.
//!
//! **Reliable fetch** is `BLMOVE queue processing RIGHT LEFT`: one atomic step moves the job from
//! the queue to a list that belongs to one fetching slot of this worker
//! (`concur:processing:<worker>:<slot>:<queue>`: a processor thread, or the fork loop), and the
//! job is removed from there (`LREM`) only when it is finished or has been handed to the retry
//! set. A killed worker leaves its jobs in those lists. Every worker runs a *reaper*: a
//! registered worker whose heartbeat key has expired is dead, and its processing lists are moved
//! back onto their queues in one Lua script (atomic, so two reapers never requeue the same job
//! twice, and a worker that beats again is never reaped half-way).
//!
//! The acknowledgement costs no round trip of its own: the `LREM` of a finished job travels in
//! the same pipeline as the fetch of the next one (`LREM`, then `BLMOVE`: two commands, one round
//! trip per job).
//!
//! A slot's lists are written by that slot alone, so after a broken connection it knows exactly
//! what they should hold: a fetch whose reply was lost may have moved a job there that the slot
//! never saw, and [`Fetcher::recover`] puts such strays back on their queues (otherwise they
//! would wait for ever on a worker that is alive).
//!
//! The price is *at-least-once*: a job whose worker died after the job's effects but before the
//! `LREM` runs again, and so does the job of a worker that was only too slow to beat. Jobs must be
//! idempotent. concur counts those duplicates instead of hiding them (`--record-jids`).
//!
//! **Batched** (`--batch K`, reliable only): one script acknowledges the whole previous batch
//! (it deletes the slot's lists: by then everything in them has finished) and moves the next K
//! jobs into the processing list at once (`LMPOP` + `LPUSH`): a round trip and a handful of
//! commands per K jobs. The price: a batch waits in one worker, so a slow job delays the jobs
//! behind it while other workers may be idle, and a worker killed mid-batch has all of it
//! requeued, the jobs it had finished too (up to K-1 run twice, where K=1 runs at most one).
//!
//! Several queues are fetched in priority order: a script that `LMOVE`s from the first queue
//! holding a job (one job per fetch, never one from each), then a blocking `BLMOVE` on one of
//! them (BLMOVE takes a single source list) for at most the fetch timeout.

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
    /// Fetching slots, each with its own processing lists (a thread each; 1 for `--fork`).
    #[serde(default = "one")]
    pub slots: u64,
}

fn one() -> u64 {
    1
}

impl Registration {
    /// Every processing list of worker `id`, with the queue its jobs came from.
    pub fn processing_lists(&self, id: &str) -> Vec<(String, String)> {
        (0..self.slots.max(1))
            .flat_map(|slot| {
                self.queues
                    .iter()
                    .map(move |q| (keys::processing(id, slot, q), q.clone()))
            })
            .collect()
    }
}

/// A fetched job: its payload exactly as stored (LREM needs the same bytes) and its queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub raw: String,
    pub queue: String,
}

/// One slot's way of fetching for one worker.
pub struct Fetcher {
    pub mode: FetchMode,
    pub id: String,
    pub slot: u64,
    pub queues: Vec<String>,
    next_blocking: usize,
    /// Each queue's key and this slot's processing list for it, in the order of `queues`.
    keys: Vec<(String, String)>,
    /// The commands of a round trip, packed into buffers kept from one round trip to the next.
    packed: Packed,
}

/// Commands packed into one buffer for one round trip, reusing its allocations: a round trip
/// of [`Fetcher::fetch`] then allocates little more than its reply. In `worker --fork` every
/// page the parent writes after a fork is a copy-on-write fault, and building a fresh pipeline
/// (a `Cmd` per command, growing as its arguments come, then the packed copy) took 8 of its ~25
/// faults a job.
#[derive(Default)]
struct Packed {
    bytes: Vec<u8>,
    cmd: redis::Cmd,
    count: usize,
}

impl Packed {
    fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }

    /// Append the command `build` writes.
    fn push(&mut self, build: impl FnOnce(&mut redis::Cmd)) {
        self.cmd.clear();
        build(&mut self.cmd);
        self.cmd.write_packed_command(&mut self.bytes);
        self.count += 1;
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Send the commands and read their replies (a server error in one is an error).
    fn query(&self, con: &mut redis::Connection) -> redis::RedisResult<Vec<redis::Value>> {
        use redis::ConnectionLike;
        let replies = con.req_packed_commands(&self.bytes, 0, self.count)?;
        if let Some(redis::Value::ServerError(e)) = replies
            .iter()
            .find(|v| matches!(v, redis::Value::ServerError(_)))
        {
            return Err(e.clone().into());
        }
        Ok(replies)
    }
}

/// What a round trip of [`Fetcher::fetch`] brought back.
pub struct Fetch {
    /// The next job, if there was one.
    pub job: Option<Fetched>,
    /// Of the acknowledgements sent with it, the jobs that were no longer in the processing
    /// list (requeued by a reaper while this worker was presumed dead).
    pub not_owned: Vec<Fetched>,
}

impl Fetcher {
    pub fn new(mode: FetchMode, id: &str, slot: u64, queues: &[String]) -> Fetcher {
        Fetcher {
            mode,
            id: id.to_owned(),
            slot,
            queues: queues.to_vec(),
            next_blocking: 0,
            keys: queues
                .iter()
                .map(|q| (keys::queue(q), keys::processing(id, slot, q)))
                .collect(),
            packed: Packed::default(),
        }
    }

    /// This slot's processing list for queue `q`.
    pub fn list(&self, q: &str) -> String {
        keys::processing(&self.id, self.slot, q)
    }

    /// This slot's processing list for queue `q`, without building its name again for a queue
    /// of `queues`.
    fn list_of(&self, q: &str) -> std::borrow::Cow<'_, str> {
        match self.queues.iter().position(|x| x == q) {
            Some(i) => self.keys[i].1.as_str().into(),
            None => self.list(q).into(),
        }
    }

    /// Acknowledge the finished jobs `acks` and fetch the next job, waiting at most `block_s`
    /// seconds for one (`None`: do not wait), in one round trip when one queue is fetched (or
    /// when a job is waiting on the first); the acknowledgements run first.
    pub fn fetch(
        &mut self,
        con: &mut redis::Connection,
        acks: &[Fetched],
        block_s: Option<f64>,
    ) -> redis::RedisResult<Fetch> {
        let mut pipe = std::mem::take(&mut self.packed);
        pipe.clear();
        self.add_acks(&mut pipe, acks);
        let blocking_only = self.queues.len() == 1 && block_s.is_some();
        if !blocking_only {
            self.add_poll(&mut pipe);
        }
        let mut blocking = None;
        if blocking_only {
            blocking = self.add_block(&mut pipe, block_s.unwrap_or(0.0));
        }
        let replies = if pipe.is_empty() {
            Ok(vec![])
        } else {
            pipe.query(con)
        };
        self.packed = pipe;
        let mut replies = replies?;
        let rest = replies.split_off(self.ack_replies(acks).min(replies.len()));
        let not_owned = self.not_owned(acks, &replies)?;
        let mut job = self.first_job(rest, !blocking_only, blocking)?;
        if job.is_none() && !blocking_only {
            if let Some(t) = block_s {
                let mut pipe = Packed::default();
                let q = self.add_block(&mut pipe, t);
                let replies = pipe.query(con)?;
                job = self.first_job(replies, false, q)?;
            }
        }
        Ok(Fetch { job, not_owned })
    }

    /// Acknowledge `acks` alone (no next job wanted); the jobs that were no longer ours.
    pub fn ack(
        &self,
        con: &mut redis::Connection,
        acks: &[Fetched],
    ) -> redis::RedisResult<Vec<Fetched>> {
        if self.ack_replies(acks) == 0 {
            return Ok(vec![]);
        }
        let mut pipe = Packed::default();
        self.add_acks(&mut pipe, acks);
        let replies = pipe.query(con)?;
        self.not_owned(acks, &replies)
    }

    fn ack_replies(&self, acks: &[Fetched]) -> usize {
        match self.mode {
            FetchMode::Reliable => acks.len(),
            FetchMode::Basic => 0,
        }
    }

    fn add_acks(&self, pipe: &mut Packed, acks: &[Fetched]) {
        if self.mode == FetchMode::Reliable {
            for job in acks {
                let list = self.list_of(&job.queue);
                pipe.push(|c| {
                    c.arg("LREM").arg(&*list).arg(1).arg(&job.raw);
                });
            }
        }
    }

    fn not_owned(
        &self,
        acks: &[Fetched],
        replies: &[redis::Value],
    ) -> redis::RedisResult<Vec<Fetched>> {
        let mut gone = Vec::new();
        for (job, reply) in acks.iter().zip(replies) {
            if redis::from_redis_value_ref::<i64>(reply)? == 0 {
                gone.push(job.clone());
            }
        }
        Ok(gone)
    }

    /// A non-blocking take of one job, from the first queue (in priority order) that has one:
    /// `LMOVE` (or `RPOP`) for one queue; for several, a script that tries them in turn and
    /// stops at the first job, so that one fetch never moves two jobs (a second one would wait
    /// in the processing list, or with basic fetch vanish, until the worker exits).
    fn add_poll(&self, pipe: &mut Packed) {
        let keys = &self.keys;
        pipe.push(|c| {
            match (self.mode, keys.as_slice()) {
                (FetchMode::Reliable, [(q, list)]) => {
                    c.arg("LMOVE").arg(q).arg(list).arg("RIGHT").arg("LEFT")
                }
                (FetchMode::Basic, [(q, _)]) => c.arg("RPOP").arg(q),
                (FetchMode::Reliable, keys) => {
                    c.arg("EVAL").arg(POLL_RELIABLE).arg(2 * keys.len());
                    for (q, list) in keys {
                        c.arg(q).arg(list);
                    }
                    c
                }
                (FetchMode::Basic, keys) => {
                    c.arg("EVAL").arg(POLL_BASIC).arg(keys.len());
                    for (q, _) in keys {
                        c.arg(q);
                    }
                    c
                }
            };
        });
    }

    /// A blocking take of at most `t` seconds: BLMOVE from one queue (round robin), or BRPOP
    /// from all of them; the queue it blocks on, for BLMOVE.
    fn add_block(&mut self, pipe: &mut Packed, t: f64) -> Option<String> {
        match self.mode {
            FetchMode::Reliable => {
                let i = self.next_blocking % self.queues.len();
                self.next_blocking = self.next_blocking.wrapping_add(1);
                let (q, list) = &self.keys[i];
                pipe.push(|c| {
                    c.arg("BLMOVE")
                        .arg(q)
                        .arg(list)
                        .arg("RIGHT")
                        .arg("LEFT")
                        .arg(t);
                });
                Some(self.queues[i].clone())
            }
            FetchMode::Basic => {
                pipe.push(|c| {
                    c.arg("BRPOP");
                    for (q, _) in &self.keys {
                        c.arg(q);
                    }
                    c.arg(t);
                });
                None
            }
        }
    }

    /// The job in the reply to one poll ([`Fetcher::add_poll`]), if there was one.
    fn polled(&self, reply: redis::Value) -> redis::RedisResult<Option<Fetched>> {
        let got = if let [q] = self.queues.as_slice() {
            let raw: Option<String> = redis::from_redis_value(reply)?;
            raw.map(|raw| (q.clone(), raw))
        } else {
            let hit: Option<(usize, String)> = redis::from_redis_value(reply)?;
            hit.and_then(|(i, raw)| Some((self.queues.get(i.checked_sub(1)?)?.clone(), raw)))
        };
        Ok(got.map(|(queue, raw)| Fetched { raw, queue }))
    }

    /// The job in the replies to a poll (`polled`, see [`Fetcher::add_poll`]), else to a
    /// blocking take (`blocked_on`: its queue for BLMOVE, `None` for BRPOP, which names its
    /// queue).
    fn first_job(
        &self,
        replies: Vec<redis::Value>,
        polled: bool,
        blocked_on: Option<String>,
    ) -> redis::RedisResult<Option<Fetched>> {
        let mut replies = replies.into_iter();
        if polled {
            if let Some(job) = self.polled(replies.next().unwrap_or(redis::Value::Nil))? {
                return Ok(Some(job));
            }
        }
        let Some(last) = replies.next() else {
            return Ok(None);
        };
        Ok(match (self.mode, blocked_on) {
            (FetchMode::Reliable, Some(q)) => {
                let got: Option<String> = redis::from_redis_value(last)?;
                got.map(|raw| Fetched { raw, queue: q })
            }
            _ => {
                let got: Option<(String, String)> = redis::from_redis_value(last)?;
                got.map(|(key, raw)| Fetched {
                    queue: key.trim_start_matches("concur:queue:").to_owned(),
                    raw,
                })
            }
        })
    }

    /// Put a fetched job back at the front of its queue (on TERM, or fetched as USR2 arrived),
    /// unless it has left this slot's processing list already (a reaper requeued it).
    pub fn requeue(&self, con: &mut redis::Connection, job: &Fetched) -> redis::RedisResult<()> {
        match self.mode {
            FetchMode::Reliable => redis::cmd("EVAL")
                .arg(REQUEUE_ONE)
                .arg(2)
                .arg(self.list(&job.queue))
                .arg(keys::queue(&job.queue))
                .arg(&job.raw)
                .exec(con),
            FetchMode::Basic => redis::cmd("RPUSH")
                .arg(keys::queue(&job.queue))
                .arg(&job.raw)
                .exec(con),
        }
    }

    /// After a broken connection: put back on their queues the jobs in this slot's processing
    /// lists that the slot does not hold (`held`: the jobs it runs), i.e. jobs moved there by a
    /// fetch whose reply was lost. Acknowledge what finished before calling this. How many.
    pub fn recover(
        &self,
        con: &mut redis::Connection,
        held: &[Fetched],
    ) -> redis::RedisResult<u64> {
        if self.mode != FetchMode::Reliable {
            return Ok(0);
        }
        let mut n = 0;
        for q in &self.queues {
            let list = self.list(q);
            let items: Vec<String> = redis::cmd("LRANGE").arg(&list).arg(0).arg(-1).query(con)?;
            for raw in items {
                if held.iter().any(|h| h.raw == raw && &h.queue == q) {
                    continue;
                }
                let moved: i64 = redis::cmd("EVAL")
                    .arg(REQUEUE_ONE)
                    .arg(2)
                    .arg(&list)
                    .arg(keys::queue(q))
                    .arg(&raw)
                    .query(con)?;
                n += moved as u64;
            }
        }
        Ok(n)
    }
}

/// KEYS: the queues in priority order, then this slot's processing lists in the same order.
/// ARGV[1] how many jobs to take, ARGV[2] '1' to acknowledge first. Acknowledge the previous
/// batch by deleting the lists (everything left in them has finished: failures left them one by
/// one), then move up to ARGV[1] jobs from the first non-empty queue into its processing list.
/// Returns {jobs that were acknowledged, index of the queue (0: none), the jobs...}.
const BATCH: &str = r#"
local n = #KEYS / 2
local acked = 0
if ARGV[2] == '1' then
  for i = n + 1, 2 * n do
    acked = acked + redis.call('LLEN', KEYS[i])
    redis.call('DEL', KEYS[i])
  end
end
local args = {'LMPOP', n}
for i = 1, n do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'RIGHT'
args[#args + 1] = 'COUNT'
args[#args + 1] = ARGV[1]
local got = redis.call(unpack(args))
if not got then return {acked, 0} end
local idx = 0
for i = 1, n do if KEYS[i] == got[1] then idx = i end end
redis.call('LPUSH', KEYS[n + idx], unpack(got[2]))
local out = {acked, idx}
for _, v in ipairs(got[2]) do out[#out + 1] = v end
return out
"#;

/// The most jobs one batched fetch takes (Lua unpacks them onto its stack).
pub const MAX_BATCH: u64 = 1000;

impl Fetcher {
    /// Reliable batched fetch: acknowledge `acks` (the whole previous batch, which must have
    /// finished) and move up to `k` jobs into this slot's processing list, in one script and one
    /// round trip. The jobs, and how many of `acks` were no longer in the list.
    pub fn fetch_batch(
        &self,
        con: &mut redis::Connection,
        acks: &[Fetched],
        k: u64,
    ) -> redis::RedisResult<(Vec<Fetched>, u64)> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BATCH).arg(2 * self.queues.len());
        for q in &self.queues {
            cmd.arg(keys::queue(q));
        }
        for q in &self.queues {
            cmd.arg(self.list(q));
        }
        cmd.arg(k.clamp(1, MAX_BATCH))
            .arg(if acks.is_empty() { "0" } else { "1" });
        let mut reply: Vec<redis::Value> = cmd.query(con)?;
        let jobs = reply.split_off(2.min(reply.len()));
        let mut head = reply.into_iter();
        let acked: u64 = redis::from_redis_value(head.next().unwrap_or(redis::Value::Nil))?;
        let idx: usize = redis::from_redis_value(head.next().unwrap_or(redis::Value::Nil))?;
        let gone = (acks.len() as u64).saturating_sub(acked);
        let Some(queue) = idx.checked_sub(1).and_then(|i| self.queues.get(i)) else {
            return Ok((vec![], gone));
        };
        let jobs = jobs
            .into_iter()
            .map(|v| {
                redis::from_redis_value::<String>(v).map(|raw| Fetched {
                    raw,
                    queue: queue.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((jobs, gone))
    }
}

/// A poll of several queues (reliable): KEYS are queue, processing list, queue, list, ... in
/// priority order; the first job found is moved and returned with its queue's number (from 1).
const POLL_RELIABLE: &str = r#"
for i = 1, #KEYS, 2 do
  local job = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'RIGHT', 'LEFT')
  if job then return {(i + 1) / 2, job} end
end
return false
"#;

/// A poll of several queues (basic): KEYS are the queues in priority order.
const POLL_BASIC: &str = r#"
for i = 1, #KEYS do
  local job = redis.call('RPOP', KEYS[i])
  if job then return {i, job} end
end
return false
"#;

/// KEYS[1] a processing list, KEYS[2] its queue: move ARGV[1] from the list to the front (the
/// right, where jobs are taken) of the queue, only if it was still in the list.
const REQUEUE_ONE: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"#;

/// Move every job in worker `id`'s processing lists back to the front of its queue; how many.
pub fn requeue_processing(
    con: &mut redis::Connection,
    id: &str,
    reg: &Registration,
) -> redis::RedisResult<u64> {
    let mut n = 0;
    for (list, q) in reg.processing_lists(id) {
        loop {
            let moved: Option<String> = redis::cmd("LMOVE")
                .arg(&list)
                .arg(keys::queue(&q))
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

/// KEYS[1] the worker's heartbeat, KEYS[2] `concur:processes`, then pairs (processing list, its
/// queue); ARGV[1] the worker id. If the heartbeat is still gone: requeue every job in the
/// lists and forget the worker, all in one step; -1 if it beat again in the meantime.
const REAP: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = 0
for i = 3, #KEYS, 2 do
  while redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'RIGHT', 'RIGHT') do n = n + 1 end
end
redis.call('HDEL', KEYS[2], ARGV[1])
return n
"#;

/// Whether worker `id`'s heartbeat key exists.
pub fn beating(con: &mut redis::Connection, id: &str) -> redis::RedisResult<bool> {
    redis::cmd("EXISTS").arg(keys::beat(id)).query(con)
}

/// Requeue the in-flight jobs of worker `id` and forget it, if its heartbeat is (still) gone:
/// the number of jobs requeued, or `None` if it is alive after all.
pub fn reap_one(
    con: &mut redis::Connection,
    id: &str,
    reg: &Registration,
) -> redis::RedisResult<Option<u64>> {
    let lists = reg.processing_lists(id);
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(REAP)
        .arg(2 + 2 * lists.len())
        .arg(keys::beat(id))
        .arg(keys::PROCESSES);
    for (list, q) in &lists {
        cmd.arg(list).arg(keys::queue(q));
    }
    let n: i64 = cmd.arg(id).query(con)?;
    Ok(u64::try_from(n).ok())
}

/// Jobs in every registered worker's processing lists (in flight, or awaiting the reaper).
pub fn in_flight_total(con: &mut redis::Connection) -> redis::RedisResult<u64> {
    let mut pipe = redis::pipe();
    let mut any = false;
    for (id, reg) in registered(con)? {
        for (list, _) in reg.processing_lists(&id) {
            pipe.cmd("LLEN").arg(list);
            any = true;
        }
    }
    if !any {
        return Ok(0);
    }
    let lens: Vec<u64> = pipe.query(con)?;
    Ok(lens.iter().sum())
}
