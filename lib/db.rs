//! The system database: connection settings from .env, client programs, credentials.
//!
//! * [`Settings::from_env`] reads `DB_CONNECTION`, `DB_HOST`, `DB_PORT`, `DB_DATABASE`,
//!   `DB_USERNAME`, `DB_PASSWORD`, `DB_SOCKET` with the values Laravel sees.
//! * [`Session`] holds the 0600 credential file a client needs (mysql
//!   `--defaults-extra-file`, PostgreSQL `PGPASSFILE`) and builds [`Cmd`]s for the
//!   client programs, so a password never reaches a child's argv or our output.
//! * [`Session::ping`] (reachability + server version), [`Session::tables`],
//!   [`Session::row_counts`], [`Session::query`] — used by df-dump-db, df-verify and
//!   df-artisan.

use crate::envfile::EnvFile;
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Cmd, Input, Output};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A `DB_CONNECTION` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Sqlite,
    Mysql,
    Pgsql,
    Sqlsrv,
}

impl Driver {
    pub fn parse(s: &str) -> Option<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" => Some(Driver::Sqlite),
            "mysql" | "mariadb" => Some(Driver::Mysql),
            "pgsql" | "postgres" | "postgresql" => Some(Driver::Pgsql),
            "sqlsrv" => Some(Driver::Sqlsrv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Sqlite => "sqlite",
            Driver::Mysql => "mysql",
            Driver::Pgsql => "pgsql",
            Driver::Sqlsrv => "sqlsrv",
        }
    }

    pub fn default_port(self) -> Option<u16> {
        match self {
            Driver::Sqlite => None,
            Driver::Mysql => Some(3306),
            Driver::Pgsql => Some(5432),
            Driver::Sqlsrv => Some(1433),
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where DreamFactory keeps its SQLite database by default (relative to the root).
pub const DEFAULT_SQLITE_DIR: &str = "storage/databases";
pub const DEFAULT_SQLITE_NAME: &str = "database.sqlite";

/// How to reach the system database.
#[derive(Clone)]
pub struct Settings {
    pub driver: Driver,
    pub host: String,
    pub port: u16,
    /// The database name (for sqlite: the resolved file path).
    pub database: String,
    pub username: String,
    /// Never printed; registered with the scrubber when read.
    pub password: String,
    pub socket: Option<String>,
    /// Things worth a warning found while reading the settings.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("driver", &self.driver)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &"***")
            .field("socket", &self.socket)
            .finish()
    }
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::to_string).filter(|s| !s.is_empty())
}

