//! `concur run`: check the request, measure it in a child, print what happened.

use crate::cli::{RunArgs, MAX_WRITES};
use crate::error::usage;
use crate::harness::{self, Measurement, Stream};
use crate::strategy::spec::{RunSpec, Workload};
use crate::strategy::{self, threads};
use crate::sys::units::{bytes, seconds};
use crate::workload::emoji;
use crate::workload::fault::FaultSpec;
use std::fmt::Write;

/// Turn command-line arguments into a spec, or say in one line why they make no sense.
pub fn spec_from_args(args: &RunArgs) -> anyhow::Result<RunSpec> {
    let Some(info) = strategy::find(&args.strategy) else {
        return usage(format!(
            "unknown strategy '{}' (valid: {})",
            args.strategy,
            strategy::names()
        ));
    };
    let redis_url = redis_url(args, info.name)?;
    if redis_url.is_none() {
        if let Some(why) = (info.unavailable)() {
            return usage(format!("strategy '{}' cannot run here: {why}", info.name));
        }
    }
    let items = args.items.unwrap_or(args.workload.default_items());
    let workers = match (info.default_workers, args.workers) {
        (Some(default), w) => w.map(|w| w as usize).unwrap_or(default),
        (None, Some(_)) => {
            return usage(format!(
            "--workers does not apply to '{}', which {}; use -s pool --workers N for a fixed pool",
            info.name,
            if info.name == "sequential" {
                "runs one job at a time"
            } else {
                "starts one thread per job"
            }
        ))
        }
        (None, None) if info.name == "sequential" => 1,
        (None, None) => items as usize,
    };
    if info.name == "threads" && items > threads::MAX_THREADS {
        return usage(format!(
            "'threads' starts one thread per job and stops at {} (got --items {items}); use -s pool",
            threads::MAX_THREADS
        ));
    }
    if args.workload == Workload::Emoji {
        if items > emoji::MAX_ITEMS {
            return usage(format!(
                "emoji has {} distinct items (U+1F400..U+1F7FF); got --items {items}",
                emoji::MAX_ITEMS
            ));
        }
        if items * args.knobs.repeat > MAX_WRITES {
            return usage(format!(
                "--items {items} x --repeat {} is {} writes; the limit is {MAX_WRITES}",
                args.knobs.repeat,
                items * args.knobs.repeat
            ));
        }
    }
    if let Some(sync) = args.sync {
        if args.workload != Workload::Wallet {
            return usage(format!(
                "--sync {} applies to the wallet workload only (add -w wallet)",
                sync.name()
            ));
        }
        if !info.syncs.contains(&sync) {
            let valid: Vec<_> = info.syncs.iter().map(|s| s.name()).collect();
            return usage(format!(
                "'{}' does not do --sync {}; it does: {}",
                info.name,
                sync.name(),
                valid.join(", ")
            ));
        }
    }
    if args.chaos.fault.is_some() && info.name == crate::strategy::redis::INFO.name {
        return usage("--fault is not wired into -s redis (its jobs are JSON in Redis); try fork, rpc, threads, pool, rayon, actors, futures or sequential");
    }
    if let Some(avail) = mem_available_mb() {
        if args.app_mb > avail {
            return usage(format!(
                "--app-mb {} is more than this machine has available ({avail} MiB)",
                args.app_mb
            ));
        }
    }
    Ok(RunSpec {
        strategy: info.name.to_owned(),
        workload: args.workload,
        workers,
        items,
        repeat: args.knobs.repeat,
        pause_us: args.knobs.pause_us,
        sync: args.sync.unwrap_or(info.syncs[0]),
        app_mb: args.app_mb,
        cost: args.knobs.cost,
        wait_ms: args.knobs.wait_ms,
        redis_url,
        batch: args.batch.unwrap_or(1),
        fault: args.chaos.fault.map(|fault| FaultSpec {
            fault,
            every: args.chaos.every,
            leak_mb: args.chaos.leak_mb,
        }),
        job_timeout_ms: args.chaos.job_timeout.map(|d| d.as_millis().max(1) as u64),
        shutdown_timeout_ms: args.chaos.shutdown_timeout.as_millis().max(1) as u64,
    })
}

