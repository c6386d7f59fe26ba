//! df-migrate on real sandboxes: v1 instances moved to fresh v2 instances on other
//! databases (SQLite, MariaDB, PostgreSQL), encrypted bundles, a flipped byte in each part
//! of a bundle, a driver mismatch, failures after the restore rolled back, and push to a
//! real sshd, a real Docker daemon and a recording kubectl. Each test asserts the state
//! afterwards: rows in the database, .env's bytes, the tree, the far side's file.

mod support;
use serde_json::Value;
use std::path::Path;
use support::bins::Run;
use support::migrate::{flip, members, path_with, script, Instance, NASTY};
use support::remote::{Dockerd, Sshd};
use support::sandbox::{SERVICE_SECRET, V2_MIGRATION, V2_VERSION};
use support::upgrade::{full_dump, listing, tools_dir};

const MARKER: &str = "moved-marker";

fn step<'a>(r: &'a Run, name: &str) -> &'a Value {
    r.data()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {}", r.stdout))
}

fn step_names(r: &Run) -> Vec<String> {
    r.data()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn counts(i: &Instance, tables: &[&str]) -> Vec<u64> {
    tables
        .iter()
        .map(|t| {
            let q = if i.sb.driver == "mysql" {
                format!("`{t}`")
            } else {
                format!("\"{t}\"")
            };
            i.sql(&format!("SELECT count(*) FROM {q}")).parse().unwrap()
        })
        .collect()
}

/// The state of an instance that must not change: its tree, database and .env.
fn state(i: &Instance) -> (std::collections::BTreeMap<String, String>, String, Vec<u8>) {
    (
        listing(i.root()),
        full_dump(&i.sb, i.db.as_ref()),
        std::fs::read(i.sb.env_path()).unwrap(),
    )
}

/// A recording `systemctl` (no systemd runs here): df-restart --via systemd succeeds.
fn standins(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("standins");
    script(
        &d,
        "systemctl",
        &format!(
            "printf '%s\\n' \"$*\" >> '{}/systemctl.log'\nexit 0\n",
            d.display()
        ),
    );
    d
}

/// A v1 instance with a marker row moved to a fresh v2 instance on another database.
/// With `encrypt`, the bundle is age-encrypted and the import is first tried without
/// the identity (refused, nothing changed).
fn real_move(driver: &'static str, encrypt: bool) {
    let old = Instance::new(driver, false);
    let new = Instance::new(driver, true);
    assert_ne!(old.sb.app_key(), new.sb.app_key());
    old.sql(&format!(
        "INSERT INTO role (name, description) VALUES ('{MARKER}', 'from the old host')"
    ));
    // A JWT secret on the old host moves too (the new .env has none).
    let mut env = std::fs::read_to_string(old.sb.env_path()).unwrap();
    env.push_str("JWT_SECRET=old-host-jwt-secret-77\n");
    std::fs::write(old.sb.env_path(), env).unwrap();
    let tables = ["user", "role", "service", "event_script"];
    let old_counts = counts(&old, &tables);
    let new_env_before = std::fs::read_to_string(new.sb.env_path()).unwrap();

    let key = old.sb.tmp.path().join("age-key.txt");
    let mut extra: Vec<String> = vec![];
    if encrypt {
        let out = std::process::Command::new("age-keygen")
            .arg("-o")
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "age-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = std::process::Command::new("age-keygen")
            .arg("-y")
            .arg(&key)
            .output()
            .unwrap();
        let recipients = old.sb.tmp.path().join("recipients.txt");
        let public = String::from_utf8(public.stdout).unwrap();
        std::fs::write(&recipients, format!("# the new host\n\n{public}")).unwrap();
        extra = vec!["--recipients-file".into(), recipients.display().to_string()];
    }
    let extra_s: Vec<&str> = extra.iter().map(String::as_str).collect();
    let bundle = old.export("bundle.tar", &extra_s);
    assert_eq!(
        std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The private temp set beside the bundle is gone.
    let left: Vec<_> = std::fs::read_dir(bundle.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".df-migrate."))
        .collect();
    assert!(left.is_empty(), "export left {left:?}");
    let bytes = std::fs::read(&bundle).unwrap();
    let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    let app_key = old.sb.app_key();
    let app_key_raw = app_key.trim_start_matches("base64:");
    if encrypt {
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        assert!(
            !has(app_key_raw),
            "the encrypted bundle holds the APP_KEY in plaintext"
        );
        if old.db.is_some() {
            assert!(
                !has(NASTY),
                "the encrypted bundle holds the DB password in plaintext"
            );
        }
        assert!(
            !has("APP_KEY"),
            "the encrypted bundle shows .env in plaintext"
        );
    } else {
        // The same grep finds the key in a plain bundle: the check above means something.
        assert!(has(app_key_raw));
    }

    let srv = new.sb.serve();
    let url = format!("{}/status", srv.url());
    let d = standins(new.sb.tmp.path());
    let set = new.sets().join("s1");
    let events = new.sb.tmp.path().join("events.jsonl");
    let mut args: Vec<String> = [
        "import",
        bundle.to_str().unwrap(),
        "--yes",
        "--into",
        set.to_str().unwrap(),
        "--restart-mode",
        "restart",
        "--via",
        "systemd",
        "--service",
        "nginx",
        "--url",
        &url,
        "--events",
        events.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    if driver == "mysql" {
        args.push("--strict-off".into());
    }
    let before_any = state(&new);
    if encrypt {
        let before = state(&new);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = new.run(&argv);
        r.assert_code(64);
        assert!(
            r.json["msg"].as_str().unwrap().contains("--identity"),
            "{}",
            r.stdout
        );
        assert_eq!(
            state(&new),
            before,
            "an import refused for want of the identity changed the instance"
        );
        args.extend(["--identity".into(), key.display().to_string()]);
        // inspect opens it with the identity, shows the manifest, changes nothing.
        let r = new.run(&[
            "inspect",
            bundle.to_str().unwrap(),
            "--identity",
            key.to_str().unwrap(),
        ]);
        r.assert_ok();
        assert_eq!(r.data()["encrypted"], true);
        assert_eq!(r.data()["verified"], true);
        assert_eq!(r.data()["manifest"]["driver"], driver);
        assert_eq!(r.data()["manifest"]["row_counts"]["role"], old_counts[1]);
        assert_eq!(state(&new), before_any);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = new.cmd(&argv);
    c.env("PATH", path_with(&d));
    let r = support::bins::run_command(c);
    r.assert_ok();
    assert!(r.changed());
    let mut names = step_names(&r);
    names.dedup();
    assert_eq!(
        names,
        [
            "lock",
            "bundle",
            "preflight",
            "backup",
            "strict",
            "restore",
            "keys",
            "migrate",
            "clear",
            "perms",
            "restart",
            "verify"
        ]
    );
    assert_eq!(step(&r, "strict")["skipped"], driver != "mysql");
    assert_eq!(r.data()["encrypted"], encrypt);

    // Every table's rows, the marker, the APP_KEY, the encrypted secret, v2's migration.
    let new_counts = counts(&new, &tables);
    for ((t, o), n) in tables.iter().zip(&old_counts).zip(&new_counts) {
        assert!(n >= o, "{t}: {n} rows on the new instance, {o} on the old");
    }
    assert_eq!(
        new.sql(&format!(
            "SELECT count(*) FROM role WHERE name = '{MARKER}'"
        )),
        "1"
    );
    assert_eq!(new.sb.app_key(), app_key);
    assert_eq!(
        new.sb.env_value("JWT_SECRET").as_deref(),
        Some("old-host-jwt-secret-77")
    );
    let secret = new.sb.read_secret();
    assert!(
        secret.status.success(),
        "{}",
        String::from_utf8_lossy(&secret.stderr)
    );
    assert!(String::from_utf8_lossy(&secret.stdout).contains(SERVICE_SECRET));
    let mig = V2_MIGRATION.trim_end_matches(".php");
    assert_eq!(
        new.sql(&format!(
            "SELECT count(*) FROM migrations WHERE migration = '{mig}'"
        )),
        "1"
    );
    let (code, body) = srv.get("/status");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(V2_VERSION), "{body}");
    // Only the data keys moved: the new instance keeps its own database settings.
    let env_after = std::fs::read_to_string(new.sb.env_path()).unwrap();
    for l in new_env_before.lines().filter(|l| l.starts_with("DB_")) {
        assert!(env_after.lines().any(|a| a == l), "{l} changed");
    }
    // The new instance's own state is in the set; no plaintext staging is left beside it.
    assert!(set.join("env").is_file() && set.join("db.meta.json").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(new.sets())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("s1")]);
    // The restart ran (a stand-in here) and the events match stdout.
    let log = std::fs::read_to_string(d.join("systemctl.log")).unwrap();
    assert!(log.contains("restart nginx"), "{log}");
    let ev: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.last().unwrap()["event"], "summary");
    assert_eq!(ev.last().unwrap()["ok"], true);
}

