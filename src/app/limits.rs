//! `concur limits`: what the primitives cost on this machine.
//!
//! Every strategy is built from a primitive: `fork` from fork+_exit+waitpid, `threads` from a
//! thread spawn and join, `pool` from a channel send and receive, `futures` from a task spawn,
//! `actors` from a mailbox round trip, `rpc` from a Unix-socket round trip. A strategy cannot hand
//! out a job for less than its primitive costs; `limits` measures those floors here and now, so a
//! strategy's per-job overhead can be read against them.
//!
//! The measurements run in this process (not under the harness: they are microseconds, and a child
//! per measurement would measure process start-up). The fork measurements run first, while this
//! process is still single-threaded, as the fork-safety rule demands; they check it.

use crate::actor::{self, ReplyTo};
use crate::error::usage;
use crate::sys::process::SingleThreaded;
use crate::sys::table::Table;
use crate::sys::units;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// One primitive's cost, over several runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Limit {
    pub name: String,
    pub about: String,
    /// Seconds per operation: median, min and max over the runs.
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub ops_per_run: u64,
    pub runs: usize,
}

/// Memory a parked thread costs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThreadMemory {
    pub threads: u64,
    pub rss_per_thread_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Limits {
    pub cores: usize,
    /// Primitives that could not be measured here, with the reason.
    #[serde(default)]
    pub skipped: Vec<String>,
    pub primitives: Vec<Limit>,
    pub parked_thread: ThreadMemory,
}

/// Per-op seconds of `runs` runs of `op` done `n` times, with a warm-up run first.
fn time_runs(
    runs: usize,
    n: u64,
    mut run: impl FnMut(u64) -> anyhow::Result<Duration>,
) -> anyhow::Result<Vec<f64>> {
    run(n.div_ceil(10).max(1))?;
    (0..runs)
        .map(|_| run(n).map(|d| d.as_secs_f64() / n as f64))
        .collect()
}

fn summarise(name: &str, about: &str, n: u64, mut per_op: Vec<f64>) -> Limit {
    per_op.sort_by(|a, b| a.total_cmp(b));
    Limit {
        name: name.to_owned(),
        about: about.to_owned(),
        median_s: per_op[per_op.len() / 2],
        min_s: per_op[0],
        max_s: per_op[per_op.len() - 1],
        ops_per_run: n,
        runs: per_op.len(),
    }
}

/// Threads in this process, from /proc/self/status.
pub fn own_threads() -> u64 {
    crate::sys::proc::threads(std::process::id() as i32).unwrap_or(0)
}

/// fork, `_exit(0)` in the child, waitpid in the parent: `n` times.
fn fork_exit_wait(n: u64) -> anyhow::Result<Duration> {
    let forker = SingleThreaded::check().context("fork+_exit+waitpid")?;
    let start = Instant::now();
    for _ in 0..n {
        let child = forker.fork_bare(|| 0)?;
        nix::sys::wait::waitpid(child, None).context("waitpid")?;
    }
    Ok(start.elapsed())
}

/// A one-byte ping-pong with a forked echo process over a Unix socket pair: `n` round trips.
fn socket_round_trip(n: u64) -> anyhow::Result<Duration> {
    let forker = SingleThreaded::check().context("Unix-socket round trip")?;
    socket_round_trip_with(&forker, n)
}

/// `socket_round_trip` with a fork token from the caller: criterion (`benches/fork.rs`), whose
/// statistics threads exist when it forks, passes an assumed one, which the echo child allows:
/// it makes nothing but system calls (read, write, `_exit`), no allocation, no lock another
/// thread could have held at the fork.
pub fn socket_round_trip_with(forker: &SingleThreaded, n: u64) -> anyhow::Result<Duration> {
    let (mut ours, mut theirs) = UnixStream::pair()?;
    let ours_fd = ours.as_raw_fd();
    // The child owns `theirs` (the parent's copy goes with the closure) and closes its copy of
    // `ours`, so that the parent's close is an end of file for it.
    let child = forker.fork_bare(move || {
        let _ = nix::unistd::close(ours_fd);
        let mut b = [0u8; 1];
        while let Ok(1) = theirs.read(&mut b) {
            if theirs.write_all(&b).is_err() {
                break;
            }
        }
        0
    })?;
    let mut b = [7u8; 1];
    let start = Instant::now();
    for _ in 0..n {
        ours.write_all(&b)?;
        ours.read_exact(&mut b)?;
    }
    let took = start.elapsed();
    drop(ours); // EOF: the echo child exits
    nix::sys::wait::waitpid(child, None).context("waitpid")?;
    Ok(took)
}

