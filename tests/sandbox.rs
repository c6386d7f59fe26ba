//! The test bed itself: scripts/make-sandbox.sh builds a working DreamFactory-shaped
//! install whose artisan, HTTP front end, git history and encryption behave for real.

mod support;

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use support::sandbox::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sqlite_sandbox_is_a_v1_checkout_of_an_origin_with_two_releases() {
    let sb = Sandbox::new("sqlite", None);
    assert!(sb.root.join("artisan").is_file());
    assert!(sb.root.join("vendor/autoload.php").is_file());
    assert_eq!(sb.version(), V1_VERSION);

    // The checkout: master at v1, tracking origin/master, clean.
    assert_eq!(sb.head(), sb.tag_commit("v1"));
    assert_eq!(sb.git(&["symbolic-ref", "--short", "HEAD"]), "master");
    assert_eq!(
        sb.git(&["rev-parse", "--abbrev-ref", "master@{upstream}"]),
        "origin/master"
    );
    assert_eq!(sb.git(&["status", "--porcelain"]), "");
    assert_eq!(
        sb.git(&["tag", "--list"]),
        "v1",
        "cloned before v2 was released"
    );

    // The origin: tags v1 and v2, master = v2, v2 = v1 + a migration, a version bump,
    // a new composer.lock.
    assert_eq!(sb.origin_git(&["tag", "--list"]), "v1\nv2");
    assert_eq!(sb.origin_git(&["rev-parse", "master"]), sb.tag_commit("v2"));
    assert_eq!(
        sb.origin_git(&["rev-parse", "v2^"]),
        sb.tag_commit("v1"),
        "v2 is one commit on top of v1"
    );
    let changed = sb.origin_git(&["diff", "--name-only", "v1", "v2"]);
    let mut changed: Vec<&str> = changed.lines().collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            "composer.json",
            "composer.lock",
            "config/app.php",
            &format!("database/migrations/{V2_MIGRATION}"),
        ]
    );
    let v2_app = sb.origin_git(&["show", "v2:config/app.php"]);
    assert!(v2_app.contains(&format!("'version' => '{V2_VERSION}'")));
    let v1_app = sb.origin_git(&["show", "v1:config/app.php"]);
    assert!(v1_app.contains(&format!("'version' => '{V1_VERSION}'")));
    for ignored in [".env", "vendor", "storage/databases/database.sqlite"] {
        let out = Command::new("git")
            .args(["check-ignore", "-q", ignored])
            .current_dir(&sb.root)
            .status()
            .unwrap();
        assert!(out.success(), "{ignored} is git-ignored");
    }

    // .env: from .env-dist, a real random key, sqlite.
    let key = sb.app_key();
    let b64 = key.strip_prefix("base64:").expect("base64: key");
    assert_eq!(b64.len(), 44, "32 bytes in base64: {key}");
    assert_eq!(sb.env_value("DB_CONNECTION").as_deref(), Some("sqlite"));
    assert!(sb.root.join(".env-dist").is_file());
    assert!(sb.sqlite_path().is_file());
    let mysql_strict = std::fs::read_to_string(sb.root.join("config/database.php")).unwrap();
    assert!(mysql_strict.contains("            'strict' => true,\n"));

    // Laravel's writable dirs.
    for d in [
        "storage/app",
        "storage/framework/cache/data",
        "storage/framework/sessions",
        "storage/framework/views",
        "storage/logs",
        "storage/databases",
        "bootstrap/cache",
    ] {
        assert!(sb.root.join(d).is_dir(), "{d}");
    }

    // Migrated and seeded.
    let status = sb.artisan_ok(&["migrate:status"]);
    for m in V1_MIGRATIONS {
        assert!(
            status.lines().any(|l| l.contains("| Yes") && l.contains(m)),
            "{m} ran:\n{status}"
        );
    }
    assert!(!status.contains("| No"), "{status}");
    let ping = sb.db_ping();
    assert_eq!(ping["driver"], "sqlite");
    assert_eq!(ping["users"], SEEDED_USERS);
    assert_eq!(ping["services"], SEEDED_SERVICES);
    assert_eq!(ping["scripts"], SEEDED_SCRIPTS);
    // The rows are really in the SQLite file (read without PHP).
    let admins = sb.sqlite("select email from user where is_sys_admin = 1");
    assert_eq!(admins, "admin@example.com");
}

