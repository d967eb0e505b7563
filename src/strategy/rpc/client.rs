//! The RPC protocol of `-s rpc`: a handful of named calls over a Unix socket, and nothing else.
//!
//! Ruby's DRb lets a client call *any* method on a remote object, which is why a reachable DRb
//! server is remote code execution. concur's server copies DRb's shape (one process owns the
//! queue and the wallet; forked workers call it) but not that: it understands exactly four
//! requests, [`Request::Pop`], [`Request::Get`], [`Request::Set`] and [`Request::Adjust`], and a
//! frame that is anything else gets an error reply and a closed connection.
//!
//! # Wire format
//! ```text
//! frame := length:u32 (big-endian) | version:u8 | payload:postcard
//! ```
//! `length` counts the version byte and the payload, and must be `1..=MAX_FRAME`: the reader
//! checks it *before* allocating, so a hostile length cannot make the server allocate 4 GiB. The
//! version byte lets a future concur refuse an old worker with a clear error instead of
//! misreading it. The payload is [postcard](https://docs.rs/postcard), a compact serde format
//! (bincode 1 is unmaintained); it must be consumed exactly, trailing bytes are an error.

use super::proto;

pub use super::proto::{ProtoError, Request, Response, MAX_FRAME, VERSION};

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A worker's connection to the server: one request, one reply, in order.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connect to the server at `path`; every request must be sent, and its reply read, within
    /// `limit` (a server that stops answering costs a worker its job, not its life).
    pub fn connect(path: &Path, limit: Duration) -> std::io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(limit))?;
        stream.set_write_timeout(Some(limit))?;
        Ok(Client { stream })
    }

    /// Send `req` and wait for the reply. A [`Response::Error`] comes back as an `Err`.
    pub fn call(&mut self, req: &Request) -> Result<Response, ProtoError> {
        proto::write_frame(&mut self.stream, req)?;
        let body = proto::read_frame(&mut self.stream)?.ok_or(ProtoError::Closed)?;
        match proto::decode_body::<Response>(&body)? {
            Response::Error(msg) => Err(ProtoError::Remote(msg)),
            reply => Ok(reply),
        }
    }
}
