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

pub mod client;
pub mod proto;

use super::fork::{self, Ending, PROCESSES};
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
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
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
    }),
    unavailable: available,
    run,
};

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
        }
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
    /// (it gets an error reply and the connection is closed). Never panics on what it reads.
    pub fn serve(&self, mut stream: UnixStream, peer: i32) {
        let mut inflight = None;
        loop {
            let request = proto::read_frame(&mut stream)
                .and_then(|body| body.map(|b| proto::decode_body::<Request>(&b)).transpose());
            let reply = match request {
                Ok(None) => break,
                Ok(Some(req)) => self.handle(req, &mut inflight),
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
    let mut server = match Client::connect(path) {
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
    let mut timed_out: HashMap<Pid, (u64, Instant, bool)> = HashMap::new();
    let mut hang_detected_s = None;
    let started = Instant::now();

    // tempfile creates the directory with mode 0700: only we can reach the socket inside.
    let dir = tempfile::Builder::new()
        .prefix("concur-rpc-")
        .tempdir()
        .context("creating a private directory for the rpc socket")?;
    let path = dir.path().join("server.sock");
    let listener = UnixListener::bind(&path).context("binding the rpc socket")?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let server = Server::new(spec.items);

    // Fork every worker now, while this process is still single-threaded.
    let mut workers: HashSet<Pid> = HashSet::new();
    let mut ended: HashMap<Pid, Ending> = HashMap::new();
    let mut failed: Option<anyhow::Error> = None;
    for _ in 0..spec.workers {
        let spawned = forker.fork(|| {
            // The worker needs the server's address, not its listening socket.
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(&listener));
            worker(&path, spec)
        });
        match spawned {
            Ok(pid) => {
                workers.insert(pid);
            }
            Err(e) => {
                failed = Some(
                    Error::Usage(format!(
                        "cannot fork an rpc worker: {e:#} (out of processes or memory? try fewer --workers)"
                    ))
                    .into(),
                );
                break;
            }
        }
    }

    let connected = std::thread::scope(|scope| {
        let mut connected: HashSet<Pid> = HashSet::new();
        if failed.is_none() {
            if let Err(e) = listener.set_nonblocking(true) {
                failed = Some(e.into());
            }
        }
        // Accept one connection per worker; a worker that dies first will never connect.
        let settled = |connected: &HashSet<Pid>, ended: &HashMap<Pid, Ending>| {
            connected.len() + ended.keys().filter(|p| !connected.contains(p)).count()
        };
        while failed.is_none() && settled(&connected, &ended) < workers.len() {
            match listener.accept() {
                Ok((stream, _)) => match peer_pid(&stream).map(Pid::from_raw) {
                    Some(pid) if workers.contains(&pid) && !connected.contains(&pid) => {
                        let _ = stream.set_nonblocking(false);
                        connected.insert(pid);
                        let server = &server;
                        scope.spawn(move || server.serve(stream, pid.as_raw()));
                    }
                    // Not one of our workers: no service.
                    _ => {
                        server.refused.fetch_add(1, SeqCst);
                    }
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => match fork::try_reap() {
                    Some((pid, ending)) => {
                        ended.insert(pid, ending);
                    }
                    None => std::thread::sleep(Duration::from_micros(200)),
                },
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => failed = Some(anyhow::Error::from(e).context("accepting a worker")),
            }
        }
        // Everyone who will ever connect has: the name is no longer needed.
        drop(listener);
        if let Err(e) = dir.close() {
            eprintln!("concur: could not remove the rpc socket directory: {e}");
        }
        if failed.is_some() {
            kill_all(workers.iter().filter(|p| !ended.contains_key(p)));
        }
        // Reap every worker. When the last one is gone, every connection is at its end and the
        // serving threads return; the scope joins them.
        while ended.len() < workers.len() {
            if let Some(limit) = timeout {
                // Poll, and meanwhile kill workers whose job ran past the timeout.
                match fork::try_reap() {
                    Some((pid, ending)) => {
                        ended.insert(pid, ending);
                    }
                    None => {
                        enforce(&server, limit, &mut timed_out, &mut hang_detected_s);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                continue;
            }
            match fork::reap_any() {
                Ok((pid, ending)) => {
                    ended.insert(pid, ending);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                    break;
                }
            }
        }
        connected
    });
    if let Some(e) = failed {
        return Err(e);
    }

    let mut failures = Vec::new();
    let lost = server.lost.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut explained: HashSet<i32> = HashSet::new();
    for &(pid, job) in &lost {
        let how = ended
            .get(&Pid::from_raw(pid))
            .map(|e| e.to_string())
            .unwrap_or_else(|| "ended".into());
        if timed_out.contains_key(&Pid::from_raw(pid)) {
            failures.push(Failure::job(
                job,
                format!(
                    "ran past --job-timeout {}; worker {pid} {how}",
                    crate::sys::units::seconds(timeout.unwrap_or_default().as_secs_f64())
                ),
            ));
        } else {
            failures.push(Failure::job(
                job,
                format!("worker {pid} hung up mid-job: {how}"),
            ));
        }
        explained.insert(pid);
    }
    for (pid, ending) in &ended {
        if !ending.ok() && !explained.contains(&pid.as_raw()) {
            failures.push(Failure::run(format!("worker {pid} {ending}")));
        }
    }
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
        "server: {} calls from {} connected workers; socket removed once all had connected; \
         {} bad frames or strangers refused",
        server.calls.load(SeqCst),
        connected.len(),
        server.refused.load(SeqCst)
    )];
    Ok(Outcome {
        jobs: popped,
        workers: spec.workers,
        failures,
        jobs_not_started: if stop.is_some() {
            spec.items - popped
        } else {
            0
        },
        stop: stop.filter(|_| popped < spec.items),
        jobs_timed_out: timed_out.len() as u64,
        hang_detected_s,
        wallet,
        work_s: started.elapsed().as_secs_f64(),
        notes,
        ..Default::default()
    })
}

/// `--job-timeout`: SIGTERM every worker whose current job has run past `limit`, SIGKILL it
/// [`fork::KILL_GRACE`] later if it is still there. Its connection then drops, and the job it held
/// is reported failed.
fn enforce(
    server: &Server,
    limit: Duration,
    timed_out: &mut HashMap<Pid, (u64, Instant, bool)>,
    hang_detected_s: &mut Option<f64>,
) {
    use nix::sys::signal::{kill, Signal};
    let running: Vec<(i32, (u64, Instant))> = server
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(&p, &r)| (p, r))
        .collect();
    for (peer, (job, since)) in running {
        let pid = Pid::from_raw(peer);
        if since.elapsed() >= limit && !timed_out.contains_key(&pid) {
            let _ = kill(pid, Signal::SIGTERM);
            hang_detected_s.get_or_insert(since.elapsed().as_secs_f64());
            timed_out.insert(pid, (job, Instant::now(), false));
        }
    }
    for (&pid, (_, termed, killed)) in timed_out.iter_mut() {
        if !*killed && termed.elapsed() >= fork::KILL_GRACE {
            let _ = kill(pid, Signal::SIGKILL);
            *killed = true;
        }
    }
}

fn kill_all<'a>(pids: impl Iterator<Item = &'a Pid>) {
    for &pid in pids {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
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
