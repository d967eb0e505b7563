//! The `redis` strategy against a real Redis: exact emoji counts, the wallet race and its two
//! fixes, clean keys, no server left behind, and bad URLs refused quickly.
//!
//! Every test that needs Redis starts its own `redis-server` on a Unix socket in a temp dir (never
//! port 6379). Without redis-server those tests print why and pass, unless
//! `CONCUR_REQUIRE_REDIS=1`, under which they fail (CI sets it).

use assert_cmd::Command;
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::redis::{redis_server_path, test_redis, TestRedis};

fn concur() -> Command {
    let mut cmd = Command::cargo_bin("concur").unwrap();
    cmd.env_remove("REDIS_URL");
    cmd
}

/// `concur run -s redis ARGS --json` against `server`; the measurement.
fn run_json(server: &TestRedis, args: &[&str]) -> Value {
    let out = concur()
        .env("REDIS_URL", &server.url)
        .args(["run", "-s", "redis", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "concur {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// The number right before `suffix` in the note starting with `prefix`.
fn note_number(m: &Value, prefix: &str, suffix: &str) -> u64 {
    let notes = m["notes"].as_array().unwrap();
    let note = notes
        .iter()
        .filter_map(Value::as_str)
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' note in {notes:?}"));
    let before = &note[..note.find(suffix).expect("suffix in note")];
    before
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before '{suffix}' in {note:?}"))
}

#[test]
fn emoji_counts_are_exact_with_1_4_and_16_workers() {
    let Some(server) = test_redis("emoji_counts_are_exact_with_1_4_and_16_workers") else {
        return;
    };
    for workers in ["1", "4", "16"] {
        let m = run_json(&server, &["--workers", workers]);
        assert_eq!(m["correct"], true, "{workers} workers: {}", m["check"]);
        assert_eq!(m["emoji_seen"], 51 * 50);
        assert_eq!(m["jobs"], 51);
        assert_eq!(m["workers"], workers.parse::<u64>().unwrap());
        assert_eq!(m["failed_jobs"], 0);
    }
    // Batched fetch runs every job exactly once too.
    let m = run_json(&server, &["--workers", "4", "--batch", "7"]);
    assert_eq!(m["correct"], true, "batch 7: {}", m["check"]);
    assert_eq!(m["emoji_seen"], 51 * 50);
}

#[test]
fn batch_fetches_many_jobs_per_round_trip() {
    let Some(server) = test_redis("batch_fetches_many_jobs_per_round_trip") else {
        return;
    };
    let args = ["-w", "noop", "--items", "1024", "--workers", "4"];
    let one = run_json(&server, &args);
    let mut batched_args = args.to_vec();
    batched_args.extend(["--batch", "64"]);
    let batched = run_json(&server, &batched_args);
    for m in [&one, &batched] {
        assert_eq!(m["correct"], true, "{}", m["check"]);
        assert_eq!(m["jobs"], 1024);
    }
    // One LPOP per job plus one empty answer per worker, versus one per 64 jobs.
    assert_eq!(note_number(&one, "drain:", "LPOP calls"), 1024 + 4);
    assert!(note_number(&batched, "drain:", "LPOP calls") <= 1024 / 64 + 4);
}

#[test]
fn wallet_without_sync_loses_updates() {
    let Some(server) = test_redis("wallet_without_sync_loses_updates") else {
        return;
    };
    let mut lost_in = 0;
    for _ in 0..20 {
        let m = run_json(
            &server,
            &[
                "-w",
                "wallet",
                "--sync",
                "none",
                "--workers",
                "4",
                "--items",
                "40",
                "--pause-us",
                "2000",
            ],
        );
        assert_eq!(m["sync"], "none");
        if m["lost_updates"].as_u64().unwrap() > 0 {
            assert_eq!(m["correct"], false);
            lost_in += 1;
            break;
        }
    }
    assert!(
        lost_in > 0,
        "GET, pause, SET never lost an update in 20 runs"
    );
}

#[test]
fn wallet_incr_and_watch_are_exact() {
    let Some(server) = test_redis("wallet_incr_and_watch_are_exact") else {
        return;
    };
    let mut watch_retries = 0;
    for attempt in 0..5 {
        for sync in ["incr", "watch"] {
            let m = run_json(
                &server,
                &[
                    "-w",
                    "wallet",
                    "--sync",
                    sync,
                    "--workers",
                    "8",
                    "--items",
                    "60",
                    "--pause-us",
                    "500",
                ],
            );
            assert_eq!(m["correct"], true, "{sync}: {}", m["check"]);
            assert_eq!(m["final_balance"], 100);
            assert_eq!(m["lost_updates"], 0);
            if sync == "watch" {
                watch_retries += note_number(&m, "watch:", "retries");
            }
        }
        if watch_retries > 0 {
            return;
        }
        eprintln!("attempt {attempt}: 8 workers never collided under WATCH; again");
    }
    panic!("WATCH/MULTI/EXEC never retried with 8 workers in 5 runs: is it really watching?");
}

#[test]
fn a_run_deletes_its_keys_and_leaves_others_alone() {
    let Some(server) = test_redis("a_run_deletes_its_keys_and_leaves_others_alone") else {
        return;
    };
    let mut con = server.con();
    redis::cmd("SET")
        .arg("someone:else")
        .arg("kept")
        .exec(&mut con)
        .unwrap();
    run_json(&server, &["--workers", "4"]);
    run_json(
        &server,
        &["-w", "wallet", "--sync", "watch", "--workers", "4"],
    );
    run_json(&server, &["-w", "wallet", "--sync", "none", "--batch", "5"]);

    let left: Vec<String> = redis::cmd("KEYS").arg("concur:*").query(&mut con).unwrap();
    assert!(left.is_empty(), "keys left behind: {left:?}");
    let kept: String = redis::cmd("GET")
        .arg("someone:else")
        .query(&mut con)
        .unwrap();
    assert_eq!(kept, "kept");
    // And the runs really used this server.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    assert!(stats.contains("cmdstat_lpop:"), "{stats}");
    assert!(stats.contains("cmdstat_watch:"), "{stats}");
}

#[test]
fn redis_url_flag_wins_over_the_environment() {
    let Some(server) = test_redis("redis_url_flag_wins_over_the_environment") else {
        return;
    };
    concur()
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .args(["run", "-s", "redis", "-q", "--redis-url", &server.url])
        .assert()
        .success();
    concur()
        .env("REDIS_URL", &server.url)
        .args([
            "run",
            "-s",
            "redis",
            "-q",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .assert()
        .code(2);
}

/// Processes whose command line mentions `needle` and that have not exited (zombies have).
fn live_processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if cmdline.contains(needle) && !zombie {
            found.push((pid, cmdline));
        }
    }
    found
}

fn wait_until_none_mention(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = live_processes_mentioning(needle);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_private_server_is_gone_after_a_normal_exit() {
    if redis_server_path().is_none() {
        test_redis("the_private_server_is_gone_after_a_normal_exit"); // skips or fails
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("concur-test-")
        .tempdir_in("/tmp")
        .unwrap();
    let out = concur()
        .env("TMPDIR", tmp.path())
        .args([
            "run", "-s", "redis", "-w", "wallet", "--sync", "incr", "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["correct"], true, "{}", m["check"]);
    // The server ran inside the measured tree and was stopped by concur, not by the harness.
    assert!(m["peak_processes"].as_u64().unwrap() >= 2, "{m}");
    assert_eq!(m["orphans_killed"], 0);
    let pid = note_number(&m, "redis: private redis-server", ")");
    assert!(
        live_processes_mentioning(&tmp.path().display().to_string()).is_empty(),
        "redis-server (pid {pid}) outlived concur"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn the_private_server_is_gone_after_sigint() {
    use std::os::unix::process::CommandExt;
    if redis_server_path().is_none() {
        test_redis("the_private_server_is_gone_after_sigint"); // skips or fails
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("concur-test-")
        .tempdir_in("/tmp")
        .unwrap();
    let needle = tmp.path().display().to_string();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("concur"));
    cmd.env_remove("REDIS_URL")
        .env("TMPDIR", tmp.path())
        // ~10 s of work: long enough to be interrupted in the middle.
        .args(["run", "-s", "redis", "-w", "wallet", "--workers", "1"])
        .args(["--items", "500", "--pause-us", "20000", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: runs between fork and exec and only calls signal(2), which is async-signal-safe.
    // A test run from a background shell job inherits SIGINT ignored; concur must see Ctrl-C.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGINT,
                nix::sys::signal::SigHandler::SigDfl,
            )
            .map(|_| ())
            .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while !live_processes_mentioning(&needle)
        .iter()
        .any(|(_, cmdline)| cmdline.contains("redis-server"))
    {
        assert!(
            Instant::now() < deadline,
            "the private redis-server never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "concur ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200)); // into the jobs
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "concur ignored SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The measured child and its redis-server both mention the temp dir on their command lines.
    wait_until_none_mention(&needle);
}

#[test]
fn missing_redis_server_and_no_url_is_one_line_and_exit_2() {
    let empty = tempfile::tempdir().unwrap();
    let out = concur()
        .env("PATH", empty.path())
        .args(["run", "-s", "redis"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("apt-get install redis-server"), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
    // `list` still works, and says why.
    let out = concur()
        .env("PATH", empty.path())
        .arg("list")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("redis ")).unwrap();
    assert!(line.contains("unavailable here"), "{line}");
}

/// Exit 2 with one `concur: error:` line naming the problem, within a bound that only a hang
/// would break (this is not a speed test).
fn assert_refused_quickly(url: &str, expect: &str) {
    let start = Instant::now();
    let out = concur()
        .env("REDIS_URL", url)
        .args(["run", "-s", "redis", "-q"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
    assert!(stderr.starts_with("concur: error: "), "{url}: {stderr}");
    assert!(stderr.contains(expect), "{url}: {stderr}");
    assert!(
        elapsed < Duration::from_secs(3),
        "{url}: took {elapsed:?} to give up"
    );
}

#[test]
fn bad_redis_urls_fail_fast_with_exit_2() {
    // A port nobody listens on: bind one, then let it go.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    assert_refused_quickly(&format!("redis://127.0.0.1:{port}"), "cannot reach Redis");
    assert_refused_quickly(&format!("http://127.0.0.1:{port}"), "is not a Redis URL");
    assert_refused_quickly("localhost:6380", "is not a Redis URL");
    assert_refused_quickly("unix:///nonexistent/redis.sock", "cannot reach Redis");
    // TEST-NET-1 is never routed: refused or silent, either way bounded.
    assert_refused_quickly("redis://192.0.2.1:6380", "Redis at redis://192.0.2.1:6380");
    // A server that accepts and never answers: only a response timeout ends this one.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    assert_refused_quickly(&format!("redis://127.0.0.1:{port}"), "no answer from Redis");
    drop(silent);
    // A password never appears in the message.
    let out = concur()
        .env("REDIS_URL", format!("redis://me:hunter2@127.0.0.1:{port}"))
        .args(["run", "-s", "redis", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

#[test]
fn redis_flags_and_modes_are_checked() {
    concur()
        .args(["run", "-s", "pool", "--batch", "4"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--batch applies to -s redis only",
        ));
    concur()
        .args(["run", "-s", "threads", "--redis-url", "redis://127.0.0.1:1"])
        .assert()
        .code(2);
    concur()
        .args(["run", "-s", "pool", "-w", "wallet", "--sync", "incr"])
        .assert()
        .code(2);
    if redis_server_path().is_some() {
        // Refused before any server is started.
        concur()
            .args(["run", "-s", "redis", "-w", "wallet", "--sync", "mutex"])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(
                "'redis' does not do --sync mutex; it does: none, incr, watch",
            ));
    }
}
