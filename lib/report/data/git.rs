//! `data` of df-git-update's reports. See [`crate::report::data`].
//!
//! * `update` and `rollback` report an [`UpdateData`] (rollback leaves `remote`, `mode`
//!   and `target` out and sets `to`);
//! * `status` reports a [`StatusData`];
//! * `fetch` reports a [`FetchData`], `export` an [`ExportData`].
//!
//! A failed run still reports what it had gathered (`old_*`, `stash`, `restored`, …):
//! every field has a default, so `Report<UpdateData>` deserializes failures too.

use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stash a run made of the local edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StashInfo {
    /// The stash commit's id: stays valid after the stash is popped or dropped (reflog).
    #[serde(rename = "ref")]
    pub sha: String,
    /// The stash message, `dfkit <RFC 3339 time>`.
    pub message: String,
    /// Paths stashed.
    pub files: Vec<String>,
    /// Untracked files were stashed too (`--include-untracked`).
    pub include_untracked: bool,
    /// The stash was popped back into the tree.
    pub reapplied: bool,
    /// The stash is still in `git stash list`.
    pub kept: bool,
}

/// A commit named in a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CommitInfo {
    /// Full commit id.
    pub commit: String,
    /// Its subject line.
    pub subject: String,
}

/// `data` of `update` and `rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpdateData {
    /// The work tree (canonical path).
    pub root: String,
    /// update: the remote fetched from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// update: `branch` or `ref`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// update: the branch or tag asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// rollback: the revision asked for (`--to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The user git ran as (the owner of the work tree when run as root).
    pub run_as: Option<String>,
    /// HEAD's commit before the run.
    pub old_commit: String,
    /// Branch checked out before (null: detached).
    pub old_branch: Option<String>,
    /// `git describe --tags --always` of `old_commit`.
    pub old_describe: Option<String>,
    /// DreamFactory's version in `old_commit`'s config/app.php.
    pub old_version: Option<String>,
    /// HEAD's commit afterwards (with `--dry-run`: the commit it would be). Null when the
    /// run failed before moving.
    pub new_commit: Option<String>,
    /// Branch checked out afterwards (null: detached).
    pub new_branch: Option<String>,
    /// `git describe --tags --always` of `new_commit`.
    pub new_describe: Option<String>,
    /// DreamFactory's version in `new_commit`'s config/app.php.
    pub new_version: Option<String>,
    /// `require.php` of `new_commit`'s composer.json (the PHP the target release needs);
    /// set by `update --dry-run`, which df-upgrade's preflight checks against the
    /// installed PHP before anything changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_require_php: Option<String>,
    /// HEAD is detached afterwards.
    pub detached: bool,
    /// `new_commit` is older than `old_commit` (an ancestor of it, or a lower version).
    pub downgrade: bool,
    /// `git diff --name-only old new`.
    pub changed_files: Vec<String>,
    /// composer.lock differs between old and new (→ composer install).
    pub composer_lock_changed: bool,
    /// Files added under database/migrations (→ migrate).
    pub migrations_added: Vec<String>,
    /// Files removed under database/migrations (a rollback).
    pub migrations_removed: Vec<String>,
    /// The stash this run made, null when none.
    pub stash: Option<StashInfo>,
    /// Only when re-applying the stash failed: the files that conflicted, or the
    /// untracked files that were in the way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Submodules with modified or untracked content: git cannot stash those, so they are
    /// left as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub submodules_dirty: Vec<String>,
    /// Local commits that the move took off every branch (only with
    /// `--leave-local-commits`; without it the run refuses).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_commits: Vec<CommitInfo>,
    /// The refs (`refs/dfkit/left/…`) that keep `left_commits` from garbage collection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_commits_refs: Vec<String>,
    /// Failure only: HEAD, branch, local edits and untracked files are as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<bool>,
    /// Failure only: whether the system was changed (lifted to the envelope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    /// `--dry-run` of update: the commit the remote's branch or tag points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_commit: Option<String>,
    /// `--dry-run`: the files a stash would take (null: no stash needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_stash: Option<Vec<String>>,
    /// `--dry-run`: the steps, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// Local modifications of the work tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LocalChanges {
    /// Modified, added, deleted or renamed tracked paths (submodules whose commit moved).
    pub tracked: Vec<String>,
    /// Untracked paths (not ignored ones).
    pub untracked: Vec<String>,
    /// Paths with unresolved merge conflicts.
    pub unmerged: Vec<String>,
    /// Submodules with modified or untracked content (not stashable).
    pub submodules: Vec<String>,
}

/// `data` of `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StatusData {
    /// The work tree.
    pub root: String,
    /// The user git ran as.
    pub run_as: Option<String>,
    /// Current branch (null: detached).
    pub branch: Option<String>,
    /// HEAD is detached.
    pub detached: bool,
    /// HEAD's commit.
    pub head: String,
    /// `git describe --tags --always` of HEAD.
    pub describe: Option<String>,
    /// Version in the work tree's config/app.php.
    pub version: Option<String>,
    /// Version in HEAD's config/app.php.
    pub committed_version: Option<String>,
    /// Local modifications.
    pub local_changes: LocalChanges,
    /// The remote compared with, e.g. `origin`.
    pub remote: String,
    /// The remote branch compared with, e.g. `origin/master`.
    pub upstream: String,
    /// The upstream's commit as last fetched (null: unknown — use `--fetch`).
    pub remote_commit: Option<String>,
    /// Commits HEAD lacks.
    pub behind: Option<u64>,
    /// Commits HEAD has over the upstream.
    pub ahead: Option<u64>,
    /// `--fetch` ran.
    pub fetched: bool,
    /// When the remote-tracking data was last fetched (RFC 3339 UTC, from FETCH_HEAD or
    /// the ref's log); null when unknown. Without `--fetch`, `behind`/`ahead` are as of then.
    pub last_fetch: Option<String>,
    /// `--dry-run`: the steps, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// `data` of `fetch`: the remote's target brought into the local refs; the work tree and
/// HEAD are untouched.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FetchData {
    /// The work tree (canonical path).
    pub root: String,
    /// The remote fetched from.
    pub remote: String,
    /// `branch` or `ref`.
    pub mode: String,
    /// The branch or tag asked for.
    pub target: String,
    /// HEAD (unchanged).
    pub head: String,
    /// The commit the target names after the fetch (empty in a dry run).
    pub commit: String,
    /// The target is another commit than HEAD: an `update` would move.
    pub moves: bool,
    /// composer.lock differs between HEAD and the target: `composer install` will have work.
    pub composer_lock_changed: bool,
    /// `--dry-run`: the steps, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// `data` of `export`: the tracked files of one commit written to a new directory, as a
/// checkout would write them, without touching the work tree, its index or HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ExportData {
    /// The work tree (canonical path).
    pub root: String,
    /// The full commit id exported.
    pub commit: String,
    /// The directory written (created by the run).
    pub into: String,
    /// Files written.
    pub files: u64,
    /// `--dry-run`: the steps, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("update", schemars::schema_for!(UpdateData)),
        ("rollback", schemars::schema_for!(UpdateData)),
        ("status", schemars::schema_for!(StatusData)),
        ("fetch", schemars::schema_for!(FetchData)),
        ("export", schemars::schema_for!(ExportData)),
    ]
}
