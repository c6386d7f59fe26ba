//! One thread of the walk: an explicit stack of directory descriptors below one task's
//! directory (see the docs of [`super`] for why each step is safe).

use super::pool::{Pool, Task};
use super::{Counts, Policy, Skip, KEEP, MAX_LISTED, MAX_WARNED};
use crate::error::Error;
use crate::perms::sys::{self, is_gone};
use crate::progress::Progress;
use nix::dir::{Dir, OwningIter, Type};
use nix::sys::stat::FileStat;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// How many entries a thread reads ahead in one directory looking for a subdirectory to
/// hand to an idle thread (bounds the memory of that look).
const READ_AHEAD: usize = 1024;

/// What one thread found worth reporting, kept small and independent of timing: the
/// skips and errors with the smallest paths, so the merged report is the same whichever
/// thread met which entry first.
#[derive(Debug, Default)]
pub struct Found {
    pub skips: BTreeMap<PathBuf, Skip>,
    pub errors: u64,
    pub first_errors: BTreeMap<PathBuf, Error>,
}

impl Found {
    pub fn skip(&mut self, path: PathBuf, why: Skip) {
        keep_smallest(&mut self.skips, path, why, MAX_LISTED);
    }
    pub fn error(&mut self, path: PathBuf, e: Error) {
        self.errors += 1;
        keep_smallest(&mut self.first_errors, path, e, MAX_WARNED);
    }
    pub fn merge(&mut self, o: Found) {
        for (p, s) in o.skips {
            self.skip(p, s);
        }
        self.errors += o.errors;
        for (p, e) in o.first_errors {
            keep_smallest(&mut self.first_errors, p, e, MAX_WARNED);
        }
    }
}

fn keep_smallest<V>(m: &mut BTreeMap<PathBuf, V>, k: PathBuf, v: V, most: usize) {
    if m.len() >= most && m.last_key_value().is_some_and(|(last, _)| *last <= k) {
        return;
    }
    m.insert(k, v);
    while m.len() > most {
        m.pop_last();
    }
}

/// A directory on the thread's stack.
struct Frame {
    /// Open stream (None once evicted to stay under the thread's share of descriptors).
    dir: Option<OwningIter>,
    /// The stream has nothing more: what is left is in `pending`.
    at_end: bool,
    /// Entries read ahead (on eviction, or looking for work to hand over): handled first.
    pending: VecDeque<Pending>,
    dev: u64,
    ino: u64,
    /// Its name in the frame below (the first frame: `.` of the anchor), to find it again.
    name: CString,
}

/// An entry read ahead.
struct Pending {
    name: CString,
    hint: Option<(Type, u64)>,
}

pub struct Worker<'a> {
    pub policy: Policy,
    /// The target's filesystem: entries on another one are not touched.
    pub dev: u64,
    /// Directory streams this thread keeps open at most.
    max_open: usize,
    pool: &'a Pool,
    pub counts: Counts,
    pub found: Found,
    progress: Option<&'a mut Progress>,
    /// Scanned entries not yet added to the pool's total.
    unposted: u64,
    /// The directory whose entries are being handled (absolute), for messages only.
    dir: PathBuf,
    /// The task's directory, held open for the whole task: re-opening an evicted frame
    /// starts here, never above it.
    anchor: Option<Dir>,
    stack: Vec<Frame>,
    /// `stack[first_open..]` hold open descriptors, the frames below none.
    first_open: usize,
    /// Whether a look for work to hand over may find any (reset by every push).
    may_share: bool,
    /// Set while handing over: a directory found is offered, not pushed.
    sharing: bool,
    /// Tests: called with the depth each time a directory is pushed.
    #[cfg(test)]
    pub on_push: Option<Box<dyn FnMut(usize) + 'a>>,
}

