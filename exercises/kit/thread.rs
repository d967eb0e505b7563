//! [`std::thread`]'s `spawn`, `Builder`, `JoinHandle`, `sleep` and `yield_now`, schedulable by
//! the grader, and counted: the grader knows how many threads are still running, so it can tell
//! a clean shutdown (every thread joined) from one that leaves a worker behind.
//!
//! A thread's lane in the drawings is its name (`Builder::name`), else `t1`, `t2`... in the
//! order they were spawned.

use crate::trace;
use std::fmt;
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};
use std::time::Duration;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Threads spawned through this module whose function has not returned yet.
pub fn live() -> usize {
    LIVE.load(SeqCst).max(0) as usize
}

/// Start counting afresh (the grader, before each scenario).
pub fn reset_live() {
    LIVE.store(0, SeqCst);
}

struct Alive;

impl Drop for Alive {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, SeqCst);
    }
}

/// Spawn a thread running `f`.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .expect("the system could not start a thread")
}

/// A thread factory, as [`std::thread::Builder`] (only the name is kept).
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder { name: None }
    }

    /// The thread's name, which is also its lane in the drawings.
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Spawn the thread.
    pub fn spawn<F, T>(self, f: F) -> std::io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let lane = self.name.clone().or_else(|| trace::auto_name('t'));
        LIVE.fetch_add(1, SeqCst);
        let body = {
            let lane = lane.clone();
            move || {
                let _alive = Alive;
                if let Some(l) = &lane {
                    trace::set_lane(l);
                }
                f()
            }
        };
        let inner = if trace::modelled() {
            let mut b = shuttle::thread::Builder::new();
            if let Some(n) = &self.name {
                b = b.name(n.clone());
            }
            Inner::Model(b.spawn(body)?)
        } else {
            let mut b = std::thread::Builder::new();
            if let Some(n) = &self.name {
                b = b.name(n.clone());
            }
            match b.spawn(body) {
                Ok(h) => Inner::Real(h),
                Err(e) => {
                    LIVE.fetch_sub(1, SeqCst);
                    return Err(e);
                }
            }
        };
        Ok(JoinHandle { lane, inner })
    }
}

enum Inner<T> {
    Real(std::thread::JoinHandle<T>),
    Model(shuttle::thread::JoinHandle<T>),
}

/// A spawned thread: `join` waits for it to end.
pub struct JoinHandle<T> {
    lane: Option<String>,
    inner: Inner<T>,
}

impl<T> JoinHandle<T> {
    /// Wait for the thread to end: its result, or `Err` with its panic.
    pub fn join(self) -> std::thread::Result<T> {
        let what = match &self.lane {
            Some(l) => format!("join {l}"),
            None => "join".into(),
        };
        trace::wait(None, &what);
        let r = self.join_quietly();
        trace::unwait();
        if trace::recording() {
            trace::record(None, format!("{what} ✓"));
        }
        r
    }

    /// [`JoinHandle::join`] without drawing it (the grader's own joins).
    pub fn join_quietly(self) -> std::thread::Result<T> {
        match self.inner {
            Inner::Real(h) => h.join(),
            Inner::Model(h) => h.join(),
        }
    }

    /// True once the thread's function has returned.
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Real(h) => h.is_finished(),
            // Shuttle has no such question; a model run asks it only after a join.
            Inner::Model(_) => false,
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lane {
            Some(l) => write!(f, "JoinHandle({l})"),
            None => f.write_str("JoinHandle"),
        }
    }
}

/// Sleep (under the model checker: let another thread run; the model has no clock).
pub fn sleep(d: Duration) {
    if trace::modelled() {
        shuttle::thread::sleep(d);
    } else {
        std::thread::sleep(d);
    }
}

/// Let another thread run.
pub fn yield_now() {
    if trace::modelled() {
        shuttle::thread::yield_now();
    } else {
        std::thread::yield_now();
    }
}
