//! DreamFactory-shaped sandbox installs built by scripts/make-sandbox.sh.
//!
//! Every sandbox is built fresh (about a second): each gets its own random APP_KEY, so
//! a test that moves a key between two installs cannot pass by accident.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The version in config/app.php at tag v1 (what a fresh sandbox runs).
pub const V1_VERSION: &str = "7.0.0";
/// The version at tag v2 (origin's master).
pub const V2_VERSION: &str = "7.1.0";
/// The migration file v2 adds (under database/migrations).
pub const V2_MIGRATION: &str = "2024_05_14_120000_create_app_table.php";
/// Migrations of v1, in order.
pub const V1_MIGRATIONS: [&str; 4] = [
    "2015_01_27_190908_create_user_table",
    "2015_01_27_190909_create_role_table",
    "2015_01_27_190910_create_service_table",
    "2015_01_27_190911_create_event_script_table",
];
/// A string inside the encrypted `service.config` of service `db`, printed by
/// `php artisan sandbox:read-secret` when APP_KEY is right.
pub const SERVICE_SECRET: &str = "sandbox-service-secret-42";
/// Rows the seeder creates: `user`, `service`, `event_script`.
pub const SEEDED_USERS: usize = 2;
pub const SEEDED_SERVICES: usize = 5;
pub const SEEDED_SCRIPTS: usize = 1;
/// Environment variables scrubbed from every php child: real environment variables
/// override .env in Laravel, so a stray one in the test process would hide the file.
const SCRUBBED_ENV: [&str; 10] = [
    "APP_KEY",
    "APP_ENV",
    "APP_DEBUG",
    "DB_CONNECTION",
    "DB_HOST",
    "DB_PORT",
    "DB_DATABASE",
    "DB_USERNAME",
    "DB_PASSWORD",
    "DF_SQLITE_STORAGE",
];

/// A sandbox install: a git checkout of `origin` (bare repo with tags v1 and v2) at
/// v1 on branch master, composer-installed, with .env, migrated and seeded.
pub struct Sandbox {
    /// Keeps the temp dir alive.
    pub tmp: tempfile::TempDir,
    /// The install (like /opt/dreamfactory).
    pub root: PathBuf,
    /// The bare origin repository.
    pub origin: PathBuf,
    /// "sqlite", "mysql" or "pgsql".
    pub driver: &'static str,
}

/// Extra choices for [`Sandbox::with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--owner USER[:GROUP]`: chown storage/ and bootstrap/cache/.
    pub owner: Option<String>,
    /// `--at v2`: check out v2 instead of v1.
    pub at_v2: bool,
}

/// The script, from this checkout.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-sandbox.sh")
}

/// Run make-sandbox.sh with `args` (DIR first) and the DB password, if any, in the
/// environment; returns its output untouched (for tests of failures).
pub fn make_sandbox(args: &[&str], password: Option<&str>) -> Output {
    let mut c = Command::new(script());
    c.args(args).env("SANDBOX_QUIET", "1");
    match password {
        Some(p) => c.env("SANDBOX_DB_PASSWORD", p),
        None => c.env_remove("SANDBOX_DB_PASSWORD"),
    };
    for k in SCRUBBED_ENV {
        c.env_remove(k);
    }
    c.output().expect("spawn scripts/make-sandbox.sh")
}

impl Sandbox {
    /// Build a sandbox with `driver` ("sqlite", "mysql", "pgsql"); mysql and pgsql need
    /// `db` (a fresh, empty database, e.g. from `servers::mariadb().new_database(..)`).
    #[track_caller]
    pub fn new(driver: &'static str, db: Option<&super::servers::DbSpec>) -> Sandbox {
        Sandbox::with(driver, db, &Options::default())
    }

    /// Like [`Sandbox::new`], with [`Options`].
    #[track_caller]
    pub fn with(
        driver: &'static str,
        db: Option<&super::servers::DbSpec>,
        opts: &Options,
    ) -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix("dfkit-sandbox.")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_str().expect("UTF-8 temp path").to_owned();
        let mut args: Vec<String> = vec![dir, "--driver".into(), driver.into()];
        let mut password = None;
        match (driver, db) {
            ("sqlite", None) => {}
            ("sqlite", Some(_)) => panic!("a sqlite sandbox takes no DbSpec"),
            (_, Some(db)) => {
                assert_eq!(db.driver, driver, "DbSpec is for another driver");
                args.extend([
                    "--db-host".into(),
                    db.host.clone(),
                    "--db-port".into(),
                    db.port.to_string(),
                    "--db-name".into(),
                    db.database.clone(),
                    "--db-user".into(),
                    db.username.clone(),
                ]);
                password = Some(db.password.as_str());
            }
            (_, None) => panic!("a {driver} sandbox needs a DbSpec"),
        }
        if let Some(owner) = &opts.owner {
            args.extend(["--owner".into(), owner.clone()]);
        }
        if opts.at_v2 {
            args.extend(["--at".into(), "v2".into()]);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = make_sandbox(&argv, password);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "make-sandbox.sh {argv:?} failed ({})\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let root = PathBuf::from(stdout.lines().last().expect("root path on stdout"));
        assert_eq!(root, tmp.path().join("dreamfactory"));
        Sandbox {
            origin: tmp.path().join("origin.git"),
            root,
            tmp,
            driver,
        }
    }

