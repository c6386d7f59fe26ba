//! A faithful snapshot of the install tree: the guide's `cp -r dreamfactory dreamfactory.backup`.
//!
//! Unlike `cp -r`, it keeps owners, modes (setuid/setgid included), symlinks as symlinks,
//! hard links as hard links, and the mtimes of files, links and directories. It never
//! follows a symlink below the root. It copies into a temporary directory beside the
//! destination, checks the copy by an independent walk (entry and byte counts), flushes it
//! to disk and only then renames it into place: a destination that exists is complete.

use crate::atomic;
use crate::error::{Error, ErrorKind, Result};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, Metadata, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

mod restore;

pub use restore::{copy_entry, count_entry, remove_entry, same, same_as, swap_into};

/// What a tree holds. Hard links count as files too (and once more under `hardlinks`).
/// The one type of the report and of tree.meta.json.
pub use crate::report::data::backup_env::TreeCounts as Counts;

/// The result of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub counts: Counts,
    /// Excluded paths (relative to the root) that existed.
    pub excluded: Vec<String>,
    /// Entries not copied (sockets, devices…), relative paths.
    pub skipped: Vec<String>,
    /// Whether owners were kept (only root can give files to other users).
    pub owners_kept: bool,
    pub warnings: Vec<String>,
    /// Top-level `.env*` files of the copy (they hold secrets), each made 0600 in the
    /// snapshot: name → the install's own mode, as octal ("0644"), which a restore puts back.
    pub sealed: BTreeMap<String, String>,
}

/// Whether a top-level entry of the install is a .env file (its copy holds secrets).
pub fn is_env_name(name: &str) -> bool {
    name.starts_with(".env")
}

/// Normalise `--exclude` values to paths relative to `root` ("vendor", "storage/logs").
/// Absolute paths must lie under the root; `..` is refused.
pub fn normalize_excludes(root: &Path, excludes: &[PathBuf]) -> Result<Vec<PathBuf>> {
    normalize_paths(root, excludes, "--exclude")
}

/// Normalise path arguments of `flag` to paths relative to `root`, as
/// [`normalize_excludes`] does.
pub fn normalize_paths(root: &Path, excludes: &[PathBuf], flag: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for ex in excludes {
        let rel = if ex.is_absolute() {
            ex.strip_prefix(root)
                .map_err(|_| {
                    Error::usage(format!(
                        "{flag} {} is not under the root {}",
                        ex.display(),
                        root.display()
                    ))
                })?
                .to_path_buf()
        } else {
            ex.clone()
        };
        let mut clean = PathBuf::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => clean.push(n),
                Component::CurDir => {}
                _ => {
                    return Err(Error::usage(format!(
                        "{flag} {}: give a path inside the root, without `..`",
                        ex.display()
                    )))
                }
            }
        }
        if clean.as_os_str().is_empty() {
            return Err(Error::usage(format!("{flag} would name the whole root")));
        }
        out.push(clean);
    }
    Ok(out)
}

/// How deep the walk goes below the root before refusing the tree: far deeper than any
/// install, and shallow enough that the recursion, paths (PATH_MAX) and the clean-up of a
/// refused copy (`remove_dir_all` holds a descriptor per level) all fit under a low
/// `ulimit -n`.
const MAX_DEPTH: usize = 128;

/// Walk state shared by the scan and the copy.
struct Walk<'a, 'p> {
    root: PathBuf,
    excludes: &'a [PathBuf],
    /// A directory never to enter (the backup set, when it lies inside the root).
    avoid: Option<PathBuf>,
    counts: Counts,
    excluded: Vec<String>,
    skipped: Vec<String>,
    progress: Option<&'p mut dyn FnMut(&Counts)>,
}

impl<'a, 'p> Walk<'a, 'p> {
    fn new(
        root: &Path,
        excludes: &'a [PathBuf],
        avoid: Option<&Path>,
        progress: Option<&'p mut dyn FnMut(&Counts)>,
    ) -> Walk<'a, 'p> {
        Walk {
            root: root.to_path_buf(),
            excludes,
            avoid: avoid.map(Path::to_path_buf),
            counts: Counts::default(),
            excluded: Vec::new(),
            skipped: Vec::new(),
            progress,
        }
    }

