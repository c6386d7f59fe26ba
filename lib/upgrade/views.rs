//! The fields of the children's reports that df-upgrade acts on, typed.
//!
//! Each is a subset of the tool's `data` as documented in docs/json.md; unknown fields
//! are ignored and missing ones default, so a failed child's partial `data` still reads.

use serde::Deserialize;

/// df-git-update `update` (and `update --dry-run`, `status`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GitView {
    pub old_commit: Option<String>,
    pub new_commit: Option<String>,
    pub old_branch: Option<String>,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    pub composer_lock_changed: bool,
    pub migrations_added: Vec<String>,
    /// `--dry-run`: the commit the target points at.
    pub remote_commit: Option<String>,
    /// The target's composer.json `require.php`.
    pub new_require_php: Option<String>,
    /// `status`.
    pub head: Option<String>,
    pub branch: Option<String>,
    pub version: Option<String>,
}

/// df-artisan `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ArtisanStatusView {
    pub pending: Vec<String>,
}

/// df-artisan `version`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ArtisanVersionView {
    pub php_version: Option<String>,
}

/// df-verify: its checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VerifyView {
    pub checks: Vec<CheckView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckView {
    pub name: String,
    pub status: String,
    pub detail: String,
}

impl VerifyView {
    /// The checks that failed, as `name: detail`.
    pub fn failures(&self) -> Vec<&CheckView> {
        self.checks.iter().filter(|c| c.status == "fail").collect()
    }
}
