//! What a move did, in the report's terms: old and new HEAD, changed files, migrations,
//! composer.lock, downgrade; and the finishing step shared by update and rollback (the
//! report, re-applying the stash).

use super::repo::{Git, State};
use super::short;
use super::stash::{Reapply, Stash};
use super::transaction::Move;
use crate::error::{Error, Result};
use crate::report::data::git::UpdateData;
use crate::report::{Ctx, Outcome};

/// The `old_*` fields.
pub fn set_old(d: &mut UpdateData, s: &State) {
    d.old_commit = s.head.clone();
    d.old_branch = s.branch.clone();
    d.old_describe = s.describe.clone();
    d.old_version = s.version.clone();
}

/// The data of a run that failed before changing anything.
pub fn unchanged(base: &UpdateData) -> serde_json::Value {
    let mut d = base.clone();
    d.changed = Some(false);
    serde_json::to_value(&d).unwrap_or_default()
}

/// Whether version `a` is lower than `b` (dotted numbers; None when either is not one).
pub fn version_lower(a: &str, b: &str) -> Option<bool> {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.split(['.', '-'])
            .take_while(|p| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty())
            .map(|p| p.parse().ok())
            .collect()
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some(a < b)
}

impl Git {
    /// `git diff --name-status --no-renames a b`: (status letter, path) per changed file.
    fn diff_status(&self, a: &str, b: &str) -> Result<Vec<(char, String)>> {
        Ok(self
            .ok(["diff", "--name-status", "--no-renames", a, b, "--"])?
            .lines()
            .filter_map(|l| {
                let (st, path) = l.split_once('\t')?;
                Some((st.chars().next()?, path.to_string()))
            })
            .collect())
    }

    /// Whether going from `old` to `new` goes back: `new` is an ancestor of `old`, or its
    /// version is lower.
    pub fn is_downgrade(
        &self,
        old: &State,
        new_commit: &str,
        new_version: Option<&str>,
    ) -> Result<bool> {
        if new_commit == old.head {
            return Ok(false);
        }
        if let (Some(o), Some(n)) = (old.version.as_deref(), new_version) {
            if let Some(lower) = version_lower(n, o) {
                if lower {
                    return Ok(true);
                }
            }
        }
        self.is_ancestor(new_commit, &old.head)
    }

    /// The `new_*` fields and what changed between `before` and `after`.
    pub fn fill_report(&self, d: &mut UpdateData, before: &State, after: &State) -> Result<()> {
        set_old(d, before);
        d.new_commit = Some(after.head.clone());
        d.new_branch = after.branch.clone();
        d.new_describe = after.describe.clone();
        d.new_version = after.version.clone();
        d.detached = after.branch.is_none();
        d.downgrade = self.is_downgrade(before, &after.head, after.version.as_deref())?;
        // One diff for the three lists (paths quoted as `--name-only` quotes them).
        let diff = self.diff_status(&before.head, &after.head)?;
        let migration = |p: &str| {
            let p = p.strip_prefix('"').unwrap_or(p);
            p == "database/migrations" || p.starts_with("database/migrations/")
        };
        let with = |st: char| {
            diff.iter()
                .filter(|(s, p)| *s == st && migration(p))
                .map(|(_, p)| p.clone())
                .collect::<Vec<_>>()
        };
        d.migrations_added = with('A');
        d.migrations_removed = with('D');
        d.changed_files = diff.into_iter().map(|(_, p)| p).collect();
        d.composer_lock_changed = d.changed_files.iter().any(|f| f == "composer.lock");
        Ok(())
    }
}

/// After a move from `before` by `moved` (which apply_move checked): the report, the
/// optional re-apply of the stash.
pub fn finish(
    ctx: &Ctx,
    g: &Git,
    (before, moved): (&State, &Move),
    stash: Option<Stash>,
    reapply: bool,
    base: UpdateData,
    verb: &str,
) -> Result<Outcome> {
    let mut d = base;
    // The move is done: a failure from here on must still say where the stash is.
    d.stash = stash.as_ref().map(|s| s.info(false, true));
    d.changed = Some(true);
    let fail = |e: Error, d: &UpdateData| e.with_data(serde_json::to_value(d).unwrap_or_default());
    // apply_move checked that HEAD and the branch are the move's (it fails otherwise).
    let after = match g.state_at(moved.commit.clone(), moved.branch.clone()) {
        Ok(a) => a,
        Err(e) => return Err(fail(e, &d)),
    };
    if let Err(e) = g.fill_report(&mut d, before, &after) {
        return Err(fail(e, &d));
    }
    d.changed = None;
    let mut failed = None;
    if let (Some(s), true) = (&stash, reapply) {
        match g.reapply(ctx, s) {
            Ok(Reapply::Applied) => d.stash = Some(s.info(true, false)),
            Ok(Reapply::Failed { files, message }) => {
                d.conflicts = files;
                failed = Some(message);
            }
            Err(e) => {
                d.changed = Some(true);
                return Err(fail(e, &d));
            }
        }
    }
    let n = d.changed_files.len();
    let migs = d.migrations_added.len();
    let mut msg = format!(
        "{verb} {} → {} ({} → {}), version {} → {}: {n} files changed, {migs} migrations added{}",
        before.describe.as_deref().unwrap_or(short(&before.head)),
        after.describe.as_deref().unwrap_or(short(&after.head)),
        short(&before.head),
        short(&after.head),
        before.version.as_deref().unwrap_or("unknown"),
        after.version.as_deref().unwrap_or("unknown"),
        if d.composer_lock_changed {
            ", composer.lock changed"
        } else {
            ""
        }
    );
    if let Some(s) = &stash {
        if reapply && failed.is_none() {
            msg.push_str("; local changes re-applied");
        } else {
            msg.push_str(&format!("; local changes kept in stash {}", short(&s.sha)));
        }
    }
    if let (Some(why), Some(s)) = (failed, &stash) {
        d.changed = Some(true);
        let what = if d.conflicts.is_empty() {
            format!("re-applying them failed ({why})")
        } else {
            format!("re-applying them conflicts in {}", d.conflicts.join(", "))
        };
        return Err(Error::step(format!("{msg}, but {what}"))
            .with_hint(format!(
                "the code is at the new commit and the tree is clean; your local edits are still \
                 in stash {} — port them by hand (`git stash show -p {}`; untracked files in the \
                 way must be moved aside before `git stash pop`), or drop them",
                s.sha, s.sha
            ))
            .with_data(serde_json::to_value(&d).unwrap_or_default()));
    }
    Ok(Outcome::typed(true, msg, &d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_lower("7.0.0", "7.1.0"), Some(true));
        assert_eq!(version_lower("7.10.0", "7.9.1"), Some(false));
        assert_eq!(version_lower("7.1.0", "7.1.0"), Some(false));
        assert_eq!(version_lower("x", "7.1.0"), None);
    }
}
