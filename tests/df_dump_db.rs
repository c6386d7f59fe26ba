//! df-dump-db against real SQLite, MariaDB and PostgreSQL (throwaway servers started by
//! tests/support/servers.rs), plus stand-ins where nothing real can run (sqlcmd) or
//! where a failure must be provoked (a dump program that dies or never finishes).
//! Runs as root (the servers run as mysql/postgres).

mod support;
use serde_json::Value;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::bins::{self, Run};
use support::servers::{self, DbSpec};

/// Every character that breaks naive quoting: ' " # ; : \ $ and spaces.
const NASTY: &str = "p'w\"d #;:\\ $x y";
const NASTY2: &str = "q\\:'\"# ;$HOME z";

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// An install root whose .env holds `env`.
fn root_with_env(dir: &Path, env: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("storage/databases")).unwrap();
    std::fs::write(root.join(".env"), format!("APP_KEY=base64:xx\n{env}")).unwrap();
    root
}

/// A PATH directory of wrappers that log their argv (one word per line, then `--`)
/// to `log` and exec the real program.
fn argv_wrappers(dir: &Path, log: &Path) -> PathBuf {
    let w = dir.join("wrap");
    std::fs::create_dir_all(&w).unwrap();
    for p in [
        "mariadb-dump",
        "mysqldump",
        "mariadb",
        "mysql",
        "pg_dump",
        "psql",
        "sqlite3",
    ] {
        if let Ok(real) = which::which(p) {
            write_script(
                &w.join(p),
                &format!(
                    "#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" -- >> '{}'\nexec '{}' \"$@\"\n",
                    log.display(),
                    real.display()
                ),
            );
        }
    }
    w
}

fn write_script(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        dir.display()
    )
}

fn run(args: &[&str], path: Option<&str>) -> Run {
    let mut env = vec![];
    if let Some(p) = path {
        env.push(("PATH", p));
    }
    bins::run_env("df-dump-db", args, &env)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The decompressed bytes of a set's dump.
fn dump_text(set: &Path) -> String {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(set.join("db.meta.json")).unwrap()).unwrap();
    let p = set.join(meta["artifact"].as_str().unwrap());
    let f = std::fs::File::open(&p).unwrap();
    // Read as bytes: a MariaDB dump carries binary values raw (escaped, not hex), so it
    // need not be UTF-8; the text is decoded lossily for the assertions on its words.
    let mut out = Vec::new();
    match meta["compression"].as_str().unwrap() {
        "zstd" => zstd::Decoder::new(f)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap(),
        "gzip" => flate2::read::GzDecoder::new(f)
            .read_to_end(&mut out)
            .unwrap(),
        _ => std::fs::File::open(&p)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap(),
    };
    String::from_utf8_lossy(&out).into_owned()
}

fn meta(set: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(set.join("db.meta.json")).unwrap()).unwrap()
}

