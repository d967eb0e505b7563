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
//!   [`enter`] guard while it waits, and the peak of that counter is reported. Where jobs run in
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

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

static CURRENT: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

/// A job in flight, from [`enter`] until dropped.
pub struct Guard(());

/// Count one job in flight until the guard is dropped.
pub fn enter() -> Guard {
    let now = CURRENT.fetch_add(1, SeqCst) + 1;
    PEAK.fetch_max(now, SeqCst);
    Guard(())
}

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.fetch_sub(1, SeqCst);
    }
}

/// The most jobs that were in flight at once in this process.
pub fn peak() -> u64 {
    PEAK.load(SeqCst)
}

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
        let _ = std::fs::write(sidecar(result), json);
    }
}

/// Harness side: the per-job figure and a note, if the child left a record.
pub fn read(result: &Path, peak_rss_bytes: u64) -> Option<(InFlight, u64, String)> {
    let record: InFlight = serde_json::from_slice(&std::fs::read(sidecar(result)).ok()?).ok()?;
    let per =
        peak_rss_bytes.saturating_sub(record.baseline_rss_bytes) / record.peak_in_flight.max(1);
    let note = format!(
        "in flight: {} per job = (peak RSS {} - RSS before the strategy {}) / {} job{} in flight at once ({}); includes the strategy's own machinery",
        crate::sys::units::bytes(per),
        crate::sys::units::bytes(peak_rss_bytes),
        crate::sys::units::bytes(record.baseline_rss_bytes),
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
