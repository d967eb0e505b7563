//! `concur race --play`.

use super::RaceRequest;

/// `--play`, as asked.
#[derive(Clone, Debug)]
pub struct PlayRequest {
    /// `--play-script KEYS`: play these keys instead of reading the terminal.
    pub script: Option<String>,
    /// `--level N`: start at this level.
    pub level: Option<u8>,
}

/// `concur race --play`.
pub fn play(_args: &RaceRequest, _play: &PlayRequest) -> anyhow::Result<()> {
    crate::error::usage("--play is not built yet")
}
