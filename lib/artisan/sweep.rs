//! The sweep: root-owned entries under storage/ and bootstrap/cache/ go back to the
//! owner of that directory, so a PHP run as root (ours or someone's `sudo php artisan`)
//! does not leave files the web server cannot write (the site would answer 500).
//!
//! Only df-artisan sweeps; a check (df-verify) runs PHP the same way without sweeping
//! ([`super::execute_without_sweep`]).

use crate::error::{Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Give root-owned entries under ROOT/storage and ROOT/bootstrap/cache to the owner of
/// that directory (when it is not root); returns how many. Symlinks are never followed.
pub(super) fn sweep(root: &Path) -> Result<u64> {
    if !crate::users::is_root() {
        return Ok(0);
    }
    let mut n = 0;
    for rel in ["storage", "bootstrap/cache"] {
        let top = root.join(rel);
        let Ok(md) = std::fs::symlink_metadata(&top) else {
            continue;
        };
        if !md.is_dir() || md.uid() == 0 {
            continue;
        }
        n += give_root_owned(&top, md.dev(), md.uid(), md.gid())?;
    }
    Ok(n)
}

/// lchown every uid-0 entry under `dir` (same filesystem, symlinks not followed) to
/// `uid:gid`; returns how many were changed.
fn give_root_owned(dir: &Path, dev: u64, uid: u32, gid: u32) -> Result<u64> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("reading", dir, e)),
    };
    let mut n = 0;
    for e in rd {
        let e = e.map_err(|e| Error::io("reading", dir, e))?;
        let p = e.path();
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("inspecting", &p, e)),
        };
        if md.dev() != dev {
            continue;
        }
        if md.uid() == 0 {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid))
                .map_err(|e| Error::io("changing owner of", &p, e))?;
            n += 1;
        }
        if md.is_dir() {
            n += give_root_owned(&p, dev, uid, gid)?;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_owned_entries_are_handed_over() {
        if !crate::users::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("storage");
        std::fs::create_dir_all(s.join("logs")).unwrap();
        std::fs::write(s.join("logs/laravel.log"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", s.join("evil")).unwrap();
        let md = std::fs::metadata(&s).unwrap();
        let n = give_root_owned(&s, md.dev(), 4242, 4243).unwrap();
        assert_eq!(n, 3); // logs, laravel.log, the symlink itself
        let f = std::fs::metadata(s.join("logs/laravel.log")).unwrap();
        assert_eq!((f.uid(), f.gid()), (4242, 4243));
        assert_eq!(std::fs::metadata("/etc/passwd").unwrap().uid(), 0);
        assert_eq!(give_root_owned(&s, md.dev(), 4242, 4243).unwrap(), 0);
    }
}
