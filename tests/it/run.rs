//! `concur run` and `concur list` through the real binary: output, JSON, wallet, bad input.

use crate::common::{assert_emoji, concur, run_json};
use predicates::prelude::*;
use serde_json::Value;

const IN_PROCESS: &[&str] = &[
    "sequential",
    "threads",
    "pool",
    "rayon",
    "actors",
    "futures",
];

#[test]
fn every_strategy_prints_each_of_51_emoji_exactly_50_times() {
    for s in IN_PROCESS {
        let out = concur(&["run", "-s", s]).output().unwrap();
        assert!(out.status.success(), "{s}: {out:?}");
        assert_emoji(&out.stdout, 51, 50);
        let summary = String::from_utf8_lossy(&out.stderr);
        assert!(
            summary.contains("peak RSS"),
            "{s}: summary on stderr: {summary}"
        );
    }
}

#[test]
fn emoji_counts_scale_with_items_and_repeat() {
    for s in IN_PROCESS {
        let out = concur(&["run", "-s", s, "--items", "7", "--repeat", "3"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_emoji(&out.stdout, 7, 3);
    }
}

#[test]
fn quiet_prints_no_emoji_but_still_checks_them() {
    let out = concur(&["run", "-s", "pool", "--quiet"]).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("51 emoji x 50 each"));
}

#[test]
fn json_reports_the_contract_fields_for_every_strategy() {
    for s in IN_PROCESS {
        let v = run_json(&["-s", s]);
        for key in [
            "strategy",
            "workload",
            "jobs",
            "workers",
            "wall_s",
            "cpu_user_s",
            "cpu_sys_s",
            "peak_rss_bytes",
            "peak_pss_bytes",
            "peak_threads",
            "peak_processes",
            "correct",
        ] {
            assert!(v.get(key).is_some(), "{s}: missing {key} in {v}");
        }
        assert_eq!(v["strategy"], *s);
        assert_eq!(v["workload"], "emoji");
        assert_eq!(v["jobs"], 51);
        assert_eq!(v["emoji_seen"], 51 * 50, "{s}");
        assert_eq!(v["correct"], true, "{s}: {v}");
        assert!(v["peak_rss_bytes"].as_u64().unwrap() > 0, "{s}");
        assert!(v["peak_pss_bytes"].as_u64().unwrap() > 0, "{s}");
        assert!(v["wall_s"].as_f64().unwrap() > 0.0, "{s}");
        assert_eq!(v["orphans_killed"], 0, "{s}");
    }
}

#[test]
fn app_mb_shows_in_peak_rss() {
    let v = run_json(&["-s", "sequential", "--app-mb", "64"]);
    assert!(v["peak_rss_bytes"].as_u64().unwrap() > 64 << 20, "{v}");
    assert!(v["peak_pss_bytes"].as_u64().unwrap() > 60 << 20, "{v}");
}

#[test]
fn processes_forked_are_counted_not_sampled() {
    // 200 children that each live for well under the sampler's interval: the sampler sees a
    // few at most; the count sees them all.
    let v = run_json(&["-s", "fork", "-w", "noop", "--items", "200"]);
    assert_eq!(v["processes_forked"], 200, "{v}");
    let v = run_json(&[
        "-s",
        "prefork",
        "-w",
        "noop",
        "--items",
        "200",
        "--workers",
        "3",
    ]);
    assert_eq!(
        v["processes_forked"], 3,
        "prefork forks its workers once: {v}"
    );
    let v = run_json(&["-s", "threads", "-w", "noop", "--items", "20"]);
    assert_eq!(v["processes_forked"], 0, "{v}");
    concur(&[
        "run", "-s", "fork", "-w", "noop", "--items", "200", "--quiet",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains(
        "200 processes forked in all (counted)",
    ));
}

#[test]
fn dirty_needs_an_app_and_makes_forked_children_pay_for_their_copy() {
    concur(&["run", "-s", "fork", "--dirty", "50"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("give it an app with --app-mb"));
    let peak_pss = |dirty: &str| {
        let v = run_json(&[
            "-s",
            "fork",
            "-w",
            "sleep",
            "--items",
            "4",
            "--workers",
            "4",
            "--wait-ms",
            "200",
            "--app-mb",
            "32",
            "--dirty",
            dirty,
        ]);
        v["peak_pss_bytes"].as_f64().unwrap()
    };
    let (clean, dirty) = (peak_pss("0"), peak_pss("100"));
    // 4 children, each writing its whole 32 MiB copy: about 3 apps more than sharing it.
    assert!(
        dirty > clean + 2.0 * 32.0 * 1048576.0,
        "clean {clean} dirty {dirty}"
    );
}

#[test]
fn wallet_fixes_end_at_exactly_100_every_time() {
    let cases: &[&[&str]] = &[
        &["-s", "sequential"],
        &["-s", "actors"],
        &["-s", "threads", "--sync", "mutex"],
        &["-s", "threads", "--sync", "atomic"],
        &["-s", "threads", "--sync", "actor"],
        &["-s", "pool", "--sync", "mutex"],
        &["-s", "rayon", "--sync", "atomic"],
        &["-s", "futures", "--sync", "atomic"],
        &["-s", "futures", "--sync", "actor", "--workers", "1"],
    ];
    for case in cases {
        for _ in 0..5 {
            let mut args = vec!["-w", "wallet", "--items", "40"];
            args.extend_from_slice(case);
            let v = run_json(&args);
            assert_eq!(v["expected_balance"], 100, "{case:?}");
            assert_eq!(v["final_balance"], 100, "{case:?}: {v}");
            assert_eq!(v["lost_updates"], 0, "{case:?}");
            assert_eq!(v["correct"], true, "{case:?}");
        }
    }
}

#[test]
fn odd_job_counts_expect_110() {
    let v = run_json(&["-s", "sequential", "-w", "wallet", "--items", "5"]);
    assert_eq!(v["expected_balance"], 110);
    assert_eq!(v["final_balance"], 110);
}

/// Runs a racy wallet 20 times; returns how many runs lost updates. Each lossy run must also be
/// reported as incorrect, with a lost-update count that explains it.
fn lossy_runs(args: &[&str]) -> usize {
    (0..20)
        .filter(|_| {
            let v = run_json(args);
            let lost = v["lost_updates"].as_u64().unwrap();
            let off = v["final_balance"] != v["expected_balance"];
            if off {
                assert!(lost > 0, "a wrong balance needs lost updates: {v}");
                assert_eq!(v["correct"], false);
            }
            lost > 0
        })
        .count()
}

#[test]
fn racy_threads_lose_updates() {
    let lossy = lossy_runs(&[
        "-s",
        "threads",
        "-w",
        "wallet",
        "--sync",
        "none",
        "--pause-us",
        "200",
    ]);
    assert!(lossy >= 1, "20 racy runs lost nothing");
}

#[test]
fn a_single_threaded_event_loop_loses_updates_too() {
    let lossy = lossy_runs(&[
        "-s",
        "futures",
        "--workers",
        "1",
        "-w",
        "wallet",
        "--items",
        "20",
    ]);
    assert!(lossy >= 1, "20 racy event-loop runs lost nothing");
}

#[test]
fn summary_explains_a_race() {
    concur(&["run", "-s", "futures", "--workers", "1", "-w", "wallet"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("updates lost").and(predicate::str::contains("try --sync")),
        );
}

#[test]
fn list_shows_every_strategy_and_workload_one_line_each() {
    let out = concur(&["list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for s in IN_PROCESS {
        let lines: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{s} ")))
            .collect();
        assert_eq!(lines.len(), 1, "{s} in:\n{text}");
        assert!(lines[0].contains("shared"), "{s}: properties shown");
    }
    for w in ["emoji", "wallet"] {
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("{w} ")))
                .count(),
            1
        );
    }
}

#[test]
fn bad_input_is_one_clear_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "-s", "nope"],
            "unknown strategy 'nope' (valid: sequential, threads",
        ),
        (&["run", "-s", "pool", "-w", "nope"], "invalid value 'nope'"),
        (&["run", "-s", "pool", "--workers", "0"], "0 is not in 1.."),
        (&["run", "-s", "pool", "--items", "0"], "0 is not in 1.."),
        (
            &["run", "-s", "pool", "--items", "99999999"],
            "is not in 1..",
        ),
        (
            &["run", "-s", "pool", "--items", "5000"],
            "emoji has 1024 distinct items",
        ),
        (
            &["run", "-s", "threads", "-w", "wallet", "--items", "50000"],
            "stops at 10000",
        ),
        (
            &["run", "-s", "pool", "--app-mb", "99999999"],
            "is not in 0..",
        ),
        (
            &["run", "-s", "threads", "--workers", "4"],
            "--workers does not apply to 'threads'",
        ),
        (
            &["run", "-s", "actors", "-w", "wallet", "--sync", "mutex"],
            "'actors' does not do --sync mutex",
        ),
        (
            &["run", "-s", "pool", "--sync", "mutex"],
            "applies to the wallet workload only",
        ),
        (&["run"], "--strategy"),
    ];
    for (args, msg) in cases {
        concur(args)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(*msg).and(predicate::str::contains("panicked").not()));
    }
}

