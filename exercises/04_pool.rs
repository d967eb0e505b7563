//! # Exercise 4: a bounded pool that shuts down cleanly (lessons 3, 11 · about 20 min)
//!
//! Sidekiq runs jobs on a fixed set of *processors* (threads) that take jobs from a queue. Build
//! that pool: `workers` threads, one channel between `submit` and them. Three things make it
//! production-worthy, and today's code below gets all three wrong:
//!
//! 1. **Bounded.** The queue holds at most `capacity` jobs; `submit` waits while it is full
//!    (backpressure), so a burst of jobs cannot fill memory.
//! 2. **Clean shutdown.** `shutdown` takes no new jobs, lets every queued job run, and returns
//!    only once every worker thread has ended: nothing is lost, nothing is left running.
//! 3. **Chaos-proof.** A job that panics must not take its worker down with it: the other jobs
//!    still run (Sidekiq rescues a failing job and goes on).
//!
//! Check it: `concur exercise check 4`. The grader runs 3,000 seeded schedules of 3 jobs on 2
//! workers with a queue of 1 (every schedule would be hundreds of thousands), then jobs that
//! panic, then trials on real threads, and measures the cost against the reference.
//!
//! Rules: the channel and threads from `kit::sync::channel` (crossbeam's API) and `kit::thread`,
//! not `std` or `crossbeam` directly: the grader can schedule and draw them. A caught panic is
//! `std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))`.
//! Stuck? `concur exercise hint 4`.

use kit::pool::Job;
use kit::sync::channel::{self, Receiver, Sender};
use kit::thread::{self, JoinHandle};

pub struct Pool {
    jobs: Sender<Job>,
    workers: Vec<JoinHandle<()>>,
}

impl kit::pool::Pool for Pool {
    fn new(workers: usize, capacity: usize) -> Pool {
        // Wrong: unbounded. A burst of submits queues everything in memory.
        let (jobs, queue) = channel::unbounded::<Job>();
        let workers = (0..workers)
            .map(|i| {
                let queue: Receiver<Job> = queue.clone();
                thread::Builder::new()
                    .name(format!("worker {}", i + 1))
                    .spawn(move || {
                        for job in queue.iter() {
                            job.run();
                        }
                    })
                    .expect("spawn a worker")
            })
            .collect();
        Pool { jobs, workers }
    }

    fn submit(&self, job: Job) {
        self.jobs.send(job).expect("the pool is running");
    }

    fn shutdown(self) {
        // Wrong: returns at once, while the workers may still be running queued jobs.
        drop(self.jobs);
    }
}

// ------------------------------------------------------------------------------------------------
// HINT (`concur exercise hint 4` prints this; try without it first)
//
// `channel::bounded(capacity)` makes `send` wait while the queue is full. In `shutdown`, first
// close the queue by dropping the sender (destructure: `let Pool { jobs, workers } = self;
// drop(jobs);`): each worker's `queue.iter()` then ends once the queue is empty. Then join every
// worker. In that order: joining first waits forever, since the workers wait for jobs that can no
// longer come (the grader draws that deadlock). In the worker loop, run each job inside
// `std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))` and ignore its error.
