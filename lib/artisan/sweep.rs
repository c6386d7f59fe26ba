//! The sweep: root-owned entries under storage/ and bootstrap/cache/ go back to the
//! owner of that directory, so a PHP run as root (ours or someone's `sudo php artisan`)
//! does not leave files the web server cannot write (the site would answer 500).
//!
//! Only df-artisan sweeps; a check (df-verify) runs PHP the same way without sweeping
//! ([`super::execute_without_sweep`]).

use crate::error::Result;
use crate::report::Ctx;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Give root-owned entries under ROOT/storage and ROOT/bootstrap/cache to the owner of
/// that directory (when it is not root); returns how many. Symlinks are never followed.
pub(super) fn sweep(ctx: &Ctx, root: &Path) -> Result<u64> {
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
        n += give_root_owned(ctx, root, rel)?;
    }
    Ok(n)
}

/// Hand every root-owned entry under `root`/`rel` back to the owner of `rel`, through
/// the one safe walk (by descriptor, never by path: see `perms::walk`); returns how many.
fn give_root_owned(ctx: &Ctx, root: &Path, rel: &str) -> Result<u64> {
    let swept = crate::perms::sweep_root_owned(Some(ctx), root, Path::new(rel), false)?;
    Ok(swept.counts.chowned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_owned_entries_are_handed_over() {
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("storage");
        std::fs::create_dir_all(s.join("logs")).unwrap();
        std::fs::write(s.join("logs/laravel.log"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", s.join("evil")).unwrap();
        std::os::unix::fs::chown(&s, Some(4242), Some(4243)).unwrap();
        let ctx = Ctx::new("df-artisan", Default::default());
        let n = give_root_owned(&ctx, d.path(), "storage").unwrap();
        assert_eq!(n, 3); // logs, laravel.log, the symlink itself
        let f = std::fs::metadata(s.join("logs/laravel.log")).unwrap();
        assert_eq!((f.uid(), f.gid()), (4242, 4243));
        assert_eq!(std::fs::metadata("/etc/passwd").unwrap().uid(), 0);
        assert_eq!(give_root_owned(&ctx, d.path(), "storage").unwrap(), 0);
    }
}
