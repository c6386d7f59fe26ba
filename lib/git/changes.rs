//! Local modifications of the work tree, from `git status --porcelain=v2 -z`.
//!
//! v2 rather than v1: it tells a submodule whose recorded commit moved (a tracked change
//! `git stash` saves) from a submodule with modified or untracked content inside (which
//! `git stash` cannot save, and a checkout leaves alone).

use super::classify::classify;
use super::repo::Git;
use crate::error::Result;
use crate::report::data::git::LocalChanges;

/// Local modifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Modified, added, deleted, renamed paths, and submodules whose commit moved.
    pub tracked: Vec<String>,
    pub untracked: Vec<String>,
    pub unmerged: Vec<String>,
    /// Submodules with modified or untracked content.
    pub submodules_dirty: Vec<String>,
    /// Tracked paths that are submodules (their checkout is not git checkout's job).
    pub submodules: Vec<String>,
    /// The listing these were read from, exactly (for "is the tree as before"
    /// comparisons: v2 says all v1 does, and the index's and HEAD's object names too).
    pub listing: Vec<u8>,
}

impl Changes {
    /// Whether a stash is needed before moving HEAD.
    pub fn needs_stash(&self, include_untracked: bool) -> bool {
        !self.tracked.is_empty() || (include_untracked && !self.untracked.is_empty())
    }

    /// The paths a stash would take.
    pub fn stash_files(&self, include_untracked: bool) -> Vec<String> {
        let mut files = self.tracked.clone();
        if include_untracked {
            files.extend(self.untracked.iter().cloned());
        }
        files
    }

    pub fn to_data(&self) -> LocalChanges {
        LocalChanges {
            tracked: self.tracked.clone(),
            untracked: self.untracked.clone(),
            unmerged: self.unmerged.clone(),
            submodules: self.submodules_dirty.clone(),
        }
    }
}

impl Git {
    /// Local modifications, untracked files included (all of them, not just directories).
    pub fn changes(&self) -> Result<Changes> {
        let out = self.run([
            "status",
            "--porcelain=v2",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=none",
        ])?;
        if !out.success() {
            return Err(classify("git status", &out));
        }
        let mut c = parse_status(&out.stdout);
        c.listing = out.stdout;
        Ok(c)
    }
}

/// `git status --porcelain=v2 -z` → tracked / untracked / unmerged / dirty submodules.
pub fn parse_status(raw: &[u8]) -> Changes {
    let mut c = Changes::default();
    let mut parts = raw.split(|b| *b == 0).filter(|p| !p.is_empty());
    while let Some(entry) = parts.next() {
        let text = String::from_utf8_lossy(entry);
        let kind = text.chars().next().unwrap_or(' ');
        // Fields before the path: `1 XY sub mH mI mW hH hI path`, `2 … X100 path` (then the
        // original path as the next entry), `u XY sub m1 m2 m3 mW h1 h2 h3 path`.
        let (nfields, path_field) = match kind {
            '1' => (9, 8),
            '2' => (10, 9),
            'u' => (11, 10),
            '?' => {
                c.untracked.push(text[2..].to_string());
                continue;
            }
            _ => continue, // `!` ignored, `#` headers
        };
        let fields: Vec<&str> = text.splitn(nfields, ' ').collect();
        let Some(path) = fields.get(path_field).map(|p| p.to_string()) else {
            continue;
        };
        if kind == '2' {
            parts.next(); // the rename's source path
        }
        if kind == 'u' {
            c.unmerged.push(path);
            continue;
        }
        let xy = fields.get(1).copied().unwrap_or("..");
        let sub = fields.get(2).copied().unwrap_or("N...");
        if let Some(state) = sub.strip_prefix('S') {
            c.submodules.push(path.clone());
            let s: Vec<char> = state.chars().collect();
            let commit_moved = s.first() == Some(&'C') || xy.starts_with(|x: char| x != '.');
            let dirty = s.get(1) == Some(&'M') || s.get(2) == Some(&'U');
            if commit_moved {
                c.tracked.push(path.clone());
            }
            if dirty {
                c.submodules_dirty.push(path);
            }
        } else {
            c.tracked.push(path);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_parsing() {
        let raw = b"1 .M N... 100644 100644 100644 aa aa config/app.php\0? new.txt\0\
                    2 R. N... 100644 100644 100644 aa aa R100 b.php\0a.php\0\
                    u UU N... 100644 100644 100644 100644 aa bb cc c.php\0\
                    1 A. N... 000000 100644 100644 00 aa d.php\0";
        let c = parse_status(raw);
        assert_eq!(c.tracked, ["config/app.php", "b.php", "d.php"]);
        assert_eq!(c.untracked, ["new.txt"]);
        assert_eq!(c.unmerged, ["c.php"]);
    }

    #[test]
    fn paths_with_spaces_and_submodules() {
        let raw = b"1 .M N... 100644 100644 100644 aa aa a dir/my file.php\0\
                    1 .M S.M. 160000 160000 160000 aa aa vendor/sub\0\
                    1 .M SC.. 160000 160000 160000 aa bb other\0\
                    1 .M SC.U 160000 160000 160000 aa bb both\0";
        let c = parse_status(raw);
        assert_eq!(c.tracked, ["a dir/my file.php", "other", "both"]);
        assert_eq!(c.submodules_dirty, ["vendor/sub", "both"]);
    }
}
