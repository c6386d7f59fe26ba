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
//!   the thread's task directory (below) down by the recorded names, and used only when its device and inode are
//!   those recorded. One that no longer matches is skipped with a warning, never followed.
//!   So no tree, however deep, exhausts the stack, the descriptor table or PATH_MAX.
//!
//! Every entry is `lstat`ed (or, for a directory, opened and `fstat`ed) and only what
//! differs from the [`Policy`] is changed, so a second run writes nothing.
//!
//! # Both cores
//!
//! The walk runs on [`threads()`] threads. Each keeps its own stack as above; a thread
//! that runs out of work waits, and a busy one then hands it the shallowest subdirectory it
//! has not entered yet — a directory it has already opened (`O_NOFOLLOW`, relative to its
//! parent's descriptor), checked and fixed, passed on as that open descriptor. The thread
//! taking it walks below it exactly as above, re-opening evicted frames from that
//! directory's own descriptor (held for the task), never by path and never above it. The
//! queue holds at most one directory per idle thread, so descriptors stay bounded
//! (each thread keeps at most its share of [`MAX_OPEN`], plus one); memory is the stacks,
//! whatever the size of the tree.
//!
//! What a run reports does not depend on which thread met which entry: counts are sums,
//! and the skipped entries listed (and warned about) and the first errors are those with
//! the smallest paths, in path order.

use super::sys;
use crate::error::Error;
use crate::progress::Progress;
use crate::report::Ctx;
use std::ffi::{CString, OsStr};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

mod pool;
mod worker;

use pool::Pool;
use worker::{Found, Worker};

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

/// How many threads a walk uses: `DFKIT_WALK_THREADS` when set (1 to 16), else one per
/// core, at most 8.
pub fn threads() -> usize {
    std::env::var("DFKIT_WALK_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.clamp(1, 16))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8)
        })
}

