//! `concur lesson`: the workshop, delivered like rustlings delivers exercises.
//!
//! Lessons are markdown files in `lessons/`, embedded in the binary (so `cargo install` users have
//! them). Each follows one shape, which this module parses:
//!
//! - `# Title` on the first line;
//! - `## Predict`: the question to answer *before* the demo runs;
//! - code blocks tagged `demo`: one `concur ...` command per line, run live through this binary;
//! - `## Answer`: shown after the demo;
//! - `## Source`: bullet points naming the files that implement the idea (backticked paths).
//!
//! Progress (which lessons are done) lives in `$CONCUR_STATE_DIR`, else `$XDG_STATE_HOME/concur`,
//! else `~/.local/state/concur`, in `progress.json`.

use crate::error::usage;
use anyhow::Context;
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// Every lesson, in workshop order: (file name, text).
pub static LESSONS: &[(&str, &str)] = &[
    (
        "01-sequential.md",
        include_str!("../../lessons/01-sequential.md"),
    ),
    ("02-threads.md", include_str!("../../lessons/02-threads.md")),
    ("03-pool.md", include_str!("../../lessons/03-pool.md")),
    ("04-redis.md", include_str!("../../lessons/04-redis.md")),
    ("05-actors.md", include_str!("../../lessons/05-actors.md")),
    ("06-futures.md", include_str!("../../lessons/06-futures.md")),
    ("07-rpc.md", include_str!("../../lessons/07-rpc.md")),
    ("08-fork.md", include_str!("../../lessons/08-fork.md")),
    (
        "09-tradeoff.md",
        include_str!("../../lessons/09-tradeoff.md"),
    ),
    (
        "10-lost-updates.md",
        include_str!("../../lessons/10-lost-updates.md"),
    ),
    ("11-chaos.md", include_str!("../../lessons/11-chaos.md")),
    ("12-queues.md", include_str!("../../lessons/12-queues.md")),
    (
        "13-seed-systems.md",
        include_str!("../../lessons/13-seed-systems.md"),
    ),
    (
        "14-enqueue-before-commit.md",
        include_str!("../../lessons/14-enqueue-before-commit.md"),
    ),
];

/// A parsed lesson.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub file: &'static str,
    pub title: String,
    pub text: &'static str,
    pub predict: Option<String>,
    pub answer: Option<String>,
    /// Demo commands, without the leading `concur`.
    pub demos: Vec<Vec<String>>,
    pub sources: Vec<String>,
}

/// The body of `## name` up to the next `## ` heading.
fn section(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("\n## {name}\n"))? + name.len() + 5;
    let rest = &text[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned())
}

/// Parse one lesson; an error names what is missing.
pub fn parse(file: &'static str, text: &'static str) -> anyhow::Result<Lesson> {
    let title = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .with_context(|| format!("{file}: the first line must be '# Title'"))?
        .to_owned();
    let mut demos = Vec::new();
    let mut in_demo = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_demo = !in_demo && t == "```demo";
            continue;
        }
        if in_demo && !t.is_empty() && !t.starts_with('#') {
            let command = t.split(" #").next().unwrap_or(t);
            let mut words = command.split_whitespace().map(str::to_owned);
            if words.next().as_deref() != Some("concur") {
                anyhow::bail!("{file}: demo line '{t}' must start with 'concur'");
            }
            demos.push(words.collect());
        }
    }
    let sources = section(text, "Source")
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split('`').nth(1))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Lesson {
        file,
        title,
        text,
        predict: section(text, "Predict"),
        answer: section(text, "Answer"),
        demos,
        sources,
    })
}

/// All lessons, parsed.
pub fn all() -> anyhow::Result<Vec<Lesson>> {
    LESSONS.iter().map(|(f, t)| parse(f, t)).collect()
}

fn state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CONCUR_STATE_DIR") {
        return Some(d.into());
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("concur"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/concur"))
}

fn progress_path() -> anyhow::Result<PathBuf> {
    state_dir()
        .map(|d| d.join("progress.json"))
        .context("no state directory: set CONCUR_STATE_DIR or HOME")
}

/// Lessons done, by file name: none yet without a state dir or a progress file. A progress
/// file that cannot be read or is not a list of lessons is a usage error, never overwritten.
pub fn load_progress() -> anyhow::Result<BTreeSet<String>> {
    let Ok(path) = progress_path() else {
        return Ok(BTreeSet::new());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            let dir = path.parent().unwrap_or(&path).display();
            return usage(format!(
                "the state dir {dir} is not a directory: point CONCUR_STATE_DIR at one"
            ));
        }
        Err(e) => return usage(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_str(&text).or_else(|e| {
        usage(format!(
            "{} is not concur's progress ({e}): fix it, or delete it to start over",
            path.display()
        ))
    })
}

fn save_progress(done: &BTreeSet<String>) -> anyhow::Result<()> {
    let path = progress_path()?;
    if let Some(dir) = path.parent() {
        crate::sys::private::ensure_dir(dir, "the state dir (CONCUR_STATE_DIR)")?;
    }
    crate::sys::private::write(&path, &serde_json::to_vec(done)?)
        .with_context(|| format!("saving progress to {}", path.display()))
}

/// What to do with a lesson's demos.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Demos {
    /// Ask before running (on a terminal); run them off a terminal.
    Ask,
    /// Run them without asking (`--yes`).
    Run,
    /// Show the commands only (`--no-run`).
    Skip,
}

