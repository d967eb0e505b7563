//! The command line: clap definitions and nothing else. Each command's flags convert into the
//! typed request its command in [`crate::app`] takes (`From`), so no layer below this one ever
//! sees a flag; nothing imports `cli`.

pub mod bench;
pub mod chaos;
pub mod compare;
pub mod exercise;
pub mod queue;
pub mod race;
pub mod run;

use crate::app::compare::diff::DiffRequest;
use crate::app::lesson::{Demos, LessonRequest};
use crate::app::limits::LimitsRequest;
use crate::app::Request;
use crate::request::MAX_APP_MB;
use crate::strategy::StrategyInfo;
use clap::{CommandFactory, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub(crate) const EXAMPLES: &str = "\
Examples:
  concur list                                   every strategy and workload, with properties
  concur run -s threads                         51 threads print 51 emoji, 50 times each
  concur run -s pool --workers 2 --quiet        the same on a pool of 2, summary only
  concur run -s threads -w wallet               lose updates to a race...
  concur run -s threads -w wallet --sync mutex  ...and stop losing them
  concur run -s futures --workers 1 -w wallet   a single-threaded event loop loses them too
  concur run -s rayon --json                    one JSON object on stdout, for scripts
  concur run -s pool -w cpu --workers 2         CPU-bound jobs on both cores
  concur run -s futures -w sleep --items 10000  ten thousand waits on one event loop
  concur run -s fork --workers 4                Resque: a process per job, 4 at a time
  concur run -s fork -w wallet                  each child changes its own copy: isolation
  concur run -s rpc -w wallet --sync none       a server owns the balance; get+set still races
  concur run -s redis --workers 8 --batch 16    Sidekiq's shape: JSON jobs in a Redis list
  concur run -s redis -w wallet --sync watch    WATCH/MULTI/EXEC: no update lost, retries counted
  concur run -s fork --fault crash --every 10   one job in ten aborts: fork loses only those
  concur run -s fork --fault hang --job-timeout 1s   a hung child is killed, the run goes on";

#[derive(Debug, Parser)]
#[command(
    name = "concur",
    version,
    about = "Run the same background jobs under many concurrency strategies and measure them side by side",
    long_about = "concur runs the same background-job workloads (emoji printing, a shared wallet) under \
many strategies - a loop, threads, a pool, actors, async tasks, processes - and measures each from \
outside: wall and CPU time, peak RSS and PSS of the whole process tree, and whether the result is \
correct. It is a workshop tool: watch the output interleave, see the memory, lose updates on purpose.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every strategy and workload, one line each, with each strategy's properties
    List,
    /// Run one workload under one strategy, measured from outside
    #[command(after_help = EXAMPLES)]
    Run(run::RunArgs),
    /// Run every strategy several times, each in a fresh measured child, and report side by side
    #[command(after_help = compare::COMPARE_EXAMPLES)]
    Compare(compare::CompareArgs),
    /// Compare two results.json files strategy by strategy: faster, slower, or within noise
    #[command(
        after_help = "Examples:\n  concur compare --out before; (change something); concur compare --out after\n  concur diff before/results.json after/results.json\n  concur diff my-laptop.json your-laptop.json"
    )]
    Diff {
        /// The baseline: a results.json written by concur compare
        #[arg(value_name = "A.json")]
        a: PathBuf,
        /// The one to compare with it
        #[arg(value_name = "B.json")]
        b: PathBuf,
    },
    /// The wallet race: lost updates over many trials, the losing interleaving, and every fix
    #[command(after_help = race::RACE_EXAMPLES, long_about = race::RACE_ABOUT)]
    Race(race::RaceArgs),
    /// Assume chaos: which strategies survive a crashing, panicking, leaking or hung job
    #[command(after_help = chaos::CHAOS_EXAMPLES, long_about = chaos::CHAOS_ABOUT)]
    Chaos(chaos::ChaosArgs),
    /// The workshop lessons: list them, show one, run its demos, remember progress
    #[command(
        after_help = "Examples:\n  concur lesson list        lessons, with [x] for done\n  concur lesson next        the first lesson not done yet\n  concur lesson 3 --yes     lesson 3, demos run without asking\n  concur lesson 3 --no-run  lesson 3, demo commands shown, not run (not done)\n  concur lesson 5 --predict 0   answer the question on the command line\n  concur lesson 10 --room   in front of a room: big, the room's prediction, no progress\n\nA lesson is done once you predicted its result and its demos ran.\nProgress lives in $CONCUR_STATE_DIR, else $XDG_STATE_HOME/concur, else ~/.local/state/concur."
    )]
    Lesson {
        /// list, next, or a lesson number
        #[arg(value_name = "list|next|N")]
        which: Option<String>,
        /// Run the demos without asking, and without a prediction unless --predict gives one (a
        /// lesson is done only with both)
        #[arg(long, short)]
        yes: bool,
        /// Show the lesson only: no prediction, no demos, nothing recorded
        #[arg(long, conflicts_with = "yes")]
        no_run: bool,
        /// Facilitator mode: big headings, the room's prediction typed by the presenter, demos
        /// run without asking, and no progress written
        #[arg(long)]
        room: bool,
        /// Your prediction, instead of being asked (a number, a letter, or names in order)
        #[arg(long, value_name = "ANSWER", conflicts_with = "no_run")]
        predict: Option<String>,
    },
    /// Exercises concur grades: write the fix, it is proved under every schedule and measured
    #[command(after_help = exercise::EXERCISE_EXAMPLES, long_about = exercise::EXERCISE_ABOUT)]
    Exercise(exercise::ExerciseArgs),
    /// Measure the primitives strategies are built from (fork, thread spawn, channel, task, ...)
    #[command(
        after_help = "Examples:\n  concur limits\n  concur limits --app-mb 200   also fork with 200 MiB of app memory\n  concur limits --json\n\n\
Each strategy against its floor: concur compare -w noop --items 2000\n\
The same primitives as criterion benches: cargo bench -- primitive"
    )]
    Limits {
        /// Runs per primitive (median and min-max are reported)
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
        runs: u64,
        /// Also time fork with this many MiB allocated and touched in the parent
        #[arg(long, value_name = "MB", default_value_t = 0,
              value_parser = clap::value_parser!(u64).range(0..=MAX_APP_MB))]
        app_mb: u64,
        /// One JSON object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Push jobs onto a Redis queue (Sidekiq's JSON), now or scheduled (--in / --at)
    #[command(after_help = queue::ENQUEUE_EXAMPLES)]
    Enqueue(queue::EnqueueArgs),
    /// A long-running queue worker: threads (Sidekiq) or --fork (Resque), reliable fetch, retries
    #[command(after_help = queue::WORKER_EXAMPLES)]
    Worker(queue::WorkerArgs),
    /// The queue at a glance: queues, workers, processed/failed, retry/scheduled/dead (--watch)
    #[command(
        after_help = "Examples:\n  concur stats\n  concur stats --watch\n  concur stats --json"
    )]
    Stats(queue::StatsArgs),
    /// Re-enqueue a failed job now (by jid), or every dead job
    #[command(
        after_help = "Examples:\n  concur retry 3f2a9c0d41b27e8a55c0d1e2\n  concur retry --all-dead"
    )]
    Retry(queue::RetryArgs),
    /// Self-contained: private Redis, 3 workers, kill -9 one, reliable vs basic fetch
    #[command(name = "queue-demo")]
    QueueDemo(queue::DemoArgs),
    /// Benchmarks of concur's own machinery against its floors (`bench queue`)
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  concur completions bash > ~/.local/share/bash-completion/completions/concur\n  concur completions zsh > ~/.zfunc/_concur        (with fpath+=~/.zfunc before compinit)\n  concur completions fish > ~/.config/fish/completions/concur.fish"
    )]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): concur man > concur.1; man ./concur.1
    #[command(
        after_help = "Examples:\n  concur man | man -l -\n  concur man > /usr/local/share/man/man1/concur.1"
    )]
    Man,
    /// (internal) the measured child of `run`: runs the jobs and reports the outcome
    #[command(name = "__exec", hide = true)]
    Exec {
        /// The run spec, a JSON file (a file in the run's private temp dir, not an argument, so
        /// that a password in a Redis URL never shows in `ps`)
        #[arg(long)]
        spec: PathBuf,
        /// Where to write the outcome JSON
        #[arg(long)]
        result: PathBuf,
    },
}

