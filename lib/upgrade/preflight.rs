//! Preflight: everything df-upgrade checks before it changes anything — each refusal
//! with its own exit code and a message naming what to do.

use super::{child_error, Run, Step};
use crate::children::args;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::journal::{self, Journal};
use crate::report::data::artisan::{StatusData, VersionData};
use crate::report::data::git::UpdateData;
use crate::report::data::verify::{Status, VerifyData};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What preflight learned.
pub(crate) struct Preflight {
    pub head: Option<String>,
    pub branch: Option<String>,
    pub version: Option<String>,
    pub nothing_to_do: bool,
}

/// Refuse early, before anything changes: tools present, no unfinished journal, not in
/// maintenance mode, .env and database sound, the target on origin, free disk.
pub(crate) fn preflight(run: &mut Run) -> Result<Preflight> {
    let t0 = Instant::now();
    run.emit(Event::StepStart {
        step: "preflight".into(),
    });
    let r = preflight_checks(run);
    match &r {
        Ok(p) => {
            let msg = if p.nothing_to_do {
                "all checks passed; nothing to upgrade".to_string()
            } else {
                "all checks passed".to_string()
            };
            run.own_step(Step::Preflight, true, false, msg, t0)
        }
        Err(e) => run.own_step(Step::Preflight, false, false, e.message.clone(), t0),
    }
    r
}

fn preflight_checks(run: &mut Run) -> Result<Preflight> {
    let opts = run.opts;
    let root = &opts.root;
    crate::children::all_present()?;
    if !root.join("artisan").is_file() {
        return Err(Error::missing(format!(
            "no DreamFactory install at {} (no artisan file)",
            root.display()
        ))
        .with_hint("pass --root DIR or set DF_ROOT"));
    }
    if let Some(j) = journal::read(&run.w.journal_path)? {
        return Err(interrupted(&j, &run.w.journal_path));
    }
    if root.join("storage/framework/down").exists() {
        return Err(Error::new(
            ErrorKind::Temporary,
            format!("{} is in maintenance mode already", root.display()),
        )
        .with_hint(
            "an earlier run or a person put it down; if no upgrade is running, `df-artisan up` \
             takes it out (check why it is down first)",
        ));
    }
    // .env and the database, read-only, through df-verify's checks.
    let verify = run
        .w
        .children
        .clone_real()
        .run::<VerifyData>("df-verify", &args(["--only", "env", "--only", "database"]))?;
    let data = &verify.report.data;
    let database = data.checks.iter().find(|c| c.name == "database");
    // The database's size, for the free-space check (sqlite's file is inside the tree).
    let db_bytes = database
        .filter(|c| c.driver.as_deref() != Some("sqlite"))
        .and_then(|c| c.size_bytes)
        .unwrap_or(0);
    if let Some(c) = data.checks.iter().find(|c| c.status == Status::Fail) {
        let kind = if c.name == "database" {
            ErrorKind::Unavailable
        } else {
            ErrorKind::BadData
        };
        return Err(
            Error::new(kind, format!("preflight {}: {}", c.name, c.detail)).with_hint(
                match c.name.as_str() {
                    "database" => {
                        "start the database or fix DB_* in .env (df-verify --only database)"
                    }
                    _ => "fix .env first (df-backup-env show names the line)",
                },
            ),
        );
    }
    if !verify.ok() && data.checks.is_empty() {
        return Err(child_error("df-verify", &verify));
    }
    // Where the target is: `update --dry-run` asks origin (ls-remote), changes nothing,
    // and fails with 66 when the branch or tag is not there.
    let (_, target) = opts.target();
    let mut a = args(["update"]);
    a.extend(target);
    let git = run
        .w
        .children
        .clone_dry()
        .run::<UpdateData>("df-git-update", &a)?;
    if !git.ok() {
        return Err(child_error("df-git-update", &git));
    }
    let g = git.report.data;
    // "Already at the target" is about the commit: a checkout of the same commit by tag
    // (branch → detached HEAD) changes nothing that matters.
    let git_moves = match &g.remote_commit {
        Some(target) if !g.old_commit.is_empty() => &g.old_commit != target,
        _ => git.report.changed,
    };
    if git_moves {
        check_php(run, g.new_require_php.as_deref())?;
    }
    // Pending migrations before we start (a half-done earlier upgrade).
    let status = run
        .w
        .children
        .clone_real()
        .run::<StatusData>("df-artisan", &args(["status"]))?;
    if !status.ok() {
        return Err(child_error("df-artisan", &status));
    }
    let pending = !status.report.data.pending.is_empty() && !opts.no_migrate;
    let perms = run
        .w
        .children
        .clone_dry()
        .run::<Value>("df-perms", &opts.perms_args())?;
    if !perms.ok() {
        return Err(child_error("df-perms", &perms));
    }
    let perms_change = perms.report.changed && !opts.skipped(Step::Perms);
    if git_moves || pending || perms_change || opts.force {
        check_disk(run, db_bytes)?;
    }
    Ok(Preflight {
        head: Some(g.old_commit.clone()).filter(|c| !c.is_empty()),
        branch: g.old_branch.clone(),
        version: g.old_version.clone(),
        nothing_to_do: !git_moves && !pending && !perms_change,
    })
}

