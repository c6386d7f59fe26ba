//! Hostile and install-shaped trees for the walks that root makes (df-perms, df-artisan's
//! hand-back of root-owned files), and ways to look at them that never follow a symlink.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{chown, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const WWW: u32 = 33; // www-data on Debian/Ubuntu

/// An install root: the markers (artisan, .env, config/, vendor/autoload.php), storage/
/// and bootstrap/cache/ owned by `owner`, everything readable by it; plus a root-owned
/// fake php (exit 0) for df-artisan's `--php`. The temporary dir is 0755 so PHP's user can
/// reach the install.
pub struct Install {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub php: PathBuf,
    _bin: tempfile::TempDir,
}

pub fn install(owner: u32) -> Install {
    install_in(owner, &std::env::temp_dir())
}

/// A memory filesystem when there is one (/dev/shm): trees of thousands of levels are
/// made and removed there in a fraction of a second, on a busy disk in many.
pub fn fast_tmp() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// [`install`] in a temporary directory under `parent`.
pub fn install_in(owner: u32, parent: &Path) -> Install {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests run as root (CI does)"
    );
    let tmp = tempfile::tempdir_in(parent).unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path().join("df");
    for d in [
        "storage/logs",
        "storage/framework/cache/data",
        "bootstrap/cache",
        "config",
        "vendor",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("artisan"), "<?php // artisan\n").unwrap();
    fs::write(root.join(".env"), "APP_ENV=local\n").unwrap();
    fs::write(root.join("vendor/autoload.php"), "<?php\n").unwrap();
    fs::write(
        root.join("config/app.php"),
        "<?php return ['version' => '7.7.0'];\n",
    )
    .unwrap();
    for d in [
        "storage",
        "storage/logs",
        "storage/framework",
        "storage/framework/cache",
        "storage/framework/cache/data",
        "bootstrap/cache",
    ] {
        chown(root.join(d), Some(owner), Some(owner)).unwrap();
    }
    // In the ordinary temporary directory: a memory filesystem may be mounted noexec.
    let bin = tempfile::tempdir().unwrap();
    fs::set_permissions(bin.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let php = bin.path().join("php");
    fs::write(&php, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&php, fs::Permissions::from_mode(0o755)).unwrap();
    Install {
        tmp,
        root,
        php,
        _bin: bin,
    }
}

/// (uid, gid, mode, ctime, ctime_nsec) of an entry, not following a final symlink.
pub type Stamp = (u32, u32, u32, i64, i64);

pub fn stamp(p: &Path) -> Stamp {
    let md = fs::symlink_metadata(p).unwrap();
    (
        md.uid(),
        md.gid(),
        md.mode() & 0o7777,
        md.ctime(),
        md.ctime_nsec(),
    )
}

/// Every entry under `top` (and `top`), never following symlinks (shallow trees only).
pub fn snapshot(top: &Path) -> BTreeMap<PathBuf, Stamp> {
    let mut out = BTreeMap::new();
    let mut todo = vec![top.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
        out.insert(p.clone(), stamp(&p));
    }
    out
}

/// A path through a directory descriptor: short whatever the depth (the kernel resolves
/// /proc/self/fd/N to the directory itself).
pub fn via(dir: &File, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// Open a directory without following a final symlink.
pub fn open_dir(p: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(p)
        .unwrap_or_else(|e| panic!("opening {}: {e}", p.display()))
}

/// `depth` nested directories named `name` under `top`, root-owned, mode 0755, with a
/// root-owned file `leaf` (0644) at the bottom; built through descriptors, so deeper than
/// PATH_MAX.
pub fn make_deep(top: &Path, depth: usize, name: &str) {
    let mut cur = open_dir(top);
    for _ in 0..depth {
        fs::create_dir(via(&cur, name)).unwrap();
        fs::set_permissions(via(&cur, name), fs::Permissions::from_mode(0o755)).unwrap();
        cur = open_dir(&via(&cur, name));
    }
    fs::write(via(&cur, "leaf"), "x").unwrap();
    fs::set_permissions(via(&cur, "leaf"), fs::Permissions::from_mode(0o644)).unwrap();
}

/// (uid, gid, mode) of every level of a [`make_deep`] tree, top level first, then the leaf.
pub fn deep_meta(top: &Path, depth: usize, name: &str) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::with_capacity(depth + 1);
    let mut cur = open_dir(top);
    for _ in 0..depth {
        cur = open_dir(&via(&cur, name));
        let md = cur.metadata().unwrap();
        out.push((md.uid(), md.gid(), md.mode() & 0o7777));
    }
    let md = fs::symlink_metadata(via(&cur, "leaf")).unwrap();
    out.push((md.uid(), md.gid(), md.mode() & 0o7777));
    out
}

/// Remove a [`make_deep`] tree bottom-up (std's remove_dir_all need not cope with it).
pub fn remove_deep(top: &Path, depth: usize, name: &str) {
    let mut cur = open_dir(top);
    for _ in 0..depth {
        cur = open_dir(&via(&cur, name));
    }
    let _ = fs::remove_file(via(&cur, "leaf"));
    for _ in 0..depth {
        let parent = open_dir(&via(&cur, ".."));
        drop(cur);
        fs::remove_dir(via(&parent, name)).unwrap();
        cur = parent;
    }
}
