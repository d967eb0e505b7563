//! The Redis job queue for real: separate `enqueue`, `worker` and `stats` processes sharing a
//! redis-server the test starts on a Unix socket in a temp dir (never port 6379).
//!
//! - 3 workers drain 10,000 jobs: every jid finished, none twice;
//! - kill -9 a worker mid-run 20 times: reliable fetch loses nothing (duplicates are reported),
//!   basic fetch (BRPOP) loses jobs;
//! - a job that fails twice then succeeds follows Sidekiq's retry schedule (time-scaled);
//!   retries run out into the dead set, and `concur retry` brings jobs back;
//! - each signal: QUIT, TERM, INT, USR1, USR2 + CONT.
//!
//! Without redis-server the Redis tests print why and pass, unless `CONCUR_REQUIRE_REDIS=1`.
//! Workers are run with `--record-jids`: each finished job does `HINCRBY concur:done JID 1`.

use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::redis::{test_redis, TestRedis};

impl TestRedis {
    /// `concur ARGS` against this server, to completion; (status, stdout, stderr).
    fn concur(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_concur"))
            .env("REDIS_URL", &self.url)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn enqueue(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["enqueue", "--print-jids"];
        full.extend_from_slice(args);
        let (code, out, err) = self.concur(&full);
        assert_eq!(code, 0, "enqueue {args:?}: {err}");
        out.lines().map(String::from).collect()
    }

    /// Start `concur worker ARGS` with its stderr in a file.
    fn worker(&self, args: &[&str]) -> Worker {
        let n = NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let log = self.dir.path().join(format!("worker-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_concur"))
            .env("REDIS_URL", &self.url)
            .arg("worker")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker { child, log }
    }

    fn stats(&self) -> Value {
        let (code, out, err) = self.concur(&["stats", "--json"]);
        assert_eq!(code, 0, "stats: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// jid -> times finished, from `--record-jids`.
    fn done(&self) -> HashMap<String, u64> {
        redis::cmd("HGETALL")
            .arg("concur:done")
            .query(&mut self.con())
            .unwrap()
    }

    fn done_len(&self) -> usize {
        redis::cmd("HLEN")
            .arg("concur:done")
            .query(&mut self.con())
            .unwrap()
    }

    fn llen(&self, key: &str) -> u64 {
        redis::cmd("LLEN").arg(key).query(&mut self.con()).unwrap()
    }

    /// Jobs in every worker's processing lists.
    fn processing(&self) -> u64 {
        let mut con = self.con();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("concur:processing:*")
            .query(&mut con)
            .unwrap();
        keys.iter().map(|k| self.llen(k)).sum()
    }
}

static NEXT_LOG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A worker process, SIGKILLed if a test fails while it runs.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Wait for the worker to exit (at most `limit`, then fail); its exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "worker {} still running after {limit:?}: {}",
                self.child.id(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `cond` every 5 ms until it holds; fail with `what` after 30 s.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn three_workers_drain_10000_jobs_each_exactly_once() {
    let Some(redis) = test_redis("three_workers_drain_10000_jobs_each_exactly_once") else {
        return;
    };
    let jids = redis.enqueue(&["-w", "noop", "--items", "10000"]);
    assert_eq!(jids.len(), 10_000);
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| {
            redis.worker(&[
                "-c",
                "4",
                "--exit-when-empty",
                "--record-jids",
                "--heartbeat",
                "0.5",
            ])
        })
        .collect();
    let mut by_workers = 0;
    for w in &mut workers {
        assert_eq!(w.wait(LONG), 0, "{}", w.log_text());
        let log = w.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("exiting:"))
            .expect("an exit line");
        by_workers += line
            .split("exiting: ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .expect("processed count");
    }
    let done = redis.done();
    assert_eq!(done.len(), 10_000, "every jid finished");
    assert!(
        jids.iter().all(|j| done.get(j) == Some(&1)),
        "each exactly once"
    );
    assert_eq!(by_workers, 10_000, "the workers' own counts add up");
    let stats = redis.stats();
    assert_eq!(stats["processed"], 10_000);
    assert_eq!(stats["failed"], 0);
    assert_eq!(stats["queues"][0]["size"], 0);
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(
        stats["workers"].as_array().unwrap().len(),
        0,
        "all deregistered"
    );
    assert_eq!(stats["recorded"]["duplicates"], 0);
}

/// Enqueue sleep jobs, keep 3 workers running, and 20 times kill -9 one of them mid-run and
/// start a replacement. Returns (jobs, finished, duplicate runs).
fn kill_trial(redis: &TestRedis, fetch: &str) -> (usize, usize, u64) {
    kill_trial_with(redis, &["--fetch", fetch])
}

/// [`kill_trial`] with the workers' fetch flags `fetch`: 2000 jobs of 10 ms.
fn kill_trial_with(redis: &TestRedis, fetch: &[&str]) -> (usize, usize, u64) {
    kill_trial_of(redis, fetch, 2000, "10")
}

/// [`kill_trial`] with `items` sleep jobs of `wait_ms`.
fn kill_trial_of(
    redis: &TestRedis,
    fetch: &[&str],
    items: usize,
    wait_ms: &str,
) -> (usize, usize, u64) {
    let jids = redis.enqueue(&[
        "-w",
        "sleep",
        "--wait-ms",
        wait_ms,
        "--items",
        &items.to_string(),
    ]);
    let args = [
        &[
            "-c",
            "3",
            "--exit-when-empty",
            "--record-jids",
            "--heartbeat",
            "0.2",
        ][..],
        fetch,
    ]
    .concat();
    let mut workers: Vec<Worker> = (0..3).map(|_| redis.worker(&args)).collect();
    let mut kills = 0;
    let mut last = 0;
    while kills < 20 {
        let victim = &workers[kills % 3];
        // Mid-run: the victim has finished jobs since the last kill and the queue is not empty.
        until("progress before a kill", || redis.done_len() >= last + 25);
        assert!(
            redis.llen("concur:queue:default") > 0,
            "the jobs ran out after {kills} kills: enqueue more"
        );
        victim.signal(nix::sys::signal::Signal::SIGKILL);
        let mut dead = std::mem::replace(&mut workers[kills % 3], redis.worker(&args));
        dead.wait(LONG);
        last = redis.done_len();
        kills += 1;
    }
    for w in &mut workers {
        assert_eq!(w.wait(LONG), 0, "{}", w.log_text());
    }
    let done = redis.done();
    let finished = jids.iter().filter(|j| done.contains_key(*j)).count();
    let duplicates = done.values().map(|n| n - 1).sum();
    let _ = writeln!(
        std::io::stderr(),
        "kill -9 x20, {fetch:?}: {items} jobs, {finished} finished, {} lost, {duplicates} duplicate runs",
        items - finished
    );
    (items, finished, duplicates)
}

#[test]
fn kill_9_with_reliable_fetch_loses_nothing() {
    let Some(redis) = test_redis("kill_9_with_reliable_fetch_loses_nothing") else {
        return;
    };
    let (items, finished, _duplicates) = kill_trial(&redis, "reliable");
    assert_eq!(finished, items, "0 jobs lost after the reaper");
    assert_eq!(redis.processing(), 0, "every processing list drained");
    assert_eq!(
        redis.stats()["unreaped"].as_array().unwrap().len(),
        0,
        "{}",
        redis.stats()
    );
}

#[test]
fn kill_9_with_batched_reliable_fetch_loses_nothing() {
    let Some(redis) = test_redis("kill_9_with_batched_reliable_fetch_loses_nothing") else {
        return;
    };
    let (items, finished, _duplicates) = kill_trial_with(&redis, &["--batch", "10"]);
    assert_eq!(
        finished, items,
        "0 jobs lost: a killed batch is requeued whole"
    );
    assert_eq!(redis.processing(), 0, "every processing list drained");
}

/// Several queues, one worker slot: a fetch takes one job, from the first queue that has one.
/// (A poll once moved a job from each queue: the extra one waited in the processing list until
/// the worker exited, so `--exit-when-empty` never did, or with basic fetch it was dropped.)
#[test]
fn several_queues_are_fetched_one_job_at_a_time_in_priority_order() {
    let Some(redis) = test_redis("several_queues_are_fetched_one_job_at_a_time") else {
        return;
    };
    for (mode, fetch) in [
        ("--fork", "reliable"),
        ("--fork", "basic"),
        ("-v", "reliable"),
    ] {
        let _ = redis::cmd("DEL").arg("concur:done").exec(&mut redis.con());
        let high = redis.enqueue(&["-w", "noop", "--items", "20", "-q", "high"]);
        let low = redis.enqueue(&["-w", "noop", "--items", "20", "-q", "low"]);
        let mut args = vec![
            "--queues",
            "high,low",
            "-c",
            "1",
            "--fetch",
            fetch,
            "-v",
            "--record-jids",
            "--exit-when-empty",
            "--heartbeat",
            "1",
        ];
        if mode == "fork" {
            args.push("--fork");
        }
        let mut w = redis.worker(&args);
        assert_eq!(
            w.wait(Duration::from_secs(30)),
            0,
            "{mode} {fetch}: {}",
            w.log_text()
        );
        let done = redis.done();
        assert_eq!(done.len(), 40, "{mode} {fetch}: every job ran");
        assert!(done.values().all(|&n| n == 1), "{mode} {fetch}: none twice");
        assert_eq!(redis.processing(), 0);
        // One slot, so jobs start one after another: every high job before any low one.
        let log = w.log_text();
        let order: Vec<&str> = log
            .lines()
            .filter_map(|l| l.split("start jid=").nth(1)?.split(' ').next())
            .collect();
        assert_eq!(order.len(), 40, "{log}");
        assert!(
            order[..20].iter().all(|j| high.iter().any(|h| h == j)),
            "{mode} {fetch}: {order:?}"
        );
        assert!(order[20..].iter().all(|j| low.iter().any(|l| l == j)));
    }
}

/// Forking workers fetch a job ahead while their children run (jobs of 1 ms, under the 5 ms
/// hold): a kill -9 leaves the running and the prefetched jobs in the processing list, and the
/// reaper puts both back.
#[test]
fn kill_9_with_forking_prefetching_workers_loses_nothing() {
    let Some(redis) = test_redis("kill_9_with_forking_prefetching_workers_loses_nothing") else {
        return;
    };
    let (items, finished, _duplicates) = kill_trial_of(&redis, &["--fork"], 6000, "1");
    assert_eq!(finished, items, "0 jobs lost after the reaper");
    assert_eq!(redis.processing(), 0, "every processing list drained");
}

/// `--fork -c 1` fetches the next job while its child runs; behind a long job it gives it back
/// after 5 ms, so an idle worker runs it meanwhile.
#[test]
fn a_job_fetched_ahead_behind_a_long_one_is_given_back_for_an_idle_worker() {
    let Some(redis) = test_redis("a_job_fetched_ahead_is_given_back") else {
        return;
    };
    let long = redis.enqueue(&["-w", "sleep", "--wait-ms", "4000", "--items", "1"]);
    let short = redis.enqueue(&["-w", "noop", "--items", "1"]);
    let common = [
        "--record-jids",
        "--exit-when-empty",
        "--heartbeat",
        "1",
        "-v",
    ];
    let mut forking = redis.worker(&[&["--fork", "-c", "1"][..], &common].concat());
    until("the job fetched ahead given back", || {
        forking
            .log_text()
            .contains(&format!("gave back jid={}", short[0]))
    });
    assert_eq!(
        redis.llen("concur:queue:default"),
        1,
        "{}",
        forking.log_text()
    );
    assert_eq!(redis.processing(), 1, "only the long job is held");
    let mut idle = redis.worker(&[&["-c", "1"][..], &common].concat());
    until("the idle worker ran the short job", || {
        redis.done().contains_key(&short[0])
    });
    assert!(
        !redis.done().contains_key(&long[0]),
        "the short job ran while the long one still ran"
    );
    assert_eq!(forking.wait(LONG), 0, "{}", forking.log_text());
    assert_eq!(idle.wait(LONG), 0, "{}", idle.log_text());
    let done = redis.done();
    assert_eq!((done[&long[0]], done[&short[0]], done.len()), (1, 1, 2));
}

#[test]
fn kill_9_with_basic_fetch_loses_jobs() {
    let Some(redis) = test_redis("kill_9_with_basic_fetch_loses_jobs") else {
        return;
    };
    let (items, finished, duplicates) = kill_trial(&redis, "basic");
    assert!(finished < items, "BRPOP'd jobs die with their worker");
    assert_eq!(duplicates, 0, "basic fetch never runs a job twice");
    assert_eq!(redis.llen("concur:queue:default"), 0);
}

/// `key=value` fields of a worker log line.
fn fields(line: &str) -> HashMap<String, String> {
    line.split(' ')
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn a_flaky_job_is_retried_on_sidekiqs_schedule() {
    let Some(redis) = test_redis("a_flaky_job_is_retried_on_sidekiqs_schedule") else {
        return;
    };
    let jid = redis.enqueue(&["--flaky", "2", "--items", "1"]).remove(0);
    let scale = 0.01;
    let mut w = redis.worker(&[
        "-c",
        "1",
        "--time-scale",
        "0.01",
        "--exit-when-empty",
        "--record-jids",
        "-v",
        "--heartbeat",
        "0.2",
    ]);
    assert_eq!(w.wait(LONG), 0);
    let log = w.log_text();
    let lines: Vec<HashMap<String, String>> = log
        .lines()
        .filter(|l| l.contains(&format!("jid={jid}")))
        .map(fields)
        .collect();
    let starts: Vec<&HashMap<String, String>> = lines
        .iter()
        .filter(|f| !f.contains_key("retry_count") && !f.contains_key("ms"))
        .collect();
    let retries: Vec<&HashMap<String, String>> = lines
        .iter()
        .filter(|f| f.contains_key("retry_count"))
        .collect();
    assert_eq!(starts.len(), 3, "three attempts: {log}");
    assert_eq!(retries.len(), 2, "two retries: {log}");
    let t = |f: &HashMap<String, String>| f["t"].parse::<f64>().unwrap();
    for (count, retry) in retries.iter().enumerate() {
        let count = count as u64;
        assert_eq!(retry["retry_count"], count.to_string());
        assert_eq!(retry["attempt"], (count + 1).to_string());
        // Sidekiq: count^4 + 15 + rand(10) * (count + 1)
        let delay: u64 = retry["delay_s"].parse().unwrap();
        let (lo, hi) = (count.pow(4) + 15, count.pow(4) + 15 + 9 * (count + 1));
        assert!(
            (lo..=hi).contains(&delay),
            "retry {count}: delay {delay} s outside {lo}..={hi}"
        );
        let scaled: f64 = retry["scaled_s"].parse().unwrap();
        assert!(
            (scaled - delay as f64 * scale).abs() < 0.002,
            "{scaled} = {delay} x {scale}"
        );
        // The next attempt did not start before the retry was due.
        let next = starts[count as usize + 1];
        assert_eq!(next["attempt"], (count + 2).to_string());
        assert!(
            t(next) >= t(retry) + scaled - 0.002,
            "attempt {} ran before it was due",
            count + 2
        );
    }
    assert_eq!(redis.done().get(&jid), Some(&1));
    let stats = redis.stats();
    assert_eq!(
        (stats["processed"].as_u64(), stats["failed"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        (stats["retries"].as_u64(), stats["dead"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn exhausted_retries_go_to_the_dead_set_and_retry_brings_them_back() {
    let Some(redis) = test_redis("exhausted_retries_go_to_the_dead_set_and_retry_brings_them_back")
    else {
        return;
    };
    let jids = redis.enqueue(&["--flaky", "9", "--items", "2", "--retry", "1"]);
    let worker_args = [
        "-c",
        "2",
        "--time-scale",
        "0.001",
        "--exit-when-empty",
        "--heartbeat",
        "0.2",
    ];
    assert_eq!(redis.worker(&worker_args).wait(LONG), 0);
    let mut con = redis.con();
    let dead: Vec<String> = redis::cmd("ZRANGE")
        .arg("concur:dead")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(dead.len(), 2);
    for payload in &dead {
        let job: Value = serde_json::from_str(payload).unwrap();
        assert!(jids.contains(&job["jid"].as_str().unwrap().to_owned()));
        assert_eq!(job["retry_count"], 1, "{job}");
        assert_eq!(job["error_class"], "FlakyError");
        assert!(
            job["error_message"].as_str().unwrap().contains("attempt 2"),
            "{job}"
        );
        assert!(!job["error_backtrace"].as_array().unwrap().is_empty());
        assert!(job["failed_at"].as_f64().unwrap() <= job["retried_at"].as_f64().unwrap());
        for field in [
            "class",
            "args",
            "jid",
            "queue",
            "created_at",
            "enqueued_at",
            "retry",
        ] {
            assert!(job.get(field).is_some(), "{field} in {job}");
        }
    }
    let (code, out, err) = redis.concur(&["retry", &jids[0]]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&jids[0]), "{out}");
    assert_eq!(redis.llen("concur:queue:default"), 1);
    assert_eq!(redis.stats()["dead"], 1);
    let (code, _, err) = redis.concur(&["retry", "--all-dead"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(redis.llen("concur:queue:default"), 2);
    assert_eq!(redis.stats()["dead"], 0);
    // One more attempt each, past the limit: dead again.
    assert_eq!(redis.worker(&worker_args).wait(LONG), 0);
    assert_eq!(redis.stats()["dead"], 2);
    assert_eq!(redis.stats()["failed"], 6);
    let (code, _, err) = redis.concur(&["retry", "000000000000000000000000"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn scheduled_jobs_wait_in_the_schedule_set_until_due() {
    let Some(redis) = test_redis("scheduled_jobs_wait_in_the_schedule_set_until_due") else {
        return;
    };
    redis.enqueue(&["-w", "noop", "--items", "3", "--in", "300ms"]);
    let far = redis.enqueue(&["-w", "noop", "--items", "1", "--in", "1h"]);
    assert_eq!(redis.llen("concur:queue:default"), 0);
    assert_eq!(redis.stats()["scheduled"], 4);
    let mut w = redis.worker(&["--record-jids", "--heartbeat", "0.2"]);
    until("the due jobs ran", || redis.done().len() == 3);
    assert!(!redis.done().contains_key(&far[0]), "not due for an hour");
    assert_eq!(redis.stats()["scheduled"], 1);
    w.signal(nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(w.wait(LONG), 0);
}

/// Wait until the workers hold `n` jobs in their processing lists.
fn wait_busy(redis: &TestRedis, n: u64) {
    until("the worker to be running its job", || {
        redis.processing() == n
    });
}

#[test]
fn quit_finishes_the_running_job_then_exits() {
    let Some(redis) = test_redis("quit_finishes_the_running_job_then_exits") else {
        return;
    };
    for mode in [&[][..], &["--fork"][..]] {
        redis::cmd("FLUSHDB").exec(&mut redis.con()).unwrap();
        redis.enqueue(&["-w", "sleep", "--wait-ms", "1000", "--items", "3"]);
        let mut args = vec!["-c", "1", "--record-jids", "--heartbeat", "0.1"];
        args.extend_from_slice(mode);
        let mut w = redis.worker(&args);
        wait_busy(&redis, 1);
        w.signal(nix::sys::signal::Signal::SIGQUIT);
        assert_eq!(w.wait(LONG), 0, "{}", w.log_text());
        assert_eq!(
            redis.done().len(),
            1,
            "{mode:?}: the running job finished: {}",
            w.log_text()
        );
        assert_eq!(
            redis.llen("concur:queue:default"),
            2,
            "{mode:?}: the rest wait"
        );
        assert_eq!(redis.processing(), 0);
        assert_eq!(redis.stats()["workers"].as_array().unwrap().len(), 0);
        assert!(w.log_text().contains("QUIT"));
    }
}

#[test]
fn term_and_int_requeue_the_job_in_flight_and_exit_at_once() {
    let Some(redis) = test_redis("term_and_int_requeue_the_job_in_flight_and_exit_at_once") else {
        return;
    };
    use nix::sys::signal::Signal::{SIGINT, SIGTERM};
    for (sig, mode) in [
        (SIGTERM, &[][..]),
        (SIGINT, &[][..]),
        (SIGTERM, &["--fork"][..]),
        (SIGINT, &["--fetch", "basic"][..]),
    ] {
        redis::cmd("FLUSHDB").exec(&mut redis.con()).unwrap();
        let jids = redis.enqueue(&["-w", "sleep", "--wait-ms", "60000", "--items", "2"]);
        let mut args = vec!["-c", "1", "--record-jids", "--heartbeat", "0.1"];
        args.extend_from_slice(mode);
        let mut w = redis.worker(&args);
        until("the worker to be running its job", || {
            redis.stats()["workers"][0]["busy"] == 1
        });
        w.signal(sig);
        // A 60 s job: only exiting without waiting for it passes.
        assert_eq!(w.wait(Duration::from_secs(20)), 0, "{}", w.log_text());
        assert!(redis.done().is_empty(), "{sig} {mode:?}: nothing finished");
        assert_eq!(
            redis.llen("concur:queue:default"),
            2,
            "{sig} {mode:?}: the job is back: {}",
            w.log_text()
        );
        assert_eq!(redis.processing(), 0);
        let mut con = redis.con();
        let queued: Vec<String> = redis::cmd("LRANGE")
            .arg("concur:queue:default")
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        for jid in &jids {
            assert!(
                queued.iter().any(|p| p.contains(jid.as_str())),
                "{jid} queued"
            );
        }
    }
}

#[test]
fn usr1_kills_the_fork_child_and_its_job_is_retried() {
    let Some(redis) = test_redis("usr1_kills_the_fork_child_and_its_job_is_retried") else {
        return;
    };
    let jid = redis
        .enqueue(&["-w", "sleep", "--wait-ms", "60000", "--items", "1"])
        .remove(0);
    let mut w = redis.worker(&["--fork", "-c", "1", "--heartbeat", "0.1"]);
    wait_busy(&redis, 1);
    w.signal(nix::sys::signal::Signal::SIGUSR1);
    until("the killed job in the retry set", || {
        redis.stats()["retries"] == 1
    });
    assert!(w.alive(), "the worker itself carries on");
    let mut con = redis.con();
    let retry: Vec<String> = redis::cmd("ZRANGE")
        .arg("concur:retry")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    let job: Value = serde_json::from_str(&retry[0]).unwrap();
    assert_eq!(job["jid"], jid.as_str());
    assert!(
        job["error_message"].as_str().unwrap().contains("USR1"),
        "{job}"
    );
    assert_eq!(redis.processing(), 0);
    w.signal(nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(w.wait(LONG), 0);
}

/// The CPUs process `pid` may run on, from /proc (`Cpus_allowed_list`).
fn cpus_allowed(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn fork_children_start_off_the_loops_cpu_and_get_every_cpu_back() {
    let Some(redis) = test_redis("fork_children_start_off_the_loops_cpu_and_get_every_cpu_back")
    else {
        return;
    };
    let mine = cpus_allowed(std::process::id());
    for (args, spread) in [
        (&["-c", "2"][..], true),
        (&["-c", "2", "--no-spread"][..], false),
        (&["-c", "1"][..], false),
    ] {
        redis::cmd("FLUSHDB").exec(&mut redis.con()).unwrap();
        let n = args[1].parse::<u64>().unwrap();
        redis.enqueue(&["-w", "sleep", "--wait-ms", "60000", "--items", args[1]]);
        let mut all = vec!["--fork", "--verbose", "--heartbeat", "0.2"];
        all.extend_from_slice(args);
        let mut w = redis.worker(&all);
        wait_busy(&redis, n);
        let pid = w.child.id();
        // Every child runs its minute-long job with every CPU the worker may use: a child sent
        // off the loop's CPU got them back before the loop waited.
        until("every job child running, with every CPU", || {
            let kids = concur::sys::proc::children(pid as i32);
            kids.len() as u64 == n && kids.iter().all(|&k| cpus_allowed(k as u32) == mine)
        });
        let started = count_lines(&w.log_text(), "start jid=");
        let off = count_lines(&w.log_text(), "started_off_cpu=");
        assert_eq!(started as u64, n, "{}", w.log_text());
        if spread && mine.contains(['-', ',']) {
            assert_eq!(
                off as u64,
                n,
                "{args:?}: each child starts off the loop's CPU: {}",
                w.log_text()
            );
        } else {
            assert_eq!(
                off,
                0,
                "{args:?}: children start where the scheduler puts them: {}",
                w.log_text()
            );
        }
        w.signal(nix::sys::signal::Signal::SIGTERM);
        assert_eq!(w.wait(LONG), 0, "{}", w.log_text());
        assert!(concur::sys::proc::children(pid as i32).is_empty());
    }
}

#[test]
fn usr2_pauses_fetching_and_cont_resumes() {
    let Some(redis) = test_redis("usr2_pauses_fetching_and_cont_resumes") else {
        return;
    };
    let mut w = redis.worker(&["-c", "2", "--record-jids", "--heartbeat", "0.1"]);
    until("the worker registered", || {
        redis.stats()["workers"].as_array().unwrap().len() == 1
    });
    w.signal(nix::sys::signal::Signal::SIGUSR2);
    until("paused", || {
        redis.stats()["workers"][0]["status"] == "paused"
    });
    redis.enqueue(&["-w", "noop", "--items", "5"]);
    // Paused is a state, not a race: whatever we wait, nothing is fetched.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(redis.llen("concur:queue:default"), 5, "{}", w.log_text());
    assert!(redis.done().is_empty());
    w.signal(nix::sys::signal::Signal::SIGCONT);
    until("drained after CONT", || redis.done().len() == 5);
    w.signal(nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(w.wait(LONG), 0);
    let log = w.log_text();
    assert!(log.contains("USR2") && log.contains("CONT"), "{log}");
}

#[test]
fn queue_commands_without_redis_are_a_one_line_usage_error() {
    for args in [
        &["enqueue", "-w", "noop"][..],
        &["worker"][..],
        &["stats"][..],
        &["retry", "--all-dead"][..],
        &["worker", "--redis-url", "redis://127.0.0.1:1"][..],
        &[
            "enqueue",
            "-w",
            "wallet",
            "--redis-url",
            "unix:///nonexistent/redis.sock",
        ][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_concur"))
            .env_remove("REDIS_URL")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_concur"))
        .args(["retry"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stats_watch_redraws_until_stopped() {
    let Some(redis) = test_redis("stats_watch_redraws_until_stopped") else {
        return;
    };
    redis.enqueue(&["-w", "noop", "--items", "7", "-q", "watched"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_concur"))
        .env("REDIS_URL", &redis.url)
        .args(["stats", "--watch", "--interval", "0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        // Read until two full screens have been drawn (a clear, then the queue table, twice).
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while String::from_utf8_lossy(&text)
            .matches("\x1b[H\x1b[2J")
            .count()
            < 3
        {
            match std::io::Read::read(&mut out, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
        // Keep the pipe open: closed, the next redraw would end `stats` with EPIPE before the
        // check below could see it still running.
        (String::from_utf8_lossy(&text).into_owned(), out)
    });
    let (text, _open_pipe) = reader.join().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "--watch keeps running");
    child.kill().unwrap();
    child.wait().unwrap();
    let screens: Vec<&str> = text
        .split("\x1b[H\x1b[2J")
        .filter(|s| !s.is_empty())
        .collect();
    assert!(screens.len() >= 2, "{text:?}");
    for screen in &screens[..2] {
        assert!(
            screen.contains("watched") && screen.contains(" 7 "),
            "{screen:?}"
        );
    }
}

#[test]
fn a_due_job_moves_to_its_queue_once_and_atomically() {
    use concur::app::queue::job::Job;
    use concur::app::queue::{keys, move_to_dead, move_to_queue};
    let Some(r) = test_redis("a_due_job_moves_to_its_queue_once_and_atomically") else {
        return;
    };
    let mut con = r.con();
    let mut job = Job::new(
        "Noop",
        vec![],
        "jid-move-once".into(),
        "default",
        Value::Bool(true),
    );
    let payload = job.to_json();
    let _: () = redis::cmd("ZADD")
        .arg(keys::SCHEDULE)
        .arg(0)
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    // Two pollers see the same due job: only the first moves it.
    assert!(move_to_queue(&mut con, keys::SCHEDULE, &payload, &mut job.clone()).unwrap());
    assert!(!move_to_queue(&mut con, keys::SCHEDULE, &payload, &mut job).unwrap());
    let queued: Vec<String> = redis::cmd("LRANGE")
        .arg(keys::queue("default"))
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(Job::parse(&queued[0]).unwrap().jid, "jid-move-once");
    let scheduled: u64 = redis::cmd("ZCARD")
        .arg(keys::SCHEDULE)
        .query(&mut con)
        .unwrap();
    assert_eq!(scheduled, 0);
    let queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys::QUEUES)
        .query(&mut con)
        .unwrap();
    assert_eq!(queues, vec!["default".to_owned()]);

    // A payload nobody can parse goes to the dead set, once.
    let _: () = redis::cmd("ZADD")
        .arg(keys::RETRY)
        .arg(0)
        .arg("not json")
        .query(&mut con)
        .unwrap();
    assert!(move_to_dead(&mut con, keys::RETRY, "not json").unwrap());
    assert!(!move_to_dead(&mut con, keys::RETRY, "not json").unwrap());
    let dead: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys::DEAD)
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(dead, vec!["not json".to_owned()]);
}

/// Jobs that never finished, and duplicate runs, of `jids` (from `--record-jids`).
fn lost_and_duplicates(redis: &TestRedis, jids: &[String]) -> (usize, u64) {
    let done = redis.done();
    let lost = jids.iter().filter(|j| !done.contains_key(*j)).count();
    let duplicates = done.values().map(|n| n - 1).sum();
    (lost, duplicates)
}

/// Lines of `log` that contain `what`.
fn count_lines(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[test]
fn a_redis_restart_under_running_workers_loses_no_job() {
    let Some(mut redis) =
        crate::common::redis::test_redis_aof("a_redis_restart_under_running_workers_loses_no_job")
    else {
        return;
    };
    let jids = redis.enqueue(&["-w", "sleep", "--wait-ms", "5", "--items", "2000"]);
    let common = ["--exit-when-empty", "--record-jids", "--heartbeat", "0.2"];
    let mut workers = vec![
        redis.worker(&[&["-c", "3"][..], &common].concat()),
        redis.worker(&[&["--fork", "-c", "2"][..], &common].concat()),
    ];
    until("some jobs done", || redis.done_len() >= 200);
    redis.shutdown();
    std::thread::sleep(Duration::from_millis(1500));
    for w in &mut workers {
        assert!(w.alive(), "a worker died with Redis: {}", w.log_text());
    }
    redis.restart();
    for w in &mut workers {
        assert_eq!(w.wait(LONG), 0, "{}", w.log_text());
        let log = w.log_text();
        assert_eq!(
            count_lines(&log, "Redis unreachable"),
            1,
            "once per outage: {log}"
        );
        assert_eq!(count_lines(&log, "Redis reachable again"), 1, "{log}");
    }
    let (lost, duplicates) = lost_and_duplicates(&redis, &jids);
    let _ = writeln!(
        std::io::stderr(),
        "redis restart: 2000 jobs, {lost} lost, {duplicates} duplicate runs"
    );
    assert_eq!(lost, 0, "reliable fetch loses nothing across a restart");
    assert_eq!(
        redis.processing(),
        0,
        "no job stranded in a processing list"
    );
    assert_eq!(redis.llen("concur:queue:default"), 0);
    assert_eq!(redis.stats()["workers"].as_array().unwrap().len(), 0);
}

/// Stall the server for 3 s (`how`) while 2 workers (threads, fork) with a 0.2 s heartbeat drain
/// sleep jobs: their replies time out (after 1 s), every heartbeat expires.
fn stall_trial(test: &str, how: &[&str]) {
    let Some(redis) = test_redis(test) else {
        return;
    };
    let jids = redis.enqueue(&["-w", "sleep", "--wait-ms", "5", "--items", "2000"]);
    let common = ["--exit-when-empty", "--record-jids", "--heartbeat", "0.2"];
    let mut workers = vec![
        redis.worker(&[&["-c", "3"][..], &common].concat()),
        redis.worker(&[&["--fork", "-c", "2"][..], &common].concat()),
    ];
    until("some jobs done", || redis.done_len() >= 200);
    let mut con = redis.con();
    let _: redis::Value = redis::cmd(how[0]).arg(&how[1..]).query(&mut con).unwrap();
    if how[0] == "CLIENT" {
        // CLIENT PAUSE returns at once: wait out the pause (DEBUG SLEEP already did).
        std::thread::sleep(Duration::from_millis(3000));
    }
    for w in &mut workers {
        assert!(w.alive(), "{how:?}: a worker died: {}", w.log_text());
    }
    for w in &mut workers {
        assert_eq!(w.wait(LONG), 0, "{how:?}: {}", w.log_text());
    }
    let (lost, duplicates) = lost_and_duplicates(&redis, &jids);
    let _ = writeln!(
        std::io::stderr(),
        "{how:?}: 2000 jobs, {lost} lost, {duplicates} duplicate runs"
    );
    assert_eq!(lost, 0, "{how:?}: no job lost");
    assert_eq!(
        duplicates, 0,
        "{how:?}: a stall is not a death: no worker reaped, no job run twice"
    );
    assert_eq!(redis.processing(), 0, "{how:?}: nothing stranded");
    for w in &workers {
        let log = w.log_text();
        assert!(!log.contains("reaped worker"), "{how:?}: {log}");
        assert!(
            count_lines(&log, "Redis unreachable") <= 1,
            "once per outage: {log}"
        );
    }
}

#[test]
fn a_redis_stall_debug_sleep_neither_loses_nor_repeats_a_job() {
    stall_trial(
        "a_redis_stall_debug_sleep_neither_loses_nor_repeats_a_job",
        &["DEBUG", "SLEEP", "3"],
    );
}

#[test]
fn a_redis_stall_client_pause_neither_loses_nor_repeats_a_job() {
    stall_trial(
        "a_redis_stall_client_pause_neither_loses_nor_repeats_a_job",
        &["CLIENT", "PAUSE", "3000"],
    );
}

#[test]
fn a_stopped_worker_is_reaped_and_notices_it_was_presumed_dead_when_resumed() {
    let Some(redis) =
        test_redis("a_stopped_worker_is_reaped_and_notices_it_was_presumed_dead_when_resumed")
    else {
        return;
    };
    use nix::sys::signal::Signal::{SIGCONT, SIGQUIT, SIGSTOP};
    for mode in [&[][..], &["--fork"][..]] {
        redis::cmd("FLUSHDB").exec(&mut redis.con()).unwrap();
        let jid = redis
            .enqueue(&["-w", "sleep", "--wait-ms", "1500", "--items", "1"])
            .remove(0);
        let args = [
            &["-c", "1", "--record-jids", "--heartbeat", "0.2"][..],
            mode,
        ]
        .concat();
        let mut zombie = redis.worker(&args);
        wait_busy(&redis, 1);
        zombie.signal(SIGSTOP);
        let mut other = redis.worker(&args);
        // Past its heartbeat, the other worker's reaper requeues the job and it runs there.
        until("the job run by the other worker", || {
            redis.done().get(&jid) == Some(&1)
        });
        assert!(
            other.log_text().contains("reaped worker"),
            "{}",
            other.log_text()
        );
        zombie.signal(SIGCONT);
        until("the zombie noticed", || {
            zombie.log_text().contains("presumed dead")
        });
        until("the zombie finished its copy", || {
            zombie.log_text().contains("not acknowledging")
        });
        let log = zombie.log_text();
        assert!(log.contains("a reaper requeued"), "{mode:?}: {log}");
        assert!(zombie.alive(), "{mode:?}: it carries on: {log}");
        until("both registered", || {
            redis.stats()["workers"].as_array().unwrap().len() == 2
        });
        // At-least-once: the job ran twice, once on each worker, and is counted so.
        assert_eq!(redis.done().get(&jid), Some(&2), "{mode:?}");
        assert_eq!(redis.processing(), 0, "{mode:?}");
        assert_eq!(redis.stats()["retries"], 0, "{mode:?}: nothing retried");
        for w in [&mut zombie, &mut other] {
            w.signal(SIGQUIT);
            assert_eq!(w.wait(LONG), 0, "{mode:?}: {}", w.log_text());
        }
    }
}

#[test]
fn counters_are_exact_after_quit() {
    let Some(redis) = test_redis("counters_are_exact_after_quit") else {
        return;
    };
    redis.enqueue(&["-w", "noop", "--items", "30000"]);
    redis.enqueue(&["--flaky", "9", "--retry", "0", "--items", "7"]);
    // A long heartbeat: the counts reach Redis at exit (and at state changes), not per job.
    let mut w = redis.worker(&["-c", "4", "--record-jids", "--heartbeat", "30"]);
    until("some jobs done", || redis.done_len() >= 2000);
    w.signal(nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(w.wait(LONG), 0, "{}", w.log_text());
    let log = w.log_text();
    let line = log.lines().find(|l| l.contains("exiting:")).unwrap();
    let own: u64 = line
        .split("exiting: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let stats = redis.stats();
    assert_eq!(stats["processed"], own, "{line}");
    assert_eq!(
        stats["processed"],
        redis.done_len() as u64,
        "every run counted once"
    );
    assert_eq!(
        stats["failed"].as_u64().unwrap(),
        stats["dead"].as_u64().unwrap(),
        "each failure counted once"
    );
    let waiting = redis.llen("concur:queue:default");
    assert_eq!(
        own + stats["dead"].as_u64().unwrap() + waiting,
        30_007,
        "every job accounted for"
    );
}

#[test]
fn bench_queue_measures_every_mode() {
    let Some(redis) = test_redis("bench_queue_measures_every_mode") else {
        return;
    };
    let (code, out, err) = redis.concur(&[
        "bench",
        "queue",
        "--items",
        "300",
        "--fork-items",
        "100",
        "--runs",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12, "{report}");
    let spread: Vec<(u64, bool)> = rows
        .iter()
        .filter(|r| r["fork"].as_bool().unwrap() && r["prefetch"].as_bool().unwrap())
        .map(|r| {
            (
                r["concurrency"].as_u64().unwrap(),
                r["spread"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(spread, [(1, true), (2, true), (2, false)], "{report}");
    for row in rows {
        if row["fork"].as_bool().unwrap() {
            // Fetching ahead is a non-blocking LMOVE while the child runs; without it, every
            // fetch is a BLMOVE after the child has ended.
            let lmove = row["commands"]["lmove"].as_f64().unwrap_or(0.0);
            match row["prefetch"].as_bool().unwrap() {
                true => assert!(lmove > 0.5, "most jobs fetched ahead: {row}"),
                false => assert!(lmove < 0.1, "no job fetched ahead: {row}"),
            }
        }
        assert!(row["jobs_per_s"].as_f64().unwrap() > 0.0, "{row}");
        let cmds = row["commands_per_job"].as_f64().unwrap();
        if row["batch"].as_u64().unwrap() > 1 {
            // One script (LLEN, DEL, LMPOP, LPUSH inside) per 50 jobs.
            assert!(cmds < 0.5, "batched: far fewer commands: {row}");
            continue;
        }
        match (
            row["fork"].as_bool().unwrap(),
            row["fetch"].as_str().unwrap(),
        ) {
            // LREM + BLMOVE: the acknowledgement rides with the next fetch.
            (false, "reliable") => assert!((1.5..=3.0).contains(&cmds), "{row}"),
            (false, _) => assert!((0.5..=1.5).contains(&cmds), "BRPOP alone: {row}"),
            (true, _) => assert!((1.5..=3.0).contains(&cmds), "{row}"),
        }
    }
    assert_eq!(redis.llen("concur:queue:default"), 0);
}

#[test]
fn a_payload_that_is_not_a_job_is_buried_in_a_dead_set_kept_to_10000() {
    let Some(redis) =
        test_redis("a_payload_that_is_not_a_job_is_buried_in_a_dead_set_kept_to_10000")
    else {
        return;
    };
    let mut con = redis.con();
    for mode in [&[][..], &["--fork"][..]] {
        redis::cmd("FLUSHDB").exec(&mut con).unwrap();
        let mut pipe = redis::pipe();
        for i in 0..10_000 {
            pipe.cmd("ZADD")
                .arg("concur:dead")
                .arg(i)
                .arg(format!("old-{i}"))
                .ignore();
        }
        pipe.cmd("SADD")
            .arg("concur:queues")
            .arg("default")
            .ignore();
        pipe.cmd("LPUSH")
            .arg("concur:queue:default")
            .arg("not a job")
            .ignore();
        pipe.exec(&mut con).unwrap();
        let mut w =
            redis.worker(&[&["--exit-when-empty", "--heartbeat", "0.2"][..], mode].concat());
        assert_eq!(w.wait(LONG), 0, "{mode:?}: {}", w.log_text());
        let dead: u64 = redis::cmd("ZCARD")
            .arg("concur:dead")
            .query(&mut con)
            .unwrap();
        assert_eq!(dead, 10_000, "{mode:?}: trimmed like every dead job");
        let newest: Vec<String> = redis::cmd("ZRANGE")
            .arg("concur:dead")
            .arg(-1)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        assert_eq!(newest, ["not a job"], "{mode:?}");
        assert_eq!(redis.stats()["failed"], 1, "{mode:?}");
        assert_eq!(redis.processing(), 0, "{mode:?}");
    }
}

#[test]
fn queue_demo_kills_a_worker_after_the_payment_and_the_job_pays_twice_unless_idempotent() {
    if crate::common::redis::redis_server_path().is_none() {
        // test_redis prints the skip (or panics under CONCUR_REQUIRE_REDIS=1).
        let _ = crate::common::redis::test_redis("queue_demo_at_least_once");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("demo.json");
    let out = crate::common::concur(&["queue-demo", "--items", "30", "--workers", "2"])
        .env("CONCUR_JSON_TO", &json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let twice = v["at_least_once"].as_array().unwrap();
    let row = |class: &str| twice.iter().find(|t| t["class"] == class).unwrap().clone();
    let (pay, idem) = (row("PayJob"), row("IdempotentPayJob"));
    assert_eq!(
        (pay["runs"].as_u64(), pay["balance"].as_i64()),
        (Some(2), Some(20)),
        "{pay}"
    );
    assert_eq!(
        (idem["runs"].as_u64(), idem["balance"].as_i64()),
        (Some(2), Some(10)),
        "{idem}"
    );
    let reliable = v["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["fetch"] == "reliable")
        .unwrap()
        .clone();
    assert_eq!(reliable["lost"], 0, "{reliable}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ran twice, paid twice") && text.contains("ran twice, paid once"),
        "{text}"
    );
}
