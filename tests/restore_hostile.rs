//! `df-dump-db restore` with hostile data and situations: a row over MariaDB's
//! max_allowed_packet, awkward table names, a locked sqlite database, an import error
//! at a known line, a set the user may not read. Each asserts the target's state after.
//! Runs as root (the servers run as mysql/postgres).

mod support;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bins::{self, Run};
use support::servers::{self, DbSpec};

fn root_with_env(dir: &Path, env: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("storage/databases")).unwrap();
    std::fs::write(root.join(".env"), format!("APP_KEY=base64:xx\n{env}")).unwrap();
    root
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn dump(root: &Path, set: &Path) {
    bins::run("df-dump-db", ["--root", s(root), "dump", "--into", s(set)]).assert_ok();
}

fn restore(root: &Path, set: &Path, extra: &[&str]) -> Run {
    let mut a = vec!["--root", s(root), "restore", "--from", s(set)];
    a.extend_from_slice(extra);
    bins::run("df-dump-db", &a)
}

fn tables(db: &DbSpec) -> Vec<String> {
    let q = match db.driver {
        "mysql" => "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1;",
        _ => "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1;",
    };
    db.sql(q).lines().map(str::to_string).collect()
}

#[test]
fn mariadb_row_over_max_allowed_packet_leaves_the_target_and_says_why() {
    let server = servers::mariadb();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("bigrow", "big-row-pw");
    // Two 10 MiB values made on the server: one row, and so one INSERT, of ~20 MiB,
    // over the default 16 MiB (the server holds it; no client can send it back).
    src.sql(
        "CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB, more LONGBLOB);\n\
         INSERT INTO blobs VALUES (1, REPEAT('A', 10485760), REPEAT('B', 10485760));\n\
         CREATE TABLE small (id INT PRIMARY KEY);\nINSERT INTO small VALUES (1), (2);\n",
    );
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);

    let dst = server.new_database("bigdst", "big-dst-pw");
    dst.sql("CREATE TABLE precious (id INT PRIMARY KEY); INSERT INTO precious VALUES (7);");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    for data in ["41414141", "AAAAAAAA", "42424242", "BBBBBBBB"] {
        assert!(
            !r.stdout.contains(data) && !r.stderr.contains(data),
            "row data in the output"
        );
    }
    assert!(
        r.stdout.len() < 4000,
        "output too long: {} bytes",
        r.stdout.len()
    );
    if r.ok() {
        // A dump that a plain client restores is restored, blob intact.
        assert_eq!(
            dst.sql("SELECT LENGTH(data) FROM blobs;").trim(),
            "10485760"
        );
    } else {
        r.assert_code(78);
        let hint = r.json["error"]["hint"].as_str().unwrap_or("");
        assert!(hint.contains("max_allowed_packet"), "{}", r.stdout);
        assert!(r.json["msg"]
            .as_str()
            .unwrap()
            .contains("max_allowed_packet"));
        assert_eq!(r.data()["changed"], false, "{}", r.stdout);
        assert_eq!(tables(&dst), vec!["precious"], "nothing dropped");
        assert_eq!(dst.sql("SELECT id FROM precious;").trim(), "7");
    }
}

/// A 10 MiB random BLOB (bytes of every value, invalid UTF-8) on a server with the
/// default 16 MiB max_allowed_packet: a plain mariadb-dump of it restores there, so
/// ours must too (with --hex-blob it was a 20 MiB statement, refused with 78).
#[test]
fn mariadb_10mb_random_blob_restores_under_the_default_packet_limit() {
    let server = servers::mariadb();
    assert_eq!(
        server
            .sql("mysql", "SELECT @@global.max_allowed_packet;")
            .trim(),
        "16777216",
        "the server keeps MariaDB's default limit"
    );
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("rndblob", "rnd-blob-pw");
    src.sql(
        "SET SESSION group_concat_max_len = 16777216;\
         CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB);\
         INSERT INTO blobs SELECT 1, GROUP_CONCAT(RANDOM_BYTES(1024) SEPARATOR '') FROM seq_1_to_10240;\
         CREATE TABLE small (id INT PRIMARY KEY);\nINSERT INTO small VALUES (1), (2);",
    );
    let q = "SELECT LENGTH(data), SHA2(data, 256) FROM blobs;";
    let want = src.sql(q);
    assert!(want.starts_with("10485760\t"), "{want}");
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);

    let dst = server.new_database("rnddst", "rnd-dst-pw");
    dst.sql("CREATE TABLE precious (id INT PRIMARY KEY); INSERT INTO precious VALUES (7);");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(dst.sql(q), want, "the BLOB's length and sha256 survive");
    assert_eq!(dst.sql("SELECT COUNT(*) FROM small;").trim(), "2");
    assert_eq!(
        tables(&dst),
        vec!["blobs", "small"],
        "the old tables are gone"
    );
    let longest = r.data()["longest_statement_bytes"].as_u64().unwrap();
    assert!(longest < 11 << 20, "escaped, not doubled: {longest} bytes");
}

