//! The facts about this machine that every result file carries.
//!
//! A number without its machine is a rumour: 4 ms on a 2-core VM and 4 ms on a 16-core laptop
//! are different claims. So results.json and every row of results.csv say where they were taken.

use crate::sys::proc;
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
            cpu_model: proc::cpu_model().unwrap_or_default(),
            mem_total_bytes: proc::mem_total_bytes().unwrap_or(0),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let m = Machine::here();
        assert!(m.cores >= 1);
        assert!(m.mem_total_bytes > 0);
    }
}
