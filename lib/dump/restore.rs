//! `df-dump-db restore`.

use super::codec::open_decoder;
use super::proc::{read_stderr_thread, recorded_argv};
use super::sqlsrv::{tsql_ident, tsql_string};
use super::stored::{check_sha, open_stored, Stored};
use super::trailer::Tail;
use super::RestoreOptions;
use crate::atomic;
use crate::db::{self, Driver, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::Cmd;
use crate::report::{Ctx, Outcome};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;

/// SQL that empties the target before a `--replace` restore.
pub(super) fn drop_sql(session: &Session) -> Result<Option<String>> {
    Ok(match session.settings.driver {
        Driver::Mysql => {
            let rows = session.query(
                "SELECT table_type, table_name FROM information_schema.tables \
                 WHERE table_schema = DATABASE();",
            )?;
            if rows.is_empty() {
                return Ok(None);
            }
            let mut sql = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
            for r in rows.iter().filter(|r| r.len() == 2) {
                let what = if r[0] == "VIEW" { "VIEW" } else { "TABLE" };
                sql.push_str(&format!(
                    "DROP {what} IF EXISTS {};\n",
                    db::quote_table(Driver::Mysql, &r[1])
                ));
            }
            Some(sql)
        }
        // Every user schema goes (the dump recreates it); public is emptied in place
        // because it belongs to the database and the dump does not create it.
        Driver::Pgsql => Some(
            r#"DO $dfkit$ DECLARE r record; BEGIN
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.sig);
  END LOOP;
  FOR r IN SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND (t.typtype IN ('e', 'd')
             OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.typname);
  END LOOP;
END $dfkit$;
"#
            .to_string(),
        ),
        _ => None,
    })
}

/// Feed `prefix` then the decompressed artifact into `cmd`'s stdin; returns its output.
pub(super) fn stream_into(cmd: &Cmd, prefix: &[u8], st: &Stored) -> Result<crate::exec::Output> {
    let mut decoder = open_decoder(&st.path, st.compression)?;
    let mut c = cmd.command();
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| Error::unavailable(format!("cannot run {}: {e}", cmd.program().display())))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out_reader = read_stderr_like(child.stdout.take());
    let err_reader = read_stderr_thread(child.stderr.take());
    let mut feed = || -> std::io::Result<Option<std::io::Error>> {
        if let Err(e) = stdin.write_all(prefix) {
            return Ok(Some(e));
        }
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match decoder.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = stdin.write_all(&buf[..n]) {
                // The client stopped reading (it failed): its exit status tells why.
                return Ok(Some(e));
            }
        }
    };
    let fed = feed();
    drop(stdin);
    if fed.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for", cmd.program(), e))?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if let Err(e) = fed {
        return Err(Error::bad_data(format!(
            "{} does not decompress: {e}",
            st.path.display()
        )));
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(crate::exec::Output {
        code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
        duration: Default::default(),
        timed_out: false,
    })
}

pub(super) fn read_stderr_like(
    r: Option<std::process::ChildStdout>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut tail = Tail::new(64 << 10);
        if let Some(mut r) = r {
            let mut b = [0u8; 8192];
            while let Ok(n) = r.read(&mut b) {
                if n == 0 {
                    break;
                }
                tail.push(&b[..n]);
            }
        }
        tail.buf
    })
}

/// Tables whose row count differs from the meta's: (table, expected, found).
pub(super) fn compare_counts(want: &Value, got: &BTreeMap<String, u64>) -> (Vec<Value>, usize) {
    let mut mismatches = Vec::new();
    let mut checked = 0;
    if let Some(w) = want.as_object() {
        for (t, n) in w {
            checked += 1;
            let n = n.as_u64();
            let g = got.get(t).copied();
            if n != g {
                mismatches.push(json!({"table": t, "expected": n, "found": g}));
            }
        }
    }
    (mismatches, checked)
}

