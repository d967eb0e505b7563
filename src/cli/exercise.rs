//! `concur exercise`'s words and flags.

use crate::app::exercise::ExerciseRequest;
use clap::Args;
use std::path::PathBuf;

pub(super) const EXERCISE_ABOUT: &str = "\
Exercises the binary grades. Each is a small Rust file with a broken or unfinished body: a \
Mutex wallet, an atomic wallet, an actor, a bounded pool, an idempotent job, a deadlock-free \
transfer, a fork-per-job runner, reliable fetch with a reaper. You write the fix; `check` builds \
it with cargo and proves it: every schedule of the threads that matter (a model checker owns \
every lock, atomic and channel, so a deadlock or a lost update is found and drawn as lanes), \
real-thread trials, chaos faults (crashing, hung and panicking jobs, a worker killed at every \
Redis command), then its cost against the reference solution, measured from outside.

  (nothing)      the next exercise not done: what to do, and where
  list           every exercise: done or not, its lesson, about how long it takes
  N              exercise N's statement
  check N        build and grade your file (the first build takes a minute or two)
  watch [N]      check again on every save; move on when it passes
  hint N         the hint
  reset N        your file back as shipped (yours kept as .bak)
  init DIR       write the exercises out into DIR (for a binary without a checkout)

The exercises are found in --dir, else $CONCUR_EXERCISES, else the current directory or one \
above it (a concur checkout's exercises/ included). Progress is kept beside the lessons' \
($CONCUR_STATE_DIR, else $XDG_STATE_HOME/concur, else ~/.local/state/concur).";

pub(super) const EXERCISE_EXAMPLES: &str = "\
Examples:
  concur exercise init ~/concur-exercises    write them out (then cd there)
  concur exercise                            what to do next
  concur exercise check 1                    grade exercises/01_mutex_wallet.rs
  concur exercise watch                      re-check on every save
  concur exercise hint 6                     when stuck";

#[derive(Debug, Clone, Args)]
pub struct ExerciseArgs {
    /// list, N, check N, watch [N], hint N, reset N, init DIR (nothing: the next exercise)
    #[arg(value_name = "WHAT", num_args = 0..=2)]
    pub words: Vec<String>,

    /// Where the exercises are (default: found from the current directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Skip measuring the cost against the reference solution
    #[arg(long)]
    pub no_cost: bool,

    /// Grade the reference solution or a known wrong answer instead of your file (what the
    /// test suite does to prove every exercise solvable and gradable)
    #[arg(long, value_name = "learner|solution|wrong", hide = true)]
    pub variant: Option<String>,
}

impl From<ExerciseArgs> for ExerciseRequest {
    fn from(a: ExerciseArgs) -> ExerciseRequest {
        ExerciseRequest {
            words: a.words,
            dir: a.dir,
            variant: a.variant,
            no_cost: a.no_cost,
        }
    }
}