#[test]
fn move_sqlite_to_sqlite() {
    real_move("sqlite", false);
}

/// Also the encryption test: no plaintext in the bundle, no import without the identity.
#[test]
fn move_mariadb_to_mariadb_encrypted() {
    real_move("mysql", true);
}

#[test]
fn move_postgres_to_postgres() {
    real_move("pgsql", false);
}

/// A flipped byte at `at(bundle)` → 65 from inspect and import; the new instance is
/// untouched (tree, database, .env).
fn tampered(at: fn(&Path) -> u64) {
    let old = Instance::new("sqlite", false);
    let new = Instance::new("sqlite", true);
    let bundle = old.export("bundle.tar", &[]);
    old.run(&["inspect", bundle.to_str().unwrap()]).assert_ok();
    flip(&bundle, at(&bundle));
    let r = old.run(&["inspect", bundle.to_str().unwrap()]);
    r.assert_code(65);
    assert!(
        r.json["msg"].as_str().unwrap().contains("damaged"),
        "{}",
        r.stdout
    );
    let before = state(&new);
    let set = new.sets().join("s1");
    let r = new.run(&[
        "import",
        bundle.to_str().unwrap(),
        "--yes",
        "--into",
        set.to_str().unwrap(),
        "--skip",
        "restart",
    ]);
    r.assert_code(65);
    assert_eq!(r.data()["failed_step"], "bundle");
    assert!(r.data()["rollback"].as_array().unwrap().is_empty());
    assert_eq!(state(&new), before);
    assert!(!set.exists(), "a refused import made a set");
}

