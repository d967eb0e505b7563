//! A forced scheduler for real threads whose steps are commands to a server (exercise 8's Redis
//! calls): before each command a thread waits at the [`Gate`] for its turn, and the grader
//! chooses whose turn it is, or kills a worker right there, as `kill -9` would.
//!
//! This is concur's `race --schedule` idea (turn-taking at the steps that matter), made
//! exhaustive: the [`Explorer`] runs every sequence of choices, depth first. It needs no
//! timeouts to know who can run, because a Redis command never blocks: every thread waiting at
//! the gate can go. A thread that never reaches its next command is the one thing a timeout
//! catches (a loop with no command in it).

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Every sequence of choices, depth first: run, then [`Explorer::next_run`] until it says no.
#[derive(Debug)]
pub struct Explorer {
    /// (chosen, options) at each depth of the current run.
    stack: Vec<(usize, usize)>,
    depth: usize,
    runs: usize,
    limit: usize,
    exhausted: bool,
}

impl Explorer {
    pub fn new(limit: usize) -> Explorer {
        Explorer {
            stack: Vec::new(),
            depth: 0,
            runs: 0,
            limit,
            exhausted: false,
        }
    }

    /// Start the next run; false when every sequence has run, or the limit is reached.
    pub fn next_run(&mut self) -> bool {
        if self.runs > 0 {
            self.stack.truncate(self.depth);
            while matches!(self.stack.last(), Some(&(c, n)) if c + 1 >= n) {
                self.stack.pop();
            }
            match self.stack.last_mut() {
                Some(top) => top.0 += 1,
                None => {
                    self.exhausted = true;
                    return false;
                }
            }
        }
        if self.runs >= self.limit {
            return false;
        }
        self.depth = 0;
        self.runs += 1;
        true
    }

    /// The choice among `n` options at this point of the run.
    pub fn choose(&mut self, n: usize) -> usize {
        let c = match self.stack.get(self.depth) {
            Some(&(c, m)) if m == n => c,
            Some(_) => {
                // The run took another path than last time: explore afresh from here.
                self.stack.truncate(self.depth);
                self.stack.push((0, n));
                0
            }
            None => {
                self.stack.push((0, n));
                0
            }
        };
        self.depth += 1;
        c
    }

    /// Runs started so far.
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// True once every sequence has run.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }
}

/// What a lane is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum At {
    Running,
    /// Waiting at the gate before this step.
    Waiting(String),
    Done,
}

/// What a waiting lane is told.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Take the step.
    Go,
    /// Die here (killed, or not needed).
    Die,
}

#[derive(Debug)]
struct Lane {
    at: At,
    told: Option<Turn>,
    /// Eligible only once this lane is done (a reaper waits for its worker's death).
    after: Option<usize>,
}

/// Where lanes wait for their turn.
#[derive(Debug)]
pub struct Gate {
    lanes: Mutex<Vec<Lane>>,
    moved: Condvar,
}

impl Gate {
    /// A gate for lanes; `after[i]` makes lane i wait until that lane is done.
    pub fn new(after: &[Option<usize>]) -> Gate {
        Gate {
            lanes: Mutex::new(
                after
                    .iter()
                    .map(|&a| Lane {
                        at: At::Running,
                        told: None,
                        after: a,
                    })
                    .collect(),
            ),
            moved: Condvar::new(),
        }
    }

    /// Lane `me` waits before `step` until the grader says go (or die).
    pub fn step(&self, me: usize, step: &str) -> Turn {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes[me].at = At::Waiting(step.to_owned());
        lanes[me].told = None;
        self.moved.notify_all();
        loop {
            if let Some(turn) = lanes[me].told.take() {
                lanes[me].at = match turn {
                    Turn::Go => At::Running,
                    Turn::Die => At::Done,
                };
                self.moved.notify_all();
                return turn;
            }
            lanes = self.moved.wait(lanes).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Lane `me` has ended (returned, or died).
    pub fn done(&self, me: usize) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes[me].at = At::Done;
        self.moved.notify_all();
    }

    /// Wait until no lane is running; the lanes waiting at the gate, each with its step and
    /// whether it may go now. `Err(lane)` if a lane did not reach the gate within `limit`.
    pub fn settle(&self, limit: Duration) -> Result<Vec<(usize, String, bool)>, usize> {
        let deadline = Instant::now() + limit;
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let running = lanes
                .iter()
                .position(|l| l.at == At::Running || l.told.is_some());
            match running {
                None => break,
                Some(i) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(i);
                    }
                    lanes = self
                        .moved
                        .wait_timeout(lanes, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        let done = |i: usize| lanes[i].at == At::Done;
        Ok(lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.at {
                At::Waiting(s) => Some((i, s.clone(), l.after.is_none_or(done))),
                _ => None,
            })
            .collect())
    }

    /// Tell waiting lane `lane` what to do.
    pub fn tell(&self, lane: usize, turn: Turn) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes[lane].told = Some(turn);
        self.moved.notify_all();
    }
}
