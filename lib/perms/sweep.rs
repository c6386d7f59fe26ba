//! The hand-back of root-owned files: after PHP ran as root (or root left files behind),
//! every root-owned entry under storage/ or bootstrap/cache/ goes to the owner of that
//! directory, through the same walk as df-perms ([`super::walk`]) — never by path.

use super::walk::{Counts, Log, Policy, Walker, KEEP};
use crate::error::{Error, Result};
use crate::report::Ctx;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// What one sweep did.
#[derive(Debug, Default, Clone)]
pub struct Sweep {
    /// Entries examined, changed (owner handed back) and skipped, by reason.
    pub counts: Counts,
    /// The skipped entries (the first [`super::walk::MAX_LISTED`]) and why.
    pub skipped: Vec<(PathBuf, super::walk::Skip)>,
}

/// Give every root-owned entry under `root`/`rel` (same filesystem; symlinks never
/// followed, their own owner set; no mode changed; multiply hard-linked files skipped) to
/// the owner of `rel` itself. Nothing happens when `rel` is missing, not a directory (a
/// symlink included) or itself root-owned. With `dry_run`, only counts what would change.
///
/// Skips are warnings on `ctx`; an entry that cannot be changed fails the sweep after
/// the rest was handled.
pub fn sweep_root_owned(
    ctx: Option<&Ctx>,
    root: &Path,
    rel: &Path,
    dry_run: bool,
) -> Result<Sweep> {
    let mut comps = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => comps.push(
                CString::new(p.as_bytes())
                    .map_err(|_| Error::internal("a NUL byte in a sweep path"))?,
            ),
            Component::CurDir => {}
            _ => {
                return Err(Error::internal(format!(
                    "sweep of {} is not below the root",
                    rel.display()
                )))
            }
        }
    }
    // Missing or not a plain directory: nothing to sweep (as before the walk existed).
    match std::fs::symlink_metadata(root.join(rel)) {
        Ok(md) if md.is_dir() => {}
        _ => return Ok(Sweep::default()),
    }
    let policy = Policy {
        uid: KEEP,
        gid: KEEP,
        inherit: true,
        only_uid: Some(0),
        dir_mode: None,
        file_mode: None,
        dry_run,
    };
    let mut log = Log::default();
    let walked = {
        let mut w = Walker::new(ctx, policy, &mut log, None);
        w.run(root, &comps).map(|()| w.counts.clone())
    };
    let counts = match walked {
        Ok(c) => c,
        // A symlink (or gone) on the way, or since the look: not ours to walk. Say so,
        // since root-owned files there stay root-owned.
        Err(e) if e.kind.exit_code() == 78 || e.kind.exit_code() == 66 => {
            if let Some(ctx) = ctx {
                ctx.warn(format!(
                    "not handing back root-owned files under {}: {}",
                    root.join(rel).display(),
                    e.message
                ));
            }
            return Ok(Sweep::default());
        }
        Err(e) => return Err(e),
    };
    if let Some(e) = log.first_error {
        let n = log.errors;
        let msg = format!(
            "handing root-owned files back: {n} entr{} could not be changed; first: {}",
            if n == 1 { "y" } else { "ies" },
            e.message
        );
        let mut err = Error::new(e.kind, msg);
        err.chain = e.chain;
        err.hint = Some(format!(
            "fix it by hand (chown it to the owner of {}), or run df-perms",
            root.join(rel).display()
        ));
        return Err(err);
    }
    Ok(Sweep {
        counts,
        skipped: log.listed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, symlink, MetadataExt};

    #[test]
    fn root_owned_entries_are_handed_over_and_nothing_else() {
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("storage");
        std::fs::create_dir_all(s.join("logs")).unwrap();
        std::fs::write(s.join("logs/laravel.log"), "x").unwrap();
        std::fs::write(s.join("theirs"), "x").unwrap();
        chown(s.join("theirs"), Some(5555), Some(5556)).unwrap();
        symlink("/etc/passwd", s.join("evil")).unwrap();
        chown(&s, Some(4242), Some(4243)).unwrap();
        let run = |dry| sweep_root_owned(None, d.path(), Path::new("storage"), dry).unwrap();
        assert_eq!(run(true).counts.chowned, 3);
        assert_eq!(
            std::fs::metadata(s.join("logs")).unwrap().uid(),
            0,
            "dry run changed"
        );
        let n = run(false).counts;
        assert_eq!(n.chowned, 3); // logs, laravel.log, the symlink itself
        assert_eq!(n.chmodded, 0);
        let f = std::fs::metadata(s.join("logs/laravel.log")).unwrap();
        assert_eq!((f.uid(), f.gid()), (4242, 4243));
        let l = std::fs::symlink_metadata(s.join("evil")).unwrap();
        assert_eq!((l.uid(), l.gid()), (4242, 4243));
        let t = std::fs::metadata(s.join("theirs")).unwrap();
        assert_eq!(
            (t.uid(), t.gid()),
            (5555, 5556),
            "not root-owned: left alone"
        );
        assert_eq!(std::fs::metadata("/etc/passwd").unwrap().uid(), 0);
        assert_eq!(run(false).counts.chowned, 0);
        // A root-owned top has no one to hand back to; a missing one is nothing to do.
        chown(&s, Some(0), Some(0)).unwrap();
        std::fs::write(s.join("new"), "x").unwrap();
        assert_eq!(run(false).counts.scanned, 0);
        let none = sweep_root_owned(None, d.path(), Path::new("bootstrap/cache"), false).unwrap();
        assert_eq!(none.counts.scanned, 0);
    }
}
