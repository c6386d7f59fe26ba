//! df-upgrade: the guide's in-place minor upgrade as one command that never leaves the
//! site broken.
//!
//! It composes the step tools — every step is one child run of a sibling binary through
//! [`crate::children`], whose typed report is recorded before the next step starts:
//!
//! lock → preflight → backup (.env save + tree snapshot) → fetch (the target into the
//! local refs, while the site serves) → stage (composer install in an export of the
//! target, beside the install: [`stage`]) → down → dump (taken while down, so nothing
//! written between the dump and a rollback is lost) → git update (`--no-fetch`) →
//! composer (the staged vendor/ swapped in; composer install itself when there is no
//! stage; skipped when composer.lock did not change and vendor/autoload.php exists) →
//! migrate --seed → clear → perms → up → restart (a graceful reload by default) → verify
//! against the set → manifest.json (written last: a set without it is incomplete) → prune.
//!
//! A journal ([`crate::journal`]) records each step before it starts; a run killed at any
//! point leaves it, and the next run refuses (75) until `df-upgrade recover` has put the
//! install back. A failure after `down` rolls back at once ([`rollback`]).
//!
//! This module imports report, exec (through children), backup_set, lock, journal and
//! events — never the step modules: a wrapper composes binaries, never functions. The
//! children's reports are read as the typed data of [`crate::report::data`].

mod preflight;
pub mod rollback;
pub mod stage;
pub mod steps;

use crate::backup_set::BackupSet;
use crate::children::{args, ChildRun, Children};
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::journal::{self, Journal};
use crate::lock::Lock;
use crate::report::data::git::{FetchData, UpdateData};
use crate::report::data::upgrade::UpgradeData;
use crate::report::data::verify::VerifyData;
use crate::report::{Ctx, Outcome};
pub use crate::wrapper::RestartMode;
use crate::wrapper::{owner_args, RestartFlags, Run as Wrapper};
pub use preflight::interrupted;
use preflight::preflight;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};
pub use steps::Step;

/// What to upgrade to and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub root: PathBuf,
    pub into: Option<PathBuf>,
    pub branch: Option<String>,
    pub ref_: Option<String>,
    pub skip: Vec<Step>,
    pub no_migrate: bool,
    pub no_rollback: bool,
    pub force: bool,
    pub user: Option<String>,
    pub group: Option<String>,
    /// Modes passed to df-perms (`--dir-mode`, `--file-mode`).
    pub dir_mode: String,
    pub file_mode: String,
    pub keep: usize,
    pub events: Option<PathBuf>,
    /// Passed to df-restart; the health URL also to df-verify.
    pub restart: RestartFlags,
    /// Limit for each child run.
    pub timeout: Duration,
}

impl Options {
    fn target(&self) -> (String, Vec<OsString>) {
        match (&self.ref_, &self.branch) {
            (Some(r), _) => (format!("ref {r}"), args(["--ref", r.as_str()])),
            (None, Some(b)) => (format!("branch {b}"), args(["--branch", b.as_str()])),
            (None, None) => ("branch master".into(), args(["--branch", "master"])),
        }
    }

    fn skipped(&self, s: Step) -> bool {
        self.skip.contains(&s) || (s == Step::Migrate && self.no_migrate)
    }

    fn perms_args(&self) -> Vec<OsString> {
        let mut a = args([
            "--dir-mode",
            self.dir_mode.as_str(),
            "--file-mode",
            self.file_mode.as_str(),
        ]);
        a.extend(owner_args(self.user.as_deref(), self.group.as_deref()));
        a
    }

    fn restart_cmd(&self) -> Vec<OsString> {
        self.restart.restart_cmd()
    }
}

