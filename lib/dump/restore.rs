//! `df-dump-db restore`.

use super::phases::Phases;
use super::proc::recorded_argv;
use super::restore_feed::{client_error_text, stream_into};
use super::restore_mysql::Swapped;
use super::sqlsrv::{tsql_ident, tsql_string};
use super::stored::{check_sha, open_stored, Stored};
use super::RestoreOptions;
use crate::backup_set::compare_row_counts;
use crate::db::{self, Driver, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::report::data::dump::RestoreData;
use crate::report::{Ctx, Outcome, PlanItem};
use serde_json::{json, Value};
use std::collections::BTreeMap;

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

/// pgsql `--replace`: the target's tables, counted as [`Session::survey`] lists them by
/// the import's psql run right after its `BEGIN`, before the drop. Kept in a session
/// setting and printed after the `COMMIT` ([`REPLACED_SHOW`]), at the end of psql's
/// output, where its captured tail always holds it.
const REPLACED: &str = "SELECT set_config('dfkit.replaced', count(*)::text, false) FROM pg_tables \
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\\_%';";

/// Written after `COMMIT;`; cannot fail (an unset setting prints an empty line).
const REPLACED_SHOW: &str =
    "SELECT 'dfkit-replaced:' || current_setting('dfkit.replaced', true);\n";

/// The count [`REPLACED_SHOW`] printed.
fn replaced_count(out: &crate::exec::Output) -> Option<usize> {
    out.stdout_str().lines().find_map(|l| {
        l.trim()
            .strip_prefix("dfkit-replaced:")
            .and_then(|n| n.trim().parse().ok())
    })
}

/// What the target looked like and how the restore went, for `data`.
pub(super) fn data_of(settings: &Settings, st: &Stored, sha: &str, replaced: usize) -> RestoreData {
    RestoreData {
        driver: settings.driver.to_string(),
        database: settings.database.clone(),
        from: st.path.to_string_lossy().into_owned(),
        sha256: sha.to_string(),
        replaced_tables: replaced,
        atomicity: match settings.driver {
            Driver::Pgsql => "transaction",
            Driver::Sqlite => "rename",
            Driver::Sqlsrv => "native",
            Driver::Mysql => "none",
        }
        .to_string(),
        ..RestoreData::default()
    }
}

fn data_value(d: &RestoreData) -> Value {
    serde_json::to_value(d).unwrap_or_else(|_| json!({}))
}

/// The meta's row counts as a map (none for sqlsrv).
pub(super) fn meta_counts(st: &Stored) -> BTreeMap<String, u64> {
    st.meta.row_counts.clone().unwrap_or_default()
}

/// `df-dump-db restore`.
pub fn restore(ctx: &Ctx, o: &RestoreOptions) -> Result<Outcome> {
    let mut phases = Phases::from_env("DFKIT_RESTORE_PHASES", "df-dump-db restore phases");
    let st = open_stored(&o.from)?;
    let sha = check_sha(&st)?;
    phases.mark("sha256");
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
    match st.driver {
        Driver::Sqlsrv => restore_sqlsrv(ctx, o, &settings, &st),
        Driver::Sqlite => super::restore_sqlite::restore_sqlite(ctx, o, &settings, &st, &sha),
        Driver::Mysql | Driver::Pgsql => restore_server(ctx, o, &settings, &st, &sha, &mut phases),
    }
}

/// mysql and pgsql.
///
/// pgsql: psql runs `BEGIN` and the drop (`-c`), then reads the dump from stdin; dfkit
/// writes `COMMIT;` only after the whole stream was sent and checked, so a kill of
/// dfkit, a failed check or an error leaves the transaction open at psql's end of
/// input, and it is rolled back. The dump's line numbers are stdin's.
///
/// mysql: DDL commits implicitly, so no transaction can cover a replace; instead the
/// dump is imported into a scratch database and swapped in ([`super::restore_mysql`]),
/// its longest statement checked first against the server's `max_allowed_packet` (from
/// the meta, else by reading the whole dump). Without the right to create a scratch
/// database, or into an empty target, the whole dump is read first (trailer, size,
/// longest statement), then the old tables are dropped and the dump imported.
fn restore_server(
    ctx: &Ctx,
    o: &RestoreOptions,
    settings: &Settings,
    st: &Stored,
    sha: &str,
    phases: &mut Phases,
) -> Result<Outcome> {
    let jobs = o.jobs.unwrap_or_else(RestoreOptions::default_jobs);
    let session = Session::open(settings)?;
    // pgsql --replace: what the survey would learn (the server answers, the tables it
    // holds) is learnt by the import's own psql run, inside its transaction before the
    // drop: one client start and login fewer (see REPLACED).
    let folded = st.driver == Driver::Pgsql && o.replace && !ctx.dry_run();
    // One client run: the server answers (credentials, database), its tables, its limit.
    let target = if folded {
        db::Survey::default()
    } else {
        session.survey()?
    };
    let existing = target.tables;
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
    let mut data = data_of(settings, st, sha, existing.len());
    // mysql's drop is only needed (and built) when no scratch database can be made.
    let mut drop = if (existing.is_empty() && !folded) || st.driver == Driver::Mysql {
        None
    } else {
        drop_sql(&session)?
    };
    let client = session.command(Role::Client)?;
    let client = match st.driver {
        // The client's own packet limit is 16 MiB by default; the server's is checked below.
        Driver::Mysql => client
            .args(["--batch", "--max-allowed-packet=1073741824"])
            .arg(session.database_arg()),
        // Not -q: psql then prints each command's tag, and `COPY n` is the server's own
        // count of the rows it loaded into that table (see copy_tag_counts).
        _ => {
            let mut c = client.args(["-X", "-v", "ON_ERROR_STOP=1", "-c", "BEGIN"]);
            if folded {
                c = c.arg("-c").arg(REPLACED);
            }
            if let Some(sql) = &drop {
                c = c.arg("-c").arg(sql);
            }
            c.args(["-f", "-"]).arg(session.database_arg())
        }
    };
    let argv = recorded_argv(&client, &session);
    if ctx.dry_run() {
        return Ok(Outcome::typed(
            true,
            format!(
                "would restore {} into {}",
                st.path.display(),
                settings.describe()
            ),
            &RestoreData {
                plan: Some(server_plan(settings, st, &argv.join(" "), &existing, jobs)),
                ..data
            },
        ));
    }
    if st.driver == Driver::Mysql {
        phases.mark("connect");
        let limit = target.max_allowed_packet;
        let fail = |e: Error, d: &RestoreData| e.with_data(data_value(d));
        // Read the whole dump once, touching nothing: trailer, size, longest line.
        let prescan = |data: &mut RestoreData, phases: &mut Phases| -> Result<()> {
            ctx.log(format!(
                "checking {} before touching {}",
                st.path.display(),
                settings.describe()
            ));
            let scanned = super::restore_feed::prescan(st).map_err(|e| fail(e, data))?;
            phases.mark("prescan");
            data.longest_statement_bytes = Some(scanned.longest_line);
            let at = format!("line {}", scanned.longest_line_no);
            check_packet(st, &session, limit, scanned.longest_line, &at).map_err(|e| fail(e, data))
        };
        let mut prescanned = false;
        if !existing.is_empty() {
            // A dfkit dump's meta records its longest statement: checked against the
            // server's limit without a pass over the dump (the scratch import reads it
            // once, checked as it streams; the target is untouched until the swap).
            match st.meta.max_statement_bytes {
                Some(longest) => {
                    data.longest_statement_bytes = Some(longest);
                    check_packet(st, &session, limit, longest, "its longest statement")
                        .map_err(|e| fail(e, &data))?;
                }
                None => {
                    prescan(&mut data, phases)?;
                    prescanned = true;
                }
            }
            let want = meta_counts(st);
            match super::restore_mysql::replace_via_scratch(
                ctx, &session, settings, st, &want, jobs, phases,
            ) {
                Ok(Swapped::Done(got, connections)) => {
                    data.changed = true;
                    data.atomicity = "swap".into();
                    data.import_connections = connections;
                    // Counted in the scratch copy before the swap: the same tables.
                    return compare_counts(settings, st, data, got);
                }
                Ok(Swapped::NoScratch(why)) => ctx.warn(format!(
                    "not atomic: {why}; dropping the old tables first instead \
                     (grant ALL ON `{}\\_dfkit\\_%`.* to the database user for an all-or-nothing replace)",
                    settings.database.replace('_', "\\_")
                )),
                Err(e) => return Err(fail(e, &data)),
            }
        }
        // Not atomic from here: the whole dump is read before anything is touched.
        if !prescanned {
            prescan(&mut data, phases)?;
        }
        if !existing.is_empty() {
            drop = drop_sql(&session)?;
        }
        if let Some(sql) = &drop {
            ctx.log(format!(
                "dropping {} tables in {}",
                existing.len(),
                settings.describe()
            ));
            session.query(sql)?;
        }
    }
    ctx.log(format!(
        "restoring {} into {}",
        st.path.display(),
        settings.describe()
    ));
    let commit = match st.driver {
        Driver::Pgsql if folded => format!("COMMIT;\n{REPLACED_SHOW}"),
        Driver::Pgsql => "COMMIT;\n".to_string(),
        _ => String::new(),
    };
    let commit = commit.as_bytes();
    phases.mark("prepare");
    let mut fed = stream_into(ctx, &client, st, commit)?;
    phases.mark("import");
    if folded {
        // psql printed nothing, not even its BEGIN: the server, the credentials or the
        // database failed (what the survey reports elsewhere), and nothing was run.
        if !fed.out.success() && fed.out.stdout.is_empty() {
            return Err(db::classify(settings, &fed.out).with_data(data_value(&data)));
        }
        if let Some(n) = replaced_count(&fed.out) {
            data.replaced_tables = n;
        }
    }
    // mysql changed the target as soon as it dropped or imported anything.
    data.changed = st.driver == Driver::Mysql;
    if let Some(e) = fed.withheld.take() {
        if st.driver == Driver::Pgsql {
            let msg = format!(
                "{}; nothing was committed: {} is as it was",
                e.message,
                settings.describe()
            );
            let mut err = Error::new(e.kind, msg);
            err.hint = e.hint;
            return Err(err.with_data(data_value(&data)));
        }
        return Err(e.with_data(data_value(&data)));
    }
    let out = &fed.out;
    if !out.success() || (st.driver == Driver::Pgsql && !fed.committed) {
        let e = import_error(settings, out);
        let kept = if st.driver == Driver::Pgsql {
            format!(
                "; nothing was committed: {} is as it was",
                settings.describe()
            )
        } else {
            String::new()
        };
        let mut err = Error::new(
            e.kind,
            format!(
                "importing into {} failed ({}): {}{kept}",
                settings.describe(),
                out.status_text(),
                client_error_text(out),
            ),
        );
        let low = out.combined().to_ascii_lowercase();
        let hint = if st.driver == Driver::Mysql
            && (low.contains("gone away")
                || low.contains("max_allowed_packet")
                || low.contains("packet bigger"))
        {
            Some(PACKET_HINT.to_string())
        } else if st.driver == Driver::Pgsql && low.contains("psql:<stdin>:") {
            Some("psql:<stdin>:N is line N of the decompressed dump (df-dump-db verify checks it; zstd -dc SET/db.sql.zst | sed -n Np shows it)".to_string())
        } else {
            e.hint.clone()
        };
        if let Some(h) = hint {
            err = err.with_hint(h);
        }
        return Err(err.with_data(data_value(&data)));
    }
    data.changed = true;
    // The server's own counts of what it loaded (no scan of every table after the
    // commit); a COUNT(*) of each table when they cannot be read.
    let r = match copy_tag_counts(&fed) {
        Some(got) if st.driver == Driver::Pgsql => compare_counts(settings, st, data, got),
        _ => finish_restore(&session, settings, st, data),
    };
    phases.mark("count");
    r
}

/// A failed import is the dump's statement failing (1), unless the server went away
/// (69): the credentials and the database were already checked by the ping, so the
/// classifier's "does not exist" (a column, a type) must not read as a missing database.
pub(super) fn import_error(settings: &Settings, out: &crate::exec::Output) -> Error {
    let e = db::classify(settings, out);
    if e.kind == ErrorKind::Unavailable {
        e
    } else {
        Error::step(e.message)
    }
}

const PACKET_HINT: &str = "raise the server's max_allowed_packet: SET GLOBAL max_allowed_packet = 1073741824; \
(and max_allowed_packet = 1G under [mysqld] in my.cnf so it survives a restart), then run the restore again";

/// A statement longer than the server's `max_allowed_packet` cannot be imported:
/// refuse before anything is dropped.
fn check_packet(
    st: &Stored,
    session: &Session,
    limit: Option<u64>,
    longest: u64,
    at: &str,
) -> Result<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    // A statement travels with a few bytes of protocol framing.
    if longest + 1024 > limit {
        return Err(Error::config(format!(
            "{}: {at} is a statement of {longest} bytes, over {}'s max_allowed_packet ({limit} bytes); nothing was changed",
            st.path.display(),
            session.settings.describe()
        ))
        .with_hint(PACKET_HINT));
    }
    Ok(())
}

