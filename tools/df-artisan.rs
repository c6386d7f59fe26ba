//! df-artisan — composer and artisan for a DreamFactory install, run safely.
use clap::{Parser, Subcommand, ValueEnum};
use dfkit::artisan::{Action, ComposerFlags, Options, SecretSource, StrictAction};
use dfkit::report::Common;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # the guide's upgrade steps, as the owner of storage/ (never leaves root-owned files)
  df-artisan --root /opt/dreamfactory composer-install
  df-artisan migrate --seed | jq -r '.data.migrated[]'
  df-artisan clear | jq .data.direct    # true: the file cache emptied without booting PHP

  # pending migrations, for a check
  df-artisan status | jq -e '.data.pending | length == 0'

  # maintenance mode around an upgrade
  DF_BYPASS=$(openssl rand -hex 16) df-artisan down --secret-env DF_BYPASS
  df-artisan up

  # importing a MySQL dump from another server
  df-artisan strict-mode off && df-artisan clear

  # the guide's troubleshooting (clear-cache, rm vendor/ and caches, reinstall)
  df-artisan repair

  # anything else
  df-artisan run -- route:list
  df-artisan run --yes -- db:seed --class=Foo   # confirmable commands need --yes
  df-artisan --dry-run fresh --seed | jq .data.plan

Exit codes: 0 ok, 1 a command failed (see error.hint), 64 usage (fresh/reset, or run of a
confirmable command, without --yes), 65 bad config/database.php, 66 no install, 67 unknown
--as-user, 69 php/composer missing or database unreachable, 77 the PHP user cannot read the
install.";

#[derive(Parser, Debug)]
#[command(
    name = "df-artisan",
    version,
    about = "Run composer and artisan for a DreamFactory install: one JSON report on stdout",
    after_help = EXAMPLES
)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// The php binary [default: php on PATH]
    #[arg(long, global = true, value_name = "PATH")]
    php: Option<PathBuf>,
    /// The composer program or .phar [default: composer on PATH, else ROOT/composer.phar]
    #[arg(long, global = true, value_name = "PATH")]
    composer: Option<PathBuf>,
    /// Run PHP as this user [default (as root): the owner of storage/; composer: the owner of the root]
    #[arg(long, global = true, value_name = "USER")]
    as_user: Option<String>,
    /// Kill a command (and its children) that runs longer than this (seconds, or 30s, 2m, 1h)
    #[arg(long, global = true, value_name = "DURATION", default_value = "3600", value_parser = dfkit::duration::parse)]
    timeout: Duration,
    #[command(subcommand)]
    cmd: Cmd,
}

dfkit::has_common!(Args);

#[derive(clap::Args, Debug)]
struct ComposerArgs {
    /// Install dev requirements too (omit --no-dev)
    #[arg(long)]
    dev: bool,
    /// Check platform requirements (omit --ignore-platform-reqs)
    #[arg(long)]
    platform_reqs: bool,
    /// Extra arguments for `composer install`
    #[arg(last = true, value_name = "ARGS")]
    extra: Vec<String>,
    /// Run no composer here: swap in DIR/vendor, built beforehand by `composer-install
    /// --root DIR` in an export of the same release (its composer.lock must be this one's)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["dev", "platform_reqs", "extra"])]
    staged: Option<std::path::PathBuf>,
}

