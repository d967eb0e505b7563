//! The summary `concur run` prints on stderr, and the unit formatting every report shares.

use crate::measure::Measurement;
use std::fmt::Write;

/// 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// 0.0123 -> "12.3 ms".
pub fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(2.5), "2.50 s");
        assert_eq!(seconds(0.000_05), "50 µs");
    }
}