/// DreamFactory-style tables with awkward values, and a few hundred rows.
fn fill(db: &DbSpec) {
    match db.driver {
        "mysql" => db.sql(
            "CREATE TABLE `user` (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255), \
               email VARCHAR(255) UNIQUE, is_sys_admin TINYINT(1) DEFAULT 0, created_date TIMESTAMP NULL);\n\
             CREATE TABLE service (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64), config TEXT);\n\
             CREATE TABLE event_script (name VARCHAR(80) PRIMARY KEY, content MEDIUMTEXT, blobby VARBINARY(64));\n\
             CREATE TABLE system_config (db_version VARCHAR(32));\n\
             INSERT INTO `user` (name, email, is_sys_admin, created_date) VALUES \
               ('Admin', 'admin@example.com', 1, NOW()), ('O''Brien \\\\ \"x\"', 'ob@example.com', 0, NULL), \
               ('Zoë 日本', 'z@example.com', 0, NOW());\n\
             INSERT INTO service (name, config) SELECT CONCAT('svc', seq), CONCAT('{\"k\":', seq, ',\"s\":\"a;b\\\\nc\"}') FROM seq_1_to_500;\n\
             INSERT INTO event_script VALUES ('user.get.pre_process', 'line1\\nline2 -- not a comment;', 0x00FF10DEAD);\n\
             CREATE TRIGGER user_ai AFTER INSERT ON `user` FOR EACH ROW UPDATE system_config SET db_version = 'bumped';\n",
        ),
        _ => db.sql(
            "CREATE TABLE \"user\" (id SERIAL PRIMARY KEY, name VARCHAR(255), \
               email VARCHAR(255) UNIQUE, is_sys_admin BOOLEAN DEFAULT false, created_date TIMESTAMP NULL);\n\
             CREATE TABLE service (id SERIAL PRIMARY KEY, name VARCHAR(64), config TEXT);\n\
             CREATE TABLE event_script (name VARCHAR(80) PRIMARY KEY, content TEXT, blobby BYTEA);\n\
             CREATE TABLE system_config (db_version VARCHAR(32));\n\
             INSERT INTO \"user\" (name, email, is_sys_admin, created_date) VALUES \
               ('Admin', 'admin@example.com', true, now()), ('O''Brien \\ \"x\"', 'ob@example.com', false, NULL), \
               ('Zoë 日本', 'z@example.com', false, now());\n\
             INSERT INTO service (name, config) SELECT 'svc' || g, '{\"k\":' || g || ',\"s\":\"a;b\\nc\"}' FROM generate_series(1, 500) g;\n\
             INSERT INTO event_script VALUES ('user.get.pre_process', E'line1\\nline2 -- not a comment;', '\\x00ff10dead');\n",
        ),
    };
}

/// Row counts of the four tables, read with the harness's own client.
fn counts(db: &DbSpec) -> Vec<(String, u64)> {
    let q = match db.driver {
        "mysql" => "SELECT 'user', COUNT(*) FROM `user` UNION ALL SELECT 'service', COUNT(*) FROM service \
                    UNION ALL SELECT 'event_script', COUNT(*) FROM event_script UNION ALL SELECT 'system_config', COUNT(*) FROM system_config;",
        _ => "SELECT 'user', COUNT(*) FROM \"user\" UNION ALL SELECT 'service', COUNT(*) FROM service \
              UNION ALL SELECT 'event_script', COUNT(*) FROM event_script UNION ALL SELECT 'system_config', COUNT(*) FROM system_config;",
    };
    db.sql(q)
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.to_string(), b.trim().parse().unwrap())
        })
        .collect()
}

fn assert_counts_match_meta(db: &DbSpec, m: &Value) {
    let c = counts(db);
    assert_eq!(m["row_counts"].as_object().unwrap().len(), 4, "{m}");
    for (t, n) in c {
        assert_eq!(m["row_counts"][&t], n, "table {t} in {}", db.database);
    }
}

