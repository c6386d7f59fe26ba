//! manifest.json: written LAST by a wrapper; a set without it is incomplete.
//!
//! It lists every artifact of the set with its sha256 and size (directories, such as the
//! tree snapshot, are listed with their entry count from their own meta file, which is
//! itself a checksummed artifact), the release before and after, the host, and the version
//! of each tool that wrote into the set.

use super::BackupSet;
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// One artifact of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Artifact {
    /// File name inside the set (e.g. `env`, `db.sql.zst`, `db.meta.json`).
    pub name: String,
    /// `file` or `dir`.
    pub kind: String,
    /// sha256 of a file's bytes (null for a directory).
    pub sha256: Option<String>,
    /// A file's size in bytes (null for a directory).
    pub bytes: Option<u64>,
}

/// The release an upgrade went from and to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Release {
    pub old_commit: Option<String>,
    pub new_commit: Option<String>,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
}

/// manifest.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Manifest {
    /// The wrapper that completed the set (`df-upgrade`).
    pub tool: String,
    pub created_at: String,
    pub host: String,
    /// The install the set was taken from.
    pub root: String,
    #[serde(flatten)]
    pub release: Release,
    pub artifacts: Vec<Artifact>,
    /// tool name → version, for every tool that ran.
    pub tool_versions: BTreeMap<String, String>,
}

impl Manifest {
    /// Checksum every artifact in `set` (hidden temporaries are not artifacts).
    pub fn build(
        set: &BackupSet,
        tool: &str,
        root: &Path,
        release: Release,
        tool_versions: BTreeMap<String, String>,
    ) -> Result<Manifest> {
        let mut artifacts = Vec::new();
        let rd = std::fs::read_dir(&set.dir).map_err(|e| Error::io("listing", &set.dir, e))?;
        let mut names: Vec<_> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n != MANIFEST)
            .collect();
        names.sort();
        for name in names {
            let p = set.path(&name);
            let md = std::fs::symlink_metadata(&p).map_err(|e| Error::io("reading", &p, e))?;
            if md.is_dir() {
                artifacts.push(Artifact {
                    name,
                    kind: "dir".into(),
                    sha256: None,
                    bytes: None,
                });
            } else if md.is_file() {
                let (sha, bytes) =
                    crate::checksum::sha256_file(&p).map_err(|e| Error::io("reading", &p, e))?;
                artifacts.push(Artifact {
                    name,
                    kind: "file".into(),
                    sha256: Some(sha),
                    bytes: Some(bytes),
                });
            }
        }
        Ok(Manifest {
            tool: tool.to_string(),
            created_at: crate::report::now_rfc3339(),
            host: crate::lock::hostname(),
            root: root.display().to_string(),
            release,
            artifacts,
            tool_versions,
        })
    }

    /// Check every file artifact's checksum against the set (65 on a mismatch).
    pub fn verify(&self, set: &BackupSet) -> Result<()> {
        for a in self.artifacts.iter().filter(|a| a.kind == "file") {
            let p = set.path(&a.name);
            let (sha, _) =
                crate::checksum::sha256_file(&p).map_err(|e| Error::io("reading", &p, e))?;
            if Some(&sha) != a.sha256.as_ref() {
                return Err(Error::bad_data(format!(
                    "{} does not match manifest.json's checksum",
                    p.display()
                ))
                .with_hint("the set was changed after it was completed; do not restore from it"));
            }
        }
        Ok(())
    }
}

impl BackupSet {
    /// Write manifest.json atomically (0600). Call it last.
    pub fn write_manifest(&self, m: &Manifest) -> Result<std::path::PathBuf> {
        let p = self.path(MANIFEST);
        let mut text = serde_json::to_vec_pretty(m)
            .map_err(|e| Error::internal(format!("serialising the manifest: {e}")))?;
        text.push(b'\n');
        crate::atomic::write_file(&p, &text, 0o600)?;
        Ok(p)
    }

    /// Read manifest.json (66 when the set is incomplete).
    pub fn read_manifest(&self) -> Result<Manifest> {
        let p = self.path(MANIFEST);
        let text = std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::bad_data(format!("{} is not valid: {e}", p.display())))
    }
}

/// Delete complete sets (those with manifest.json) beside `current` that are older than
/// the newest `keep` complete ones. `current` and incomplete sets are never deleted. Sets
/// are ordered by name: the default names are UTC stamps, which sort by time.
pub fn prune_complete(current: &Path, keep: usize) -> Result<Vec<std::path::PathBuf>> {
    let Some(parent) = current.parent() else {
        return Ok(vec![]);
    };
    let rd = std::fs::read_dir(parent).map_err(|e| Error::io("listing", parent, e))?;
    let mut complete: Vec<std::path::PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) && p.join(MANIFEST).is_file()
        })
        .collect();
    complete.sort();
    let mut removed = Vec::new();
    let n = complete.len();
    for p in complete.into_iter().take(n.saturating_sub(keep)) {
        if p == current {
            continue;
        }
        std::fs::remove_dir_all(&p).map_err(|e| Error::io("removing old set", &p, e))?;
        removed.push(p);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_verify_and_prune() {
        let d = tempfile::tempdir().unwrap();
        let mut sets = Vec::new();
        for name in [
            "20260101T000000Z",
            "20260102T000000Z",
            "20260103T000000Z",
            "20260104T000000Z",
        ] {
            let set = BackupSet::create(Some(&d.path().join(name))).unwrap();
            std::fs::write(set.path("env"), "APP_KEY=x\n").unwrap();
            std::fs::create_dir(set.path("tree")).unwrap();
            let m = Manifest::build(
                &set,
                "df-upgrade",
                Path::new("/opt/df"),
                Release::default(),
                BTreeMap::new(),
            )
            .unwrap();
            assert_eq!(m.artifacts.len(), 2);
            set.write_manifest(&m).unwrap();
            assert_eq!(set.read_manifest().unwrap(), m);
            m.verify(&set).unwrap();
            sets.push(set);
        }
        std::fs::write(sets[0].path("env"), "APP_KEY=y\n").unwrap();
        let m0 = sets[0].read_manifest().unwrap();
        assert_eq!(
            m0.verify(&sets[0]).unwrap_err().kind,
            crate::ErrorKind::BadData
        );
        // An incomplete set is never pruned.
        let incomplete = BackupSet::create(Some(&d.path().join("20250101T000000Z"))).unwrap();
        let removed = prune_complete(&sets[3].dir, 2).unwrap();
        assert_eq!(removed, vec![sets[0].dir.clone(), sets[1].dir.clone()]);
        assert!(incomplete.dir.is_dir() && sets[2].dir.is_dir() && sets[3].dir.is_dir());
    }
}