#[test]
fn postgres_table_named_a_dot_b_is_one_name() {
    let server = servers::postgres();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("dotsrc", "dot-src-pw");
    src.sql(
        "CREATE TABLE \"a.b\" (x INT); INSERT INTO \"a.b\" VALUES (1), (2), (3);\n\
         CREATE SCHEMA s; CREATE TABLE s.\"c.d\" (x INT); INSERT INTO s.\"c.d\" VALUES (1);\n",
    );
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    let dst = server.new_database("dotdst", "dot-dst-pw");
    dst.sql("CREATE TABLE old (x INT);");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_ok();
    assert!(r.changed());
    assert_eq!(r.data()["row_counts"]["a.b"], 3, "{}", r.stdout);
    assert_eq!(r.data()["row_counts"]["s.c.d"], 1, "{}", r.stdout);
    assert_eq!(dst.sql("SELECT COUNT(*) FROM \"a.b\";").trim(), "3");
    assert_eq!(tables(&dst), vec!["a.b"]);
}

#[test]
fn mariadb_backslash_table_names_are_dropped_and_counted_as_they_are() {
    let server = servers::mariadb();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("bssrc", "bs-src-pw");
    src.sql("CREATE TABLE `x\\y` (id INT); INSERT INTO `x\\y` VALUES (1), (2);");
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    let dst = server.new_database("bsdst", "bs-dst-pw");
    dst.sql("CREATE TABLE `old\\one` (id INT); CREATE TABLE plain (id INT);");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_ok();
    let counts = r.data()["row_counts"].as_object().unwrap();
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        vec!["x\\y"],
        "{}",
        r.stdout
    );
    assert_eq!(counts["x\\y"], 2);
    assert_eq!(r.data()["replaced_tables"], 2);
    // mysql --batch prints a backslash doubled.
    assert_eq!(tables(&dst), vec!["x\\\\y"], "the old tables are gone");
}

/// The set's dump, decompressed.
fn dump_text(set: &Path) -> (Value, String) {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(set.join("db.meta.json")).unwrap()).unwrap();
    let f = std::fs::File::open(set.join(meta["artifact"].as_str().unwrap())).unwrap();
    // Bytes: a MariaDB dump carries binary values raw (escaped, not hex).
    let mut bytes = Vec::new();
    zstd::Decoder::new(f)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    (meta, String::from_utf8_lossy(&bytes).into_owned())
}

/// Rewrite a set's dump as plain `db.sql` holding `text`, with a matching meta.
fn rewrite_set(set: &Path, mut meta: Value, text: &str) {
    use sha2::Digest;
    std::fs::remove_file(set.join(meta["artifact"].as_str().unwrap())).unwrap();
    std::fs::write(set.join("db.sql"), text).unwrap();
    let sha = sha2::Sha256::digest(text.as_bytes());
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    meta["artifact"] = "db.sql".into();
    meta["compression"] = "none".into();
    meta["sha256"] = hex.into();
    meta["bytes"] = text.len().into();
    meta["uncompressed_bytes"] = text.len().into();
    std::fs::write(set.join("db.meta.json"), meta.to_string()).unwrap();
}

