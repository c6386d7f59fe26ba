//! A set's stored dump: its artifact, its meta, its checksum.

use super::codec::{Compression, ARTIFACTS};
use crate::backup_set::db_meta::{DbMeta, DB_META};
use crate::backup_set::BackupSet;
use crate::db::Driver;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A set's dump artifact and its meta.
pub(super) struct Stored {
    pub(super) path: PathBuf,
    pub(super) artifact: String,
    pub(super) meta: DbMeta,
    pub(super) driver: Driver,
    pub(super) compression: Compression,
}

/// `path` exists (Ok(false) when it does not; a permission problem is exit 77, not
/// "missing").
fn exists(what: &str, path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(what, path, e)
            .with_hint("run as a user who may read the backup set (root or its owner)")),
    }
}

/// The set a `--from` names: the set directory, or its dump artifact (`SET/db.sql.zst`)
/// or meta (`SET/db.meta.json`). Returns the set and the artifact named, if any.
fn set_of(from: &Path) -> Result<(BackupSet, Option<String>)> {
    let md = match std::fs::metadata(from) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::missing(format!(
                "no backup set at {}",
                from.display()
            )))
        }
        Err(e) => return Err(Error::io("reading the backup set", from, e)),
    };
    if md.is_dir() {
        return Ok((BackupSet::open(from)?, None));
    }
    let name = from
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = crate::atomic::parent_dir(from);
    if ARTIFACTS.contains(&name.as_str()) {
        return Ok((BackupSet::open(&dir)?, Some(name)));
    }
    if name == DB_META {
        return Ok((BackupSet::open(&dir)?, None));
    }
    Err(Error::missing(format!(
        "{} is neither a backup set nor a dump in one",
        from.display()
    ))
    .with_hint("pass the set directory (or its db.sql.zst)"))
}

pub(super) fn open_stored(from: &Path) -> Result<Stored> {
    let (set, named) = set_of(from)?;
    let meta_path = set.path(DB_META);
    if !exists("reading", &meta_path)? {
        return Err(Error::missing(format!(
            "no database dump in {} ({DB_META} missing)",
            set.dir.display()
        )));
    }
    let meta: DbMeta = set.read_meta("db.sql")?;
    let artifact = Some(meta.artifact.as_str())
        .filter(|a| ARTIFACTS.contains(a))
        .ok_or_else(|| Error::bad_data(format!("{} names no known artifact", meta_path.display())))?
        .to_string();
    if let Some(n) = named.filter(|n| *n != artifact) {
        return Err(Error::missing(format!(
            "{} is not the set's dump: {} records {artifact}",
            set.path(&n).display(),
            meta_path.display()
        )));
    }
    let path = set.path(&artifact);
    if !exists("reading", &path)? {
        return Err(Error::missing(format!("{} is missing", path.display())));
    }
    let driver = meta
        .driver
        .ok_or_else(|| Error::bad_data(format!("{} names no known driver", meta_path.display())))?;
    let compression = Compression::parse(&meta.compression).ok_or_else(|| {
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
    let (got, size) =
        crate::checksum::sha256_file(&st.path).map_err(|e| Error::io("hashing", &st.path, e))?;
    let want = &st.meta.sha256;
    if got != *want {
        // Say what is known: a size difference means a cut-short or grown file; an equal
        // size means changed bytes, or a meta that belongs to another dump.
        let hint = if size != st.meta.bytes {
            format!(
                "the file is {size} bytes but {DB_META} recorded {}: it was cut short or \
                 changed after the dump (an incomplete copy?); copy the set again from \
                 where it was made, or use another set",
                st.meta.bytes
            )
        } else {
            format!(
                "the size matches {DB_META} but the bytes do not: the file was altered \
                 (disk or copy corruption) or {DB_META} belongs to another dump; copy \
                 the set again from where it was made, or use another set"
            )
        };
        return Err(Error::bad_data(format!(
            "{}: sha256 {} does not match {DB_META} ({})",
            st.path.display(),
            got,
            want
        ))
        .with_hint(hint));
    }
    Ok(got)
}
