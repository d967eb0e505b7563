//! `concur queue-demo`: the whole reliable-fetch story in one command, for a workshop.
//!
//! It starts a private redis-server (the only queue command that does: the others are separate
//! processes that must share a real one), then runs the same trial twice, once with reliable
//! fetch and once with basic fetch: enqueue `--items` SleepJobs, start `--workers` worker
//! processes (`concur worker --exit-when-empty --record-jids --heartbeat 0.2`), `kill -9` one of
//! them mid-run, let the others finish, and count: jobs finished, lost, run twice. With reliable
//! fetch the survivors' reaper notices the dead worker's heartbeat expire and requeues its jobs;
//! with basic fetch they are gone. Everything it starts dies with it (parent-death signals).
//!
//! Then the price of reliable fetch, at-least-once: one `PayJob` (pay 10) whose worker is
//! killed at the worst moment, after the payment and before the acknowledgement. That moment is
//! not left to luck: the job's first run pauses after paying and sets a key, and the demo waits
//! for the key before the `kill -9`. The reaper requeues the job, a second worker runs it again,
//! and the balance says 20. The same with `IdempotentPayJob`, which pays only if its own key was
//! not set yet (check and payment in one Lua script): it runs twice and pays once.

use super::job::{self, Job};
use super::{fetch, keys, open};
use crate::sys::redis_server::PrivateServer;
use anyhow::Context;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DemoRequest {
    /// Jobs per trial (SleepJob of --wait-ms each)
    pub items: u64,
    /// Worker processes
    pub workers: u64,
    /// Milliseconds each job sleeps
    pub wait_ms: u64,
}

/// Heartbeat of the demo's workers: a dead one is noticed after 3 of these.
const HEARTBEAT: &str = "0.2";
/// A trial that takes longer than this has gone wrong.
const TRIAL_LIMIT: Duration = Duration::from_secs(120);

#[derive(Serialize)]
struct Trial {
    fetch: &'static str,
    /// Jobs in the victim's processing list when it was killed (reliable fetch only).
    in_flight_at_kill: Option<u64>,
    finished: u64,
    lost: u64,
    /// Jobs that finished more than once.
    duplicates: u64,
    #[serde(skip)]
    reaper_lines: Vec<String>,
}

/// One job paying 10, its worker killed after the payment and before the acknowledgement.
#[derive(Serialize)]
struct Twice {
    class: &'static str,
    runs: u64,
    balance: i64,
    expected: i64,
}

/// What the demo found (its `$CONCUR_JSON_TO` object).
#[derive(Serialize)]
struct Report {
    items: u64,
    workers: u64,
    trials: Vec<Trial>,
    at_least_once: Vec<Twice>,
}

/// What one PayJob pays, and how long its first run waits after paying (it is killed long
/// before).
const AMOUNT: i64 = 10;
const PAUSE_AFTER_PAYING_MS: u64 = 60_000;

/// `concur queue-demo`.
pub fn run(args: &DemoRequest) -> anyhow::Result<()> {
    let server = PrivateServer::start()?;
    println!(
        "private redis-server at {} (pid {}); {} SleepJobs of {} ms, {} workers x 4 threads; the first gets kill -9 a third of the way in\n",
        server.url(),
        server.pid(),
        args.items,
        args.wait_ms,
        args.workers
    );
    let logs = crate::sys::private::dir("demo").context("a private dir for the workers' logs")?;
    let mut trials = Vec::new();
    for fetch in ["reliable", "basic"] {
        trials.push(trial(args, server.url(), fetch, logs.path())?);
    }
    println!(
        "{:<10} {:>6} {:>26} {:>9} {:>6} {:>10}",
        "fetch", "jobs", "in its processing list", "finished", "lost", "run twice"
    );
    for t in &trials {
        let held = match t.in_flight_at_kill {
            Some(n) => n.to_string(),
            None => "none: BRPOP keeps no copy".into(),
        };
        println!(
            "{:<10} {:>6} {:>26} {:>9} {:>6} {:>10}",
            t.fetch, args.items, held, t.finished, t.lost, t.duplicates
        );
    }
    for t in &trials {
        for line in &t.reaper_lines {
            println!("  {}: {line}", t.fetch);
        }
    }
    println!(
        "\nreliable: the killed worker's jobs waited in its processing list until a survivor's reaper saw its heartbeat expire and requeued them.\nbasic: BRPOP had already removed them from Redis; they died with the worker."
    );
    let mut twice = Vec::new();
    for class in ["PayJob", "IdempotentPayJob"] {
        twice.push(at_least_once(server.url(), class, logs.path())?);
    }
    print_twice(&twice);
    crate::app::json_copy(&Report {
        items: args.items,
        workers: args.workers,
        trials,
        at_least_once: twice,
    })
}

