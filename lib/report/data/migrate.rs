//! `data` of df-migrate's reports. See [`crate::report::data`].

use super::upgrade::StepReport;
use crate::bundle::Manifest;
use crate::report::PlanItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `df-migrate export`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ExportData {
    /// The install exported.
    pub root: String,
    /// The bundle file written (0600).
    pub bundle: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// sha256 of the bundle file as written (what `push` compares on the far side).
    pub sha256: String,
    /// Whether it is age-encrypted.
    pub encrypted: bool,
    /// How many age recipients can open it (0: not encrypted).
    pub recipients: usize,
    /// The bundle's manifest (null before it was built).
    pub manifest: Option<Manifest>,
    /// Every step: the children's runs (`save`, `dump`, `status`) and `pack`, `encrypt`.
    pub steps: Vec<StepReport>,
}

/// `df-migrate push`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PushData {
    /// The local bundle.
    pub bundle: String,
    /// The destination URL as given.
    pub to: String,
    /// `ssh`, `docker` or `k8s`.
    pub scheme: String,
    /// The file's path on the far side.
    pub remote_path: String,
    /// sha256 of the local file.
    pub sha256: String,
    /// sha256 computed on the far side (null when not reached).
    pub remote_sha256: Option<String>,
    /// The two checksums are equal.
    pub verified: bool,
    /// The remote copy was removed after a mismatch.
    pub removed: bool,
    /// The commands run (or, with `--dry-run`, that would run), masked.
    pub plan: Vec<PlanItem>,
}

/// `df-migrate inspect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct InspectData {
    pub bundle: String,
    pub bytes: u64,
    /// sha256 of the file as it is (ciphertext when encrypted).
    pub sha256: String,
    pub encrypted: bool,
    /// Every byte checked: the trailer's checksum and each member's against the manifest.
    pub verified: bool,
    pub manifest: Option<Manifest>,
}

/// `df-migrate import` (and `recover`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ImportData {
    /// The new install.
    pub root: String,
    pub bundle: String,
    pub encrypted: bool,
    /// The bundle's manifest (null when it could not be read).
    pub manifest: Option<Manifest>,
    /// The backup set of the new instance taken before anything changed.
    pub set: Option<String>,
    /// Every step, in order, with the child's report.
    pub steps: Vec<StepReport>,
    /// The step that failed (null on success).
    pub failed_step: Option<String>,
    /// The rollback's steps, in order (empty when none ran).
    pub rollback: Vec<StepReport>,
    /// Whether the rollback put the new instance back (null when none ran).
    pub rolled_back: Option<bool>,
    /// Only on a failure: whether the install changed before the run failed (the
    /// envelope's `changed` is lifted from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("export", schemars::schema_for!(ExportData)),
        ("push", schemars::schema_for!(PushData)),
        ("inspect", schemars::schema_for!(InspectData)),
        ("import", schemars::schema_for!(ImportData)),
    ]
}
