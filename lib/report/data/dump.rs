//! `data` of this tool's reports. See [`crate::report::data`].

/// This tool's data schemas, `(subcommand, schema)`: add one line per data type, e.g.
/// `("show", schemars::schema_for!(ShowData))`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![("restore", schemars::schema_for!(RestoreData))]
}

// ---------------------------------------------------------------- restore (owned by the restore side)

use crate::backup_set::RowCountMismatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
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
    /// mysql: the longest line of the dump in bytes (checked against the server's
    /// `max_allowed_packet` before anything is dropped); null for other drivers.
    pub longest_statement_bytes: Option<u64>,
    /// Only with `--dry-run`: the steps the restore would take ([`PlanItem`]s, in order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<crate::report::PlanItem>>,
}
