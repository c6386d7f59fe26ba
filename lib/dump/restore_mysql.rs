//! MariaDB/MySQL `--replace` without a window where the target is half-restored.
//!
//! DDL commits implicitly, so no transaction can cover a drop and an import. Instead the
//! dump is imported into a scratch database `<db>_dfkit_<pid>` beside the target, its row
//! counts checked, and then ONE `RENAME TABLE` statement (atomic, for all tables together)
//! moves the old tables out (to `<db>_dfkit_<pid>_old`) and the new ones in. A kill before
//! that statement leaves the target untouched; the scratch databases are dropped by the
//! next restore once their pid is gone.
//!
//! Triggers and views cannot move between databases, so they are taken out of the scratch
//! copy before the swap and created in the target right after it (as are routines and
//! events); only a kill in those milliseconds can leave them missing. Old tables that
//! carry triggers are renamed inside the target instead, and dropped after the swap.
//!
//! Needs the right to create those databases (`GRANT ALL ON `db\_dfkit\_%`.*`); without
//! it the caller falls back to drop-then-import, with a warning.

use super::phases::Phases;
use super::restore_fanout::{lock_conflict, stream_fanned_out};
use super::restore_feed::{client_error_text, stream_into};
use super::stored::Stored;
use crate::db::{self, Role, Session, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::report::Ctx;

/// Marks the scratch databases: `<db>_dfkit_<pid>` and `<db>_dfkit_<pid>_old`.
const MARK: &str = "_dfkit_";

fn q(name: &str) -> String {
    db::quote_table(db::Driver::Mysql, name)
}

/// A MariaDB string literal (backslash and quote escaped).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A LIKE pattern matching `s` literally.
fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Drop scratch databases of restores whose process is gone.
fn sweep(session: &Session, target: &str) {
    let prefix = format!("{target}{MARK}");
    let sql = format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE {};",
        lit(&format!("{}%", like_literal(&prefix)))
    );
    let Ok(rows) = session.query(&sql) else {
        return;
    };
    for name in rows.into_iter().filter_map(|r| r.into_iter().next()) {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = digits.parse::<i32>() else {
            continue;
        };
        if !["", "_old"].contains(&&rest[digits.len()..]) {
            continue;
        }
        let alive = pid == std::process::id() as i32
            || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = session.query(&format!("DROP DATABASE IF EXISTS {};", q(&name)));
        }
    }
    // Old tables renamed in place by a restore killed right after its swap.
    let Ok(rows) = session.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_name LIKE '#dfkit-old#%';",
    ) else {
        return;
    };
    for name in first_col(rows) {
        let pid = name
            .strip_prefix(IN_PLACE)
            .and_then(|r| r.split('#').next())
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid {
            if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
                let _ = session.query(&format!("DROP TABLE IF EXISTS {};", q(&name)));
            }
        }
    }
}

/// Old tables with triggers are renamed in place to `#dfkit-old#<pid>#<n>`.
const IN_PLACE: &str = "#dfkit-old#";

/// Drops the scratch databases when the restore ends, however it ends (short of a kill).
struct Scratch<'a> {
    session: &'a Session,
    names: Vec<String>,
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let sql: String = self
            .names
            .iter()
            .map(|n| format!("DROP DATABASE IF EXISTS {};\n", q(n)))
            .collect();
        if !sql.is_empty() {
            let _ = self.session.query(&sql);
        }
    }
}

/// An object created in the target after the swap: its `sql_mode` and statement.
struct Later {
    sql_mode: String,
    create: String,
}

fn first_col(rows: Vec<Vec<String>>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect()
}

