//! Moving HEAD as one transaction: stash, run the steps, check; on failure put HEAD, the
//! branch ref, the stashed edits and the untracked files back exactly as they were, and
//! say whether that worked by comparing `git status` before and after, byte for byte.

use super::changes::Changes;
use super::repo::{Git, State};
use super::stash::Stash;
use crate::error::{Error, Result};
use crate::report::data::git::UpdateData;
use crate::report::Ctx;
use std::collections::HashSet;

/// Where a move goes, decided before anything changes.
pub struct Move {
    /// Branch to end on (None: detached).
    pub branch: Option<String>,
    /// Commit to end on.
    pub commit: String,
    /// How to get there, run in order after the stash.
    pub steps: Vec<Vec<String>>,
    /// With `branch`: that branch's commit before the move (None: it did not exist), as
    /// the decision read it (nothing moves it between the decision and the move).
    pub branch_was: Option<String>,
}

/// The branch ref we may move, and its commit before (None: it did not exist).
type BranchBefore = Option<(String, Option<String>)>;

/// A failed run's data as the error's `data`.
pub fn fail_data(
    base: &UpdateData,
    stash: Option<StashState<'_>>,
    restored: bool,
) -> serde_json::Value {
    let mut d = base.clone();
    d.stash = stash.map(|(s, reapplied, kept)| s.info(reapplied, kept));
    d.restored = Some(restored);
    d.changed = Some(!restored);
    serde_json::to_value(&d).unwrap_or_default()
}

/// A stash with its `reapplied` and `kept` flags.
pub type StashState<'a> = (&'a Stash, bool, bool);

impl Git {
    /// Put HEAD, the branch refs, the untracked files and the stashed edits back.
    pub(super) fn restore(
        &self,
        before: &State,
        moved: &BranchBefore,
        stash: Option<&Stash>,
        untracked_kept: &HashSet<String>,
        target: &str,
    ) -> Result<()> {
        let back = match &before.branch {
            Some(b) => self.ok(["checkout", "--force", "-B", b, &before.head]),
            None => self.ok(["checkout", "--force", "--detach", &before.head]),
        };
        if let Err(e) = back {
            // A file git could not replace on the way out (immutable, read-only) still holds
            // the old bytes: HEAD being back is enough here; the final `git status`
            // comparison judges the files.
            let now = self.state()?;
            if now.head != before.head || now.branch != before.branch {
                return Err(e);
            }
            self.run(["update-index", "-q", "--refresh"])?;
        }
        if let Some((b, old)) = moved {
            if before.branch.as_deref() != Some(b.as_str()) {
                let r = format!("refs/heads/{b}");
                match old {
                    Some(sha) => self.ok(["update-ref", &r, sha])?,
                    None => self.ok(["update-ref", "-d", &r])?,
                };
            }
        }
        // Files the half-done checkout wrote that HEAD does not track: a new release's
        // migration left behind would be run by the next `artisan migrate`.
        let added = self.tree_paths(target)?;
        let strays: Vec<String> = self
            .changes()?
            .untracked
            .into_iter()
            .filter(|u| !untracked_kept.contains(u) && added.contains(u))
            .collect();
        if !strays.is_empty() {
            let mut args = vec!["clean".to_string(), "-f".into(), "-q".into(), "--".into()];
            args.extend(strays.iter().map(|p| format!(":(literal){p}")));
            self.ok(&args)?;
        }
        if let Some(s) = stash {
            self.stash_restore(s)?;
        }
        Ok(())
    }

