//! Exercise 4, a plausible wrong answer: bounded, and catching panics, but `shutdown` joins the
//! workers while the queue is still open. Each worker waits for a job that can never come, and
//! `shutdown` waits for the workers: a deadlock.

use kit::pool::Job;
use kit::sync::channel::{self, Sender};
use kit::thread::{self, JoinHandle};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub struct Pool {
    jobs: Sender<Job>,
    workers: Vec<JoinHandle<()>>,
}

impl kit::pool::Pool for Pool {
    fn new(workers: usize, capacity: usize) -> Pool {
        let (jobs, queue) = channel::bounded::<Job>(capacity);
        let workers = (0..workers)
            .map(|i| {
                let queue = queue.clone();
                thread::Builder::new()
                    .name(format!("worker {}", i + 1))
                    .spawn(move || {
                        for job in queue.iter() {
                            let _ = catch_unwind(AssertUnwindSafe(|| job.run()));
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
        for w in self.workers {
            let _ = w.join();
        }
        drop(self.jobs);
    }
}
