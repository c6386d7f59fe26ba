//! `df-migrate import`: the bundle into a fresh install, each step a sibling run, and
//! `df-migrate recover` after a killed import.
//!
//! Before anything changes: the lock, the bundle verified (every byte) and unpacked into a
//! 0700 staging set, the install's driver compared with the bundle's (78), and a set of
//! the new instance taken (`.env` saved, database dumped). Then: strict mode off (mysql,
//! `--strict-off`) → restore the bundle's dump with `--replace` (the guide's
//! migrate:fresh + migrate:reset + import in one atomic step) → the data keys (APP_KEY,
//! …) from the bundle → migrate --seed → clear → perms → restart → verify against the
//! bundle. A failure after the set puts the new instance's own database and .env back
//! from it (strict mode back on), then clear, perms and restart.

use super::Run;
use crate::children::args;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::journal::{self, Journal};
use crate::lock::Lock;
use crate::report::data::backup_env::ShowData;
use crate::report::data::migrate::ImportData;
use crate::report::{Ctx, Outcome};
use crate::wrapper::{owner_args, RestartFlags};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Keys of .env that encrypt or sign data: they move with the database.
pub const DATA_KEYS: [&str; 3] = ["APP_KEY", "APP_PREVIOUS_KEYS", "JWT_SECRET"];

/// Steps `--skip` accepts.
pub const SKIPPABLE: [&str; 5] = ["migrate", "clear", "perms", "restart", "verify"];

/// Parse a `--skip` value.
pub fn parse_skippable(s: &str) -> std::result::Result<String, String> {
    if SKIPPABLE.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a step that can be skipped; one of: {}",
            SKIPPABLE.join(", ")
        ))
    }
}

/// What to import and how.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub identity: Option<PathBuf>,
    pub yes: bool,
    pub strict_off: bool,
    pub skip: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// The new instance's set [default: /var/backups/dreamfactory/<UTC stamp>].
    pub into: Option<PathBuf>,
    pub events: Option<PathBuf>,
    pub no_rollback: bool,
    /// Passed to df-restart; the health URL also to df-verify.
    pub restart: RestartFlags,
    pub timeout: Duration,
}

impl ImportOptions {
    fn skipped(&self, s: &str) -> bool {
        self.skip.iter().any(|x| x == s)
    }

    fn perms_args(&self) -> Vec<OsString> {
        owner_args(self.user.as_deref(), self.group.as_deref())
    }

    fn set_dir(&self) -> PathBuf {
        self.into.clone().unwrap_or_else(|| {
            PathBuf::from(crate::backup_set::DEFAULT_BASE).join(crate::backup_set::stamp())
        })
    }
}

fn os(p: &Path) -> OsString {
    p.as_os_str().to_os_string()
}

