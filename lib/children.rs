//! Running sibling dfkit tools as child processes and reading their typed reports.
//!
//! A wrapper composes binaries, never functions: df-upgrade runs `df-dump-db dump …` as
//! a child through [`crate::exec`], and parses its stdout — exactly one JSON object, the
//! contract of every tool — as a [`Report<D>`] whose `data` is the tool's typed data
//! from [`crate::report::data`]. So every step a wrapper takes is a step a person can
//! run by hand, with the same report.
//!
//! Siblings are found beside the running executable (an install puts them together),
//! else on PATH. `DFKIT_TOOLS_DIR=DIR` makes DIR the only place looked in (packagers with
//! another layout; tests that put recording wrappers in front of the real tools).

use crate::error::{Error, ErrorKind, Result};
use crate::exec::Cmd;
use crate::report::Report;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The tools a wrapper may run.
pub const TOOLS: [&str; 7] = [
    "df-backup-env",
    "df-dump-db",
    "df-git-update",
    "df-perms",
    "df-artisan",
    "df-restart",
    "df-verify",
];

/// Refuse (69) unless every sibling tool is found.
pub fn all_present() -> Result<()> {
    let missing: Vec<&str> = TOOLS.into_iter().filter(|t| locate(t).is_err()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(
        Error::unavailable(format!("dfkit tools missing: {}", missing.join(", ")))
            .with_hint("install all of dfkit's tools together (`make install`)"),
    )
}

/// Where a sibling tool is: beside the running executable, else on PATH (69 if neither).
pub fn locate(tool: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DFKIT_TOOLS_DIR").filter(|d| !d.is_empty()) {
        let p = PathBuf::from(dir).join(tool);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(Error::unavailable(format!(
                "{tool} not found in DFKIT_TOOLS_DIR ({})",
                p.display()
            ))
            .with_hint("unset DFKIT_TOOLS_DIR, or put all of dfkit's tools there"))
        };
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let p = dir.join(tool);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    crate::exec::find_program(tool).map_err(|e| {
        e.with_hint(format!(
            "install dfkit's tools together (`make install`), so {tool} is beside this one or on PATH"
        ))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// One finished child run.
#[derive(Debug, Clone)]
pub struct ChildRun<D> {
    /// The report, typed.
    pub report: Report<D>,
    /// The same report as printed (kept whole in the wrapper's own report).
    pub raw: Value,
    /// The child's exit code (None: killed by a signal).
    pub exit_code: Option<i32>,
    /// The masked command line.
    pub command: String,
}

impl<D> ChildRun<D> {
    pub fn ok(&self) -> bool {
        self.report.ok && self.exit_code == Some(0)
    }
}

/// Runs sibling tools against one install.
#[derive(Debug, Clone)]
pub struct Children {
    root: PathBuf,
    timeout: Duration,
    dry_run: bool,
}

impl Children {
    /// Children for the install at `root`; each is killed after `timeout`.
    pub fn new(root: &Path, timeout: Duration, dry_run: bool) -> Children {
        Children {
            root: root.to_path_buf(),
            timeout,
            dry_run,
        }
    }

    /// The same children for another install root (df-upgrade's staged release).
    pub fn with_root(&self, root: &Path) -> Children {
        Children {
            root: root.to_path_buf(),
            ..self.clone()
        }
    }

    /// The same children with `--dry-run` on or off.
    pub fn with_dry_run(&self, dry_run: bool) -> Children {
        Children {
            dry_run,
            ..self.clone()
        }
    }

    /// The command that runs `tool ARGS… --root ROOT --quiet` (plus `--dry-run`).
    pub fn command(&self, tool: &str, args: &[OsString]) -> Result<Cmd> {
        let mut cmd = Cmd::resolved(locate(tool)?)
            .args(args)
            .arg("--root")
            .arg(&self.root)
            .arg("--quiet")
            // A wrapper killed by SIGKILL leaves no step running under the next run's
            // `recover`: lib/exec arms the parent death signal (run() waits on this thread).
            .timeout(self.timeout);
        if self.dry_run {
            cmd = cmd.arg("--dry-run");
        }
        Ok(cmd)
    }

    /// Run `tool` and parse its report. A child that failed still returns `Ok` with its
    /// report (`ok: false`): the caller decides. Only a child that printed no report is
    /// an error (`internal`, exit 70: the contract was broken).
    pub fn run<D: DeserializeOwned>(&self, tool: &str, args: &[OsString]) -> Result<ChildRun<D>> {
        let cmd = self.command(tool, args)?;
        let command = cmd.display();
        let out = cmd.run()?;
        let text = out.stdout_str();
        let raw: Value = serde_json::from_str(text.trim()).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!(
                    "{tool} printed no JSON report ({}): {e}; its stderr ends: {}",
                    out.status_text(),
                    out.tail(5)
                ),
            )
            .with_hint(format!("run it by hand to see why: {command}"))
        })?;
        let report: Report<D> = serde_json::from_value(raw.clone()).map_err(|e| {
            Error::internal(format!(
                "{tool}'s report does not have the shape this wrapper knows: {e}"
            ))
            .with_hint("all dfkit tools must be of the same version")
        })?;
        Ok(ChildRun {
            report,
            raw,
            exit_code: out.code,
            command,
        })
    }
}

/// Arguments as `OsString`s: `args(["dump", "--into"])`.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}