#[test]
fn seeding_twice_adds_no_rows_and_artisan_housekeeping_works() {
    let sb = Sandbox::new("sqlite", None);
    let before = sb.db_ping();
    let out = sb.artisan_ok(&["migrate", "--seed", "--force"]);
    assert!(out.contains("Nothing to migrate"), "{out}");
    assert_eq!(sb.db_ping(), before);

    sb.artisan_ok(&["cache:clear"]);
    sb.artisan_ok(&["config:cache"]);
    assert!(sb.root.join("bootstrap/cache/config.php").is_file());
    assert_eq!(sb.db_ping(), before, "works from the cached config");
    sb.artisan_ok(&["config:clear"]);
    assert!(!sb.root.join("bootstrap/cache/config.php").exists());

    // The migration-import dance of the guide.
    sb.artisan_ok(&["migrate:fresh", "--force"]);
    assert_eq!(sb.db_ping()["users"], 0);
    sb.artisan_ok(&["migrate:reset", "--force"]);
    let tables = sb.sqlite("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name");
    assert_eq!(tables, "migrations", "reset drops every table");
    sb.artisan_ok(&["migrate", "--seed", "--force"]);
    assert_eq!(sb.db_ping(), before);
    // Re-seeded under the same key: the secret still decrypts.
    assert!(stdout(&sb.read_secret()).contains(SERVICE_SECRET));
}

#[test]
fn pulling_master_upgrades_to_v2_and_its_migration_runs() {
    let sb = Sandbox::new("sqlite", None);
    sb.git(&["pull", "-q", "--ff-only", "origin", "master"]);
    assert_eq!(sb.head(), sb.tag_commit("v2"));
    assert_eq!(sb.version(), V2_VERSION);
    assert!(sb
        .root
        .join("database/migrations")
        .join(V2_MIGRATION)
        .is_file());
    let composer = Command::new("composer")
        .args([
            "install",
            "--no-dev",
            "--ignore-platform-reqs",
            "--no-interaction",
        ])
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .current_dir(&sb.root)
        .output()
        .unwrap();
    assert!(composer.status.success(), "{}", stderr(&composer));
    let out = sb.artisan_ok(&["migrate", "--seed", "--force"]);
    assert!(out.contains("2024_05_14_120000_create_app_table"), "{out}");
    let status = sb.artisan_ok(&["migrate:status"]);
    assert!(!status.contains("| No"), "{status}");
    let app_table = sb.sqlite("select count(*) from sqlite_master where name = 'app'");
    assert_eq!(app_table, "1");
    assert_eq!(sb.git(&["status", "--porcelain"]), "");
}

#[test]
fn at_v2_builds_the_new_release() {
    let sb = Sandbox::with(
        "sqlite",
        None,
        &Options {
            at_v2: true,
            ..Options::default()
        },
    );
    assert_eq!(sb.head(), sb.tag_commit("v2"));
    assert_eq!(sb.version(), V2_VERSION);
    let status = sb.artisan_ok(&["migrate:status"]);
    assert!(status.contains("2024_05_14_120000_create_app_table"));
    assert!(!status.contains("| No"), "{status}");
}

#[test]
fn read_secret_needs_the_key_that_encrypted_it() {
    let sb = Sandbox::new("sqlite", None);
    let ok = sb.read_secret();
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains(SERVICE_SECRET));
    // The ciphertext is in the database, not the plaintext.
    let raw = sb.sqlite("select config from service where name = 'db'");
    assert!(!raw.contains(SERVICE_SECRET));
    assert!(!raw.is_empty());

    let env = std::fs::read_to_string(sb.env_path()).unwrap();
    let other = "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_ne!(sb.app_key(), other);
    std::fs::write(
        sb.env_path(),
        env.replace(
            &format!("APP_KEY={}", sb.app_key()),
            &format!("APP_KEY={other}"),
        ),
    )
    .unwrap();
    assert_eq!(sb.app_key(), other);
    let bad = sb.read_secret();
    assert!(!bad.status.success());
    let all = stdout(&bad) + &stderr(&bad);
    assert!(all.contains("The MAC is invalid."), "{all}");
    assert!(!all.contains(SERVICE_SECRET));
}

