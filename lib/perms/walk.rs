//! The one walk root makes over a tree the web user can write (df-perms, and df-artisan's
//! hand-back of root-owned files).
//!
//! # Why it is shaped like this
//!
//! Anything under storage/ may be hostile while root walks it, so the walk:
//! - descends only through directory descriptors opened with
//!   `openat(O_DIRECTORY | O_NOFOLLOW)` relative to the parent's descriptor, checks that the
//!   directory opened is the one examined (device and inode), reads its owner and mode from
//!   that descriptor (`fstat`) and changes it through the descriptor (`fchown`/`fchmod`): a
//!   directory swapped for a symlink between `readdir` and `openat` makes the open fail
//!   instead of leading the walk elsewhere;
//! - changes every other entry by name relative to its parent's descriptor without
//!   following a final symlink (`fchownat(AT_SYMLINK_NOFOLLOW)`, fchmodat2 with
//!   `AT_SYMLINK_NOFOLLOW`): a symlink's own owner is set, its mode never, its target never;
//! - stays on the filesystem of the target (mount points inside are skipped);
//! - skips regular files with more than one hard link (another name may be outside the
//!   tree, e.g. /etc/shadow) and device nodes;
//! - keeps an explicit stack instead of recursing, and at most [`MAX_OPEN`] directory
//!   descriptors: deeper, a directory's remaining entries are read into memory and its
//!   descriptor closed; coming back up it is re-opened as `..` of the child, or else from
//!   the target down by the recorded names, and used only when its device and inode are
//!   those recorded. One that no longer matches is skipped with a warning, never followed.
//!   So no tree, however deep, exhausts the stack, the descriptor table or PATH_MAX.
//!
//! Every entry is `lstat`ed (or, for a directory, opened and `fstat`ed) and only what
//! differs from the [`Policy`] is changed, so a second run writes nothing.

use super::sys::{self, is_gone};
use crate::error::Error;
use crate::progress::Progress;
use crate::report::Ctx;
use nix::dir::{Dir, OwningIter, Type};
use nix::sys::stat::FileStat;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Keep this id as it is (the `-1` of chown(2)).
pub const KEEP: u32 = u32::MAX;
/// Directory descriptors held open at most by one walk (below any RLIMIT_NOFILE).
pub const MAX_OPEN: usize = 48;
/// How many skipped entries the report lists by path (the counts are always complete).
pub const MAX_LISTED: usize = 100;
/// How many skipped entries (and errors) get their own line on stderr.
pub const MAX_WARNED: usize = 10;

/// What the walk makes of each entry it is allowed to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Owner to set ([`KEEP`]: leave the uid as it is).
    pub uid: u32,
    /// Group to set ([`KEEP`]: leave it).
    pub gid: u32,
    /// Take `uid`/`gid` from the target's top entry instead.
    pub inherit: bool,
    /// Only entries owned by this uid are touched (the sweep: 0); None: every entry.
    pub only_uid: Option<u32>,
    /// Mode for directories (None: modes are left alone).
    pub dir_mode: Option<u32>,
    /// Mode for everything else but symlinks.
    pub file_mode: Option<u32>,
    /// Count what would change, change nothing.
    pub dry_run: bool,
}

/// Why an entry was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    HardLink,
    OtherFilesystem,
    Device,
    ChangedDuringWalk,
    Vanished,
}

impl Skip {
    pub const ALL: [Skip; 5] = [
        Skip::HardLink,
        Skip::OtherFilesystem,
        Skip::Device,
        Skip::ChangedDuringWalk,
        Skip::Vanished,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::HardLink => "hard_link",
            Skip::OtherFilesystem => "other_filesystem",
            Skip::Device => "device",
            Skip::ChangedDuringWalk => "changed_during_walk",
            Skip::Vanished => "vanished",
        }
    }
    fn explain(self) -> &'static str {
        match self {
            Skip::HardLink => {
                "a regular file with more than one hard link (another name may be outside the tree)"
            }
            Skip::OtherFilesystem => "a mount point of another filesystem",
            Skip::Device => "a device node",
            Skip::ChangedDuringWalk => {
                "it was replaced or moved while being examined (not followed; re-run to finish)"
            }
            Skip::Vanished => "it was removed while being examined",
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

/// Counts for one target (or the total).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub scanned: u64,
    pub chowned: u64,
    pub chmodded: u64,
    /// Indexed like [`Skip::ALL`].
    pub skipped: [u64; 5],
}