/// One walk of one target (see the module docs).
pub struct Walker<'a> {
    ctx: Option<&'a Ctx>,
    pub policy: Policy,
    pub counts: Counts,
    log: &'a mut Log,
    progress: Option<&'a mut Progress>,
    /// Threads to walk with ([`threads()`] unless changed).
    pub threads: usize,
    /// Tests: called with the depth each time the calling thread pushes a directory (to
    /// change the tree mid-walk at a known moment).
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
            counts: Counts::default(),
            log,
            progress,
            threads: threads(),
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
        let mut dir = root.to_path_buf();
        for c in dirs {
            parent = sys::open_dir_at(parent.as_raw_fd(), c).map_err(|e| {
                Error::config(format!(
                    "opening {} below {}: {e}",
                    c.to_string_lossy(),
                    dir.display()
                ))
                .with_hint("the path changed (or became a symlink) while being opened; re-run")
            })?;
            dir.push(OsStr::from_bytes(c.to_bytes()));
        }
        let st = sys::lstat_at(parent.as_raw_fd(), last).map_err(|e| {
            Error::io(
                "inspecting",
                &dir.join(OsStr::from_bytes(last.to_bytes())),
                e,
            )
        })?;
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
        let threads = self.threads.max(1);
        let max_open = (MAX_OPEN / threads).max(4);
        let (policy, dev) = (self.policy, st.st_dev);
        let pool = Pool::new();
        let mut found = Found::default();
        let progress = self.progress.as_deref_mut();
        #[cfg(test)]
        let hook = self.on_push.take();
        let counts = std::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads)
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .name("dfkit-walk".into())
                        .spawn_scoped(s, || {
                            let mut w = Worker::new(policy, dev, max_open, &pool, None);
                            if pool.join() {
                                w.work();
                            }
                            (w.counts, w.found)
                        })
                        .ok()
                })
                .collect();
            let mut w = Worker::new(policy, dev, max_open, &pool, progress);
            #[cfg(test)]
            {
                w.on_push = hook;
            }
            w.start(parent.as_raw_fd(), dir, last);
            w.work();
            let mut counts = w.counts;
            found.merge(w.found);
            for h in helpers {
                // A helper that panicked: its part of the tree is an error, not a crash.
                match h.join() {
                    Ok((c, f)) => {
                        counts.add(&c);
                        found.merge(f);
                    }
                    Err(_) => found.error(
                        root.to_path_buf(),
                        Error::internal("a thread of the walk stopped unexpectedly"),
                    ),
                }
            }
            counts
        });
        self.counts = counts;
        self.report(found);
        if let Some(p) = self.progress.as_deref_mut() {
            p.set(self.counts.scanned);
        }
        Ok(())
    }

    /// Add what the threads found to the log, in path order, and warn about it.
    fn report(&mut self, found: Found) {
        for (path, why) in found.skips {
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
        let before = self.log.errors;
        self.log.errors += found.errors;
        for (n, (_, e)) in (before..).zip(found.first_errors) {
            if n < MAX_WARNED as u64 {
                if let Some(ctx) = self.ctx {
                    ctx.log(format!("error: {}", e.message));
                }
            }
            if self.log.first_error.is_none() {
                self.log.first_error = Some(e);
            }
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
        w.threads = 1; // the hook sees the calling thread's stack only
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
        w.threads = 1;
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

    /// Many threads over a wide and deep tree: every entry fixed once, the counts those
    /// of one thread, and a second run (any number of threads) finds nothing to do.
    #[test]
    fn threads_share_the_walk_and_report_as_one() {
        assert!(
            crate::users::is_root(),
            "this test needs root (CI runs as root)"
        );
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t").tap_mkdir();
        let mut all = vec![t.clone()];
        for a in 0..20 {
            for b in 0..4 {
                let p = t.join(format!("a{a}/b{b}"));
                std::fs::create_dir_all(&p).unwrap();
                for f in 0..15 {
                    std::fs::write(p.join(format!("f{f}")), "x").unwrap();
                    all.push(p.join(format!("f{f}")));
                }
                all.push(p);
            }
            all.push(t.join(format!("a{a}")));
        }
        // A hard-linked file in every other branch: skips, listed in path order.
        let other = d.path().join("other");
        std::fs::write(&other, "x").unwrap();
        for a in (0..20).step_by(2) {
            std::fs::hard_link(&other, t.join(format!("a{a}/b1/hl"))).unwrap();
        }
        let mut long = t.join("a7");
        for _ in 0..DEPTH {
            long.push("l");
            std::fs::create_dir(&long).unwrap();
            all.push(long.clone());
        }
        let walk = |threads: usize, dry_run: bool| {
            let mut log = Log::default();
            let mut w = Walker::new(
                None,
                Policy {
                    dry_run,
                    ..policy()
                },
                &mut log,
                None,
            );
            w.threads = threads;
            w.run(d.path(), &[c"t".to_owned()]).unwrap();
            let c = w.counts.clone();
            drop(w);
            assert!(log.first_error.is_none(), "{:?}", log.first_error);
            (c, log.listed)
        };
        let (one, listed_one) = walk(1, true);
        assert_eq!(one.scanned, all.len() as u64 + 10);
        assert_eq!(one.skipped_for(Skip::HardLink), 10);
        let (four, listed_four) = walk(4, false);
        assert_eq!(four, one);
        assert_eq!(listed_four, listed_one);
        let mut sorted = listed_four.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(listed_four, sorted, "listed in path order");
        for p in &all {
            let md = std::fs::symlink_metadata(p).unwrap();
            let want = if md.is_dir() { 0o2775 } else { 0o664 };
            assert_eq!((md.uid(), md.mode() & 0o7777), (4242, want), "{p:?}");
        }
        assert_eq!(std::fs::metadata(&other).unwrap().uid(), 0);
        let (again, _) = walk(3, false);
        assert!(!again.changed());
        assert_eq!(again.scanned, one.scanned);
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
