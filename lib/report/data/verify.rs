//! `data` of df-verify's reports. See [`crate::report::data`].
//!
//! One object, [`VerifyData`]: after a run, every check with its status; after a dry
//! run, `plan` (nothing was checked).

use crate::backup_set::RowCountMismatch;
use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// df-verify's `data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VerifyData {
    /// False: df-verify only reads. True only when running PHP changed the install (a
    /// warning says what).
    pub changed: bool,
    /// The install.
    pub root: String,
    /// DreamFactory's version from config/app.php.
    pub version: Option<String>,
    /// The backup set compared with (`--against`).
    pub against: Option<String>,
    /// `--exact` was given.
    pub exact: bool,
    /// RFC 3339 start of the log scan.
    pub since: Option<String>,
    /// How many checks passed.
    pub passed: usize,
    /// How many checks failed.
    pub failed: usize,
    /// How many checks were skipped.
    pub skipped: usize,
    /// One per check run, in order (absent after a dry run: nothing was checked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// `--dry-run` only: what each selected check would do (`action` `check`, `detail`
    /// names the check and what it reads).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanItem>,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check: the common fields, then those of the check that sets them (absent otherwise).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Check {
    /// The check's name (`env`, `version`, `ownership`, `artisan`, …).
    pub name: String,
    /// `pass`, `fail` or `skip`.
    pub status: Status,
    /// One line: what passed, what is wrong, or why it was skipped.
    pub detail: String,
    /// On some failures: what to run next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// How long the check took.
    pub duration_ms: u64,

    /// `env`: the APP_KEY fingerprint (`sha256:` + 12 hex), null when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    /// `env`: DB_CONNECTION.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_connection: Option<String>,
    /// `env`: warnings about the file (duplicate keys, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// `version`: the version config/app.php names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `version`: `--expect-version`, on a mismatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// `ownership`: root-owned entries under storage/ and bootstrap/cache/ (the first 20,
    /// relative to the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_owned: Option<Vec<String>>,
    /// `ownership`: how many root-owned entries there are (complete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_owned_count: Option<u64>,
    /// `artisan`: Laravel's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub laravel_version: Option<String>,
    /// `database`: the driver (`sqlite`, `mysql`, `pgsql`, `sqlsrv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// `database`: the server's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// `database`: its size in bytes as the server counts it (data and indexes; sqlite:
    /// the file); df-upgrade's preflight needs 2 × (this + the tree) free for the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `migrations`: how many ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran: Option<u64>,
    /// `migrations`: the pending ones, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<String>>,
    /// `row_counts`: tables in the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<usize>,
    /// `row_counts`: counts had to be equal (`--exact`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
    /// `row_counts`: the tables whose count is not as the set recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mismatched: Option<Vec<RowCountMismatch>>,
    /// `row_counts`: tables now that are not in the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_tables: Option<Vec<String>>,
    /// `app_key`: the fingerprint of APP_KEY now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub have: Option<String>,
    /// `app_key`: the fingerprint the set recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub want: Option<String>,
    /// `http`: the URL probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `http`: the status it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// `logs`: RFC 3339 start of the scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// `logs`: where the start came from (`--since` or `the set's time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_from: Option<String>,
    /// `logs`: the timezone log times without an offset are read in (APP_TIMEZONE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `logs`: the files scanned, relative to the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// `logs`: how many alarm lines, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// `logs`: the first 20 alarm lines, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<LogLine>>,
}

/// One alarm line of a log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LogLine {
    /// Relative to the root, e.g. `storage/logs/dreamfactory.log`.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// `ERROR`, `CRITICAL`, `ALERT` or `EMERGENCY`.
    pub level: String,
    /// The line (secrets scrubbed, cut to 400 characters).
    pub text: String,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![("", schemars::schema_for!(VerifyData))]
}