/// A run in progress: the step recorder shared by the wrappers ([`crate::wrapper::Run`]:
/// children, steps, events, journal) and df-upgrade's own report and backup set.
pub(crate) struct Run<'a> {
    pub(crate) w: Wrapper<'a>,
    pub(crate) opts: &'a Options,
    pub(crate) data: UpgradeData,
    set: Option<PathBuf>,
    /// When the `down` step ended: the site has been in maintenance mode since.
    pub(crate) down_at: Option<Instant>,
}

impl<'a> Run<'a> {
    fn new(ctx: &'a Ctx, opts: &'a Options) -> Result<Run<'a>> {
        Ok(Run {
            w: Wrapper::new(ctx, &opts.root, opts.timeout, opts.events.as_deref())?,
            opts,
            data: UpgradeData {
                root: opts.root.display().to_string(),
                target: opts.target().0,
                ..Default::default()
            },
            set: None,
            down_at: None,
        })
    }

    fn emit(&mut self, e: Event) {
        self.w.emit(e);
    }

    /// `up` succeeded: the maintenance window, if one was opened, is over (a rollback
    /// after `up` opens a second one: the report counts both).
    pub(crate) fn window_closed(&mut self) {
        if let Some(t) = self.down_at.take() {
            let ms = t.elapsed().as_millis() as u64;
            self.data.maintenance_ms = Some(self.data.maintenance_ms.unwrap_or(0) + ms);
        }
    }

    /// Record in the journal that `step` is starting (before it starts).
    fn journal_step(&mut self, step: Step) -> Result<()> {
        self.w.journal_step(step.name())
    }

    /// Record a step that did not run.
    fn skip(&mut self, step: Step, why: &str) {
        self.w.skip(step.name(), why);
    }

    /// Record one of df-upgrade's own steps (no child), which started at `t0`.
    fn own_step(&mut self, step: Step, ok: bool, changed: bool, msg: String, t0: Instant) {
        self.w.record(step.name(), ok, changed, msg, t0);
    }

    /// Run one child as `step`: journal first, then the child, then the record. A child
    /// that failed becomes an error carrying its kind, message and hint.
    fn child<D: DeserializeOwned>(
        &mut self,
        step: Step,
        tool: &str,
        a: Vec<OsString>,
    ) -> Result<ChildRun<D>> {
        self.w.child(step.name(), tool, a)
    }

    fn set_args(&self, flag: &str) -> Vec<OsString> {
        match &self.set {
            Some(s) => vec![flag.into(), s.clone().into_os_string()],
            None => vec![],
        }
    }
}

/// A failed child's report as our error: its kind, message and hint, named by tool.
pub(crate) fn child_error<D>(tool: &str, run: &ChildRun<D>) -> Error {
    let (kind, hint) = match &run.report.error {
        Some(e) => (
            ErrorKind::ALL
                .into_iter()
                .find(|k| k.as_str() == e.kind)
                .unwrap_or(ErrorKind::StepFailed),
            e.hint.clone(),
        ),
        None => (ErrorKind::StepFailed, None),
    };
    let mut err = Error::new(kind, format!("{tool}: {}", run.report.msg));
    if let Some(h) = hint {
        err = err.with_hint(h);
    }
    err
}

