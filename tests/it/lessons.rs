//! The lessons: every file embedded and well-formed, every question typed and measured from its
//! own demos, a lesson driven through its prompts on stdin (stored prediction, verdict), `--no-run`
//! completing nothing, progress kept private, and the room mode writing nothing.

use crate::common::concur;
use concur::app::lesson::{self, Prediction};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[test]
fn every_lesson_file_is_embedded_in_order() {
    let mut on_disk: Vec<String> = std::fs::read_dir("lessons")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md") && n != "README.md")
        .collect();
    on_disk.sort();
    let embedded: Vec<String> = lesson::LESSONS.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(embedded, on_disk);
    for (file, text) in lesson::LESSONS {
        let from_disk = std::fs::read_to_string(Path::new("lessons").join(file)).unwrap();
        assert_eq!(*text, from_disk, "{file} is embedded as it is on disk");
    }
}

/// Which demos a measure expression reads: (demo number, reads a file in its --out dir).
fn measured_demos(expr: &str) -> Vec<(usize, bool)> {
    let words: Vec<&str> = expr.split_whitespace().collect();
    (0..words.len())
        .filter(|&i| words[i] == "demo")
        .map(|i| {
            (
                words[i + 1].parse().unwrap(),
                words.get(i + 2) == Some(&"file"),
            )
        })
        .collect()
}

#[test]
fn every_lesson_asks_a_typed_question_measured_from_its_own_demos() {
    for l in lesson::all().expect("every lesson parses") {
        assert!(
            l.predict.as_deref().is_some_and(|p| p.contains('?')),
            "{}: a question",
            l.file
        );
        let spec = l
            .spec
            .as_ref()
            .unwrap_or_else(|| panic!("{}: an answer block", l.file));
        assert!(l.answer.is_some(), "{}: an answer", l.file);
        assert!(!l.demos.is_empty(), "{}: a demo", l.file);
        assert!(!l.sources.is_empty(), "{}: a source pointer", l.file);
        for src in &l.sources {
            assert!(Path::new(src).exists(), "{}: source {src} exists", l.file);
        }
        for expr in spec.measures() {
            for (n, file) in measured_demos(expr) {
                let demo = l
                    .demos
                    .get(n - 1)
                    .unwrap_or_else(|| panic!("{}: no demo {n}", l.file));
                let cmd = demo.args[0].as_str();
                if file {
                    assert_eq!(
                        cmd, "compare",
                        "{}: a file comes from compare's --out",
                        l.file
                    );
                } else {
                    assert!(
                        ["run", "race", "chaos", "queue-demo"].contains(&cmd),
                        "{}: demo {n} ({cmd}) writes no JSON to measure",
                        l.file
                    );
                }
            }
        }
    }
}

#[test]
fn nothing_after_the_question_is_shown_before_it() {
    for l in lesson::all().unwrap() {
        let before: String = l
            .before
            .iter()
            .map(|s| format!("{} {:?}", s.name, s.parts))
            .collect();
        assert!(
            !before.contains("Answer"),
            "{}: the answer comes after",
            l.file
        );
    }
    // Lesson 10 used to print its Why, "200 of 200 lose" and the fixes before asking.
    let ten = lesson::all()
        .unwrap()
        .into_iter()
        .find(|l| l.number() == 10)
        .unwrap();
    let before = format!("{:?}", ten.before);
    for giveaway in ["Why", "200 of 200", "fix", "LOST"] {
        assert!(
            !before.contains(giveaway),
            "lesson 10 shows '{giveaway}' before its question"
        );
    }
    assert!(ten.after.iter().any(|s| s.name == "Why"));
}

