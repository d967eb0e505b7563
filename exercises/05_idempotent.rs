//! # Exercise 5: a job that survives duplicate delivery (lesson 12 · about 10 min)
//!
//! Resque, Sidekiq and every reliable queue deliver a job *at least* once: when a worker dies
//! mid-job, when a fetch times out, when a retry fires after all, the same job comes back, and
//! sometimes two workers run it at the same moment. This job charges a customer's card. Today it
//! charges again on every delivery.
//!
//! Make `perform` idempotent: however many times the same job (the same `jid`) is delivered,
//! and however those deliveries overlap, the card is charged once. A *different* job must still
//! be charged. The `Db` gives you statements that are each atomic on their own: `is_done`,
//! `mark_done`, `insert_once` and `charge` (see kit/idem.rs); nothing makes two of them atomic
//! together.
//!
//! Check it: `concur exercise check 5`. The grader runs every schedule of the job delivered to
//! two workers at once, then delivers it a third time, then trials on real threads, and
//! measures the cost against the reference.
//!
//! Stuck? `concur exercise hint 5`.

use kit::idem::{Db, Job};

/// Perform `job`: charge its order.
pub fn perform(job: &Job, db: &Db) {
    db.charge(job.order, job.cents);
}

// ------------------------------------------------------------------------------------------------
// HINT (`concur exercise hint 5` prints this; try without it first)
//
// "Check, then act" is a race: `if !db.is_done(&job.jid) { db.charge(..); db.mark_done(..) }`
// lets two deliveries both see "not done" before either marks it (the grader draws that
// schedule). Claim the job in one atomic step instead, and act only if you won the claim:
// `if db.insert_once(&job.jid) { db.charge(job.order, job.cents) }`. Redis spells the claim
// `SET jid 1 NX`, SQL `INSERT ... ON CONFLICT DO NOTHING`. (Claiming first means a crash between
// the claim and the charge loses the charge: in a real database, do both in one transaction.)