    /// Stash, run the move's steps, check the result; on failure put everything back.
    /// Returns the stash made (if any). `base` is the report's data so far; `changes` the
    /// work tree's local changes as the caller's checks saw them (nothing wrote since).
    pub fn apply_move(
        &self,
        ctx: &Ctx,
        before: &State,
        include_untracked: bool,
        mv: &Move,
        base: &UpdateData,
        changes: &Changes,
    ) -> Result<Option<Stash>> {
        let moved: BranchBefore = mv
            .branch
            .as_ref()
            .map(|b| (b.clone(), mv.branch_was.clone()));
        let stash = if changes.needs_stash(include_untracked) {
            let message = format!("dfkit {}", crate::report::now_rfc3339());
            let files = changes.stash_files(include_untracked);
            ctx.log(format!("stashing local changes: {}", files.join(", ")));
            let sha = self.stash_push(&message, include_untracked).map_err(|e| {
                e.context("stashing local changes")
                    .with_data(fail_data(base, None, true))
            })?;
            sha.map(|sha| Stash {
                sha,
                message,
                files,
                include_untracked,
            })
        } else {
            None
        };
        // The untracked files a failed move must keep (the stash may have taken some).
        let untracked_kept: HashSet<String> = if stash.is_some() {
            self.changes()?.untracked.into_iter().collect()
        } else {
            changes.untracked.iter().cloned().collect()
        };
        // From here until the move is done or undone, a kill leaves a record the next
        // update or rollback finishes with (see interrupted).
        if let Err(e) = self.mark_move(before, mv, stash.as_ref(), &untracked_kept) {
            // Nothing moved: the stash goes back.
            let popped = stash.as_ref().map(|s| (s, self.stash_restore(s).is_ok()));
            let st = popped.map(|(s, ok)| (s, ok, !ok));
            let restored = popped.is_none_or(|(_, ok)| ok);
            return Err(e
                .context("recording the move before it starts")
                .with_data(fail_data(base, st, restored)));
        }
        let mut result = Ok(());
        // git's `error:` lines of steps that exited 0 (a file it could not replace).
        let mut errors = Vec::new();
        for step in &mv.steps {
            ctx.log(format!("git {}", step.join(" ")));
            match self.run(step) {
                Ok(out) if out.success() => errors.extend(
                    out.stderr_str()
                        .lines()
                        .filter(|l| l.starts_with("error: "))
                        .map(str::to_string),
                ),
                Ok(out) => {
                    let mut e = super::classify::classify(&format!("git {}", step.join(" ")), &out);
                    e.chain.push(self.cmd(step).display());
                    result = Err(e);
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.check_moved(mv, &errors);
        }
        let Err(mut e) = result else {
            if let Err(u) = self.unmark_move() {
                // HEAD is at the target: the next run sees that and drops the record.
                ctx.warn(format!(
                    "the move is done, but its record stays: {}",
                    u.message
                ));
            }
            return Ok(stash);
        };
        ctx.log("putting HEAD, branch and local changes back as they were");
        let restored = self
            .restore(before, &moved, stash.as_ref(), &untracked_kept, &mv.commit)
            .and_then(|()| {
                if let Err(u) = self.unmark_move() {
                    // HEAD is back and the stash popped: the next run sees the stash
                    // gone (or, with none, forces the same commit out again) and drops it.
                    ctx.warn(format!(
                        "the move is undone, but its record stays: {}",
                        u.message
                    ));
                }
                let now = self.changes()?.listing;
                if now == changes.listing {
                    Ok(())
                } else {
                    Err(Error::step(format!(
                        "`git status` differs from before: was [{}], is [{}]",
                        show_status(&changes.listing),
                        show_status(&now)
                    )))
                }
            });
        match restored {
            Ok(()) => {
                let st = stash.as_ref().map(|s| (s, true, false));
                e = e
                    .context("failed and undone (HEAD, branch and local changes are as before)")
                    .with_data(fail_data(base, st, true));
            }
            Err(re) => {
                let kept = stash
                    .as_ref()
                    .and_then(|s| self.stash_entry(&s.sha).ok().flatten())
                    .is_some();
                let where_ = stash
                    .as_ref()
                    .filter(|_| kept)
                    .map(|s| {
                        format!(
                            "; your local changes are in stash {} (`git stash apply --index {}`)",
                            s.sha, s.sha
                        )
                    })
                    .unwrap_or_default();
                e.hint = Some(format!(
                    "putting things back failed too ({}): HEAD was {} on {}{where_}",
                    re.message,
                    before.head,
                    before.branch.as_deref().unwrap_or("(detached)"),
                ));
                let st = stash.as_ref().map(|s| (s, !kept, kept));
                e = e.with_data(fail_data(base, st, false));
            }
        }
        Err(e)
    }
}

impl Git {
    /// HEAD, branch and the files are the target's: `git checkout` exits 0 even when it
    /// could not write a file (`unable to unlink old …`), so look.
    /// A tracked file that differs from the target after the move counts only when git
    /// said it could not write it: other differences (end-of-line renormalization) are
    /// git's usual behaviour, not a failed write.
    fn check_moved(&self, mv: &Move, errors: &[String]) -> Result<()> {
        let (head, branch) = self.head_and_branch()?;
        if head != mv.commit || branch != mv.branch {
            return Err(Error::internal(format!(
                "after the update HEAD is {head} on {branch:?}, expected {} on {:?}",
                mv.commit, mv.branch
            )));
        }
        if errors.is_empty() {
            // Only a file git said it could not write counts (below).
            return Ok(());
        }
        let c = self.changes()?;
        let unwritten: Vec<&String> = c
            .tracked
            .iter()
            .filter(|p| !c.submodules.contains(p))
            .filter(|p| {
                errors
                    .iter()
                    .any(|l| l.contains(&format!("'{p}'")) || l.contains(&format!(" {p}:")))
            })
            .collect();
        if !unwritten.is_empty() {
            let list: Vec<&str> = unwritten.iter().map(|s| s.as_str()).collect();
            return Err(Error::step(format!(
                "git could not write {} (the checkout reported success, but the files differ \
                 from {}): {}",
                list.join(", "),
                super::short(&mv.commit),
                errors.join(" ")
            ))
            .with_hint(format!(
                "check why these files cannot be replaced (`ls -l`, `lsattr` for the immutable \
                 flag, a read-only mount) as the user git runs as ({}), then run again",
                self.run_as()
            )));
        }
        Ok(())
    }
}

fn show_status(raw: &[u8]) -> String {
    raw.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}
