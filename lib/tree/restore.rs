//! Putting parts of a snapshot back: copy one entry (and all under it) faithfully beside
//! its target, check the copy, then swap it in with one atomic rename.

use super::{count, set_times, syncfs, Copier, Counts, Walk};
use crate::error::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

fn add(a: &mut Counts, b: &Counts) {
    a.entries += b.entries;
    a.files += b.files;
    a.dirs += b.dirs;
    a.symlinks += b.symlinks;
    a.hardlinks += b.hardlinks;
    a.bytes += b.bytes;
}

/// The counts of `p` itself and everything under it (None when `p` does not exist).
pub fn count_entry(p: &Path) -> Result<Option<Counts>> {
    let md = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("inspecting", p, e)),
    };
    let ft = md.file_type();
    let mut c = Counts {
        entries: 1,
        ..Counts::default()
    };
    if ft.is_dir() {
        c.dirs = 1;
        add(&mut c, &count(p)?);
    } else if ft.is_symlink() {
        c.symlinks = 1;
    } else if ft.is_file() {
        c.files = 1;
        c.bytes = md.len();
    } else {
        c.entries = 0;
    }
    Ok(Some(c))
}

/// Copy the entry `src` — a file, a symlink or a directory with everything under it — to
/// `dst` (which must not exist), keeping owners, modes, symlinks, hard links (within the
/// entry) and mtimes; then count the copy by an independent walk and compare it with
/// `src`'s counts (a mismatch is exit 74), and flush it to disk. Returns the counts and
/// warnings (owners not kept when not root, entries skipped).
pub fn copy_entry(
    src: &Path,
    dst: &Path,
    progress: Option<&mut dyn FnMut(&Counts)>,
) -> Result<(Counts, Vec<String>)> {
    let md = fs::symlink_metadata(src).map_err(|e| Error::io("inspecting", src, e))?;
    let want = count_entry(src)?.unwrap_or_default();
    let mut c = Copier {
        links: HashMap::new(),
        owners_kept: true,
        warnings: Vec::new(),
    };
    let ft = md.file_type();
    if ft.is_dir() {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dst)
            .map_err(|e| cannot(dst, e))?;
        let mut w = Walk::new(src, &[], None, progress);
        let top = super::anchor(src, src, None)?;
        c.copy_dir(&mut w, &top.path, dst, Path::new(""))?;
        drop(top);
        c.apply_meta(dst, &md)?;
        for s in &w.skipped {
            c.warnings
                .push(format!("{s}: not a file, directory or symlink; not copied"));
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(src).map_err(|e| Error::io("reading link", src, e))?;
        std::os::unix::fs::symlink(&target, dst).map_err(|e| cannot(dst, e))?;
        c.chown(dst, &md)?;
        set_times(dst, &md)?;
    } else if ft.is_file() {
        super::copy_file(src, src, dst)?;
        c.apply_meta(dst, &md)?;
    } else {
        return Err(Error::bad_data(format!(
            "{} is not a file, directory or symlink",
            src.display()
        )));
    }
    let got = count_entry(dst)?.unwrap_or_default();
    if got != want {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the copy {} does not match {}: {} entries / {} bytes, expected {} / {}",
                dst.display(),
                src.display(),
                got.entries,
                got.bytes,
                want.entries,
                want.bytes
            ),
        )
        .with_hint("was the snapshot being changed? run it again"));
    }
    syncfs(dst)?;
    Ok((got, c.warnings))
}

fn cannot(p: &Path, e: std::io::Error) -> Error {
    let mut err = Error::io("creating", p, e);
    if err.kind == ErrorKind::MissingInput {
        err.kind = ErrorKind::CannotCreate;
    }
    err
}