#[test]
fn postgres_import_error_names_the_dumps_own_line_and_commits_nothing() {
    let server = servers::postgres();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("linesrc", "line-src-pw");
    src.sql("CREATE TABLE a (x INT); INSERT INTO a VALUES (1);");
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    let (meta, text) = dump_text(&set);
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("CREATE TABLE"))
        .unwrap();
    lines.insert(at, "SELECT no_such_column_here FROM pg_class;");
    let bad_line = at + 1;
    rewrite_set(&set, meta, &(lines.join("\n") + "\n"));

    let dst = server.new_database("linedst", "line-dst-pw");
    dst.sql("CREATE TABLE keep (x INT); INSERT INTO keep VALUES (42);");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_code(1);
    let msg = r.json["msg"].as_str().unwrap();
    assert!(
        msg.contains(&format!("psql:<stdin>:{bad_line}:")),
        "line {bad_line} of the dump: {msg}"
    );
    assert_eq!(r.data()["changed"], false, "{}", r.stdout);
    assert_eq!(tables(&dst), vec!["keep"], "rolled back");
    assert_eq!(dst.sql("SELECT x FROM keep;").trim(), "42");
}

#[test]
fn postgres_truncated_stream_is_never_committed() {
    let server = servers::postgres();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("trsrc", "tr-src-pw");
    src.sql("CREATE TABLE a (x INT); INSERT INTO a SELECT generate_series(1, 1000);");
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    // A dump cut after its data but before its trailer, with a meta that matches the
    // bytes (so only the stream check can catch it).
    let (meta, text) = dump_text(&set);
    let cut = text.find("-- PostgreSQL database dump complete").unwrap();
    rewrite_set(&set, meta, &text[..cut]);
    let dst = server.new_database("trdst", "tr-dst-pw");
    dst.sql("CREATE TABLE keep (x INT); INSERT INTO keep VALUES (42);");
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_code(65);
    assert_eq!(r.data()["changed"], false, "{}", r.stdout);
    assert_eq!(tables(&dst), vec!["keep"], "nothing committed");
}

#[test]
fn sqlite_locked_by_a_writer_is_75_with_a_maintenance_hint() {
    let t = tempfile::tempdir().unwrap();
    let root = root_with_env(t.path(), "DB_CONNECTION=sqlite\n");
    let db = root.join("storage/databases/database.sqlite");
    let st = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE a (x INT); INSERT INTO a VALUES (1);")
        .status()
        .unwrap();
    assert!(st.success());
    let set = t.path().join("set");
    dump(&root, &set);

    let mut writer = Command::new("sqlite3")
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut w = writer.stdin.take().unwrap();
    w.write_all(b"BEGIN IMMEDIATE;\nINSERT INTO a VALUES (2);\n")
        .unwrap();
    w.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let r = restore(&root, &set, &["--replace"]);
    r.assert_code(75);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    let hint = r.json["error"]["hint"].as_str().unwrap_or("");
    assert!(hint.contains("maintenance mode"), "{}", r.stdout);
    // The writer's work is not lost to a rename under it.
    w.write_all(b"COMMIT;\n").unwrap();
    drop(w);
    assert!(writer.wait().unwrap().success());
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT COUNT(*) FROM a;")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
}

#[test]
fn sqlite_symlinked_database_is_replaced_at_its_target() {
    let t = tempfile::tempdir().unwrap();
    let root = root_with_env(t.path(), "DB_CONNECTION=sqlite\n");
    let shared = t.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let real = shared.join("real.sqlite");
    let link = root.join("storage/databases/database.sqlite");
    let st = Command::new("sqlite3")
        .arg(&real)
        .arg("CREATE TABLE a (x INT); INSERT INTO a VALUES (1), (2);")
        .status()
        .unwrap();
    assert!(st.success());
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let set = t.path().join("set");
    dump(&root, &set);
    let st = Command::new("sqlite3")
        .arg(&real)
        .arg("INSERT INTO a VALUES (3);")
        .status()
        .unwrap();
    assert!(st.success());
    restore(&root, &set, &["--replace"]).assert_ok();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    let out = Command::new("sqlite3")
        .arg(&real)
        .arg("SELECT COUNT(*) FROM a;")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2",
        "restored at the target"
    );
    let left: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["real.sqlite"]);
}

