//! The story for people: a table of the variants, one losing trial drawn as lanes (one per
//! actor, time flowing down, as `race` draws its wallet), and what each fix costs.

use super::world::{Fix, Lane, Mark};
use super::{Report, Row, Timeline};
use std::fmt::Write;

/// Width of one lane of the timeline.
const LANE_WIDTH: usize = 30;
/// Events shown per timeline (all of them are in `--json`).
const MAX_EVENTS: usize = 20;

/// The whole text of `race --story`.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let how = match r.mode {
        "threads" => "on threads, real time: the race may or may not happen (--schedule forces it)"
            .to_owned(),
        "forced" => {
            "forced schedule on a virtual clock: an idle worker is there first, every trial"
                .to_owned()
        }
        _ => format!(
            "seed {}: interleavings drawn on a virtual clock, the same on every machine",
            r.seed.unwrap_or(0)
        ),
    };
    let _ = writeln!(
        out,
        "Enqueue before commit: {} trial{} of {} request{} (a user and its welcome job each), {} \
         worker{}, {} µs between the enqueue and COMMIT\n({how})\n",
        r.trials,
        plural(r.trials),
        r.items,
        plural(r.items),
        r.workers,
        plural(r.workers as u64),
        r.pause_us
    );
    table(&mut out, &r.rows);
    for t in &r.timelines {
        out.push('\n');
        out.push_str(&timeline(t));
    }
    out.push_str("\nWhat each way costs:\n");
    for row in &r.rows {
        let _ = writeln!(out, "  - {}", verdict(row, &r.rows));
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn table(out: &mut String, rows: &[Row]) {
    let mut t = crate::sys::table::Table::new([
        "how the job reaches a worker",
        "jobs",
        "no row",
        "lost",
        "retries",
        "COMMIT→run",
    ])
    .right(&[1, 2, 3, 4, 5])
    .indent(2);
    for r in rows {
        let delay = r
            .commit_to_run_us
            .map(|us| format!("{us:.0} µs"))
            .unwrap_or_else(|| "-".into());
        t.row([
            r.label.clone(),
            r.jobs.to_string(),
            r.no_row.to_string(),
            r.lost.to_string(),
            r.retries.to_string(),
            delay,
        ]);
    }
    out.push_str(&t.render());
    let _ = writeln!(
        out,
        "  (no row: a job looked its user up before COMMIT; lost: a committed user whose job never ran)"
    );
}

/// The lanes of `t`: app, relay (if it took part), then each worker.
fn lanes(t: &Timeline) -> Vec<Lane> {
    let mut lanes = vec![Lane::App];
    if t.events.iter().any(|e| e.lane == Lane::Relay) {
        lanes.push(Lane::Relay);
    }
    let workers = t
        .events
        .iter()
        .filter_map(|e| match e.lane {
            Lane::Worker(n) => Some(n),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    lanes.extend((1..=workers).map(Lane::Worker));
    lanes
}

fn lane_name(l: Lane) -> String {
    match l {
        Lane::App => "app".into(),
        Lane::Relay => "relay".into(),
        Lane::Worker(n) => format!("W{n}"),
    }
}

fn timeline(t: &Timeline) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Trial {} of \"{}\": one lane per actor, time flows down",
        t.trial, t.label
    );
    let lanes = lanes(t);
    let mut head = format!("  {:>9}  ", "t (µs)");
    for l in &lanes {
        head.push_str(&format!("{:<LANE_WIDTH$}", lane_name(*l)));
    }
    let _ = writeln!(out, "{}", head.trim_end());
    for e in t.events.iter().take(MAX_EVENTS) {
        let column = lanes.iter().position(|l| *l == e.lane).unwrap_or(0);
        let pad = " ".repeat(LANE_WIDTH * column);
        let _ = writeln!(out, "  {:>9.1}  {pad}{}", e.t_us, e.what);
    }
    if t.events.len() > MAX_EVENTS {
        let _ = writeln!(
            out,
            "  ... {} more events (all of them are in --json)",
            t.events.len() - MAX_EVENTS
        );
    }
    if let Some(why) = explain(t) {
        let _ = writeln!(out, "  {why}");
    }
    out
}

/// The first bad event of `t`, explained against the app's COMMIT that came after it.
fn explain(t: &Timeline) -> Option<String> {
    let bad = t.events.iter().position(|e| e.mark == Mark::Bad)?;
    let e = &t.events[bad];
    if e.lane == Lane::App {
        return Some(
            "✗ the user is committed, its job was to be enqueued next: the process died in \
             between, and nothing remembers the job"
                .into(),
        );
    }
    let commit = t.events[bad..]
        .iter()
        .find(|c| c.lane == Lane::App && c.what == "COMMIT")?;
    Some(format!(
        "✗ {} looked the user up at {:.1} µs; the app committed it at {:.1} µs: the job ran before its row existed",
        lane_name(e.lane),
        e.t_us,
        commit.t_us
    ))
}

/// One line on what `row` shows and costs; `rows` for comparisons.
fn verdict(row: &Row, rows: &[Row]) -> String {
    let after_commit = rows
        .iter()
        .find(|r| r.fix == Fix::AfterCommit && !r.crash)
        .and_then(|r| r.commit_to_run_us);
    let crash = if row.crash {
        " even though the app died after a COMMIT"
    } else {
        ""
    };
    match row.fix {
        Fix::InTransaction => format!(
            "after_create: {} of {} jobs looked before COMMIT and found no row; {} lost (in {} of {} trials)",
            row.no_row, row.jobs, row.lost, row.losing_trials, row.trials
        ),
        Fix::AfterCommit if row.crash => format!(
            "after_commit, crash: {} job{} never enqueued, {} lost: the user exists, its welcome never will (and Rails swallows after_commit's errors)",
            row.never_enqueued,
            plural(row.never_enqueued),
            row.lost
        ),
        Fix::AfterCommit => format!(
            "after_commit: {} early, {} lost: right order, as long as the process lives from COMMIT to the enqueue",
            row.no_row, row.lost
        ),
        Fix::RetryOnMissing => format!(
            "retry on RecordNotFound: {} lost, paid with {} failed lookups, {} retries and {} from COMMIT to run{}",
            row.lost,
            row.no_row,
            row.retries,
            us(row.commit_to_run_us),
            after_commit
                .map(|a| format!(" (after_commit: {})", us(Some(a))))
                .unwrap_or_default()
        ),
        Fix::Outbox => format!(
            "outbox: {} early, {} lost{crash}: the job row commits with the user or not at all; the cost is a relay (and a job it may push twice if it dies between push and delete)",
            row.no_row, row.lost
        ),
        Fix::DelayedJob => format!(
            "DelayedJob: {} early, {} lost{crash}: the queue is the app's database, so workers claim only committed rows; the cost is a write per claim on that database",
            row.no_row, row.lost
        ),
    }
}

fn us(v: Option<f64>) -> String {
    v.map(|us| format!("{us:.0} µs"))
        .unwrap_or_else(|| "-".into())
}