    fn tick(&mut self) {
        if self.counts.entries.is_multiple_of(512) {
            if let Some(p) = self.progress.as_mut() {
                p(&self.counts);
            }
        }
    }

    /// The children of `dir` to visit, sorted, with exclusions applied.
    fn children(&mut self, dir: &Path, rel: &Path) -> Result<Vec<(PathBuf, PathBuf, Metadata)>> {
        // The walk recurses and goes by path: refuse a tree deeper than any install long
        // before the stack or PATH_MAX gives out (a crash with no report otherwise).
        if rel.components().count() >= MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::BadData,
                format!(
                    "{} is {MAX_DEPTH} levels below {}: too deep to copy",
                    rel.components()
                        .take(3)
                        .collect::<PathBuf>()
                        .join("…")
                        .display(),
                    self.root.display()
                ),
            )
            .with_hint(
                "remove or move the deep tree (it is no part of an install), then run again",
            ));
        }
        // `dir` may be a directory's descriptor path (/proc/self/fd/N): messages name
        // the real path, and the set to avoid is recognised by it.
        let shown = self.root.join(rel);
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| Error::io("reading directory", &shown, e))?
            .map(|r| r.map(|d| d.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io("reading directory", &shown, e))?;
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let src = dir.join(&name);
            let r = rel.join(&name);
            if self.excludes.iter().any(|x| x == &r) {
                self.excluded.push(r.display().to_string());
                continue;
            }
            if self.avoid.as_deref() == Some(self.root.join(&r).as_path()) {
                self.excluded.push(r.display().to_string());
                continue;
            }
            let md = fs::symlink_metadata(&src)
                .map_err(|e| Error::io("inspecting", &self.root.join(&r), e))?;
            out.push((src, r, md));
        }
        Ok(out)
    }
}

/// A directory held open while the copy works inside it, and the path that reaches it
/// through its descriptor (`/proc/self/fd/N`). Everything below is looked up from the
/// open directory itself, so a directory of the install swapped for a symlink while the
/// copy runs cannot lead it outside the root: the swap is seen and the copy refused.
/// Without /proc, the plain path (and the race) remain.
pub(crate) struct Anchor {
    _dir: File,
    pub(crate) path: PathBuf,
}

/// Open `dir` as an [`Anchor`]. With `seen` (the entry's lstat from its parent), the
/// directory must still be that one: not a symlink now, the same device and inode.
pub(crate) fn anchor(dir: &Path, shown: &Path, seen: Option<&Metadata>) -> Result<Anchor> {
    let changed = || {
        Error::new(
            ErrorKind::Io,
            format!(
                "{} changed while it was being copied (a directory replaced, by a symlink?)",
                shown.display()
            ),
        )
        .with_hint("stop what writes into the install (maintenance mode), then run again")
    };
    let mut flags = libc::O_DIRECTORY | libc::O_CLOEXEC;
    if seen.is_some() {
        flags |= libc::O_NOFOLLOW;
    }
    let f = match OpenOptions::new().read(true).custom_flags(flags).open(dir) {
        Ok(f) => f,
        Err(e)
            if seen.is_some()
                && matches!(
                    e.raw_os_error(),
                    Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::ENOENT)
                ) =>
        {
            return Err(changed())
        }
        Err(e) => return Err(Error::io("opening directory", shown, e)),
    };
    if let Some(want) = seen {
        let md = f
            .metadata()
            .map_err(|e| Error::io("inspecting", shown, e))?;
        if (md.dev(), md.ino()) != (want.dev(), want.ino()) {
            return Err(changed());
        }
    }
    let proc = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&f)
    ));
    let path = if proc.is_dir() {
        proc
    } else {
        dir.to_path_buf()
    };
    Ok(Anchor { _dir: f, path })
}

