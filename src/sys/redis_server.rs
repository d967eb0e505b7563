//! A private, throw-away `redis-server` for one run, and where Redis comes from.
//!
//! Why a private server? The `redis` strategy must run against a real Redis (the lesson is the
//! network round trip and the server doing the queueing), yet `concur run -s redis` should work on
//! a laptop with nothing configured and must never touch somebody's Redis on port 6379. So when
//! no `REDIS_URL` is given, concur starts its own `redis-server`:
//!
//! - listening on a Unix socket only (`--port 0` means *no* TCP listener), in a fresh temp dir
//!   with mode 700 ([`super::private`]), so no other user and no other program can reach it; a
//!   dir left by a run killed outright is removed by the next one;
//! - with persistence off (`--save '' --appendonly no`): nothing is written but a log;
//! - with its output in that temp dir, never on our stdout (that pipe is the emoji stream the
//!   harness counts);
//! - with a parent-death signal, so it cannot outlive the process that started it even if that
//!   process is killed with SIGKILL (which is what happens to the measured child when the user
//!   presses Ctrl-C: see the harness);
//! - stopped cleanly (`SHUTDOWN NOSAVE`, then reaped) when the [`PrivateServer`] is dropped, on
//!   success and on every error path, so its CPU time lands in our rusage and nothing is left
//!   for the harness to kill; a server that does not stop gets SIGTERM, then SIGKILL (the
//!   escalation in [`super::process::Termination`]).
//!
//! The parent-death signal is set between fork and exec by [`super::process::die_with_parent`],
//! which holds the `unsafe`; there is none in this file.