impl Counts {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }
    pub fn skipped_for(&self, s: Skip) -> u64 {
        self.skipped[s.idx()]
    }
    pub fn add(&mut self, o: &Counts) {
        self.scanned += o.scanned;
        self.chowned += o.chowned;
        self.chmodded += o.chmodded;
        for (a, b) in self.skipped.iter_mut().zip(o.skipped.iter()) {
            *a += b;
        }
    }
    pub fn changed(&self) -> bool {
        self.chowned + self.chmodded > 0
    }
}

/// What walks share across targets: listed skips, warnings given, errors.
#[derive(Debug, Default)]
pub struct Log {
    /// The first [`MAX_LISTED`] skipped entries (`vanished` ones are only counted).
    pub listed: Vec<(PathBuf, Skip)>,
    pub warned: usize,
    /// Entries that could not be changed.
    pub errors: u64,
    pub first_error: Option<Error>,
}

/// A directory on the walk's stack.
struct Frame {
    /// Open stream (None once evicted to stay under [`MAX_OPEN`]).
    dir: Option<OwningIter>,
    /// Remaining entries come from `pending`, not the stream (set on eviction).
    buffered: bool,
    pending: VecDeque<Pending>,
    dev: u64,
    ino: u64,
    /// Its name in its parent, to find it again.
    name: CString,
}

/// An entry read ahead from an evicted directory.
struct Pending {
    name: CString,
    hint: Option<(Type, u64)>,
}

/// One walk of one target (see the module docs).
pub struct Walker<'a> {
    ctx: Option<&'a Ctx>,
    pub policy: Policy,
    /// The target's filesystem: entries on another one are not touched.
    dev: u64,
    pub counts: Counts,
    log: &'a mut Log,
    progress: Option<&'a mut Progress>,
    /// The directory whose entries are being handled (absolute), for messages only.
    dir: PathBuf,
    /// The target's parent directory: where re-opening by name starts.
    base: Option<Dir>,
    stack: Vec<Frame>,
    /// `stack[first_open..]` hold open descriptors, the frames below none.
    first_open: usize,
    /// Tests: called with the depth each time a directory is pushed (to change the tree
    /// mid-walk at a known moment).
    #[cfg(test)]
    on_push: Option<Box<dyn FnMut(usize) + 'a>>,
}

