//! `concur race --play` from key scripts: a script that loses an update, one that deadlocks two
//! locks, and scripts that try and fail to break each fix; each finding replayed on real
//! threads with the same result.

use crate::common::{concur, json_of};
use serde_json::Value;

/// `race --play --play-script KEYS ARGS... --json`: the levels played.
fn play(keys: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--play", "--play-script", keys];
    all.extend_from_slice(args);
    json_of("race", &all)["levels"].as_array().unwrap().clone()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn a_script_that_interleaves_the_reads_loses_an_update_and_real_threads_lose_it_too() {
    // A serial order first (nothing lost: the level restarts), then r1 r2 w1 w2.
    let levels = play("111222 121122 q", &["--level", "1"]);
    let l = &levels[0];
    assert_eq!(l["result"], "won", "{l}");
    assert_eq!(u(&l["restarts"]), 1);
    assert_eq!(l["schedule"], "r1,r2,w1,w2");
    assert_eq!(u(&l["lost"]), 1);
    let r = &l["replay"];
    assert_eq!(
        u(&r["matching_trials"]),
        u(&r["trials"]),
        "every real trial lost 1: {r}"
    );
    assert_eq!(u(&r["lost_updates"]), u(&r["trials"]));
    assert!(
        r["command"]
            .as_str()
            .unwrap()
            .contains("--schedule r1,r2,w1,w2"),
        "{r}"
    );
}

#[test]
fn a_script_that_takes_both_first_locks_deadlocks_and_real_threads_deadlock_too() {
    let levels = play("1212", &["--sync", "lock-pair"]);
    let l = &levels[0];
    assert_eq!(l["result"], "won", "{l}");
    assert_eq!(
        l["cycle"],
        "W1 holds A, waits for B; W2 holds B, waits for A"
    );
    assert_eq!(l["schedule"], "l1,l2,l1,l2");
    let r = &l["replay"];
    assert_eq!(u(&r["deadlocked_trials"]), u(&r["trials"]), "{r}");
    assert!(
        r["cycle"]
            .as_str()
            .unwrap()
            .contains("holds A, waits for B"),
        "{r}"
    );
    // Three lanes: a ring of three accounts, a three-way cycle.
    let levels = play("123123", &["--sync", "lock-pair", "--items", "3"]);
    assert_eq!(levels[0]["result"], "won");
    let r = &levels[0]["replay"];
    assert_eq!(u(&r["deadlocked_trials"]), u(&r["trials"]), "{r}");
}

#[test]
fn scripts_that_try_to_break_a_fix_fail_on_the_board_and_on_real_threads() {
    for (sync, keys) in [
        // Ordered: both go for A first; W2 waits, W1 finishes, W2 follows.
        ("ordered", "12121212121212121212"),
        ("ordered", "21212121212121212121"),
        // Try-lock: W1 finds B taken, gives A back, and retries after W2.
        ("try-lock", "1212121212121212121212121212"),
        // A mutex around read, pause, write: the other worker never reads mid-update.
        ("mutex", "121212121212121212121212"),
    ] {
        let levels = play(keys, &["--sync", sync]);
        let l = &levels[0];
        assert_eq!(l["result"], "held", "{sync} {keys}: {l}");
        let r = &l["replay"];
        assert_eq!(u(&r["matching_trials"]), u(&r["trials"]), "{sync}: {r}");
        if sync == "mutex" {
            assert_eq!(u(&r["lost_updates"]), 0);
        } else {
            assert_eq!(u(&r["deadlocked_trials"]), 0);
        }
    }
}

#[test]
fn the_three_levels_in_order_from_one_script() {
    let levels = play("121122 1212 1212121212121212", &[]);
    let results: Vec<&str> = levels
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["won", "won", "held"]);
}

#[test]
fn play_needs_a_terminal_or_a_script_and_two_or_three_lanes() {
    let out = concur(&["race", "--play"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--play-script"));
    concur(&["race", "--play", "--play-script", "1", "--items", "5"])
        .assert()
        .code(2);
    concur(&["race", "--play", "--play-script", "1", "--sync", "atomic"])
        .assert()
        .code(2);
    concur(&["race", "--play-script", "1"]).assert().code(2);
}
