//! `Mutex`, atomics and channels with the standard library's names and signatures (and
//! crossbeam's, for [`channel`]). In an ordinary run each one *is* the standard one inside; under
//! the grader's model checker each is shuttle's, so the grader decides who runs at every
//! operation, and records what happened to draw it. Use these, not `std::sync`: the grader cannot
//! schedule what it cannot see.
//!
//! One difference with `std`: what a `Mutex` guards, and what a channel carries, must be `Debug`
//! (derive it), because the grader prints it in the lanes (`lock → 100`, `send → Deposit(10)`).

pub mod atomic;
pub mod channel;
pub mod mpsc;
mod mutex;

pub use mutex::{Mutex, MutexGuard};
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult};