/// The triggers, views, routines and events of `scratch`, as statements for `target`;
/// triggers and views are dropped from `scratch` so its tables can move.
fn take_later_objects(session: &Session, scratch: &str, target: &str) -> Result<Vec<Later>> {
    let mut later = Vec::new();
    let s = lit(scratch);
    // One client run for the four lists (each client start is a login), tagged by kind.
    let rows = session.query(&format!(
        "SELECT 'v', table_name FROM information_schema.views WHERE table_schema = {s};\n\
         SELECT 't', trigger_name FROM information_schema.triggers WHERE trigger_schema = {s} ORDER BY action_order;\n\
         SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = {s};\n\
         SELECT 'e', event_name FROM information_schema.events WHERE event_schema = {s};"
    ))?;
    let (mut views, mut triggers, mut routines, mut events) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in rows.into_iter().filter(|r| r.len() == 2) {
        match r[0].as_str() {
            "v" => views.push(r[1].clone()),
            "t" => triggers.push(r[1].clone()),
            "e" => events.push(r[1].clone()),
            _ => routines.push(r),
        }
    }
    // A view's stored text names its database; point it at the target.
    let from = format!("{}.", q(scratch));
    let to = format!("{}.", q(target));
    for v in &views {
        let rows = session.query(&format!("SHOW CREATE VIEW {}.{};", q(scratch), q(v)))?;
        if let Some(r) = rows.into_iter().next().filter(|r| r.len() >= 2) {
            later.push(Later {
                sql_mode: String::new(),
                create: r[1].replace(&from, &to),
            });
        }
    }
    for t in &triggers {
        let rows = session.query(&format!("SHOW CREATE TRIGGER {}.{};", q(scratch), q(t)))?;
        if let Some(r) = rows.into_iter().next().filter(|r| r.len() >= 3) {
            later.push(Later {
                sql_mode: r[1].clone(),
                create: r[2].clone(),
            });
        }
    }
    for r in routines.iter().filter(|r| r.len() == 2) {
        let kind = if r[0] == "FUNCTION" {
            "FUNCTION"
        } else {
            "PROCEDURE"
        };
        let rows = session.query(&format!("SHOW CREATE {kind} {}.{};", q(scratch), q(&r[1])))?;
        if let Some(row) = rows.into_iter().next().filter(|x| x.len() >= 3) {
            later.push(Later {
                sql_mode: row[1].clone(),
                create: format!("DROP {kind} IF EXISTS {};;\n{}", q(&r[1]), row[2]),
            });
        }
    }
    for e in &events {
        let rows = session.query(&format!("SHOW CREATE EVENT {}.{};", q(scratch), q(e)))?;
        if let Some(r) = rows.into_iter().next().filter(|r| r.len() >= 4) {
            later.push(Later {
                sql_mode: r[1].clone(),
                create: format!("DROP EVENT IF EXISTS {};;\n{}", q(e), r[3]),
            });
        }
    }
    let mut drop = String::new();
    for t in &triggers {
        drop.push_str(&format!("DROP TRIGGER {}.{};\n", q(scratch), q(t)));
    }
    for v in &views {
        drop.push_str(&format!("DROP VIEW {}.{};\n", q(scratch), q(v)));
    }
    if !drop.is_empty() {
        session.query(&drop)?;
    }
    Ok(later)
}

/// How the scratch restore ended.
pub(super) enum Swapped {
    /// Done: the target holds the dump's tables, with these row counts (counted in
    /// the scratch copy before the swap); the import used this many connections side
    /// by side.
    Done(std::collections::BTreeMap<String, u64>, usize),
    /// The scratch databases cannot be created here: the caller drops and imports.
    NoScratch(String),
}

