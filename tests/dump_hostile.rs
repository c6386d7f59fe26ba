//! df-dump-db's dump side under hostile conditions (issue 10): an existing dump in the
//! set, kills, a full disk, huge rows, dump content in error text, permissions, and
//! messages that must tell the truth. Runs as root (servers, tmpfs, another uid).

mod support;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bins::{self, Run};
use support::servers;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str], path: Option<&str>) -> Run {
    let mut env = vec![];
    if let Some(p) = path {
        env.push(("PATH", p));
    }
    bins::run_env("df-dump-db", args, &env)
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (CI runs as root)"
    );
}

fn sqlite_root(dir: &Path, rows: u64) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("storage/databases")).unwrap();
    std::fs::write(
        root.join(".env"),
        "APP_KEY=base64:xx\nDB_CONNECTION=sqlite\n",
    )
    .unwrap();
    let out = Command::new("sqlite3")
        .arg(root.join("storage/databases/database.sqlite"))
        .arg(format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\
             WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < {rows})\
               INSERT INTO t (v) SELECT printf('%.170c', 'x') || n FROM c;"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

fn meta(set: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(set.join("db.meta.json")).unwrap()).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_second_dump_into_the_same_set_is_refused_unless_replace() {
    let t = tempfile::tempdir().unwrap();
    let root = sqlite_root(t.path(), 10);
    let set = t.path().join("set");
    run(&["--root", s(&root), "dump", "--into", s(&set)], None).assert_ok();
    let before = std::fs::read(set.join("db.sql.zst")).unwrap();
    let meta_before = std::fs::read(set.join("db.meta.json")).unwrap();
    // The database changes; the pre-upgrade dump must survive a re-run.
    Command::new("sqlite3")
        .arg(root.join("storage/databases/database.sqlite"))
        .arg("DELETE FROM t;")
        .status()
        .unwrap();
    for extra in [&[][..], &["--compress", "gzip"][..]] {
        let mut args = vec!["--root", s(&root), "dump", "--into", s(&set)];
        args.extend_from_slice(extra);
        let r = run(&args, None);
        r.assert_code(73);
        assert!(r.json["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--replace"));
        assert_eq!(std::fs::read(set.join("db.sql.zst")).unwrap(), before);
        assert_eq!(
            std::fs::read(set.join("db.meta.json")).unwrap(),
            meta_before
        );
        assert!(!set.join("db.sql.gz").exists());
    }
    // A dry run says so too.
    run(
        &["--root", s(&root), "--dry-run", "dump", "--into", s(&set)],
        None,
    )
    .assert_code(73);
    let r = run(
        &["--root", s(&root), "dump", "--into", s(&set), "--replace"],
        None,
    );
    r.assert_ok();
    assert_eq!(r.data()["replaced"], true);
    assert_eq!(meta(&set)["row_counts"]["t"], 0);
    assert_ne!(std::fs::read(set.join("db.sql.zst")).unwrap(), before);
}

#[test]
fn verify_takes_the_artifact_path_and_tells_the_truth() {
    let t = tempfile::tempdir().unwrap();
    let root = sqlite_root(t.path(), 50);
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
    let art = set.join("db.sql");
    let r = run(&["verify", "--from", s(&art)], None);
    r.assert_ok();
    assert_eq!(r.data()["path"], s(&art));
    run(&["verify", "--from", s(&set.join("db.meta.json"))], None).assert_ok();
    // Another artifact name than the set's is not "the dump".
    run(&["verify", "--from", s(&set.join("db.sql.zst"))], None).assert_code(66);

    let good = std::fs::read(&art).unwrap();
    // Same size, other bytes: the hint says the bytes changed, not "cut short".
    let mut bad = good.clone();
    bad[10] ^= 0x20;
    std::fs::write(&art, &bad).unwrap();
    let r = run(&["verify", "--from", s(&set)], None);
    r.assert_code(65);
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("size matches"), "{hint}");
    // Cut short: the hint gives both sizes.
    std::fs::write(&art, &good[..good.len() - 100]).unwrap();
    let r = run(&["verify", "--from", s(&set)], None);
    r.assert_code(65);
    let hint = r.json["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("{} bytes", good.len() - 100))
            && hint.contains(&good.len().to_string()),
        "{hint}"
    );
    // A truncated dump whose meta was rewritten to match: the trailer message reads once.
    let mut m = meta(&set);
    let cut = &good[..good.len() - 100];
    m["sha256"] = serde_json::json!(dfkit::checksum::sha256_hex(cut));
    m["bytes"] = serde_json::json!(cut.len());
    std::fs::write(set.join("db.meta.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let r = run(&["verify", "--from", s(&set)], None);
    r.assert_code(65);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("no `COMMIT;` at its end"), "{msg}");
    assert!(!msg.contains("at the end at its end"), "{msg}");
}