fn redis_available() -> bool {
    std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// An answer of the right kind for `spec` (right or wrong does not matter here).
fn some_answer(spec: &lesson::AnswerSpec) -> String {
    match &spec.kind {
        lesson::Kind::Number { .. } => "1".into(),
        lesson::Kind::Choice(_) => "a".into(),
        lesson::Kind::Ranking { items, .. } => items
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Every lesson end to end, as a learner would do it (with `--predict`): every demo exits as
/// the lesson says it does, and the verdict is measured, not "not measured".
#[test]
fn every_lesson_runs_its_demos_and_measures_its_answer() {
    let require_redis = std::env::var_os("CONCUR_REQUIRE_REDIS").is_some();
    let state = tempfile::tempdir().unwrap();
    // The demos write their reports (`compare --out DIR`, or concur-report/) where they run:
    // here, not in the checkout, and gone with the test.
    let cwd = tempfile::tempdir().unwrap();
    for l in lesson::all().unwrap() {
        let needs_redis = l
            .demos
            .iter()
            .any(|d| d.args.iter().any(|a| a == "redis" || a == "queue-demo"));
        if needs_redis && !redis_available() && !require_redis {
            eprintln!("skipping {}: no redis-server", l.file);
            continue;
        }
        let n = l.number().to_string();
        let answer = some_answer(l.spec.as_ref().unwrap());
        let out = concur(&["lesson", &n, "--predict", &answer])
            .env("CONCUR_STATE_DIR", state.path())
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", l.file);
        assert!(
            !stderr.contains("exited with an error"),
            "{}: a demo failed: {stderr}",
            l.file
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("You said"), "{}: {stdout}", l.file);
        assert!(!stdout.contains("not measured"), "{}: {stdout}", l.file);
    }
}

fn progress(state: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(state.join("progress.json")).unwrap()).unwrap()
}

/// `concur lesson ARGS` with `stdin`, in the state dir `state`.
fn lesson_with(state: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut all = vec!["lesson"];
    all.extend_from_slice(args);
    concur(&all)
        .env("CONCUR_STATE_DIR", state)
        .write_stdin(stdin)
        .output()
        .unwrap()
}

#[test]
fn a_lesson_driven_through_its_prompts_stores_the_prediction_and_grades_it() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("concur");
    // Lesson 5 asks how many of 100 wallet updates actors lose (exactly 0). An empty answer and
    // a word are refused; 0 is taken.
    let out = lesson_with(&dir, &["5"], "\nmany\n0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("an empty answer is not a prediction"),
        "{stderr}"
    );
    assert!(stderr.contains("'many' is not a number"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("You said 0; measured 0 (right means exactly): ✓ right"),
        "{stdout}"
    );
    let rec = &progress(&dir)["lessons"]["05-actors.md"];
    let stored: Prediction = serde_json::from_value(rec["prediction"].clone()).unwrap();
    assert_eq!(stored, Prediction::Number { value: 0.0 });
    assert_eq!(rec["measured"]["right"], true);
    assert!(rec["ran_at"].is_string());
    // The state dir is private.
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);

    // A wrong prediction is stored and graded wrong: lesson 11's four leaking jobs of 50 MiB
    // stay in the threaded process (about 200 MiB, not 1).
    let out = lesson_with(&dir, &["11"], "1\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = &progress(&dir)["lessons"]["11-chaos.md"];
    assert_eq!(
        rec["prediction"],
        serde_json::json!({"kind": "number", "value": 1.0})
    );
    assert_eq!(rec["measured"]["right"], false, "{rec}");
    let list = String::from_utf8(lesson_with(&dir, &["list"], "").stdout).unwrap();
    assert!(list.contains("[x]  5") && list.contains("✓"), "{list}");
    assert!(list.contains("[x] 11") && list.contains("✗"), "{list}");
    let n = lesson::LESSONS.len();
    assert!(
        list.contains(&format!("2 of {n} lessons done; 1 of 2 predictions right")),
        "{list}"
    );
}

#[test]
fn a_choice_takes_a_letter_and_is_graded_by_the_range_the_measurement_falls_in() {
    let state = tempfile::tempdir().unwrap();
    let out = lesson_with(state.path(), &["7"], "z\nab\nA)\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'z' is not one of a, b, c") && stderr.contains("'ab' is not one"),
        "{stderr}"
    );
    let rec = &progress(state.path())["lessons"]["07-rpc.md"];
    assert_eq!(
        rec["prediction"],
        serde_json::json!({"kind": "choice", "key": "a"})
    );
    let shown = rec["measured"]["shown"].as_str().unwrap();
    assert!(shown.contains(", which is "), "{shown}");
    // Right exactly when the range it names is a).
    assert_eq!(
        rec["measured"]["right"],
        shown.contains("which is a)"),
        "{rec}"
    );
}

#[test]
fn a_ranking_is_read_in_order_and_graded_against_the_measured_order() {
    let state = tempfile::tempdir().unwrap();
    let out = lesson_with(
        state.path(),
        &["13"],
        "pool fork\nfork pool fork\npool, prefork, fork\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rank all 3 of them") && stderr.contains("named twice"),
        "{stderr}"
    );
    let rec = &progress(state.path())["lessons"]["13-seed-systems.md"];
    assert_eq!(
        rec["prediction"]["order"],
        serde_json::json!(["pool", "prefork", "fork"])
    );
    assert!(
        rec["measured"]["shown"]
            .as_str()
            .unwrap()
            .starts_with("measured order: "),
        "{rec}"
    );
}

