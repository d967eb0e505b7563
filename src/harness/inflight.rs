//! Memory per in-flight job: what one more waiting job costs under each strategy.
//!
//! The sleep workload is where this matters (ten thousand slow API calls at once: a task, a
//! thread or a process each?). It is computed, honestly, as
//!
//! ```text
//! (peak RSS of the whole tree - RSS of the measured child just before the strategy started)
//!     / peak number of jobs in flight at once
//! ```
//!
//! - The baseline is read by the measured child itself (`/proc/self/statm`) after its
//!   `--app-mb` ballast and before the strategy runs, so it excludes the app and concur itself.
//! - Jobs in flight are *counted* where jobs run in the measured process: each sleep job holds an
//!   [`crate::workload::inflight::enter`] guard while it runs, and the peak of that counter is reported. Where jobs run in
//!   other processes (fork, prefork, rpc, sqlite-fork, resque) or in code that does not pass here
//!   (redis worker threads), the counter stays at 0 and the peak is taken as the strategy's
//!   bound, `min(workers, items)`, and the note says so.
//! - Everything the strategy adds besides the jobs (a runtime, a pool, a server process, the
//!   page tables of a forked child) is divided among the jobs too: the figure is what each
//!   in-flight job cost *with* its share of the machinery, an upper bound on the job alone. RSS
//!   counts a page shared by several processes once per process; PSS (also in the summary)
//!   divides it.
//!
//! The child writes [`InFlight`] beside its outcome file; the harness reads it, so the
//! [`crate::strategy::spec::Outcome`] every strategy builds does not change.

use crate::sys::units::bytes;
use crate::workload::inflight::peak;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the child reports for the harness.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InFlight {
    pub baseline_rss_bytes: u64,
    pub peak_in_flight: u64,
    /// True if `peak_in_flight` was counted, false if it is the strategy's bound.
    pub counted: bool,
}

/// Where the child leaves [`InFlight`], beside its outcome file.
pub fn sidecar(result: &Path) -> PathBuf {
    result.with_file_name("inflight.json")
}

/// The child's own RSS now: the baseline.
pub fn own_rss() -> u64 {
    crate::sys::proc::rss(std::process::id() as i32).unwrap_or(0)
}

/// Child side, after the run: write the baseline and the peak (counted, or else the bound).
pub fn write(result: &Path, baseline_rss_bytes: u64, workers: usize, items: u64) {
    let counted = peak();
    let record = InFlight {
        baseline_rss_bytes,
        peak_in_flight: if counted > 0 {
            counted
        } else {
            (workers as u64).min(items).max(1)
        },
        counted: counted > 0,
    };
    if let Ok(json) = serde_json::to_vec(&record) {
        let _ = crate::sys::private::write(&sidecar(result), &json);
    }
}

/// Harness side: the per-job figure and a note, if the child left a record.
pub fn read(result: &Path, peak_rss_bytes: u64) -> Option<(InFlight, u64, String)> {
    let record: InFlight = serde_json::from_slice(&std::fs::read(sidecar(result)).ok()?).ok()?;
    let per =
        peak_rss_bytes.saturating_sub(record.baseline_rss_bytes) / record.peak_in_flight.max(1);
    let note = format!(
        "in flight: {} per job = (peak RSS {} - RSS before the strategy {}) / {} job{} in flight at once ({}); includes the strategy's own machinery",
        bytes(per),
        bytes(peak_rss_bytes),
        bytes(record.baseline_rss_bytes),
        record.peak_in_flight,
        if record.peak_in_flight == 1 { "" } else { "s" },
        if record.counted {
            "counted"
        } else {
            "not counted here, jobs ran elsewhere: the bound min(workers, items)"
        }
    );
    Some((record, per, note))
}
