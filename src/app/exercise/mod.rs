//! `concur exercise`: the learner writes the fix, concur proves it and measures it.
//!
//! Lessons show; exercises make the learner *do*, as rustlings does: a small file with a broken
//! or unfinished body (`exercises/NN_*.rs`), a statement at its top and a hint at its end;
//! `check` builds it and grades it; `watch` re-checks on every save; progress is kept beside
//! the lessons'. What concur adds is the grading: every schedule of the threads that matter
//! (shuttle's model checker, or concur's own turn-taking gate for Redis commands), real-thread
//! trials, chaos faults (crashing, panicking and hung jobs, a worker killed at every command),
//! and the cost against the reference solution measured by the harness. A failure is drawn as
//! lanes, one per thread, the way `concur race` draws a lost update.
//!
//! The parts: [`catalog`] (the exercises and their files, embedded), [`place`] (the directory
//! on disk: find it, write it out, reset a file), [`grade`] (cargo, and the grader binary's
//! output), [`cost`] (the benchmarks through the harness), [`render`], [`progress`], [`watch`].

pub mod catalog;
pub mod cost;
pub mod grade;
pub mod place;
pub mod progress;
pub mod render;
mod watch;

use crate::error::usage;
use catalog::{Exercise, EXERCISES};
use progress::{Passed, Progress};
use std::path::{Path, PathBuf};

/// `concur exercise [WORDS...]`, as asked.
#[derive(Clone, Debug, Default)]
pub struct ExerciseRequest {
    /// `list`, `N`, `check N`, `watch [N]`, `hint N`, `reset N`, `init DIR`, or nothing.
    pub words: Vec<String>,
    /// `--dir DIR`: where the exercises are.
    pub dir: Option<PathBuf>,
    /// `--variant`: grade the reference solution or a known wrong answer instead of the
    /// learner's file (the test suite proves each exercise gradable this way).
    pub variant: Option<String>,
    /// `--no-cost`: skip the benchmarks.
    pub no_cost: bool,
}

/// What the words ask for.
#[derive(Clone, Debug, PartialEq)]
enum Action {
    Next,
    List,
    Show(usize),
    Check(usize),
    Watch(Option<usize>),
    Hint(usize),
    Reset(usize),
    Init(PathBuf),
}

const WORDS: &str = "list, N, check N, watch [N], hint N, reset N or init DIR";

fn parse(words: &[String]) -> anyhow::Result<Action> {
    let number = |w: &str| -> anyhow::Result<usize> {
        match w.parse::<usize>() {
            Ok(n) if catalog::get(n).is_some() => Ok(n),
            _ => usage(format!(
                "there is no exercise '{w}': they are numbered 1 to {} (concur exercise list)",
                EXERCISES.len()
            )),
        }
    };
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match w.as_slice() {
        [] => Action::Next,
        ["list"] => Action::List,
        ["check", n] => Action::Check(number(n)?),
        ["watch"] => Action::Watch(None),
        ["watch", n] => Action::Watch(Some(number(n)?)),
        ["hint", n] => Action::Hint(number(n)?),
        ["reset", n] => Action::Reset(number(n)?),
        ["init", dir] => Action::Init(PathBuf::from(dir)),
        [n] if n.chars().all(|c| c.is_ascii_digit()) => Action::Show(number(n)?),
        ["check" | "hint" | "reset"] => {
            return usage(format!(
                "'{}' needs an exercise number, e.g. concur exercise {} 1",
                w[0], w[0]
            ))
        }
        ["init"] => return usage("init needs a directory: concur exercise init DIR"),
        _ => {
            return usage(format!(
                "'{}' is not something concur exercise does: {WORDS}",
                w.join(" ")
            ))
        }
    })
}

