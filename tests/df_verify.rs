//! df-verify against real sandbox installs: real php artisan, sqlite3, MariaDB and
//! PostgreSQL servers, `php -S`, and backup sets written by df-dump-db and df-backup-env.
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::bins::{run, run_env, Run};
use support::sandbox::{self, PhpServer, Sandbox, V1_VERSION, V2_MIGRATION};
use support::servers;

/// A fresh sqlite sandbox at v1 (DreamFactory 7.0.0), migrated and seeded.
fn sandbox() -> Sandbox {
    Sandbox::new("sqlite", None)
}

fn count(sb: &Sandbox, table: &str) -> u64 {
    sb.sqlite(&format!("SELECT COUNT(*) FROM \"{table}\""))
        .parse()
        .unwrap()
}

/// `sha256:` + 12 hex of the value, computed independently of dfkit.
fn fingerprint(value: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(value.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    format!("sha256:{}", &String::from_utf8(out.stdout).unwrap()[..12])
}

/// A backup set of the sandbox as the tools write it: `df-backup-env save` (env +
/// env.meta.json) and `df-dump-db dump` (db.sql.zst + db.meta.json with row counts).
fn make_set(sb: &Sandbox) -> PathBuf {
    let set = sb.tmp.path().join("set");
    let root = sb.root.to_str().unwrap();
    let into = set.to_str().unwrap();
    run("df-backup-env", ["save", "--root", root, "--into", into]).assert_ok();
    run("df-dump-db", ["dump", "--root", root, "--into", into]).assert_ok();
    assert!(set.join("env.meta.json").is_file() && set.join("db.meta.json").is_file());
    set
}

/// `php -S` serving `dir/public`.
fn serve_dir(dir: &Path) -> PhpServer {
    PhpServer::start(dir, &dir.join("php-server.log"))
}

fn check<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.data()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {}", r.stdout))
}

fn detail(r: &Run, name: &str) -> String {
    check(r, name)["detail"].as_str().unwrap().to_string()
}

