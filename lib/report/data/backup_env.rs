//! `data` of df-backup-env's reports, one type per subcommand. See [`crate::report::data`].
//!
//! Secrets never appear: wherever a value of a secret key (APP_KEY, DB_PASSWORD, …) would
//! be shown, the report holds its fingerprint, `sha256:` + 12 hex digits.

use crate::envfile::Cipher;
use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a .env holds that matters across hosts (save, show, restore; also in env.meta.json).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EnvSummary {
    /// The keys Laravel ends up with, in order of first definition.
    pub keys: Vec<String>,
    /// `sha256:` + 12 hex of APP_KEY; equal on two hosts = the same key. Null without one.
    pub app_key_fingerprint: Option<String>,
    /// APP_KEY's shape when Laravel's encrypter accepts it with `cipher`
    /// (`"base64, 32 bytes"`, `"raw, 32 bytes"`), else null.
    pub app_key: Option<String>,
    /// The cipher APP_KEY was judged against, and where it was read.
    pub cipher: Cipher,
    /// DB_CONNECTION as Laravel reads it.
    pub db_connection: Option<String>,
}

/// `save --into SET`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SaveData {
    /// The backup set directory.
    pub set: String,
    /// The copy, `SET/env`.
    pub env: String,
    /// `SET/env.meta.json`.
    pub meta: String,
    /// The .env copied.
    pub source: String,
    /// SHA-256 (hex) of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    #[serde(flatten)]
    pub summary: EnvSummary,
    /// Only with `--dry-run`: `create_set`, `write` (env), `write` (meta).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// One definition of a .env, as `show` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ShowEntry {
    pub key: String,
    /// 1-based line number of the definition.
    pub line: u64,
    /// How the value was written: `none`, `single` or `double`.
    pub quote: String,
    /// Whether the key is a secret one (its value shown as a fingerprint).
    pub secret: bool,
    /// The value Laravel reads (a fingerprint for a secret key); null for a bare `NAME`.
    pub value: Option<String>,
}

/// `show [--from SET|FILE]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ShowData {
    /// The file shown.
    pub env: String,
    /// SHA-256 (hex) of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Every final variable → its value (secret keys → fingerprint), in file order.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// Every definition in file order, duplicates included.
    pub entries: Vec<ShowEntry>,
    /// APP_KEY present and accepted by Laravel's encrypter with `cipher`.
    pub app_key_valid: bool,
    #[serde(flatten)]
    pub summary: EnvSummary,
}

/// One key `restore-key` put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct KeyChange {
    pub key: String,
    /// Whether its value changed.
    pub changed: bool,
    /// The line of the definition Laravel uses, after the edit.
    pub line: Option<u64>,
    /// The value before (fingerprint for a secret key); null when the key was absent.
    pub before: Option<String>,
    /// The value after (fingerprint for a secret key).
    pub after: Option<String>,
}

/// `restore-key --from SET|FILE [--key NAME]…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RestoreKeyData {
    /// The .env edited.
    pub env: String,
    /// The file actually written: `env` itself, or, when `env` is a symlink, the file it
    /// points to (written through the link; the link stays).
    pub target: String,
    /// The backup file read.
    pub from: String,
    /// The backup was checked against its env.meta.json sha256.
    pub verified: bool,
    /// Per key, what changed.
    pub keys: Vec<KeyChange>,
    /// Only with `--dry-run`: `[{action: "edit", path, detail}]`, empty when nothing would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// The .env a `restore` replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PreviousEnv {
    /// Where the replaced .env was kept (`.env.before-restore.<UTC stamp>`).
    pub kept_at: String,
    /// SHA-256 (hex) of the replaced content.
    pub sha256: String,
}

/// `restore --from SET|FILE`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RestoreData {
    /// The .env written.
    pub env: String,
    /// The file actually written (the symlink's target when `env` is a symlink).
    pub target: String,
    /// The backup file.
    pub from: String,
    /// Checked against env.meta.json.
    pub verified: bool,
    /// SHA-256 (hex) of the restored content.
    pub sha256: String,
    /// Size of the restored content.
    pub bytes: u64,
    /// The replaced .env; null when none was replaced.
    pub previous: Option<PreviousEnv>,
    #[serde(flatten)]
    pub summary: EnvSummary,
    /// Only with `--dry-run`: `copy` (the current .env to `kept_at`), `write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// Entry and byte counts of a tree (the root itself not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TreeCounts {
    /// Files + directories + symlinks.
    pub entries: u64,
    /// Regular files (hard links included).
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Files that are a hard link to a file already counted.
    pub hardlinks: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}

/// `snapshot --into SET`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SnapshotData {
    /// The backup set.
    pub set: String,
    /// `SET/tree`.
    pub tree: String,
    /// `SET/tree.meta.json`.
    pub meta: String,
    /// The install copied (symlinks in its path resolved).
    pub root: String,
    /// What was copied (with `--dry-run`: what would be).
    #[serde(flatten)]
    pub counts: TreeCounts,
    /// Relative paths left out (`--exclude`, and the set itself when inside the root).
    pub excluded: Vec<String>,
    /// Entries that are not files, directories or symlinks (not copied).
    pub skipped: Vec<String>,
    /// False when not run as root (the copy then belongs to the current user).
    pub owners_kept: bool,
    /// The copy's counts matched the install's.
    pub verified: bool,
    /// An earlier snapshot was replaced (`--replace`).
    pub replaced: bool,
    /// Only when an earlier snapshot was kept: its tree.meta.json.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<crate::backup_set::tree_meta::TreeMeta>,
    /// Only with `--dry-run`: `[{action: "copy_tree", path, detail}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// One path `restore-tree` put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RestoredPath {
    /// Relative to the root, e.g. `vendor`.
    pub path: String,
    /// `replace` (it existed and was replaced), `create` (it did not exist), `remove` (it
    /// is not in the snapshot: the install's is removed), `same` (already identical).
    pub action: String,
    /// What the snapshot holds there (the path itself counted as one entry).
    pub counts: TreeCounts,
}

/// `restore-tree --from SET [--only PATH]…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RestoreTreeData {
    /// The backup set.
    pub set: String,
    /// `SET/tree`, the snapshot read.
    pub tree: String,
    /// The install written.
    pub root: String,
    /// The `--only` paths, relative to the root; empty: the whole tree.
    pub only: Vec<String>,
    /// Per path, what was (with `--dry-run`: would be) done.
    pub paths: Vec<RestoredPath>,
    /// Top-level paths left alone in a whole-tree restore (excluded from the snapshot,
    /// or holding an excluded path, or the set itself).
    pub kept: Vec<String>,
    /// Every restored copy's counts matched the snapshot's.
    pub verified: bool,
    /// Only with `--dry-run`: `restore`/`remove` per path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("save", schemars::schema_for!(SaveData)),
        ("show", schemars::schema_for!(ShowData)),
        ("restore-key", schemars::schema_for!(RestoreKeyData)),
        ("restore", schemars::schema_for!(RestoreData)),
        ("snapshot", schemars::schema_for!(SnapshotData)),
        ("restore-tree", schemars::schema_for!(RestoreTreeData)),
        (
            "env.meta.json",
            schemars::schema_for!(crate::backup_set::env_meta::EnvMeta),
        ),
        (
            "tree.meta.json",
            schemars::schema_for!(crate::backup_set::tree_meta::TreeMeta),
        ),
    ]
}
