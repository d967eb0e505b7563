//! A worker's connections to a Redis that may stall, restart or vanish.
//!
//! Every connection of a worker (the main loop's, each processor's) is a [`Link`]: when a round
//! trip fails (a broken pipe, a reply later than the response timeout, a server still loading
//! its data after a restart), the link drops the connection and tries again with exponential
//! backoff, from [`BACKOFF_MIN`] up to a cap of one heartbeat interval (at most
//! [`BACKOFF_MAX`]), so that a worker that comes back beats again before any reaper can confirm
//! it dead. The worker says so once per outage, whichever of its connections noticed first,
//! and once when Redis answers again; nothing a worker holds is dropped meanwhile: finished jobs
//! wait to be acknowledged, running jobs stay in their processing lists.

use super::Worker;
use crate::sys::redis_server::connect;
use std::time::{Duration, Instant};

/// The first retry after a failure.
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest wait between two tries.
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// When to try again, doubling each time from [`BACKOFF_MIN`] to `cap`.
pub(super) struct Backoff {
    next: Option<Instant>,
    delay: Duration,
    cap: Duration,
}

impl Backoff {
    pub(super) fn new(cap: Duration) -> Backoff {
        Backoff {
            next: None,
            delay: BACKOFF_MIN,
            cap: cap.clamp(BACKOFF_MIN, BACKOFF_MAX),
        }
    }

    /// A try failed: the next one after the current delay, which doubles.
    pub(super) fn failed(&mut self) {
        self.next = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(self.cap);
    }

    /// A try worked: the next failure starts from the shortest delay again.
    pub(super) fn reset(&mut self) {
        self.next = None;
        self.delay = BACKOFF_MIN;
    }

    /// How long until the next try may be made (zero: now).
    pub(super) fn wait(&self) -> Duration {
        self.next.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(Instant::now())
        })
    }
}

/// One connection of the worker, replaced after a failure.
pub(super) struct Link {
    con: Option<redis::Connection>,
    backoff: Backoff,
    /// How long a blocking command on this connection may block, added to the reply timeout.
    block: Duration,
    /// Connections opened so far (a new one is a new Redis client, with a new client id).
    pub(super) generation: u64,
}

impl Link {
    /// A link whose blocking commands block at most `block` (not connected yet).
    pub(super) fn new(w: &Worker, block: Duration) -> Link {
        Link {
            con: None,
            backoff: Backoff::new(w.heartbeat()),
            block,
            generation: 0,
        }
    }

    /// A link around a connection already open.
    pub(super) fn with(w: &Worker, con: redis::Connection, block: Duration) -> Link {
        let timeout = Some(w.response_timeout() + block);
        let _ = con.set_read_timeout(timeout);
        let _ = con.set_write_timeout(timeout);
        Link {
            con: Some(con),
            generation: 1,
            ..Link::new(w, block)
        }
    }

    /// The connection, reconnecting if the backoff allows; `None` while Redis is out of reach.
    pub(super) fn get(&mut self, w: &Worker) -> Option<&mut redis::Connection> {
        if self.con.is_none() && self.backoff.wait().is_zero() {
            match connect(
                &w.client,
                CONNECT_TIMEOUT,
                w.response_timeout() + self.block,
            ) {
                Ok(con) => {
                    self.con = Some(con);
                    self.generation += 1;
                }
                Err(e) => {
                    w.redis_down("connect", &e);
                    self.backoff.failed();
                }
            }
        }
        self.con.as_mut()
    }

    /// Whether a connection is open (it may still fail on its next use).
    pub(super) fn is_up(&self) -> bool {
        self.con.is_some()
    }

    /// A round trip failed: drop the connection, say so (once per outage), back off.
    pub(super) fn failed(&mut self, w: &Worker, what: &str, e: &redis::RedisError) {
        self.con = None;
        w.redis_down(what, e);
        self.backoff.failed();
    }

    /// A round trip worked.
    pub(super) fn ok(&mut self, w: &Worker) {
        self.backoff.reset();
        w.redis_up();
    }

    /// How long until the next reconnect may be tried.
    pub(super) fn wait(&self) -> Duration {
        if self.con.is_some() {
            Duration::ZERO
        } else {
            self.backoff.wait()
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Worker {
    /// How long a reply may take before the connection is given up: as long as a heartbeat
    /// lives (a server silent that long has the worker presumed dead anyway), from 1 s to
    /// [`crate::app::queue::RESPONSE_TIMEOUT`].
    pub(super) fn response_timeout(&self) -> Duration {
        self.heartbeat()
            .mul_f64(super::BEATS_TO_DEATH)
            .clamp(Duration::from_secs(1), crate::app::queue::RESPONSE_TIMEOUT)
    }

    pub(super) fn heartbeat(&self) -> Duration {
        Duration::from_secs_f64(self.args.heartbeat)
    }

    /// A connection of ours failed: the first failure of an outage is logged.
    pub(super) fn redis_down(&self, what: &str, e: &redis::RedisError) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if down.is_none() {
            *down = Some(Instant::now());
            self.down_flag
                .store(true, std::sync::atomic::Ordering::SeqCst);
            self.log(&format!(
                "Redis unreachable ({what}: {e}); retrying with backoff up to {:.2} s; finished jobs wait to be acknowledged, running ones stay in the processing lists",
                Backoff::new(self.heartbeat()).cap.as_secs_f64()
            ));
        }
    }

    /// A round trip worked: if an outage was going on, it is over (logged once).
    pub(super) fn redis_up(&self) {
        if !self.down_flag.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(since) = down.take() {
            self.down_flag
                .store(false, std::sync::atomic::Ordering::SeqCst);
            self.log(&format!(
                "Redis reachable again after {:.1} s",
                since.elapsed().as_secs_f64()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(300));
        assert_eq!(b.wait(), Duration::ZERO, "the first try is now");
        let mut delays = Vec::new();
        for _ in 0..5 {
            delays.push(b.delay);
            b.failed();
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [50, 100, 200, 300, 300]);
        assert!(b.wait() > Duration::ZERO);
        b.reset();
        assert_eq!((b.wait(), b.delay), (Duration::ZERO, BACKOFF_MIN));
        // A heartbeat longer than a second still retries every second at least.
        assert_eq!(Backoff::new(Duration::from_secs(5)).cap, BACKOFF_MAX);
    }
}
