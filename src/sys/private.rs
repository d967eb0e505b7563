//! Private directories and files: what nobody but this user may read, and what a `kill -9`
//! leaves behind, cleaned up by the next run.
//!
//! Why a module for it? Because the default is wrong. `tempfile` creates directories with mode
//! 0777 minus the umask, which is 0755 on most machines: any local user can list them and read
//! what is inside. concur puts secrets and private channels in temp dirs: the run spec (with a
//! Redis URL that may carry a password), the rpc server's socket, the private redis-server's
//! socket, the SQLite databases. So every private dir concur makes comes from here, 0700 from
//! the moment it exists (`mkdir(2)` with that mode, not a `chmod` after it), and every private
//! file is 0600 from its `open(2)`.
//!
//! # Leftovers
//! A dir is removed when its owner drops it, which a process killed with SIGKILL never does.
//! So each dir holds an `owner.pid` file naming the process that made it, and whoever makes a
//! new dir first sweeps the same base dir: a `concur-*` dir of ours whose owner file names a
//! process that is gone is removed. A dir without a readable owner file (being made right now,
//! or not concur's) is never touched, nor one whose owner is alive.
//!
//! # Socket paths
//! A Unix socket's path must fit in `sun_path` (108 bytes). [`dir_for_socket`] falls back to
//! `/tmp` when the socket would not fit under `TMPDIR`.

use crate::error::Error;
use anyhow::Context;
use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Every private dir concur makes is named `concur-KIND-XXXXXX`.
pub const PREFIX: &str = "concur-";
/// The file in each private dir that names the pid of the process that made it.
pub const OWNER_FILE: &str = "owner.pid";
/// Unix socket paths are limited to 108 bytes (`sun_path`); keep a margin.
pub const MAX_SOCKET_PATH: usize = 100;

/// A fresh private dir `concur-{kind}-XXXXXX` (mode 0700, with an owner file) in `TMPDIR`,
/// after sweeping the stale ones there. Removed when the returned handle is dropped.
pub fn dir(kind: &str) -> anyhow::Result<tempfile::TempDir> {
    dir_in(&temp_base()?, kind)
}

/// [`dir`], for a socket called `socket` inside it: in `/tmp` instead when its path would be
/// too long for a Unix socket under `TMPDIR`.
pub fn dir_for_socket(kind: &str, socket: &str) -> anyhow::Result<tempfile::TempDir> {
    dir_for_socket_in(&temp_base()?, kind, socket)
}

fn dir_for_socket_in(base: &Path, kind: &str, socket: &str) -> anyhow::Result<tempfile::TempDir> {
    // `concur-KIND-` and tempfile's 6 random characters, then `/socket`.
    let would_be = base.join(format!("{PREFIX}{kind}-XXXXXX")).join(socket);
    if would_be.as_os_str().len() <= MAX_SOCKET_PATH {
        dir_in(base, kind)
    } else {
        dir_in(Path::new("/tmp"), kind)
    }
}

/// The temp dir, checked: a `TMPDIR` that is not a directory is a usage error (exit 2), in one
/// line, rather than an `ENOENT` from deep inside a run.
pub fn temp_base() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    if !base.is_dir() {
        return Err(Error::Usage(format!(
            "the temp dir {} (TMPDIR) is not a directory: create it or set TMPDIR to one",
            base.display()
        ))
        .into());
    }
    Ok(base)
}

fn dir_in(base: &Path, kind: &str) -> anyhow::Result<tempfile::TempDir> {
    sweep_stale(base);
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{kind}-"))
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(base)
        .with_context(|| format!("creating a private temp dir in {}", base.display()))?;
    write(&dir.path().join(OWNER_FILE), owner_stamp().as_bytes())
        .context("writing a private temp dir's owner file")?;
    Ok(dir)
}

/// Write `bytes` to a new or truncated file at `path` that only this user can read (0600, set
/// when the file is created; an existing file is made 0600 before it is written).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = create(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// Create (or truncate) `path` for writing, readable by this user alone (0600).
pub fn create(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file this call created.
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Make sure `dir` is a directory, creating it (and its parents) 0700 when missing. Something
/// else in the way (a file where the dir should be) is a usage error naming `what`.
pub fn ensure_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(Error::Usage(format!(
            "{what} {} is not a directory (it is a file): point it at a directory",
            dir.display()
        ))
        .into());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Usage(format!("cannot create {what} {}: {e}", dir.display())).into())
}