/// Count what a snapshot of `root` would copy (for `--dry-run`).
pub fn scan(
    root: &Path,
    excludes: &[PathBuf],
    avoid: Option<&Path>,
) -> Result<(Counts, Vec<String>)> {
    let mut w = Walk::new(root, excludes, avoid, None);
    let mut seen = HashMap::new();
    scan_dir(&mut w, root, Path::new(""), &mut seen)?;
    Ok((w.counts, w.excluded))
}

fn scan_dir(
    w: &mut Walk,
    dir: &Path,
    rel: &Path,
    seen: &mut HashMap<(u64, u64), ()>,
) -> Result<()> {
    for (src, r, md) in w.children(dir, rel)? {
        let ft = md.file_type();
        if ft.is_dir() {
            w.counts.dirs += 1;
            scan_dir(w, &src, &r, seen)?;
        } else if ft.is_symlink() {
            w.counts.symlinks += 1;
        } else if ft.is_file() {
            w.counts.files += 1;
            w.counts.bytes += md.len();
            if md.nlink() > 1 && seen.insert((md.dev(), md.ino()), ()).is_some() {
                w.counts.hardlinks += 1;
            }
        } else {
            w.skipped.push(r.display().to_string());
            continue;
        }
        w.counts.entries += 1;
    }
    Ok(())
}

/// Count an existing tree (the copy), independently of how it was made.
pub fn count(dir: &Path) -> Result<Counts> {
    let (c, _) = scan(dir, &[], None)?;
    Ok(c)
}

