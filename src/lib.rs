//! concur: the same background jobs under many concurrency strategies, measured side by side.
//!
//! # How concur is built
//! Layers that run one way: each uses only the ones below it, and nothing imports upward
//! (`python3 ../shared/tools/layers.py` checks it).
//!
//! | layer | what it is |
//! |---|---|
//! | `main.rs` | thin: parse, dispatch, exit code |
//! | [`cli`] | clap only; each command's flags become a typed request |
//! | [`app`] | the commands (run, compare, race, chaos, limits, lesson, list, the queue); each renders its own results |
//! | [`request`] | [`request::RunRequest`]: every default and limit of a run, resolved into a spec |
//! | [`harness`] | a run measured from outside: the parent samples and reaps, the child (`__exec`) runs one strategy |
//! | [`strategy`] | the registry and one module per strategy: `fn(&RunSpec) -> Outcome` |
//! | [`workload`] | what a job is and how a run is checked; faults; the in-flight tracker |
//! | [`actor`] | a tiny actor library (mailbox, casts, replies), used by the wallet and strategies |
//! | [`sys`] | the leaf: /proc, forking with a single-thread proof and reaping, private 0700 dirs and 0600 files, signals, a private redis-server, ids, time, units, tables |
//! | [`error`] | what a user can cause, as one enum, and exit codes |

pub mod actor;
pub mod app;
pub mod cli;
pub mod error;
pub mod harness;
pub mod request;
pub mod strategy;
pub mod sys;
pub mod workload;