impl<'a> Worker<'a> {
    pub fn new(
        policy: Policy,
        dev: u64,
        max_open: usize,
        pool: &'a Pool,
        progress: Option<&'a mut Progress>,
    ) -> Worker<'a> {
        Worker {
            policy,
            dev,
            max_open,
            pool,
            counts: Counts::default(),
            found: Found::default(),
            progress,
            unposted: 0,
            dir: PathBuf::new(),
            anchor: None,
            stack: Vec::new(),
            first_open: 0,
            may_share: false,
            sharing: false,
            #[cfg(test)]
            on_push: None,
        }
    }

    /// Handle the target's top entry, `name` in `parent` (whose path is `dir`), and
    /// whatever is below it that no other thread takes.
    pub fn start(&mut self, parent: RawFd, dir: PathBuf, name: &CStr) {
        self.dir = dir;
        self.entry(parent, name, None);
        self.drive();
    }

    /// Take tasks until the walk is over.
    pub fn work(&mut self) {
        while let Some(t) = self.pool.next() {
            self.dir = t.path.clone();
            self.dir.pop();
            let name = t.path.file_name().unwrap_or(OsStr::new(".")).to_owned();
            self.push(
                t.dir,
                t.dev,
                t.ino,
                &CString::new(name.as_bytes()).unwrap_or_default(),
            );
            self.drive();
        }
        self.post();
    }

    fn post(&mut self) {
        self.pool
            .scanned
            .fetch_add(self.unposted, std::sync::atomic::Ordering::Relaxed);
        self.unposted = 0;
        if let Some(p) = self.progress.as_deref_mut() {
            p.set(self.pool.scanned.load(std::sync::atomic::Ordering::Relaxed));
        }
    }

    /// Work through the stack until it is empty.
    fn drive(&mut self) {
        let mut popped: Option<OwningIter> = None;
        while let Some(i) = self.stack.len().checked_sub(1) {
            if self.may_share && self.pool.hungry() {
                self.share();
            }
            let f = &self.stack[i];
            if f.at_end && f.pending.is_empty() {
                popped = self.pop();
                continue;
            }
            if f.dir.is_none() {
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
            if let Some(p) = f.pending.pop_front() {
                self.entry(fd, &p.name, p.hint);
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
                    f.at_end = true;
                    self.fail_here("reading", io::Error::from_raw_os_error(e as i32));
                }
                None => f.at_end = true,
            }
        }
        self.anchor = None;
        self.first_open = 0;
    }

    /// An idle thread waits: offer it the first subdirectory not yet entered, from the
    /// lowest open frame up (the biggest piece of work, as work stealing takes the oldest).
    fn share(&mut self) {
        self.may_share = false;
        for k in self.first_open..self.stack.len() {
            while let Some(fd) = self.stack[k].dir.as_ref().map(|d| d.as_raw_fd()) {
                let Some(p) = self.take_subdir(k) else {
                    break;
                };
                let path = self.frame_path(k);
                let here = std::mem::replace(&mut self.dir, path);
                self.sharing = true;
                self.entry(fd, &p.name, p.hint);
                self.sharing = false;
                self.dir = here;
                if !self.pool.hungry() {
                    self.may_share = true;
                    return;
                }
            }
        }
    }

    /// The next entry of frame `k` that readdir says is a directory, reading ahead.
    fn take_subdir(&mut self, k: usize) -> Option<Pending> {
        let f = &mut self.stack[k];
        let is_dir = |p: &Pending| matches!(p.hint, Some((Type::Directory, _)));
        if let Some(i) = f.pending.iter().position(is_dir) {
            return f.pending.remove(i);
        }
        let mut read = 0;
        while !f.at_end && read < READ_AHEAD && f.pending.len() < 4 * READ_AHEAD {
            let stream = f.dir.as_mut()?;
            match stream.next() {
                Some(Ok(ent)) => {
                    read += 1;
                    let name = ent.file_name();
                    if matches!(name.to_bytes(), b"." | b"..") {
                        continue;
                    }
                    let p = Pending {
                        name: name.to_owned(),
                        hint: ent.file_type().map(|t| (t, ent.ino())),
                    };
                    if is_dir(&p) {
                        return Some(p);
                    }
                    f.pending.push_back(p);
                }
                // Let the ordinary read meet (and report) the error.
                Some(Err(_)) => return None,
                None => f.at_end = true,
            }
        }
        None
    }

    /// Drop the top frame; its stream (if open) is returned to find the parent by `..`.
    fn pop(&mut self) -> Option<OwningIter> {
        let f = self.stack.pop()?;
        self.dir.pop();
        self.first_open = self.first_open.min(self.stack.len());
        f.dir
    }

    /// Get a descriptor for the (evicted) top frame `i` back: `..` of the child just left,
    /// else from the anchor down by name. Each must be the very directory recorded
    /// (device, inode). Err(k): frame k (≤ i) no longer is where it was.
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
        let Some(anchor) = self.anchor.as_ref() else {
            return Err(0);
        };
        let mut cur: Option<Dir> = None;
        for k in 0..=i {
            let at = cur.as_ref().map_or(anchor.as_raw_fd(), |d| d.as_raw_fd());
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
        self.unposted += 1;
        if self.unposted == 4096 {
            self.post();
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
        self.policy.only_uid.is_none_or(|u| st.st_uid == u)
    }

    /// A directory, open as `d`: fix it through the descriptor, then walk it (or hand it
    /// over). `ino` is the inode the name had when looked at (from lstat when
    /// `ino_from_stat`, else readdir's d_ino): the directory opened must be that one.
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
        if self.sharing {
            let path = self.path_of(name);
            self.pool.offer(Task {
                dir: d,
                path,
                dev: st.st_dev,
                ino: st.st_ino,
            });
            return;
        }
        self.push(d, st.st_dev, st.st_ino, name);
    }

    /// Walk `d` next. The first frame of a task gets an anchor: its own `.`, held open.
    fn push(&mut self, d: Dir, dev: u64, ino: u64, name: &CStr) {
        self.dir.push(OsStr::from_bytes(name.to_bytes()));
        let name = if self.stack.is_empty() {
            match sys::open_dir_at(d.as_raw_fd(), c".") {
                Ok(a) => self.anchor = Some(a),
                Err(e) => {
                    self.dir.pop();
                    return self.fail("opening", name, e);
                }
            }
            c".".to_owned()
        } else {
            name.to_owned()
        };
        self.stack.push(Frame {
            dir: Some(d.into_iter()),
            at_end: false,
            pending: VecDeque::new(),
            dev,
            ino,
            name,
        });
        self.may_share = true;
        if self.stack.len() - self.first_open > self.max_open {
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
            if !f.at_end {
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
        }
        f.at_end = true;
        self.first_open = k + 1;
        if let Some(e) = failed {
            let path: PathBuf = self.frame_path(k);
            self.record(path.clone(), Error::io("reading", &path, e));
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
        if why != Skip::Vanished {
            self.found.skip(path, why);
        }
    }

    /// A chmod counted but not made: take it back and record the skip.
    fn skip_after_count(&mut self, name: &CStr, why: Skip) {
        self.counts.chmodded -= 1;
        self.skip(name, why);
    }

    fn fail(&mut self, what: &str, name: &CStr, e: io::Error) {
        let path = self.path_of(name);
        self.record(path.clone(), Error::io(what, &path, e));
    }

    fn fail_here(&mut self, what: &str, e: io::Error) {
        let path = self.dir.clone();
        self.record(path.clone(), Error::io(what, &path, e));
    }

    fn record(&mut self, path: PathBuf, e: Error) {
        self.found.error(path, e);
    }
}
