//! Private temp dirs through the binary: 0700 dirs and 0600 files while a run lasts (its spec may
//! carry a Redis password), and a dir left by a harness killed with SIGKILL removed by the next
//! run.

use crate::common::concur;
use crate::common::procs::{descendants, parent_of};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Entries of `dir` whose name starts with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Poll until `find` returns something (or fail after 30 s).
fn wait_for<T>(what: &str, mut find: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = find() {
            return found;
        }
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `concur run` of sleep jobs under `strategy`, with TMPDIR `tmp`, started in the background.
fn slow_run(strategy: &str, tmp: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_concur"))
        .args(["run", "-s", strategy, "-w", "sleep", "--items", "40"])
        .args(["--wait-ms", "50", "--workers", "2", "--quiet"])
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn every_private_dir_is_0700_and_the_spec_0600_while_the_run_lasts() {
    let mut inner = vec![("sqlite", "concur-sqlite-")];
    if crate::common::redis::redis_server_path().is_some()
        && std::env::var_os("REDIS_URL").is_none()
    {
        inner.push(("redis", "concur-redis-"));
    }
    for (strategy, prefix) in inner {
        let tmp = tempfile::tempdir().unwrap();
        let mut run = slow_run(strategy, tmp.path());
        let run_dir = wait_for("the run dir", || {
            named(tmp.path(), "concur-run-").into_iter().next()
        });
        let spec = run_dir.join("spec.json");
        wait_for("the spec", || spec.exists().then_some(()));
        let own = wait_for("the strategy's dir", || {
            named(&run_dir, prefix).into_iter().next()
        });
        assert_eq!(mode(&run_dir), 0o700, "{strategy}: {}", run_dir.display());
        assert_eq!(mode(&spec), 0o600, "{strategy}");
        assert_eq!(mode(&own), 0o700, "{strategy}: {}", own.display());
        if strategy == "sqlite" {
            // SQLite would make its files 0644; the database is created 0600 first.
            let db = own.join("jobs.db");
            wait_for("the database", || db.exists().then_some(()));
            assert_eq!(mode(&db), 0o600, "{}", db.display());
        }
        assert!(run.wait().unwrap().success(), "{strategy}");
        assert_eq!(named(tmp.path(), "concur-"), Vec::<PathBuf>::new());
    }
}

#[test]
fn a_dir_left_by_a_harness_killed_outright_is_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = slow_run("fork", tmp.path());
    let harness = run.id() as i32;
    let run_dir = wait_for("the run dir", || {
        named(tmp.path(), "concur-run-").into_iter().next()
    });
    let during = wait_for("the measured child", || {
        Some(descendants(harness)).filter(|d| !d.is_empty())
    });
    run.kill().unwrap(); // SIGKILL: no destructor runs, the dir stays
    run.wait().unwrap();
    // They die by their parent-death signals.
    wait_for("the run's processes to die with it", || {
        let alive = during.iter().any(|p| parent_of(*p).is_some());
        (!alive).then_some(())
    });
    assert!(
        run_dir.exists(),
        "a SIGKILL leaves the dir (nothing can run)"
    );
    let out = concur(&["run", "-s", "sequential", "-w", "noop", "--items", "1"])
        .args(["--quiet"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(named(tmp.path(), "concur-"), Vec::<PathBuf>::new());
}

#[test]
fn a_tmpdir_that_is_not_a_directory_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for dir in [tmp.path().join("missing"), file] {
        for strategy in ["sequential", "fork"] {
            let out = concur(&["run", "-s", strategy, "-w", "noop", "--items", "1"])
                .env("TMPDIR", &dir)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{strategy}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("TMPDIR"), "{err}");
        }
    }
}

#[test]
fn rpc_and_redis_sockets_fall_back_to_tmp_under_a_deep_tmpdir() {
    let tmp = tempfile::tempdir().unwrap();
    // 100 characters and more before the socket's own dir: too long for sun_path (108).
    let deep = tmp.path().join("d".repeat(100));
    std::fs::create_dir(&deep).unwrap();
    let mut strategies = vec!["rpc"];
    if crate::common::redis::redis_server_path().is_some()
        && std::env::var_os("REDIS_URL").is_none()
    {
        strategies.push("redis");
    }
    for strategy in strategies {
        let out = concur(&[
            "run", "-s", strategy, "-w", "noop", "--items", "20", "--quiet",
        ])
        .env("TMPDIR", &deep)
        .output()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{strategy}: {err}");
        assert!(err.contains("all 20 jobs done"), "{strategy}: {err}");
        assert_eq!(named(&deep, "concur-"), Vec::<PathBuf>::new());
    }
}
