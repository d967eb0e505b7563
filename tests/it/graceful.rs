//! Graceful stops in the strategies with worker processes or a database: prefork, sqlite,
//! sqlite-fork, delayed-job and resque stop taking jobs at the first SIGINT or SIGTERM, let the
//! running ones finish, and report exactly what ran and what never started.
//!
//! Each run is 300 jobs of 50 ms on 2 workers (7.5 s if left alone), stopped 0.6 s in. The
//! checks do not time anything: they read the counts, and hold them against the strategy's own
//! books (its note of LPOPs, claims or jobs performed over sockets).

use crate::common::signals::signal_mid_run;
use nix::sys::signal::Signal;
use serde_json::Value;

const ITEMS: u64 = 300;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Stop `-s strategy` mid-run with `sig`; the run's JSON object, after the checks every
/// strategy must pass.
fn stopped(strategy: &str, sig: Signal) -> Value {
    let items = ITEMS.to_string();
    let args = [
        "run",
        "-s",
        strategy,
        "-w",
        "sleep",
        "--items",
        &items,
        "--wait-ms",
        "50",
        "--workers",
        "2",
        "--json",
    ];
    let code = 128 + sig as i32;
    let out = signal_mid_run(&args, false, sig, code);
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{strategy}: no JSON ({e}): {}", out.stderr));
    let what = format!("{strategy} {}: {v}", sig.as_str());
    assert_eq!(v["stopped_by"], sig.as_str(), "{what}");
    let (jobs, not_started) = (u(&v["jobs"]), u(&v["jobs_not_started"]));
    assert_eq!(jobs + not_started, ITEMS, "{what}");
    assert!(jobs >= 1 && not_started >= 1, "stopped mid-way: {what}");
    // Graceful: the jobs in flight finished; none was killed, none failed.
    assert_eq!(v["failed_jobs"], 0, "{what}");
    assert_eq!(v["orphans_killed"], 0, "{what}");
    assert!(!out.stderr.contains("killing"), "{what}: {}", out.stderr);
    let check = v["check"].as_str().unwrap();
    let want = format!(
        "stopped by {}: {jobs} of {ITEMS} jobs run, {not_started} not started",
        sig.as_str()
    );
    assert_eq!(check, want, "{what}");
    v
}

/// The note that starts with `prefix`.
fn note<'a>(v: &'a Value, prefix: &str) -> &'a str {
    v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no note '{prefix}...' in {v}"))
}

#[test]
fn prefork_stops_handing_out_jobs_at_the_first_signal() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let v = stopped("prefork", sig);
        let performed = format!("{} jobs performed over their sockets", v["jobs"]);
        assert!(note(&v, "prefork:").ends_with(&performed), "{v}");
    }
}

#[test]
fn sqlite_threads_and_processes_close_the_queue_at_the_first_signal() {
    for (strategy, sig) in [
        ("sqlite", Signal::SIGINT),
        ("sqlite-fork", Signal::SIGTERM),
        ("delayed-job", Signal::SIGINT),
    ] {
        let v = stopped(strategy, sig);
        // Every job that ran was claimed once, and is done.
        let books = format!(
            "claims: {0} claims of {0} distinct jobs, 0 taken over from another worker's lock, 0 of them while that lock was live; {0} done",
            v["jobs"]
        );
        assert_eq!(note(&v, "claims:"), books, "{strategy}");
    }
}

#[test]
fn resque_counts_what_it_popped_after_ctrl_c() {
    let Some(_redis) = crate::common::redis::test_redis("resque_counts_what_it_popped") else {
        return;
    };
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let v = stopped("resque", sig);
        // One LPOP per job started: after the stop nothing more was popped.
        let pops = format!("resque: {} LPOPs by the parent", v["jobs"]);
        assert!(note(&v, "resque:").starts_with(&pops), "{v}");
    }
}
