//! The checks made before HEAD moves — by the real run and by the dry run alike, so a dry
//! run predicts the real run's refusals.

use super::changes::Changes;
use super::classify::hint_lock;
use super::repo::Git;
use super::short;
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::git::CommitInfo;
use std::collections::HashSet;

/// Unresolved conflicts or a merge/rebase/cherry-pick/revert in progress: refuse.
pub fn refuse_unsafe_state(g: &Git, changes: &Changes) -> Result<()> {
    if !changes.unmerged.is_empty() {
        return Err(Error::step(format!(
            "the work tree has unresolved merge conflicts: {}",
            changes.unmerged.join(", ")
        ))
        .with_hint("resolve them (or `git merge --abort` / `git reset --merge`) first; nothing was changed"));
    }
    let states = [
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase or am"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
    ];
    let paths = g.git_paths(&states.map(|(p, _)| p))?;
    for ((_, what), path) in states.iter().zip(paths) {
        if path.exists() {
            return Err(Error::step(format!("{what} is in progress in the work tree"))
                .with_hint("finish or abort it first (e.g. `git merge --abort`, `git rebase --abort`); nothing was changed"));
        }
    }
    Ok(())
}

/// A left-over `index.lock` makes every writing git command fail: say so before starting.
pub fn refuse_index_lock(g: &Git) -> Result<()> {
    let lock = g.git_path("index.lock")?;
    let Ok(md) = std::fs::symlink_metadata(&lock) else {
        return Ok(());
    };
    let age = md
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|d| format!(" (last modified {}s ago)", d.as_secs()))
        .unwrap_or_default();
    Err(Error::new(
        ErrorKind::Temporary,
        format!(
            "{} exists{age}: another git command holds the index",
            lock.display()
        ),
    )
    .with_hint(hint_lock(&format!("'{}'", lock.display()))))
}

/// Untracked files at paths the target commit has (git refuses to overwrite them). Not
/// with `--include-untracked`: those are stashed first.
pub fn untracked_in_the_way(
    g: &Git,
    changes: &Changes,
    include_untracked: bool,
    target: &str,
) -> Result<Vec<String>> {
    if include_untracked || changes.untracked.is_empty() {
        return Ok(Vec::new());
    }
    let tree = g.tree_paths(target)?;
    let mut dirs = HashSet::new();
    for p in &tree {
        let mut rest = p.as_str();
        while let Some((d, _)) = rest.rsplit_once('/') {
            if !dirs.insert(d.to_string()) {
                break;
            }
            rest = d;
        }
    }
    Ok(changes
        .untracked
        .iter()
        .filter(|u| {
            tree.contains(u.as_str())
                || dirs.contains(u.as_str())
                || parents(u).any(|d| tree.contains(d))
        })
        .cloned()
        .collect())
}

fn parents(p: &str) -> impl Iterator<Item = &str> {
    p.match_indices('/').map(move |(i, _)| &p[..i])
}

/// The error for [`untracked_in_the_way`].
pub fn in_the_way_error(files: &[String], target: &str) -> Error {
    Error::step(format!(
        "untracked files are in the way of files {} adds: {}",
        short(target),
        files.join(", ")
    ))
    .with_hint(
        "untracked files in the install are in the way of files the new commit adds; move \
         them aside, or rerun with --include-untracked to stash them too; nothing was changed",
    )
}

/// Commits reachable from `tips` that no branch, tag, remote-tracking ref or dfkit ref
/// keeps once HEAD is at `new` and `moved_branch` (if any) points there too: commits the
/// move would leave off every branch.
pub fn left_commits(
    g: &Git,
    tips: &[String],
    new: &str,
    moved_branch: Option<&str>,
) -> Result<Vec<CommitInfo>> {
    // A tip the new commit contains leaves nothing behind (a fast-forward: known from
    // the divergence check, no git run).
    if tips.iter().all(|t| g.known_ancestor(t, new) == Some(true)) {
        return Ok(Vec::new());
    }
    let mut args: Vec<String> = vec!["log".into(), "--format=%H%x09%s".into()];
    args.extend(tips.iter().cloned());
    args.push("--not".into());
    args.push(new.into());
    if let Some(b) = moved_branch {
        args.push(format!("--exclude={b}"));
    }
    for a in ["--branches", "--tags", "--remotes", "--glob=refs/dfkit/*"] {
        args.push(a.into());
    }
    Ok(g.ok(&args)?
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(c, s)| CommitInfo {
            commit: c.to_string(),
            subject: s.to_string(),
        })
        .collect())
}

/// Refuse to leave local commits behind, naming them.
pub fn left_commits_error(commits: &[CommitInfo]) -> Error {
    let named: Vec<String> = commits
        .iter()
        .take(10)
        .map(|c| format!("{} {}", short(&c.commit), c.subject))
        .collect();
    let more = if commits.len() > 10 {
        format!(" and {} more", commits.len() - 10)
    } else {
        String::new()
    };
    Error::step(format!(
        "the move would leave {} local commit(s) on no branch: {}{more}",
        commits.len(),
        named.join("; ")
    ))
    .with_hint(
        "keep them on a branch first (`git branch hotfix-keep HEAD`), or rerun with \
         --leave-local-commits (dfkit then keeps them under refs/dfkit/left/ and reports them); \
         nothing was changed",
    )
}

/// Keep the tips of left commits on `refs/dfkit/left/<time>-<commit>` refs.
pub fn keep_left(g: &Git, tips: &[String], new: &str, moved: Option<&str>) -> Result<Vec<String>> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut refs = Vec::new();
    for t in tips {
        if left_commits(g, std::slice::from_ref(t), new, moved)?.is_empty() {
            continue;
        }
        let r = format!("refs/dfkit/left/{stamp}-{}", short(t));
        g.ok(["update-ref", &r, t])?;
        refs.push(r);
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dirs() {
        assert_eq!(parents("a/b/c.php").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(parents("x").count(), 0);
    }
}
