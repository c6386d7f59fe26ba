//! df-git-update — update a DreamFactory git checkout without losing local edits.
use clap::{Parser, Subcommand};
use dfkit::git::{RollbackOpts, StatusOpts, Target, UpdateOpts};
use dfkit::report::Common;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # What would change? (asks the remote with ls-remote; changes nothing)
  df-git-update update --dry-run --root /opt/dreamfactory | jq .data.plan

  # Stash local edits, fetch tags, fast-forward master, report what downstream needs
  df-git-update update --root /opt/dreamfactory \\
    | jq '{commit: .data.new_commit, composer: .data.composer_lock_changed, migrations: .data.migrations_added}'

  # Go to a release tag (detached), bringing local edits back afterwards
  df-git-update update --ref 7.7.0 --reapply-stash

  # Undo: back to the commit an earlier run recorded
  old=$(df-git-update update | jq -r .data.old_commit)
  df-git-update rollback --to \"$old\"

  # Fetch ahead (e.g. before a maintenance window), then move without the network
  df-git-update fetch --branch master | jq '{commit: .data.commit, composer: .data.composer_lock_changed}'
  df-git-update update --branch master --no-fetch

  # The next release checked out in a new directory (the install is untouched)
  df-git-update export --branch master --commit \"$(df-git-update fetch | jq -r .data.commit)\" --into /opt/.df-next

  # How far behind origin is the install?
  df-git-update status --fetch | jq '{version: .data.version, behind: .data.behind}'

Run as root, git runs as the owner of the checkout (its hooks and config are that user's
code, never run as root).

Exit codes: 0 ok; 1 a git step failed or was refused before anything changed (origin was
force-pushed: not a fast-forward; untracked files in the way; local commits would be left
on no branch; a stash re-apply failed); 64 usage (not a configured remote, a name starting
with `-`, an empty --to); 66 not a git checkout / no such branch, tag or commit;
69 remote unreachable or git missing; 75 a git lock file exists (index.lock);
78 git refuses the repository (ownership).";

#[derive(Parser, Debug)]
#[command(
    name = "df-git-update",
    version,
    about = "Update a DreamFactory git checkout: stash local edits, fetch tags, fast-forward \
             or check out a tag; put everything back on failure",
    after_help = EXAMPLES
)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// How long any single git command may take, fetches included (seconds, or 30s, 15m)
    #[arg(long, global = true, default_value = "900", value_parser = dfkit::duration::parse, value_name = "DURATION")]
    timeout: Duration,
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Stash local edits, fetch, then fast-forward --branch (default master) or check out --ref
    Update {
        /// Branch of the remote to fast-forward to
        #[arg(long, conflicts_with = "ref_", value_name = "NAME")]
        branch: Option<String>,
        /// A release tag (refs/tags/NAME) or a commit id, checked out detached
        #[arg(long = "ref", id = "ref_", value_name = "TAG")]
        ref_: Option<String>,
        /// The remote to fetch from
        #[arg(long, default_value = "origin", value_name = "NAME")]
        remote: String,
        /// Use what an earlier `fetch` brought: no network inside a maintenance window
        #[arg(long)]
        no_fetch: bool,
        #[command(flatten)]
        local: Local,
    },
    /// Fetch --branch (default master) or --ref into the local refs; report its commit and
    /// whether composer.lock differs from HEAD's (the work tree and HEAD are untouched)
    Fetch {
        /// Branch of the remote to fetch
        #[arg(long, conflicts_with = "ref_", value_name = "NAME")]
        branch: Option<String>,
        /// A release tag or a commit id
        #[arg(long = "ref", id = "ref_", value_name = "TAG")]
        ref_: Option<String>,
        /// The remote to fetch from
        #[arg(long, default_value = "origin", value_name = "NAME")]
        remote: String,
    },
    /// Write one commit's tracked files into a new directory, as a checkout would (the work
    /// tree, its index and HEAD are untouched)
    Export {
        /// The commit (or tag) to write out
        #[arg(long, value_name = "COMMIT")]
        commit: String,
        /// The directory to create (must not exist; its parent must)
        #[arg(long, value_name = "DIR")]
        into: std::path::PathBuf,
        /// Check the commit out as this branch (as `update --branch` leaves the install);
        /// without it, HEAD is detached
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
    },
    /// Return to a recorded commit (local edits are stashed first, never discarded)
    Rollback {
        /// The commit to return to, e.g. data.old_commit of an update
        #[arg(long, value_name = "COMMIT")]
        to: String,
        /// Branch to leave at COMMIT [default: the current branch; detached stays detached]
        #[arg(long, conflicts_with = "detach", value_name = "NAME")]
        branch: Option<String>,
        /// Leave HEAD detached at COMMIT
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        local: Local,
    },
    /// Branch, HEAD, version, local changes and commits behind the remote (read-only)
    Status {
        /// The remote to compare with
        #[arg(long, default_value = "origin", value_name = "NAME")]
        remote: String,
        /// Branch to compare with [default: the current branch, else master]
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// `git fetch` first (updates remote-tracking refs only)
        #[arg(long)]
        fetch: bool,
    },
}