#[test]
fn cpu_jobs_check_their_results_under_every_strategy() {
    for s in IN_PROCESS {
        let v = run_json(&["-s", s, "-w", "cpu", "--items", "4", "--cost", "1"]);
        assert_eq!(v["correct"], true, "{s}: {v}");
        assert_eq!(v["failed_jobs"], 0, "{s}");
        assert_eq!(v["jobs"], 4, "{s}");
    }
}

#[test]
fn two_thousand_sleeps_on_an_event_loop_take_about_one_wait() {
    // 2,000 jobs of 200 ms one after another would take 400 s; as timers on one event loop
    // they overlap. The bound is 10 waits, generous for a loaded machine.
    let v = run_json(&[
        "-s",
        "futures",
        "--workers",
        "1",
        "-w",
        "sleep",
        "--items",
        "2000",
        "--wait-ms",
        "200",
    ]);
    assert_eq!(v["correct"], true);
    assert!(v["work_s"].as_f64().unwrap() < 2.0, "{v}");
}

#[test]
fn json_on_a_failed_run_is_an_object_with_the_failure() {
    let out = concur(&["run", "-s", "pool", "-w", "noop", "--json"])
        .env("CONCUR_TEST_FAIL", "pool")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON object on stdout");
    assert_eq!(v["strategy"], "pool");
    assert_eq!(v["correct"], false);
    assert_eq!(v["exit_code"], 1);
    assert!(
        v["error"].as_str().unwrap().contains("failed (exit 1)"),
        "{v}"
    );
}

