//! `data` of df-artisan's reports, one type per subcommand. See [`crate::report::data`].
//!
//! Every subcommand's data flattens [`Common`] (what ran, as whom, what was planned) and
//! adds its own facts: `migrate` the migrations it applied, `status` the pending ones,
//! `down`/`up` the maintenance state, `composer-install` what composer did. A failed run
//! still carries the facts gathered before the failure (every field has a default), and
//! `changed` says whether anything changed before it failed.
//!
//! ```json
//! {"subcommand":"migrate","root":"/opt/dreamfactory","php":"/usr/bin/php",
//!  "run_as":{"user":"www-data","uid":33,"gid":33},
//!  "steps":[{"step":"migrate","command":"/usr/bin/php artisan --no-interaction migrate --force",
//!            "user":"www-data","exit_code":0,"duration_ms":812,"output_tail":"Migrated: …"}],
//!  "ownership_fixed":0,"changed":true,"seed":false,
//!  "migrated":["2024_05_14_120000_create_app_table"]}
//! ```

use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The user a program ran as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RunAsInfo {
    /// The user's name (its uid as a string when it has none).
    pub user: String,
    pub uid: u32,
    pub gid: u32,
}

/// A program that ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommandStep {
    /// What the step is, e.g. `migrate`, `composer install`.
    pub step: String,
    /// The command line, shell-quoted, secrets masked as `***`.
    pub command: String,
    /// The user it ran as.
    #[serde(default)]
    pub user: String,
    /// Its exit code; null when it was killed (by a signal or the timeout).
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub duration_ms: u64,
    /// The last 20 non-empty lines of its stdout and stderr, secrets masked.
    #[serde(default)]
    pub output_tail: String,
}

/// A file operation (repair, strict-mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileStep {
    /// What was done: `remove`, `empty (keeping .gitignore)`, `move aside`, `edit`, ….
    pub step: String,
    /// The file or directory.
    pub path: String,
}

/// One thing a run did, in order: a command or a file operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Step {
    Command(CommandStep),
    File(FileStep),
}

/// Fields of every subcommand's data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Common {
    /// The subcommand, e.g. `migrate`.
    pub subcommand: String,
    /// The install.
    pub root: String,
    /// The php binary (when PHP ran or was planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub php: Option<String>,
    /// The composer program or .phar (composer subcommands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composer: Option<String>,
    /// Who artisan ran as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAsInfo>,
    /// Who composer ran as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composer_run_as: Option<RunAsInfo>,
    /// What was done, in order.
    pub steps: Vec<Step>,
    /// Root-owned entries under storage/ and bootstrap/cache/ given back to their owner.
    pub ownership_fixed: u64,
    /// `--dry-run` only: what would be done; nothing ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
    /// A recognised failure (or, for `run`, a recognised problem in a successful run's
    /// output), e.g. `app_key_mismatch`; `error.hint` (or a warning) says what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    /// The install changed: equal to the envelope's `changed`; on a failure, whether
    /// something changed before it (a migration applied, caches removed, files handed back).
    pub changed: bool,
}

/// What `composer install` did (composer-install, repair).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ComposerResult {
    /// Whether `composer install` ran to success.
    pub installed: bool,
    /// Package operations, e.g. `installing psr/log (3.0.0)`.
    pub operations: Vec<String>,
    /// composer.lock did not exist and was created.
    pub lock_created: bool,
    /// vendor/autoload.php did not exist and was created.
    pub vendor_created: bool,
    /// `--staged DIR`: the directory whose vendor/ was swapped in (no composer ran here);
    /// the replaced vendor/ is left at `DIR/vendor.replaced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
}

/// `composer-install`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ComposerInstallData {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub composer_install: ComposerResult,
}

/// `migrate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MigrateData {
    #[serde(flatten)]
    pub common: Common,
    /// `--seed` was given.
    pub seed: bool,
    /// Migrations applied, in order (also on a failure: those applied before it).
    pub migrated: Vec<String>,
    /// The migration that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_migration: Option<String>,
}

/// One row of `migrate:status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MigrationRow {
    /// The migration's name (file name without `.php`).
    pub name: String,
    /// It ran.
    pub ran: bool,
    /// Its batch, when it ran.
    pub batch: Option<u32>,
}

/// `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StatusData {
    #[serde(flatten)]
    pub common: Common,
    /// Pending migrations, in order.
    pub pending: Vec<String>,
    /// How many ran.
    pub ran: u64,
    /// Every migration of `migrate:status`.
    pub migrations: Vec<MigrationRow>,
}

