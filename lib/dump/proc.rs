//! Running the client programs: stderr tail, the argv recorded in meta and plans.

use super::trailer::Tail;
use crate::db::Session;
use crate::exec::Cmd;
use std::io::Read;

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
