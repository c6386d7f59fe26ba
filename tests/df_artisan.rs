//! df-artisan against real sandbox installs (Laravel 8, real php/composer), on SQLite,
//! MariaDB and PostgreSQL. Needs root (www-data ownership, throwaway DB servers).

mod support;

use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{run, run_env, Run};
use support::sandbox::{self, Sandbox};
use support::servers::{self, DbSpec};

/// A sandbox (tests/support/sandbox.rs) whose temp dir others can traverse (PHP runs
/// as www-data in some tests), with the database it uses.
struct Sbx {
    sb: Sandbox,
    root: PathBuf,
    db: Option<DbSpec>,
}

fn sandbox(driver: &'static str, db: Option<DbSpec>, owner: Option<&str>) -> Sbx {
    let opts = sandbox::Options {
        owner: owner.map(str::to_string),
        ..Default::default()
    };
    let sb = Sandbox::with(driver, db.as_ref(), &opts);
    std::fs::set_permissions(sb.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Sbx {
        root: sb.root.clone(),
        sb,
        db,
    }
}

impl Sbx {
    fn artisan(&self, args: &[&str]) -> Run {
        let mut a = vec!["--root", self.root.to_str().unwrap()];
        a.extend_from_slice(args);
        run("df-artisan", a)
    }

    fn git(&self, args: &[&str]) -> String {
        self.sb.git(args)
    }

    /// The tables of the system database, sorted.
    fn tables(&self) -> Vec<String> {
        let out = match &self.db {
            None => {
                let out = Command::new("sqlite3")
                    .arg(self.sb.sqlite_path())
                    .arg("select name from sqlite_master where type='table' and name not like 'sqlite_%'")
                    .output()
                    .unwrap();
                assert!(out.status.success());
                String::from_utf8(out.stdout).unwrap()
            }
            Some(db) if db.driver == "mysql" => db_sql(db, "SHOW TABLES"),
            Some(db) => db_sql(
                db,
                "select tablename from pg_tables where schemaname = 'public'",
            ),
        };
        let mut t: Vec<String> = out
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        t.sort();
        t
    }

    fn query(&self, sql: &str) -> String {
        match &self.db {
            None => {
                let out = Command::new("sqlite3")
                    .arg(self.sb.sqlite_path())
                    .arg(sql)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            }
            Some(db) => db_sql(db, sql).trim().to_string(),
        }
    }

    /// Rows in the `user` table (a reserved word: quoted per driver).
    fn user_count(&self) -> String {
        if self.db.as_ref().is_some_and(|d| d.driver == "mysql") {
            self.query("select count(*) from `user`")
        } else {
            self.query("select count(*) from \"user\"")
        }
    }

    fn set_env(&self, key: &str, value: &str) {
        support::dotenv::set_env(&self.root, key, value);
    }
}

/// SQL as the database's own user over TCP (password by environment; this is the test).
fn db_sql(db: &DbSpec, sql: &str) -> String {
    let mut c = if db.driver == "mysql" {
        let mut c = Command::new("mariadb");
        c.arg("--no-defaults")
            .args([
                "-h",
                &db.host,
                "-P",
                &db.port.to_string(),
                "-u",
                &db.username,
            ])
            .args(["--batch", "--skip-column-names", "-e", sql])
            .arg(&db.database)
            .env("MYSQL_PWD", &db.password);
        c
    } else {
        let mut c = Command::new("psql");
        c.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .args(["-h", &db.host, "-p", &db.port.to_string()])
            .args(["-U", &db.username, "-d", &db.database])
            .env("PGPASSWORD", &db.password)
            .env_remove("PGPASSFILE");
        c
    };
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Paths under `dirs` owned by root.
fn root_owned(root: &Path, dirs: &[&str]) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        let md = std::fs::symlink_metadata(p).unwrap();
        if md.uid() == 0 {
            out.push(p.to_path_buf());
        }
        if md.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        walk(&root.join(d), &mut out);
    }
    out
}