#[test]
fn tampered_header_is_refused() {
    // The dump member's header (its name field).
    tampered(|b| {
        let m = members(b);
        m.iter().find(|x| x.0.starts_with("db.sql")).unwrap().1 + 3
    });
}

#[test]
fn tampered_member_data_is_refused() {
    tampered(|b| {
        let m = members(b);
        let (_, _, data, size) = m.iter().find(|x| x.0 == "env").unwrap();
        data + size / 2
    });
}

#[test]
fn tampered_padding_is_refused() {
    tampered(|b| {
        let m = members(b);
        let (_, _, data, size) = m.iter().find(|x| x.0 == "env").unwrap();
        assert_ne!(size % 512, 0, "env fills its blocks: no padding to flip");
        data + size // the first padding byte after env's data
    });
}

#[test]
fn tampered_trailer_is_refused() {
    // The last byte of the end-of-archive blocks.
    tampered(|b| std::fs::metadata(b).unwrap().len() - 1);
}

/// A sqlite bundle into a PostgreSQL instance → 78, nothing changed.
#[test]
fn driver_mismatch_is_refused() {
    let old = Instance::new("sqlite", false);
    let new = Instance::new("pgsql", true);
    let bundle = old.export("bundle.tar", &[]);
    let before = state(&new);
    let set = new.sets().join("s1");
    let r = new.run(&[
        "import",
        bundle.to_str().unwrap(),
        "--yes",
        "--into",
        set.to_str().unwrap(),
    ]);
    r.assert_code(78);
    assert!(
        r.json["msg"].as_str().unwrap().contains("sqlite"),
        "{}",
        r.stdout
    );
    assert_eq!(r.data()["failed_step"], "preflight");
    assert_eq!(state(&new), before);
    assert!(!set.exists());
}