fn render(markdown: &str) {
    if std::io::stdout().is_terminal() {
        termimad::MadSkin::default().print_text(markdown);
    } else {
        // Off a terminal: the markdown itself, with no escape codes.
        println!("{markdown}");
    }
}

fn ask(prompt: &str) -> String {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_owned()
}

/// Run `concur ARGS` as a child of this binary, inheriting the terminal; true if it succeeded.
pub fn run_demo(args: &[String]) -> anyhow::Result<bool> {
    let exe = std::env::current_exe()?;
    let status = std::process::Command::new(exe)
        .args(args)
        .status()
        .with_context(|| format!("running concur {}", args.join(" ")))?;
    Ok(status.success())
}

/// Show lesson `n` (1-based), run its demos, and mark it done.
pub fn show(n: usize, demos: Demos) -> anyhow::Result<()> {
    let lessons = all()?;
    // Before anything is shown: a state dir or progress file in the way is said at once.
    let mut done = load_progress()?;
    let Some(lesson) = lessons.get(n.wrapping_sub(1)) else {
        return usage(format!(
            "there is no lesson {n}; there are {} (concur lesson list)",
            lessons.len()
        ));
    };
    let interactive = std::io::stdin().is_terminal() && demos == Demos::Ask;
    // The text up to the answer: the answer comes after the learner's prediction and the demo.
    let cut = lesson
        .text
        .find("\n## Answer\n")
        .unwrap_or(lesson.text.len());
    render(&lesson.text[..cut]);
    if interactive && lesson.predict.is_some() {
        ask("\nYour prediction (type it, then Enter): ");
    }
    let run = match demos {
        Demos::Skip => false,
        Demos::Run => true,
        Demos::Ask if interactive && !lesson.demos.is_empty() => !ask("Run the demo now? [Y/n] ")
            .to_lowercase()
            .starts_with('n'),
        Demos::Ask => true,
    };
    if run {
        for demo in &lesson.demos {
            eprintln!("\n$ concur {}", demo.join(" "));
            if !run_demo(demo)? {
                eprintln!("(that demo exited with an error)");
            }
        }
    }
    if let Some(answer) = &lesson.answer {
        render(&format!("\n## Answer\n\n{answer}\n"));
    }
    done.insert(lesson.file.to_owned());
    save_progress(&done)?;
    eprintln!(
        "\nLesson {n} done ({} of {}). Next: concur lesson next",
        done.len().min(lessons.len()),
        lessons.len()
    );
    Ok(())
}

/// `concur lesson list`.
pub fn list() -> anyhow::Result<()> {
    let done = load_progress()?;
    for (i, lesson) in all()?.iter().enumerate() {
        let mark = if done.contains(lesson.file) { "x" } else { " " };
        println!("[{mark}] {:>2}  {}", i + 1, lesson.title);
    }
    Ok(())
}

/// The first lesson not done yet, 1-based.
pub fn next_number() -> anyhow::Result<Option<usize>> {
    let done = load_progress()?;
    Ok(all()?
        .iter()
        .position(|l| !done.contains(l.file))
        .map(|i| i + 1))
}

/// `concur lesson [list|next|N] [--yes|--no-run]`.
#[derive(Clone, Debug)]
pub struct LessonRequest {
    /// list, next, or a lesson number.
    pub which: Option<String>,
    pub demos: Demos,
}

/// `concur lesson`.
pub fn command(req: &LessonRequest) -> anyhow::Result<()> {
    let demos = req.demos;
    match req.which.as_deref() {
        None | Some("list") => list(),
        Some("next") => match next_number()? {
            Some(n) => show(n, demos),
            None => {
                println!("Every lesson is done. Start again with: concur lesson 1");
                Ok(())
            }
        },
        Some(n) => match n.parse::<usize>() {
            Ok(n) => show(n, demos),
            Err(_) => usage(format!("'{n}' is not a lesson: use list, next or a number")),
        },
    }
}

/// Plain `concur` on a terminal: a short menu.
pub fn menu() -> anyhow::Result<()> {
    println!("concur: the same jobs, many strategies, measured.\n");
    let items: &[(&str, &[&str])] = &[
        ("watch threads print emoji", &["run", "-s", "threads"]),
        ("compare every strategy", &["compare"]),
        (
            "lose updates to a race",
            &["run", "-s", "threads", "-w", "wallet"],
        ),
        ("measure the primitives (limits)", &["limits"]),
        ("continue the lessons", &["lesson", "next"]),
        ("list strategies and workloads", &["list"]),
    ];
    for (i, (label, args)) in items.iter().enumerate() {
        println!("  {}) {label:<34} concur {}", i + 1, args.join(" "));
    }
    println!("  q) quit                     (concur --help for everything)");
    let choice = ask("\nChoose: ");
    match choice
        .parse::<usize>()
        .ok()
        .and_then(|i| items.get(i.wrapping_sub(1)))
    {
        Some((_, args)) => {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            run_demo(&args)?;
            Ok(())
        }
        None => Ok(()),
    }
}
