//! Everything concur reads about a process tree, in one place: its memory and size, the way
//! `ps` and `smem` read them. On Linux from `/proc`; elsewhere (macOS) from sysinfo, with less.
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
//! - Threads and state: fields 20 and 3 of `/proc/PID/stat`.
//!
//! # Not Linux
//! macOS has no `/proc`. There the tree is found by parent pid over sysinfo's process list, RSS
//! per process comes from sysinfo, threads from `proc_pidinfo`, and PSS is unavailable: macOS
//! keeps no proportional set size per process ([`PSS_AVAILABLE`], [`PSS_UNAVAILABLE`]). The
//! machine's own facts (CPU, memory, host name) come from sysinfo on every platform, in
//! [`super::host`]; they are re-exported here for the callers that have always asked here.

pub use super::host::{cpu_model, hostname, mem_available_mb, mem_total_bytes};

/// Whether this platform measures PSS (proportional set size). Only Linux does.
pub const PSS_AVAILABLE: bool = cfg!(target_os = "linux");

/// Why PSS is missing where it is, in one line.
pub const PSS_UNAVAILABLE: &str =
    "PSS unavailable: it is Linux-only (/proc/PID/smaps_rollup); macOS keeps no proportional \
     set size per process, so shared copy-on-write pages count in full in every process's RSS";

/// This process's effective uid.
pub fn own_uid() -> Option<u32> {
    Some(nix::unistd::geteuid().as_raw())
}

/// Threads of this process.
pub fn own_threads() -> Option<u64> {
    threads(std::process::id() as i32)
}

/// One reading of a whole tree.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeSample {
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub threads: u64,
    pub processes: u64,
}

#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(not(target_os = "linux"))]
pub use portable::*;

