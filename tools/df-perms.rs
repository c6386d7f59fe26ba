//! df-perms — owner and modes of storage/ and bootstrap/cache/ (the guide's chown -R / chmod -R 2775).
use clap::Parser;
use dfkit::perms::{self, Options};
use dfkit::report::Common;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # The guide's step: chown -R www-data:www-data + chmod -R 2775 on storage and bootstrap/cache
  df-perms --root /opt/dreamfactory --user www-data --group www-data

  # Stricter: directories 2775, files 0664; see first what would change
  df-perms --user dreamfactory --dir-mode 2775 --file-mode 0664 --dry-run | jq .data.plan

  # After running artisan as root: give everything back to the owner of each target
  df-perms --root /opt/dreamfactory | jq -r '.msg'

  # Fail a script when anything was skipped (hard links, mount points)
  df-perms --user www-data | jq -e '.data.skipped == 0'

Without --user/--group each target keeps the owner of its own top directory and
everything inside is given that owner. --user alone uses the user's primary group;
--group alone changes only the group. Symlinks are never followed (their own owner is
set, their mode never), other filesystems and multiply hard-linked files are skipped.
The root must be a DreamFactory install (it holds artisan, .env or .env-dist, and
config/): anything else is refused with exit 66 before anything changes.";

#[derive(Parser, Debug)]
#[command(
    name = "df-perms",
    version,
    about = "Set owner and modes under storage/ and bootstrap/cache/ safely, changing only what differs",
    after_help = EXAMPLES
)]
struct Args {
    /// A path to fix, relative to the root; repeatable [default: storage, bootstrap/cache]
    #[arg(long = "target", value_name = "PATH")]
    targets: Vec<PathBuf>,
    /// Owner: a user name or uid (the web server's user, e.g. www-data or dreamfactory)
    #[arg(long, short = 'u', value_name = "USER")]
    user: Option<String>,
    /// Group: a group name or gid [default: the user's primary group]
    #[arg(long, short = 'g', value_name = "GROUP")]
    group: Option<String>,
    /// Octal mode for every entry (the guide's chmod -R 2775)
    #[arg(long, value_name = "MODE", default_value = "2775", value_parser = perms::parse_mode)]
    mode: u32,
    /// Octal mode for directories [default: --mode]
    #[arg(long, value_name = "MODE", value_parser = perms::parse_mode)]
    dir_mode: Option<u32>,
    /// Octal mode for files (not symlinks) [default: --mode]
    #[arg(long, value_name = "MODE", value_parser = perms::parse_mode)]
    file_mode: Option<u32>,
    #[command(flatten)]
    common: Common,
}

dfkit::has_common!(Args);

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-perms", |ctx, args| {
        let opts = Options {
            root: args.common.root.clone(),
            targets: args.targets,
            user: args.user,
            group: args.group,
            dir_mode: args.dir_mode.unwrap_or(args.mode),
            file_mode: args.file_mode.unwrap_or(args.mode),
            dry_run: ctx.dry_run(),
        };
        perms::apply(ctx, &opts)
    })
}
