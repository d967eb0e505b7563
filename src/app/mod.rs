//! The commands: what `concur run`, `compare`, `race`, `chaos`, `limits`, `lesson`, `list` and
//! the queue commands do. Each takes a typed request (built by the `cli` layer or by another
//! command) and renders its own results; they sit above the harness, the strategies and the
//! workloads, and nothing below imports them.

pub mod chaos;
pub mod compare;
pub mod exercise;
pub mod lesson;
pub mod limits;
pub mod list;
pub mod queue;
pub mod race;
pub mod run;
pub mod story;

use std::path::PathBuf;

/// The environment variable through which `concur lesson` asks a demo for its result: commands
/// with a `--json` object (run, race, chaos, queue-demo) also write that object to this path,
/// whatever else they print, so the lesson grades the run the learner watched.
pub const JSON_TO: &str = "CONCUR_JSON_TO";

/// Write `value` to `$CONCUR_JSON_TO`, if it is set (see [`JSON_TO`]).
pub fn json_copy(value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = std::env::var_os(JSON_TO) {
        use anyhow::Context;
        let path = PathBuf::from(path);
        std::fs::write(&path, serde_json::to_vec(value)?)
            .with_context(|| format!("writing the result to {} ({JSON_TO})", path.display()))?;
    }
    Ok(())
}

/// A command to carry out, with everything it was asked: what the `cli` layer makes of a
/// command line.
#[derive(Debug)]
pub enum Request {
    /// Plain `concur` on a terminal.
    Menu,
    /// Plain `concur` off a terminal: the help text, on stderr, and exit 2.
    Help(String),
    List,
    Limits(limits::LimitsRequest),
    Lesson(lesson::LessonRequest),
    Exercise(exercise::ExerciseRequest),
    Run(run::RunCommand),
    Compare(compare::CompareRequest),
    Diff(compare::diff::DiffRequest),
    Race(race::RaceRequest),
    Chaos(chaos::ChaosRequest),
    Enqueue(queue::EnqueueRequest),
    Worker(queue::worker::WorkerRequest),
    Stats(queue::stats::StatsRequest),
    Retry(queue::RetryRequest),
    QueueDemo(queue::demo::DemoRequest),
    /// Bytes to print on stdout as they are: a completion script, the man page.
    Print(Vec<u8>),
    BenchQueue(queue::bench::BenchQueueRequest),
    /// The measured child (`concur __exec`).
    Exec {
        spec: PathBuf,
        result: PathBuf,
    },
}

/// Carry out a request.
pub fn execute(request: Request) -> anyhow::Result<()> {
    match request {
        Request::Menu => lesson::menu(),
        Request::Help(text) => {
            // No command and no terminal to offer a menu on: a mistake in a script, so the help
            // goes to stderr and the exit code is 2, as clap does for a missing subcommand.
            eprint!("{text}");
            crate::error::usage("no command given (concur --help lists them)")
        }
        Request::Print(bytes) => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
            Ok(())
        }
        Request::List => {
            list::print();
            Ok(())
        }
        Request::Limits(r) => limits::run(&r),
        Request::Lesson(r) => lesson::command(&r),
        Request::Exercise(r) => exercise::command(&r),
        Request::Run(r) => run::run(&r).map(drop),
        Request::Compare(r) => compare::compare(&r),
        Request::Diff(r) => compare::diff::diff(&r),
        Request::Race(r) => race::race(&r),
        Request::Chaos(r) => chaos::chaos(&r),
        Request::Enqueue(r) => queue::enqueue(&r),
        Request::Worker(r) => queue::worker::run(&r),
        Request::Stats(r) => queue::stats::run(&r),
        Request::Retry(r) => queue::retry(&r),
        Request::QueueDemo(r) => queue::demo::run(&r),
        Request::BenchQueue(r) => queue::bench::run(&r),
        Request::Exec { spec, result } => crate::harness::child::exec(&spec, &result),
    }
}