fn thread_spawn_join(n: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        std::thread::spawn(|| {})
            .join()
            .map_err(|_| anyhow::anyhow!("thread panicked"))?;
    }
    Ok(start.elapsed())
}

fn channel_send_recv(n: u64) -> anyhow::Result<Duration> {
    let (tx, rx) = crossbeam::channel::unbounded::<u64>();
    let start = Instant::now();
    for i in 0..n {
        tx.send(i)?;
        std::hint::black_box(rx.recv()?);
    }
    Ok(start.elapsed())
}

/// One thread streams `n` messages to another that is already waiting on the channel: the cost of
/// a job crossing from one thread to another (the message's cache line moves between cores, the
/// channel's blocks are allocated on one thread and freed on the other), without a round trip.
fn channel_hand_off(n: u64) -> anyhow::Result<Duration> {
    let (tx, rx) = crossbeam::channel::unbounded::<u64>();
    let (ready_tx, ready_rx) = crossbeam::channel::bounded::<()>(1);
    let receiver = std::thread::spawn(move || {
        let _ = ready_tx.send(());
        rx.into_iter().map(std::hint::black_box).count() as u64
    });
    ready_rx.recv()?;
    let start = Instant::now();
    for i in 0..n {
        tx.send(i)?;
    }
    drop(tx);
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
    let took = start.elapsed();
    anyhow::ensure!(received == n, "sent {n} messages, {received} arrived");
    Ok(took)
}

fn channel_ping_pong(n: u64) -> anyhow::Result<Duration> {
    let (ping_tx, ping_rx) = crossbeam::channel::bounded::<u64>(1);
    let (pong_tx, pong_rx) = crossbeam::channel::bounded::<u64>(1);
    let echo = std::thread::spawn(move || {
        for v in ping_rx {
            if pong_tx.send(v).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..n {
        ping_tx.send(i)?;
        pong_rx.recv()?;
    }
    let took = start.elapsed();
    drop(ping_tx);
    let _ = echo.join();
    Ok(took)
}

fn rayon_per_item(n: u64) -> anyhow::Result<Duration> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build()?;
    let start = Instant::now();
    pool.install(|| {
        (0..n).into_par_iter().for_each(|i| {
            std::hint::black_box(i);
        })
    });
    Ok(start.elapsed())
}

/// `n` parallel loops of 4 no-op items on a warm 4-thread pool: what rayon pays once per
/// `for_each` to wake its workers and join them, whatever the number of items.
fn rayon_fan_out(n: u64) -> anyhow::Result<Duration> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build()?;
    let fan_out = || {
        pool.install(|| {
            (0..4u64).into_par_iter().for_each(|i| {
                std::hint::black_box(i);
            })
        })
    };
    fan_out();
    let start = Instant::now();
    for _ in 0..n {
        fan_out();
    }
    Ok(start.elapsed())
}

fn tokio_spawn_await(n: u64) -> anyhow::Result<Duration> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()?;
    Ok(rt.block_on(async {
        let start = Instant::now();
        for i in 0..n {
            let _ = tokio::spawn(async move { std::hint::black_box(i) }).await;
        }
        start.elapsed()
    }))
}

/// Spawn `n` tasks into a JoinSet, then join them all: how `futures` hands out its jobs.
fn tokio_spawn_batch(n: u64) -> anyhow::Result<Duration> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()?;
    Ok(rt.block_on(async {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(async move { std::hint::black_box(i) });
        }
        while set.join_next().await.is_some() {}
        start.elapsed()
    }))
}

fn actor_call(n: u64) -> anyhow::Result<Duration> {
    fn echo(_: &mut (), reply: ReplyTo<()>) {
        let _ = reply.send(());
    }
    let (addr, actor) = actor::spawn("limits-echo", (), echo);
    let start = Instant::now();
    for _ in 0..n {
        addr.call(|r| r);
    }
    let took = start.elapsed();
    drop(addr);
    let _ = actor.join();
    Ok(took)
}

