//! The grader of exercise 2: your wallet, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../02_atomic_wallet.rs"]
mod learner;
#[path = "../solutions/02_atomic_wallet.rs"]
mod solution;
#[path = "../wrong/02_atomic_wallet.rs"]
mod wrong;

use kit::wallet::{suite, Fix};

fn main() {
    kit::grade::main(&[
        ("learner", || suite::<learner::Wallet>(Fix::Atomic)),
        ("solution", || suite::<solution::Wallet>(Fix::Atomic)),
        ("wrong", || suite::<wrong::Wallet>(Fix::Atomic)),
    ]);
}
