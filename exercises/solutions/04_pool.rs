//! Exercise 4, the reference solution: a bounded channel, workers that survive a panicking job,
//! and a shutdown that closes the queue, then joins every worker.

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
                            // A panicking job fails alone; its worker takes the next one.
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
        let Pool { jobs, workers } = self;
        drop(jobs);
        for w in workers {
            let _ = w.join();
        }
    }
}
