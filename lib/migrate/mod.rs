//! df-migrate: move an instance to a new server — APP_KEY, database and all — in one
//! verified bundle ([`crate::bundle`]).
//!
//! * `export` (old host): `.env` saved and the database dumped by the step tools into a
//!   private temp set, then packed with a manifest into one bundle file, optionally
//!   encrypted for age recipients;
//! * `push`: the bundle copied over ssh, `docker cp` or `kubectl cp` and checked by its
//!   sha256 on the far side ([`crate::transfer`]);
//! * `import` (new host): bundle verified and driver compared before anything changes,
//!   a set of the new instance taken, then each step a sibling run — strict mode, restore
//!   with `--replace`, the data keys, migrate, clear, perms, restart, verify against the
//!   bundle — with a journal, events and a rollback to the new instance's own set;
//! * `inspect`: the manifest and a verification, changing nothing.
//!
//! Like df-upgrade this module composes binaries, never functions: it imports report,
//! exec (through children), backup_set, lock, journal, events, atomic, secret, bundle and
//! transfer — never the step modules.

pub mod export;
pub mod import;
pub mod push;
pub mod views;

use crate::children::{ChildRun, Children};
use crate::error::Result;
use crate::events::{Event, Events};
use crate::journal::{self, Journal};
use crate::report::data::migrate::InspectData;
use crate::report::data::upgrade::StepReport;
use crate::report::{Ctx, Outcome};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A run of a df-migrate subcommand: the children, the steps recorded so far, the events
/// and (import) the journal.
pub(crate) struct Run<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) children: Children,
    pub(crate) steps: Vec<StepReport>,
    pub(crate) rollback: Vec<StepReport>,
    events: Events,
    pub(crate) journal_path: PathBuf,
    pub(crate) journal: Option<Journal>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        ctx: &'a Ctx,
        root: &Path,
        timeout: Duration,
        events: Option<&Path>,
    ) -> Result<Run<'a>> {
        Ok(Run {
            ctx,
            children: Children::new(root, timeout, ctx.dry_run()),
            steps: Vec::new(),
            rollback: Vec::new(),
            events: match events {
                Some(p) => Events::open(p)?,
                None => Events::none(),
            },
            journal_path: journal::path(root),
            journal: None,
        })
    }

    pub(crate) fn emit(&mut self, e: Event) {
        if let Err(err) = self.events.emit(e) {
            self.ctx.warn(format!("writing the events file: {err}"));
            self.events = Events::none();
        }
    }

    /// Record in the journal that `step` is starting (before it starts).
    pub(crate) fn journal_step(&mut self, step: &str) -> Result<()> {
        if let Some(j) = self.journal.as_mut() {
            if !j.step.is_empty() && !j.done.contains(&j.step) {
                let prev = j.step.clone();
                j.done.push(prev);
            }
            j.step = step.to_string();
            journal::write(&self.journal_path, j)?;
        }
        Ok(())
    }

    fn log_step(&self, s: &StepReport) {
        let state = if s.skipped {
            "skipped"
        } else if !s.ok {
            "FAILED"
        } else if s.changed {
            "changed"
        } else {
            "ok"
        };
        self.ctx.log(format!(
            "{:<9} {state}: {} ({} ms)",
            s.name, s.msg, s.duration_ms
        ));
    }

    fn push(&mut self, s: StepReport) {
        self.log_step(&s);
        self.emit(Event::StepEnd {
            step: s.name.clone(),
            ok: s.ok,
            changed: s.changed,
            skipped: s.skipped,
            duration_ms: s.duration_ms,
            msg: s.msg.clone(),
        });
        self.steps.push(s);
    }

    /// Record a step that did not run.
    pub(crate) fn skip(&mut self, step: &str, why: &str) {
        self.emit(Event::StepStart { step: step.into() });
        self.push(StepReport {
            name: step.into(),
            ok: true,
            skipped: true,
            msg: why.into(),
            ..Default::default()
        });
    }

    /// Run one of the wrapper's own steps (no child) and record it.
    pub(crate) fn own<T>(
        &mut self,
        step: &str,
        f: impl FnOnce(&mut Self) -> Result<(T, bool, String)>,
    ) -> Result<T> {
        self.emit(Event::StepStart { step: step.into() });
        let t0 = Instant::now();
        let r = f(self);
        let (ok, changed, msg) = match &r {
            Ok((_, changed, msg)) => (true, *changed, msg.clone()),
            Err(e) => (false, false, e.message.clone()),
        };
        self.push(StepReport {
            name: step.into(),
            ok,
            changed,
            skipped: false,
            duration_ms: t0.elapsed().as_millis() as u64,
            msg,
            report: None,
        });
        r.map(|(t, _, _)| t)
    }

    /// Run one child as `step`: journal first, then the child, then the record. A child
    /// that failed becomes an error carrying its kind, message and hint.
    pub(crate) fn child<D: DeserializeOwned>(
        &mut self,
        step: &str,
        tool: &str,
        a: Vec<OsString>,
    ) -> Result<ChildRun<D>> {
        self.journal_step(step)?;
        self.emit(Event::StepStart { step: step.into() });
        let t0 = Instant::now();
        let run = match self.children.run::<D>(tool, &a) {
            Ok(r) => r,
            Err(e) => {
                self.push(StepReport {
                    name: step.into(),
                    ok: false,
                    duration_ms: t0.elapsed().as_millis() as u64,
                    msg: e.message.clone(),
                    ..Default::default()
                });
                return Err(e);
            }
        };
        self.push(StepReport {
            name: step.into(),
            ok: run.ok(),
            changed: run.report.changed,
            skipped: false,
            duration_ms: t0.elapsed().as_millis() as u64,
            msg: run.report.msg.clone(),
            report: Some(run.raw.clone()),
        });
        if !run.ok() {
            return Err(crate::upgrade::child_error(tool, &run));
        }
        Ok(run)
    }

    /// One rollback step: a child run, recorded; false when it failed.
    pub(crate) fn rollback_step(&mut self, name: &str, tool: &str, a: Vec<OsString>) -> bool {
        let t0 = Instant::now();
        let (ok, changed, msg, report) = match self.children.run::<Value>(tool, &a) {
            Ok(r) => (r.ok(), r.report.changed, r.report.msg.clone(), Some(r.raw)),
            Err(e) => (false, false, e.message, None),
        };
        let s = StepReport {
            name: name.to_string(),
            ok,
            changed,
            skipped: false,
            duration_ms: t0.elapsed().as_millis() as u64,
            msg,
            report,
        };
        self.ctx.log(format!(
            "rollback {:<8} {}: {}",
            s.name,
            if ok { "ok" } else { "FAILED" },
            s.msg
        ));
        self.emit(Event::RollbackStep {
            step: s.name.clone(),
            ok,
            msg: s.msg.clone(),
        });
        self.rollback.push(s);
        ok
    }

    /// The step that failed last, if any.
    pub(crate) fn failed_step(&self) -> Option<String> {
        self.steps
            .iter()
            .rev()
            .find(|s| !s.ok)
            .map(|s| s.name.clone())
    }
}

/// `df-migrate inspect FILE`: the manifest and a verification of every byte; nothing
/// changes (the plaintext of an encrypted bundle lives in a 0700 temp dir meanwhile).
pub fn inspect(ctx: &Ctx, bundle: &Path, identity: Option<&Path>) -> Result<Outcome> {
    let parent = std::env::temp_dir();
    let opened = crate::bundle::open(bundle, identity, &parent)?;
    let m = &opened.manifest;
    let msg = format!(
        "bundle {} verified: {} {} instance from {} ({}), {} tables, APP_KEY {}{}",
        bundle.display(),
        m.driver,
        m.df_version.as_deref().unwrap_or("?"),
        m.host,
        m.created_at,
        m.row_counts.len(),
        m.app_key_fingerprint.as_deref().unwrap_or("?"),
        if opened.encrypted { ", encrypted" } else { "" }
    );
    ctx.log(&msg);
    let data = InspectData {
        bundle: bundle.display().to_string(),
        bytes: opened.bytes,
        sha256: opened.sha256.clone(),
        encrypted: opened.encrypted,
        verified: true,
        manifest: Some(opened.manifest.clone()),
    };
    Ok(Outcome::typed(false, msg, &data))
}