/// Without --yes → 64, a bad recipient → 64, the lock held → 75; --dry-run shows every
/// child's plan; none of them changes anything.
#[test]
fn import_refusals_and_dry_run_change_nothing() {
    let old = Instance::new("sqlite", false);
    let new = Instance::new("sqlite", true);
    let bundle = old.export("bundle.tar", &[]);
    let before = state(&new);
    let set = new.sets().join("s1");
    new.run(&["import", bundle.to_str().unwrap()])
        .assert_code(64);
    // Another run holds the install's lock (df-upgrade's or df-migrate's): 75.
    {
        let _held = dfkit::lock::Lock::acquire_in(
            &new.sb.tmp.path().join("locks"),
            new.root(),
            "df-upgrade",
        )
        .unwrap();
        let r = new.run(&[
            "import",
            bundle.to_str().unwrap(),
            "--yes",
            "--into",
            set.to_str().unwrap(),
        ]);
        r.assert_code(75);
        assert_eq!(r.data()["failed_step"], "lock");
    }
    let never = old.sb.tmp.path().join("never.tar");
    old.run(&[
        "export",
        "--into",
        never.to_str().unwrap(),
        "--recipient",
        "age1nope",
    ])
    .assert_code(64);
    assert!(!never.exists());
    let r = new.run(&[
        "import",
        bundle.to_str().unwrap(),
        "--dry-run",
        "--into",
        set.to_str().unwrap(),
        "--restart-mode",
        "restart",
        "--via",
        "systemd",
        "--service",
        "nginx",
        "--no-probe",
    ]);
    r.assert_ok();
    assert_eq!(r.json["dry_run"], true);
    assert!(r.changed(), "a dry run reports that it would change");
    for s in ["restore", "keys", "migrate", "clear", "perms", "restart"] {
        let rep = &step(&r, s)["report"];
        assert_eq!(rep["dry_run"], true, "{s}: {rep}");
        // (df-dump-db's plan becomes a PlanItem list on another branch: any plan counts.)
        assert!(!rep["data"]["plan"].is_null(), "{s} shows no plan: {rep}");
    }
    assert_eq!(state(&new), before);
    assert!(!set.exists());
}

