//! The measured child's stdout: every byte passes through the harness, which counts each emoji
//! ([`emoji::Tally`]) and, for `concur run`, shows the stream as it arrives. Counting from
//! outside is what lets the check see exactly what a terminal would, forked workers included.

use super::Stream;
use crate::workload::emoji;
use std::io::{Read, Write};

/// Read `from` to its end, counting emoji, and pass it on to our stdout with [`Stream::Show`].
pub(super) fn count_stream(mut from: impl Read, stream: Stream) -> std::io::Result<emoji::Tally> {
    let mut tally = emoji::Tally::default();
    let mut buf = vec![0u8; 64 * 1024];
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
    }
    if shown {
        let _ = writeln!(stdout.lock());
    }
    Ok(tally)
}
