//! The exercises' toolkit: what your code imports, and what grades it.
//!
//! # What you use
//! - [`sync`] and [`thread`]: `Mutex`, atomics, channels and threads with the standard library's
//!   (and crossbeam's) names and signatures. Use them instead of `std::sync` / `std::thread`: in
//!   an ordinary run they *are* the standard ones; under the grader's model checker they are
//!   [shuttle](https://docs.rs/shuttle)'s, which lets the grader choose who runs at every lock,
//!   load, store, send and receive, try every schedule, and draw the one that breaks your code.
//! - The given types of each exercise: [`wallet`], [`bank`], [`pool`], [`idem`], [`transfer`],
//!   [`fork`], [`queue`].
//!
//! # What grades you
//! Each exercise's grader (`graders/NN_*.rs`) compiles your file beside the reference solution
//! and runs [`grade::main`]: a model check ([`model`]: every schedule, or a seeded sample where
//! there are too many), real-thread trials ([`trials`]), chaos faults, and a benchmark whose time
//! and memory `concur exercise check` measures from outside against the reference.
//! It prints JSON lines; `concur` draws them (`concur exercise check N`).

pub mod bank;
pub mod fork;
pub mod grade;
pub mod idem;
pub mod model;
pub mod pool;
pub mod queue;
pub mod report;
pub mod steps;
pub mod sync;
pub mod thread;
pub mod trace;
pub mod transfer;
pub mod trials;
pub mod wallet;

/// A short pause inside a step: where a real thread is likely to be interrupted, and where the
/// model checker may switch to another thread. Costs a `yield` on real threads.
pub fn pause() {
    if trace::modelled() {
        shuttle::thread::yield_now();
    } else {
        std::thread::yield_now();
    }
}
