//! A wrapper's run: its steps — child runs of sibling tools, or its own bookkeeping —
//! recorded in order as [`StepReport`]s, journaled before each starts
//! ([`crate::journal`]), streamed as events ([`crate::events`]), and the steps of a
//! rollback recorded the same way. df-upgrade and df-migrate both run on it.

use crate::children::{args, ChildRun, Children};
use crate::error::Result;
use crate::events::{Event, Events};
use crate::journal::{self, Journal};
use crate::report::data::upgrade::StepReport;
use crate::report::Ctx;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the web server is restarted after the wrapper's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RestartMode {
    /// A graceful reload: the site keeps answering (`df-restart --reload`).
    #[default]
    Reload,
    /// A full restart (`df-restart`).
    Restart,
}

/// The flags every wrapper run takes.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// Also write each step as JSON Lines to FILE, as it happens
    #[arg(long, value_name = "FILE", global = true)]
    pub events: Option<std::path::PathBuf>,
    /// Limit for each step's run, in seconds
    #[arg(long, value_name = "DURATION", default_value = "7200", global = true, value_parser = crate::duration::parse)]
    pub timeout: Duration,
}

/// The restart flags a wrapper takes and passes on to df-restart.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RestartFlags {
    /// reload (graceful, the site keeps answering) or restart
    #[arg(long, value_enum, default_value = "reload", global = true)]
    pub restart_mode: RestartMode,
    /// df-restart --via (auto, systemd, service, initd, docker, kubernetes)
    #[arg(long, value_name = "VIA", global = true)]
    pub via: Option<String>,
    /// df-restart --service (repeatable)
    #[arg(long = "service", value_name = "NAME", global = true)]
    pub services: Vec<String>,
    /// df-restart --container (with --via docker)
    #[arg(long, value_name = "NAME", global = true)]
    pub container: Option<String>,
    /// Health URL probed after the restart and by verify (e.g. http://127.0.0.1/status)
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    /// Don't probe a URL after the restart
    #[arg(long, global = true)]
    pub no_probe: bool,
}

impl RestartFlags {
    /// df-restart's argv: the flags as given, `--reload` unless a full restart was asked.
    pub fn restart_cmd(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(v) = &self.via {
            a.extend(args(["--via", v.as_str()]));
        }
        for s in &self.services {
            a.extend(args(["--service", s.as_str()]));
        }
        if let Some(c) = &self.container {
            a.extend(args(["--container", c.as_str()]));
        }
        if self.no_probe {
            a.push("--no-probe".into());
        }
        if self.restart_mode == RestartMode::Reload {
            a.push("--reload".into());
        }
        if let Some(u) = &self.url {
            a.extend(args(["--url", u.as_str()]));
        }
        a
    }
}

/// df-perms' `--user U --group G`, for those given.
pub fn owner_args(user: Option<&str>, group: Option<&str>) -> Vec<OsString> {
    let mut a = Vec::new();
    if let Some(u) = user {
        a.extend(args(["--user", u]));
    }
    if let Some(g) = group {
        a.extend(args(["--group", g]));
    }
    a
}

/// A wrapper's run: the children, the steps recorded so far, the events and, once the
/// wrapper starts changing things, the journal.
pub struct Run<'a> {
    pub ctx: &'a Ctx,
    pub children: Children,
    pub steps: Vec<StepReport>,
    pub rollback: Vec<StepReport>,
    events: Events,
    pub journal_path: PathBuf,
    pub journal: Option<Journal>,
}

impl<'a> Run<'a> {
    pub fn new(
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

    pub fn emit(&mut self, e: Event) {
        if let Err(err) = self.events.emit(e) {
            self.ctx.warn(format!("writing the events file: {err}"));
            self.events = Events::none();
        }
    }

    /// Record in the journal that `step` is starting (before it starts).
    pub fn journal_step(&mut self, step: &str) -> Result<()> {
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
    pub fn skip(&mut self, step: &str, why: &str) {
        self.emit(Event::StepStart { step: step.into() });
        self.push(StepReport {
            name: step.into(),
            ok: true,
            skipped: true,
            msg: why.into(),
            ..Default::default()
        });
    }

    /// Record one of the wrapper's own steps (no child) after the fact: it started at
    /// `t0` (its `step_start` event was emitted then).
    pub fn record(&mut self, step: &str, ok: bool, changed: bool, msg: String, t0: Instant) {
        self.push(StepReport {
            name: step.into(),
            ok,
            changed,
            skipped: false,
            duration_ms: t0.elapsed().as_millis() as u64,
            msg,
            report: None,
        });
    }

    /// Record a rollback step that could not run (`msg` says why).
    pub fn rollback_note(&mut self, name: &str, msg: String) {
        self.ctx.log(format!("rollback {name:<8} FAILED: {msg}"));
        self.emit(Event::RollbackStep {
            step: name.to_string(),
            ok: false,
            msg: msg.clone(),
        });
        self.rollback.push(StepReport {
            name: name.to_string(),
            msg,
            ..Default::default()
        });
    }

    /// Run one of the wrapper's own steps (no child) and record it.
    pub fn own<T>(
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
        self.record(step, ok, changed, msg, t0);
        r.map(|(t, _, _)| t)
    }

    /// Run one child as `step`: journal first, then the child, then the record. A child
    /// that failed becomes an error carrying its kind, message and hint.
    pub fn child<D: DeserializeOwned>(
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

    /// As [`Run::child`], run against another root (`--root DIR`) than the install's.
    pub fn child_at<D: DeserializeOwned>(
        &mut self,
        root: &Path,
        step: &str,
        tool: &str,
        a: Vec<OsString>,
    ) -> Result<ChildRun<D>> {
        let at = self.children.with_root(root);
        let home = std::mem::replace(&mut self.children, at);
        let r = self.child(step, tool, a);
        self.children = home;
        r
    }

    /// One rollback step: a child run, recorded; false when it failed.
    pub fn rollback_step(&mut self, name: &str, tool: &str, a: Vec<OsString>) -> bool {
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
    pub fn failed_step(&self) -> Option<String> {
        self.steps
            .iter()
            .rev()
            .find(|s| !s.ok)
            .map(|s| s.name.clone())
    }
}
