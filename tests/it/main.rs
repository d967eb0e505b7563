//! The integration tests, as one test binary (`cargo test --test it`) with a module per area:
//! cargo links one executable instead of one per file. Every test runs the real `concur` binary
//! (or, for `lessons`, reads the lessons as the library embeds them); run one area with
//! `cargo test --test it chaos::`.
//!
//! `common` holds the helpers more than one area uses: running the binary and parsing its output
//! (`common`), finding processes in /proc (`common::procs`), and a private redis-server
//! (`common::redis`).

mod common;

mod chaos;
mod cli;
mod compare;
mod exercises;
mod fork_rpc;
mod graceful;
mod harness;
mod inputs;
mod lessons;
mod limits;
mod play;
mod private_dirs;
mod queue;
mod race;
mod redis;
mod report;
mod run;
mod seeds;
mod stats;
mod story;
mod transfer;
