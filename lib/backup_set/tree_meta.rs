//! `tree.meta.json`: what `df-backup-env snapshot` records beside `SET/tree`.

use crate::report::data::backup_env::TreeCounts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The sidecar of `SET/tree`, read and written only through
/// [`crate::backup_set::BackupSet::read_meta`] / [`crate::backup_set::BackupSet::write_meta`].
/// A tree is a complete snapshot only when this file exists and the tree's counts, walked
/// again, equal `counts` (what `restore-tree` checks before touching anything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TreeMeta {
    /// Always `tree`.
    pub artifact: String,
    /// The install copied.
    pub root: String,
    /// RFC 3339 UTC time of the snapshot.
    pub taken_at: String,
    /// Entries and bytes of the copy.
    #[serde(flatten)]
    pub counts: TreeCounts,
    /// Relative paths that were left out (existing ones).
    pub excluded: Vec<String>,
    /// The `--exclude` arguments, normalised to relative paths.
    pub exclude_args: Vec<String>,
    /// Entries not copied (sockets, devices…).
    pub skipped: Vec<String>,
    /// Whether owners were kept (only root can).
    pub owners_kept: bool,
    /// The top-level `.env*` files, kept 0600 in the snapshot because they hold secrets:
    /// name → the install's own mode in octal (`{".env": "0644"}`), which `restore-tree`
    /// gives the file back.
    pub sealed: std::collections::BTreeMap<String, String>,
    /// dfkit's version.
    pub dfkit_version: String,
}