#[test]
fn each_sandbox_has_its_own_key_but_the_same_releases() {
    let a = Sandbox::new("sqlite", None);
    let b = Sandbox::new("sqlite", None);
    assert_ne!(a.app_key(), b.app_key());
    assert_eq!(a.tag_commit("v1"), b.tag_commit("v1"));
    assert_eq!(a.tag_commit("v2"), b.tag_commit("v2"));
}

#[test]
fn status_route_reports_the_version_and_maintenance_mode_gives_503() {
    let sb = Sandbox::new("sqlite", None);
    let srv = sb.serve();
    let (code, body) = srv.get("/status");
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["platform"]["version"], V1_VERSION);
    assert_eq!(srv.get("/").0, 200);
    let (code, body) = srv.get("/api/v2/system/user");
    assert_eq!(code, 200);
    assert!(body.contains("admin@example.com"));

    sb.artisan_ok(&["down"]);
    assert!(sb.root.join("storage/framework/down").exists());
    assert_eq!(srv.get("/status").0, 503);
    assert_eq!(srv.get("/").0, 503);
    sb.artisan_ok(&["up"]);
    assert!(!sb.root.join("storage/framework/down").exists());
    assert_eq!(srv.get("/status").0, 200);
    assert_eq!(srv.get("/").0, 200);
}

