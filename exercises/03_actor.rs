//! # Exercise 3: an actor that owns the balance (lesson 5 · about 15 min)
//!
//! No lock this time, and no shared balance: one thread, the *actor*, owns the balance, and is
//! the only code that ever touches it. Everybody else sends it a message and waits for its
//! reply (Celluloid's and SuckerPunch's model; Erlang's). Two workers deposit at once, +10 and
//! -10, on a balance of 100.
//!
//! Finish `Bank`:
//! - `start`: spawn the actor. It takes messages from its mailbox one at a time; for a
//!   `Deposit`, it adds the amount and replies with the new balance. Its loop ends when the
//!   mailbox is closed, and the thread returns the final balance.
//! - `deposit`: send a `Deposit` carrying a channel for the reply, then wait for the reply.
//! - `stop`: close the mailbox, wait for the actor's thread to end, return its final balance.
//!
//! Check it: `concur exercise check 3`. The grader runs every schedule of the two deposits
//! (every order of every send and receive of the workers and the actor), checks each reply
//! (110 then 100, or 90 then 100), checks that `stop` leaves no thread behind, then runs trials
//! on real threads, and measures the cost against the reference: compare it with exercise 1.
//!
//! Rules: channels and threads from `kit::sync::mpsc` and `kit::thread` (not `std`): they are
//! the standard ones, but the grader can schedule and draw them. What a channel carries must be
//! `Debug`. Stuck? `concur exercise hint 3`.

use kit::sync::mpsc::{self, Receiver, Sender};
use kit::thread::{self, JoinHandle};

/// What the actor's mailbox carries.
#[derive(Debug)]
enum Msg {
    /// Add the amount; reply with the balance just after.
    Deposit(i64, Sender<i64>),
}

pub struct Bank {
    mailbox: Sender<Msg>,
    actor: JoinHandle<i64>,
}

impl kit::bank::Bank for Bank {
    fn start(balance: i64) -> Bank {
        let (mailbox, inbox) = mpsc::channel::<Msg>();
        let actor = thread::Builder::new()
            .name("actor".into())
            .spawn(move || {
                let mut balance = balance;
                // The actor: the only code that ever touches `balance`.
                for msg in inbox {
                    todo!("handle {msg:?}: change the balance and reply")
                }
                balance
            })
            .expect("spawn the actor");
        Bank { mailbox, actor }
    }

    fn deposit(&self, amount: i64) -> i64 {
        todo!("send a Deposit with a channel for the reply, then wait for the reply")
    }

    fn stop(self) -> i64 {
        todo!("close the mailbox, then join the actor: it returns the final balance")
    }
}

// ------------------------------------------------------------------------------------------------
// HINT (`concur exercise hint 3` prints this; try without it first)
//
// In the actor: `match msg { Msg::Deposit(amount, reply) => { balance += amount; let _ =
// reply.send(balance); } }`. In `deposit`: `let (reply, answer) = mpsc::channel();
// self.mailbox.send(Msg::Deposit(amount, reply)).unwrap(); answer.recv().unwrap()`. In `stop`:
// the mailbox closes when its last `Sender` is dropped, so destructure `self` (`let Bank {
// mailbox, actor } = self;`), `drop(mailbox)`, then `actor.join().unwrap()`. Joining before
// dropping waits forever: the actor is waiting for a message that can no longer come, and the
// grader will draw that deadlock. And a deposit made of two messages (ask the balance, then set
// it) races again, across messages: the actor serialises messages, not your conversation.
