//! Atomic, durable file writes.
//!
//! temp file in the same directory (O_EXCL, 0600) → write → fsync → rename → fsync the
//! directory. A crash or kill at any moment never leaves a partial file under its final
//! name: either the old content or the new one is there. A dropped [`AtomicFile`], and
//! one whose commit failed at any step (fsync, chown, chmod, rename), removes its temp
//! file: the temp holds the whole new content (a .env, secrets and all), so it must never
//! outlive a failure.
//!
//! A process killed mid-write cannot clean up; [`sweep_stale`] removes what dead dfkit
//! processes left, and every tool calls it on the directories it writes into.
//!
//! [`replace_file`] writes *through* a symlink (the link stays, its target gets the new
//! content, atomically, with its temp file in the target's directory), after checking the
//! link is one root may follow ([`write_target`]).

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name, renamed into place by [`AtomicFile::commit`].
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    mode: u32,
    owner: Option<(u32, u32)>,
}

/// The temp name used for `dest`: `.<name>.dfkit-tmp.<pid>.<n>` in the same directory.
fn temp_path(dest: &Path, n: u32) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    dest.with_file_name(format!(".{name}.dfkit-tmp.{}.{n}", std::process::id()))
}

/// The directory containing `p` ("." for a bare name).
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl AtomicFile {
    /// Start writing `dest`; the final file gets `mode`.
    pub fn create(dest: &Path, mode: u32) -> Result<AtomicFile> {
        let mut n = 0u32;
        loop {
            let tmp = temp_path(dest, n);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        file: Some(file),
                        tmp,
                        dest: dest.to_path_buf(),
                        mode,
                        owner: None,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => {
                    let mut err = Error::io("creating", &tmp, e);
                    if err.kind == crate::error::ErrorKind::MissingInput
                        || err.kind == crate::error::ErrorKind::Io
                    {
                        err.kind = crate::error::ErrorKind::CannotCreate;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Give the final file this owner (applied before the rename).
    pub fn set_owner(&mut self, uid: u32, gid: u32) {
        self.owner = Some((uid, gid));
    }

    /// The temp file's path (for tests and error messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// fsync, set mode/owner, rename into place, fsync the directory. On any failure
    /// before the rename the temp file is removed (by `Drop`: the file is only given up
    /// once the rename succeeded).
    pub fn commit(mut self) -> Result<()> {
        let io = |what: &str, p: &Path, e| Error::io(what, p, e);
        let file = self.file.as_ref().expect("file present until commit");
        file.sync_all().map_err(|e| io("syncing", &self.tmp, e))?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))
                .map_err(|e| io("setting owner of", &self.tmp, e))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(self.mode))
            .map_err(|e| io("setting mode of", &self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| io("renaming into", &self.dest, e))?;
        // The temp name is gone: nothing left for Drop to remove.
        self.file = None;
        sync_dir(&parent_dir(&self.dest))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// fsync a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("opening directory", dir, e))?;
    d.sync_all()
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Write `bytes` to `dest` atomically with `mode`.
pub fn write_file(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = AtomicFile::create(dest, mode)?;
    f.write_all(bytes)
        .map_err(|e| Error::io("writing", f.temp_path(), e))?;
    f.commit()
}

/// Replace an existing file's content atomically, keeping its mode and owner. A symlink
/// is written through: its final target gets the content (see [`write_target`]).
pub fn replace_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dest = &write_target(dest)?;
    let md = std::fs::metadata(dest).map_err(|e| Error::io("reading", dest, e))?;
    let mut f = AtomicFile::create(dest, md.mode() & 0o7777)?;
    // Keep the owner when we can (as root); as the owner it is already right.
    if nix::unistd::geteuid().is_root() {
        f.set_owner(md.uid(), md.gid());
    }
    f.write_all(bytes)
        .map_err(|e| Error::io("writing", f.temp_path(), e))?;
    f.commit()
}

/// The file a write to `path` must replace: `path` itself, or, when it is a symlink
/// (a .env shared between installs), the file it finally points to — so the link stays a
/// link and the shared file gets the new content. Replacing the link instead would leave
/// the shared file (and every other install reading it) with the old content.
///
/// A link is followed only when its owner is root, the current user, or the owner of
/// what it points to (the rule of Linux's `fs.protected_symlinks`): a link planted by
/// another user (say, the web server's) could otherwise point a root write at
/// /etc/passwd. Such a link is refused (77), naming it. The target may not exist yet
/// (a dangling link: the write creates it).
pub fn write_target(path: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let mut cur = path.to_path_buf();
    for _ in 0..40 {
        let md = match std::fs::symlink_metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(tidy(cur, path)),
            Err(e) => return Err(Error::io("inspecting", &cur, e)),
        };
        if !md.file_type().is_symlink() {
            return Ok(tidy(cur, path));
        }
        let link = std::fs::read_link(&cur).map_err(|e| Error::io("reading link", &cur, e))?;
        let next = parent_dir(&cur).join(link);
        let target_owner = std::fs::symlink_metadata(&next).ok().map(|m| m.uid());
        if md.uid() != 0 && md.uid() != me && Some(md.uid()) != target_owner {
            return Err(Error::new(
                crate::error::ErrorKind::PermissionDenied,
                format!(
                    "{} is a symlink owned by uid {} pointing at {} (owned by {}); not writing through it",
                    cur.display(),
                    md.uid(),
                    next.display(),
                    target_owner.map_or("nobody: missing".to_string(), |u| format!("uid {u}"))
                ),
            )
            .with_hint(
                "a link owned by another user could redirect this write anywhere; replace the \
                 link by the file itself, or chown the link to the owner of its target",
            ));
        }
        cur = next;
    }
    Err(Error::new(
        crate::error::ErrorKind::BadData,
        format!("{}: too many levels of symbolic links", path.display()),
    )
    .with_hint("fix the symlink loop"))
}

/// A followed link's target without `dir/../` detours (for reports); `path` itself when
/// no link was followed.
fn tidy(cur: PathBuf, path: &Path) -> PathBuf {
    if cur == path {
        return cur;
    }
    match (parent_dir(&cur).canonicalize(), cur.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => cur,
    }
}

/// What [`sweep_stale`] recognises: `.NAME.dfkit-TAG.PID` or `.NAME.dfkit-TAG.PID.N`,
/// TAG being `tmp` (a file or tree being written), `old` (a tree moved aside while its
/// replacement is made) or `restore` (a restore's target being built), optionally followed
/// by SQLite's `-journal`, `-wal` or `-shm` (the sidecars of a database being built under
/// that name). Returns the PID.
pub fn stale_name_pid(name: &str) -> Option<i32> {
    if !name.starts_with('.') {
        return None;
    }
    let at = name.rfind(".dfkit-")?;
    let rest = &name[at + ".dfkit-".len()..];
    let (tag, rest) = rest.split_once('.')?;
    let rest = ["-journal", "-wal", "-shm"]
        .iter()
        .find_map(|s| rest.strip_suffix(s))
        .unwrap_or(rest);
    if !matches!(tag, "tmp" | "old" | "restore") {
        return None;
    }
    let (pid, n) = match rest.split_once('.') {
        Some((p, n)) => (p, Some(n)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || n.is_some_and(|n| !digits(n)) {
        return None;
    }
    pid.parse::<i32>().ok().filter(|p| *p > 1)
}

/// Whether a process with this PID runs on this host: `kill(pid, 0)` is not ESRCH, and
/// it is not a zombie. A killed run's children are reparented to PID 1, and an init that
/// does not reap them (a container's, a VM agent's) leaves them as zombies for good:
/// they can write nothing, so their temporaries are as dead as they are.
pub(crate) fn pid_alive(pid: i32) -> bool {
    if matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    ) {
        return false;
    }
    !is_zombie(pid)
}

/// Whether the process `pid` may have written the temporary described by `md`: it is
/// alive ([`pid_alive`]) and it did not start after the file was last written. With
/// PIDs wrapping around (32768 by default), a dead run's PID is soon another process's;
/// that process, younger than the file, is not its writer. Two seconds of slack cover
/// the boot time's whole seconds and clock ticks.
pub(crate) fn writer_alive(pid: i32, md: &std::fs::Metadata) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    use std::os::unix::fs::MetadataExt;
    match process_started(pid) {
        Some(started) => started <= md.mtime() as f64 + 2.0,
        None => true,
    }
}

/// When `pid` started, in seconds since the epoch: `/proc/stat`'s boot time plus
/// `/proc/PID/stat`'s start time (field 22, in clock ticks).
fn process_started(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name: state is field 3, so starttime (22) is the 20th from here.
    let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let btime: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|h| *h > 0)? as f64;
    Some(btime + ticks / hz)
}

/// `/proc/PID/stat`'s state is `Z` (the name before it is in parentheses and may hold
/// anything, so the state is read after the last `)`).
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Whether `dir` is on a filesystem other hosts may share (NFS, SMB/CIFS, Ceph, AFS,
/// 9p, FUSE): there a PID names a process on some other machine, and is not ours to judge.
fn shared_filesystem(dir: &Path) -> bool {
    const SHARED: [i64; 10] = [
        0x6969,                // NFS
        0x517B,                // SMB
        0xFF53_4D42u32 as i64, // CIFS
        0xFE53_4D42u32 as i64, // SMB2
        0x00C3_6400,           // Ceph
        0x5346_414F,           // AFS
        0x0102_1997,           // 9p
        0x6573_5546,           // FUSE (sshfs, GlusterFS…)
        0x7461_636F,           // OCFS2
        0x0116_1970,           // GFS2
    ];
    match nix::sys::statfs::statfs(dir) {
        Ok(st) => SHARED.contains(&{ st.filesystem_type().0 }),
        // Cannot tell: do not sweep.
        Err(_) => true,
    }
}

/// Remove the temporaries that dfkit processes on this host left in `dir` when they died
/// (killed, power loss) — a .env copy, a half-written dump, a partial tree — and return
/// what was removed.
///
/// Only names of the shape [`stale_name_pid`] recognises are touched, and only when
/// `kill(PID, 0)` says ESRCH: no such process. A live PID (even a reused one) keeps its
/// file, so a concurrent run's work is never removed. On a shared filesystem (NFS,
/// SMB…) nothing is swept: the PID may belong to another host. Directories (a partial
/// tree) are removed whole, without following symlinks. Errors are ignored: sweeping is
/// housekeeping, never a reason to fail.
///
/// Call it on every directory a tool writes into, before writing (the install root for
/// .env edits, the backup set, the directory of a restored database file).
pub fn sweep_stale(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    if shared_filesystem(dir) {
        return removed;
    }
    let me = std::process::id() as i32;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(stale_name_pid) else {
            continue;
        };
        if pid == me || e.metadata().map_or(true, |md| writer_alive(pid, &md)) {
            continue;
        }
        let p = e.path();
        let gone = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            _ => std::fs::remove_file(&p),
        };
        if gone.is_ok() {
            removed.push(p);
        }
    }
    if !removed.is_empty() {
        let _ = sync_dir(dir);
    }
    removed.sort();
    removed
}