#[test]
fn permission_denied_reading_a_set_is_77_not_missing() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = sqlite_root(t.path(), 5);
    let set = t.path().join("set");
    run(&["--root", s(&root), "dump", "--into", s(&set)], None).assert_ok();
    assert_eq!(
        std::fs::metadata(&set).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Another user (nobody) runs a copy of the tool it can execute.
    let bin = t.path().join("df-dump-db");
    std::fs::copy(bins::bin("df-dump-db"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    for from in [set.clone(), set.join("db.sql.zst")] {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["verify", "--from", s(&from)]);
        let r = bins::run_command(c);
        r.assert_code(77);
        assert_eq!(r.json["error"]["kind"], "permission_denied");
    }
}

#[test]
fn a_full_disk_while_writing_the_meta_reports_the_dump_as_written() {
    require_root();
    let server = servers::postgres();
    let db = server.new_database("full", "full-pw");
    db.sql("CREATE TABLE t (id INT, v TEXT); INSERT INTO t SELECT g, repeat('y', 100) FROM generate_series(1, 2000) g;");
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join(".env"), db.env_lines()).unwrap();
    // Learn the artifact's size, then give a tmpfs exactly the pages it needs.
    let probe = t.path().join("probe");
    let r = run(
        &[
            "--root",
            s(&root),
            "dump",
            "--into",
            s(&probe),
            "--compress",
            "none",
        ],
        None,
    );
    r.assert_ok();
    let bytes = r.data()["bytes"].as_u64().unwrap();
    let size = bytes.div_ceil(4096) * 4096;
    let mnt = t.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(mnt.clone());
    let set = mnt.join("set");
    let r = run(
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
    );
    r.assert_code(74);
    assert_eq!(r.json["changed"], true, "{}", r.stdout);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains(s(&set.join("db.meta.json"))), "{msg}");
    assert!(!msg.contains("dfkit-tmp"), "names the final file: {msg}");
    assert!(msg.contains(s(&set.join("db.sql"))), "{msg}");
    assert_eq!(r.data()["path"], s(&set.join("db.sql")));
    assert_eq!(
        std::fs::metadata(set.join("db.sql")).unwrap().len(),
        bytes,
        "the dump is there"
    );
    assert!(!set.join("db.meta.json").exists());
    assert_eq!(names(&set), vec!["db.sql".to_string()], "no temp file left");
}

#[test]
fn error_text_never_carries_dump_content() {
    let t = tempfile::tempdir().unwrap();
    let db = servers::mariadb().new_database("noisy", "noisy-pw");
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join(".env"), db.env_lines()).unwrap();
    let w = t.path().join("fake");
    std::fs::create_dir_all(&w).unwrap();
    // A dump program that fails quoting a 150 KB row on stderr, like a client echoing
    // the statement it choked on.
    let body = "#!/bin/sh\necho '-- MariaDB dump'\n\
        hex=$(head -c 75000 /dev/zero | tr '\\0' 'A')\n\
        printf -- '--------------\\nINSERT INTO `b` VALUES (2,0x%s)\\n--------------\\n' \"$hex$hex\" >&2\n\
        printf 'ERROR 2006 (HY000) at line 42: Server has gone away\\n' >&2\n\
        exit 2\n";
    for n in ["mariadb-dump", "mysqldump"] {
        std::fs::write(w.join(n), body).unwrap();
        std::fs::set_permissions(w.join(n), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        w.display()
    );
    let set = t.path().join("set");
    let r = run(
        &["--root", s(&root), "dump", "--into", s(&set)],
        Some(&path),
    );
    // "Server has gone away" reads as an unreachable server.
    r.assert_code(69);
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.len() <= 2300, "capped: {} bytes", msg.len());
    assert!(!msg.contains("AAAAAAAAAAAAAAAA"), "{msg}");
    assert!(msg.contains("Server has gone away"), "{msg}");
    assert!(r.stdout.len() < 8000, "the whole report is small");
    assert!(!r.stderr.contains("AAAAAAAAAAAAAAAA"));
}