fn statuses(r: &Run) -> Vec<(String, String)> {
    r.data()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn all_pass() -> Vec<(String, String)> {
    [
        "env",
        "version",
        "ownership",
        "artisan",
        "database",
        "migrations",
        "row_counts",
        "app_key",
        "http",
        "logs",
    ]
    .iter()
    .map(|n| (n.to_string(), "pass".to_string()))
    .collect()
}

fn args(sb: &Sandbox, more: &[&str]) -> Vec<String> {
    let mut v = vec!["--root".to_string(), sb.root.display().to_string()];
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

/// An RFC 3339 time `secs` seconds from now.
fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A Laravel log timestamp `secs` seconds from now (UTC, as DreamFactory logs).
fn log_time(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn healthy_sandbox_passes_every_check() {
    let sb = sandbox();
    let log = sb.root.join("storage/logs/dreamfactory.log");
    // An error from before the backup does not count against the upgrade.
    append(
        &log,
        &format!(
            "[{}] local.ERROR: an old error, before the backup\n",
            log_time(-3600)
        ),
    );
    let set = make_set(&sb);
    append(&log, &format!("[{}] local.INFO: upgraded\n", log_time(0)));
    let web = sb.serve();
    let env_before = std::fs::read(sb.env_path()).unwrap();
    let tables = ["user", "role", "service", "event_script", "migrations"];
    let rows_before: Vec<u64> = tables.iter().map(|t| count(&sb, t)).collect();

    let url = format!("{}/status", web.url());
    let r = run(
        "df-verify",
        args(
            &sb,
            &[
                "--against",
                set.to_str().unwrap(),
                "--url",
                &url,
                "--expect-version",
                V1_VERSION,
            ],
        ),
    );
    r.assert_ok();
    assert_eq!(statuses(&r), all_pass(), "{}", r.stdout);
    // Ten checks: the nine of before and `ownership`.
    assert_eq!(r.data()["passed"], 10);
    assert_eq!(r.data()["failed"], 0);
    assert_eq!(r.json["changed"], false);
    assert_eq!(r.json["msg"], "10 checks passed");
    assert_eq!(check(&r, "version")["version"], V1_VERSION);
    assert!(check(&r, "artisan")["laravel_version"]
        .as_str()
        .unwrap()
        .starts_with("8."));
    assert_eq!(check(&r, "database")["driver"], "sqlite");
    assert_eq!(check(&r, "migrations")["ran"], 4);
    assert_eq!(check(&r, "http")["status_code"], 200);
    assert_eq!(
        detail(&r, "http"),
        format!("GET {url} answered 200 with version {V1_VERSION}")
    );
    // Every table the dump counted was compared.
    let meta: Value =
        serde_json::from_slice(&std::fs::read(set.join("db.meta.json")).unwrap()).unwrap();
    let counted = meta["row_counts"].as_object().unwrap().len();
    assert!(counted >= tables.len());
    assert_eq!(check(&r, "row_counts")["compared"], counted);
    let fp = fingerprint(&sb.app_key());
    assert_eq!(check(&r, "app_key")["have"], fp.as_str());
    assert_eq!(check(&r, "app_key")["want"], fp.as_str());
    assert_eq!(check(&r, "env")["app_key"], fp.as_str());
    assert_eq!(check(&r, "logs")["since_from"], "the set's time");
    assert_eq!(
        check(&r, "logs")["files"],
        json!(["storage/logs/dreamfactory.log"])
    );
    // The key itself never leaves; verifying changes nothing.
    let key = sb.app_key();
    assert!(!r.stdout.contains(&key) && !r.stderr.contains(&key));
    assert_eq!(std::fs::read(sb.env_path()).unwrap(), env_before);
    let rows_after: Vec<u64> = tables.iter().map(|t| count(&sb, t)).collect();
    assert_eq!(rows_after, rows_before);
}

#[test]
fn pending_migration_fails_naming_it() {
    let sb = sandbox();
    sb.git(&["fetch", "-q", "--tags", "origin"]);
    let file = format!("database/migrations/{V2_MIGRATION}");
    sb.git(&["checkout", "v2", "--", &file]);
    let migration = V2_MIGRATION.trim_end_matches(".php");

    let r = run("df-verify", args(&sb, &[]));
    r.assert_code(1);
    assert_eq!(r.error_kind(), "step_failed");
    let m = check(&r, "migrations");
    assert_eq!(m["status"], "fail");
    assert_eq!(m["pending"], json!([migration]));
    assert_eq!(m["detail"], format!("1 pending: {migration}"));
    assert!(r.json["msg"].as_str().unwrap().contains(migration));
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("df-artisan migrate"));
    // Only that check failed: the others still ran and passed or skipped.
    for (name, status) in statuses(&r) {
        if name != "migrations" {
            assert_ne!(status, "fail", "{name}: {}", r.stdout);
        }
    }
    // Nothing was migrated.
    assert_eq!(
        sb.sqlite(&format!(
            "SELECT COUNT(*) FROM migrations WHERE migration = '{migration}'"
        )),
        "0"
    );
    assert_eq!(
        sb.sqlite("SELECT COUNT(*) FROM sqlite_master WHERE name = 'app'"),
        "0"
    );
}

#[test]
fn fewer_rows_than_the_set_fails_naming_the_table() {
    let sb = sandbox();
    let set = make_set(&sb);
    let services = count(&sb, "service");
    let users = count(&sb, "user");
    assert!(services >= 2 && users >= 2);
    let base = args(
        &sb,
        &["--against", set.to_str().unwrap(), "--only", "row_counts"],
    );
    run("df-verify", &base).assert_ok();

    sb.sqlite("DELETE FROM service WHERE id = (SELECT MAX(id) FROM service)");
    sb.sqlite("DELETE FROM user WHERE id = (SELECT MAX(id) FROM user)");
    let r = run("df-verify", &base);
    r.assert_code(1);
    let c = check(&r, "row_counts");
    assert_eq!(c["status"], "fail");
    assert_eq!(
        c["detail"],
        format!(
            "service: have {}, want {services}; user: have {}, want {users}",
            services - 1,
            users - 1
        )
    );
    assert_eq!(
        c["mismatched"],
        json!([
            {"table": "service", "expected": services, "found": services - 1},
            {"table": "user", "expected": users, "found": users - 1},
        ])
    );
    assert!(r.json["msg"]
        .as_str()
        .unwrap()
        .contains(&format!("service: have {}, want {services}", services - 1)));

    // More rows than the set: fine for an upgrade, a failure with --exact (a migration).
    sb.sqlite("DELETE FROM user");
    sb.sqlite(
        "INSERT INTO service (name, label, type, is_active) VALUES ('x1', 'X', 'sql', 1), ('x2', 'X', 'sql', 1)",
    );
    let r = run("df-verify", &base);
    r.assert_code(1);
    assert_eq!(
        detail(&r, "row_counts"),
        format!("user: have 0, want {users}")
    );
    let mut exact = base.clone();
    exact.push("--exact".into());
    let r = run("df-verify", &exact);
    r.assert_code(1);
    assert_eq!(
        detail(&r, "row_counts"),
        format!(
            "service: have {}, want {services}; user: have 0, want {users}",
            services + 1
        )
    );
    // A dropped table is named too.
    sb.sqlite("DROP TABLE event_script");
    let r = run("df-verify", &base);
    assert!(detail(&r, "row_counts").starts_with("event_script: missing (want 1)"));
}

#[test]
fn different_app_key_fails_with_both_fingerprints_and_the_mac_error_is_found_in_the_logs() {
    let sb = sandbox();
    let set = make_set(&sb);
    let old = sb.app_key();
    let new = "base64:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let env = std::fs::read_to_string(sb.env_path()).unwrap();
    std::fs::write(
        sb.env_path(),
        env.replace(&format!("APP_KEY={old}"), &format!("APP_KEY={new}")),
    )
    .unwrap();
    // The stored service credentials no longer decrypt; Laravel logs it.
    let out = sb.read_secret();
    assert!(!out.status.success());

    let r = run(
        "df-verify",
        args(&sb, &["--against", set.to_str().unwrap()]),
    );
    r.assert_code(1);
    let c = check(&r, "app_key");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["have"], fingerprint(new));
    assert_eq!(c["want"], fingerprint(&old));
    assert_eq!(
        c["detail"],
        format!(
            "APP_KEY {} differs from the set's {}",
            fingerprint(new),
            fingerprint(&old)
        )
    );
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("restore-key"));
    // The error after the set's time is found without --since.
    let logs = check(&r, "logs");
    assert_eq!(logs["status"], "fail", "{}", r.stdout);
    assert_eq!(logs["since_from"], "the set's time");
    assert!(logs["detail"]
        .as_str()
        .unwrap()
        .contains("The MAC is invalid"));
    // The new key is well-formed: env passes; neither key is ever printed.
    assert_eq!(check(&r, "env")["status"], "pass");
    for k in [new, old.as_str()] {
        assert!(!r.stdout.contains(k) && !r.stderr.contains(k));
    }
    assert_eq!(r.data()["failed"], 2);
}

