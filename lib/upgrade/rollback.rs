//! Putting the install back after a failed or interrupted upgrade.
//!
//! What is undone follows the journal ([`crate::journal`]): only what the run had
//! started. Code goes back to the old commit (the stash the update made is kept), vendor/
//! comes back from the tree snapshot when composer ran, the database is restored from the
//! set's dump once the migrate step had started, and .env comes back from the set (a no-op
//! when it did not change). Then caches are cleared, permissions fixed, maintenance mode
//! taken off and the web server restarted. A run that failed after `up` (in restart or
//! verify) first takes the site back into maintenance mode. Each of these is a sibling tool's run; one that
//! fails does not stop the others — above all, `up` always runs, so the site is never left
//! in maintenance mode by the rollback.

use super::{Run, Step};
use crate::children::args;
use crate::events::Event;
use std::ffi::OsString;

/// Run the rollback; true when every step of it succeeded.
pub(crate) fn run(run: &mut Run, reason: &str) -> bool {
    run.w.ctx.log(format!("rolling back: {reason}"));
    run.emit(Event::RollbackStart {
        reason: reason.to_string(),
    });
    let Some(j) = run.w.journal.clone() else {
        run.emit(Event::RollbackEnd { ok: true });
        return true;
    };
    let set: OsString = j.set.clone().into();
    let mut ok = true;

    if j.reached(Step::Up.name()) {
        // The site was serving the new release (restart or verify failed): back into
        // maintenance mode before the code and the database go back, so no client meets
        // the old code on the new schema, and nothing is written while the dump returns.
        run.w.ctx.warn(
            "the site was up on the new release when the run failed: it goes back into \
             maintenance mode for the rollback (anything written since `up` is replaced by \
             the database restore)",
        );
        if step(run, "down", "df-artisan", args(["down"])) {
            run.down_at = Some(std::time::Instant::now());
        } else {
            ok = false;
        }
    }
    if j.reached(Step::Git.name()) {
        match &j.old_commit {
            Some(old) => {
                let mut a = args(["rollback", "--to", old.as_str()]);
                match &j.old_branch {
                    Some(b) => a.extend(args(["--branch", b.as_str()])),
                    None => a.push("--detach".into()),
                }
                ok &= step(run, "git", "df-git-update", a);
            }
            None => {
                ok = false;
                run.w
                    .rollback_note("git", "the journal has no old commit to go back to".into());
            }
        }
    }
    if j.reached(Step::Composer.name()) {
        let a = vec![
            "restore-tree".into(),
            "--from".into(),
            set.clone(),
            "--only".into(),
            "vendor".into(),
        ];
        ok &= step(run, "vendor", "df-backup-env", a);
    }
    if j.reached(Step::Migrate.name()) {
        let a = vec![
            "restore".into(),
            "--from".into(),
            set.clone(),
            "--replace".into(),
        ];
        ok &= step(run, "database", "df-dump-db", a);
    }
    if j.reached(Step::Backup.name()) && std::path::Path::new(&j.set).join("env").is_file() {
        let a = vec!["restore".into(), "--from".into(), set.clone()];
        ok &= step(run, "env", "df-backup-env", a);
    }
    if j.reached(Step::Down.name()) {
        ok &= step(run, "clear", "df-artisan", args(["clear"]));
        if !run.opts.skipped(Step::Perms) {
            let a = run.opts.perms_args();
            ok &= step(run, "perms", "df-perms", a);
        }
    }
    // Always: the site must not stay in maintenance mode.
    if step(run, "up", "df-artisan", args(["up"])) {
        run.window_closed();
    } else {
        ok = false;
    }
    if j.reached(Step::Git.name()) && !run.opts.skipped(Step::Restart) {
        let a = run.opts.restart_cmd();
        ok &= step(run, "restart", "df-restart", a);
    }
    run.emit(Event::RollbackEnd { ok });
    ok
}

/// One rollback step: a child run, recorded; false when it failed.
fn step(run: &mut Run, name: &str, tool: &str, a: Vec<OsString>) -> bool {
    run.w.rollback_step(name, tool, a)
}
