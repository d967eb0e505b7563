//! `--app-mb` and `--dirty`: a stand-in for a booted application, and the garbage collector that
//! spoils copy-on-write.
//!
//! A Rails worker carries the whole app in memory before it runs a single job; that is what
//! makes 25 processes cost 25 apps and 25 threads one. The measured child allocates `mb` MiB and
//! writes every page before the strategy starts ([`load`]), so the memory is resident (not just
//! reserved) and, after a fork, shared copy-on-write with every child.
//!
//! Shared, that is, until someone writes. Ruby's garbage collector marks objects in place, and a
//! growing heap moves them, so a forked worker soon writes to most of the pages it inherited:
//! each write copies a 4 KiB page into the child, and the sharing decays. [`dirty`] does that on
//! purpose: a forked worker (or a fork-per-job child) writes `pct` % of the app's pages. With 0
//! the children share the app and PSS stays near one app; with 100 every child holds its own
//! copy and PSS climbs to RSS, N apps: the honest version of "25 processes cost 10 GB".

use std::sync::{Mutex, OnceLock};

/// The app's memory, kept for the whole run of the measured child.
static APP: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

/// Allocate and touch `mb` MiB, the booted app, kept until the process exits. Once per process;
/// a second call keeps the first app.
pub fn load(mb: u64) {
    if mb > 0 {
        let _ = APP.set(Mutex::new(ballast(mb)));
    }
}

/// Allocate and touch `mb` MiB and hand it back (for `concur limits`, which frees it again).
pub fn ballast(mb: u64) -> Vec<u8> {
    let mut v = vec![0u8; (mb as usize) << 20];
    for page in v.chunks_mut(PAGE) {
        page[0] = 1;
    }
    v
}

const PAGE: usize = 4096;

/// Write `pct` % of the app's pages, spread evenly over it, as a garbage collector's marking
/// does: in a forked child, each write copies a shared page into the child. Returns the pages
/// written. Call it in a child that was forked after [`load`]; in the process that loaded the
/// app it only rewrites pages that are already its own.
pub fn dirty(pct: u8) -> usize {
    let Some(app) = APP.get() else {
        return 0;
    };
    // A forked child is single-threaded: no other thread can hold this lock.
    let mut app = app.lock().unwrap_or_else(|p| p.into_inner());
    let mut written = 0;
    for (i, page) in app.chunks_mut(PAGE).enumerate() {
        if chosen(i, pct) {
            page[0] = page[0].wrapping_add(1);
            written += 1;
        }
    }
    written
}

/// Is page `i` among the `pct` % written? Every page whose index falls in the first `pct` of
/// each hundred, so the written pages are spread over the whole app.
fn chosen(i: usize, pct: u8) -> bool {
    (i % 100) < usize::from(pct.min(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_spreads_its_pages_evenly() {
        let pages = 1000;
        for pct in [0u8, 10, 50, 100] {
            let n = (0..pages).filter(|&i| chosen(i, pct)).count();
            assert_eq!(n, pages * pct as usize / 100, "{pct}%");
        }
        assert_eq!((0..pages).filter(|&i| chosen(i, 200)).count(), pages);
    }

    #[test]
    fn dirty_without_an_app_writes_nothing() {
        assert_eq!(dirty(100), 0);
    }
}
