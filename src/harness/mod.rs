//! The harness: a run measured from outside. [`parent`] spawns `concur __exec`, samples its
//! process tree ([`sampler`]), counts its stdout ([`stream`]) and reaps it ([`reap`]); [`child`]
//! is that `__exec` side, which runs one strategy; [`wire`] is the files they exchange, and
//! [`measurement`] what comes out. [`command`] measures any other program the same way (an
//! exercise's benchmark).

pub mod child;
pub mod command;
pub mod inflight;
pub mod measurement;
pub mod parent;
mod reap;
mod sampler;
mod stream;
pub mod wire;

pub use measurement::{stopped_error, Measurement, Stream};
pub use parent::{measure, measure_with_stderr, measure_within};
