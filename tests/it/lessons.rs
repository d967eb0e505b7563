//! The lessons: every file embedded and well-formed, every demo runs, every source exists, and
//! `lesson next` remembers progress.

use crate::common::concur;
use concur::app::lesson;
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

#[test]
fn every_lesson_has_a_prediction_an_answer_demos_and_existing_sources() {
    for l in lesson::all().expect("every lesson parses") {
        assert!(
            l.predict.as_deref().is_some_and(|p| p.contains('?')),
            "{}: a question",
            l.file
        );
        assert!(l.answer.is_some(), "{}: an answer", l.file);
        assert!(!l.demos.is_empty(), "{}: a demo", l.file);
        assert!(!l.sources.is_empty(), "{}: a source pointer", l.file);
        for src in &l.sources {
            assert!(Path::new(src).exists(), "{}: source {src} exists", l.file);
        }
    }
}

fn redis_available() -> bool {
    std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_demo_command_runs() {
    let require_redis = std::env::var_os("CONCUR_REQUIRE_REDIS").is_some();
    for l in lesson::all().unwrap() {
        for demo in &l.demos {
            // `queue-demo` starts its own redis-server.
            let needs_redis = demo.iter().any(|a| a == "redis" || a == "queue-demo");
            if needs_redis && !redis_available() && !require_redis {
                eprintln!(
                    "skipping '{}' in {}: no redis-server",
                    demo.join(" "),
                    l.file
                );
                continue;
            }
            let args: Vec<&str> = demo.iter().map(String::as_str).collect();
            let out = concur(&args).output().unwrap();
            assert!(
                out.status.success(),
                "{}: concur {} failed: {}",
                l.file,
                demo.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn lesson_next_advances_and_remembers() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap();
    let first = lesson::all().unwrap()[0].title.clone();
    let second = lesson::all().unwrap()[1].title.clone();
    let out = concur(&["lesson", "next", "--no-run"])
        .env("CONCUR_STATE_DIR", dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&first));
    let out = concur(&["lesson", "next", "--no-run"])
        .env("CONCUR_STATE_DIR", dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&second));
    let list = concur(&["lesson", "list"])
        .env("CONCUR_STATE_DIR", dir)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.lines().next().unwrap().starts_with("[x]"), "{list}");
    assert!(list.lines().nth(1).unwrap().starts_with("[x]"), "{list}");
    assert!(list.lines().nth(2).unwrap().starts_with("[ ]"), "{list}");
    assert!(state.path().join("progress.json").exists());
}

#[test]
fn a_lesson_that_does_not_exist_is_exit_2() {
    concur(&["lesson", "99"]).assert().code(2);
    concur(&["lesson", "soon"]).assert().code(2);
}
