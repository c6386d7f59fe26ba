//! A dump taken while a client keeps inserting rows restores with exit 0 on every
//! driver: the row counts in db.meta.json describe the very snapshot dumped (sqlite in
//! WAL mode, MariaDB, PostgreSQL), so `restore`'s count check passes. Also PostgreSQL
//! table inheritance (a parent's own rows) and a sqlite table whose name holds a newline.
//! Runs as root (the test servers run as mysql/postgres).

mod support;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::bins::{self, Run};
use support::servers;

/// Rows in the table before the writer starts (enough for the dump to take a moment).
const BASE_ROWS: u64 = 60_000;
/// Rows the writer may insert, one autocommitted statement each: far more than it can
/// write while a dump runs however fast the machine is, so it is surely still writing
/// when the dump ends; the test then stops it (and it is bounded even if nobody does).
const WRITES: usize = 200_000;

fn dfdump(args: &[&str]) -> Run {
    bins::run("df-dump-db", args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn root_with_env(dir: &Path, env: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("storage/databases")).unwrap();
    std::fs::write(root.join(".env"), format!("APP_KEY=base64:xx\n{env}")).unwrap();
    root
}

/// A background client inserting WRITES rows; killed if the test ends first.
struct Writer(Child);

impl Writer {
    fn start(mut c: Command, script: String, dir: &Path) -> Writer {
        let f = dir.join("writer.sql");
        std::fs::write(&f, script).unwrap();
        c.stdin(std::fs::File::open(&f).unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Writer(c.spawn().expect("writer client"))
    }
    /// Stop the writer (Drop kills and reaps it).
    fn stop(self) {}
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn inserts(stmt: &str) -> String {
    let mut s = String::new();
    for _ in 0..WRITES {
        s.push_str(stmt);
        s.push('\n');
    }
    s
}

/// Poll `count` until it passes `above` (the writer is running).
fn wait_until_above(count: impl Fn() -> u64, above: u64) {
    let t0 = Instant::now();
    while count() <= above {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the writer never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn meta(set: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(set.join("db.meta.json")).unwrap()).unwrap()
}

fn server_case(server: &'static servers::Server) {
    let t = tempfile::tempdir().unwrap();
    let db = server.new_database("live", "live-pw");
    let (setup, insert) = match server.driver {
        "mysql" => (
            format!(
                "CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200));\n\
                 INSERT INTO log (v) SELECT REPEAT('x', 150) FROM seq_1_to_{BASE_ROWS};\n\
                 CREATE TABLE quiet (id INT);"
            ),
            "INSERT INTO log (v) VALUES (REPEAT('w', 150));",
        ),
        _ => (
            format!(
                "CREATE TABLE log (id SERIAL PRIMARY KEY, v VARCHAR(200));\n\
                 INSERT INTO log (v) SELECT repeat('x', 150) FROM generate_series(1, {BASE_ROWS});\n\
                 CREATE TABLE quiet (id INT);\n\
                 CREATE TABLE parent (id INT, v TEXT);\n\
                 CREATE TABLE child (extra INT) INHERITS (parent);\n\
                 INSERT INTO parent VALUES (1, 'p'), (2, 'p');\n\
                 INSERT INTO child VALUES (3, 'c', 0), (4, 'c', 0), (5, 'c', 0);"
            ),
            "INSERT INTO log (v) VALUES (repeat('w', 150));",
        ),
    };
    db.sql(&setup);
    let root = root_with_env(t.path(), &db.env_lines());
    let count = || -> u64 { db.sql("SELECT COUNT(*) FROM log;").trim().parse().unwrap() };
    let client = match server.driver {
        "mysql" => {
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
                .arg(&db.database)
                .env("MYSQL_PWD", &db.password);
            c
        }
        _ => {
            let mut c = Command::new("psql");
            c.args(["-X", "-q", "-h", &db.host, "-p", &db.port.to_string()])
                .args(["-U", &db.username, "-d", &db.database])
                .env("PGPASSWORD", &db.password);
            c
        }
    };
    let writer = Writer::start(client, inserts(insert), t.path());
    wait_until_above(count, BASE_ROWS);
    let set = t.path().join("set");
    let r = dfdump(&["--root", s(&root), "dump", "--into", s(&set)]);
    r.assert_ok();
    let during = count();
    writer.stop();
    let m = meta(&set);
    let dumped = m["row_counts"]["log"].as_u64().unwrap();
    assert!(dumped > BASE_ROWS, "the writer was running: {dumped}");
    assert!(
        during < BASE_ROWS + WRITES as u64,
        "the writer was still running after the dump ({during}); make the dump bigger"
    );
    assert_eq!(m["row_counts"]["quiet"], 0, "{m}");
    assert_eq!(m["row_counts_source"], "dump");

    // Restore into a fresh database: the count check inside restore passes (exit 0).
    let dst = server.new_database("live_dst", "dst-pw");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = dfdump(&[
        "--root",
        s(&root),
        "restore",
        "--from",
        s(&set),
        "--env",
        s(&env),
    ]);
    r.assert_ok();
    assert_eq!(r.data()["mismatches"], serde_json::json!([]));
    let restored: u64 = dst.sql("SELECT COUNT(*) FROM log;").trim().parse().unwrap();
    assert_eq!(restored, dumped, "the meta describes the rows in the dump");
    if server.driver == "pgsql" {
        assert_eq!(m["row_counts"]["parent"], 2, "a parent's own rows: {m}");
        assert_eq!(m["row_counts"]["child"], 3);
        assert_eq!(dst.sql("SELECT COUNT(*) FROM parent;").trim(), "5");
    }
}

#[test]
fn mariadb_dump_under_a_live_writer_restores() {
    server_case(servers::mariadb());
}

#[test]
fn postgres_dump_under_a_live_writer_restores() {
    server_case(servers::postgres());
}

#[test]
fn sqlite_wal_dump_under_a_live_writer_restores() {
    let t = tempfile::tempdir().unwrap();
    let root = root_with_env(t.path(), "DB_CONNECTION=sqlite\n");
    let db = root.join("storage/databases/database.sqlite");
    let sql = |q: &str| -> String {
        let out = Command::new("sqlite3")
            .args(["-cmd", ".timeout 20000"])
            .arg(&db)
            .arg(q)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    sql(&format!(
        "PRAGMA journal_mode=WAL;\
         CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT);\
         CREATE TABLE \"odd\nname\" (id INTEGER);\
         INSERT INTO \"odd\nname\" VALUES (1), (2);\
         CREATE TABLE quiet (id INTEGER);\
         WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < {BASE_ROWS})\
           INSERT INTO log (v) SELECT printf('%.150c', 'x') FROM c;"
    ));
    let count = || -> u64 { sql("SELECT COUNT(*) FROM log;").trim().parse().unwrap() };
    // One short transaction per client, as web requests write: between them the dump's
    // BEGIN IMMEDIATE gets its turn (a client inserting back to back in one session
    // would starve it, and the dump would rightly exit 75).
    let writer = Writer::start(
        Command::new("sh"),
        format!(
            "i=0\nwhile [ $i -lt {WRITES} ]; do\n  sqlite3 -cmd '.timeout 20000' '{}' \
             \"INSERT INTO log (v) VALUES (printf('%.150c', 'w'));\" || exit 1\n  \
             i=$((i + 1))\ndone\n",
            db.display()
        ),
        t.path(),
    );
    wait_until_above(count, BASE_ROWS);
    let set = t.path().join("set");
    let r = dfdump(&["--root", s(&root), "dump", "--into", s(&set)]);
    r.assert_ok();
    let during = count();
    writer.stop();
    let m = meta(&set);
    let dumped = m["row_counts"]["log"].as_u64().unwrap();
    assert!(dumped > BASE_ROWS, "the writer was running: {dumped}");
    assert!(
        during < BASE_ROWS + WRITES as u64,
        "writer done too early ({during})"
    );
    assert_eq!(m["row_counts"]["odd\nname"], 2, "{m}");
    assert_eq!(m["row_counts"]["quiet"], 0);
    // No sqlite script or counts file left anywhere we wrote.
    let left: Vec<_> = std::fs::read_dir(&set)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let r = dfdump(&[
        "--root",
        s(&root),
        "restore",
        "--from",
        s(&set),
        "--database",
        "restored.sqlite",
    ]);
    r.assert_ok();
    let restored = root.join("storage/databases/restored.sqlite");
    let out = Command::new("sqlite3")
        .arg(&restored)
        .arg("SELECT COUNT(*) FROM log; SELECT COUNT(*) FROM \"odd\nname\";")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{dumped}\n2\n"),
        "the meta describes the rows in the dump"
    );
}
