//! Everything concur reads from `/proc`, in one place: a process tree's memory and size, the way
//! `ps` and `smem` read them, and a few facts about the machine.
//!
//! Why one file? `/proc` is a text format with traps (a command name may hold spaces and
//! parentheses; fields are counted, not named; a process can vanish between two reads). Each
//! trap is handled once here, and every other module asks a typed question instead.
//!
//! - Descendants: `/proc/PID/task/TID/children` lists the children each thread started; walking
//!   it from the root finds the whole tree without scanning every process on the machine.
//! - RSS and PSS: `/proc/PID/smaps_rollup`. RSS counts every resident page a process maps,
//!   including pages it shares copy-on-write with its parent, so summing RSS over a forked tree
//!   counts shared pages once per process. PSS divides each shared page among its sharers, so the
//!   PSS sum is what the tree really costs. Printing both is the point.
//! - Threads and state: fields 20 and 3 of `/proc/PID/stat`; our uid: the owner of `/proc/self`.
//! - The machine: `/proc/cpuinfo`, `/proc/meminfo`, `/proc/sys/kernel/hostname`.

use std::fs;

/// One reading of a whole tree.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeSample {
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub threads: u64,
    pub processes: u64,
}

/// The pids of `root`'s tree, root first, following the children every thread started.
pub fn tree(root: i32) -> Vec<i32> {
    walk(root, children)
}

/// The pids of `root`'s tree, following only the children each process's *main* thread started.
///
/// One read per process instead of one per thread, which matters when sampling a process with
/// hundreds of threads every few milliseconds. It is complete for concur, which only forks or
/// spawns from a main thread (a process that forks must be single-threaded at that moment).
pub fn tree_by_main_threads(root: i32) -> Vec<i32> {
    walk(root, |pid| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .map(|t| parse_pids(&t))
            .unwrap_or_default()
    })
}

fn walk(root: i32, children: impl Fn(i32) -> Vec<i32>) -> Vec<i32> {
    let mut pids = vec![root];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children(pids[i]));
        i += 1;
    }
    pids
}

fn parse_pids(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .filter_map(|s| s.parse::<i32>().ok())
        .collect()
}

/// The direct children of `pid` (over all its threads).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = fs::read_to_string(path) {
            out.extend(parse_pids(&text));
        }
    }
    out
}

/// Field `n` (counted from 1, as in proc(5)) of a `/proc/PID/stat` line; `n` must be 3 or more.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n.checked_sub(3)?)
}

/// Field `n` of /proc/PID/stat, if the process exists.
fn read_stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_field(&stat, n).map(str::to_owned)
}

/// Threads of `pid`, from field 20 of /proc/PID/stat (cheaper than listing its tasks).
pub fn threads(pid: i32) -> Option<u64> {
    read_stat_field(pid, 20)?.parse().ok()
}

/// Whether `pid` is a running process: it exists and is neither a zombie (exited, only
/// unreaped) nor dead (state `Z` or `X` in field 3 of /proc/PID/stat).
pub fn is_running(pid: i32) -> bool {
    read_stat_field(pid, 3).is_some_and(|state| state != "Z" && state != "X")
}

/// Threads of this process.
pub fn own_threads() -> Option<u64> {
    threads(std::process::id() as i32)
}

/// This process's effective uid: the owner of /proc/self.
pub fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").map(|m| m.uid()).ok()
}

/// Resident set size of `pid` in bytes, from /proc/PID/statm (cheap: no page-table walk).
pub fn rss(pid: i32) -> Option<u64> {
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map(|p| p as u64)
        .unwrap_or(4096)
}

/// (RSS, PSS) of `pid` in bytes, from smaps_rollup; `None` if it is gone or a zombie.
pub fn rss_pss(pid: i32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_rollup(&text)
}

fn parse_rollup(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// Sum RSS, threads and processes over `root`'s tree right now, and PSS too when `with_pss`
/// says so, having seen the cheap figures.
///
/// PSS needs smaps_rollup, which walks the page tables (about 70 us for a small process, more for
/// a big one), so the harness asks for it only when the cheap statm RSS shows something new or
/// a while has passed. A zombie (exited, not yet reaped) has no memory and is not counted.
pub fn sample_tree(root: i32, with_pss: impl FnOnce(&TreeSample) -> bool) -> TreeSample {
    let mut s = TreeSample::default();
    let mut live = Vec::new();
    for pid in tree_by_main_threads(root) {
        let (Some(rss), Some(threads)) = (rss(pid), threads(pid)) else {
            continue;
        };
        if rss == 0 {
            continue;
        }
        s.rss_bytes += rss;
        s.threads += threads;
        s.processes += 1;
        live.push(pid);
    }
    if with_pss(&s) {
        s.pss_bytes = live
            .iter()
            .filter_map(|&pid| rss_pss(pid))
            .map(|(_, pss)| pss)
            .sum();
    }
    s
}

/// MemAvailable from /proc/meminfo, in MiB.
pub fn mem_available_mb() -> Option<u64> {
    meminfo_kb("MemAvailable").map(|kb| kb / 1024)
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn mem_total_bytes() -> Option<u64> {
    meminfo_kb("MemTotal").map(|kb| kb * 1024)
}

/// A `Key:   1234 kB` line of /proc/meminfo, in kB.
fn meminfo_kb(key: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    field(&text, key)?.split_whitespace().next()?.parse().ok()
}

/// The CPU's model name, from the first `model name` line of /proc/cpuinfo (x86 has one; some
/// other architectures do not).
pub fn cpu_model() -> Option<String> {
    let text = fs::read_to_string("/proc/cpuinfo").ok()?;
    field(&text, "model name").map(str::to_owned)
}

/// This machine's host name, from /proc/sys/kernel/hostname, without its newline.
pub fn hostname() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
}

/// The value of the first `key: value` line of a /proc file such as cpuinfo or meminfo.
fn field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_smaps_rollup() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:                1234 kB\nPss:                 600 kB\nPss_Anon: 1 kB\n";
        assert_eq!(parse_rollup(text), Some((1234 * 1024, 600 * 1024)));
    }

    #[test]
    fn reads_key_value_fields() {
        let text = "MemTotal:       24684816 kB\nMemFree: 1 kB\nmodel name\t: AMD (R) 9\n";
        assert_eq!(field(text, "MemTotal"), Some("24684816 kB"));
        assert_eq!(field(text, "model name"), Some("AMD (R) 9"));
        assert_eq!(field(text, "Nope"), None);
        assert!(mem_total_bytes().unwrap() > 0);
        assert!(mem_available_mb().is_some());
    }

    #[test]
    fn reads_stat_fields_after_the_command_name() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 7 0";
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_field(stat, 20), Some("7"));
        assert_eq!(stat_field(stat, 2), None);
        assert!(is_running(std::process::id() as i32));
        assert!(!is_running(i32::MAX));
    }

    #[test]
    fn samples_this_process() {
        let me = std::process::id() as i32;
        let s = sample_tree(me, |_| true);
        assert!(s.rss_bytes > 0 && s.pss_bytes > 0);
        assert!(s.processes >= 1 && s.threads >= 1);
        assert_eq!(sample_tree(me, |_| false).pss_bytes, 0);
        let t = std::thread::spawn(|| threads(std::process::id() as i32));
        assert!(t.join().unwrap().unwrap() >= 2);
    }
}
