//! `concur exercise`: every exercise is solvable (its reference solution passes, cost measured)
//! and gradable (the untouched stub and a plausible wrong answer fail, each with the schedule
//! that breaks it drawn as lanes); the files are embedded as they are on disk; `init`, `hint`,
//! `reset`, progress and `watch` do what they say; errors are one line and exit 2.
//!
//! The exercises are written out once (`concur exercise init`) into a directory under cargo's
//! test temp dir and built there with a target dir of their own, so a second `cargo test` only
//! rebuilds what changed. Verdicts come from the model checker's exhaustive or seeded search
//! and from forced Redis schedules: deterministic, with no timing asserted.

use crate::common::{concur, procs, redis};
use concur::app::exercise::{catalog, place};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// Where the exercises are built (kept between runs).
fn target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("exercises-target")
}

/// The shared, pristine copy of the exercises: written by `concur exercise init` into a fresh
/// directory, then copied file by file over the shared one where they differ (so cargo sees
/// unchanged files as unchanged).
fn shared() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let fresh = tempfile::tempdir().unwrap();
        let written = fresh.path().join("ex");
        let out = concur(&["exercise", "init"])
            .arg(&written)
            .output()
            .unwrap();
        assert!(out.status.success(), "init: {}", text(&out));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exercises-shared");
        sync(&written, &dir);
        dir
    })
}

/// Make `to` hold exactly the files of `from`, touching only those that differ.
fn sync(from: &Path, to: &Path) {
    let mut wanted = Vec::new();
    walk(from, from, &mut wanted);
    for rel in &wanted {
        let (src, dst) = (from.join(rel), to.join(rel));
        let new = std::fs::read(&src).unwrap();
        if std::fs::read(&dst).ok().as_deref() != Some(&new[..]) {
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::write(&dst, new).unwrap();
        }
    }
    let mut present = Vec::new();
    if to.exists() {
        walk(to, to, &mut present);
    }
    for rel in present.iter().filter(|r| !wanted.contains(r)) {
        std::fs::remove_file(to.join(rel)).unwrap();
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `concur exercise ARGS --dir DIR`, with a private state dir and the shared target dir.
fn exercise_in(dir: &Path, state: &Path, args: &[&str]) -> Output {
    let mut cmd = concur(&["exercise"]);
    cmd.args(args)
        .arg("--dir")
        .arg(dir)
        .env("CONCUR_STATE_DIR", state)
        .env(place::TARGET_ENV, target())
        .env_remove(place::DIR_ENV);
    cmd.output().unwrap()
}

/// `concur exercise check N [--variant V]` on the shared copy.
fn check(n: usize, variant: &str) -> (bool, String) {
    let state = tempfile::tempdir().unwrap();
    let n = n.to_string();
    let mut args = vec!["check", &n, "--variant", variant];
    if variant != "solution" {
        args.push("--no-cost");
    }
    let out = exercise_in(shared(), state.path(), &args);
    let said = text(&out);
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "check {n} {variant}: exit 0 or 1, got {code:?}:\n{said}"
    );
    (out.status.success(), said)
}

/// The lanes of the drawn schedule: the header's lane names, and each row's text.
fn lanes(said: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = said
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("step "));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no schedule drawn in:\n{said}"));
    // Columns are two spaces apart; a lane's name may hold one (`worker 1`).
    let names = header
        .split("  ")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .skip(1)
        .map(str::to_owned)
        .collect();
    let rows = lines
        .take_while(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.trim().to_owned())
        .collect();
    (names, rows)
}

/// A failure with the schedule that breaks it: not passed, `why` said, these lanes drawn, and
/// every `step` among the drawn steps.
fn assert_broken(n: usize, variant: &str, why: &str, lanes_drawn: &[&str], steps: &[&str]) {
    let (passed, said) = check(n, variant);
    assert!(!passed, "exercise {n} ({variant}) must fail:\n{said}");
    assert!(said.contains('✗'), "a failed check is marked:\n{said}");
    assert!(
        said.contains(why),
        "exercise {n} ({variant}) says {why:?}:\n{said}"
    );
    let (names, rows) = lanes(&said);
    for lane in lanes_drawn {
        assert!(
            names.iter().any(|n| n == lane),
            "exercise {n} ({variant}): lane {lane} drawn, got {names:?}:\n{said}"
        );
    }
    for step in steps {
        assert!(
            rows.iter().any(|r| r.contains(step)),
            "exercise {n} ({variant}): step {step:?} drawn:\n{said}"
        );
    }
}

