//! What does `-s fork` add to a bare `fork` + `_exit` + `waitpid`? Both measured in this process,
//! on a no-op job, one child at a time (Resque's default).
//!
//! - `bare`: `fork`; the child `_exit(0)`s at once; the parent `waitpid`s it.
//! - `strategy`: `concur::strategy::fork::run_jobs`, the whole per-job path of `-s fork`: the
//!   child sets its parent-death signal, checks its parent, runs the job under `catch_unwind` and
//!   `_exit`s; the parent tracks it in a map, reaps it with `waitpid(-1)` and reads its status.
//!
//! Fork safety: criterion's statistics run on rayon threads, so this process may have several
//! threads when it forks. That is tolerable here only because both children touch nothing
//! but a few syscalls before `_exit` (no allocation, no lock); `-s fork` itself refuses to fork
//! unless it is single-threaded.
//!
//! - `primitive-fork/unix socket round trip`: rpc's floor, a 1-byte ping-pong with a forked
//!   echo process.
//!
//! Run: `cargo bench --bench fork`. The number to compare is time per job (per iteration).

use concur::sys::process::SingleThreaded;
use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The fork token of this process, which criterion's statistics threads share.
fn forker() -> SingleThreaded {
    // SAFETY: every child forked here makes only system calls before `_exit` (the bare child
    // none at all; the strategy's child prctl, getppid and sigaction, then a no-op job), which
    // is `assume`'s contract: no allocation, no lock another thread could hold at the fork.
    unsafe { SingleThreaded::assume() }
}

fn bare_fork_exit_waitpid() {
    let child = forker().fork_bare(|| 0).expect("fork");
    let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
    black_box(status);
}

/// The strategy's per-job path on a no-op job, `iters` jobs in one `run_jobs` call.
fn strategy_jobs(iters: u64) -> Duration {
    let start = Instant::now();
    let failures = concur::strategy::fork::run_jobs(&forker(), iters, 1, |i| {
        black_box(i);
        0
    })
    .expect("run_jobs");
    assert!(failures.is_empty(), "{failures:?}");
    start.elapsed()
}

fn per_job(c: &mut Criterion) {
    let mut group = c.benchmark_group("fork_per_job");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    // Each is measured twice, in alternating order: fork's cost grows with the forking process's
    // memory (page tables to copy), and this process grows once criterion has analysed its first
    // benchmark. Compare neighbours, not the first line with the last.
    group.bench_function("1 bare fork+_exit+waitpid", |b| {
        b.iter(bare_fork_exit_waitpid)
    });
    group.bench_function("2 strategy run_jobs no-op", |b| {
        b.iter_custom(strategy_jobs)
    });
    group.bench_function("3 bare fork+_exit+waitpid", |b| {
        b.iter(bare_fork_exit_waitpid)
    });
    group.bench_function("4 strategy run_jobs no-op", |b| {
        b.iter_custom(strategy_jobs)
    });
    group.finish();
}

/// CPU time so far of this process and of every child it has reaped, in seconds.
fn cpu_s() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    let secs = |who| {
        getrusage(who)
            .map(|u| {
                let (a, b) = (u.user_time(), u.system_time());
                (a.tv_sec() + b.tv_sec()) as f64 + (a.tv_usec() + b.tv_usec()) as f64 / 1e6
            })
            .unwrap_or(0.0)
    };
    secs(UsageWho::RUSAGE_SELF) + secs(UsageWho::RUSAGE_CHILDREN)
}

/// Wall and CPU (parent + child) of `f`.
fn timed(f: impl FnOnce()) -> (Duration, f64) {
    let (start, cpu) = (Instant::now(), cpu_s());
    f();
    (start.elapsed(), cpu_s() - cpu)
}

/// Interleaved A/B in one process state, printed before criterion runs: rounds of `BATCH` bare
/// forks then `BATCH` strategy jobs, alternating, so a busy machine or a growing process slows
/// both alike. Prints the median per-job wall and CPU (parent + child) of each, and the ratios.
/// CPU is the steadier number on a shared machine: it does not count time spent waiting to run.
fn interleaved_ab() {
    const ROUNDS: usize = 15;
    const BATCH: u64 = 200;
    let (mut bare, mut strategy) = (Vec::new(), Vec::new());
    let bare_batch = || {
        timed(|| {
            for _ in 0..BATCH {
                bare_fork_exit_waitpid();
            }
        })
    };
    let strategy_batch = || {
        timed(|| {
            strategy_jobs(BATCH);
        })
    };
    for round in 0..ROUNDS {
        // Alternate which goes first, too.
        if round % 2 == 0 {
            bare.push(bare_batch());
            strategy.push(strategy_batch());
        } else {
            strategy.push(strategy_batch());
            bare.push(bare_batch());
        }
    }
    let medians_us = |v: &[(Duration, f64)]| {
        let mut wall: Vec<f64> = v.iter().map(|x| x.0.as_secs_f64()).collect();
        let mut cpu: Vec<f64> = v.iter().map(|x| x.1).collect();
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let per_job = |x: f64| x * 1e6 / BATCH as f64;
        (per_job(wall[wall.len() / 2]), per_job(cpu[cpu.len() / 2]))
    };
    let ((bw, bc), (sw, sc)) = (medians_us(&bare), medians_us(&strategy));
    println!(
        "interleaved A/B, {ROUNDS} rounds x {BATCH} jobs, medians per job:\n  \
         bare fork+_exit+waitpid: wall {bw:.1} us, cpu {bc:.1} us\n  \
         -s fork per-job path:    wall {sw:.1} us, cpu {sc:.1} us\n  \
         ratio strategy/bare:     wall {:.2}, cpu {:.2}",
        sw / bw,
        sc / bc
    );
}

/// The primitive under `-s rpc`: a one-byte round trip with a forked echo process over a Unix
/// socket pair (the same function `concur limits` times; see its docs on forking from here).
fn socket_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitive-fork");
    group
        .throughput(criterion::Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("unix socket round trip", |b| {
        b.iter_custom(|iters| {
            concur::app::limits::socket_round_trip_with(&forker(), iters).expect("the echo child")
        })
    });
    group.finish();
}

criterion_group!(benches, per_job, socket_round_trip);

fn main() {
    interleaved_ab();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
