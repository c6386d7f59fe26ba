//! The `ownership` check: root-owned entries under storage/ and bootstrap/cache/ when
//! those directories belong to the web user. A root-owned log or cache file makes the
//! site answer 500 (PHP, as the web user, cannot write it). df-verify only reports them;
//! df-perms gives them back.
//!
//! The count comes from df-perms' own walk in its dry-run mode
//! ([`crate::perms::sweep_root_owned`]): the one walk root makes over a web-writable tree,
//! so the count is what `df-perms` would hand back. When there are some, a second,
//! read-only walk names the first [`MAX_LISTED`] (lstat and readdir only, never through a
//! symlink, on the top directory's filesystem, with its own stack).

use crate::install::Install;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// How many entries a report lists (the count is always complete).
pub const MAX_LISTED: usize = 20;
/// The directories PHP writes to.
pub const DIRS: [&str; 2] = ["storage", "bootstrap/cache"];

/// What the walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Root-owned entries, relative to the root (the first [`MAX_LISTED`]).
    pub listed: Vec<String>,
    /// How many entries df-perms would hand back (its own walk, dry run).
    pub count: u64,
    /// The owner (uid, gid) of each walked top directory that is not root's.
    pub owners: Vec<(String, u32, u32)>,
    /// Entries that could not be read (relative path: error).
    pub unreadable: Vec<String>,
}

/// Find root-owned entries under the install's web-writable directories.
pub fn root_owned(install: &Install) -> Found {
    let mut found = Found::default();
    for rel in DIRS {
        let top = install.path(rel);
        let Ok(md) = std::fs::symlink_metadata(&top) else {
            continue;
        };
        // A root-owned top directory has no web user to compare with.
        if !md.is_dir() || md.uid() == 0 {
            continue;
        }
        found.owners.push((rel.to_string(), md.uid(), md.gid()));
        match crate::perms::sweep_root_owned(None, &install.root, std::path::Path::new(rel), true) {
            Ok(sweep) => {
                found.count += sweep.counts.chowned;
                if sweep.counts.chowned == 0 {
                    continue;
                }
            }
            Err(e) => found.unreadable.push(format!("{rel}: {}", e.message)),
        }
        let dev = md.dev();
        let mut stack: Vec<PathBuf> = vec![top];
        while let Some(dir) = stack.pop() {
            if found.listed.len() >= MAX_LISTED {
                break;
            }
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    found
                        .unreadable
                        .push(format!("{}: {e}", relative(install, &dir)));
                    continue;
                }
            };
            for entry in rd.flatten() {
                let p = entry.path();
                let Ok(m) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                if m.uid() == 0 && found.listed.len() < MAX_LISTED {
                    found.listed.push(relative(install, &p));
                }
                if m.is_dir() && m.dev() == dev {
                    stack.push(p);
                }
            }
        }
    }
    found.listed.sort();
    found
}

fn relative(install: &Install, p: &std::path::Path) -> String {
    p.strip_prefix(&install.root)
        .unwrap_or(p)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_trees_are_walked_without_recursion() {
        // As any user: a tree owned by the current user; only counts are compared.
        let t = tempfile::tempdir().unwrap();
        let install = Install {
            root: t.path().to_path_buf(),
        };
        let mut p = t.path().join("storage");
        for _ in 0..1500 {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        let f = root_owned(&install);
        if crate::users::is_root() {
            // root owns everything it created: the top is root's, nothing to compare.
            assert!(f.owners.is_empty());
        } else {
            assert_eq!(f.count, 0);
            assert_eq!(f.owners.len(), 1);
        }
    }
}
