//! What happens to a job once it has run: success is counted (in memory, flushed with the
//! heartbeat) and acknowledged with the next fetch; a failure goes to the retry set (on
//! Sidekiq's schedule) or to the dead set; a payload that is not a job is buried. Both shapes
//! settle the same way.
//!
//! Settling may meet a Redis that is down, so it is made to be retried: the failed job's new
//! payload is computed once ([`Plan`]), and one Lua script takes the job out of the processing
//! list and, only if it was still there, adds it to the retry or dead set. Run twice, it adds
//! nothing twice; and a job that a reaper requeued while this worker was presumed dead (a
//! stopped or stalled worker) is no longer ours: it is neither acknowledged nor retried here,
//! since its requeued copy runs elsewhere.

use super::Worker;
use crate::app::queue::fetch::{FetchMode, Fetched, Fetcher};
use crate::app::queue::job::{self, now, Failure, Job, Next};
use crate::app::queue::{keys, DEAD_MAX};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Instant;

/// A job that has run (or a payload that could not), waiting to be recorded and settled.
pub(super) struct Finished {
    pub fetched: Fetched,
    jid: String,
    outcome: Outcome,
}

enum Outcome {
    /// Ran to the end; `recorded`: its `--record-jids` count is written; `run`: this run's
    /// token, so that a count retried after a lost reply is not counted twice.
    Done { recorded: bool, run: u64 },
    /// Failed (or not a job): where it goes.
    Failed(Plan),
}

/// Where a failed job goes, decided once so that a retried settlement writes the same thing.
struct Plan {
    /// The rewritten payload and the sorted set it goes to with its score; `None`: dropped
    /// (`"retry": false`).
    to: Option<(String, &'static str, f64)>,
    /// The log line once it is settled.
    line: String,
}

/// KEYS[1] the processing list, KEYS[2] the retry or dead set. ARGV[1] the fetch mode, ARGV[2]
/// the payload as fetched, ARGV[3] the new payload ('' for none), ARGV[4] its score, ARGV[5] how
/// many entries the set keeps (0: no limit). 1 if settled here, 0 if the job was no longer in
/// the processing list.
const SETTLE_FAILURE: &str = r#"
if ARGV[1] == 'reliable' and redis.call('LREM', KEYS[1], 1, ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  local keep = tonumber(ARGV[5])
  if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -keep - 1) end
end
return 1
"#;

/// KEYS[1] `concur:done`, KEYS[2] `concur:done:runs`; ARGV[1] the jid, ARGV[2] the run's token:
/// count one more run of the jid, once per token.
const RECORD: &str = r#"
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
end
return 1
"#;

/// What settling one job did.
pub(super) enum Settled {
    /// Recorded; acknowledge it with the next round trip.
    Ack,
    /// Settled for good (a failure, in the same script that took it out of the list).
    Done,
}

impl Worker {
    /// A job ran: count it (in memory) and say what is left to do in Redis.
    pub(super) fn finished(
        &self,
        fetched: Fetched,
        job: Job,
        result: Result<(), Failure>,
        started: Instant,
    ) -> Finished {
        self.busy.finished();
        let outcome = match result {
            Ok(()) => {
                self.processed.fetch_add(1, SeqCst);
                if self.args.verbose {
                    self.log(&format!(
                        "done jid={} class={} attempt={} ms={:.1} t={:.3}",
                        job.jid,
                        job.class,
                        job.attempts_before() + 1,
                        started.elapsed().as_secs_f64() * 1e3,
                        now()
                    ));
                }
                Outcome::Done {
                    recorded: false,
                    run: self.runs.fetch_add(1, SeqCst),
                }
            }
            Err(failure) => {
                self.failed.fetch_add(1, SeqCst);
                Outcome::Failed(self.plan_failure(job.clone(), &failure))
            }
        };
        Finished {
            fetched,
            jid: job.jid,
            outcome,
        }
    }

    /// A payload that is not a job: straight to the dead set (trimmed like every dead job), so
    /// it is kept for a human.
    pub(super) fn bury(&self, fetched: Fetched, why: &str) -> Finished {
        self.failed.fetch_add(1, SeqCst);
        let to = Some((fetched.raw.clone(), keys::DEAD, now()));
        Finished {
            fetched,
            jid: String::new(),
            outcome: Outcome::Failed(Plan {
                to,
                line: format!("dead: {why}"),
            }),
        }
    }

