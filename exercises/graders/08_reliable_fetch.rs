//! The grader of exercise 8: your fetch, ack and reap, the reference and a wrong answer, graded
//! alike against a private redis-server.

#[allow(unused)]
#[path = "../08_reliable_fetch.rs"]
mod learner;
#[path = "../solutions/08_reliable_fetch.rs"]
mod solution;
#[path = "../wrong/08_reliable_fetch.rs"]
mod wrong;

use kit::queue::{suite, Fns};

fn main() {
    kit::grade::main(&[
        ("learner", || {
            suite(Fns {
                fetch: learner::fetch,
                ack: learner::ack,
                reap: learner::reap,
            })
        }),
        ("solution", || {
            suite(Fns {
                fetch: solution::fetch,
                ack: solution::ack,
                reap: solution::reap,
            })
        }),
        ("wrong", || {
            suite(Fns {
                fetch: wrong::fetch,
                ack: wrong::ack,
                reap: wrong::reap,
            })
        }),
    ]);
}