/// What becomes of local edits and commits, for update and rollback alike.
#[derive(clap::Args, Debug)]
struct Local {
    /// Stash untracked files too (never ignored ones)
    #[arg(long)]
    include_untracked: bool,
    /// `git stash pop` the stashed edits after a successful run
    #[arg(long)]
    reapply_stash: bool,
    /// Go ahead even when local commits would be left on no branch (e.g. a hotfix
    /// committed on a detached HEAD); they are kept on refs/dfkit/left/… and reported
    #[arg(long)]
    leave_local_commits: bool,
}

dfkit::has_common!(Args);

/// `--ref TAG`, else `--branch NAME` (default master).
fn target(branch: Option<String>, ref_: Option<String>) -> Target {
    match ref_ {
        Some(r) => Target::Ref(r),
        None => Target::Branch(branch.unwrap_or_else(|| "master".into())),
    }
}

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-git-update", |ctx, args| {
        let root = dfkit::install::resolve_root(args.common.root.as_deref());
        let timeout = args.timeout;
        match args.cmd {
            Sub::Update {
                branch,
                ref_,
                remote,
                no_fetch,
                local,
            } => {
                let target = target(branch, ref_);
                let o = UpdateOpts {
                    target,
                    remote,
                    include_untracked: local.include_untracked,
                    reapply_stash: local.reapply_stash,
                    leave_local_commits: local.leave_local_commits,
                    no_fetch,
                    timeout,
                };
                dfkit::git::update(ctx, &root, &o)
            }
            Sub::Fetch {
                branch,
                ref_,
                remote,
            } => {
                let target = target(branch, ref_);
                let o = UpdateOpts {
                    target,
                    remote,
                    include_untracked: false,
                    reapply_stash: false,
                    leave_local_commits: false,
                    no_fetch: false,
                    timeout,
                };
                dfkit::git::fetch(ctx, &root, &o)
            }
            Sub::Export {
                commit,
                into,
                branch,
            } => dfkit::git::export(ctx, &root, &commit, branch.as_deref(), &into, timeout),
            Sub::Rollback {
                to,
                branch,
                detach,
                local,
            } => {
                let o = RollbackOpts {
                    to,
                    branch,
                    detach,
                    include_untracked: local.include_untracked,
                    reapply_stash: local.reapply_stash,
                    leave_local_commits: local.leave_local_commits,
                    timeout,
                };
                dfkit::git::rollback(ctx, &root, &o)
            }
            Sub::Status {
                remote,
                branch,
                fetch,
            } => {
                let o = StatusOpts {
                    remote,
                    branch,
                    fetch,
                    timeout,
                };
                dfkit::git::status(ctx, &root, &o)
            }
        }
    })
}
