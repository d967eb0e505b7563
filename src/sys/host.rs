//! Facts about this machine, from `sysinfo` on every platform: the CPU, the memory, the OS, the
//! host name and how busy it is.
//!
//! Why a crate and not `/proc`: these facts travel with every result file, and a workshop's
//! laptops are mostly macOS, which has no `/proc`. sysinfo reads `/proc` on Linux and the
//! kernel's own interfaces (sysctl, host_statistics) on macOS; each fact that cannot be read is
//! `None` here, never an error: a report is still worth writing without the CPU's name.
//!
//! Only sysinfo's `system` feature is compiled in, and not its `multithread` one: it starts no
//! thread, so asking it a question never breaks the single-threaded rule a forking process
//! obeys (see [`super::process`]).

use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// The load average: runnable (and, on Linux, uninterruptible) tasks, averaged over 1, 5 and 15
/// minutes. Above the number of cores, work waits for a core: timings are slower and noisier.
#[derive(Copy, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// The CPU's model name (`AMD EPYC 7B13`, `Apple M2`), if the platform says.
pub fn cpu_model() -> Option<String> {
    let sys =
        System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()))
            .ok()?;
    let brand = sys.cpus().first()?.brand().trim().to_owned();
    (!brand.is_empty()).then_some(brand)
}

/// Memory: (total, available) in bytes.
fn memory() -> Option<(u64, u64)> {
    let sys = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .ok()?;
    let total = sys.total_memory();
    (total > 0).then(|| (total, sys.available_memory()))
}

/// The machine's memory, in bytes.
pub fn mem_total_bytes() -> Option<u64> {
    memory().map(|(total, _)| total)
}

/// Memory available for new work without swapping, in MiB.
pub fn mem_available_mb() -> Option<u64> {
    memory().map(|(_, available)| available / (1024 * 1024))
}

/// This machine's host name.
pub fn hostname() -> Option<String> {
    System::host_name().ok().filter(|h| !h.is_empty())
}

/// The operating system in words: `Debian GNU/Linux 13`, `macOS 15.1 Sequoia`.
pub fn os() -> Option<String> {
    System::long_os_version().ok().filter(|s| !s.is_empty())
}

/// The kernel as `uname -sr` says it: `Linux 6.8.0`, `Darwin 24.1.0`.
pub fn kernel() -> Option<String> {
    let u = nix::sys::utsname::uname().ok()?;
    Some(format!(
        "{} {}",
        u.sysname().to_string_lossy(),
        u.release().to_string_lossy()
    ))
}

/// The load average now, where the platform has one (Linux and macOS do).
pub fn load_average() -> Option<LoadAverage> {
    let l = System::load_average().ok()?;
    Some(LoadAverage {
        one: l.one,
        five: l.five,
        fifteen: l.fifteen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        assert!(mem_total_bytes().unwrap() > 0);
        assert!(mem_available_mb().is_some());
        assert!(hostname().is_some());
        let kernel = kernel().unwrap();
        assert!(
            kernel.starts_with("Linux ") || kernel.starts_with("Darwin "),
            "{kernel}"
        );
        assert!(load_average().is_some_and(|l| l.one >= 0.0));
    }
}
