//! Throwaway MariaDB and PostgreSQL servers for tests.
//!
//! Each test binary starts at most one server of each kind, lazily, on a free port on
//! 127.0.0.1 with password authentication, in its own temp data dir; a watchdog stops it
//! by pid when the test process exits, even after a panic, and removes its directory.
//! Each test gets its own database and user through [`Server::new_database`].
//!
//! Never the machine's own servers (3306/5432): everything here is hermetic.
//! Needs root (the servers run as the `mysql` / `postgres` system users).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Connection facts of one test database.
#[derive(Debug, Clone)]
pub struct DbSpec {
    /// "mysql" (MariaDB) or "pgsql": the DB_CONNECTION value.
    pub driver: &'static str,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: String,
}

/// A running server.
pub struct Server {
    pub driver: &'static str,
    pub port: u16,
    /// Directory with the data dir, socket, logs.
    pub dir: std::path::PathBuf,
    /// The server's pid.
    pub pid: u32,
    /// PostgreSQL superuser password (MariaDB's root uses the unix socket instead).
    superuser_password: String,
}

static MARIADB: OnceLock<Server> = OnceLock::new();
static POSTGRES: OnceLock<Server> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The shared MariaDB server of this test binary (started on first use).
pub fn mariadb() -> &'static Server {
    MARIADB.get_or_init(start_mariadb)
}

