//! Chaos through the binary: faulty jobs (`--fault`), job timeouts, and Ctrl-C for every strategy.
//!
//! Nothing forks in this process (the test harness is multi-threaded): every fault happens in a
//! measured child of `concur`. Each run carries a unique environment tag, so the checks for
//! leftover processes see this test's processes only (children inherit the tag through fork and
//! exec, and keep it when they are re-parented), and a private TMPDIR, so leftover temp files are
//! this test's too.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// `concur ARGS`, with a bound on how long it may take (a hang must not hang the tests).
fn concur(args: &[&str], limit: Duration) -> std::process::Output {
    Command::cargo_bin("concur")
        .unwrap()
        .args(args)
        .timeout(limit)
        .output()
        .unwrap()
}

/// `concur run ARGS --json`: exit code, JSON object (if any), stderr.
fn run(args: &[&str]) -> (Option<i32>, Option<Value>, String) {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    full.push("--json");
    let out = concur(&full, Duration::from_secs(60));
    let json = serde_json::from_slice(&out.stdout).ok();
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_ok(args: &[&str]) -> Value {
    let (code, json, stderr) = run(args);
    assert_eq!(code, Some(0), "concur run {args:?}: {stderr}");
    json.unwrap_or_else(|| panic!("no JSON from {args:?}: {stderr}"))
}

/// Why each failure happened (`failures` are objects: `{"job": N, "why": "..."}`).
fn failures(v: &Value) -> Vec<String> {
    v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["why"].as_str().unwrap().to_owned())
        .collect()
}

/// The jobs named by the failures, sorted.
fn failed_jobs(v: &Value) -> Vec<u64> {
    let mut jobs: Vec<u64> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["job"].as_u64())
        .collect();
    jobs.sort();
    jobs
}

#[test]
fn each_fault_under_fork_fails_only_the_faulty_jobs() {
    // 10 jobs, one in 5 faulty: jobs 4 and 9.
    for fault in ["crash", "panic", "leak", "hang"] {
        let v = run_ok(&[
            "-s",
            "fork",
            "-w",
            "sleep",
            "--wait-ms",
            "5",
            "--items",
            "10",
            "--workers",
            "2",
            "--fault",
            fault,
            "--every",
            "5",
            "--job-timeout",
            "1s",
        ]);
        assert_eq!(v["jobs"], 10, "{fault}: every job ran: {v}");
        assert_eq!(v["orphans_killed"], 0, "{fault}: {v}");
        if fault == "leak" {
            // A leak is not a failure: the job did its work, and its memory died with it.
            assert_eq!(v["failed_jobs"], 0, "{v}");
            assert_eq!(v["correct"], true, "{v}");
        } else {
            assert_eq!(failed_jobs(&v), vec![4, 9], "{fault}: {v}");
            assert_eq!(v["failed_jobs"], 2, "{fault}: only the faulty jobs: {v}");
        }
        let f = failures(&v).join("\n");
        match fault {
            "crash" => assert!(f.contains("killed by SIGABRT"), "{f}"),
            "panic" => assert!(f.contains("exited with status 101"), "{f}"),
            "hang" => assert!(f.contains("ran past --job-timeout"), "{f}"),
            _ => {}
        }
    }
}

#[test]
fn a_panic_in_threads_or_a_pool_is_one_failed_job() {
    for strategy in [
        "threads",
        "pool",
        "sequential",
        "rayon",
        "actors",
        "futures",
    ] {
        let v = run_ok(&[
            "-s", strategy, "-w", "noop", "--items", "10", "--fault", "panic", "--every", "5",
        ]);
        assert_eq!(v["jobs"], 10, "{strategy}: {v}");
        assert_eq!(failed_jobs(&v), vec![4, 9], "{strategy}: {v}");
        assert!(
            failures(&v).iter().all(|f| f.contains("panicked")),
            "{strategy}: {v}"
        );
    }
}

