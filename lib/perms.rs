//! Ownership and modes of the directories the web server writes: the guide's
//! `chown -R {web-user}:{group} storage/ bootstrap/cache/` and `chmod -R 2775 …`, done safely.
//!
//! # Safety of the walk
//!
//! `storage/` is writable by the web user, so anything in it may be hostile while root walks
//! it. The walk therefore:
//! - descends only through directory descriptors opened with
//!   `openat(O_DIRECTORY | O_NOFOLLOW)` relative to the parent's descriptor, and reads the
//!   owner and mode of a directory from that descriptor (`fstat`), then changes it through
//!   the descriptor (`fchown`/`fchmod`): a directory swapped for a symlink between
//!   `readdir` and `openat` makes the open fail instead of leading the walk elsewhere;
//! - changes every other entry by name relative to its parent descriptor without following
//!   a final symlink: `fchownat(AT_SYMLINK_NOFOLLOW)`, `fchmodat2(AT_SYMLINK_NOFOLLOW)`
//!   (a symlink's owner is set like chown -R does; its mode is never touched, and its
//!   target never);
//! - stays on the filesystem of each target (a mount point inside is skipped);
//! - skips regular files with more than one hard link: one could be a link to a file
//!   outside the tree (e.g. /etc/shadow), and changing it would change that file;
//! - refuses targets that resolve outside the root, to the root itself, or to `/`.
//!
//! # No needless writes
//!
//! Every entry is `lstat`ed first and only what differs is changed, so a second run writes
//! nothing (no ctime changes) and reports `changed: false` — GNU `chown -R`/`chmod -R`
//! write every inode every time.

use crate::error::{Error, ErrorKind, Result};
use crate::install::Install;
use crate::report::{Ctx, Outcome};
use crate::users;
use nix::dir::{Dir, Type};
use serde_json::{json, Map, Value};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The directories the guide names, relative to the root.
pub const DEFAULT_TARGETS: [&str; 2] = ["storage", "bootstrap/cache"];
/// The guide's `chmod -R 2775`.
pub const DEFAULT_MODE: u32 = 0o2775;

/// Keep this id as it is (the `-1` of chown(2)).
const KEEP: u32 = u32::MAX;
/// How many skipped entries the report lists by path (the counts are always complete).
const MAX_LISTED: usize = 100;
/// How many skipped entries get their own warning line.
const MAX_WARNED: usize = 10;

/// What to do: resolved from the command line by the tool.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--root` (None: $DF_ROOT, else /opt/dreamfactory).
    pub root: Option<PathBuf>,
    /// Targets relative to the root; empty means [`DEFAULT_TARGETS`].
    pub targets: Vec<PathBuf>,
    /// `--user`: a name or a number.
    pub user: Option<String>,
    /// `--group`: a name or a number.
    pub group: Option<String>,
    /// Mode for directories.
    pub dir_mode: u32,
    /// Mode for everything else except symlinks (regular files, fifos, sockets).
    pub file_mode: u32,
    pub dry_run: bool,
}

/// Parse an octal mode such as `2775`, `0664` or `775` (no symbolic modes).
pub fn parse_mode(s: &str) -> std::result::Result<u32, String> {
    let ok = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(s, 8) {
        Ok(m) if ok && m <= 0o7777 => Ok(m),
        _ => Err(format!(
            "`{s}` is not an octal mode (e.g. 2775, 0664; at most 7777)"
        )),
    }
}

/// A mode as four octal digits, e.g. `2775`.
pub fn mode_str(m: u32) -> String {
    format!("{m:04o}")
}

/// The owner wanted for a target: KEEP leaves that id as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    uid: u32,
    gid: u32,
}

