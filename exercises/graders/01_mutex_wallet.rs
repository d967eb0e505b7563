//! The grader of exercise 1: your wallet, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../01_mutex_wallet.rs"]
mod learner;
#[path = "../solutions/01_mutex_wallet.rs"]
mod solution;
#[path = "../wrong/01_mutex_wallet.rs"]
mod wrong;

use kit::wallet::{suite, Fix};

fn main() {
    kit::grade::main(&[
        ("learner", || suite::<learner::Wallet>(Fix::Mutex)),
        ("solution", || suite::<solution::Wallet>(Fix::Mutex)),
        ("wrong", || suite::<wrong::Wallet>(Fix::Mutex)),
    ]);
}