/// Start a slow `concur run -s STRATEGY --json`, SIGKILL its measured child from outside (as a
/// user's `kill -9` or the OOM killer would), and return (exit code, stdout, stderr).
fn kill_the_measured_child(strategy: &str) -> (Option<i32>, String, String) {
    use crate::common::procs::{descendants, parent_of};
    let tmp = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_concur"))
        .args(["run", "-s", strategy, "-w", "sleep", "--items", "400"])
        .args(["--wait-ms", "50", "--workers", "2", "--json"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let harness = child.id() as i32;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let measured = loop {
        if let Some(p) = descendants(harness)
            .into_iter()
            .find(|p| parent_of(*p) == Some(harness))
        {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no measured child");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(measured),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{strategy}: temp files left: {left:?}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_outside_sigkill_is_not_blamed_on_a_crashing_job() {
    let mut strategies = vec!["sqlite", "pool"];
    if crate::common::redis::redis_server_path().is_some()
        && std::env::var_os("REDIS_URL").is_none()
    {
        strategies.push("redis");
    }
    for strategy in strategies {
        let (code, stdout, stderr) = kill_the_measured_child(strategy);
        assert_eq!(code, Some(1), "{strategy}: {stderr}");
        assert!(
            stderr.contains("killed by SIGKILL from outside"),
            "{strategy}: {stderr}"
        );
        assert!(!stderr.contains("crashing job"), "{strategy}: {stderr}");
        let v: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{strategy}: no JSON on stdout ({e}): {stdout}"));
        assert_eq!(v["correct"], false);
        assert!(v["error"].as_str().unwrap().contains("SIGKILL"), "{v}");
    }
}