/// The solution passes every check, and its cost is measured beside the reference.
fn assert_solved(n: usize) {
    let (passed, said) = check(n, "solution");
    assert!(passed, "exercise {n}'s solution must pass:\n{said}");
    assert!(!said.contains('✗'), "no check fails:\n{said}");
    assert!(!said.contains("not run"), "every check ran:\n{said}");
    for word in ["cost of", "yours", "reference", "peak RSS"] {
        assert!(
            said.contains(word),
            "exercise {n}: the cost says {word:?}:\n{said}"
        );
    }
}

#[test]
fn exercise_1_mutex_wallet_then_a_learner_solves_it() {
    assert_broken(
        1,
        "learner",
        "expected 100",
        &["W1", "W2"],
        &["load → 100", "✗ written from a stale read"],
    );
    assert_broken(
        1,
        "wrong",
        "expected 100",
        &["W1", "W2"],
        &["unlock ← 100", "lock → 110"],
    );
    assert_solved(1);
    // Only this test touches exercise 1's learner file (the others grade other binaries).
    a_learner_solves_exercise_1(shared());
}

#[test]
fn exercise_2_atomic_wallet() {
    assert_broken(
        2,
        "learner",
        "expected 100",
        &["W1", "W2"],
        &["store ← 110", "store ← 90"],
    );
    assert_broken(
        2,
        "wrong",
        "expected 100",
        &["W1", "W2"],
        &["compare_exchange", "✗ failed, and the deposit was given up"],
    );
    assert_solved(2);
}

#[test]
fn exercise_3_actor() {
    assert_broken(3, "learner", "not yet implemented", &["W1"], &["panics"]);
    assert_broken(
        3,
        "wrong",
        "a deposit was lost",
        &["W1", "W2", "actor"],
        &["Get(", "Set("],
    );
    assert_solved(3);
}

#[test]
fn exercise_4_pool() {
    assert_broken(4, "learner", "unbounded", &["main"], &["send ← job 1"]);
    assert_broken(
        4,
        "wrong",
        "deadlock",
        &["main", "worker 1", "worker 2"],
        &["join worker 1 …", "✗ waits forever"],
    );
    assert_solved(4);
}

#[test]
fn exercise_5_idempotent() {
    assert_broken(
        5,
        "learner",
        "charged 3 times",
        &["W1", "W2", "W3"],
        &["✗ charged twice"],
    );
    assert_broken(
        5,
        "wrong",
        "charged 2 times",
        &["W1", "W2"],
        &["is_done(j7) → false", "✗ charged twice"],
    );
    assert_solved(5);
}

#[test]
fn exercise_6_transfer() {
    assert_broken(
        6,
        "learner",
        "deadlock",
        &["W1", "W2"],
        &["lock A …", "lock B …", "✗ waits forever"],
    );
    assert_broken(
        6,
        "wrong",
        "counted 190",
        &["W1", "auditor"],
        &["unlock A ← 90", "✗ money in flight"],
    );
    assert_solved(6);
}

#[test]
fn exercise_7_fork_runner() {
    // The stub waits for the hung job: the kit knows that job never ends, and says so at once.
    assert_broken(
        7,
        "learner",
        "that wait never returns",
        &["runner", "children"],
        &[
            "killed by signal 6 (SIGABRT)",
            "wait job 5 …",
            "✗ waits forever",
        ],
    );
    assert_broken(
        7,
        "wrong",
        "zombie",
        &["runner", "children"],
        &["✗ never waited for: a zombie"],
    );
    assert_solved(7);
}

/// A grader that hangs past its check's limit is stopped from outside, its forked child with
/// it, and what it streamed is drawn up to the wait that never ended.
#[test]
fn a_grader_that_hangs_is_stopped_with_its_children() {
    let tag = procs::fresh_tag();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = concur(&["exercise", "check", "7", "--no-cost", "--dir"]);
    cmd.arg(shared())
        .env("CONCUR_STATE_DIR", state.path())
        .env(place::TARGET_ENV, target())
        .env("CONCUR_EXERCISE_TEST_HANG", "1")
        .env("CONCUR_TEST_TAG", &tag);
    let out = cmd.output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("a check that hangs: still running after 300.0 ms: stopped"),
        "{said}"
    );
    assert!(said.contains("it did not finish within"), "{said}");
    let (names, rows) = lanes(&said);
    assert_eq!(names, ["runner", "children"], "{said}");
    assert!(
        rows.iter().any(|r| r.contains("fork job 1 (Hang)")),
        "{said}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("sleep forever …")
                && r.contains("✗ still waiting at the time limit")),
        "{said}"
    );
    let left = procs::processes_with_env("CONCUR_TEST_TAG", &tag);
    assert!(
        left.is_empty(),
        "the grader and its child are gone: {left:?}"
    );
}

