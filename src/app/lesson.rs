//! `concur lesson`: the workshop, delivered like rustlings delivers exercises, except that the
//! learner commits to a prediction first and concur grades it against a measurement.
//!
//! Lessons are markdown files in `lessons/`, embedded in the binary (so `cargo install` users have
//! them). Each follows one shape, which this module parses:
//!
//! - `# Title` on the first line, then the idea, with the demo commands shown (not yet run);
//! - `## Predict`: the question, and an `answer` block saying what kind of answer it takes and
//!   how the demos' own output measures it ([`answer`]);
//! - more sections (`## Why`, `## The fixes`, ...) with more demos, shown after the prediction;
//! - code blocks tagged `demo`: one `concur ...` command per line, run live through this binary;
//! - `## Answer`: shown after the demos, beside "you said X, measured Y";
//! - `## Source`: bullet points naming the files that implement the idea (backticked paths).
//!
//! Nothing that gives the answer away comes before the question: the text before `## Predict` is
//! shown first, then the question is asked (an empty answer is not accepted), then every demo
//! runs in order, each section after its demos, and the verdict last. Progress ([`progress`])
//! records the prediction and the run; a lesson is done only with both.

mod answer;
mod menu;
mod progress;

pub use answer::{AnswerSpec, Kind, Prediction};
pub use menu::menu;
pub use progress::{state_dir, Progress, Record};

use crate::error::usage;
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;

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
    (
        "15-deadlock.md",
        include_str!("../../lessons/15-deadlock.md"),
    ),
];

/// One demo command: its arguments (without `concur`), and the exit code that means it did what
/// the lesson shows (0, or what its comment says: `# exits 130` for a Ctrl-C demo).
#[derive(Debug, Clone, PartialEq)]
pub struct Demo {
    pub args: Vec<String>,
    pub exit: i32,
}

/// A part of a lesson's text: prose, or a block of demo commands.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// The demos of one block, by number (0-based into [`Lesson::demos`]), and the block as
    /// written (comments and all).
    Demos(Vec<usize>, String),
}

/// A `## Name` section, split into parts.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub parts: Vec<Part>,
}

/// A parsed lesson.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub file: &'static str,
    pub title: String,
    pub text: &'static str,
    /// The question, in prose (without its `answer` block).
    pub predict: Option<String>,
    /// The answer block, parsed.
    pub spec: Option<AnswerSpec>,
    pub answer: Option<String>,
    /// Demo commands, in order.
    pub demos: Vec<Demo>,
    pub sources: Vec<String>,
    /// The text before `## Predict` (intro first, named "").
    pub before: Vec<Section>,
    /// The sections after `## Predict`, except Answer and Source.
    pub after: Vec<Section>,
}

