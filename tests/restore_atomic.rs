//! A `df-dump-db restore --replace` killed (SIGKILL or SIGTERM) at a random moment leaves
//! the target exactly as it was before, or, when the kill came after the commit, exactly
//! as the dump describes — never anything in between. Compared by a full dump of the
//! target (mariadb-dump / pg_dump / sqlite3 .dump), normalised for comments.
//! Runs as root (the servers run as mysql/postgres).

mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bins;
use support::servers::{self, DbSpec};

/// Kills per signal and driver.
const KILLS: usize = 10;
/// Tables in the dump: enough for a restore of about a second (MariaDB creates tables
/// far more slowly, so it gets fewer).
fn tables_for(driver: &str) -> usize {
    if driver == "mysql" {
        25
    } else {
        120
    }
}
const ROWS: usize = 300;

/// A tiny deterministic generator (seed printed so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Lcg {
        let seed = std::env::var("DFKIT_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("kill seed: DFKIT_KILL_SEED={seed}");
        Lcg(seed)
    }
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a target may look like: one of the whole states, never a mix.
fn normalise(dump: &str) -> String {
    dump.lines()
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("--")
                && !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A full dump of a server database with its own user's credentials.
fn full_dump(db: &DbSpec) -> String {
    let mut c = match db.driver {
        "mysql" => {
            let mut c = Command::new(which::which("mariadb-dump").unwrap());
            c.arg("--no-defaults")
                .args([
                    "-h",
                    &db.host,
                    "-P",
                    &db.port.to_string(),
                    "-u",
                    &db.username,
                ])
                .args([
                    "--skip-dump-date",
                    "--skip-comments",
                    "--no-tablespaces",
                    "--routines",
                    "--triggers",
                    "--events",
                    "--hex-blob",
                    "--skip-extended-insert",
                ])
                .arg(&db.database)
                .env("MYSQL_PWD", &db.password);
            c
        }
        _ => {
            let mut c = Command::new("pg_dump");
            c.args([
                "-h",
                &db.host,
                "-p",
                &db.port.to_string(),
                "-U",
                &db.username,
            ])
            .args(["--no-owner", "--no-privileges"])
            .arg(&db.database)
            .env("PGPASSWORD", &db.password)
            .env_remove("PGPASSFILE");
            c
        }
    };
    let out = c.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "full dump of {}: {}",
        db.database,
        String::from_utf8_lossy(&out.stderr)
    );
    normalise(&String::from_utf8_lossy(&out.stdout))
}

fn sqlite_dump(file: &Path) -> String {
    // A reader waits for locks as an application would: a killed restore's sqlite3 child
    // (a SIGKILL cannot take it along) may still be finishing its checkpoint of the old
    // file, which locks it for a moment but changes nothing in it.
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000"])
        .arg(file)
        .arg(".dump")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    normalise(&String::from_utf8_lossy(&out.stdout))
}

fn sqlite_exec(file: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(file)
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The big source: TABLES tables of ROWS rows each; on MariaDB also one table of ~3 MB,
/// several INSERT statements, which a restore loads over several connections.
fn source_sql(driver: &str) -> String {
    let mut sql = String::new();
    if driver == "mysql" {
        sql.push_str(
            "CREATE TABLE big (id INT PRIMARY KEY, payload VARCHAR(1100));\n\
             INSERT INTO big SELECT seq, REPEAT(MD5(seq), 32) FROM seq_1_to_3000;\n",
        );
    }
    for i in 1..=tables_for(driver) {
        match driver {
            "mysql" => sql.push_str(&format!(
                "CREATE TABLE t{i} (id INT PRIMARY KEY, name VARCHAR(64), payload TEXT{fk});\n\
                 INSERT INTO t{i} SELECT seq, CONCAT('name', seq), REPEAT(MD5(seq), 3) FROM seq_1_to_{ROWS};\n",
                fk = if i > 1 { ", FOREIGN KEY (id) REFERENCES t1 (id)" } else { "" }
            )),
            "pgsql" => sql.push_str(&format!(
                "CREATE TABLE t{i} (id INT PRIMARY KEY, name VARCHAR(64), payload TEXT);\n\
                 INSERT INTO t{i} SELECT g, 'name' || g, repeat(md5(g::text), 3) FROM generate_series(1, {ROWS}) g;\n"
            )),
            _ => sql.push_str(&format!(
                "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT, payload TEXT);\n\
                 WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {ROWS}) \
                 INSERT INTO t{i} SELECT n, 'name' || n, hex(randomblob(48)) FROM c;\n"
            )),
        }
    }
    sql
}

/// The target's own, different content (one table shares a name with the dump's).
fn old_sql(driver: &str) -> String {
    let fill = match driver {
        "mysql" => "INSERT INTO keepme SELECT seq, CONCAT('old', seq) FROM seq_1_to_50;",
        "pgsql" => "INSERT INTO keepme SELECT g, 'old' || g FROM generate_series(1, 50) g;",
        _ => {
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50) \
              INSERT INTO keepme SELECT n, 'old' || n FROM c;"
        }
    };
    format!(
        "CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(32));\n\
         CREATE TABLE keepme (n INT PRIMARY KEY, label VARCHAR(32));\n\
         {fill}\n\
         INSERT INTO t1 VALUES (1, 'old row');\n"
    )
}

