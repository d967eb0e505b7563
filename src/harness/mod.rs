//! The harness: a run measured from outside. [`parent`] spawns `concur __exec`, samples its
//! process tree ([`sampler`]), counts its stdout ([`stream`]) and reaps it ([`reap`]); [`child`]
//! is that `__exec` side, which runs one strategy; [`wire`] is the files they exchange, and
//! [`measurement`] what comes out.

pub mod child;
pub mod inflight;
pub mod measurement;
pub mod parent;
mod reap;
mod sampler;
mod stream;
pub mod wire;

pub use measurement::{stopped_error, Measurement, Stream};
pub use parent::{measure, measure_with_stderr, measure_within};
