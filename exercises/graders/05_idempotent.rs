//! The grader of exercise 5: your `perform`, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../05_idempotent.rs"]
mod learner;
#[path = "../solutions/05_idempotent.rs"]
mod solution;
#[path = "../wrong/05_idempotent.rs"]
mod wrong;

use kit::idem::suite;

fn main() {
    kit::grade::main(&[
        ("learner", || suite(learner::perform)),
        ("solution", || suite(solution::perform)),
        ("wrong", || suite(wrong::perform)),
    ]);
}
