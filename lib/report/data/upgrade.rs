//! `data` of df-upgrade's report. See [`crate::report::data`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of a wrapper's run: a child tool's run, or the wrapper's own bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepReport {
    /// The step's name (`preflight`, `lock`, `backup`, `fetch`, `stage`, `down`, `dump`, `git`,
    /// `composer`, `migrate`, `clear`, `perms`, `up`, `restart`, `verify`, `manifest`, `prune`).
    pub name: String,
    pub ok: bool,
    /// The step changed the install.
    pub changed: bool,
    /// The step did not run (`--skip`, nothing to do, or `--no-migrate`).
    pub skipped: bool,
    pub duration_ms: u64,
    /// A one-line summary (the child's `msg`, or why it was skipped).
    pub msg: String,
    /// The child's whole report, as it printed it (absent for the wrapper's own steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
}

/// df-upgrade's `data`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpgradeData {
    /// The install.
    pub root: String,
    /// The backup set of this run (null when nothing needed a backup: a no-op run).
    pub set: Option<String>,
    /// What the run aimed at: `branch` or `ref`, and its name.
    pub target: String,
    pub old_commit: Option<String>,
    pub new_commit: Option<String>,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    /// Every step, in order, with the child's report.
    pub steps: Vec<StepReport>,
    /// The step that failed (null on success).
    pub failed_step: Option<String>,
    /// The rollback's steps, in order (empty when none ran).
    pub rollback: Vec<StepReport>,
    /// Whether the rollback put everything back (null when none ran).
    pub rolled_back: Option<bool>,
    /// Complete sets deleted by `--keep` after success.
    pub pruned: Vec<String>,
    /// How long the site was in maintenance mode, in ms: from the end of the `down` step
    /// (the down file is written) to the end of the `up` step, or of the rollback's `up`
    /// (plus the rollback's own window when the run failed after `up`). Null when the run
    /// took no window (a no-op, a dry run, a failure before `down`).
    pub maintenance_ms: Option<u64>,
    /// Only on a failure: whether the install changed before the run failed (the
    /// envelope's `changed` is lifted from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// This tool's data schemas, `(subcommand, schema)`.
pub fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![("", schemars::schema_for!(UpgradeData))]
}