#[test]
fn when_every_rpc_worker_crashes_the_check_counts_the_jobs_that_never_ran() {
    // rpc does not replace a dead worker: once both have crashed, the rest of the queue waits
    // for nobody. The check must say how many ran, not count "never ran" as one failed job.
    let v = run_ok(&[
        "-s",
        "rpc",
        "-w",
        "noop",
        "--fault",
        "crash",
        "--every",
        "5",
        "--workers",
        "2",
        "--items",
        "20",
    ]);
    let ran = v["jobs"].as_u64().unwrap();
    assert!(ran < 20, "{v}");
    assert_eq!(v["correct"], false);
    let check = v["check"].as_str().unwrap();
    assert!(
        check.ends_with(&format!("; {ran} of 20 jobs ran")),
        "{check}"
    );
    assert!(failures(&v).iter().any(|f| f.contains("never ran")), "{v}");
}

#[test]
fn a_crash_under_threads_takes_the_whole_run_down() {
    let (code, json, stderr) = run(&[
        "-s", "threads", "-w", "noop", "--items", "10", "--fault", "crash", "--every", "5",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    // A dead run has no measurement; --json still prints an object: the failure.
    let json = json.expect("a JSON object with the failure");
    assert_eq!(json["correct"], false, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("SIGABRT"),
        "{json}"
    );
    assert!(
        stderr.contains("killed by SIGABRT") && stderr.contains("shares one process"),
        "{stderr}"
    );
}

#[test]
fn a_leak_stays_with_threads_and_dies_with_forked_children() {
    let growth = |strategy: &str| {
        let v = run_ok(&[
            "-s",
            strategy,
            "-w",
            "noop",
            "--items",
            "10",
            "--fault",
            "leak",
            "--every",
            "5",
            "--leak-mb",
            "64",
        ]);
        let start = v["rss_start_bytes"].as_u64().unwrap();
        let end = v["rss_end_bytes"].as_u64().unwrap();
        assert!(start > 0, "{v}");
        end.saturating_sub(start) >> 20
    };
    // Two faulty jobs leak 64 MiB each: 128 MiB kept by the threads' process...
    let threads = growth("threads");
    assert!(threads >= 120, "threads kept only {threads} MiB");
    // ...and none kept by the forking parent: each leak left with its child.
    let fork = growth("fork");
    assert!(fork < 32, "fork's parent grew by {fork} MiB");
}

#[test]
fn a_hung_forked_job_is_killed_and_reported() {
    let started = Instant::now();
    let v = run_ok(&[
        "-s",
        "fork",
        "-w",
        "noop",
        "--items",
        "4",
        "--fault",
        "hang",
        "--every",
        "4",
        "--job-timeout",
        "1s",
    ]);
    // A bound on a hang, not a performance assertion: without the kill this never returns.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(failed_jobs(&v), vec![3], "{v}");
    let f = failures(&v).join("");
    assert!(
        f.contains("ran past --job-timeout") && f.contains("SIGTERM"),
        "{f}"
    );
    assert_eq!(v["jobs_timed_out"], 1);
    assert!(v["hang_detected_s"].as_f64().unwrap() >= 1.0, "{v}");
    assert!(v.get("stopped_by").is_none(), "the run went on: {v}");

    // rpc: the worker holding the hung job is killed; the other one finishes the queue.
    let v = run_ok(&[
        "-s",
        "rpc",
        "-w",
        "noop",
        "--items",
        "8",
        "--workers",
        "2",
        "--fault",
        "hang",
        "--every",
        "8",
        "--job-timeout",
        "1s",
    ]);
    assert_eq!(failed_jobs(&v), vec![7], "{v}");
    assert!(failures(&v)[0].contains("ran past --job-timeout"), "{v}");
}

#[test]
fn a_hung_thread_stops_the_run_with_a_clear_message() {
    for strategy in ["threads", "pool", "futures"] {
        let (code, json, stderr) = run(&[
            "-s",
            strategy,
            "-w",
            "noop",
            "--items",
            "4",
            "--fault",
            "hang",
            "--every",
            "4",
            "--job-timeout",
            "1s",
        ]);
        assert_eq!(code, Some(1), "{strategy}: {stderr}");
        assert!(stderr.contains("a thread cannot be killed"), "{stderr}");
        let v = json.expect("the partial summary is printed");
        assert_eq!(v["stopped_by"], "job timeout", "{v}");
        assert_eq!(failed_jobs(&v), vec![3], "{v}");
    }
}

#[test]
fn chaos_prints_a_survival_table() {
    let out = concur(
        &[
            "chaos",
            "--fault",
            "crash,leak",
            "-s",
            "fork,threads",
            "--items",
            "10",
            "--wait-ms",
            "1",
            "--json",
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let row = |fault: &str, strategy: &str| {
        rows.iter()
            .find(|r| r["fault"] == fault && r["strategy"] == strategy)
            .unwrap_or_else(|| panic!("no row {fault} {strategy}: {v}"))
    };
    let fork_crash = row("crash", "fork");
    assert_eq!(fork_crash["finished"], true);
    assert_eq!(fork_crash["completed"], 8);
    assert_eq!(fork_crash["failed"], 2);
    let threads_crash = row("crash", "threads");
    assert_eq!(threads_crash["finished"], false);
    assert!(threads_crash["ending"]
        .as_str()
        .unwrap()
        .contains("SIGABRT"));
    assert_eq!(threads_crash["completed"], Value::Null, "unknown: it died");
    let (t, f) = (row("leak", "threads"), row("leak", "fork"));
    let grew = |r: &Value| {
        r["rss_end_bytes"].as_u64().unwrap() as i64 - r["rss_start_bytes"].as_u64().unwrap() as i64
    };
    assert!(grew(t) > grew(f) + (30 << 20), "threads {t} fork {f}");

    // The human table names every row.
    let out = concur(
        &[
            "chaos",
            "--fault",
            "panic",
            "-s",
            "fork,pool",
            "--items",
            "5",
            "--wait-ms",
            "1",
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    // The fault and the strategy lead each row, whatever the spacing between them.
    let leads: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert!(
        leads.contains(&vec!["panic", "fork"]) && leads.contains(&vec!["panic", "pool"]),
        "{table}"
    );
}

#[test]
fn chaos_flags_are_checked() {
    for args in [
        &["run", "-s", "fork", "--job-timeout", "0s"][..],
        &["run", "-s", "fork", "--job-timeout", "soon"],
        &["run", "-s", "fork", "--fault", "explode"],
        &["run", "-s", "fork", "--every", "0", "--fault", "panic"],
        &["chaos", "-s", "nope"],
    ] {
        let out = concur(args, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    if Path::new("/usr/bin/redis-server").exists() {
        let out = concur(
            &["run", "-s", "redis", "--fault", "panic"],
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("not wired into -s redis"));
    }
}

// ---- Ctrl-C ----

/// Start `concur ARGS` in its own process group, Ctrl-C the group mid-run, and check that it
/// exits 130 leaving no process and no temp file; its stderr.
fn ctrl_c(args: &[&str], twice: bool) -> String {
    signal_mid_run(args, twice, nix::sys::signal::Signal::SIGINT, 130)
}

/// Like [`ctrl_c`], with `sig` sent to the concur process alone (as `kill` does) unless it is
/// SIGINT (sent to the group, as a terminal does); `code` is the exit code expected.
fn signal_mid_run(args: &[&str], twice: bool, sig: nix::sys::signal::Signal, code: i32) -> String {
    crate::common::signals::signal_mid_run(args, twice, sig, code).stderr
}

#[test]
fn ctrl_c_stops_every_strategy_gracefully() {
    let mut strategies = vec![
        "sequential",
        "threads",
        "pool",
        "rayon",
        "actors",
        "futures",
        "fork",
        "rpc",
    ];
    if Path::new("/usr/bin/redis-server").exists() && std::env::var_os("REDIS_URL").is_none() {
        strategies.push("redis");
    }
    for s in strategies {
        // Long enough to be interrupted: 200 ms jobs two at a time, or (threads, futures, which
        // start every job at once) 2 s jobs.
        let args: Vec<&str> = match s {
            "threads" | "futures" => vec![
                "run",
                "-s",
                s,
                "-w",
                "sleep",
                "--items",
                "20",
                "--wait-ms",
                "2000",
                "--quiet",
            ],
            "sequential" => vec![
                "run",
                "-s",
                s,
                "-w",
                "sleep",
                "--items",
                "20",
                "--wait-ms",
                "200",
                "--quiet",
            ],
            _ => vec![
                "run",
                "-s",
                s,
                "-w",
                "sleep",
                "--items",
                "30",
                "--wait-ms",
                "200",
                "--workers",
                "2",
                "--quiet",
            ],
        };
        let stderr = ctrl_c(&args, false);
        assert!(stderr.contains("SIGINT: no new jobs"), "{s}: {stderr}");
        assert!(stderr.contains("stopped by SIGINT"), "{s}: {stderr}");
        // Graceful: the jobs in flight were allowed to finish, not killed.
        assert!(!stderr.contains("  failed    "), "{s}: {stderr}");
        assert!(!stderr.contains("killing"), "{s}: {stderr}");
        if !matches!(s, "threads" | "futures") {
            // The partial summary counts the jobs that never started.
            assert!(stderr.contains("not started"), "{s}: {stderr}");
        }
    }
}

#[test]
fn a_second_ctrl_c_kills_hung_jobs_at_once() {
    for s in ["fork", "threads"] {
        let stderr = ctrl_c(
            &[
                "run", "-s", s, "-w", "noop", "--items", "4", "--fault", "hang", "--every", "2",
                "--quiet",
            ],
            true,
        );
        assert!(stderr.contains("killing the run now"), "{s}: {stderr}");
    }
}

#[test]
fn a_hung_run_is_killed_after_the_shutdown_timeout() {
    let stderr = ctrl_c(
        &[
            "run",
            "-s",
            "pool",
            "-w",
            "noop",
            "--items",
            "4",
            "--fault",
            "hang",
            "--every",
            "1",
            "--shutdown-timeout",
            "500ms",
            "--quiet",
        ],
        false,
    );
    assert!(stderr.contains("after --shutdown-timeout"), "{stderr}");
}

#[test]
fn sigterm_is_a_graceful_stop_too_and_exits_143() {
    for s in ["fork", "pool"] {
        let stderr = signal_mid_run(
            &[
                "run",
                "-s",
                s,
                "-w",
                "sleep",
                "--items",
                "30",
                "--wait-ms",
                "200",
                "--workers",
                "2",
                "--quiet",
            ],
            false,
            nix::sys::signal::Signal::SIGTERM,
            143,
        );
        assert!(stderr.contains("stopped by SIGTERM"), "{s}: {stderr}");
        assert!(!stderr.contains("  failed    "), "{s}: {stderr}");
    }
}

#[test]
fn ctrl_c_stops_chaos_after_the_current_run() {
    let stderr = ctrl_c(
        &[
            "chaos",
            "--fault",
            "hang,leak",
            "-s",
            "fork,pool",
            "--items",
            "8",
            "--every",
            "4",
        ],
        false,
    );
    assert!(stderr.contains("stopped by SIGINT"), "{stderr}");
    assert!(
        !stderr.contains("with --fault leak"),
        "no run starts after Ctrl-C: {stderr}"
    );
}

#[test]
fn ctrl_c_stops_compare_and_still_writes_the_report() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let stderr = ctrl_c(
        &[
            "compare",
            "-w",
            "sleep",
            "--items",
            "20",
            "--wait-ms",
            "100",
            "-s",
            "sequential,pool",
            "--out",
            dir.to_str().unwrap(),
        ],
        false,
    );
    assert!(
        stderr.contains("writing the report of what ran"),
        "{stderr}"
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert!(results.is_object());
    assert!(dir.join("report.html").exists());
}