/// The at-least-once table.
fn print_twice(rows: &[Twice]) {
    println!(
        "\nat-least-once: one job paying {AMOUNT}, its worker killed -9 after the payment and before the acknowledgement (reliable fetch)"
    );
    println!(
        "{:<18} {:>5} {:>8} {:>9}",
        "job", "runs", "balance", "expected"
    );
    for t in rows {
        let verdict = match (t.runs, t.balance == t.expected) {
            (1, true) => "ran once",
            (_, true) => "✓ ran twice, paid once: the rerun found its key and paid nothing",
            (_, false) => "✗ ran twice, paid twice: the rerun paid again",
        };
        println!(
            "{:<18} {:>5} {:>8} {:>9}  {verdict}",
            t.class, t.runs, t.balance, t.expected
        );
    }
    println!(
        "\nReliable fetch is at-least-once: a job can run again after its effect. Make the effect idempotent (a key per job, checked and set in the same step as the effect)."
    );
}

/// One `class` job paying [`AMOUNT`]: a worker takes it, pays, and is killed -9 while it waits
/// (after paying, before acknowledging); a second worker reaps the dead one and runs the job
/// again. Counts its runs and the balance.
fn at_least_once(url: &str, class: &'static str, logs: &Path) -> anyhow::Result<Twice> {
    let (_, mut con) = open(url)?;
    redis::cmd("FLUSHDB").exec(&mut con)?;
    let jid = job::jid(&job::batch_seed(), 0);
    let payload = Job::new(
        class,
        vec![0.into(), AMOUNT.into(), PAUSE_AFTER_PAYING_MS.into()],
        jid.clone(),
        "default",
        true.into(),
    )
    .to_json();
    redis::pipe()
        .cmd("SADD")
        .arg(keys::QUEUES)
        .arg("default")
        .ignore()
        .cmd("LPUSH")
        .arg(keys::queue("default"))
        .arg(payload)
        .ignore()
        .exec(&mut con)?;
    let mut first = Workers(vec![start_worker(
        url,
        "reliable",
        &logs.join(format!("{class}-first.log")),
    )?]);
    // The payment is made and the job waits before returning: now is the worst moment.
    let started = Instant::now();
    while !redis::cmd("EXISTS")
        .arg(keys::pay_effect(&jid))
        .query::<bool>(&mut con)?
    {
        anyhow::ensure!(started.elapsed() < TRIAL_LIMIT, "the {class} never paid");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.0[0].child.kill()?; // SIGKILL, through the Child: it has not been reaped
    first.0[0].child.wait()?;
    let mut second = Workers(vec![start_worker(
        url,
        "reliable",
        &logs.join(format!("{class}-second.log")),
    )?]);
    second.0[0].wait_exit()?;
    let runs: Option<u64> = redis::cmd("HGET")
        .arg(keys::PAY_RUNS)
        .arg(&jid)
        .query(&mut con)?;
    let balance: Option<i64> = redis::cmd("GET").arg(keys::PAY_BALANCE).query(&mut con)?;
    Ok(Twice {
        class,
        runs: runs.unwrap_or(0),
        balance: balance.unwrap_or(0),
        expected: AMOUNT,
    })
}

/// One trial with `fetch`: fill the queue, start the workers, kill -9 the first a third of the
/// way in, let the others drain the queue, and count.
fn trial(args: &DemoRequest, url: &str, fetch: &'static str, logs: &Path) -> anyhow::Result<Trial> {
    let (_, mut con) = open(url)?;
    redis::cmd("FLUSHDB").exec(&mut con)?;
    push_sleep_jobs(&mut con, args)?;
    let mut workers = Workers(start_workers(args, url, fetch, logs)?);
    // Wait until a third of the jobs are done, then kill -9 the first worker mid-run.
    let victim = workers.0[0].child.id();
    wait_until_done(&mut con, args.items / 3)?;
    // Still unreaped (we have not waited for it), so the pid cannot be another process's yet.
    nix::sys::signal::kill(Pid::from_raw(victim as i32), Signal::SIGKILL)?;
    workers.0[0].child.wait()?;
    // What it held when it died (its heartbeat takes 0.6 s to expire: no reaper yet).
    let in_flight = in_flight_of(&mut con, victim, fetch)?;
    for w in &mut workers.0 {
        w.wait_exit()?;
    }
    let runs: Vec<u64> = redis::cmd("HVALS").arg(keys::DONE).query(&mut con)?;
    let finished = runs.len() as u64;
    let duplicates = runs.iter().sum::<u64>().saturating_sub(finished);
    Ok(Trial {
        fetch,
        in_flight_at_kill: in_flight,
        finished,
        lost: args.items.saturating_sub(finished),
        duplicates,
        reaper_lines: workers
            .0
            .iter()
            .flat_map(DemoWorker::reaper_lines)
            .collect(),
    })
}

/// `--items` SleepJobs of `--wait-ms` on queue `default`, pushed in chunks of 1000.
fn push_sleep_jobs(con: &mut redis::Connection, args: &DemoRequest) -> anyhow::Result<()> {
    let seed = job::batch_seed();
    let payloads: Vec<String> = (0..args.items)
        .map(|i| {
            Job::new(
                "SleepJob",
                vec![i.into(), args.wait_ms.into()],
                job::jid(&seed, i),
                "default",
                true.into(),
            )
            .to_json()
        })
        .collect();
    for chunk in payloads.chunks(1000) {
        redis::pipe()
            .cmd("SADD")
            .arg(keys::QUEUES)
            .arg("default")
            .ignore()
            .cmd("LPUSH")
            .arg(keys::queue("default"))
            .arg(chunk)
            .ignore()
            .exec(con)?;
    }
    Ok(())
}

/// A `concur worker` process of the demo, and the file its stderr goes to.
struct DemoWorker {
    child: Child,
    log: PathBuf,
}

/// `--workers` worker processes with `fetch`, each logging to its own file in `logs`; each dies
/// with this process.
fn start_workers(
    args: &DemoRequest,
    url: &str,
    fetch: &str,
    logs: &Path,
) -> anyhow::Result<Vec<DemoWorker>> {
    (0..args.workers)
        .map(|n| start_worker(url, fetch, &logs.join(format!("{fetch}-{n}.log"))))
        .collect()
}

/// One `concur worker` of 4 threads with `fetch`, logging to `log`; it dies with this process.
fn start_worker(url: &str, fetch: &str, log: &Path) -> anyhow::Result<DemoWorker> {
    let exe = std::env::current_exe().context("finding the concur executable")?;
    let mut cmd = Command::new(&exe);
    cmd.args([
        "worker",
        "--redis-url",
        url,
        "--concurrency",
        "4",
        "--heartbeat",
        HEARTBEAT,
    ])
    .args(["--exit-when-empty", "--record-jids", "--fetch", fetch])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(log)?);
    crate::sys::process::die_with_parent(&mut cmd, Signal::SIGKILL);
    let child = cmd.spawn().context("starting a worker")?;
    Ok(DemoWorker {
        child,
        log: log.to_owned(),
    })
}

