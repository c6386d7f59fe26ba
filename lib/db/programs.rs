//! Which client program plays which role, and where to find it.

use super::Driver;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Which program plays a role, in order of preference, and what to install when none is.
fn candidates(driver: Driver, role: Role) -> (&'static [&'static str], &'static str) {
    match (driver, role) {
        (Driver::Mysql, Role::Client) => (&["mariadb", "mysql"], "mariadb-client (or mysql-client)"),
        (Driver::Mysql, Role::Dump) => (
            &["mariadb-dump", "mysqldump"],
            "mariadb-client (or mysql-client)",
        ),
        (Driver::Pgsql, Role::Client) => (&["psql"], "postgresql-client"),
        (Driver::Pgsql, Role::Dump) => (&["pg_dump"], "postgresql-client"),
        (Driver::Sqlite, _) => (&["sqlite3"], "sqlite3"),
        (Driver::Sqlsrv, _) => (
            &["sqlcmd"],
            "mssql-tools18 (Microsoft's sqlcmd; /opt/mssql-tools18/bin must be on PATH) or go-sqlcmd",
        ),
    }
}

/// A client program's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Runs SQL (mysql/mariadb, psql, sqlite3, sqlcmd).
    Client,
    /// Writes a dump (mariadb-dump/mysqldump, pg_dump, sqlite3, sqlcmd).
    Dump,
}

/// Find the program for `role` on PATH (sqlcmd also in /opt/mssql-tools*/bin);
/// missing → exit 69 naming what to install.
pub fn find_program(driver: Driver, role: Role) -> Result<PathBuf> {
    let (names, package) = candidates(driver, role);
    for n in names {
        if let Some(p) = crate::exec::probe_program(n) {
            return Ok(p);
        }
    }
    if driver == Driver::Sqlsrv {
        for d in [
            "/opt/mssql-tools18/bin/sqlcmd",
            "/opt/mssql-tools/bin/sqlcmd",
        ] {
            if Path::new(d).is_file() {
                return Ok(PathBuf::from(d));
            }
        }
    }
    Err(Error::unavailable(format!(
        "no {} program found on PATH (looked for {})",
        driver,
        names.join(", ")
    ))
    .with_hint(format!("install {package}")))
}