impl Settings {
    /// Read the install's .env (or `env_path`) — a missing file is exit 66.
    pub fn load(root: &Path, env_path: Option<&Path>) -> Result<Settings> {
        let path = env_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.join(".env"));
        let env = EnvFile::load(&path).map_err(|e| {
            if e.kind == ErrorKind::MissingInput {
                Error::missing(format!("no .env at {}", path.display()))
                    .with_hint("pass --root DIR (the DreamFactory install) or --env FILE")
            } else {
                e
            }
        })?;
        Settings::from_env(&env, root)
    }

    /// Settings from parsed .env values; sqlite paths resolve against `root`.
    pub fn from_env(env: &EnvFile, root: &Path) -> Result<Settings> {
        let mut warnings = Vec::new();
        let driver = match non_empty(env.get("DB_CONNECTION")) {
            Some(c) => Driver::parse(&c).ok_or_else(|| {
                Error::config(format!(
                    "DB_CONNECTION={c} is not one of sqlite, mysql, pgsql, sqlsrv"
                ))
            })?,
            None => {
                if env.get("DB_DRIVER").is_some() {
                    warnings.push(
                        "DB_DRIVER is set but DB_CONNECTION is not: DreamFactory uses sqlite"
                            .to_string(),
                    );
                }
                Driver::Sqlite
            }
        };
        let password = env.get("DB_PASSWORD").unwrap_or("").to_string();
        crate::secret::register(&password);
        let port = match non_empty(env.get("DB_PORT")) {
            Some(p) => p
                .parse()
                .map_err(|_| Error::config(format!("DB_PORT={p} is not a port number")))?,
            None => driver.default_port().unwrap_or(0),
        };
        let database = match driver {
            Driver::Sqlite => {
                sqlite_path(root, env.get("DB_DATABASE"), env.get("DF_SQLITE_STORAGE"))
                    .to_string_lossy()
                    .into_owned()
            }
            _ => non_empty(env.get("DB_DATABASE")).ok_or_else(|| {
                Error::config(format!("DB_DATABASE is not set (DB_CONNECTION={driver})"))
            })?,
        };
        Ok(Settings {
            driver,
            host: non_empty(env.get("DB_HOST")).unwrap_or_else(|| "127.0.0.1".into()),
            port,
            database,
            username: non_empty(env.get("DB_USERNAME")).unwrap_or_default(),
            password,
            socket: non_empty(env.get("DB_SOCKET")),
            warnings,
        })
    }

    /// The same server, another database (restore `--database NAME`; for sqlite a path).
    pub fn with_database(&self, name: &str, root: &Path) -> Settings {
        let mut s = self.clone();
        s.database = match self.driver {
            Driver::Sqlite => sqlite_path(root, Some(name), None)
                .to_string_lossy()
                .into_owned(),
            _ => name.to_string(),
        };
        s
    }

    /// `user@host:port/database` (sqlite: the file) — for messages; no secret in it.
    pub fn describe(&self) -> String {
        match self.driver {
            Driver::Sqlite => format!("sqlite {}", self.database),
            _ => {
                let at = match &self.socket {
                    Some(s) => s.clone(),
                    None => format!("{}:{}", self.host, self.port),
                };
                format!("{} {}@{}/{}", self.driver, self.username, at, self.database)
            }
        }
    }
}

/// The SQLite file DreamFactory opens: DB_DATABASE absolute as is; a bare name under
/// DF_SQLITE_STORAGE (else storage/databases); another relative path under the root;
/// unset → storage/databases/database.sqlite.
pub fn sqlite_path(root: &Path, db: Option<&str>, storage: Option<&str>) -> PathBuf {
    let db = db.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SQLITE_NAME);
    let p = Path::new(db);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    if !db.contains('/') {
        let dir = match storage.filter(|s| !s.is_empty()) {
            Some(s) => root.join(s),
            None => root.join(DEFAULT_SQLITE_DIR),
        };
        return dir.join(db);
    }
    root.join(p)
}

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

