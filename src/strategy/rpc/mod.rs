//! `rpc`: DRb and multi_headed_greek_monster. One server process owns the work queue and the
//! wallet; `--workers N` forked worker processes call it over a Unix socket until the queue is
//! empty.
//!
//! This is the other way for processes to share state: not shared memory, but one owner that
//! everybody asks. Every call is serialised by the server, so `adjust` (one call that adds a
//! delta) never loses an update. But a *pair* of calls is not one call: with `--sync none` a
//! worker does `get`, pauses, then `set`, and another worker's `set` can land in between, exactly
//! the lost update of the threads strategies, now across processes and a socket.
//!
//! # Shape of a run
//! 1. The measured child becomes the server. While it is still single-threaded it binds a socket
//!    in a private temp dir (the dir 0700, the socket 0600) and forks the workers.
//! 2. It accepts one connection per worker, checking with `SO_PEERCRED` that the caller *is* one
//!    of its workers, and serves each connection on its own thread (no more forks from here on).
//! 3. Once every worker has connected (or died trying), nobody else needs the socket's name: the
//!    socket file and its directory are removed at once, so not even a `kill -9` of the server
//!    leaves them behind. The connections live on.
//! 4. It reaps every worker and reads how each ended. A job a worker had popped but not finished
//!    when its connection dropped is a failed job, with the worker's exit status as the reason.
//!
//! The protocol is in [`crate::strategy::rpc::client`]: four named requests, nothing resembling DRb's "call any
//! method", and a malformed frame costs the sender its connection, never the server its life.
//! So does a frame that stops half-way: once a request has begun, the rest must arrive within
//! [`FRAME_TIMEOUT`] (a serving thread waits without limit only *between* requests, while the
//! worker's job runs), and a worker waits at most [`REPLY_TIMEOUT`] for a reply. The socket's
//! directory is made by [`crate::sys::private`], in `/tmp` when `TMPDIR` is too deep for a
//! socket path.

pub mod client;
pub mod proto;

use super::fork::{self, Ending, Termination, PROCESSES};
use super::{available, Floor, Props, Setup, StrategyInfo, Workers};
use crate::error::Error;
use crate::strategy::rpc::client::{Client, ProtoError, Request, Response};
use crate::strategy::spec::{Failure, Outcome, RunSpec, Stop};
use crate::workload::wallet::SyncMode;
use crate::workload::Workload;
use crate::workload::{self, wallet};
use anyhow::Context;
use nix::unistd::Pid;
use proto::error_reply;
use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const INFO: StrategyInfo = StrategyInfo {
    name: "rpc",
    models: "DRb / multi_headed_greek_monster: a server owns queue and wallet, forked workers call it over a Unix socket",
    props: Props {
        needs_server: true,
        ..PROCESSES
    },
    workers: Workers::Count(2),
    syncs: &[SyncMode::Adjust, SyncMode::None],
    transfers: &[],
    needs_redis: false,
    source: file!(),
    wallet_in: None,
    made_of: None,
    floor: Some(Floor {
        per_job: "unix socket round trip",
        setup: Some(Setup {
            primitive: "fork+_exit+waitpid",
            short: "fork",
            per_worker: true,
        }),
        parallel: true,
    }),
    unavailable: available,
    run,
};

/// Once a request's first byte has arrived, the whole frame must follow within this (a frame
/// is under 20 bytes, written in one `write`); and a reply must be taken within it.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a worker waits for the server's reply: the server answers at once, so only a
/// server that is gone or wedged takes this long, and the worker then gives up its job.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest `adjust` delta the server accepts (jobs use +-10; this keeps sums far from overflow).
pub const MAX_DELTA: i64 = 1 << 20;

