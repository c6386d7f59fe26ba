//! A connection's credentials on disk and the client commands that use them.

use super::sql::{mysql_unescape, parse_counts, pg_ident, quote_table, sql_string, unhex};
use super::{classify, find_program, Driver, Role, Settings};
use crate::error::{Error, Result};
use crate::exec::{Cmd, Input};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
            // A busy timeout: a live writer (a request, a queue worker) holds the lock for
            // moments at a time; without one a query fails at once with "database is
            // locked" instead of waiting its turn.
            Driver::Sqlite => c
                .args(["-batch", "-bail", "-noheader", "-separator", "\t"])
                .args(["-cmd", ".timeout 5000"])
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
        let mysql = self.settings.driver == Driver::Mysql;
        Ok(out
            .stdout_str()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split('\t')
                    .map(|f| {
                        if mysql {
                            mysql_unescape(f)
                        } else {
                            f.to_string()
                        }
                    })
                    .collect()
            })
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

    /// [`Session::ping`], [`Session::tables`] and (mysql) the server's
    /// `max_allowed_packet` in one client run (each client start costs a login).
    pub fn survey(&self) -> Result<Survey> {
        let sql = match self.settings.driver {
            Driver::Mysql => {
                "SELECT 'v', VERSION();\nSELECT 'p', @@global.max_allowed_packet;\n\
                 SELECT 't', table_name FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE';"
            }
            Driver::Pgsql => {
                "SELECT 'v', current_setting('server_version');\n\
                 SELECT 't', CASE WHEN schemaname = 'public' THEN tablename \
                 ELSE schemaname || '.' || tablename END FROM pg_tables \
                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
                 AND schemaname NOT LIKE 'pg\\_%';"
            }
            // Hex names, as in `tables`.
            Driver::Sqlite => {
                "SELECT 'v', sqlite_version();\n\
                 SELECT 't', hex(name) FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\';"
            }
            Driver::Sqlsrv => {
                return Ok(Survey {
                    version: self.ping()?,
                    tables: self.tables()?,
                    max_allowed_packet: None,
                })
            }
        };
        let sqlite = self.settings.driver == Driver::Sqlite;
        let mut s = Survey::default();
        for r in self.query(sql)? {
            match (r.first().map(String::as_str), r.get(1)) {
                (Some("v"), Some(v)) => s.version = v.trim().to_string(),
                (Some("p"), Some(v)) => s.max_allowed_packet = v.trim().parse().ok(),
                (Some("t"), Some(t)) if !t.trim().is_empty() => s.tables.push(if sqlite {
                    unhex(t.trim())
                } else {
                    t.trim().to_string()
                }),
                _ => {}
            }
        }
        s.tables.sort();
        Ok(s)
    }

    /// The database's size in bytes as the server counts it (data and indexes; sqlite:
    /// the file), or None when the server does not say (sqlsrv here, or no rights).
    pub fn size_bytes(&self) -> Option<u64> {
        let sql = match self.settings.driver {
            Driver::Mysql => {
                "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables \
                 WHERE table_schema = DATABASE();"
            }
            Driver::Pgsql => "SELECT pg_database_size(current_database());",
            Driver::Sqlite => "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size();",
            Driver::Sqlsrv => return None,
        };
        self.query(sql).ok()?.first()?.first()?.trim().parse().ok()
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
            // Hex: a name with a newline (or a tab) reads back whole.
            Driver::Sqlite => {
                "SELECT hex(name) FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1;"
            }
            Driver::Sqlsrv => "SET NOCOUNT ON; SELECT name FROM sys.tables ORDER BY 1;",
        };
        let sqlite = self.settings.driver == Driver::Sqlite;
        let mut t: Vec<String> = self
            .query(sql)?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .map(|s| {
                if sqlite {
                    unhex(s.trim())
                } else {
                    s.trim().to_string()
                }
            })
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
        let driver = self.settings.driver;
        // (key, quoted name): pgsql quotes schema and table apart, so a table named
        // `a.b` in public is counted as one name, not as table b of schema a.
        let tables: Vec<(String, String)> = if driver == Driver::Pgsql {
            self.query(PG_TABLES)?
                .into_iter()
                .filter(|r| r.len() == 2)
                .map(|r| {
                    let key = if r[0] == "public" {
                        r[1].clone()
                    } else {
                        format!("{}.{}", r[0], r[1])
                    };
                    (key, format!("{}.{}", pg_ident(&r[0]), pg_ident(&r[1])))
                })
                .collect()
        } else {
            self.tables()?
                .into_iter()
                .map(|t| {
                    let q = quote_table(driver, &t);
                    (t, q)
                })
                .collect()
        };
        let mut counts = BTreeMap::new();
        if tables.is_empty() {
            return Ok(counts);
        }
        // Batches keep each statement a sane size on databases with many tables.
        for chunk in tables.chunks(200) {
            let parts: Vec<String> = chunk
                .iter()
                .map(|(t, q)| match driver {
                    // ONLY: a parent's own rows, as pg_dump's COPY holds them (an
                    // inheritance child's rows are counted under the child).
                    Driver::Pgsql => format!("SELECT {}, COUNT(*) FROM ONLY {q}", sql_string(t)),
                    // Hex: a name with a newline reads back whole.
                    Driver::Sqlite => format!(
                        "SELECT '{}', COUNT(*) FROM {q}",
                        crate::checksum::hex(t.as_bytes())
                    ),
                    _ => format!("SELECT {}, COUNT(*) FROM {q}", sql_string(t)),
                })
                .collect();
            let mut sql = parts.join(" UNION ALL ");
            if driver == Driver::Sqlsrv {
                sql = format!("SET NOCOUNT ON; {sql}");
            }
            sql.push(';');
            let mut part = parse_counts(self.query(&sql)?)?;
            if driver == Driver::Sqlite {
                part = part.into_iter().map(|(k, n)| (unhex(&k), n)).collect();
            }
            counts.append(&mut part);
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

/// Every user table of a PostgreSQL database as `schema<TAB>table`.
const PG_TABLES: &str = "SELECT schemaname, tablename FROM pg_tables \
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
     AND schemaname NOT LIKE 'pg\\_%' ORDER BY 1, 2;";

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

/// What [`Session::survey`] found.
#[derive(Debug, Default)]
pub struct Survey {
    pub version: String,
    /// As [`Session::tables`] lists them, sorted.
    pub tables: Vec<String>,
    /// mysql: the server's limit on one statement.
    pub max_allowed_packet: Option<u64>,
}