/// Copy `root` into `dest` (which must not exist), keeping everything a restore needs.
/// `avoid` is a directory never entered (the backup set, if inside the root).
pub fn snapshot(
    root: &Path,
    dest: &Path,
    excludes: &[PathBuf],
    avoid: Option<&Path>,
    progress: Option<&mut dyn FnMut(&Counts)>,
) -> Result<Snapshot> {
    let parent = atomic::parent_dir(dest);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tree".into());
    let tmp = parent.join(format!(".{name}.dfkit-tmp.{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io("removing stale", &tmp, e))?;
    }
    let res = copy_into(root, &tmp, excludes, avoid, progress).and_then(|s| seal(&tmp, s));
    let snap = match res {
        Ok(s) => s,
        Err(e) => {
            // Nothing half-done: no partial tree under any name.
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let root_md = fs::symlink_metadata(root).map_err(|e| Error::io("inspecting", root, e))?;
    fs::rename(&tmp, dest).map_err(|e| {
        let _ = fs::remove_dir_all(&tmp);
        Error::io("renaming into", dest, e)
    })?;
    // Some filesystems touch a directory's times on rename: set the top's again.
    set_times(dest, &root_md)?;
    atomic::sync_dir(&parent)?;
    Ok(snap)
}

/// Secrets stay private in the set: the copies of top-level `.env*` files become 0600
/// (their modes recorded in [`Snapshot::sealed`]) and the snapshot's top directory 0700.
fn seal(tmp: &Path, mut snap: Snapshot) -> Result<Snapshot> {
    for e in fs::read_dir(tmp).map_err(|e| Error::io("reading directory", tmp, e))? {
        let e = e.map_err(|e| Error::io("reading directory", tmp, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let md = e
            .metadata()
            .map_err(|err| Error::io("inspecting", &e.path(), err))?;
        if !is_env_name(&name) || !md.is_file() {
            continue;
        }
        let p = e.path();
        let mode = md.mode() & 0o7777;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600))
            .map_err(|err| Error::io("setting mode of", &p, err))?;
        snap.sealed.insert(name, format!("{mode:04o}"));
    }
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("setting mode of", tmp, e))?;
    Ok(snap)
}

fn copy_into(
    root: &Path,
    tmp: &Path,
    excludes: &[PathBuf],
    avoid: Option<&Path>,
    progress: Option<&mut dyn FnMut(&Counts)>,
) -> Result<Snapshot> {
    let root_md = fs::metadata(root).map_err(|e| Error::io("inspecting", root, e))?;
    if !root_md.is_dir() {
        return Err(Error::missing(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let cannot = |p: &Path, e: std::io::Error| {
        let mut err = Error::io("creating", p, e);
        if err.kind == ErrorKind::MissingInput {
            err.kind = ErrorKind::CannotCreate;
        }
        err
    };
    fs::DirBuilder::new()
        .mode(0o700)
        .create(tmp)
        .map_err(|e| cannot(tmp, e))?;
    let mut w = Walk::new(root, excludes, avoid, progress);
    let mut c = Copier {
        links: HashMap::new(),
        owners_kept: true,
        warnings: Vec::new(),
    };
    let top = anchor(root, root, None)?;
    c.copy_dir(&mut w, &top.path, tmp, Path::new(""))?;
    drop(top);
    c.apply_meta(tmp, &root_md)?;

    for ex in excludes {
        if !w.excluded.iter().any(|e| Path::new(e) == ex) {
            c.warnings.push(format!(
                "--exclude {}: no such path under {}",
                ex.display(),
                w.root.display()
            ));
        }
    }
    for s in &w.skipped {
        c.warnings
            .push(format!("{s}: not a file, directory or symlink; not copied"));
    }

    // Verify by an independent walk of the copy.
    let copy = count(tmp)?;
    if copy != w.counts {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the copy does not match the install: copied {} entries / {} bytes, found {} / {}",
                w.counts.entries, w.counts.bytes, copy.entries, copy.bytes
            ),
        )
        .with_hint("was the install being changed during the snapshot? run it again"));
    }
    // One flush for the whole tree instead of an fsync per file.
    syncfs(tmp)?;
    Ok(Snapshot {
        counts: w.counts,
        excluded: w.excluded,
        skipped: w.skipped,
        owners_kept: c.owners_kept,
        warnings: c.warnings,
        sealed: BTreeMap::new(),
    })
}

struct Copier {
    /// (dev, ino) of multiply-linked files already copied → their copy.
    links: HashMap<(u64, u64), PathBuf>,
    owners_kept: bool,
    warnings: Vec<String>,
}

impl Copier {
    fn copy_dir(&mut self, w: &mut Walk, src_dir: &Path, dst_dir: &Path, rel: &Path) -> Result<()> {
        for (src, r, md) in w.children(src_dir, rel)? {
            let dst = dst_dir.join(src.file_name().unwrap_or_default());
            let ft = md.file_type();
            if ft.is_dir() {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dst)
                    .map_err(|e| Error::io("creating", &dst, e))?;
                w.counts.entries += 1;
                w.counts.dirs += 1;
                let sub = anchor(&src, &w.root.join(&r), Some(&md))?;
                self.copy_dir(w, &sub.path, &dst, &r)?;
                drop(sub);
                // After the children: a read-only directory would refuse them, and
                // creating them changes its mtime.
                self.apply_meta(&dst, &md)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&src)
                    .map_err(|e| Error::io("reading link", &w.root.join(&r), e))?;
                std::os::unix::fs::symlink(&target, &dst)
                    .map_err(|e| Error::io("creating symlink", &dst, e))?;
                self.chown(&dst, &md)?;
                set_times(&dst, &md)?;
                w.counts.entries += 1;
                w.counts.symlinks += 1;
            } else if ft.is_file() {
                let key = (md.dev(), md.ino());
                if md.nlink() > 1 {
                    if let Some(first) = self.links.get(&key) {
                        fs::hard_link(first, &dst).map_err(|e| Error::io("linking", &dst, e))?;
                        w.counts.entries += 1;
                        w.counts.files += 1;
                        w.counts.hardlinks += 1;
                        w.counts.bytes += fs::symlink_metadata(&dst).map(|m| m.len()).unwrap_or(0);
                        continue;
                    }
                    self.links.insert(key, dst.clone());
                }
                let n = copy_file(&src, &w.root.join(&r), &dst)?;
                self.apply_meta(&dst, &md)?;
                w.counts.entries += 1;
                w.counts.files += 1;
                w.counts.bytes += n;
            } else {
                w.skipped.push(r.display().to_string());
                continue;
            }
            w.tick();
        }
        Ok(())
    }

    /// Owner, then mode (chown clears setuid bits), then times.
    fn apply_meta(&mut self, p: &Path, md: &Metadata) -> Result<()> {
        self.chown(p, md)?;
        fs::set_permissions(p, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(|e| Error::io("setting mode of", p, e))?;
        set_times(p, md)
    }

    fn chown(&mut self, p: &Path, md: &Metadata) -> Result<()> {
        match std::os::unix::fs::lchown(p, Some(md.uid()), Some(md.gid())) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) && !crate::users::is_root() => {
                if self.owners_kept {
                    self.owners_kept = false;
                    self.warnings.push(
                        "not running as root: the copy's files belong to the current user".into(),
                    );
                }
                Ok(())
            }
            Err(e) => Err(Error::io("setting owner of", p, e)),
        }
    }
}