/// A double-quoted value for a MySQL option file: `\`, `"`, `'` and control characters
/// escaped, so `#`, `;`, spaces and quotes survive the client's parser.
pub fn mysql_option_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\'' => s.push_str("\\'"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{8}' => s.push_str("\\b"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// One field of a .pgpass line: `\` and `:` escaped.
pub fn pgpass_field(v: &str) -> String {
    v.replace('\\', "\\\\").replace(':', "\\:")
}

/// Credential dirs are `$TMPDIR/dfkit-db-<pid>-XXXX`: the pid lets a later run remove
/// what a killed one (SIGKILL runs no destructor) left behind.
const CRED_PREFIX: &str = "dfkit-db-";

/// Remove credential dirs whose process is gone.
fn sweep_stale_credentials() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(CRED_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A connection's credentials on disk (0600, in a private temp dir removed on drop)
/// and the commands that use them.
pub struct Session {
    pub settings: Settings,
    /// Holds the credential file; removed when the session is dropped.
    _dir: Option<tempfile::TempDir>,
    cred_file: Option<PathBuf>,
    /// Timeout for short queries (not dumps/restores).
    pub query_timeout: Duration,
}

impl Session {
    /// Write the credential file the driver's clients need.
    pub fn open(settings: &Settings) -> Result<Session> {
        let (dir, cred_file) = match settings.driver {
            Driver::Mysql | Driver::Pgsql => {
                sweep_stale_credentials();
                let dir = tempfile::Builder::new()
                    .prefix(&format!("{CRED_PREFIX}{}-", std::process::id()))
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .tempdir()
                    .map_err(|e| {
                        Error::io("creating a temp dir for", Path::new("credentials"), e)
                    })?;
                let (name, text) = if settings.driver == Driver::Mysql {
                    (
                        "client.cnf",
                        format!(
                            "[client]\npassword={}\n",
                            mysql_option_value(&settings.password)
                        ),
                    )
                } else {
                    if settings.password.contains('\n') {
                        return Err(Error::config(
                            "DB_PASSWORD contains a newline, which a .pgpass file cannot hold",
                        ));
                    }
                    (
                        "pgpass",
                        format!("*:*:*:*:{}\n", pgpass_field(&settings.password)),
                    )
                };
                let path = dir.path().join(name);
                // tempfile makes the dir 0700; the file is created 0600 before any byte.
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode_0600()
                    .open(&path)
                    .map_err(|e| Error::io("creating", &path, e))?;
                f.write_all(text.as_bytes())
                    .map_err(|e| Error::io("writing", &path, e))?;
                (Some(dir), Some(path))
            }
            _ => (None, None),
        };
        Ok(Session {
            settings: settings.clone(),
            _dir: dir,
            cred_file,
            query_timeout: Duration::from_secs(60),
        })
    }

    /// The credential file (mysql option file or pgpass), if the driver uses one.
    pub fn cred_file(&self) -> Option<&Path> {
        self.cred_file.as_deref()
    }

    /// A command for `role`'s program connected to the database, credentials by file
    /// (mysql: `--defaults-extra-file` FIRST, as the client requires; pgsql: PGPASSFILE).
    /// The database name / file is NOT appended: callers add flags, then
    /// [`Session::database_arg`].
    pub fn command(&self, role: Role) -> Result<Cmd> {
        let s = &self.settings;
        let prog = find_program(s.driver, role)?;
        let mut cmd = Cmd::resolved(prog);
        match s.driver {
            Driver::Mysql => {
                let f = self.cred_file.as_ref().expect("mysql session has a file");
                cmd = cmd.arg(format!("--defaults-extra-file={}", f.display()));
                match &s.socket {
                    Some(sock) => cmd = cmd.arg(format!("--socket={sock}")),
                    None => {
                        cmd = cmd
                            .arg(format!("--host={}", s.host))
                            .arg(format!("--port={}", s.port))
                    }
                }
                if !s.username.is_empty() {
                    cmd = cmd.arg(format!("--user={}", s.username));
                }
                // MYSQL_PWD would override nothing we want and is visible in /proc/PID/environ.
                cmd = cmd.env_remove("MYSQL_PWD");
            }
            Driver::Pgsql => {
                let f = self.cred_file.as_ref().expect("pgsql session has a file");
                let host = s.socket.clone().unwrap_or_else(|| s.host.clone());
                cmd = cmd
                    .arg(format!("--host={host}"))
                    .arg(format!("--port={}", s.port));
                if !s.username.is_empty() {
                    cmd = cmd.arg(format!("--username={}", s.username));
                }
                cmd = cmd
                    .arg("--no-password")
                    .env("PGPASSFILE", f)
                    .env_remove("PGPASSWORD")
                    .env_remove("PGSERVICE")
                    .env("PGCONNECT_TIMEOUT", "15");
            }
            Driver::Sqlite => {}
            Driver::Sqlsrv => {
                cmd = cmd
                    .arg("-S")
                    .arg(format!("tcp:{},{}", s.host, s.port))
                    .arg("-U")
                    .arg(&s.username)
                    .secret_env("SQLCMDPASSWORD", &s.password);
            }
        }
        Ok(cmd)
    }

    /// The argument naming the database, in the form the driver's programs take it.
    pub fn database_arg(&self) -> String {
        match self.settings.driver {
            Driver::Pgsql => format!("--dbname={}", self.settings.database),
            _ => self.settings.database.clone(),
        }
    }

    /// A client reading SQL from stdin, stopping at the first error, quiet, tab-separated.
    pub fn sql_client(&self) -> Result<Cmd> {
        let c = self.command(Role::Client)?;
        Ok(match self.settings.driver {
            Driver::Mysql => c
                .args(["--batch", "--skip-column-names", "--connect-timeout=15"])
                .arg(self.database_arg()),
            Driver::Pgsql => c
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\t"])
                .arg(self.database_arg()),
            Driver::Sqlite => c
                .args(["-batch", "-bail", "-noheader", "-separator", "\t"])
                .arg(&self.settings.database),
            Driver::Sqlsrv => c.args([
                "-d",
                &self.settings.database,
                "-b",
                "-C",
                "-h",
                "-1",
                "-W",
                "-s",
                "\t",
            ]),
        })
    }

    /// Run SQL; rows of tab-separated fields. Failures are classified ([`classify`]).
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        if self.settings.driver == Driver::Sqlite {
            self.require_sqlite_file()?;
        }
        let cmd = self
            .sql_client()?
            .stdin(Input::Bytes(sql.as_bytes().to_vec()))
            .timeout(self.query_timeout);
        let out = cmd.run()?;
        if !out.success() {
            return Err(classify(&self.settings, &out));
        }
        Ok(out
            .stdout_str()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect())
    }

    fn require_sqlite_file(&self) -> Result<()> {
        let p = Path::new(&self.settings.database);
        if p.is_file() {
            Ok(())
        } else {
            // sqlite3 would silently create it.
            Err(
                Error::missing(format!("no SQLite database at {}", p.display()))
                    .with_hint("check DB_DATABASE / DF_SQLITE_STORAGE in .env"),
            )
        }
    }

    /// Connect and return the server's version: unreachable → 69, refused credentials
    /// or unknown database → 78, each naming user@host.
    pub fn ping(&self) -> Result<String> {
        let sql = match self.settings.driver {
            Driver::Mysql => "SELECT VERSION();",
            Driver::Pgsql => "SHOW server_version;",
            Driver::Sqlite => "SELECT sqlite_version();",
            Driver::Sqlsrv => {
                "SET NOCOUNT ON; SELECT CAST(SERVERPROPERTY('ProductVersion') AS varchar(64));"
            }
        };
        let rows = self.query(sql)?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .unwrap_or_default()
            .trim()
            .to_string())
    }

    /// The database's tables (sqlite: not sqlite_*; pgsql: every non-system schema,
    /// `schema.table` outside public), sorted.
    pub fn tables(&self) -> Result<Vec<String>> {
        let sql = match self.settings.driver {
            Driver::Mysql => {
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1;"
            }
            Driver::Pgsql => {
                "SELECT CASE WHEN schemaname = 'public' THEN tablename \
                 ELSE schemaname || '.' || tablename END FROM pg_tables \
                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
                 AND schemaname NOT LIKE 'pg\\_%' ORDER BY 1;"
            }
            Driver::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1;"
            }
            Driver::Sqlsrv => "SET NOCOUNT ON; SELECT name FROM sys.tables ORDER BY 1;",
        };
        let mut t: Vec<String> = self
            .query(sql)?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        t.sort();
        Ok(t)
    }

    /// Exact row count of every table (mysql: one client run; others: two).
    pub fn row_counts(&self) -> Result<BTreeMap<String, u64>> {
        if self.settings.driver == Driver::Mysql {
            return parse_counts(self.query(MYSQL_ROW_COUNTS)?);
        }
        let tables = self.tables()?;
        let mut counts = BTreeMap::new();
        if tables.is_empty() {
            return Ok(counts);
        }
        let driver = self.settings.driver;
        // Batches keep each statement a sane size on databases with many tables.
        for chunk in tables.chunks(200) {
            let parts: Vec<String> = chunk
                .iter()
                .map(|t| {
                    format!(
                        "SELECT {}, COUNT(*) FROM {}",
                        sql_string(t),
                        quote_table(driver, t)
                    )
                })
                .collect();
            let mut sql = parts.join(" UNION ALL ");
            if driver == Driver::Sqlsrv {
                sql = format!("SET NOCOUNT ON; {sql}");
            }
            sql.push(';');
            counts.append(&mut parse_counts(self.query(&sql)?)?);
        }
        Ok(counts)
    }
}