impl Owner {
    fn to_json(self) -> Value {
        let id = |v: u32| if v == KEEP { Value::Null } else { json!(v) };
        json!({
            "uid": id(self.uid),
            "user": if self.uid == KEEP { Value::Null } else { json!(users::user_name(self.uid)) },
            "gid": id(self.gid),
            "group": if self.gid == KEEP { Value::Null } else { json!(users::group_name(self.gid)) },
        })
    }
    fn label(self) -> String {
        let u = if self.uid == KEEP {
            "(kept)".to_string()
        } else {
            users::user_name(self.uid)
        };
        let g = if self.gid == KEEP {
            "(kept)".to_string()
        } else {
            users::group_name(self.gid)
        };
        format!("{u}:{g}")
    }
}

/// Why an entry was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    HardLink,
    OtherFilesystem,
    Device,
    ChangedDuringWalk,
    Vanished,
}

impl Skip {
    const ALL: [Skip; 5] = [
        Skip::HardLink,
        Skip::OtherFilesystem,
        Skip::Device,
        Skip::ChangedDuringWalk,
        Skip::Vanished,
    ];
    fn as_str(self) -> &'static str {
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
            Skip::ChangedDuringWalk => "it was replaced while being examined",
            Skip::Vanished => "it was removed while being examined",
        }
    }
    fn idx(self) -> usize {
        Skip::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// Counts for one target (or the total).
#[derive(Debug, Default, Clone)]
struct Counts {
    scanned: u64,
    chowned: u64,
    chmodded: u64,
    skipped: [u64; 5],
}

impl Counts {
    fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }
    fn add(&mut self, o: &Counts) {
        self.scanned += o.scanned;
        self.chowned += o.chowned;
        self.chmodded += o.chmodded;
        for (a, b) in self.skipped.iter_mut().zip(o.skipped.iter()) {
            *a += b;
        }
    }
    fn changed(&self) -> bool {
        self.chowned + self.chmodded > 0
    }
    fn skipped_by_reason(&self) -> Value {
        let mut m = Map::new();
        for s in Skip::ALL {
            let n = self.skipped[s.idx()];
            if n > 0 {
                m.insert(s.as_str().into(), json!(n));
            }
        }
        Value::Object(m)
    }
}

/// A target after validation: where it is, relative to the canonical root.
#[derive(Debug, Clone)]
struct Target {
    /// As the user named it (or the default).
    name: String,
    /// Canonical absolute path.
    path: PathBuf,
    /// Components below the canonical root (at least one).
    rel: Vec<CString>,
}

