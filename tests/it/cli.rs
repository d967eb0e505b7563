//! The command line as a shell user meets it: completions, the man page, plain `concur` in a
//! script, NO_COLOR, and the one duration grammar.

use crate::common::concur;
use std::process::Command;

#[test]
fn completions_are_generated_for_three_shells() {
    for (shell, marker) in [
        ("bash", "complete -F _concur"),
        ("zsh", "#compdef concur"),
        ("fish", "complete -c concur"),
    ] {
        let out = concur(&["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: {marker} in {text:.200}");
        for word in [
            "compare",
            "export-markdown",
            "diff",
            "job-timeout",
            "completions",
        ] {
            assert!(text.contains(word), "{shell} completes {word}");
        }
    }
    let out = concur(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_names_every_command() {
    let out = concur(&["man"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(".ie") || text.contains(".TH concur 1"),
        "{text:.200}"
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        "CONCUR RUN",
        "CONCUR COMPARE",
        "CONCUR DIFF",
    ] {
        assert!(text.contains(section), "{section}");
    }
    assert!(
        !text.contains("CONCUR __EXEC"),
        "hidden commands stay hidden"
    );
}

#[test]
fn plain_concur_off_a_terminal_prints_help_on_stderr_and_exits_2() {
    let out = concur(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("Usage: concur") && err.contains("no command given"),
        "{err}"
    );
}

/// `concur ARGS` on a pseudo-terminal (util-linux `script`), with `env` added; what it printed.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> Vec<u8> {
    let bin = assert_cmd::cargo::cargo_bin("concur");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("CONCUR_STATE_DIR", tempfile::tempdir().unwrap().keep());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("script(1) from util-linux runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn no_color_leaves_no_escape_byte_in_lesson_output() {
    // On a terminal the lesson is styled: the test can see escape codes when there are some...
    let styled = on_a_terminal("lesson 2 --no-run", &[]);
    assert!(styled.contains(&0x1b), "styled on a terminal");
    assert!(String::from_utf8_lossy(&styled).contains("a thread per job"));
    // ...and with NO_COLOR there is not one, on a terminal or off it.
    let plain = on_a_terminal("lesson 2 --no-run", &[("NO_COLOR", "1")]);
    assert!(
        !plain.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&plain)
    );
    assert!(String::from_utf8_lossy(&plain).contains("a thread per job"));
    let state = tempfile::tempdir().unwrap();
    let piped = concur(&["lesson", "2", "--no-run"])
        .env("NO_COLOR", "1")
        .env("CONCUR_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!piped.stdout.contains(&0x1b) && !piped.stderr.contains(&0x1b));
}

#[test]
fn no_color_leaves_no_escape_byte_in_the_compare_charts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let args = format!(
        "compare -s sequential,pool --preset quick --items 3 --repeat 2 --runs 1 --no-probe --out {}",
        out.display()
    );
    let coloured = on_a_terminal(&args, &[]);
    assert!(
        coloured.contains(&0x1b),
        "strategies in their colours on a terminal"
    );
    let plain = on_a_terminal(&args, &[("NO_COLOR", "1")]);
    let text = String::from_utf8_lossy(&plain);
    // indicatif draws its bar with cursor moves on a terminal; those are not colour. Only SGR
    // (colour) sequences must be gone.
    assert!(!text.contains("\x1b[38;"), "{text}");
    assert!(text.contains("sequential"), "{text}");
}

#[test]
fn one_duration_grammar_for_every_flag() {
    // --job-timeout takes hours, as enqueue --in always did.
    let out = concur(&[
        "run",
        "-s",
        "fork",
        "--items",
        "2",
        "--quiet",
        "--job-timeout",
        "1h",
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (flag, value) in [("--job-timeout", "90m"), ("--shutdown-timeout", "1h 30m")] {
        let out = concur(&[
            "run",
            "-s",
            "sequential",
            "--items",
            "1",
            "--quiet",
            flag,
            value,
        ])
        .output()
        .unwrap();
        assert!(out.status.success(), "{flag} {value}");
    }
    let out = concur(&["run", "-s", "fork", "--job-timeout", "1 fortnight"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a duration"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).count(),
        1,
        "{err}"
    );
}