/// Resolve a strategy or preset name (clap value parser).
pub(crate) fn parse_strategy(s: &str) -> Result<&'static StrategyInfo, String> {
    crate::strategy::find(s).ok_or_else(|| {
        format!(
            "unknown strategy '{s}' (valid: {})",
            crate::strategy::names()
        )
    })
}

/// Every duration flag: `1s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::sys::units::parse_duration(s)
}

/// A duration that must be more than zero (`--job-timeout`).
pub(crate) fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    crate::sys::units::parse_timeout(s)
}

/// The completion script for `shell`, generated from the clap definitions above (so it never
/// falls behind a flag).
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "concur", &mut out);
    out
}

/// The man page, concur(1) with every subcommand's options in it, as roff.
pub fn man_page() -> Vec<u8> {
    let mut command = Cli::command();
    command.build();
    let mut out = Vec::new();
    let page = clap_mangen::Man::new(command.clone());
    // Writing to a Vec cannot fail.
    let _ = page.render_title(&mut out);
    let _ = page.render_name_section(&mut out);
    let _ = page.render_synopsis_section(&mut out);
    let _ = page.render_description_section(&mut out);
    // Each command in full, in a section of its own (clap_mangen would make a page per command
    // and list them; one page is what `man concur` finds).
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("concur {}", sub.get_name());
        let _ = writeln!(out, ".SH \"{}\"", name.to_uppercase());
        if let Some(about) = sub.get_about() {
            let _ = writeln!(out, "{}", roff_text(&about.to_string()));
        }
        let sub_page = clap_mangen::Man::new(sub.clone().bin_name(name));
        let mut synopsis = Vec::new();
        let _ = sub_page.render_synopsis_section(&mut synopsis);
        // Keep the synopsis line, drop its own section header: it sits under this one.
        let synopsis = String::from_utf8_lossy(&synopsis).replacen(".SH SYNOPSIS\n", ".PP\n", 1);
        out.extend_from_slice(synopsis.as_bytes());
        let mut options = Vec::new();
        let _ = sub_page.render_options_section(&mut options);
        let options = String::from_utf8_lossy(&options).replacen(".SH OPTIONS", ".SS Options", 1);
        out.extend_from_slice(options.as_bytes());
    }
    let _ = page.render_extra_section(&mut out);
    let _ = page.render_version_section(&mut out);
    out
}