/// The table list and every table's `COUNT(*)` in one mysql client run: the
/// `UNION ALL` is built server-side and run as a prepared statement (saves a client
/// start and a login). No tables → no rows.
const MYSQL_ROW_COUNTS: &str = "SET SESSION group_concat_max_len = 1073741824;\n\
SELECT GROUP_CONCAT(CONCAT('SELECT ', QUOTE(table_name), ', COUNT(*) FROM `', \
REPLACE(table_name, '`', '``'), '`') ORDER BY table_name SEPARATOR ' UNION ALL ') \
INTO @dfkit_q FROM information_schema.tables \
WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE';\n\
SET @dfkit_q = IFNULL(@dfkit_q, 'SELECT 1, 1 FROM DUAL WHERE FALSE');\n\
PREPARE dfkit_s FROM @dfkit_q;\nEXECUTE dfkit_s;\nDEALLOCATE PREPARE dfkit_s;\n";

/// `name<TAB>count` rows into a map.
fn parse_counts(rows: Vec<Vec<String>>) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for row in rows {
        if row.len() >= 2 {
            let n = row[1].trim().parse().map_err(|_| {
                Error::internal(format!(
                    "row count of {} is not a number: {}",
                    row[0], row[1]
                ))
            })?;
            counts.insert(row[0].clone(), n);
        }
    }
    Ok(counts)
}

