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

mod classify;
mod programs;
mod session;
mod sql;

pub use classify::classify;
pub use programs::{find_program, Role};
pub use session::{mysql_option_value, pgpass_field, Session, Survey};
pub(crate) use sql::unhex;
pub use sql::{mysql_unescape, pg_ident, quote_table};

use crate::envfile::EnvFile;
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

/// A `DB_CONNECTION` value.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Sqlite,
    Mysql,
    Pgsql,
    Sqlsrv,
}

impl Driver {
    /// A `DB_CONNECTION` value as DreamFactory (Laravel) reads it: the name of one of
    /// its configured connections, exactly. Laravel looks the name up in an array, so
    /// `MySQL` or `postgres` is "Database connection [MySQL] not configured" there, and
    /// every dfkit tool judges it the same way (this is the one place).
    pub fn parse(s: &str) -> Option<Driver> {
        match s {
            "sqlite" => Some(Driver::Sqlite),
            "mysql" => Some(Driver::Mysql),
            "pgsql" => Some(Driver::Pgsql),
            "sqlsrv" => Some(Driver::Sqlsrv),
            _ => None,
        }
    }

    /// What an invalid `DB_CONNECTION` was most likely meant to be (`MySQL`, `mariadb`,
    /// `postgres`, ` pgsql `), for the hint.
    pub fn likely_meant(s: &str) -> Option<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Some(Driver::Sqlite),
            "mysql" | "mariadb" => Some(Driver::Mysql),
            "pgsql" | "postgres" | "postgresql" => Some(Driver::Pgsql),
            "sqlsrv" | "mssql" | "sqlserver" => Some(Driver::Sqlsrv),
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
                let e = Error::config(format!(
                    "DB_CONNECTION={c} is not one of sqlite, mysql, pgsql, sqlsrv \
                     (DreamFactory would fail: \"Database connection [{c}] not configured\")"
                ));
                match Driver::likely_meant(&c) {
                    Some(d) => e.with_hint(format!(
                        "connection names are case-sensitive: write DB_CONNECTION={d} in .env"
                    )),
                    None => e.with_hint("set DB_CONNECTION to sqlite, mysql, pgsql or sqlsrv"),
                }
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
        // Laravel's connection names are exact: every tool judges `MySQL` invalid.
        for bad in ["MySQL", "MYSQL", "mariadb", "postgres", " pgsql"] {
            let env = EnvFile::parse(format!("DB_CONNECTION=\"{bad}\"\n").as_bytes()).unwrap();
            let e = Settings::from_env(&env, Path::new("/r")).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Config, "{bad}");
            assert!(e.hint.unwrap().contains("DB_CONNECTION="), "{bad}");
        }
        let env = EnvFile::parse(b"DB_CONNECTION=oracle\n").unwrap();
        assert_eq!(
            Settings::from_env(&env, Path::new("/r")).unwrap_err().kind,
            ErrorKind::Config
        );
    }

    #[test]
    fn mysql_batch_fields_unescape() {
        assert_eq!(mysql_unescape(r"a\\b\tc\nd\0e"), "a\\b\tc\nd\0e");
        assert_eq!(mysql_unescape("plain"), "plain");
        assert_eq!(mysql_unescape(r"end\\"), "end\\");
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
