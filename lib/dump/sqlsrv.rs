//! SQL Server: a native `BACKUP DATABASE` instead of a stream.

use super::dumper::{check_existing, host_label, set_dir, write_meta};
use super::errtext;
use super::proc::recorded_argv;
use super::sweep;
use super::DumpOptions;
use crate::atomic;
use crate::backup_set::db_meta::DbMeta;
use crate::backup_set::BackupSet;
use crate::db::{self, Role, Session};
use crate::error::{Error, Result};
use crate::report::data::dump::DumpData;
use crate::report::{now_rfc3339, Ctx, Outcome};

pub(super) const SQLSRV_ARTIFACT: &str = "db.bak";

/// A T-SQL string literal N'…'.
pub(super) fn tsql_string(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// A T-SQL identifier [...].
pub(super) fn tsql_ident(s: &str) -> String {
    format!("[{}]", s.replace(']', "]]"))
}

/// sqlsrv: `BACKUP DATABASE … TO DISK` through sqlcmd (password in SQLCMDPASSWORD).
/// The server writes the file itself, so this works when SQL Server runs on this host
/// (or shares the set's filesystem) and may write into the set.
pub(super) fn dump_sqlsrv(ctx: &Ctx, o: &DumpOptions, session: &Session) -> Result<Outcome> {
    let s = &session.settings;
    let set_dir = set_dir(o);
    let replaced = check_existing(&set_dir, o.replace)?;
    let set_dir = if set_dir.is_absolute() {
        set_dir
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("resolving", &set_dir, e))?
            .join(set_dir)
    };
    let dest = set_dir.join(SQLSRV_ARTIFACT);
    let tmp = set_dir.join(format!(
        ".{SQLSRV_ARTIFACT}.dfkit-tmp.{}.0",
        std::process::id()
    ));
    let query = format!(
        "BACKUP DATABASE {} TO DISK = {} WITH COPY_ONLY, INIT, CHECKSUM",
        tsql_ident(&s.database),
        tsql_string(&tmp.to_string_lossy())
    );
    let mut cmd = session
        .command(Role::Dump)?
        .args(["-d", "master", "-b", "-C", "-Q"])
        .arg(&query);
    if let Some(t) = o.timeout {
        cmd = cmd.timeout(t);
    }
    let argv = recorded_argv(&cmd, session);
    if ctx.dry_run() {
        let data = DumpData {
            meta: DbMeta {
                artifact: SQLSRV_ARTIFACT.to_string(),
                driver: Some(s.driver),
                database: s.database.clone(),
                host: host_label(s),
                dump_program: cmd.program().to_path_buf(),
                dump_argv: argv,
                compression: "none".to_string(),
                ..DbMeta::default()
            },
            plan: super::dump_plan(cmd.display(), &dest, "none", false),
            replaced,
            ..DumpData::default()
        };
        return Ok(Outcome::typed(
            true,
            format!("would back up {} into {}", s.describe(), dest.display()),
            &data,
        ));
    }
    let set = BackupSet::create(Some(&set_dir))?;
    sweep::sweep_around(&set.dir);
    let out = cmd.run()?;
    let cleanup = || {
        let _ = std::fs::remove_file(&tmp);
    };
    if !out.success() {
        cleanup();
        let e = db::classify(s, &out);
        let err = Error::new(
            e.kind,
            format!(
                "sqlcmd BACKUP DATABASE failed ({}): {}",
                out.status_text(),
                errtext::clean(&out.tail(5))
            ),
        );
        return Err(match e.hint.filter(|h| !h.is_empty()) {
            Some(h) => err.with_hint(h),
            None => err,
        });
    }
    let trailer = out
        .stdout_str()
        .contains("BACKUP DATABASE successfully processed");
    let md = std::fs::metadata(&tmp).ok().filter(|m| m.len() > 0);
    if !trailer || md.is_none() {
        cleanup();
        return Err(Error::step(format!(
            "sqlcmd exited 0 but {}; no backup written",
            if !trailer {
                "did not report `BACKUP DATABASE successfully processed`"
            } else {
                "no backup file appeared in the set"
            }
        ))
        .with_hint("SQL Server writes the file on its own host: run df-dump-db where the server can write into the set directory"));
    }
    let (sha256, bytes) =
        crate::checksum::sha256_file(&tmp).map_err(|e| Error::io("hashing", &tmp, e))?;
    let _ = md;
    std::fs::rename(&tmp, &dest).map_err(|e| Error::io("renaming into", &dest, e))?;
    atomic::sync_dir(&set.dir)?;
    let meta = DbMeta {
        artifact: SQLSRV_ARTIFACT.to_string(),
        driver: Some(s.driver),
        database: s.database.clone(),
        host: host_label(s),
        server_version: None,
        dump_program: cmd.program().to_path_buf(),
        dump_argv: argv,
        sha256,
        bytes,
        uncompressed_bytes: bytes,
        compression: "none".to_string(),
        portable: false,
        trailer_verified: true,
        tables: None,
        row_counts: None,
        created_at: now_rfc3339(),
        dfkit_version: env!("CARGO_PKG_VERSION").to_string(),
        ..DbMeta::default()
    };
    ctx.warn("sqlsrv: per-table row counts are not recorded for SQL Server backups");
    let mut data = DumpData {
        meta,
        set: Some(set.dir.clone()),
        path: Some(dest.clone()),
        replaced,
        ..DumpData::default()
    };
    data.meta_path = Some(write_meta(&set, &data)?);
    Ok(Outcome::typed(
        true,
        format!("backed up {} into {}", s.describe(), dest.display()),
        &data,
    ))
}
