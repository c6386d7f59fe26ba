//! df-backup-env — back up and restore the .env file (APP_KEY above all) and snapshot the
//! install tree into a backup set, and put it back.
use clap::{Parser, Subcommand};
use dfkit::env_backup;
use dfkit::report::Common;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Back up .env into a new backup set, then the whole install tree beside it
  SET=/var/backups/dreamfactory/$(date -u +%Y%m%dT%H%M%SZ)
  df-backup-env save --into \"$SET\" && df-backup-env snapshot --into \"$SET\" --exclude vendor

  # Which APP_KEY does this host use? (a fingerprint, never the key)
  df-backup-env show | jq -r .data.app_key_fingerprint

  # On the new server: put the old APP_KEY into the fresh install's .env
  df-backup-env --root /opt/dreamfactory restore-key --from /tmp/old-set

  # Put the whole .env back (verified against its sha256 first); preview with --dry-run
  df-backup-env restore --from \"$SET\" --dry-run | jq .data.plan

  # Put vendor/ back as the snapshot holds it (a rollback after a failed composer install)
  df-backup-env restore-tree --from \"$SET\" --only vendor";

#[derive(Parser, Debug)]
#[command(
    name = "df-backup-env",
    version,
    about = "Back up and restore DreamFactory's .env (APP_KEY above all) and snapshot the install tree",
    after_help = EXAMPLES
)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// The .env file to work on [default: ROOT/.env]
    #[arg(long, global = true, value_name = "FILE")]
    env: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Copy .env byte-exactly (0600) into a backup set, with env.meta.json
    Save {
        /// The backup set [default: /var/backups/dreamfactory/<UTC stamp>]
        #[arg(long, value_name = "SET")]
        into: Option<PathBuf>,
        /// Overwrite a different .env already saved in the set
        #[arg(long)]
        replace: bool,
        /// Save even when APP_KEY is missing or malformed (a warning instead of exit 65)
        #[arg(long)]
        allow_invalid_key: bool,
    },
    /// The parsed .env as JSON (secrets as fingerprints), with warnings
    Show {
        /// Show a saved copy instead (a set or a file)
        #[arg(long, value_name = "SET|FILE")]
        from: Option<PathBuf>,
    },
    /// Put the old APP_KEY (or other keys) into the current .env, touching only those lines
    RestoreKey {
        /// The backup set or .env file holding the old values
        #[arg(long, value_name = "SET|FILE")]
        from: PathBuf,
        /// A key to restore (repeatable) [default: APP_KEY]
        #[arg(long = "key", value_name = "NAME")]
        keys: Vec<String>,
    },
    /// Put the whole .env back, after verifying its sha256
    Restore {
        /// The backup set or .env file
        #[arg(long, value_name = "SET|FILE")]
        from: PathBuf,
    },
    /// Copy the install tree into SET/tree (owners, modes, symlinks, mtimes kept)
    Snapshot {
        /// The backup set [default: /var/backups/dreamfactory/<UTC stamp>]
        #[arg(long, value_name = "SET")]
        into: Option<PathBuf>,
        /// A path under the root not to copy (repeatable), e.g. vendor or storage/logs
        #[arg(long, value_name = "PATH")]
        exclude: Vec<PathBuf>,
        /// Take a new snapshot even if the set already holds one
        #[arg(long)]
        replace: bool,
    },
    /// Put paths of the install back from SET/tree (each atomically, verified by counts)
    RestoreTree {
        /// The backup set holding a complete tree snapshot
        #[arg(long, value_name = "SET")]
        from: PathBuf,
        /// A path under the root to put back (repeatable), e.g. vendor [default: every
        /// top-level path the snapshot did not leave out]
        #[arg(long, value_name = "PATH")]
        only: Vec<PathBuf>,
    },
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-backup-env", |ctx, args| {
        let root = args.common.root.as_deref();
        let env = || env_backup::env_path(root, args.env.as_deref());
        let env_to_write = || env_backup::env_path_to_write(root, args.env.as_deref());
        match &args.cmd {
            Cmd::Save {
                into,
                replace,
                allow_invalid_key,
            } => env_backup::save(ctx, &env()?, into.as_deref(), *replace, *allow_invalid_key),
            Cmd::Show { from } => {
                let path = match from {
                    Some(_) => env().unwrap_or_default(),
                    None => env()?,
                };
                env_backup::show(ctx, &path, from.as_deref())
            }
            Cmd::RestoreKey { from, keys } => {
                env_backup::restore_key(ctx, &env_to_write()?, from, keys)
            }
            Cmd::Restore { from } => env_backup::restore(ctx, &env_to_write()?, from),
            Cmd::Snapshot {
                into,
                exclude,
                replace,
            } => env_backup::snapshot(ctx, root, into.as_deref(), exclude, *replace),
            Cmd::RestoreTree { from, only } => env_backup::restore_tree(ctx, root, from, only),
        }
    })
}
