//! `concur bench queue`: the real queue against its floors.
//!
//! For each worker mode (threads with reliable and basic fetch at 1, 5 and 10 connections,
//! reliable `--batch 50` at 1 and 5, `--fork` at 1 and 2 children) it enqueues `--items` no-op jobs, runs `concur worker
//! --exit-when-empty` on them as a separate process, and reports:
//!
//! - **jobs/s** over the worker's busy span (first job fetched to last finished, from its exit
//!   line, so start-up and shutdown are not counted);
//! - **Redis commands and round trips per job**: the difference of `INFO commandstats` (every
//!   command, those run inside scripts included) and of `INFO stats` `total_reads_processed`
//!   (one read per request or pipeline the server received: a round trip) across the run, minus
//!   the same worker run on an empty queue (its registration, heartbeats and exit);
//! - **CPU per job** of the worker and its job children (`getrusage` of reaped children), and of
//!   redis-server (`INFO cpu`), both minus the empty run;
//! - the worker's **peak RSS**;
//! - the ratio to **`redis-benchmark -t lpop`** at the same connection count (how fast the
//!   server answers the simplest pop at all), and to the **floors** of `concur limits` measured
//!   just before each run, under the same load: a round trip per job for threads (shared by the
//!   connections), a fork plus two round trips for `--fork`.
//!
//! Each mode runs `--runs` times (the median run is reported), in rounds that run every mode
//! once, so that a machine whose speed drifts during the bench weighs on all modes alike.
//!
//! Against `REDIS_URL` it uses a queue of its own (`bench-<random>`) and never flushes; the
//! stats counters (`concur:stat:*`) grow by the jobs it runs, and other clients' commands would
//! count in the per-job figures. Without `REDIS_URL` it starts a private redis-server.

use super::job::{self, Job};
use super::keys;
use crate::sys::process::SingleThreaded;
use crate::sys::redis_server::{env_or_private, redact};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchQueueRequest {
    /// No-op jobs per run of a threaded mode
    pub items: u64,
    /// No-op jobs per run of a `--fork` mode (a process each)
    pub fork_items: u64,
    /// Runs of each mode; the median is reported
    pub runs: usize,
    /// One JSON object on stdout
    pub json: bool,
}

/// One worker mode.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mode {
    pub fork: bool,
    pub fetch: &'static str,
    pub concurrency: u64,
    /// `--batch` (1: none).
    pub batch: u64,
    /// `--fork` fetching ahead (the default; false: `--no-prefetch`).
    pub prefetch: bool,
    /// `--fork -c 2+` starting each child away from the parent's CPU (the default; false:
    /// `--no-spread`).
    pub spread: bool,
}

/// The batch size of the batched modes.
const BATCH: u64 = 50;

impl Mode {
    fn name(&self) -> String {
        if self.fork {
            let ahead = if self.prefetch { "" } else { " no prefetch" };
            let spread = if self.spread || self.concurrency < 2 {
                ""
            } else {
                " no spread"
            };
            format!("fork -c {}{ahead}{spread}", self.concurrency)
        } else if self.batch > 1 {
            format!("threads -c {} batch {}", self.concurrency, self.batch)
        } else {
            format!("threads -c {} {}", self.concurrency, self.fetch)
        }
    }
}

/// Every mode measured, in order.
pub fn modes() -> Vec<Mode> {
    let mode = |fork, fetch, concurrency, batch| Mode {
        fork,
        fetch,
        concurrency,
        batch,
        prefetch: fork,
        spread: fork,
    };
    let mut all = Vec::new();
    for fetch in ["reliable", "basic"] {
        for c in [1, 5, 10] {
            all.push(mode(false, fetch, c, 1));
        }
    }
    for c in [1, 5] {
        all.push(mode(false, "reliable", c, BATCH));
    }
    all.push(Mode {
        prefetch: false,
        ..mode(true, "reliable", 1, 1)
    });
    for c in [1, 2] {
        all.push(mode(true, "reliable", c, 1));
    }
    all.push(Mode {
        spread: false,
        ..mode(true, "reliable", 2, 1)
    });
    all
}

