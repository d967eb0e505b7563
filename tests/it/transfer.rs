//! The transfer workload through the real binary: the naive lock order deadlocks under a forced
//! schedule every time, the cycle is named, the run ends (exit 1) instead of hanging, every fix
//! survives the same schedule, and the total is conserved in every trial.

use crate::common::{concur, json_of, run_json};
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

/// Every trial conserved its total, was forced, and matched its schedule's prediction.
fn assert_forced_and_conserved(v: &Value) {
    assert_eq!(u(&v["not_conserved_trials"]), 0, "{v}");
    assert_eq!(u(&v["unexpected_trials"]), 0, "{v}");
    for t in v["per_trial"].as_array().unwrap() {
        assert_eq!(t["conserved"], true, "{t}");
        assert_eq!(t["deadlocked"], t["expected_deadlock"], "{t}");
        if v["sync"] != "actor" {
            assert_eq!(t["forced"], true, "{t}");
        }
    }
}

#[test]
fn the_forced_order_deadlocks_lock_pair_in_every_trial_and_names_the_cycle() {
    let v = json_of("race", &["-w", "transfer", "--schedule", "--trials", "5"]);
    assert_eq!(v["schedule"], "l1 l2 l1 l2");
    assert_eq!(v["sync"], "lock-pair");
    assert_eq!(u(&v["deadlocked_trials"]), 5);
    assert_forced_and_conserved(&v);
    let cycle = v["deadlock"]["deadlock"]["cycle"].as_array().unwrap();
    assert_eq!(cycle.len(), 2, "{cycle:?}");
    // W1 moves A→B and holds A waiting for B; W2 the reverse.
    assert_eq!(
        (
            u(&cycle[0]["worker"]),
            u(&cycle[0]["holds"]),
            u(&cycle[0]["waits_for"])
        ),
        (1, 0, 1)
    );
    assert_eq!(
        (
            u(&cycle[1]["worker"]),
            u(&cycle[1]["holds"]),
            u(&cycle[1]["waits_for"])
        ),
        (2, 1, 0)
    );
}

#[test]
fn every_fix_survives_the_order_that_deadlocks_the_naive_one() {
    for strategy in ["threads", "pool", "rayon"] {
        let v = json_of(
            "race",
            &[
                "-s",
                strategy,
                "-w",
                "transfer",
                "--schedule",
                "--trials",
                "4",
                "--fix",
                "all",
            ],
        );
        assert_eq!(u(&v["deadlocked_trials"]), 4, "{strategy}: {v}");
        let fixes = v["fixes"].as_array().unwrap();
        let syncs: Vec<&str> = fixes.iter().map(|f| f["sync"].as_str().unwrap()).collect();
        assert_eq!(syncs, ["ordered", "try-lock", "actor"], "{strategy}");
        for f in fixes {
            assert_eq!(u(&f["deadlocked_trials"]), 0, "{strategy}: {f}");
            assert_eq!(u(&f["not_conserved_trials"]), 0, "{strategy}: {f}");
            assert_eq!(u(&f["wrong_balance_trials"]), 0, "{strategy}: {f}");
        }
        // Under l1 l2 l1 l2, W1's try finds B taken exactly once per trial.
        let try_lock = fixes.iter().find(|f| f["sync"] == "try-lock").unwrap();
        assert_eq!(u(&try_lock["backoffs"]), 4, "{strategy}: {try_lock}");
    }
}