/// Import the bundle into the install at `opts.root`.
pub fn import(ctx: &Ctx, opts: &ImportOptions) -> Result<Outcome> {
    let dry = ctx.dry_run();
    if !opts.yes && !dry {
        return Err(Error::usage(
            "import replaces the new instance's database and keys: pass --yes",
        )
        .with_hint("preview it first with --dry-run"));
    }
    let mut run = Run::new(ctx, &opts.root, opts.timeout, opts.events.as_deref())?;
    let set = opts.set_dir();
    let mut data = ImportData {
        root: opts.root.display().to_string(),
        bundle: opts.bundle.display().to_string(),
        ..Default::default()
    };
    // The lock is held until the rollback, if any, is done.
    let mut lock: Option<Lock> = None;
    let r = import_steps(&mut run, opts, &set, &mut data, &mut lock);
    let ok = r.is_ok();
    // Success changed the instance; a dry run would have.
    let mut result = r.map(|msg| (msg, true));
    if let Err(e) = &result {
        let failed = run.failed_step();
        data.failed_step = failed.clone();
        let changed_something = run
            .journal
            .as_ref()
            .is_some_and(|j| j.reached("strict") || j.reached("restore"));
        if changed_something && !opts.no_rollback {
            let reason = format!(
                "{} failed: {}",
                failed.as_deref().unwrap_or("a step"),
                e.message
            );
            let rolled = rollback(&mut run, opts, &reason);
            data.rolled_back = Some(rolled);
            if rolled {
                let _ = journal::clear(&run.journal_path);
                run.journal = None;
            }
        } else if !changed_something && run.journal.is_some() {
            // Only this run's own journal: a refused run (lock held, an interrupted run
            // found) must leave the other run's record alone.
            let _ = journal::clear(&run.journal_path);
            run.journal = None;
        }
        let hint = match data.rolled_back {
            Some(true) => format!(
                "the new instance's database and .env were put back from {}; fix the cause and import again ({})",
                set.display(),
                e.hint.as_deref().unwrap_or("see the failing step's report")
            ),
            Some(false) => format!(
                "the rollback did not finish; run `df-migrate recover --root {}` (the journal is kept)",
                opts.root.display()
            ),
            None if run.journal.is_some() => format!(
                "--no-rollback: the instance is left as the failing step left it; `df-migrate recover --root {}` puts it back",
                opts.root.display()
            ),
            None => e.hint.clone().unwrap_or_else(|| "nothing was changed".into()),
        };
        let kind = if changed_something {
            ErrorKind::StepFailed
        } else {
            e.kind
        };
        result = Err(Error::new(kind, e.message.clone()).with_hint(hint));
    } else if run.journal.take().is_some() {
        let _ = journal::clear(&run.journal_path);
    }
    data.steps = std::mem::take(&mut run.steps);
    data.rollback = std::mem::take(&mut run.rollback);
    let changed = match &result {
        Ok((_, c)) => *c,
        Err(_) => {
            data.rolled_back != Some(true)
                && data
                    .steps
                    .iter()
                    .any(|s| s.changed && !["backup"].contains(&s.name.as_str()))
        }
    };
    let msg = match &result {
        Ok((m, _)) => m.clone(),
        Err(e) => e.message.clone(),
    };
    run.emit(Event::Summary {
        ok,
        changed,
        msg,
        failed_step: data.failed_step.clone(),
        set: data.set.clone(),
    });
    match result {
        Ok((msg, changed)) => Ok(Outcome::typed(changed, msg, &data)),
        Err(e) => {
            let mut v = serde_json::to_value(&data).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("changed".into(), Value::Bool(changed));
            }
            Err(e.with_data(v))
        }
    }
}