#[test]
fn owner_option_chowns_storage_and_bootstrap_cache() {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_gid(nobody.gid).unwrap().unwrap();
    let sb = Sandbox::with(
        "sqlite",
        None,
        &Options {
            owner: Some(format!("nobody:{}", nogroup.name)),
            ..Options::default()
        },
    );
    for top in ["storage", "bootstrap/cache"] {
        let mut stack = vec![sb.root.join(top)];
        while let Some(p) = stack.pop() {
            let m = std::fs::symlink_metadata(&p).unwrap();
            assert_eq!(m.uid(), nobody.uid.as_raw(), "{}", p.display());
            assert_eq!(m.gid(), nobody.gid.as_raw(), "{}", p.display());
            if m.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
    }
    // Everything else stays as created.
    assert_eq!(
        std::fs::metadata(sb.root.join("config/app.php"))
            .unwrap()
            .uid(),
        nix::unistd::geteuid().as_raw()
    );
}

#[test]
fn db_password_reaches_laravel_exactly_whatever_its_characters() {
    // No server here: point at a closed port, keep the failed build, and read .env back
    // through Laravel's own parser (phpdotenv).
    let tmp = tempfile::tempdir().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let password = "it's \"q\" #h ;s :c \\b\\\\ $HOME ${USER} `id` $(id) end ";
    let dir = tmp.path().to_str().unwrap();
    let port = closed.to_string();
    let mut c = Command::new(script());
    c.args([dir, "--driver", "mysql", "--db-port", &port])
        .env("SANDBOX_DB_PASSWORD", password)
        .env("SANDBOX_KEEP_FAILED", "1")
        .env("SANDBOX_QUIET", "1");
    let out = c.output().unwrap();
    assert!(!out.status.success(), "no server: migrate must fail");
    assert!(
        stderr(&out).contains("php artisan migrate --seed failed"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(password));
    let root = tmp.path().join("dreamfactory");
    let php = Command::new("php")
        .arg("-r")
        .arg(
            "require 'vendor/autoload.php'; \
             $e = Dotenv\\Dotenv::createArrayBacked(getcwd())->load(); \
             echo $e['DB_PASSWORD'];",
        )
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(php.status.success(), "{}", stderr(&php));
    assert_eq!(stdout(&php), password);
    let env = std::fs::read_to_string(root.join(".env")).unwrap();
    assert!(env.contains(&format!("DB_PORT={closed}\n")));
    assert!(env.contains("DB_CONNECTION=mysql\n"));
}

#[test]
fn failed_build_leaves_nothing_behind_and_existing_installs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    // A pgsql build against nothing fails and removes its partial work.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = make_sandbox(&[dir, "--driver", "pgsql", "--db-port", &closed], Some("x"));
    assert!(!out.status.success());
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // mysql/pgsql without SANDBOX_DB_PASSWORD: a clear usage error, nothing made.
    let out = make_sandbox(&[dir, "--driver", "mysql"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SANDBOX_DB_PASSWORD"),
        "{}",
        stderr(&out)
    );
    let out = make_sandbox(&[dir, "--driver", "oracle"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--driver must be"));
    let out = make_sandbox(&[dir, "--owner", "no-such-user-dfkit"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no such user"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    // An existing install is never overwritten.
    std::fs::create_dir(tmp.path().join("dreamfactory")).unwrap();
    std::fs::write(tmp.path().join("dreamfactory/keep"), "mine").unwrap();
    let out = make_sandbox(&[dir], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("dreamfactory/keep")).unwrap(),
        "mine"
    );
}

/// A password with every character .env quoting and shells care about.
const NASTY: &str = "p'a\"s#s;w:o\\r\\\\d $HOME ${USER} `id` $(id) %s end ";

/// A sandbox on a real server: the password reaches Laravel exactly (migrate and
/// db-ping connect with it), the rows are in the server, the guide's artisan dance and
/// the v2 upgrade work.
fn server_sandbox(
    server: &support::servers::Server,
    driver: &'static str,
    admin_sql: &str,
    tables_sql: &str,
) {
    let db = server.new_database("sandbox", NASTY);
    let sb = Sandbox::new(driver, Some(&db));
    assert_eq!(sb.env_value("DB_CONNECTION").as_deref(), Some(driver));
    assert_eq!(sb.env_value("DB_PORT"), Some(db.port.to_string()));
    assert_eq!(
        sb.env_value("DB_DATABASE").as_deref(),
        Some(db.database.as_str())
    );
    assert_eq!(
        sb.env_value("DB_USERNAME").as_deref(),
        Some(db.username.as_str())
    );
    assert!(!sb.sqlite_path().exists(), "no SQLite file for {driver}");
    let ping = sb.db_ping();
    assert_eq!(ping["driver"], driver);
    assert_eq!(ping["database"], db.database.as_str());
    assert_eq!(ping["users"], SEEDED_USERS);
    assert_eq!(ping["services"], SEEDED_SERVICES);
    assert_eq!(ping["scripts"], SEEDED_SCRIPTS);
    let admin = server.sql(&db.database, admin_sql);
    assert_eq!(admin.trim(), "admin@example.com");
    assert!(stdout(&sb.read_secret()).contains(SERVICE_SECRET));

    sb.artisan_ok(&["migrate:fresh", "--force"]);
    sb.artisan_ok(&["migrate:reset", "--force"]);
    assert_eq!(server.sql(&db.database, tables_sql).trim(), "migrations");
    sb.artisan_ok(&["migrate", "--seed", "--force"]);
    sb.artisan_ok(&["migrate", "--seed", "--force"]);
    assert_eq!(sb.db_ping(), ping, "seeding twice adds nothing");

    sb.git(&["pull", "-q", "--ff-only", "origin", "master"]);
    assert_eq!(sb.version(), V2_VERSION);
    let out = sb.artisan_ok(&["migrate", "--seed", "--force"]);
    assert!(out.contains("create_app_table"), "{out}");
    let tables = server.sql(&db.database, tables_sql);
    assert!(tables.lines().any(|t| t.trim() == "app"), "{tables}");
}

#[test]
fn mysql_sandbox_with_a_nasty_password_works_on_mariadb() {
    let server = support::servers::mariadb();
    server_sandbox(
        server,
        "mysql",
        "select email from user where is_sys_admin = 1",
        "select table_name from information_schema.tables \
         where table_schema = database() order by table_name",
    );
}

#[test]
fn pgsql_sandbox_with_a_nasty_password_works_on_postgres() {
    let server = support::servers::postgres();
    server_sandbox(
        server,
        "pgsql",
        "select email from \"user\" where is_sys_admin = true",
        "select table_name from information_schema.tables \
         where table_schema = 'public' order by table_name",
    );
}