    /// Record `failure` on `job` and decide where it goes ([`job::fail`]), once.
    fn plan_failure(&self, mut job: Job, failure: &Failure) -> Plan {
        let attempt = job.attempts_before().saturating_add(1);
        let next = job::fail(
            &mut job,
            failure,
            self.args.max_retries,
            fastrand::u64(0..10),
        );
        let t = now();
        match next {
            Next::Retry { count, delay_s } => {
                let scaled = delay_s as f64 * self.args.time_scale;
                Plan {
                    to: Some((job.to_json(), keys::RETRY, t + scaled)),
                    line: format!(
                        "retry jid={} class={} attempt={attempt} retry_count={count} delay_s={delay_s} scaled_s={scaled:.3} t={t:.3} error=\"{}: {}\"",
                        job.jid, job.class, failure.class, failure.message
                    ),
                }
            }
            Next::Dead { count } => Plan {
                to: Some((job.to_json(), keys::DEAD, t)),
                line: format!(
                    "dead jid={} class={} attempt={attempt} retry_count={count} t={t:.3} error=\"{}: {}\"",
                    job.jid, job.class, failure.class, failure.message
                ),
            },
            Next::Discard => Plan {
                to: None,
                line: format!(
                    "discarded jid={} class={} (retry: false) error=\"{}: {}\"",
                    job.jid, job.class, failure.class, failure.message
                ),
            },
        }
    }

    /// Do what is left of `f` in Redis. Safe to call again after an error: every step is
    /// idempotent (a lost reply of `--record-jids`'s count can count a run twice, which the
    /// duplicates report shows).
    pub(super) fn settle(
        &self,
        con: &mut redis::Connection,
        fetcher: &Fetcher,
        f: &mut Finished,
    ) -> redis::RedisResult<Settled> {
        match &mut f.outcome {
            Outcome::Done { recorded, run } => {
                if self.args.record_jids && !*recorded {
                    // A separate step, like a real job's side effect: a worker killed between
                    // this and the acknowledgement runs the job again (counted as a duplicate).
                    redis::cmd("EVAL")
                        .arg(RECORD)
                        .arg(2)
                        .arg(keys::DONE)
                        .arg(keys::DONE_RUNS)
                        .arg(&f.jid)
                        .arg(format!("{}:{run}", self.id))
                        .exec(con)?;
                    *recorded = true;
                }
                Ok(Settled::Ack)
            }
            Outcome::Failed(plan) => {
                let (payload, set, score) =
                    plan.to.clone().unwrap_or((String::new(), keys::DEAD, 0.0));
                let keep = if set == keys::DEAD { DEAD_MAX } else { 0 };
                let mode = match fetcher.mode {
                    FetchMode::Reliable => "reliable",
                    FetchMode::Basic => "basic",
                };
                let owned: i64 = redis::cmd("EVAL")
                    .arg(SETTLE_FAILURE)
                    .arg(2)
                    .arg(fetcher.list(&f.fetched.queue))
                    .arg(set)
                    .arg(mode)
                    .arg(&f.fetched.raw)
                    .arg(payload)
                    .arg(score)
                    .arg(keep)
                    .query(con)?;
                if owned == 1 {
                    self.log(&plan.line);
                } else {
                    self.not_owned(&f.fetched);
                }
                Ok(Settled::Done)
            }
        }
    }

    /// A finished job was no longer in our processing list: a reaper requeued it while we were
    /// presumed dead, so its copy runs (or ran) elsewhere; we do not acknowledge it.
    pub(super) fn not_owned(&self, fetched: &Fetched) {
        let jid = Job::parse(&fetched.raw).map(|j| j.jid).unwrap_or_default();
        self.log(&format!(
            "not acknowledging jid={jid}: it left this worker's processing list while it ran (a reaper requeued it while this worker was presumed dead, or an earlier try after a lost reply settled it); its copy runs elsewhere (at-least-once)"
        ));
    }
}
