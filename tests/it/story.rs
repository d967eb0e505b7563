//! `concur race --story enqueue-before-commit`: under the forced schedule (an idle worker is
//! always there first, on a virtual clock) the bug loses every job and every fix loses none;
//! `after_commit` loses the job of a request whose process dies between COMMIT and the enqueue,
//! and the outbox and DelayedJob do not. No luck and no timing: the same numbers every run.

use crate::common::{concur, json_of};
use serde_json::Value;

const STORY: &str = "enqueue-before-commit";

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The row for `fix` (with or without the crash).
fn row<'a>(v: &'a Value, fix: &str, crash: bool) -> &'a Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["fix"] == fix && r["crash"] == crash)
        .unwrap_or_else(|| panic!("no row {fix} crash={crash} in {v}"))
}

#[test]
fn forced_the_bug_loses_every_job_and_every_fix_loses_none() {
    let v = json_of(
        "race",
        &[
            "--story",
            STORY,
            "--schedule",
            "--trials",
            "3",
            "--items",
            "4",
            "--workers",
            "2",
        ],
    );
    assert_eq!(v["mode"], "forced");
    let jobs = 3 * 4;
    let bug = row(&v, "in-transaction", false);
    assert_eq!(u(&bug["jobs"]), jobs);
    assert_eq!(
        u(&bug["no_row"]),
        jobs,
        "every job looked before COMMIT: {bug}"
    );
    assert_eq!(u(&bug["lost"]), jobs, "{bug}");
    assert_eq!(u(&bug["losing_trials"]), 3);

    for (fix, crash) in [
        ("after-commit", false),
        ("outbox", true),
        ("delayed-job", true),
    ] {
        let r = row(&v, fix, crash);
        assert_eq!(u(&r["no_row"]), 0, "{fix}: nothing early: {r}");
        assert_eq!(u(&r["lost"]), 0, "{fix}: nothing lost: {r}");
        assert_eq!(u(&r["ran"]), jobs, "{fix}: every job ran once: {r}");
    }

    // Retrying pays with a failed lookup per job, and then finds every row.
    let retry = row(&v, "retry-on-missing", false);
    assert_eq!(u(&retry["lost"]), 0, "{retry}");
    assert_eq!(u(&retry["no_row"]), jobs, "{retry}");
    assert_eq!(u(&retry["retries"]), jobs, "{retry}");
    let after = row(&v, "after-commit", false)["commit_to_run_us"]
        .as_f64()
        .unwrap();
    let late = retry["commit_to_run_us"].as_f64().unwrap();
    assert!(
        late > after,
        "a retry runs later than after_commit: {late} vs {after}"
    );

    // The process dies between the last COMMIT and its enqueue: that job, in every trial.
    let crash = row(&v, "after-commit", true);
    assert_eq!(u(&crash["never_enqueued"]), 3, "{crash}");
    assert_eq!(u(&crash["lost"]), 3, "{crash}");
    assert_eq!(u(&crash["no_row"]), 0, "{crash}");
}

#[test]
fn the_losing_interleaving_is_drawn_as_lanes() {
    let out = concur(&["race", "--story", STORY, "--schedule", "--trials", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "one lane per actor",
        "enqueue welcome(1)",
        "take welcome(1) from the queue",
        "SELECT users id=1: no row ✗ RecordNotFound",
        "✗ W1 looked the user up at 40.0 µs; the app committed it at 130.0 µs",
        "✗ dies after COMMIT: welcome(2) never enqueued",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn a_seed_gives_the_same_interleavings_every_time_and_some_lose() {
    let args = ["--story", STORY, "--seed", "11", "--trials", "30"];
    let (a, b) = (json_of("race", &args), json_of("race", &args));
    assert_eq!(a["rows"], b["rows"]);
    assert_eq!(a["timelines"], b["timelines"]);
    let bug = row(&a, "in-transaction", false);
    let losing = u(&bug["losing_trials"]);
    assert!(
        losing > 0 && losing < 30,
        "some trials lose, some do not: {bug}"
    );
    for (fix, crash) in [
        ("after-commit", false),
        ("outbox", true),
        ("delayed-job", true),
    ] {
        assert_eq!(u(&row(&a, fix, crash)["lost"]), 0, "{fix}");
    }
}

#[test]
fn story_flags_are_checked() {
    for args in [
        &["race", "--story", STORY, "-s", "pool"][..],
        &["race", "--story", STORY, "--fix", "mutex"],
        &["race", "--story", STORY, "--harness"],
        &["race", "--story", STORY, "--schedule", "r1,w1,r2,w2"],
        &["race", "--story", STORY, "--trials", "5000"],
        &["race", "--story", STORY, "--workers", "64"],
        &["race", "--story", "no-such-story"],
    ] {
        let out = concur(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
