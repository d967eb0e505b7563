//! `concur race --story NAME`: a failure from "How to fail at background jobs" that is not a
//! lost update, reproduced, counted, drawn, and fixed several ways.
//!
//! # Enqueue before commit
//! The app creates a user inside a transaction and enqueues its welcome job in `after_create`,
//! that is *before* COMMIT. A worker that is idle takes the job at once and looks the user up,
//! while the transaction is still open: no row, `ActiveRecord::RecordNotFound`, and the job
//! fails (or, retried, runs late). The fixes, each measured:
//!
//! - **after_commit**: enqueue after COMMIT. No job runs early; but a process that dies between
//!   COMMIT and the enqueue (a deploy, an OOM kill) leaves a user without a welcome, and Rails
//!   swallows `after_commit`'s exceptions, so nobody hears of it. The crash row shows it.
//! - **retry on RecordNotFound**: keep the bug, retry the job later. Nothing is lost if the
//!   retries outlast the transaction; the cost is the failed lookups, the retries and the delay.
//! - **transactional outbox**: write the job as a row in the same transaction; a relay pushes
//!   committed rows to the queue. Nothing early, nothing lost, crash or not: the job commits, or
//!   does not exist, together with the user.
//! - **DelayedJob**: the queue is a table of the same database, so the job row commits with the
//!   data and workers can only claim what is committed: the outbox without a relay.
//!
//! The database is a real SQLite file (WAL, a connection per actor), so "no row" is what a
//! real reader really sees. The interleaving is the only thing chosen: on threads with real
//! time (by default: a race, intermittent), or on a virtual clock ([`schedule`]): forced with
//! `--schedule` (the worker is always there first: the same result every trial, no luck, no
//! timing) or drawn from `--seed`.

pub mod render;
pub mod schedule;
pub mod world;

use crate::error::usage;
use schedule::Clock;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;
use world::{Actor, App, Books, Event, Fix, Relay, Settings, Shared, Variant, Worker};

/// The stories `race --story` tells.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Story {
    /// a job enqueued inside a transaction runs before COMMIT and finds no row; the fixes
    EnqueueBeforeCommit,
}

/// `concur race --story NAME` and the `race` flags it shares.
#[derive(Clone, Debug)]
pub struct StoryRequest {
    pub story: Story,
    pub trials: u64,
    /// Requests (users, welcome jobs) per trial.
    pub items: u64,
    pub workers: Option<u64>,
    /// The rest of the transaction, between the enqueue and COMMIT.
    pub pause_us: u64,
    /// `--schedule` (any steps but race's default are refused: the story has its own order).
    pub schedule: Option<String>,
    pub seed: Option<u64>,
    pub json: bool,
}

/// Limits: a story trial creates a database, so fewer trials than `race` allows.
pub const MAX_TRIALS: u64 = 1000;
pub const MAX_ITEMS: u64 = 1000;
pub const MAX_WORKERS: u64 = 16;
/// Workers when `--workers` is not given.
pub const DEFAULT_WORKERS: usize = 2;

/// The rows of the table, in order: the bug, then each fix, with the crash where it matters.
pub const VARIANTS: &[Variant] = &[
    Variant {
        fix: Fix::InTransaction,
        crash: false,
    },
    Variant {
        fix: Fix::AfterCommit,
        crash: false,
    },
    Variant {
        fix: Fix::AfterCommit,
        crash: true,
    },
    Variant {
        fix: Fix::RetryOnMissing,
        crash: false,
    },
    Variant {
        fix: Fix::Outbox,
        crash: true,
    },
    Variant {
        fix: Fix::DelayedJob,
        crash: true,
    },
];

/// One variant over every trial.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub fix: Fix,
    pub crash: bool,
    pub label: String,
    pub trials: u64,
    /// Requests made: users created, welcome jobs due.
    pub jobs: u64,
    /// Users whose row committed.
    pub committed: u64,
    /// Jobs that found their row and ran.
    pub ran: u64,
    /// Lookups that found no row: jobs that ran before their row committed.
    pub no_row: u64,
    /// Committed users whose welcome job never ran.
    pub lost: u64,
    /// Trials that lost at least one job.
    pub losing_trials: u64,
    pub retries: u64,
    /// Jobs never enqueued: the app died between COMMIT and the enqueue.
    pub never_enqueued: u64,
    /// Mean time from a user's COMMIT to its welcome job running, µs (on the trial's clock).
    pub commit_to_run_us: Option<f64>,
}

