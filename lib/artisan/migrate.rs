//! `migrate`, `status`, `fresh` and `reset`: the system database's migrations.

use super::output;
use super::runner::Runner;
use crate::error::{Error, Result};
use crate::report::data::artisan::{FreshResetData, MigrateData, MigrationRow, StatusData};

pub(super) fn migrate(r: &mut Runner, d: &mut MigrateData, seed: bool) -> Result<(bool, String)> {
    let mut args = vec!["migrate".to_string(), "--force".into()];
    if seed {
        args.push("--seed".into());
    }
    d.seed = seed;
    let Some(out) = r.artisan_unchecked("migrate", &args, &args)? else {
        return Ok((true, "would run migrate".into()));
    };
    // Read what ran from the whole output, also when it failed half-way: the migrations
    // applied before the failure stay applied.
    let rep = output::parse_migrate(&out.combined());
    d.migrated = rep.migrated;
    d.failed_migration = rep.failed;
    r.c.changed |= !d.migrated.is_empty();
    if !out.success() {
        let mut e = r.failure("migrate", &out);
        if !d.migrated.is_empty() {
            e.message = format!(
                "{} (after applying {}: {})",
                e.message,
                d.migrated.len(),
                d.migrated.join(", ")
            );
        }
        return Err(e);
    }
    let n = d.migrated.len();
    let msg = if n == 0 {
        "nothing to migrate".to_string()
    } else {
        format!("migrated {n}: {}", d.migrated.join(", "))
    };
    Ok((n > 0, msg))
}

pub(super) fn status(r: &mut Runner, d: &mut StatusData) -> Result<(bool, String)> {
    let args = ["migrate:status".to_string()];
    let Some(out) = r.artisan_unchecked("migrate:status", &args, &args)? else {
        return Ok((false, "would run migrate:status".into()));
    };
    if !out.success() {
        let mut e = r.failure("migrate:status", &out);
        if out.combined().contains("Migration table not found") && e.hint.is_none() {
            e = e.with_hint(
                "the database has no migrations table: a fresh database needs \
                 `df-artisan migrate --seed`; otherwise check DB_* in .env",
            );
        }
        return Err(e);
    }
    let rows = output::parse_status(&out.combined());
    d.pending = rows
        .iter()
        .filter(|r| !r.ran)
        .map(|r| r.name.clone())
        .collect();
    d.ran = rows.iter().filter(|r| r.ran).count() as u64;
    d.migrations = rows
        .into_iter()
        .map(|r| MigrationRow {
            name: r.name,
            ran: r.ran,
            batch: r.batch,
        })
        .collect();
    let msg = if d.pending.is_empty() {
        format!("no pending migrations ({} ran)", d.ran)
    } else {
        format!("{} pending: {}", d.pending.len(), d.pending.join(", "))
    };
    Ok((false, msg))
}

/// Refuse a destructive command without `--yes` (a dry run only shows the plan).
pub(super) fn destructive_guard(r: &Runner, what: &str, yes: bool) -> Result<()> {
    if yes || r.dry_run {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{what} drops the tables of the system database; refusing without --yes"
    ))
    .with_hint("back the database up first (`df-dump-db dump --into SET`), then add --yes"))
}

pub(super) fn fresh(
    r: &mut Runner,
    d: &mut FreshResetData,
    yes: bool,
    seed: bool,
) -> Result<(bool, String)> {
    destructive_guard(r, "migrate:fresh", yes)?;
    d.seed = seed;
    let mut args = vec!["migrate:fresh".to_string(), "--force".into()];
    if seed {
        args.push("--seed".into());
    }
    let Some(out) = r.artisan_unchecked("migrate:fresh", &args, &args)? else {
        return Ok((true, "would drop every table and migrate afresh".into()));
    };
    let rep = output::parse_migrate(&out.combined());
    d.dropped_all = rep.dropped_all;
    d.migrated = rep.migrated;
    d.failed_migration = rep.failed;
    r.c.changed |= d.dropped_all || !d.migrated.is_empty();
    if !out.success() {
        return Err(r.failure("migrate:fresh", &out));
    }
    Ok((
        true,
        format!(
            "dropped all tables and migrated {} afresh",
            d.migrated.len()
        ),
    ))
}

pub(super) fn reset(r: &mut Runner, d: &mut FreshResetData, yes: bool) -> Result<(bool, String)> {
    destructive_guard(r, "migrate:reset", yes)?;
    let args = vec!["migrate:reset".to_string(), "--force".into()];
    let Some(out) = r.artisan_unchecked("migrate:reset", &args, &args)? else {
        return Ok((true, "would roll back every migration".into()));
    };
    let rep = output::parse_migrate(&out.combined());
    d.rolled_back = rep.rolled_back;
    d.failed_migration = rep.failed;
    r.c.changed |= !d.rolled_back.is_empty();
    if !out.success() {
        return Err(r.failure("migrate:reset", &out));
    }
    let n = d.rolled_back.len();
    Ok((
        n > 0,
        if n == 0 {
            "nothing to roll back".into()
        } else {
            format!("rolled back {n} migration(s)")
        },
    ))
}