/// A full round trip on a real server: dump with the nasty password through argv-logging
/// wrappers, restore into a differently named database owned by another user, compare
/// rows and content, import the raw dump with the plain client, check no secret leaked.
fn round_trip(server: &servers::Server) {
    let t = tmp();
    let src = server.new_database("src", NASTY);
    fill(&src);
    let root = root_with_env(t.path(), &src.env_lines());
    let log = t.path().join("argv.log");
    let wrap = argv_wrappers(t.path(), &log);
    let path = path_with(&wrap);
    let set = t.path().join("set");

    let r = run(
        &["--root", s(&root), "dump", "--into", s(&set)],
        Some(&path),
    );
    r.assert_ok();
    assert!(r.changed());
    let m = meta(&set);
    assert_eq!(m["trailer_verified"], true);
    assert_eq!(m["driver"], src.driver);
    assert_eq!(m["database"], src.database.as_str());
    assert_eq!(m["row_counts"]["service"], 500);
    assert_eq!(m["row_counts"]["user"], 3);
    assert_eq!(r.data()["sha256"], m["sha256"]);
    let art = set.join("db.sql.zst");
    assert_eq!(
        std::fs::metadata(&art).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&art).unwrap().len(),
        m["bytes"].as_u64().unwrap()
    );
    let text = dump_text(&set);
    assert!(
        !text.contains(&format!("USE `{}`", src.database)),
        "no USE: imports under any name"
    );

    // Restore into a fresh database of another name, owned by another user.
    let dst = server.new_database("dst", NASTY2);
    let dst_env = t.path().join("dst.env");
    std::fs::write(&dst_env, dst.env_lines()).unwrap();
    let r = run(
        &[
            "--root",
            s(&root),
            "restore",
            "--from",
            s(&set),
            "--env",
            s(&dst_env),
        ],
        Some(&path),
    );
    r.assert_ok();
    assert_eq!(r.data()["mismatches"], serde_json::json!([]));
    assert_eq!(r.data()["tables_checked"], 4);
    assert_counts_match_meta(&dst, &m);
    let q = match server.driver {
        "mysql" => "SELECT name FROM `user` WHERE id = 2; SELECT HEX(blobby) FROM event_script;",
        _ => "SELECT name FROM \"user\" WHERE id = 2; SELECT encode(blobby, 'hex') FROM event_script;",
    };
    // mysql --batch escapes a backslash in its output; psql -A prints it raw.
    let want = match server.driver {
        "mysql" => "O'Brien \\\\ \"x\"\n00FF10DEAD\n",
        _ => "O'Brien \\ \"x\"\n00ff10dead\n",
    };
    assert_eq!(dst.sql(q), want, "content survives");

    // The plain client the guide uses imports the decompressed dump as it is.
    let plain = server.new_database("plain", "plainpw1");
    plain.sql(&text);
    assert_counts_match_meta(&plain, &m);

    // The password never reached an argv, stdout or stderr.
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(
        argv.contains(if server.driver == "mysql" {
            "mariadb-dump"
        } else {
            "pg_dump"
        }),
        "{argv}"
    );
    for pw in [NASTY, NASTY2, "#;:\\ $x", ";$HOME z"] {
        assert!(!argv.contains(pw), "password in argv: {argv}");
        assert!(!r.stdout.contains(pw) && !r.stderr.contains(pw));
    }
    if server.driver == "mysql" {
        for line in argv.split("--\n").filter(|l| !l.is_empty()) {
            let words: Vec<&str> = line.lines().collect();
            assert!(
                words[1].starts_with("--defaults-extra-file="),
                "--defaults-extra-file must be the first option: {words:?}"
            );
        }
    }

    // Verify needs no database.
    run(&["verify", "--from", s(&set)], None).assert_ok();
}

#[test]
fn mariadb_round_trip_with_nasty_password() {
    round_trip(servers::mariadb());
}

#[test]
fn postgres_round_trip_with_nasty_password() {
    round_trip(servers::postgres());
}