/// Import into a scratch database, check, swap. Errors before the swap leave the
/// target as it was (the error says so).
pub(super) fn replace_via_scratch(
    ctx: &Ctx,
    session: &Session,
    settings: &Settings,
    st: &Stored,
    want: &std::collections::BTreeMap<String, u64>,
    jobs: usize,
    phases: &mut Phases,
) -> Result<Swapped> {
    let target = settings.database.clone();
    let scratch = format!("{target}{MARK}{}", std::process::id());
    let old = format!("{scratch}_old");
    if old.len() > 64 {
        return Ok(Swapped::NoScratch(format!(
            "the scratch database name {old} would be longer than 64 characters"
        )));
    }
    sweep(session, &target);
    let charset = session.query(
        "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata \
         WHERE schema_name = DATABASE();",
    )?;
    let spec = match charset.first().filter(|r| r.len() == 2) {
        Some(r) => format!(" CHARACTER SET {} COLLATE {}", q(&r[0]), q(&r[1])),
        None => String::new(),
    };
    let mut guard = Scratch {
        session,
        names: Vec::new(),
    };
    // One client run for both; the names carry our pid, so the guard may drop
    // whichever of them the run created.
    guard.names = vec![scratch.clone(), old.clone()];
    let create = format!(
        "CREATE DATABASE {}{spec};\nCREATE DATABASE {}{spec};",
        q(&scratch),
        q(&old)
    );
    match session.query(&create) {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::Config || e.message.contains("denied") => {
            return Ok(Swapped::NoScratch(format!(
                "cannot create the scratch databases {scratch} and {old}: {}",
                e.message
            )));
        }
        Err(e) => return Err(e),
    }
    let untouched = format!("; {} is as it was", settings.describe());
    let client = session
        .command(Role::Client)?
        .args(["--batch", "--max-allowed-packet=1073741824"])
        .arg(&scratch);
    phases.mark("scratch_setup");
    let (fed, connections) = import_scratch(ctx, session, &client, st, &scratch, &spec, jobs)?;
    if let Some(e) = fed.withheld {
        let mut err = Error::new(e.kind, format!("{}{untouched}", e.message));
        err.hint = e.hint;
        return Err(err);
    }
    if !fed.out.success() {
        let e = super::restore::import_error(settings, &fed.out);
        // Rows spread over connections: the client counted the lines it was sent.
        let lines = if jobs > 1 && connections == 0 {
            " (a side-by-side import: a line number counts the lines that connection was sent, not the dump's)"
        } else {
            ""
        };
        return Err(Error::new(
            e.kind,
            format!(
                "importing into the scratch database {scratch} failed ({}): {}{lines}{untouched}",
                fed.out.status_text(),
                client_error_text(&fed.out)
            ),
        ));
    }
    phases.mark("import");
    let got = Session::open(&settings.with_database(&scratch, std::path::Path::new("/")))?
        .row_counts()?;
    let bad = crate::backup_set::compare_row_counts(want, &got, false);
    if !bad.is_empty() {
        return Err(Error::bad_data(format!(
            "the imported copy differs in row count from the dump's meta in {} table(s) (first: {}){untouched}",
            bad.len(),
            bad[0].table
        )));
    }
    phases.mark("scratch_count");
    let later = take_later_objects(session, &scratch, &target)?;

    // The swap: one statement, all tables or none.
    let new_tables = first_col(session.query(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = {} AND table_type = 'BASE TABLE';",
        lit(&scratch)
    ))?);
    let old_objects = session.query(
        "SELECT t.table_name, t.table_type, \
         (SELECT COUNT(*) FROM information_schema.triggers g WHERE g.event_object_schema = t.table_schema \
          AND g.event_object_table = t.table_name) FROM information_schema.tables t \
         WHERE t.table_schema = DATABASE();",
    )?;
    let mut renames = Vec::new();
    let mut old_views = Vec::new();
    let mut renamed_in_place = Vec::new();
    for (i, r) in old_objects.iter().filter(|r| r.len() == 3).enumerate() {
        if r[1] == "VIEW" {
            old_views.push(r[0].clone());
        } else if r[2] != "0" {
            // Its triggers may not leave the database: rename it in place.
            let aside = format!("{IN_PLACE}{}#{i}", std::process::id());
            renames.push(format!("{} TO {}", q(&r[0]), q(&aside)));
            renamed_in_place.push(aside);
        } else {
            renames.push(format!("{} TO {}.{}", q(&r[0]), q(&old), q(&r[0])));
        }
    }
    for t in &new_tables {
        renames.push(format!("{}.{} TO {}", q(&scratch), q(t), q(t)));
    }
    if !renames.is_empty() {
        ctx.log(format!(
            "swapping {} tables into {}",
            new_tables.len(),
            settings.describe()
        ));
        session.query(&format!(
            "SET FOREIGN_KEY_CHECKS=0;\nRENAME TABLE {};",
            renames.join(", ")
        ))?;
    }

    // After the commit point: old views and in-place tables go, later objects come.
    let mut after = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
    for v in &old_views {
        after.push_str(&format!("DROP VIEW IF EXISTS {};\n", q(v)));
    }
    for t in &renamed_in_place {
        after.push_str(&format!("DROP TABLE IF EXISTS {};\n", q(t)));
    }
    after.push_str("DELIMITER ;;\n");
    for l in &later {
        if !l.sql_mode.is_empty() {
            after.push_str(&format!("SET SESSION sql_mode = {};;\n", lit(&l.sql_mode)));
        }
        after.push_str(&l.create);
        after.push_str(";;\n");
    }
    after.push_str("DELIMITER ;\n");
    session.query(&after).map_err(|e| {
        Error::new(
            e.kind,
            format!(
                "{} holds the dump's tables, but recreating its views, triggers or routines failed: {}",
                settings.describe(),
                e.message
            ),
        )
        .with_hint("run the restore again (it replaces everything), or restore the views/triggers from the dump by hand")
    })?;
    drop(guard);
    phases.mark("swap");
    Ok(Swapped::Done(got, connections))
}

/// The import into the (empty) scratch database: over `jobs` connections, and again
/// over one if those conflicted on a lock (the scratch database made empty first).
/// Also returns the most connections one table was loaded over; 0 when a side-by-side
/// import failed.
fn import_scratch(
    ctx: &Ctx,
    session: &Session,
    client: &crate::exec::Cmd,
    st: &Stored,
    scratch: &str,
    spec: &str,
    jobs: usize,
) -> Result<(super::restore_feed::Fed, usize)> {
    if jobs > 1 {
        ctx.log(format!(
            "importing {} into {scratch}, large tables over up to {jobs} connections",
            st.path.display()
        ));
        let f = stream_fanned_out(ctx, client, st, jobs)?;
        if f.fed.out.success() {
            return Ok((f.fed, f.connections));
        }
        if !lock_conflict(&f.fed.out) {
            // Failed over several connections (0: see the caller's message).
            return Ok((f.fed, 0));
        }
        ctx.warn(format!(
            "the import into {scratch} over {jobs} connections stopped on a lock conflict \
             between them ({}); importing again over one",
            client_error_text(&f.fed.out)
        ));
        session.query(&format!(
            "DROP DATABASE {};\nCREATE DATABASE {}{spec};",
            q(scratch),
            q(scratch)
        ))?;
    }
    ctx.log(format!("importing {} into {scratch}", st.path.display()));
    Ok((stream_into(ctx, client, st, b"")?, 1))
}