/// Put `staged` in the place of `target` in one atomic step. When `target` exists the two
/// are exchanged (`renameat2(RENAME_EXCHANGE)`: at no moment is there no `target`), and
/// what was `target` — now under the staged name — is removed. Where the exchange is not
/// supported, `target` is renamed aside first (a moment without it). The parent directory
/// is synced either way.
pub fn swap_into(staged: &Path, target: &Path, aside: &Path) -> Result<()> {
    use nix::fcntl::{renameat2, RenameFlags};
    let parent = crate::atomic::parent_dir(target);
    if fs::symlink_metadata(target).is_err() {
        fs::rename(staged, target).map_err(|e| Error::io("renaming into", target, e))?;
    } else {
        match renameat2(None, staged, None, target, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => {
                remove_entry(staged)?;
            }
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {
                fs::rename(target, aside).map_err(|e| Error::io("moving aside", target, e))?;
                if let Err(e) = fs::rename(staged, target) {
                    let _ = fs::rename(aside, target);
                    return Err(Error::io("renaming into", target, e));
                }
                remove_entry(aside)?;
            }
            Err(e) => {
                return Err(Error::io(
                    "exchanging",
                    target,
                    std::io::Error::from_raw_os_error(e as i32),
                ))
            }
        }
    }
    crate::atomic::sync_dir(&parent)
}

/// Remove a file, a symlink or a whole directory (never following a symlink).
pub fn remove_entry(p: &Path) -> Result<()> {
    let md = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspecting", p, e)),
    };
    if md.is_dir() {
        fs::remove_dir_all(p).map_err(|e| Error::io("removing", p, e))
    } else {
        fs::remove_file(p).map_err(|e| Error::io("removing", p, e))
    }
}

/// Whether two entries look identical the way `rsync` judges without `--checksum`: the
/// same types, modes, owners, sizes, mtimes (with nanoseconds) and link targets, the
/// same names in every directory. A snapshot restore sets all of these, so a second
/// restore sees the same tree and changes nothing.
pub fn same(a: &Path, b: &Path) -> Result<bool> {
    same_as(a, b, None)
}

/// [`same`], with `a_mode` standing for `a`'s own permission bits (a sealed snapshot
/// file, kept 0600 in the set, whose install mode was recorded).
pub fn same_as(a: &Path, b: &Path, a_mode: Option<u32>) -> Result<bool> {
    let ma = match fs::symlink_metadata(a) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(fs::symlink_metadata(b).is_err())
        }
        Err(e) => return Err(Error::io("inspecting", a, e)),
    };
    let mb = match fs::symlink_metadata(b) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("inspecting", b, e)),
    };
    let (ta, tb) = (ma.file_type(), mb.file_type());
    let key = |m: &fs::Metadata| (m.mode(), m.uid(), m.gid());
    let ka = match a_mode {
        Some(mode) => ((ma.mode() & !0o7777) | mode, ma.uid(), ma.gid()),
        None => key(&ma),
    };
    if ka != key(&mb) || ta.is_dir() != tb.is_dir() || ta.is_symlink() != tb.is_symlink() {
        return Ok(false);
    }
    if ta.is_symlink() {
        let la = fs::read_link(a).map_err(|e| Error::io("reading link", a, e))?;
        let lb = fs::read_link(b).map_err(|e| Error::io("reading link", b, e))?;
        return Ok(la == lb && (ma.mtime(), ma.mtime_nsec()) == (mb.mtime(), mb.mtime_nsec()));
    }
    if !ta.is_dir() {
        return Ok(
            ma.len() == mb.len() && (ma.mtime(), ma.mtime_nsec()) == (mb.mtime(), mb.mtime_nsec())
        );
    }
    let names = |d: &Path| -> Result<Vec<std::ffi::OsString>> {
        let mut v: Vec<_> = fs::read_dir(d)
            .map_err(|e| Error::io("reading directory", d, e))?
            .map(|r| r.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io("reading directory", d, e))?;
        v.sort();
        Ok(v)
    };
    let (na, nb) = (names(a)?, names(b)?);
    if na != nb {
        return Ok(false);
    }
    for n in &na {
        if !same(&a.join(n), &b.join(n))? {
            return Ok(false);
        }
    }
    // A directory's own mtime last: its children decide more often.
    Ok((ma.mtime(), ma.mtime_nsec()) == (mb.mtime(), mb.mtime_nsec()))
}