#[test]
fn exercise_8_reliable_fetch() {
    // concur starts its own private redis-server; this only finds out whether one can run.
    if redis::test_redis("exercise_8_reliable_fetch").is_none() {
        return;
    }
    assert_broken(
        8,
        "learner",
        "j2 was never performed",
        &["W1", "W2", "reaper"],
        &["RPOP queue → j2", "💥 killed (kill -9)"],
    );
    assert_broken(
        8,
        "wrong",
        "never performed",
        &["W1", "reaper"],
        &["killed (kill -9) before: LPUSH processing:W1"],
    );
    assert_solved(8);
}

/// The learner's way through exercise 1: the solution saved into the learner's file passes
/// (offline, once built) and is recorded, `list` and `exercise` move on, `reset` puts the stub
/// back and keeps the work, and `watch` checks the stub, then re-checks on save.
fn a_learner_solves_exercise_1(dir: &Path) {
    let state = tempfile::tempdir().unwrap();
    let ex = |args: &[&str]| exercise_in(dir, state.path(), args);
    let file = dir.join("01_mutex_wallet.rs");
    let stub = std::fs::read_to_string(&file).unwrap();
    let solution = std::fs::read_to_string(dir.join("solutions/01_mutex_wallet.rs")).unwrap();

    std::fs::write(&file, &solution).unwrap();
    let mut cmd = concur(&["exercise", "check", "1", "--no-cost", "--dir"]);
    cmd.arg(dir)
        .env("CONCUR_STATE_DIR", state.path())
        .env(place::TARGET_ENV, target())
        .env("CARGO_NET_OFFLINE", "true");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Exercise 1 passes (1 of 8 done). Next: concur exercise 2"));
    let saved = std::fs::read_to_string(state.path().join("exercises.json")).unwrap();
    assert!(saved.contains("01_mutex_wallet"), "{saved}");

    let listed = text(&ex(&["list"]));
    assert!(listed.lines().any(|l| l.starts_with("[x]  1")), "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("[ ]  2")), "{listed}");
    let next = text(&ex(&[]));
    assert!(
        next.contains("# Exercise 2: the wallet, with one atomic operation"),
        "{next}"
    );

    let out = ex(&["reset", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stub);
    assert_eq!(
        std::fs::read_to_string(dir.join("01_mutex_wallet.rs.bak")).unwrap(),
        solution
    );
    watch_rechecks_on_save(dir, state.path(), &file, &solution);
}

/// `watch 1` checks the stub (fails), then re-checks when the solution is saved (passes).
fn watch_rechecks_on_save(dir: &Path, state: &Path, file: &Path, solution: &str) {
    use std::io::{BufRead, BufReader};
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("concur"));
    cmd.args(["exercise", "watch", "1", "--no-cost", "--dir"])
        .arg(dir)
        .env("CONCUR_STATE_DIR", state)
        .env(place::TARGET_ENV, target())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &str, seen: &mut Vec<String>| loop {
        match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(line) => {
                let hit = line.contains(what);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => panic!("watch never said {what:?}:\n{}", seen.join("\n")),
        }
    };
    let mut seen = Vec::new();
    wait_for("Watching", &mut seen);
    assert!(
        seen.iter().any(|l| l.contains("✗")),
        "the stub fails first:\n{}",
        seen.join("\n")
    );
    std::fs::write(file, solution).unwrap();
    wait_for("Exercise 1 passes", &mut seen);
    wait_for("Watching", &mut seen);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn every_exercise_file_is_embedded_as_it_is_on_disk() {
    let root = Path::new("exercises");
    let mut on_disk = Vec::new();
    walk(root, root, &mut on_disk);
    on_disk.retain(|p| !p.to_string_lossy().ends_with(".bak"));
    let mut embedded: Vec<PathBuf> = catalog::FILES
        .iter()
        .map(|(p, _)| PathBuf::from(p))
        .collect();
    on_disk.sort();
    embedded.sort();
    assert_eq!(
        embedded, on_disk,
        "catalog::FILES lists every file of exercises/"
    );
    for (path, text) in catalog::FILES {
        let from_disk = std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(*text, from_disk, "{path} is embedded as it is on disk");
    }
    let cargo = std::fs::read_to_string("Cargo.toml").unwrap();
    assert!(
        cargo.contains(place::PROFILE),
        "the root Cargo.toml has the exercise profile init writes"
    );
    for e in catalog::EXERCISES {
        for variant in ["learner", "solution", "wrong"] {
            assert!(
                catalog::embedded(&e.variant_file(variant)).is_some(),
                "{}: {variant}",
                e.slug
            );
        }
        let grader = format!("graders/{}.rs", e.slug);
        assert!(catalog::embedded(&grader).is_some(), "{grader}");
        let stub = e.stub();
        let lessons: Vec<String> = e.lessons.iter().map(usize::to_string).collect();
        let heading = format!(
            "//! # Exercise {}: {} ({} {} · about {} min)\n",
            e.number,
            e.title,
            if lessons.len() == 1 {
                "lesson"
            } else {
                "lessons"
            },
            lessons.join(", "),
            e.minutes
        );
        assert!(
            stub.starts_with(&heading),
            "{}: a statement on top, opening with {heading:?}",
            e.slug
        );
        assert!(
            place::hint(stub).is_some_and(|h| h.len() > 80),
            "{}: a hint at the end",
            e.slug
        );
        assert!(
            place::rule_break(e, stub).is_none(),
            "{}: the stub keeps the rules",
            e.slug
        );
        let solution = catalog::embedded(&e.variant_file("solution")).unwrap();
        assert!(
            place::rule_break(e, solution).is_none(),
            "{}: the solution keeps the rules",
            e.slug
        );
    }
}

#[test]
fn every_lesson_points_to_its_exercises_and_back() {
    for e in catalog::EXERCISES {
        for l in e.lessons {
            let file = std::fs::read_dir("lessons")
                .unwrap()
                .flatten()
                .map(|d| d.path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("{l:02}-"))
                })
                .unwrap_or_else(|| panic!("lesson {l} exists"));
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.contains(&format!("`concur exercise {}`", e.number)),
                "{} points to exercise {}",
                file.display(),
                e.number
            );
        }
    }
}