/// The shared PostgreSQL server of this test binary (started on first use).
pub fn postgres() -> &'static Server {
    POSTGRES.get_or_init(start_postgres)
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A fresh directory owned by `user` (a root-made temp dir is 0700 root: the server
/// could not enter it).
fn server_dir(kind: &str, user: &str) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(&format!("dfkit-{kind}-"))
        .tempdir()
        .expect("temp dir")
        .keep();
    chown(&dir, user);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn chown(p: &Path, user: &str) {
    let st = Command::new("chown")
        .arg(format!("{user}:{user}"))
        .arg(p)
        .status()
        .expect("run chown");
    assert!(st.success(), "chown {user} {}", p.display());
}

/// Run a command to completion, panicking with its output unless it succeeds.
#[track_caller]
fn must(c: &mut Command, what: &str) -> String {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Detached watchdog: when this test process is gone, stop `server_pid` (TERM, then
/// KILL after 30 s) and remove `dir`. It runs in its own session so a ^C to the test's
/// process group does not take it down first.
fn watchdog(server_pid: u32, dir: &Path) {
    let script = r#"
        while kill -0 "$0" 2>/dev/null; do sleep 0.5; done
        kill -TERM "$1" 2>/dev/null
        i=0
        while kill -0 "$1" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
        kill -KILL "$1" 2>/dev/null
        rm -rf "$2"
    "#;
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .arg(std::process::id().to_string())
        .arg(server_pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    // Never waited for: it must outlive this process.
    let child = c.spawn().expect("start watchdog");
    std::mem::forget(child);
}

/// Removes a server dir if startup panics before the watchdog owns it.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wait_until(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        if t0.elapsed() > Duration::from_secs(60) {
            panic!(
                "{what} did not become ready; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_mariadb() -> Server {
    let dir = server_dir("mariadb", "mysql");
    let guard = DirGuard(dir.clone());
    let data = dir.join("data");
    must(
        Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=socket")
            .arg("--skip-test-db"),
        "mariadb-install-db",
    );
    let port = free_port();
    let sock = dir.join("mysqld.sock");
    let log = dir.join("error.log");
    let mut c = Command::new(which("mariadbd", "mysqld"));
    c.arg("--no-defaults")
        .arg("--user=mysql")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", sock.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--skip-name-resolve")
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", log.display()))
        .arg("--innodb-buffer-pool-size=64M")
        .arg("--character-set-server=utf8mb4")
        .arg("--collation-server=utf8mb4_unicode_ci")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = c.spawn().expect("start mariadbd");
    let pid = child.id();
    // Not waited for: the watchdog owns its lifetime.
    std::mem::forget(child);
    watchdog(pid, &dir);
    std::mem::forget(guard);
    let server = Server {
        driver: "mysql",
        port,
        dir,
        pid,
        superuser_password: String::new(),
    };
    wait_until("mariadbd", &log, || {
        server
            .mariadb_root("mysql")
            .arg("-e")
            .arg("SELECT 1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    server
}

fn start_postgres() -> Server {
    let dir = server_dir("postgres", "postgres");
    let guard = DirGuard(dir.clone());
    let data = dir.join("data");
    let bin = pg_bindir();
    let superuser_password = format!("su-{}-{}", std::process::id(), free_port());
    let pwfile = dir.join("superuser.pw");
    std::fs::write(&pwfile, format!("{superuser_password}\n")).unwrap();
    chown(&pwfile, "postgres");
    must(
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .current_dir(&dir),
        "initdb",
    );
    let _ = std::fs::remove_file(&pwfile);
    let port = free_port();
    let log = dir.join("postgres.log");
    must(
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -h 127.0.0.1 -c shared_buffers=32MB -c fsync=off",
                dir.display()
            ))
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "pg_ctl start",
    );
    let pidtext = std::fs::read_to_string(data.join("postmaster.pid")).expect("postmaster.pid");
    let pid: u32 = pidtext.lines().next().unwrap().trim().parse().unwrap();
    watchdog(pid, &dir);
    std::mem::forget(guard);
    let server = Server {
        driver: "pgsql",
        port,
        dir,
        pid,
        superuser_password,
    };
    wait_until("postgres", &log, || {
        server
            .psql_super("postgres")
            .arg("-c")
            .arg("SELECT 1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    server
}

/// The directory of PostgreSQL's server programs (highest installed version).
pub fn pg_bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server installed under /usr/lib/postgresql")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

fn which(a: &str, b: &str) -> PathBuf {
    which::which(a)
        .or_else(|_| which::which(b))
        .or_else(|_| which::which(format!("/usr/sbin/{a}")))
        .unwrap_or_else(|_| panic!("neither {a} nor {b} installed"))
}

/// A MariaDB string literal: backslash and quote escaped (default sql_mode).
pub fn my_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A PostgreSQL string literal (standard_conforming_strings: only `'` doubles).
pub fn pg_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Server {
    fn mariadb_root(&self, database: &str) -> Command {
        let mut c = Command::new(which("mariadb", "mysql"));
        c.arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .args(["-uroot", "--batch", "--skip-column-names"])
            .arg("--default-character-set=utf8mb4")
            .arg(database);
        c
    }

    fn psql_super(&self, database: &str) -> Command {
        let mut c = Command::new("psql");
        c.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", "\t"])
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", database])
            .env("PGPASSWORD", &self.superuser_password)
            .env_remove("PGPASSFILE");
        c
    }

    /// Create a fresh database `<prefix>_<n>` owned by a fresh user with `password`
    /// (any characters allowed), and return how to reach it.
    pub fn new_database(&self, prefix: &str, password: &str) -> DbSpec {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let database = format!("{prefix}_{n}");
        let username = format!("u_{prefix}_{n}");
        match self.driver {
            "mysql" => {
                let pw = my_str(password);
                self.sql(
                    "mysql",
                    &format!(
                        "CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n\
                         CREATE USER '{username}'@'%' IDENTIFIED BY {pw};\n\
                         CREATE USER '{username}'@'localhost' IDENTIFIED BY {pw};\n\
                         GRANT ALL ON `{database}`.* TO '{username}'@'%';\n\
                         GRANT ALL ON `{database}`.* TO '{username}'@'localhost';\n"
                    ),
                );
            }
            _ => {
                self.sql(
                    "postgres",
                    &format!(
                        "CREATE ROLE \"{username}\" LOGIN PASSWORD {};",
                        pg_str(password)
                    ),
                );
                self.sql(
                    "postgres",
                    &format!("CREATE DATABASE \"{database}\" OWNER \"{username}\";"),
                );
            }
        }
        DbSpec {
            driver: self.driver,
            host: "127.0.0.1".into(),
            port: self.port,
            database,
            username,
            password: password.into(),
        }
    }

    /// MariaDB: lets `db`'s user create the scratch databases of an all-or-nothing
    /// `restore --replace` (`<db>_dfkit_%`, docs/json.md); returns that LIKE pattern.
    pub fn grant_scratch(&self, db: &DbSpec) -> String {
        let pattern = format!("{}_dfkit_%", db.database).replace('_', "\\_");
        self.sql(
            "mysql",
            &format!(
                "GRANT ALL ON `{pattern}`.* TO '{u}'@'%';\nGRANT ALL ON `{pattern}`.* TO '{u}'@'localhost';\n",
                u = db.username
            ),
        );
        pattern
    }

    /// Run SQL as the server's superuser in `database`; returns stdout (tab-separated rows).
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let mut c = match self.driver {
            "mysql" => self.mariadb_root(database),
            _ => self.psql_super(database),
        };
        run_with_stdin(&mut c, sql, "superuser SQL")
    }
}

impl DbSpec {
    /// Run SQL as this database's own user over TCP (the password goes by environment:
    /// this is the harness, not a tool under test); returns tab-separated rows.
    pub fn sql(&self, sql: &str) -> String {
        let mut c = match self.driver {
            "mysql" => {
                let mut c = Command::new(which("mariadb", "mysql"));
                c.arg("--no-defaults")
                    .args(["-h", &self.host, "-P", &self.port.to_string()])
                    .args(["-u", &self.username])
                    .args(["--batch", "--skip-column-names"])
                    .arg("--default-character-set=utf8mb4")
                    .arg(&self.database)
                    .env("MYSQL_PWD", &self.password);
                c
            }
            _ => {
                let mut c = Command::new("psql");
                c.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", "\t"])
                    .args(["-h", &self.host, "-p", &self.port.to_string()])
                    .args(["-U", &self.username, "-d", &self.database])
                    .env("PGPASSWORD", &self.password)
                    .env_remove("PGPASSFILE");
                c
            }
        };
        run_with_stdin(&mut c, sql, &format!("SQL as {}", self.username))
    }

    /// The DB_* lines of a DreamFactory .env for this database (password double-quoted
    /// with `\` and `"` escaped, `$` too so phpdotenv does not expand it).
    pub fn env_lines(&self) -> String {
        let pw = self
            .password
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        format!(
            "DB_CONNECTION={}\nDB_HOST={}\nDB_PORT={}\nDB_DATABASE={}\nDB_USERNAME={}\nDB_PASSWORD=\"{}\"\n",
            self.driver, self.host, self.port, self.database, self.username, pw
        )
    }
}

#[track_caller]
fn run_with_stdin(c: &mut Command, input: &str, what: &str) -> String {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nSQL: {input}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