impl From<ComposerArgs> for ComposerFlags {
    fn from(a: ComposerArgs) -> ComposerFlags {
        ComposerFlags {
            dev: a.dev,
            platform_reqs: a.platform_reqs,
            extra: a.extra,
            staged: a.staged,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Strict {
    On,
    Off,
    Status,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// composer install --no-dev --ignore-platform-reqs (extra arguments after --)
    ComposerInstall(ComposerArgs),
    /// artisan migrate --force [--seed]; reports each migration applied
    Migrate {
        /// Run the seeders too
        #[arg(long)]
        seed: bool,
    },
    /// Pending migrations (artisan migrate:status); changes nothing
    Status,
    /// artisan cache:clear and config:clear, each checked (the file store without booting PHP)
    Clear {
        /// Always run artisan; by default, with the stock file cache store and no cached
        /// config, the store's entries and facade files are removed directly, as artisan does
        #[arg(long)]
        artisan: bool,
    },
    /// artisan migrate:fresh: DROPS EVERY TABLE and migrates afresh (needs --yes)
    Fresh {
        /// Yes, drop every table of the system database
        #[arg(long)]
        yes: bool,
        /// Run the seeders too
        #[arg(long)]
        seed: bool,
    },
    /// artisan migrate:reset: rolls back every migration (needs --yes)
    Reset {
        /// Yes, roll back every migration
        #[arg(long)]
        yes: bool,
    },
    /// Maintenance mode on (no-op when already down)
    Down {
        /// View to prerender for the maintenance page (Laravel ≥ 8)
        #[arg(long, value_name = "VIEW")]
        render: Option<String>,
        /// Bypass secret (visible in the process list; prefer --secret-env/--secret-file)
        #[arg(long, value_name = "SECRET", group = "secret_src")]
        secret: Option<String>,
        /// Take the bypass secret from this environment variable
        #[arg(long, value_name = "VAR", group = "secret_src")]
        secret_env: Option<String>,
        /// Take the bypass secret from the first line of this file
        #[arg(long, value_name = "FILE", group = "secret_src")]
        secret_file: Option<PathBuf>,
        /// Retry-After seconds for the 503 answer
        #[arg(long, value_name = "SECS")]
        retry: Option<u32>,
        /// Always run `artisan down`; by default a plain `down` on Laravel 8 writes the two
        /// maintenance files itself, as artisan does, without booting the application
        #[arg(long)]
        artisan: bool,
    },
    /// Maintenance mode off (no-op when not down)
    Up {
        /// Always run `artisan up`; by default the maintenance files are removed directly,
        /// as artisan does, when nothing in app/ listens for the maintenance events
        #[arg(long)]
        artisan: bool,
    },
    /// The guide's troubleshooting: composer clear-cache, remove vendor/, compiled.php and
    /// storage/framework/cache/*, reinstall (old vendor/ restored if that fails)
    Repair(ComposerArgs),
    /// The mysql connection's 'strict' setting in config/database.php
    StrictMode {
        #[arg(value_enum)]
        mode: Strict,
    },
    /// DreamFactory version (config/app.php) and Laravel version (artisan --version)
    Version,
    /// Any artisan command: run [--yes] -- ARGS… (secret-bearing options are masked)
    Run {
        /// Yes, run a command that asks for confirmation in production (migrate*,
        /// db:seed, db:wipe, key:generate, queue:clear)
        #[arg(long)]
        yes: bool,
        #[arg(last = true, required = true, value_name = "ARGS")]
        args: Vec<String>,
    },
}

fn action(cmd: Cmd) -> Action {
    match cmd {
        Cmd::ComposerInstall(a) => Action::ComposerInstall(a.into()),
        Cmd::Migrate { seed } => Action::Migrate { seed },
        Cmd::Status => Action::Status,
        Cmd::Clear { artisan } => Action::Clear { artisan },
        Cmd::Fresh { yes, seed } => Action::Fresh { yes, seed },
        Cmd::Reset { yes } => Action::Reset { yes },
        Cmd::Down {
            render,
            secret,
            secret_env,
            secret_file,
            retry,
            artisan,
        } => Action::Down {
            render,
            secret: secret
                .map(SecretSource::Value)
                .or(secret_env.map(SecretSource::Env))
                .or(secret_file.map(SecretSource::File)),
            retry,
            artisan,
        },
        Cmd::Up { artisan } => Action::Up { artisan },
        Cmd::Repair(a) => Action::Repair(a.into()),
        Cmd::StrictMode { mode } => Action::StrictMode(match mode {
            Strict::On => StrictAction::On,
            Strict::Off => StrictAction::Off,
            Strict::Status => StrictAction::Status,
        }),
        Cmd::Version => Action::Version,
        Cmd::Run { args, yes } => Action::Run { args, yes },
    }
}

fn main() -> ExitCode {
    dfkit::report::run::<Args, _>("df-artisan", |ctx, args| {
        let opts = Options {
            root: dfkit::install::resolve_root(ctx.common.root.as_deref()),
            php: args.php,
            composer: args.composer,
            as_user: args.as_user,
            timeout: args.timeout,
        };
        dfkit::artisan::execute(ctx, &opts, action(args.cmd))
    })
}
