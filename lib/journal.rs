//! A run's progress, written before each step starts (dpkg's model).
//!
//! df-upgrade (and df-migrate import) write a journal beside their lock
//! ([`crate::lock::lock_dir`]) before every step: which step is starting, the backup set,
//! the commit the install was at, and which steps are done. A run that ends — in success
//! or after a complete rollback — removes it. A run killed at any moment (kill -9, power
//! loss) leaves it behind; the next run finds it and refuses with `temporary` (exit 75),
//! naming the interrupted step and the command that puts the install back
//! (`df-upgrade recover`).
//!
//! The journal is written atomically ([`crate::atomic`]), 0600, so it is either the old
//! record or the new one, never half of each.

use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a journal records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Journal {
    /// The tool that wrote it (`df-upgrade`).
    pub tool: String,
    /// The install.
    pub root: String,
    /// The backup set of the run.
    pub set: String,
    /// The step that was starting (or running) when the journal was last written.
    pub step: String,
    /// Steps finished, in order.
    #[serde(default)]
    pub done: Vec<String>,
    /// The commit HEAD was at before the run.
    pub old_commit: Option<String>,
    /// The branch checked out before the run (null: detached HEAD).
    pub old_branch: Option<String>,
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    pub updated_at: String,
}

impl Journal {
    /// Whether `step` had started (it is done, or it is the current one).
    pub fn reached(&self, step: &str) -> bool {
        self.step == step || self.done.iter().any(|s| s == step)
    }
}

/// The journal file of an install, in `dir`.
pub fn path_in(dir: &Path, root: &Path) -> PathBuf {
    dir.join(format!("{}.journal.json", crate::lock::install_key(root)))
}

/// The journal file of an install, in [`crate::lock::lock_dir`].
pub fn path(root: &Path) -> PathBuf {
    path_in(&crate::lock::lock_dir(), root)
}

/// Read the journal at `p`: None when there is none (exit 65 when it is unreadable JSON).
pub fn read(p: &Path) -> Result<Option<Journal>> {
    match std::fs::read(p) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::bad_data(format!("journal {} is not valid: {e}", p.display()))
                .with_hint("look at it, then remove it if no run is in progress")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading the journal", p, e)),
    }
}

/// Write the journal at `p` atomically (0600), stamping `updated_at`.
pub fn write(p: &Path, j: &mut Journal) -> Result<()> {
    j.updated_at = crate::report::now_rfc3339();
    let mut text = serde_json::to_vec_pretty(j)
        .map_err(|e| Error::internal(format!("serialising the journal: {e}")))?;
    text.push(b'\n');
    if let Some(dir) = p.parent() {
        crate::lock::ensure_dir(dir)?;
    }
    crate::atomic::write_file(p, &text, 0o600)
}

/// Remove the journal at `p` (a finished run); a missing one is fine.
pub fn clear(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => crate::atomic::sync_dir(&crate::atomic::parent_dir(p)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing the journal", p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn write_read_clear() {
        let d = tempfile::tempdir().unwrap();
        let p = path_in(&d.path().join("locks"), Path::new("/opt/dreamfactory"));
        assert_eq!(read(&p).unwrap(), None);
        let mut j = Journal {
            tool: "df-upgrade".into(),
            step: "dump".into(),
            done: vec!["backup".into(), "down".into()],
            ..Default::default()
        };
        write(&p, &mut j).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let back = read(&p).unwrap().unwrap();
        assert_eq!(back, j);
        assert!(back.reached("down") && back.reached("dump") && !back.reached("migrate"));
        clear(&p).unwrap();
        assert_eq!(read(&p).unwrap(), None);
        clear(&p).unwrap();
    }

    #[test]
    fn garbage_is_bad_data() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.json");
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(read(&p).unwrap_err().kind, crate::ErrorKind::BadData);
    }
}