/// A failure after the restore puts the new instance's own database and .env back.
/// `restore`: df-dump-db really restores, then reports a failure (a partial change);
/// `verify`: df-verify fails after the keys were put in.
fn failure_rolls_back(fail_at: &str) {
    // MariaDB with --strict-off for the restore case: strict mode comes back on too.
    let driver = if fail_at == "restore" {
        "mysql"
    } else {
        "sqlite"
    };
    let old = Instance::new(driver, false);
    let new = Instance::new(driver, true);
    old.sql(&format!(
        "INSERT INTO role (name, description) VALUES ('{MARKER}', 'from the old host')"
    ));
    let bundle = old.export("bundle.tar", &[]);
    let before = state(&new);
    let db_config = std::fs::read(new.root().join("config/database.php")).unwrap();
    let dir = new.sb.tmp.path().join("w");
    let tools = match fail_at {
        "verify" => tools_dir(&dir, Some(("df-verify", "--against"))),
        _ => {
            let t = tools_dir(&dir, None);
            let real = support::bins::bin("df-dump-db");
            // Restore from the staging set for real, then fail; the rollback's restore
            // (from the new instance's own set) runs normally.
            script(
                &t,
                "df-dump-db",
                &format!(
                    "printf '%s\\n' \"df-dump-db $*\" >> '{log}'\ncase \"$*\" in *restore*.df-migrate.*)\n  '{real}' \"$@\" >/dev/null\n  \
                     echo '{{\"tool\":\"df-dump-db\",\"version\":\"0\",\"ok\":false,\"failed\":true,\"changed\":true,\"msg\":\"lost the server half-way\",\"comment\":\"lost the server half-way\",\"dry_run\":false,\"started_at\":\"x\",\"duration_ms\":0,\"data\":{{}},\"warnings\":[],\"error\":{{\"kind\":\"unavailable\",\"message\":\"lost the server half-way\",\"hint\":null,\"chain\":[],\"exit_code\":69}}}}'\n  exit 69;;\nesac\nexec '{real}' \"$@\"\n",
                    real = real.display(),
                    log = t.join("calls.log").display()
                ),
            );
            t
        }
    };
    let set = new.sets().join("s1");
    let events = new.sb.tmp.path().join("events.jsonl");
    let mut c = new.cmd(&[
        "import",
        bundle.to_str().unwrap(),
        "--yes",
        "--into",
        set.to_str().unwrap(),
        "--skip",
        "restart",
        "--events",
        events.to_str().unwrap(),
        "--strict-off",
    ]);
    c.env("DFKIT_TOOLS_DIR", &tools);
    let r = support::bins::run_command(c);
    r.assert_code(1);
    assert_eq!(r.data()["failed_step"], fail_at, "{}", r.stdout);
    assert_eq!(r.data()["rolled_back"], true, "{}", r.stdout);
    let rb: Vec<&str> = r.data()["rollback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(rb.contains(&"database"), "{rb:?}");
    assert_eq!(rb.contains(&"env"), fail_at == "verify", "{rb:?}");
    assert_eq!(rb.contains(&"strict"), driver == "mysql", "{rb:?}");
    assert_eq!(
        std::fs::read(new.root().join("config/database.php")).unwrap(),
        db_config,
        "strict mode is not back as it was"
    );
    assert!(!r.changed());
    // The new instance's own database and .env are back.
    let after = state(&new);
    assert_eq!(after.1, before.1, "the database differs after the rollback");
    assert_eq!(after.2, before.2, ".env differs after the rollback");
    assert_ne!(new.sb.app_key(), old.sb.app_key());
    assert_eq!(
        new.sql(&format!(
            "SELECT count(*) FROM role WHERE name = '{MARKER}'"
        )),
        "0"
    );
    let ev = std::fs::read_to_string(&events).unwrap();
    assert!(
        ev.contains("\"rollback_start\"") && ev.contains("\"rollback_end\""),
        "{ev}"
    );
    // No journal is left: the next import is not refused.
    let journal = dfkit::journal::path_in(&new.sb.tmp.path().join("locks"), new.root());
    assert!(!journal.exists(), "{} is left", journal.display());
    let calls = std::fs::read_to_string(tools.join("calls.log")).unwrap();
    assert!(calls.contains("df-dump-db restore --from"), "{calls}");
}

#[test]
fn restore_failing_half_way_rolls_back() {
    failure_rolls_back("restore");
}

#[test]
fn verify_failure_rolls_back_database_and_env() {
    failure_rolls_back("verify");
}

/// An export whose dump fails leaves no bundle and no private temp set (it holds .env).
#[test]
fn failed_export_leaves_nothing() {
    let old = Instance::new("sqlite", false);
    let tools = tools_dir(&old.sb.tmp.path().join("w"), Some(("df-dump-db", "dump")));
    let out_dir = old.sb.tmp.path().join("out");
    let bundle = out_dir.join("bundle.tar");
    let mut c = old.cmd(&["export", "--into", bundle.to_str().unwrap()]);
    c.env("DFKIT_TOOLS_DIR", &tools);
    let r = support::bins::run_command(c);
    r.assert_code(1);
    assert_eq!(step(&r, "save")["ok"], true);
    assert_eq!(step(&r, "dump")["ok"], false);
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A run killed in `migrate`: the next import exits 75 naming `df-migrate recover`, which
/// puts the new instance's database and .env back and sweeps the plaintext staging.
#[test]
fn killed_import_is_refused_then_recovered() {
    let old = Instance::new("sqlite", false);
    let new = Instance::new("sqlite", true);
    let bundle = old.export("bundle.tar", &[]);
    let before = state(&new);
    let dir = new.sb.tmp.path().join("w");
    let tools = tools_dir(&dir, None);
    let real = support::bins::bin("df-artisan");
    script(
        &tools,
        "df-artisan",
        &format!(
            "if [ \"$1\" = migrate ]; then kill -9 $PPID; exit 1; fi\nexec '{}' \"$@\"\n",
            real.display()
        ),
    );
    let set = new.sets().join("s1");
    let args = [
        "import",
        bundle.to_str().unwrap(),
        "--yes",
        "--into",
        set.to_str().unwrap(),
        "--skip",
        "restart",
    ];
    let mut c = new.cmd(&args);
    c.env("DFKIT_TOOLS_DIR", &tools);
    let out = c.output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(new.sb.app_key(), old.sb.app_key(), "the keys step had run");

    let r = new.run(&args);
    r.assert_code(75);
    assert!(
        r.json["msg"].as_str().unwrap().contains("`migrate`"),
        "{}",
        r.stdout
    );
    assert!(
        r.json["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("df-migrate recover"),
        "{}",
        r.stdout
    );

    let r = new.run(&["recover", "--skip", "restart"]);
    r.assert_ok();
    let rb: Vec<&str> = r.data()["rollback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(rb.contains(&"database") && rb.contains(&"env"), "{rb:?}");
    let after = state(&new);
    assert_eq!(after.1, before.1, "the database differs after recover");
    assert_eq!(after.2, before.2, ".env differs after recover");
    let left: Vec<_> = std::fs::read_dir(new.sets())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        [std::ffi::OsString::from("s1")],
        "the plaintext staging is still there"
    );
    // And the import now runs (into a new set: s1 holds the instance's pre-import state).
    let set2 = new.sets().join("s2");
    let mut args2 = args;
    args2[4] = set2.to_str().unwrap();
    new.run(&args2).assert_ok();
    assert_eq!(new.sb.app_key(), old.sb.app_key());
}

/// push over ssh:// to a real sshd: the far side's sha256 verified; a copy damaged on
/// the way (a wrapper scp) → 65 and the remote file removed; no key → 69, no prompt.
#[test]
fn push_over_ssh() {
    let old = Instance::new("sqlite", false);
    let bundle = old.export("bundle.tar", &[]);
    let sshd = Sshd::start();
    let far = tempfile::tempdir().unwrap();
    let dest = far.path().join("b.tar");
    let mut a: Vec<String> = vec![
        "push".into(),
        bundle.display().to_string(),
        "--to".into(),
        sshd.url(&dest),
    ];
    a.extend(sshd.push_args());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let r = old.run(&argv);
    assert!(r.ok(), "{}\nsshd log:\n{}", r.stdout, sshd.log());
    assert_eq!(r.data()["verified"], true);
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&bundle).unwrap()
    );
    assert_eq!(r.data()["remote_sha256"], r.data()["sha256"]);
    std::fs::remove_file(&dest).unwrap();

    // A scp that damages the copy after it arrived (the far side is this machine).
    let real = which::which("scp").unwrap();
    let wrap = old.sb.tmp.path().join("wrap");
    script(
        &wrap,
        "scp",
        &format!(
            "'{}' \"$@\" || exit $?\nfor a; do last=$a; done\nf=${{last#*:}}\nprintf X | dd of=\"$f\" bs=1 seek=700 conv=notrunc 2>/dev/null\n",
            real.display()
        ),
    );
    let mut c = old.cmd(&argv);
    c.env("PATH", path_with(&wrap));
    let r = support::bins::run_command(c);
    r.assert_code(65);
    assert_eq!(r.data()["removed"], true, "{}", r.stdout);
    assert_ne!(r.data()["remote_sha256"], r.data()["sha256"]);
    assert!(!dest.exists(), "the damaged remote copy is still there");

    // No key: BatchMode fails at once instead of prompting.
    let argv = [
        "push",
        bundle.to_str().unwrap(),
        "--to",
        &sshd.url(&dest),
        "-o",
        &format!("UserKnownHostsFile={}", sshd.known_hosts.display()),
        "-o",
        "IdentityFile=/nonexistent",
        "-o",
        "IdentitiesOnly=yes",
    ];
    let mut c = old.cmd(&argv);
    c.env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null());
    let r = support::bins::run_command(c);
    r.assert_code(69);
    assert!(!dest.exists());
}

