//! `data` of df-dump-db's reports. See [`crate::report::data`].
//!
//! `dump` reports the [`DbMeta`] it wrote to `SET/db.meta.json` plus where things are;
//! `verify` what it checked. (`restore`'s data is defined by the restore side.)

use crate::backup_set::db_meta::DbMeta;
use crate::db::Driver;
use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `df-dump-db dump`: the meta written (flattened: `artifact`, `driver`, `sha256`,
/// `row_counts`, …) plus the paths. On `--dry-run` only the meta fields known before
/// dumping are filled in (`driver`, `database`, `host`, `dump_program`, `dump_argv`,
/// `compression`, `portable`), and `plan` says what would run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DumpData {
    #[serde(flatten)]
    pub meta: DbMeta,
    /// The backup set directory (null on a dry run).
    pub set: Option<PathBuf>,
    /// The artifact written, `SET/<artifact>` (null on a dry run).
    pub path: Option<PathBuf>,
    /// `SET/db.meta.json` (null on a dry run, and when writing it failed).
    pub meta_path: Option<PathBuf>,
    /// A dump already in the set was replaced (`--replace`).
    pub replaced: bool,
    /// Only with `--dry-run`: what would run, in the shared shape: the dump command
    /// (`run`), then the artifact it would write (`write`, with the compression).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanItem>,
    /// Only on a failure after the dump was written (writing db.meta.json failed):
    /// `true`, the set changed (the envelope's `changed` is lifted from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// `df-dump-db verify`: the artifact is intact (checksum, decompression, trailer).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VerifyData {
    /// The artifact checked.
    pub path: PathBuf,
    /// Its file name in the set.
    pub artifact: String,
    /// The driver the dump was taken from.
    pub driver: Option<Driver>,
    /// Hex SHA-256 of the artifact (equal to the meta's).
    pub sha256: String,
    /// The checksum matched db.meta.json (always true in a successful report).
    pub sha256_ok: bool,
    /// Size of the artifact.
    pub bytes: u64,
    /// What the artifact decompresses to (sqlsrv: its size).
    pub uncompressed_bytes: u64,
    /// The completion trailer is at the end of the SQL text.
    pub trailer_verified: bool,
    /// `zstd`, `gzip` or `none`.
    pub compression: String,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("dump", schemars::schema_for!(DumpData)),
        ("verify", schemars::schema_for!(VerifyData)),
        ("restore", schemars::schema_for!(RestoreData)),
    ]
}

// ---------------------------------------------------------------- restore (owned by the restore side)

use crate::backup_set::RowCountMismatch;
use std::collections::BTreeMap;

/// `data` of `df-dump-db restore` (also the partial data of a failed restore).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RestoreData {
    /// `sqlite`, `mysql`, `pgsql` or `sqlsrv`.
    pub driver: String,
    /// The target database (sqlite: the file's path; a symlink is followed, this is the link).
    pub database: String,
    /// The artifact restored.
    pub from: String,
    /// Its sha256, verified before anything was touched.
    pub sha256: String,
    /// Tables the target held before and that `--replace` replaced.
    pub replaced_tables: usize,
    /// Tables whose row count was compared with the meta after the restore.
    pub tables_checked: usize,
    /// Table → rows in the target after the restore.
    pub row_counts: BTreeMap<String, u64>,
    /// Each table whose count differs from the meta (empty on success).
    pub mismatches: Vec<RowCountMismatch>,
    /// The target was changed. False after a failure that left it as it was (pgsql
    /// rolled back, sqlite never renamed, a check failed before anything was dropped).
    pub changed: bool,
    /// How the replace was made atomic: `transaction` (pgsql: one transaction,
    /// committed after the whole stream checked out), `rename` (sqlite: a temp file
    /// beside the target renamed over it), `swap` (mysql: imported into a scratch
    /// database, swapped in by one `RENAME TABLE`), `none` (mysql without a scratch
    /// database, or into an empty target), `native` (sqlsrv RESTORE DATABASE).
    pub atomicity: String,
    /// mysql `--replace` through a scratch database (`atomicity: swap`): the most
    /// client connections that loaded one table's rows side by side (1: the dump went
    /// through one connection); 0 otherwise.
    pub import_connections: usize,
    /// mysql: the longest line of the dump in bytes (checked against the server's
    /// `max_allowed_packet` before anything is dropped); null for other drivers.
    pub longest_statement_bytes: Option<u64>,
    /// Only with `--dry-run`: the steps the restore would take ([`PlanItem`]s, in order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<crate::report::PlanItem>>,
}