/// The upgrade. On failure after `down` it rolls back (unless `--no-rollback`) and
/// reports the failing step and every rollback step, exit 1.
pub fn upgrade(ctx: &Ctx, opts: &Options) -> Result<Outcome> {
    let dry = ctx.dry_run();
    let mut run = Run::new(ctx, opts)?;

    // lock: one run per install. Taken before preflight, so the journal and maintenance
    // checks cannot race another run.
    run.emit(Event::StepStart {
        step: "lock".into(),
    });
    let t0 = Instant::now();
    let _lock = match Lock::acquire(&opts.root, ctx.tool) {
        Ok(l) => {
            let msg = format!("holding {}", l.path().display());
            run.own_step(Step::Lock, true, false, msg, t0);
            l
        }
        Err(e) => {
            run.own_step(Step::Lock, false, false, e.message.clone(), t0);
            return Err(finish_err(run, e, None));
        }
    };

    let pre = match preflight(&mut run) {
        Ok(p) => p,
        Err(e) => return Err(finish_err(run, e, Some("preflight"))),
    };
    run.data.old_commit = pre.head.clone();
    run.data.old_version = pre.version.clone();

    if pre.nothing_to_do && !opts.force {
        run.data.new_commit = pre.head.clone();
        run.data.new_version = pre.version.clone();
        let msg = format!(
            "{} is already at {} ({}), nothing pending: nothing to do",
            opts.root.display(),
            run.data.target,
            pre.version.as_deref().unwrap_or("unknown version")
        );
        return Ok(finish_ok(run, false, msg));
    }

    if dry {
        return dry_run(run);
    }

    // The set and the journal: from here on a kill leaves a record.
    let set = match &opts.into {
        Some(d) => d.clone(),
        None => PathBuf::from(crate::backup_set::DEFAULT_BASE).join(crate::backup_set::stamp()),
    };
    run.set = Some(set.clone());
    run.data.set = Some(set.display().to_string());
    run.w.journal = Some(Journal {
        tool: ctx.tool.into(),
        root: opts.root.display().to_string(),
        set: set.display().to_string(),
        old_commit: pre.head.clone(),
        old_branch: pre.branch.clone(),
        pid: std::process::id(),
        host: crate::lock::hostname(),
        started_at: crate::report::now_rfc3339(),
        ..Default::default()
    });

    let steps = steps_after_preflight(&mut run);
    stage::remove(&run);
    match steps {
        Ok(()) => {}
        Err(e) => {
            let failed = run
                .w
                .steps
                .iter()
                .rev()
                .find(|s| !s.ok)
                .map(|s| s.name.clone())
                .or_else(|| run.w.journal.as_ref().map(|j| j.step.clone()));
            let went_down = run
                .w
                .journal
                .as_ref()
                .is_some_and(|j| j.reached(Step::Down.name()));
            if went_down && !opts.no_rollback {
                let reason = format!(
                    "{} failed: {}",
                    failed.as_deref().unwrap_or("a step"),
                    e.message
                );
                let rolled = rollback::run(&mut run, &reason);
                run.data.rolled_back = Some(rolled);
                if rolled {
                    // Put back completely: nothing is left for `recover` to do.
                    run.w.journal = None;
                    let _ = journal::clear(&run.w.journal_path);
                }
            } else if !went_down {
                // Nothing changed yet: the journal has nothing to recover.
                let _ = journal::clear(&run.w.journal_path);
                run.w.journal = None;
            }
            // Before `down` nothing of the install changed: the failing step's own kind
            // (a full disk is 74) says more than "a step failed".
            let kind = if went_down {
                ErrorKind::StepFailed
            } else {
                e.kind
            };
            let e = Error::new(kind, e.message.clone()).with_hint(rollback_hint(&run, &e));
            return Err(finish_err(run, e, failed.as_deref()));
        }
    }

    // Done: the journal goes, older sets are pruned.
    let _ = journal::clear(&run.w.journal_path);
    run.w.journal = None;
    prune(&mut run);
    let window = run
        .data
        .maintenance_ms
        .map(|ms| format!(" after {:.1} s in maintenance mode", ms as f64 / 1000.0))
        .unwrap_or_default();
    let msg = format!(
        "upgraded {} from {} to {} ({} → {}){window}; backup set {}",
        opts.root.display(),
        short(run.data.old_commit.as_deref()),
        short(run.data.new_commit.as_deref()),
        run.data.old_version.as_deref().unwrap_or("?"),
        run.data.new_version.as_deref().unwrap_or("?"),
        set.display()
    );
    Ok(finish_ok(run, true, msg))
}