/// The Linux implementation, from `/proc`.
#[cfg(target_os = "linux")]
mod linux {
    use super::TreeSample;
    use std::fs;

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
    pub(super) fn stat_field(stat: &str, n: usize) -> Option<&str> {
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

    /// When `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat). With the pid it
    /// names one process, even after the pid has been handed to another.
    pub fn start_time(pid: i32) -> Option<u64> {
        read_stat_field(pid, 22)?.parse().ok()
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

    pub(super) fn parse_rollup(text: &str) -> Option<(u64, u64)> {
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
}

/// Everywhere else (macOS): sysinfo's process list, RSS only, and `proc_pidinfo` for threads.
///
/// Slower than `/proc` (each tree walk lists every process on the machine) and poorer: no PSS,
/// so a forked tree's RSS counts shared pages once per process and nothing corrects it.
#[cfg(not(target_os = "linux"))]
mod portable {
    use super::TreeSample;
    use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

    /// Every process on the machine, with its memory.
    fn snapshot() -> Option<System> {
        let mut sys = System::new().ok()?;
        sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        Some(sys)
    }

    fn walk(sys: &System, root: i32) -> Vec<i32> {
        let mut pids = vec![root];
        let mut i = 0;
        while i < pids.len() {
            let parent = Pid::from_u32(pids[i] as u32);
            pids.extend(
                sys.processes()
                    .values()
                    .filter(|p| p.parent() == Some(parent) && p.thread_kind().is_none())
                    .map(|p| p.pid().as_u32() as i32),
            );
            i += 1;
        }
        pids
    }

    /// The pids of `root`'s tree, root first, by parent pid.
    pub fn tree(root: i32) -> Vec<i32> {
        snapshot()
            .map(|s| walk(&s, root))
            .unwrap_or_else(|| vec![root])
    }

    /// The same as [`tree`] here: there are no per-thread child lists to save reads on.
    pub fn tree_by_main_threads(root: i32) -> Vec<i32> {
        tree(root)
    }

    /// The direct children of `pid`.
    pub fn children(pid: i32) -> Vec<i32> {
        let mut t = tree(pid);
        t.remove(0);
        let Some(sys) = snapshot() else {
            return Vec::new();
        };
        let parent = Pid::from_u32(pid as u32);
        t.retain(|c| {
            sys.process(Pid::from_u32(*c as u32))
                .is_some_and(|p| p.parent() == Some(parent))
        });
        t
    }

    /// Threads of `pid`, from the kernel's task info.
    pub fn threads(pid: i32) -> Option<u64> {
        let mut info = std::mem::MaybeUninit::<libc::proc_taskinfo>::zeroed();
        let size = std::mem::size_of::<libc::proc_taskinfo>() as libc::c_int;
        // SAFETY: part of the fork-safety proof (a forking process counts its threads): the
        // buffer is a zeroed proc_taskinfo of exactly `size` bytes, alive for the call, which
        // writes at most `size` bytes into it and returns how many it wrote.
        let n = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDTASKINFO,
                0,
                info.as_mut_ptr().cast(),
                size,
            )
        };
        if n != size {
            return None;
        }
        // SAFETY: the call filled all `size` bytes (checked above), and a zeroed proc_taskinfo
        // is a valid one anyway (plain integers).
        let info = unsafe { info.assume_init() };
        u64::try_from(info.pti_threadnum).ok()
    }

    /// `read` applied to `pid`'s process, refreshed alone (with `kind`), if it exists.
    fn one<T>(
        pid: i32,
        kind: ProcessRefreshKind,
        read: impl FnOnce(&sysinfo::Process) -> T,
    ) -> Option<T> {
        let mut sys = System::new().ok()?;
        let me = Pid::from_u32(pid as u32);
        sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[me]), true, kind);
        sys.process(me).map(read)
    }

    /// Whether `pid` is a running process (neither gone nor a zombie).
    pub fn is_running(pid: i32) -> bool {
        one(pid, ProcessRefreshKind::nothing(), |p| {
            !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead)
        })
        .unwrap_or(false)
    }

    /// When `pid` started, in seconds since the epoch: with the pid it names one process.
    pub fn start_time(pid: i32) -> Option<u64> {
        one(pid, ProcessRefreshKind::nothing(), |p| p.start_time())
    }

    /// Resident set size of `pid` in bytes.
    pub fn rss(pid: i32) -> Option<u64> {
        one(pid, ProcessRefreshKind::nothing().with_memory(), |p| {
            p.memory()
        })
    }

    /// No PSS here ([`super::PSS_UNAVAILABLE`]): always `None`.
    pub fn rss_pss(_pid: i32) -> Option<(u64, u64)> {
        None
    }

    /// RSS, threads and processes over `root`'s tree right now; PSS stays 0 (unavailable).
    pub fn sample_tree(root: i32, _with_pss: impl FnOnce(&TreeSample) -> bool) -> TreeSample {
        let mut s = TreeSample::default();
        let Some(sys) = snapshot() else {
            return s;
        };
        for pid in walk(&sys, root) {
            let Some(p) = sys.process(Pid::from_u32(pid as u32)) else {
                continue;
            };
            if matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead) {
                continue;
            }
            s.rss_bytes += p.memory();
            s.threads += threads(pid).unwrap_or(1);
            s.processes += 1;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    use super::linux::{parse_rollup, stat_field};
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn parses_smaps_rollup() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:                1234 kB\nPss:                 600 kB\nPss_Anon: 1 kB\n";
        assert_eq!(parse_rollup(text), Some((1234 * 1024, 600 * 1024)));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_stat_fields_after_the_command_name() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 7 0";
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_field(stat, 20), Some("7"));
        assert_eq!(stat_field(stat, 2), None);
    }

    #[test]
    fn tells_running_processes() {
        assert!(is_running(std::process::id() as i32));
        assert!(!is_running(i32::MAX));
    }

    #[test]
    fn samples_this_process() {
        let me = std::process::id() as i32;
        let s = sample_tree(me, |_| true);
        assert!(s.rss_bytes > 0);
        assert_eq!(s.pss_bytes > 0, PSS_AVAILABLE);
        assert!(s.processes >= 1 && s.threads >= 1);
        assert_eq!(sample_tree(me, |_| false).pss_bytes, 0);
        let t = std::thread::spawn(|| threads(std::process::id() as i32));
        assert!(t.join().unwrap().unwrap() >= 2);
    }
}
