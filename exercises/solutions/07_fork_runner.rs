//! Exercise 7, the reference solution: poll each child until it ends or its deadline passes;
//! kill and reap a child past its deadline; any end but exit code 0 is a failure.

use kit::fork::{self, Exit, Job, Outcome};
use std::time::{Duration, Instant};

pub fn run_jobs(jobs: &[Job], timeout: Duration) -> Vec<Outcome> {
    jobs.iter().map(|&job| run_one(job, timeout)).collect()
}

fn run_one(job: Job, timeout: Duration) -> Outcome {
    let mut child = fork::spawn(job);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(exit) = child.try_wait() {
            return match exit {
                Exit::Code(0) => Outcome::Done,
                other => Outcome::Failed(other.to_string()),
            };
        }
        if Instant::now() >= deadline {
            child.kill();
            child.wait();
            return Outcome::Failed(format!("timed out after {} ms", timeout.as_millis()));
        }
        kit::thread::sleep(Duration::from_millis(2));
    }
}