fn rollback_hint(run: &Run, e: &Error) -> String {
    let root = run.opts.root.display();
    match run.data.rolled_back {
        Some(true) => format!(
            "the install was put back as it was; fix the cause and run again ({})",
            e.hint.as_deref().unwrap_or("see the failing step's report")
        ),
        Some(false) => format!(
            "the rollback did not finish; run `df-upgrade recover --root {root}` (the journal is kept)"
        ),
        None if run.opts.no_rollback && run.w.journal.is_some() => format!(
            "--no-rollback: the install is left as the failing step left it, maintenance \
             mode may be on; `df-upgrade recover --root {root}` puts it back"
        ),
        None => e
            .hint
            .clone()
            .unwrap_or_else(|| "nothing was changed".into()),
    }
}

fn short(c: Option<&str>) -> &str {
    c.map(|c| &c[..c.len().min(12)]).unwrap_or("?")
}

/// Everything after preflight, in order. An error leaves the journal at the failing step.
fn steps_after_preflight(run: &mut Run) -> Result<()> {
    let opts = run.opts;
    if opts.skipped(Step::Backup) {
        run.skip(Step::Backup, "--skip backup: no .env copy or tree snapshot");
    } else {
        run.journal_step(Step::Backup)?;
        let mut a = args(["save"]);
        a.extend(run.set_args("--into"));
        run.child::<Value>(Step::Backup, "df-backup-env", a)?;
        let mut a = args(["snapshot"]);
        a.extend(run.set_args("--into"));
        run.child::<Value>(Step::Backup, "df-backup-env", a)?;
    }
    // The target into the local refs while the site still serves: the window's checkout
    // then waits for no network.
    let (_, target) = opts.target();
    let mut a = args(["fetch"]);
    a.extend(target.clone());
    let fetched = run
        .child::<FetchData>(Step::Fetch, "df-git-update", a)?
        .report
        .data;
    let autoload = opts.root.join("vendor/autoload.php").is_file();
    let composer_due =
        !opts.skipped(Step::Composer) && (fetched.composer_lock_changed || !autoload || opts.force);
    let staged = match (&run.set, composer_due) {
        _ if opts.skipped(Step::Stage) => {
            run.skip(
                Step::Stage,
                "--skip stage: composer install runs in the window",
            );
            None
        }
        (Some(set), true) if !opts.skipped(Step::Backup) => {
            let set = set.clone();
            stage::prepare(run, &fetched, &set)
        }
        (_, true) => {
            run.skip(
                Step::Stage,
                "--skip backup: no snapshot of vendor/ to build on; composer install runs in the window",
            );
            None
        }
        (_, false) => {
            run.skip(Step::Stage, "composer has nothing to do");
            None
        }
    };
    run.child::<Value>(Step::Down, "df-artisan", args(["down"]))?;
    run.down_at = Some(Instant::now());
    if opts.skipped(Step::Dump) {
        run.skip(
            Step::Dump,
            "--skip dump: the database cannot be rolled back",
        );
    } else {
        let mut a = args(["dump"]);
        a.extend(run.set_args("--into"));
        run.child::<Value>(Step::Dump, "df-dump-db", a)?;
    }
    let mut a = args(["update", "--no-fetch"]);
    a.extend(target);
    let git = run.child::<UpdateData>(Step::Git, "df-git-update", a)?;
    let g = git.report.data;
    run.data.new_commit = g.new_commit.clone();
    run.data.new_version = g.new_version.clone();
    if let Some(j) = run.w.journal.as_mut() {
        if j.old_commit.is_none() && !g.old_commit.is_empty() {
            j.old_commit = Some(g.old_commit.clone());
        }
    }
    if opts.skipped(Step::Composer) {
        run.skip(Step::Composer, "--skip composer");
    } else if !g.composer_lock_changed && autoload && !opts.force {
        run.skip(
            Step::Composer,
            "composer.lock unchanged and vendor/autoload.php present",
        );
    } else {
        let swapped = match &staged {
            // The stage was built for the commit the checkout went to.
            Some(dir) if g.new_commit.as_deref() == Some(fetched.commit.as_str()) => {
                let mut a = args(["composer-install", "--staged"]);
                a.push(dir.clone().into_os_string());
                match run.child::<Value>(Step::Composer, "df-artisan", a) {
                    Ok(_) => true,
                    Err(e) if e.kind == ErrorKind::BadData => {
                        // Refused before changing anything: composer runs here instead.
                        run.w.ctx.warn(format!(
                            "the staged vendor/ was not used ({}); running composer install",
                            e.message
                        ));
                        false
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => false,
        };
        if !swapped {
            run.child::<Value>(Step::Composer, "df-artisan", args(["composer-install"]))?;
        }
    }
    if opts.skipped(Step::Migrate) {
        let why = if opts.no_migrate {
            "--no-migrate: another node migrates the shared database"
        } else {
            "--skip migrate"
        };
        run.skip(Step::Migrate, why);
    } else {
        run.child::<Value>(Step::Migrate, "df-artisan", args(["migrate", "--seed"]))?;
    }
    if opts.skipped(Step::Clear) {
        run.skip(Step::Clear, "--skip clear");
    } else {
        run.child::<Value>(Step::Clear, "df-artisan", args(["clear"]))?;
    }
    if opts.skipped(Step::Perms) {
        run.skip(Step::Perms, "--skip perms");
    } else {
        run.child::<Value>(Step::Perms, "df-perms", opts.perms_args())?;
    }
    run.child::<Value>(Step::Up, "df-artisan", args(["up"]))?;
    run.window_closed();
    if opts.skipped(Step::Restart) {
        run.skip(Step::Restart, "--skip restart");
    } else {
        run.child::<Value>(Step::Restart, "df-restart", opts.restart_cmd())?;
    }
    if opts.skipped(Step::Verify) {
        run.skip(Step::Verify, "--skip verify");
    } else {
        let mut a = Vec::new();
        if !opts.skipped(Step::Backup) && !opts.skipped(Step::Dump) {
            a.extend(run.set_args("--against"));
        }
        if opts.no_migrate {
            a.extend(args(["--skip", "migrations"]));
        }
        if let Some(u) = &opts.restart.url {
            a.extend(args(["--url", u.as_str()]));
        }
        run.child::<VerifyData>(Step::Verify, "df-verify", a)?;
    }
    manifest(run)
}

/// manifest.json, written last: the set is complete only with it.
fn manifest(run: &mut Run) -> Result<()> {
    run.journal_step(Step::Manifest)?;
    run.emit(Event::StepStart {
        step: "manifest".into(),
    });
    let t0 = Instant::now();
    let Some(dir) = run.set.clone() else {
        return Ok(());
    };
    if !dir.is_dir() {
        run.own_step(
            Step::Manifest,
            true,
            false,
            "no backup set was written (--skip backup and dump)".into(),
            t0,
        );
        return Ok(());
    }
    let set = BackupSet::open(&dir)?;
    let tools: std::collections::BTreeMap<String, String> = run
        .w
        .steps
        .iter()
        .filter_map(|s| s.report.as_ref())
        .filter_map(|r| {
            Some((
                r["tool"].as_str()?.to_string(),
                r["version"].as_str()?.to_string(),
            ))
        })
        .collect();
    let m = crate::backup_set::manifest::Manifest::build(
        &set,
        run.w.ctx.tool,
        &run.opts.root,
        crate::backup_set::manifest::Release {
            old_commit: run.data.old_commit.clone(),
            new_commit: run.data.new_commit.clone(),
            old_version: run.data.old_version.clone(),
            new_version: run.data.new_version.clone(),
        },
        tools,
    )?;
    let r = set.write_manifest(&m);
    match r {
        Ok(p) => {
            let msg = format!(
                "{} artifacts, written to {}",
                m.artifacts.len(),
                p.display()
            );
            run.own_step(Step::Manifest, true, false, msg, t0);
            Ok(())
        }
        Err(e) => {
            run.own_step(Step::Manifest, false, false, e.message.clone(), t0);
            Err(e)
        }
    }
}

/// `--keep N`: delete complete sets older than the newest N under the set's parent.
fn prune(run: &mut Run) {
    let t0 = Instant::now();
    let keep = run.opts.keep;
    let Some(set) = run.set.clone() else { return };
    if keep == 0 {
        return;
    }
    run.emit(Event::StepStart {
        step: "prune".into(),
    });
    match crate::backup_set::prune_complete(&set, keep) {
        Ok(removed) => {
            let msg = if removed.is_empty() {
                format!("nothing to prune (keeping the newest {keep})")
            } else {
                format!(
                    "removed {} older set(s), keeping the newest {keep}",
                    removed.len()
                )
            };
            run.data.pruned = removed.iter().map(|p| p.display().to_string()).collect();
            run.own_step(Step::Prune, true, false, msg, t0);
        }
        Err(e) => {
            run.w.ctx.warn(format!("pruning old sets: {}", e.message));
            run.own_step(Step::Prune, false, false, e.message, t0);
        }
    }
}

/// `--dry-run`: every child's plan, nested under its step; nothing changes.
fn dry_run(mut run: Run) -> Result<Outcome> {
    let opts = run.opts;
    let set = opts.into.clone().unwrap_or_else(|| {
        PathBuf::from(crate::backup_set::DEFAULT_BASE).join(crate::backup_set::stamp())
    });
    run.set = Some(set.clone());
    run.data.set = Some(set.display().to_string());
    let mut plan: Vec<(Step, &str, Vec<OsString>)> = Vec::new();
    if !opts.skipped(Step::Backup) {
        let mut a = args(["save", "--into"]);
        a.push(set.clone().into());
        plan.push((Step::Backup, "df-backup-env", a));
        let mut a = args(["snapshot", "--into"]);
        a.push(set.clone().into());
        plan.push((Step::Backup, "df-backup-env", a));
    }
    let (_, target) = opts.target();
    let mut a = args(["fetch"]);
    a.extend(target.clone());
    plan.push((Step::Fetch, "df-git-update", a));
    plan.push((Step::Down, "df-artisan", args(["down"])));
    if !opts.skipped(Step::Dump) {
        let mut a = args(["dump", "--into"]);
        a.push(set.clone().into());
        plan.push((Step::Dump, "df-dump-db", a));
    }
    let mut a = args(["update", "--no-fetch"]);
    a.extend(target);
    plan.push((Step::Git, "df-git-update", a));
    if !opts.skipped(Step::Composer) {
        plan.push((Step::Composer, "df-artisan", args(["composer-install"])));
    }
    if !opts.skipped(Step::Migrate) {
        plan.push((Step::Migrate, "df-artisan", args(["migrate", "--seed"])));
    }
    if !opts.skipped(Step::Clear) {
        plan.push((Step::Clear, "df-artisan", args(["clear"])));
    }
    if !opts.skipped(Step::Perms) {
        plan.push((Step::Perms, "df-perms", opts.perms_args()));
    }
    plan.push((Step::Up, "df-artisan", args(["up"])));
    if !opts.skipped(Step::Restart) {
        plan.push((Step::Restart, "df-restart", opts.restart_cmd()));
    }
    for (step, tool, a) in plan {
        // A child's dry run failing (e.g. its own checks) fails ours: the real run would.
        run.child::<Value>(step, tool, a)?;
    }
    let msg = format!(
        "would upgrade {} to {} (backup set {}); nothing changed",
        opts.root.display(),
        run.data.target,
        set.display()
    );
    Ok(finish_ok(run, true, msg))
}

/// The steps and the rollback recorded by the wrapper go into the report.
fn take_steps(run: &mut Run) {
    run.data.steps = std::mem::take(&mut run.w.steps);
    run.data.rollback = std::mem::take(&mut run.w.rollback);
}

fn finish_ok(mut run: Run, changed: bool, msg: String) -> Outcome {
    take_steps(&mut run);
    run.emit(Event::Summary {
        ok: true,
        changed,
        msg: msg.clone(),
        failed_step: None,
        set: run.data.set.clone(),
    });
    Outcome::typed(changed, msg, &run.data)
}

fn finish_err(mut run: Run, e: Error, failed: Option<&str>) -> Error {
    run.data.failed_step = failed.map(str::to_string);
    // The install changed only if a step changed it and no complete rollback undid it.
    let changed = run.data.rolled_back != Some(true)
        && run
            .w
            .steps
            .iter()
            // A backup taken along the way is not a change of the install.
            .any(|s| s.changed && !["backup", "down", "up"].contains(&s.name.as_str()));
    take_steps(&mut run);
    run.emit(Event::Summary {
        ok: false,
        changed,
        msg: e.message.clone(),
        failed_step: run.data.failed_step.clone(),
        set: run.data.set.clone(),
    });
    let mut v = serde_json::to_value(&run.data).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("changed".into(), Value::Bool(changed));
    }
    e.with_data(v)
}

/// `df-upgrade recover`: put the install back as the interrupted run's set recorded it.
pub fn recover(ctx: &Ctx, opts: &Options) -> Result<Outcome> {
    let mut run = Run::new(ctx, opts)?;
    let t0 = Instant::now();
    run.emit(Event::StepStart {
        step: "lock".into(),
    });
    let _lock = match Lock::acquire(&opts.root, ctx.tool) {
        Ok(l) => {
            run.own_step(
                Step::Lock,
                true,
                false,
                format!("holding {}", l.path().display()),
                t0,
            );
            l
        }
        Err(e) => return Err(finish_err(run, e, None)),
    };
    let Some(j) = journal::read(&run.w.journal_path)? else {
        let msg = format!(
            "no interrupted run of {}: nothing to recover",
            opts.root.display()
        );
        return Ok(finish_ok(run, false, msg));
    };
    run.set = Some(PathBuf::from(&j.set));
    run.data.set = Some(j.set.clone());
    run.data.old_commit = j.old_commit.clone();
    if !ctx.dry_run() {
        // The interrupted run's staged release (if any) is of no use now.
        stage::remove(&run);
    }
    if ctx.dry_run() {
        let msg = format!(
            "would put {} back from {} (interrupted at `{}`)",
            opts.root.display(),
            j.set,
            j.step
        );
        run.w.journal = Some(j);
        // The children run with --dry-run: each rollback step reports its plan.
        rollback::run(&mut run, "dry run of the recovery");
        return Ok(finish_ok(run, true, msg));
    }
    let reason = format!("recovering the run interrupted at `{}`", j.step);
    run.w.journal = Some(j);
    let ok = rollback::run(&mut run, &reason);
    run.data.rolled_back = Some(ok);
    if ok {
        journal::clear(&run.w.journal_path)?;
        let msg = format!(
            "put {} back from {}; maintenance mode is off",
            opts.root.display(),
            run.data.set.as_deref().unwrap_or("?")
        );
        Ok(finish_ok(run, true, msg))
    } else {
        let e = Error::step("recovery did not finish: see data.rollback for the failing step")
            .with_hint("fix the cause named there and run `df-upgrade recover` again");
        Err(finish_err(run, e, Some("recover")))
    }
}

impl Children {
    /// The same children, forced to really run (read-only checks in a dry run).
    pub(crate) fn clone_real(&self) -> Children {
        self.with_dry_run(false)
    }
    /// The same children with `--dry-run`.
    pub(crate) fn clone_dry(&self) -> Children {
        self.with_dry_run(true)
    }
}