/// The primitives, measured in this run before any worker.
#[derive(Debug, Clone, Serialize)]
pub struct Floors {
    /// fork + `_exit` + waitpid, median.
    pub fork_us: f64,
    /// A PING round trip to this Redis, median.
    pub round_trip_us: f64,
}

/// One mode's figures (medians over the runs).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub mode: String,
    pub fork: bool,
    pub fetch: String,
    pub concurrency: u64,
    pub batch: u64,
    /// `--fork` fetching the next job while the children run.
    pub prefetch: bool,
    /// `--fork -c 2+` starting each child away from the parent's CPU.
    pub spread: bool,
    pub jobs: u64,
    pub busy_s: f64,
    pub jobs_per_s: f64,
    /// Wall time per job over the busy span (all connections together).
    pub per_job_us: f64,
    pub commands_per_job: f64,
    pub round_trips_per_job: f64,
    /// The commands, by name, per job.
    pub commands: HashMap<String, f64>,
    pub worker_cpu_per_job_us: f64,
    pub redis_cpu_per_job_us: f64,
    pub worker_peak_rss_bytes: u64,
    /// `redis-benchmark -t lpop` at the same connection count, if it ran.
    pub lpop_per_s: Option<f64>,
    pub vs_lpop: Option<f64>,
    /// The floor per job: a fork and 2 round trips for `--fork`, one round trip shared by the
    /// connections for threads.
    pub floor_us: f64,
    pub vs_floor: f64,
    /// The floors this row is compared with, measured just before each of its runs (median).
    pub floors: Floors,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub redis: String,
    pub floors: Floors,
    /// Why the redis-benchmark column is empty, if it is.
    pub lpop_skipped: Option<String>,
    pub rows: Vec<Row>,
}

