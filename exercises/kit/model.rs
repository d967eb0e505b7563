//! The model checker: a scenario run under [shuttle](https://docs.rs/shuttle), which owns every
//! lock, atomic, channel and thread of [`crate::sync`] and [`crate::thread`], and so decides who
//! runs at each of those steps.
//!
//! # Why shuttle rather than concur's own turn-taking gate
//! `concur race --schedule` forces an order on a wallet whose reads and writes it wrote itself.
//! Here the learner writes the code, with their own locks: a scheduler that cannot see a lock
//! cannot tell "W2 is blocked on W1's mutex" from "W2 is slow", and would wait out a timeout at
//! every such step. Shuttle owns the primitives, so it knows who can run, finds a deadlock the
//! moment every thread waits (no timeout), and replays any schedule exactly.
//!
//! # Every schedule, or a seeded sample
//! [`Search::Every`] is shuttle's depth-first search: every interleaving, each run once. It is
//! exhaustive and fast for two workers of a few steps (a wallet: tens to hundreds of schedules).
//! A pool of threads over a channel has hundreds of thousands; there [`Search::Sample`] runs
//! shuttle's PCT scheduler (random priorities with a few forced preemptions, the kind of
//! schedule that finds real bugs) from a fixed seed: the same schedules on every check, every
//! machine.

use crate::trace::{self, Event};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};

/// Steps one execution may take before it is called endless.
pub const STEP_LIMIT: usize = 20_000;

/// Which schedules to run.
#[derive(Copy, Clone, Debug)]
pub enum Search {
    /// Every schedule (depth-first), stopping after `limit` if there are more.
    Every { limit: usize },
    /// `runs` schedules chosen by PCT with `depth` forced preemptions, from `seed`.
    Sample {
        seed: u64,
        runs: usize,
        depth: usize,
    },
}

/// What the search found.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Executions run (the failing one included).
    pub explored: usize,
    /// True when [`Search::Every`] ran out of schedules before its limit.
    pub exhaustive: bool,
    pub failure: Option<Failure>,
}

/// The first failing execution.
#[derive(Clone, Debug)]
pub struct Failure {
    pub why: String,
    pub events: Vec<Event>,
}

/// A check inside a scenario failed: why, in the learner's terms.
pub struct Broken(pub String);

/// Fail the running scenario with `why`.
pub fn fail(why: impl Into<String>) -> ! {
    trace::freeze();
    panic::panic_any(Broken(why.into()))
}

/// Fail the running scenario with `why()` unless `ok`.
pub fn ensure(ok: bool, why: impl FnOnce() -> String) {
    if !ok {
        fail(why());
    }
}

/// The last panic that was not a [`Broken`]: who, where, what.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// A panic raised on purpose by the kit, ignored by the hook (a worker killed by chaos).
pub struct Quiet;

/// Our panic hook: note who panicked, where and why, mark it in the lanes, and keep stderr
/// quiet (concur shows the why). Installed before shuttle's, which then calls it.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            if payload.is::<Broken>() || payload.is::<Quiet>() {
                return;
            }
            if shuttle::current::try_get_current_task().is_none() && trace::modelled() {
                // Shuttle itself failing the execution (a deadlock): nothing to add.
                return;
            }
            let msg = message(payload);
            let lane = trace::lane();
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", short_path(l.file()), l.line()))
                .unwrap_or_default();
            trace::record_marked(None, "panics", Some(msg.clone()));
            trace::freeze();
            *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("{lane} panicked{at}: {msg}"));
        }));
    });
}

/// `exercises/01_mutex_wallet.rs` → `01_mutex_wallet.rs`: the file the learner knows.
fn short_path(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// A panic payload as text.
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(b) = payload.downcast_ref::<Broken>() {
        b.0.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".into()
    }
}

/// The last panic noted by the hook, taken.
pub fn take_last_panic() -> Option<String> {
    LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Run `scenario` under every schedule `search` allows, stopping at the first that fails.
pub fn explore<F>(search: Search, scenario: F) -> Verdict
where
    F: Fn() + Send + Sync + 'static,
{
    install_hook();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    let body = move || {
        counted.fetch_add(1, SeqCst);
        trace::begin(false);
        crate::thread::reset_live();
        crate::sync::channel::forget_made();
        take_last_panic();
        scenario();
    };
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.silence_warnings = true;
    config.max_steps = shuttle::MaxSteps::FailAfter(STEP_LIMIT);
    trace::set_modelled(true);
    let result = panic::catch_unwind(AssertUnwindSafe(|| match search {
        Search::Every { limit } => {
            let dfs = shuttle::scheduler::DfsScheduler::new(Some(limit + 1), false);
            shuttle::Runner::new(dfs, config).run(body);
        }
        Search::Sample { seed, runs, depth } => {
            let pct = shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, runs);
            shuttle::Runner::new(pct, config).run(body);
        }
    }));
    trace::set_modelled(false);
    let explored = count.load(SeqCst);
    let exhaustive = matches!(search, Search::Every { limit } if explored <= limit);
    let failure = result.err().map(|payload| {
        let (why, deadlock) = classify(payload.as_ref());
        let (events, _) = trace::take(deadlock);
        Failure { why, events }
    });
    trace::end();
    Verdict {
        explored: explored.min(match search {
            Search::Every { limit } => limit,
            Search::Sample { runs, .. } => runs,
        }),
        exhaustive: exhaustive && failure.is_none(),
        failure,
    }
}

/// Why an execution failed, and whether it was a deadlock.
fn classify(payload: &(dyn Any + Send)) -> (String, bool) {
    if let Some(b) = payload.downcast_ref::<Broken>() {
        return (b.0.clone(), false);
    }
    let text = message(payload);
    if text.starts_with("deadlock!") {
        return (
            "deadlock: every thread is waiting for another, so none can go on".into(),
            true,
        );
    }
    if text.contains("exceeded max_steps") {
        return (
            format!(
                "no end: after {STEP_LIMIT} steps the threads were still going (a loop that never ends, or a spin that waits for a thread that cannot run?)"
            ),
            true,
        );
    }
    (take_last_panic().unwrap_or(text), false)
}

/// How many schedules, said for a summary: `all 10 schedules` or `2,000 seeded schedules`.
pub fn how_many(v: &Verdict, search: Search) -> String {
    match search {
        Search::Every { .. } if v.exhaustive => format!("all {} schedules", thousands(v.explored)),
        Search::Every { limit: 1 } => "one schedule".into(),
        Search::Every { .. } => format!("the first {} schedules", thousands(v.explored)),
        Search::Sample { .. } => format!("{} seeded PCT schedules", thousands(v.explored)),
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
