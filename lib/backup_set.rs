//! Backup sets: a directory (0700) of artifacts, each with a `<artifact>.meta.json`.
//!
//! Default location `/var/backups/dreamfactory/<UTC stamp>`; `--into DIR` overrides.
//! Every artifact and meta file is written atomically ([`crate::atomic`]). A set
//! without `manifest.json` (written last, by a wrapper) is incomplete.

pub mod db_meta;
pub mod env_meta;
pub mod manifest;
pub mod tree_meta;

pub use manifest::prune_complete;

use crate::atomic;
use crate::error::{Error, ErrorKind, Result};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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
    pub fn write_meta<T: Serialize + ?Sized>(&self, artifact: &str, meta: &T) -> Result<PathBuf> {
        let p = self.path(&Self::meta_name(artifact));
        let mut text = serde_json::to_vec_pretty(meta)
            .map_err(|e| Error::internal(format!("serialising meta: {e}")))?;
        text.push(b'\n');
        atomic::write_file(&p, &text, 0o600)?;
        Ok(p)
    }

    /// Read an artifact's meta (exit 66 missing, 65 malformed).
    pub fn read_meta<T: DeserializeOwned>(&self, artifact: &str) -> Result<T> {
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

/// One table whose row count differs from what a set recorded: the one row-count
/// comparison of dfkit (df-dump-db restore, df-verify, the wrappers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RowCountMismatch {
    pub table: String,
    /// Rows the set recorded (null: the table is not in the set).
    pub expected: Option<u64>,
    /// Rows found now (null: the table is missing).
    pub found: Option<u64>,
}

/// Compare recorded row counts with the ones found. With `at_least`, more rows than
/// recorded is fine (an upgrade's seeders and a migration's own `migrations` rows add
/// some); otherwise counts must be equal. Tables found but not recorded are ignored.
pub fn compare_row_counts(
    expected: &std::collections::BTreeMap<String, u64>,
    found: &std::collections::BTreeMap<String, u64>,
    at_least: bool,
) -> Vec<RowCountMismatch> {
    expected
        .iter()
        .filter_map(|(table, &want)| {
            let have = found.get(table).copied();
            let bad = match have {
                None => true,
                Some(h) if at_least => h < want,
                Some(h) => h != want,
            };
            bad.then(|| RowCountMismatch {
                table: table.clone(),
                expected: Some(want),
                found: have,
            })
        })
        .collect()
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
        let back: serde_json::Value = set.read_meta("db.sql.zst").unwrap();
        assert_eq!(back["x"], 1);
        assert_eq!(
            std::fs::metadata(set.path("db.meta.json")).unwrap().mode() & 0o777,
            0o600
        );
        assert!(!set.is_complete());
    }

    #[test]
    fn row_counts_compare_equal_or_at_least() {
        let want: std::collections::BTreeMap<String, u64> =
            [("a".into(), 3), ("b".into(), 2)].into();
        let have: std::collections::BTreeMap<String, u64> =
            [("a".into(), 4), ("c".into(), 1)].into();
        let strict = compare_row_counts(&want, &have, false);
        assert_eq!(strict.len(), 2);
        assert_eq!(strict[1].found, None);
        let loose = compare_row_counts(&want, &have, true);
        assert_eq!(loose.len(), 1);
        assert_eq!(loose[0].table, "b");
    }

    #[test]
    fn meta_names() {
        assert_eq!(BackupSet::meta_name("env"), "env.meta.json");
        assert_eq!(BackupSet::meta_name("db.sql.gz"), "db.meta.json");
        assert_eq!(BackupSet::meta_name("tree"), "tree.meta.json");
    }
}