/// `concur bench queue`.
pub fn run(req: &BenchQueueRequest) -> anyhow::Result<()> {
    let (url, _server) = env_or_private()?;
    let (_, mut con) = super::open(&url)?;
    let floors = Floors::measure(&mut con, true)?;
    let (fork_us, round_trip_us) = (floors.fork_us, floors.round_trip_us);
    let dir = crate::sys::private::dir("bench").context("a private dir for the workers' logs")?;
    let queue = format!("bench-{:06x}", fastrand::u32(..0xff_ffff));
    let lpop = RedisBenchmark::find(&url);
    if !req.json {
        eprintln!(
            "concur bench queue: Redis {}, queue {queue}; floors: fork+_exit+waitpid {fork_us:.0} µs, round trip {round_trip_us:.1} µs",
            redact(&url)
        );
        if let Err(why) = &lpop {
            eprintln!("  (no redis-benchmark column: {why})");
        }
    }
    let benches: Vec<ModeBench> = modes()
        .into_iter()
        .map(|mode| ModeBench {
            url: &url,
            queue: &queue,
            dir: dir.path(),
            mode,
            jobs: if mode.fork { req.fork_items } else { req.items },
        })
        .collect();
    // Runs in rounds, every mode once a round: a machine whose speed drifts over the minutes
    // of a bench (other load, the host) then weighs on every mode alike, not on whichever ran
    // last (the same drain of 3,000 jobs measured 241 and 258 µs a job ten minutes apart).
    let mut runs: Vec<Runs> = Vec::new();
    for bench in &benches {
        runs.push(Runs::start(bench, &mut con, &floors)?);
    }
    for round in 1..=req.runs.max(1) {
        if !req.json {
            eprintln!(
                "  round {round} of {}: {} modes",
                req.runs.max(1),
                benches.len()
            );
        }
        for (bench, r) in benches.iter().zip(&mut runs) {
            r.add(bench, &mut con)?;
        }
    }
    let mut rows = Vec::new();
    for (bench, r) in benches.iter().zip(runs) {
        let mut row = r.row(bench);
        if let Ok(rb) = &lpop {
            row.lpop_per_s = rb.lpop(
                bench.mode.concurrency,
                (req.items * 5).clamp(10_000, 200_000),
            );
            row.vs_lpop = row.lpop_per_s.map(|l| row.jobs_per_s / l);
        }
        if !req.json {
            eprintln!("  {:<22} {:>9.0} jobs/s", row.mode, row.jobs_per_s);
        }
        rows.push(row);
    }
    let _: () = redis::cmd("DEL").arg(keys::queue(&queue)).query(&mut con)?;
    let _: () = redis::cmd("SREM")
        .arg(keys::QUEUES)
        .arg(&queue)
        .query(&mut con)?;
    let report = Report {
        redis: redact(&url),
        floors,
        lpop_skipped: lpop.err(),
        rows,
    };
    if req.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

impl Floors {
    /// The round trip on `con`, and (`fork`) the fork floor, measured now.
    fn measure(con: &mut redis::Connection, fork: bool) -> anyhow::Result<Floors> {
        let round_trip_us = median(
            (0..5)
                .map(|_| {
                    crate::app::limits::redis_pings(con, 1000)
                        .map(|d| d.as_secs_f64() * 1e6 / 1000.0)
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        );
        let fork_us = if fork { fork_floor()? } else { 0.0 };
        Ok(Floors {
            fork_us,
            round_trip_us,
        })
    }
}

/// fork + `_exit` + waitpid, median of 5 runs of 200, in µs (this process has no threads: the
/// workers and redis-server are processes of their own).
fn fork_floor() -> anyhow::Result<f64> {
    let forker = SingleThreaded::check().context("measuring the fork floor")?;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..200 {
            let child = forker.fork_bare(|| 0)?;
            nix::sys::wait::waitpid(child, None).context("waitpid")?;
        }
        runs.push(start.elapsed().as_secs_f64() * 1e6 / 200.0);
    }
    Ok(median(runs))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// What the server and the worker's process tree had done at one moment.
#[derive(Debug, Clone, Default)]
struct Counters {
    commands: HashMap<String, u64>,
    reads: u64,
    redis_cpu_s: f64,
    children_cpu_s: f64,
}

impl Counters {
    fn read(con: &mut redis::Connection) -> anyhow::Result<Counters> {
        let info: String = redis::cmd("INFO").arg("everything").query(con)?;
        let mut c = Counters::default();
        for line in info.lines() {
            if let Some(rest) = line.strip_prefix("cmdstat_") {
                let (name, fields) = rest.split_once(':').unwrap_or((rest, ""));
                let calls = fields
                    .split(',')
                    .find_map(|f| f.strip_prefix("calls="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                c.commands.insert(name.to_owned(), calls);
            } else if let Some(n) = line.strip_prefix("total_reads_processed:") {
                c.reads = n.trim().parse().unwrap_or(0);
            } else if let Some(s) = line
                .strip_prefix("used_cpu_user:")
                .or_else(|| line.strip_prefix("used_cpu_sys:"))
            {
                c.redis_cpu_s += s.trim().parse::<f64>().unwrap_or(0.0);
            }
        }
        let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
        let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        c.children_cpu_s = tv(u.user_time()) + tv(u.system_time());
        Ok(c)
    }

    /// What happened from `before` to `self`; the bench's own INFO calls are not counted.
    fn since(&self, before: &Counters) -> Counters {
        let mut commands = HashMap::new();
        for (name, &n) in &self.commands {
            let d = n.saturating_sub(before.commands.get(name).copied().unwrap_or(0));
            if d > 0 && name != "info" {
                commands.insert(name.clone(), d);
            }
        }
        Counters {
            commands,
            // The INFO that ended the span was one read.
            reads: self.reads.saturating_sub(before.reads).saturating_sub(1),
            redis_cpu_s: self.redis_cpu_s - before.redis_cpu_s,
            children_cpu_s: self.children_cpu_s - before.children_cpu_s,
        }
    }
}

/// One worker run's figures.
struct RunFigures {
    busy_s: f64,
    peak_rss_kib: u64,
    counters: Counters,
}

/// One mode to measure on one queue.
struct ModeBench<'a> {
    url: &'a str,
    queue: &'a str,
    dir: &'a Path,
    mode: Mode,
    jobs: u64,
}

/// One mode's runs so far: its empty run, its runs, and the floors measured before each.
struct Runs {
    empty: RunFigures,
    all: Vec<RunFigures>,
    forks: Vec<f64>,
    trips: Vec<f64>,
    /// The floors at the start, for a mode that has not run yet.
    start: Floors,
}

impl Runs {
    /// The mode's empty run (registration, heartbeats, exit: subtracted from each run).
    fn start(
        bench: &ModeBench,
        con: &mut redis::Connection,
        floors: &Floors,
    ) -> anyhow::Result<Runs> {
        Ok(Runs {
            empty: bench.run_worker(con, 0)?,
            all: Vec::new(),
            forks: Vec::new(),
            trips: Vec::new(),
            start: floors.clone(),
        })
    }

    /// One more run, with the floors measured just before it, under the same load.
    fn add(&mut self, bench: &ModeBench, con: &mut redis::Connection) -> anyhow::Result<()> {
        let now = Floors::measure(con, bench.mode.fork)?;
        self.forks.push(now.fork_us);
        self.trips.push(now.round_trip_us);
        self.all.push(bench.run_worker(con, bench.jobs)?);
        Ok(())
    }

    /// The mode's row: its median run, against the median of the floors before its runs.
    fn row(mut self, bench: &ModeBench) -> Row {
        self.all.sort_by(|a, b| a.busy_s.total_cmp(&b.busy_s));
        let floors = if self.forks.is_empty() {
            self.start.clone()
        } else {
            Floors {
                fork_us: median(self.forks),
                round_trip_us: median(self.trips),
            }
        };
        match self.all.get(self.all.len() / 2) {
            Some(mid) => bench.row(mid, &self.empty, &floors),
            None => bench.row(&self.empty, &self.empty, &floors),
        }
    }
}

impl ModeBench<'_> {
    /// The row for the run `r`, minus the empty run `empty`.
    fn row(&self, r: &RunFigures, empty: &RunFigures, floors: &Floors) -> Row {
        let jobs = self.jobs as f64;
        let per = |x: f64| x / jobs;
        let mut commands = HashMap::new();
        for (name, &n) in &r.counters.commands {
            let base = empty.counters.commands.get(name).copied().unwrap_or(0);
            let d = n.saturating_sub(base) as f64 / jobs;
            if d >= 0.001 {
                commands.insert(name.clone(), d);
            }
        }
        let per_job_us = r.busy_s * 1e6 / jobs;
        let floor_us = if self.mode.fork {
            floors.fork_us + 2.0 * floors.round_trip_us
        } else {
            floors.round_trip_us / self.mode.concurrency as f64
        };
        Row {
            mode: self.mode.name(),
            fork: self.mode.fork,
            fetch: self.mode.fetch.into(),
            concurrency: self.mode.concurrency,
            batch: self.mode.batch,
            prefetch: self.mode.prefetch,
            spread: self.mode.spread,
            jobs: self.jobs,
            busy_s: r.busy_s,
            jobs_per_s: if r.busy_s > 0.0 { jobs / r.busy_s } else { 0.0 },
            per_job_us,
            commands_per_job: commands.values().sum(),
            round_trips_per_job: per(r.counters.reads.saturating_sub(empty.counters.reads) as f64),
            commands,
            worker_cpu_per_job_us: per(r.counters.children_cpu_s - empty.counters.children_cpu_s)
                * 1e6,
            redis_cpu_per_job_us: per(r.counters.redis_cpu_s - empty.counters.redis_cpu_s) * 1e6,
            worker_peak_rss_bytes: r.peak_rss_kib * 1024,
            lpop_per_s: None,
            vs_lpop: None,
            floor_us,
            vs_floor: per_job_us / floor_us.max(1e-9),
            floors: floors.clone(),
        }
    }

    /// Enqueue `jobs` no-op jobs, run a worker until the queue is empty, and measure.
    fn run_worker(&self, con: &mut redis::Connection, jobs: u64) -> anyhow::Result<RunFigures> {
        push_noops(con, self.queue, jobs)?;
        let before = Counters::read(con)?;
        let log = self.dir.join("worker.log");
        let mut cmd = Command::new(std::env::current_exe().context("finding concur")?);
        cmd.args([
            "worker",
            "--exit-when-empty",
            "--heartbeat",
            "1",
            "--queues",
        ])
        .arg(self.queue)
        .arg("-c")
        .arg(self.mode.concurrency.to_string())
        .args(["--fetch", self.mode.fetch])
        .args(["--batch", &self.mode.batch.to_string()])
        .args(if self.mode.fork {
            &["--fork"][..]
        } else {
            &[][..]
        })
        .args(if self.mode.fork && !self.mode.prefetch {
            &["--no-prefetch"][..]
        } else {
            &[][..]
        })
        .args(if self.mode.fork && !self.mode.spread {
            &["--no-spread"][..]
        } else {
            &[][..]
        })
        .env("REDIS_URL", self.url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?);
        crate::sys::process::die_with_parent(&mut cmd, nix::sys::signal::Signal::SIGKILL);
        let status = cmd.status().context("running a worker")?;
        let counters = Counters::read(con)?.since(&before);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        anyhow::ensure!(
            status.success(),
            "the worker ({}) failed: {}",
            self.mode.name(),
            text.lines().last().unwrap_or("")
        );
        let exit = text.lines().find(|l| l.contains("exiting:")).unwrap_or("");
        let busy_s = field(exit, "busy ").unwrap_or(0.0);
        let peak_rss_kib = field(exit, "peak RSS ").unwrap_or(0.0) as u64;
        Ok(RunFigures {
            busy_s,
            peak_rss_kib,
            counters,
        })
    }
}

/// The number after `label` in `line`.
fn field(line: &str, label: &str) -> Option<f64> {
    let rest = &line[line.find(label)? + label.len()..];
    rest.split([' ', ';']).next()?.parse().ok()
}

/// `n` NoopJobs on `queue`, 1000 per round trip.
fn push_noops(con: &mut redis::Connection, queue: &str, n: u64) -> anyhow::Result<()> {
    let seed = job::batch_seed();
    let mut i = 0;
    while i < n {
        let chunk: Vec<String> = (i..n.min(i + 1000))
            .map(|k| {
                Job::new(
                    "NoopJob",
                    vec![k.into()],
                    job::jid(&seed, k),
                    queue,
                    true.into(),
                )
                .to_json()
            })
            .collect();
        i += chunk.len() as u64;
        redis::pipe()
            .cmd("SADD")
            .arg(keys::QUEUES)
            .arg(queue)
            .ignore()
            .cmd("LPUSH")
            .arg(keys::queue(queue))
            .arg(chunk)
            .ignore()
            .exec(con)?;
    }
    Ok(())
}

/// `redis-benchmark`, pointed at the same server.
struct RedisBenchmark {
    target: Vec<String>,
}

impl RedisBenchmark {
    /// The tool and how to reach the server, or why the column is skipped.
    fn find(url: &str) -> Result<RedisBenchmark, String> {
        let found = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("redis-benchmark"))
                .find(|p| p.is_file())
        });
        if found.is_none() {
            return Err("redis-benchmark is not installed (it comes with redis-server)".into());
        }
        if url.contains('@') {
            return Err(
                "the Redis URL carries credentials, which redis-benchmark would show in ps".into(),
            );
        }
        let target = if let Some(path) = url.strip_prefix("unix://") {
            vec!["-s".into(), path.into()]
        } else if let Some(rest) = url.strip_prefix("redis://") {
            let hostport = rest.split('/').next().unwrap_or(rest);
            let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "6379"));
            vec!["-h".into(), host.into(), "-p".into(), port.into()]
        } else {
            return Err(format!("cannot point redis-benchmark at {}", redact(url)));
        };
        Ok(RedisBenchmark { target })
    }

    /// LPOPs per second at `connections` connections, `requests` per run (median of 3 runs),
    /// if it ran.
    fn lpop(&self, connections: u64, requests: u64) -> Option<f64> {
        let mut rates = Vec::new();
        for _ in 0..3 {
            let out = Command::new("redis-benchmark")
                .args(&self.target)
                .args(["-t", "lpop", "--csv", "-n"])
                .arg(requests.to_string())
                .arg("-c")
                .arg(connections.to_string())
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().find(|l| l.starts_with("\"LPOP"))?;
            rates.push(line.split(',').nth(1)?.trim_matches('"').parse().ok()?);
        }
        Some(median(rates))
    }
}