/// The steps of a mysql/pgsql restore, for `--dry-run`.
fn server_plan(
    settings: &Settings,
    st: &Stored,
    command: &str,
    existing: &[String],
    jobs: usize,
) -> Vec<PlanItem> {
    let artifact = st.path.to_string_lossy().into_owned();
    let mut plan = vec![PlanItem::on_path(
        "check",
        artifact.clone(),
        "sha256 against db.meta.json (done); the trailer, size and row counts are checked as the dump streams",
    )];
    let target = settings.describe();
    match settings.driver {
        Driver::Mysql if !existing.is_empty() => {
            let scratch = format!("{}_dfkit_<pid>", settings.database);
            plan.push(PlanItem::new(
                "check",
                if st.meta.max_statement_bytes.is_some() {
                    "the longest statement (db.meta.json) against the server's max_allowed_packet; trailer and size as the import streams"
                } else {
                    "read the whole dump first: trailer, size, longest statement against the server's max_allowed_packet"
                },
            ));
            plan.push(PlanItem::new(
                "create_database",
                format!("scratch databases {scratch} and {scratch}_old (without the right to: drop the {} old tables first, not atomic)", existing.len()),
            ));
            plan.push(PlanItem::run(
                command.replace(&format!(" {}", settings.database), &format!(" {scratch}")),
                if jobs > 1 {
                    format!("import {artifact} into {scratch}, a large table's rows over up to {jobs} connections, then check its row counts")
                } else {
                    format!("import {artifact} into {scratch}, then check its row counts")
                },
            ));
            plan.push(PlanItem::new(
                "swap",
                format!(
                    "one RENAME TABLE: the {} old tables of {target} out, the dump's in; then views, triggers, routines, events",
                    existing.len()
                ),
            ));
        }
        Driver::Mysql => plan.push(PlanItem::run(
            command,
            format!("import {artifact} into the empty {target}"),
        )),
        _ => plan.push(PlanItem::run(
            command,
            format!(
                "in one transaction: drop the {} tables of {target} and import {artifact}; COMMIT only after the checked end of the stream",
                existing.len()
            ),
        )),
    }
    plan.push(PlanItem::new(
        "count",
        format!("compare every table's row count in {target} with db.meta.json"),
    ));
    plan
}

