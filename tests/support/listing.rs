//! A tree's full description for before/after comparisons: per relative path its type,
//! link target, size and sha256, mode, owner, group and mtime (nanoseconds), and which
//! files are hard links of one another.

use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn sha256(p: &Path) -> String {
    let bytes = fs::read(p).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `(relative path, description)` for everything under `root` (not `root` itself), sorted.
pub fn describe(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inodes: Vec<(u64, String)> = Vec::new();
    walk(root, "", &mut out, &mut inodes);
    out
}

/// The description of `root` itself and everything under it.
pub fn describe_with_top(root: &Path) -> Vec<(String, String)> {
    let m = fs::symlink_metadata(root).unwrap();
    let mut v = vec![(String::new(), meta_line("top", &m))];
    if m.is_dir() {
        v.extend(describe(root));
    }
    v
}

fn meta_line(what: &str, m: &fs::Metadata) -> String {
    format!(
        "{what} mode {:o} {}:{} mtime {}.{}",
        m.mode() & 0o7777,
        m.uid(),
        m.gid(),
        m.mtime(),
        m.mtime_nsec()
    )
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, String)>, inodes: &mut Vec<(u64, String)>) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let r = format!("{rel}/{}", n.to_string_lossy());
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let what = if ft.is_symlink() {
            format!("link -> {}", fs::read_link(&p).unwrap().display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else {
            let first = match inodes.iter().find(|(i, _)| *i == m.ino()) {
                Some((_, f)) => f.clone(),
                None => {
                    inodes.push((m.ino(), r.clone()));
                    r.clone()
                }
            };
            format!("file {} sha {} first {first}", m.len(), sha256(&p))
        };
        out.push((r.clone(), meta_line(&what, &m)));
        if ft.is_dir() {
            walk(&p, &r, out, inodes);
        }
    }
}

/// Names anywhere under `root` that look like dfkit temporaries.
pub fn temporaries(root: &Path) -> Vec<String> {
    describe(root)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.contains(".dfkit-"))
        .collect()
}