/// Plain text for a roff paragraph: a leading `.` or `'` would read as a request.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<Cli> for Request {
    fn from(cli: Cli) -> Request {
        match cli.command {
            None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
                Request::Menu
            }
            None => Request::Help(Cli::command().render_help().to_string()),
            Some(Command::Lesson {
                which,
                yes,
                no_run,
                room,
                predict,
            }) => Request::Lesson(LessonRequest {
                which,
                demos: match (yes, no_run) {
                    (true, _) => Demos::Run,
                    (_, true) => Demos::Skip,
                    _ => Demos::Ask,
                },
                room,
                predict,
            }),
            Some(Command::List) => Request::List,
            Some(Command::Exercise(args)) => Request::Exercise(args.into()),
            Some(Command::Limits { runs, app_mb, json }) => Request::Limits(LimitsRequest {
                runs: runs as usize,
                app_mb,
                json,
            }),
            Some(Command::Run(args)) => Request::Run(args.into()),
            Some(Command::Compare(args)) => Request::Compare(args.into()),
            Some(Command::Diff { a, b }) => Request::Diff(DiffRequest { a, b }),
            Some(Command::Race(args)) => Request::Race(args.into()),
            Some(Command::Chaos(args)) => Request::Chaos(args.into()),
            Some(Command::Enqueue(args)) => Request::Enqueue(args.into()),
            Some(Command::Worker(args)) => Request::Worker(args.into()),
            Some(Command::Stats(args)) => Request::Stats(args.into()),
            Some(Command::Retry(args)) => Request::Retry(args.into()),
            Some(Command::QueueDemo(args)) => Request::QueueDemo(args.into()),
            Some(Command::Bench(bench)) => bench.into(),
            Some(Command::Exec { spec, result }) => Request::Exec { spec, result },
            Some(Command::Completions { shell }) => Request::Print(completions(shell)),
            Some(Command::Man) => Request::Print(man_page()),
        }
    }
}