/// Count the rows the target holds now and compare them with the meta.
pub(super) fn finish_restore(
    session: &Session,
    settings: &Settings,
    st: &Stored,
    data: RestoreData,
) -> Result<Outcome> {
    compare_counts(settings, st, data, session.row_counts()?)
}

/// Compare the rows the target holds (`got`) with the meta's.
pub(super) fn compare_counts(
    settings: &Settings,
    st: &Stored,
    mut data: RestoreData,
    got: BTreeMap<String, u64>,
) -> Result<Outcome> {
    let want = meta_counts(st);
    data.tables_checked = want.len();
    data.mismatches = compare_row_counts(&want, &got, false);
    data.row_counts = got;
    if !data.mismatches.is_empty() {
        return Err(Error::bad_data(format!(
            "restored into {}, but {} table(s) differ in row count from the dump's meta",
            settings.describe(),
            data.mismatches.len()
        ))
        .with_data(data_value(&data)));
    }
    Ok(Outcome::typed(
        true,
        format!(
            "restored {} into {} ({} tables, row counts match)",
            st.path.display(),
            settings.describe(),
            data.tables_checked
        ),
        &data,
    ))
}

/// pgsql: the rows the server loaded into each table, from psql's `COPY n` tags (in
/// the order of the stream's COPY blocks); None when they do not pair up (a capture
/// that lost its start, a dump with rows outside COPY), and the tables are counted.
fn copy_tag_counts(fed: &super::restore_feed::Fed) -> Option<BTreeMap<String, u64>> {
    let text = fed.out.stdout_str();
    let tags: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("COPY ")?.trim().parse().ok())
        .collect();
    let order = &fed.scanned.copy_order;
    (tags.len() == order.len()).then(|| order.iter().cloned().zip(tags).collect())
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
            json!({"plan": [PlanItem::run(cmd.display(), "RESTORE DATABASE from the set's native backup")]}),
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
