//! [crossbeam's channels](https://docs.rs/crossbeam-channel): many senders, many receivers
//! (both halves `Clone`), bounded or not, schedulable and drawn by the grader.
//!
//! In an ordinary run these are crossbeam's own channels. Under the model checker a channel is
//! shuttle's `sync_channel` (or `channel`) with its receiver shared behind a lock, which behaves
//! the same at every step the grader schedules: a `send` on a full bounded channel blocks, a
//! `recv` blocks until a value comes or every sender is gone.

use crate::trace;
use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex as StdMutex};

pub use crossbeam::channel::{RecvError, SendError, TryRecvError};

/// The capacity of every channel made since [`forget_made`]: `None` for an unbounded one.
static MADE: StdMutex<Vec<Option<usize>>> = StdMutex::new(Vec::new());

/// Forget the channels made so far (the grader calls this before each scenario).
pub fn forget_made() {
    MADE.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The capacities of the channels made since [`forget_made`] (`None`: unbounded).
pub fn made() -> Vec<Option<usize>> {
    MADE.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A channel that holds at most `cap` values: `send` blocks while it is full (backpressure).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    make(Some(cap))
}

/// A channel with no limit: `send` never blocks, and a burst of values all wait in memory.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(None)
}

fn make<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    MADE.lock().unwrap_or_else(|p| p.into_inner()).push(cap);
    let name = trace::auto_name('c');
    let (tx, rx) = if trace::modelled() {
        let (tx, rx) = match cap {
            Some(c) => {
                let (tx, rx) = shuttle::sync::mpsc::sync_channel(c);
                (ModelSender::Bounded(tx), rx)
            }
            None => {
                let (tx, rx) = shuttle::sync::mpsc::channel();
                (ModelSender::Unbounded(tx), rx)
            }
        };
        (
            SenderInner::Model(tx),
            ReceiverInner::Model(Arc::new(shuttle::sync::Mutex::new(rx))),
        )
    } else {
        let (tx, rx) = match cap {
            Some(c) => crossbeam::channel::bounded(c),
            None => crossbeam::channel::unbounded(),
        };
        (SenderInner::Real(tx), ReceiverInner::Real(rx))
    };
    (
        Sender {
            name: name.clone(),
            inner: tx,
        },
        Receiver { name, inner: rx },
    )
}

/// The sending half; clone it for every sender. The channel closes when every clone is dropped.
pub struct Sender<T> {
    name: Option<String>,
    inner: SenderInner<T>,
}

enum ModelSender<T> {
    Bounded(shuttle::sync::mpsc::SyncSender<T>),
    Unbounded(shuttle::sync::mpsc::Sender<T>),
}

enum SenderInner<T> {
    Real(crossbeam::channel::Sender<T>),
    Model(ModelSender<T>),
}

impl<T: Debug> Sender<T> {
    /// Send `msg`, waiting while a bounded channel is full; `Err` (with it) if every receiver
    /// is gone.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let name = self.name.as_deref();
        let shown = trace::recording().then(|| trace::short(&msg));
        let sending = match &shown {
            Some(v) => format!("send ← {v}"),
            None => "send".to_owned(),
        };
        trace::wait(name, &sending);
        let r = match &self.inner {
            SenderInner::Real(tx) => tx.send(msg),
            SenderInner::Model(ModelSender::Bounded(tx)) => {
                tx.send(msg).map_err(|e| SendError(e.0))
            }
            SenderInner::Model(ModelSender::Unbounded(tx)) => {
                tx.send(msg).map_err(|e| SendError(e.0))
            }
        };
        trace::unwait();
        if let Some(v) = shown {
            let text = match &r {
                Ok(()) => format!("send ← {v}"),
                Err(_) => format!("send ← {v} ✗ (no receiver)"),
            };
            trace::record(name, text);
        }
        r
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            name: self.name.clone(),
            inner: match &self.inner {
                SenderInner::Real(tx) => SenderInner::Real(tx.clone()),
                SenderInner::Model(ModelSender::Bounded(tx)) => {
                    SenderInner::Model(ModelSender::Bounded(tx.clone()))
                }
                SenderInner::Model(ModelSender::Unbounded(tx)) => {
                    SenderInner::Model(ModelSender::Unbounded(tx.clone()))
                }
            },
        }
    }
}

impl<T> Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "Sender({n})"),
            None => f.write_str("Sender"),
        }
    }
}

/// The receiving half; clone it for every receiver (each value goes to exactly one of them).
pub struct Receiver<T> {
    name: Option<String>,
    inner: ReceiverInner<T>,
}

type SharedModelReceiver<T> = Arc<shuttle::sync::Mutex<shuttle::sync::mpsc::Receiver<T>>>;

enum ReceiverInner<T> {
    Real(crossbeam::channel::Receiver<T>),
    Model(SharedModelReceiver<T>),
}

impl<T: Debug> Receiver<T> {
    /// Block for the next value; `Err` once every sender is gone and the channel is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        let name = self.name.as_deref();
        trace::wait(name, "recv");
        let r = match &self.inner {
            ReceiverInner::Real(rx) => rx.recv(),
            ReceiverInner::Model(rx) => {
                let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
                rx.recv().map_err(|_| RecvError)
            }
        };
        trace::unwait();
        if trace::recording() {
            let text = match &r {
                Ok(v) => format!("recv → {}", trace::short(v)),
                Err(_) => "recv → closed".to_owned(),
            };
            trace::record(name, text);
        }
        r
    }

    /// The next value if there is one now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let r = match &self.inner {
            ReceiverInner::Real(rx) => rx.try_recv(),
            ReceiverInner::Model(rx) => {
                let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
                rx.try_recv().map_err(|e| match e {
                    std::sync::mpsc::TryRecvError::Empty => TryRecvError::Empty,
                    std::sync::mpsc::TryRecvError::Disconnected => TryRecvError::Disconnected,
                })
            }
        };
        if trace::recording() {
            let text = match &r {
                Ok(v) => format!("try_recv → {}", trace::short(v)),
                Err(TryRecvError::Empty) => "try_recv → empty".to_owned(),
                Err(TryRecvError::Disconnected) => "try_recv → closed".to_owned(),
            };
            trace::record(self.name.as_deref(), text);
        }
        r
    }

    /// Every value until the channel closes (and is empty).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        Receiver {
            name: self.name.clone(),
            inner: match &self.inner {
                ReceiverInner::Real(rx) => ReceiverInner::Real(rx.clone()),
                ReceiverInner::Model(rx) => ReceiverInner::Model(Arc::clone(rx)),
            },
        }
    }
}

super::receiver_iterators!();