/// Wait until `n` jobs have finished (as `--record-jids` counts them).
fn wait_until_done(con: &mut redis::Connection, n: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let done: u64 = redis::cmd("HLEN").arg(keys::DONE).query(con)?;
        if done >= n {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < TRIAL_LIMIT,
            "the demo's workers made no progress"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl DemoWorker {
    /// Wait for the worker to exit on its own (`--exit-when-empty`), at most [`TRIAL_LIMIT`].
    fn wait_exit(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + TRIAL_LIMIT;
        while self.child.try_wait()?.is_none() {
            anyhow::ensure!(Instant::now() < deadline, "a demo worker did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The lines of its log where its reaper requeued a dead worker's jobs.
    fn reaper_lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("reaped"))
            .map(String::from)
            .collect()
    }
}

/// Jobs in worker `pid`'s processing list; `None` with basic fetch, where Redis keeps no copy
/// of the jobs a worker holds.
fn in_flight_of(con: &mut redis::Connection, pid: u32, fetch: &str) -> anyhow::Result<Option<u64>> {
    if fetch != "reliable" {
        return Ok(None);
    }
    for (id, reg) in fetch::registered(con)? {
        if reg.pid == pid {
            let mut n = 0;
            for (list, _) in reg.processing_lists(&id) {
                n += redis::cmd("LLEN").arg(list).query::<u64>(con)?;
            }
            return Ok(Some(n));
        }
    }
    Ok(Some(0))
}

/// The demo's workers; whatever is still running on the way out (an error path; Ctrl-C is
/// pdeathsig's job) is SIGKILLed and reaped. Through `Child`, which signals only a child it has
/// not reaped yet: never a process that got a reaped worker's pid.
struct Workers(Vec<DemoWorker>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}
