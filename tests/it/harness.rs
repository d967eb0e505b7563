//! The harness's own costs: `concur run` says what measuring from outside cost it (wall − the
//! work timed inside the child, and the harness process's own CPU), and the emoji pipe, read in
//! big chunks after short pauses, still delivers every byte.

use crate::common::{assert_emoji, concur, run_json};

#[test]
fn run_reports_the_harness_overhead() {
    let m = run_json(&["-s", "sequential", "--items", "20", "--repeat", "30"]);
    let (wall, work) = (m["wall_s"].as_f64().unwrap(), m["work_s"].as_f64().unwrap());
    let overhead = m["harness_overhead_s"].as_f64().unwrap();
    assert!((overhead - (wall - work).max(0.0)).abs() < 1e-9, "{m}");
    assert!(m["harness_cpu_s"].as_f64().unwrap() >= 0.0, "{m}");
    let out = concur(&[
        "run",
        "-s",
        "sequential",
        "--items",
        "20",
        "--repeat",
        "30",
        "--quiet",
    ])
    .output()
    .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("harness"))
        .unwrap_or_else(|| panic!("a harness line: {text}"));
    assert!(
        line.contains("% of wall") && line.contains("its own cpu"),
        "{line}"
    );
}

#[test]
fn a_long_emoji_stream_arrives_whole_through_the_paused_reader() {
    // 300,000 writes of 4 bytes: far more than a pause's worth, far more than a default pipe.
    let out = concur(&["run", "-s", "threads", "--items", "600", "--repeat", "500"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_emoji(&out.stdout, 600, 500);
}