#[test]
fn unreadable_set_is_77_not_missing() {
    let t = tempfile::tempdir().unwrap();
    let root = root_with_env(t.path(), "DB_CONNECTION=sqlite\n");
    let db = root.join("storage/databases/database.sqlite");
    let st = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE a (x INT);")
        .status()
        .unwrap();
    assert!(st.success());
    let set = t.path().join("set");
    dump(&root, &set);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&set, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root");
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bins::bin("df-dump-db"))
        .args([
            "--root",
            s(&root),
            "restore",
            "--from",
            s(&set),
            "--replace",
        ]);
    let r = bins::run_command(c);
    r.assert_code(77);
}

#[test]
fn mariadb_replace_swaps_tables_and_recreates_views_triggers_routines() {
    let server = servers::mariadb();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("swsrc", "sw-src-pw");
    src.sql(
        "CREATE TABLE parent (id INT PRIMARY KEY, n INT DEFAULT 0);\n\
         CREATE TABLE child (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES parent (id));\n\
         INSERT INTO parent (id) VALUES (1), (2); INSERT INTO child VALUES (10, 1);\n\
         CREATE VIEW v AS SELECT c.id, p.n FROM child c JOIN parent p ON p.id = c.p;\n\
         CREATE TRIGGER bump AFTER INSERT ON child FOR EACH ROW UPDATE parent SET n = n + 1 WHERE id = NEW.p;\n\
         CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;\n",
    );
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    let dst = server.new_database("swdst", "sw-dst-pw");
    let pattern = server.grant_scratch(&dst);
    dst.sql(
        "CREATE TABLE old_t (id INT); CREATE TABLE old_log (id INT);\n\
         CREATE TRIGGER old_trg AFTER INSERT ON old_t FOR EACH ROW INSERT INTO old_log VALUES (NEW.id);\n\
         CREATE VIEW old_v AS SELECT id FROM old_t;\n",
    );
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_ok();
    assert_eq!(r.data()["atomicity"], "swap", "{}", r.stdout);
    assert_eq!(tables(&dst), vec!["child", "parent", "v"]);
    // The trigger works on the target's tables, the view reads them, the function exists.
    dst.sql("INSERT INTO child VALUES (11, 2);");
    assert_eq!(dst.sql("SELECT n FROM parent WHERE id = 2;").trim(), "1");
    assert_eq!(dst.sql("SELECT COUNT(*) FROM v;").trim(), "2");
    assert_eq!(dst.sql("SELECT twice(21);").trim(), "42");
    let left = server.sql(
        "mysql",
        &format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{pattern}';"
        ),
    );
    assert_eq!(left.trim(), "", "scratch databases dropped");
}

/// Each table's definition and `CHECKSUM TABLE` (rows, byte for byte), and the triggers.
fn table_states(db: &DbSpec, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        out.push(db.sql(&format!("SHOW CREATE TABLE `{n}`;")));
        let sum = db.sql(&format!("CHECKSUM TABLE `{n}`;"));
        // "<db>.<table>\t<sum>": the database names differ.
        out.push(format!("{n} {}", sum.split('\t').nth(1).unwrap_or("?")));
    }
    out.push(db.sql(
        "SELECT trigger_name, action_statement FROM information_schema.triggers \
         WHERE trigger_schema = DATABASE() ORDER BY 1;",
    ));
    out
}