#[test]
fn malformed_app_key_fails_env() {
    let sb = sandbox();
    let old = sb.app_key();
    let env = std::fs::read_to_string(sb.env_path()).unwrap();
    std::fs::write(
        sb.env_path(),
        env.replace(&format!("APP_KEY={old}"), "APP_KEY=base64:c2hvcnQ="),
    )
    .unwrap();
    let r = run("df-verify", args(&sb, &["--only", "env"]));
    r.assert_code(1);
    let d = detail(&r, "env");
    assert!(d.contains("APP_KEY") && d.contains("5 bytes"), "{d}");
}

#[test]
fn new_error_line_fails_naming_file_and_line() {
    let sb = sandbox();
    let since = rfc3339_in(-30);
    let log = sb.root.join("storage/logs/dreamfactory.log");
    let new_line = format!(
        "[{}] local.ERROR: SQLSTATE[HY000]: General error: 1 no such table: app",
        log_time(0)
    );
    append(
        &log,
        &format!(
            "[{}] local.ERROR: before --since\n#0 /x.php(1): y()\n[{}] local.WARNING: a warning\n{new_line}\n#0 {{main}}\n",
            log_time(-3600),
            log_time(0)
        ),
    );
    // Another log, with a CRITICAL line, in a daily file.
    let daily = sb.root.join("storage/logs/dreamfactory-2026-11-25.log");
    let crit = format!("[{}] local.CRITICAL: disk full", log_time(0));
    append(&daily, &format!("{crit}\n"));

    let r = run("df-verify", args(&sb, &["--since", &since]));
    r.assert_code(1);
    let c = check(&r, "logs");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["count"], 2);
    assert_eq!(
        c["lines"],
        json!([
            {"file": "storage/logs/dreamfactory-2026-11-25.log", "line": 1, "level": "CRITICAL", "text": crit},
            {"file": "storage/logs/dreamfactory.log", "line": 4, "level": "ERROR", "text": new_line},
        ])
    );
    let d = c["detail"].as_str().unwrap();
    assert!(
        d.contains(&format!("storage/logs/dreamfactory.log:4: {new_line}")),
        "{d}"
    );
    assert!(!d.contains("before --since"));
    assert_eq!(c["since_from"], "--since");
    // The other checks are unaffected.
    assert_eq!(r.data()["failed"], 1);
}

