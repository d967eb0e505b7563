//! The measured child's stdout: every byte passes through the harness, which counts each emoji
//! ([`emoji::Tally`]) and, for `concur run`, shows the stream as it arrives. Counting from
//! outside is what lets the check see exactly what a terminal would, forked workers included.
//!
//! The emoji workload makes one `write(2)` of 4 bytes per print. A reader that drains the pipe
//! the moment data arrives is woken by nearly every one of those writes: two context switches
//! per emoji, paid in system time by both processes, far more than the job itself. So the
//! harness gives the pipe a large buffer ([`PIPE_BYTES`], `F_SETPIPE_SZ`) and, after each read,
//! lets the data pile up for [`PAUSE`] before reading it all at once: a writer never waits for
//! room (the buffer holds far more than arrives in a pause) and never wakes a sleeping reader.
//! A pause of 2 ms is too short to see on a terminal.

use super::Stream;
use crate::workload::emoji;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

/// The pipe buffer asked for (Linux's default limit for an unprivileged process is 1 MiB).
pub(super) const PIPE_BYTES: i32 = 1 << 20;
/// How long the reader lets output pile up after a read that did not fill its buffer.
const PAUSE: Duration = Duration::from_millis(2);

/// Give the pipe `fd` a buffer of [`PIPE_BYTES`]; where the system refuses, it keeps its own
/// (64 KiB), which only means more wake-ups.
pub(super) fn enlarge(fd: impl AsFd) {
    let _ = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
}

/// Read `from` to its end, counting emoji, and pass it on to our stdout with [`Stream::Show`].
pub(super) fn count_stream(mut from: impl Read, stream: Stream) -> std::io::Result<emoji::Tally> {
    let mut tally = emoji::Tally::default();
    let mut buf = vec![0u8; PIPE_BYTES as usize];
    let mut shown = false;
    let stdout = std::io::stdout();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        tally.feed(&buf[..n]);
        if stream == Stream::Show {
            let mut out = stdout.lock();
            // A closed terminal (e.g. `| head`) must not fail the measurement.
            let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
            shown = true;
        }
        if n < buf.len() {
            // Drained: let the next writes pile up rather than wake us one by one.
            std::thread::sleep(PAUSE);
        }
    }
    if shown {
        let _ = writeln!(stdout.lock());
    }
    Ok(tally)
}