/// One trial drawn as lanes.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    pub label: String,
    pub trial: u64,
    pub events: Vec<Event>,
}

/// The whole `race --story ... --json` object.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub story: Story,
    /// `threads`, `forced` or `seed`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub trials: u64,
    pub items: u64,
    pub workers: usize,
    pub pause_us: u64,
    pub rows: Vec<Row>,
    pub timelines: Vec<Timeline>,
}

/// `concur race --story NAME`.
pub fn run(req: &StoryRequest) -> anyhow::Result<()> {
    let clock = clock(req)?;
    let settings = settings(req, clock)?;
    let dir = crate::sys::private::dir("story")?;
    let mut rows = Vec::new();
    let mut timelines = Vec::new();
    for (v, variant) in VARIANTS.iter().enumerate() {
        let mut trials = Vec::new();
        for t in 0..req.trials {
            let trial_clock = match clock {
                Clock::Seeded(seed) => Clock::Seeded(seed.wrapping_add(t * 64 + v as u64)),
                other => other,
            };
            trials.push(trial(
                &dir.path().join("app.db"),
                *variant,
                &settings,
                trial_clock,
            )?);
        }
        if let Some(t) = drawn(*variant, &trials) {
            timelines.push(t);
        }
        rows.push(row(*variant, &settings, &trials));
    }
    dir.close()?;
    let report = Report {
        story: req.story,
        mode: match clock {
            Clock::Threads => "threads",
            Clock::Forced => "forced",
            Clock::Seeded(_) => "seed",
        },
        seed: req.seed.filter(|_| matches!(clock, Clock::Seeded(_))),
        trials: req.trials,
        items: req.items,
        workers: settings.workers,
        pause_us: req.pause_us,
        rows,
        timelines,
    };
    crate::app::json_copy(&report)?;
    let text = if req.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        render::render(&report)
    };
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The clock `--schedule` / `--seed` ask for (threads without either).
fn clock(req: &StoryRequest) -> anyhow::Result<Clock> {
    match (&req.schedule, req.seed) {
        (Some(s), _) if !s.is_empty() && s != crate::workload::trace::DEFAULT_SCHEDULE => {
            usage(format!(
            "--story takes --schedule without steps (got '{s}'): its order is fixed, the worker \
             first whenever a job is there"
        ))
        }
        (Some(_), _) => Ok(Clock::Forced),
        (None, Some(seed)) => Ok(Clock::Seeded(seed)),
        (None, None) => Ok(Clock::Threads),
    }
}

/// Check the request's sizes and make the trial settings.
fn settings(req: &StoryRequest, clock: Clock) -> anyhow::Result<Settings> {
    if req.trials > MAX_TRIALS {
        return usage(format!(
            "--story runs at most {MAX_TRIALS} --trials (each makes a database); got {}",
            req.trials
        ));
    }
    if req.items > MAX_ITEMS {
        return usage(format!(
            "--story takes at most {MAX_ITEMS} --items (requests per trial); got {}",
            req.items
        ));
    }
    let workers = req.workers.unwrap_or(DEFAULT_WORKERS as u64);
    if workers > MAX_WORKERS {
        return usage(format!(
            "--story takes at most {MAX_WORKERS} --workers; got {workers}"
        ));
    }
    let pause = Duration::from_micros(req.pause_us);
    let poll = match clock {
        // An idle worker, right there: a step's time on the virtual clock.
        Clock::Forced => Duration::from_micros(schedule::OP_US as u64),
        // Workers that look less often than a transaction lasts (a busy Sidekiq, or one that
        // sleeps between polls): sometimes there before COMMIT, sometimes not.
        Clock::Seeded(_) => 4 * pause.max(Duration::from_micros(schedule::OP_US as u64)),
        Clock::Threads => Duration::from_micros(20),
    };
    Ok(Settings {
        items: req.items,
        workers: workers as usize,
        pause,
        poll,
    })
}

/// What one trial left: its books and its events.
struct Trial {
    books: Books,
    events: Vec<Event>,
}