impl<'a> Walker<'a> {
    /// A walk applying `policy`; warnings go to `ctx` (none without one), skips and errors
    /// to `log`, the running count of entries to `progress`.
    pub fn new(
        ctx: Option<&'a Ctx>,
        policy: Policy,
        log: &'a mut Log,
        progress: Option<&'a mut Progress>,
    ) -> Walker<'a> {
        Walker {
            ctx,
            policy,
            dev: 0,
            counts: Counts::default(),
            log,
            progress,
            dir: PathBuf::new(),
            base: None,
            stack: Vec::new(),
            first_open: 0,
            #[cfg(test)]
            on_push: None,
        }
    }

    /// Walk `root`/`rel` (`rel` non-empty, already checked to stay inside the root). The
    /// root is opened following symlinks (it is the operator's), everything below without.
    pub fn run(&mut self, root: &Path, rel: &[CString]) -> crate::error::Result<()> {
        let (last, dirs) = rel
            .split_last()
            .ok_or_else(|| Error::internal("walk of the root itself"))?;
        let mut parent = sys::open_root(root).map_err(|e| Error::io("opening", root, e))?;
        self.dir = root.to_path_buf();
        for c in dirs {
            parent = sys::open_dir_at(parent.as_raw_fd(), c).map_err(|e| {
                Error::config(format!(
                    "opening {} below {}: {e}",
                    c.to_string_lossy(),
                    self.dir.display()
                ))
                .with_hint("the path changed (or became a symlink) while being opened; re-run")
            })?;
            self.dir.push(OsStr::from_bytes(c.to_bytes()));
        }
        let st = sys::lstat_at(parent.as_raw_fd(), last).map_err(|e| {
            Error::io(
                "inspecting",
                &self.dir.join(OsStr::from_bytes(last.to_bytes())),
                e,
            )
        })?;
        self.dev = st.st_dev;
        if self.policy.inherit {
            self.policy.uid = st.st_uid;
            self.policy.gid = st.st_gid;
        }
        if self.policy.only_uid.is_some_and(|u| u == self.policy.uid)
            && self.policy.dir_mode.is_none()
            && self.policy.file_mode.is_none()
        {
            return Ok(()); // e.g. root-owned files for a root-owned storage/: nothing to do
        }
        let fd = parent.as_raw_fd();
        self.base = Some(parent);
        self.entry(fd, last, None);
        self.drive();
        self.base = None;
        if let Some(p) = self.progress.as_deref_mut() {
            p.set(self.counts.scanned);
        }
        Ok(())
    }

    /// Work through the stack until it is empty.
    fn drive(&mut self) {
        let mut popped: Option<OwningIter> = None;
        while let Some(i) = self.stack.len().checked_sub(1) {
            if self.stack[i].dir.is_none() {
                if let Err(lost) = self.reopen(i, popped.take()) {
                    self.abandon(lost);
                    continue;
                }
            }
            popped = None;
            let f = &mut self.stack[i];
            let Some(stream) = f.dir.as_mut() else {
                continue; // reopen set it
            };
            let fd = stream.as_raw_fd();
            if f.buffered {
                match f.pending.pop_front() {
                    Some(p) => self.entry(fd, &p.name, p.hint),
                    None => popped = self.pop(),
                }
                continue;
            }
            match stream.next() {
                Some(Ok(ent)) => {
                    let name = ent.file_name();
                    let b = name.to_bytes();
                    if b == b"." || b == b".." {
                        continue;
                    }
                    let hint = ent.file_type().map(|t| (t, ent.ino()));
                    self.entry(fd, name, hint);
                }
                Some(Err(e)) => {
                    self.fail_here("reading", io::Error::from_raw_os_error(e as i32));
                    popped = self.pop();
                }
                None => popped = self.pop(),
            }
        }
    }

    /// Drop the top frame; its stream (if open) is returned to find the parent by `..`.
    fn pop(&mut self) -> Option<OwningIter> {
        let f = self.stack.pop()?;
        self.dir.pop();
        self.first_open = self.first_open.min(self.stack.len());
        f.dir
    }

    /// Get a descriptor for the (evicted) top frame `i` back: `..` of the child just left,
    /// else from the target's parent down by name. Each must be the very directory
    /// recorded (device, inode). Err(k): frame k (≤ i) no longer is where it was.
    fn reopen(&mut self, i: usize, child: Option<OwningIter>) -> Result<(), usize> {
        let want = |f: &Frame, d: &Dir| {
            sys::fstat(d.as_raw_fd()).is_ok_and(|st| st.st_dev == f.dev && st.st_ino == f.ino)
        };
        if let Some(c) = child {
            if let Ok(d) = sys::open_dir_at(c.as_raw_fd(), c"..") {
                if want(&self.stack[i], &d) {
                    self.stack[i].dir = Some(d.into_iter());
                    self.first_open = i;
                    return Ok(());
                }
            }
        }
        let Some(base) = self.base.as_ref() else {
            return Err(0);
        };
        let mut cur: Option<Dir> = None;
        for k in 0..=i {
            let at = cur.as_ref().map_or(base.as_raw_fd(), |d| d.as_raw_fd());
            match sys::open_dir_at(at, &self.stack[k].name) {
                Ok(d) if want(&self.stack[k], &d) => cur = Some(d),
                _ => return Err(k),
            }
        }
        self.stack[i].dir = cur.map(Dir::into_iter);
        self.first_open = i;
        Ok(())
    }

    /// Frames `lost..` can no longer be reached safely: skip what is left of them.
    fn abandon(&mut self, lost: usize) {
        while self.stack.len() > lost + 1 {
            self.pop();
        }
        let path = self.dir.clone();
        self.pop();
        self.skip_path(path, Skip::ChangedDuringWalk);
    }

    /// Handle one entry of the directory `parent`, given its name and readdir's hint.
    fn entry(&mut self, parent: RawFd, name: &CStr, hint: Option<(Type, u64)>) {
        self.counts.scanned += 1;
        if self.counts.scanned % 4096 == 0 {
            if let Some(p) = self.progress.as_deref_mut() {
                p.set(self.counts.scanned);
            }
        }
        if let Some((Type::Directory, d_ino)) = hint {
            // The common case for directories: open first, then stat the descriptor.
            match sys::open_dir_at(parent, name) {
                Ok(d) => return self.directory(d, parent, name, d_ino, false),
                Err(e) if is_gone(&e) => return self.skip(name, Skip::Vanished),
                // Replaced by something else since readdir: look at what it is now.
                Err(_) => {}
            }
        }
        let st = match sys::lstat_at(parent, name) {
            Ok(st) => st,
            Err(e) if is_gone(&e) => return self.skip(name, Skip::Vanished),
            Err(e) => return self.fail("inspecting", name, e),
        };
        if st.st_dev != self.dev {
            return self.skip(name, Skip::OtherFilesystem);
        }
        let fmt = st.st_mode & libc::S_IFMT;
        if fmt == libc::S_IFDIR {
            return match sys::open_dir_at(parent, name) {
                Ok(d) => self.directory(d, parent, name, st.st_ino, true),
                Err(e) if is_gone(&e) => self.skip(name, Skip::Vanished),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    self.skip(name, Skip::ChangedDuringWalk)
                }
                Err(e) => self.fail("opening", name, e),
            };
        }
        if !self.candidate(&st) {
            return;
        }
        match fmt {
            libc::S_IFLNK => self.leaf(parent, name, &st, true),
            libc::S_IFREG if st.st_nlink > 1 => self.skip(name, Skip::HardLink),
            libc::S_IFCHR | libc::S_IFBLK => self.skip(name, Skip::Device),
            _ => self.leaf(parent, name, &st, false),
        }
    }

    fn candidate(&self, st: &FileStat) -> bool {
        self.policy.only_uid.map_or(true, |u| st.st_uid == u)
    }

    /// A directory, open as `d`: fix it through the descriptor, then queue its entries.
    /// `ino` is the inode the name had when looked at (from lstat when `ino_from_stat`,
    /// else readdir's d_ino): the directory opened must be that one.
    fn directory(&mut self, d: Dir, parent: RawFd, name: &CStr, ino: u64, ino_from_stat: bool) {
        let fd = d.as_raw_fd();
        let st = match sys::fstat(fd) {
            Ok(st) => st,
            Err(e) => return self.fail("inspecting", name, e),
        };
        if st.st_dev != self.dev {
            return self.skip(name, Skip::OtherFilesystem);
        }
        if st.st_ino != ino {
            // Some filesystems (overlayfs) report a d_ino that differs from st_ino: ask
            // lstat before concluding the name was swapped.
            let same = !ino_from_stat
                && matches!(sys::lstat_at(parent, name), Ok(l) if l.st_ino == st.st_ino && l.st_dev == st.st_dev);
            if !same {
                return self.skip(name, Skip::ChangedDuringWalk);
            }
        }
        if self.candidate(&st) {
            let (uid, gid) = self.want_ids(&st);
            if uid.is_some() || gid.is_some() {
                self.counts.chowned += 1;
                if !self.policy.dry_run {
                    if let Err(e) = sys::fchown(fd, uid, gid) {
                        return self.fail("changing the owner of", name, e);
                    }
                }
            }
            // chown never clears a directory's set-group-ID bit, so st_mode still holds.
            if let Some(mode) = self.policy.dir_mode {
                if st.st_mode & 0o7777 != mode {
                    self.counts.chmodded += 1;
                    if !self.policy.dry_run {
                        if let Err(e) = sys::fchmod(fd, mode) {
                            return self.fail("changing the mode of", name, e);
                        }
                    }
                }
            }
        }
        self.stack.push(Frame {
            dir: Some(d.into_iter()),
            buffered: false,
            pending: VecDeque::new(),
            dev: st.st_dev,
            ino: st.st_ino,
            name: name.to_owned(),
        });
        self.dir.push(OsStr::from_bytes(name.to_bytes()));
        if self.stack.len() - self.first_open > MAX_OPEN {
            self.evict();
        }
        #[cfg(test)]
        if let Some(hook) = self.on_push.as_mut() {
            hook(self.stack.len());
        }
    }

    /// Close the descriptor of the lowest open frame, reading its remaining entries first.
    fn evict(&mut self) {
        let k = self.first_open;
        let f = &mut self.stack[k];
        let mut failed = None;
        if let Some(mut stream) = f.dir.take() {
            for ent in stream.by_ref() {
                match ent {
                    Ok(ent) => {
                        let b = ent.file_name().to_bytes();
                        if b == b"." || b == b".." {
                            continue;
                        }
                        f.pending.push_back(Pending {
                            name: ent.file_name().to_owned(),
                            hint: ent.file_type().map(|t| (t, ent.ino())),
                        });
                    }
                    Err(e) => {
                        failed = Some(io::Error::from_raw_os_error(e as i32));
                        break;
                    }
                }
            }
        }
        f.buffered = true;
        self.first_open = k + 1;
        if let Some(e) = failed {
            let path: PathBuf = self.frame_path(k);
            self.record(Error::io("reading", &path, e));
        }
    }

    /// The path of frame `k` (for messages).
    fn frame_path(&self, k: usize) -> PathBuf {
        let mut p = self.dir.clone();
        for _ in k + 1..self.stack.len() {
            p.pop();
        }
        p
    }

    /// Anything but a directory: by name, never following a final symlink.
    fn leaf(&mut self, parent: RawFd, name: &CStr, st: &FileStat, symlink: bool) {
        let mut mode = st.st_mode & 0o7777;
        let (uid, gid) = self.want_ids(st);
        if uid.is_some() || gid.is_some() {
            self.counts.chowned += 1;
            if !self.policy.dry_run {
                if let Err(e) = sys::lchown_at(parent, name, uid, gid) {
                    return self.fail("changing the owner of", name, e);
                }
            }
            // The kernel clears set-user-ID (and set-group-ID with group-exec) on a chown.
            if !symlink && mode & (libc::S_ISUID | libc::S_ISGID) != 0 {
                if self.policy.dry_run {
                    mode &= !libc::S_ISUID;
                    if mode & libc::S_IXGRP != 0 {
                        mode &= !libc::S_ISGID;
                    }
                } else {
                    match sys::lstat_at(parent, name) {
                        Ok(st2) => mode = st2.st_mode & 0o7777,
                        Err(e) => return self.fail("inspecting", name, e),
                    }
                }
            }
        }
        let Some(want) = self.policy.file_mode else {
            return;
        };
        if symlink || mode == want {
            return;
        }
        self.counts.chmodded += 1;
        if !self.policy.dry_run {
            match sys::chmod_nofollow(parent, name, want) {
                Ok(()) => {}
                Err(e) if is_gone(&e) => self.skip_after_count(name, Skip::Vanished),
                // It became a symlink since the lstat: not ours to change.
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    self.skip_after_count(name, Skip::ChangedDuringWalk)
                }
                Err(e) => self.fail("changing the mode of", name, e),
            }
        }
    }

    /// The ids to set (None where nothing differs).
    fn want_ids(&self, st: &FileStat) -> (Option<u32>, Option<u32>) {
        let p = &self.policy;
        let uid = (p.uid != KEEP && st.st_uid != p.uid).then_some(p.uid);
        let gid = (p.gid != KEEP && st.st_gid != p.gid).then_some(p.gid);
        (uid, gid)
    }

    fn path_of(&self, name: &CStr) -> PathBuf {
        self.dir.join(OsStr::from_bytes(name.to_bytes()))
    }

    fn skip(&mut self, name: &CStr, why: Skip) {
        if why == Skip::Vanished {
            // A live site deletes cache files all the time: counted, not worth a warning.
            self.counts.skipped[why.idx()] += 1;
            return;
        }
        let path = self.path_of(name);
        self.skip_path(path, why);
    }

    fn skip_path(&mut self, path: PathBuf, why: Skip) {
        self.counts.skipped[why.idx()] += 1;
        if why == Skip::Vanished {
            return;
        }
        if self.log.warned < MAX_WARNED {
            self.log.warned += 1;
            if let Some(ctx) = self.ctx {
                ctx.warn(format!("skipped {}: {}", path.display(), why.explain()));
            }
        }
        if self.log.listed.len() < MAX_LISTED {
            self.log.listed.push((path, why));
        }
    }

    /// A chmod counted but not made: take it back and record the skip.
    fn skip_after_count(&mut self, name: &CStr, why: Skip) {
        self.counts.chmodded -= 1;
        self.skip(name, why);
    }

    fn fail(&mut self, what: &str, name: &CStr, e: io::Error) {
        let path = self.path_of(name);
        self.record(Error::io(what, &path, e));
    }

    fn fail_here(&mut self, what: &str, e: io::Error) {
        let path = self.dir.clone();
        self.record(Error::io(what, &path, e));
    }

    fn record(&mut self, e: Error) {
        self.log.errors += 1;
        if self.log.errors <= MAX_WARNED as u64 {
            if let Some(ctx) = self.ctx {
                ctx.log(format!("error: {}", e.message));
            }
        }
        if self.log.first_error.is_none() {
            self.log.first_error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, MetadataExt};

    const DEPTH: usize = 80;

    /// `top`/l/l/…/l (`DEPTH` levels), ten files in each level so that some are still
    /// unread when the walk goes deeper.
    fn chain(top: &Path) -> Vec<PathBuf> {
        let mut levels = Vec::new();
        let mut p = top.to_path_buf();
        for _ in 0..DEPTH {
            p.push("l");
            std::fs::create_dir(&p).unwrap();
            for f in 0..10 {
                std::fs::write(p.join(format!("f{f}")), "x").unwrap();
            }
            levels.push(p.clone());
        }
        levels
    }

    fn policy() -> Policy {
        Policy {
            uid: 4242,
            gid: 4242,
            inherit: false,
            only_uid: None,
            dir_mode: Some(0o2775),
            file_mode: Some(0o664),
            dry_run: false,
        }
    }

    #[test]
    fn a_deep_chain_is_walked_with_bounded_descriptors() {
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let levels = chain(&d.path().join("t").tap_mkdir());
        let mut log = Log::default();
        let mut w = Walker::new(None, policy(), &mut log, None);
        let most = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let seen = most.clone();
        w.on_push = Some(Box::new(move |depth| seen.set(seen.get().max(depth))));
        w.run(d.path(), &[c"t".to_owned()]).unwrap();
        assert_eq!(most.get(), DEPTH + 1);
        assert_eq!(w.counts.scanned, 1 + DEPTH as u64 * 11);
        assert_eq!(w.counts.skipped_total(), 0);
        drop(w);
        assert!(log.first_error.is_none());
        for l in &levels {
            let md = std::fs::metadata(l.join("f9")).unwrap();
            assert_eq!((md.uid(), md.mode() & 0o7777), (4242, 0o664));
            assert_eq!(std::fs::metadata(l).unwrap().mode() & 0o7777, 0o2775);
        }
    }

    /// Deep in the walk, an attacker moves a directory whose descriptor was closed out of
    /// the tree (so `..` of its child leads elsewhere) and replaces an ancestor with a new
    /// directory of the same name (so finding it again by name fails too). The walk must
    /// skip what it can no longer reach, say so, and touch nothing where `..` now leads.
    #[test]
    fn a_parent_that_no_longer_matches_is_skipped_never_followed() {
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let levels = chain(&d.path().join("t").tap_mkdir());
        // Where the attacker moves level 32: root-owned, with entries named like the
        // pending ones of level 31.
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        for f in 0..10 {
            std::fs::write(outside.join(format!("f{f}")), "s").unwrap();
        }
        let before: Vec<_> = (0..10)
            .map(|f| {
                let md = std::fs::symlink_metadata(outside.join(format!("f{f}"))).unwrap();
                (md.uid(), md.mode(), md.ctime(), md.ctime_nsec())
            })
            .collect();
        let out_md = std::fs::metadata(&outside).unwrap();
        let (l32, l5) = (levels[31].clone(), levels[4].clone());
        let moved = outside.join("moved");
        let mut log = Log::default();
        let mut w = Walker::new(None, policy(), &mut log, None);
        let mut done = false;
        let m = moved.clone();
        let l5_ = l5.clone();
        w.on_push = Some(Box::new(move |depth| {
            if depth == DEPTH + 1 && !done {
                done = true;
                std::fs::rename(&l32, &m).unwrap();
                std::fs::rename(&l5_, l5_.with_file_name("old-l")).unwrap();
                std::fs::create_dir(&l5_).unwrap();
                std::fs::write(l5_.join("bait"), "b").unwrap();
            }
        }));
        w.run(d.path(), &[c"t".to_owned()]).unwrap();
        let counts = w.counts.clone();
        drop(w);
        assert!(log.first_error.is_none(), "{:?}", log.first_error);
        // Nothing where `..` led changed, nor the new directory's contents.
        let after: Vec<_> = (0..10)
            .map(|f| {
                let md = std::fs::symlink_metadata(outside.join(format!("f{f}"))).unwrap();
                (md.uid(), md.mode(), md.ctime(), md.ctime_nsec())
            })
            .collect();
        assert_eq!(after, before);
        let out_after = std::fs::metadata(&outside).unwrap();
        assert_eq!(
            (out_after.uid(), out_after.mode()),
            (out_md.uid(), out_md.mode())
        );
        assert_eq!(std::fs::metadata(l5.join("bait")).unwrap().uid(), 0);
        // Level 5 (index 4) could not be found again: skipped, listed.
        assert_eq!(counts.skipped_for(Skip::ChangedDuringWalk), 1);
        assert_eq!(log.listed.len(), 1);
        assert!(log.listed[0].0.ends_with("t/l/l/l/l/l"), "{:?}", log.listed);
        // What was below the moved directory was walked (it was ours when opened).
        let md = std::fs::metadata(moved.join("l/f0")).unwrap();
        assert_eq!(md.uid(), 4242);
        // And chown never followed anything to the root-owned parent.
        assert_eq!(std::fs::metadata(d.path()).unwrap().uid(), 0);
        let _ = chown(d.path(), Some(0), Some(0));
    }

    trait TapMkdir {
        fn tap_mkdir(self) -> PathBuf;
    }
    impl TapMkdir for PathBuf {
        fn tap_mkdir(self) -> PathBuf {
            std::fs::create_dir(&self).unwrap();
            self
        }
    }
}
