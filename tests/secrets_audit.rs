//! The secrets audit: whole df-upgrade and df-migrate runs (a success and a rollback, a
//! plain and an age-encrypted move) on installs whose .env carries distinctive secrets.
//! Not one of them may show up in:
//! - any stdout or stderr, the wrapper's or a child's;
//! - the `--events` file, the lock and journal directory, or any JSON dfkit writes;
//! - the argv or the environment of any child: every program dfkit runs (git, php,
//!   composer, the database clients, systemctl, the sibling df-* tools) is a PATH or
//!   DFKIT_TOOLS_DIR wrapper that records both before it execs the real one.
//!
//! And every file dfkit writes that holds a secret (compressed or not) is 0600 inside a
//! 0700 directory — except copies of .env inside the install, which keep .env's mode.

mod support;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::bins::{self, Run};
use support::migrate::{path_with, script, Instance};
use support::sandbox::Sandbox;
use support::servers::DbSpec;
use support::upgrade::push_failing_v3;

/// The database password: distinctive, and full of what a shell or .env trips on.
const DB_PASSWORD: &str = "Audit-DBpw-q7X9'z\"#k";
const JWT_SECRET: &str = "audit-jwt-secret-5f1e9c3b";
const MAIL_PASSWORD: &str = "audit-mail-pw-8d2a71";

/// The programs dfkit may run, wrapped when this machine has them.
const PROGRAMS: &[&str] = &[
    "git",
    "php",
    "composer",
    "mariadb",
    "mysql",
    "mariadb-dump",
    "mysqldump",
    "psql",
    "pg_dump",
    "sqlite3",
    "systemctl",
    "nginx",
    "ssh",
    "scp",
    "docker",
    "kubectl",
    "sh",
];

/// The dfkit tools a wrapper runs.
const TOOLS: &[&str] = &[
    "df-backup-env",
    "df-dump-db",
    "df-git-update",
    "df-perms",
    "df-artisan",
    "df-restart",
    "df-verify",
];

/// One audited install: a sandbox on its own database, its .env carrying the secrets,
/// recording wrappers, and places for sets, locks and events.
struct Audited {
    sb: Sandbox,
    db: Option<DbSpec>,
    rec: PathBuf,
    log: PathBuf,
    locks: PathBuf,
}

impl Audited {
    fn new(driver: &'static str, at_v2: bool) -> Audited {
        let Instance { sb, db } = Instance::with_password(driver, at_v2, DB_PASSWORD);
        let mut env = std::fs::read_to_string(sb.env_path()).unwrap();
        env.push_str(&format!(
            "JWT_SECRET={JWT_SECRET}\nMAIL_PASSWORD=\"{MAIL_PASSWORD}\"\n"
        ));
        std::fs::write(sb.env_path(), env).unwrap();
        let rec = sb.tmp.path().join("rec");
        let log = rec.join("calls.log");
        recorders(&rec, &log);
        let locks = sb.tmp.path().join("locks");
        Audited {
            sb,
            db,
            rec,
            log,
            locks,
        }
    }

    /// The secrets of this install: .env's APP_KEY (whole and its base64 part), the
    /// database password, the JWT secret and the mail password.
    fn secrets(&self) -> Vec<String> {
        let key = self.sb.app_key();
        let mut s = vec![
            key.clone(),
            key.trim_start_matches("base64:").to_string(),
            JWT_SECRET.to_string(),
            MAIL_PASSWORD.to_string(),
        ];
        if self.db.is_some() {
            s.push(DB_PASSWORD.to_string());
        }
        s
    }

    /// A wrapper command with PATH and DFKIT_TOOLS_DIR pointing at the recorders.
    fn cmd(&self, tool: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bins::bin(tool));
        c.arg("--root").arg(&self.sb.root).args(args);
        c.env("DFKIT_LOCK_DIR", &self.locks);
        c.env("DFKIT_TOOLS_DIR", self.rec.join("tools"));
        c.env("PATH", path_with(&self.rec.join("bin")));
        c
    }

    fn run(&self, tool: &str, args: &[&str]) -> Run {
        bins::run_command(self.cmd(tool, args))
    }
}

