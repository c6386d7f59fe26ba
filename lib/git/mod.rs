//! df-git-update: bring a DreamFactory git checkout to a newer (or older) commit without
//! losing local edits, and report what downstream steps need to know.
//!
//! Every git call goes through [`Git::cmd`] (module [`repo`]):
//! * git runs AS THE OWNER of the work tree. Run as root in a tree owned by www-data, git
//!   runs as www-data with a private HOME: hooks, `core.fsmonitor`, filters, `core.sshCommand`
//!   and every other program the repository's config names are the owner's code and run
//!   with the owner's rights, never root's; and every file git writes (FETCH_HEAD, objects,
//!   refs) belongs to the owner. git's own ownership check (CVE-2022-24765) stays on: no
//!   `safe.directory` exception is ever passed.
//! * `GIT_TERMINAL_PROMPT=0` and ssh in `BatchMode`: a missing credential fails instead of
//!   hanging on a prompt nobody sees.
//! * `LC_ALL=C`: git's messages are matched to give hints.
//! * a timeout (`--timeout`).
//! * user-supplied names reach git only after validation (a configured remote, a valid
//!   branch name, no leading `-`), and options end with `--end-of-options` / `--`.
//!
//! Safety order of `update` and `rollback`: fetch first (touches no file of the work tree),
//! then every check ([`checks`]: divergence, untracked files in the way, local commits that
//! would be left off every branch, a stale index.lock) before anything changes — the dry run
//! runs the same checks. Then stash, check out, fast-forward. A failure after the stash puts
//! HEAD, the branch, the stashed edits and the untracked files back exactly as they were
//! ([`transaction`]); if even that fails the report says where the stash is.

pub mod changes;
pub mod checks;
pub mod classify;
pub mod export;
pub mod fetch;
pub mod interrupted;
pub mod repo;
pub mod rollback;
pub mod stash;
pub mod status;
pub mod summary;
pub mod transaction;
pub mod update;

pub use changes::{parse_status, Changes};
pub use classify::{classify, redact_urls};
pub use export::export;
pub use fetch::fetch;
pub use repo::{Git, State};
pub use rollback::rollback;
pub use status::status;
pub use update::update;

use std::time::Duration;

/// Where `update` goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A branch of the remote, fast-forwarded (`--branch`, default master).
    Branch(String),
    /// A tag (looked up as `refs/tags/X`, since a branch and a tag may share a name) or a
    /// commit id; checked out detached (`--ref`).
    Ref(String),
}

#[derive(Debug, Clone)]
pub struct UpdateOpts {
    pub target: Target,
    pub remote: String,
    pub include_untracked: bool,
    pub reapply_stash: bool,
    /// Go ahead when the move takes local commits off every branch (they are kept on a
    /// `refs/dfkit/left/…` ref and reported).
    pub leave_local_commits: bool,
    /// Use what an earlier `fetch` brought instead of fetching again (`--no-fetch`): the
    /// checkout inside a maintenance window waits for no network.
    pub no_fetch: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RollbackOpts {
    /// The commit to return to (any revision git understands).
    pub to: String,
    /// Branch to leave checked out at `to`; None: the current one (detached stays detached).
    pub branch: Option<String>,
    pub detach: bool,
    pub include_untracked: bool,
    pub reapply_stash: bool,
    /// As [`UpdateOpts::leave_local_commits`].
    pub leave_local_commits: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StatusOpts {
    pub remote: String,
    /// Branch to compare with; None: the current branch, else master.
    pub branch: Option<String>,
    pub fetch: bool,
    pub timeout: Duration,
}

/// The first 12 characters of a commit id.
pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

pub(crate) fn sv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}