/// `df-dump-db restore`.
pub fn restore(ctx: &Ctx, o: &RestoreOptions) -> Result<Outcome> {
    let st = open_stored(&o.from)?;
    let sha = check_sha(&st)?;
    let mut settings = Settings::load(&o.root, o.env.as_deref())?;
    if let Some(name) = &o.database {
        settings = settings.with_database(name, &o.root);
    }
    if settings.driver != st.driver {
        return Err(Error::config(format!(
            "the set holds a {} dump but .env says DB_CONNECTION={}",
            st.driver, settings.driver
        ))
        .with_hint("restore on an instance using the same database driver"));
    }
    if st.driver == Driver::Sqlsrv {
        return restore_sqlsrv(ctx, o, &settings, &st);
    }
    if st.driver == Driver::Sqlite {
        return restore_sqlite(ctx, o, &settings, &st, &sha);
    }
    let session = Session::open(&settings)?;
    session.ping()?;
    let existing = session.tables()?;
    if !existing.is_empty() && !o.replace {
        return Err(Error::new(
            ErrorKind::CannotCreate,
            format!(
                "{} is not empty ({} tables); not restoring over it",
                settings.describe(),
                existing.len()
            ),
        )
        .with_hint(
            "pass --replace to drop its tables first, or --database NAME for an empty one",
        ));
    }
    let client = session.command(Role::Client)?;
    let client = match st.driver {
        Driver::Mysql => client.arg("--batch").arg(session.database_arg()),
        // One transaction: a failed import (or the drop before it) leaves the target as it was.
        _ => client
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-f",
                "-",
            ])
            .arg(session.database_arg()),
    };
    let argv = recorded_argv(&client, &session);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!(
                "would restore {} into {}",
                st.path.display(),
                settings.describe()
            ),
            json!({"plan": {"commands": [argv.join(" ")], "replace": o.replace,
                   "drop_tables": existing}}),
        ));
    }
    let mut prefix = Vec::new();
    if !existing.is_empty() {
        if let Some(sql) = drop_sql(&session)? {
            match st.driver {
                // Same transaction as the import (psql -1).
                Driver::Pgsql => prefix = sql.into_bytes(),
                _ => {
                    ctx.log(format!(
                        "dropping {} tables in {}",
                        existing.len(),
                        settings.describe()
                    ));
                    session.query(&sql)?;
                }
            }
        }
    }
    ctx.log(format!(
        "restoring {} into {}",
        st.path.display(),
        settings.describe()
    ));
    let out = stream_into(&client, &prefix, &st)?;
    if !out.success() {
        let e = db::classify(&settings, &out);
        return Err(Error::new(
            if e.kind == ErrorKind::StepFailed {
                ErrorKind::StepFailed
            } else {
                e.kind
            },
            format!(
                "importing into {} failed ({}): {}",
                settings.describe(),
                out.status_text(),
                out.tail(5)
            ),
        )
        .with_data(json!({"changed": st.driver == Driver::Mysql})));
    }
    finish_restore(&session, &settings, &st, &sha, existing.len())
}

pub(super) fn finish_restore(
    session: &Session,
    settings: &Settings,
    st: &Stored,
    sha: &str,
    dropped: usize,
) -> Result<Outcome> {
    let got = session.row_counts()?;
    let (mismatches, checked) = compare_counts(&json!(st.meta.row_counts), &got);
    let data = json!({
        "driver": settings.driver,
        "database": settings.database,
        "from": st.path,
        "sha256": sha,
        "replaced_tables": dropped,
        "tables_checked": checked,
        "row_counts": got,
        "mismatches": mismatches,
        "changed": true,
    });
    if !mismatches.is_empty() {
        return Err(Error::bad_data(format!(
            "restored into {}, but {} table(s) differ in row count from the dump's meta",
            settings.describe(),
            mismatches.len()
        ))
        .with_data(data));
    }
    Ok(Outcome::new(
        true,
        format!(
            "restored {} into {} ({} tables, row counts match)",
            st.path.display(),
            settings.describe(),
            checked
        ),
        data,
    ))
}

