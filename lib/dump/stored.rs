//! A set's stored dump: its artifact, its meta, its checksum.

use super::codec::{Compression, ARTIFACTS};
use crate::backup_set::BackupSet;
use crate::db::Driver;
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A set's dump artifact and its meta.
pub(super) struct Stored {
    pub(super) path: PathBuf,
    pub(super) artifact: String,
    pub(super) meta: Value,
    pub(super) driver: Driver,
    pub(super) compression: Compression,
}

pub(super) fn open_stored(from: &Path) -> Result<Stored> {
    let set = BackupSet::open(from)?;
    let meta_path = set.path("db.meta.json");
    // Not `is_file()`: a set we may not read is 77, not "missing" (66).
    match std::fs::metadata(&meta_path) {
        Ok(m) if m.is_file() => {}
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("reading", &meta_path, e)
                .with_hint("run as a user who may read the backup set (root or its owner)"));
        }
        _ => {
            return Err(Error::missing(format!(
                "no database dump in {} (db.meta.json missing)",
                set.dir.display()
            )))
        }
    }
    let meta: serde_json::Value = set.read_meta("db.sql")?;
    let artifact = meta["artifact"]
        .as_str()
        .filter(|a| ARTIFACTS.contains(a))
        .ok_or_else(|| Error::bad_data(format!("{} names no known artifact", meta_path.display())))?
        .to_string();
    let path = set.path(&artifact);
    if !path.is_file() {
        return Err(Error::missing(format!("{} is missing", path.display())));
    }
    let driver = meta["driver"]
        .as_str()
        .and_then(Driver::parse)
        .ok_or_else(|| Error::bad_data(format!("{} names no known driver", meta_path.display())))?;
    let compression = meta["compression"]
        .as_str()
        .and_then(Compression::parse)
        .ok_or_else(|| {
            Error::bad_data(format!(
                "{} names no known compression",
                meta_path.display()
            ))
        })?;
    Ok(Stored {
        path,
        artifact,
        meta,
        driver,
        compression,
    })
}

/// sha256 of the artifact equals the meta's (65 otherwise).
pub(super) fn check_sha(st: &Stored) -> Result<String> {
    let (got, _) =
        crate::secret::sha256_file(&st.path).map_err(|e| Error::io("hashing", &st.path, e))?;
    let want = st.meta["sha256"].as_str().unwrap_or("");
    if got != want {
        return Err(Error::bad_data(format!(
            "{}: sha256 {} does not match db.meta.json ({})",
            st.path.display(),
            got,
            want
        ))
        .with_hint("the dump is corrupt or was changed; use another backup set"));
    }
    Ok(got)
}
