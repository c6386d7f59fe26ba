//! `env.meta.json`: what `df-backup-env save` records beside the .env copy.

use crate::report::data::backup_env::EnvSummary;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sidecar of `SET/env`, read and written only through
/// [`crate::backup_set::BackupSet::read_meta`] / [`crate::backup_set::BackupSet::write_meta`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EnvMeta {
    /// Always `env`.
    pub artifact: String,
    /// The .env that was saved.
    pub source: String,
    /// RFC 3339 UTC time of the save.
    pub saved_at: String,
    /// SHA-256 (hex) of the copy; `restore` refuses a copy that does not match (65).
    pub sha256: String,
    /// Size of the copy; checked with `sha256`.
    pub bytes: u64,
    /// The saved file's mode (`"0640"`), owner and group: a `restore` with no .env to
    /// restore over gives the new file these.
    pub source_mode: String,
    pub source_uid: u32,
    pub source_gid: u32,
    #[serde(flatten)]
    pub summary: EnvSummary,
    /// Every secret key → its fingerprint.
    pub fingerprints: BTreeMap<String, String>,
    /// The warnings of the save.
    pub warnings: Vec<String>,
    /// dfkit's version.
    pub dfkit_version: String,
}
