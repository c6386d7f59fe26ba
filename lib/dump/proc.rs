//! The argv of a client or dump program as recorded in meta and plans, and its pipes.

use crate::db::Session;
use crate::exec::Cmd;

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

/// Raise a pipe's capacity to 1 MiB, so the program at its other end and dfkit rarely
/// wait on each other (best effort).
pub(super) fn grow_pipe(fd: std::os::fd::RawFd) {
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
}
