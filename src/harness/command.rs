//! Any program measured from outside, the way [`super::parent`] measures `concur __exec`: wall
//! time from our clock, CPU and the child's own peak RSS from `wait4(2)`, and the peaks of RSS
//! and PSS of its whole process tree sampled from `/proc` while it runs.
//!
//! `concur exercise check` measures an exercise's benchmark with it, the learner's and the
//! reference solution's alike, so their costs are told the same way as every strategy's.

use super::reap::{kill_tree, timeval_s, watch, Event};
use super::sampler::{self, Sampler};
use anyhow::{anyhow, Context};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a measured program cost, and what it printed.
#[derive(Clone, Debug)]
pub struct CommandMeasurement {
    /// Its wait status (`libc::WIFEXITED` and friends read it).
    pub status: i32,
    pub wall_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    /// The larger of the sampled tree peak and the child's own `ru_maxrss`.
    pub peak_rss_bytes: u64,
    pub peak_pss_bytes: u64,
    pub stdout: Vec<u8>,
    /// It was still running at the limit, and was killed.
    pub timed_out: bool,
}

impl CommandMeasurement {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }
}

/// Run `cmd` (its stdout captured, stdin closed) and measure it; killed with its whole tree
/// after `limit`.
pub fn measure_command(mut cmd: Command, limit: Duration) -> anyhow::Result<CommandMeasurement> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().context("starting the measured program")?;
    let pid = child.id() as i32;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || watch(pid, tx));
    let mut sampler = Sampler::new(pid);
    let mut timed_out = false;
    let (reaped, at) = loop {
        match events.recv_timeout(sampler::interval(start.elapsed())) {
            Ok(Event::Exited(reaped, at)) => break (reaped, at),
            Ok(Event::Stopped(_)) => {
                sampler.sample(true);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGCONT,
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                sampler.sample(false);
                if !timed_out && start.elapsed() > limit {
                    timed_out = true;
                    kill_tree(pid);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(anyhow!("the reaper thread died"));
            }
        }
    };
    let (status, rusage) = reaped?;
    let stdout = reader
        .join()
        .map_err(|_| anyhow!("the stdout reader panicked"))??;
    Ok(CommandMeasurement {
        status,
        wall_s: at.duration_since(start).as_secs_f64(),
        cpu_user_s: timeval_s(rusage.ru_utime),
        cpu_sys_s: timeval_s(rusage.ru_stime),
        peak_rss_bytes: sampler
            .peak
            .rss_bytes
            .max(rusage.ru_maxrss.max(0) as u64 * 1024),
        peak_pss_bytes: sampler.peak.pss_bytes,
        stdout,
        timed_out,
    })
}
