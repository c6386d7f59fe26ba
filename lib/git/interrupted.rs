//! A move cut short by a kill or a power cut.
//!
//! `git checkout` and `git merge` write the work tree file by file and move HEAD last. A
//! git killed in between leaves some files of the target written, others not, HEAD and
//! the index where they were: to `git status` that looks like local edits, and a later
//! update or rollback would keep them as such. So while a move runs, `.git/dfkit-move`
//! records it (where HEAD was, where it was going, the stash, the untracked files that
//! were there before). The next `update` or `rollback` reads it first:
//! - HEAD at the target: the move had finished; the record goes.
//! - HEAD where it was (or, for a move that switches branches first, on the new branch
//!   still at that branch's old commit): the half-done checkout is undone exactly as a
//!   failed move is (the old commit and branch forced back, the target's new files
//!   removed, the stash popped), and the record goes. Unless the move's stash is gone
//!   (popped since): then the edits it held are in the tree, forcing would overwrite
//!   them, and only the record goes, with a warning.
//! - anything else: nothing is touched, and the run stops (exit 70) naming both commits.

use super::repo::{Git, State};
use super::short;
use super::stash::Stash;
use super::transaction::Move;
use crate::error::{Error, Result};
use crate::report::Ctx;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The record's name in the git directory.
pub(super) const MARKER: &str = "dfkit-move";

/// What a move in progress needs to be undone.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    /// HEAD and its branch before the move.
    from: String,
    branch: Option<String>,
    /// The commit the move goes to, and the branch it ends on.
    to: String,
    to_branch: Option<String>,
    /// With `to_branch`: that branch's commit before (None: it did not exist).
    to_branch_was: Option<String>,
    /// The stash the move made of the local changes.
    stash: Option<String>,
    /// Untracked files that were there before the move (not the checkout's).
    untracked: Vec<String>,
}

impl Git {
    fn marker_path(&self) -> Result<PathBuf> {
        self.git_path(MARKER)
    }

    /// Record the move about to run (atomically, owned by the tree's owner).
    pub(super) fn mark_move(
        &self,
        before: &State,
        mv: &Move,
        stash: Option<&Stash>,
        untracked: &HashSet<String>,
    ) -> Result<()> {
        let mut untracked: Vec<String> = untracked.iter().cloned().collect();
        untracked.sort();
        let m = Marker {
            from: before.head.clone(),
            branch: before.branch.clone(),
            to: mv.commit.clone(),
            to_branch: mv.branch.clone(),
            to_branch_was: mv.branch_was.clone(),
            stash: stash.map(|s| s.sha.clone()),
            untracked,
        };
        let text = serde_json::to_vec_pretty(&m)
            .map_err(|e| Error::internal(format!("serialising the move record: {e}")))?;
        let path = self.marker_path()?;
        let mut f = crate::atomic::AtomicFile::create(&path, 0o644)?;
        if let Some((uid, gid)) = self.switch_to() {
            f.set_owner(uid, gid);
        }
        std::io::Write::write_all(f.file(), &text)
            .map_err(|e| Error::io("writing", f.temp_path(), e))?;
        f.commit()
    }

    /// The move finished, or was undone: its record goes.
    pub(super) fn unmark_move(&self) -> Result<()> {
        let path = self.marker_path()?;
        match std::fs::remove_file(&path) {
            Ok(()) => crate::atomic::sync_dir(&crate::atomic::parent_dir(&path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing", &path, e)),
        }
    }

    fn read_marker(&self) -> Result<Option<Marker>> {
        let path = self.marker_path()?;
        // Not through a symlink: the git directory belongs to the tree's owner.
        let mut f = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", &path, e)),
        };
        let mut text = Vec::new();
        f.by_ref()
            .take(16 << 20)
            .read_to_end(&mut text)
            .map_err(|e| Error::io("reading", &path, e))?;
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            Error::bad_data(format!(
                "{} is not a dfkit move record: {e}",
                path.display()
            ))
            .with_hint("remove it once `git status` shows the tree as you want it")
        })
    }

    /// Before an update or a rollback: finish with a move an earlier run left half-done
    /// (module docs). Returns what was done, for the report's warnings.
    pub fn repair_interrupted(&self, ctx: &Ctx) -> Result<Option<String>> {
        let Some(m) = self.read_marker()? else {
            return Ok(None);
        };
        let (head, branch) = self.head_and_branch()?;
        let what = format!(
            "an earlier update from {} to {} was interrupted",
            short(&m.from),
            short(&m.to)
        );
        if ctx.dry_run() {
            return Ok(Some(format!(
                "{what}: the real run first puts its half-done checkout back"
            )));
        }
        if head == m.to && branch == m.to_branch {
            self.unmark_move()?;
            let kept = m
                .stash
                .map(|s| format!("; its stash {} is kept", short(&s)))
                .unwrap_or_default();
            return Ok(Some(format!(
                "{what} after HEAD moved: nothing to undo{kept}"
            )));
        }
        // Before the target: where HEAD was, or (a branch move of two steps) switched to
        // the branch, still at its old commit.
        let at_start = head == m.from && branch == m.branch;
        let switched = branch.is_some()
            && branch == m.to_branch
            && m.to_branch_was.as_deref() == Some(head.as_str());
        if !at_start && !switched {
            return Err(Error::internal(format!(
                "{what}, and HEAD is now {} on {}: neither where it was nor where it was going",
                short(&head),
                branch.as_deref().unwrap_or("(detached)")
            ))
            .with_hint(format!(
                "look at `git status` and `git stash list`; remove {} once the tree is as you \
                 want it",
                self.marker_path()?.display()
            )));
        }
        if let Some(sha) = &m.stash {
            if self.stash_entry(sha)?.is_none() {
                // Popped already: by the putting back of an earlier run killed before it
                // dropped the record, or by hand. Forcing the old commit out again would
                // overwrite the edits it brought back.
                self.unmark_move()?;
                return Ok(Some(format!(
                    "{what}; its stash {} was applied since, so nothing was put back: \
                     check `git status`",
                    short(sha)
                )));
            }
        }
        ctx.log(format!("{what}: putting its half-done checkout back"));
        let before = State {
            head: m.from.clone(),
            branch: m.branch.clone(),
            describe: None,
            version: None,
        };
        let moved = m.to_branch.clone().map(|b| (b, m.to_branch_was.clone()));
        let stash = m.stash.as_ref().map(|sha| Stash {
            sha: sha.clone(),
            message: String::new(),
            files: Vec::new(),
            include_untracked: false,
        });
        let untracked: HashSet<String> = m.untracked.into_iter().collect();
        self.restore(&before, &moved, stash.as_ref(), &untracked, &m.to)
            .map_err(|e| e.context(format!("{what}; putting it back")))?;
        self.unmark_move()?;
        Ok(Some(format!(
            "{what} (killed?): its half-done checkout was put back{}",
            if stash.is_some() {
                ", and the local changes it had stashed"
            } else {
                ""
            }
        )))
    }
}
