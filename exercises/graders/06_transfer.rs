//! The grader of exercise 6: your `transfer`, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../06_transfer.rs"]
mod learner;
#[path = "../solutions/06_transfer.rs"]
mod solution;
#[path = "../wrong/06_transfer.rs"]
mod wrong;

use kit::transfer::suite;

fn main() {
    kit::grade::main(&[
        ("learner", || suite(learner::transfer)),
        ("solution", || suite(solution::transfer)),
        ("wrong", || suite(wrong::transfer)),
    ]);
}