/// Copy the regular file `src` (named `shown` in messages) to a new `dst`.
fn copy_file(src: &Path, shown: &Path, dst: &Path) -> Result<u64> {
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
        .map_err(|e| Error::io("opening", shown, e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| Error::io("creating", dst, e))?;
    std::io::copy(&mut from, &mut to).map_err(|e| Error::io("copying", shown, e))
}

/// Flush the whole filesystem holding `p` (one syncfs instead of an fsync per file).
fn syncfs(p: &Path) -> Result<()> {
    let f = File::open(p).map_err(|e| Error::io("opening", p, e))?;
    // SAFETY: syncfs only reads the descriptor, which `f` keeps open for the call.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) } != 0 {
        return Err(Error::io("flushing", p, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn set_times(p: &Path, md: &Metadata) -> Result<()> {
    let at = TimeSpec::new(md.atime(), md.atime_nsec());
    let mt = TimeSpec::new(md.mtime(), md.mtime_nsec());
    utimensat(None, p, &at, &mt, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| Error::io("setting times of", p, std::io::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_are_relative_and_clean() {
        let root = Path::new("/opt/df");
        let ex = normalize_excludes(
            root,
            &[
                PathBuf::from("./vendor/"),
                PathBuf::from("/opt/df/storage/logs"),
            ],
        )
        .unwrap();
        assert_eq!(
            ex,
            vec![PathBuf::from("vendor"), PathBuf::from("storage/logs")]
        );
        assert!(normalize_excludes(root, &[PathBuf::from("../etc")]).is_err());
        assert!(normalize_excludes(root, &[PathBuf::from("/etc")]).is_err());
        assert!(normalize_excludes(root, &[PathBuf::from(".")]).is_err());
    }

    #[test]
    fn copy_keeps_links_modes_and_times() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/f"), b"hello").unwrap();
        fs::hard_link(root.join("a/f"), root.join("a/b/g")).unwrap();
        std::os::unix::fs::symlink("../f", root.join("a/b/l")).unwrap();
        fs::set_permissions(root.join("a/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::create_dir(root.join("skip")).unwrap();
        let dest = d.path().join("tree");
        let s = snapshot(&root, &dest, &[PathBuf::from("skip")], None, None).unwrap();
        assert_eq!(s.counts.files, 2);
        assert_eq!(s.counts.hardlinks, 1);
        assert_eq!(s.counts.symlinks, 1);
        assert_eq!(s.counts.dirs, 2);
        assert_eq!(s.excluded, vec!["skip"]);
        assert_eq!(
            fs::read_link(dest.join("a/b/l")).unwrap(),
            Path::new("../f")
        );
        let m = fs::metadata(dest.join("a/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4751);
        assert_eq!(m.ino(), fs::metadata(dest.join("a/b/g")).unwrap().ino());
        let a = fs::metadata(root.join("a")).unwrap();
        let b = fs::metadata(dest.join("a")).unwrap();
        assert_eq!((a.mtime(), a.mtime_nsec()), (b.mtime(), b.mtime_nsec()));
        assert!(!dest.join("skip").exists());
        // Nothing left beside it.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }
}
