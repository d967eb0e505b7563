//! Exercise 5, a plausible wrong answer: check, then act. Each statement is atomic; the pair is
//! not, so two deliveries at once can both see "not done" and both charge.

use kit::idem::{Db, Job};

pub fn perform(job: &Job, db: &Db) {
    if !db.is_done(&job.jid) {
        db.charge(job.order, job.cents);
        db.mark_done(&job.jid);
    }
}