/// A SQL string literal valid in all four dialects (no backslashes in table names).
fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A table name quoted for `driver` (pgsql `schema.table` split on the first dot).
pub fn quote_table(driver: Driver, t: &str) -> String {
    match driver {
        Driver::Mysql => format!("`{}`", t.replace('`', "``")),
        Driver::Sqlsrv => format!("[{}]", t.replace(']', "]]")),
        Driver::Sqlite => format!("\"{}\"", t.replace('"', "\"\"")),
        Driver::Pgsql => {
            let q = |x: &str| format!("\"{}\"", x.replace('"', "\"\""));
            match t.split_once('.') {
                Some((schema, name)) => format!("{}.{}", q(schema), q(name)),
                None => format!("public.{}", q(t)),
            }
        }
    }
}

/// Turn a failed client run into the right error: refused credentials / unknown
/// database → 78 (config), unreachable server → 69, anything else → 1; the message
/// names user@host, the hint says what to check.
pub fn classify(s: &Settings, out: &Output) -> Error {
    let text = out.combined();
    let low = text.to_ascii_lowercase();
    let who = s.describe();
    let tail = out.tail(3);
    let has = |needles: &[&str]| needles.iter().any(|n| low.contains(n));
    if has(&[
        "access denied for user",
        "password authentication failed",
        "no password supplied",
        "login failed for user",
        "authentication failed",
    ]) || (low.contains("role \"") && low.contains("does not exist"))
    {
        return Error::config(format!(
            "the database refused the credentials of {who}: {tail}"
        ))
        .with_hint("check DB_USERNAME and DB_PASSWORD in .env (and the user's allowed hosts)");
    }
    if has(&["unknown database", "does not exist", "cannot open database"])
        && !has(&["relation", "table"])
    {
        return Error::config(format!("database not found: {who}: {tail}"))
            .with_hint("check DB_DATABASE in .env, or create the database");
    }
    if has(&[
        "can't connect",
        "could not connect",
        "connection refused",
        "unknown mysql server host",
        "unknown server host",
        "could not translate host name",
        "timeout expired",
        "lost connection",
        "server has gone away",
        "no such file or directory",
        "tcp provider",
        "is the server running",
    ]) || out.timed_out
    {
        return Error::unavailable(format!("cannot reach the database {who}: {tail}")).with_hint(
            "is the database server running and reachable from here? check DB_HOST/DB_PORT",
        );
    }
    Error::step(format!(
        "database command failed on {who} ({}): {tail}",
        out.status_text()
    ))
}

