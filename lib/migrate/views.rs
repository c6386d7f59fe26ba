//! The fields of the children's reports and metas that df-migrate acts on, typed (where
//! the tool has no typed data of its own yet; db.meta.json is read as
//! [`crate::backup_set::db_meta::DbMeta`]).
//!
//! Each is a subset of what the tool documents in docs/json.md; unknown fields are
//! ignored and missing ones default, so a failed child's partial `data` still reads.

use serde::Deserialize;

/// env.meta.json (df-backup-env save).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EnvMetaView {
    pub keys: Vec<String>,
    pub app_key_fingerprint: Option<String>,
    pub db_connection: Option<String>,
}

/// df-backup-env show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ShowView {
    pub db_connection: Option<String>,
    pub app_key_fingerprint: Option<String>,
}

/// df-git-update status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StatusView {
    pub head: Option<String>,
    pub version: Option<String>,
}