#[test]
fn dead_url_fails_naming_it() {
    let sb = sandbox();
    let url = format!("http://127.0.0.1:{}/status", servers::free_port());
    let r = run("df-verify", args(&sb, &["--only", "http", "--url", &url]));
    r.assert_code(1);
    let c = check(&r, "http");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["url"], url.as_str());
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .starts_with(&format!("GET {url}: ")));
    assert!(r.json["msg"].as_str().unwrap().contains(&url));
}

#[test]
fn wrong_version_and_bad_pages_fail() {
    let sb = sandbox();
    let web = sb.serve();
    let url = format!("{}/status", web.url());
    let r = run(
        "df-verify",
        args(
            &sb,
            &[
                "--only",
                "version",
                "--only",
                "http",
                "--url",
                &url,
                "--expect-version",
                "7.1.0",
            ],
        ),
    );
    r.assert_code(1);
    assert_eq!(
        detail(&r, "version"),
        format!("config/app.php says {V1_VERSION}, expected 7.1.0")
    );
    assert_eq!(check(&r, "http")["status"], "pass", "{}", r.stdout);

    // A page that answers 404 fails, naming the URL and the code.
    let url = format!("{}/no-such-page", web.url());
    let r = run("df-verify", args(&sb, &["--only", "http", "--url", &url]));
    r.assert_code(1);
    assert_eq!(check(&r, "http")["status_code"], 404);
    assert!(detail(&r, "http").starts_with(&format!("GET {url} answered 404")));

    // A /status answered by something else (another install, stale code) fails.
    let other = sb.tmp.path().join("other");
    std::fs::create_dir_all(other.join("public/status")).unwrap();
    std::fs::write(
        other.join("public/status/index.php"),
        r#"<?php header('Content-Type: application/json'); echo '{"platform":{"version":"6.9.0"}}';"#,
    )
    .unwrap();
    let stale = serve_dir(&other);
    let url = format!("{}/status", stale.url());
    let r = run("df-verify", args(&sb, &["--only", "http", "--url", &url]));
    r.assert_code(1);
    let d = detail(&r, "http");
    assert!(
        d.starts_with(&format!(
            "GET {url} answered 200 without version {V1_VERSION}"
        )),
        "{d}"
    );
}

