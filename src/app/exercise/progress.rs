//! Which exercises pass, kept beside the lessons' progress: `exercises.json` in
//! `$CONCUR_STATE_DIR`, else `$XDG_STATE_HOME/concur`, else `~/.local/state/concur` (the
//! directory `concur lesson` keeps `progress.json` in: [`crate::app::lesson::state_dir`]),
//! made private (0700, the file 0600), replaced atomically (written beside it, then renamed).
//!
//! A file of its own rather than entries in `progress.json`: the lessons' file has its own
//! format and owner, and an exercise is a different record (when it passed, what it cost).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One passed exercise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Passed {
    /// When it last passed (RFC 3339).
    pub at: String,
    /// The learner's benchmark and the reference's, in seconds, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_wall_s: Option<f64>,
}

/// Every passed exercise, by file name (`01_mutex_wallet`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    pub version: u32,
    pub passed: BTreeMap<String, Passed>,
}

fn path() -> Option<PathBuf> {
    crate::app::lesson::state_dir().map(|d| d.join("exercises.json"))
}

impl Progress {
    /// The saved progress; empty if there is none (or it cannot be read: it is then left
    /// alone until the next pass rewrites it).
    pub fn load() -> Progress {
        path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Whether exercise `slug` passed.
    pub fn done(&self, slug: &str) -> bool {
        self.passed.contains_key(slug)
    }

    /// Record a pass of `slug` and save.
    pub fn record(slug: &str, passed: Passed) -> anyhow::Result<()> {
        let mut p = Progress::load();
        p.version = 1;
        p.passed.insert(slug.to_owned(), passed);
        p.save()
    }

    fn save(&self) -> anyhow::Result<()> {
        let path = path().context("no state directory: set CONCUR_STATE_DIR or HOME")?;
        let dir = path.parent().context("the progress file has a directory")?;
        crate::sys::private::ensure_dir(dir, "the state dir (CONCUR_STATE_DIR)")?;
        let tmp = dir.join(format!(".exercises.json.{}", std::process::id()));
        crate::sys::private::write(&tmp, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("saving {}", path.display()))
    }
}
