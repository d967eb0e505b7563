//! What happens to a job once it has run: success is counted, a failure goes to the retry set
//! (on Sidekiq's schedule) or to the dead set, and a payload that is not a job is buried. Both
//! shapes settle the same way; the job leaves the processing list in the same transaction.

use super::Worker;
use crate::app::queue::fetch::{Fetched, Fetcher};
use crate::app::queue::job::{self, now, Failure, Job, Next};
use crate::app::queue::{keys, DEAD_MAX};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Instant;

impl Worker {
    /// Settle a finished job: success is counted (and recorded), failure goes to the retry or
    /// dead set; in both cases the job leaves the processing list in the same transaction.
    pub(super) fn settle(
        &self,
        con: &mut redis::Connection,
        fetcher: &Fetcher,
        fetched: &Fetched,
        job: Job,
        result: Result<(), Failure>,
        started: Instant,
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        fetcher.ack(&mut pipe, fetched);
        match result {
            Ok(()) => self.settle_success(con, pipe, &job, started),
            Err(failure) => self.settle_failure(con, pipe, job, &failure),
        }
    }

    /// Count a job that ran to the end; `pipe` already acknowledges it.
    fn settle_success(
        &self,
        con: &mut redis::Connection,
        mut pipe: redis::Pipeline,
        job: &Job,
        started: Instant,
    ) -> redis::RedisResult<()> {
        if self.args.record_jids {
            // A separate step, like a real job's side effect: a worker killed between this and
            // the acknowledgement runs the job again (counted as a duplicate).
            redis::cmd("HINCRBY")
                .arg(keys::DONE)
                .arg(&job.jid)
                .arg(1)
                .exec(con)?;
        }
        pipe.cmd("INCR").arg(keys::PROCESSED).ignore();
        pipe.exec(con)?;
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
        Ok(())
    }

    /// Count a job that failed and send it where [`job::fail`] says: back to the retry set, to
    /// the dead set, or (with `"retry": false`) nowhere. `pipe` already acknowledges it.
    fn settle_failure(
        &self,
        con: &mut redis::Connection,
        mut pipe: redis::Pipeline,
        mut job: Job,
        failure: &Failure,
    ) -> redis::RedisResult<()> {
        let attempt = job.attempts_before() + 1;
        let next = job::fail(
            &mut job,
            failure,
            self.args.max_retries,
            fastrand::u64(0..10),
        );
        pipe.cmd("INCR").arg(keys::FAILED).ignore();
        let t = now();
        let line = match next {
            Next::Retry { count, delay_s } => {
                let scaled = delay_s as f64 * self.args.time_scale;
                to_retry_set(&mut pipe, &job, t + scaled);
                format!(
                    "retry jid={} class={} attempt={attempt} retry_count={count} delay_s={delay_s} scaled_s={scaled:.3} t={t:.3} error=\"{}: {}\"",
                    job.jid, job.class, failure.class, failure.message
                )
            }
            Next::Dead { count } => {
                to_dead_set(&mut pipe, &job, t);
                format!(
                    "dead jid={} class={} attempt={attempt} retry_count={count} t={t:.3} error=\"{}: {}\"",
                    job.jid, job.class, failure.class, failure.message
                )
            }
            Next::Discard => format!(
                "discarded jid={} class={} (retry: false) error=\"{}: {}\"",
                job.jid, job.class, failure.class, failure.message
            ),
        };
        pipe.exec(con)?;
        self.failed.fetch_add(1, SeqCst);
        self.log(&line);
        Ok(())
    }

    /// A payload that is not a job: straight to the dead set, so it is kept for a human.
    pub(super) fn bury(
        &self,
        con: &mut redis::Connection,
        fetcher: &Fetcher,
        fetched: &Fetched,
        why: &str,
    ) -> redis::RedisResult<()> {
        self.log(&format!("dead: {why}"));
        let mut pipe = redis::pipe();
        pipe.atomic();
        fetcher.ack(&mut pipe, fetched);
        pipe.cmd("ZADD")
            .arg(keys::DEAD)
            .arg(now())
            .arg(&fetched.raw)
            .ignore();
        pipe.cmd("INCR").arg(keys::FAILED).ignore();
        pipe.exec(con)
    }
}

/// Add "retry `job` at `at`" to `pipe`.
fn to_retry_set(pipe: &mut redis::Pipeline, job: &Job, at: f64) {
    pipe.cmd("ZADD")
        .arg(keys::RETRY)
        .arg(at)
        .arg(job.to_json())
        .ignore();
}

/// Add "`job` died at `t`" to `pipe`, keeping only the newest [`DEAD_MAX`] dead jobs.
fn to_dead_set(pipe: &mut redis::Pipeline, job: &Job, t: f64) {
    pipe.cmd("ZADD")
        .arg(keys::DEAD)
        .arg(t)
        .arg(job.to_json())
        .ignore();
    pipe.cmd("ZREMRANGEBYRANK")
        .arg(keys::DEAD)
        .arg(0)
        .arg(-DEAD_MAX - 1)
        .ignore();
}