#[test]
fn checks_that_cannot_run_skip_with_a_reason() {
    let sb = sandbox();
    // A PATH without php (sqlite3 is there for the database check).
    let bin = sb.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(which("sqlite3"), bin.join("sqlite3")).unwrap();
    let r = run_env(
        "df-verify",
        args(&sb, &[]),
        &[("PATH", bin.to_str().unwrap())],
    );
    r.assert_ok();
    let reason = |n: &str| {
        let c = check(&r, n);
        assert_eq!(c["status"], "skip", "{n}: {}", r.stdout);
        c["detail"].as_str().unwrap().to_string()
    };
    assert!(reason("artisan").contains("php not found"));
    assert!(reason("migrations").contains("php not found"));
    assert!(reason("row_counts").contains("no --against"));
    assert!(reason("app_key").contains("no --against"));
    assert!(reason("http").contains("no --url"));
    assert!(reason("logs").contains("no --since"));
    for n in ["env", "version", "database"] {
        assert_eq!(check(&r, n)["status"], "pass", "{n}: {}", r.stdout);
    }
    assert_eq!(r.data()["skipped"], 6);
    assert!(r.json["msg"].as_str().unwrap().contains("6 skipped"));

    // A set without a dump or .env backup: those checks skip, saying so.
    let set = sb.tmp.path().join("empty-set");
    std::fs::create_dir(&set).unwrap();
    let r = run(
        "df-verify",
        args(
            &sb,
            &[
                "--against",
                set.to_str().unwrap(),
                "--only",
                "row_counts",
                "--only",
                "app_key",
            ],
        ),
    );
    r.assert_ok();
    assert!(detail(&r, "row_counts").contains("no database dump"));
    assert!(detail(&r, "app_key").contains("no .env backup"));
}

fn which(p: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {p}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn selection_dry_run_and_usage_errors() {
    let sb = sandbox();
    let r = run(
        "df-verify",
        args(&sb, &["--skip", "artisan", "--skip", "migrations"]),
    );
    r.assert_ok();
    let names: Vec<String> = statuses(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "env",
            "version",
            "ownership",
            "database",
            "row_counts",
            "app_key",
            "http",
            "logs"
        ]
    );

    let r = run("df-verify", args(&sb, &["--dry-run"]));
    r.assert_ok();
    assert_eq!(r.json["dry_run"], true);
    assert_eq!(r.json["changed"], false);
    assert_eq!(r.data()["plan"].as_array().unwrap().len(), 10);
    assert!(r.data().get("checks").is_none());

    let r = run("df-verify", args(&sb, &["--only", "bogus"]));
    r.assert_code(64);
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("row_counts"));
    run("df-verify", ["--since", "yesterday"]).assert_code(64);
    run("df-verify", args(&sb, &["--exact"])).assert_code(64);
    run(
        "df-verify",
        args(&sb, &["--url", "ftp://example.invalid/status"]),
    )
    .assert_code(64);
    run("df-verify", args(&sb, &["--against", "/nonexistent/set"])).assert_code(66);
    run("df-verify", ["--root", "/nonexistent/df"]).assert_code(66);
}

