//! Progress of a long dump: under a pseudo-terminal (util-linux `script`), a ~100 MB
//! dump draws a progress line on stderr (the terminal) while stdout, redirected to a
//! file inside the terminal session, holds exactly one JSON object.

mod support;
use std::path::Path;
use std::process::Command;

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_str().unwrap().replace('\'', "'\\''"))
}

#[test]
fn a_100mb_dump_shows_progress_on_a_terminal_and_one_json_object_on_stdout() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("storage/databases")).unwrap();
    std::fs::write(
        root.join(".env"),
        "APP_KEY=base64:xx\nDB_CONNECTION=sqlite\n",
    )
    .unwrap();
    let db = root.join("storage/databases/database.sqlite");
    // ~500k rows of ~200 bytes: about 100 MB of SQL text.
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT);\
             WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 500000)\
               INSERT INTO big (v) SELECT printf('%.170c', 'x') || n FROM c;",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let set = t.path().join("set");
    let json = t.path().join("report.json");
    let inner = format!(
        "{} --root {} dump --into {} > {}",
        shell_quote(Path::new(env!("CARGO_BIN_EXE_df-dump-db"))),
        shell_quote(&root),
        shell_quote(&set),
        shell_quote(&json)
    );
    // -q quiet, -f flush, -e child's exit code, -c command; the typescript is discarded,
    // what the terminal showed is script's own stdout.
    let out = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .output()
        .expect("script (util-linux)");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}: {terminal}", out.status);

    let report = std::fs::read_to_string(&json).unwrap();
    assert!(
        report.ends_with('\n') && report.matches('\n').count() == 1,
        "stdout must be exactly one line: {report:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    support::bins::validate_report(&v, &["dump".into()]);
    assert_eq!(v["ok"], true, "{v}");
    let raw = v["data"]["uncompressed_bytes"].as_u64().unwrap();
    assert!(raw > 95_000_000, "a ~100 MB dump: {raw}");
    assert_eq!(v["data"]["row_counts"]["big"], 500_000);

    // The live line: "df-dump-db: dumping sqlite … 12.50 MiB (21.09 MiB/s) 1s", redrawn
    // in place (erase-line escapes), not a log line every 64 MiB.
    assert!(
        terminal.contains("MiB/s)") && terminal.contains("\u{1b}[2Kdf-dump-db: dumping"),
        "no progress line on the terminal: {terminal:?}"
    );
    assert!(
        !terminal.contains("\"ok\""),
        "the report went to the file, not the terminal"
    );
}