/// The target release's `require.php` against the PHP that runs artisan (78 when it is
/// not satisfied: composer install and the new code would fail after `down`).
fn check_php(run: &mut Run, require: Option<&str>) -> Result<()> {
    let Some(require) = require else {
        return Ok(());
    };
    let v = run
        .w
        .children
        .clone_real()
        .run::<VersionData>("df-artisan", &args(["version"]))?;
    if !v.ok() {
        return Err(child_error("df-artisan", &v));
    }
    let Some(php) = v.report.data.php_version else {
        run.w.ctx.warn(format!(
            "could not tell PHP's version to check the target's require.php {require}"
        ));
        return Ok(());
    };
    match crate::constraint::satisfies(require, &php) {
        Some(true) => Ok(()),
        Some(false) => Err(Error::config(format!(
            "the target release requires PHP {require}; the installed PHP is {php}"
        ))
        .with_hint("install a PHP that satisfies it (and its extensions) first, or upgrade to an older release with --ref")),
        None => {
            run.w.ctx.warn(format!(
                "could not check the target's require.php `{require}` against PHP {php}"
            ));
            Ok(())
        }
    }
}

/// The refusal after a killed run: 75, naming the step, the set and the way out.
pub fn interrupted(j: &Journal, path: &Path) -> Error {
    Error::new(
        ErrorKind::Temporary,
        format!(
            "an earlier {} of {} was interrupted at step `{}` (pid {} on {}, started {}; backup set {})",
            j.tool, j.root, j.step, j.pid, j.host, j.started_at, j.set
        ),
    )
    .with_hint(format!(
        // The tool that wrote the journal recovers it (df-upgrade or df-migrate).
        "run `{} recover --root {}` to put the install back from the set (journal {})",
        if j.tool.is_empty() { "df-upgrade" } else { &j.tool },
        j.root,
        path.display()
    ))
}

/// The set's filesystem needs 2 × (database + tree).
fn check_disk(run: &Run, db_bytes: u64) -> Result<()> {
    let opts = run.opts;
    let base = opts
        .into
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::backup_set::DEFAULT_BASE));
    // The nearest existing ancestor is where the set will be made.
    let mut probe = base.clone();
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p.to_path_buf(),
            _ => {
                probe = PathBuf::from(".");
                break;
            }
        }
    }
    let st = nix::sys::statvfs::statvfs(&probe)
        .map_err(|e| Error::io("checking free space on", &probe, e.into()))?;
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    // db_bytes is 0 for sqlite: its file lives inside the tree and is counted there.
    let need = 2u64.saturating_mul(tree_bytes(&opts.root).saturating_add(db_bytes));
    if free < need {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!(
                "{} has {} MiB free; the backup set needs about {} MiB (2 × (database + tree))",
                probe.display(),
                free >> 20,
                need >> 20
            ),
        )
        .with_hint("free space there, or put the set elsewhere with --into DIR"));
    }
    Ok(())
}

/// Bytes in the install tree (not following links).
fn tree_bytes(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total = total.saturating_add(md.len());
            }
        }
    }
    total
}
