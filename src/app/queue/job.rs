//! What a queued job is: Sidekiq's JSON payload, how to run one, and when to retry it.
//!
//! Jobs are data, not closures: `{"class", "args", "jid", "queue", "created_at", "enqueued_at",
//! "retry"}`, exactly the fields Sidekiq writes, so `redis-cli LRANGE concur:queue:default 0 -1`
//! shows what is waiting and any language could enqueue or run them. A failure adds Sidekiq's
//! bookkeeping fields (`retry_count`, `error_class`, `error_message`, `error_backtrace`,
//! `failed_at`, `retried_at`); fields this code does not know are kept as they came.
//!
//! The classes are the `run` workloads (`EmojiJob`, `CpuJob`, `SleepJob`, `NoopJob`) plus
//! `FlakyJob [i, K]`, a no-op that fails its first K attempts on purpose (it counts attempts from
//! its own `retry_count`, so it needs no state of its own), which is what retries, the schedule
//! and the dead set are tested and shown with.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as Sidekiq stores times (a float).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A job as it sits in Redis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub class: String,
    pub args: Vec<Value>,
    pub jid: String,
    pub queue: String,
    pub created_at: f64,
    pub enqueued_at: f64,
    /// `true` (the worker's `--max-retries`), `false` (never), or a number of retries.
    pub retry: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_backtrace: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_at: Option<f64>,
    /// Anything else another client put in the payload, kept as it was.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl Job {
    pub fn new(class: &str, args: Vec<Value>, jid: String, queue: &str, retry: Value) -> Job {
        let t = now();
        Job {
            class: class.into(),
            args,
            jid,
            queue: queue.into(),
            created_at: t,
            enqueued_at: t,
            retry,
            retry_count: None,
            error_class: None,
            error_message: None,
            error_backtrace: None,
            failed_at: None,
            retried_at: None,
            extra: serde_json::Map::new(),
        }
    }

    pub fn parse(payload: &str) -> Result<Job, String> {
        serde_json::from_str(payload).map_err(|e| format!("bad job payload {payload:?}: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a job always serialises")
    }

    /// Attempts made before this one: 0 for a fresh job, `retry_count + 1` after failures.
    pub fn attempts_before(&self) -> u64 {
        self.retry_count.map_or(0, |c| c.saturating_add(1))
    }

    /// How many retries this job gets, given the worker's default for `"retry": true`.
    pub fn max_retries(&self, default: u64) -> u64 {
        match &self.retry {
            Value::Bool(false) | Value::Null => 0,
            Value::Number(n) => n.as_u64().unwrap_or(0),
            _ => default,
        }
    }

    fn arg(&self, n: usize) -> Result<u64, Failure> {
        self.args.get(n).and_then(Value::as_u64).ok_or_else(|| {
            Failure::new(
                "ArgumentError",
                format!(
                    "{} {}: argument {n} missing or not a number",
                    self.class, self.jid
                ),
            )
        })
    }
}

/// Why a job failed, as Sidekiq records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub class: String,
    pub message: String,
    pub backtrace: Vec<String>,
}

/// Frames of a backtrace kept in a failed job (Sidekiq keeps a configurable number too).
const BACKTRACE_LINES: usize = 20;

impl Failure {
    /// A failure with the backtrace of where it was raised.
    pub fn new(class: &str, message: String) -> Failure {
        let bt = std::backtrace::Backtrace::force_capture().to_string();
        Failure {
            class: class.into(),
            message,
            backtrace: bt
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(BACKTRACE_LINES)
                .map(String::from)
                .collect(),
        }
    }

    /// A failure with no backtrace to show (the job's process was killed, say).
    pub fn bare(class: &str, message: String, why_none: &str) -> Failure {
        Failure {
            class: class.into(),
            message,
            backtrace: vec![format!("(no backtrace: {why_none})")],
        }
    }
}

/// Run one job in this process (a job that needs Redis fails: see [`perform_with`]).
pub fn perform(job: &Job) -> Result<(), Failure> {
    perform_with(job, None)
}

