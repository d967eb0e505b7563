//! What a grader prints: one JSON object per line on stdout, read by `concur exercise check`.
//!
//! | `type` | fields |
//! |---|---|
//! | `plan` | `checks`: the names of the checks about to run, in order |
//! | `start` | `check`, `limit_ms`: a check begins; concur stops the grader past the limit |
//! | `event` | `lane`, `text`, `mark`: a step of a streaming check, as it happens |
//! | `pending` | `lane`, `text`: a streaming check's lane is blocked in a step |
//! | `check` | `check`, `passed`, `summary`, `why`, `events` (`lane`, `text`, `mark`) |
//! | `end` | `passed` |
//! | `bench` | `work`, `ops`, `inside_ns` |
//!
//! Hand-written (no serde): a few lines of escaping keep the exercises' first build small.

use crate::trace::{self, Event};
use std::io::Write;

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(string).unwrap_or_else(|| "null".into())
}

/// Print one line and flush it (a grader may be stopped at any moment).
pub fn line(json: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{json}");
    let _ = out.flush();
}

fn event_json(e: &Event, named: bool) -> String {
    format!(
        "{{\"lane\":{},\"text\":{},\"mark\":{}}}",
        string(&e.lane),
        string(&e.shown(named)),
        opt(&e.mark)
    )
}

/// A streaming check's step.
pub fn event_line(e: &Event) {
    let body = event_json(e, true);
    line(&format!("{{\"type\":\"event\",{}", &body[1..]));
}

/// A streaming check's lane is blocked in `what`.
pub fn pending_line(lane: &str, what: &str) {
    line(&format!(
        "{{\"type\":\"pending\",\"lane\":{},\"text\":{}}}",
        string(lane),
        string(what)
    ));
}

/// The checks about to run.
pub fn plan_line(checks: &[&str]) {
    let names: Vec<String> = checks.iter().map(|c| string(c)).collect();
    line(&format!(
        "{{\"type\":\"plan\",\"checks\":[{}]}}",
        names.join(",")
    ));
}

/// A check begins.
pub fn start_line(check: &str, limit_ms: u128) {
    line(&format!(
        "{{\"type\":\"start\",\"check\":{},\"limit_ms\":{limit_ms}}}",
        string(check)
    ));
}

/// What a check found.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub passed: bool,
    /// One line: what was tried and what came of it (`all 10 schedules end at 100`).
    pub summary: String,
    /// Why it failed, in the learner's terms.
    pub why: Option<String>,
    /// The steps that led to the failure (a schedule drawn as lanes).
    pub events: Vec<Event>,
}

impl Outcome {
    pub fn pass(summary: impl Into<String>) -> Outcome {
        Outcome {
            passed: true,
            summary: summary.into(),
            why: None,
            events: Vec::new(),
        }
    }

    pub fn fail(summary: impl Into<String>, why: impl Into<String>, events: Vec<Event>) -> Outcome {
        Outcome {
            passed: false,
            summary: summary.into(),
            why: Some(why.into()),
            events,
        }
    }
}

/// A check's result.
pub fn check_line(check: &str, o: &Outcome) {
    let named = trace::needs_names(&o.events);
    let events: Vec<String> = o.events.iter().map(|e| event_json(e, named)).collect();
    line(&format!(
        "{{\"type\":\"check\",\"check\":{},\"passed\":{},\"summary\":{},\"why\":{},\"events\":[{}]}}",
        string(check),
        o.passed,
        string(&o.summary),
        opt(&o.why),
        events.join(",")
    ));
}

/// The grade is complete.
pub fn end_line(passed: bool) {
    line(&format!("{{\"type\":\"end\",\"passed\":{passed}}}"));
}

/// A benchmark ran `ops` operations of `work` in `inside_ns` (its own clock; concur also
/// measures the whole process from outside).
pub fn bench_line(work: &str, ops: u64, inside_ns: u128) {
    line(&format!(
        "{{\"type\":\"bench\",\"work\":{},\"ops\":{ops},\"inside_ns\":{inside_ns}}}",
        string(work)
    ));
}