/// `concur exercise`.
pub fn command(req: &ExerciseRequest) -> anyhow::Result<()> {
    if let Some(v) = &req.variant {
        if !["learner", "solution", "wrong"].contains(&v.as_str()) {
            return usage(format!(
                "--variant is learner, solution or wrong, not '{v}'"
            ));
        }
    }
    match parse(&req.words)? {
        Action::Next => next(req),
        Action::List => list(req),
        Action::Show(n) => show(req, exercise(n)),
        Action::Check(n) => match check(req, exercise(n))? {
            true => Ok(()),
            false => anyhow::bail!("exercise {n} does not pass yet"),
        },
        Action::Watch(n) => watch::watch(req, n),
        Action::Hint(n) => hint(exercise(n)),
        Action::Reset(n) => reset(req, exercise(n)),
        Action::Init(dir) => init(&dir),
    }
}

fn exercise(n: usize) -> &'static Exercise {
    catalog::get(n).expect("numbers are checked when parsed")
}

/// The first exercise not passed yet.
fn first_undone() -> Option<&'static Exercise> {
    let p = Progress::load();
    EXERCISES.iter().find(|e| !p.done(e.slug))
}

fn next(req: &ExerciseRequest) -> anyhow::Result<()> {
    match first_undone() {
        Some(ex) => show(req, ex),
        None => {
            println!("Every exercise passes. Try them again (concur exercise reset N), or race them: concur race --help");
            Ok(())
        }
    }
}

fn list(req: &ExerciseRequest) -> anyhow::Result<()> {
    let p = Progress::load();
    let mut table = crate::sys::table::Table::new(["", "#", "exercise", "lesson", "time", "file"])
        .right(&[1])
        .nowrap(&[5]);
    for e in EXERCISES {
        let lessons: Vec<String> = e.lessons.iter().map(usize::to_string).collect();
        table.row([
            if p.done(e.slug) { "[x]" } else { "[ ]" }.to_owned(),
            e.number.to_string(),
            e.title.to_owned(),
            lessons.join(", "),
            format!("{} min", e.minutes),
            e.file(),
        ]);
    }
    print!("{}", table.render());
    match place::locate(req.dir.as_deref()) {
        Ok(dir) => println!(
            "\nThe files are in {}. Check one: concur exercise check N",
            dir.display()
        ),
        Err(_) => println!("\n{}", place::HOW_TO_GET_THEM),
    }
    Ok(())
}

/// The learner's file as it is on disk, if the exercises are at hand.
fn on_disk(req: &ExerciseRequest, ex: &Exercise) -> Option<(PathBuf, String)> {
    let dir = place::locate(req.dir.as_deref()).ok()?;
    let path = dir.join(ex.file());
    std::fs::read_to_string(&path).ok().map(|t| (path, t))
}

fn show(req: &ExerciseRequest, ex: &Exercise) -> anyhow::Result<()> {
    let (path, text) = match on_disk(req, ex) {
        Some((p, t)) => (Some(p), t),
        None => (None, ex.stub().to_owned()),
    };
    println!("{}\n", place::statement(&text));
    match path {
        Some(p) => println!(
            "Edit {}, then: concur exercise check {n}  (or: concur exercise watch {n})",
            p.display(),
            n = ex.number
        ),
        None => println!("{}", place::HOW_TO_GET_THEM),
    }
    Ok(())
}

fn hint(ex: &Exercise) -> anyhow::Result<()> {
    match place::hint(ex.stub()) {
        Some(h) => println!("Hint for exercise {} ({}):\n\n{h}", ex.number, ex.title),
        None => println!("Exercise {} has no hint.", ex.number),
    }
    Ok(())
}

fn reset(req: &ExerciseRequest, ex: &Exercise) -> anyhow::Result<()> {
    let dir = place::locate(req.dir.as_deref())?;
    let backup = place::reset(&dir, ex)?;
    let path = dir.join(ex.file());
    match backup {
        Some(b) => println!(
            "{} is back as shipped; yours is kept in {}",
            path.display(),
            b.display()
        ),
        None => println!("{} is as shipped", path.display()),
    }
    Ok(())
}

