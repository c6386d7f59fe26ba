//! Backup sets: a directory (0700) of artifacts, each with a `<artifact>.meta.json`.
//!
//! Default location `/var/backups/dreamfactory/<UTC stamp>`; `--into DIR` overrides.
//! Every artifact and meta file is written atomically ([`crate::atomic`]). A set
//! without `manifest.json` (written last, by a wrapper) is incomplete.

use crate::atomic;
use crate::error::{Error, ErrorKind, Result};
use serde_json::Value;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where backup sets go by default.
pub const DEFAULT_BASE: &str = "/var/backups/dreamfactory";

/// A backup set directory.
#[derive(Debug, Clone)]
pub struct BackupSet {
    pub dir: PathBuf,
}

/// A UTC stamp for set names: `20261125T203000Z`.
pub fn stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

impl BackupSet {
    /// Open `into` (created 0700 if missing), or a new stamped set under the default base.
    pub fn create(into: Option<&Path>) -> Result<BackupSet> {
        let dir = match into {
            Some(d) => d.to_path_buf(),
            None => Path::new(DEFAULT_BASE).join(stamp()),
        };
        if !dir.exists() {
            if let Some(parent) = dir.parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .map_err(|e| cannot_create(&dir, e))?;
                }
            }
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(cannot_create(&dir, e)),
            }
        }
        let md = std::fs::metadata(&dir).map_err(|e| cannot_create(&dir, e))?;
        if !md.is_dir() {
            return Err(Error::new(
                ErrorKind::CannotCreate,
                format!("backup set {} exists and is not a directory", dir.display()),
            ));
        }
        // The set holds secrets (.env, dumps): nobody else may read it.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| cannot_create(&dir, e))?;
        Ok(BackupSet { dir })
    }

    /// An existing set (exit 66 if it is not a directory).
    pub fn open(dir: &Path) -> Result<BackupSet> {
        if dir.is_dir() {
            Ok(BackupSet {
                dir: dir.to_path_buf(),
            })
        } else {
            Err(Error::missing(format!(
                "no backup set at {}",
                dir.display()
            )))
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The meta file name for an artifact: `env` → `env.meta.json`, `db.sql.zst` → `db.meta.json`.
    pub fn meta_name(artifact: &str) -> String {
        let stem = artifact.split('.').next().unwrap_or(artifact);
        format!("{stem}.meta.json")
    }

    /// Write an artifact's meta atomically (0600), pretty JSON.
    pub fn write_meta(&self, artifact: &str, meta: &Value) -> Result<PathBuf> {
        let p = self.path(&Self::meta_name(artifact));
        let mut text = serde_json::to_vec_pretty(meta)
            .map_err(|e| Error::internal(format!("serialising meta: {e}")))?;
        text.push(b'\n');
        atomic::write_file(&p, &text, 0o600)?;
        Ok(p)
    }

    /// Read an artifact's meta (exit 66 missing, 65 malformed).
    pub fn read_meta(&self, artifact: &str) -> Result<Value> {
        let p = self.path(&Self::meta_name(artifact));
        let text = std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::bad_data(format!("{} is not valid JSON: {e}", p.display())))
    }

    /// Whether the set is complete (has manifest.json).
    pub fn is_complete(&self) -> bool {
        self.path("manifest.json").is_file()
    }
}

fn cannot_create(dir: &Path, e: std::io::Error) -> Error {
    let mut err = Error::io("creating backup set", dir, e);
    if err.kind != ErrorKind::PermissionDenied {
        err.kind = ErrorKind::CannotCreate;
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn create_is_0700_and_meta_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let set = BackupSet::create(Some(&d.path().join("a/b/set"))).unwrap();
        assert_eq!(std::fs::metadata(&set.dir).unwrap().mode() & 0o7777, 0o700);
        set.write_meta("db.sql.zst", &json!({"x": 1})).unwrap();
        assert!(set.path("db.meta.json").is_file());
        assert_eq!(set.read_meta("db.sql.zst").unwrap()["x"], 1);
        assert_eq!(
            std::fs::metadata(set.path("db.meta.json")).unwrap().mode() & 0o777,
            0o600
        );
        assert!(!set.is_complete());
    }

    #[test]
    fn meta_names() {
        assert_eq!(BackupSet::meta_name("env"), "env.meta.json");
        assert_eq!(BackupSet::meta_name("db.sql.gz"), "db.meta.json");
        assert_eq!(BackupSet::meta_name("tree"), "tree.meta.json");
    }
}
