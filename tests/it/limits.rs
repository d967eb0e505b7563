//! `concur limits`: every primitive measured, in JSON, with sane values.

use crate::common::concur;

#[test]
fn limits_measures_every_primitive() {
    let out = concur(&["limits", "--runs", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let names: Vec<_> = v["primitives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let (min, med, max) = (
                p["min_s"].as_f64().unwrap(),
                p["median_s"].as_f64().unwrap(),
                p["max_s"].as_f64().unwrap(),
            );
            assert!(min > 0.0 && min <= med && med <= max, "{p}");
            p["name"].as_str().unwrap().to_owned()
        })
        .collect();
    for want in [
        "fork+_exit+waitpid",
        "unix socket round trip",
        "thread spawn+join",
        "channel send+recv",
        "channel hand-off",
        "channel ping-pong",
        "rayon per item",
        "rayon fan-out+join",
        "tokio spawn, batch joined",
        "tokio spawn+await",
        "actor call",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert!(v["parked_thread"]["rss_per_thread_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn limits_rejects_zero_runs() {
    concur(&["limits", "--runs", "0"]).assert().code(2);
}