/// What the server owns: the queue, the wallet, and its books about the calls it served.
pub struct Server {
    items: u64,
    next: AtomicU64,
    ledger: wallet::Ledger,
    /// The highest version a `get` has handed out: a `set` may only be based on a version that
    /// exists (else a worker could make the lost-update books loop).
    seen_version: AtomicU32,
    calls: AtomicU64,
    refused: AtomicU64,
    /// Jobs whose worker hung up between `pop` and its next call: (worker pid, job).
    lost: Mutex<Vec<(i32, u64)>>,
    /// The job each worker is running, and since when (for `--job-timeout`).
    running: Mutex<HashMap<i32, (u64, Instant)>>,
    /// How long the rest of a frame may take once it has begun ([`FRAME_TIMEOUT`]).
    frame_timeout: Duration,
    /// Connections closed because a frame stalled half-way.
    stalled: AtomicU64,
}

impl Server {
    pub fn new(items: u64) -> Server {
        Server {
            items,
            next: AtomicU64::new(0),
            ledger: wallet::Ledger::new(items),
            seen_version: AtomicU32::new(0),
            calls: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            lost: Mutex::new(Vec::new()),
            running: Mutex::new(HashMap::new()),
            frame_timeout: FRAME_TIMEOUT,
            stalled: AtomicU64::new(0),
        }
    }

    /// The same server with another frame timeout (tests use a short one).
    pub fn with_frame_timeout(mut self, limit: Duration) -> Server {
        self.frame_timeout = limit;
        self
    }

    /// Answer one request. `inflight` is the calling connection's current job: a `pop` reports
    /// it done and takes the next.
    pub fn handle(&self, req: Request, inflight: &mut Option<u64>) -> Response {
        self.calls.fetch_add(1, SeqCst);
        match req {
            Request::Pop => {
                *inflight = None;
                // After Ctrl-C the queue is closed: every worker finishes its job and leaves.
                if crate::sys::signals::stop_requested() {
                    return Response::Empty;
                }
                // fetch_update never moves `next` past `items`, however often a worker asks.
                match self
                    .next
                    .fetch_update(SeqCst, SeqCst, |n| (n < self.items).then_some(n + 1))
                {
                    Ok(i) => {
                        *inflight = Some(i);
                        Response::Job(i)
                    }
                    Err(_) => Response::Empty,
                }
            }
            Request::Get => {
                let (balance, version) = self.ledger.read();
                self.seen_version.fetch_max(version, SeqCst);
                Response::Balance { balance, version }
            }
            Request::Set { balance, based_on } => {
                if based_on > self.seen_version.load(SeqCst) {
                    error_reply(format!("set: version {based_on} was never read"))
                } else if i32::try_from(balance).is_err() {
                    error_reply(format!("set: balance {balance} is out of range"))
                } else {
                    self.ledger.write(based_on, balance);
                    Response::Ok
                }
            }
            Request::Adjust { delta } => {
                if delta.abs() > MAX_DELTA {
                    error_reply(format!("adjust: |{delta}| is over {MAX_DELTA}"))
                } else {
                    self.ledger.add_atomically(delta);
                    Response::Ok
                }
            }
        }
    }

    /// Serve one connection until the worker hangs up, or sends something that is not a request
    /// (it gets an error reply and the connection is closed). Never panics on what it reads,
    /// and never waits for good: between requests it waits as long as the worker's job takes,
    /// but once a frame has begun the rest must arrive within the frame timeout, and a reply
    /// must be taken within it (a truncated frame or a peer that stops reading costs the peer
    /// its connection, not this thread its life).
    pub fn serve(&self, mut stream: UnixStream, peer: i32) {
        let mut inflight = None;
        let _ = stream.set_write_timeout(Some(self.frame_timeout));
        while proto::wait_readable(&stream) {
            let request = proto::read_frame(&mut proto::Deadline::new(&stream, self.frame_timeout))
                .and_then(|body| body.map(|b| proto::decode_body::<Request>(&b)).transpose());
            let reply = match request {
                Ok(None) => break,
                Ok(Some(req)) => self.handle(req, &mut inflight),
                Err(e) if e.is_stall() => {
                    self.stalled.fetch_add(1, SeqCst);
                    error_reply(format!(
                        "no complete frame within {}: connection closed",
                        crate::sys::units::seconds(self.frame_timeout.as_secs_f64())
                    ))
                }
                Err(ProtoError::Io(_)) => break,
                Err(e) => error_reply(e.to_string()),
            };
            self.track(peer, inflight);
            let refused = matches!(reply, Response::Error(_));
            if refused {
                self.refused.fetch_add(1, SeqCst);
            }
            if proto::write_frame(&mut stream, &reply).is_err() || refused {
                break;
            }
        }
        self.track(peer, None);
        if let Some(job) = inflight {
            self.lost
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((peer, job));
        }
    }
}