fn root_with_env(dir: &Path, env: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("storage/databases")).unwrap();
    std::fs::write(root.join(".env"), format!("APP_KEY=base64:xx\n{env}")).unwrap();
    root
}

/// Start a restore, return the child (stdout/stderr discarded).
fn spawn_restore(root: &Path, set: &Path, extra: &[&str]) -> std::process::Child {
    let mut c = Command::new(bins::bin("df-dump-db"));
    c.arg("--root")
        .arg(root)
        .args(["--quiet", "restore", "--from"])
        .arg(set)
        .arg("--replace")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().unwrap()
}

/// A completed restore: how long it took and its `data.import_connections`.
fn restore_ok(root: &Path, set: &Path, extra: &[&str]) -> (Duration, u64) {
    let t0 = Instant::now();
    let mut args = vec!["--root", root.to_str().unwrap(), "restore", "--from"];
    args.push(set.to_str().unwrap());
    args.push("--replace");
    args.extend_from_slice(extra);
    let r = bins::run("df-dump-db", &args);
    r.assert_ok();
    let connections = r.data()["import_connections"].as_u64().unwrap_or(0);
    (t0.elapsed(), connections)
}

/// Wait until no other session of this database's user is connected (the killed
/// tool's client has finished and its transaction is over).
fn wait_quiet(db: &DbSpec) {
    let q = match db.driver {
        "mysql" => "SELECT COUNT(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND user = SUBSTRING_INDEX(CURRENT_USER(), '@', 1);",
        _ => "SELECT COUNT(*) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid();",
    };
    let t0 = Instant::now();
    while db.sql(q).trim() != "0" {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the killed restore's client never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &mut std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; it is not reaped yet, so the pid is ours.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let _ = child.wait();
}

/// Put the target's old content back.
fn reset(target: &DbSpec) {
    let sql = match target.driver {
        "mysql" => {
            let names = target.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE();",
            );
            let mut sql = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
            for n in names.lines() {
                sql.push_str(&format!("DROP TABLE `{n}`;\n"));
            }
            sql
        }
        _ => "DO $$ DECLARE r record; BEGIN FOR r IN SELECT tablename FROM pg_tables \
              WHERE schemaname = 'public' LOOP EXECUTE format('DROP TABLE public.%I CASCADE', r.tablename); \
              END LOOP; END $$;"
            .to_string(),
    };
    target.sql(&sql);
    target.sql(&old_sql(target.driver));
}

/// How many kills left the old state and how many the new one.
#[derive(Default, Debug)]
struct Tally {
    old: usize,
    old_by_term: usize,
    new: usize,
}

impl Tally {
    /// At least 2×KILLS kills, KILLS of them before the commit, both signals among those.
    fn done(&self) -> bool {
        self.old + self.new >= 2 * KILLS
            && self.old >= KILLS
            && self.old_by_term >= 3
            && self.old - self.old_by_term >= 3
    }
}

fn server_kills(server: &servers::Server) {
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("ksrc", "kill-src-pw");
    src.sql(&source_sql(server.driver));
    let src_root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    bins::run(
        "df-dump-db",
        [
            "--root",
            src_root.to_str().unwrap(),
            "dump",
            "--into",
            set.to_str().unwrap(),
        ],
    )
    .assert_ok();

    let target = server.new_database("ktgt", "kill-tgt-pw");
    if server.driver == "mysql" {
        // The scratch databases of an all-or-nothing replace (see docs/json.md).
        server.grant_scratch(&target);
    }
    target.sql(&old_sql(server.driver));
    let old_state = full_dump(&target);
    let tgt_dir = tempfile::tempdir().unwrap();
    let root = root_with_env(tgt_dir.path(), &target.env_lines());
    // The state a completed restore gives, and how long one takes. MariaDB loads `big`
    // over two connections, so kills also land while they run side by side.
    let jobs: &[&str] = if server.driver == "mysql" {
        &["--jobs", "2"]
    } else {
        &[]
    };
    let (took, connections) = restore_ok(&root, &set, jobs);
    if server.driver == "mysql" {
        assert_eq!(connections, 2, "big was not loaded over two connections");
    }
    let new_state = full_dump(&target);
    eprintln!("{}: one restore takes {took:?}", server.driver);
    assert_ne!(old_state, new_state);
    reset(&target);
    assert_eq!(full_dump(&target), old_state);

    let mut rng = Lcg::seeded();
    let mut tally = Tally::default();
    // Shrunk when a kill came after the commit: a loaded machine makes runs vary.
    let mut scale = 1.0;
    for i in 0..4 * KILLS {
        if tally.done() {
            break;
        }
        let sig = [libc::SIGKILL, libc::SIGTERM][i % 2];
        let delay = took.mul_f64(scale * (0.02 + rng.next() * 0.9));
        let mut child = spawn_restore(&root, &set, jobs);
        std::thread::sleep(delay);
        signal(&mut child, sig);
        wait_quiet(&target);
        let now = full_dump(&target);
        if now == old_state {
            tally.old += 1;
            tally.old_by_term += usize::from(sig == libc::SIGTERM);
        } else if now == new_state {
            // The kill came after the commit: put the old content back for the next round.
            tally.new += 1;
            scale *= 0.8;
            reset(&target);
            assert_eq!(full_dump(&target), old_state);
        } else {
            panic!(
                "{} kill #{i} (signal {sig}, after {delay:?}) left the target half-restored:\n{}",
                server.driver,
                first_difference(&old_state, &now)
            );
        }
    }
    eprintln!("{}: {tally:?}", server.driver);
    assert!(
        tally.done(),
        "{}: too few kills landed before the commit to prove anything: {tally:?}",
        server.driver
    );
    // An uninterrupted run afterwards works, and sweeps what the killed ones left.
    restore_ok(&root, &set, jobs);
    assert_eq!(full_dump(&target), new_state);
    if server.driver == "mysql" {
        let left = target.sql(&format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}%';",
            format!("{}_dfkit_", target.database).replace('_', "\\_")
        ));
        assert_eq!(left.trim(), "", "scratch databases left behind");
    }
}

