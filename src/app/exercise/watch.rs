//! `concur exercise watch`: check the current exercise, then again each time its file is saved;
//! once it passes, move on to the next one not done (rustlings' watch mode).
//!
//! The file's modification time and length are polled a few times a second: no file-watching
//! dependency, nothing platform-specific, and a save is seen within a quarter of a second.

use super::catalog::Exercise;
use super::{exercise, first_undone, place, ExerciseRequest};
use std::path::Path;
use std::time::{Duration, SystemTime};

const POLL: Duration = Duration::from_millis(250);

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Watch exercise `n`, or the first not done.
pub fn watch(req: &ExerciseRequest, n: Option<usize>) -> anyhow::Result<()> {
    let dir = place::locate(req.dir.as_deref())?;
    let mut current: &Exercise = match n.map(exercise).or_else(first_undone) {
        Some(e) => e,
        None => {
            println!("Every exercise passes: nothing to watch.");
            return Ok(());
        }
    };
    let mut check_now = true;
    loop {
        let path = dir.join(current.file());
        let seen = stamp(&path);
        if check_now {
            println!("\n── checking exercise {} ──", current.number);
            if super::check(req, current)? {
                match first_undone() {
                    Some(next) => {
                        current = next;
                        println!(
                            "\nNext: exercise {} · {} · {}",
                            next.number,
                            next.title,
                            dir.join(next.file()).display()
                        );
                        println!("(see it with: concur exercise {})", next.number);
                        check_now = false;
                        continue;
                    }
                    None => {
                        println!("\nEvery exercise passes. Well done.");
                        return Ok(());
                    }
                }
            }
        }
        println!(
            "\nWatching {}: save it to check again (Ctrl-C to stop).",
            path.display()
        );
        while stamp(&path) == seen {
            std::thread::sleep(POLL);
        }
        check_now = true;
    }
}
