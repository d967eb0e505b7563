//! The rest of the seed systems, through the binary: prefork, the SQLite queue (DelayedJob), the
//! presets, and the cpu and sleep workloads across them.

use crate::common::{assert_emoji, concur, run_json};
use serde_json::Value;

/// `concur run ARGS... --json` with extra environment; asserts exit 0.
fn run_json_env(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    full.push("--json");
    let mut cmd = concur(&full);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("concur runs");
    assert!(
        out.status.success(),
        "concur {full:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn notes(v: &Value) -> Vec<String> {
    v["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

fn note_starting(v: &Value, prefix: &str) -> String {
    notes(v)
        .into_iter()
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no note starting {prefix:?} in {v}"))
}

/// The numbers in the sqlite claims note: (claims, distinct jobs, taken over, while live, done).
fn claims(v: &Value) -> (u64, u64, u64, u64, u64) {
    let note = note_starting(v, "claims: ");
    let n: Vec<u64> = note
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(n.len(), 5, "{note}");
    (n[0], n[1], n[2], n[3], n[4])
}

fn emoji_stdout(args: &[&str]) -> Vec<u8> {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    let out = concur(&full).output().unwrap();
    assert!(
        out.status.success(),
        "{full:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn prefork_prints_exact_emoji_from_workers_forked_once() {
    let stdout = emoji_stdout(&["-s", "prefork", "--workers", "3"]);
    assert_emoji(&stdout, 51, 50);
    let v = run_json(&["-s", "prefork", "--workers", "3", "--items", "40"]);
    assert_eq!(v["correct"], true, "{v}");
    assert_eq!(
        note_starting(&v, "prefork: "),
        "prefork: 3 workers forked once (3 forks in all, 0 replaced after dying), 40 jobs performed over their sockets"
    );
    // The parent and its three workers, never more: no process per job.
    assert!(v["peak_processes"].as_u64().unwrap() <= 4, "{v}");
}

#[test]
fn a_prefork_worker_killed_mid_run_is_replaced_and_the_run_completes() {
    // Of 59 jobs one in 30 crashes: job 29 only, its worker aborting mid-job. The 29 jobs after
    // it wait 10 ms each, so work is still queued when the death is noticed: a replacement is
    // always needed (with instant jobs the others could drain the queue first).
    let v = run_json(&[
        "-s",
        "prefork",
        "--workers",
        "3",
        "-w",
        "sleep",
        "--wait-ms",
        "10",
        "--items",
        "59",
        "--fault",
        "crash",
        "--every",
        "30",
    ]);
    assert_eq!(v["failed_jobs"], 1, "{v}");
    let failure = v["failures"][0]["why"].as_str().unwrap();
    assert!(
        v["failures"][0]["job"] == 29
            && failure.starts_with("worker ")
            && failure.contains("killed by SIGABRT mid-job")
            && failure.contains("replaced"),
        "{failure}"
    );
    // Every other job ran, including the ones after the death.
    assert!(
        note_starting(&v, "prefork: ")
            .contains("(4 forks in all, 1 replaced after dying), 58 jobs performed"),
        "{v}"
    );
    assert_eq!(v["orphans_killed"], 0, "{v}");
}

#[test]
fn prefork_shares_a_wallet_only_through_shared_memory() {
    let v = run_json(&["-s", "prefork", "-w", "wallet", "--sync", "shared-atomic"]);
    assert_eq!(
        (v["correct"].as_bool(), v["lost_updates"].as_u64()),
        (Some(true), Some(0)),
        "{v}"
    );
    let v = run_json(&[
        "-s",
        "prefork",
        "-w",
        "wallet",
        "--workers",
        "2",
        "--items",
        "10",
    ]);
    assert!(
        notes(&v).iter().any(|n| n.starts_with("isolated: 0 of 10")),
        "{v}"
    );
}

#[test]
fn sqlite_prints_exact_emoji_with_4_threads_and_with_4_processes() {
    for strategy in ["sqlite", "sqlite-fork"] {
        let stdout = emoji_stdout(&["-s", strategy, "--workers", "4"]);
        assert_emoji(&stdout, 51, 50);
        let v = run_json(&["-s", strategy, "--workers", "4"]);
        assert_eq!(v["correct"], true, "{strategy}: {v}");
        assert_eq!(v["emoji_seen"], 51 * 50, "{strategy}: {v}");
        assert_eq!(claims(&v), (51, 51, 0, 0, 51), "{strategy}: {v}");
        assert!(note_starting(&v, "contention: ").contains("busy retries"));
    }
    // Threads share one process; processes are one each plus the parent.
    let threads = run_json(&["-s", "sqlite", "--workers", "4"]);
    assert_eq!(threads["peak_processes"], 1, "{threads}");
}

#[test]
fn no_sqlite_job_is_claimed_twice() {
    // Many small jobs and many claimers: the most chances for a double claim.
    for strategy in ["sqlite", "sqlite-fork"] {
        let v = run_json(&[
            "-s",
            strategy,
            "-w",
            "noop",
            "--items",
            "600",
            "--workers",
            "8",
        ]);
        assert_eq!(v["correct"], true, "{strategy}: {v}");
        let (claims, distinct, taken_over, live, done) = claims(&v);
        assert_eq!(
            (claims, distinct, taken_over, live, done),
            (600, 600, 0, 0, 600),
            "{strategy}: every job claimed exactly once"
        );
    }
}

#[test]
fn a_crashed_claimers_expired_lock_is_reclaimed() {
    let env = [("CONCUR_SQLITE_LOCK_MS", "300")];
    for strategy in ["sqlite-fork", "sqlite"] {
        // Job 50's first claimer crashes holding its lock.
        let v = run_json_env(
            &[
                "-s",
                strategy,
                "--workers",
                "3",
                "--fault",
                "crash",
                "--every",
                "51",
            ],
            &env,
        );
        // The job whose worker died was taken over once its lock expired, and ran: all emoji.
        assert_eq!(v["correct"], true, "{strategy}: {v}");
        assert_eq!(v["emoji_seen"], 51 * 50, "{strategy}: {v}");
        assert_eq!(claims(&v), (52, 51, 1, 0, 51), "{strategy}: {v}");
        if strategy == "sqlite-fork" {
            assert!(
                notes(&v)
                    .iter()
                    .any(|n| n.contains("killed by SIGABRT holding a claim")),
                "{v}"
            );
            assert_eq!(v["orphans_killed"], 0, "{v}");
        }
    }
}

#[test]
fn sqlite_wallet_atomic_update_loses_nothing_across_processes() {
    for strategy in ["sqlite", "sqlite-fork"] {
        let v = run_json(&[
            "-s", strategy, "-w", "wallet", "--sync", "atomic", "--items", "60",
        ]);
        assert_eq!(v["correct"], true, "{strategy}: {v}");
        assert_eq!(v["lost_updates"], 0, "{strategy}: {v}");
        assert_eq!(v["final_balance"], 100, "{strategy}: {v}");
    }
    // `mutex` means nothing to a database row.
    concur(&["run", "-s", "sqlite", "-w", "wallet", "--sync", "mutex"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("does not do --sync mutex"));
}

#[test]
fn no_sqlite_database_is_left_behind() {
    let tmp = tempfile::tempdir().unwrap();
    for strategy in ["sqlite", "sqlite-fork"] {
        concur(&["run", "-s", strategy, "-q", "--items", "10"])
            .env("TMPDIR", tmp.path())
            .assert()
            .success();
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn cpu_results_agree_across_strategies() {
    // Each cpu job checks its result against an O(log n) jump-ahead of the same generator, so a
    // strategy that ran a job wrongly, twice or not at all cannot report this line.
    let mut checks = Vec::new();
    for strategy in [
        "sequential",
        "pool",
        "futures",
        "fork",
        "prefork",
        "sqlite",
        "sqlite-fork",
    ] {
        let v = run_json(&["-s", strategy, "-w", "cpu", "--items", "8", "--cost", "1"]);
        assert_eq!(v["correct"], true, "{strategy}: {v}");
        assert_eq!(v["failed_jobs"], 0, "{strategy}: {v}");
        checks.push((strategy, v["check"].as_str().unwrap().to_owned()));
    }
    for (strategy, check) in &checks {
        assert_eq!(
            check, "all 8 jobs computed their checked result",
            "{strategy}"
        );
    }
}

#[test]
fn sleep_reports_memory_per_in_flight_job() {
    // futures: all 2000 waits in flight at once, counted; they finish in about one wait.
    let v = run_json(&[
        "-s",
        "futures",
        "-w",
        "sleep",
        "--items",
        "2000",
        "--wait-ms",
        "50",
    ]);
    assert_eq!(v["correct"], true, "{v}");
    assert_eq!(v["peak_in_flight"], 2000, "{v}");
    assert!(v["mem_per_in_flight_bytes"].as_u64().is_some(), "{v}");
    assert!(
        note_starting(&v, "in flight: ").contains("(counted)"),
        "{v}"
    );
    // Generous: 2000 waits one after another would take 100 s; concurrently about 0.05 s.
    assert!(v["work_s"].as_f64().unwrap() < 100.0 * 0.05, "{v}");

    // prefork: jobs run in the workers, so the peak is the bound, and the note says so.
    let v = run_json(&[
        "-s",
        "prefork",
        "-w",
        "sleep",
        "--items",
        "6",
        "--wait-ms",
        "1",
        "--workers",
        "3",
    ]);
    assert_eq!(v["peak_in_flight"], 3, "{v}");
    assert!(note_starting(&v, "in flight: ").contains("bound min(workers, items)"));

    // Other workloads carry no such figure.
    let v = run_json(&["-s", "pool", "-w", "noop"]);
    assert!(v.get("mem_per_in_flight_bytes").is_none(), "{v}");
}

#[test]
fn presets_are_listed_with_what_they_are_made_of() {
    let out = concur(&["list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for (preset, made_of) in [
        ("resque", "redis queue + fork per job"),
        ("sidekiq", "redis strategy"),
        ("delayed-job", "sqlite-fork strategy"),
        ("sucker-punch", "actors strategy"),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{preset} "))),
            "{preset} listed:\n{text}"
        );
        assert!(
            text.contains(made_of),
            "{preset} made of {made_of}:\n{text}"
        );
    }
    for strategy in ["prefork", "sqlite", "sqlite-fork"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{strategy} "))),
            "{strategy} listed"
        );
    }
}

#[test]
fn presets_run_as_the_systems_they_name() {
    let redis = std::path::Path::new("/usr/bin/redis-server").exists()
        || std::env::var_os("REDIS_URL").is_some();
    let mut presets = vec![("delayed-job", 4u64, 5u64), ("sucker-punch", 2, 1)];
    if redis {
        presets.extend([("resque", 2, 0), ("sidekiq", 5, 2)]);
    }
    for (preset, workers, processes_at_most) in presets {
        let stdout = emoji_stdout(&["-s", preset]);
        assert_emoji(&stdout, 51, 50);
        let v = run_json(&["-s", preset, "--items", "20"]);
        assert_eq!(v["strategy"], preset);
        assert_eq!(v["correct"], true, "{preset}: {v}");
        assert_eq!(v["workers"], workers, "{preset}: {v}");
        if processes_at_most > 0 {
            assert!(
                v["peak_processes"].as_u64().unwrap() <= processes_at_most,
                "{preset}: {v}"
            );
        }
    }
    if redis {
        // resque: the wallet in Redis, fixed by INCRBY, across a process per job.
        let v = run_json(&[
            "-s", "resque", "-w", "wallet", "--sync", "incr", "--items", "20",
        ]);
        assert_eq!(
            (v["correct"].as_bool(), v["lost_updates"].as_u64()),
            (Some(true), Some(0)),
            "{v}"
        );
        assert!(
            notes(&v).iter().any(|n| n.starts_with("resque: 21 LPOPs")),
            "{v}"
        );
    }
    concur(&["run", "-s", "resque", "--batch", "5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("resque pops one job per fork"));
}
