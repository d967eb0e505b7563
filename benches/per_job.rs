//! Criterion benches for the strategies that fork or talk to a server, one job per iteration.
//!
//! - `per-job-noop/STRATEGY/wN`: jobs that do nothing, at 1, 4 and 16 workers.
//! - `per-job-emoji-to-sink/STRATEGY/wN`: one emoji item (50 writes) per job, to /dev/null.
//!
//! These strategies cannot run inside the bench process: they must fork from a single-threaded
//! process (criterion's statistics run on rayon threads) and some start a server. So every
//! sample is one fresh measured child, `concur __exec`, as under `concur run`: it runs `iters`
//! jobs and reports the time its strategy worked (process start-up excluded). criterion's linear
//! sampling (d, 2d, ... jobs per sample) and its slope estimate then give the cost of one more
//! job, with the worker start-up (forking the prefork workers, connecting to Redis, creating the
//! SQLite file) left in the intercept. `pool` runs the same way at 4 workers, as a reference
//! next to the in-process `noop/pool/w4` of `benches/strategies.rs`.
//!
//! - `primitive-redis/PING round trip`: redis's floor, the function `concur limits` times.
//!
//! Redis: one private `redis-server` (Unix socket, temp dir) for the whole bench, or `REDIS_URL`;
//! with neither, the redis rows are skipped with a message. Throughput is in jobs per second.
//!
//! Run: `cargo bench --bench per_job` (about 2 minutes on 2 cores), `-- --quick --noplot` for a fast look (17 s).

use concur::request::RunRequest;
use concur::strategy::{self, Outcome, RunSpec};
use concur::sys::redis_server::{env_or_private, PrivateServer};
use concur::workload::Workload;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// (strategy, worker counts).
const STRATEGIES: &[(&str, &[usize])] = &[
    ("pool", &[4]),
    ("fork", &[1, 4, 16]),
    ("prefork", &[1, 4, 16]),
    ("rpc", &[1, 4, 16]),
    ("redis", &[1, 4, 16]),
    ("sqlite", &[1, 4, 16]),
    ("sqlite-fork", &[1, 4, 16]),
];

/// Run `spec` in a fresh measured child; the time its strategy worked.
fn run_child(spec: &RunSpec, dir: &Path) -> Duration {
    let (spec_file, result_file) = (dir.join("spec.json"), dir.join("result.json"));
    std::fs::write(
        &spec_file,
        serde_json::to_vec(spec).expect("a spec serialises"),
    )
    .expect("writing the spec");
    let _ = std::fs::remove_file(&result_file);
    let status = Command::new(env!("CARGO_BIN_EXE_concur"))
        .arg("__exec")
        .arg("--spec")
        .arg(&spec_file)
        .arg("--result")
        .arg(&result_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null()) // the sink
        .status()
        .expect("starting concur __exec");
    assert!(
        status.success(),
        "{} x {}: {status}",
        spec.strategy,
        spec.items
    );
    let outcome: Outcome =
        serde_json::from_slice(&std::fs::read(&result_file).expect("the child's outcome"))
            .expect("an outcome");
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(outcome.jobs, spec.items, "every job ran");
    Duration::from_secs_f64(outcome.work_s)
}

fn per_job(c: &mut Criterion, group_name: &str, workload: Workload, redis_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut group = c.benchmark_group(group_name);
    group
        .throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Linear)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &(name, workers) in STRATEGIES {
        if name == "redis" && redis_url.is_none() {
            continue;
        }
        for &w in workers {
            let info = strategy::find(name).expect("a registered strategy");
            let mut request = RunRequest::new(info, workload);
            request.workers = Some(w as u64);
            request.items = Some(1);
            request.redis_url = redis_url.filter(|_| info.needs_redis).map(str::to_owned);
            let spec = request.resolve().expect("a valid bench run");
            group.bench_with_input(BenchmarkId::new(name, format!("w{w}")), &spec, |b, spec| {
                b.iter_custom(|iters| {
                    let spec = RunSpec {
                        items: iters.max(1),
                        ..spec.clone()
                    };
                    run_child(&spec, dir.path())
                })
            });
        }
    }
    group.finish();
}

/// `REDIS_URL`, or a private server kept for the whole bench; `None` with a message otherwise
/// (a panic with `CONCUR_REQUIRE_REDIS=1`, as in CI, where `cargo test` runs this bench once).
fn redis() -> (Option<String>, Option<PrivateServer>) {
    match env_or_private() {
        Ok((url, server)) => (Some(url), server),
        Err(why) if std::env::var("CONCUR_REQUIRE_REDIS").as_deref() == Ok("1") => {
            panic!("CONCUR_REQUIRE_REDIS=1 but {why:#}")
        }
        Err(why) => {
            eprintln!("per_job: skipping redis: {why:#}");
            (None, None)
        }
    }
}

/// The primitive under `-s redis`: one PING round trip on one connection, as `concur limits`.
fn redis_round_trip(c: &mut Criterion, url: &str) {
    let mut con = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        .expect("connecting to the bench's redis-server");
    let mut group = c.benchmark_group("primitive-redis");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("PING round trip", |b| {
        b.iter_custom(|iters| concur::app::limits::redis_pings(&mut con, iters).expect("PING"))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let (url, _server) = redis();
    per_job(c, "per-job-noop", Workload::Noop, url.as_deref());
    per_job(c, "per-job-emoji-to-sink", Workload::Emoji, url.as_deref());
    if let Some(url) = &url {
        redis_round_trip(c, url);
    }
}

criterion_group!(per_job_benches, benches);
criterion_main!(per_job_benches);