/// The whole upgrade-side lifecycle on one driver: composer-install, v2's migration,
/// status, clear, the destructive pair and their guard, with APP_ENV=production.
fn lifecycle(s: &Sbx) {
    let root = &s.root;

    // composer-install, offline: rebuilds a missing vendor/, then has nothing to do.
    std::fs::remove_dir_all(root.join("vendor")).unwrap();
    let r = s.artisan(&["composer-install"]);
    r.assert_ok();
    assert!(r.changed());
    assert!(root.join("vendor/autoload.php").is_file());
    let cmd = r.data()["steps"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cmd.contains("install --no-dev --ignore-platform-reqs"),
        "{cmd}"
    );
    assert!(cmd.contains("--no-interaction"), "{cmd}");
    let r = s.artisan(&["composer-install"]);
    r.assert_ok();
    assert!(!r.changed(), "{}", r.stdout);

    // production: migrate*/fresh/reset would prompt (and abort) without --force.
    s.set_env("APP_ENV", "production");

    // v2 adds exactly one migration.
    s.git(&["fetch", "-q", "--tags", "origin"]);
    s.git(&["checkout", "-q", "v2"]);
    let added: Vec<String> = s
        .git(&[
            "diff",
            "--name-only",
            "v1",
            "v2",
            "--",
            "database/migrations",
        ])
        .lines()
        .map(|l| {
            Path::new(l)
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(added, [sandbox::V2_MIGRATION.trim_end_matches(".php")]);
    let tables_v1 = s.tables();

    let r = s.artisan(&["status"]);
    r.assert_ok();
    assert!(!r.changed());
    assert_eq!(strs(&r.data()["pending"]), added);

    // dry run: the plan, nothing run
    let r = s.artisan(&["--dry-run", "migrate", "--seed"]);
    r.assert_ok();
    let plan = r.data()["plan"][0]["command"].as_str().unwrap();
    assert!(
        plan.ends_with("artisan --no-interaction migrate --force --seed"),
        "{plan}"
    );
    assert_eq!(s.tables(), tables_v1);

    let r = s.artisan(&["migrate", "--seed"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(strs(&r.data()["migrated"]), added);
    let tables_v2 = s.tables();
    assert_eq!(tables_v2.len(), tables_v1.len() + 1, "{tables_v2:?}");
    let r = s.artisan(&["migrate", "--seed"]);
    r.assert_ok();
    assert!(!r.changed(), "{}", r.stdout);
    assert!(strs(&r.data()["migrated"]).is_empty());
    let r = s.artisan(&["status"]);
    assert!(strs(&r.assert_ok().data()["pending"]).is_empty());
    assert_eq!(r.data()["ran"], 5);

    // clear: a cached config and a file-cache entry go away; then nothing to do.
    s.artisan(&["run", "--", "config:cache"]).assert_ok();
    let config_php = root.join("bootstrap/cache/config.php");
    assert!(config_php.is_file());
    let entry = root.join("storage/framework/cache/data/ab/cd");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("abcd0123"), "9999999999s:1:\"x\";").unwrap();
    let r = s.artisan(&["clear"]);
    r.assert_ok();
    assert!(r.changed());
    let steps: Vec<&str> = r.data()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    // One PHP process boots the application once and runs both commands.
    assert_eq!(steps, ["cache:clear + config:clear"]);
    assert!(!config_php.exists());
    assert!(!root.join("storage/framework/cache/data/ab").exists());
    assert!(root.join("storage/framework/cache/.gitignore").exists());
    assert!(!s.artisan(&["clear"]).assert_ok().changed());

    // The destructive pair refuses without --yes, touching nothing.
    let users = s.user_count();
    assert_eq!(users, "2");
    for cmd in ["fresh", "reset"] {
        let r = s.artisan(&[cmd]);
        r.assert_code(64);
        assert!(r.json["error"]["hint"].as_str().unwrap().contains("--yes"));
        assert!(r.data()["steps"].as_array().unwrap().is_empty());
    }
    assert_eq!(s.tables(), tables_v2);

    // reset --yes: every migration rolled back, only the migrations table left.
    let r = s.artisan(&["reset", "--yes"]);
    r.assert_ok();
    assert_eq!(r.data()["rolled_back"].as_array().unwrap().len(), 5);
    assert_eq!(s.tables(), ["migrations"]);
    let r = s.artisan(&["status"]);
    assert_eq!(r.assert_ok().data()["pending"].as_array().unwrap().len(), 5);

    // fresh --yes --seed: everything back, seeded.
    let r = s.artisan(&["fresh", "--yes", "--seed"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["migrated"].as_array().unwrap().len(), 5);
    assert_eq!(s.tables(), tables_v2);
    assert_eq!(s.user_count(), "2");
}

#[test]
fn lifecycle_sqlite() {
    lifecycle(&sandbox("sqlite", None, None));
}

#[test]
fn lifecycle_mariadb() {
    let db = servers::mariadb().new_database("artisan", "pa ss'w\"o$rd#1");
    lifecycle(&sandbox("mysql", Some(db), None));
}

#[test]
fn lifecycle_postgres() {
    let db = servers::postgres().new_database("artisan", "pa ss'w\"o$rd#1");
    lifecycle(&sandbox("pgsql", Some(db), None));
}

/// A php built-in web server for the install, as www-data (a request must not leave
/// root-owned logs either); killed on drop.
struct Web {
    child: std::process::Child,
    port: u16,
}

impl Web {
    fn start(root: &Path) -> Web {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let child = Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", "public"])
            .current_dir(root)
            .uid(33)
            .gid(33)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let w = Web { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return w;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("php -S did not start");
    }

    fn status(&self, path: &str) -> u16 {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().parse().unwrap()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run as root on a storage/ owned by www-data: PHP runs as www-data, and nothing under
/// storage/ or bootstrap/cache/ is left root-owned; maintenance mode really answers 503.
#[test]
fn maintenance_and_ownership_as_www_data() {
    let s = sandbox("sqlite", None, Some("www-data:www-data"));
    let root = &s.root;
    assert_eq!(std::fs::metadata(root.join("storage")).unwrap().uid(), 33);
    // A root-owned log left by someone's `sudo php artisan` earlier.
    let log = root.join("storage/logs/laravel.log");
    std::fs::write(&log, "").unwrap();
    std::os::unix::fs::chown(&log, Some(0), Some(0)).unwrap();

    let web = Web::start(root);
    assert_eq!(web.status("/status"), 200);

    s.git(&["fetch", "-q", "--tags", "origin"]);
    s.git(&["checkout", "-q", "v2"]);
    let r = s.artisan(&["migrate", "--seed"]);
    r.assert_ok();
    assert_eq!(r.data()["run_as"]["user"], "www-data");
    assert_eq!(r.data()["steps"][0]["user"], "www-data");
    assert!(r.data()["ownership_fixed"].as_u64().unwrap() >= 1);
    assert_eq!(std::fs::metadata(&log).unwrap().uid(), 33);
    s.artisan(&["run", "--", "config:cache"]).assert_ok();
    assert_eq!(
        std::fs::metadata(root.join("bootstrap/cache/config.php"))
            .unwrap()
            .uid(),
        33
    );
    s.artisan(&["clear"]).assert_ok();

    // down, with the bypass secret from the environment: never in argv or the report.
    let secret = "bypass-7f3a9c21e0";
    let r = run_env(
        "df-artisan",
        [
            "--root",
            root.to_str().unwrap(),
            "down",
            "--secret-env",
            "DF_TEST_BYPASS",
        ],
        &[("DF_TEST_BYPASS", secret)],
    );
    r.assert_ok();
    assert!(r.changed());
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
    assert!(r.data()["steps"].to_string().contains("--secret=***"));
    let down = root.join("storage/framework/down");
    let payload: Value = serde_json::from_slice(&std::fs::read(&down).unwrap()).unwrap();
    assert_eq!(payload["secret"], secret);
    assert_eq!(std::fs::metadata(&down).unwrap().uid(), 33);
    assert_eq!(web.status("/status"), 503);
    let r = s.artisan(&["down"]);
    assert!(!r.assert_ok().changed());
    assert!(r.data()["steps"].as_array().unwrap().is_empty());

    let r = s.artisan(&["up"]);
    assert!(r.assert_ok().changed());
    assert!(!down.exists());
    assert_eq!(web.status("/status"), 200);
    assert!(!s.artisan(&["up"]).assert_ok().changed());

    drop(web);
    let left = root_owned(root, &["storage", "bootstrap/cache"]);
    assert!(left.is_empty(), "root-owned: {left:?}");
}

/// repair rebuilds a deleted vendor/ and removes the compiled/cached files; without
/// vendor/ and with a foreign APP_KEY the errors carry the right hints.
#[test]
fn repair_and_hints() {
    let s = sandbox("sqlite", None, None);
    let root = &s.root;

    // The seeded secret decrypts with the install's key …
    let r = s.artisan(&["run", "--", "sandbox:read-secret"]);
    r.assert_ok();
    assert!(r.data()["output"]
        .as_str()
        .unwrap()
        .contains(sandbox::SERVICE_SECRET));
    // … and not with another one: "The MAC is invalid" → restore the APP_KEY.
    let env_before = std::fs::read_to_string(root.join(".env")).unwrap();
    let other_key = "base64:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=";
    s.set_env("APP_KEY", other_key);
    let r = s.artisan(&["run", "--", "sandbox:read-secret"]);
    r.assert_code(1);
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("The MAC is invalid"), "{hint}");
    assert!(
        hint.contains("APP_KEY") && hint.contains("restore-key"),
        "{hint}"
    );
    assert_eq!(r.data()["diagnosis"], "app_key_mismatch");
    assert!(!r.stdout.contains(other_key) && !r.stderr.contains(other_key));
    std::fs::write(root.join(".env"), env_before).unwrap();

    // Missing vendor/: the hint names composer-install and repair.
    std::fs::remove_dir_all(root.join("vendor")).unwrap();
    let r = s.artisan(&["status"]);
    r.assert_code(1);
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("composer-install") && hint.contains("repair"),
        "{hint}"
    );
    assert_eq!(r.data()["diagnosis"], "vendor_missing");

    // repair
    let compiled = root.join("bootstrap/cache/compiled.php");
    std::fs::write(&compiled, "<?php // stale").unwrap();
    let cache = root.join("storage/framework/cache");
    std::fs::create_dir_all(cache.join("data/ab/cd")).unwrap();
    std::fs::write(cache.join("data/ab/cd/0123"), "x").unwrap();
    std::fs::write(cache.join("stray"), "x").unwrap();
    let r = s.artisan(&["--dry-run", "repair"]);
    r.assert_ok();
    assert!(compiled.exists() && !root.join("vendor").exists());
    let r = s.artisan(&["repair"]);
    r.assert_ok();
    assert!(r.changed());
    assert!(root.join("vendor/autoload.php").is_file());
    assert!(!compiled.exists());
    let left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, [".gitignore"]);
    let steps = r.data()["steps"].to_string();
    assert!(steps.contains("clear-cache"), "{steps}");
    // The install works again.
    assert!(strs(&s.artisan(&["status"]).assert_ok().data()["pending"]).is_empty());
    let r = s.artisan(&["version"]);
    r.assert_ok();
    assert_eq!(r.data()["df_version"], sandbox::V1_VERSION);
    assert!(r.data()["laravel_version"]
        .as_str()
        .unwrap()
        .starts_with("8."));
}

const DATABASE_PHP: &str = "<?php\n\nreturn [\n    'default' => env('DB_CONNECTION', 'mysql'),\n    // 'strict' => true, (a comment)\n    'connections' => [\n        'sqlite' => [\n            'driver' => 'sqlite',\n            'strict' => true,\n        ],\n        'mysql' => [\n            'driver' => 'mysql',\n            'charset' => 'utf8mb4',\n            STRICT_LINE\n            'engine' => null,\n        ],\n    ],\n];\n";

/// strict-mode edits only the mysql 'strict' literal, in either spacing, idempotently.
#[test]
fn strict_mode_edits_one_literal() {
    for (on_line, off_line) in [
        ("'strict' => true,", "'strict' => false,"),
        ("'strict'    => true,", "'strict'    => false,"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("config/database.php");
        std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
        // An install's markers: df-artisan refuses a directory that is not one.
        std::fs::write(d.path().join("artisan"), "<?php\n").unwrap();
        std::fs::write(d.path().join(".env-dist"), "APP_KEY=\n").unwrap();
        let on = DATABASE_PHP.replace("STRICT_LINE", on_line);
        let off = DATABASE_PHP.replace("STRICT_LINE", off_line);
        std::fs::write(&cfg, &on).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
        let st = |args: &[&str]| {
            let mut a = vec!["--root", d.path().to_str().unwrap(), "strict-mode"];
            a.extend_from_slice(args);
            run("df-artisan", a)
        };

        let r = st(&["status"]);
        r.assert_ok();
        assert_eq!(r.data()["strict"], true);
        assert_eq!(r.data()["line"], 14);
        assert!(!r.changed());

        let r = st(&["--dry-run", "off"]);
        assert!(r.assert_ok().changed());
        // data.plan is the shared PlanItem shape (was `{step, path, line, from, to}`).
        assert_eq!(r.data()["plan"][0]["action"], "edit");
        assert!(r.data()["plan"][0]["detail"]
            .as_str()
            .unwrap()
            .ends_with("becomes false"));
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), on);

        let r = st(&["off"]);
        assert!(r.assert_ok().changed());
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), off);
        assert_eq!(std::fs::metadata(&cfg).unwrap().mode() & 0o7777, 0o640);
        let r = st(&["off"]);
        assert!(!r.assert_ok().changed());
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), off);
        assert_eq!(st(&["status"]).data()["strict"], false);

        let r = st(&["on"]);
        assert!(r.assert_ok().changed());
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), on);
        // No temp files left beside it.
        assert_eq!(std::fs::read_dir(cfg.parent().unwrap()).unwrap().count(), 1);
    }

    // A non-literal value is refused, file untouched.
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config/database.php");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(d.path().join("artisan"), "<?php\n").unwrap();
    std::fs::write(d.path().join(".env-dist"), "APP_KEY=\n").unwrap();
    let src = DATABASE_PHP.replace("STRICT_LINE", "'strict' => env('DB_STRICT', true),");
    std::fs::write(&cfg, &src).unwrap();
    let r = run(
        "df-artisan",
        ["--root", d.path().to_str().unwrap(), "strict-mode", "off"],
    );
    r.assert_code(65);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), src);
}

