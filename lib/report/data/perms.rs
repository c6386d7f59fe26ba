//! `data` of df-perms' reports. See [`crate::report::data`].
//!
//! One type, [`PermsData`], for every outcome: on success, with `--dry-run` (then `plan`
//! is set and the counts say what would change), and on failure (the counts of what was
//! done before the run failed, `errors` > 0, and `changed`).

use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The owner applied: ids and names; a kept id (and its name) is null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PermsOwner {
    /// The uid set, null when kept.
    pub uid: Option<u32>,
    /// Its user name (the number as text without a passwd entry), null when kept.
    pub user: Option<String>,
    /// The gid set, null when kept.
    pub gid: Option<u32>,
    /// Its group name, null when kept.
    pub group: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Skipped entries by reason; a reason that did not occur is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SkippedByReason {
    /// Regular files with more than one hard link (another name may be outside the tree).
    #[serde(skip_serializing_if = "is_zero")]
    pub hard_link: u64,
    /// Mount points of other filesystems (and what is below them).
    #[serde(skip_serializing_if = "is_zero")]
    pub other_filesystem: u64,
    /// Device nodes.
    #[serde(skip_serializing_if = "is_zero")]
    pub device: u64,
    /// Entries replaced or moved while being examined (e.g. a directory swapped for a
    /// symlink, or a directory that could not be found again where it was): not followed.
    #[serde(skip_serializing_if = "is_zero")]
    pub changed_during_walk: u64,
    /// Entries removed while being examined (counted, not listed, not warned about).
    #[serde(skip_serializing_if = "is_zero")]
    pub vanished: u64,
}

/// One skipped entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SkippedEntry {
    /// Its absolute path (bytes that are not UTF-8 show as U+FFFD).
    pub path: String,
    /// One of the keys of [`SkippedByReason`].
    pub reason: String,
}

/// What was done to one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PermsTarget {
    /// The target as given (or the default's name), e.g. `storage`.
    pub target: String,
    /// Its resolved absolute path.
    pub path: String,
    /// The owner applied to this target (with `owner_from: "target"`, its top's owner).
    pub owner: PermsOwner,
    /// Entries examined, the target itself included.
    pub scanned: u64,
    /// Entries whose owner or group was (dry run: would be) changed.
    pub chowned: u64,
    /// Entries whose mode was (dry run: would be) changed.
    pub chmodded: u64,
    /// Entries left alone.
    pub skipped: u64,
    /// Those by reason.
    pub skipped_by_reason: SkippedByReason,
    /// Whether anything in this target was (would be) changed.
    pub changed: bool,
}

/// df-perms' `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PermsData {
    /// The root, resolved (symlinks in it followed).
    pub root: String,
    /// `"flags"` (owner from --user/--group) or `"target"` (each target's own top owner).
    pub owner_from: String,
    /// The owner from the flags; null when `owner_from` is `"target"`.
    pub owner: Option<PermsOwner>,
    /// Directory mode applied, four octal digits (`"2775"`).
    pub dir_mode: String,
    /// Mode of everything else but symlinks.
    pub file_mode: String,
    /// Entries examined, targets included.
    pub scanned: u64,
    /// Entries whose owner or group was (would be) changed.
    pub chowned: u64,
    /// Entries whose mode was (would be) changed.
    pub chmodded: u64,
    /// Entries left alone.
    pub skipped: u64,
    /// Those by reason.
    pub skipped_by_reason: SkippedByReason,
    /// The first 100 skipped entries (`vanished` ones are counted, not listed).
    pub skipped_entries: Vec<SkippedEntry>,
    /// More were skipped than listed.
    pub skipped_entries_truncated: bool,
    /// Per target, in order.
    pub targets: Vec<PermsTarget>,
    /// Entries that could not be changed (0 on success).
    pub errors: u64,
    /// Only with `--dry-run`: per target a `chown` and a `chmod` step (when it would change
    /// anything), `path` the target, `detail` how many entries and to what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanItem>>,
    /// Only on failure: whether entries were changed before the run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![("", schemars::schema_for!(PermsData))]
}
