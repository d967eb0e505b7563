//! A tiny actor, in the spirit of Celluloid and SuckerPunch: one thread owns some state and
//! handles the messages in its mailbox one at a time, so the state needs no lock.
//!
//! Three ways to talk to an actor, as in Celluloid:
//! - [`Addr::cast`]: fire and forget (`async` in Celluloid);
//! - [`Addr::call`]: send and wait for the reply (a plain method call);
//! - [`Addr::future`]: send now, collect the reply later ([`Reply::wait`]) (`future` in Celluloid).
//!
//! The mailbox is a crossbeam channel; the actor stops when every [`Addr`] is dropped, and
//! [`Actor::join`] hands its final state back.

use crossbeam::channel::{bounded, unbounded, Receiver, Sender};
use std::thread::JoinHandle;

/// Where replies go: the sending half of a one-shot channel.
pub type ReplyTo<R> = Sender<R>;

/// A handle for sending messages to an actor. Cheap to clone; shareable between threads.
pub struct Addr<M> {
    tx: Sender<M>,
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        Addr {
            tx: self.tx.clone(),
        }
    }
}

/// A reply that has been asked for but not yet waited on.
pub struct Reply<R>(Receiver<R>);

impl<R> Reply<R> {
    /// Block until the actor answers. `None` if the actor died before answering.
    pub fn wait(self) -> Option<R> {
        self.0.recv().ok()
    }
}

/// A running actor: its thread, which returns the final state.
pub struct Actor<S> {
    handle: JoinHandle<S>,
}

impl<S> Actor<S> {
    /// Wait for the actor to drain its mailbox and stop (all addresses must be dropped first).
    /// `None` if the actor's handler panicked.
    pub fn join(self) -> Option<S> {
        self.handle.join().ok()
    }
}

/// Start an actor owning `state`, handling each message with `handle`.
pub fn spawn<S, M>(name: &str, mut state: S, handle: fn(&mut S, M)) -> (Addr<M>, Actor<S>)
where
    S: Send + 'static,
    M: Send + 'static,
{
    let (tx, rx) = unbounded::<M>();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            for msg in rx {
                handle(&mut state, msg);
            }
            state
        })
        .expect("spawning an actor thread");
    (Addr { tx }, Actor { handle })
}

impl<M> Addr<M> {
    /// Fire and forget. Returns false if the actor has stopped.
    pub fn cast(&self, msg: M) -> bool {
        self.tx.send(msg).is_ok()
    }

    /// Send a message carrying a reply channel and return the pending reply.
    pub fn future<R>(&self, make: impl FnOnce(ReplyTo<R>) -> M) -> Reply<R> {
        let (reply_tx, reply_rx) = bounded(1);
        // If the actor is gone the reply channel is dropped with the message, and wait() says None.
        let _ = self.tx.send(make(reply_tx));
        Reply(reply_rx)
    }

    /// Send a message and wait for its reply.
    pub fn call<R>(&self, make: impl FnOnce(ReplyTo<R>) -> M) -> Option<R> {
        self.future(make).wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Msg {
        Add(u64),
        Get(ReplyTo<u64>),
    }

    fn counter(total: &mut u64, msg: Msg) {
        match msg {
            Msg::Add(n) => *total += n,
            Msg::Get(reply) => {
                let _ = reply.send(*total);
            }
        }
    }

    #[test]
    fn casts_are_handled_in_order_before_a_later_call() {
        let (addr, actor) = spawn("counter", 0u64, counter);
        let pending = addr.future(Msg::Get);
        for _ in 0..1000 {
            addr.cast(Msg::Add(1));
        }
        assert_eq!(addr.call(Msg::Get), Some(1000));
        assert_eq!(pending.wait(), Some(0));
        drop(addr);
        assert_eq!(actor.join(), Some(1000));
    }
}
