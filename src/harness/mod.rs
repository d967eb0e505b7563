//! The harness: a run measured from outside. [`parent`] spawns `concur __exec`, samples its
//! process tree and reaps it; [`child`] is that `__exec` side, which runs one strategy; the
//! watchdog and the files they exchange sit beside them.

pub mod child;
pub mod inflight;
pub mod parent;

pub use parent::*;
