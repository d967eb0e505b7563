//! Exercise 8, the reference solution: LMOVE into the worker's processing list (one atomic
//! step), LREM to acknowledge, LMOVE back to reap.

use kit::queue::{processing, Conn, QUEUE};

pub fn fetch(conn: &mut Conn, worker: &str) -> Option<String> {
    conn.lmove(QUEUE, &processing(worker))
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