/// A PING round trip to Redis: `REDIS_URL` when set, else a private redis-server started for
/// the measurement. `None` (with the reason) when neither is possible.
fn redis_round_trip(runs: usize) -> Result<Vec<f64>, String> {
    let (url, _server) =
        crate::sys::redis_server::env_or_private().map_err(|e| format!("{e:#}"))?;
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    time_runs(runs, 5000, |n| redis_pings(&mut con, n)).map_err(|e| format!("{e:#}"))
}

/// `n` PING round trips on `con`, one at a time.
pub fn redis_pings(con: &mut redis::Connection, n: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..n {
        redis::cmd("PING").exec(con)?;
    }
    Ok(start.elapsed())
}

/// A primitive that can be timed for `n` operations.
pub type Primitive = fn(u64) -> anyhow::Result<Duration>;

/// The in-process primitives (no fork), for criterion: (name, timed function).
pub fn thread_primitives() -> Vec<(&'static str, Primitive)> {
    vec![
        ("thread spawn+join", thread_spawn_join),
        ("channel send+recv", channel_send_recv),
        ("channel hand-off", channel_hand_off),
        ("channel ping-pong", channel_ping_pong),
        ("rayon fan-out+join", rayon_fan_out),
        ("tokio spawn+await", tokio_spawn_await),
        ("tokio spawn, batch joined", tokio_spawn_batch),
        ("actor call", actor_call),
    ]
}

/// RSS a parked thread adds: park `n` threads on a channel and read RSS before and after.
fn parked_thread_rss(n: u64) -> anyhow::Result<ThreadMemory> {
    let me = std::process::id() as i32;
    let before = crate::sys::proc::rss(me).unwrap_or(0);
    let (tx, rx) = crossbeam::channel::unbounded::<()>();
    let (ready_tx, ready_rx) = crossbeam::channel::unbounded::<()>();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (rx, ready) = (rx.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                let _ = ready.send(());
                let _ = rx.recv();
            })
        })
        .collect();
    for _ in 0..n {
        ready_rx.recv()?;
    }
    let after = crate::sys::proc::rss(me).unwrap_or(0);
    drop(tx);
    for h in handles {
        let _ = h.join();
    }
    Ok(ThreadMemory {
        threads: n,
        rss_per_thread_bytes: after.saturating_sub(before) / n,
    })
}

/// A primitive as `measure` times it: what it is, the floor of what, how many operations a run.
struct Probe {
    name: &'static str,
    about: &'static str,
    ops: u64,
    time: Primitive,
}

impl Probe {
    /// Time `runs` runs of it (after a warm-up) and summarise them.
    fn measure(&self, runs: usize) -> anyhow::Result<Limit> {
        let per_op = time_runs(runs, self.ops, self.time)?;
        Ok(summarise(self.name, self.about, self.ops, per_op))
    }
}

/// The process primitives: measured first, while this process is still single-threaded.
const FORKING: [Probe; 2] = [
    Probe {
        name: "fork+_exit+waitpid",
        about: "fork's floor: one process per job (small parent)",
        ops: 200,
        time: fork_exit_wait,
    },
    Probe {
        name: "unix socket round trip",
        about: "rpc's floor: 1-byte ping-pong with a forked process",
        ops: 5000,
        time: socket_round_trip,
    },
];

/// The in-process primitives, in the order `concur limits` prints them.
const IN_PROCESS: [Probe; 9] = [
    Probe {
        name: "thread spawn+join",
        about: "threads' floor: one thread per job",
        ops: 500,
        time: thread_spawn_join,
    },
    Probe {
        name: "channel send+recv",
        about: "a queue's best case: send and receive on one thread",
        ops: 100_000,
        time: channel_send_recv,
    },
    Probe {
        name: "channel hand-off",
        about: "pool's and actors' floor: a job streamed from one thread to another",
        ops: 100_000,
        time: channel_hand_off,
    },
    Probe {
        name: "channel ping-pong",
        about: "a round trip between two threads (a wake-up each way)",
        ops: 10_000,
        time: channel_ping_pong,
    },
    Probe {
        name: "rayon per item",
        about: "rayon's floor: a no-op item on a 4-thread pool",
        ops: 1_000_000,
        time: rayon_per_item,
    },
    Probe {
        name: "rayon fan-out+join",
        about: "rayon's fixed cost per loop: wake 4 workers, join them",
        ops: 2_000,
        time: rayon_fan_out,
    },
    Probe {
        name: "tokio spawn+await",
        about: "a task's round trip: spawn one, await it (4 worker threads)",
        ops: 20_000,
        time: tokio_spawn_await,
    },
    Probe {
        name: "tokio spawn, batch joined",
        about: "futures' floor: spawn every task, then join them all",
        ops: 20_000,
        time: tokio_spawn_batch,
    },
    Probe {
        name: "actor call",
        about: "actors' floor: a call and its reply through a mailbox",
        ops: 10_000,
        time: actor_call,
    },
];

