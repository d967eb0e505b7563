//! Criterion benches: each in-process strategy's cost per job, and the primitives under them.
//!
//! - `noop/STRATEGY/wN`: 200 jobs that do nothing, so what is measured is the strategy's own cost
//!   of handing a job to a worker (a thread spawn, a channel send, a steal, a mailbox, a task).
//! - `emoji-to-sink/STRATEGY/wN`: the talks' emoji workload (51 x 50 writes) to /dev/null.
//! - `primitive/NAME`: one operation of the primitive a strategy is built from (the floor).
//!
//! Throughput is in jobs (or operations) per second; criterion's HTML report lands in
//! `target/criterion/report/index.html`. For a workshop laptop: `cargo bench -- --quick --noplot` (no plots: about 40 s for all).
//!
//! Strategies run inside the bench process, not under the harness: criterion needs thousands of
//! iterations, and a fresh child per iteration would measure process start-up instead. The
//! process strategies have their own bench (`benches/fork.rs`) because they fork.

use concur::app::limits;
use concur::request::RunRequest;
use concur::strategy::{self, StrategyInfo, Workers};
use concur::workload::{emoji, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const IN_PROCESS: &[&str] = &[
    "sequential",
    "threads",
    "pool",
    "rayon",
    "actors",
    "futures",
];

/// The worker counts a strategy takes: 1, 4, 16, or its own fixed count (`None`).
fn worker_counts(info: &StrategyInfo) -> Vec<Option<u64>> {
    match info.workers {
        Workers::Count(_) => vec![Some(1), Some(4), Some(16)],
        Workers::One | Workers::PerJob => vec![None],
    }
}

fn per_strategy(c: &mut Criterion, group_name: &str, workload: Workload, items: u64) {
    let mut group = c.benchmark_group(group_name);
    group
        .throughput(Throughput::Elements(items))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    for name in IN_PROCESS {
        let info = strategy::find(name).expect("registered");
        for workers in worker_counts(info) {
            let mut request = RunRequest::new(info, workload);
            (request.items, request.workers) = (Some(items), workers);
            let spec = request.resolve().expect("a valid bench run");
            group.bench_with_input(
                BenchmarkId::new(*name, format!("w{}", spec.workers)),
                &spec,
                |b, spec| {
                    b.iter(|| {
                        let outcome = (info.run)(black_box(spec)).expect("the run succeeds");
                        assert!(outcome.failures.is_empty());
                    })
                },
            );
        }
    }
    group.finish();
}

fn noop(c: &mut Criterion) {
    per_strategy(c, "noop", Workload::Noop, 200);
}

fn emoji_to_sink(c: &mut Criterion) {
    emoji::set_sink(std::fs::File::create("/dev/null").expect("/dev/null opens"));
    per_strategy(c, "emoji-to-sink", Workload::Emoji, 51);
}

fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitive");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    for (name, op) in limits::thread_primitives() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| op(iters).expect("the primitive runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, noop, emoji_to_sink, primitives);
criterion_main!(benches);
