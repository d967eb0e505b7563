//! Exercise 3, a plausible wrong answer: the actor answers "what is the balance?" and "set it
//! to X", and a deposit is both. Each message is handled alone, yet the conversation races:
//! another deposit fits between the question and the update (the RPC lesson's get + set).

use kit::pause;
use kit::sync::mpsc::{self, Sender};
use kit::thread::{self, JoinHandle};

#[derive(Debug)]
enum Msg {
    Get(Sender<i64>),
    Set(i64, Sender<i64>),
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
                        Msg::Get(reply) => {
                            let _ = reply.send(balance);
                        }
                        Msg::Set(value, reply) => {
                            balance = value;
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
        let ask = |msg: Msg, answer: mpsc::Receiver<i64>| {
            self.mailbox.send(msg).expect("the actor is running");
            answer.recv().expect("the actor replies")
        };
        let (reply, answer) = mpsc::channel();
        let seen = ask(Msg::Get(reply), answer);
        pause();
        let (reply, answer) = mpsc::channel();
        ask(Msg::Set(seen + amount, reply), answer)
    }

    fn stop(self) -> i64 {
        let Bank { mailbox, actor } = self;
        drop(mailbox);
        actor.join().expect("the actor ends")
    }
}