#[test]
fn a_row_bigger_than_the_dump_programs_default_packet_dumps_and_restores() {
    let server = servers::mariadb();
    // The server holds 30 MB rows (as a production server configured for them would),
    // and takes the 30 MB statement back.
    server.sql("mysql", "SET GLOBAL max_allowed_packet = 134217728;");
    let src = server.new_database("bigrow", "bigrow-pw");
    src.sql(
        "SET SESSION group_concat_max_len = 1073741824;\
         CREATE TABLE b (id INT PRIMARY KEY, v LONGBLOB);\
         INSERT INTO b SELECT 1, GROUP_CONCAT(RANDOM_BYTES(1024) SEPARATOR '') FROM seq_1_to_30720;",
    );
    let want = src.sql("SELECT LENGTH(v), MD5(v) FROM b;");
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join(".env"), src.env_lines()).unwrap();
    let set = t.path().join("set");
    let r = run(
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
    );
    r.assert_ok();
    let m = meta(&set);
    assert_eq!(m["max_allowed_packet"], 1u64 << 30);
    let longest = m["max_statement_bytes"].as_u64().unwrap();
    // 30 MB escaped (no --hex-blob): a little over 30 MB, not the doubled 60 MB.
    assert!((30_000_000..33_000_000).contains(&longest), "{longest}");
    assert_eq!(m["row_counts"]["b"], 1);
    // The plain client, allowed the same packet size, restores it byte for byte.
    let dst = server.new_database("bigrow_dst", "dst-pw");
    let mut c = Command::new("mariadb");
    c.arg("--no-defaults")
        .args([
            "-h",
            &dst.host,
            "-P",
            &dst.port.to_string(),
            "-u",
            &dst.username,
        ])
        .arg("--max-allowed-packet=1073741824")
        .arg(&dst.database)
        .env("MYSQL_PWD", &dst.password)
        .stdin(std::fs::File::open(set.join("db.sql")).unwrap())
        .stdout(Stdio::null());
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(500)
            .collect::<String>()
    );
    assert_eq!(dst.sql("SELECT LENGTH(v), MD5(v) FROM b;"), want);
}

/// Kill -9 a dump program's parent mid-dump; returns the temp file it was writing.
fn kill_mid_dump(root: &Path, set: &Path, path: Option<&str>, tmpdir: &Path) -> PathBuf {
    let mut c = Command::new(bins::bin("df-dump-db"));
    c.args(["--root", s(root), "dump", "--into", s(set)])
        .env("TMPDIR", tmpdir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let mut child = c.spawn().unwrap();
    let t0 = Instant::now();
    let seen = loop {
        let found = std::fs::read_dir(set).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().contains(".db.sql.zst.dfkit-tmp"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "dump never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Kill at once: the temp file was just created, the dump is under way (waiting
    // longer lets a fast machine finish the dump first).
    assert!(
        child.try_wait().unwrap().is_none(),
        "the dump ended before the kill"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    seen
}

#[test]
fn a_killed_dump_leaves_nothing_the_next_dump_does_not_sweep() {
    let t = tempfile::tempdir().unwrap();
    let root = sqlite_root(t.path(), 400_000);
    let tmpdir = t.path().join("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let sets = t.path().join("sets");
    let a = sets.join("a");
    let seen = kill_mid_dump(&root, &a, None, &tmpdir);
    assert!(seen.exists(), "the partial temp file is what a kill leaves");
    // Nothing in TMPDIR: no sqlite script, no counts file outside the set.
    assert_eq!(names(&tmpdir), Vec::<String>::new());
    // The next dump goes into another set beside it and sweeps the dead run's files.
    let b = sets.join("b");
    std::thread::sleep(Duration::from_millis(200));
    run(&["--root", s(&root), "dump", "--into", s(&b)], None).assert_ok();
    assert_eq!(names(&a), Vec::<String>::new(), "swept: {:?}", names(&a));
    assert_eq!(
        names(&b),
        vec!["db.meta.json".to_string(), "db.sql.zst".to_string()]
    );
}

#[test]
fn a_hung_dump_program_and_its_grandchild_are_killed_at_the_timeout() {
    let t = tempfile::tempdir().unwrap();
    let db = servers::mariadb().new_database("hung", "hung-pw");
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join(".env"), db.env_lines()).unwrap();
    let w = t.path().join("fake");
    std::fs::create_dir_all(&w).unwrap();
    let marker = t.path().join("grandchild.pid");
    // The dump program starts, leaves a grandchild holding stdout, and hangs.
    let body = format!(
        "#!/bin/sh\necho '-- MariaDB dump'\nsleep 300 &\necho $! > '{}'\nsleep 300\n",
        marker.display()
    );
    for n in ["mariadb-dump", "mysqldump"] {
        std::fs::write(w.join(n), &body).unwrap();
        std::fs::set_permissions(w.join(n), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        w.display()
    );
    let set = t.path().join("set");
    let t0 = Instant::now();
    let r = run(
        &[
            "--root",
            s(&root),
            "dump",
            "--into",
            s(&set),
            "--timeout",
            "3s",
        ],
        Some(&path),
    );
    let took = t0.elapsed();
    r.assert_code(69);
    assert!(took < Duration::from_secs(3 + 4), "returned after {took:?}");
    let msg = r.json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--timeout"), "{msg}");
    let pid: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie waiting for its new parent (pid 1 of a container) to reap it.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit(')').next().map(|r| r.trim().chars().next()))
        .flatten();
    assert!(
        matches!(state, None | Some('Z') | Some('X')),
        "the grandchild was killed with the group: state {state:?}"
    );
    assert!(!set.join("db.sql.zst").exists() && !set.join("db.meta.json").exists());
    assert_eq!(names(&set), Vec::<String>::new(), "no temp file left");
}
