//! What a user can cause, as one enum, and the exit code each maps to.
//!
//! Exit codes: 0 the command did what was asked (a run that lost updates completed: losing them
//! is a result, not an error); 1 something failed while running; 2 the command line or the
//! machine cannot do what was asked; 128 + N stopped by signal N (130 Ctrl-C, 143 SIGTERM).
//!
//! Everything else travels as `anyhow::Error` with context; [`exit_code`] finds an [`Error`]
//! inside it. This module is the bottom layer: every other one may use it, it uses none of them.

use nix::sys::signal::Signal;

/// The errors a user can cause, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake in what was asked (a bad flag combination, a missing tool, a machine too
    /// small for the request): exit 2.
    #[error("{0}")]
    Usage(String),
    /// The command was stopped by SIGINT or SIGTERM: exit 128 + the signal.
    #[error("stopped by {}", .0.as_str())]
    Interrupted(Signal),
    /// The measured run failed; it has already said why on stderr. `code` is its exit code
    /// (2 when it refused its spec, 1 otherwise).
    #[error("{why}")]
    RunFailed { why: String, code: i32 },
}

/// Shorthand for returning [`Error::Usage`].
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(Error::Usage(msg.into()).into())
}

/// Is `err` a usage error (exit 2)?
pub fn is_usage(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<Error>(), Some(Error::Usage(_)))
}

/// The exit code of a command stopped by `sig`: 128 + its number (130 SIGINT, 143 SIGTERM).
pub fn signal_exit_code(sig: Signal) -> i32 {
    128 + sig as i32
}

/// The exit code for an error that ended a command.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<Error>() {
        Some(Error::Usage(_)) => 2,
        Some(Error::Interrupted(sig)) => signal_exit_code(*sig),
        Some(Error::RunFailed { code, .. }) => *code,
        None => 1,
    }
}
