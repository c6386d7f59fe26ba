//! df-verify against real sandbox installs (real php artisan, sqlite3, `php -S`).
mod support;

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::bins::{run, run_env, Run};
use support::sandbox::Sandbox;

/// A fresh sqlite sandbox at v1 (DreamFactory 7.0.0), migrated and seeded.
fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-sandbox.sh");
    let out = Command::new(&script)
        .arg(tmp.path())
        .args(["--driver", "sqlite"])
        .env("SANDBOX_QUIET", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make-sandbox failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Sandbox {
        root: tmp.path().join("dreamfactory"),
        origin: tmp.path().join("origin.git"),
        driver: "sqlite",
        tmp,
    }
}

fn sqlite(sb: &Sandbox, sql: &str) -> String {
    let db = sb.root.join("storage/databases/database.sqlite");
    let out = Command::new("sqlite3").arg(&db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn count(sb: &Sandbox, table: &str) -> u64 {
    sqlite(sb, &format!("SELECT COUNT(*) FROM \"{table}\""))
        .parse()
        .unwrap()
}

const TABLES: [&str; 5] = ["user", "role", "service", "event_script", "migrations"];

fn env_value(sb: &Sandbox, key: &str) -> String {
    let text = std::fs::read_to_string(sb.root.join(".env")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap()
        .to_string()
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

/// A backup set holding the sandbox's current row counts and APP_KEY fingerprint, in the
/// documented meta formats (docs/json.md: db.meta.json `tables`, env.meta.json
/// `app_key_fingerprint`), dated `created_at`.
fn make_set(sb: &Sandbox, created_at: &str) -> PathBuf {
    let set = sb.tmp.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    let tables: serde_json::Map<String, Value> = TABLES
        .iter()
        .map(|t| (t.to_string(), json!(count(sb, t))))
        .collect();
    let db = json!({"driver": "sqlite", "created_at": created_at, "tables": tables});
    std::fs::write(set.join("db.meta.json"), db.to_string()).unwrap();
    let env = json!({
        "created_at": created_at,
        "app_key_fingerprint": fingerprint(&env_value(sb, "APP_KEY")),
    });
    std::fs::write(set.join("env.meta.json"), env.to_string()).unwrap();
    set
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `php -S 127.0.0.1:PORT -t DOCROOT`, killed (by its pid) on drop.
struct PhpServer {
    child: Child,
    url: String,
}

impl PhpServer {
    /// Serve `dir/public` when it exists (an install), else `dir`.
    fn start(dir: &Path) -> PhpServer {
        let port = free_port();
        let docroot = if dir.join("public").is_dir() {
            dir.join("public")
        } else {
            dir.to_path_buf()
        };
        let child = Command::new("php")
            .arg("-S")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-t")
            .arg(&docroot)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = PhpServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Readiness, not timing: wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "php -S never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.data()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {}", r.stdout))
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

fn root_arg(sb: &Sandbox) -> Vec<String> {
    vec!["--root".into(), sb.root.display().to_string()]
}

/// An RFC 3339 time `secs` seconds from now.
fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn log_time(secs_from_now: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs_from_now))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[test]
fn healthy_sandbox_passes_every_check() {
    let sb = sandbox();
    let set = make_set(&sb, &rfc3339_in(-60));
    let web = PhpServer::start(&sb.root);
    // An error from before the set does not count.
    std::fs::write(
        sb.root.join("storage/logs/dreamfactory.log"),
        format!(
            "[{}] local.ERROR: an old error, before the backup\n[{}] local.INFO: upgraded\n",
            log_time(-3600),
            log_time(0)
        ),
    )
    .unwrap();
    let env_before = std::fs::read(sb.root.join(".env")).unwrap();
    let rows_before: Vec<u64> = TABLES.iter().map(|t| count(&sb, t)).collect();

    let mut args = root_arg(&sb);
    args.extend([
        "--against".into(),
        set.display().to_string(),
        "--url".into(),
        format!("{}/status", web.url),
        "--expect-version".into(),
        "7.0.0".into(),
    ]);
    let r = run("df-verify", &args);
    r.assert_ok();
    let want: Vec<(String, String)> = [
        "env",
        "version",
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
    .collect();
    assert_eq!(statuses(&r), want, "{}", r.stdout);
    assert_eq!(r.data()["passed"], 9);
    assert_eq!(r.data()["failed"], 0);
    assert_eq!(r.json["changed"], false);
    assert_eq!(check(&r, "version")["version"], "7.0.0");
    assert!(check(&r, "artisan")["detail"]
        .as_str()
        .unwrap()
        .starts_with("Laravel Framework 8."));
    assert_eq!(check(&r, "http")["status_code"], 200);
    assert!(check(&r, "http")["detail"]
        .as_str()
        .unwrap()
        .contains("7.0.0"));
    assert_eq!(check(&r, "row_counts")["compared"], TABLES.len());
    let fp = fingerprint(&env_value(&sb, "APP_KEY"));
    assert_eq!(check(&r, "app_key")["have"], fp.as_str());
    assert_eq!(check(&r, "env")["app_key"], fp.as_str());
    assert_eq!(check(&r, "logs")["since_from"], "the set's time");
    assert_eq!(
        check(&r, "logs")["files"],
        json!(["storage/logs/dreamfactory.log"])
    );
    // The key itself never leaves; verifying changes nothing.
    let key = env_value(&sb, "APP_KEY");
    assert!(!r.stdout.contains(&key) && !r.stderr.contains(&key));
    assert_eq!(std::fs::read(sb.root.join(".env")).unwrap(), env_before);
    let rows_after: Vec<u64> = TABLES.iter().map(|t| count(&sb, t)).collect();
    assert_eq!(rows_after, rows_before);
}

#[test]
fn pending_migration_fails_naming_it() {
    let sb = sandbox();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&sb.root)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["fetch", "-q", "--tags", "origin"]);
    let added = git(&[
        "diff",
        "--name-only",
        "v1",
        "v2",
        "--",
        "database/migrations",
    ]);
    let added = added.trim();
    assert!(added.starts_with("database/migrations/"), "{added}");
    git(&["checkout", "v2", "--", added]);
    let migration = Path::new(added)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let r = run("df-verify", root_arg(&sb));
    r.assert_code(1);
    assert_eq!(r.error_kind(), "step_failed");
    let m = check(&r, "migrations");
    assert_eq!(m["status"], "fail");
    assert_eq!(m["pending"], json!([migration]));
    assert!(m["detail"].as_str().unwrap().contains(&migration));
    assert!(r.json["msg"].as_str().unwrap().contains(&migration));
    // Only that check failed: the others still ran and passed or skipped.
    for (name, status) in statuses(&r) {
        if name != "migrations" {
            assert_ne!(status, "fail", "{name}: {}", r.stdout);
        }
    }
    // Nothing was migrated.
    assert_eq!(
        sqlite(
            &sb,
            &format!("SELECT COUNT(*) FROM migrations WHERE migration = '{migration}'")
        ),
        "0"
    );
}

#[test]
fn fewer_rows_than_the_set_fails_naming_the_table() {
    let sb = sandbox();
    sqlite(
        &sb,
        "INSERT INTO service (name, label, type, is_active) VALUES ('extra', 'Extra', 'sql', 1)",
    );
    let set = make_set(&sb, &rfc3339_in(-60));
    let services = count(&sb, "service");
    assert!(services >= 2);
    let mut args = root_arg(&sb);
    args.extend([
        "--against".into(),
        set.display().to_string(),
        "--only".into(),
        "row_counts".into(),
    ]);
    run("df-verify", &args).assert_ok();

    sqlite(&sb, "DELETE FROM service WHERE name = 'extra'");
    let r = run("df-verify", &args);
    r.assert_code(1);
    let c = check(&r, "row_counts");
    assert_eq!(c["status"], "fail");
    assert_eq!(
        c["detail"],
        format!("service: have {}, want {services}", services - 1)
    );
    assert_eq!(
        c["mismatched"],
        json!([{"table": "service", "have": services - 1, "want": services}])
    );

    // More rows than the set: fine for an upgrade, a failure with --exact (a migration).
    sqlite(
        &sb,
        "INSERT INTO service (name, label, type, is_active) VALUES ('x1', 'X', 'sql', 1), ('x2', 'X', 'sql', 1)",
    );
    run("df-verify", &args).assert_ok();
    let mut exact = args.clone();
    exact.push("--exact".into());
    let r = run("df-verify", &exact);
    r.assert_code(1);
    assert_eq!(
        check(&r, "row_counts")["detail"],
        format!("service: have {}, want {services}", services + 1)
    );
}

#[test]
fn different_app_key_fails_with_both_fingerprints() {
    let sb = sandbox();
    let set = make_set(&sb, &rfc3339_in(-60));
    let old = env_value(&sb, "APP_KEY");
    let new = "base64:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let env = std::fs::read_to_string(sb.root.join(".env")).unwrap();
    std::fs::write(
        sb.root.join(".env"),
        env.replace(&format!("APP_KEY={old}"), &format!("APP_KEY={new}")),
    )
    .unwrap();

    let mut args = root_arg(&sb);
    args.extend(["--against".into(), set.display().to_string()]);
    let r = run("df-verify", &args);
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
    // The new key is well-formed: env passes; neither key is ever printed.
    assert_eq!(check(&r, "env")["status"], "pass");
    for k in [new, old.as_str()] {
        assert!(!r.stdout.contains(k) && !r.stderr.contains(k));
    }
}

#[test]
fn malformed_app_key_fails_env() {
    let sb = sandbox();
    let old = env_value(&sb, "APP_KEY");
    let env = std::fs::read_to_string(sb.root.join(".env")).unwrap();
    std::fs::write(
        sb.root.join(".env"),
        env.replace(&format!("APP_KEY={old}"), "APP_KEY=base64:c2hvcnQ="),
    )
    .unwrap();
    let mut args = root_arg(&sb);
    args.extend(["--only".into(), "env".into()]);
    let r = run("df-verify", &args);
    r.assert_code(1);
    let c = check(&r, "env");
    assert!(
        c["detail"].as_str().unwrap().contains("decodes to 5 bytes"),
        "{}",
        r.stdout
    );
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
    std::fs::write(
        &log,
        format!(
            "[{}] local.ERROR: before --since\n#0 /x.php(1): y()\n[{}] local.WARNING: a warning\n{new_line}\n#0 {{main}}\n",
            log_time(-3600),
            log_time(0)
        ),
    )
    .unwrap();
    // Another log, with a CRITICAL line, in a daily file.
    let daily = sb.root.join("storage/logs/dreamfactory-2026-11-25.log");
    let crit = format!("[{}] local.CRITICAL: disk full", log_time(0));
    std::fs::write(&daily, format!("{crit}\n")).unwrap();

    let mut args = root_arg(&sb);
    args.extend(["--since".into(), since.clone()]);
    let r = run("df-verify", &args);
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
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("storage/logs/dreamfactory.log:4: {new_line}")),
        "{detail}"
    );
    assert!(!detail.contains("before --since"));
    assert_eq!(c["since_from"], "--since");
    // The other checks are unaffected.
    assert_eq!(r.data()["failed"], 1);
}

#[test]
fn dead_url_fails_naming_it() {
    let sb = sandbox();
    let url = format!("http://127.0.0.1:{}/status", free_port());
    let mut args = root_arg(&sb);
    args.extend(["--only".into(), "http".into(), "--url".into(), url.clone()]);
    let r = run("df-verify", &args);
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
    let web = PhpServer::start(&sb.root);
    let mut args = root_arg(&sb);
    args.extend([
        "--only".into(),
        "version".into(),
        "--only".into(),
        "http".into(),
        "--url".into(),
        format!("{}/status", web.url),
        "--expect-version".into(),
        "7.1.0".into(),
    ]);
    let r = run("df-verify", &args);
    r.assert_code(1);
    assert_eq!(
        check(&r, "version")["detail"],
        "config/app.php says 7.0.0, expected 7.1.0"
    );
    assert_eq!(check(&r, "http")["status"], "pass", "{}", r.stdout);

    // A page that answers 404 fails, naming the URL and the code.
    let url = format!("{}/no-such-page", web.url);
    let mut args = root_arg(&sb);
    args.extend(["--only".into(), "http".into(), "--url".into(), url.clone()]);
    let r = run("df-verify", &args);
    r.assert_code(1);
    assert_eq!(check(&r, "http")["status_code"], 404);
    assert!(check(&r, "http")["detail"]
        .as_str()
        .unwrap()
        .starts_with(&format!("GET {url} answered 404")));

    // A /status answered by something else (another install, stale code) fails.
    let other = sb.tmp.path().join("other");
    std::fs::create_dir_all(other.join("status")).unwrap();
    std::fs::write(
        other.join("status/index.php"),
        r#"<?php header('Content-Type: application/json'); echo '{"platform":{"version":"6.9.0"}}';"#,
    )
    .unwrap();
    let stale = PhpServer::start(&other);
    let url = format!("{}/status", stale.url);
    let mut args = root_arg(&sb);
    args.extend(["--only".into(), "http".into(), "--url".into(), url.clone()]);
    let r = run("df-verify", &args);
    r.assert_code(1);
    let d = check(&r, "http")["detail"].as_str().unwrap().to_string();
    assert!(
        d.starts_with(&format!("GET {url} answered 200 without version 7.0.0")),
        "{d}"
    );
}

#[test]
fn checks_that_cannot_run_skip_with_a_reason() {
    let sb = sandbox();
    // A PATH without php (but with sqlite3 for the database check).
    let bin = sb.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(which("sqlite3"), bin.join("sqlite3")).unwrap();
    let r = run_env(
        "df-verify",
        root_arg(&sb),
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
    let mut args = root_arg(&sb);
    args.extend([
        "--against".into(),
        set.display().to_string(),
        "--only".into(),
        "row_counts".into(),
        "--only".into(),
        "app_key".into(),
    ]);
    let r = run("df-verify", &args);
    r.assert_ok();
    assert!(check(&r, "row_counts")["detail"]
        .as_str()
        .unwrap()
        .contains("no database dump"));
    assert!(check(&r, "app_key")["detail"]
        .as_str()
        .unwrap()
        .contains("no .env backup"));
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
    let mut args = root_arg(&sb);
    args.extend([
        "--skip".into(),
        "artisan".into(),
        "--skip".into(),
        "migrations".into(),
    ]);
    let r = run("df-verify", &args);
    r.assert_ok();
    let names: Vec<String> = statuses(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "env",
            "version",
            "database",
            "row_counts",
            "app_key",
            "http",
            "logs"
        ]
    );

    let mut args = root_arg(&sb);
    args.push("--dry-run".into());
    let r = run("df-verify", &args);
    r.assert_ok();
    assert_eq!(r.json["dry_run"], true);
    assert_eq!(r.json["changed"], false);
    assert_eq!(r.data()["plan"].as_array().unwrap().len(), 9);
    assert!(r.data().get("checks").is_none());

    let mut args = root_arg(&sb);
    args.extend(["--only".into(), "bogus".into()]);
    let r = run("df-verify", &args);
    r.assert_code(64);
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("row_counts"));

    let r = run("df-verify", ["--since", "yesterday"]);
    r.assert_code(64);
    let mut args = root_arg(&sb);
    args.extend(["--url".into(), "https://example.invalid/status".into()]);
    run("df-verify", &args).assert_code(64);

    let mut args = root_arg(&sb);
    args.extend(["--against".into(), "/nonexistent/set".into()]);
    run("df-verify", &args).assert_code(66);

    run("df-verify", ["--root", "/nonexistent/df"]).assert_code(66);
}

#[test]
fn artisan_runs_as_the_storage_owner() {
    // storage/ owned by www-data, as the installer leaves it; root runs df-verify.
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-sandbox.sh");
    let out = Command::new(&script)
        .arg(tmp.path())
        .args(["--driver", "sqlite", "--owner", "www-data:www-data"])
        .env("SANDBOX_QUIET", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = tmp.path().join("dreamfactory");
    // A missing database makes `migrate:status` fail, and Laravel log the exception.
    let db = root.join("storage/databases/database.sqlite");
    std::fs::rename(&db, tmp.path().join("db.bak")).unwrap();
    let log = root.join("storage/logs/dreamfactory.log");
    assert!(!log.exists());
    let r = run(
        "df-verify",
        ["--root", root.to_str().unwrap(), "--only", "migrations"],
    );
    r.assert_code(1);
    let d = check(&r, "migrations")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(d.contains("does not exist"), "{d}");
    assert!(!d.contains('\n'));
    // The log Laravel wrote belongs to www-data, not root: the site keeps working.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&log).expect("Laravel logged the failure");
    let www = nix::unistd::User::from_name("www-data").unwrap().unwrap();
    assert_eq!(md.uid(), www.uid.as_raw());
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("local.ERROR: Database"));
}
