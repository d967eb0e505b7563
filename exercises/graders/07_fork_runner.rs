//! The grader of exercise 7: your runner, the reference and a wrong answer, graded alike.

#[allow(unused)]
#[path = "../07_fork_runner.rs"]
mod learner;
#[path = "../solutions/07_fork_runner.rs"]
mod solution;
#[path = "../wrong/07_fork_runner.rs"]
mod wrong;

use kit::fork::suite;

fn main() {
    kit::grade::main(&[
        ("learner", || suite(learner::run_jobs)),
        ("solution", || suite(solution::run_jobs)),
        ("wrong", || suite(wrong::run_jobs)),
    ]);
}
