//! The emoji workload from the talks: item x prints the character U+1F400+x, `repeat` times.
//!
//! Each print is its own `write(2)` of four bytes straight to file descriptor 1, bypassing Rust's
//! line-buffered `Stdout`, so that concurrent jobs interleave on screen exactly as the kernel
//! orders their writes. Writes of at most `PIPE_BUF` bytes to a pipe are atomic, so an emoji is
//! never torn in half: the harness can count every one of them from outside ([`Tally`]).

use std::io;

/// The first emoji: U+1F400 RAT.
pub const BASE: u32 = 0x1F400;
/// Items beyond this would leave the pictograph blocks (U+1F400..=U+1F7FF).
pub const MAX_ITEMS: u64 = 1024;

/// The UTF-8 bytes of item `i`'s emoji.
pub fn glyph(i: u64) -> [u8; 4] {
    let c =
        char::from_u32(BASE + (i % MAX_ITEMS) as u32).expect("U+1F400..U+1F7FF are scalar values");
    let mut buf = [0u8; 4];
    c.encode_utf8(&mut buf);
    buf
}

/// One emoji job: `repeat` separate writes of item `i`'s emoji to stdout.
pub fn perform(i: u64, repeat: u64) -> io::Result<()> {
    let bytes = glyph(i);
    for _ in 0..repeat {
        write_stdout(&bytes)?;
    }
    Ok(())
}

/// Where emoji go instead of stdout, when set (benches write to /dev/null so criterion's own
/// report on stdout stays readable). Runs under the harness never set it: their stdout is the
/// pipe the harness counts.
static SINK: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Send every later emoji write to `file` instead of stdout. Only the first call takes effect.
pub fn set_sink(file: std::fs::File) {
    let _ = SINK.set(file);
}

/// One `write(2)` to fd 1, or to the sink (retried only if interrupted or short).
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    match SINK.get() {
        Some(file) => write_all(file, bytes),
        None => write_all(io::stdout(), bytes),
    }
}

fn write_all(fd: impl std::os::fd::AsFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(&fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    Ok(())
}

/// Counts the emoji in a byte stream, fed in arbitrary chunks.
#[derive(Debug, Clone)]
pub struct Tally {
    counts: Vec<u64>,
    /// Bytes that were not part of an emoji of the workload.
    pub stray_bytes: u64,
    pending: Vec<u8>,
    /// Times the stream changed from one emoji to another: `items - 1` when every item came out
    /// in one unbroken block, thousands when they are shuffled.
    pub switches: u64,
    last: Option<u32>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            counts: vec![0; MAX_ITEMS as usize],
            stray_bytes: 0,
            pending: Vec::with_capacity(4),
            switches: 0,
            last: None,
        }
    }
}

impl Tally {
    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.pending.is_empty() && b != 0xF0 {
                self.stray_bytes += 1;
                continue;
            }
            self.pending.push(b);
            if self.pending.len() == 4 {
                let cp = std::str::from_utf8(&self.pending)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .map(|c| c as u32);
                match cp {
                    Some(cp) if (BASE..BASE + MAX_ITEMS as u32).contains(&cp) => {
                        self.counts[(cp - BASE) as usize] += 1;
                        if self.last.is_some_and(|l| l != cp) {
                            self.switches += 1;
                        }
                        self.last = Some(cp);
                    }
                    _ => self.stray_bytes += 4,
                }
                self.pending.clear();
            }
        }
    }

    /// How many times item `i`'s emoji was seen.
    pub fn count(&self, i: u64) -> u64 {
        self.counts.get(i as usize).copied().unwrap_or(0)
    }

    /// Total emoji seen.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `None` when items `0..items` each appeared exactly `repeat` times and nothing else did;
    /// otherwise a one-line description of the first discrepancy.
    pub fn check(&self, items: u64, repeat: u64) -> Option<String> {
        let stray = self.stray_bytes + self.pending.len() as u64;
        if stray > 0 {
            return Some(format!("{stray} stray bytes in the emoji stream"));
        }
        for i in 0..MAX_ITEMS {
            let want = if i < items { repeat } else { 0 };
            let got = self.count(i);
            if got != want {
                let c = char::from_u32(BASE + i as u32).unwrap_or('?');
                return Some(format!(
                    "item {i} ({c}) printed {got} times, expected {want}"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_across_chunk_boundaries() {
        let mut t = Tally::default();
        let mut stream = Vec::new();
        for i in 0..3 {
            for _ in 0..5 {
                stream.extend_from_slice(&glyph(i));
            }
        }
        for chunk in stream.chunks(3) {
            t.feed(chunk);
        }
        assert_eq!(t.count(0), 5);
        assert_eq!(t.count(2), 5);
        assert_eq!(t.check(3, 5), None);
        assert!(t.check(3, 4).is_some());
        assert!(t.check(4, 5).is_some());
    }

    #[test]
    fn tally_counts_switches_between_emoji() {
        let mut t = Tally::default();
        for i in [0, 0, 1, 1, 0, 2] {
            t.feed(&glyph(i));
        }
        assert_eq!(t.switches, 3);
    }

    #[test]
    fn tally_flags_stray_bytes() {
        let mut t = Tally::default();
        t.feed(&glyph(0));
        t.feed(b"x");
        assert_eq!(
            t.check(1, 1),
            Some("1 stray bytes in the emoji stream".into())
        );
    }

    #[test]
    fn first_glyph_is_the_rat() {
        assert_eq!(std::str::from_utf8(&glyph(0)).unwrap(), "\u{1F400}");
        assert_eq!(std::str::from_utf8(&glyph(50)).unwrap(), "\u{1F432}");
    }
}