/// fork+_exit+waitpid again, with `app_mb` MiB of a booted app's memory to copy page tables for.
fn fork_with_app(runs: usize, app_mb: u64) -> anyhow::Result<Limit> {
    let ballast = crate::workload::app::ballast(app_mb);
    let limit = summarise(
        &format!("fork+_exit+waitpid @{app_mb}MiB"),
        "the same with a booted app's memory to copy page tables for",
        50,
        time_runs(runs, 50, fork_exit_wait)?,
    );
    drop(std::hint::black_box(ballast));
    Ok(limit)
}

/// Measure every primitive, `runs` times each; with `app_mb`, also fork a parent that size.
pub fn measure(runs: usize, app_mb: u64) -> anyhow::Result<Limits> {
    let [fork, socket] = &FORKING;
    let mut out = vec![fork.measure(runs)?];
    if app_mb > 0 {
        out.push(fork_with_app(runs, app_mb)?);
    }
    out.push(socket.measure(runs)?);
    for probe in &IN_PROCESS {
        out.push(probe.measure(runs)?);
    }
    let mut skipped = Vec::new();
    match redis_round_trip(runs) {
        Ok(per_op) => out.push(summarise(
            "redis round trip",
            "redis's floor: a PING to a redis-server on a Unix socket",
            5000,
            per_op,
        )),
        Err(why) => skipped.push(format!("redis round trip: {why}")),
    }
    Ok(Limits {
        skipped,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        primitives: out,
        parked_thread: parked_thread_rss(100)?,
    })
}

/// Nanoseconds or microseconds, whichever reads better.
fn per_op(s: f64) -> String {
    if s < 1e-8 {
        format!("{:.1} ns", s * 1e9)
    } else if s < 1e-6 {
        format!("{:.0} ns", s * 1e9)
    } else {
        units::seconds(s)
    }
}

/// `concur limits`: how many runs per primitive, an app size to fork with, and the format.
#[derive(Clone, Debug)]
pub struct LimitsRequest {
    pub runs: usize,
    pub app_mb: u64,
    pub json: bool,
}

/// `concur limits`.
pub fn run(req: &LimitsRequest) -> anyhow::Result<()> {
    let LimitsRequest { runs, app_mb, json } = *req;
    if runs == 0 {
        return usage("--runs must be at least 1");
    }
    let limits = measure(runs, app_mb)?;
    if json {
        println!("{}", serde_json::to_string(&limits)?);
        return Ok(());
    }
    println!(
        "Primitive costs on this machine ({} cores), per operation, median (min-max) of {runs} runs:",
        limits.cores
    );
    print!("{}", table(&limits));
    Ok(())
}

/// Each primitive's median, range and what it is the floor of; the parked thread's memory; what
/// was skipped.
fn table(limits: &Limits) -> String {
    let mut table = Table::headless().right(&[1]).indent(2);
    for l in &limits.primitives {
        table.row([
            l.name.clone(),
            per_op(l.median_s),
            format!("({} - {})", per_op(l.min_s), per_op(l.max_s)),
            l.about.clone(),
        ]);
    }
    table.span_row(
        [
            "parked thread".to_owned(),
            units::bytes(limits.parked_thread.rss_per_thread_bytes),
        ],
        format!(
            "RSS per parked thread ({} threads parked on a channel)",
            limits.parked_thread.threads
        ),
    );
    for why in &limits.skipped {
        table.line(format!("  skipped: {why}"));
    }
    table.render()
}