fn import_steps(
    run: &mut Run,
    opts: &ImportOptions,
    set: &Path,
    data: &mut ImportData,
    lock: &mut Option<Lock>,
) -> Result<String> {
    let dry = run.ctx.dry_run();
    let root = opts.root.clone();
    // lock: one run per install (shared with df-upgrade).
    *lock = Some(run.own("lock", |_| {
        let l = Lock::acquire(&root, "df-migrate")?;
        let msg = format!("holding {}", l.path().display());
        Ok((l, false, msg))
    })?);
    // The bundle, verified and unpacked: the staging set lives beside the new set.
    let parent = crate::atomic::parent_dir(set);
    let staging_parent = if dry { std::env::temp_dir() } else { parent };
    let opened = run.own("bundle", |_| {
        let o = crate::bundle::open(&opts.bundle, opts.identity.as_deref(), &staging_parent)?;
        let msg = format!(
            "verified{}: {} {} from {}, {} tables",
            if o.encrypted { " and decrypted" } else { "" },
            o.manifest.driver,
            o.manifest.df_version.as_deref().unwrap_or("?"),
            o.manifest.host,
            o.manifest.row_counts.len()
        );
        Ok((o, false, msg))
    })?;
    data.encrypted = opened.encrypted;
    data.manifest = Some(opened.manifest.clone());
    let staging = opened.set.clone();
    let m = opened.manifest.clone();
    run.own("preflight", |run| {
        preflight(run, opts, &m).map(|msg| ((), false, msg))
    })?;

    // From here on a kill leaves a journal.
    data.set = Some(set.display().to_string());
    if !dry {
        run.journal = Some(Journal {
            tool: "df-migrate".into(),
            root: root.display().to_string(),
            set: set.display().to_string(),
            pid: std::process::id(),
            host: crate::lock::hostname(),
            started_at: crate::report::now_rfc3339(),
            ..Default::default()
        });
    }
    let set_arg = |flag: &str| vec![OsString::from(flag), os(set)];
    let staging_arg = |flag: &str| vec![OsString::from(flag), os(&staging)];

    let mut a = args(["save"]);
    a.extend(set_arg("--into"));
    run.child::<Value>("backup", "df-backup-env", a)?;
    let mut a = args(["dump"]);
    a.extend(set_arg("--into"));
    run.child::<Value>("backup", "df-dump-db", a)?;

    if m.driver != "mysql" {
        run.skip("strict", "strict mode concerns mysql only");
    } else if !opts.strict_off {
        run.skip(
            "strict",
            "strict mode left as it is (--strict-off turns it off)",
        );
    } else {
        run.child::<Value>("strict", "df-artisan", args(["strict-mode", "off"]))?;
    }
    let mut a = args(["restore"]);
    a.extend(staging_arg("--from"));
    a.push("--replace".into());
    run.child::<Value>("restore", "df-dump-db", a)?;
    let keys: Vec<&str> = DATA_KEYS
        .into_iter()
        .filter(|k| m.env_keys.iter().any(|e| e == k))
        .collect();
    if keys.is_empty() {
        return Err(Error::bad_data("the bundle's .env has no APP_KEY")
            .with_hint("export from an install whose .env has its APP_KEY"));
    }
    let mut a = args(["restore-key"]);
    a.extend(staging_arg("--from"));
    for k in &keys {
        a.extend(args(["--key", k]));
    }
    run.child::<Value>("keys", "df-backup-env", a)?;
    for (step, tool, a) in [
        ("migrate", "df-artisan", args(["migrate", "--seed"])),
        ("clear", "df-artisan", args(["clear"])),
        ("perms", "df-perms", opts.perms_args()),
        ("restart", "df-restart", opts.restart.restart_cmd()),
    ] {
        if opts.skipped(step) {
            run.skip(step, &format!("--skip {step}"));
        } else {
            run.child::<Value>(step, tool, a)?;
        }
    }
    if opts.skipped("verify") {
        run.skip("verify", "--skip verify");
    } else {
        let mut a = staging_arg("--against");
        if let Some(u) = &opts.restart.url {
            a.extend(args(["--url", u.as_str()]));
        }
        run.child::<Value>("verify", "df-verify", a)?;
    }
    drop(opened);
    Ok(if dry {
        format!(
            "would import {} ({} {}) into {}; nothing changed",
            opts.bundle.display(),
            m.driver,
            m.df_version.as_deref().unwrap_or("?"),
            root.display()
        )
    } else {
        format!(
            "imported {} ({} {} from {}, APP_KEY {}) into {}; its own state is in {}",
            opts.bundle.display(),
            m.driver,
            m.df_version.as_deref().unwrap_or("?"),
            m.host,
            m.app_key_fingerprint.as_deref().unwrap_or("?"),
            root.display(),
            set.display()
        )
    })
}

/// Refuse before anything changes: an install there, no interrupted run, the tools
/// present, the same driver as the bundle's.
fn preflight(run: &mut Run, opts: &ImportOptions, m: &crate::bundle::Manifest) -> Result<String> {
    if !opts.root.join("artisan").is_file() {
        return Err(Error::missing(format!(
            "no DreamFactory install at {} (no artisan file)",
            opts.root.display()
        ))
        .with_hint("install the new instance first, then pass --root DIR"));
    }
    if let Some(j) = journal::read(&run.journal_path)? {
        return Err(crate::upgrade::interrupted(&j, &run.journal_path));
    }
    crate::children::all_present()?;
    let show = run
        .children
        .with_dry_run(false)
        .run::<ShowData>("df-backup-env", &args(["show"]))?;
    if !show.ok() {
        return Err(crate::upgrade::child_error("df-backup-env", &show));
    }
    let here = show
        .report
        .data
        .summary
        .db_connection
        .clone()
        .unwrap_or_default();
    if here != m.driver {
        return Err(Error::config(format!(
            "the bundle holds a {} database; {} uses DB_CONNECTION={}",
            m.driver,
            opts.root.display(),
            if here.is_empty() { "(none)" } else { &here }
        ))
        .with_hint(format!(
            "install the new instance with DB_CONNECTION={} (a dump does not cross drivers)",
            m.driver
        )));
    }
    Ok(format!("driver {here} matches; tools present"))
}

