//! A fetching slot: one connection, its processing lists, and the jobs it has finished but not
//! yet settled. A processor thread is a slot; the fork loop is one slot for all its children.
//!
//! Per job the slot makes one round trip: the acknowledgement of the job before (`LREM`) goes in
//! the same pipeline as the fetch of the next (`BLMOVE`). When a round trip fails the slot keeps
//! what it owes (acknowledgements, failures to file) and, once Redis answers again, pays it in
//! order and then puts back on their queues any job a lost fetch reply moved into its lists
//! ([`Fetcher::recover`]): nothing waits on a live worker for ever.

use super::link::Link;
use super::settle::{Finished, Settled};
use super::Worker;
use crate::app::queue::fetch::{Fetched, Fetcher};
use std::collections::VecDeque;
use std::time::Duration;

pub(super) struct Slot<'w> {
    w: &'w Worker,
    pub fetcher: Fetcher,
    pub link: Link,
    /// Finished jobs to acknowledge with the next round trip.
    acks: Vec<Fetched>,
    /// Finished jobs with something still to write (a `--record-jids` count, a failure).
    finished: VecDeque<Finished>,
    /// A round trip failed: the lists may hold a job the slot never saw, until [`Slot::restore`].
    broken: bool,
    /// Jobs of the current batch not started yet (`--batch`).
    buffer: VecDeque<Fetched>,
}

impl<'w> Slot<'w> {
    pub(super) fn new(w: &'w Worker, slot: u64, link: Link) -> Slot<'w> {
        Slot {
            w,
            fetcher: Fetcher::new(w.args.fetch, &w.id, slot, &w.reg.queues),
            link,
            acks: Vec::new(),
            finished: VecDeque::new(),
            broken: false,
            buffer: VecDeque::new(),
        }
    }

    /// Connected, and nothing left unknown by a failure.
    /// The slot's connection, if Redis is reachable now (for jobs whose effect is in Redis).
    pub(super) fn con(&mut self) -> Option<&mut redis::Connection> {
        self.link.get(self.w)
    }

    pub(super) fn healthy(&self) -> bool {
        self.link.is_up() && !self.broken
    }

    /// Nothing owed to Redis, and no job of a batch waiting.
    pub(super) fn idle(&self) -> bool {
        self.acks.is_empty() && self.finished.is_empty() && self.buffer.is_empty()
    }

    /// How long until a broken slot may try again.
    pub(super) fn wait(&self) -> Duration {
        self.link.wait()
    }

    /// A round trip failed.
    pub(super) fn failed(&mut self, what: &str, e: &redis::RedisError) {
        self.link.failed(self.w, what, e);
        self.broken = true;
    }

    /// A job finished: settle it now if Redis answers (a success is acknowledged with the next
    /// fetch), else keep it for later.
    pub(super) fn finish(&mut self, f: Finished) {
        self.finished.push_back(f);
        if self.healthy() {
            self.drain();
        }
    }

    /// Settle the finished jobs in order until one fails.
    fn drain(&mut self) {
        while let Some(f) = self.finished.front_mut() {
            let Some(con) = self.link.get(self.w) else {
                self.broken = true;
                return;
            };
            match self.w.settle(con, &self.fetcher, f) {
                Ok(settled) => {
                    let f = self.finished.pop_front().expect("the front one");
                    if let Settled::Ack = settled {
                        self.acks.push(f.fetched);
                    }
                }
                Err(e) => return self.failed("settling a job", &e),
            }
        }
    }

    /// Acknowledge the finished jobs and fetch the next one, blocking at most `block_s`: one
    /// round trip. `None` if there was none or Redis failed (the slot is then broken).
    pub(super) fn fetch(&mut self, block_s: Option<f64>) -> Option<Fetched> {
        if let Some(job) = self.buffer.pop_front() {
            return Some(job);
        }
        if !self.healthy() {
            return None;
        }
        self.drain();
        if !self.finished.is_empty() {
            return None;
        }
        if self.w.args.batch > 1 && self.fetch_batch() {
            return self.buffer.pop_front();
        }
        let con = self.link.get(self.w)?;
        match self.fetcher.fetch(con, &self.acks, block_s) {
            Ok(got) => {
                self.link.ok(self.w);
                for f in &got.not_owned {
                    self.w.not_owned(f);
                }
                self.acks.clear();
                if got.job.is_some() {
                    self.w.busy.fetched();
                }
                got.job
            }
            Err(e) => {
                self.failed("fetch", &e);
                None
            }
        }
    }

    /// Acknowledge the finished jobs and take the next job if one is waiting, without blocking,
    /// into the slot's buffer (one round trip, [`Slot::fetch`]'s): the fork loop fetches ahead
    /// while its children run. True if it brought one.
    pub(super) fn prefetch(&mut self) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        match self.fetch(None) {
            Some(job) => {
                self.buffer.push_back(job);
                true
            }
            None => false,
        }
    }

