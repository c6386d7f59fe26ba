//! The few system calls the walk makes, relative to directory descriptors and never
//! following a final symlink. Thin wrappers over nix so the walk reads as what it does.

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode};
use nix::unistd::{Gid, Uid};
use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

/// Flags of every directory the walk opens: a final symlink fails with ELOOP instead of
/// being followed, and a non-directory with ENOTDIR.
fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY
}

fn err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Open `name` inside `parent` as a directory, never through a symlink. The `Dir` owns
/// the descriptor (closed on drop).
pub fn open_dir_at(parent: RawFd, name: &CStr) -> io::Result<Dir> {
    Dir::openat(Some(parent), name, dir_flags(), Mode::empty()).map_err(err)
}

/// Open the operator's root: it may itself be a symlink (/opt/dreamfactory → /opt/df-7.7),
/// so this one open follows symlinks.
pub fn open_root(path: &Path) -> io::Result<Dir> {
    Dir::open(path, dir_flags() & !OFlag::O_NOFOLLOW, Mode::empty()).map_err(err)
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)`: the entry itself, a symlink included.
pub fn lstat_at(parent: RawFd, name: &CStr) -> io::Result<FileStat> {
    nix::sys::stat::fstatat(Some(parent), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err)
}

pub fn fstat(fd: RawFd) -> io::Result<FileStat> {
    nix::sys::stat::fstat(fd).map_err(err)
}

fn ids(uid: Option<u32>, gid: Option<u32>) -> (Option<Uid>, Option<Gid>) {
    (uid.map(Uid::from_raw), gid.map(Gid::from_raw))
}

/// chown through a directory's own descriptor (None keeps that id).
pub fn fchown(fd: RawFd, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    nix::unistd::fchown(fd, u, g).map_err(err)
}

/// chown of a name, a symlink's own owner when it is one (as `chown -R` does).
pub fn lchown_at(parent: RawFd, name: &CStr, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    nix::unistd::fchownat(Some(parent), name, u, g, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err)
}

pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode as libc::mode_t)).map_err(err)
}

/// chmod of a name that must not be a symlink: fails with EOPNOTSUPP if it is one (it
/// became one since it was looked at). fchmodat2 (Linux 6.6) does it in one call; older
/// kernels get glibc's fchmodat(AT_SYMLINK_NOFOLLOW) (O_PATH + /proc, same guarantee).
pub fn chmod_nofollow(parent: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: fchmodat2 reads only its arguments: a descriptor (a bad one is EBADF, not
        // UB), a NUL-terminated string that `name` keeps alive across the call, and two
        // integers. No memory is written.
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
    nix::sys::stat::fchmodat(
        Some(parent),
        name,
        Mode::from_bits_truncate(mode as libc::mode_t),
        FchmodatFlags::NoFollowSymlink,
    )
    .map_err(err)
}

/// The entry is gone (removed since readdir): not an error on a live site.
pub fn is_gone(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}