use super::process::Termination;
use anyhow::{anyhow, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server gets to answer PING before we give up on it.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server gets to shut down after SIGTERM before it is sent SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The one line shown when Redis cannot be had on this machine.
pub const HOW_TO_GET_IT: &str =
    "redis-server is not installed and REDIS_URL is not set (apt-get install redis-server, or set REDIS_URL=redis://HOST:PORT)";

/// `REDIS_URL` from the environment, if set and not empty.
pub fn env_url() -> Option<String> {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// The Redis to measure against: `REDIS_URL` when set, else a private server started now (keep
/// the returned handle alive as long as the URL is used). Without either, the error says how to
/// get one.
pub fn env_or_private() -> anyhow::Result<(String, Option<PrivateServer>)> {
    match env_url() {
        Some(url) => Ok((url, None)),
        None => {
            let server = PrivateServer::start()?;
            Ok((server.url().to_owned(), Some(server)))
        }
    }
}

/// The `redis-server` executable on `PATH`, if there is one.
pub fn find_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A URL with any password replaced by `***`, fit for error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A connection whose connect and every reply are bounded by timeouts: no hang, ever. A
/// blocking command (BLMOVE, BRPOP) needs a `response` longer than its own timeout.
pub fn connect(
    client: &redis::Client,
    connect: Duration,
    response: Duration,
) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(connect)?;
    con.set_read_timeout(Some(response))?;
    con.set_write_timeout(Some(response))?;
    Ok(con)
}

/// A `redis-server` started for this process alone. Dropping it stops it and removes its dir.
pub struct PrivateServer {
    child: Child,
    url: String,
    started_in: Duration,
    // Dropped after the server is stopped (fields drop in order, after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Start `redis-server` on a Unix socket in a fresh temp dir and wait until it answers PING.
    ///
    /// The parent-death signal is tied to the *calling thread*: call this from a thread that
    /// outlives the server (the `redis` strategy calls it from the measured child's main thread).
    pub fn start() -> anyhow::Result<PrivateServer> {
        let exe = find_server().ok_or_else(|| crate::error::Error::Usage(HOW_TO_GET_IT.into()))?;
        // 0700, in /tmp when TMPDIR is too deep for a socket path; stale ones swept first.
        let dir = super::private::dir_for_socket("redis", "redis.sock")?;
        let socket = dir.path().join("redis.sock");
        let log = dir.path().join("redis.log");
        let stderr = super::private::create(&dir.path().join("redis.stderr"))
            .context("creating the private redis-server's stderr file")?;
        // Made 0600 here: redis appends to its log file, and would create it 0644.
        super::private::create(&log).context("creating the private redis-server's log file")?;

        let mut cmd = Command::new(&exe);
        cmd.arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .arg("--daemonize")
            .arg("no")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        // Its own session, as a real Redis runs: a terminal's Ctrl-C goes to concur, which stops
        // taking jobs, and the server must stay up for the jobs still running (it is stopped
        // after); and with Linux's autogroup it is not scheduled as one entity with its clients
        // (in the same session, `bench queue`'s `--fork -c 2` gained nothing from starting
        // children off the loop's CPU: 255 against 262 µs a job; in its own, 187 against 256).
        super::process::own_session(&mut cmd);
        // SIGTERM, not SIGKILL: redis shuts down cleanly and removes its socket.
        super::process::die_with_parent(&mut cmd, nix::sys::signal::Signal::SIGTERM);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let url = format!("unix://{}", socket.display());
        let mut server = PrivateServer {
            child,
            url,
            started_in: Duration::ZERO,
            dir,
        };
        server.wait_until_ready(&socket, started)?;
        server.started_in = started.elapsed();
        Ok(server)
    }

    /// Poll until the server answers PING, it dies, or [`START_TIMEOUT`] passes.
    fn wait_until_ready(&mut self, socket: &Path, started: Instant) -> anyhow::Result<()> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut last_err = String::from("no socket yet");
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                return Err(anyhow!(
                    "the private redis-server exited at start ({status}): {}",
                    self.log_tail()
                ));
            }
            if socket.exists() {
                match ping(&client) {
                    Ok(()) => return Ok(()),
                    Err(e) => last_err = e.to_string(),
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err(anyhow!(
            "the private redis-server did not answer within {} s ({last_err}): {}",
            START_TIMEOUT.as_secs(),
            self.log_tail()
        ))
    }

    /// `unix:///.../redis.sock`: what clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// From spawn to the first PONG.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The last lines of the server's log and stderr, for error messages.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        for name in ["redis.stderr", "redis.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.path().join(name)) {
                text.push_str(&t);
            }
        }
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        match lines.len() {
            0 => "no log output".into(),
            n => lines[n.saturating_sub(3)..].join(" | "),
        }
    }

    /// `SHUTDOWN NOSAVE`, else SIGTERM, else SIGKILL; always reaped.
    ///
    /// The command first because it is immediate: redis acts on SIGTERM only at its next cron
    /// tick (10 per second), which would add up to 100 ms to every run's wall time.
    fn stop(&mut self) {
        self.shutdown_nosave();
        if self.exited_within(Duration::from_secs(1)) {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let mut termination = Termination::begin(pid, STOP_TIMEOUT);
        while !self.exited_within(Duration::from_millis(1)) {
            termination.escalate();
        }
    }

    /// Send `SHUTDOWN NOSAVE`, if the server can be reached within half a second.
    fn shutdown_nosave(&self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(500)) {
            let _ = con.set_read_timeout(Some(Duration::from_millis(500)));
            // The server closes the connection instead of answering: an error is expected.
            let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").exec(&mut con);
        }
    }

    /// Whether the server exits (and is reaped) within `limit`.
    fn exited_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return true,
                Ok(None) if Instant::now() >= deadline => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ping(client: &redis::Client) -> redis::RedisResult<()> {
    let mut con = client.get_connection_with_timeout(Duration::from_millis(500))?;
    con.set_read_timeout(Some(Duration::from_millis(500)))?;
    redis::cmd("PING").query::<String>(&mut con).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("redis://user:secret@host:6380/0"),
            "redis://***@host:6380/0"
        );
        assert_eq!(redact("redis://host:6380"), "redis://host:6380");
        assert_eq!(redact("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }

    /// The private server runs in a session of its own, as a service would (not scheduled
    /// with its clients under autogroup, not reached by a terminal's Ctrl-C), and still stops
    /// with its owner.
    #[test]
    fn the_private_server_has_a_session_of_its_own_and_stops_with_its_owner() {
        if find_server().is_none() {
            assert!(
                std::env::var_os("CONCUR_REQUIRE_REDIS").is_none(),
                "CONCUR_REQUIRE_REDIS is set but redis-server is missing"
            );
            return;
        }
        let server = PrivateServer::start().unwrap();
        let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
        let ours = nix::unistd::getsid(None).unwrap();
        assert_eq!(
            nix::unistd::getsid(Some(pid)).unwrap(),
            pid,
            "a session leader"
        );
        assert_ne!(ours, pid);
        drop(server);
        assert!(
            nix::sys::signal::kill(pid, None).is_err(),
            "the server is gone with its owner"
        );
    }
}