/// Recording wrappers in `rec/bin` (programs, found on PATH) and `rec/tools` (the df-*
/// tools, for DFKIT_TOOLS_DIR): each appends its argv and its whole environment to `log`,
/// then execs the real program. A real `systemctl` cannot run here: its stand-in records
/// and succeeds.
fn recorders(rec: &Path, log: &Path) {
    let record = format!(
        "{{ printf 'ARGV %s' \"$0\"; for a in \"$@\"; do printf ' [%s]' \"$a\"; done; printf '\\nENV\\n'; \
         env; printf 'END\\n'; }} >> '{}'\n",
        log.display()
    );
    for p in PROGRAMS {
        let body = if *p == "systemctl" {
            format!("{record}exit 0\n")
        } else {
            let Ok(real) = which::which(p) else { continue };
            format!("{record}exec '{}' \"$@\"\n", real.display())
        };
        script(&rec.join("bin"), p, &body);
    }
    for t in TOOLS {
        script(
            &rec.join("tools"),
            t,
            &format!("{record}exec '{}' \"$@\"\n", bins::bin(t).display()),
        );
    }
}

/// Every place a secret turns up in `hay`, as "secret #i in WHERE".
fn hits(secrets: &[String], where_: &str, hay: &[u8]) -> Vec<String> {
    secrets
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let n = s.as_bytes();
            !n.is_empty() && hay.windows(n.len()).any(|w| w == n)
        })
        .map(|(i, _)| format!("secret #{i} in {where_}"))
        .collect()
}

