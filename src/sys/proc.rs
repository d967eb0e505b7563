//! Reading a process tree's memory and size from `/proc`, the way `ps` and `smem` do.
//!
//! - Descendants: `/proc/PID/task/TID/children` lists the children each thread started; walking
//!   it from the root finds the whole tree without scanning every process on the machine.
//! - RSS and PSS: `/proc/PID/smaps_rollup`. RSS counts every resident page a process maps,
//!   including pages it shares copy-on-write with its parent, so summing RSS over a forked tree
//!   counts shared pages once per process. PSS divides each shared page among its sharers, so the
//!   PSS sum is what the tree really costs. Printing both is the point.
//! - Threads: field 20 of `/proc/PID/stat`.

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

/// Threads of `pid`, from field 20 of /proc/PID/stat (cheaper than listing its tasks).
pub fn threads(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Threads of this process.
pub fn own_threads() -> Option<u64> {
    threads(std::process::id() as i32)
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
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
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
