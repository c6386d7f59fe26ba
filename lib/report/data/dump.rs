//! `data` of df-dump-db's reports. See [`crate::report::data`].
//!
//! `dump` reports the [`DbMeta`] it wrote to `SET/db.meta.json` plus where things are;
//! `verify` what it checked. (`restore`'s data is defined by the restore side.)

use crate::backup_set::db_meta::DbMeta;
use crate::db::Driver;
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
    /// Only with `--dry-run`: what would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<DumpPlan>,
}

/// `data.plan` of a `dump --dry-run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DumpPlan {
    /// The dump command, masked (one entry).
    pub commands: Vec<String>,
    /// The artifact that would be written.
    pub artifact: PathBuf,
    /// `zstd`, `gzip` or `none`.
    pub compression: String,
    /// `--portable` was given.
    pub portable: bool,
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
    ]
}