/// Sibling directories [`sweep_around`] looks into (a set's parent is normally a
/// directory of sets, one per run).
const SIBLINGS_CAP: usize = 256;

/// [`sweep_stale`] on a backup set and on the sets beside it: a killed run may have been
/// writing into another set than this one (the default base holds one stamped set per
/// run, and a wrapper's next run takes a new one). Returns what was removed.
pub fn sweep_around(set_dir: &Path) -> Vec<PathBuf> {
    let mut removed = sweep_stale(set_dir);
    let Some(parent) = set_dir.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return removed;
    };
    // The parent itself: a bundle and its temporaries, a set being created.
    removed.extend(sweep_stale(parent));
    if let Ok(rd) = std::fs::read_dir(parent) {
        for e in rd.flatten().take(SIBLINGS_CAP) {
            let p = e.path();
            if p != set_dir && e.file_type().is_ok_and(|t| t.is_dir()) {
                removed.extend(sweep_stale(&p));
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_with_mode_and_no_leftovers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        write_file(&p, b"hello", 0o640).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn uncommitted_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        {
            let mut f = AtomicFile::create(&p, 0o600).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    /// A commit that fails (here the rename: the destination is a directory) leaves no
    /// temp file: it holds the whole new content.
    #[test]
    fn failed_commit_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dir");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), b"x").unwrap();
        let mut f = AtomicFile::create(&p, 0o640).unwrap();
        f.write_all(b"APP_KEY=secret").unwrap();
        let tmp = f.temp_path().to_path_buf();
        assert!(tmp.exists());
        assert!(f.commit().is_err());
        assert!(!tmp.exists(), "temp file left behind");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_names() {
        assert_eq!(stale_name_pid("..env.dfkit-tmp.123.0"), Some(123));
        assert_eq!(stale_name_pid(".tree.dfkit-tmp.77"), Some(77));
        assert_eq!(stale_name_pid(".tree.dfkit-old.77"), Some(77));
        assert_eq!(stale_name_pid(".db.sqlite.dfkit-restore.9"), Some(9));
        assert_eq!(
            stale_name_pid(".db.sqlite.dfkit-restore.9-journal"),
            Some(9)
        );
        assert_eq!(stale_name_pid(".db.sqlite.dfkit-restore.9-wal"), Some(9));
        assert_eq!(stale_name_pid(".db.sqlite.dfkit-restore.9-other"), None);
        assert_eq!(stale_name_pid(".env.dfkit-tmp.x.0"), None);
        assert_eq!(stale_name_pid("env.dfkit-tmp.12.0"), None);
        assert_eq!(stale_name_pid(".env.dfkit-other.12"), None);
        assert_eq!(stale_name_pid(".env.dfkit-tmp.1"), None);
        assert_eq!(stale_name_pid(".env.before-restore.20261125T203000Z"), None);
    }

    #[test]
    fn sweep_removes_only_dead_pids() {
        let d = tempfile::tempdir().unwrap();
        // A pid no process has: the highest one free below pid_max.
        let max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768);
        let dead = (2..max).rev().find(|p| !pid_alive(*p)).unwrap();
        let me = std::process::id();
        let keep = [
            format!("..env.dfkit-tmp.{me}.0"),
            ".env".to_string(),
            format!("x.dfkit-tmp.{dead}.0"),
        ];
        let gone = [
            format!("..env.dfkit-tmp.{dead}.0"),
            format!(".db.sql.zst.dfkit-tmp.{dead}"),
        ];
        for n in keep.iter().chain(&gone) {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let tree = d.path().join(format!(".tree.dfkit-old.{dead}"));
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), b"x").unwrap();
        // A link inside pointing out: removing the tree must not follow it.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), tree.join("a/out")).unwrap();
        let removed = sweep_stale(d.path());
        assert_eq!(removed.len(), 3, "{removed:?}");
        for n in &keep {
            assert!(d.path().join(n).exists(), "{n} kept");
        }
        for n in &gone {
            assert!(!d.path().join(n).exists(), "{n} removed");
        }
        assert!(!tree.exists());
        assert!(outside.path().join("keep").exists());
    }

    /// A live process younger than a temporary did not write it (its PID was reused).
    #[test]
    fn a_reused_pid_younger_than_the_file_is_not_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "x").unwrap();
        let md = std::fs::metadata(&f).unwrap();
        let me = std::process::id() as i32;
        assert!(
            writer_alive(me, &md),
            "this process started before the file"
        );
        let old = std::fs::File::options().write(true).open(&f).unwrap();
        old.set_modified(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000),
        )
        .unwrap();
        let md = std::fs::metadata(&f).unwrap();
        assert!(!writer_alive(me, &md), "a process younger than the file");
        assert!(process_started(me).is_some());
    }

    /// A zombie (a child that exited and was not reaped yet) is dead for the sweep.
    #[test]
    fn zombies_are_dead() {
        assert!(pid_alive(std::process::id() as i32));
        // SAFETY: the child only calls _exit, which is async-signal-safe.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe { libc::_exit(0) };
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !is_zombie(pid) {
            assert!(std::time::Instant::now() < deadline, "never a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!pid_alive(pid));
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join(format!(".x.dfkit-tmp.{pid}.0"));
        std::fs::write(&tmp, b"x").unwrap();
        assert_eq!(sweep_stale(d.path()), vec![tmp]);
        let mut status = 0;
        // SAFETY: reaping our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    }

    #[test]
    fn replace_writes_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("env"), "A=1\n").unwrap();
        let link = d.path().join(".env");
        std::os::unix::fs::symlink("shared/env", &link).unwrap();
        replace_file(&link, b"A=2\n").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(shared.join("env")).unwrap(), b"A=2\n");
        // No temp file beside the link or the target.
        assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn replace_keeps_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".env");
        std::fs::write(&p, "A=1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&p, b"A=2\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"A=2\n");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
    }
}