impl Server {
    /// Since when each connected worker has been running its current job: (pid, since).
    fn running_since(&self) -> Vec<(i32, Instant)> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .iter()
            .map(|(&peer, &(_, since))| (peer, since))
            .collect()
    }

    /// Note which job `peer` runs now (and since when, if it is a new one).
    fn track(&self, peer: i32, job: Option<u64>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match job {
            Some(i) if running.get(&peer).map(|r| r.0) != Some(i) => {
                running.insert(peer, (i, Instant::now()));
            }
            Some(_) => {}
            None => {
                running.remove(&peer);
            }
        }
    }
}

/// The pid of the process at the other end of a Unix socket, from the kernel (`SO_PEERCRED`).
fn peer_pid(stream: &UnixStream) -> Option<i32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    getsockopt(stream, PeerCredentials).ok().map(|c| c.pid())
}

/// A worker process: connect, then pop and perform jobs until the queue is empty. Returns the
/// exit code. Runs in a forked child of the single-threaded server.
fn worker(path: &Path, spec: &RunSpec) -> i32 {
    let mut server = match Client::connect(path, REPLY_TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("concur: rpc worker: cannot connect to the server: {e}");
            return 2;
        }
    };
    loop {
        let i = match server.call(&Request::Pop) {
            Ok(Response::Job(i)) => i,
            Ok(Response::Empty) => return 0,
            Ok(other) => {
                eprintln!("concur: rpc worker: unexpected reply to pop: {other:?}");
                return 3;
            }
            Err(e) => {
                eprintln!("concur: rpc worker: pop failed: {e}");
                return 3;
            }
        };
        // A panic here ends this worker (exit 101): nobody replaces a dead worker.
        if let Some(f) = &spec.fault {
            f.strike(i);
        }
        if let Err(e) = perform(&mut server, spec, i) {
            eprintln!("concur: rpc worker: job {i}: {e}");
            return 1;
        }
    }
}

/// One job, as a worker does it.
fn perform(server: &mut Client, spec: &RunSpec, i: u64) -> anyhow::Result<()> {
    match (spec.workload, spec.sync) {
        (Workload::Wallet, SyncMode::None) => {
            // Two calls: each is served whole, the pair is not.
            let (balance, version) = match server.call(&Request::Get)? {
                Response::Balance { balance, version } => (balance, version),
                other => anyhow::bail!("unexpected reply to get: {other:?}"),
            };
            wallet::pause(spec.knobs.pause_us);
            server.call(&Request::Set {
                balance: balance + wallet::delta(i),
                based_on: version,
            })?;
        }
        (Workload::Wallet, _) => {
            wallet::pause(spec.knobs.pause_us);
            server.call(&Request::Adjust {
                delta: wallet::delta(i),
            })?;
        }
        _ => workload::perform_stateless(spec.workload, &spec.knobs, i)
            .map_err(anyhow::Error::msg)?,
    }
    Ok(())
}

