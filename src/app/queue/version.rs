//! The queue needs Redis 6.2 or newer, and says so once, in one line, instead of failing later
//! with an "unknown command" in the middle of a job.
//!
//! Why 6.2: reliable fetch moves a job with `BLMOVE` (6.2), the reaper with `LMOVE` (6.2), and a
//! batched fetch takes `LPOP key count` (6.2). Older servers (Debian 11 ships 6.0) would accept
//! the connection and refuse the first fetch. The check is one `INFO server` per process: the
//! first connection of a process asks, every later one (a worker opens one per thread) trusts it.

use crate::error::Error;
use std::sync::OnceLock;

/// The oldest Redis the queue runs on.
pub const MIN_VERSION: (u32, u32) = (6, 2);

/// `redis_version:7.0.15` in an `INFO server` reply -> (7, 0, 15).
pub fn parse_info(info: &str) -> Option<(u32, u32, u32)> {
    let v = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))?;
    let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// An error (exit 2) if `version` is older than [`MIN_VERSION`].
pub fn require(version: (u32, u32, u32), at: &str) -> Result<(), Error> {
    if (version.0, version.1) >= MIN_VERSION {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "Redis {}.{}.{} at {at} is too old: concur's queue needs Redis {}.{} or newer (BLMOVE, LMOVE, LPOP with a count); upgrade it, or point REDIS_URL at a newer server",
        version.0, version.1, version.2, MIN_VERSION.0, MIN_VERSION.1
    )))
}

/// Check the server behind `con` once per process. A server that does not say its version
/// (a proxy that hides INFO) is given the benefit of the doubt.
pub fn check_once(con: &mut redis::Connection, at: &str) -> anyhow::Result<()> {
    static CHECKED: OnceLock<()> = OnceLock::new();
    if CHECKED.get().is_some() {
        return Ok(());
    }
    let info: Option<String> = redis::cmd("INFO").arg("server").query(con).ok();
    if let Some(v) = info.as_deref().and_then(parse_info) {
        require(v, at)?;
    }
    let _ = CHECKED.set(());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_and_refuses_older_than_6_2() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(parse_info(info), Some((7, 0, 15)));
        assert_eq!(parse_info("redis_version:6.2"), Some((6, 2, 0)));
        assert_eq!(parse_info("# Server\r\n"), None);
        assert!(require((6, 2, 0), "x").is_ok());
        assert!(require((7, 0, 15), "x").is_ok());
        let err = require((6, 0, 16), "unix:///tmp/redis.sock")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Redis 6.0.16") && err.contains("needs Redis 6.2"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}
