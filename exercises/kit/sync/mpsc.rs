//! [`std::sync::mpsc`]'s unbounded channel (many senders, one receiver), schedulable and drawn
//! by the grader: `send c1 ← Deposit(10)`, `recv c1 → Deposit(10)`, `recv c1 → closed`.

use crate::trace;
use std::fmt::{self, Debug};

pub use std::sync::mpsc::{RecvError, SendError, TryRecvError};

/// A new channel: clone the sender for every thread that sends.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let name = trace::auto_name('c');
    if trace::modelled() {
        let (tx, rx) = shuttle::sync::mpsc::channel();
        (
            Sender {
                name: name.clone(),
                inner: SenderInner::Model(tx),
            },
            Receiver {
                name,
                inner: ReceiverInner::Model(rx),
            },
        )
    } else {
        let (tx, rx) = std::sync::mpsc::channel();
        (
            Sender {
                name: name.clone(),
                inner: SenderInner::Real(tx),
            },
            Receiver {
                name,
                inner: ReceiverInner::Real(rx),
            },
        )
    }
}

/// The sending half; clone it for each sender. The channel closes when every clone is dropped.
pub struct Sender<T> {
    name: Option<String>,
    inner: SenderInner<T>,
}

enum SenderInner<T> {
    Real(std::sync::mpsc::Sender<T>),
    Model(shuttle::sync::mpsc::Sender<T>),
}

impl<T: Debug> Sender<T> {
    /// Send `value`; `Err` (with the value) if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let shown = trace::recording().then(|| trace::short(&value));
        let r = match &self.inner {
            SenderInner::Real(tx) => tx.send(value),
            SenderInner::Model(tx) => tx.send(value),
        };
        if let Some(v) = shown {
            let text = match &r {
                Ok(()) => format!("send ← {v}"),
                Err(_) => format!("send ← {v} ✗ (receiver gone)"),
            };
            trace::record(self.name.as_deref(), text);
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
                SenderInner::Model(tx) => SenderInner::Model(tx.clone()),
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

/// The receiving half (one receiver).
pub struct Receiver<T> {
    name: Option<String>,
    inner: ReceiverInner<T>,
}

enum ReceiverInner<T> {
    Real(std::sync::mpsc::Receiver<T>),
    Model(shuttle::sync::mpsc::Receiver<T>),
}

impl<T: Debug> Receiver<T> {
    /// Block for the next value; `Err` once every sender is gone and the channel is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        let name = self.name.as_deref();
        trace::wait(name, "recv");
        let r = match &self.inner {
            ReceiverInner::Real(rx) => rx.recv(),
            ReceiverInner::Model(rx) => rx.recv(),
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
            ReceiverInner::Model(rx) => rx.try_recv(),
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

    /// Every value until the channel closes.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }
}

super::receiver_iterators!();