/// push to docker:// with a real Docker daemon: the container's sha256 verified; a copy
/// damaged on the way → 65 and the file removed from the container.
#[test]
fn push_to_docker() {
    let old = Instance::new("sqlite", false);
    let bundle = old.export("bundle.tar", &[]);
    let dk = Dockerd::start();
    let url = format!("docker://{}/tmp/b.tar", dk.container);
    let mut c = old.cmd(&["push", bundle.to_str().unwrap(), "--to", &url]);
    c.env("DOCKER_HOST", &dk.host);
    let r = support::bins::run_command(c);
    assert!(r.ok(), "{}\ndockerd log:\n{}", r.stdout, dk.log());
    assert_eq!(r.data()["verified"], true);
    let (ok, out) = dk.exec(&["sha256sum", "/tmp/b.tar"]);
    assert!(ok);
    let local = dfkit::checksum::sha256_hex(&std::fs::read(&bundle).unwrap());
    assert!(out.starts_with(&local), "{out}");
    assert!(dk.exec(&["rm", "/tmp/b.tar"]).0);

    // A docker that damages the copy in the container right after `docker cp`.
    let real = which::which("docker").unwrap();
    let wrap = old.sb.tmp.path().join("wrap");
    script(
        &wrap,
        "docker",
        &format!(
            "'{real}' \"$@\" || exit $?\nif [ \"$1\" = cp ]; then\n  '{real}' exec {c} sh -c 'echo X >> /tmp/b.tar'\nfi\n",
            real = real.display(),
            c = dk.container
        ),
    );
    let mut c = old.cmd(&["push", bundle.to_str().unwrap(), "--to", &url]);
    c.env("DOCKER_HOST", &dk.host).env("PATH", path_with(&wrap));
    let r = support::bins::run_command(c);
    r.assert_code(65);
    assert_eq!(r.data()["removed"], true, "{}", r.stdout);
    assert!(
        !dk.exec(&["ls", "/tmp/b.tar"]).0,
        "the damaged copy is still in the container"
    );
}

