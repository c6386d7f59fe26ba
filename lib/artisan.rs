//! The PHP side of an upgrade: composer and artisan, run the way the guide means them
//! and safely.
//!
//! * `php` and `composer` (or `composer.phar` in the root) are found on PATH; always
//!   `--no-interaction`; every `migrate*` with `--force` (APP_ENV=production would
//!   otherwise ask and abort); COMPOSER_MEMORY_LIMIT=-1, COMPOSER_ALLOW_SUPERUSER=1 when
//!   composer runs as root.
//! * Run as root, artisan would leave root-owned logs and cache files that make the site
//!   answer 500. So PHP runs as the owner of storage/ (composer as the owner of the root;
//!   `--as-user` overrides both), with a private temporary HOME/COMPOSER_HOME ([`php`]),
//!   and afterwards nothing under storage/ and bootstrap/cache/ is left owned by root
//!   ([`sweep`]). A check that must not write ([`execute_without_sweep`], df-verify)
//!   runs PHP the same way without the sweep.
//! * Commands that ask for confirmation in production (Laravel's ConfirmableTrait:
//!   migrate*, db:seed, db:wipe, key:generate, queue:clear) need `--yes`, through `run`
//!   too; secret-bearing arguments (`--secret`, `--password`, …) never reach argv or a
//!   report.
//! * A failure's output is matched against known texts ([`hints::diagnose`]) so the
//!   error carries a hint ("The MAC is invalid" → restore the APP_KEY, …).
//! * Every command run is reported (masked argv, exit code, duration, output tail), with
//!   the facts read from its output (migrations applied, pending, rolled back).

mod app_source;
mod clear;
mod composer;
mod file_store;
pub mod hints;
mod maintenance;
mod migrate;
pub mod output;
mod php;
mod run;
mod runner;
pub mod strict;
mod strict_mode;
mod sweep;

pub use run::{confirmable_command, mask_secret_args, with_force};

use crate::error::{Error, Result};
use crate::report::data::artisan as data;
use crate::report::{Ctx, Outcome};
use runner::Runner;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options shared by every subcommand.
#[derive(Debug, Clone)]
pub struct Options {
    /// The install.
    pub root: PathBuf,
    /// `--php PATH` (default: `php` on PATH).
    pub php: Option<PathBuf>,
    /// `--composer PATH` (default: `composer` on PATH, else ROOT/composer.phar).
    pub composer: Option<PathBuf>,
    /// `--as-user USER`: run PHP as this user instead of the owners of storage/ and the root.
    pub as_user: Option<String>,
    /// Kill a command running longer than this.
    pub timeout: Duration,
}

/// How to call `composer install`.
#[derive(Debug, Clone, Default)]
pub struct ComposerFlags {
    /// Install dev requirements too (omit `--no-dev`).
    pub dev: bool,
    /// Check platform requirements (omit `--ignore-platform-reqs`).
    pub platform_reqs: bool,
    /// Extra arguments for `composer install`.
    pub extra: Vec<String>,
    /// `--staged DIR`: no composer run here; swap in DIR/vendor, built beforehand by
    /// `composer-install --root DIR` in an export of the same release.
    pub staged: Option<std::path::PathBuf>,
}

/// `strict-mode on|off|status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictAction {
    On,
    Off,
    Status,
}

/// Where the maintenance-mode bypass secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Given on our command line (visible in the process list: discouraged).
    Value(String),
    /// Read from this environment variable.
    Env(String),
    /// Read from the first line of this file.
    File(PathBuf),
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    ComposerInstall(ComposerFlags),
    Migrate {
        seed: bool,
    },
    Status,
    Clear {
        /// Always boot Laravel and run `artisan cache:clear` and `config:clear` (no
        /// direct removal of the file store's entries).
        artisan: bool,
    },
    Fresh {
        yes: bool,
        seed: bool,
    },
    Reset {
        yes: bool,
    },
    Down {
        render: Option<String>,
        secret: Option<SecretSource>,
        retry: Option<u32>,
        /// Always run `artisan down` (no direct write of Laravel 8's maintenance files).
        artisan: bool,
    },
    Up {
        /// Always run `artisan up` (no direct removal of the maintenance files).
        artisan: bool,
    },
    Repair(ComposerFlags),
    StrictMode(StrictAction),
    Version,
    Run {
        args: Vec<String>,
        /// Yes, run a command that asks for confirmation in production (migrate*,
        /// db:seed, db:wipe, key:generate, …).
        yes: bool,
    },
}

impl Action {
    /// The subcommand's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ComposerInstall(_) => "composer-install",
            Action::Migrate { .. } => "migrate",
            Action::Status => "status",
            Action::Clear { .. } => "clear",
            Action::Fresh { .. } => "fresh",
            Action::Reset { .. } => "reset",
            Action::Down { .. } => "down",
            Action::Up { .. } => "up",
            Action::Repair(_) => "repair",
            Action::StrictMode(_) => "strict-mode",
            Action::Version => "version",
            Action::Run { .. } => "run",
        }
    }
}

/// Run one subcommand and build its report. PHP runs as the owner of storage/, and
/// afterwards nothing under storage/ and bootstrap/cache/ is left owned by root.
pub fn execute(ctx: &Ctx, opts: &Options, action: Action) -> Result<Outcome> {
    execute_with(ctx, opts, action, true)
}

