//! Two ways to run the story's actors: on threads, with real time (a race that may or may not
//! happen), or taking turns on a virtual clock (the same interleaving every time).
//!
//! The virtual clock is a discrete-event scheduler: each actor is ready at some time; the one
//! ready first takes one step, which costs [`OP_US`] (an SQL statement, a queue push or pop) or
//! the wait it asks for (a pause, an idle poll). Ties go to the actor listed first, and the
//! workers are listed first: when a worker and the app are ready at once, the worker goes. That
//! is the forced schedule of the story: a worker that is always there the moment a job appears,
//! which is what a real, idle Sidekiq is. With a seed, every step's duration is stretched by a
//! factor drawn from the seed, so each trial interleaves differently, and each is reproducible.
//! Nothing in the virtual runs depends on the machine's speed or on luck.

use super::world::{Actor, Next, Shared};
use crate::sys::ids::SplitMix64;
use std::time::{Duration, Instant};

/// Virtual time one operation takes, in µs.
pub const OP_US: f64 = 10.0;

/// Steps a virtual trial may take before it is declared stuck (a bug, not a result).
const MAX_STEPS: u64 = 10_000_000;

/// How long a threaded trial may run before it is declared stuck.
const MAX_REAL: Duration = Duration::from_secs(60);

/// How a trial's actors take their turns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Real threads, real time.
    Threads,
    /// The virtual clock with every duration as given: the forced schedule.
    Forced,
    /// The virtual clock with durations stretched by factors drawn from this seed.
    Seeded(u64),
}

/// Run `actors` until the trial is over (every request handled, every job come to an end).
pub fn run(actors: Vec<Box<dyn Actor>>, shared: &Shared, clock: Clock) -> anyhow::Result<()> {
    match clock {
        Clock::Threads => threads(actors, shared),
        Clock::Forced => virtual_clock(actors, shared, None),
        Clock::Seeded(seed) => virtual_clock(actors, shared, Some(SplitMix64(seed))),
    }
}

/// A factor in [0.5, 1.5) from `rng`, or 1 without one.
fn stretch(rng: &mut Option<SplitMix64>) -> f64 {
    match rng {
        Some(r) => 0.5 + (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64,
        None => 1.0,
    }
}

fn virtual_clock(
    mut actors: Vec<Box<dyn Actor>>,
    shared: &Shared,
    mut rng: Option<SplitMix64>,
) -> anyhow::Result<()> {
    let mut ready = vec![0.0f64; actors.len()];
    let mut steps = 0u64;
    while !shared.finished() {
        // The first actor ready; on a tie, the one listed first.
        let (i, now) =
            ready
                .iter()
                .copied()
                .enumerate()
                .fold((usize::MAX, f64::INFINITY), |best, (i, t)| {
                    if t < best.1 {
                        (i, t)
                    } else {
                        best
                    }
                });
        anyhow::ensure!(
            i != usize::MAX,
            "every actor of the story stopped before the trial was over"
        );
        steps += 1;
        anyhow::ensure!(steps <= MAX_STEPS, "the story's trial never ended");
        ready[i] = match actors[i].step(now, shared)? {
            Next::Go => now + OP_US * stretch(&mut rng),
            Next::Wait(d) => now + d.as_secs_f64() * 1e6 * stretch(&mut rng),
            Next::Done => f64::INFINITY,
        };
    }
    Ok(())
}

fn threads(actors: Vec<Box<dyn Actor>>, shared: &Shared) -> anyhow::Result<()> {
    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = actors
            .into_iter()
            .map(|actor| {
                s.spawn(move || {
                    let done = drive(actor, shared, start);
                    if done.is_err() {
                        shared.abort(); // the others stop too, rather than wait for ever
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a story thread panicked")))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// One actor on its own thread: step, sleep when it asks to wait, until the trial is over.
fn drive(mut actor: Box<dyn Actor>, shared: &Shared, start: Instant) -> anyhow::Result<()> {
    while !shared.finished() {
        anyhow::ensure!(
            start.elapsed() < MAX_REAL,
            "the story's trial did not end within {} s",
            MAX_REAL.as_secs()
        );
        match actor.step(start.elapsed().as_secs_f64() * 1e6, shared)? {
            Next::Go => {}
            Next::Wait(d) => std::thread::sleep(d),
            Next::Done => break,
        }
    }
    Ok(())
}
