//! Unix-socket calls whose spelling differs between Linux and macOS, written once.
//!
//! - Writing to a peer that died: Linux's `send(MSG_NOSIGNAL)` returns `EPIPE` instead of
//!   raising SIGPIPE (which concur leaves at its default, death, so that `concur list | head`
//!   ends quietly). macOS has no such flag; a socket marked `SO_NOSIGPIPE` does the same.
//! - Who is at the other end: Linux's `SO_PEERCRED` carries the peer's pid; macOS's
//!   `LOCAL_PEERPID` gives it directly (`getpeereid` gives only its uid and gid).

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// Send `buf` on `sock`; a dead peer is `Err(EPIPE)`, never a SIGPIPE.
pub fn send_no_sigpipe(sock: &UnixStream, buf: &[u8]) -> nix::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{send, MsgFlags};
        send(sock.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL)
    }
    #[cfg(not(target_os = "linux"))]
    {
        use nix::sys::socket::{send, MsgFlags};
        no_sigpipe(sock)?;
        send(sock.as_raw_fd(), buf, MsgFlags::empty())
    }
}

/// Mark `sock` so that writing to it after its peer died gives EPIPE, not SIGPIPE (macOS).
#[cfg(not(target_os = "linux"))]
fn no_sigpipe(sock: &UnixStream) -> nix::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a signal point (it decides whether a write raises SIGPIPE): `on` is a c_int alive
    // for the call, its size is passed with it, and setsockopt only reads it.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// The pid of the process at the other end of a Unix socket, from the kernel.
pub fn peer_pid(stream: &UnixStream) -> Option<i32> {
    use nix::sys::socket::getsockopt;
    #[cfg(target_os = "linux")]
    {
        getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
            .ok()
            .map(|c| c.pid())
    }
    #[cfg(not(target_os = "linux"))]
    {
        getsockopt(stream, nix::sys::socket::sockopt::LocalPeerPid).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_peer_is_an_error_and_the_peer_is_known() {
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(peer_pid(&a), Some(std::process::id() as i32));
        assert_eq!(send_no_sigpipe(&a, b"hi"), Ok(2));
        drop(b);
        assert_eq!(send_no_sigpipe(&a, b"hi"), Err(nix::errno::Errno::EPIPE));
    }
}
