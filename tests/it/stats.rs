//! `concur stats` as Sidekiq's Web UI shows a queue: the retry, scheduled and dead jobs with
//! their jid, class, args, error, attempts and when, and a worker stopped by TERM shown as
//! stopped, not dead. Each test has its own redis-server (see `common::redis`).

use crate::common::redis::test_redis;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn concur(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_concur"))
        .env("REDIS_URL", url)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stats(url: &str) -> Value {
    let (code, out, err) = concur(url, &["stats", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn jids(out: &str) -> Vec<String> {
    out.lines().map(str::to_owned).collect()
}

#[test]
fn stats_lists_a_dead_job_with_its_error_and_a_scheduled_one() {
    let Some(redis) = test_redis("stats_lists_a_dead_job_with_its_error_and_a_scheduled_one")
    else {
        return;
    };
    let url = redis.url.as_str();
    // Fails every attempt and may not retry: dead after its first run.
    let (code, out, err) = concur(
        url,
        &[
            "enqueue",
            "--print-jids",
            "--flaky",
            "9",
            "--retry",
            "0",
            "--items",
            "1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let dead = jids(&out);
    let (code, out, _) = concur(
        url,
        &["enqueue", "--print-jids", "-w", "noop", "--in", "1h"],
    );
    assert_eq!(code, 0);
    let scheduled = jids(&out);
    // A worker runs the flaky job (the scheduled one is an hour away) and is stopped by TERM
    // once the job is in the dead set.
    let mut worker = Command::new(env!("CARGO_BIN_EXE_concur"))
        .env("REDIS_URL", url)
        .args(["worker", "--heartbeat", "0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while stats(url)["dead"] != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(worker.wait().unwrap().success());

    let s = stats(url);
    let d = &s["dead_jobs"][0];
    assert_eq!(d["jid"], dead[0].as_str(), "{s}");
    assert_eq!(d["class"], "FlakyJob");
    assert_eq!(d["args"], serde_json::json!([0, 9]));
    assert_eq!(d["attempts"], 1);
    let error = d["error"].as_str().unwrap();
    assert!(error.starts_with("FlakyError: "), "{error}");
    assert!(
        d["next_run"].is_null() && d["failed_at"].as_f64().unwrap() > 0.0,
        "{d}"
    );

    let sch = &s["scheduled_jobs"][0];
    assert_eq!(sch["jid"], scheduled[0].as_str(), "{s}");
    assert_eq!(
        (sch["attempts"].as_u64(), sch["error"].is_null()),
        (Some(0), true)
    );
    assert!(sch["next_run"].as_f64().unwrap() > d["failed_at"].as_f64().unwrap() + 3000.0);
    assert_eq!(s["retry_jobs"], serde_json::json!([]));

    // Stopped by TERM: stopped, not dead, and holding nothing.
    assert_eq!(s["unreaped"], serde_json::json!([]), "{s}");
    assert_eq!(s["stopped"].as_array().unwrap().len(), 1, "{s}");

    let (code, text, _) = concur(url, &["stats"]);
    assert_eq!(code, 0);
    assert!(text.contains("dead (latest first): 1"), "{text}");
    assert!(
        text.contains(&dead[0]) && text.contains("FlakyError"),
        "{text}"
    );
    assert!(text.contains(&scheduled[0]), "{text}");
    assert!(
        text.contains("stopped at ") && !text.contains("presumed dead"),
        "{text}"
    );
    let (_, limited, _) = concur(url, &["stats", "--limit", "0"]);
    assert!(
        limited.contains("dead (latest first): 1, the first 0 shown"),
        "{limited}"
    );
}

#[test]
fn a_retry_shows_its_attempts_error_and_next_run() {
    let Some(redis) = test_redis("a_retry_shows_its_attempts_error_and_next_run") else {
        return;
    };
    let url = redis.url.as_str();
    let (code, out, err) = concur(
        url,
        &[
            "enqueue",
            "--print-jids",
            "--flaky",
            "9",
            "--retry",
            "5",
            "--items",
            "1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let jid = jids(&out);
    let mut worker = Command::new(env!("CARGO_BIN_EXE_concur"))
        .env("REDIS_URL", url)
        .args(["worker", "--heartbeat", "0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while stats(url)["retries"] != 1 {
        assert!(started.elapsed() < Duration::from_secs(30), "no retry");
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = stats(url);
    let _ = worker.kill();
    let _ = worker.wait();
    let r = &s["retry_jobs"][0];
    assert_eq!(r["jid"], jid[0].as_str(), "{s}");
    assert_eq!(r["attempts"], 1);
    assert!(r["error"].as_str().unwrap().contains("attempt 1"), "{r}");
    assert!(
        r["next_run"].as_f64().unwrap() > r["failed_at"].as_f64().unwrap(),
        "due after it failed: {r}"
    );
}