    /// `php artisan ARGS` in the install (APP_*/DB_* scrubbed from the environment).
    pub fn artisan(&self, args: &[&str]) -> Output {
        self.artisan_env(args, &[])
    }

    /// `php artisan ARGS` with extra environment variables.
    pub fn artisan_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.php();
        c.arg("artisan").args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("spawn php artisan")
    }

    /// `php artisan ARGS`, panicking unless it succeeds; returns stdout.
    #[track_caller]
    pub fn artisan_ok(&self, args: &[&str]) -> String {
        let out = self.artisan(args);
        assert!(
            out.status.success(),
            "php artisan {args:?} failed ({})\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A `php` command in the install's root with a scrubbed environment.
    pub fn php(&self) -> Command {
        let mut c = Command::new("php");
        c.current_dir(&self.root);
        for k in SCRUBBED_ENV {
            c.env_remove(k);
        }
        c
    }

    /// The install's .env.
    pub fn env_path(&self) -> PathBuf {
        self.root.join(".env")
    }

    /// The value of KEY in .env as written by make-sandbox.sh (unquoted, unescaped
    /// only for the simple KEY=value lines the script writes outside DB_PASSWORD).
    pub fn env_value(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.env_path()).expect("read .env");
        let prefix = format!("{key}=");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::to_owned)
    }

    /// The APP_KEY in .env (`base64:...`).
    pub fn app_key(&self) -> String {
        self.env_value("APP_KEY").expect("APP_KEY in .env")
    }

    /// The SQLite database file (sqlite sandboxes).
    pub fn sqlite_path(&self) -> PathBuf {
        self.root.join("storage/databases/database.sqlite")
    }

    /// `git ARGS` in the install; panics unless it succeeds; returns trimmed stdout.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.root, args)
    }

    /// `git ARGS` in the bare origin; panics unless it succeeds; returns trimmed stdout.
    #[track_caller]
    pub fn origin_git(&self, args: &[&str]) -> String {
        git_in(&self.origin, args)
    }

    /// The commit checked out in the install.
    #[track_caller]
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// The commit a tag of origin ("v1", "v2") points to.
    #[track_caller]
    pub fn tag_commit(&self, tag: &str) -> String {
        self.origin_git(&["rev-parse", &format!("refs/tags/{tag}^{{commit}}")])
    }

    /// The `'version' => 'x.y.z'` of config/app.php in the work tree.
    pub fn version(&self) -> String {
        let text =
            std::fs::read_to_string(self.root.join("config/app.php")).expect("read config/app.php");
        let re = regex::Regex::new(r#"'version'\s*=>\s*'([^']*)'"#).unwrap();
        re.captures(&text).expect("version in config/app.php")[1].to_owned()
    }

    /// `php artisan sandbox:read-secret`: prints the decrypted service config (which
    /// contains [`SERVICE_SECRET`]) or fails with "The MAC is invalid." under a wrong key.
    pub fn read_secret(&self) -> Output {
        self.artisan(&["sandbox:read-secret"])
    }

    /// Serve the install with `php -S 127.0.0.1:FREEPORT -t public` (stopped on drop).
    #[track_caller]
    pub fn serve(&self) -> PhpServer {
        PhpServer::start(&self.root, &self.tmp.path().join("php-server.log"))
    }

    /// Run `sqlite3 DB SQL` on a sqlite sandbox's database; returns trimmed stdout
    /// ('|'-separated columns, one row a line).
    #[track_caller]
    pub fn sqlite(&self, sql: &str) -> String {
        assert_eq!(
            self.driver, "sqlite",
            "Sandbox::sqlite on a {} sandbox",
            self.driver
        );
        let out = Command::new("sqlite3")
            .arg(self.sqlite_path())
            .arg(sql)
            .output()
            .expect("spawn sqlite3");
        assert!(
            out.status.success(),
            "sqlite3 {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `php artisan sandbox:db-ping`: row counts of the system tables, as JSON
    /// (`driver`, `database`, `users`, `services`, `scripts`).
    #[track_caller]
    pub fn db_ping(&self) -> serde_json::Value {
        let out = self.artisan_ok(&["sandbox:db-ping"]);
        serde_json::from_str(out.trim()).expect("sandbox:db-ping prints JSON")
    }
}

#[track_caller]
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("spawn git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `php -S` serving an install's public/ on a free port of 127.0.0.1; killed (by its
/// pid) and reaped when dropped.
pub struct PhpServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl PhpServer {
    /// Start serving `root`/public, logging to `log`; returns once it accepts connections.
    #[track_caller]
    pub fn start(root: &Path, log: &Path) -> PhpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", "public"])
            .current_dir(root)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("server log"))
            .spawn()
            .expect("spawn php -S");
        let mut srv = PhpServer {
            child,
            port,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = srv.child.try_wait() {
                panic!("php -S exited ({st}) on port {port}:\n{}", srv.log_text());
            }
            assert!(Instant::now() < deadline, "php -S did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        srv
    }

    /// The base URL, e.g. `http://127.0.0.1:34567`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` (HTTP/1.0, Accept: application/json) → (status code, body).
    #[track_caller]
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to php -S");
        // The whole request in one write: php -S may answer a request it got in pieces
        // by closing the connection.
        let req =
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n");
        s.write_all(req.as_bytes()).expect("send request");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read response");
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "GET {path}: no status line in {resp:?}; server log:\n{}",
                    self.log_text()
                )
            });
        let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (code, body.to_owned())
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
