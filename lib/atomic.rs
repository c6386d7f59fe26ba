//! Atomic, durable file writes.
//!
//! temp file in the same directory (O_EXCL, 0600) → write → fsync → rename → fsync the
//! directory. A crash or kill at any moment never leaves a partial file under its final
//! name: either the old content or the new one is there. A dropped, uncommitted
//! [`AtomicFile`] removes its temp file.

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

    /// fsync, set mode/owner, rename into place, fsync the directory.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("commit once");
        let io = |what: &str, p: &Path, e| Error::io(what, p, e);
        file.sync_all().map_err(|e| io("syncing", &self.tmp, e))?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                .map_err(|e| io("setting owner of", &self.tmp, e))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(self.mode))
            .map_err(|e| io("setting mode of", &self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| io("renaming into", &self.dest, e))?;
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

/// Replace an existing file's content atomically, keeping its mode and owner.
pub fn replace_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
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
