//! Per-job overhead of each in-process strategy, measured by criterion.
//!
//! The job is a wallet update with no pause and an atomic add: as close to no work as a job can
//! be while still touching shared state, so what is left is the strategy's own cost of handing a
//! job to a worker (spawning a thread, a channel send, a steal, a mailbox, a task). Run with
//! `cargo bench --bench strategies`; divide a result by JOBS for the per-job figure.
//!
//! These run inside the bench process, not under the harness: criterion needs thousands of
//! iterations, and a fresh child per iteration would measure process start-up instead.

use concur::spec::{RunSpec, SyncMode, Workload};
use concur::strategy;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const JOBS: u64 = 200;

fn spec(name: &str, sync: SyncMode) -> RunSpec {
    let info = strategy::find(name).expect("a registered strategy");
    RunSpec {
        strategy: name.to_owned(),
        workload: Workload::Wallet,
        workers: info
            .default_workers
            .unwrap_or(if name == "threads" { JOBS as usize } else { 1 }),
        items: JOBS,
        repeat: 1,
        pause_us: 0,
        sync,
        app_mb: 0,
        cost: 1,
        wait_ms: 0,
    }
}

fn per_job_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("wallet-200-jobs");
    group
        .throughput(Throughput::Elements(JOBS))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for name in [
        "sequential",
        "threads",
        "pool",
        "rayon",
        "actors",
        "futures",
    ] {
        let info = strategy::find(name).expect("registered");
        let sync = if info.syncs.contains(&SyncMode::Atomic) {
            SyncMode::Atomic
        } else {
            info.syncs[0]
        };
        let spec = spec(name, sync);
        group.bench_with_input(BenchmarkId::from_parameter(name), &spec, |b, spec| {
            b.iter(|| {
                let outcome = (info.run)(black_box(spec)).expect("the run succeeds");
                assert_eq!(outcome.wallet.expect("wallet").final_balance, 100);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_job_overhead);
criterion_main!(benches);