fn init(dir: &Path) -> anyhow::Result<()> {
    place::init(dir)?;
    println!(
        "Wrote {} exercises to {}. Next: cd {} && concur exercise",
        EXERCISES.len(),
        dir.display(),
        dir.display()
    );
    println!("(the first check builds their toolkit: a minute or two; needs cargo, and redis-server for exercise 8)");
    Ok(())
}

/// Build and grade `ex`; print everything; record a learner's pass. Whether it passed.
pub(crate) fn check(req: &ExerciseRequest, ex: &Exercise) -> anyhow::Result<bool> {
    let variant = req.variant.as_deref().unwrap_or("learner");
    let dir = place::locate(req.dir.as_deref())?;
    let file = dir.join(ex.variant_file(variant));
    print!("{}", render::heading(ex, &file.display().to_string()));
    let source = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(_) => {
            return usage(format!(
                "{} is missing: `concur exercise reset {}` writes it back",
                file.display(),
                ex.number
            ))
        }
    };
    if let Some((line, code, why)) = place::rule_break(ex, &source) {
        print!(
            "{}",
            render::rule(&ex.variant_file(variant), line, &code, why)
        );
        return Ok(false);
    }
    if !place::target_dir(&dir)
        .join("exercise")
        .join(ex.bin())
        .exists()
    {
        println!("  building (the first build compiles the exercises' toolkit and its dependencies: a minute or two)");
    }
    let bin = match grade::build(&dir, ex) {
        Ok(bin) => bin,
        Err(e) if crate::error::is_usage(&e) => return Err(e),
        Err(e) => {
            println!("  ✗ {e:#}");
            return Ok(false);
        }
    };
    let (_server, env) = redis_env(ex)?;
    let graded = grade::run(&bin, variant, &env)?;
    print!("{}", render::checks(&graded));
    if !graded.passed {
        println!("\n  Stuck? concur exercise hint {}", ex.number);
        return Ok(false);
    }
    let cost = if req.no_cost {
        None
    } else {
        match cost::measure(&bin, variant, &env)? {
            Ok(c) => {
                print!("{}", render::cost(&c));
                Some(c)
            }
            Err(why) => {
                println!("  ✗ cost: {why}");
                return Ok(false);
            }
        }
    };
    if variant == "learner" {
        passed(ex, cost.as_ref())?;
    }
    Ok(true)
}

/// The grader's environment, and the private redis-server it names (kept alive while used).
type GraderEnv = (
    Option<crate::sys::redis_server::PrivateServer>,
    Vec<(String, String)>,
);

/// A private redis-server for an exercise that needs one, and the grader's environment.
fn redis_env(ex: &Exercise) -> anyhow::Result<GraderEnv> {
    if !ex.redis {
        return Ok((None, Vec::new()));
    }
    if crate::sys::redis_server::find_server().is_none() {
        return usage(format!(
            "exercise {} runs against a private redis-server, and redis-server is not installed (apt-get install redis-server, or brew install redis)",
            ex.number
        ));
    }
    let server = crate::sys::redis_server::PrivateServer::start()?;
    let env = vec![("CONCUR_EXERCISE_REDIS".to_owned(), server.url().to_owned())];
    Ok((Some(server), env))
}

fn passed(ex: &Exercise, cost: Option<&cost::Cost>) -> anyhow::Result<()> {
    Progress::record(
        ex.slug,
        Passed {
            at: crate::sys::time::fmt_time(crate::sys::time::now()),
            wall_s: cost.map(|c| c.yours.wall_s),
            reference_wall_s: cost.map(|c| c.reference.wall_s),
        },
    )?;
    let p = Progress::load();
    let done = EXERCISES.iter().filter(|e| p.done(e.slug)).count();
    let next = first_undone()
        .map(|e| format!("Next: concur exercise {}", e.number))
        .unwrap_or_else(|| "That was the last one.".into());
    println!(
        "\n  Exercise {} passes ({done} of {} done). {next}",
        ex.number,
        EXERCISES.len()
    );
    Ok(())
}