#[test]
fn a_seed_gives_the_same_orders_and_each_trial_does_what_its_model_predicts() {
    let a = json_of(
        "race",
        &["-w", "transfer", "--seed", "11", "--trials", "12"],
    );
    let b = json_of(
        "race",
        &["-w", "transfer", "--seed", "11", "--trials", "12"],
    );
    let orders = |v: &Value| -> Vec<String> {
        v["per_trial"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["schedule"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(orders(&a), orders(&b));
    for v in [&a, &b] {
        assert_forced_and_conserved(v);
    }
    let deadlocked = u(&a["deadlocked_trials"]);
    assert!(deadlocked > 0 && deadlocked < 12, "a mix: {a}");
    assert_eq!(deadlocked, u(&b["deadlocked_trials"]));
    // The same seeded orders never deadlock the fixes.
    let v = json_of(
        "race",
        &[
            "-w",
            "transfer",
            "--seed",
            "11",
            "--trials",
            "12",
            "--fix",
            "ordered,try-lock",
        ],
    );
    for f in v["fixes"].as_array().unwrap() {
        assert_eq!(u(&f["deadlocked_trials"]), 0, "{f}");
        assert_eq!(u(&f["not_conserved_trials"]), 0, "{f}");
    }
}

#[test]
fn three_accounts_in_a_ring_deadlock_three_ways_and_ordered_locks_do_not() {
    let v = json_of(
        "race",
        &[
            "-w",
            "transfer",
            "--accounts",
            "3",
            "--items",
            "3",
            "--schedule",
            "l1,l2,l3,l1,l2,l3",
            "--trials",
            "3",
            "--fix",
            "ordered",
        ],
    );
    assert_eq!(u(&v["deadlocked_trials"]), 3);
    assert_forced_and_conserved(&v);
    assert_eq!(
        v["deadlock"]["deadlock"]["cycle"].as_array().unwrap().len(),
        3
    );
    assert_eq!(u(&v["fixes"][0]["deadlocked_trials"]), 0);
}

#[test]
fn run_ends_a_deadlock_with_exit_1_and_the_cycle_instead_of_hanging() {
    // Four jobs, so that each of rayon's four threads starts with one (its work-stealing splits
    // of a long run could hand every thread a job moving money the same way, and the schedule
    // needs one each way).
    for strategy in ["threads", "pool", "rayon"] {
        let out = concur(&[
            "run",
            "-s",
            strategy,
            "-w",
            "transfer",
            "--items",
            "4",
            "--schedule",
            "--json",
        ])
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{strategy}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["stopped_by"], "deadlock", "{strategy}");
        assert_eq!(v["correct"], false);
        let t = &v["transfer"];
        assert_eq!(t["total_start"], t["total_end"], "{strategy}: conserved");
        assert_eq!(t["deadlock"]["cycle"].as_array().unwrap().len(), 2);
        assert_eq!(u(&v["orphans_killed"]), 0);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("holds A, waits for B"), "{strategy}: {err}");
    }
}

#[test]
fn every_fix_completes_every_transfer_under_every_strategy_that_runs_them() {
    for (strategy, syncs) in [
        (
            "sequential",
            &["lock-pair", "ordered", "try-lock", "actor"][..],
        ),
        ("threads", &["ordered", "try-lock", "actor"]),
        ("pool", &["ordered", "try-lock", "actor"]),
        ("rayon", &["ordered", "try-lock", "actor"]),
        ("actors", &["actor"]),
    ] {
        for sync in syncs {
            let mut args = vec!["-s", strategy, "-w", "transfer", "--sync", sync];
            if strategy != "sequential" && *sync != "actor" {
                args.push("--schedule");
            }
            let v = run_json(&args);
            assert_eq!(v["correct"], true, "{strategy} {sync}: {v}");
            let t = &v["transfer"];
            assert_eq!(u(&t["transfers_done"]), 100, "{strategy} {sync}");
            assert_eq!(t["accounts"], t["expected"], "{strategy} {sync}");
            assert_eq!(t["total_end"], 200);
        }
    }
}

#[test]
fn transfers_are_refused_where_they_cannot_run() {
    for args in [
        &["run", "-s", "fork", "-w", "transfer"][..],
        &["run", "-s", "futures", "-w", "transfer"],
        &["run", "-s", "threads", "-w", "transfer", "--sync", "mutex"],
        &["run", "-s", "threads", "-w", "wallet", "--sync", "ordered"],
        &["run", "-s", "sequential", "-w", "transfer", "--schedule"],
        &["run", "-s", "threads", "-w", "emoji", "--schedule"],
        &["race", "-w", "transfer", "-s", "fork"],
        &["race", "-w", "transfer", "--fix", "mutex"],
    ] {
        let out = concur(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    }
    concur(&["race", "-w", "emoji"]).assert().code(2);
}