/// push to k8s:// through a recording kubectl: the exact cp and exec argv; a mismatch
/// removes the copy; a URL that would inject an option runs nothing.
#[test]
fn push_to_kubernetes_records_exact_commands() {
    let old = Instance::new("sqlite", false);
    let bundle = old.export("bundle.tar", &[]);
    let sha = dfkit::checksum::sha256_hex(&std::fs::read(&bundle).unwrap());
    let d = old.sb.tmp.path().join("kube");
    let log = d.join("kubectl.log");
    let answer = d.join("answer");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(&answer, &sha).unwrap();
    script(
        &d,
        "kubectl",
        &format!(
            "printf '%s\\n' \"$*\" >> '{log}'\ncase \"$*\" in *sha256sum*) printf '%s  %s\\n' \"$(cat '{answer}')\" /tmp/b.tar;; esac\nexit 0\n",
            log = log.display(),
            answer = answer.display()
        ),
    );
    let push = |url: &str| {
        let mut c = old.cmd(&["push", bundle.to_str().unwrap(), "--to", url]);
        c.env("PATH", path_with(&d));
        support::bins::run_command(c)
    };
    // --dry-run: the plan, and kubectl never runs.
    let mut c = old.cmd(&[
        "push",
        bundle.to_str().unwrap(),
        "--to",
        "k8s://prod/df-0/app/tmp/b.tar",
        "--dry-run",
    ]);
    c.env("PATH", path_with(&d));
    let r = support::bins::run_command(c);
    r.assert_ok();
    assert_eq!(r.data()["plan"].as_array().unwrap().len(), 2);
    assert!(!log.exists(), "a dry run ran kubectl");
    let r = push("k8s://prod/df-0/app/tmp/b.tar");
    r.assert_ok();
    assert_eq!(r.data()["verified"], true);
    let b = bundle.display();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("cp -n prod -c app -- {b} df-0:/tmp/b.tar\nexec -n prod -c app df-0 -- sha256sum /tmp/b.tar\n")
    );
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&answer, "0".repeat(64)).unwrap();
    let r = push("k8s://prod/df-0//tmp/b.tar");
    r.assert_code(65);
    assert_eq!(r.data()["removed"], true);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("cp -n prod -- {b} df-0:/tmp/b.tar\nexec -n prod df-0 -- sha256sum /tmp/b.tar\nexec -n prod df-0 -- rm -f /tmp/b.tar\n")
    );
    std::fs::remove_file(&log).unwrap();
    for bad in [
        "k8s://prod/--kubeconfig=x/tmp/b.tar",
        "k8s://-nprod/df-0/tmp/b.tar",
        "k8s://prod/df-0/tmp/$(id)",
    ] {
        push(bad).assert_code(64);
    }
    assert!(!log.exists(), "a refused URL ran kubectl");
}

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
