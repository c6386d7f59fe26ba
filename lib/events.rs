//! `--events FILE`: a wrapper's steps as JSON Lines, for live monitoring.
//!
//! Modelled on ripgrep's `--json` messages: a stream of typed events, one JSON object per
//! line, flushed as each happens, ending with a `summary` whose fields match the report
//! on stdout. Each line is `{"event": KIND, "at": RFC3339, ...}` where KIND is one of
//! `step_start` (`step`), `step_end` (`step`, `ok`, `changed`, `skipped`, `duration_ms`,
//! `msg`), `rollback_start` (`reason`), `rollback_step` (`step`, `ok`, `msg`),
//! `rollback_end` (`ok`) and `summary` (`ok`, `changed`, `msg`, `failed_step`, `set`).
//! `tail -f FILE | jq` follows a run. Secrets are scrubbed as on stdout.

use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// One line of the events file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StepStart {
        step: String,
    },
    StepEnd {
        step: String,
        ok: bool,
        changed: bool,
        skipped: bool,
        duration_ms: u64,
        msg: String,
    },
    RollbackStart {
        reason: String,
    },
    RollbackStep {
        step: String,
        ok: bool,
        msg: String,
    },
    RollbackEnd {
        ok: bool,
    },
    Summary {
        ok: bool,
        changed: bool,
        msg: String,
        failed_step: Option<String>,
        set: Option<String>,
    },
}

/// A line as written: the event plus its time.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    event: &'a Event,
    at: String,
}

/// Where events go: a file, or nowhere.
pub struct Events {
    file: Option<File>,
}

impl Events {
    /// No events file.
    pub fn none() -> Events {
        Events { file: None }
    }

    /// Append events to `path` (created 0600 if missing).
    pub fn open(path: &Path) -> Result<Events> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("opening the events file", path, e))?;
        Ok(Events { file: Some(file) })
    }

    /// Write one event. A write failure is not fatal to the run: monitoring must never
    /// break an upgrade, so it is reported once through the returned error and ignored
    /// by callers that choose to.
    pub fn emit(&mut self, event: Event) -> std::io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let line = Line {
            event: &event,
            at: crate::report::now_rfc3339(),
        };
        let text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        let text = crate::secret::scrub_json(&text);
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_lines_with_a_kind_and_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ev.jsonl");
        let mut ev = Events::open(&p).unwrap();
        ev.emit(Event::StepStart {
            step: "dump".into(),
        })
        .unwrap();
        ev.emit(Event::Summary {
            ok: true,
            changed: false,
            msg: "nothing to do".into(),
            failed_step: None,
            set: None,
        })
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "step_start");
        assert_eq!(lines[0]["step"], "dump");
        assert!(lines[0]["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["event"], "summary");
        let back: Event = serde_json::from_value(lines[1].clone()).unwrap();
        assert!(matches!(back, Event::Summary { ok: true, .. }));
    }
}