/// `clear`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ClearData {
    #[serde(flatten)]
    pub common: Common,
    /// CACHE_STORE (or CACHE_DRIVER) from .env; `file` by default.
    pub cache_store: String,
    /// bootstrap/cache/config.php existed and was removed.
    pub config_cache_removed: bool,
    /// File-cache entries removed.
    pub cache_entries_removed: u64,
    /// Done without booting Laravel (with `--dry-run`: would be): dfkit removed the file
    /// store's entries (the subdirectories of storage/framework/cache/data, not loose or
    /// dot-named files) and the real-time facade files (storage/framework/cache/facade-*.php)
    /// exactly as `artisan cache:clear` does; config:clear had nothing to remove. Taken only
    /// without `--artisan`, with no bootstrap/cache/config.php, CACHE_STORE / CACHE_DRIVER
    /// `file` or unset, the stock config/cache.php, and nothing in app/ naming the cache
    /// events or config; otherwise one PHP process runs both commands (false).
    pub direct: bool,
}

/// `fresh` and `reset`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FreshResetData {
    #[serde(flatten)]
    pub common: Common,
    /// `--seed` was given (fresh).
    pub seed: bool,
    /// Every table was dropped (fresh).
    pub dropped_all: bool,
    /// Migrations applied, in order (fresh).
    pub migrated: Vec<String>,
    /// Migrations rolled back, in order (reset).
    pub rolled_back: Vec<String>,
    /// The migration that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_migration: Option<String>,
}

/// `down` and `up`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MaintenanceData {
    #[serde(flatten)]
    pub common: Common,
    /// The site was in maintenance mode before (storage/framework/down existed).
    pub was_down: bool,
    /// The site is in maintenance mode now (with `--dry-run`: would be).
    pub is_down: bool,
    /// `down` on a site already down: the bypass secret given replaced the one in force.
    pub secret_replaced: bool,
    /// `up` when PHP could not run artisan (a broken vendor/, a fatal error at boot): the
    /// maintenance files were removed directly, as `artisan up` does (a warning names the
    /// artisan failure).
    pub removed_directly: bool,
    /// A plain `down` / `up` done without booting Laravel: dfkit wrote (down: a PHP run
    /// that loads only the autoloader, for the framework's stub and the app's `$except`)
    /// or removed (up) storage/framework/down and maintenance.php exactly as `artisan
    /// down` / `up` of Laravel 8 does. Taken only when nothing in app/ listens for the
    /// maintenance events; `--artisan` always runs artisan.
    pub direct: bool,
}

/// `repair`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RepairData {
    #[serde(flatten)]
    pub common: Common,
    /// Files removed (bootstrap/cache/compiled.php, services.php, packages.php).
    pub removed: Vec<String>,
    /// Entries removed from storage/framework/cache/.
    pub cache_entries_removed: u64,
    /// vendor/ was moved aside for the reinstall.
    pub vendor_moved_aside: bool,
    /// The reinstall failed and the old vendor/ was put back.
    pub vendor_restored: bool,
    /// The reinstall failed and the old vendor/ could not be put back: it is here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_vendor_left_at: Option<String>,
    #[serde(flatten)]
    pub composer_install: ComposerResult,
}

/// `strict-mode on|off|status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StrictModeData {
    #[serde(flatten)]
    pub common: Common,
    /// config/database.php.
    pub file: String,
    /// The file actually read and edited, when `file` is a symlink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Line of the `'strict'` value PHP uses (the last one in the mysql connection).
    pub line: usize,
    /// The value before; null for an expression such as `env('DB_STRICT', true)`.
    pub strict_before: Option<bool>,
    /// The value now (with `--dry-run`: would be).
    pub strict: Option<bool>,
}

/// `version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VersionData {
    #[serde(flatten)]
    pub common: Common,
    /// DreamFactory's version (config/app.php).
    pub df_version: Option<String>,
    /// Laravel's version (`artisan --version`).
    pub laravel_version: Option<String>,
    /// The version of the PHP that runs artisan (`PHP_VERSION`).
    pub php_version: Option<String>,
}

/// `run -- ARGS…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RunData {
    #[serde(flatten)]
    pub common: Common,
    /// The artisan command's name as Laravel resolves it, when it is one dfkit knows to
    /// be confirmable (migrate, db:seed, …), else as given.
    pub command: String,
    /// It asks for confirmation in production (Laravel's ConfirmableTrait): needs `--yes`.
    pub confirmable: bool,
    /// Its stdout, secrets masked, at most 64 KiB.
    pub output: String,
    /// Lines of its output reporting a permission problem although it exited 0.
    pub permission_errors: Vec<String>,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        (
            "composer-install",
            schemars::schema_for!(ComposerInstallData),
        ),
        ("migrate", schemars::schema_for!(MigrateData)),
        ("status", schemars::schema_for!(StatusData)),
        ("clear", schemars::schema_for!(ClearData)),
        ("fresh", schemars::schema_for!(FreshResetData)),
        ("reset", schemars::schema_for!(FreshResetData)),
        ("down", schemars::schema_for!(MaintenanceData)),
        ("up", schemars::schema_for!(MaintenanceData)),
        ("repair", schemars::schema_for!(RepairData)),
        ("strict-mode", schemars::schema_for!(StrictModeData)),
        ("version", schemars::schema_for!(VersionData)),
        ("run", schemars::schema_for!(RunData)),
    ]
}