    /// Jobs fetched and not started yet (a batch's rest, a prefetched job).
    pub(super) fn holding(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// The jobs fetched and not started yet.
    pub(super) fn held(&self) -> impl Iterator<Item = &Fetched> {
        self.buffer.iter()
    }

    /// One batched round trip: acknowledge the last batch, take the next. True if it brought
    /// jobs (else the caller blocks for one job, with nothing left to acknowledge).
    fn fetch_batch(&mut self) -> bool {
        let Some(con) = self.link.get(self.w) else {
            return false;
        };
        match self.fetcher.fetch_batch(con, &self.acks, self.w.args.batch) {
            Ok((jobs, gone)) => {
                self.link.ok(self.w);
                if gone > 0 {
                    self.w.log(&format!(
                        "{gone} finished job(s) of the last batch had left the processing list (requeued by a reaper while this worker was presumed dead); not acknowledged here"
                    ));
                }
                self.acks.clear();
                if !jobs.is_empty() {
                    self.w.busy.fetched();
                }
                self.buffer.extend(jobs);
                !self.buffer.is_empty()
            }
            Err(e) => {
                self.failed("batched fetch", &e);
                false
            }
        }
    }

    /// Put the jobs fetched and not started (a batch's rest, a prefetched job) back at the front
    /// of their queues (paused, quitting, a prefetched job held too long).
    pub(super) fn release(&mut self) {
        while let Some(job) = self.buffer.front().cloned() {
            let Some(con) = self.link.get(self.w) else {
                return;
            };
            match self.fetcher.requeue(con, &job) {
                Ok(()) => {
                    self.buffer.pop_front();
                }
                Err(e) => return self.failed("putting a batch back", &e),
            }
        }
    }

    /// Acknowledge the finished jobs now, without fetching (paused, quitting, full).
    pub(super) fn flush(&mut self) {
        if !self.healthy() {
            return;
        }
        self.drain();
        if self.acks.is_empty() {
            return;
        }
        let Some(con) = self.link.get(self.w) else {
            return;
        };
        match self.fetcher.ack(con, &self.acks) {
            Ok(gone) => {
                self.link.ok(self.w);
                for f in &gone {
                    self.w.not_owned(f);
                }
                self.acks.clear();
            }
            Err(e) => self.failed("acknowledging jobs", &e),
        }
    }

    /// Put a fetched job back on its queue (fetched as USR2 arrived). If that fails, the job
    /// stays in our list and [`Slot::restore`] puts it back.
    pub(super) fn requeue(&mut self, job: &Fetched) {
        let Some(con) = self.link.get(self.w) else {
            return;
        };
        if let Err(e) = self.fetcher.requeue(con, job) {
            self.failed("requeueing a job", &e);
        }
    }

    /// After a failure, once the backoff allows: reconnect, pay what is owed, and put back on
    /// their queues the jobs in our lists that we do not hold (`held`: the jobs running). True
    /// when the slot is healthy again.
    pub(super) fn restore(&mut self, held: &[Fetched]) -> bool {
        if self.healthy() {
            return true;
        }
        if self.link.get(self.w).is_none() {
            return false;
        }
        self.broken = false;
        self.drain();
        let acks = std::mem::take(&mut self.acks);
        let Some(con) = self.link.get(self.w) else {
            self.acks = acks;
            return false;
        };
        // An acknowledgement retried after a lost reply may find its job gone already: that
        // is not news, so those are not reported.
        let held: Vec<Fetched> = held.iter().chain(&self.buffer).cloned().collect();
        let result = self
            .fetcher
            .ack(con, &acks)
            .and_then(|_| self.fetcher.recover(con, &held));
        match result {
            Ok(n) => {
                self.link.ok(self.w);
                if n > 0 {
                    self.w.log(&format!(
                        "slot {}: {n} job{} a lost fetch reply had moved into its processing list put back on the queue",
                        self.fetcher.slot,
                        if n == 1 { "" } else { "s" }
                    ));
                }
                self.finished.is_empty()
            }
            Err(e) => {
                self.acks = acks;
                self.failed("recovering after an outage", &e);
                false
            }
        }
    }
}
