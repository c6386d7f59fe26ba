//! Small file-system operations on an install that never follow symlinks: remove a path
//! whatever it is, empty a directory but its `.gitignore`, count a tree's entries, and
//! tell whether another user can read a file.

use crate::error::{Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Remove a file, symlink or directory tree (symlinks are removed, never followed).
/// A path that does not exist is not an error.
pub fn remove_any(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspecting", p, e)),
        Ok(md) if md.is_dir() => {
            std::fs::remove_dir_all(p).map_err(|e| Error::io("removing", p, e))
        }
        Ok(_) => std::fs::remove_file(p).map_err(|e| Error::io("removing", p, e)),
    }
}

/// `rm -rf DIR/*` keeping DIR/.gitignore; returns the number of top-level entries removed.
pub fn empty_dir_keep_gitignore(dir: &Path) -> Result<u64> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("reading", dir, e)),
    };
    let mut n = 0;
    for e in rd {
        let e = e.map_err(|e| Error::io("reading", dir, e))?;
        if e.file_name() == ".gitignore" {
            continue;
        }
        remove_any(&e.path())?;
        n += 1;
    }
    Ok(n)
}

/// Entries under `dir` (recursively, symlinks not followed), not counting .gitignore files.
pub fn count_entries(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        if e.file_name() == ".gitignore" {
            continue;
        }
        n += 1;
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            n += count_entries(&e.path());
        }
    }
    n
}

/// The first path component that `uid:gid` (without supplementary groups, as our
/// children run) cannot traverse, or `path` itself when it cannot read it; None if readable.
pub fn inaccessible(path: &Path, uid: u32, gid: u32) -> Option<PathBuf> {
    let allowed = |p: &Path, bit: u32| -> bool {
        let Ok(md) = std::fs::metadata(p) else {
            return false;
        };
        let mode = md.mode();
        if uid == 0 {
            return true;
        }
        if md.uid() == uid {
            mode & (bit << 6) != 0
        } else if md.gid() == gid {
            mode & (bit << 3) != 0
        } else {
            mode & bit != 0
        }
    };
    let abs = std::fs::canonicalize(path).ok()?;
    let mut cur = PathBuf::from("/");
    for c in abs.parent()?.components().skip(1) {
        cur.push(c);
        if !allowed(&cur, 0o1) {
            return Some(cur);
        }
    }
    if !allowed(&abs, 0o4) {
        return Some(abs);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_keeping_gitignore_and_counts() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("cache");
        std::fs::create_dir_all(c.join("data/ab/cd")).unwrap();
        std::fs::write(c.join(".gitignore"), "*\n").unwrap();
        std::fs::write(c.join("data/ab/cd/x"), "v").unwrap();
        std::fs::write(c.join("data/.gitignore"), "*\n").unwrap();
        // A symlink pointing outside must be removed, not followed.
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "k").unwrap();
        std::os::unix::fs::symlink(&outside, c.join("link")).unwrap();
        assert_eq!(count_entries(&c), 5); // data, ab, cd, x, link
        assert_eq!(empty_dir_keep_gitignore(&c).unwrap(), 2);
        assert!(c.join(".gitignore").exists());
        assert!(!c.join("data").exists());
        assert!(outside.join("keep").exists());
        assert_eq!(empty_dir_keep_gitignore(&d.path().join("none")).unwrap(), 0);
        remove_any(&d.path().join("none")).unwrap();
    }

    #[test]
    fn access_check_follows_bits() {
        use std::os::unix::fs::PermissionsExt;
        assert!(crate::users::is_root(), "this test needs root");
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("app");
        std::fs::create_dir(&sub).unwrap();
        let f = sub.join(".env");
        std::fs::write(&f, "A=1").unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(inaccessible(&f, 0, 0).is_none());
        assert_eq!(
            inaccessible(&f, 4242, 4242).as_deref(),
            Some(f.canonicalize().unwrap().as_path())
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(inaccessible(&f, 4242, 4242).is_none());
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            inaccessible(&f, 4242, 4242).as_deref(),
            Some(sub.canonicalize().unwrap().as_path())
        );
    }
}
