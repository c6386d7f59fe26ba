//! One run per install: an exclusive `flock` on a file outside the web-writable tree.
//!
//! The kernel is the judge (restic's model, with flock instead of a timestamp): a lock
//! whose holder died is free again at once, so there is no stale lock to clear by hand.
//! The file's content (pid, host, start time, command) is only for the message a second
//! run prints: "df-upgrade (pid 4242 on web1, since 2026-11-29T07:00:00Z) holds the lock".
//!
//! The lock lives in `$DFKIT_LOCK_DIR`, else `/run/lock/dfkit`, named by a hash of the
//! install's canonical path, so the web user (who owns the install) cannot plant or
//! remove it. The journal of a run ([`crate::journal`]) sits beside it.

use crate::error::{Error, ErrorKind, Result};
use nix::fcntl::{Flock, FlockArg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where locks and journals live unless `DFKIT_LOCK_DIR` says otherwise.
pub const DEFAULT_LOCK_DIR: &str = "/run/lock/dfkit";

/// The directory of locks and journals.
pub fn lock_dir() -> PathBuf {
    match std::env::var_os("DFKIT_LOCK_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_LOCK_DIR),
    }
}

/// A stable name for an install: the first 16 hex digits of the SHA-256 of its
/// canonical path (the path as given when it cannot be resolved).
pub fn install_key(root: &Path) -> String {
    let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let hex = crate::checksum::sha256_hex(canon.as_os_str().as_encoded_bytes());
    hex[..16].to_string()
}

/// Who holds a lock (the lock file's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Holder {
    pub tool: String,
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    /// The holder's command line (masked).
    pub command: Vec<String>,
    pub root: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}, since {}: {})",
            self.tool,
            self.pid,
            self.host,
            self.started_at,
            self.command.join(" ")
        )
    }
}

/// A held lock; released when dropped (or when the process dies).
pub struct Lock {
    file: Flock<File>,
    path: PathBuf,
    pub holder: Holder,
}

/// The host name, for lock and journal records.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Make the lock directory (0700, root's) if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            let mut err = Error::io("creating the lock directory", dir, e);
            if err.kind == ErrorKind::Io || err.kind == ErrorKind::MissingInput {
                err.kind = ErrorKind::CannotCreate;
            }
            err.with_hint(
                "set DFKIT_LOCK_DIR to a directory outside the install that you can write",
            )
        })
}

impl Lock {
    /// The lock file for an install, in `dir`.
    pub fn path_for(dir: &Path, root: &Path) -> PathBuf {
        dir.join(format!("{}.lock", install_key(root)))
    }

    /// Take the lock for `root` in [`lock_dir`], or fail with `temporary` (exit 75)
    /// naming the holder.
    pub fn acquire(root: &Path, tool: &str) -> Result<Lock> {
        Lock::acquire_in(&lock_dir(), root, tool)
    }

    /// [`Lock::acquire`] with an explicit lock directory.
    pub fn acquire_in(dir: &Path, root: &Path, tool: &str) -> Result<Lock> {
        let path = Lock::path_for(dir, root);
        ensure_dir(dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io("opening the lock", &path, e))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((mut f, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let mut text = String::new();
                let _ = f.read_to_string(&mut text);
                let who = serde_json::from_str::<Holder>(&text)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|_| "another run".into());
                return Err(Error::new(
                    ErrorKind::Temporary,
                    format!("{who} holds the lock for {}", root.display()),
                )
                .with_hint(format!(
                    "wait for it to finish and run again (lock file {})",
                    path.display()
                )));
            }
            Err((_, errno)) => {
                return Err(Error::io(
                    "locking",
                    &path,
                    std::io::Error::from_raw_os_error(errno as i32),
                ))
            }
        };
        let holder = Holder {
            tool: tool.to_string(),
            pid: std::process::id(),
            host: hostname(),
            started_at: crate::report::now_rfc3339(),
            command: std::env::args().map(|a| crate::secret::scrub(&a)).collect(),
            root: root.display().to_string(),
        };
        let text = serde_json::to_vec(&holder).unwrap_or_default();
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()
        };
        write(&mut file).map_err(|e| Error::io("writing the lock", &path, e))?;
        Ok(Lock { file, path, holder })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Empty the record before the kernel releases the lock, so nobody reads an old
        // holder as a live one.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_temporary_and_names_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let locks = d.path().join("locks");
        let root = d.path().join("install");
        std::fs::create_dir(&root).unwrap();
        let first = Lock::acquire_in(&locks, &root, "df-upgrade").unwrap();
        // flock locks belong to the open file description: a second open in the same
        // process conflicts just as another process would.
        let err = Lock::acquire_in(&locks, &root, "df-upgrade")
            .err()
            .expect("second lock refused");
        assert_eq!(err.kind, ErrorKind::Temporary);
        assert!(
            err.message.contains(&format!("pid {}", std::process::id())),
            "{}",
            err.message
        );
        drop(first);
        let again = Lock::acquire_in(&locks, &root, "df-upgrade").unwrap();
        assert_eq!(again.holder.pid, std::process::id());
        assert_eq!(install_key(&root).len(), 16);
    }
}
