//! The facts about this machine that every result file carries.
//!
//! A number without its machine is a rumour: 4 ms on a 2-core VM and 4 ms on a 16-core laptop
//! are different claims. So results.json and every row of results.csv say where they were taken.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPUs this process may run on.
    pub cores: usize,
    pub cpu_model: String,
    pub mem_total_bytes: u64,
    /// `uname -sr`, e.g. "Linux 6.8.0".
    pub kernel: String,
    pub concur_version: String,
}

impl Machine {
    /// Read the facts; anything unreadable is left empty (0 or "") rather than failing a report.
    pub fn here() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kernel = nix::sys::utsname::uname()
            .map(|u| {
                format!(
                    "{} {}",
                    u.sysname().to_string_lossy(),
                    u.release().to_string_lossy()
                )
            })
            .unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_default(),
            mem_total_bytes: field(&meminfo, "MemTotal")
                .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or(0),
            kernel,
            concur_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// One line for the terminal and the HTML report.
    pub fn describe(&self) -> String {
        format!(
            "{} cores ({}), {} RAM, {}, concur {}",
            self.cores,
            if self.cpu_model.is_empty() {
                "unknown CPU"
            } else {
                &self.cpu_model
            },
            crate::sys::units::bytes(self.mem_total_bytes),
            self.kernel,
            self.concur_version
        )
    }
}

/// The value of the first `key: value` line in a /proc file.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_fields() {
        let text = "MemTotal:       24684816 kB\nMemFree: 1 kB\n";
        assert_eq!(field(text, "MemTotal").as_deref(), Some("24684816 kB"));
        assert_eq!(field(text, "Nope"), None);
        let m = Machine::here();
        assert!(m.cores >= 1);
        assert!(m.mem_total_bytes > 0);
    }
}
