//! What a user can type wrong, or ask for beyond the machine: each is exit 2 with one line that
//! says why, no panic, and nothing run. (The queue's own inputs are in `queue.rs`.)

use crate::common::concur;
use std::time::Duration;

/// Run `concur ARGS` (with `env`), assert exit 2, and return its one error line. Clap's usage
/// tip under a parse error ("For more information, try '--help'.") is not counted.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = concur(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.timeout(Duration::from_secs(30)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with("For more information") && !l.starts_with("Usage:"))
        .collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got {err}");
    lines[0].to_owned()
}

#[test]
fn enqueue_at_refuses_times_that_are_not_times() {
    for at in [
        "inf",
        "1e308",
        "NaN",
        "-5",
        "2026-02-30T00:00:00Z",
        "2026-01-01T25:61:99Z",
        "2026-01-01TNaN:00Z",
        "9223372036854775807-01-01T00:00:00Z",
        "99999-01-01T00:00:00Z",
        "tomorrow",
    ] {
        let flag = format!("--at={at}");
        // An unreachable Redis: a time that got through would fail differently.
        let line = refused(
            &["enqueue", "-w", "noop", "--items", "1", &flag],
            &[("REDIS_URL", "redis://127.0.0.1:1")],
        );
        assert!(line.contains("is not a time"), "{at}: {line}");
    }
}

#[test]
fn a_leak_the_machine_cannot_hold_is_refused_before_it_starts() {
    // 1000 faulty jobs of 4 GiB: kept by threads until the run ends.
    for strategy in ["threads", "pool", "prefork"] {
        let line = refused(
            &[
                "run",
                "-s",
                strategy,
                "-w",
                "noop",
                "--items",
                "1000",
                "--fault",
                "leak",
                "--every",
                "1",
                "--leak-mb",
                "4096",
            ],
            &[],
        );
        assert!(line.contains("x 1000 faulty jobs"), "{strategy}: {line}");
        assert!(line.contains("available"), "{line}");
    }
    // A process per job gives its leak back at exit: only the children alive at once count.
    let line = refused(
        &[
            "run",
            "-s",
            "fork",
            "-w",
            "noop",
            "--items",
            "1000",
            "--fault",
            "leak",
            "--every",
            "1",
            "--leak-mb",
            "4096",
            "--workers",
            "1000",
        ],
        &[],
    );
    assert!(line.contains("x 1000 children at once"), "{line}");
    let ok = concur(&[
        "run",
        "-s",
        "fork",
        "-w",
        "noop",
        "--items",
        "4",
        "--fault",
        "leak",
        "--every",
        "1",
        "--leak-mb",
        "8",
        "--workers",
        "1",
        "--quiet",
    ])
    .output()
    .unwrap();
    assert!(ok.status.success(), "{ok:?}");
}

#[test]
fn sqlite_strategies_refuse_more_workers_than_one_writer_can_feed() {
    for strategy in ["sqlite", "sqlite-fork", "delayed-job"] {
        let line = refused(
            &["run", "-s", strategy, "-w", "noop", "--workers", "1024"],
            &[],
        );
        assert!(line.contains("at most 64 --workers"), "{strategy}: {line}");
    }
    let ok = concur(&[
        "run",
        "-s",
        "sqlite-fork",
        "-w",
        "noop",
        "--items",
        "64",
        "--workers",
        "64",
        "--quiet",
    ])
    .timeout(Duration::from_secs(60))
    .output()
    .unwrap();
    assert!(ok.status.success(), "{ok:?}");
}

#[test]
fn a_state_dir_that_is_a_file_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("state");
    std::fs::write(&file, "").unwrap();
    let state = file.to_str().unwrap();
    for args in [&["lesson", "list"][..], &["lesson", "next", "--no-run"]] {
        let line = refused(args, &[("CONCUR_STATE_DIR", state)]);
        assert!(line.contains("is not a directory"), "{line}");
    }
}

#[test]
fn a_corrupt_progress_file_is_reported_and_left_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let progress = tmp.path().join("progress.json");
    std::fs::write(&progress, "{not json").unwrap();
    let state = tmp.path().to_str().unwrap();
    for args in [&["lesson", "list"][..], &["lesson", "next", "--no-run"]] {
        let line = refused(args, &[("CONCUR_STATE_DIR", state)]);
        assert!(line.contains("is not concur's progress"), "{line}");
    }
    assert_eq!(std::fs::read_to_string(&progress).unwrap(), "{not json");
}