/// A file's bytes, decompressed when it is zstd.
fn plain(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).unwrap_or_default();
    if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&b[..]).unwrap_or(b)
    } else {
        b
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            files_under(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The audit proper: no secret in the runs' output, the recorded calls, or any file under
/// `written` that is not allowed to hold one; each file under `written` that holds a
/// secret is 0600 in a 0700 directory; copies of .env in the install keep .env's mode.
fn audit(
    a: &Audited,
    secrets: &[String],
    runs: &[(&str, &Run)],
    written: &[&Path],
    expect: &[&str],
) -> usize {
    let mut found = vec![];
    for (name, r) in runs {
        found.extend(hits(
            secrets,
            &format!("{name}'s stdout"),
            r.stdout.as_bytes(),
        ));
        found.extend(hits(
            secrets,
            &format!("{name}'s stderr"),
            r.stderr.as_bytes(),
        ));
    }
    let calls = std::fs::read(&a.log).unwrap();
    let calls_text = String::from_utf8_lossy(&calls);
    for tool in expect {
        assert!(
            calls_text.contains(&format!("/{tool} ")),
            "the recorders saw no {tool} call: the audit would mean nothing; they saw:\n{}",
            calls_text
                .lines()
                .filter(|l| l.starts_with("ARGV"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    for call in calls_text.split("END\n") {
        let argv = call.lines().next().unwrap_or("");
        found.extend(hits(secrets, &format!("the call {argv}"), call.as_bytes()));
    }
    let mut files = vec![];
    files_under(&a.locks, &mut files);
    for f in &files {
        found.extend(hits(secrets, &f.display().to_string(), &plain(f)));
    }
    let mut files = vec![];
    for w in written {
        files_under(w, &mut files);
    }
    let mut secret_files = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bytes = plain(f);
        if hits(secrets, "", &bytes).is_empty() {
            continue;
        }
        secret_files += 1;
        if name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".log") {
            found.push(format!("a secret in {}", f.display()));
        }
        assert_eq!(
            mode(f),
            0o600,
            "{} holds a secret with mode {:o}",
            f.display(),
            mode(f)
        );
        let dir = f.parent().unwrap();
        assert_eq!(
            mode(dir),
            0o700,
            "{} holds a secret in {} (mode {:o})",
            f.display(),
            dir.display(),
            mode(dir)
        );
    }
    // Copies of .env inside the install keep .env's own mode.
    let env_mode = mode(&a.sb.env_path());
    let mut install = vec![];
    files_under(&a.sb.root, &mut install);
    for f in install {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if (name.starts_with(".env") || name.contains("dfkit"))
            && f != a.sb.env_path()
            && !hits(secrets, "", &plain(&f)).is_empty()
        {
            assert_eq!(mode(&f), env_mode, "{} is a copy of .env", f.display());
        }
    }
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    secret_files
}

/// df-upgrade v1 → v2 on MariaDB with the restart (a recording systemctl) and the probe,
/// then a failing v3 rolled back: nothing leaks on success or on the error path.
#[test]
fn upgrade_and_rollback_leak_no_secret() {
    let a = Audited::new("mysql", false);
    let secrets = a.secrets();
    let srv = a.sb.serve();
    let url = format!("{}/status", srv.url());
    let sets = a.sb.tmp.path().join("sets");
    let events = a.sb.tmp.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let ev1 = events.join("up.jsonl");
    let s1 = sets.join("s1");
    let up = a.run(
        "df-upgrade",
        &[
            "--into",
            s1.to_str().unwrap(),
            "--restart-mode",
            "restart",
            "--via",
            "systemd",
            "--service",
            "nginx",
            "--url",
            &url,
            "--events",
            ev1.to_str().unwrap(),
        ],
    );
    up.assert_ok();
    assert!(up.changed());
    assert_eq!(a.sb.head(), a.sb.tag_commit("v2"));
    assert!(s1.join("manifest.json").is_file());

    push_failing_v3(&a.sb);
    let ev2 = events.join("v3.jsonl");
    let s2 = sets.join("s2");
    let v3 = a.run(
        "df-upgrade",
        &[
            "--ref",
            "v3",
            "--into",
            s2.to_str().unwrap(),
            "--skip",
            "restart",
            "--events",
            ev2.to_str().unwrap(),
        ],
    );
    v3.assert_code(1);
    assert_eq!(v3.data()["rolled_back"], true, "{}", v3.stdout);
    assert_eq!(a.sb.head(), a.sb.tag_commit("v2"));

    // The events files are the wrapper's logs: no secret in them either.
    let mut found = vec![];
    for ev in [&ev1, &ev2] {
        found.extend(hits(&secrets, &ev.display().to_string(), &plain(ev)));
    }
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    let n = audit(
        &a,
        &secrets,
        &[("v1→v2", &up), ("v3", &v3)],
        &[&sets],
        &[
            "git",
            "php",
            "mariadb-dump",
            "systemctl",
            "df-dump-db",
            "df-artisan",
        ],
    );
    // The sets hold .env and its snapshot copy: the mode checks above met them.
    assert!(
        n >= 2,
        "only {n} files hold a secret: the audit would mean nothing"
    );
}

/// df-migrate: a plain bundle (SQLite) and an age-encrypted one (PostgreSQL), each exported from the
/// old host and imported on a new one. The bundle is the new host's only copy of the
/// old secrets: 0600, and no plaintext secret when encrypted.
#[test]
fn migrate_plain_and_encrypted_leak_no_secret() {
    // The plain move on SQLite, the encrypted one on PostgreSQL (a database password).
    for (driver, encrypt) in [("sqlite", false), ("pgsql", true)] {
        let old = Audited::new(driver, false);
        let new = Audited::new(driver, true);
        let out = old.sb.tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o700)).unwrap();
        let bundle = out.join("bundle.tar");
        let key = new.sb.tmp.path().join("age-key.txt");
        let mut export_args: Vec<String> = vec!["export".into(), "--into".into()];
        export_args.push(bundle.display().to_string());
        let mut import_extra: Vec<String> = vec![];
        if encrypt {
            let k = Command::new("age-keygen")
                .arg("-o")
                .arg(&key)
                .output()
                .unwrap();
            assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
            let public = Command::new("age-keygen")
                .arg("-y")
                .arg(&key)
                .output()
                .unwrap();
            let public = String::from_utf8(public.stdout).unwrap();
            export_args.extend(["--recipient".into(), public.trim().to_string()]);
            import_extra.extend(["--identity".into(), key.display().to_string()]);
        }
        let argv: Vec<&str> = export_args.iter().map(String::as_str).collect();
        let ex = old.run("df-migrate", &argv);
        ex.assert_ok();
        assert_eq!(mode(&bundle), 0o600);
        let mut secrets = old.secrets();
        if encrypt {
            let id = std::fs::read_to_string(&key).unwrap();
            let private = id
                .lines()
                .find(|l| l.starts_with("AGE-SECRET-KEY-"))
                .unwrap()
                .to_string();
            secrets.push(private);
            let bytes = std::fs::read(&bundle).unwrap();
            assert!(
                hits(&secrets, "", &bytes).is_empty(),
                "the encrypted bundle holds a secret in plaintext"
            );
        }

        let sets = new.sb.tmp.path().join("sets");
        let set = sets.join("s1");
        let events = new.sb.tmp.path().join("events.jsonl");
        let mut args: Vec<String> = [
            "import",
            bundle.to_str().unwrap(),
            "--yes",
            "--into",
            set.to_str().unwrap(),
            "--skip",
            "restart",
            "--events",
            events.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(import_extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let im = new.run("df-migrate", &argv);
        im.assert_ok();
        assert_eq!(new.sb.app_key(), old.sb.app_key(), "the APP_KEY moved");
        assert_eq!(new.sb.env_value("JWT_SECRET").as_deref(), Some(JWT_SECRET));
        // The new host's own secrets and the old host's, everywhere on the new host.
        let mut all = secrets.clone();
        all.extend(new.secrets());
        all.sort();
        all.dedup();
        let found = hits(&all, "the events", &plain(&events));
        assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
        let n = audit(
            &old,
            &secrets,
            &[("export", &ex)],
            &[&out],
            &[
                if encrypt { "pg_dump" } else { "sqlite3" },
                "df-dump-db",
                "df-backup-env",
            ],
        );
        // A plain bundle holds the secrets (and is 0600 in a 0700 directory); an
        // encrypted one holds none in plaintext.
        assert_eq!(
            n,
            usize::from(!encrypt),
            "files holding a secret after the export"
        );
        let n = audit(
            &new,
            &all,
            &[("import", &im)],
            &[&sets],
            &[
                "php",
                if encrypt { "psql" } else { "sqlite3" },
                "df-dump-db",
                "df-artisan",
            ],
        );
        assert!(
            n >= 1,
            "the import's set holds no secret: the audit would mean nothing"
        );
    }
}

/// A secret spelled like a JSON literal, a field name or a number does not break the
/// report: masking happens inside string values only, so stdout stays one valid JSON
/// object with its own fields (plain-text masking turned `"ok":true` into `"ok":***`).
#[test]
fn secrets_spelled_like_json_keep_the_report_valid() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k=\nDB_PASSWORD=true\n\
         MAIL_PASSWORD=changed\nJWT_SECRET=1234567\nAPP_NAME=\"true changed 1234567\"\n",
    )
    .unwrap();
    let r = bins::run("df-backup-env", ["show", "--env", env.to_str().unwrap()]);
    r.assert_ok();
    assert_eq!(r.json["ok"], true, "{}", r.stdout);
    assert_eq!(r.json["changed"], false, "{}", r.stdout);
    assert!(r.json["duration_ms"].is_u64(), "{}", r.stdout);
    // The values themselves are masked wherever they stand in a string.
    assert!(!r.stdout.contains("true changed"), "{}", r.stdout);
}