#[test]
fn artisan_runs_as_the_storage_owner() {
    // storage/ owned by www-data, as the installer leaves it; root runs df-verify.
    let sb = Sandbox::with(
        "sqlite",
        None,
        &sandbox::Options {
            owner: Some("www-data:www-data".into()),
            ..Default::default()
        },
    );
    use std::os::unix::fs::MetadataExt;
    let www = nix::unistd::User::from_name("www-data").unwrap().unwrap();
    // A root-owned file left in storage/ (by someone's `sudo php artisan`) is left alone:
    // a verification only reads. The `ownership` check reports it with the fix.
    let stray = sb.root.join("storage/framework/cache/root-owned");
    std::fs::write(&stray, "x").unwrap();
    assert_eq!(std::fs::metadata(&stray).unwrap().uid(), 0);
    let r = run("df-verify", args(&sb, &["--only", "artisan"]));
    r.assert_ok();
    assert_eq!(std::fs::metadata(&stray).unwrap().uid(), 0);
    assert_eq!(r.json["changed"], false);
    let r = run(
        "df-verify",
        args(&sb, &["--only", "artisan", "--only", "ownership"]),
    );
    r.assert_code(1);
    assert_eq!(check(&r, "artisan")["status"], "pass");
    assert_eq!(check(&r, "ownership")["status"], "fail");
    assert!(check(&r, "ownership")["hint"]
        .as_str()
        .unwrap()
        .contains("df-perms"));
    assert_eq!(std::fs::metadata(&stray).unwrap().uid(), 0);
    assert_eq!(r.json["changed"], false);

    // A missing database makes `migrate:status` fail, and Laravel log the exception.
    std::fs::rename(sb.sqlite_path(), sb.tmp.path().join("db.bak")).unwrap();
    let log = sb.root.join("storage/logs/dreamfactory.log");
    assert!(!log.exists());
    let r = run("df-verify", args(&sb, &["--only", "migrations"]));
    r.assert_code(1);
    let d = detail(&r, "migrations");
    assert!(d.contains("does not exist"), "{d}");
    assert!(!d.contains('\n'));
    // The log Laravel wrote belongs to www-data, not root: the site keeps working.
    let md = std::fs::metadata(&log).expect("Laravel logged the failure");
    assert_eq!(md.uid(), www.uid.as_raw());
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("local.ERROR: Database"));
}

/// MariaDB and PostgreSQL: a healthy install passes, a lost row fails, naming the table.
fn server_install(server: &servers::Server, driver: &'static str) {
    let db = server.new_database("verify", "p@ss w#rd$x\"q");
    let sb = Sandbox::new(driver, Some(&db));
    let set = make_set(&sb);
    let web = sb.serve();
    let url = format!("{}/status", web.url());
    let base = args(&sb, &["--against", set.to_str().unwrap(), "--url", &url]);
    let r = run("df-verify", &base);
    r.assert_ok();
    assert_eq!(statuses(&r), all_pass(), "{}", r.stdout);
    assert_eq!(check(&r, "database")["driver"], driver);
    assert!(!r.stdout.contains("p@ss") && !r.stderr.contains("p@ss"));

    let services: u64 = db
        .sql("SELECT COUNT(*) FROM service")
        .trim()
        .parse()
        .unwrap();
    db.sql(
        "DELETE FROM service WHERE id = (SELECT m FROM (SELECT MAX(id) AS m FROM service) AS x)",
    );
    let r = run("df-verify", &base);
    r.assert_code(1);
    assert_eq!(
        detail(&r, "row_counts"),
        format!("service: have {}, want {services}", services - 1)
    );
    assert_eq!(r.data()["failed"], 1, "{}", r.stdout);

    // An unreachable server: database fails, the checks that need it skip.
    let mut env = std::fs::read_to_string(sb.env_path()).unwrap();
    env = env.replace(
        &format!("DB_PORT={}", db.port),
        &format!("DB_PORT={}", servers::free_port()),
    );
    std::fs::write(sb.env_path(), env).unwrap();
    let r = run("df-verify", &base);
    r.assert_code(1);
    assert_eq!(check(&r, "database")["status"], "fail");
    assert_eq!(check(&r, "migrations")["status"], "skip");
    assert_eq!(check(&r, "row_counts")["status"], "skip");
}

#[test]
fn mariadb_install() {
    server_install(servers::mariadb(), "mysql");
}