/// sqlite: import into a temp file beside the target, check it, then rename it into
/// place — the live file is never half-written.
pub(super) fn restore_sqlite(
    ctx: &Ctx,
    o: &RestoreOptions,
    settings: &Settings,
    st: &Stored,
    sha: &str,
) -> Result<Outcome> {
    let target = PathBuf::from(&settings.database);
    let mut existing = 0;
    if target.is_file() {
        let s = Session::open(settings)?;
        existing = s.tables()?.len();
        if existing > 0 && !o.replace {
            return Err(Error::new(
                ErrorKind::CannotCreate,
                format!(
                    "{} is not empty ({existing} tables); not restoring over it",
                    target.display()
                ),
            )
            .with_hint("pass --replace to replace it, or --database FILE for another file"));
        }
    }
    let dir = atomic::parent_dir(&target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "database.sqlite".into());
    let tmp = dir.join(format!(".{name}.dfkit-restore.{}", std::process::id()));
    let client = Cmd::resolved(db::find_program(Driver::Sqlite, Role::Client)?)
        .args(["-batch", "-bail"])
        .arg(&tmp);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!(
                "would restore {} into {}",
                st.path.display(),
                target.display()
            ),
            json!({"plan": {"commands": [client.display()], "target": target, "replace": o.replace}}),
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let _ = std::fs::remove_file(&tmp);
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let guard = Rm(tmp.clone());
    let out = stream_into(&client, b"", st)?;
    if !out.success() {
        return Err(Error::step(format!(
            "sqlite3 import into {} failed ({}): {}",
            tmp.display(),
            out.status_text(),
            out.tail(5)
        )));
    }
    let tmp_settings = settings.with_database(&tmp.to_string_lossy(), &o.root);
    let session = Session::open(&tmp_settings)?;
    let got = session.row_counts()?;
    let (mismatches, _) = compare_counts(&json!(st.meta.row_counts), &got);
    if !mismatches.is_empty() {
        return Err(Error::bad_data(format!(
            "the restored copy differs in row count from the dump's meta in {} table(s); {} left unchanged",
            mismatches.len(),
            target.display()
        ))
        .with_data(json!({"mismatches": mismatches})));
    }
    // Keep the old file's owner and mode (the web server must still write it).
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (uid, gid, mode) = match std::fs::metadata(&target) {
            Ok(m) => (m.uid(), m.gid(), m.mode() & 0o7777),
            Err(_) => {
                let m = std::fs::metadata(&dir).map_err(|e| Error::io("reading", &dir, e))?;
                (m.uid(), m.gid(), 0o660)
            }
        };
        let _ = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid));
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("setting mode of", &tmp, e))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("syncing", &tmp, e))?;
    }
    // A stale WAL beside the new file would be replayed into it.
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
    }
    std::fs::rename(&tmp, &target).map_err(|e| Error::io("renaming into", &target, e))?;
    std::mem::forget(guard);
    atomic::sync_dir(&dir)?;
    let final_session = Session::open(settings)?;
    finish_restore(&final_session, settings, st, sha, existing)
}

/// sqlsrv: `RESTORE DATABASE … FROM DISK` through sqlcmd (row counts are not recorded
/// for SQL Server backups, so none are compared).
pub(super) fn restore_sqlsrv(
    ctx: &Ctx,
    o: &RestoreOptions,
    s: &Settings,
    st: &Stored,
) -> Result<Outcome> {
    let session = Session::open(s)?;
    let path = std::fs::canonicalize(&st.path).map_err(|e| Error::io("resolving", &st.path, e))?;
    let mut query = format!(
        "RESTORE DATABASE {} FROM DISK = {}",
        tsql_ident(&s.database),
        tsql_string(&path.to_string_lossy())
    );
    if o.replace {
        query.push_str(" WITH REPLACE");
    }
    let cmd = session
        .command(Role::Client)?
        .args(["-d", "master", "-b", "-C", "-Q"])
        .arg(&query);
    if ctx.dry_run() {
        return Ok(Outcome::new(
            true,
            format!("would restore {} into {}", st.path.display(), s.describe()),
            json!({"plan": {"commands": [cmd.display()]}}),
        ));
    }
    let out = cmd.run()?;
    if !out.success() {
        let e = db::classify(s, &out);
        return Err(Error::new(
            e.kind,
            format!(
                "sqlcmd RESTORE DATABASE failed ({}): {}",
                out.status_text(),
                out.tail(5)
            ),
        ));
    }
    ctx.warn("sqlsrv: row counts are not compared for SQL Server backups");
    Ok(Outcome::new(
        true,
        format!("restored {} into {}", st.path.display(), s.describe()),
        json!({"driver": s.driver, "database": s.database, "from": st.path, "changed": true}),
    ))
}
