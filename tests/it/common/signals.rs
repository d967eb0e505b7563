//! Stopping a run mid-way as a user does (Ctrl-C at a terminal, `kill` from a script) and
//! checking that nothing of it is left: no process, no temp file.

use super::procs::{descendants, fresh_tag, parent_of, processes_with_env};
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

/// The environment variable that tags every process of a run started here.
pub const TAG_VAR: &str = "CONCUR_TEST_SIGNAL_TAG";

/// What a stopped run printed.
pub struct Stopped {
    pub stdout: String,
    pub stderr: String,
}

/// Start `concur ARGS` in its own process group with a private TMPDIR, let it run for a while
/// (0.6 s after its measured child appears), then send `sig`: to the group for SIGINT (as a
/// terminal does), to the concur process alone otherwise (as `kill` does); `twice` sends it
/// again 0.3 s later. Asserts that it exits with `code` within 30 s, that every process seen
/// during the run (and every one carrying its tag) is gone, and that its TMPDIR is empty.
pub fn signal_mid_run(args: &[&str], twice: bool, sig: Signal, code: i32) -> Stopped {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;

    let tmp = tempfile::tempdir().unwrap();
    let tag = fresh_tag();
    let stderr_path = tmp.path().join("stderr");
    let stdout_path = tmp.path().join("stdout");
    let run_tmp = tmp.path().join("tmp");
    std::fs::create_dir(&run_tmp).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_concur"))
        .args(args)
        .env(TAG_VAR, &tag)
        .env("TMPDIR", &run_tmp)
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Mid-run: the measured child exists and has had time to start jobs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while descendants(pid).is_empty() {
        assert!(Instant::now() < deadline, "{args:?}: the run never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(600));
    let during = descendants(pid);
    assert!(!during.is_empty(), "{args:?}: finished before the signal");
    let send = || {
        if sig == Signal::SIGINT {
            killpg(Pid::from_raw(pid), sig)
        } else {
            nix::sys::signal::kill(Pid::from_raw(pid), sig)
        }
    };
    send().unwrap();
    if twice {
        std::thread::sleep(Duration::from_millis(300));
        let _ = send();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?}: still running 30 s after {}",
            sig.as_str()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    assert_eq!(status.code(), Some(code), "{args:?}: {stderr}");
    assert_nothing_left(args, &during, &tag, &run_tmp);
    Stopped { stdout, stderr }
}

/// Not one of the processes seen during the run is left, not one carrying its tag (a
/// re-parented orphan would still carry it), not one temp file.
fn assert_nothing_left(args: &[&str], during: &[i32], tag: &str, run_tmp: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<i32> = during
            .iter()
            .copied()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists() && parent_of(*p).is_some())
            .collect();
        let tagged = processes_with_env(TAG_VAR, tag);
        if alive.is_empty() && tagged.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?}: left behind: {alive:?} {tagged:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<_> = std::fs::read_dir(run_tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{args:?}: temp files left: {left:?}");
}
