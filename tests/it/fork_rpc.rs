//! The process strategies, through the binary: `fork` (Resque) and `rpc` (DRb-like).
//!
//! Never fork in this process (the test harness is multi-threaded); every fork happens inside
//! `concur run`'s measured child. Each run carries a unique environment tag so that the checks
//! for leftover processes see only this test's processes, whatever else runs on the machine.

use crate::common::concur;
use crate::common::procs::{fresh_tag, processes_with_env};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const TAG_VAR: &str = "CONCUR_TEST_FORK_RPC_TAG";

/// `concur run ARGS --json` with extra environment; the parsed JSON object.
fn run_json_env(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut cmd = Command::cargo_bin("concur").unwrap();
    cmd.arg("run").args(args).arg("--json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.timeout(Duration::from_secs(120)).output().unwrap();
    assert!(
        out.status.success(),
        "concur run {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn run_json(args: &[&str]) -> Value {
    run_json_env(args, &[])
}

/// Live processes whose environment carries `tag` (children inherit it through fork and exec).
fn tagged_processes(tag: &str) -> Vec<String> {
    processes_with_env(TAG_VAR, tag)
}

/// Entries of `dir` whose name starts with `prefix`.
fn leftovers(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn assert_clean_run(v: &Value) {
    assert_eq!(v["failed_jobs"], 0, "{v}");
    assert_eq!(
        v["orphans_killed"], 0,
        "the strategy must reap its own children: {v}"
    );
}

#[test]
fn emoji_counts_are_exact_under_fork_and_rpc() {
    for strategy in ["fork", "rpc"] {
        for workers in ["1", "2", "4"] {
            let v = run_json(&["-s", strategy, "--workers", workers]);
            assert_eq!(v["correct"], true, "{strategy} x{workers}: {v}");
            assert_eq!(v["emoji_seen"], 51 * 50, "{strategy} x{workers}: {v}");
            assert_eq!(v["workers"], workers.parse::<u64>().unwrap());
            assert_clean_run(&v);
        }
    }
}

#[test]
fn fork_runs_one_process_per_job_up_to_workers_at_a_time() {
    // 8 jobs of 50 ms each with 4 children allowed: the harness sees the server plus several
    // children at once, never more than 1 + 4.
    let v = run_json(&[
        "-s",
        "fork",
        "-w",
        "wallet",
        "--items",
        "8",
        "--pause-us",
        "50000",
        "--workers",
        "4",
    ]);
    let procs = v["peak_processes"].as_u64().unwrap();
    assert!((2..=5).contains(&procs), "peak processes {procs}: {v}");
}

#[test]
fn rpc_adjust_never_loses_an_update() {
    let v = run_json(&["-s", "rpc", "-w", "wallet", "--workers", "4"]);
    assert_eq!(v["sync"], "adjust");
    assert_eq!(v["final_balance"], 100, "{v}");
    assert_eq!(v["lost_updates"], 0, "{v}");
    assert_eq!(v["correct"], true, "{v}");
    assert_clean_run(&v);
}

#[test]
fn rpc_get_then_set_loses_updates() {
    let mut lost_somewhere = false;
    for _ in 0..20 {
        let v = run_json(&[
            "-s",
            "rpc",
            "-w",
            "wallet",
            "--sync",
            "none",
            "--workers",
            "4",
            "--pause-us",
            "200",
        ]);
        assert_clean_run(&v);
        // (The balance may still land on 100 when lost +10s and -10s cancel out: count losses.)
        if v["lost_updates"].as_u64().unwrap() > 0 {
            lost_somewhere = true;
            break;
        }
    }
    assert!(lost_somewhere, "20 racy rpc runs and not one lost update");
}

#[test]
fn fork_without_shared_memory_changes_only_the_childrens_copies() {
    let v = run_json(&["-s", "fork", "-w", "wallet", "--workers", "4"]);
    assert_eq!(v["sync"], "none");
    assert_eq!(
        v["final_balance"], 100,
        "the parent's balance never moves: {v}"
    );
    assert_eq!(v["lost_updates"], 100, "no update reached the parent: {v}");
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("isolated: 0 of 100 updates reached the parent"),
        "{notes}"
    );
    assert_eq!(v["wallet_isolated"], true, "{v}");
    assert_clean_run(&v);

    // The summary names the cause: isolation, not a race.
    let out = concur(&["run", "-s", "fork", "-w", "wallet", "--quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("isolation, not a race") && !text.contains("not atomic"),
        "{text}"
    );

    // An odd number of jobs should end at 110; the parent still says 100.
    let v = run_json(&["-s", "fork", "-w", "wallet", "--items", "3"]);
    assert_eq!(v["final_balance"], 100);
    assert_eq!(v["expected_balance"], 110);
    assert_eq!(v["correct"], false);
}

#[test]
fn fork_shared_atomic_is_exact() {
    for workers in ["1", "4"] {
        let v = run_json(&[
            "-s",
            "fork",
            "-w",
            "wallet",
            "--sync",
            "shared-atomic",
            "--workers",
            workers,
        ]);
        assert_eq!(v["final_balance"], 100, "{v}");
        assert_eq!(v["lost_updates"], 0, "{v}");
        assert_eq!(v["correct"], true, "{v}");
        assert_clean_run(&v);
    }
}

#[test]
fn fork_shared_memory_races() {
    let mut lost_somewhere = false;
    for _ in 0..20 {
        let v = run_json(&[
            "-s",
            "fork",
            "-w",
            "wallet",
            "--sync",
            "shared",
            "--workers",
            "4",
            "--pause-us",
            "500",
        ]);
        if v["lost_updates"].as_u64().unwrap() > 0 {
            lost_somewhere = true;
            break;
        }
    }
    assert!(
        lost_somewhere,
        "20 racy shared-memory runs and not one lost update"
    );
}

#[test]
fn a_job_that_crashes_its_process_fails_alone() {
    for strategy in ["fork", "rpc"] {
        let tag = fresh_tag();
        // One job in 51 crashes: job 50, the last one.
        let v = run_json_env(
            &[
                "-s",
                strategy,
                "--workers",
                "2",
                "--fault",
                "crash",
                "--every",
                "51",
            ],
            &[(TAG_VAR, &tag)],
        );
        assert_eq!(v["failed_jobs"], 1, "{strategy}: {v}");
        let failure = v["failures"][0]["why"].as_str().unwrap();
        assert!(
            v["failures"][0]["job"] == 50 && failure.contains("SIGABRT"),
            "{strategy}: {failure}"
        );
        assert_eq!(v["emoji_seen"], 50 * 50, "the other 50 jobs all ran: {v}");
        assert_eq!(v["correct"], false);
        assert_eq!(v["orphans_killed"], 0, "{v}");
        assert_eq!(tagged_processes(&tag), Vec::<String>::new());
    }
}

#[test]
fn no_process_socket_or_temp_dir_survives_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();
    let runs: &[&[&str]] = &[
        &["-s", "fork", "--workers", "4"],
        &["-s", "rpc", "--workers", "4"],
        &[
            "-s",
            "rpc",
            "-w",
            "wallet",
            "--sync",
            "none",
            "--workers",
            "3",
        ],
        &[
            "-s",
            "fork",
            "-w",
            "wallet",
            "--sync",
            "shared",
            "--workers",
            "3",
        ],
    ];
    for args in runs {
        let tag = fresh_tag();
        let v = run_json_env(args, &[(TAG_VAR, &tag), ("TMPDIR", tmpdir)]);
        assert_eq!(v["orphans_killed"], 0, "{args:?}: {v}");
        assert_eq!(tagged_processes(&tag), Vec::<String>::new(), "{args:?}");
        assert_eq!(
            leftovers(tmp.path(), "concur-"),
            Vec::<String>::new(),
            "{args:?}"
        );
    }
}

#[test]
fn ctrl_c_leaves_no_worker_and_no_socket() {
    for strategy in ["fork", "rpc"] {
        ctrl_c_in_the_middle(strategy);
    }
}

fn ctrl_c_in_the_middle(strategy: &str) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;

    let tmp = tempfile::tempdir().unwrap();
    let tag = fresh_tag();
    // 40 jobs of 100 ms on 2 workers: about 2 s, long enough to interrupt.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_concur"))
        .args([
            "run",
            "-s",
            strategy,
            "-w",
            "wallet",
            "--items",
            "40",
            "--pause-us",
            "100000",
            "--workers",
            "2",
            "--json",
        ])
        .env(TAG_VAR, &tag)
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait until harness, measured child and both workers exist (what a terminal's Ctrl-C would hit).
    let deadline = Instant::now() + Duration::from_secs(30);
    while tagged_processes(&tag).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the run never started its workers"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The rpc server removes its socket directory as soon as every worker has connected; the
    // directory exists only for those first milliseconds (a Ctrl-C inside them can leave it).
    while !leftovers(tmp.path(), "concur-rpc-").is_empty() {
        assert!(
            Instant::now() < deadline,
            "{strategy}: socket dir still there after the workers started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    // Children die by their parent-death signal, which the kernel delivers right away; allow it
    // a moment on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tagged_processes(&tag).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{strategy}: left behind: {:?}",
            tagged_processes(&tag)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(leftovers(tmp.path(), "concur-rpc-"), Vec::<String>::new());
}

#[test]
fn sync_modes_belong_to_their_strategies() {
    for (strategy, sync) in [("fork", "mutex"), ("fork", "adjust"), ("rpc", "shared")] {
        Command::cargo_bin("concur")
            .unwrap()
            .args(["run", "-s", strategy, "-w", "wallet", "--sync", sync])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(format!(
                "'{strategy}' does not do --sync {sync}"
            )));
    }
}

#[test]
fn the_stateless_workloads_run_in_forked_processes() {
    for strategy in ["fork", "rpc"] {
        for workload in ["cpu", "sleep", "noop"] {
            let v = run_json(&[
                "-s",
                strategy,
                "-w",
                workload,
                "--items",
                "6",
                "--workers",
                "2",
            ]);
            assert_eq!(v["correct"], true, "{strategy} {workload}: {v}");
            assert_eq!(v["jobs"], 6);
            assert_clean_run(&v);
        }
    }
}
