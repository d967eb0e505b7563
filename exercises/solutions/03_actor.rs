//! Exercise 3, the reference solution: the actor owns the balance; a deposit is one message and
//! its reply; stop closes the mailbox and joins the actor.

use kit::sync::mpsc::{self, Sender};
use kit::thread::{self, JoinHandle};

#[derive(Debug)]
enum Msg {
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
                for msg in inbox {
                    match msg {
                        Msg::Deposit(amount, reply) => {
                            balance += amount;
                            let _ = reply.send(balance);
                        }
                    }
                }
                balance
            })
            .expect("spawn the actor");
        Bank { mailbox, actor }
    }

    fn deposit(&self, amount: i64) -> i64 {
        let (reply, answer) = mpsc::channel();
        self.mailbox
            .send(Msg::Deposit(amount, reply))
            .expect("the actor is running");
        answer.recv().expect("the actor replies")
    }

    fn stop(self) -> i64 {
        let Bank { mailbox, actor } = self;
        drop(mailbox);
        actor.join().expect("the actor ends")
    }
}
