//! Exercise 7, a plausible wrong answer: polls and kills the hung child in time, and reports
//! every outcome right, but never waits for the child it killed: a zombie is left behind.

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
            return Outcome::Failed("timed out".into());
        }
        kit::thread::sleep(Duration::from_millis(2));
    }
}