fn first_difference(a: &str, b: &str) -> String {
    for (n, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {n}: before {x:?}\n        now {y:?}");
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn postgres_restore_killed_at_random_moments_is_all_or_nothing() {
    server_kills(servers::postgres());
}

#[test]
fn mariadb_restore_killed_at_random_moments_is_all_or_nothing() {
    server_kills(servers::mariadb());
}

#[test]
fn sqlite_restore_killed_at_random_moments_is_all_or_nothing() {
    let t = tempfile::tempdir().unwrap();
    let src_root = root_with_env(t.path(), "DB_CONNECTION=sqlite\n");
    let src_db = src_root.join("storage/databases/database.sqlite");
    sqlite_exec(&src_db, &source_sql("sqlite"));
    let set = t.path().join("set");
    bins::run(
        "df-dump-db",
        [
            "--root",
            src_root.to_str().unwrap(),
            "dump",
            "--into",
            set.to_str().unwrap(),
        ],
    )
    .assert_ok();

    let tgt_dir = tempfile::tempdir().unwrap();
    let root = root_with_env(tgt_dir.path(), "DB_CONNECTION=sqlite\n");
    let dir = root.join("storage/databases");
    let target = dir.join("database.sqlite");
    let (took, _) = restore_ok(&root, &set, &["--database", "done.sqlite"]);
    let new_state = sqlite_dump(&dir.join("done.sqlite"));
    std::fs::remove_file(dir.join("done.sqlite")).unwrap();
    eprintln!("sqlite: one restore takes {took:?}");
    sqlite_exec(
        &target,
        &format!("PRAGMA journal_mode=WAL; {}", old_sql("sqlite")),
    );
    let old_state = sqlite_dump(&target);

    let mut rng = Lcg::seeded();
    let mut tally = Tally::default();
    // Shrunk when a kill came after the commit: a loaded machine makes runs vary.
    let mut scale = 1.0;
    for i in 0..4 * KILLS {
        if tally.done() {
            break;
        }
        let sig = [libc::SIGKILL, libc::SIGTERM][i % 2];
        let delay = took.mul_f64(scale * (0.02 + rng.next() * 0.9));
        let mut child = spawn_restore(&root, &set, &[]);
        std::thread::sleep(delay);
        signal(&mut child, sig);
        let now = sqlite_dump(&target);
        if now == old_state {
            tally.old += 1;
            tally.old_by_term += usize::from(sig == libc::SIGTERM);
        } else if now == new_state {
            tally.new += 1;
            scale *= 0.8;
            std::fs::remove_file(&target).unwrap();
            for s in ["-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(dir.join(format!("database.sqlite{s}")));
            }
            sqlite_exec(
                &target,
                &format!("PRAGMA journal_mode=WAL; {}", old_sql("sqlite")),
            );
            assert_eq!(sqlite_dump(&target), old_state);
        } else {
            panic!(
                "sqlite kill #{i} (signal {sig}, after {delay:?}) changed the target:\n{}",
                first_difference(&old_state, &now)
            );
        }
    }
    eprintln!("sqlite: {tally:?}");
    assert!(
        tally.done(),
        "too few kills landed before the swap: {tally:?}"
    );

    // The next run sweeps what the killed ones left (once their pid is gone) and works.
    std::thread::sleep(Duration::from_millis(300));
    restore_ok(&root, &set, &[]);
    assert_eq!(sqlite_dump(&target), new_state);
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("dfkit"))
        .collect();
    assert!(left.is_empty(), "leftovers of killed restores: {left:?}");
}
