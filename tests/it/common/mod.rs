//! Helpers shared by the integration tests: run the real binary, parse what it prints.

pub mod procs;
pub mod redis;
pub mod signals;

use assert_cmd::Command;
use serde_json::Value;

/// `concur ARGS...` as a command, ready to run.
pub fn concur(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("concur").expect("the concur binary is built");
    cmd.args(args);
    cmd
}

/// Run `concur run ARGS... --json`, assert it exits 0, and return the JSON object.
pub fn run_json(args: &[&str]) -> Value {
    json_of("run", args)
}

/// Run `concur COMMAND ARGS... --json`, assert it exits 0 with exactly one line on stdout, and
/// return that line's JSON object.
pub fn json_of(command: &str, args: &[&str]) -> Value {
    let mut full = vec![command];
    full.extend_from_slice(args);
    full.push("--json");
    let out = concur(&full).output().expect("concur runs");
    assert!(
        out.status.success(),
        "concur {full:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 JSON");
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one JSON line on stdout, got {text:?}"
    );
    serde_json::from_str(lines[0]).expect("valid JSON")
}

/// Count each emoji U+1F400+i in `text`; panics on any other character except newlines.
pub fn emoji_counts(text: &str) -> Vec<u64> {
    let mut counts = vec![0u64; 1024];
    for c in text.chars() {
        if c == '\n' {
            continue;
        }
        let i = (c as u32)
            .checked_sub(0x1F400)
            .filter(|i| *i < 1024)
            .unwrap_or_else(|| panic!("unexpected character {c:?} in the emoji stream"));
        counts[i as usize] += 1;
    }
    counts
}

/// Assert that `stdout` holds items 0..items exactly `repeat` times each, and nothing else.
pub fn assert_emoji(stdout: &[u8], items: usize, repeat: u64) {
    let text = std::str::from_utf8(stdout).expect("utf-8 emoji stream");
    let counts = emoji_counts(text);
    for (i, &n) in counts.iter().enumerate() {
        let want = if i < items { repeat } else { 0 };
        assert_eq!(n, want, "emoji {i} (U+{:X}) count", 0x1F400 + i);
    }
}