/// Split `body` into prose and demo blocks, numbering the demos from `demos.len()`.
fn parts(file: &str, body: &str, demos: &mut Vec<Demo>) -> anyhow::Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut block: Option<(Vec<usize>, String)> = None;
    for line in body.lines() {
        let t = line.trim();
        match (&mut block, t.starts_with("```")) {
            (None, true) if t == "```demo" => {
                if !text.trim().is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                text.clear();
                block = Some((Vec::new(), String::new()));
            }
            (Some(_), true) => {
                let (numbers, raw) = block.take().unwrap_or_default();
                parts.push(Part::Demos(numbers, raw));
            }
            (Some((numbers, raw)), false) => {
                raw.push_str(line);
                raw.push('\n');
                if !t.is_empty() && !t.starts_with('#') {
                    let (command, comment) = t.split_once(" #").unwrap_or((t, ""));
                    let mut words = command.split_whitespace().map(str::to_owned);
                    if words.next().as_deref() != Some("concur") {
                        anyhow::bail!("{file}: demo line '{t}' must start with 'concur'");
                    }
                    let exit = comment
                        .split_whitespace()
                        .skip_while(|w| *w != "exits")
                        .nth(1)
                        .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
                        .unwrap_or(0);
                    numbers.push(demos.len());
                    demos.push(Demo {
                        args: words.collect(),
                        exit,
                    });
                }
            }
            (None, _) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    if !text.trim().is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// The lesson's `## ` sections in order, the intro first (named "").
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out = vec![(String::new(), String::new())];
    for line in text.lines().skip(1) {
        match line.strip_prefix("## ") {
            Some(name) => out.push((name.trim().to_owned(), String::new())),
            None => {
                let body = &mut out.last_mut().expect("the intro").1;
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    out
}

/// The `answer` block of the Predict section, and the prose around it.
fn split_answer(body: &str) -> (String, Option<String>) {
    let Some(start) = body.find("```answer\n") else {
        return (body.trim().to_owned(), None);
    };
    let rest = &body[start + "```answer\n".len()..];
    let end = rest.find("```").unwrap_or(rest.len());
    let prose = format!("{}{}", &body[..start], rest.get(end + 3..).unwrap_or(""));
    (prose.trim().to_owned(), Some(rest[..end].to_owned()))
}

/// Parse one lesson; an error names what is missing or wrong.
pub fn parse(file: &'static str, text: &'static str) -> anyhow::Result<Lesson> {
    let title = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .with_context(|| format!("{file}: the first line must be '# Title'"))?
        .to_owned();
    let mut lesson = Lesson {
        file,
        title,
        text,
        predict: None,
        spec: None,
        answer: None,
        demos: Vec::new(),
        sources: Vec::new(),
        before: Vec::new(),
        after: Vec::new(),
    };
    for (name, body) in sections(text) {
        match name.as_str() {
            "Predict" => {
                let (prose, block) = split_answer(&body);
                lesson.predict = Some(prose);
                if let Some(block) = block {
                    lesson.spec = Some(
                        AnswerSpec::parse(&block)
                            .with_context(|| format!("{file}: the answer block"))?,
                    );
                }
            }
            "Answer" => lesson.answer = Some(body.trim().to_owned()),
            "Source" => {
                lesson.sources = body
                    .lines()
                    .filter_map(|l| l.split('`').nth(1))
                    .map(str::to_owned)
                    .collect();
            }
            _ => {
                let section = Section {
                    name: name.clone(),
                    parts: parts(file, &body, &mut lesson.demos)?,
                };
                if lesson.predict.is_none() {
                    lesson.before.push(section);
                } else {
                    lesson.after.push(section);
                }
            }
        }
    }
    Ok(lesson)
}

impl Lesson {
    /// Its number: the file's (`10-lost-updates.md` is lesson 10), so a lesson keeps its
    /// number when another is added before it.
    pub fn number(&self) -> usize {
        self.file
            .split('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// All lessons, parsed.
pub fn all() -> anyhow::Result<Vec<Lesson>> {
    LESSONS.iter().map(|(f, t)| parse(f, t)).collect()
}

/// What to do with a lesson's demos.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Demos {
    /// Ask before running (on a terminal); run them off a terminal.
    Ask,
    /// Run them without asking (`--yes`).
    Run,
    /// Show the lesson only (`--no-run`): nothing asked, run or recorded.
    Skip,
}

/// `concur lesson [list|next|N] [--yes|--no-run] [--room] [--predict ANSWER]`.
#[derive(Clone, Debug)]
pub struct LessonRequest {
    /// list, next, or a lesson number.
    pub which: Option<String>,
    pub demos: Demos,
    /// Facilitator mode: big output, the room's prediction from the presenter, no progress.
    pub room: bool,
    /// The prediction, given on the command line instead of asked for.
    pub predict: Option<String>,
}

/// `concur lesson`.
pub fn command(req: &LessonRequest) -> anyhow::Result<()> {
    match req.which.as_deref() {
        None | Some("list") => list(),
        Some("next") => match next_number()? {
            Some(n) => show(n, req),
            None => {
                println!("Every lesson is done. Start again with: concur lesson 1");
                Ok(())
            }
        },
        Some(n) => match n.parse::<usize>() {
            Ok(n) => show(n, req),
            Err(_) => usage(format!("'{n}' is not a lesson: use list, next or a number")),
        },
    }
}

/// How a showing looks: plain markdown, a styled terminal, or big for a room.
struct Screen {
    styled: bool,
    room: bool,
}

impl Screen {
    fn markdown(&self, text: &str) {
        if self.styled {
            termimad::MadSkin::default().print_text(text);
        } else {
            // Off a terminal: the markdown itself, with no escape codes.
            println!("{}", text.trim_end());
        }
    }

    /// A heading the back of a room can read.
    fn banner(&self, text: &str) {
        if self.room {
            let wide: String = text.to_uppercase().chars().flat_map(|c| [c, ' ']).collect();
            let rule = "━".repeat(wide.chars().count().clamp(20, 100));
            println!("\n{rule}\n  {wide}\n{rule}\n");
        } else {
            self.markdown(&format!("\n## {text}\n"));
        }
    }

    fn section(&self, s: &Section, shown_demos: bool) {
        if !s.name.is_empty() {
            self.banner(&s.name);
        }
        for p in &s.parts {
            match p {
                Part::Text(t) => self.markdown(t),
                Part::Demos(_, raw) if shown_demos => self.markdown(&format!("```\n{raw}```")),
                Part::Demos(..) => {}
            }
        }
    }
}

fn ask(prompt: &str) -> Option<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}

/// Run `concur ARGS` as a child of this binary, inheriting the terminal; true if it succeeded.
/// With `json_to`, the command also writes its `--json` object there.
pub fn run_demo(args: &[String], json_to: Option<&std::path::Path>) -> anyhow::Result<bool> {
    Ok(run_demo_code(args, json_to)? == Some(0))
}

/// The same, returning the exit code (`None`: killed by a signal).
pub fn run_demo_code(
    args: &[String],
    json_to: Option<&std::path::Path>,
) -> anyhow::Result<Option<i32>> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args);
    match json_to {
        Some(path) => cmd.env(crate::app::JSON_TO, path),
        None => cmd.env_remove(crate::app::JSON_TO),
    };
    let status = cmd
        .status()
        .with_context(|| format!("running concur {}", args.join(" ")))?;
    Ok(status.code())
}

/// The learner's (or the room's) prediction: from `--predict`, else asked until it is one.
fn predict(
    spec: &AnswerSpec,
    req: &LessonRequest,
    screen: &Screen,
) -> anyhow::Result<Option<Prediction>> {
    if let Some(text) = &req.predict {
        return spec
            .read(text)
            .map(Some)
            .or_else(|why| usage(format!("--predict: {why}")));
    }
    if req.demos != Demos::Ask {
        return Ok(None);
    }
    let who = if screen.room {
        "The room's prediction"
    } else {
        "Your prediction"
    };
    loop {
        let prompt = spec.prompt().replacen("Your prediction", who, 1);
        let Some(line) = ask(&format!("\n{prompt}")) else {
            return usage(
                "no prediction given (stdin closed): answer the question, or use --predict ANSWER, --yes (run without predicting) or --no-run",
            );
        };
        match spec.read(&line) {
            Ok(p) => return Ok(Some(p)),
            Err(why) => eprintln!("  {why}; try again"),
        }
    }
}

/// Show lesson `n` (its number): the text up to the question, the question, the demos and the rest
/// in order, the verdict, the answer; record it (not in room mode or with `--no-run`).
pub fn show(n: usize, req: &LessonRequest) -> anyhow::Result<()> {
    let lessons = all()?;
    let Some(lesson) = lessons.iter().find(|l| l.number() == n) else {
        let numbers: Vec<String> = lessons.iter().map(|l| l.number().to_string()).collect();
        return usage(format!(
            "there is no lesson {n}; there are {} (concur lesson list)",
            numbers.join(", ")
        ));
    };
    let screen = Screen {
        styled: std::io::stdout().is_terminal(),
        room: req.room,
    };
    // Read the record first: an unreadable progress file stops here, before anything is asked.
    let mut progress = if req.room || req.demos == Demos::Skip {
        Progress::default()
    } else {
        Progress::load()?
    };
    if req.room {
        screen.banner(&lesson.title);
    } else {
        screen.markdown(&format!("# {}", lesson.title));
    }
    for s in &lesson.before {
        screen.section(s, true);
    }
    if req.demos == Demos::Skip {
        return show_only(n, lesson, &screen);
    }
    let prediction = question(lesson, req, &screen, &mut progress)?;
    let interactive = std::io::stdin().is_terminal() && req.demos == Demos::Ask && !req.room;
    if interactive
        && ask("\nRun the demos now? [Y/n] ").is_some_and(|a| a.to_lowercase().starts_with('n'))
    {
        eprintln!(
            "\nYour prediction is saved; the lesson is done once its demos run: concur lesson {n} --yes"
        );
        return Ok(());
    }
    let ran = run_all(lesson, &screen)?;
    let verdict = grade(lesson, prediction.as_ref(), &ran, &screen);
    if let Some(answer) = &lesson.answer {
        screen.banner("Answer");
        screen.markdown(answer);
    }
    if !lesson.sources.is_empty() {
        screen.banner("Source");
        let list: String = lesson
            .sources
            .iter()
            .map(|s| format!("- `{s}`\n"))
            .collect();
        screen.markdown(&list);
    }
    if req.room {
        return Ok(());
    }
    let mut record = progress.get(lesson.file);
    record.ran_at = Some(crate::sys::time::fmt_time(crate::sys::time::now()));
    (record.measured, record.unmeasured) = match verdict {
        Ok(m) => (m, None),
        Err(why) => (None, Some(why)),
    };
    progress
        .lessons
        .insert(lesson.file.to_owned(), record.clone());
    progress.save()?;
    closing(n, &lessons, &progress, &record);
    Ok(())
}

/// The question, and the prediction to grade: a new one (asked, or `--predict`), recorded at
/// once (outside room mode); else the one recorded earlier (`--yes` after predicting and
/// declining to run), if any.
fn question(
    lesson: &Lesson,
    req: &LessonRequest,
    screen: &Screen,
    progress: &mut Progress,
) -> anyhow::Result<Option<Prediction>> {
    if let Some(q) = &lesson.predict {
        screen.banner("Predict");
        screen.markdown(q);
    }
    let Some(spec) = &lesson.spec else {
        return Ok(None);
    };
    let Some(p) = predict(spec, req, screen)? else {
        return Ok(progress.get(lesson.file).prediction.filter(|_| !req.room));
    };
    if !req.room {
        let record = Record {
            said: Some(spec.show(&p)),
            prediction: Some(p.clone()),
            predicted_at: Some(crate::sys::time::fmt_time(crate::sys::time::now())),
            ..Record::default()
        };
        progress.lessons.insert(lesson.file.to_owned(), record);
        progress.save()?;
    }
    Ok(Some(p))
}

/// `--no-run`: the rest of the lesson as text; nothing asked, run or recorded.
fn show_only(n: usize, lesson: &Lesson, screen: &Screen) -> anyhow::Result<()> {
    if let Some(q) = &lesson.predict {
        screen.banner("Predict");
        screen.markdown(q);
        if let Some(spec) = &lesson.spec {
            if let answer::Kind::Choice(options) = &spec.kind {
                screen.markdown(
                    &options
                        .iter()
                        .map(|c| format!("- {}) {}\n", c.key, c.text))
                        .collect::<String>(),
                );
            }
        }
    }
    for s in &lesson.after {
        screen.section(s, true);
    }
    if let Some(answer) = &lesson.answer {
        screen.banner("Answer");
        screen.markdown(answer);
    }
    eprintln!("\n(shown, not done: concur lesson {n} asks for your prediction and runs the demos)");
    Ok(())
}

/// What the demos of one showing did.
struct Ran {
    dir: tempfile::TempDir,
    ok: Vec<bool>,
}

/// Run every demo in order: first those shown before the question, then each later section
/// with its demos in place. Each writes its JSON into a private directory for grading.
fn run_all(lesson: &Lesson, screen: &Screen) -> anyhow::Result<Ran> {
    let dir = tempfile::Builder::new()
        .prefix("concur-lesson-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("a private directory for the demos' results")?;
    let mut ok = vec![false; lesson.demos.len()];
    let mut run = |numbers: &[usize]| -> anyhow::Result<()> {
        for &i in numbers {
            let demo = &lesson.demos[i];
            eprintln!("\n$ concur {}", demo.args.join(" "));
            let json = dir.path().join(format!("demo-{}.json", i + 1));
            let code = run_demo_code(&demo.args, Some(&json))?;
            ok[i] = code == Some(demo.exit);
            if !ok[i] {
                eprintln!("(that demo exited with an error)");
            }
        }
        Ok(())
    };
    for s in &lesson.before {
        for p in &s.parts {
            if let Part::Demos(numbers, _) = p {
                run(numbers)?;
            }
        }
    }
    for s in &lesson.after {
        if !s.name.is_empty() {
            screen.banner(&s.name);
        }
        for p in &s.parts {
            match p {
                Part::Text(t) => screen.markdown(t),
                Part::Demos(numbers, _) => run(numbers)?,
            }
        }
    }
    Ok(Ran { dir, ok })
}

/// "You said X; measured Y": the verdict, shown and returned (an error says why nothing could be
/// measured).
fn grade(
    lesson: &Lesson,
    prediction: Option<&Prediction>,
    ran: &Ran,
    screen: &Screen,
) -> Result<Option<answer::Measured>, String> {
    let Some(spec) = &lesson.spec else {
        return Ok(None);
    };
    let Some(p) = prediction else {
        eprintln!("\n(no prediction: nothing to grade)");
        return Ok(None);
    };
    let args: Vec<Vec<String>> = lesson.demos.iter().map(|d| d.args.clone()).collect();
    let demos = answer::Demos {
        dir: ran.dir.path(),
        args: &args,
        ok: &ran.ok,
    };
    let said = spec.show(p);
    let who = if screen.room {
        "The room said"
    } else {
        "You said"
    };
    match spec.grade(p, &demos) {
        Ok(m) => {
            let mark = if m.right {
                "✓ right"
            } else {
                "✗ not this time"
            };
            screen.banner("Verdict");
            println!("{who} {said}; {}: {mark}", m.shown);
            Ok(Some(m))
        }
        Err(why) => {
            screen.banner("Verdict");
            println!("{who} {said}; not measured: {why:#}");
            Err(format!("{why:#}"))
        }
    }
}

/// The closing line: done or not, and the score so far.
fn closing(n: usize, lessons: &[Lesson], progress: &Progress, record: &Record) {
    let done = lessons.iter().filter(|l| progress.done(l.file)).count();
    let (right, graded) = score(lessons, progress);
    if record.done() {
        eprintln!(
            "\nLesson {n} done ({done} of {} lessons done; {right} of {graded} predictions right). Next: concur lesson next",
            lessons.len()
        );
    } else {
        eprintln!(
            "\nLesson {n} ran, but is not done: it needs your prediction too (concur lesson {n}, or --predict ANSWER)"
        );
    }
}

/// Predictions graded right, and graded at all, over done lessons.
fn score(lessons: &[Lesson], progress: &Progress) -> (usize, usize) {
    let graded: Vec<bool> = lessons
        .iter()
        .map(|l| progress.get(l.file))
        .filter(Record::done)
        .filter_map(|r| r.right())
        .collect();
    (graded.iter().filter(|r| **r).count(), graded.len())
}

/// `concur lesson list`: each lesson with its state, then the score.
pub fn list() -> anyhow::Result<()> {
    let progress = Progress::load()?;
    let lessons = all()?;
    for lesson in &lessons {
        let r = progress.get(lesson.file);
        let mark = match (r.done(), r.prediction.is_some() || r.ran_at.is_some()) {
            (true, _) => "x",
            (false, true) => "~",
            _ => " ",
        };
        let note = match (&r.said, &r.measured, r.done()) {
            (Some(said), Some(m), true) => format!(
                "  you said {said}; {} {}",
                m.shown.split(" (right").next().unwrap_or(&m.shown),
                if m.right { "✓" } else { "✗" }
            ),
            (Some(said), None, true) => format!("  you said {said}; not measured"),
            (Some(said), _, false) => format!("  you said {said}; demos not run yet"),
            (None, _, false) if r.ran_at.is_some() => "  ran, no prediction yet".to_owned(),
            _ => String::new(),
        };
        println!("[{mark}] {:>2}  {}{note}", lesson.number(), lesson.title);
    }
    let done = lessons.iter().filter(|l| progress.done(l.file)).count();
    let (right, graded) = score(&lessons, &progress);
    println!(
        "\n{done} of {} lessons done; {right} of {graded} predictions right",
        lessons.len()
    );
    Ok(())
}

/// The number of the first lesson not done yet.
pub fn next_number() -> anyhow::Result<Option<usize>> {
    let progress = Progress::load()?;
    Ok(all()?
        .iter()
        .find(|l| !progress.done(l.file))
        .map(Lesson::number))
}
