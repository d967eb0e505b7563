//! `-s resque`: Resque itself. Jobs wait in a Redis list; a worker process LPOPs one, forks a
//! child to perform it, and waits for the child's exit status before the next.
//!
//! This is the `redis` strategy's queue with the `fork` strategy's way of running a job: the two
//! halves of Resque that concur otherwise shows apart. The worker *reserves* the job in the
//! parent (so a crashing job cannot lose the queue's place), and the child does nothing but the
//! job, with a fresh copy-on-write copy of the parent's memory, and `_exit`s; a child that dies
//! is one failed job (`DirtyExit`), never a dead worker. `--workers N` keeps up to N children at
//! once, as N resque workers (resque-pool) would.
//!
//! The child opens its own Redis connection: a socket shared across a fork would interleave two
//! processes' commands on one stream (Resque reconnects in the child for the same reason). The
//! wallet lives in Redis, so `--sync none` (GET, pause, SET) races across processes and `incr`
//! and `watch` fix it, exactly as in `-s redis`.

use super::fork::{self, PROCESSES};
use super::redis::{
    self as redisq, Cleanup, JobError, Keys, RunRedis, CONNECT_TIMEOUT, RESPONSE_TIMEOUT,
};
use super::{Props, StrategyInfo, Workers};
use crate::strategy::spec::{Outcome, RunSpec, Stop};
use crate::sys::redis_server::PrivateServer;
use crate::workload::Workload;
use anyhow::Context;

pub const INFO: StrategyInfo = StrategyInfo {
    name: "resque",
    models:
        "Resque: JSON jobs in a Redis list; the worker LPOPs one, forks a child per job, waitpid",
    props: Props {
        needs_server: true,
        ..PROCESSES
    },
    workers: Workers::Count(2),
    syncs: redisq::SYNCS,
    transfers: &[],
    needs_redis: true,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: None,
    unavailable: redisq::unavailable,
    run,
};

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    // Starting redis-server spawns a process, not a thread: we stay forkable.
    let forker = fork::SingleThreaded::check()?;
    let RunRedis {
        server,
        shown,
        client,
        mut con,
        started,
    } = RunRedis::open(spec)?;
    let run_id = redisq::run_id();
    let keys = Keys::new(&run_id);
    let cleanup = Cleanup::new(&client, &keys);
    redisq::load(&mut con, spec, &keys, &run_id)?;

    let mut pops = 0u64;
    let timeout = spec.job_timeout_ms.map(std::time::Duration::from_millis);
    let jobs = fork::run_queue(
        &forker,
        spec.workers,
        timeout,
        || {
            pops += 1;
            lpop(&mut con, &keys)
        },
        |i, payload| perform_in_child(spec, &client, &keys, i, &payload),
    )?;
    // After Ctrl-C no LPOP is made: what is left in the list never started (and goes with the
    // run's keys below, as a stopped Resque worker would leave it for the next one).
    let not_started = spec.items - jobs.started;
    let wallet = match spec.workload {
        Workload::Wallet => Some(crate::sys::signals::holding_stop_signals(|| {
            redisq::wallet_outcome(&mut con, spec, &keys)
        })?),
        _ => None,
    };
    let work_s = started.elapsed().as_secs_f64();
    let mut notes = vec![
        server_note(server.as_ref(), &shown),
        format!(
            "resque: {} LPOPs by the parent, one fork per job, at most {} children at once, each with its own connection",
            pops, spec.workers
        ),
    ];
    let deleted = cleanup.finish().context("deleting the run's keys")?;
    notes.push(format!(
        "keys: {deleted} left under {}*, now deleted",
        keys.prefix
    ));
    drop(server);
    Ok(Outcome {
        jobs: jobs.started,
        workers: spec.workers,
        failures: jobs.failures,
        jobs_not_started: not_started,
        stop: Stop::if_skipped(not_started),
        jobs_timed_out: jobs.timed_out,
        hang_detected_s: jobs.hang_detected_s,
        wallet,
        work_s,
        notes,
        ..Default::default()
    })
}

/// Reserve the next job, in the parent: LPOP, with SIGINT and SIGTERM held back meanwhile (a
/// signal between the server's pop and our read of the reply would lose the job).
fn lpop(con: &mut redis::Connection, keys: &Keys) -> anyhow::Result<Option<String>> {
    crate::sys::signals::holding_stop_signals(|| {
        redis::cmd("LPOP")
            .arg(&keys.queue)
            .query::<Option<String>>(con)
    })
    .context("LPOP from the Resque queue")
}

/// Job `i`, in the forked child: our own connection, the job, and the exit code (0 done, 1 the
/// job failed, 2 Redis did).
fn perform_in_child(
    spec: &RunSpec,
    client: &redis::Client,
    keys: &Keys,
    i: u64,
    payload: &str,
) -> i32 {
    if let Some(f) = &spec.fault {
        f.strike(i);
    }
    let mut own = match crate::sys::redis_server::connect(client, CONNECT_TIMEOUT, RESPONSE_TIMEOUT)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("concur: resque job {i}: cannot connect to Redis: {e}");
            return 2;
        }
    };
    match redisq::perform(&mut own, spec, keys, payload) {
        Ok(_) => 0,
        Err(JobError::Job(e)) => {
            eprintln!("concur: resque job {i}: {e}");
            1
        }
        Err(JobError::Redis(e)) => {
            eprintln!("concur: resque job {i}: Redis: {e}");
            2
        }
    }
}

/// Where the run's Redis came from.
fn server_note(server: Option<&PrivateServer>, shown: &str) -> String {
    match server {
        Some(s) => format!(
            "redis: private redis-server (pid {}) on a Unix socket; its memory and CPU are in this run's figures",
            s.pid()
        ),
        None => format!("redis: {shown} (from REDIS_URL/--redis-url)"),
    }
}