#[test]
fn hint_init_and_the_errors_a_learner_can_make() {
    let state = tempfile::tempdir().unwrap();
    let nowhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str], cwd: &Path| {
        let mut cmd = concur(&["exercise"]);
        cmd.args(args)
            .current_dir(cwd)
            .env("CONCUR_STATE_DIR", state.path())
            .env_remove(place::DIR_ENV);
        cmd.output().unwrap()
    };
    for e in catalog::EXERCISES {
        let out = run(&["hint", &e.number.to_string()], nowhere.path());
        assert!(out.status.success());
        assert!(text(&out).contains(&place::hint(e.stub()).unwrap()));
    }
    // No exercises at hand: one line saying how to get them.
    let out = run(&["check", "1"], nowhere.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("concur exercise init DIR"), "{err}");
    for bad in [
        &["check", "9"][..],
        &["check"],
        &["frobnicate"],
        &["hint", "x"],
        &["init"],
    ] {
        let out = run(bad, nowhere.path());
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{bad:?}"
        );
    }
    // init writes every file and a package of its own; it never writes over a directory in use.
    let dir = nowhere.path().join("mine");
    assert!(run(&["init", dir.to_str().unwrap()], nowhere.path())
        .status
        .success());
    for (path, _) in catalog::FILES {
        assert!(dir.join(path).is_file(), "{path} written");
    }
    let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        toml.contains("[workspace]") && toml.contains(place::PROFILE),
        "{toml}"
    );
    assert!(dir.join("Cargo.lock").is_file());
    let out = run(&["init", dir.to_str().unwrap()], nowhere.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not empty"));
    // From inside it, the exercises are found without --dir.
    let listed = run(&["list"], &dir.join("kit"));
    assert!(
        text(&listed).contains(&format!("The files are in {}", dir.display())),
        "{}",
        text(&listed)
    );
}