/// One trial of `variant` on a fresh database at `path` (removed after).
fn trial(path: &Path, variant: Variant, s: &Settings, clock: Clock) -> anyhow::Result<Trial> {
    remove_db(path);
    world::create(path)?;
    let shared = Shared::default();
    // Workers first: on a tie the virtual clock lets the first actor go (see `schedule`).
    let mut actors: Vec<Box<dyn Actor>> = Vec::new();
    for n in 1..=s.workers {
        actors.push(Box::new(Worker::new(path, n, variant, s)?));
    }
    if variant.fix == Fix::Outbox {
        actors.push(Box::new(Relay::new(path, s)?));
    }
    actors.push(Box::new(App::new(path, variant, s)?));
    schedule::run(actors, &shared, clock)?;
    remove_db(path);
    let books = shared.books.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut events = shared
        .events
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    events.sort_by(|a, b| a.t_us.total_cmp(&b.t_us));
    Ok(Trial { books, events })
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Committed users whose job never ran.
fn lost(b: &Books) -> u64 {
    b.committed_at
        .keys()
        .filter(|u| !b.done_at.contains_key(u))
        .count() as u64
}

fn row(variant: Variant, s: &Settings, trials: &[Trial]) -> Row {
    let sum = |f: &dyn Fn(&Books) -> u64| trials.iter().map(|t| f(&t.books)).sum::<u64>();
    let delays: Vec<f64> = trials
        .iter()
        .flat_map(|t| {
            t.books
                .done_at
                .iter()
                .filter_map(|(u, done)| t.books.committed_at.get(u).map(|c| (done - c).max(0.0)))
        })
        .collect();
    Row {
        fix: variant.fix,
        crash: variant.crash,
        label: label(variant),
        trials: trials.len() as u64,
        jobs: s.items * trials.len() as u64,
        committed: sum(&|b| b.committed_at.len() as u64),
        ran: sum(&|b| b.done_at.len() as u64),
        no_row: sum(&|b| b.no_row),
        lost: sum(&lost),
        losing_trials: trials.iter().filter(|t| lost(&t.books) > 0).count() as u64,
        retries: sum(&|b| b.retries),
        never_enqueued: sum(&|b| b.never_enqueued),
        commit_to_run_us: (!delays.is_empty())
            .then(|| delays.iter().sum::<f64>() / delays.len() as f64),
    }
}

/// The variant as the table names it.
pub fn label(v: Variant) -> String {
    if v.crash {
        format!("{}, dies after a COMMIT", v.fix.label())
    } else {
        v.fix.label().to_owned()
    }
}

/// The trial worth drawing for `variant`: the bug's first trial that found no row, and the
/// crash of `after_commit` (the first trial that lost its job).
fn drawn(variant: Variant, trials: &[Trial]) -> Option<Timeline> {
    let wanted = |t: &Trial| match (variant.fix, variant.crash) {
        (Fix::InTransaction, _) => t.books.no_row > 0,
        (Fix::AfterCommit, true) => lost(&t.books) > 0,
        _ => false,
    };
    let (i, t) = trials.iter().enumerate().find(|(_, t)| wanted(t))?;
    Some(Timeline {
        label: label(variant),
        trial: i as u64,
        events: t.events.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forced(items: u64, workers: u64) -> Vec<Row> {
        let req = StoryRequest {
            story: Story::EnqueueBeforeCommit,
            trials: 2,
            items,
            workers: Some(workers),
            pause_us: 100,
            schedule: Some(crate::workload::trace::DEFAULT_SCHEDULE.into()),
            seed: None,
            json: true,
        };
        let clock = clock(&req).unwrap();
        assert_eq!(clock, Clock::Forced);
        let s = settings(&req, clock).unwrap();
        let dir = tempfile::tempdir().unwrap();
        VARIANTS
            .iter()
            .map(|v| {
                let trials: Vec<Trial> = (0..req.trials)
                    .map(|_| trial(&dir.path().join("app.db"), *v, &s, clock).unwrap())
                    .collect();
                row(*v, &s, &trials)
            })
            .collect()
    }

    #[test]
    fn forced_the_bug_loses_every_job_and_no_fix_loses_one_to_the_race() {
        for (items, workers) in [(1, 1), (3, 2), (5, 4)] {
            let rows = forced(items, workers);
            let jobs = 2 * items;
            for r in &rows {
                let want_lost = match (r.fix, r.crash) {
                    (Fix::InTransaction, _) => jobs,
                    (Fix::AfterCommit, true) => 2, // the last request of each trial
                    _ => 0,
                };
                assert_eq!(r.lost, want_lost, "{items} items, {workers} workers: {r:?}");
                assert_eq!(r.committed, jobs, "{r:?}");
                assert_eq!(r.ran + r.lost, jobs, "{r:?}");
            }
        }
    }
}