#[test]
fn postgres_install() {
    server_install(servers::postgres(), "pgsql");
}

/// PHP's own clock in a timezone, as Laravel formats log times after
/// `date_default_timezone_set(config('app.timezone'))`: `secs` from now.
fn php_time_in(tz: &str, secs: i64) -> String {
    let out = Command::new("php")
        .args([
            "-r",
            &format!(
                "date_default_timezone_set('{tz}'); echo date('Y-m-d H:i:s', time() + ({secs}));"
            ),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn log_times_are_read_in_the_app_timezone() {
    let sb = sandbox();
    // config/app.php: 'timezone' => env('APP_TIMEZONE', 'UTC').
    let app = std::fs::read_to_string(sb.root.join("config/app.php")).unwrap();
    assert!(app.contains("env('APP_TIMEZONE'"), "{app}");
    append(&sb.root.join(".env"), "\nAPP_TIMEZONE=America/New_York\n");
    let log = sb.root.join("storage/logs/dreamfactory.log");
    // West of UTC: a new line's local time read as UTC looks hours old and would be missed.
    let old = format!(
        "[{}] production.ERROR: an hour before the upgrade",
        php_time_in("America/New_York", -3600)
    );
    let new = format!(
        "[{}] production.ERROR: after the upgrade",
        php_time_in("America/New_York", 0)
    );
    append(&log, &format!("{old}\n{new}\n#0 {{main}}\n"));
    let since = rfc3339_in(-60);
    let r = run(
        "df-verify",
        args(&sb, &["--only", "logs", "--since", &since]),
    );
    r.assert_code(1);
    let c = check(&r, "logs");
    assert_eq!(c["timezone"], "America/New_York");
    assert_eq!(c["count"], 1, "{}", r.stdout);
    assert_eq!(c["lines"][0]["text"], new.as_str());
    assert_eq!(c["lines"][0]["line"], 2);

    // East of UTC (Asia/Tokyo, +9): a line from two hours ago, read as UTC, would look
    // seven hours new and fail the run; in the right zone it is old.
    let sb = sandbox();
    append(&sb.root.join(".env"), "\nAPP_TIMEZONE=Asia/Tokyo\n");
    let log = sb.root.join("storage/logs/dreamfactory.log");
    append(
        &log,
        &format!(
            "[{}] production.ERROR: before the upgrade\n",
            php_time_in("Asia/Tokyo", -7200)
        ),
    );
    let r = run(
        "df-verify",
        args(&sb, &["--only", "logs", "--since", &rfc3339_in(-60)]),
    );
    r.assert_ok();
    assert_eq!(check(&r, "logs")["timezone"], "Asia/Tokyo");

    // An unknown timezone fails the check, naming where it comes from.
    append(&sb.root.join(".env"), "APP_TIMEZONE=Mars/Olympus\n");
    let r = run(
        "df-verify",
        args(&sb, &["--only", "logs", "--since", &rfc3339_in(-60)]),
    );
    r.assert_code(1);
    assert!(detail(&r, "logs").contains("Mars/Olympus"));
}

#[test]
fn a_large_log_is_scanned_from_the_end_with_exact_line_numbers() {
    let sb = sandbox();
    let log = sb.root.join("storage/logs/dreamfactory.log");
    // ~60 MB of old entries (errors among them), then a few new ones.
    let lines_old = 300_000usize;
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        let old = log_time(-7200);
        for i in 0..lines_old {
            let level = if i % 1000 == 0 { "ERROR" } else { "INFO" };
            writeln!(
                w,
                "[{old}] production.{level}: request {i} {}",
                "x".repeat(180)
            )
            .unwrap();
        }
        w.flush().unwrap();
    }
    let new_err = format!("[{}] production.ERROR: new after the upgrade", log_time(0));
    let new_crit = format!("[{}] production.CRITICAL: new too", log_time(0));
    append(
        &log,
        &format!(
            "[{}] production.INFO: upgrade done\n{new_err}\n#0 {{main}}\n{new_crit}\n",
            log_time(0)
        ),
    );
    assert!(std::fs::metadata(&log).unwrap().len() > 50 << 20);
    let r = run(
        "df-verify",
        args(&sb, &["--only", "logs", "--since", &rfc3339_in(-60)]),
    );
    r.assert_code(1);
    let c = check(&r, "logs");
    assert_eq!(c["count"], 2, "{}", r.stdout);
    assert_eq!(
        c["lines"],
        json!([
            {"file": "storage/logs/dreamfactory.log", "line": lines_old + 2, "level": "ERROR", "text": new_err},
            {"file": "storage/logs/dreamfactory.log", "line": lines_old + 4, "level": "CRITICAL", "text": new_crit},
        ])
    );
    // With --since before everything, every error of the file counts (the whole file read).
    let r = run(
        "df-verify",
        args(&sb, &["--only", "logs", "--since", &rfc3339_in(-3 * 3600)]),
    );
    assert_eq!(check(&r, "logs")["count"], lines_old / 1000 + 2);
}

#[test]
fn root_owned_files_fail_the_ownership_check_and_are_left_alone() {
    // storage/ owned by www-data, as the installer leaves it; root runs df-verify.
    let sb = Sandbox::with(
        "sqlite",
        None,
        &sandbox::Options {
            owner: Some("www-data:www-data".into()),
            ..Default::default()
        },
    );
    use std::os::unix::fs::MetadataExt;
    let r = run("df-verify", args(&sb, &["--only", "ownership"]));
    r.assert_ok();
    assert_eq!(check(&r, "ownership")["root_owned_count"], 0);

    // Left by someone's `sudo php artisan`: a cache file, a log directory with a file in
    // it, a compiled file in bootstrap/cache/, and a symlink to a root-owned file outside.
    let stray = sb.root.join("storage/framework/cache/root-owned");
    std::fs::write(&stray, "x").unwrap();
    let dir = sb.root.join("storage/logs/root-dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inner.log"), "x").unwrap();
    let boot = sb.root.join("bootstrap/cache");
    let boot_owned = std::fs::metadata(&boot).unwrap().uid() != 0;
    if boot_owned {
        std::fs::write(boot.join("root-services.php"), "<?php return [];").unwrap();
    }
    let outside = sb.tmp.path().join("outside-root-file");
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, sb.root.join("storage/app/link")).unwrap();
    let before: Vec<(PathBuf, u32, u32)> = [
        stray.clone(),
        dir.clone(),
        dir.join("inner.log"),
        outside.clone(),
    ]
    .into_iter()
    .map(|p| {
        let m = std::fs::metadata(&p).unwrap();
        (p, m.uid(), m.mode())
    })
    .collect();

    let r = run("df-verify", args(&sb, &["--only", "ownership"]));
    r.assert_code(1);
    let c = check(&r, "ownership");
    assert_eq!(c["status"], "fail");
    let expect = 4 + usize::from(boot_owned);
    assert_eq!(c["root_owned_count"], expect, "{}", r.stdout);
    let listed = c["root_owned"].to_string();
    for p in [
        "storage/framework/cache/root-owned",
        "storage/logs/root-dir",
        "storage/logs/root-dir/inner.log",
        "storage/app/link",
    ] {
        assert!(listed.contains(p), "{p} in {listed}");
    }
    let hint = c["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!(
            "df-perms --root {} --user www-data --group www-data",
            sb.root.display()
        )),
        "{hint}"
    );
    assert_eq!(r.json["changed"], false);
    // Only read: every owner and mode as before, inside the install and out.
    for (p, uid, mode) in before {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.mode()), (uid, mode), "{}", p.display());
    }
    assert_eq!(
        std::fs::symlink_metadata(sb.root.join("storage/app/link"))
            .unwrap()
            .uid(),
        0
    );
}
