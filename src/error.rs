//! Errors a user can cause, and the exit codes they map to.
//!
//! Exit codes: 0 the run completed (even if it lost updates: that is a result, not an error);
//! 1 something failed while running; 2 the command line or the machine cannot do what was asked.

/// A mistake in what was asked (bad flag combination, missing tool): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The command was stopped by SIGINT or SIGTERM: exit code 128 + the signal (130, 143).
#[derive(Debug, thiserror::Error)]
#[error("stopped by {}", .0.as_str())]
pub struct Interrupted(pub nix::sys::signal::Signal);

/// Shorthand for returning a [`UsageError`].
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// The exit code for an error that ended a command.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else if let Some(child) = err.downcast_ref::<crate::harness::ChildFailed>() {
        child.1
    } else if let Some(Interrupted(sig)) = err.downcast_ref::<Interrupted>() {
        crate::sys::signals::exit_code(*sig)
    } else {
        1
    }
}
