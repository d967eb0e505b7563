//! Building an exercise and running its grader.
//!
//! # Why a grader binary per exercise, built by cargo in the exercises' own directory
//! The learner's file is compiled into `exNN`, a small binary of the exercises' package, beside
//! the reference solution and the known wrong answers, all linked to the exercises' toolkit
//! (`kit`). concur itself is never rebuilt: it runs `cargo build --profile exercise --bin exNN`
//! in the exercises' directory (their own target dir), then runs `exNN check VARIANT`, which
//! prints one JSON line per event; concur draws them. A save rebuilds one small binary (under
//! a second here); the toolkit and shuttle are built once. One binary per exercise also means a
//! half-written exercise 5 never stops exercise 2 from building.
//!
//! # Why a process, with a limit
//! The learner's code may deadlock on real threads, or a fork runner may wait for a hung child
//! forever. The grader runs in its own process group with a parent-death signal; each check
//! announces its time limit, and past it concur kills the whole group (children included) and
//! reports the check as hung, drawing the steps it streamed up to the wait that never ended.

use super::catalog::Exercise;
use anyhow::{anyhow, Context};
use serde::Deserialize;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One step of a lane, as the grader drew it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Step {
    pub lane: String,
    pub text: String,
    #[serde(default)]
    pub mark: Option<String>,
}

/// A line of the grader's output.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    Plan {
        checks: Vec<String>,
    },
    Start {
        check: String,
        limit_ms: u64,
    },
    Event {
        lane: String,
        text: String,
        #[serde(default)]
        mark: Option<String>,
    },
    Pending {
        lane: String,
        text: String,
    },
    Check {
        check: String,
        passed: bool,
        summary: String,
        why: Option<String>,
        events: Vec<Step>,
    },
    End {
        passed: bool,
    },
    Bench {
        work: String,
        ops: u64,
        inside_ns: u64,
    },
}

/// What one check found.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub summary: String,
    pub why: Option<String>,
    /// The failing schedule, drawn as lanes.
    pub steps: Vec<Step>,
}

/// Everything the grader said.
#[derive(Clone, Debug, Default)]
pub struct Graded {
    /// Every check the grader meant to run, in order.
    pub plan: Vec<String>,
    pub checks: Vec<CheckResult>,
    pub passed: bool,
}

/// `cargo build` of exercise `ex`'s grader in `dir`; `Err` with cargo's own words when the
/// learner's file does not compile.
pub fn build(dir: &Path, ex: &Exercise) -> anyhow::Result<PathBuf> {
    let target = super::place::target_dir(dir);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "--profile", "exercise", "--bin", &ex.bin()])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!(crate::error::Error::Usage(
                    "cargo is not installed: the exercises are Rust, built with cargo (https://rustup.rs)".into()
                ))
            } else {
                anyhow!("running cargo: {e}")
            }
        })?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.replace("graders/../", "");
        let errors: Vec<&str> = said
            .lines()
            .filter(|l| !l.trim_start().starts_with("Compiling") && !l.contains("Blocking waiting"))
            .collect();
        anyhow::bail!(
            "exercise {} does not build:\n{}",
            ex.number,
            errors.join("\n")
        );
    }
    Ok(target.join("exercise").join(ex.bin()))
}

/// The grader's command for `args`, in its own process group, dying with us.
pub fn command(bin: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0);
    crate::sys::process::die_with_parent(&mut cmd, nix::sys::signal::Signal::SIGKILL);
    cmd
}

/// A check being run, as streamed so far.
#[derive(Default)]
struct Running {
    name: String,
    limit: Duration,
    steps: Vec<Step>,
    pending: Vec<(String, String)>,
}

