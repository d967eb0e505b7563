//! A redis-server of the test's own, on a Unix socket in a temp dir (never port 6379).
//!
//! Without redis-server installed, [`test_redis`] prints why the test is skipped and returns
//! `None`, unless `CONCUR_REQUIRE_REDIS=1` (CI), under which it panics instead.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private redis-server; killed and reaped when dropped.
pub struct TestRedis {
    child: Child,
    /// How it was started, to start it again ([`TestRedis::restart`]).
    command: Vec<std::ffi::OsString>,
    /// `unix:///.../redis.sock`
    pub url: String,
    /// The server's temp dir (its socket and log); tests may keep their own files here.
    pub dir: tempfile::TempDir,
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where redis-server is on the PATH, if it is.
pub fn redis_server_path() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// A fresh server for `test`, or `None` (with the reason printed) when redis-server is missing.
pub fn test_redis(test: &str) -> Option<TestRedis> {
    test_redis_with(test, false)
}

fn test_redis_with(test: &str, aof: bool) -> Option<TestRedis> {
    let Some(exe) = redis_server_path() else {
        if std::env::var("CONCUR_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("{test}: redis-server is not installed and CONCUR_REQUIRE_REDIS=1");
        }
        // Straight to fd 2: libtest captures eprintln! of passing tests, and a skip must show.
        let _ = writeln!(
            std::io::stderr(),
            "skipping {test}: redis-server is not installed (apt-get install redis-server, or set CONCUR_REQUIRE_REDIS=1 to fail instead)"
        );
        return None;
    };
    let dir = tempfile::Builder::new()
        .prefix("concur-test-redis-")
        .tempdir_in("/tmp")
        .unwrap();
    let socket = dir.path().join("redis.sock");
    let mut command: Vec<std::ffi::OsString> = vec![exe.into(), "--port".into(), "0".into()];
    command.extend(["--unixsocket".into(), socket.clone().into_os_string()]);
    command.extend(["--unixsocketperm", "700", "--save", ""].map(Into::into));
    // DEBUG SLEEP stalls the server in the fault tests (local connections only).
    command.extend(["--enable-debug-command", "local"].map(Into::into));
    command.extend(["--appendonly".into(), if aof { "yes" } else { "no" }.into()]);
    command.extend(["--dir".into(), dir.path().as_os_str().to_owned()]);
    command.extend([
        "--logfile".into(),
        dir.path().join("redis.log").into_os_string(),
    ]);
    let server = TestRedis {
        child: spawn(&command),
        command,
        url: format!("unix://{}", socket.display()),
        dir,
    };
    server.wait_ready(test);
    Some(server)
}

/// A fresh server for `test` that logs every write to an append-only file in its dir, so that
/// its data survives [`TestRedis::restart`].
pub fn test_redis_aof(test: &str) -> Option<TestRedis> {
    test_redis_with(test, true)
}

fn spawn(command: &[std::ffi::OsString]) -> Child {
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting redis-server")
}

impl TestRedis {
    fn wait_ready(&self, test: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_con().is_none() {
            assert!(
                Instant::now() < deadline,
                "{test}: the test redis-server did not answer"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stop the server (`SHUTDOWN`: an append-only server writes everything first) and reap it.
    pub fn shutdown(&mut self) {
        let _ = redis::cmd("SHUTDOWN").exec(&mut self.con());
        self.child.wait().unwrap();
    }

    /// Start the server again, as it was started, on the same socket and dir.
    pub fn restart(&mut self) {
        self.child = spawn(&self.command);
        self.wait_ready("restart");
    }

    /// A connection that answered PING, or `None`.
    pub fn try_con(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url.as_str()).ok()?;
        let mut con = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        con.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        redis::cmd("PING").query::<String>(&mut con).ok()?;
        Some(con)
    }

    /// A connection to the server (panics if it does not answer).
    pub fn con(&self) -> redis::Connection {
        self.try_con().expect("a connection to the test redis")
    }
}