/// `-s redis`: the server's URL from `--redis-url` or else `REDIS_URL`, checked now (it must
/// parse and answer within seconds); `None` means a private server. Other strategies take no
/// Redis flags.
fn redis_url(args: &RunArgs, strategy: &str) -> anyhow::Result<Option<String>> {
    use crate::strategy::redis;
    if !crate::strategy::presets::uses_redis(strategy) {
        return match (&args.redis_url, args.batch) {
            (Some(_), _) => {
                usage("--redis-url applies to -s redis only (and the presets sidekiq and resque)")
            }
            (_, Some(_)) => usage("--batch applies to -s redis only (and its preset sidekiq)"),
            _ => Ok(None),
        };
    }
    if strategy == "resque" && args.batch.is_some() {
        return usage(
            "--batch applies to -s redis only (and its preset sidekiq): resque pops one job per fork",
        );
    }
    let (url, source) = match &args.redis_url {
        Some(url) => (url.clone(), "--redis-url"),
        None => match crate::sys::redis_server::env_url() {
            Some(url) => (url, "REDIS_URL"),
            None => return Ok(None),
        },
    };
    match redis::check_url(&url, source) {
        Ok(()) => Ok(Some(url)),
        Err(why) => usage(why),
    }
}

/// MemAvailable from /proc/meminfo, in MiB.
fn mem_available_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// `concur run`.
pub fn run(args: &RunArgs) -> anyhow::Result<Measurement> {
    let spec = spec_from_args(args)?;
    let stream = if args.json || args.quiet {
        Stream::Discard
    } else {
        Stream::Show
    };
    if spec
        .fault
        .is_some_and(|f| f.fault == crate::workload::fault::Fault::Hang)
        && spec.job_timeout_ms.is_none()
    {
        eprintln!(
            "concur: --fault hang without --job-timeout: the faulty jobs never return, so this run \
             ends only at Ctrl-C (then running jobs get --shutdown-timeout to finish)"
        );
    }
    let m = harness::measure(&spec, stream)?;
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        eprint!("{}", summary(&m));
    }
    // A stopped run has printed what it did; its exit code says it did not finish.
    harness::stopped_error(&m)?;
    Ok(m)
}

/// The human summary of one run.
pub fn summary(m: &Measurement) -> String {
    let mut out = String::new();
    let sync = if m.expected_balance.is_some() {
        format!(" · sync {}", m.sync)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "concur: {} · {} · {} jobs · {} worker{}{sync}{}",
        m.strategy,
        m.workload.name(),
        m.jobs,
        m.workers,
        if m.workers == 1 { "" } else { "s" },
        if m.app_mb > 0 {
            format!(" · app {} MiB", m.app_mb)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "  wall      {}  (work {} inside the child)",
        seconds(m.wall_s),
        seconds(m.work_s)
    );
    let _ = writeln!(
        out,
        "  cpu       user {}  sys {}",
        seconds(m.cpu_user_s),
        seconds(m.cpu_sys_s)
    );
    let _ = writeln!(
        out,
        "  memory    peak RSS {}  peak PSS {}  (whole process tree)",
        bytes(m.peak_rss_bytes),
        bytes(m.peak_pss_bytes)
    );
    let _ = writeln!(
        out,
        "  tree      peak {} thread{}, {} process{}",
        m.peak_threads,
        if m.peak_threads == 1 { "" } else { "s" },
        m.peak_processes,
        if m.peak_processes == 1 { "" } else { "es" }
    );
    if let Some(f) = &m.fault {
        let rss = if m.rss_start_bytes > 0 {
            format!(
                "own RSS {} before the jobs, {} after",
                bytes(m.rss_start_bytes),
                bytes(m.rss_end_bytes)
            )
        } else {
            "own RSS unknown (the run never reported)".into()
        };
        let _ = writeln!(
            out,
            "  chaos     --fault {} in 1 job of {}; {rss}",
            f.fault.name(),
            f.every
        );
    }
    if let Some(s) = m.hang_detected_s {
        let _ = writeln!(
            out,
            "  hang      {} job{} past --job-timeout, the first found after {}",
            m.jobs_timed_out,
            if m.jobs_timed_out == 1 { "" } else { "s" },
            seconds(s)
        );
    }
    let _ = writeln!(out, "  rate      {:.0} jobs/s", m.jobs_per_s);
    let mark = if m.correct { "ok  " } else { "FAIL" };
    let _ = writeln!(out, "  check     {mark} {}", m.check);
    for note in &m.notes {
        let _ = writeln!(out, "  note      {note}");
    }
    for f in m.failures.iter().take(5) {
        let _ = writeln!(out, "  failed    {f}");
    }
    if m.failures.len() > 5 {
        let _ = writeln!(out, "  failed    ... and {} more", m.failures.len() - 5);
    }
    if !m.correct && m.lost_updates.unwrap_or(0) > 0 {
        let _ = writeln!(
            out,
            "  why       read, pause, write is not atomic: another job wrote in between; try --sync {}",
            crate::strategy::find(&m.strategy)
                .and_then(|s| s.syncs.iter().find(|x| x.name() != "none"))
                .map(|s| s.name())
                .unwrap_or("mutex")
        );
    }
    out
}
