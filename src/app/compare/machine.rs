//! The facts about this machine that every result file carries.
//!
//! A number without its machine is a rumour: 4 ms on a 2-core VM and 4 ms on a 16-core laptop
//! are different claims, and so are 4 ms on an idle machine and on one whose load average is 9.
//! So results.json, results.md and every row of results.csv say where and when they were taken,
//! and which build of concur took them. The facts come from sysinfo ([`crate::sys::host`]) on
//! every platform; the load average is read *before* the first run, since concur's own runs
//! would raise it.

use crate::sys::host::{self, LoadAverage};
use serde::{Deserialize, Serialize};

/// The commit concur was built from, when built from a git checkout (see build.rs).
pub const GIT_COMMIT: Option<&str> = option_env!("CONCUR_GIT_COMMIT");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// CPUs this process may run on.
    pub cores: usize,
    pub cpu_model: String,
    pub mem_total_bytes: u64,
    /// `uname -sr`, e.g. "Linux 6.8.0".
    pub kernel: String,
    /// The OS in words, e.g. "Debian GNU/Linux 13" or "macOS 15.1 Sequoia".
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub hostname: String,
    /// The load average when the comparison started (`null` where the platform has none).
    #[serde(default)]
    pub load_average: Option<LoadAverage>,
    /// Whether PSS could be measured here (Linux only); where not, every PSS figure is 0.
    #[serde(default = "yes")]
    pub pss_available: bool,
    pub concur_version: String,
    /// The git commit concur was built from (`null` outside a checkout).
    #[serde(default)]
    pub git_commit: Option<String>,
}

fn yes() -> bool {
    true
}

impl Machine {
    /// Read the facts; anything unreadable is left empty (0, "" or null) rather than failing a
    /// report.
    pub fn here() -> Machine {
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model: host::cpu_model().unwrap_or_default(),
            mem_total_bytes: host::mem_total_bytes().unwrap_or(0),
            kernel: host::kernel().unwrap_or_default(),
            os: host::os().unwrap_or_default(),
            hostname: host::hostname().unwrap_or_default(),
            load_average: host::load_average(),
            pss_available: crate::sys::proc::PSS_AVAILABLE,
            concur_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: GIT_COMMIT.map(str::to_owned),
        }
    }

    /// One line for the terminal and the reports.
    pub fn describe(&self) -> String {
        let load = match self.load_average {
            Some(l) => format!(", load {:.1}", l.one),
            None => String::new(),
        };
        let commit = match &self.git_commit {
            Some(c) => format!(" ({})", &c[..c.len().min(10)]),
            None => String::new(),
        };
        format!(
            "{} cores ({}), {} RAM, {}{load}, concur {}{commit}",
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

    /// Was the machine busy when the comparison started: a 1-minute load average above its
    /// cores? Then runs wait for a core, and timings are slower and more spread than idle.
    pub fn busy(&self) -> Option<f64> {
        let load = self.load_average?.one;
        (self.cores > 0 && load > self.cores as f64).then_some(load)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let m = Machine::here();
        assert!(m.cores >= 1);
        assert!(m.mem_total_bytes > 0);
        assert!(!m.hostname.is_empty() && !m.kernel.is_empty());
        assert!(m.load_average.is_some());
        assert!(m.describe().contains("load "), "{}", m.describe());
    }

    #[test]
    fn a_load_above_the_cores_is_busy() {
        let mut m = Machine::here();
        m.cores = 2;
        m.load_average = Some(LoadAverage {
            one: 9.0,
            five: 1.0,
            fifteen: 1.0,
        });
        assert_eq!(m.busy(), Some(9.0));
        m.load_average.as_mut().unwrap().one = 1.5;
        assert_eq!(m.busy(), None);
    }
}
