//! Looking for processes in /proc: the tests' proof that nothing is left behind.
//!
//! A test tags the runs it starts with an environment variable; children inherit it through fork
//! and exec and keep it when they are re-parented, so a search by tag sees that test's processes
//! and nobody else's, whatever else runs on the machine.

use std::sync::atomic::{AtomicU32, Ordering};

/// A tag no other run in this test process or any other shares.
pub fn fresh_tag() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Live processes whose environment holds `var=value`, each as "PID: its /proc stat line".
pub fn processes_with_env(var: &str, value: &str) -> Vec<String> {
    let needle = format!("{var}={value}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            found.push(format!("{name}: {}", stat.trim()));
        }
    }
    found
}

/// The parent pid of `pid`, from /proc/PID/stat.
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Live processes whose parent chain goes through `root` (root excluded).
pub fn descendants(root: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            let mut cur = p;
            for _ in 0..64 {
                match parent_of(cur) {
                    Some(pp) if pp == root => return true,
                    Some(pp) if pp > 1 => cur = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}
