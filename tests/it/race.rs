//! `concur race` through the real binary: forced schedules lose exactly what they say, fixes
//! lose nothing, random races lose something, and the timeline shows the stale reads.

use crate::common::{concur, json_of};
use serde_json::Value;

/// Run `concur race ARGS... --json`, assert it exits 0, and return the JSON object.
fn race_json(args: &[&str]) -> Value {
    json_of("race", args)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

/// Every trial was forced and lost exactly `lost` updates, as predicted.
fn assert_every_trial_lost(v: &Value, trials: u64, lost: u64) {
    let per = v["per_trial"].as_array().unwrap();
    assert_eq!(per.len() as u64, trials);
    for (i, t) in per.iter().enumerate() {
        assert_eq!(u(&t["lost_updates"]), lost, "trial {}: {t}", i + 1);
        assert_eq!(u(&t["expected_lost"]), lost, "trial {}: {t}", i + 1);
        assert_eq!(t["forced"], true, "trial {}: {t}", i + 1);
    }
    assert_eq!(u(&v["unexpected_trials"]), 0);
    assert_eq!(u(&v["lost_updates"]), trials * lost);
}

#[test]
fn the_talks_schedule_loses_exactly_one_update_in_each_of_50_trials() {
    let v = race_json(&["--schedule", "--trials", "50"]);
    assert_eq!(v["mode"], "schedule");
    assert_eq!(v["schedule"], "r1 r2 w1 w2");
    assert_every_trial_lost(&v, 50, 1);
    // Both reads saw 100, so the survivor is one of the two single updates.
    for t in v["per_trial"].as_array().unwrap() {
        let b = t["final_balance"].as_i64().unwrap();
        assert!(b == 90 || b == 110, "{t}");
    }
}

#[test]
fn the_schedule_holds_in_separate_runs_and_on_every_in_process_strategy() {
    for args in [
        &["-s", "threads", "--trials", "1"][..],
        &["-s", "threads", "--trials", "1"],
        &["-s", "threads", "--trials", "1"],
        &["-s", "pool", "--trials", "20"],
        &["-s", "rayon", "--trials", "20"],
        &["-s", "futures", "--trials", "20"],
    ] {
        let mut a = args.to_vec();
        a.push("--schedule");
        let v = race_json(&a);
        let trials = u(&v["trials"]);
        assert_every_trial_lost(&v, trials, 1);
    }
}

#[test]
fn schedules_repeat_in_rounds_and_serial_ones_lose_nothing() {
    // 10 jobs in rounds of two: each round loses one.
    let v = race_json(&[
        "-s",
        "pool",
        "--items",
        "10",
        "--schedule",
        "r1,r2,w1,w2",
        "--trials",
        "10",
    ]);
    assert_every_trial_lost(&v, 10, 5);
    // Three workers all reading first: two of three lost.
    let v = race_json(&[
        "--items",
        "3",
        "--schedule",
        "r1 r2 r3 w3 w2 w1",
        "--trials",
        "10",
    ]);
    assert_every_trial_lost(&v, 10, 2);
    // Read-write, read-write: nothing to lose, even with a pause.
    let v = race_json(&["--schedule", "r1,w1,r2,w2", "--trials", "20"]);
    assert_every_trial_lost(&v, 20, 0);
}

#[test]
fn a_seed_gives_the_same_mix_of_schedules_and_each_loses_what_it_predicts() {
    let a = race_json(&["--seed", "7", "--trials", "30"]);
    let b = race_json(&["--seed", "7", "--trials", "30"]);
    let schedules = |v: &Value| -> Vec<String> {
        v["per_trial"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["schedule"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(schedules(&a), schedules(&b));
    for v in [&a, &b] {
        assert_eq!(u(&v["unexpected_trials"]), 0, "{v}");
        for t in v["per_trial"].as_array().unwrap() {
            assert_eq!(t["lost_updates"], t["expected_lost"], "{t}");
        }
    }
    let lost: Vec<u64> = a["per_trial"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| u(&t["lost_updates"]))
        .collect();
    assert!(lost.contains(&0) && lost.contains(&1), "a mix: {lost:?}");
}

#[test]
fn every_fix_loses_nothing_over_200_trials() {
    // The syncs that are fixes (a racy `none`, or fork's plain `shared` memory, are not).
    const FIXES: &[&str] = &[
        "mutex",
        "atomic",
        "actor",
        "shared-atomic",
        "adjust",
        "exact",
        "incr",
        "watch",
    ];
    let v = race_json(&["--fix", "all", "--trials", "200"]);
    let rows = v["fixes"].as_array().unwrap();
    let fixes: Vec<_> = rows
        .iter()
        .filter(|r| FIXES.contains(&r["sync"].as_str().unwrap()))
        .collect();
    assert!(fixes.len() >= 10, "every strategy's fixes: {rows:?}");
    for r in fixes {
        assert_eq!(u(&r["trials"]), 200, "{r}");
        assert_eq!(u(&r["lost_updates"]), 0, "{r}");
        assert_eq!(u(&r["wrong_balance_trials"]), 0, "{r}");
        assert!(r["file"].as_str().unwrap().starts_with("src/"), "{r}");
    }
    // The racy rows are there too, beside them.
    assert!(rows
        .iter()
        .any(|r| r["sync"] == "none" && r["strategy"] == "threads"));
}

#[test]
fn random_mode_with_a_pause_loses_updates_on_threads() {
    let v = race_json(&["-s", "threads", "--trials", "200", "--pause-us", "1000"]);
    assert_eq!(v["mode"], "random");
    assert!(u(&v["losing_trials"]) >= 1, "{}", v["balances"]);
    assert!(v["per_trial"][0].get("expected_lost").is_none());
    let total: u64 = v["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u(&b["trials"]))
        .sum();
    assert_eq!(total, 200);
}

/// The timeline holds two reads of the same value (and version) by different workers before any
/// write, and marks as many lost writes as the trial lost.
fn assert_stale_reads(v: &Value) {
    let t = &v["timeline"];
    let events = t["events"]
        .as_array()
        .expect("a timeline of a losing trial");
    let first_write = events
        .iter()
        .position(|e| e["op"] == "write")
        .expect("writes");
    let reads: Vec<_> = events[..first_write]
        .iter()
        .filter(|e| e["op"] == "read")
        .collect();
    let stale = reads.iter().enumerate().any(|(i, a)| {
        reads[i + 1..].iter().any(|b| {
            a["balance"] == b["balance"]
                && a["version"] == b["version"]
                && a["worker"] != b["worker"]
        })
    });
    assert!(
        stale,
        "two workers read the same value before the writes: {events:?}"
    );
    let lost = events.iter().filter(|e| e["lost"] == true).count() as u64;
    assert_eq!(lost, u(&t["lost_updates"]));
    let times: Vec<f64> = events.iter().map(|e| e["t_us"].as_f64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time order: {times:?}"
    );
}

#[test]
fn the_timeline_of_a_losing_trial_shows_two_reads_of_the_same_value() {
    let v = race_json(&["--schedule", "--trials", "1"]);
    assert_stale_reads(&v);
    let ops: Vec<_> = v["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "W{} {} {}",
                e["worker"],
                e["op"].as_str().unwrap(),
                e["balance"]
            )
        })
        .collect();
    assert_eq!(ops[..2], ["W1 read 100", "W2 read 100"]);
    assert_eq!(
        ops[2].split(' ').take(2).collect::<Vec<_>>(),
        ["W1", "write"]
    );
    assert_eq!(
        ops[3].split(' ').take(2).collect::<Vec<_>>(),
        ["W2", "write"]
    );

    let v = race_json(&["-s", "threads", "--trials", "200", "--pause-us", "1000"]);
    assert_stale_reads(&v);
}

#[test]
fn the_human_report_draws_the_histogram_lanes_and_the_fix_matrix() {
    let out = concur(&["race", "--schedule", "--trials", "5", "--fix", "mutex"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "trials that lost an update: 5 of 5",
        "│█",
        "W1",
        "W2",
        "read 100 (v0)",
        "✗ LOST",
        "src/workload/wallet.rs (Locked)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn bad_requests_exit_2_with_one_line() {
    for args in [
        &["race", "--schedule", "r1,w2"][..],
        &["race", "--schedule", "x1"],
        &["race", "--fix", "bogus"],
        &["race", "--seed", "1", "--schedule"],
        &["race", "-s", "pool", "--workers", "1", "--schedule"],
        &["race", "-s", "futures", "--workers", "1", "--schedule"],
        &["race", "-s", "sequential", "--schedule"],
        &["race", "--harness", "--schedule"],
        &["race", "-s", "threads", "--workers", "3"],
        &["race", "--trials", "0"],
        &["race", "-s", "nope"],
    ] {
        let out = concur(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn fixes_that_do_not_apply_are_skipped_with_a_note() {
    let v = race_json(&["-s", "actors", "--fix", "mutex,actor", "--trials", "5"]);
    let notes = v["notes"].to_string();
    assert!(notes.contains("actors does not do --sync mutex"), "{notes}");
    assert_eq!(v["fixes"].as_array().unwrap().len(), 1, "only actors-actor");
}

#[test]
fn harness_trials_run_as_measured_children_and_count_the_same_way() {
    let v = race_json(&[
        "--harness",
        "--trials",
        "20",
        "--pause-us",
        "1000",
        "--fix",
        "mutex",
    ]);
    assert_eq!(v["path"], "harness");
    assert!(v["timeline"].is_null(), "no timeline through the harness");
    assert!(u(&v["losing_trials"]) >= 1, "{}", v["balances"]);
    let rows = v["fixes"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["sync"], "mutex");
    assert_eq!(rows[1]["path"], "harness");
    assert_eq!(u(&rows[1]["lost_updates"]), 0);
}