/// [`execute`] for a caller that must not change the install (df-verify): PHP runs the
/// same way (as the owner of storage/, same environment and timeout), but root-owned
/// files are left as they are.
pub fn execute_without_sweep(ctx: &Ctx, opts: &Options, action: Action) -> Result<Outcome> {
    execute_with(ctx, opts, action, false)
}

fn execute_with(ctx: &Ctx, opts: &Options, action: Action, sweep: bool) -> Result<Outcome> {
    let root = opts.root.clone();
    if !root.is_dir() {
        return Err(
            Error::missing(format!("no DreamFactory install at {}", root.display())).with_hint(
                "pass --root DIR or set DF_ROOT to the install (usually /opt/dreamfactory)",
            ),
        );
    }
    // Every subcommand may write into the install (caches, the maintenance file, the
    // sweep, composer): refuse a directory that is not one before anything runs.
    crate::install::Install::at(&root).require_markers()?;
    register_env_secrets(&root);
    let mut r = Runner::new(ctx, opts, sweep);
    r.c.subcommand = action.name().to_string();
    r.c.root = root.display().to_string();
    macro_rules! sub {
        ($ty:ty, $f:expr) => {{
            let mut d = <$ty>::default();
            let res = $f(&mut r, &mut d);
            finish(&mut r, d, res)
        }};
    }
    match action {
        Action::ComposerInstall(f) => {
            sub!(data::ComposerInstallData, |r, d| composer::install_cmd(
                r, d, &f
            ))
        }
        Action::Migrate { seed } => sub!(data::MigrateData, |r, d| migrate::migrate(r, d, seed)),
        Action::Status => sub!(data::StatusData, migrate::status),
        Action::Clear { artisan } => {
            sub!(data::ClearData, |r, d| clear::clear(r, d, artisan))
        }
        Action::Fresh { yes, seed } => {
            sub!(data::FreshResetData, |r, d| migrate::fresh(r, d, yes, seed))
        }
        Action::Reset { yes } => sub!(data::FreshResetData, |r, d| migrate::reset(r, d, yes)),
        Action::Down {
            render,
            secret,
            retry,
            artisan,
        } => sub!(data::MaintenanceData, |r, d| maintenance::down(
            r, d, render, secret, retry, artisan
        )),
        Action::Up { artisan } => {
            sub!(data::MaintenanceData, |r, d| maintenance::up(r, d, artisan))
        }
        Action::Repair(f) => sub!(data::RepairData, |r, d| composer::repair(r, d, &f)),
        Action::StrictMode(a) => sub!(data::StrictModeData, |r, d| strict_mode::run(r, d, a)),
        Action::Version => sub!(data::VersionData, run::version),
        Action::Run { args, yes } => sub!(data::RunData, |r, d| run::run(r, d, args, yes)),
    }
}

/// A subcommand's data type: it flattens [`data::Common`].
trait WithCommon: Serialize {
    fn common_mut(&mut self) -> &mut data::Common;
}

macro_rules! with_common {
    ($($t:ty),*) => {$(
        impl WithCommon for $t {
            fn common_mut(&mut self) -> &mut data::Common {
                &mut self.common
            }
        }
    )*};
}
with_common!(
    data::ComposerInstallData,
    data::MigrateData,
    data::StatusData,
    data::ClearData,
    data::FreshResetData,
    data::MaintenanceData,
    data::RepairData,
    data::StrictModeData,
    data::VersionData,
    data::RunData
);

/// Sweep (whatever happened, nothing PHP wrote may stay root-owned), then build the
/// report: `changed` is true when the subcommand changed something, even if it then
/// failed, or when root-owned files were handed back.
fn finish<D: WithCommon>(r: &mut Runner, mut d: D, res: Result<(bool, String)>) -> Result<Outcome> {
    let swept = if r.ran_php && !r.dry_run {
        r.sweep_now()
    } else {
        Ok(0)
    };
    let mut c = std::mem::take(&mut r.c);
    if r.dry_run {
        c.plan = Some(std::mem::take(&mut r.plan));
    }
    let changed_before = c.changed || c.ownership_fixed > 0;
    let (result, changed) = match (res, swept) {
        (Ok((changed, msg)), Ok(_)) => (Ok(msg), changed || changed_before),
        // The subcommand's own changes happened; only the sweep after it failed.
        (Ok((changed, _)), Err(e)) => (Err(e), changed || changed_before),
        (Err(e), _) => (Err(e), changed_before),
    };
    c.changed = changed;
    *d.common_mut() = c;
    let value = serde_json::to_value(&d)
        .map_err(|e| Error::internal(format!("serializing the report's data: {e}")))?;
    match result {
        Ok(msg) => Ok(Outcome::new(changed, msg, value)),
        Err(e) => Err(e.with_data(value)),
    }
}

/// Register the .env's secret values so no output tail we report can show them.
fn register_env_secrets(root: &Path) {
    if let Ok(env) = crate::envfile::EnvFile::load(&root.join(".env")) {
        for (key, value) in env.vars() {
            // Literal words (a `null` placeholder) would only mangle the output.
            let word = matches!(
                value.to_ascii_lowercase().as_str(),
                "null" | "true" | "false"
            );
            if crate::secret::is_secret_key(key) && !word {
                crate::secret::register(value);
            }
        }
    }
}