/// Run one job, with the worker's Redis connection for the jobs whose effect lives in Redis
/// (`PayJob`, `IdempotentPayJob`).
pub fn perform_with(job: &Job, con: Option<&mut redis::Connection>) -> Result<(), Failure> {
    match job.class.as_str() {
        "PayJob" | "IdempotentPayJob" => pay(job, con),
        "NoopJob" => Ok(()),
        "EmojiJob" => crate::workload::emoji::perform(job.arg(0)?, job.arg(1)?)
            .map_err(|e| Failure::new("IOError", format!("EmojiJob {}: {e}", job.jid))),
        "CpuJob" => crate::workload::cpu::perform(job.arg(0)?, job.arg(1)?)
            .map(drop)
            .map_err(|e| Failure::new("CpuCheckError", format!("CpuJob {}: {e}", job.jid))),
        "SleepJob" => {
            std::thread::sleep(std::time::Duration::from_millis(job.arg(1)?));
            Ok(())
        }
        "FlakyJob" => {
            let fail_first = job.arg(1)?;
            let attempt = job.attempts_before().saturating_add(1);
            if attempt <= fail_first {
                Err(Failure::new(
                    "FlakyError",
                    format!("FlakyJob fails its first {fail_first} attempts; this was attempt {attempt}"),
                ))
            } else {
                Ok(())
            }
        }
        other => Err(Failure::new(
            "NameError",
            format!("uninitialized constant {other} (concur runs EmojiJob, CpuJob, SleepJob, NoopJob, FlakyJob, PayJob, IdempotentPayJob)"),
        )),
    }
}

/// Pay once: an idempotent job's payment and the key that marks it made, in one step.
const PAY_ONCE: &str = "if redis.call('SET', KEYS[1], '1', 'NX') then return redis.call('INCRBY', KEYS[2], ARGV[1]) else return false end";

/// `PayJob [i, amount, pause_ms]` adds `amount` to a balance every time it runs;
/// `IdempotentPayJob` pays only if its own key was not set yet (a Lua script: the check and the
/// payment are one step, so no crash can fall between them). Both count their runs. With
/// `pause_ms`, the first run waits that long *after* paying and before returning (before its
/// worker acknowledges it): the moment `queue-demo` kills its worker, deterministically.
fn pay(job: &Job, con: Option<&mut redis::Connection>) -> Result<(), Failure> {
    use super::keys;
    let con = con.ok_or_else(|| {
        Failure::new(
            "ArgumentError",
            format!(
                "{} {} needs its worker's Redis connection (threaded workers)",
                job.class, job.jid
            ),
        )
    })?;
    let (amount, pause_ms) = (
        job.arg(1)?,
        job.args.get(2).and_then(Value::as_u64).unwrap_or(0),
    );
    let redis_err = |e: redis::RedisError| {
        Failure::new("RedisError", format!("{} {}: {e}", job.class, job.jid))
    };
    redis::cmd("HINCRBY")
        .arg(keys::PAY_RUNS)
        .arg(&job.jid)
        .arg(1)
        .exec(con)
        .map_err(redis_err)?;
    if job.class == "IdempotentPayJob" {
        redis::cmd("EVAL")
            .arg(PAY_ONCE)
            .arg(2)
            .arg(keys::pay_applied(&job.jid))
            .arg(keys::PAY_BALANCE)
            .arg(amount)
            .exec(con)
            .map_err(redis_err)?;
    } else {
        redis::cmd("INCRBY")
            .arg(keys::PAY_BALANCE)
            .arg(amount)
            .exec(con)
            .map_err(redis_err)?;
    }
    if pause_ms > 0 {
        let first: bool = redis::cmd("SET")
            .arg(keys::pay_effect(&job.jid))
            .arg(1)
            .arg("NX")
            .query::<Option<String>>(con)
            .map_err(redis_err)?
            .is_some();
        if first {
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
        }
    }
    Ok(())
}

/// Sidekiq's retry delay in seconds after failure number `count` (0-based, i.e. the new
/// `retry_count`): `count⁴ + 15 + rand(10) × (count + 1)`. `jitter` is the `rand(10)` draw.
pub fn retry_delay_s(count: u64, jitter: u64) -> u64 {
    count
        .saturating_pow(4)
        .saturating_add(15)
        .saturating_add(jitter.min(9).saturating_mul(count.saturating_add(1)))
}

/// The range [`retry_delay_s`] can return for `count`.
pub fn retry_delay_range(count: u64) -> (u64, u64) {
    (retry_delay_s(count, 0), retry_delay_s(count, 9))
}

/// What a failure does to a job: the payload rewritten with Sidekiq's bookkeeping, and where it
/// goes next.
pub enum Next {
    /// Into the retry set, due after this many (unscaled) seconds.
    Retry { count: u64, delay_s: u64 },
    /// Into the dead set: retries exhausted.
    Dead { count: u64 },
    /// `"retry": false`: dropped (Sidekiq's behaviour), only counted as failed.
    Discard,
}

