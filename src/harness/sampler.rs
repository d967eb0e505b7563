//! Sampling the measured child's whole process tree from `/proc` while it runs: the peaks of RSS,
//! PSS, threads and processes, and what sampling itself cost the harness.

use crate::sys::proc::{self, TreeSample};
use std::time::{Duration, Instant};

/// How long to wait before the next sample: often at first (most runs are short and their peak
/// comes early), then less often (a long run needs fewer samples to find its peak). A cheap
/// sample (statm, stat) costs the harness tens of microseconds per process, on its own core.
pub(super) fn interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(20) {
        Duration::from_millis(2)
    } else if elapsed < Duration::from_secs(1) {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(20)
    }
}

/// PSS costs a page-table walk per process: besides the end and new peaks, take it this often.
const PSS_INTERVAL: Duration = Duration::from_millis(10);

/// The peaks seen so far, and the cost of seeing them.
pub(super) struct Sampler {
    root: i32,
    pub peak: TreeSample,
    pub samples: u64,
    /// CPU the sampler spent while the child ran.
    pub cpu_s: f64,
    /// CPU of the last sample, taken while the child was stopped (not the run's time).
    pub final_cpu_s: f64,
    last_pss: Instant,
}

impl Sampler {
    /// A sampler of `root`'s tree. The first PSS reading is due [`PSS_INTERVAL`] in (the child
    /// has only just exec'd before that).
    pub fn new(root: i32) -> Sampler {
        Sampler {
            root,
            peak: TreeSample::default(),
            samples: 0,
            cpu_s: 0.0,
            final_cpu_s: 0.0,
            last_pss: Instant::now(),
        }
    }

    /// Take one sample; `last` is the one taken while the child is stopped at its end.
    pub fn sample(&mut self, last: bool) {
        let before = thread_cpu_s();
        let peak = self.peak;
        let last_pss = &mut self.last_pss;
        // PSS at the end, when a process joins the tree after the first sample (a forked worker,
        // a server: where the PSS peak is likely to be), and at least every PSS_INTERVAL.
        let s = proc::sample_tree(self.root, |cheap| {
            let due = last
                || (peak.processes > 0 && cheap.processes > peak.processes)
                || last_pss.elapsed() >= PSS_INTERVAL;
            if due {
                *last_pss = Instant::now();
            }
            due
        });
        let cost = thread_cpu_s() - before;
        if last {
            self.final_cpu_s += cost;
        } else {
            self.cpu_s += cost;
        }
        self.samples += 1;
        self.peak.rss_bytes = self.peak.rss_bytes.max(s.rss_bytes);
        self.peak.pss_bytes = self.peak.pss_bytes.max(s.pss_bytes);
        self.peak.threads = self.peak.threads.max(s.threads);
        self.peak.processes = self.peak.processes.max(s.processes);
    }
}

/// CPU time of the calling thread (the sampler), in seconds, to the nanosecond.
fn thread_cpu_s() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}
