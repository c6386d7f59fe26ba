//! Running the dump and client programs: guards, pipe size, stderr tail, the argv
//! recorded in meta and plans.

use super::trailer::Tail;
use crate::db::Session;
use crate::exec::Cmd;
use std::io::Read;

/// Kills and reaps the dump program when the dump is abandoned early.
pub(super) struct DumpChild(pub(super) std::process::Child, pub(super) bool);

impl DumpChild {
    pub(super) fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let st = self.0.wait();
        self.1 = true;
        st
    }
}

impl Drop for DumpChild {
    fn drop(&mut self) {
        if !self.1 {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A thread joined when dropped (its own session's credential dir is then removed
/// even when the dump is abandoned).
pub(super) struct Joined<T>(pub(super) Option<std::thread::JoinHandle<T>>);

impl<T> Joined<T> {
    pub(super) fn join(mut self) -> Option<T> {
        self.0.take().and_then(|h| h.join().ok())
    }
}

impl<T> Drop for Joined<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// argv as recorded in meta/plans: masked, with the throwaway credential path named
/// for what it is.
pub(super) fn recorded_argv(cmd: &Cmd, session: &Session) -> Vec<String> {
    let cred = session
        .cred_file()
        .map(|p| p.to_string_lossy().into_owned());
    cmd.argv_masked()
        .into_iter()
        .map(|a| match &cred {
            Some(c) if a.contains(c.as_str()) => a.replace(c.as_str(), "<0600 temp file>"),
            _ => a,
        })
        .collect()
}

/// Raise a pipe's capacity so the dump program rarely waits on us (best effort).
pub(super) fn grow_pipe(fd: std::os::fd::RawFd) {
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
    }
}

pub(super) fn read_stderr_thread(
    r: Option<std::process::ChildStderr>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        // Keep the last 64 KiB: enough for any error, bounded for chatty programs.
        let mut tail = Tail::new(64 << 10);
        if let Some(mut r) = r {
            let mut b = [0u8; 8192];
            while let Ok(n) = r.read(&mut b) {
                if n == 0 {
                    break;
                }
                tail.push(&b[..n]);
            }
        }
        tail.buf
    })
}

// ---------------------------------------------------------------- dump
