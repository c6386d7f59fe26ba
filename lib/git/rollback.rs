//! `df-git-update rollback --to COMMIT`: back to a recorded commit, local edits stashed.

use super::checks::{
    in_the_way_error, keep_left, left_commits, left_commits_error, refuse_index_lock,
    refuse_unsafe_state, untracked_in_the_way,
};
use super::repo::{check_not_option, Git};
use super::summary::{finish, set_old, unchanged};
use super::transaction::Move;
use super::{short, sv, RollbackOpts};
use crate::error::{Error, Result};
use crate::report::data::git::UpdateData;
use crate::report::{Ctx, Outcome, PlanItem};
use std::path::Path;

/// `df-git-update rollback --to COMMIT`.
pub fn rollback(ctx: &Ctx, root: &Path, o: &RollbackOpts) -> Result<Outcome> {
    check_not_option("--to", &o.to)?;
    let g = Git::open(root, o.timeout)?;
    // A git checkout is not necessarily an install (etckeeper keeps /etc in git).
    crate::install::Install::at(g.root()).require_markers()?;
    if let Some(b) = &o.branch {
        g.check_branch_name("--branch", b)?;
    }
    if let Some(w) = g.repair_interrupted(ctx)? {
        ctx.warn(w);
    }
    let before = g.state()?;
    let changes = g.changes()?;
    refuse_unsafe_state(&g, &changes)?;
    refuse_index_lock(&g)?;
    let commit = g.commit_of(&o.to)?.ok_or_else(|| {
        Error::missing(format!("no commit `{}` in the repository", o.to))
            .with_hint("give a commit id recorded by an earlier update (data.old_commit)")
    })?;
    let branch = if o.detach {
        None
    } else {
        o.branch.clone().or_else(|| before.branch.clone())
    };
    let steps = match &branch {
        // -B keeps the branch name and refuses to overwrite untracked files (unlike reset --hard).
        Some(b) => vec![sv(&["checkout", "-B", b, &commit])],
        None => vec![sv(&["checkout", "--detach", &commit])],
    };
    let mut base = UpdateData {
        root: g.root().display().to_string(),
        to: Some(o.to.clone()),
        run_as: Some(g.run_as()),
        submodules_dirty: changes.submodules_dirty.clone(),
        ..Default::default()
    };
    set_old(&mut base, &before);
    let noop = commit == before.head && branch == before.branch;
    if noop {
        g.fill_report(&mut base, &before, &before)?;
        return Ok(Outcome::typed(
            false,
            format!("already at {}", short(&commit)),
            &base,
        ));
    }
    // The checks the move would fail on, before anything changes (dry run too).
    // The real run finds untracked files in the way through git's refusal after the stash
    // (and undoes the stash); the dry run must predict it.
    let in_the_way = if ctx.dry_run() {
        untracked_in_the_way(&g, &changes, o.include_untracked, &commit)?
    } else {
        Vec::new()
    };
    if !in_the_way.is_empty() {
        return Err(in_the_way_error(&in_the_way, &commit).with_data(unchanged(&base)));
    }
    let mut tips = vec![before.head.clone()];
    let branch_was = match &branch {
        Some(b) => g.commit_of(&format!("refs/heads/{b}"))?,
        None => None,
    };
    if let Some(t) = &branch_was {
        if *t != before.head {
            tips.push(t.clone());
        }
    }
    let left = left_commits(&g, &tips, &commit, branch.as_deref())?;
    if !left.is_empty() && !o.leave_local_commits {
        return Err(left_commits_error(&left).with_data(unchanged(&base)));
    }
    base.left_commits = left;
    let mv = Move {
        branch,
        commit,
        steps,
        branch_was,
    };
    if ctx.dry_run() {
        let mut plan = Vec::new();
        if !base.left_commits.is_empty() {
            plan.push(PlanItem::new(
                "keep",
                format!(
                    "keep {} local commit(s) on refs/dfkit/left/<time>-…",
                    base.left_commits.len()
                ),
            ));
        }
        let stash = changes.needs_stash(o.include_untracked);
        if stash {
            plan.push(PlanItem::run(
                g.cmd(sv(&["stash", "push", "-m", "dfkit <time>"]))
                    .display(),
                "stash the local changes",
            ));
        }
        plan.extend(
            mv.steps
                .iter()
                .map(|s| PlanItem::run(g.cmd(s).display(), "move to the commit")),
        );
        base.new_commit = Some(mv.commit.clone());
        base.new_branch = mv.branch.clone();
        base.detached = mv.branch.is_none();
        base.new_version = g.version_at(&mv.commit)?;
        base.downgrade = g.is_downgrade(&before, &mv.commit, base.new_version.as_deref())?;
        base.would_stash = stash.then(|| changes.stash_files(o.include_untracked));
        base.plan = Some(plan);
        let msg = format!(
            "would roll back {} → {}",
            short(&before.head),
            short(&mv.commit)
        );
        return Ok(Outcome::typed(true, msg, &base));
    }
    if !base.left_commits.is_empty() {
        base.left_commits_refs = keep_left(&g, &tips, &mv.commit, mv.branch.as_deref())?;
        ctx.warn(format!(
            "{} local commit(s) are on no branch after the rollback; kept on {}",
            base.left_commits.len(),
            base.left_commits_refs.join(", ")
        ));
    }
    let stash = g.apply_move(ctx, &before, o.include_untracked, &mv, &base, &changes)?;
    finish(
        ctx,
        &g,
        (&before, &mv),
        stash,
        o.reapply_stash,
        base,
        "rolled back",
    )
}
