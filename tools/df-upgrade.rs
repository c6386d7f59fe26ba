//! df-upgrade — the guide's in-place minor upgrade as one command, with lock, journal and
//! automatic rollback.
use clap::{Parser, Subcommand};
use dfkit::report::Common;
use dfkit::upgrade::{self, Options, Step};
use dfkit::wrapper::{RestartFlags, RunFlags};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Upgrade /opt/dreamfactory to origin's master, web files owned by www-data
  df-upgrade --root /opt/dreamfactory --user www-data --group www-data

  # To a release tag, with the backup set where you want it, watching the steps live
  df-upgrade --ref 7.7.0 --into /var/backups/dreamfactory/pre-7.7.0 --events /tmp/up.jsonl
  tail -f /tmp/up.jsonl | jq -c '{event, step, ok}'

  # What would run, each tool's own plan under its step; nothing changes
  df-upgrade --dry-run | jq '.data.steps[] | {name, plan: .report.data.plan}'

  # Web nodes sharing one database: only one node migrates
  df-upgrade --no-migrate            # on every node but one

  # After a run was killed (the next run refuses with exit 75 and says so)
  df-upgrade recover --root /opt/dreamfactory

Steps, in order: lock, preflight, backup (.env + tree snapshot), fetch, stage (composer
install in a checkout of the target beside the install, while the site serves), down,
dump, git, composer (the staged vendor/ swapped in), migrate, clear, perms, up, restart,
verify, manifest, prune. --skip takes: backup, stage, dump, composer, migrate, clear,
perms, restart, verify.

A failure after `down` rolls back: code to the old commit, vendor/ from the snapshot, the
database from the dump (once migrate had started), .env, then clear, perms, up, restart.
The site is never left in maintenance mode.

Exit codes: 0 upgraded, or nothing to do; 1 a step failed (rolled back: see data.rollback);
64 usage; 65 bad .env; 66 no install; 69 a tool, program or the database is unavailable;
73 no room for the backup set; 75 another run holds the lock, or an interrupted run needs
`df-upgrade recover`; 77 permission denied.";

#[derive(Parser, Debug)]
#[command(
    name = "df-upgrade",
    version,
    about = "Upgrade a DreamFactory install in place: backup, update, migrate, verify; roll back on failure",
    after_help = EXAMPLES
)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Branch to upgrade to [default: master]
    #[arg(long, conflicts_with = "ref_", value_name = "NAME", global = true)]
    branch: Option<String>,
    /// Release tag (or commit) to upgrade to
    #[arg(long = "ref", id = "ref_", value_name = "TAG", global = true)]
    ref_: Option<String>,
    /// The backup set [default: /var/backups/dreamfactory/<UTC stamp>]
    #[arg(long, value_name = "SET", global = true)]
    into: Option<PathBuf>,
    /// Leave out a step (repeatable): backup, stage, dump, composer, migrate, clear, perms, restart, verify
    #[arg(long, value_name = "STEP", value_parser = Step::parse_skippable, global = true)]
    skip: Vec<Step>,
    /// This node shares its database with one that migrates: skip migrate and verify's migration check
    #[arg(long, global = true)]
    no_migrate: bool,
    /// On failure, leave the install as the failing step left it (recover later)
    #[arg(long, global = true)]
    no_rollback: bool,
    /// Upgrade even when nothing seems to need it; run composer install always
    #[arg(long, global = true)]
    force: bool,
    /// Owner of storage/ and bootstrap/cache/ (passed to df-perms)
    #[arg(long, short = 'u', value_name = "USER", global = true)]
    user: Option<String>,
    /// Group of storage/ and bootstrap/cache/ (passed to df-perms)
    #[arg(long, short = 'g', value_name = "GROUP", global = true)]
    group: Option<String>,
    /// Mode of directories under storage/ and bootstrap/cache/ (passed to df-perms)
    #[arg(long, value_name = "MODE", default_value = "2775", global = true)]
    dir_mode: String,
    /// Mode of files there. Not the guide's 2775: git tracks the executable bit, so
    /// executable .gitignore files under storage/ would show as local changes and be
    /// stashed by every later update
    #[arg(long, value_name = "MODE", default_value = "0664", global = true)]
    file_mode: String,
    /// After success, delete complete sets older than the newest N beside this one (0 keeps all)
    #[arg(long, value_name = "N", default_value_t = 5, global = true)]
    keep: usize,
    #[command(flatten)]
    run: RunFlags,
    #[command(flatten)]
    restart: RestartFlags,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Put the install back as the set of an interrupted run recorded it, and take
    /// maintenance mode off
    Recover,
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-upgrade", |ctx, a| {
        let opts = Options {
            root: dfkit::install::resolve_root(a.common.root.as_deref()),
            into: a.into,
            branch: a.branch,
            ref_: a.ref_,
            skip: a.skip,
            no_migrate: a.no_migrate,
            no_rollback: a.no_rollback,
            force: a.force,
            user: a.user,
            group: a.group,
            dir_mode: a.dir_mode,
            file_mode: a.file_mode,
            keep: a.keep,
            events: a.run.events,
            restart: a.restart,
            timeout: a.run.timeout,
        };
        match a.cmd {
            None => upgrade::upgrade(ctx, &opts),
            Some(Cmd::Recover) => upgrade::recover(ctx, &opts),
        }
    })
}
