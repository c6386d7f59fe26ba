//! Ownership and modes of the directories the web server writes: the guide's
//! `chown -R {web-user}:{group} storage/ bootstrap/cache/` and `chmod -R 2775 …`, done
//! safely, and the hand-back of root-owned files after PHP ran as root.
//!
//! - [`walk`]: the one walk root makes over a web-writable tree (descriptor-relative,
//!   never through a symlink, bounded stack and descriptors); its docs say why it is safe.
//! - [`apply()`]: df-perms (owner and modes of the targets, only what differs).
//! - [`sweep_root_owned`]: df-artisan's hand-back of root-owned entries to the owner of
//!   storage/ and bootstrap/cache/.
//!
//! # No needless writes
//!
//! Every entry is examined first and only what differs is changed, so a second run writes
//! nothing (no ctime changes) and reports `changed: false` — GNU `chown -R`/`chmod -R`
//! write every inode every time.

mod apply;
mod sweep;
pub(crate) mod sys;
mod targets;
pub mod walk;

pub use apply::apply;
pub use sweep::{sweep_root_owned, Sweep};

use std::path::PathBuf;

/// The directories the guide names, relative to the root.
pub const DEFAULT_TARGETS: [&str; 2] = ["storage", "bootstrap/cache"];
/// The guide's `chmod -R 2775`.
pub const DEFAULT_MODE: u32 = 0o2775;

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
}