#[test]
fn mariadb_replace_loads_large_tables_over_several_connections_exactly() {
    let server = servers::mariadb();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("fansrc", "fan-src-pw");
    // `big` (~4 MB) and `wide` (~3 MB, multi-byte text, a unique secondary key, NULLs,
    // quotes and backslashes) become several INSERT statements each. What the dump's
    // header sets must hold on every connection: big's rows refer to rows of later
    // statements (FOREIGN_KEY_CHECKS=0), and a late row of wide holds 0 in an
    // AUTO_INCREMENT column (NO_AUTO_VALUE_ON_ZERO). `audit` is filled by a trigger on
    // `big` that the dump recreates after big's rows: it must not fire on them. `child`
    // refers to `big`; `small` is one statement.
    src.sql(
        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO');\n\
         CREATE TABLE big (id INT PRIMARY KEY, payload VARCHAR(1200), n INT, next INT, \
           FOREIGN KEY (next) REFERENCES big (id));\n\
         INSERT INTO big SELECT seq, REPEAT(MD5(seq), 32), seq % 7, NULL FROM seq_1_to_4000;\n\
         UPDATE big SET next = LEAST(id + 2500, 4000);\n\
         CREATE TABLE wide (id INT PRIMARY KEY, label VARCHAR(400) CHARACTER SET utf8mb4, code VARCHAR(40), \
           note TEXT, ord INT NOT NULL AUTO_INCREMENT, UNIQUE KEY (code), KEY (ord)) DEFAULT CHARSET=utf8mb4;\n\
         INSERT INTO wide SELECT seq, CONCAT(REPEAT('żółć ✓ 🦀 ', 30), seq), CONCAT('c-', seq), \
           IF(seq % 5 = 0, NULL, CONCAT('it''s a \\\\ path ', seq)), IF(seq = 2900, 0, seq) FROM seq_1_to_3000;\n\
         CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, big_id INT);\n\
         CREATE TRIGGER big_audit AFTER INSERT ON big FOR EACH ROW INSERT INTO audit (big_id) VALUES (NEW.id);\n\
         INSERT INTO big VALUES (5001, 'after the trigger', 1, NULL), (5002, 'and again', 2, 5001);\n\
         CREATE TABLE child (id INT PRIMARY KEY, big_id INT, FOREIGN KEY (big_id) REFERENCES big (id));\n\
         INSERT INTO child VALUES (1, 5001), (2, 17);\n\
         CREATE TABLE small (k VARCHAR(10) PRIMARY KEY);\n\
         INSERT INTO small VALUES ('a'), ('b');\n",
    );
    let names = ["audit", "big", "child", "small", "wide"];
    let want = table_states(&src, &names);
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    let zst = std::fs::read(set.join("db.sql.zst")).unwrap();
    let sql = zstd::decode_all(&zst[..]).unwrap();
    let inserts = |table: &str| {
        let head = format!("INSERT INTO `{table}` VALUES");
        sql.split(|b| *b == b'\n')
            .filter(|l| l.starts_with(head.as_bytes()))
            .count()
    };
    assert!(
        inserts("big") >= 3 && inserts("wide") >= 2,
        "the dump must split the large tables into several statements: big {}, wide {}",
        inserts("big"),
        inserts("wide")
    );

    let dst = server.new_database("fandst", "fan-dst-pw");
    server.grant_scratch(&dst);
    dst.sql(
        "CREATE TABLE big (id INT); INSERT INTO big VALUES (1); CREATE TABLE old_only (x INT);",
    );
    let env = t.path().join("dst.env");
    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace", "--jobs", "3"]);
    r.assert_ok();
    assert_eq!(r.data()["atomicity"], "swap", "{}", r.stdout);
    assert!(
        r.data()["import_connections"].as_u64().unwrap() >= 2,
        "the large tables were not spread: {}",
        r.stdout
    );
    assert_eq!(tables(&dst), names);
    assert_eq!(table_states(&dst, &names), want);
    assert_eq!(dst.sql("SELECT COUNT(*) FROM audit;").trim(), "2");
    assert_eq!(dst.sql("SELECT ord FROM wide WHERE id = 2900;").trim(), "0");

    // One connection gives the same database.
    dst.sql("DROP TABLE audit, child; INSERT INTO small VALUES ('z');");
    let r = restore(&root, &set, &["--env", s(&env), "--replace", "--jobs", "1"]);
    r.assert_ok();
    assert_eq!(r.data()["import_connections"], 1, "{}", r.stdout);
    assert_eq!(table_states(&dst, &names), want);
}