/// Apply owner and modes to the targets under the root (see the module docs).
pub fn apply(ctx: &Ctx, opts: &Options) -> Result<Outcome> {
    let install = Install::discover(opts.root.as_deref())?;
    let root = std::fs::canonicalize(&install.root)
        .map_err(|e| Error::io("resolving the root", &install.root, e))?;
    if root == Path::new("/") {
        return Err(
            Error::config(format!("the root {} resolves to /", install.root.display())).with_hint(
                "pass --root DIR naming the DreamFactory install, e.g. /opt/dreamfactory",
            ),
        );
    }
    let owner = resolve_owner(opts)?;
    let targets = resolve_targets(ctx, &install.root, &root, &opts.targets)?;

    let mut total = Counts::default();
    let mut per_target = Vec::new();
    let mut listed = Vec::new();
    let mut first_error: Option<Error> = None;
    let mut errors = 0u64;
    let mut warned = 0usize;
    let mut names = Vec::new();
    for t in &targets {
        let mut w = Walker {
            ctx,
            owner: owner.unwrap_or(Owner {
                uid: KEEP,
                gid: KEEP,
            }),
            inherit: owner.is_none(),
            dir_mode: opts.dir_mode,
            file_mode: opts.file_mode,
            dry_run: opts.dry_run,
            dev: 0,
            counts: Counts::default(),
            dir: PathBuf::new(),
            listed: &mut listed,
            warned: &mut warned,
            first_error: &mut first_error,
            errors: &mut errors,
        };
        w.run(&root, t)?;
        let c = w.counts.clone();
        let applied = w.owner;
        total.add(&c);
        names.push(t.name.clone());
        per_target.push(json!({
            "target": t.name,
            "path": t.path.display().to_string(),
            "owner": applied.to_json(),
            "scanned": c.scanned,
            "chowned": c.chowned,
            "chmodded": c.chmodded,
            "skipped": c.skipped_total(),
            "skipped_by_reason": c.skipped_by_reason(),
            "changed": c.changed(),
        }));
    }
    let skipped_total = total.skipped_total();
    if listed.len() < skipped_total as usize && warned >= MAX_WARNED {
        ctx.warn(format!(
            "{} entries skipped in all (data.skipped_entries lists the first {MAX_LISTED})",
            skipped_total
        ));
    }

    let mut data = Map::new();
    data.insert("root".into(), json!(root.display().to_string()));
    data.insert(
        "owner_from".into(),
        json!(if owner.is_some() { "flags" } else { "target" }),
    );
    data.insert(
        "owner".into(),
        owner.map(Owner::to_json).unwrap_or(Value::Null),
    );
    data.insert("dir_mode".into(), json!(mode_str(opts.dir_mode)));
    data.insert("file_mode".into(), json!(mode_str(opts.file_mode)));
    data.insert("scanned".into(), json!(total.scanned));
    data.insert("chowned".into(), json!(total.chowned));
    data.insert("chmodded".into(), json!(total.chmodded));
    data.insert("skipped".into(), json!(skipped_total));
    data.insert("skipped_by_reason".into(), total.skipped_by_reason());
    data.insert(
        "skipped_entries".into(),
        Value::Array(
            listed
                .iter()
                .map(|(p, s): &(String, Skip)| json!({"path": p, "reason": s.as_str()}))
                .collect(),
        ),
    );
    data.insert(
        "skipped_entries_truncated".into(),
        json!((listed.len() as u64) < skipped_total),
    );
    data.insert("targets".into(), Value::Array(per_target.clone()));
    data.insert("errors".into(), json!(errors));
    if opts.dry_run {
        let plan: Vec<Value> = per_target
            .iter()
            .map(|t| {
                json!({
                    "target": t["target"],
                    "path": t["path"],
                    "owner": t["owner"],
                    "dir_mode": mode_str(opts.dir_mode),
                    "file_mode": mode_str(opts.file_mode),
                    "would_chown": t["chowned"],
                    "would_chmod": t["chmodded"],
                })
            })
            .collect();
        data.insert("plan".into(), Value::Array(plan));
    }
    let changed = total.changed();
    let modes = if opts.dir_mode == opts.file_mode {
        mode_str(opts.dir_mode)
    } else {
        format!("{}/{}", mode_str(opts.dir_mode), mode_str(opts.file_mode))
    };
    let owner_label = owner
        .map(Owner::label)
        .unwrap_or_else(|| "each target's own owner".into());
    let what = names.join(", ");
    let msg = if !changed {
        format!(
            "{what}: nothing to change ({} entries, owner {owner_label}, mode {modes})",
            total.scanned
        )
    } else {
        let verb = if opts.dry_run {
            "would change"
        } else {
            "changed"
        };
        format!(
            "{what}: {verb} owner of {} and mode of {} of {} entries (owner {owner_label}, mode {modes})",
            total.chowned, total.chmodded, total.scanned
        )
    };
    if let Some(e) = first_error {
        // Keep going past a bad entry (as chown -R does), then fail with what was done.
        data.insert("changed".into(), json!(changed && !opts.dry_run));
        let msg = format!(
            "{errors} entr{} could not be changed; first: {}",
            if errors == 1 { "y" } else { "ies" },
            e.message
        );
        let mut err = Error::new(e.kind, msg).with_data(Value::Object(data));
        err.chain = e.chain;
        err.hint = Some(match e.kind {
            ErrorKind::PermissionDenied => {
                "run as root (changing owners needs it), and check for immutable files (lsattr)"
                    .into()
            }
            _ => "see error.chain; the rest of the tree was handled and a re-run is safe".into(),
        });
        return Err(err);
    }
    Ok(Outcome::new(changed, msg, Value::Object(data)))
}

