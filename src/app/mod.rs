//! The commands: what `concur run`, `compare`, `race`, `chaos`, `limits`, `lesson`, `list` and
//! the queue commands do. Each takes a typed request (built by [`crate::cli`] or by another
//! command) and renders its own results; they sit above the harness, the strategies and the
//! workloads, and nothing below imports them.

pub mod chaos;
pub mod compare;
pub mod lesson;
pub mod limits;
pub mod list;
pub mod queue;
pub mod race;
pub mod run;
