//! concur: the same background jobs under many concurrency strategies, measured side by side.
//!
//! The map: [`cli`] parses, [`run`] checks a request and hands it to the harness in [`measure`],
//! which re-executes concur as a child ([`exec`]) where a [`strategy`] runs a [`workload`]'s
//! jobs. [`report`] turns measurements into text.

pub mod actor;
pub mod app;
pub mod cli;
pub mod error;
pub mod harness;
pub mod strategy;
pub mod sys;
pub mod workload;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::io::IsTerminal;

/// Die quietly on a closed stdout, like every Unix filter (`concur list | head`), instead of
/// panicking in `println!` on EPIPE (Rust ignores SIGPIPE by default).
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: restoring the default disposition installs no handler code, so there is nothing
    // async-signal-unsafe to run; it happens first thing in main, before any thread exists.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Parse the command line, do the work, and return the process exit code.
pub fn main() -> i32 {
    default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            app::lesson::menu()
        }
        None => {
            let _ = Cli::command().print_help();
            Ok(())
        }
        Some(Command::Lesson { which, yes, no_run }) => {
            let demos = match (yes, no_run) {
                (true, _) => app::lesson::Demos::Run,
                (_, true) => app::lesson::Demos::Skip,
                _ => app::lesson::Demos::Ask,
            };
            app::lesson::command(which.as_deref(), demos)
        }
        Some(Command::List) => {
            app::list::print();
            Ok(())
        }
        Some(Command::Limits { runs, app_mb, json }) => {
            app::limits::run(runs as usize, app_mb, json)
        }
        Some(Command::Run(args)) => app::run::run(&args).map(|_| ()),
        Some(Command::Compare(args)) => app::compare::compare(&args),
        Some(Command::Race(args)) => app::race::race(&args),
        Some(Command::Enqueue(args)) => app::queue::enqueue(&args),
        Some(Command::Worker(args)) => app::queue::worker::run(&args),
        Some(Command::Stats(args)) => app::queue::stats::run(&args),
        Some(Command::Retry(args)) => app::queue::retry(&args),
        Some(Command::QueueDemo(args)) => app::queue::demo::run(&args),
        Some(Command::Chaos(args)) => app::chaos::chaos(&args),
        Some(Command::Exec { spec, result }) => harness::child::exec(&spec, &result),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            let code = error::exit_code(&err);
            // A failed child has already said why on stderr; say only what it means here.
            eprintln!("concur: error: {err:#}");
            code
        }
    }
}