fn run(spec: &RunSpec) -> anyhow::Result<Outcome> {
    let forker = fork::SingleThreaded::check()?;
    let timeout = spec.job_timeout_ms.map(Duration::from_millis);
    let started = Instant::now();
    let socket = Socket::bind()?;
    let server = Server::new(spec.items);

    // Fork every worker now, while this process is still single-threaded.
    let mut workers = WorkerProcesses::new(timeout);
    let mut failed = workers.fork(&forker, spec, &socket).err();

    let connected = std::thread::scope(|scope| {
        let accepted = match failed {
            None => accept(scope, &socket.listener, &server, &mut workers),
            Some(_) => Ok(HashSet::new()),
        };
        // Everyone who will ever connect has: the name is no longer needed.
        socket.remove();
        let connected = accepted.unwrap_or_else(|e| {
            failed = Some(e);
            HashSet::new()
        });
        if failed.is_some() {
            workers.kill_unreaped();
        }
        // Reap every worker. When the last one is gone, every connection is at its end and the
        // serving threads return; the scope joins them.
        if let Err(e) = workers.reap_all(&server) {
            failed.get_or_insert(e);
        }
        connected
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(report(spec, server, &workers, connected.len(), started))
}

/// The socket's file name in its private directory.
const SOCKET_NAME: &str = "server.sock";

/// The listening socket, in a private directory until every worker has connected.
struct Socket {
    dir: tempfile::TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl Socket {
    /// Bind `server.sock` in a fresh private temp dir, readable by us alone.
    fn bind() -> anyhow::Result<Socket> {
        // Mode 0700: only we can reach the socket inside. In /tmp when TMPDIR is too deep for
        // a socket's path, as for the private redis-server.
        let dir = crate::sys::private::dir_for_socket("rpc", SOCKET_NAME)
            .context("creating a private directory for the rpc socket")?;
        let path = dir.path().join(SOCKET_NAME);
        let listener = UnixListener::bind(&path).context("binding the rpc socket")?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .context("making the rpc socket private")?;
        Ok(Socket {
            dir,
            path,
            listener,
        })
    }

    /// Close the listener and remove the socket file and its directory (connections live on).
    fn remove(self) {
        drop(self.listener);
        if let Err(e) = self.dir.close() {
            eprintln!("concur: could not remove the rpc socket directory: {e}");
        }
    }
}

/// The forked worker processes of a run, and what became of them.
struct WorkerProcesses {
    /// `--job-timeout`: how long one job may take.
    timeout: Option<Duration>,
    pids: HashSet<Pid>,
    ended: HashMap<Pid, Ending>,
    /// Workers sent SIGTERM because their job ran past `--job-timeout`.
    stopping: HashMap<Pid, Termination>,
    /// The first such job: from its `pop` to its worker's SIGTERM.
    hang_detected_s: Option<f64>,
}

impl WorkerProcesses {
    fn new(timeout: Option<Duration>) -> WorkerProcesses {
        WorkerProcesses {
            timeout,
            pids: HashSet::new(),
            ended: HashMap::new(),
            stopping: HashMap::new(),
            hang_detected_s: None,
        }
    }

    /// Fork `spec.workers` workers that connect to `socket`; the first fork error (those forked
    /// before it are kept, to be killed and reaped).
    fn fork(
        &mut self,
        forker: &fork::SingleThreaded,
        spec: &RunSpec,
        socket: &Socket,
    ) -> anyhow::Result<()> {
        for _ in 0..spec.workers {
            let pid = forker
                .fork(|| {
                    // The worker needs the server's address, not its listening socket.
                    let _ = nix::unistd::close(socket.listener.as_raw_fd());
                    worker(&socket.path, spec)
                })
                .map_err(|e| {
                    Error::Usage(format!(
                        "cannot fork an rpc worker: {e:#} (out of processes or memory? try fewer --workers)"
                    ))
                })?;
            self.pids.insert(pid);
        }
        Ok(())
    }

    /// Workers that connected or ended without connecting: when it is all of them, nobody
    /// else will ever connect.
    fn settled(&self, connected: &HashSet<Pid>) -> usize {
        let died_first = self.ended.keys().filter(|p| !connected.contains(p)).count();
        connected.len() + died_first
    }

    fn kill_unreaped(&self) {
        for pid in self.pids.iter().filter(|p| !self.ended.contains_key(p)) {
            let _ = nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Reap every worker; with a timeout, poll and stop the workers whose job runs past it.
    fn reap_all(&mut self, server: &Server) -> anyhow::Result<()> {
        while self.ended.len() < self.pids.len() {
            let Some(limit) = self.timeout else {
                let (pid, ending) = fork::reap_any()?;
                self.ended.insert(pid, ending);
                continue;
            };
            match fork::try_reap() {
                Some((pid, ending)) => {
                    self.ended.insert(pid, ending);
                }
                None => {
                    self.enforce(server, limit);
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        Ok(())
    }

    /// `--job-timeout`: SIGTERM every worker whose current job has run past `limit`, SIGKILL it
    /// [`fork::KILL_GRACE`] later if it is still there. Its connection then drops, and the job
    /// it held is reported failed.
    fn enforce(&mut self, server: &Server, limit: Duration) {
        for (peer, since) in server.running_since() {
            let pid = Pid::from_raw(peer);
            let unreaped = !self.ended.contains_key(&pid);
            if since.elapsed() >= limit && unreaped && !self.stopping.contains_key(&pid) {
                self.stopping
                    .insert(pid, Termination::begin(pid, fork::KILL_GRACE));
                self.hang_detected_s
                    .get_or_insert(since.elapsed().as_secs_f64());
            }
        }
        for (pid, termination) in self.stopping.iter_mut() {
            if !self.ended.contains_key(pid) {
                termination.escalate();
            }
        }
    }
}

/// Accept one connection per worker, each served on its own thread of `scope`, until every
/// worker has connected or died first; the workers that connected.
fn accept<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    listener: &UnixListener,
    server: &'scope Server,
    workers: &mut WorkerProcesses,
) -> anyhow::Result<HashSet<Pid>> {
    listener
        .set_nonblocking(true)
        .context("making the rpc socket non-blocking")?;
    let mut connected: HashSet<Pid> = HashSet::new();
    while workers.settled(&connected) < workers.pids.len() {
        match listener.accept() {
            Ok((stream, _)) => match peer_pid(&stream).map(Pid::from_raw) {
                Some(pid) if workers.pids.contains(&pid) && !connected.contains(&pid) => {
                    let _ = stream.set_nonblocking(false);
                    connected.insert(pid);
                    scope.spawn(move || server.serve(stream, pid.as_raw()));
                }
                // Not one of our workers: no service.
                _ => {
                    server.refused.fetch_add(1, SeqCst);
                }
            },
            // Nobody calling: has a worker died before it could?
            Err(e) if e.kind() == ErrorKind::WouldBlock => match fork::try_reap() {
                Some((pid, ending)) => {
                    workers.ended.insert(pid, ending);
                }
                None => std::thread::sleep(Duration::from_micros(200)),
            },
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(anyhow::Error::from(e).context("accepting a worker")),
        }
    }
    Ok(connected)
}

/// The run's outcome: the server's books and how every worker ended.
fn report(
    spec: &RunSpec,
    server: Server,
    workers: &WorkerProcesses,
    connected: usize,
    started: Instant,
) -> Outcome {
    let lost = server.lost.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut failures = workers.failures(&lost);
    let popped = server.next.load(SeqCst).min(spec.items);
    let stop = Stop::requested();
    if popped < spec.items && stop.is_none() {
        failures.push(Failure::run(format!(
            "{} jobs never ran: no worker was left to take them",
            spec.items - popped
        )));
    }
    let wallet = (spec.workload == Workload::Wallet).then(|| server.ledger.outcome(spec.items));
    let notes = vec![format!(
        "server: {} calls from {connected} connected workers; socket removed once all had \
         connected; {} bad frames or strangers refused ({} frames stalled half-way)",
        server.calls.load(SeqCst),
        server.refused.load(SeqCst),
        server.stalled.load(SeqCst)
    )];
    Outcome {
        jobs: popped,
        workers: spec.workers,
        failures,
        jobs_not_started: if stop.is_some() {
            spec.items - popped
        } else {
            0
        },
        stop: stop.filter(|_| popped < spec.items),
        jobs_timed_out: workers.stopping.len() as u64,
        hang_detected_s: workers.hang_detected_s,
        wallet,
        work_s: started.elapsed().as_secs_f64(),
        notes,
        ..Default::default()
    }
}

impl WorkerProcesses {
    /// One failure per job lost with its worker (`lost`: worker pid, job), explained by how
    /// the worker ended; then one per worker that ended badly without holding a job.
    fn failures(&self, lost: &[(i32, u64)]) -> Vec<Failure> {
        let mut failures = Vec::new();
        let mut explained: HashSet<i32> = HashSet::new();
        for &(pid, job) in lost {
            let how = self
                .ended
                .get(&Pid::from_raw(pid))
                .map(|e| e.to_string())
                .unwrap_or_else(|| "ended".into());
            let why = if self.stopping.contains_key(&Pid::from_raw(pid)) {
                let limit = self.timeout.unwrap_or_default().as_secs_f64();
                let limit = crate::sys::units::seconds(limit);
                format!("ran past --job-timeout {limit}; worker {pid} {how}")
            } else {
                format!("worker {pid} hung up mid-job: {how}")
            };
            failures.push(Failure::job(job, why));
            explained.insert(pid);
        }
        for (pid, ending) in &self.ended {
            if !ending.ok() && !explained.contains(&pid.as_raw()) {
                failures.push(Failure::run(format!("worker {pid} {ending}")));
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    // No forks here: the server's connection handling is tested over socket pairs in threads.

    fn serve_pair(server: &Server, client: impl FnOnce(UnixStream)) {
        let (a, b) = UnixStream::pair().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| server.serve(a, 4242));
            client(b);
        });
    }

    fn call(stream: &mut UnixStream, req: &Request) -> Response {
        proto::write_frame(stream, req).unwrap();
        let body = proto::read_frame(stream).unwrap().unwrap();
        proto::decode_body(&body).unwrap()
    }

    #[test]
    fn garbage_gets_an_error_and_a_closed_connection_and_the_server_carries_on() {
        let server = Server::new(3);
        let bad_frames: Vec<Vec<u8>> = vec![
            vec![0xff, 0xff, 0xff, 0xff],        // 4 GiB length
            vec![0, 0, 0, 0],                    // empty
            vec![0, 0, 0, 2, 7, 0],              // version 7
            vec![0, 0, 0, 2, proto::VERSION, 9], // no such request
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ];
        for bytes in bad_frames {
            serve_pair(&server, |mut c| {
                c.write_all(&bytes).unwrap();
                let body = proto::read_frame(&mut c).unwrap().expect("an error reply");
                assert!(matches!(
                    proto::decode_body::<Response>(&body).unwrap(),
                    Response::Error(_)
                ));
                // Then the end: EOF, or a reset when the server left our garbage unread.
                let mut rest = Vec::new();
                match c.read_to_end(&mut rest) {
                    Ok(_) => assert!(rest.is_empty(), "nothing after the error reply"),
                    Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
                }
            });
        }
        // A truncated frame: the peer hangs up mid-frame; the server just drops it.
        serve_pair(&server, |mut c| {
            c.write_all(&[0, 0, 0, 9, proto::VERSION]).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).unwrap();
        });
        // Still serving, with its queue intact.
        serve_pair(&server, |mut c| {
            assert_eq!(call(&mut c, &Request::Pop), Response::Job(0));
            assert_eq!(call(&mut c, &Request::Pop), Response::Job(1));
        });
        assert_eq!(server.refused.load(SeqCst), 6);
        // The job popped last was in flight when that connection closed: it is counted lost.
        assert_eq!(*server.lost.lock().unwrap(), vec![(4242, 1)]);
    }

    /// Serve `stream` on a thread; whether `serve` returned within 10 s (it hangs for good
    /// without a frame timeout).
    fn serve_returns(server: &Server, stream: UnixStream) -> bool {
        let (done, ended) = std::sync::mpsc::channel();
        let ours = stream.try_clone().unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                server.serve(stream, 4242);
                let _ = done.send(());
            });
            let returned = ended.recv_timeout(Duration::from_secs(10)).is_ok();
            // A hung `serve` is freed, so that the test fails instead of hanging too.
            let _ = ours.shutdown(std::net::Shutdown::Both);
            returned
        })
    }

    #[test]
    fn a_truncated_frame_on_an_open_connection_is_cut_off_not_waited_for() {
        let server = Server::new(3).with_frame_timeout(Duration::from_millis(200));
        // A worker's connection takes a job, then a hostile writer sends a length of 256 and
        // one byte, and keeps the connection open.
        let (a, mut b) = UnixStream::pair().unwrap();
        proto::write_frame(&mut b, &Request::Pop).unwrap();
        b.write_all(&[0, 0, 1, 0, proto::VERSION]).unwrap();
        assert!(serve_returns(&server, a), "serve hung on a truncated frame");
        // The peer got its job, then an error reply saying why, then the end of the connection.
        let body = proto::read_frame(&mut b).unwrap().unwrap();
        assert_eq!(
            proto::decode_body::<Response>(&body).unwrap(),
            Response::Job(0)
        );
        let body = proto::read_frame(&mut b).unwrap().expect("an error reply");
        let Response::Error(why) = proto::decode_body::<Response>(&body).unwrap() else {
            panic!("not an error reply")
        };
        assert!(why.contains("no complete frame within 200.0 ms"), "{why}");
        assert_eq!(proto::read_frame(&mut b).unwrap(), None);
        assert_eq!(server.stalled.load(SeqCst), 1);
        // The job that connection held is lost, and the server serves the next one.
        assert_eq!(*server.lost.lock().unwrap(), vec![(4242, 0)]);
        serve_pair(&server, |mut c| {
            assert_eq!(call(&mut c, &Request::Pop), Response::Job(1));
        });
    }

    #[test]
    fn a_frame_trickled_byte_by_byte_gets_the_frame_timeout_in_all() {
        let server = Server::new(3).with_frame_timeout(Duration::from_millis(300));
        let (a, mut b) = UnixStream::pair().unwrap();
        let frame = proto::encode(&Request::Pop).unwrap();
        std::thread::scope(|s| {
            let trickle = s.spawn(move || {
                // Each byte well inside a per-read timeout, the whole well past the deadline.
                for byte in frame.iter().chain([0u8; 8].iter()).cycle().take(60) {
                    if b.write_all(&[*byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            assert!(serve_returns(&server, a), "serve waited for a trickle");
            trickle.join().unwrap();
        });
        assert_eq!(server.stalled.load(SeqCst), 1);
    }

    #[test]
    fn adjust_is_exact_and_get_set_can_lose() {
        let server = Server::new(2);
        serve_pair(&server, |mut c| {
            // Two workers' get+set pairs interleaved: both read version 0, the second set wins.
            let Response::Balance { balance, version } = call(&mut c, &Request::Get) else {
                panic!()
            };
            assert_eq!(
                call(
                    &mut c,
                    &Request::Set {
                        balance: balance + 10,
                        based_on: version
                    }
                ),
                Response::Ok
            );
            assert_eq!(
                call(
                    &mut c,
                    &Request::Set {
                        balance: balance - 10,
                        based_on: version
                    }
                ),
                Response::Ok
            );
        });
        let o = server.ledger.outcome(2);
        assert_eq!((o.final_balance, o.lost_updates), (90, 1));

        let server = Server::new(2);
        serve_pair(&server, |mut c| {
            assert_eq!(call(&mut c, &Request::Adjust { delta: 10 }), Response::Ok);
            assert_eq!(call(&mut c, &Request::Adjust { delta: -10 }), Response::Ok);
        });
        let o = server.ledger.outcome(2);
        assert_eq!((o.final_balance, o.lost_updates), (100, 0));
    }

    #[test]
    fn a_set_based_on_a_version_never_read_is_refused() {
        let server = Server::new(2);
        let mut none = None;
        assert!(matches!(
            server.handle(
                Request::Set {
                    balance: 1,
                    based_on: 5
                },
                &mut none
            ),
            Response::Error(_)
        ));
        assert!(matches!(
            server.handle(Request::Adjust { delta: i64::MAX }, &mut none),
            Response::Error(_)
        ));
        assert_eq!(server.ledger.read(), (wallet::START, 0));
    }
}