/// Put the new instance back from its set: strict mode, database, .env; then clear,
/// perms, restart. Each is a child run; one failing does not stop the others.
pub(crate) fn rollback(run: &mut Run, opts: &ImportOptions, reason: &str) -> bool {
    run.ctx.log(format!("rolling back: {reason}"));
    run.emit(Event::RollbackStart {
        reason: reason.to_string(),
    });
    let Some(j) = run.journal.clone() else {
        run.emit(Event::RollbackEnd { ok: true });
        return true;
    };
    let set: OsString = j.set.clone().into();
    let mut ok = true;
    // Strict mode: only when this run turned it off (recover: when the step started).
    let strict_changed = run.steps.iter().any(|s| s.name == "strict" && s.changed)
        || (run.steps.is_empty() && j.reached("strict"));
    if strict_changed {
        ok &= run.rollback_step("strict", "df-artisan", args(["strict-mode", "on"]));
    }
    if j.reached("restore") {
        let a = vec![
            "restore".into(),
            "--from".into(),
            set.clone(),
            "--replace".into(),
        ];
        ok &= run.rollback_step("database", "df-dump-db", a);
    }
    if j.reached("keys") {
        let a = vec!["restore".into(), "--from".into(), set.clone()];
        ok &= run.rollback_step("env", "df-backup-env", a);
    }
    ok &= run.rollback_step("clear", "df-artisan", args(["clear"]));
    if !opts.skipped("perms") {
        ok &= run.rollback_step("perms", "df-perms", opts.perms_args());
    }
    if j.reached("restart") && !opts.skipped("restart") {
        ok &= run.rollback_step("restart", "df-restart", opts.restart.restart_cmd());
    }
    run.emit(Event::RollbackEnd { ok });
    ok
}

/// `df-migrate recover`: put the install back as the interrupted import's set recorded it.
pub fn recover(ctx: &Ctx, opts: &ImportOptions) -> Result<Outcome> {
    let mut run = Run::new(ctx, &opts.root, opts.timeout, opts.events.as_deref())?;
    let _lock = Lock::acquire(&opts.root, "df-migrate")?;
    let mut data = ImportData {
        root: opts.root.display().to_string(),
        ..Default::default()
    };
    let Some(j) = journal::read(&run.journal_path)? else {
        let msg = format!(
            "no interrupted run of {}: nothing to recover",
            opts.root.display()
        );
        return Ok(Outcome::typed(false, msg, &data));
    };
    data.set = Some(j.set.clone());
    let reason = format!("recovering the run interrupted at `{}`", j.step);
    let step = j.step.clone();
    run.journal = Some(j);
    let ok = rollback(&mut run, opts, &reason);
    data.rollback = std::mem::take(&mut run.rollback);
    data.rolled_back = Some(ok);
    if ctx.dry_run() {
        let msg = format!(
            "would put {} back (interrupted at `{step}`)",
            opts.root.display()
        );
        return Ok(Outcome::typed(true, msg, &data));
    }
    if ok {
        journal::clear(&run.journal_path)?;
        let swept = sweep_staging(Path::new(data.set.as_deref().unwrap_or("")));
        let msg = format!(
            "put {} back from {}{}",
            opts.root.display(),
            data.set.as_deref().unwrap_or("?"),
            if swept > 0 {
                format!("; removed {swept} staging dir(s) the killed run left")
            } else {
                String::new()
            }
        );
        Ok(Outcome::typed(true, msg, &data))
    } else {
        let e = Error::step("recovery did not finish: see data.rollback for the failing step")
            .with_hint("fix the cause named there and run `df-migrate recover` again");
        Err(e.with_data(serde_json::to_value(&data).unwrap_or(Value::Null)))
    }
}

/// Remove the staging dirs (the bundle's plaintext) a killed import left beside its set;
/// returns how many. Only dead runs' ([`crate::atomic::sweep_stale`]): a live export or
/// import may be using the same directory.
fn sweep_staging(set: &Path) -> usize {
    crate::atomic::sweep_stale(&crate::atomic::parent_dir(set))
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".df-migrate."))
        })
        .count()
}
