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
/// the one safe walk (by descriptor, never by path: see `perms::walk`, whose tests cover
/// it; tests/sweep_race.rs drives it through df-artisan); returns how many.
fn give_root_owned(ctx: &Ctx, root: &Path, rel: &str) -> Result<u64> {
    let swept = crate::perms::sweep_root_owned(Some(ctx), root, Path::new(rel), false)?;
    Ok(swept.counts.chowned)
}
