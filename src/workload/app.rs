//! `--app-mb`: a stand-in for a booted application.
//!
//! A Rails worker carries the whole app in memory before it runs a single job; that is what
//! makes 25 processes cost 25 apps and 25 threads one. The measured child allocates `mb` MiB
//! and writes every page before the strategy starts, so the memory is resident (not just
//! reserved) and, after a fork, shared copy-on-write with every child.

/// Allocate and touch `mb` MiB; keep the returned buffer alive for the whole run.
pub fn ballast(mb: u64) -> Vec<u8> {
    let mut v = vec![0u8; (mb as usize) << 20];
    for page in v.chunks_mut(4096) {
        page[0] = 1;
    }
    v
}