/// Record `failure` on `job` and decide its fate.
pub fn fail(job: &mut Job, failure: &Failure, default_max: u64, jitter: u64) -> Next {
    let t = now();
    let count = job.retry_count.map_or(0, |c| c.saturating_add(1));
    let max = job.max_retries(default_max);
    job.error_class = Some(failure.class.clone());
    job.error_message = Some(failure.message.clone());
    job.error_backtrace = Some(failure.backtrace.clone());
    if job.failed_at.is_none() {
        job.failed_at = Some(t);
    } else {
        job.retried_at = Some(t);
    }
    job.retry_count = Some(count);
    if job.retry == Value::Bool(false) {
        Next::Discard
    } else if count < max {
        Next::Retry {
            count,
            delay_s: retry_delay_s(count, jitter),
        }
    } else {
        Next::Dead { count }
    }
}

pub use crate::sys::ids::{batch_seed, jid};

#[cfg(test)]
mod tests {
    use super::*;

    fn flaky(k: u64) -> Job {
        Job::new(
            "FlakyJob",
            vec![0.into(), k.into()],
            jid("t", 0),
            "default",
            Value::Bool(true),
        )
    }

    #[test]
    fn a_job_serialises_in_sidekiqs_shape() {
        let v: Value = serde_json::to_value(flaky(1)).unwrap();
        let mut fields: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "args",
                "class",
                "created_at",
                "enqueued_at",
                "jid",
                "queue",
                "retry"
            ]
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"class":"NoopJob","args":[1],"jid":"ab","queue":"q","created_at":1.0,"enqueued_at":2.0,"retry":true,"tags":["x"]}"#;
        let job = Job::parse(text).unwrap();
        let again: Value = serde_json::from_str(&job.to_json()).unwrap();
        assert_eq!(again["tags"][0], "x");
    }

    #[test]
    fn the_schedule_is_sidekiqs() {
        assert_eq!(retry_delay_range(0), (15, 24));
        assert_eq!(retry_delay_range(1), (16, 34));
        assert_eq!(retry_delay_range(2), (31, 58));
        assert_eq!(retry_delay_s(24, 0), 331_791);
    }

    #[test]
    fn a_flaky_job_fails_k_times_then_retries_run_out() {
        let mut job = flaky(2);
        for expect_count in 0..2 {
            let failure = perform(&job).unwrap_err();
            assert_eq!(failure.class, "FlakyError");
            match fail(&mut job, &failure, 25, 3) {
                Next::Retry { count, delay_s } => {
                    assert_eq!(count, expect_count);
                    assert_eq!(delay_s, retry_delay_s(count, 3));
                }
                _ => panic!("retried"),
            }
        }
        assert!(job.failed_at.is_some() && job.retried_at.is_some());
        assert!(perform(&job).is_ok());

        let mut job = flaky(9);
        job.retry = 1.into();
        let f = perform(&job).unwrap_err();
        assert!(matches!(
            fail(&mut job, &f, 25, 0),
            Next::Retry { count: 0, .. }
        ));
        let f = perform(&job).unwrap_err();
        assert!(matches!(fail(&mut job, &f, 25, 0), Next::Dead { count: 1 }));
        job.retry = false.into();
        assert!(matches!(fail(&mut job, &f, 25, 0), Next::Discard));
    }

    #[test]
    fn a_retry_count_at_the_top_does_not_wrap_to_a_first_attempt() {
        let mut job = flaky(u64::MAX);
        job.retry_count = Some(u64::MAX);
        assert_eq!(job.attempts_before(), u64::MAX);
        // FlakyJob [_, u64::MAX] fails every attempt: this one too, not "attempt 1".
        let f = perform(&job).unwrap_err();
        assert!(
            f.message.contains(&format!("attempt {}", u64::MAX)),
            "{}",
            f.message
        );
        assert!(matches!(
            fail(&mut job, &f, 25, 0),
            Next::Dead { count: u64::MAX }
        ));
        assert_eq!(job.retry_count, Some(u64::MAX));
    }

    #[test]
    fn jids_look_like_sidekiqs_and_differ() {
        let a = jid("1-2", 0);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, jid("1-2", 1));
        assert_ne!(a, jid("1-3", 0));
    }
}