/// 0600 creation on OpenOptions (tiny helper so call sites read plainly).
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        let r = Path::new("/opt/df");
        assert_eq!(
            sqlite_path(r, None, None),
            PathBuf::from("/opt/df/storage/databases/database.sqlite")
        );
        assert_eq!(
            sqlite_path(r, Some("df.sqlite"), None),
            PathBuf::from("/opt/df/storage/databases/df.sqlite")
        );
        assert_eq!(
            sqlite_path(r, Some("df.sqlite"), Some("/data/sq")),
            PathBuf::from("/data/sq/df.sqlite")
        );
        assert_eq!(
            sqlite_path(r, Some("df.sqlite"), Some("storage/x")),
            PathBuf::from("/opt/df/storage/x/df.sqlite")
        );
        assert_eq!(
            sqlite_path(r, Some("/var/db/a.sqlite"), Some("/data")),
            PathBuf::from("/var/db/a.sqlite")
        );
        assert_eq!(
            sqlite_path(r, Some("db/a.sqlite"), None),
            PathBuf::from("/opt/df/db/a.sqlite")
        );
    }

    #[test]
    fn option_file_escaping() {
        assert_eq!(
            mysql_option_value("p'w\"d #;:\\ $x y"),
            r#""p\'w\"d #;:\\ $x y""#
        );
        assert_eq!(pgpass_field("a:b\\c"), "a\\:b\\\\c");
    }

    #[test]
    fn settings_from_env() {
        let env = EnvFile::parse(
            b"DB_CONNECTION=pgsql\nDB_HOST=db\nDB_DATABASE=df\nDB_USERNAME=u\nDB_PASSWORD=secretpw1\n",
        )
        .unwrap();
        let s = Settings::from_env(&env, Path::new("/r")).unwrap();
        assert_eq!(s.driver, Driver::Pgsql);
        assert_eq!(s.port, 5432);
        assert_eq!(s.describe(), "pgsql u@db:5432/df");
        assert!(!format!("{s:?}").contains("secretpw1"));
        let env = EnvFile::parse(b"DB_DRIVER=mysql\n").unwrap();
        let s = Settings::from_env(&env, Path::new("/r")).unwrap();
        assert_eq!(s.driver, Driver::Sqlite);
        assert_eq!(s.warnings.len(), 1);
        let env = EnvFile::parse(b"DB_CONNECTION=oracle\n").unwrap();
        assert_eq!(
            Settings::from_env(&env, Path::new("/r")).unwrap_err().kind,
            ErrorKind::Config
        );
    }

    #[test]
    fn quoting_tables() {
        assert_eq!(quote_table(Driver::Mysql, "a`b"), "`a``b`");
        assert_eq!(quote_table(Driver::Pgsql, "user"), "public.\"user\"");
        assert_eq!(quote_table(Driver::Pgsql, "s.t"), "\"s\".\"t\"");
        assert_eq!(quote_table(Driver::Sqlite, "user"), "\"user\"");
    }

    #[test]
    fn credential_files_are_0600_and_escaped() {
        use std::os::unix::fs::MetadataExt;
        let env = EnvFile::parse(
            b"DB_CONNECTION=mysql\nDB_DATABASE=df\nDB_USERNAME=u\nDB_PASSWORD='a\"b c'\n",
        )
        .unwrap();
        let s = Settings::from_env(&env, Path::new("/r")).unwrap();
        let sess = Session::open(&s).unwrap();
        let f = sess.cred_file().unwrap().to_path_buf();
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "[client]\npassword=\"a\\\"b c\"\n"
        );
        let dir_mode = std::fs::metadata(f.parent().unwrap()).unwrap().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        drop(sess);
        assert!(!f.exists());
    }
}
