//! What a learner has done: per lesson, the prediction they committed to, whether the demos
//! ran, what was measured and whether the prediction was right. A lesson is done only with both
//! a prediction and a run; reading it (`--no-run`) is not doing it.
//!
//! The file is `progress.json` in `$CONCUR_STATE_DIR`, else `$XDG_STATE_HOME/concur`, else
//! `~/.local/state/concur`; the directory is made private (0700) and the file is replaced
//! atomically (written beside it, then renamed). A file that cannot be read is reported, never
//! overwritten: the learner's record is theirs to fix or delete.

use super::answer::{Measured, Prediction};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// One lesson's record.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// The prediction in words, as it was shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
    /// Why nothing was measured, when the demos ran but the figure could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmeasured: Option<String>,
}

impl Record {
    /// Predicted and ran.
    pub fn done(&self) -> bool {
        self.prediction.is_some() && self.ran_at.is_some()
    }

    /// Right, wrong, or not measured.
    pub fn right(&self) -> Option<bool> {
        self.measured.as_ref().map(|m| m.right)
    }
}

/// Every lesson's record, by file name.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    pub version: u32,
    pub lessons: BTreeMap<String, Record>,
}

/// The state directory, as the environment says.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CONCUR_STATE_DIR") {
        return Some(d.into());
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("concur"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/concur"))
}

fn progress_path() -> anyhow::Result<PathBuf> {
    state_dir()
        .map(|d| d.join("progress.json"))
        .context("no state directory: set CONCUR_STATE_DIR or HOME")
}

impl Progress {
    /// The saved progress; empty if there is none yet. A file that is there but unreadable is
    /// an error naming it (so that nothing overwrites it). The first format (a list of lessons
    /// read) predates predictions: those lessons start again, as not done.
    pub fn load() -> anyhow::Result<Progress> {
        let path = progress_path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Progress::default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                let dir = path.parent().unwrap_or(&path).display();
                return crate::error::usage(format!(
                    "the state dir {dir} is not a directory: point CONCUR_STATE_DIR at one"
                ));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if let Ok(p) = serde_json::from_str::<Progress>(&text) {
            return Ok(p);
        }
        if serde_json::from_str::<Vec<String>>(&text).is_ok() {
            return Ok(Progress::default());
        }
        crate::error::usage(format!(
            "{} is not concur's progress (a file it cannot read); move it away (or delete it) to start again",
            path.display()
        ))
    }

    /// Save, in a private directory, replacing the file atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        let path = progress_path()?;
        let dir = path.parent().context("the progress file has a directory")?;
        crate::sys::private::ensure_dir(dir, "the state dir (CONCUR_STATE_DIR)")?;
        let tmp = dir.join(format!(".progress.json.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        let to_save = Progress {
            version: 2,
            lessons: self.lessons.clone(),
        };
        std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(&to_save)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("saving {}", path.display()))
    }

    pub fn get(&self, file: &str) -> Record {
        self.lessons.get(file).cloned().unwrap_or_default()
    }

    pub fn done(&self, file: &str) -> bool {
        self.lessons.get(file).is_some_and(Record::done)
    }
}