/// The owner from --user/--group; None when neither is given (each target keeps the owner
/// of its own top directory, and its contents are made to match it).
fn resolve_owner(opts: &Options) -> Result<Option<Owner>> {
    let uid = match opts.user.as_deref() {
        Some("") => return Err(Error::usage("--user must not be empty")),
        Some(u) => Some(users::resolve_user(u)?),
        None => None,
    };
    let gid = match opts.group.as_deref() {
        Some("") => return Err(Error::usage("--group must not be empty")),
        Some(g) => Some(users::resolve_group(g)?),
        None => None,
    };
    Ok(match (uid, gid) {
        (None, None) => None,
        (Some(u), Some(g)) => Some(Owner { uid: u, gid: g }),
        (Some(u), None) => match users::primary_gid(u) {
            Some(g) => Some(Owner { uid: u, gid: g }),
            None => {
                return Err(Error::usage(format!(
                    "uid {u} has no passwd entry, so it has no primary group"
                ))
                .with_hint("give --group too, e.g. --user 1234 --group 1234"))
            }
        },
        (None, Some(g)) => Some(Owner { uid: KEEP, gid: g }),
    })
}

/// Check every target before anything changes: lexically (usage, 64), then on disk
/// (missing: 66; outside the root, the root itself or `/`: config, 78).
fn resolve_targets(
    ctx: &Ctx,
    given_root: &Path,
    root: &Path,
    targets: &[PathBuf],
) -> Result<Vec<Target>> {
    let names: Vec<PathBuf> = if targets.is_empty() {
        DEFAULT_TARGETS.iter().map(PathBuf::from).collect()
    } else {
        targets.to_vec()
    };
    let mut out: Vec<Target> = Vec::new();
    for name in &names {
        let shown = name.display().to_string();
        let rel = lexical_rel(given_root, root, name).ok_or_else(|| {
            Error::usage(format!(
                "target `{shown}` is not inside the root {}",
                root.display()
            ))
            .with_hint("targets are paths inside the install, e.g. --target storage")
        })?;
        let joined = root.join(&rel);
        let canon = std::fs::canonicalize(&joined).map_err(|e| {
            let mut err = Error::io("target", &joined, e);
            if err.kind == ErrorKind::MissingInput {
                err = err.with_hint(
                    "is --root the DreamFactory install? name existing targets with --target",
                );
            }
            err
        })?;
        if canon == Path::new("/") || canon == root || !canon.starts_with(root) {
            let why = if canon == Path::new("/") {
                "resolves to /".to_string()
            } else if canon == root {
                "resolves to the root itself".to_string()
            } else {
                format!("resolves to {}, outside the root", canon.display())
            };
            return Err(Error::config(format!(
                "refusing target `{shown}`: it {why} ({})",
                root.display()
            ))
            .with_hint(
                "a target (or a symlink on its way) leads outside the install; fix the link or pass the real directory as --root",
            ));
        }
        let rel: Vec<CString> = canon
            .strip_prefix(root)
            .map_err(|_| Error::internal("target not under root after check"))?
            .components()
            .map(|c| CString::new(c.as_os_str().as_bytes()).expect("path has no NUL"))
            .collect();
        out.push(Target {
            name: shown,
            path: canon,
            rel,
        });
    }
    // A target inside another would only be walked twice.
    let mut kept: Vec<Target> = Vec::new();
    for t in &out {
        if let Some(o) = out
            .iter()
            .find(|o| o.path != t.path && t.path.starts_with(&o.path))
        {
            ctx.warn(format!(
                "target `{}` is inside `{}`: handled as part of it",
                t.name, o.name
            ));
            continue;
        }
        if kept.iter().any(|k| k.path == t.path) {
            continue;
        }
        kept.push(t.clone());
    }
    Ok(kept)
}

/// The target's path relative to the root, without touching the disk: None when it climbs
/// out with `..`, is absolute outside the root, or names the root itself.
fn lexical_rel(given_root: &Path, root: &Path, target: &Path) -> Option<PathBuf> {
    let rel = if target.is_absolute() {
        target
            .strip_prefix(root)
            .or_else(|_| target.strip_prefix(given_root))
            .ok()?
    } else {
        target
    };
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

/// An owned file descriptor closed on drop (a plain fd keeps the hot loop free of wrappers
/// that allocate).
struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            unsafe { libc::close(self.0) };
        }
    }
}