/// Run `bin check VARIANT` and collect what it says; a check past its limit is stopped and
/// reported hung.
pub fn run(bin: &Path, variant: &str, env: &[(String, String)]) -> anyhow::Result<Graded> {
    let mut cmd = command(bin, &["check", variant], env);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running {}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(parsed) = serde_json::from_str::<Line>(&line) {
                if tx.send(parsed).is_err() {
                    return;
                }
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut graded = Graded::default();
    let mut current: Option<(Running, Instant)> = None;
    let finished = loop {
        let wait = current
            .as_ref()
            .map(|(r, at)| (r.limit + Duration::from_millis(500)).saturating_sub(at.elapsed()))
            .unwrap_or(Duration::from_secs(60));
        match lines.recv_timeout(wait) {
            Ok(line) => {
                if let Some(done) = take(line, &mut graded, &mut current) {
                    break done;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break false,
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
        }
    };
    // The grader exits by itself after its last line; past a limit, or dead early, stop it.
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    if !finished {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
    let status = child.wait().context("waiting for the grader")?;
    let said = errors.join().unwrap_or_default();
    if !finished {
        graded.passed = false;
        graded
            .checks
            .push(unfinished(current.map(|(r, _)| r), &status, &said));
    }
    Ok(graded)
}

/// Fold one line into what is known; `Some(passed)` at the end.
fn take(line: Line, graded: &mut Graded, current: &mut Option<(Running, Instant)>) -> Option<bool> {
    match line {
        Line::Plan { checks } => graded.plan = checks,
        Line::Start { check, limit_ms } => {
            *current = Some((
                Running {
                    name: check,
                    limit: Duration::from_millis(limit_ms),
                    ..Running::default()
                },
                Instant::now(),
            ));
        }
        Line::Event { lane, text, mark } => {
            if let Some((r, _)) = current {
                r.pending.retain(|(l, _)| *l != lane);
                r.steps.push(Step { lane, text, mark });
            }
        }
        Line::Pending { lane, text } => {
            if let Some((r, _)) = current {
                r.pending.retain(|(l, _)| *l != lane);
                r.pending.push((lane, text));
            }
        }
        Line::Check {
            check,
            passed,
            summary,
            why,
            events,
        } => {
            *current = None;
            graded.checks.push(CheckResult {
                name: check,
                passed,
                summary,
                why,
                steps: events,
            });
        }
        Line::End { passed } => {
            graded.passed = passed;
            return Some(true);
        }
        Line::Bench { .. } => {}
    }
    None
}

/// The check that never reported: hung past its limit, or its grader died.
fn unfinished(
    running: Option<Running>,
    status: &std::process::ExitStatus,
    said: &str,
) -> CheckResult {
    use std::os::unix::process::ExitStatusExt;
    let Some(r) = running else {
        let last = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return CheckResult {
            name: "the grader".into(),
            passed: false,
            summary: format!("the grader ended without a verdict ({status})"),
            why: Some(format!("it said: {last}")),
            steps: Vec::new(),
        };
    };
    let mut steps = r.steps;
    for (lane, text) in r.pending {
        steps.push(Step {
            lane,
            text: format!("{text} …"),
            mark: Some("✗ still waiting at the time limit".into()),
        });
    }
    let killed_by_us = status.signal() == Some(libc::SIGKILL);
    CheckResult {
        name: r.name,
        passed: false,
        summary: if killed_by_us {
            format!(
                "still running after {}: stopped",
                crate::sys::units::seconds(r.limit.as_secs_f64())
            )
        } else {
            format!("the grader died during this check ({status})")
        },
        why: Some(if killed_by_us {
            format!(
                "it did not finish within {}: something waits forever (a wait with no timeout? a deadlock? a loop?)",
                crate::sys::units::seconds(r.limit.as_secs_f64())
            )
        } else {
            said.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no last words")
                .to_owned()
        }),
        steps,
    }
}

/// What a benchmark run printed about itself: what it did, and its own time.
pub fn bench_line(stdout: &[u8]) -> Option<(String, u64, u64)> {
    String::from_utf8_lossy(stdout).lines().find_map(|l| {
        match serde_json::from_str::<Line>(l).ok()? {
            Line::Bench {
                work,
                ops,
                inside_ns,
            } => Some((work, ops, inside_ns)),
            _ => None,
        }
    })
}