#[test]
fn no_run_shows_a_lesson_without_completing_it() {
    let state = tempfile::tempdir().unwrap();
    let first = lesson::all().unwrap()[0].title.clone();
    for _ in 0..2 {
        let out = lesson_with(state.path(), &["next", "--no-run"], "");
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&first),
            "next stays on lesson 1"
        );
    }
    let out = lesson_with(state.path(), &["5", "--no-run"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("## Answer"));
    assert!(
        !state.path().join("progress.json").exists(),
        "--no-run records nothing"
    );
    let list = String::from_utf8(lesson_with(state.path(), &["list"], "").stdout).unwrap();
    assert!(list.lines().all(|l| !l.starts_with("[x]")), "{list}");
    let n = lesson::LESSONS.len();
    assert!(list.contains(&format!("0 of {n} lessons done")), "{list}");
}

#[test]
fn demos_without_a_prediction_do_not_complete_a_lesson() {
    let state = tempfile::tempdir().unwrap();
    let out = lesson_with(state.path(), &["5", "--yes"], "");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not done"));
    let rec = &progress(state.path())["lessons"]["05-actors.md"];
    assert!(
        rec["ran_at"].is_string() && rec["prediction"].is_null(),
        "{rec}"
    );
    let list = String::from_utf8(lesson_with(state.path(), &["list"], "").stdout).unwrap();
    assert!(list.contains("[~]  5"), "{list}");
    // Closed stdin where a prediction is needed: one line, exit 2, nothing stored.
    let out = lesson_with(state.path(), &["6"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no prediction given"));
    assert!(progress(state.path())["lessons"]
        .get("06-futures.md")
        .is_none());
}

#[test]
fn the_room_mode_asks_the_room_and_writes_no_progress() {
    let state = tempfile::tempdir().unwrap();
    let out = lesson_with(state.path(), &["5", "--room"], "0\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("The room's prediction"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("L E S S O N   5"), "big headings: {stdout}");
    assert!(stdout.contains("The room said 0; measured 0"), "{stdout}");
    assert!(
        !state.path().join("progress.json").exists(),
        "no progress in room mode"
    );
}

#[test]
fn an_unreadable_progress_file_is_reported_not_overwritten() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("progress.json");
    std::fs::write(&file, "{ not json").unwrap();
    for args in [&["list"][..], &["5", "--predict", "0"]] {
        let out = lesson_with(state.path(), args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("progress.json is not concur's progress")
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ not json");
}

#[test]
fn a_lesson_that_does_not_exist_is_exit_2() {
    concur(&["lesson", "99"]).assert().code(2);
    concur(&["lesson", "soon"]).assert().code(2);
    concur(&["lesson", "5", "--predict", "lots"])
        .assert()
        .code(2);
}

/// Plain `concur` on a terminal (a pty from `script(1)`): each choice runs and the menu comes
/// back, until `q`.
#[test]
fn the_menu_comes_back_after_each_choice_until_q() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("skipping the menu test: no script(1) to give concur a terminal");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("/usr/bin/script")
        .args(["-qec", env!("CARGO_BIN_EXE_concur"), "/dev/null"])
        .env("CONCUR_STATE_DIR", state.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"8\n6\nq\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(text.matches("Choose:").count(), 3, "{text}");
    assert_eq!(text.matches("(back to the menu)").count(), 2, "{text}");
    assert!(
        text.contains("WORKLOAD") && text.contains("lessons done"),
        "{text}"
    );
}