impl Fd {
    fn into_raw(mut self) -> RawFd {
        std::mem::replace(&mut self.0, -1)
    }
}

const DIR_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;

fn open_dir_at(parent: RawFd, name: &CStr) -> io::Result<Fd> {
    let fd = unsafe { libc::openat(parent, name.as_ptr(), DIR_FLAGS) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(Fd(fd))
    }
}

fn lstat_at(parent: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    let r = unsafe {
        libc::fstatat(
            parent,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(unsafe { st.assume_init() })
    }
}

fn fstat_fd(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    let r = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(unsafe { st.assume_init() })
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// chmod of a name that must not be a symlink. fchmodat2 (Linux 6.6) does it in one call;
/// glibc's fchmodat(AT_SYMLINK_NOFOLLOW) falls back to O_PATH + /proc on older kernels.
/// Either fails with EOPNOTSUPP if the name became a symlink.
fn chmod_nofollow(parent: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    {
        let r = unsafe {
            libc::syscall(
                libc::SYS_fchmodat2,
                parent,
                name.as_ptr(),
                mode as libc::mode_t,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(e);
        }
    }
    check(unsafe {
        libc::fchmodat(
            parent,
            name.as_ptr(),
            mode as libc::mode_t,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

fn id_arg(v: u32) -> libc::uid_t {
    v as libc::uid_t // KEEP is u32::MAX, i.e. (uid_t)-1: "leave as is"
}

/// One target's walk.
struct Walker<'a> {
    ctx: &'a Ctx,
    owner: Owner,
    /// No --user/--group: take the owner of the target's top entry.
    inherit: bool,
    dir_mode: u32,
    file_mode: u32,
    dry_run: bool,
    /// The target's filesystem: entries on another one are not touched.
    dev: libc::dev_t,
    counts: Counts,
    /// The directory being read (absolute), for messages only.
    dir: PathBuf,
    listed: &'a mut Vec<(String, Skip)>,
    warned: &'a mut usize,
    first_error: &'a mut Option<Error>,
    errors: &'a mut u64,
}

impl Walker<'_> {
    fn run(&mut self, root: &Path, t: &Target) -> Result<()> {
        // The root is the operator's (it may be a symlink such as /opt/dreamfactory →
        // /opt/df-7.7); everything below it is opened without following symlinks.
        let croot = CString::new(root.as_os_str().as_bytes()).expect("path has no NUL");
        let fd = unsafe { libc::open(croot.as_ptr(), DIR_FLAGS & !libc::O_NOFOLLOW) };
        if fd < 0 {
            return Err(Error::io("opening", root, io::Error::last_os_error()));
        }
        let mut parent = Fd(fd);
        self.dir = root.to_path_buf();
        let (last, dirs) = t.rel.split_last().expect("target below root");
        for c in dirs {
            parent = open_dir_at(parent.0, c).map_err(|e| {
                Error::config(format!(
                    "opening {} below {}: {e}",
                    c.to_string_lossy(),
                    self.dir.display()
                ))
                .with_hint("the path changed (or became a symlink) while being opened; re-run")
            })?;
            self.dir.push(OsStr::from_bytes(c.to_bytes()));
        }
        let st = lstat_at(parent.0, last).map_err(|e| Error::io("inspecting", &t.path, e))?;
        self.dev = st.st_dev;
        if self.inherit {
            self.owner = Owner {
                uid: st.st_uid,
                gid: st.st_gid,
            };
        }
        self.entry(parent.0, last, None);
        Ok(())
    }

    /// Handle one entry of the directory `parent`, given its name and readdir's type hint.
    fn entry(&mut self, parent: RawFd, name: &CStr, hint: Option<(Type, u64)>) {
        self.counts.scanned += 1;
        if let Some((Type::Directory, d_ino)) = hint {
            // The common case for directories: open first, then stat the descriptor.
            match open_dir_at(parent, name) {
                Ok(fd) => return self.directory(fd, parent, name, d_ino, false),
                Err(e) if is_gone(&e) => return self.skip(name, Skip::Vanished),
                // Replaced by something else since readdir: look at what it is now.
                Err(_) => {}
            }
        }
        let st = match lstat_at(parent, name) {
            Ok(st) => st,
            Err(e) if is_gone(&e) => return self.skip(name, Skip::Vanished),
            Err(e) => return self.fail("inspecting", name, e),
        };
        if st.st_dev != self.dev {
            return self.skip(name, Skip::OtherFilesystem);
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => match open_dir_at(parent, name) {
                Ok(fd) => self.directory(fd, parent, name, st.st_ino, true),
                Err(e) if is_gone(&e) => self.skip(name, Skip::Vanished),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    self.skip(name, Skip::ChangedDuringWalk)
                }
                Err(e) => self.fail("opening", name, e),
            },
            libc::S_IFLNK => self.leaf(parent, name, &st, true),
            libc::S_IFREG if st.st_nlink > 1 => self.skip(name, Skip::HardLink),
            libc::S_IFCHR | libc::S_IFBLK => self.skip(name, Skip::Device),
            _ => self.leaf(parent, name, &st, false),
        }
    }

    /// A directory, open as `fd`: fix it through the descriptor, then its entries.
    /// `ino` is the inode the name had when looked at (from lstat when `ino_from_stat`,
    /// else readdir's d_ino): the directory opened must be that one.
    fn directory(&mut self, fd: Fd, parent: RawFd, name: &CStr, ino: u64, ino_from_stat: bool) {
        let st = match fstat_fd(fd.0) {
            Ok(st) => st,
            Err(e) => return self.fail("inspecting", name, e),
        };
        if st.st_dev != self.dev {
            return self.skip(name, Skip::OtherFilesystem);
        }
        if st.st_ino as u64 != ino {
            // Some filesystems (overlayfs) report a d_ino that differs from st_ino: ask
            // lstat before concluding the name was swapped.
            let same = !ino_from_stat
                && matches!(lstat_at(parent, name), Ok(l) if l.st_ino == st.st_ino && l.st_dev == st.st_dev);
            if !same {
                return self.skip(name, Skip::ChangedDuringWalk);
            }
        }
        let (uid, gid) = self.want_ids(&st);
        if uid != KEEP || gid != KEEP {
            self.counts.chowned += 1;
            if !self.dry_run {
                if let Err(e) = check(unsafe { libc::fchown(fd.0, id_arg(uid), id_arg(gid)) }) {
                    return self.fail("changing the owner of", name, e);
                }
            }
        }
        // chown never clears a directory's set-group-ID bit, so st_mode still holds.
        if st.st_mode & 0o7777 != self.dir_mode {
            self.counts.chmodded += 1;
            if !self.dry_run {
                if let Err(e) = check(unsafe { libc::fchmod(fd.0, self.dir_mode as libc::mode_t) })
                {
                    return self.fail("changing the mode of", name, e);
                }
            }
        }
        self.dir.push(OsStr::from_bytes(name.to_bytes()));
        let raw = fd.into_raw();
        match Dir::from_fd(raw) {
            Ok(mut d) => {
                for ent in d.iter() {
                    match ent {
                        Ok(ent) => {
                            let n = ent.file_name();
                            let b = n.to_bytes();
                            if b == b"." || b == b".." {
                                continue;
                            }
                            self.entry(raw, n, ent.file_type().map(|t| (t, ent.ino())));
                        }
                        Err(e) => {
                            self.fail_here("reading", io::Error::from(e));
                            break;
                        }
                    }
                }
            }
            Err(e) => self.fail_here("reading", io::Error::from(e)),
        }
        self.dir.pop();
    }

    /// Anything but a directory: by name, never following a final symlink.
    fn leaf(&mut self, parent: RawFd, name: &CStr, st: &libc::stat, symlink: bool) {
        let mut mode = st.st_mode & 0o7777;
        let (uid, gid) = self.want_ids(st);
        if uid != KEEP || gid != KEEP {
            self.counts.chowned += 1;
            let r = if self.dry_run {
                Ok(())
            } else {
                check(unsafe {
                    libc::fchownat(
                        parent,
                        name.as_ptr(),
                        id_arg(uid),
                        id_arg(gid),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })
            };
            if let Err(e) = r {
                return self.fail("changing the owner of", name, e);
            }
            // The kernel clears set-user-ID (and set-group-ID with group-exec) on a chown.
            if !symlink && mode & (libc::S_ISUID | libc::S_ISGID) != 0 {
                if self.dry_run {
                    mode &= !libc::S_ISUID;
                    if mode & libc::S_IXGRP != 0 {
                        mode &= !libc::S_ISGID;
                    }
                } else {
                    match lstat_at(parent, name) {
                        Ok(st2) => mode = st2.st_mode & 0o7777,
                        Err(e) => return self.fail("inspecting", name, e),
                    }
                }
            }
        }
        if symlink || mode == self.file_mode {
            return;
        }
        self.counts.chmodded += 1;
        if !self.dry_run {
            match chmod_nofollow(parent, name, self.file_mode) {
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

    /// The ids to set (KEEP where nothing differs).
    fn want_ids(&self, st: &libc::stat) -> (u32, u32) {
        let uid = if self.owner.uid != KEEP && st.st_uid != self.owner.uid {
            self.owner.uid
        } else {
            KEEP
        };
        let gid = if self.owner.gid != KEEP && st.st_gid != self.owner.gid {
            self.owner.gid
        } else {
            KEEP
        };
        (uid, gid)
    }

    fn path_of(&self, name: &CStr) -> PathBuf {
        self.dir.join(OsStr::from_bytes(name.to_bytes()))
    }

    fn skip(&mut self, name: &CStr, why: Skip) {
        self.counts.skipped[why.idx()] += 1;
        if why == Skip::Vanished {
            return; // a live site deletes cache files all the time: not worth a warning
        }
        let path = self.path_of(name).display().to_string();
        if *self.warned < MAX_WARNED {
            *self.warned += 1;
            self.ctx.warn(format!("skipped {path}: {}", why.explain()));
        }
        if self.listed.len() < MAX_LISTED {
            self.listed.push((path, why));
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
        *self.errors += 1;
        if *self.errors <= MAX_WARNED as u64 {
            self.ctx.log(format!("error: {}", e.message));
        }
        if self.first_error.is_none() {
            *self.first_error = Some(e);
        }
    }
}

fn is_gone(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("2775"), Ok(0o2775));
        assert_eq!(parse_mode("0664"), Ok(0o664));
        assert_eq!(parse_mode("775"), Ok(0o775));
        assert_eq!(parse_mode("07777"), Ok(0o7777));
        for bad in ["", "8", "rwx", "u+x", "17777", "-1", "0o775", "277755"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
        assert_eq!(mode_str(0o664), "0664");
        assert_eq!(mode_str(0o2775), "2775");
    }

    #[test]
    fn lexical_targets_stay_inside() {
        let root = Path::new("/opt/df");
        let given = Path::new("/opt/dreamfactory");
        let rel = |t: &str| lexical_rel(given, root, Path::new(t));
        assert_eq!(rel("storage"), Some(PathBuf::from("storage")));
        assert_eq!(
            rel("./bootstrap/cache/"),
            Some(PathBuf::from("bootstrap/cache"))
        );
        assert_eq!(rel("storage/../public"), Some(PathBuf::from("public")));
        assert_eq!(rel("/opt/df/storage"), Some(PathBuf::from("storage")));
        assert_eq!(
            rel("/opt/dreamfactory/storage"),
            Some(PathBuf::from("storage"))
        );
        assert_eq!(rel("../x"), None);
        assert_eq!(rel("storage/../../x"), None);
        assert_eq!(rel("/etc"), None);
        assert_eq!(rel("."), None);
        assert_eq!(rel("/opt/df"), None);
    }
}
