//! Frames and messages: encode, read, decode, and refuse everything else without panicking.
//!
//! The decoder is the part of a server a stranger controls, so it is written to fail closed:
//! lengths are checked before any allocation, a short read is `Truncated` (never a hang once the
//! peer hangs up), unknown versions and undecodable or over-long payloads are errors, and nothing
//! here can panic on any input (the property tests below feed it garbage).

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The protocol version, the first byte of every frame body.
pub const VERSION: u8 = 1;

/// The largest frame body (version byte + payload) either side accepts. Requests are under 20
/// bytes; replies carry at most a short error message.
pub const MAX_FRAME: usize = 512;

/// Longest error message a reply carries (so that every reply fits in [`MAX_FRAME`]).
pub const MAX_ERROR_MESSAGE: usize = 200;

/// What a worker may ask. Nothing else exists on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Take the next job off the queue (and report the previous one done).
    Pop,
    /// Read the balance and the version it came from.
    Get,
    /// Write `balance`, computed from what `Get` returned at version `based_on`. The server does
    /// not check that `based_on` is still current: that is the race (a compare-and-set would be
    /// the fix).
    Set { balance: i64, based_on: u32 },
    /// Add `delta` to the balance, whole, in one call.
    Adjust { delta: i64 },
}

/// What the server answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Perform job `i`.
    Job(u64),
    /// The queue is empty: the worker may exit.
    Empty,
    /// The balance and its version.
    Balance { balance: i64, version: u32 },
    /// Done.
    Ok,
    /// The request was refused; the server closes the connection after sending this.
    Error(String),
}

/// Why a frame could not be read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("truncated frame: the peer hung up after {got} of {want} bytes")]
    Truncated { got: usize, want: usize },
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    Oversized(usize),
    #[error("empty frame (no version byte)")]
    Empty,
    #[error("protocol version {0}, expected {VERSION}")]
    Version(u8),
    #[error("undecodable payload: {0}")]
    Garbage(String),
    #[error("{0} bytes left over after the message")]
    Trailing(usize),
    #[error("the connection closed before a reply")]
    Closed,
    #[error("the server refused: {0}")]
    Remote(String),
}

/// `msg` as one complete frame: length, version, payload.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ProtoError> {
    let payload = postcard::to_allocvec(msg).map_err(|e| ProtoError::Garbage(e.to_string()))?;
    let len = payload.len() + 1;
    if len > MAX_FRAME {
        return Err(ProtoError::Oversized(len));
    }
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.push(VERSION);
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Write `msg` as one frame, in one `write` where the kernel allows.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), ProtoError> {
    let frame = encode(msg)?;
    w.write_all(&frame)?;
    Ok(())
}

impl ProtoError {
    /// A read or write that ran out of time (a [`Deadline`] or a socket timeout): the peer
    /// stalled.
    pub fn is_stall(&self) -> bool {
        matches!(self, ProtoError::Io(e) if matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ))
    }
}

/// Block until `stream` has something to read (a byte, or the peer's end of file); false if
/// it cannot be waited on. No time limit: the next request comes when the worker's job is done.
pub fn wait_readable(stream: &UnixStream) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// A reader of `stream` that must be done by a deadline: each read gets the time that is left,
/// and none is left once it has passed (`TimedOut`). Made when a frame's first byte is there, it
/// bounds the whole frame, however slowly a peer trickles it.
pub struct Deadline<'a> {
    stream: &'a UnixStream,
    until: Instant,
}

impl<'a> Deadline<'a> {
    pub fn new(stream: &'a UnixStream, limit: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            until: Instant::now() + limit,
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// Read until `buf` is full or the peer hangs up; how many bytes arrived.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Read one frame's body (version byte + payload). `Ok(None)` when the peer hung up cleanly
/// between frames.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Vec<u8>>, ProtoError> {
    let mut len = [0u8; 4];
    match read_full(r, &mut len)? {
        0 => return Ok(None),
        4 => {}
        got => return Err(ProtoError::Truncated { got, want: 4 }),
    }
    let want = u32::from_be_bytes(len) as usize;
    if want == 0 {
        return Err(ProtoError::Empty);
    }
    if want > MAX_FRAME {
        return Err(ProtoError::Oversized(want));
    }
    let mut body = vec![0u8; want];
    let got = read_full(r, &mut body)?;
    if got < want {
        return Err(ProtoError::Truncated {
            got: 4 + got,
            want: 4 + want,
        });
    }
    Ok(Some(body))
}

/// Decode a frame body: check the version, decode the payload, insist it is all used.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProtoError> {
    let (&version, payload) = body.split_first().ok_or(ProtoError::Empty)?;
    if version != VERSION {
        return Err(ProtoError::Version(version));
    }
    let (msg, rest) =
        postcard::take_from_bytes::<T>(payload).map_err(|e| ProtoError::Garbage(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtoError::Trailing(rest.len()));
    }
    Ok(msg)
}

