//! The grader of exercise 3: your actor, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../03_actor.rs"]
mod learner;
#[path = "../solutions/03_actor.rs"]
mod solution;
#[path = "../wrong/03_actor.rs"]
mod wrong;

use kit::bank::suite;

fn main() {
    kit::grade::main(&[
        ("learner", suite::<learner::Bank>),
        ("solution", suite::<solution::Bank>),
        ("wrong", suite::<wrong::Bank>),
    ]);
}
