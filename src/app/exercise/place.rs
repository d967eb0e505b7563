//! Where the exercises are on disk, and what is in their files: finding the directory, writing
//! it out (`init`), putting a file back (`reset`), and reading a file's statement, hint and
//! rule breaks.

use super::catalog::{self, Exercise};
use crate::error::usage;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The exercises' package name: how a directory is recognised.
const PACKAGE: &str = "name = \"concur-exercises\"";

/// Where the learner's exercises are said to be: `CONCUR_EXERCISES`.
pub const DIR_ENV: &str = "CONCUR_EXERCISES";

/// Where cargo builds them: `CONCUR_EXERCISE_TARGET_DIR`, else `DIR/target`.
pub const TARGET_ENV: &str = "CONCUR_EXERCISE_TARGET_DIR";

/// The one line for a learner with no exercises at hand.
pub const HOW_TO_GET_THEM: &str = "no exercises here: write them out with `concur exercise init DIR` and cd into DIR (or work inside a concur checkout, or pass --dir DIR)";

/// The profile `check` builds with; the same block is in concur's own Cargo.toml (a test says
/// so), and `init` writes it into a standalone copy.
pub const PROFILE: &str = r#"[profile.exercise]
inherits = "release"
opt-level = 1
debug = "line-tables-only"
incremental = true
codegen-units = 16

[profile.exercise.package."*"]
opt-level = 3
codegen-units = 16
"#;

/// The lock file `init` writes: concur's own, so a standalone copy builds with the versions
/// concur was tested with (cargo drops the entries it does not need).
const LOCK: &str = include_str!("../../../Cargo.lock");

fn is_exercises(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains(PACKAGE))
}

/// The exercises' directory: `dir` if given, else `$CONCUR_EXERCISES`, else the current
/// directory or one above it that is (or holds `exercises/` that is) the exercises' package.
pub fn locate(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let given = dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(DIR_ENV).map(PathBuf::from));
    if let Some(d) = given {
        if is_exercises(&d) {
            return Ok(d);
        }
        if is_exercises(&d.join("exercises")) {
            return Ok(d.join("exercises"));
        }
        return usage(format!(
            "{} holds no exercises (no Cargo.toml of concur-exercises): write them out with `concur exercise init {}`",
            d.display(),
            d.display()
        ));
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    for d in cwd.ancestors() {
        if is_exercises(d) {
            return Ok(d.to_path_buf());
        }
        if is_exercises(&d.join("exercises")) {
            return Ok(d.join("exercises"));
        }
    }
    usage(HOW_TO_GET_THEM)
}

/// Where cargo builds the exercises in `dir`.
pub fn target_dir(dir: &Path) -> PathBuf {
    std::env::var_os(TARGET_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"))
}

/// `concur exercise init DIR`: write every exercise file into a new (or empty) `dir`, as a
/// package of its own.
pub fn init(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return usage(format!(
                "{} already exists and is not empty: choose a new directory (your work there is left alone)",
                dir.display()
            ));
        }
    }
    for (path, text) in catalog::FILES {
        let text = if *path == "Cargo.toml" {
            standalone(text)
        } else {
            (*text).to_owned()
        };
        write(&dir.join(path), &text)?;
    }
    write(&dir.join("Cargo.lock"), LOCK)?;
    write(&dir.join(".gitignore"), "target/\n*.bak\n")?;
    Ok(())
}

/// The exercises' Cargo.toml as its own workspace, with the profile `check` builds with.
fn standalone(member: &str) -> String {
    format!(
        "{member}\n# A package of its own (written by `concur exercise init`), not part of another workspace.\n[workspace]\n\n{PROFILE}"
    )
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `concur exercise reset N`: the learner's file back as shipped, the old one kept as `.bak`.
/// The backup's path, if there was a changed file to keep.
pub fn reset(dir: &Path, ex: &Exercise) -> anyhow::Result<Option<PathBuf>> {
    let path = dir.join(ex.file());
    let stub = ex.stub();
    let old = std::fs::read_to_string(&path).ok();
    let backup = match old {
        Some(old) if old != stub => {
            let bak = dir.join(format!("{}.bak", ex.file()));
            std::fs::write(&bak, old).with_context(|| format!("writing {}", bak.display()))?;
            Some(bak)
        }
        _ => None,
    };
    write(&path, stub)?;
    Ok(backup)
}

/// The statement: the `//!` lines that open `text`.
pub fn statement(text: &str) -> String {
    text.lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The hint: the comment lines after `// HINT` at the end of the shipped file.
pub fn hint(text: &str) -> Option<String> {
    let start = text.find("\n// HINT")?;
    let lines: Vec<&str> = text[start + 1..]
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix("//"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    Some(lines.join("\n").trim().to_owned())
}

/// The first line of `source` (comments aside) that uses what `ex` forbids: its number, the
/// line, and why it is forbidden.
pub fn rule_break(ex: &Exercise, source: &str) -> Option<(usize, String, &'static str)> {
    source.lines().enumerate().find_map(|(i, line)| {
        let code = line.split("//").next().unwrap_or("");
        ex.forbidden
            .iter()
            .find(|(what, _)| code.contains(what))
            .map(|(_, why)| (i + 1, line.trim().to_owned(), *why))
    })
}