#[test]
fn usage_errors_are_json() {
    let r = run("df-artisan", ["run"]);
    r.assert_code(64);
    let r = run("df-artisan", ["strict-mode", "sideways"]);
    r.assert_code(64);
    let r = run("df-artisan", ["--root", "/nonexistent/dfkit", "status"]);
    r.assert_code(66);
    let out = Command::new(support::bins::bin("df-artisan"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
}

/// `composer-install --staged DIR`: the vendor/ built in an export of the same release is
/// swapped in (two renames); the replaced one is left in DIR. Refused with 65, changing
/// nothing, when DIR was built for another composer.lock or holds no built vendor/.
#[test]
fn composer_install_swaps_in_a_staged_vendor() {
    let s = sandbox("sqlite", None, None);
    let stage = s.sb.tmp.path().join("stage");
    let git = |args: &[&str]| run("df-git-update", args.to_vec());
    let root = s.root.to_str().unwrap();
    git(&["--root", root, "fetch", "--ref", "v2"]).assert_ok();
    git(&[
        "--root",
        root,
        "export",
        "--commit",
        "v2",
        "--into",
        stage.to_str().unwrap(),
    ])
    .assert_ok();
    let vendor_before = support::upgrade::listing(&s.root.join("vendor"));
    let staged = |extra: &[&str]| {
        let mut a = vec!["composer-install", "--staged", stage.to_str().unwrap()];
        a.extend_from_slice(extra);
        s.artisan(&a)
    };
    // Nothing built there yet.
    let r = staged(&[]);
    r.assert_code(65);
    assert!(r.json["msg"]
        .as_str()
        .unwrap()
        .contains("vendor/autoload.php"));
    // Built, but the install is still at v1: another composer.lock.
    let st = Command::new("cp")
        .arg("-a")
        .arg(s.root.join("vendor"))
        .arg(stage.join("vendor"))
        .status()
        .unwrap();
    assert!(st.success());
    run(
        "df-artisan",
        vec!["--root", stage.to_str().unwrap(), "composer-install"],
    )
    .assert_ok();
    let built = support::upgrade::listing(&stage.join("vendor"));
    let r = staged(&[]);
    r.assert_code(65);
    assert!(
        r.json["msg"].as_str().unwrap().contains("composer.lock"),
        "{}",
        r.stdout
    );
    assert_eq!(
        support::upgrade::listing(&s.root.join("vendor")),
        vendor_before
    );
    // At v2: a dry run plans, the real run swaps.
    s.sb.git(&["checkout", "-q", "v2"]);
    let r = staged(&["--dry-run"]);
    r.assert_ok();
    assert_eq!(
        support::upgrade::listing(&s.root.join("vendor")),
        vendor_before
    );
    let r = staged(&[]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["staged"], stage.to_str().unwrap());
    assert_eq!(r.data()["installed"], true);
    assert_eq!(support::upgrade::listing(&s.root.join("vendor")), built);
    assert_eq!(
        support::upgrade::listing(&stage.join("vendor.replaced")),
        vendor_before
    );
    assert!(!stage.join("vendor").exists());
    // The app runs on it.
    s.sb.artisan_ok(&["--version"]);
}