fn sqlite_root(dir: &Path) -> PathBuf {
    let root = root_with_env(dir, "DB_CONNECTION=sqlite\n");
    let db = root.join("storage/databases/database.sqlite");
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "PRAGMA journal_mode=WAL;\
             CREATE TABLE user (id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE, is_sys_admin INTEGER);\
             CREATE TABLE service (id INTEGER PRIMARY KEY, name TEXT, config TEXT);\
             CREATE TABLE event_script (name TEXT PRIMARY KEY, content TEXT, blobby BLOB);\
             INSERT INTO user (name, email, is_sys_admin) VALUES ('Admin','a@x',1),('O''Brien \\ \"x\"','b@x',0);\
             WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 300)\
               INSERT INTO service (name, config) SELECT 'svc'||n, '{\"k\":'||n||'}' FROM c;\
             INSERT INTO event_script VALUES ('user.get', 'a;\nb', x'00ff');",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

fn sqlite_count(db: &Path, table: &str) -> u64 {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(format!("SELECT COUNT(*) FROM \"{table}\";"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn sqlite_round_trip_every_compression() {
    let t = tmp();
    let root = sqlite_root(t.path());
    for (c, name) in [
        ("zstd", "db.sql.zst"),
        ("gzip", "db.sql.gz"),
        ("none", "db.sql"),
    ] {
        let set = t.path().join(format!("set-{c}"));
        let r = run(
            &[
                "--root",
                s(&root),
                "dump",
                "--into",
                s(&set),
                "--compress",
                c,
            ],
            None,
        );
        r.assert_ok();
        assert!(set.join(name).is_file(), "{c}");
        let m = meta(&set);
        assert_eq!(m["compression"], c);
        assert_eq!(m["row_counts"]["service"], 300);
        assert_eq!(m["row_counts"]["user"], 2);
        run(&["verify", "--from", s(&set)], None).assert_ok();
        let target = format!("restored-{c}.sqlite");
        let r = run(
            &[
                "--root",
                s(&root),
                "restore",
                "--from",
                s(&set),
                "--database",
                &target,
            ],
            None,
        );
        r.assert_ok();
        let restored = root.join("storage/databases").join(&target);
        for tb in ["user", "service", "event_script"] {
            assert_eq!(
                sqlite_count(&restored, tb),
                m["row_counts"][tb].as_u64().unwrap(),
                "{c} {tb}"
            );
        }
        // The guide's plain import works too.
        let plain = t.path().join(format!("plain-{c}.sqlite"));
        let mut child = Command::new("sqlite3")
            .arg("-bail")
            .arg(&plain)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dump_text(&set).as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(sqlite_count(&plain, "service"), 300);
    }
    // Nothing but artifacts and metas in a set: no temp files left behind.
    let names: Vec<String> = std::fs::read_dir(t.path().join("set-zstd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn restore_refuses_non_empty_target_without_replace() {
    // sqlite
    let t = tmp();
    let root = sqlite_root(t.path());
    let set = t.path().join("set");
    run(&["--root", s(&root), "dump", "--into", s(&set)], None).assert_ok();
    let db = root.join("storage/databases/database.sqlite");
    Command::new("sqlite3")
        .arg(&db)
        .arg("INSERT INTO user (name,email) VALUES ('new','n@x');")
        .status()
        .unwrap();
    let r = run(&["--root", s(&root), "restore", "--from", s(&set)], None);
    r.assert_code(73);
    assert_eq!(sqlite_count(&db, "user"), 3, "untouched");
    run(
        &[
            "--root",
            s(&root),
            "restore",
            "--from",
            s(&set),
            "--replace",
        ],
        None,
    )
    .assert_ok();
    assert_eq!(
        sqlite_count(&db, "user"),
        2,
        "replaced by the dump's content"
    );

    // mariadb and postgres
    for server in [servers::mariadb(), servers::postgres()] {
        let t = tmp();
        let db = server.new_database("repl", "replace-pw");
        fill(&db);
        let root = root_with_env(t.path(), &db.env_lines());
        let set = t.path().join("set");
        run(&["--root", s(&root), "dump", "--into", s(&set)], None).assert_ok();
        let extra = match server.driver {
            "mysql" => "INSERT INTO `user` (name, email) VALUES ('late', 'late@x'); CREATE TABLE stray (x INT);",
            _ => "INSERT INTO \"user\" (name, email) VALUES ('late', 'late@x'); CREATE TABLE stray (x INT);",
        };
        db.sql(extra);
        let r = run(&["--root", s(&root), "restore", "--from", s(&set)], None);
        r.assert_code(73);
        assert_eq!(
            counts(&db)[0].1,
            4,
            "{}: refused restore changed nothing",
            server.driver
        );
        let r = run(
            &[
                "--root",
                s(&root),
                "restore",
                "--from",
                s(&set),
                "--replace",
            ],
            None,
        );
        r.assert_ok();
        assert_counts_match_meta(&db, &meta(&set));
        let stray = db.sql(match server.driver {
            "mysql" => "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'stray';",
            _ => "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'stray';",
        });
        assert_eq!(
            stray.trim(),
            "0",
            "{}: --replace dropped the old tables",
            server.driver
        );
    }
}

#[test]
fn wrong_password_and_server_down() {
    for server in [servers::mariadb(), servers::postgres()] {
        let t = tmp();
        let db = server.new_database("wrongpw", NASTY);
        let mut bad = db.clone();
        bad.password = "not-the-password".into();
        let root = root_with_env(t.path(), &bad.env_lines());
        let set = t.path().join("set");
        let r = run(&["--root", s(&root), "dump", "--into", s(&set)], None);
        r.assert_code(78);
        let msg = r.json["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("{}@127.0.0.1:{}", db.username, db.port)),
            "{msg}"
        );
        assert!(r.json["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("DB_PASSWORD"));
        assert!(!set.join("db.sql.zst").exists());

        let mut down = db.clone();
        down.port = servers::free_port();
        std::fs::write(root.join(".env"), down.env_lines()).unwrap();
        let r = run(&["--root", s(&root), "dump", "--into", s(&set)], None);
        r.assert_code(69);
        assert!(r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach"));
        assert!(!set.join("db.sql.zst").exists());
        assert!(!r.stdout.contains(NASTY) && !r.stderr.contains(NASTY));
    }
}

#[test]
fn missing_env_is_66() {
    let t = tmp();
    let r = run(
        &[
            "--root",
            s(t.path()),
            "dump",
            "--into",
            s(&t.path().join("set")),
        ],
        None,
    );
    r.assert_code(66);
    assert!(!t.path().join("set").exists());
}

#[test]
fn verify_catches_truncation_and_corruption() {
    let t = tmp();
    let root = sqlite_root(t.path());
    let set = t.path().join("set");
    run(
        &[
            "--root",
            s(&root),
            "dump",
            "--into",
            s(&set),
            "--compress",
            "none",
        ],
        None,
    )
    .assert_ok();
    // Truncated: checksum no longer matches.
    let art = set.join("db.sql");
    let full = std::fs::read(&art).unwrap();
    std::fs::write(&art, &full[..full.len() / 2]).unwrap();
    let r = run(&["verify", "--from", s(&set)], None);
    r.assert_code(65);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sha256"));
    // Restore checks the sha256 before touching anything.
    let r = run(
        &[
            "--root",
            s(&root),
            "restore",
            "--from",
            s(&set),
            "--database",
            "x.sqlite",
        ],
        None,
    );
    r.assert_code(65);
    assert!(!root.join("storage/databases/x.sqlite").exists());
    // Truncated with a matching checksum (e.g. meta rewritten): the trailer is missing.
    let mut m = meta(&set);
    m["sha256"] = Value::String(sha256_hex(&full[..full.len() / 2]));
    std::fs::write(set.join("db.meta.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let r = run(&["verify", "--from", s(&set)], None);
    r.assert_code(65);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    // A corrupt zstd stream.
    let set2 = t.path().join("set2");
    run(&["--root", s(&root), "dump", "--into", s(&set2)], None).assert_ok();
    let art = set2.join("db.sql.zst");
    let mut bytes = std::fs::read(&art).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 7);
    std::fs::write(&art, &bytes).unwrap();
    let mut m = meta(&set2);
    m["sha256"] = Value::String(sha256_hex(&bytes));
    std::fs::write(set2.join("db.meta.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    run(&["verify", "--from", s(&set2)], None).assert_code(65);
    // A stream that does not decompress fails the restore and leaves no file behind.
    let r = run(
        &[
            "--root",
            s(&root),
            "restore",
            "--from",
            s(&set2),
            "--database",
            "y.sqlite",
        ],
        None,
    );
    assert!(!r.ok());
    assert!(!root.join("storage/databases/y.sqlite").exists());
    let left: Vec<_> = std::fs::read_dir(root.join("storage/databases"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("dfkit"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A mysql install whose dump program is a fake (the real client still answers ping).
fn fake_dump_setup(t: &Path, body: &str) -> (PathBuf, String, PathBuf) {
    let db = servers::mariadb().new_database("fake", "fakepw123");
    let root = root_with_env(t, &db.env_lines());
    let w = t.join("fake");
    std::fs::create_dir_all(&w).unwrap();
    for n in ["mariadb-dump", "mysqldump"] {
        write_script(&w.join(n), &format!("#!/bin/sh\n{body}\n"));
    }
    (root, path_with(&w), t.join("set"))
}

fn no_artifacts(set: &Path) {
    for a in ["db.sql.zst", "db.sql.gz", "db.sql", "db.meta.json"] {
        assert!(!set.join(a).exists(), "{a} must not exist");
    }
}

#[test]
fn failing_or_trailerless_dump_leaves_nothing() {
    for body in [
        "echo 'CREATE TABLE x (a int);'; echo 'mariadb-dump: Got error: 1146: Table x doesn\\'t exist' >&2; exit 2",
        "echo 'CREATE TABLE x (a int);'; echo 'INSERT INTO x VALUES (1);'; exit 0",
        "exit 0",
    ] {
        let t = tmp();
        let (root, path, set) = fake_dump_setup(t.path(), body);
        let r = run(&["--root", s(&root), "dump", "--into", s(&set)], Some(&path));
        assert!(!r.ok(), "{body}: {}", r.stdout);
        assert_eq!(r.code, 1, "{}", r.stdout);
        no_artifacts(&set);
        let left: Vec<_> = std::fs::read_dir(&set).unwrap().collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }
}

#[test]
fn kill_9_mid_dump_leaves_no_artifact() {
    let t = tmp();
    let (root, path, set) = fake_dump_setup(
        t.path(),
        "echo '-- MariaDB dump'; while :; do echo \"INSERT INTO x VALUES (1);\" || exit 1; sleep 0.05; done",
    );
    let mut child = Command::new(bins::bin("df-dump-db"))
        .args(["--root", s(&root), "dump", "--into", s(&set)])
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let tmp_seen = loop {
        let found = std::fs::read_dir(&set).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().contains("dfkit-tmp"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(t0.elapsed().as_secs() < 30, "dump never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let killed = child.id();
    child.wait().unwrap();
    no_artifacts(&set);
    let cred_dirs = || -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("dfkit-db-{killed}-"))
            })
            .collect()
    };
    assert_eq!(cred_dirs().len(), 1, "SIGKILL ran no destructor");
    assert!(
        tmp_seen.exists(),
        "the partial temp file is all that is left"
    );
    // The next run (real dump program) succeeds and clears the dead run's temp file.
    run(&["--root", s(&root), "dump", "--into", s(&set)], None).assert_ok();
    assert!(!tmp_seen.exists());
    assert!(set.join("db.sql.zst").is_file());
    assert!(
        cred_dirs().is_empty(),
        "the dead run's credential file was swept"
    );
}

#[test]
fn portable_strips_mariadb_sandbox_line() {
    let t = tmp();
    let db = servers::mariadb().new_database("portable", "portpw12");
    fill(&db);
    let root = root_with_env(t.path(), &db.env_lines());
    let set = t.path().join("set");
    run(&["--root", s(&root), "dump", "--into", s(&set)], None).assert_ok();
    let first_plain = dump_text(&set).lines().next().unwrap().to_string();
    let m = meta(&set);
    if first_plain.starts_with("/*M!999999") {
        assert_eq!(m["sandbox_line"], "present");
    }
    let set2 = t.path().join("set2");
    run(
        &["--root", s(&root), "dump", "--into", s(&set2), "--portable"],
        None,
    )
    .assert_ok();
    let text = dump_text(&set2);
    assert!(!text.starts_with("/*M!999999"), "{}", &text[..80]);
    assert!(text
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("-- Dump completed"));
    run(&["verify", "--from", s(&set2)], None).assert_ok();
}

#[test]
fn sqlsrv_uses_sqlcmd_with_password_in_env_only() {
    let t = tmp();
    let pw = "Sql$rv pa'ss;#";
    let root = root_with_env(
        t.path(),
        &format!(
            "DB_CONNECTION=sqlsrv\nDB_HOST=sql.example\nDB_PORT=1433\nDB_DATABASE=dfdb\nDB_USERNAME=sa\nDB_PASSWORD=\"{pw}\"\n"
        ),
    );
    let set = t.path().join("set");
    // Without sqlcmd: 69 naming what to install.
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = run(
        &["--root", s(&root), "dump", "--into", s(&set)],
        Some(&format!("{}:/usr/bin:/bin", empty.display())),
    );
    r.assert_code(69);
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("mssql-tools18"));
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sqlcmd"));

    // A stand-in sqlcmd records argv and environment and "writes" the backup.
    let w = t.path().join("w");
    std::fs::create_dir_all(&w).unwrap();
    let rec = t.path().join("rec");
    write_script(
        &w.join("sqlcmd"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{r}.argv'\nenv > '{r}.env'\n\
             for a; do q=$a; done\n\
             f=$(printf '%s' \"$q\" | sed -n \"s/.*TO DISK = N'\\([^']*\\)'.*/\\1/p\")\n\
             printf 'TAPE-BACKUP' > \"$f\"\n\
             echo 'BACKUP DATABASE successfully processed 400 pages in 0.1 seconds'\n",
            r = rec.display()
        ),
    );
    let r = run(
        &["--root", s(&root), "dump", "--into", s(&set)],
        Some(&path_with(&w)),
    );
    r.assert_ok();
    let argv: Vec<String> = std::fs::read_to_string(format!("{}.argv", rec.display()))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        argv[..9],
        [
            "-S",
            "tcp:sql.example,1433",
            "-U",
            "sa",
            "-d",
            "master",
            "-b",
            "-C",
            "-Q"
        ]
    );
    let q = &argv[9];
    let re = regex::Regex::new(&format!(
        r"^BACKUP DATABASE \[dfdb\] TO DISK = N'{}/\.db\.bak\.dfkit-tmp\.\d+\.0' WITH COPY_ONLY, INIT, CHECKSUM$",
        regex::escape(s(&set))
    ))
    .unwrap();
    assert!(re.is_match(q), "{q}");
    assert_eq!(argv.len(), 10);
    let env = std::fs::read_to_string(format!("{}.env", rec.display())).unwrap();
    assert!(
        env.lines().any(|l| l == format!("SQLCMDPASSWORD={pw}")),
        "{env}"
    );
    assert!(!argv.iter().any(|a| a.contains(pw)));
    assert!(!r.stdout.contains(pw) && !r.stderr.contains(pw));
    assert_eq!(std::fs::read(set.join("db.bak")).unwrap(), b"TAPE-BACKUP");
    assert_eq!(meta(&set)["sha256"], sha256_hex(b"TAPE-BACKUP"));
    run(&["verify", "--from", s(&set)], None).assert_ok();
}

#[test]
fn dry_run_changes_nothing() {
    let t = tmp();
    let root = sqlite_root(t.path());
    let set = t.path().join("set");
    let r = run(
        &["--root", s(&root), "--dry-run", "dump", "--into", s(&set)],
        None,
    );
    r.assert_ok();
    assert!(r.changed());
    // data.plan has the shared shape (a list of steps): the dump command first.
    assert_eq!(r.data()["plan"][0]["action"], "run");
    assert!(r.data()["plan"][0]["command"]
        .as_str()
        .unwrap()
        .contains("sqlite3"));
    assert!(!set.exists());
}

/// The real thing: a migrated, seeded DreamFactory-shaped install (scripts/make-sandbox.sh)
/// is dumped, restored into a fresh database of another name, and `php artisan migrate
/// --seed --force` against the restored database finds nothing to migrate.
fn sandbox_round_trip(driver: &'static str) {
    use support::sandbox::{Sandbox, SEEDED_SCRIPTS, SEEDED_SERVICES, SEEDED_USERS};
    let server = match driver {
        "mysql" => Some(servers::mariadb()),
        "pgsql" => Some(servers::postgres()),
        _ => None,
    };
    let src = server.map(|s| s.new_database("sbx", NASTY));
    let sb = Sandbox::new(driver, src.as_ref());
    let t = tmp();
    let set = t.path().join("set");
    let r = run(&["--root", s(&sb.root), "dump", "--into", s(&set)], None);
    r.assert_ok();
    let m = meta(&set);
    assert_eq!(m["row_counts"]["user"], SEEDED_USERS);
    assert_eq!(m["row_counts"]["service"], SEEDED_SERVICES);
    assert_eq!(m["row_counts"]["event_script"], SEEDED_SCRIPTS);
    assert!(m["row_counts"]["migrations"].as_u64().unwrap() >= 4);

    // A fresh database of another name (another user, for the servers).
    let (args, env): (Vec<String>, Vec<(String, String)>) = match server {
        Some(server) => {
            let dst = server.new_database("sbxdst", NASTY2);
            let f = t.path().join("dst.env");
            std::fs::write(&f, dst.env_lines()).unwrap();
            (
                vec!["--env".into(), s(&f).into()],
                vec![
                    ("DB_DATABASE".into(), dst.database.clone()),
                    ("DB_USERNAME".into(), dst.username.clone()),
                    ("DB_PASSWORD".into(), dst.password.clone()),
                ],
            )
        }
        None => {
            let p = sb.root.join("storage/databases/restored.sqlite");
            (
                vec!["--database".into(), "restored.sqlite".into()],
                vec![("DB_DATABASE".into(), s(&p).into())],
            )
        }
    };
    let mut a: Vec<&str> = vec!["--root", s(&sb.root), "restore", "--from", s(&set)];
    a.extend(args.iter().map(String::as_str));
    let r = run(&a, None);
    r.assert_ok();
    assert_eq!(r.data()["mismatches"], serde_json::json!([]));
    assert_eq!(
        r.data()["row_counts"],
        m["row_counts"],
        "every table's row count matches the meta"
    );

    // Laravel, pointed at the restored database, has nothing to migrate.
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = sb.artisan_env(&["migrate", "--seed", "--force"], &envs);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Nothing to migrate"), "{driver}: {text}");

    // Control: the same override aimed at an empty database does migrate, so the run
    // above really looked at the restored database (real env vars beat .env in Laravel).
    let control: Vec<(String, String)> = match server {
        Some(server) => {
            let e = server.new_database("sbxempty", "empty-pw-1");
            vec![
                ("DB_DATABASE".into(), e.database),
                ("DB_USERNAME".into(), e.username),
                ("DB_PASSWORD".into(), e.password),
            ]
        }
        None => {
            let p = sb.root.join("storage/databases/empty.sqlite");
            std::fs::write(&p, b"").unwrap();
            vec![("DB_DATABASE".into(), s(&p).into())]
        }
    };
    let envs: Vec<(&str, &str)> = control
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = sb.artisan_env(&["migrate", "--force"], &envs);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("Migrated:"),
        "{driver} control: {text}"
    );
}

#[test]
fn sandbox_sqlite_dump_restore_migrate() {
    sandbox_round_trip("sqlite");
}

#[test]
fn sandbox_mariadb_dump_restore_migrate() {
    sandbox_round_trip("mysql");
}

#[test]
fn sandbox_postgres_dump_restore_migrate() {
    sandbox_round_trip("pgsql");
}