/// Decode one whole frame from the start of `bytes`; the message and the bytes it used.
pub fn decode_frame<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), ProtoError> {
    let mut cursor = bytes;
    let body = read_frame(&mut cursor)?.ok_or(ProtoError::Truncated { got: 0, want: 4 })?;
    let used = 4 + body.len();
    Ok((decode_body(&body)?, used))
}

/// An error reply, its message cut to fit in a frame.
pub fn error_reply(msg: impl Into<String>) -> Response {
    let mut msg = msg.into();
    if msg.len() > MAX_ERROR_MESSAGE {
        let mut cut = MAX_ERROR_MESSAGE;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
    }
    Response::Error(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            Just(Request::Pop),
            Just(Request::Get),
            (any::<i64>(), any::<u32>())
                .prop_map(|(balance, based_on)| Request::Set { balance, based_on }),
            any::<i64>().prop_map(|delta| Request::Adjust { delta }),
        ]
    }

    fn response() -> impl Strategy<Value = Response> {
        prop_oneof![
            any::<u64>().prop_map(Response::Job),
            Just(Response::Empty),
            (any::<i64>(), any::<u32>())
                .prop_map(|(balance, version)| Response::Balance { balance, version }),
            Just(Response::Ok),
            ".{0,300}".prop_map(error_reply),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(req in request()) {
            let frame = encode(&req).unwrap();
            let (back, used) = decode_frame::<Request>(&frame).unwrap();
            prop_assert_eq!(back, req);
            prop_assert_eq!(used, frame.len());
        }

        #[test]
        fn every_reply_fits_in_a_frame(resp in response()) {
            let frame = encode(&resp).unwrap();
            prop_assert_eq!(decode_frame::<Response>(&frame).unwrap().0, resp);
        }

        #[test]
        fn truncated_frames_are_rejected(req in request(), cut in 0usize..64) {
            let frame = encode(&req).unwrap();
            let cut = cut % frame.len();
            let err = decode_frame::<Request>(&frame[..cut]).unwrap_err();
            prop_assert!(matches!(err, ProtoError::Truncated { .. }), "{err}");
        }

        #[test]
        fn oversized_lengths_are_rejected_before_reading_on(len in (MAX_FRAME as u32 + 1)..=u32::MAX) {
            // Only the header: a decoder that allocated `len` first, or waited for the body,
            // would fail this (or run out of memory).
            let err = decode_frame::<Request>(&len.to_be_bytes()).unwrap_err();
            prop_assert!(matches!(err, ProtoError::Oversized(n) if n == len as usize), "{err}");
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_frame::<Request>(&bytes);
            let _ = decode_frame::<Response>(&bytes);
            let _ = decode_body::<Request>(&bytes);
        }

        #[test]
        fn garbage_bodies_in_a_valid_frame_are_errors(
            payload in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            // Whatever the payload, the result is a known request or an error, never a panic,
            // and a request that decodes re-encodes to exactly the same bytes.
            let mut body = vec![VERSION];
            body.extend_from_slice(&payload);
            if let Ok(req) = decode_body::<Request>(&body) {
                prop_assert_eq!(&encode(&req).unwrap()[4..], &body[..]);
            }
        }
    }

    #[test]
    fn named_corpus_of_bad_frames() {
        let good = encode(&Request::Adjust { delta: -10 }).unwrap();
        let mut wrong_version = good.clone();
        wrong_version[4] = 99;
        let mut trailing = good.clone();
        trailing.push(0);
        trailing[3] += 1;
        let unknown_variant = [0, 0, 0, 2, VERSION, 9];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty input", vec![]),
            ("half a header", vec![0, 0]),
            ("zero length", vec![0, 0, 0, 0]),
            ("header only", good[..4].to_vec()),
            ("body cut short", good[..good.len() - 1].to_vec()),
            ("4 GiB length", vec![0xff, 0xff, 0xff, 0xff]),
            ("wrong version", wrong_version),
            ("trailing byte", trailing),
            ("unknown request", unknown_variant.to_vec()),
            ("text", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ];
        for (name, bytes) in cases {
            assert!(
                decode_frame::<Request>(&bytes).is_err(),
                "{name}: {bytes:?} decoded"
            );
        }
        assert_eq!(
            decode_frame::<Request>(&good).unwrap().0,
            Request::Adjust { delta: -10 }
        );
    }

    #[test]
    fn error_messages_are_cut_on_a_char_boundary() {
        let long = "🐀".repeat(100);
        match error_reply(long) {
            Response::Error(m) => assert!(m.len() <= MAX_ERROR_MESSAGE && m.starts_with('🐀')),
            other => panic!("{other:?}"),
        }
    }
}