/// Remove the private dirs in `base` left by processes that are gone (see the module doc).
/// Only dirs named `concur-*`, owned by this user, with an owner file naming a dead process.
pub fn sweep_stale(base: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    let Some(me) = super::proc::own_uid() else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(PREFIX)
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        let stale = ours && owner(&path).is_some_and(owner_gone);
        if stale && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// What the owner file says: this process's pid and when it started. The start time matters
/// because pids are reused (32,768 of them by default, and a workshop forks thousands a
/// second): a dead owner's pid may already name another process by the time a sweep looks.
fn owner_stamp() -> String {
    let pid = std::process::id();
    match super::proc::start_time(pid as i32) {
        Some(start) => format!("{pid} {start}"),
        None => pid.to_string(),
    }
}

/// The process named in `dir`'s owner file (pid, and its start time when recorded), if it has a
/// readable one.
fn owner(dir: &Path) -> Option<(i32, Option<u64>)> {
    let text = std::fs::read_to_string(dir.join(OWNER_FILE)).ok()?;
    let mut words = text.split_whitespace();
    let pid = words.next()?.parse::<i32>().ok().filter(|&pid| pid > 0)?;
    let start = match words.next() {
        Some(w) => Some(w.parse::<u64>().ok()?),
        None => None,
    };
    Some((pid, start))
}

/// Whether the owner named by an owner file is gone: its pid is not running, or is running as a
/// process that started at another time (the pid was reused).
fn owner_gone((pid, start): (i32, Option<u64>)) -> bool {
    !super::proc::is_running(pid)
        || start.is_some_and(|s| super::proc::start_time(pid).is_some_and(|now| now != s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn dirs_are_0700_files_0600_and_each_dir_names_its_owner() {
        let base = tempfile::tempdir().unwrap();
        let dir = dir_in(base.path(), "test").unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        assert!(dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("concur-test-"));
        let me = std::process::id() as i32;
        assert_eq!(
            owner(dir.path()),
            Some((me, super::super::proc::start_time(me)))
        );
        let file = dir.path().join("spec.json");
        write(&file, b"{\"redis_url\":\"redis://:secret@host\"}").unwrap();
        assert_eq!(mode(&file), 0o600);
        // An existing, wider file is narrowed before it is written again.
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        write(&file, b"{}").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join(OWNER_FILE)), 0o600);
    }

    #[test]
    fn only_stale_concur_dirs_are_swept() {
        let base = tempfile::tempdir().unwrap();
        let make = |name: &str, owner: Option<&str>| {
            let d = base.path().join(name);
            std::fs::create_dir(&d).unwrap();
            if let Some(o) = owner {
                std::fs::write(d.join(OWNER_FILE), o).unwrap();
            }
            d
        };
        // A pid that cannot be running: above the kernel's pid_max ceiling (2^22).
        let dead = (1 << 23).to_string();
        let me = std::process::id();
        let started = super::super::proc::start_time(me as i32).unwrap();
        let live = me.to_string();
        let live_stamped = format!("{me} {started}");
        // Our pid, but a process that started at another time: the owner died and its pid was
        // handed on.
        let reused = format!("{me} {}", started + 1);
        let stale = make("concur-run-stale", Some(&dead));
        let stale_reused = make("concur-run-reused", Some(&reused));
        let alive = make("concur-run-alive", Some(&live));
        let alive_stamped = make("concur-run-alive-stamped", Some(&live_stamped));
        let unowned = make("concur-run-new", None);
        let garbage = make("concur-run-garbage", Some("not a pid"));
        let other = make("someone-else", Some(&dead));
        assert_eq!(sweep_stale(base.path()), 2);
        assert!(!stale.exists() && !stale_reused.exists());
        for kept in [alive, alive_stamped, unowned, garbage, other] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }

    #[test]
    fn a_socket_dir_falls_back_to_tmp_when_the_path_is_too_long() {
        let deep = tempfile::tempdir().unwrap();
        let long = deep.path().join("x".repeat(90));
        std::fs::create_dir(&long).unwrap();
        let short = dir_for_socket_in(&long, "test", "server.sock").unwrap();
        assert!(
            short.path().starts_with("/tmp"),
            "{}",
            short.path().display()
        );
        assert!(short.path().join("server.sock").as_os_str().len() <= MAX_SOCKET_PATH);
        let here = dir_for_socket_in(deep.path(), "test", "s.sock").unwrap();
        assert!(here.path().starts_with(deep.path()));
    }

    #[test]
    fn a_file_where_a_dir_should_be_is_a_usage_error() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("state");
        std::fs::write(&file, "").unwrap();
        let e = ensure_dir(&file, "CONCUR_STATE_DIR").unwrap_err();
        assert!(crate::error::is_usage(&e), "{e}");
        let fresh = base.path().join("a/b");
        ensure_dir(&fresh, "the state dir").unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }
}