#[test]
fn postgres_replace_counts_what_it_replaced_and_fails_to_connect_cleanly() {
    let server = servers::postgres();
    let t = tempfile::tempdir().unwrap();
    let src = server.new_database("pgrsrc", "pgr-src-pw");
    src.sql("CREATE TABLE fresh (id INT PRIMARY KEY); INSERT INTO fresh VALUES (1), (2), (3);");
    let root = root_with_env(t.path(), &src.env_lines());
    let set = t.path().join("set");
    dump(&root, &set);
    let dst = server.new_database("pgrdst", "pgr-dst-pw");
    dst.sql(
        "CREATE TABLE old_a (x INT); CREATE TABLE old_b (x INT); INSERT INTO old_b VALUES (7);\n\
         CREATE SCHEMA side; CREATE TABLE side.old_c (x INT);",
    );
    let env = t.path().join("dst.env");

    // The wrong password, then no server: refused as a survey refuses, nothing touched.
    let mut bad = dst.clone();
    bad.password = "not-the-password".into();
    std::fs::write(&env, bad.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_code(78);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("{}@127.0.0.1:{}", dst.username, dst.port)),
        "{msg}"
    );
    assert!(r.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("DB_PASSWORD"));
    let mut down = dst.clone();
    down.port = servers::free_port();
    std::fs::write(&env, down.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_code(69);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{}",
        r.stdout
    );
    assert_eq!(tables(&dst), vec!["old_a", "old_b"], "untouched");
    assert_eq!(dst.sql("SELECT x FROM old_b;").trim(), "7");

    std::fs::write(&env, dst.env_lines()).unwrap();
    let r = restore(&root, &set, &["--env", s(&env), "--replace"]);
    r.assert_ok();
    // Every user table, in every schema, as the survey counts them.
    assert_eq!(r.data()["replaced_tables"], 3, "{}", r.stdout);
    assert_eq!(r.data()["row_counts"]["fresh"], 3, "{}", r.stdout);
    assert_eq!(tables(&dst), vec!["fresh"]);
    assert_eq!(
        dst.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'side';")
            .trim(),
        "0"
    );
}

#[test]
fn dry_run_restore_plans_in_the_shared_shape_and_touches_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = root_with_env(t.path(), "DB_CONNECTION=sqlite\n");
    let db = root.join("storage/databases/database.sqlite");
    let st = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE a (x INT); INSERT INTO a VALUES (1);")
        .status()
        .unwrap();
    assert!(st.success());
    let set = t.path().join("set");
    dump(&root, &set);
    let before = std::fs::read(&db).unwrap();
    let r = bins::run(
        "df-dump-db",
        [
            "--root",
            s(&root),
            "--dry-run",
            "restore",
            "--from",
            s(&set),
            "--replace",
        ],
    );
    r.assert_ok();
    assert!(r.changed());
    let plan = r.data()["plan"].as_array().expect("a list of steps");
    let actions: Vec<&str> = plan.iter().map(|p| p["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["run", "rename"], "{}", r.stdout);
    assert!(plan[0]["command"].as_str().unwrap().contains("sqlite3"));
    assert_eq!(std::fs::read(&db).unwrap(), before, "untouched");
    let names: Vec<String> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["database.sqlite"]);
}

#[test]
fn dry_run_restore_on_servers_plans_and_touches_nothing() {
    for server in [servers::mariadb(), servers::postgres()] {
        let t = tempfile::tempdir().unwrap();
        let db = server.new_database("dryr", "dry-r-pw");
        db.sql("CREATE TABLE a (x INT); INSERT INTO a VALUES (1);");
        let root = root_with_env(t.path(), &db.env_lines());
        let set = t.path().join("set");
        dump(&root, &set);
        db.sql("CREATE TABLE extra (x INT);");
        let r = bins::run(
            "df-dump-db",
            [
                "--root",
                s(&root),
                "--dry-run",
                "restore",
                "--from",
                s(&set),
                "--replace",
            ],
        );
        r.assert_ok();
        let actions: Vec<&str> = r.data()["plan"]
            .as_array()
            .expect("a list of steps")
            .iter()
            .map(|p| p["action"].as_str().unwrap())
            .collect();
        let want = match server.driver {
            "mysql" => vec!["check", "check", "create_database", "run", "swap", "count"],
            _ => vec!["check", "run", "count"],
        };
        assert_eq!(actions, want, "{}", r.stdout);
        assert_eq!(r.data()["replaced_tables"], 2);
        assert_eq!(
            tables(&db),
            vec!["a", "extra"],
            "{}: untouched",
            server.driver
        );
    }
}