/// The report as a table.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<22} {:>9} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8} {:>9} {:>7} {:>8} {:>6}",
        "mode",
        "jobs/s",
        "µs/job",
        "cmd/j",
        "rt/j",
        "cpu/job",
        "redis/j",
        "RSS",
        "lpop/s",
        "vs lpop",
        "floor",
        "x fl"
    );
    for row in &r.rows {
        let lpop = row.lpop_per_s.map_or("-".into(), |l| format!("{l:.0}"));
        let vs = row
            .vs_lpop
            .map_or("-".into(), |v| format!("{:.0}%", v * 100.0));
        let _ = writeln!(
            out,
            "{:<22} {:>9.0} {:>8.1} {:>6.2} {:>6.2} {:>6.1}µs {:>6.1}µs {:>8} {:>9} {:>7} {:>6.1}µs {:>6.2}",
            row.mode,
            row.jobs_per_s,
            row.per_job_us,
            row.commands_per_job,
            row.round_trips_per_job,
            row.worker_cpu_per_job_us,
            row.redis_cpu_per_job_us,
            crate::sys::units::bytes(row.worker_peak_rss_bytes),
            lpop,
            vs,
            row.floor_us,
            row.vs_floor
        );
    }
    let _ = writeln!(
        out,
        "\nfloors at the start: fork+_exit+waitpid {:.0} µs, Redis round trip {:.1} µs; each row's floor is measured again just before each of its runs (floors in --json). floor = fork + 2 round trips for --fork, one round trip / connections for threads.",
        r.floors.fork_us, r.floors.round_trip_us
    );
    let _ = writeln!(
        out,
        "cmd/j, rt/j: Redis commands and round trips per job (INFO commandstats, total_reads_processed), minus an empty run; cpu/job: the worker and its children."
    );
    if let Some(why) = &r.lpop_skipped {
        let _ = writeln!(out, "lpop/s skipped: {why}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_line_gives_the_busy_span_and_the_peak_rss() {
        let line = "concur worker 7: exiting: 20000 processed, 0 failed; busy 0.481313 s (first job fetched to last finished); peak RSS 6272 KiB (job children at most 0 KiB)";
        assert_eq!(field(line, "busy "), Some(0.481313));
        assert_eq!(field(line, "peak RSS "), Some(6272.0));
        assert_eq!(field(line, "nothing "), None);
    }

    #[test]
    fn every_mode_is_measured_once_and_named_apart() {
        let names: Vec<String> = modes().iter().map(Mode::name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(
            modes().iter().all(|m| !(m.fork && m.batch > 1)),
            "no batched fork"
        );
    }

    #[test]
    fn redis_benchmark_is_pointed_at_the_same_server_or_skipped() {
        let Ok(rb) = RedisBenchmark::find("unix:///tmp/x/redis.sock") else {
            return; // redis-benchmark not installed here
        };
        assert_eq!(rb.target, ["-s", "/tmp/x/redis.sock"]);
        let rb = RedisBenchmark::find("redis://127.0.0.1:6390/0").unwrap();
        assert_eq!(rb.target, ["-h", "127.0.0.1", "-p", "6390"]);
        assert!(RedisBenchmark::find("redis://:secret@127.0.0.1:6390").is_err());
    }
}
