//! The grader of exercise 4: your pool, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../04_pool.rs"]
mod learner;
#[path = "../solutions/04_pool.rs"]
mod solution;
#[path = "../wrong/04_pool.rs"]
mod wrong;

use kit::pool::suite;

fn main() {
    kit::grade::main(&[
        ("learner", suite::<learner::Pool>),
        ("solution", suite::<solution::Pool>),
        ("wrong", suite::<wrong::Pool>),
    ]);
}
