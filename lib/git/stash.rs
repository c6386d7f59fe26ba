//! The stash dfkit makes of local edits: push, find, pop back (on failure, or when asked).

use super::classify::classify;
use super::repo::Git;
use crate::error::{Error, Result};
use crate::report::data::git::StashInfo;
use crate::report::Ctx;

/// A stash dfkit made.
#[derive(Debug, Clone)]
pub struct Stash {
    /// The stash commit: valid as long as the stash exists (and in the reflog after).
    pub sha: String,
    pub message: String,
    pub files: Vec<String>,
    pub include_untracked: bool,
}

impl Stash {
    pub fn info(&self, reapplied: bool, kept: bool) -> StashInfo {
        StashInfo {
            sha: self.sha.clone(),
            message: self.message.clone(),
            files: self.files.clone(),
            include_untracked: self.include_untracked,
            reapplied,
            kept,
        }
    }
}

/// How re-applying the stash after a move went.
pub enum Reapply {
    Applied,
    /// Not applied: the tree is clean at the new commit, the stash is kept.
    Failed {
        /// Conflicting files, or untracked files in the way.
        files: Vec<String>,
        /// git's own words.
        message: String,
    },
}

impl Git {
    fn stash_shas(&self) -> Result<Vec<String>> {
        let out = self.ok(["stash", "list", "--format=%H"])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// `git stash push -m MESSAGE`; the new stash's commit, None when git found nothing
    /// it could stash (e.g. only a submodule's content is modified).
    pub fn stash_push(&self, message: &str, untracked: bool) -> Result<Option<String>> {
        let top_before = self.commit_of("refs/stash")?;
        let mut args = vec!["stash", "push", "-m", message];
        if untracked {
            args.push("--include-untracked");
        }
        self.ok(&args)?;
        let top = self.commit_of("refs/stash")?;
        Ok(if top == top_before { None } else { top })
    }

    /// `stash@{n}` of a stash commit, if the stash still exists.
    pub fn stash_entry(&self, sha: &str) -> Result<Option<String>> {
        Ok(self
            .stash_shas()?
            .iter()
            .position(|s| s == sha)
            .map(|n| format!("stash@{{{n}}}")))
    }

    /// Pop our stash back exactly (index included), after HEAD was put back.
    pub fn stash_restore(&self, s: &Stash) -> Result<()> {
        let entry = self
            .stash_entry(&s.sha)?
            .ok_or_else(|| Error::internal(format!("stash {} vanished", s.sha)))?;
        self.ok(["stash", "pop", "--index", &entry])?;
        Ok(())
    }

    /// After a successful move: pop our stash. On failure (a conflict, or untracked
    /// files of the stash in the way) the tree is reset to the new commit — conflict
    /// markers in PHP files take the site down — and the stash stays.
    pub fn reapply(&self, ctx: &Ctx, stash: &Stash) -> Result<Reapply> {
        let entry = self
            .stash_entry(&stash.sha)?
            .ok_or_else(|| Error::internal(format!("stash {} vanished", stash.sha)))?;
        ctx.log(format!("re-applying local changes from {entry}"));
        let out = self.run(["stash", "pop", &entry])?;
        if out.success() {
            return Ok(Reapply::Applied);
        }
        let mut files: Vec<String> = self
            .ok(["diff", "--name-only", "--diff-filter=U"])?
            .lines()
            .map(str::to_string)
            .collect();
        // `X already exists, no checkout`: an untracked file of the stash is in the way.
        for line in out.combined().lines() {
            if let Some(p) = line.strip_suffix(" already exists, no checkout") {
                files.push(p.to_string());
            }
        }
        let message = classify(&format!("git stash pop {entry}"), &out).message;
        self.ok(["reset", "--hard", "--quiet", "HEAD"])?;
        Ok(Reapply::Failed { files, message })
    }
}
