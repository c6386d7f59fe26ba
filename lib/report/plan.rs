//! `data.plan`: what a `--dry-run` would do, in one shape for every tool.
//!
//! Every tool that supports `--dry-run` reports `data.plan` as a list of [`PlanItem`]s,
//! in the order the real run would perform them:
//!
//! ```json
//! [{"action":"run","command":"git -c … fetch --tags origin","detail":"fetch the release tags"},
//!  {"action":"chown","path":"storage/logs/x.log","detail":"root:root -> www-data:www-data"}]
//! ```
//!
//! `action` is a short verb (`run`, `write`, `copy`, `chown`, `chmod`, `remove`, `restore`,
//! `create_set`, …); `command` is the masked, shell-quoted command line when the step runs
//! a program; `path` is the file or directory the step touches; `detail` says why or what
//! in words. Secrets never appear (commands are masked by [`crate::exec::Cmd::display`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One step a dry run would take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanItem {
    /// A short verb: `run`, `write`, `copy`, `chown`, `chmod`, `remove`, `restore`, ….
    pub action: String,
    /// The masked command line, when the step runs a program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The file or directory the step touches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What the step does or why, in words.
    pub detail: String,
}

impl PlanItem {
    /// A step that runs a program (give `cmd.display()`).
    pub fn run(command: impl Into<String>, detail: impl Into<String>) -> PlanItem {
        PlanItem {
            action: "run".into(),
            command: Some(command.into()),
            path: None,
            detail: detail.into(),
        }
    }

    /// A step that acts on a path.
    pub fn on_path(
        action: impl Into<String>,
        path: impl Into<String>,
        detail: impl Into<String>,
    ) -> PlanItem {
        PlanItem {
            action: action.into(),
            command: None,
            path: Some(path.into()),
            detail: detail.into(),
        }
    }

    /// Any other step.
    pub fn new(action: impl Into<String>, detail: impl Into<String>) -> PlanItem {
        PlanItem {
            action: action.into(),
            command: None,
            path: None,
            detail: detail.into(),
        }
    }
}
