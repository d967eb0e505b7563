//! Exercise 8, a plausible wrong answer: a processing list, but filled in two steps (RPOP, then
//! LPUSH). A worker killed between the two has taken the job off the queue and saved it
//! nowhere.

use kit::queue::{processing, Conn, QUEUE};

pub fn fetch(conn: &mut Conn, worker: &str) -> Option<String> {
    let job = conn.rpop(QUEUE)?;
    conn.lpush(&processing(worker), &job);
    Some(job)
}

pub fn ack(conn: &mut Conn, worker: &str, job: &str) {
    conn.lrem(&processing(worker), 1, job);
}

pub fn reap(conn: &mut Conn, dead: &str) -> usize {
    let mut moved = 0;
    while conn.lmove(&processing(dead), QUEUE).is_some() {
        moved += 1;
    }
    moved
}
